//! Weight and gradient tracking: at the end of every epoch, a summary and a
//! histogram of each trained parameter tensor and of its gradient from the
//! epoch's last mini-batch. Tutorial 002 explains that the gradients of a
//! deep sigmoid network shrink towards its input; these records let a
//! learner watch it happen.
//!
//! Records are taken inside the training loop, so that tracking costs
//! nothing when it is off and, when on, a few passes over the parameters per
//! epoch, next to the many passes of an epoch's batches. Figures are
//! computed in `f64` whatever the network's type.

use crate::error::{arg_err, Result};
use crate::network::Network;
use crate::scalar::Scalar;

/// Bins of a histogram unless asked otherwise.
pub const DEFAULT_BINS: usize = 20;

/// Tracking settings of a `fit()` (see `TrainConfig::track`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracking {
    /// Equal-width bins of each histogram, spanning the tensor's range.
    pub bins: usize,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking { bins: DEFAULT_BINS }
    }
}

impl Tracking {
    pub fn validate(&self) -> Result<()> {
        if self.bins == 0 {
            return Err(arg_err!("tracking needs histograms of at least one bin"));
        }
        Ok(())
    }
}

/// What a record describes: a parameter's values or its gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Weight,
    Gradient,
}

impl Kind {
    /// Every kind, in the order of `index()`.
    pub const ALL: [Kind; 2] = [Kind::Weight, Kind::Gradient];

    /// Position in `ALL`.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Weight => "weight",
            Kind::Gradient => "gradient",
        }
    }
}

/// Mean, standard deviation (denominator `n - 1`, as R's `sd()`; NaN for
/// fewer than two values), mean of absolute values, minimum and maximum.
/// All NaN for an empty tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub mean: f64,
    pub sd: f64,
    pub mean_abs: f64,
    pub min: f64,
    pub max: f64,
}

/// Values summed at once in independent lanes: one running sum would
/// make every addition wait for the one before (a pass then runs at the
/// latency of an addition per value); lanes let the compiler vectorize.
const LANES: usize = 8;

/// `f(lanes, value)` over every value, the lanes of `init` taking the
/// values in turn; the lanes come back for the caller to combine.
fn fold_lanes<T: Scalar, A: Copy>(
    values: &[T],
    init: A,
    mut f: impl FnMut(&mut A, f64),
) -> [A; LANES] {
    let mut lanes = [init; LANES];
    let mut blocks = values.chunks_exact(LANES);
    for block in &mut blocks {
        for (lane, v) in lanes.iter_mut().zip(block) {
            f(lane, v.as_f64());
        }
    }
    for (lane, v) in lanes.iter_mut().zip(blocks.remainder()) {
        f(lane, v.as_f64());
    }
    lanes
}

impl Summary {
    pub fn of<T: Scalar>(values: &[T]) -> Summary {
        if values.is_empty() {
            let nan = f64::NAN;
            return Summary {
                mean: nan,
                sd: nan,
                mean_abs: nan,
                min: nan,
                max: nan,
            };
        }
        let n = values.len() as f64;
        // (sum, sum of absolute values, min, max); `if` keeps min and max
        // branch-free (`f64::min` handles NaN and does not vectorize).
        let start = (0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY);
        let lanes = fold_lanes(values, start, |(sum, abs, lo, hi), v| {
            *sum += v;
            *abs += v.abs();
            *lo = if v < *lo { v } else { *lo };
            *hi = if v > *hi { v } else { *hi };
        });
        let (sum, sum_abs, min, max) = lanes.iter().fold(start, |a, l| {
            (a.0 + l.0, a.1 + l.1, a.2.min(l.2), a.3.max(l.3))
        });
        // A second pass about the first mean, corrected by the mean
        // deviation as R's mean() does, so that the figures agree with R's
        // mean() and sd() to the last digits or nearly.
        let first = sum / n;
        let lanes = fold_lanes(values, (0.0, 0.0), |(dev, sq), v| {
            let d = v - first;
            *dev += d;
            *sq += d * d;
        });
        let (dev, sq) = lanes.iter().fold((0.0, 0.0), |a, l| (a.0 + l.0, a.1 + l.1));
        let sd = if values.len() < 2 {
            f64::NAN
        } else {
            ((sq - dev * dev / n) / (n - 1.0)).max(0.0).sqrt()
        };
        Summary {
            mean: first + dev / n,
            sd,
            mean_abs: sum_abs / n,
            min,
            max,
        }
    }
}

/// Counts of values in equal-width bins from `edges[0]` (the minimum) to
/// the last edge (the maximum). Bins are closed on the right, the first one
/// on both sides: `[e0, e1], (e1, e2], ..., (e[k-1], ek]`, as R's `hist()`
/// counts by default. The edges are computed as R's `seq(min, max,
/// length.out = k + 1)` computes them, so `hist(values, breaks = that)`
/// finds the same counts (but for values within 1e-7 of a bin's width of an
/// edge, which `hist()` moves by that much). When all values are equal,
/// one bin of width zero holds them all.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// One more than the bins; empty for an empty tensor.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// The histogram of `values` in `bins` bins over `[min, max]`, their
    /// range (as found by [`Summary::of`]).
    pub fn of<T: Scalar>(values: &[T], min: f64, max: f64, bins: usize) -> Histogram {
        if values.is_empty() || bins == 0 {
            return Histogram {
                edges: Vec::new(),
                counts: Vec::new(),
            };
        }
        // Written so that NaN (impossible in a recorded epoch, whose
        // weights are finite) also gives a single bin instead of bad edges.
        if min.partial_cmp(&max) != Some(std::cmp::Ordering::Less) {
            return Histogram {
                edges: vec![min, max],
                counts: vec![values.len() as u64],
            };
        }
        // Weights near the ends of f64's range (a diverging fit, stopped
        // once they overflow) can span more than the largest f64: then the
        // edges are weighted means of the ends, which cannot overflow.
        // Otherwise they are R's seq(min, max, length.out = bins + 1).
        let span = max - min;
        let (mut edges, width): (Vec<f64>, f64) = if span.is_finite() {
            let width = span / bins as f64;
            ((0..bins).map(|i| min + i as f64 * width).collect(), width)
        } else {
            let edges = (0..bins)
                .map(|i| {
                    let t = i as f64 / bins as f64;
                    min * (1.0 - t) + max * t
                })
                .collect();
            (edges, max / bins as f64 - min / bins as f64)
        };
        // Subnormal widths round up: the last computed edges could pass
        // the maximum, and edges must never go down.
        for e in &mut edges {
            *e = e.min(max);
        }
        edges.push(max);
        // Counts in several copies, a value to each in turn: neighbouring
        // values often share a bin, and one copy would make each increment
        // wait for the previous one to be stored.
        const COPIES: usize = 4;
        let mut copies = vec![0u64; COPIES * bins];
        let last = bins - 1;
        let scale = 1.0 / width;
        let bin = |v: f64| {
            // The bin by arithmetic: a value on an edge, or within rounding
            // of one, can land one bin off; the edges themselves decide.
            // (A cast rather than `ceil`, which is a libm call on baseline
            // x86-64; casts saturate, NaN giving 0, so the index is valid.)
            // At most one of the two corrections applies.
            let mut i = (((v - min) * scale) as usize).min(last);
            if i > 0 && v <= edges[i] {
                i -= 1;
                while i > 0 && v <= edges[i] {
                    i -= 1;
                }
            } else if i < last && v > edges[i + 1] {
                i += 1;
                while i < last && v > edges[i + 1] {
                    i += 1;
                }
            }
            i
        };
        let mut blocks = values.chunks_exact(COPIES);
        for block in &mut blocks {
            for (copy, v) in block.iter().enumerate() {
                copies[copy * bins + bin(v.as_f64())] += 1;
            }
        }
        for v in blocks.remainder() {
            copies[bin(v.as_f64())] += 1;
        }
        let counts = (0..bins)
            .map(|i| (0..COPIES).map(|c| copies[c * bins + i]).sum())
            .collect();
        Histogram { edges, counts }
    }

    /// `(lower, upper, count)` of each bin.
    pub fn bins(&self) -> impl Iterator<Item = (f64, f64, u64)> + '_ {
        self.edges
            .windows(2)
            .zip(&self.counts)
            .map(|(e, &c)| (e[0], e[1], c))
    }
}

/// One tensor (a parameter's values or its gradient) at one epoch's end.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRecord {
    /// Counted from 1, like the history's rows.
    pub epoch: usize,
    /// Index of the layer in the network, from 0.
    pub layer: usize,
    /// The parameter's name: "weight", "bias", "gamma", "beta".
    pub param: &'static str,
    pub kind: Kind,
    pub summary: Summary,
    pub histogram: Histogram,
}

impl TensorRecord {
    fn of<T: Scalar>(
        epoch: usize,
        layer: usize,
        param: &'static str,
        kind: Kind,
        values: &[T],
        bins: usize,
    ) -> Self {
        let summary = Summary::of(values);
        let histogram = Histogram::of(values, summary.min, summary.max, bins);
        TensorRecord {
            epoch,
            layer,
            param,
            kind,
            summary,
            histogram,
        }
    }
}

/// Appends to `into` the records of every trained parameter of `net` (not
/// running statistics): its values, then the gradient its last backward
/// pass left, layer by layer in network order.
pub fn record<T: Scalar>(
    net: &Network<T>,
    epoch: usize,
    tracking: &Tracking,
    into: &mut Vec<TensorRecord>,
) {
    for (layer, l) in net.layers().iter().enumerate() {
        for p in l.params() {
            for (kind, values) in [(Kind::Weight, p.data), (Kind::Gradient, p.grad)] {
                into.push(TensorRecord::of(
                    epoch,
                    layer,
                    p.name,
                    kind,
                    values,
                    tracking.bins,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-14 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn summary_of_a_known_vector() {
        let v = [1.0f64, -2.0, 3.0, 4.0];
        let s = Summary::of(&v);
        assert_eq!(s.mean, 1.5);
        assert_eq!(s.mean_abs, 2.5);
        assert_eq!((s.min, s.max), (-2.0, 4.0));
        // Squared deviations 0.25 + 12.25 + 2.25 + 6.25 = 21, over n - 1 = 3.
        assert!(close(s.sd, 7f64.sqrt()), "{}", s.sd);
        // f32 values are summarised in f64.
        let s32 = Summary::of(&[0.1f32, 0.2]);
        assert_eq!(s32.mean, (0.1f32 as f64 + 0.2f32 as f64) / 2.0);
        let one = Summary::of(&[5.0f64]);
        assert_eq!(
            (one.mean, one.mean_abs, one.min, one.max),
            (5.0, 5.0, 5.0, 5.0)
        );
        assert!(one.sd.is_nan());
        assert!(Summary::of::<f64>(&[]).mean.is_nan());
    }

    #[test]
    fn histogram_of_a_known_vector() {
        // Range 0..10 in 5 bins of width 2: edges 0, 2, 4, 6, 8, 10.
        let v = [0.0f64, 1.0, 2.0, 2.5, 4.0, 7.9, 8.0, 10.0, 10.0];
        let h = Histogram::of(&v, 0.0, 10.0, 5);
        assert_eq!(h.edges, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        // Right-closed bins, the first closed on the left too:
        // [0,2] {0,1,2}; (2,4] {2.5,4}; (4,6] {}; (6,8] {7.9,8}; (8,10] {10,10}.
        assert_eq!(h.counts, vec![3, 2, 0, 2, 2]);
        let bins: Vec<_> = h.bins().collect();
        assert_eq!(bins[1], (2.0, 4.0, 2));
        assert_eq!(bins.len(), 5);
    }

    #[test]
    fn histogram_edges_follow_r_seq_and_decide_the_bins() {
        // Edges that are not exact in binary: each value sitting on an edge
        // (as computed) belongs to the bin below it.
        let (min, max, bins) = (-0.3f64, 0.7, 7);
        let edges = Histogram::of(&[min, max], min, max, bins).edges;
        let width = (max - min) / 7.0;
        for (i, e) in edges.iter().enumerate().take(bins) {
            assert_eq!(*e, min + i as f64 * width);
        }
        assert_eq!(edges[bins], max);
        let h = Histogram::of(&edges, min, max, bins);
        // Edge 0 and edge 1 in the first bin, then one edge per bin.
        assert_eq!(h.counts, vec![2, 1, 1, 1, 1, 1, 1]);
        // Just above an edge: the bin above it.
        let above: Vec<f64> = edges[1..bins].iter().map(|e| e + 1e-12).collect();
        let h = Histogram::of(&above, min, max, bins);
        assert_eq!(h.counts, vec![0, 1, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn subnormal_ranges_keep_their_edges_in_order() {
        for values in [
            vec![-1.7e-322, 0.0, 0.0],
            vec![0.0, 5e-324, 1e-323],
            vec![-5e-324, 0.0, 5e-324],
        ] {
            let s = Summary::of(&values[..]);
            for bins in 1..25 {
                let h = Histogram::of(&values[..], s.min, s.max, bins);
                assert!(h.edges.windows(2).all(|e| e[0] <= e[1]), "{:?}", h.edges);
                assert_eq!(h.edges.first(), Some(&s.min));
                assert_eq!(h.edges.last(), Some(&s.max));
                assert_eq!(h.counts.iter().sum::<u64>(), 3);
            }
        }
    }

    #[test]
    fn a_range_wider_than_f64_still_has_finite_edges() {
        let values = [-1.6e308, 0.0, 1.6e308, 1.5e308, -1.0, 2.0];
        let s = Summary::of(&values[..]);
        let h = Histogram::of(&values[..], s.min, s.max, 2);
        assert_eq!(h.edges, vec![-1.6e308, 0.0, 1.6e308]);
        assert_eq!(h.counts, vec![3, 3]);
        for bins in 3..40 {
            let h = Histogram::of(&values[..], s.min, s.max, bins);
            assert!(h.edges.iter().all(|e| e.is_finite()), "{:?}", h.edges);
            assert!(h.edges.windows(2).all(|e| e[0] <= e[1]), "{:?}", h.edges);
            assert_eq!(h.counts.iter().sum::<u64>(), 6);
        }
    }

    #[test]
    fn equal_values_make_one_bin_of_width_zero() {
        let zeros = [0.0f32; 6];
        let s = Summary::of(&zeros);
        assert_eq!(
            (s.mean, s.sd, s.mean_abs, s.min, s.max),
            (0.0, 0.0, 0.0, 0.0, 0.0)
        );
        let h = Histogram::of(&zeros, s.min, s.max, 20);
        assert_eq!(h.edges, vec![0.0, 0.0]);
        assert_eq!(h.counts, vec![6]);
        assert_eq!(h.bins().collect::<Vec<_>>(), vec![(0.0, 0.0, 6)]);
        let empty = Histogram::of::<f64>(&[], f64::NAN, f64::NAN, 20);
        assert_eq!(empty.bins().count(), 0);
    }

    #[test]
    fn non_finite_values_never_panic() {
        let v = [f64::NAN, 1.0, f64::INFINITY, -f64::INFINITY];
        let s = Summary::of(&v);
        for bins in [1, 3] {
            let h = Histogram::of(&v, s.min, s.max, bins);
            assert_eq!(h.counts.iter().sum::<u64>(), 4);
            let h = Histogram::of(&v, 0.0, 1.0, bins);
            assert_eq!(h.counts.iter().sum::<u64>(), 4);
        }
        assert!(Tracking { bins: 0 }.validate().is_err());
        assert!(Tracking::default().validate().is_ok());
    }
}
