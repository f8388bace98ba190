//! Loss functions: a value for reporting and a gradient for backpropagation.
//!
//! Mean losses average over every element of the batch (as Keras and PyTorch
//! do), except categorical cross-entropy, which averages over samples. `sse`
//! is tutorial 001's total squared error. When binary cross-entropy follows a
//! sigmoid, or categorical cross-entropy follows a softmax, the network asks
//! for the *fused* form: value and gradient are computed from the logits,
//! which is exact where `log(p)` would underflow.

use crate::activation::Activation;
use crate::error::{arg_err, shape_err, Result};
use crate::scalar::Scalar;
use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    Mse,
    Sse,
    Bce,
    CrossEntropy,
}

impl Loss {
    pub const NAMES: [&'static str; 4] = ["mse", "sse", "bce", "cross_entropy"];

    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "mse" => Loss::Mse,
            "sse" => Loss::Sse,
            "bce" => Loss::Bce,
            "cross_entropy" => Loss::CrossEntropy,
            other => {
                return Err(arg_err!(
                    "unknown loss \"{other}\"; known: {}",
                    Self::NAMES.join(", ")
                ))
            }
        })
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// True when the loss is a sum over the batch rather than a mean, so an
    /// epoch's loss is the sum of its batches' losses.
    pub fn is_sum(self) -> bool {
        self == Loss::Sse
    }

    /// Whether this loss is computed from the logits of `last` (see module doc).
    pub fn fuses_with(self, last: Activation) -> bool {
        matches!(
            (self, last),
            (Loss::Bce, Activation::Sigmoid) | (Loss::CrossEntropy, Activation::Softmax)
        )
    }

    fn check(pred: (usize, usize), target: (usize, usize)) -> Result<()> {
        if pred != target {
            return Err(shape_err!(
                "predictions are {} x {} but targets are {} x {}",
                pred.0,
                pred.1,
                target.0,
                target.1
            ));
        }
        if pred.0 == 0 {
            return Err(shape_err!("the loss needs at least one row"));
        }
        Ok(())
    }

    /// The divisor that turns a sum over the batch into this loss's mean.
    fn scale(self, (rows, cols): (usize, usize)) -> f64 {
        match self {
            Loss::Sse => 1.0,
            Loss::CrossEntropy => rows as f64,
            Loss::Mse | Loss::Bce => (rows * cols) as f64,
        }
    }

    /// Loss of `pred` against `target`, and `dL/dpred` into `grad` if given.
    pub fn value_and_grad<T: Scalar>(
        self,
        pred: ArrayView2<T>,
        target: ArrayView2<T>,
        grad: Option<ArrayViewMut2<T>>,
    ) -> Result<f64> {
        Self::check(pred.dim(), target.dim())?;
        let n = self.scale(pred.dim());
        let eps = T::LOG_EPS;
        let clamp = |p: T| p.as_f64().clamp(eps, 1.0 - eps);
        let mut total = 0.0f64;
        Zip::from(&pred).and(&target).for_each(|&p, &y| {
            let (p64, y64) = (p.as_f64(), y.as_f64());
            total += match self {
                Loss::Mse | Loss::Sse => (p64 - y64) * (p64 - y64),
                Loss::Bce => {
                    let pc = clamp(p);
                    -(y64 * pc.ln() + (1.0 - y64) * (1.0 - pc).ln())
                }
                Loss::CrossEntropy => -y64 * clamp(p).ln(),
            }
        });
        if let Some(mut grad) = grad {
            let two = T::of(2.0 / n);
            let inv = T::of(1.0 / n);
            let one = T::one();
            let zip = Zip::from(&mut grad).and(&pred).and(&target);
            match self {
                Loss::Mse | Loss::Sse => zip.for_each(|g, &p, &y| *g = two * (p - y)),
                Loss::Bce => zip.for_each(|g, &p, &y| {
                    let pc = T::of(clamp(p));
                    *g = inv * (pc - y) / (pc * (one - pc))
                }),
                Loss::CrossEntropy => zip.for_each(|g, &p, &y| {
                    *g = -inv * y / T::of(clamp(p));
                }),
            }
        }
        Ok(total / n)
    }

    /// Fused form: value from `logits`, and `dL/dlogits` into `grad`, given
    /// `probs` = the activation of `logits` (already computed by the forward pass).
    pub fn fused_value_and_grad<T: Scalar>(
        self,
        logits: ArrayView2<T>,
        probs: ArrayView2<T>,
        target: ArrayView2<T>,
        grad: Option<ArrayViewMut2<T>>,
    ) -> Result<f64> {
        Self::check(logits.dim(), target.dim())?;
        let n = self.scale(logits.dim());
        let total = match self {
            Loss::Bce => {
                // max(z, 0) - z*y + log(1 + exp(-|z|)), stable for any z.
                let mut total = 0.0f64;
                Zip::from(&logits).and(&target).for_each(|&z, &y| {
                    let (z, y) = (z.as_f64(), y.as_f64());
                    total += z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
                });
                total
            }
            Loss::CrossEntropy => {
                // -sum(y * (z - logsumexp(z))) per row.
                let mut total = 0.0f64;
                for (z, y) in logits.axis_iter(Axis(0)).zip(target.axis_iter(Axis(0))) {
                    let max = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b.as_f64()));
                    let lse = max
                        + z.iter()
                            .map(|&v| (v.as_f64() - max).exp())
                            .sum::<f64>()
                            .ln();
                    total -= z
                        .iter()
                        .zip(y.iter())
                        .map(|(&zk, &yk)| yk.as_f64() * (zk.as_f64() - lse))
                        .sum::<f64>();
                }
                total
            }
            Loss::Mse | Loss::Sse => {
                return Err(arg_err!("the {} loss has no fused form", self.name()))
            }
        };
        if let Some(mut grad) = grad {
            let inv = T::of(1.0 / n);
            match self {
                // d/dz of the fused BCE is sigmoid(z) - y: the forward pass's probabilities.
                Loss::Bce => Zip::from(&mut grad)
                    .and(&probs)
                    .and(&target)
                    .for_each(|g, &p, &y| *g = inv * (p - y)),
                _ => {
                    // softmax(z) * sum(y) - y, which is p - y for one-hot rows.
                    for ((mut g, p), y) in grad
                        .axis_iter_mut(Axis(0))
                        .zip(probs.axis_iter(Axis(0)))
                        .zip(target.axis_iter(Axis(0)))
                    {
                        let mass: T = y.iter().copied().sum();
                        Zip::from(&mut g)
                            .and(&p)
                            .and(&y)
                            .for_each(|gk, &pk, &yk| *gk = inv * (pk * mass - yk));
                    }
                }
            }
        }
        Ok(total / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    const ALL: [Loss; 4] = [Loss::Mse, Loss::Sse, Loss::Bce, Loss::CrossEntropy];

    #[test]
    fn values_match_definitions() {
        let p = array![[0.8, 0.2], [0.4, 0.6]];
        let y = array![[1.0, 0.0], [0.0, 1.0]];
        let mse = Loss::Mse.value_and_grad(p.view(), y.view(), None).unwrap();
        assert!((mse - (0.04 + 0.04 + 0.16 + 0.16) / 4.0).abs() < 1e-15);
        let sse = Loss::Sse.value_and_grad(p.view(), y.view(), None).unwrap();
        assert!((sse - 0.4).abs() < 1e-15);
        let ce = Loss::CrossEntropy
            .value_and_grad(p.view(), y.view(), None)
            .unwrap();
        assert!((ce - -(0.8f64.ln() + 0.6f64.ln()) / 2.0).abs() < 1e-15);
    }

    fn numeric_check(f: &dyn Fn(&Array2<f64>) -> f64, x: &Array2<f64>, analytic: &Array2<f64>) {
        let eps = 1e-6;
        for i in 0..x.nrows() {
            for j in 0..x.ncols() {
                let mut xp = x.clone();
                xp[[i, j]] += eps;
                let mut xm = x.clone();
                xm[[i, j]] -= eps;
                let numeric = (f(&xp) - f(&xm)) / (2.0 * eps);
                let a = analytic[[i, j]];
                let rel = (numeric - a).abs() / (1e-10 + numeric.abs().max(a.abs()));
                assert!(rel < 1e-6, "({i},{j}): numeric {numeric} vs analytic {a}");
            }
        }
    }

    #[test]
    fn gradients_match_numerical() {
        let p = array![[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]];
        let y = array![[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        for loss in ALL {
            let mut g = Array2::zeros(p.dim());
            loss.value_and_grad(p.view(), y.view(), Some(g.view_mut()))
                .unwrap();
            let f = |pp: &Array2<f64>| loss.value_and_grad(pp.view(), y.view(), None).unwrap();
            numeric_check(&f, &p, &g);
        }
    }

    #[test]
    fn fused_gradients_match_numerical_and_unfused_values() {
        let z = array![[0.5, -1.5, 2.0], [-0.3, 0.8, 0.1]];
        let y = array![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]];
        for (loss, act) in [
            (Loss::Bce, Activation::Sigmoid),
            (Loss::CrossEntropy, Activation::Softmax),
        ] {
            let probs_of = |zz: &Array2<f64>| {
                let mut p = Array2::zeros(zz.dim());
                act.forward(zz.view(), p.view_mut());
                p
            };
            let p = probs_of(&z);
            let mut g = Array2::zeros(z.dim());
            let fused = loss
                .fused_value_and_grad(z.view(), p.view(), y.view(), Some(g.view_mut()))
                .unwrap();
            let plain = loss.value_and_grad(p.view(), y.view(), None).unwrap();
            assert!((fused - plain).abs() < 1e-12);
            let f = |zz: &Array2<f64>| {
                loss.fused_value_and_grad(zz.view(), probs_of(zz).view(), y.view(), None)
                    .unwrap()
            };
            numeric_check(&f, &z, &g);
        }
        // Logits far out: finite where log(sigmoid) would be -Inf.
        let z = array![[-800.0]];
        let p = array![[0.0]];
        let v = Loss::Bce
            .fused_value_and_grad(z.view(), p.view(), array![[1.0]].view(), None)
            .unwrap();
        assert!((v - 800.0).abs() < 1e-9);
    }

    #[test]
    fn mismatched_shapes_and_names_are_errors() {
        let p = Array2::<f32>::zeros((2, 2));
        let y = Array2::<f32>::zeros((2, 3));
        assert!(Loss::Mse.value_and_grad(p.view(), y.view(), None).is_err());
        assert!(Loss::from_name("hinge").is_err());
        for loss in ALL {
            assert_eq!(Loss::from_name(loss.name()).unwrap(), loss);
        }
    }
}
