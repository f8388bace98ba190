//! The fully connected layer: `output = input · weight + bias`.
//!
//! `weight` is `in_features x out_features` and rows of `input` are samples,
//! as in tutorial 001 (`x %*% W + b`). Optional L1/L2 penalties on the
//! weight (not the bias, as Keras's `kernel_regularizer`) add
//! `l1 * sum(|W|) + l2 * sum(W^2)` to the loss; the backward pass adds their
//! gradient, so every optimizer sees the penalized objective.

use crate::error::Result;
use crate::kind::{view, Backward, Forward, LayerKind, ParamView, Pass, TensorMut};
use crate::matrix::{try_zeros, try_zeros1};
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, Zip};

#[derive(Debug, Clone)]
pub struct Linear<T: Scalar> {
    pub weight: Array2<T>,
    pub bias: Array1<T>,
    pub grad_weight: Array2<T>,
    pub grad_bias: Array1<T>,
    pub l1: f64,
    pub l2: f64,
}

impl<T: Scalar> Linear<T> {
    /// A layer with all parameters zero; the R side fills them with its own
    /// initializer so that `set.seed()` decides them. Sizes beyond what
    /// the engine takes, or memory that cannot be had, are an error.
    pub fn zeros(in_features: usize, out_features: usize) -> Result<Self> {
        Ok(Linear {
            weight: try_zeros(in_features, out_features)?,
            bias: try_zeros1(out_features)?,
            grad_weight: try_zeros(in_features, out_features)?,
            grad_bias: try_zeros1(out_features)?,
            l1: 0.0,
            l2: 0.0,
        })
    }

    /// The penalty term this layer adds to the loss.
    pub fn penalty(&self) -> f64 {
        if self.l1 == 0.0 && self.l2 == 0.0 {
            return 0.0;
        }
        self.weight.iter().fold(0.0, |acc, &w| {
            let w = w.as_f64();
            acc + self.l1 * w.abs() + self.l2 * w * w
        })
    }

    pub fn in_features(&self) -> usize {
        self.weight.nrows()
    }

    pub fn out_features(&self) -> usize {
        self.weight.ncols()
    }

    pub fn forward(&self, input: ArrayView2<T>, mut output: ArrayViewMut2<T>, par: &Parallel) {
        par.matmul(input, self.weight.view(), T::zero(), output.view_mut());
        for mut row in output.axis_iter_mut(Axis(0)) {
            Zip::from(&mut row)
                .and(&self.bias)
                .for_each(|y, &b| *y = *y + b);
        }
    }

    /// Fills the parameter gradients and, when asked, `dL/dinput`.
    pub fn backward(
        &mut self,
        input: ArrayView2<T>,
        grad_out: ArrayView2<T>,
        grad_in: Option<ArrayViewMut2<T>>,
        par: &Parallel,
    ) {
        par.matmul(input.t(), grad_out, T::zero(), self.grad_weight.view_mut());
        if self.l1 != 0.0 || self.l2 != 0.0 {
            let (l1, two_l2) = (T::of(self.l1), T::of(2.0 * self.l2));
            Zip::from(&mut self.grad_weight)
                .and(&self.weight)
                .for_each(|g, &w| *g = *g + l1 * sign(w) + two_l2 * w);
        }
        // Column sums in a fixed row order, so the bits never depend on threads.
        self.grad_bias.fill(T::zero());
        for row in grad_out.axis_iter(Axis(0)) {
            Zip::from(&mut self.grad_bias)
                .and(&row)
                .for_each(|b, &g| *b = *b + g);
        }
        if let Some(grad_in) = grad_in {
            par.matmul(grad_out, self.weight.t(), T::zero(), grad_in);
        }
    }
}

/// The subgradient of |w| that is 0 at 0 (as PyTorch's `sign`).
fn sign<T: Scalar>(w: T) -> T {
    if w > T::zero() {
        T::one()
    } else if w < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

impl<T: Scalar> LayerKind<T> for Linear<T> {
    fn forward(&mut self, io: Forward<'_, T>, pass: &mut Pass) -> Result<()> {
        Linear::forward(self, io.input, io.output, pass.par);
        Ok(())
    }

    fn backward(&mut self, grads: Backward<'_, T>, par: &Parallel) -> Result<()> {
        Linear::backward(self, grads.input, grads.grad_out, grads.grad_in, par);
        Ok(())
    }

    fn tensors(&self) -> Vec<ParamView<'_, T>> {
        let (i, o) = (self.in_features(), self.out_features());
        vec![
            view("weight", vec![i, o], &self.weight, Some(&self.grad_weight)),
            view("bias", vec![o], &self.bias, Some(&self.grad_bias)),
        ]
    }

    fn tensors_mut(&mut self) -> Vec<TensorMut<'_, T>> {
        vec![
            TensorMut::of("weight", &mut self.weight, Some(&self.grad_weight)),
            TensorMut::of("bias", &mut self.bias, Some(&self.grad_bias)),
        ]
    }

    fn penalty(&self) -> f64 {
        Linear::penalty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn forward_is_x_w_plus_b() {
        let mut layer = Linear::<f64>::zeros(2, 3).unwrap();
        layer.weight = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        layer.bias = array![0.5, -0.5, 1.0];
        let x = array![[1.0, 1.0], [2.0, -1.0]];
        let mut y = Array2::zeros((2, 3));
        layer.forward(x.view(), y.view_mut(), &Parallel::default());
        assert_eq!(y, array![[5.5, 6.5, 10.0], [-1.5, -1.5, 1.0]]);
    }

    #[test]
    fn backward_matches_numerical_gradient() {
        let par = Parallel::default();
        let mut layer = Linear::<f64>::zeros(3, 2).unwrap();
        layer.weight = array![[0.1, -0.3], [0.7, 0.2], [-0.5, 0.9]];
        layer.bias = array![0.05, -0.1];
        let x = array![[0.2, -1.0, 0.4], [1.3, 0.6, -0.2]];
        // Loss = sum(w_out * output): its gradient wrt output is w_out.
        let w_out = array![[1.0, -2.0], [0.5, 3.0]];
        let loss = |l: &Linear<f64>, x: &Array2<f64>| {
            let mut y = Array2::zeros((2, 2));
            l.forward(x.view(), y.view_mut(), &par);
            (&y * &w_out).sum()
        };
        let mut grad_x = Array2::zeros((2, 3));
        layer.backward(x.view(), w_out.view(), Some(grad_x.view_mut()), &par);
        let eps = 1e-6;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-7 * (1.0 + a.abs());
        for i in 0..3 {
            for j in 0..2 {
                let mut lp = layer.clone();
                lp.weight[[i, j]] += eps;
                let mut lm = layer.clone();
                lm.weight[[i, j]] -= eps;
                let numeric = (loss(&lp, &x) - loss(&lm, &x)) / (2.0 * eps);
                assert!(close(numeric, layer.grad_weight[[i, j]]));
            }
        }
        for j in 0..2 {
            let mut lp = layer.clone();
            lp.bias[j] += eps;
            let mut lm = layer.clone();
            lm.bias[j] -= eps;
            let numeric = (loss(&lp, &x) - loss(&lm, &x)) / (2.0 * eps);
            assert!(close(numeric, layer.grad_bias[j]));
        }
        for i in 0..2 {
            for j in 0..3 {
                let mut xp = x.clone();
                xp[[i, j]] += eps;
                let mut xm = x.clone();
                xm[[i, j]] -= eps;
                let numeric = (loss(&layer, &xp) - loss(&layer, &xm)) / (2.0 * eps);
                assert!(close(numeric, grad_x[[i, j]]));
            }
        }
    }
}
