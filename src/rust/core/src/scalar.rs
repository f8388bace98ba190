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
    /// The hyperbolic tangent. For `f64`, the C library's (base R's);
    /// for `f32`, see [`tanh_f32`].
    fn tanh_(self) -> Self;
}

/// `tanh` for `f32`, computed in `f64` from one `exp` and rounded once:
/// within an ulp of the exact value like the C library's `tanhf`, at
/// less than half its cost (tiny networks such as tutorial 003's spend
/// most of their time in tanh).
#[inline]
pub fn tanh_f32(v: f32) -> f32 {
    let x = f64::from(v);
    if x.abs() < 1e-4 {
        // The series' next term, 2x^5/15, is below f32's precision; the
        // product keeps the sign of -0.
        return (x * (1.0 - x * x / 3.0)) as f32;
    }
    if x.abs() > 20.0 {
        // exp would overflow; tanh is 1 to f32 precision from 9.1 on.
        return 1f32.copysign(v);
    }
    let e = (2.0 * x).exp();
    ((e - 1.0) / (e + 1.0)) as f32
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
    #[inline]
    fn tanh_(self) -> Self {
        tanh_f32(self)
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
    #[inline]
    fn tanh_(self) -> Self {
        self.tanh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_tanh_is_within_an_ulp_of_the_exact_value() {
        let mut v = -12.0f32;
        while v < 12.0 {
            let exact = f64::from(v).tanh();
            let got = f64::from(tanh_f32(v));
            let ulp = f64::from(f32::EPSILON) * exact.abs().max(f64::from(f32::MIN_POSITIVE));
            assert!((got - exact).abs() <= ulp, "tanh({v}): {got} vs {exact}");
            v += 0.000_37;
        }
        for tiny in [1e-30f32, 1e-6, 9.9e-5, 1e-4, -3e-5] {
            assert_eq!(tanh_f32(tiny), f64::from(tiny).tanh() as f32);
        }
        assert!(tanh_f32(-0.0).is_sign_negative());
        assert_eq!(tanh_f32(1e30), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
    }
}
