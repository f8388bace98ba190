//! The floating-point types the engine computes in.
//!
//! Training defaults to `f32`, as Keras and PyTorch do; `f64` exists for exact
//! comparison with base R and for numerical gradient checks.

use ndarray::LinalgScalar;
use num_traits::Float;
use std::fmt::{Debug, Display};

pub trait Scalar:
    LinalgScalar + Float + Send + Sync + Debug + Display + Default + std::iter::Sum + 'static
{
    /// Probabilities are clamped to `[LOG_EPS, 1 - LOG_EPS]` before a log in
    /// the non-fused cross-entropy losses (Keras uses 1e-7 for `f32`).
    const LOG_EPS: f64;
    fn of(v: f64) -> Self;
    fn as_f64(self) -> f64;
}

impl Scalar for f32 {
    const LOG_EPS: f64 = 1e-7;
    #[inline]
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Scalar for f64 {
    const LOG_EPS: f64 = 1e-15;
    #[inline]
    fn of(v: f64) -> Self {
        v
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self
    }
}
