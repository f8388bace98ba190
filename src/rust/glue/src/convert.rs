//! Converting R values at the boundary: matrices and image arrays in,
//! matrices and parameter lists out, and the one way to read the named
//! lists the R side sends ([`Settings`]).

use extendr_api::prelude::*;
use extendr_api::{Error, Result};
use rustnn_core::any::{ColMajorOwned, ParamExport};
use rustnn_core::{ColMajor, NnError, Shape};
use std::collections::HashMap;

pub fn core_err(e: NnError) -> Error {
    Error::Other(e.to_string())
}

/// Runs the body of an `rn_` function and hands its result to R as a value:
/// the answer on success, and on failure `list(message = "<text>")` of class
/// `"rustnn_engine_error"`, which `rust_call()` on the R side turns into a
/// classed R error.
///
/// Why not return `Result` and let extendr raise the error: extendr-macros
/// 0.9's wrapper turns an `Err` into a panic, catches it and calls
/// `Rf_error()`, whose longjmp skips the Rust frames that own the panic
/// payload and the message's copies, so every error leaked them (valgrind:
/// "definitely lost" through `wrap__rn_*`; extendr issues #278 and #549).
/// Returning normally lets Rust free everything before R sees the error.
///
/// A panic (a bug) is caught here too and comes back the same way, naming
/// itself, so that the R side never sees an error it did not class.
pub fn to_r<T: Into<Robj>>(body: impl FnOnce() -> Result<T>) -> Robj {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    let message = match outcome {
        Ok(Ok(value)) => return value.into(),
        Ok(Err(e)) => e.to_string(),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("internal error in the engine (please report it): {what}")
        }
    };
    let mut error: Robj = list!(message = message).into();
    let _ = error.set_class(["rustnn_engine_error"]);
    error
}

/// What an `rn_` function returns when the user pressed Ctrl-C during its
/// work: a value of class `"rustnn_interrupt"` (also an engine error, so that
/// `rust_call()` looks at it at no cost to other calls), which `rust_call()`
/// turns into an R interrupt, as if R itself had been interrupted.
pub fn interrupted() -> Robj {
    let mut value: Robj = list!(message = "interrupted").into();
    let _ = value.set_class(["rustnn_interrupt", "rustnn_engine_error"]);
    value
}

pub fn col_major(m: &RMatrix<f64>) -> Result<ColMajor<'_>> {
    ColMajor::new(m.data(), m.nrows(), m.ncols()).map_err(core_err)
}

/// Reads a batch of inputs: a double matrix (one sample per row), or an
/// array of images `n x height x width` (one channel) or `n x channels x
/// height x width`. The R side has checked the type and the values.
pub fn input_of(x: &Robj) -> Result<ColMajor<'_>> {
    let data = x
        .as_real_slice()
        .ok_or_else(|| Error::Other("the input must be a double matrix or array".into()))?;
    let dims: Vec<usize> = match x.get_attrib("dim").and_then(|d| d.as_integer_vector()) {
        Some(d) => d.iter().map(|&v| v.max(0) as usize).collect(),
        None => vec![data.len(), 1],
    };
    let image = match dims[..] {
        [n, k] => return ColMajor::new(data, n, k).map_err(core_err),
        [_, h, w] => Shape::image(1, h, w),
        [_, c, h, w] => Shape::image(c, h, w),
        _ => {
            return Err(Error::Other(format!(
                "the input must be a matrix or an array of 3 or 4 dimensions, not {}",
                dims.len()
            )))
        }
    };
    ColMajor::image(data, dims[0], image).map_err(core_err)
}

pub fn optional_matrix(robj: &Robj) -> Result<Option<RMatrix<f64>>> {
    if robj.is_null() {
        Ok(None)
    } else {
        Ok(Some(RMatrix::try_from(robj.clone())?))
    }
}

/// A sample shape from R: `c(channels, height, width)` or `c(features)`.
pub fn shape_from(dims: &[f64]) -> Result<Shape> {
    let whole = |v: f64| -> Result<usize> {
        if v >= 1.0 && v.fract() == 0.0 {
            Ok(v as usize)
        } else {
            Err(Error::Other(format!(
                "a shape needs whole numbers of at least 1, not {v}"
            )))
        }
    };
    match dims {
        [k] => Ok(Shape::flat(whole(*k)?)),
        [c, h, w] => Ok(Shape::image(whole(*c)?, whole(*h)?, whole(*w)?)),
        _ => Err(Error::Other(format!(
            "a shape has 1 or 3 numbers, not {}",
            dims.len()
        ))),
    }
}

/// A shape as R shows it: `c(channels, height, width)` or `c(features)`.
pub fn shape_to_r(shape: Option<Shape>) -> Robj {
    match shape {
        None => ().into(),
        Some(s) if s.is_flat() => (s.size() as i32).into(),
        Some(s) => vec![s.channels as i32, s.height as i32, s.width as i32].into(),
    }
}

pub fn r_matrix(m: ColMajorOwned) -> RMatrix<f64> {
    let ColMajorOwned { data, nrow, .. } = m;
    RMatrix::new_matrix(nrow, m.ncol, |r, c| data[r + c * nrow])
}

pub fn count(value: i32, what: &str) -> Result<usize> {
    usize::try_from(value).map_err(|_| Error::Other(format!("{what} must not be negative")))
}

/// Two 32-bit draws from R's RNG as one 64-bit seed.
pub fn seed_from(seed: &[i32]) -> u64 {
    seed.iter()
        .fold(0u64, |acc, &s| (acc << 32) | u64::from(s as u32))
}

/// Parameters (or gradients) as one named list per layer, each a matrix
/// (an array for convolution weights) or a vector, in R's layout.
pub fn params_list(params: Vec<ParamExport>, layers: usize) -> List {
    let mut per_layer: Vec<(Vec<&'static str>, Vec<Robj>)> = vec![(vec![], vec![]); layers];
    for p in params {
        let mut value: Robj = p.data.into();
        if p.shape.len() >= 2 {
            let dim: Vec<i32> = p.shape.iter().map(|&d| d as i32).collect();
            let _ = value.set_attrib("dim", dim);
        }
        per_layer[p.layer].0.push(p.name);
        per_layer[p.layer].1.push(value);
    }
    // A layer without parameters gets `list()`, not a list with empty names.
    List::from_values(per_layer.into_iter().map(|(names, values)| {
        if names.is_empty() {
            return Robj::from(List::new(0));
        }
        List::from_names_and_values(names, values)
            .map(Robj::from)
            .unwrap_or_default()
    }))
}

/// A named list from R (a layer's description, a loss, an optimizer, fit's
/// settings), read by name: the one way the glue reads R lists. A missing
/// or mistyped entry is an error naming it, or a default where one exists.
pub struct Settings {
    map: HashMap<String, Robj>,
}

impl Settings {
    pub fn new(robj: &Robj) -> Result<Self> {
        let list = List::try_from(robj.clone())?;
        Ok(Settings {
            map: list.iter().map(|(k, v)| (k.to_string(), v)).collect(),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Robj> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub fn opt_real(&self, name: &str) -> Option<f64> {
        self.get(name)
            .and_then(|v| v.as_real().or_else(|| v.as_integer().map(f64::from)))
    }

    pub fn real(&self, name: &str) -> Result<f64> {
        self.opt_real(name)
            .ok_or_else(|| Error::Other(format!("`{name}` must be a number")))
    }

    pub fn whole(&self, name: &str) -> Result<usize> {
        let v = self.real(name)?;
        if v >= 0.0 && v.fract() == 0.0 {
            Ok(v as usize)
        } else {
            Err(Error::Other(format!(
                "`{name}` must be a whole number, not {v}"
            )))
        }
    }

    pub fn opt_flag(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(|v| v.as_bool())
    }

    pub fn flag(&self, name: &str) -> Result<bool> {
        self.opt_flag(name)
            .ok_or_else(|| Error::Other(format!("`{name}` must be TRUE or FALSE")))
    }

    pub fn text(&self, name: &str) -> Result<&str> {
        self.get(name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::Other(format!("`{name}` must be a string")))
    }

    pub fn reals(&self, name: &str) -> Option<Vec<f64>> {
        self.get(name).and_then(|v| v.as_real_vector())
    }
}
