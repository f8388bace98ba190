//! Element-wise (and row-wise, for softmax) activation functions.
//!
//! A closed set, so an enum with one `match`. Most backward passes are
//! written in terms of the *output*, which the network keeps anyway; GELU and
//! Softplus use the input instead, because their derivative cannot be
//! recovered from the output exactly (Softplus's could, as `1 - exp(-y)`, but
//! that cancels badly for large negative inputs, where `sigmoid(x)` does not).

use crate::error::{arg_err, Result};
use crate::kind::{Backward, Forward, LayerKind, Pass};
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Identity,
    Sigmoid,
    Tanh,
    Relu,
    /// Row-wise softmax: each sample's outputs sum to one.
    Softmax,
    /// `x` for `x > 0`, else `alpha * x`, with `alpha >= 0`.
    LeakyRelu {
        alpha: f64,
    },
    /// `x` for `x > 0`, else `alpha * (exp(x) - 1)`, with `alpha > 0`.
    Elu {
        alpha: f64,
    },
    /// Exact GELU, `x * Phi(x)` with `Phi` the standard normal CDF.
    Gelu,
    /// `log(1 + exp(x))`.
    Softplus,
}

impl Activation {
    pub const NAMES: [&'static str; 9] = [
        "identity",
        "sigmoid",
        "tanh",
        "relu",
        "softmax",
        "leaky_relu",
        "elu",
        "gelu",
        "softplus",
    ];

    /// PyTorch's default negative slope of `LeakyReLU`.
    pub const LEAKY_RELU_ALPHA: f64 = 0.01;
    /// PyTorch's and Keras's default `alpha` of ELU.
    pub const ELU_ALPHA: f64 = 1.0;

    /// An activation from its name, with default parameters.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "identity" => Activation::Identity,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "softmax" => Activation::Softmax,
            "leaky_relu" => Activation::LeakyRelu {
                alpha: Self::LEAKY_RELU_ALPHA,
            },
            "elu" => Activation::Elu {
                alpha: Self::ELU_ALPHA,
            },
            "gelu" => Activation::Gelu,
            "softplus" => Activation::Softplus,
            other => {
                return Err(arg_err!(
                    "unknown activation \"{other}\"; known: {}",
                    Self::NAMES.join(", ")
                ))
            }
        })
    }

    /// An activation from its name and optional parameter `alpha`, which only
    /// leaky_relu and elu accept (absent, they take their default).
    pub fn build(name: &str, alpha: Option<f64>) -> Result<Self> {
        let act = Self::from_name(name)?;
        let Some(a) = alpha else { return Ok(act) };
        match act {
            Activation::LeakyRelu { .. } if a.is_finite() && a >= 0.0 => {
                Ok(Activation::LeakyRelu { alpha: a })
            }
            // The backward pass tells the two branches apart by the output's
            // sign, which needs alpha >= 0 (leaky ReLU) and alpha > 0 (ELU).
            Activation::LeakyRelu { .. } => Err(arg_err!(
                "the leaky_relu activation needs a finite alpha of at least 0, not {a}"
            )),
            Activation::Elu { .. } if a.is_finite() && a > 0.0 => Ok(Activation::Elu { alpha: a }),
            Activation::Elu { .. } => Err(arg_err!(
                "the elu activation needs a finite alpha greater than 0, not {a}"
            )),
            _ => Err(arg_err!(
                "the {name} activation takes no parameter, but alpha = {a} was given"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Softmax => "softmax",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Elu { .. } => "elu",
            Activation::Gelu => "gelu",
            Activation::Softplus => "softplus",
        }
    }

    /// The parameter of a parameterized activation.
    pub fn alpha(self) -> Option<f64> {
        match self {
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => Some(alpha),
            _ => None,
        }
    }

    /// `output = f(input)`; both have the same shape.
    pub fn forward<T: Scalar>(self, input: ArrayView2<T>, output: ArrayViewMut2<T>) {
        let zero = T::zero();
        match self {
            Activation::Identity => map_into(output, input, |x| x),
            Activation::Sigmoid => map_into(output, input, sigmoid),
            Activation::Tanh => map_into(output, input, |x| x.tanh_()),
            Activation::Relu => map_into(output, input, |x| if x > zero { x } else { zero }),
            Activation::LeakyRelu { alpha } => {
                let alpha = T::of(alpha);
                map_into(output, input, |x| if x > zero { x } else { alpha * x })
            }
            Activation::Elu { alpha } => {
                let alpha = T::of(alpha);
                map_into(
                    output,
                    input,
                    |x| if x > zero { x } else { alpha * x.exp_m1() },
                )
            }
            Activation::Gelu => map_into(output, input, |x| x * normal_cdf(x)),
            Activation::Softplus => map_into(output, input, softplus),
            Activation::Softmax => {
                let mut output = output;
                output.assign(&input);
                softmax_rows(output);
            }
        }
    }

    /// `grad_in = dL/dinput` from `grad_out = dL/doutput` and the forward
    /// pass's `input` and `output`.
    pub fn backward<T: Scalar>(
        self,
        input: ArrayView2<T>,
        output: ArrayView2<T>,
        grad_out: ArrayView2<T>,
        mut grad_in: ArrayViewMut2<T>,
    ) {
        let (zero, one) = (T::zero(), T::one());
        // Each element-wise case is `grad_out * f'`, with `f'` written as a
        // function of the output (`chain_into(.., output, ..)`) or the input.
        match self {
            Activation::Identity => grad_in.assign(&grad_out),
            Activation::Sigmoid => chain_into(grad_in, grad_out, output, |y| y * (one - y)),
            Activation::Tanh => chain_into(grad_in, grad_out, output, |y| one - y * y),
            Activation::Relu => {
                chain_into(
                    grad_in,
                    grad_out,
                    output,
                    |y| if y > zero { one } else { zero },
                )
            }
            // For x <= 0 the output is <= 0 (alpha >= 0), so its sign tells
            // the branch; at x = 0 the slope is alpha's, as in PyTorch.
            Activation::LeakyRelu { alpha } => {
                let alpha = T::of(alpha);
                chain_into(grad_in, grad_out, output, |y| {
                    if y > zero {
                        one
                    } else {
                        alpha
                    }
                })
            }
            // d/dx alpha * (exp(x) - 1) = alpha * exp(x) = y + alpha.
            Activation::Elu { alpha } => {
                let alpha = T::of(alpha);
                chain_into(grad_in, grad_out, output, |y| {
                    if y > zero {
                        one
                    } else {
                        y + alpha
                    }
                })
            }
            // d/dx x * Phi(x) = Phi(x) + x * phi(x).
            Activation::Gelu => chain_into(grad_in, grad_out, input, |x| {
                normal_cdf(x) + x * normal_pdf(x)
            }),
            Activation::Softplus => chain_into(grad_in, grad_out, input, sigmoid),
            Activation::Softmax => {
                // Jacobian-vector product of softmax: y * (g - <g, y>), row by row.
                for ((mut gi, g), y) in grad_in
                    .axis_iter_mut(Axis(0))
                    .zip(grad_out.axis_iter(Axis(0)))
                    .zip(output.axis_iter(Axis(0)))
                {
                    let dot: T = g.iter().zip(y.iter()).map(|(&a, &b)| a * b).sum();
                    Zip::from(&mut gi)
                        .and(&g)
                        .and(&y)
                        .for_each(|o, &gk, &yk| *o = yk * (gk - dot));
                }
            }
        }
    }
}

/// `output[i] = f(input[i])`.
#[inline]
fn map_into<T: Scalar>(output: ArrayViewMut2<T>, input: ArrayView2<T>, f: impl Fn(T) -> T) {
    Zip::from(output).and(input).for_each(|y, &x| *y = f(x));
}

/// `grad_in[i] = grad_out[i] * deriv(at[i])`.
#[inline]
fn chain_into<T: Scalar>(
    grad_in: ArrayViewMut2<T>,
    grad_out: ArrayView2<T>,
    at: ArrayView2<T>,
    deriv: impl Fn(T) -> T,
) {
    Zip::from(grad_in)
        .and(grad_out)
        .and(at)
        .for_each(|gi, &g, &v| *gi = g * deriv(v));
}

/// Numerically stable logistic function (no overflow of `exp` for large |x|).
#[inline]
pub fn sigmoid<T: Scalar>(x: T) -> T {
    let one = T::one();
    if x >= T::zero() {
        one / (one + (-x).exp())
    } else {
        let e = x.exp();
        e / (one + e)
    }
}

/// `log(1 + exp(x))` as `max(x, 0) + log1p(exp(-|x|))`: no overflow for
/// large x, and no loss to rounding for very negative x.
#[inline]
pub fn softplus<T: Scalar>(x: T) -> T {
    x.max(T::zero()) + (-x.abs()).exp().ln_1p()
}

/// Standard normal CDF in `f64`. `erfc(-x / sqrt(2)) / 2` rather than
/// `(1 + erf(x / sqrt(2))) / 2`, which cancels to 0 in the left tail.
#[inline]
fn normal_cdf<T: Scalar>(x: T) -> T {
    T::of(0.5 * libm::erfc(-x.as_f64() * std::f64::consts::FRAC_1_SQRT_2))
}

/// Standard normal density.
#[inline]
fn normal_pdf<T: Scalar>(x: T) -> T {
    let x = x.as_f64();
    // 1 / sqrt(2 pi)
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    T::of(INV_SQRT_2PI * (-0.5 * x * x).exp())
}

/// Softmax of every row in place, shifting by the row maximum first.
pub fn softmax_rows<T: Scalar>(mut m: ArrayViewMut2<T>) {
    for mut row in m.axis_iter_mut(Axis(0)) {
        let max = row.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - max).exp());
        let sum: T = row.iter().copied().sum();
        row.mapv_inplace(|v| v / sum);
    }
}

impl<T: Scalar> LayerKind<T> for Activation {
    fn forward(&mut self, io: Forward<'_, T>, _pass: &mut Pass) -> crate::error::Result<()> {
        Activation::forward(*self, io.input, io.output);
        Ok(())
    }

    fn backward(&mut self, grads: Backward<'_, T>, _par: &Parallel) -> Result<()> {
        if let Some(grad_in) = grads.grad_in {
            Activation::backward(*self, grads.input, grads.output, grads.grad_out, grad_in)
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    const ALL: [Activation; 11] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::Softmax,
        Activation::LeakyRelu { alpha: 0.01 },
        Activation::LeakyRelu { alpha: 0.3 },
        Activation::Elu { alpha: 1.0 },
        Activation::Elu { alpha: 0.5 },
        Activation::Gelu,
        Activation::Softplus,
    ];

    fn apply(act: Activation, x: &Array2<f64>) -> Array2<f64> {
        let mut y = Array2::zeros(x.dim());
        act.forward(x.view(), y.view_mut());
        y
    }

    fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
        let rel = (got - want).abs() / want.abs().max(f64::MIN_POSITIVE);
        assert!(rel < tol, "{what}: {got} vs {want}");
    }

    #[test]
    fn forward_values() {
        let x = array![[0.0, 1.0, -2.0]];
        assert_eq!(apply(Activation::Relu, &x), array![[0.0, 1.0, 0.0]]);
        let s = apply(Activation::Sigmoid, &x);
        assert!((s[[0, 1]] - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-15);
        let sm = apply(Activation::Softmax, &x);
        assert!((sm.sum() - 1.0).abs() < 1e-15);
        // Stable for huge inputs.
        let big = apply(Activation::Softmax, &array![[1000.0, 1000.0]]);
        assert_eq!(big, array![[0.5, 0.5]]);
        assert_eq!(sigmoid(-1000.0f64), 0.0);
    }

    /// The new activations against their textbook definitions, computed
    /// naively where that is accurate, and against reference values where it
    /// is not.
    #[test]
    fn forward_values_match_definitions() {
        let xs = [-3.0, -1.0, -0.25, 0.0, 0.5, 2.0, 7.0];
        let x = Array2::from_shape_vec((1, xs.len()), xs.to_vec()).unwrap();
        for alpha in [0.0, 0.01, 0.2] {
            let y = apply(Activation::LeakyRelu { alpha }, &x);
            for (&xi, &yi) in xs.iter().zip(&y) {
                assert_eq!(yi, if xi > 0.0 { xi } else { alpha * xi });
            }
        }
        for alpha in [1.0, 0.5] {
            let y = apply(Activation::Elu { alpha }, &x);
            for (&xi, &yi) in xs.iter().zip(&y) {
                let want = if xi > 0.0 {
                    xi
                } else {
                    alpha * (xi.exp() - 1.0)
                };
                assert!((yi - want).abs() < 1e-15, "elu({xi}): {yi} vs {want}");
            }
        }
        let y = apply(Activation::Softplus, &x);
        for (&xi, &yi) in xs.iter().zip(&y) {
            assert_close(yi, (1.0 + xi.exp()).ln(), 1e-14, "softplus");
        }
        let y = apply(Activation::Gelu, &x);
        for (&xi, &yi) in xs.iter().zip(&y) {
            let want = xi * 0.5 * (1.0 + libm::erf(xi / 2f64.sqrt()));
            assert!((yi - want).abs() < 1e-15, "gelu({xi}): {yi} vs {want}");
        }
        // Phi(1) and Phi(-10), from R's pnorm().
        let g = apply(Activation::Gelu, &array![[1.0, -1.0, -10.0]]);
        assert_close(g[[0, 0]], 0.841_344_746_068_542_9, 1e-14, "gelu(1)");
        assert_close(g[[0, 1]], -0.158_655_253_931_457_05, 1e-14, "gelu(-1)");
        assert_close(g[[0, 2]], -7.619_853_024_160_527e-23, 1e-12, "gelu(-10)");
        // Softplus far out: x itself, and exp(x) where log(1 + exp(x)) is 0.
        let sp = apply(Activation::Softplus, &array![[1000.0, -50.0]]);
        assert_eq!(sp[[0, 0]], 1000.0);
        assert_close(sp[[0, 1]], (-50.0f64).exp(), 1e-14, "softplus(-50)");
        // The same in f32.
        let mut y32 = Array2::<f32>::zeros((1, 2));
        Activation::Gelu.forward(array![[1.0f32, -1.0]].view(), y32.view_mut());
        assert!((y32[[0, 0]] - 0.841_344_7).abs() < 1e-6);
    }

    /// Central differences of `sum(w * f(x))` against the analytic backward.
    #[test]
    fn backward_matches_numerical_gradient() {
        let x = array![[0.3, -1.2, 2.0, -3.5], [-0.7, 0.1, 0.4, 5.0]];
        let w = array![[0.5, -1.0, 2.0, 0.3], [1.5, 0.25, -0.75, -1.1]];
        let eps = 1e-6;
        for act in ALL {
            let y = apply(act, &x);
            let mut grad = Array2::zeros(x.dim());
            act.backward(x.view(), y.view(), w.view(), grad.view_mut());
            for ((i, j), &g) in grad.indexed_iter() {
                let mut xp = x.clone();
                xp[[i, j]] += eps;
                let mut xm = x.clone();
                xm[[i, j]] -= eps;
                let fp = (&apply(act, &xp) * &w).sum();
                let fm = (&apply(act, &xm) * &w).sum();
                let numeric = (fp - fm) / (2.0 * eps);
                let err = (numeric - g).abs() / (1e-8 + numeric.abs().max(g.abs()));
                assert!(err < 1e-6, "{act:?} at ({i},{j}): {numeric} vs {g}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for act in ALL {
            let rebuilt = Activation::build(act.name(), act.alpha()).unwrap();
            assert_eq!(rebuilt, act);
        }
        assert!(Activation::from_name("swish").is_err());
    }

    #[test]
    fn alpha_defaults_and_validation() {
        assert_eq!(
            Activation::build("leaky_relu", None).unwrap(),
            Activation::LeakyRelu { alpha: 0.01 }
        );
        assert_eq!(Activation::build("elu", None).unwrap().alpha(), Some(1.0));
        assert_eq!(
            Activation::build("leaky_relu", Some(0.0)).unwrap().alpha(),
            Some(0.0)
        );
        assert_eq!(Activation::Gelu.alpha(), None);
        let msg = |name, alpha| {
            Activation::build(name, Some(alpha))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            msg("elu", 0.0),
            "the elu activation needs a finite alpha greater than 0, not 0"
        );
        assert!(msg("leaky_relu", -0.1).contains("at least 0, not -0.1"));
        assert!(msg("leaky_relu", f64::NAN).contains("NaN"));
        assert_eq!(
            msg("gelu", 0.5),
            "the gelu activation takes no parameter, but alpha = 0.5 was given"
        );
    }
}
