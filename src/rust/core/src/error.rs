//! The one error type of the engine. Messages are full sentences meant for an
//! R user ("input has 5 columns, but the network expects 2"), because the glue
//! passes them through unchanged.

use std::fmt;

/// Every failure the engine can report. Nothing reachable from R panics on bad
/// input: it returns one of these instead.
#[derive(Debug, Clone, PartialEq)]
pub enum NnError {
    /// Two matrices or a matrix and the network disagree on a dimension.
    Shape(String),
    /// A value (hyper-parameter, name, count) is outside what is accepted.
    InvalidArgument(String),
    /// An operation needs state that is not there yet (e.g. backward before forward).
    State(String),
    /// The host asked to stop (the user pressed Ctrl-C) before the work was done.
    Interrupted,
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NnError::Shape(msg) | NnError::InvalidArgument(msg) | NnError::State(msg) => {
                f.write_str(msg)
            }
            NnError::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for NnError {}

pub type Result<T> = std::result::Result<T, NnError>;

/// Shorthand for building a shape error from a format string.
macro_rules! shape_err {
    ($($arg:tt)*) => { $crate::error::NnError::Shape(format!($($arg)*)) };
}
/// Shorthand for building an invalid-argument error from a format string.
macro_rules! arg_err {
    ($($arg:tt)*) => { $crate::error::NnError::InvalidArgument(format!($($arg)*)) };
}
pub(crate) use arg_err;
pub(crate) use shape_err;

// Checks of hyper-parameters shared by optimizers, schedules and callbacks;
// `name` is how the message refers to the value.

/// A finite number greater than 0.
pub(crate) fn check_positive(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(arg_err!("{name} must be a positive number, not {value}"))
    }
}

/// A finite number of at least 0.
pub(crate) fn check_non_negative(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(arg_err!(
            "{name} must be zero or a positive number, not {value}"
        ))
    }
}

/// A number in [0, 1).
pub(crate) fn check_fraction(name: &str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(arg_err!("{name} must be in [0, 1), not {value}"))
    }
}
