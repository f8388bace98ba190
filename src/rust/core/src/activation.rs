//! Element-wise (and row-wise, for softmax) activation functions.
//!
//! A closed set, so an enum with one `match`: the backward pass of each is
//! written in terms of its *output*, which the network keeps anyway, so no
//! extra copy of the input is needed.

use crate::error::{arg_err, Result};
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
}

impl Activation {
    pub const NAMES: [&'static str; 5] = ["identity", "sigmoid", "tanh", "relu", "softmax"];

    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "identity" => Activation::Identity,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "softmax" => Activation::Softmax,
            other => {
                return Err(arg_err!(
                    "unknown activation \"{other}\"; known: {}",
                    Self::NAMES.join(", ")
                ))
            }
        })
    }

    /// An activation from its name and optional parameter (`alpha`, which
    /// only parameterized activations accept).
    pub fn build(name: &str, alpha: Option<f64>) -> Result<Self> {
        let act = Self::from_name(name)?;
        if let Some(a) = alpha {
            return Err(arg_err!(
                "the {name} activation takes no parameter, but alpha = {a} was given"
            ));
        }
        Ok(act)
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Softmax => "softmax",
        }
    }

    /// `output = f(input)`; both have the same shape.
    pub fn forward<T: Scalar>(self, input: ArrayView2<T>, mut output: ArrayViewMut2<T>) {
        let zip = Zip::from(&mut output).and(&input);
        match self {
            Activation::Identity => output.assign(&input),
            Activation::Sigmoid => zip.for_each(|y, &x| *y = sigmoid(x)),
            Activation::Tanh => zip.for_each(|y, &x| *y = x.tanh()),
            Activation::Relu => {
                zip.for_each(|y, &x| *y = if x > T::zero() { x } else { T::zero() })
            }
            Activation::Softmax => {
                output.assign(&input);
                softmax_rows(output);
            }
        }
    }

    /// `grad_in = dL/dinput` from `grad_out = dL/doutput` and the forward
    /// pass's `input` and `output` (most activations need only the output).
    pub fn backward<T: Scalar>(
        self,
        _input: ArrayView2<T>,
        output: ArrayView2<T>,
        grad_out: ArrayView2<T>,
        mut grad_in: ArrayViewMut2<T>,
    ) {
        let one = T::one();
        let zip = Zip::from(&mut grad_in).and(&grad_out).and(&output);
        match self {
            Activation::Identity => grad_in.assign(&grad_out),
            Activation::Sigmoid => zip.for_each(|gi, &g, &y| *gi = g * y * (one - y)),
            Activation::Tanh => zip.for_each(|gi, &g, &y| *gi = g * (one - y * y)),
            Activation::Relu => {
                zip.for_each(|gi, &g, &y| *gi = if y > T::zero() { g } else { T::zero() })
            }
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

/// Softmax of every row in place, shifting by the row maximum first.
pub fn softmax_rows<T: Scalar>(mut m: ArrayViewMut2<T>) {
    for mut row in m.axis_iter_mut(Axis(0)) {
        let max = row.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - max).exp());
        let sum: T = row.iter().copied().sum();
        row.mapv_inplace(|v| v / sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    const ALL: [Activation; 5] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::Softmax,
    ];

    fn apply(act: Activation, x: &Array2<f64>) -> Array2<f64> {
        let mut y = Array2::zeros(x.dim());
        act.forward(x.view(), y.view_mut());
        y
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

    /// Central differences of `sum(w * f(x))` against the analytic backward.
    #[test]
    fn backward_matches_numerical_gradient() {
        let x = array![[0.3, -1.2, 2.0], [-0.7, 0.1, 0.4]];
        let w = array![[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]];
        let eps = 1e-6;
        for act in ALL {
            let y = apply(act, &x);
            let mut grad = Array2::zeros(x.dim());
            act.backward(x.view(), y.view(), w.view(), grad.view_mut());
            for i in 0..2 {
                for j in 0..3 {
                    if act == Activation::Relu && x[[i, j]].abs() < 1e-3 {
                        continue;
                    }
                    let mut xp = x.clone();
                    xp[[i, j]] += eps;
                    let mut xm = x.clone();
                    xm[[i, j]] -= eps;
                    let fp = (&apply(act, &xp) * &w).sum();
                    let fm = (&apply(act, &xm) * &w).sum();
                    let numeric = (fp - fm) / (2.0 * eps);
                    let err = (numeric - grad[[i, j]]).abs()
                        / (1e-8 + numeric.abs().max(grad[[i, j]].abs()));
                    assert!(
                        err < 1e-6,
                        "{act:?} at ({i},{j}): {numeric} vs {}",
                        grad[[i, j]]
                    );
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for act in ALL {
            assert_eq!(Activation::from_name(act.name()).unwrap(), act);
        }
        assert!(Activation::from_name("swish").is_err());
    }
}
