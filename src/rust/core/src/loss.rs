//! Loss functions: a value for reporting and a gradient for backpropagation.
//!
//! Mean losses average over every element of the batch (as Keras and PyTorch
//! do), except the categorical cross-entropies, which average over samples.
//! `sse` is tutorial 001's total squared error. When binary cross-entropy
//! follows a sigmoid, or a categorical cross-entropy follows a softmax, the
//! network asks for the *fused* form: value and gradient are computed from the
//! logits, which is exact where `log(p)` would underflow.
//!
//! Every loss takes optional per-row weights, with the semantics of Keras's
//! `sample_weight` under `sum_over_batch_size`: row `i`'s contribution (and
//! its gradient) is multiplied by `w[i]`, and the divisor stays the same, so
//! weights of one change nothing and a weight of two counts a row twice.

use crate::activation::Activation;
use crate::custom::CustomLoss;
use crate::error::{arg_err, shape_err, Result};
use crate::scalar::Scalar;
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Axis};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    Mse,
    Sse,
    Bce,
    /// Categorical cross-entropy against one-hot (or probability) rows.
    CrossEntropy,
    /// Mean absolute error.
    Mae,
    /// Squared error within `delta` of the target, absolute error beyond it.
    Huber {
        delta: f64,
    },
    /// Categorical cross-entropy against one 0-based class index per row.
    SparseCrossEntropy,
}

/// The targets of a batch: as given, or one class index per row (the sparse
/// loss), read as the one-hot row it stands for, so every loss has one code
/// path.
enum Targets<'a, T> {
    Dense(ArrayView2<'a, T>),
    Classes(Vec<usize>),
}

impl<T: Scalar> Targets<'_, T> {
    #[inline]
    fn get(&self, i: usize, j: usize) -> f64 {
        match self {
            Targets::Dense(y) => y[[i, j]].as_f64(),
            Targets::Classes(k) => f64::from(u8::from(k[i] == j)),
        }
    }
}

impl Loss {
    pub const NAMES: [&'static str; 7] = [
        "mse",
        "sse",
        "bce",
        "cross_entropy",
        "mae",
        "huber",
        "sparse_cross_entropy",
    ];

    /// PyTorch's and Keras's default `delta` of the Huber loss.
    pub const HUBER_DELTA: f64 = 1.0;

    /// A loss from its name, with default parameters.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "mse" => Loss::Mse,
            "sse" => Loss::Sse,
            "bce" => Loss::Bce,
            "cross_entropy" => Loss::CrossEntropy,
            "mae" => Loss::Mae,
            "huber" => Loss::Huber {
                delta: Self::HUBER_DELTA,
            },
            "sparse_cross_entropy" => Loss::SparseCrossEntropy,
            other => {
                return Err(arg_err!(
                    "unknown loss \"{other}\"; known: {}",
                    Self::NAMES.join(", ")
                ))
            }
        })
    }

    /// A loss from its name and optional parameter `delta`, which only the
    /// huber loss accepts (absent, it takes its default).
    pub fn from_parts(name: &str, delta: Option<f64>) -> Result<Self> {
        let loss = Self::from_name(name)?;
        let Some(d) = delta else { return Ok(loss) };
        match loss {
            Loss::Huber { .. } if d.is_finite() && d > 0.0 => Ok(Loss::Huber { delta: d }),
            Loss::Huber { .. } => Err(arg_err!(
                "the huber loss needs a finite delta greater than 0, not {d}"
            )),
            _ => Err(arg_err!(
                "the {name} loss takes no parameter, but delta = {d} was given"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Sse => "sse",
            Loss::Bce => "bce",
            Loss::CrossEntropy => "cross_entropy",
            Loss::Mae => "mae",
            Loss::Huber { .. } => "huber",
            Loss::SparseCrossEntropy => "sparse_cross_entropy",
        }
    }

    /// The parameter of the huber loss.
    pub fn delta(self) -> Option<f64> {
        match self {
            Loss::Huber { delta } => Some(delta),
            _ => None,
        }
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
            (Loss::Bce, Activation::Sigmoid)
                | (
                    Loss::CrossEntropy | Loss::SparseCrossEntropy,
                    Activation::Softmax
                )
        )
    }

    /// Columns the targets must have for a network with `outputs` outputs:
    /// one class index per row for the sparse loss, else one per output.
    pub fn target_cols(self, outputs: usize) -> usize {
        match self {
            Loss::SparseCrossEntropy => 1,
            _ => outputs,
        }
    }

    /// Checks the shapes of a batch and reads its targets.
    fn targets<'a, T: Scalar>(
        self,
        (rows, cols): (usize, usize),
        target: ArrayView2<'a, T>,
        weights: Option<&ArrayView1<T>>,
    ) -> Result<Targets<'a, T>> {
        if rows == 0 {
            return Err(shape_err!("the loss needs at least one row"));
        }
        let (tr, tc) = target.dim();
        if (tr, tc) != (rows, self.target_cols(cols)) {
            return Err(match self {
                Loss::SparseCrossEntropy => shape_err!(
                    "predictions are {rows} x {cols}, so sparse targets must be {rows} x 1 (one class index per row), but are {tr} x {tc}"
                ),
                _ => shape_err!("predictions are {rows} x {cols} but targets are {tr} x {tc}"),
            });
        }
        if let Some(w) = weights {
            if w.len() != rows {
                return Err(shape_err!(
                    "there are {} weights, but the batch has {rows} rows: give one weight per row",
                    w.len()
                ));
            }
        }
        if self != Loss::SparseCrossEntropy {
            return Ok(Targets::Dense(target));
        }
        if cols == 0 {
            return Err(shape_err!(
                "predictions have no columns, so there is no class for sparse targets to name"
            ));
        }
        let classes = target
            .column(0)
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let k = k.as_f64();
                if k >= 0.0 && k < cols as f64 && k.fract() == 0.0 {
                    Ok(k as usize)
                } else {
                    Err(arg_err!(
                        "sparse targets must be whole class indices from 0 to {}, but row {} has {k}",
                        cols - 1,
                        i + 1
                    ))
                }
            })
            .collect::<Result<_>>()?;
        Ok(Targets::Classes(classes))
    }

    /// The divisor that turns a sum over the batch into this loss's mean.
    fn scale(self, (rows, cols): (usize, usize)) -> f64 {
        match self {
            Loss::Sse => 1.0,
            Loss::CrossEntropy | Loss::SparseCrossEntropy => rows as f64,
            Loss::Mse | Loss::Bce | Loss::Mae | Loss::Huber { .. } => (rows * cols) as f64,
        }
    }

    /// One element's loss and its derivative with respect to `p`. Cross-
    /// entropies clamp `p` to `[eps, 1 - eps]` before the logarithm.
    #[inline]
    fn pointwise(self, p: f64, y: f64, eps: f64) -> (f64, f64) {
        let r = p - y;
        match self {
            Loss::Mse | Loss::Sse => (r * r, 2.0 * r),
            // The subgradient at r = 0 is 0, as PyTorch's sign().
            Loss::Mae => (r.abs(), sign(r)),
            Loss::Huber { delta } if r.abs() <= delta => (0.5 * r * r, r),
            Loss::Huber { delta } => (delta * (r.abs() - 0.5 * delta), delta * sign(r)),
            Loss::Bce => {
                let pc = p.clamp(eps, 1.0 - eps);
                (
                    -(y * pc.ln() + (1.0 - y) * (1.0 - pc).ln()),
                    (pc - y) / (pc * (1.0 - pc)),
                )
            }
            Loss::CrossEntropy | Loss::SparseCrossEntropy => {
                let pc = p.clamp(eps, 1.0 - eps);
                (-y * pc.ln(), -y / pc)
            }
        }
    }

    /// Loss of `pred` against `target`, with optional per-row `weights`,
    /// and `dL/dpred` into `grad` if given.
    pub fn value_and_grad<T: Scalar>(
        self,
        pred: ArrayView2<T>,
        target: ArrayView2<T>,
        weights: Option<ArrayView1<T>>,
        mut grad: Option<ArrayViewMut2<T>>,
    ) -> Result<f64> {
        let targets = self.targets(pred.dim(), target, weights.as_ref())?;
        let n = self.scale(pred.dim());
        let mut total = 0.0f64;
        for (i, p) in pred.axis_iter(Axis(0)).enumerate() {
            let w = row_weight(&weights, i);
            let mut row_total = 0.0f64;
            for (j, &pj) in p.iter().enumerate() {
                let (value, deriv) = self.pointwise(pj.as_f64(), targets.get(i, j), T::LOG_EPS);
                row_total += value;
                if let Some(g) = grad.as_mut() {
                    g[[i, j]] = T::of(w * deriv / n);
                }
            }
            total += w * row_total;
        }
        Ok(total / n)
    }

    /// Fused form: value from `logits`, and `dL/dlogits` into `grad`, given
    /// `probs` = the activation of `logits` (already computed by the forward
    /// pass) and optional per-row `weights`.
    pub fn fused_value_and_grad<T: Scalar>(
        self,
        logits: ArrayView2<T>,
        probs: ArrayView2<T>,
        target: ArrayView2<T>,
        weights: Option<ArrayView1<T>>,
        mut grad: Option<ArrayViewMut2<T>>,
    ) -> Result<f64> {
        if !matches!(
            self,
            Loss::Bce | Loss::CrossEntropy | Loss::SparseCrossEntropy
        ) {
            return Err(arg_err!("the {} loss has no fused form", self.name()));
        }
        let targets = self.targets(logits.dim(), target, weights.as_ref())?;
        let n = self.scale(logits.dim());
        let mut total = 0.0f64;
        for (i, (z, p)) in logits
            .axis_iter(Axis(0))
            .zip(probs.axis_iter(Axis(0)))
            .enumerate()
        {
            let w = row_weight(&weights, i);
            let y = |j| targets.get(i, j);
            let row_total = if self == Loss::Bce {
                // max(z, 0) - z*y + log(1 + exp(-|z|)), stable for any z.
                z.iter()
                    .enumerate()
                    .map(|(j, &zj)| {
                        let zj = zj.as_f64();
                        zj.max(0.0) - zj * y(j) + (-zj.abs()).exp().ln_1p()
                    })
                    .sum::<f64>()
            } else {
                // -sum(y * (z - logsumexp(z))).
                let max = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b.as_f64()));
                let lse = max
                    + z.iter()
                        .map(|&v| (v.as_f64() - max).exp())
                        .sum::<f64>()
                        .ln();
                -z.iter()
                    .enumerate()
                    .map(|(j, &zj)| y(j) * (zj.as_f64() - lse))
                    .sum::<f64>()
            };
            total += w * row_total;
            if let Some(g) = grad.as_mut() {
                // d/dz of the fused BCE is sigmoid(z) - y; of the categorical
                // one, softmax(z) * sum(y) - y, which is p - y for one-hot rows.
                // Both read the forward pass's probabilities.
                let mass = if self == Loss::Bce {
                    1.0
                } else {
                    (0..z.len()).map(y).sum::<f64>()
                };
                for (j, &pj) in p.iter().enumerate() {
                    g[[i, j]] = T::of(w * (pj.as_f64() * mass - y(j)) / n);
                }
            }
        }
        Ok(total / n)
    }
}

#[inline]
fn row_weight<T: Scalar>(weights: &Option<ArrayView1<T>>, i: usize) -> f64 {
    weights.as_ref().map_or(1.0, |w| w[i].as_f64())
}

/// Sign with `sign(0) = 0` (`f64::signum` gives 1 for +0).
#[inline]
fn sign(r: f64) -> f64 {
    if r > 0.0 {
        1.0
    } else if r < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// What training minimizes: a built-in loss, or one the host computes
/// (a loss written in R, see [`crate::custom::CustomLoss`]).
#[derive(Debug, Clone)]
pub enum Objective {
    Builtin(Loss),
    Custom(Arc<CustomLoss>),
}

impl From<Loss> for Objective {
    fn from(loss: Loss) -> Self {
        Objective::Builtin(loss)
    }
}

impl Objective {
    /// The value on predictions, without a gradient (validation).
    pub fn value<T: Scalar>(&self, pred: ArrayView2<T>, target: ArrayView2<T>) -> Result<f64> {
        match self {
            Objective::Builtin(loss) => loss.value_and_grad(pred, target, None, None),
            Objective::Custom(loss) => loss.value_and_grad(pred, target).map(|(v, _)| v),
        }
    }
}

/// An epoch's loss as its batches come: the mean over the samples seen
/// so far for a mean loss (each batch weighted by its rows), the running
/// total for a sum loss. The one place that knows the difference.
#[derive(Debug, Clone, Copy)]
pub struct RunningLoss {
    sum: bool,
    total: f64,
    rows: usize,
}

impl RunningLoss {
    pub fn new(objective: &Objective) -> Self {
        RunningLoss {
            // A loss the host computes is taken as a mean over its rows.
            sum: matches!(objective, Objective::Builtin(loss) if loss.is_sum()),
            total: 0.0,
            rows: 0,
        }
    }

    /// Adds a batch of `rows` rows whose loss was `value`.
    pub fn add(&mut self, value: f64, rows: usize) {
        self.total += if self.sum { value } else { value * rows as f64 };
        self.rows += rows;
    }

    /// The epoch's loss so far.
    pub fn value(&self) -> f64 {
        if self.sum || self.rows == 0 {
            self.total
        } else {
            self.total / self.rows as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, concatenate, s, Array1, Array2};

    const ALL: [Loss; 8] = [
        Loss::Mse,
        Loss::Sse,
        Loss::Bce,
        Loss::CrossEntropy,
        Loss::Mae,
        Loss::Huber { delta: 1.0 },
        Loss::Huber { delta: 0.25 },
        Loss::SparseCrossEntropy,
    ];

    /// Probabilities, their one-hot targets, and the same as class indices.
    fn batch() -> (Array2<f64>, Array2<f64>, Array2<f64>) {
        let p = array![[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.1, 0.6, 0.3]];
        let y = array![[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
        let k = array![[0.0], [2.0], [1.0]];
        (p, y, k)
    }

    /// The targets `loss` takes for [`batch`].
    fn target_for(loss: Loss) -> Array2<f64> {
        let (_, y, k) = batch();
        if loss == Loss::SparseCrossEntropy {
            k
        } else {
            y
        }
    }

    fn value(loss: Loss, p: &Array2<f64>, y: &Array2<f64>, w: Option<&Array1<f64>>) -> f64 {
        loss.value_and_grad(p.view(), y.view(), w.map(|w| w.view()), None)
            .unwrap()
    }

    fn value_grad(
        loss: Loss,
        p: &Array2<f64>,
        y: &Array2<f64>,
        w: Option<&Array1<f64>>,
    ) -> (f64, Array2<f64>) {
        let mut g = Array2::zeros(p.dim());
        let v = loss
            .value_and_grad(p.view(), y.view(), w.map(|w| w.view()), Some(g.view_mut()))
            .unwrap();
        (v, g)
    }

    #[test]
    fn values_match_definitions() {
        let p = array![[0.8, 0.2], [0.4, 0.6]];
        let y = array![[1.0, 0.0], [0.0, 1.0]];
        let mse = value(Loss::Mse, &p, &y, None);
        assert!((mse - (0.04 + 0.04 + 0.16 + 0.16) / 4.0).abs() < 1e-15);
        let sse = value(Loss::Sse, &p, &y, None);
        assert!((sse - 0.4).abs() < 1e-15);
        let ce = value(Loss::CrossEntropy, &p, &y, None);
        assert!((ce - -(0.8f64.ln() + 0.6f64.ln()) / 2.0).abs() < 1e-15);
        let sparse = value(Loss::SparseCrossEntropy, &p, &array![[0.0], [1.0]], None);
        assert!((sparse - ce).abs() < 1e-15);
        let sparse = value(Loss::SparseCrossEntropy, &p, &array![[1.0], [0.0]], None);
        assert!((sparse - -(0.2f64.ln() + 0.4f64.ln()) / 2.0).abs() < 1e-15);

        // Residuals 2.5, -0.5, 0.25, -1.5 (p - y).
        let p = array![[3.0, 0.5], [1.25, -1.0]];
        let y = array![[0.5, 1.0], [1.0, 0.5]];
        let mae = value(Loss::Mae, &p, &y, None);
        assert!((mae - (2.5 + 0.5 + 0.25 + 1.5) / 4.0).abs() < 1e-15);
        let huber = |delta: f64| {
            let terms: f64 = [2.5f64, -0.5, 0.25, -1.5]
                .iter()
                .map(|r| {
                    if r.abs() <= delta {
                        0.5 * r * r
                    } else {
                        delta * (r.abs() - 0.5 * delta)
                    }
                })
                .sum();
            terms / 4.0
        };
        for delta in [1.0, 0.3, 10.0] {
            let v = value(Loss::Huber { delta }, &p, &y, None);
            assert!((v - huber(delta)).abs() < 1e-15, "delta {delta}");
        }
        // delta = 1: 1 * (2.5 - 0.5) + 0.125 + 0.03125 + 1 * (1.5 - 0.5).
        assert!((huber(1.0) - (2.0 + 0.125 + 0.03125 + 1.0) / 4.0).abs() < 1e-15);
    }

    #[test]
    fn weighted_values_match_definitions() {
        let (p, _, _) = batch();
        let w = array![2.0, 0.5, 0.0];
        for loss in ALL {
            let y = target_for(loss);
            // Weighted sum of per-row losses, each row alone scaled back to
            // its contribution to the full batch's sum.
            let rows = p.nrows() as f64;
            let per_row: f64 = (0..p.nrows())
                .map(|i| {
                    let pi = p.slice(s![i..=i, ..]).to_owned();
                    let yi = y.slice(s![i..=i, ..]).to_owned();
                    let share = if loss.is_sum() { 1.0 } else { 1.0 / rows };
                    w[i] * value(loss, &pi, &yi, None) * share
                })
                .sum();
            let weighted = value(loss, &p, &y, Some(&w));
            assert!((weighted - per_row).abs() < 1e-14, "{loss:?}");
        }
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

    /// Every loss, with and without weights. The residuals of `batch()` are
    /// away from the kinks of MAE (0) and Huber (±delta).
    #[test]
    fn gradients_match_numerical() {
        let (p, _, _) = batch();
        let w = array![1.5, 0.25, 3.0];
        for loss in ALL {
            let y = target_for(loss);
            for weights in [None, Some(&w)] {
                let (_, g) = value_grad(loss, &p, &y, weights);
                let f = |pp: &Array2<f64>| value(loss, pp, &y, weights);
                numeric_check(&f, &p, &g);
            }
        }
    }

    #[test]
    fn unit_weights_change_nothing() {
        let (p, _, _) = batch();
        let ones = Array1::ones(p.nrows());
        for loss in ALL {
            let y = target_for(loss);
            let (v, g) = value_grad(loss, &p, &y, None);
            let (vw, gw) = value_grad(loss, &p, &y, Some(&ones));
            assert_eq!(v, vw, "{loss:?}");
            assert_eq!(g, gw, "{loss:?}");
        }
    }

    /// A weight of 2 on a row is that row twice, up to the divisor: a mean
    /// over `n` rows versus one over `n + 1` (sse has none).
    #[test]
    fn doubling_a_weight_duplicates_the_row() {
        let (p, _, _) = batch();
        let w = array![1.0, 2.0, 1.0];
        for loss in ALL {
            let y = target_for(loss);
            let p_dup = concatenate![Axis(0), p, p.slice(s![1..2, ..])];
            let y_dup = concatenate![Axis(0), y, y.slice(s![1..2, ..])];
            let ratio = loss.scale(p_dup.dim()) / loss.scale(p.dim());
            let (vw, gw) = value_grad(loss, &p, &y, Some(&w));
            let (vd, gd) = value_grad(loss, &p_dup, &y_dup, None);
            assert!((vw - vd * ratio).abs() < 1e-14, "{loss:?}: {vw} vs {vd}");
            // The duplicated row's gradient lands on both copies.
            let mut g_rows = gd.slice(s![..3, ..]).to_owned();
            let extra = gd.row(3).to_owned();
            g_rows.row_mut(1).scaled_add(1.0, &extra);
            for (a, b) in gw.iter().zip(&g_rows) {
                assert!((a - b * ratio).abs() < 1e-12, "{loss:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn fused_gradients_match_numerical_and_unfused_values() {
        let z = array![[0.5, -1.5, 2.0], [-0.3, 0.8, 0.1]];
        let y = array![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]];
        let k = array![[2.0], [0.0]];
        let w = array![0.5, 2.0];
        for (loss, act, y) in [
            (Loss::Bce, Activation::Sigmoid, &y),
            (Loss::CrossEntropy, Activation::Softmax, &y),
            (Loss::SparseCrossEntropy, Activation::Softmax, &k),
        ] {
            assert!(loss.fuses_with(act));
            let probs_of = |zz: &Array2<f64>| {
                let mut p = Array2::zeros(zz.dim());
                act.forward(zz.view(), p.view_mut());
                p
            };
            let p = probs_of(&z);
            for weights in [None, Some(&w)] {
                let weights = weights.map(|w| w.view());
                let mut g = Array2::zeros(z.dim());
                let fused = loss
                    .fused_value_and_grad(z.view(), p.view(), y.view(), weights, Some(g.view_mut()))
                    .unwrap();
                let plain = loss
                    .value_and_grad(p.view(), y.view(), weights, None)
                    .unwrap();
                assert!((fused - plain).abs() < 1e-12, "{loss:?}");
                let f = |zz: &Array2<f64>| {
                    loss.fused_value_and_grad(
                        zz.view(),
                        probs_of(zz).view(),
                        y.view(),
                        weights,
                        None,
                    )
                    .unwrap()
                };
                numeric_check(&f, &z, &g);
            }
        }
        // Sparse and one-hot targets give the same fused value and gradient.
        let p = probs_of_softmax(&z);
        let fused = |loss: Loss, t: &Array2<f64>| {
            let mut g = Array2::zeros(z.dim());
            let v = loss
                .fused_value_and_grad(z.view(), p.view(), t.view(), None, Some(g.view_mut()))
                .unwrap();
            (v, g)
        };
        let (vs, gs) = fused(Loss::SparseCrossEntropy, &k);
        let (vd, gd) = fused(Loss::CrossEntropy, &y);
        assert!((vs - vd).abs() < 1e-15);
        assert!((gs - gd).iter().all(|d| d.abs() < 1e-15));
        // Logits far out: finite where log(sigmoid) would be -Inf.
        let z = array![[-800.0]];
        let p = array![[0.0]];
        let v = Loss::Bce
            .fused_value_and_grad(z.view(), p.view(), array![[1.0]].view(), None, None)
            .unwrap();
        assert!((v - 800.0).abs() < 1e-9);
        assert!(Loss::Mae
            .fused_value_and_grad(z.view(), p.view(), p.view(), None, None)
            .is_err());
    }

    fn probs_of_softmax(z: &Array2<f64>) -> Array2<f64> {
        let mut p = Array2::zeros(z.dim());
        Activation::Softmax.forward(z.view(), p.view_mut());
        p
    }

    #[test]
    fn bad_sparse_targets_are_errors() {
        let p = Array2::<f32>::from_elem((2, 3), 1.0 / 3.0);
        let err = |t: Array2<f32>| {
            Loss::SparseCrossEntropy
                .value_and_grad(p.view(), t.view(), None, None)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(array![[0.0], [3.0]]),
            "sparse targets must be whole class indices from 0 to 2, but row 2 has 3"
        );
        assert!(err(array![[-1.0], [0.0]]).contains("row 1 has -1"));
        assert!(err(array![[0.5], [0.0]]).contains("row 1 has 0.5"));
        assert!(err(array![[f32::NAN], [0.0]]).contains("NaN"));
        assert!(err(array![[0.0, 1.0], [1.0, 0.0]]).contains("must be 2 x 1"));
        let logits = p.clone();
        assert!(Loss::SparseCrossEntropy
            .fused_value_and_grad(
                logits.view(),
                p.view(),
                array![[0.0], [7.0]].view(),
                None,
                None
            )
            .is_err());
        assert_eq!(Loss::SparseCrossEntropy.target_cols(3), 1);
        assert_eq!(Loss::Mse.target_cols(3), 3);
    }

    #[test]
    fn mismatched_shapes_and_names_are_errors() {
        let p = Array2::<f32>::zeros((2, 2));
        let y = Array2::<f32>::zeros((2, 3));
        assert!(Loss::Mse
            .value_and_grad(p.view(), y.view(), None, None)
            .is_err());
        let y = Array2::<f32>::zeros((2, 2));
        let w = Array1::<f32>::ones(3);
        assert_eq!(
            Loss::Mse
                .value_and_grad(p.view(), y.view(), Some(w.view()), None)
                .unwrap_err()
                .to_string(),
            "there are 3 weights, but the batch has 2 rows: give one weight per row"
        );
        assert!(Loss::from_name("hinge").is_err());
        for loss in ALL {
            assert_eq!(Loss::from_parts(loss.name(), loss.delta()).unwrap(), loss);
        }
    }

    #[test]
    fn delta_defaults_and_validation() {
        assert_eq!(
            Loss::from_name("huber").unwrap(),
            Loss::Huber { delta: 1.0 }
        );
        assert_eq!(Loss::from_parts("huber", None).unwrap().delta(), Some(1.0));
        assert_eq!(
            Loss::from_parts("huber", Some(0.0))
                .unwrap_err()
                .to_string(),
            "the huber loss needs a finite delta greater than 0, not 0"
        );
        assert!(Loss::from_parts("huber", Some(f64::INFINITY)).is_err());
        assert_eq!(
            Loss::from_parts("mse", Some(2.0)).unwrap_err().to_string(),
            "the mse loss takes no parameter, but delta = 2 was given"
        );
    }
}
