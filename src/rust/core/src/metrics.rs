//! Metrics: figures reported beside the loss (accuracy, F1, AUC, R², ...).
//!
//! A [`Tally`] accumulates what the requested metrics need, batch by batch,
//! so training metrics cost one pass over each batch's outputs and nothing
//! is kept per sample except the scores AUC must rank. The same code scores
//! validation data and `evaluate()`, so the figures always agree.
//!
//! How predictions are read: with one output column, a sample is positive
//! when its output is above 0.5 (a sigmoid probability) and the target is
//! 0/1; with several, the predicted class is the largest output and the
//! target is one-hot, or a 0-based class index when it has one column.

use crate::error::{arg_err, Result};
use crate::scalar::Scalar;
use ndarray::ArrayView2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Accuracy,
    /// Binary with one output; the macro average over classes with several.
    Precision,
    Recall,
    F1,
    /// Area under the ROC curve; binary (one output) only.
    Auc,
    Mae,
    Rmse,
    /// Coefficient of determination, averaged over output columns.
    R2,
}

impl Metric {
    pub const NAMES: [&'static str; 8] = [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "auc",
        "mae",
        "rmse",
        "r2",
    ];
    const ALL: [Metric; 8] = [
        Metric::Accuracy,
        Metric::Precision,
        Metric::Recall,
        Metric::F1,
        Metric::Auc,
        Metric::Mae,
        Metric::Rmse,
        Metric::R2,
    ];

    pub fn from_name(name: &str) -> Result<Self> {
        Self::NAMES
            .iter()
            .position(|&n| n == name)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| {
                arg_err!(
                    "unknown metric \"{name}\"; known: {}",
                    Self::NAMES.join(", ")
                )
            })
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Whether a larger value is better (decides what "improved" means for
    /// early stopping and plateau schedules).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::Mae | Metric::Rmse)
    }

    fn is_classification(self) -> bool {
        matches!(
            self,
            Metric::Accuracy | Metric::Precision | Metric::Recall | Metric::F1
        )
    }

    /// Whether it compares classes (meaningless on a regression's numbers).
    pub fn needs_classes(self) -> bool {
        self.is_classification() || self == Metric::Auc
    }

    /// The names of the metrics for which `keep` holds.
    pub fn names_where(keep: fn(Metric) -> bool) -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|&m| keep(m))
            .map(Metric::name)
            .collect()
    }

    /// Refuses metrics that cannot be computed for `outputs` output columns.
    pub fn check_outputs(self, outputs: usize) -> Result<()> {
        if self == Metric::Auc && outputs != 1 {
            return Err(arg_err!(
                "the auc metric needs a binary model with one output, but this one has {outputs}"
            ));
        }
        Ok(())
    }
}

/// Running sums for a set of metrics over any number of batches.
#[derive(Debug, Clone)]
pub struct Tally {
    metrics: Vec<Metric>,
    outputs: usize,
    /// `confusion[actual * classes + predicted]`; classes is 2 for one output.
    confusion: Vec<u64>,
    abs_err: f64,
    sq_err: f64,
    elements: u64,
    /// Per output column: squared error, sum and sum of squares of the target.
    col_sq_err: Vec<f64>,
    col_sum: Vec<f64>,
    col_sum_sq: Vec<f64>,
    rows: u64,
    /// (score, is_positive) for AUC.
    scores: Vec<(f64, bool)>,
}

impl Tally {
    pub fn new(metrics: &[Metric], outputs: usize) -> Result<Self> {
        for m in metrics {
            m.check_outputs(outputs)?;
        }
        let classes = outputs.max(2);
        let needs_confusion = metrics.iter().any(|m| m.is_classification());
        Ok(Tally {
            metrics: metrics.to_vec(),
            outputs,
            confusion: vec![
                0;
                if needs_confusion {
                    classes * classes
                } else {
                    0
                }
            ],
            abs_err: 0.0,
            sq_err: 0.0,
            elements: 0,
            col_sq_err: vec![0.0; outputs],
            col_sum: vec![0.0; outputs],
            col_sum_sq: vec![0.0; outputs],
            rows: 0,
            scores: Vec::new(),
        })
    }

    pub fn reset(&mut self) {
        self.confusion.fill(0);
        self.abs_err = 0.0;
        self.sq_err = 0.0;
        self.elements = 0;
        self.col_sq_err.fill(0.0);
        self.col_sum.fill(0.0);
        self.col_sum_sq.fill(0.0);
        self.rows = 0;
        self.scores.clear();
    }

    fn wants(&self, pick: impl Fn(Metric) -> bool) -> bool {
        self.metrics.iter().any(|&m| pick(m))
    }

    /// Adds a batch: `pred` has one column per output; `target` is shaped
    /// like it, or is one column of class indices (see the module doc).
    pub fn add<T: Scalar>(&mut self, pred: ArrayView2<T>, target: ArrayView2<T>) -> Result<()> {
        if self.metrics.is_empty() {
            return Ok(());
        }
        let sparse = target.ncols() == 1 && self.outputs > 1;
        if pred.ncols() != self.outputs || (!sparse && target.ncols() != self.outputs) {
            return Err(arg_err!(
                "metrics were set up for {} outputs, but got predictions with {} and targets with {} columns",
                self.outputs,
                pred.ncols(),
                target.ncols()
            ));
        }
        if pred.nrows() != target.nrows() {
            return Err(arg_err!(
                "predictions have {} rows but targets have {}",
                pred.nrows(),
                target.nrows()
            ));
        }
        self.rows += pred.nrows() as u64;
        if !self.confusion.is_empty() {
            self.add_confusion(pred, target, sparse)?;
        }
        if self.wants(|m| m == Metric::Auc) {
            for (p, y) in pred.column(0).iter().zip(target.column(0)) {
                self.scores.push((p.as_f64(), y.as_f64() > 0.5));
            }
        }
        if self.wants(|m| matches!(m, Metric::Mae | Metric::Rmse | Metric::R2)) && !sparse {
            for (p_row, y_row) in pred.rows().into_iter().zip(target.rows()) {
                for (j, (&p, &y)) in p_row.iter().zip(y_row.iter()).enumerate() {
                    let (p, y) = (p.as_f64(), y.as_f64());
                    let e = p - y;
                    self.abs_err += e.abs();
                    self.sq_err += e * e;
                    self.col_sq_err[j] += e * e;
                    self.col_sum[j] += y;
                    self.col_sum_sq[j] += y * y;
                }
            }
            self.elements += (pred.nrows() * pred.ncols()) as u64;
        }
        Ok(())
    }

    fn add_confusion<T: Scalar>(
        &mut self,
        pred: ArrayView2<T>,
        target: ArrayView2<T>,
        sparse: bool,
    ) -> Result<()> {
        let classes = self.outputs.max(2);
        for (p_row, y_row) in pred.rows().into_iter().zip(target.rows()) {
            let (predicted, actual) = if self.outputs == 1 {
                (
                    usize::from(p_row[0].as_f64() > 0.5),
                    usize::from(y_row[0].as_f64() > 0.5),
                )
            } else {
                let actual = if sparse {
                    let label = y_row[0].as_f64();
                    if !(label >= 0.0 && label < classes as f64 && label.fract() == 0.0) {
                        return Err(arg_err!(
                            "class labels must be whole numbers from 0 to {}, not {label}",
                            classes - 1
                        ));
                    }
                    label as usize
                } else {
                    argmax(y_row.iter().map(|v| v.as_f64()))
                };
                (argmax(p_row.iter().map(|v| v.as_f64())), actual)
            };
            self.confusion[actual * classes + predicted] += 1;
        }
        Ok(())
    }

    /// The value of every requested metric, in the order requested.
    pub fn values(&self) -> Vec<f64> {
        self.metrics.iter().map(|&m| self.value(m)).collect()
    }

    pub fn value(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Accuracy => {
                let classes = self.outputs.max(2);
                let right: u64 = (0..classes).map(|c| self.confusion[c * classes + c]).sum();
                ratio(right as f64, self.rows as f64)
            }
            Metric::Precision | Metric::Recall | Metric::F1 => self.precision_recall_f1(metric),
            Metric::Auc => auc(&self.scores),
            Metric::Mae => ratio(self.abs_err, self.elements as f64),
            Metric::Rmse => ratio(self.sq_err, self.elements as f64).sqrt(),
            Metric::R2 => {
                let n = self.rows as f64;
                let per_col: Vec<f64> = (0..self.outputs)
                    .map(|j| {
                        let total = self.col_sum_sq[j] - self.col_sum[j] * self.col_sum[j] / n;
                        1.0 - ratio(self.col_sq_err[j], total)
                    })
                    .collect();
                per_col.iter().sum::<f64>() / per_col.len() as f64
            }
        }
    }

    /// Binary: of the positive class (1). Several outputs: macro average
    /// over the classes that occur in the targets or the predictions, as
    /// scikit-learn does; a class never predicted has precision 0.
    fn precision_recall_f1(&self, metric: Metric) -> f64 {
        let classes = self.outputs.max(2);
        let count = |actual: usize, predicted: usize| self.confusion[actual * classes + predicted];
        let per_class = |c: usize| {
            let tp = count(c, c) as f64;
            let predicted: u64 = (0..classes).map(|a| count(a, c)).sum();
            let actual: u64 = (0..classes).map(|p| count(c, p)).sum();
            let precision = ratio0(tp, predicted as f64);
            let recall = ratio0(tp, actual as f64);
            let value = match metric {
                Metric::Precision => precision,
                Metric::Recall => recall,
                _ => ratio0(2.0 * precision * recall, precision + recall),
            };
            (value, predicted + actual > 0)
        };
        if self.outputs == 1 {
            return per_class(1).0;
        }
        let present: Vec<f64> = (0..classes)
            .map(per_class)
            .filter(|&(_, seen)| seen)
            .map(|(v, _)| v)
            .collect();
        ratio(present.iter().sum(), present.len() as f64)
    }
}

fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// `a / b`, NaN when there is nothing to divide by.
fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

/// `a / b`, 0 when there is nothing to divide by (scikit-learn's
/// `zero_division = 0` for precision and recall).
fn ratio0(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// AUC as the probability that a random positive outscores a random
/// negative (ties count half): the Mann-Whitney statistic over mid-ranks.
fn auc(scores: &[(f64, bool)]) -> f64 {
    let positives = scores.iter().filter(|s| s.1).count() as f64;
    let negatives = scores.len() as f64 - positives;
    // A NaN score has no rank (and would never equal itself in the tie
    // loop below, which would then not advance).
    if positives == 0.0 || negatives == 0.0 || scores.iter().any(|s| s.0.is_nan()) {
        return f64::NAN;
    }
    let mut sorted = scores.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let mid_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mid_rank * sorted[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn tally(metrics: &[&str], pred: ArrayView2<f64>, target: ArrayView2<f64>) -> Vec<f64> {
        let ms: Vec<Metric> = metrics
            .iter()
            .map(|m| Metric::from_name(m).unwrap())
            .collect();
        let mut t = Tally::new(&ms, pred.ncols()).unwrap();
        // Two batches give the same figures as one.
        let half = pred.nrows() / 2;
        t.add(
            pred.slice(ndarray::s![..half, ..]),
            target.slice(ndarray::s![..half, ..]),
        )
        .unwrap();
        t.add(
            pred.slice(ndarray::s![half.., ..]),
            target.slice(ndarray::s![half.., ..]),
        )
        .unwrap();
        t.values()
    }

    #[test]
    fn binary_counts() {
        // tp = 2, fp = 1, fn = 1, tn = 2
        let p = array![[0.9], [0.8], [0.7], [0.2], [0.3], [0.1]];
        let y = array![[1.0], [1.0], [0.0], [1.0], [0.0], [0.0]];
        let v = tally(
            &["accuracy", "precision", "recall", "f1"],
            p.view(),
            y.view(),
        );
        assert_eq!(v, vec![4.0 / 6.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0]);
    }

    #[test]
    fn auc_with_ties() {
        let p = array![[0.9], [0.5], [0.5], [0.1]];
        let y = array![[1.0], [1.0], [0.0], [0.0]];
        // Pairs (pos, neg): (0.9, 0.5) 1, (0.9, 0.1) 1, (0.5, 0.5) 0.5, (0.5, 0.1) 1.
        assert_eq!(tally(&["auc"], p.view(), y.view()), vec![3.5 / 4.0]);
        let all_pos = array![[1.0], [1.0]];
        assert!(tally(&["auc"], p.slice(ndarray::s![..2, ..]), all_pos.view())[0].is_nan());
        let with_nan = array![[0.9], [f64::NAN], [0.5], [0.1]];
        assert!(tally(&["auc"], with_nan.view(), y.view())[0].is_nan());
    }

    #[test]
    fn multiclass_macro_and_sparse_targets() {
        let p = array![
            [0.7, 0.2, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.3, 0.5],
            [0.6, 0.3, 0.1]
        ];
        let onehot = array![
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0]
        ];
        let labels = array![[0.0], [1.0], [1.0], [2.0]];
        let names = ["accuracy", "precision", "recall", "f1"];
        let dense = tally(&names, p.view(), onehot.view());
        assert_eq!(dense, tally(&names, p.view(), labels.view()));
        // predicted 0,1,2,0 vs actual 0,1,1,2
        // precision: c0 1/2, c1 1/1, c2 0/1 -> 0.5; recall: 1, 0.5, 0 -> 0.5
        assert_eq!(dense[0], 0.5);
        assert!((dense[1] - 0.5).abs() < 1e-15);
        assert!((dense[2] - 0.5).abs() < 1e-15);
        let f1 = (2.0 * 0.5 / 1.5 + 2.0 * 0.5 / 1.5 + 0.0) / 3.0;
        assert!((dense[3] - f1).abs() < 1e-15);
        let bad = array![[0.0], [3.0], [1.0], [1.0]];
        let mut t = Tally::new(&[Metric::Accuracy], 3).unwrap();
        assert!(t.add(p.view(), bad.view()).is_err());
    }

    #[test]
    fn regression_figures() {
        let p = array![[1.0, 2.0], [2.0, 2.0], [4.0, 5.0], [3.0, 3.0]];
        let y = array![[1.5, 2.0], [2.0, 1.0], [3.0, 5.0], [3.5, 4.0]];
        let v = tally(&["mae", "rmse", "r2"], p.view(), y.view());
        let errs = [0.5f64, 0.0, 0.0, 1.0, 1.0, 0.0, 0.5, 1.0];
        let mae = errs.iter().sum::<f64>() / 8.0;
        let rmse = (errs.iter().map(|e| e * e).sum::<f64>() / 8.0).sqrt();
        let r2_col = |y: [f64; 4], sse: f64| {
            let m = y.iter().sum::<f64>() / 4.0;
            1.0 - sse / y.iter().map(|v| (v - m) * (v - m)).sum::<f64>()
        };
        let r2 = (r2_col([1.5, 2.0, 3.0, 3.5], 0.25 + 1.0 + 0.25)
            + r2_col([2.0, 1.0, 5.0, 4.0], 1.0 + 1.0))
            / 2.0;
        assert!((v[0] - mae).abs() < 1e-15);
        assert!((v[1] - rmse).abs() < 1e-15);
        assert!((v[2] - r2).abs() < 1e-12);
    }

    #[test]
    fn names_and_checks() {
        for name in Metric::NAMES {
            assert_eq!(Metric::from_name(name).unwrap().name(), name);
        }
        assert!(Metric::from_name("kappa").is_err());
        assert!(Tally::new(&[Metric::Auc], 3).is_err());
    }
}
