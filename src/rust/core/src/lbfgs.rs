//! L-BFGS, following PyTorch's `torch.optim.LBFGS` (itself a port of
//! minFunc): a quasi-Newton method that needs the loss and gradient of the
//! whole training set at points it chooses, so it trains full-batch and one
//! optimizer step is many evaluations.
//!
//! A step runs up to `max_iter` iterations. Each computes a direction from
//! the gradient and the last `history_size` pairs `s` (a step taken) and
//! `y` (the change of gradient it caused) with the two-loop recursion,
//! then a step length `t`: by PyTorch's strong-Wolfe line search, or fixed
//! (`lr`, the first iteration ever `min(1, 1 / sum|g|) * lr`). The step
//! stops early when the gradient, the step or the change of the loss falls
//! below its tolerance, or after `max_eval` evaluations.
//!
//! Vectors are flat over every trained parameter, in the network's order;
//! scalars (losses, dot products, step lengths) are `f64`, and every sum
//! runs serially in a fixed order, so results do not depend on the number
//! of threads. NaN losses are the one place where the rules differ from
//! PyTorch's: a NaN loss never passes the line search's tests, and ends the
//! step.
//!
//! # State layout
//! Between steps L-BFGS keeps the last iteration's step `t * d`, the
//! gradient that iteration started from, and up to `history_size` pairs
//! `(s, y)`, oldest first; [`crate::optim::OptimizerState`] holds them per
//! parameter tensor as `2 * history_size + 2` buffers: `[step, grad, s1,
//! y1, s2, y2, ...]`, pairs not yet filled being zero. A pair is in the
//! history when its `y . s` exceeds [`MIN_CURVATURE`], the test it passed
//! to enter it, so the layout needs no count. The step count is the number
//! of iterations (PyTorch's `n_iter`); the first one starts afresh.

use crate::error::{arg_err, Result};
use crate::layer::Layer;
use crate::network::Network;
use crate::optim::Optimizer;
use crate::scalar::Scalar;
use std::collections::VecDeque;

/// PyTorch's constants of the strong-Wolfe line search: sufficient decrease,
/// curvature, and evaluations per search.
const C1: f64 = 1e-4;
const C2: f64 = 0.9;
const MAX_LS: usize = 25;

/// A pair `(s, y)` joins the history only if `y . s` exceeds this
/// (PyTorch's), which keeps the inverse Hessian estimate positive definite.
pub const MIN_CURVATURE: f64 = 1e-10;

/// Largest `history_size` accepted: the state holds `2 * history_size + 2`
/// copies of the parameters.
pub const MAX_HISTORY: usize = 1000;

/// L-BFGS's hyper-parameters, PyTorch's (`line_search` is its
/// `line_search_fn = "strong_wolfe"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lbfgs {
    pub lr: f64,
    pub max_iter: usize,
    pub max_eval: usize,
    pub tolerance_grad: f64,
    pub tolerance_change: f64,
    pub history_size: usize,
    pub line_search: bool,
}

impl Lbfgs {
    /// PyTorch's defaults (`max_eval` is `max_iter * 5 / 4`).
    pub fn default_with(line_search: bool) -> Self {
        Lbfgs {
            lr: 1.0,
            max_iter: 20,
            max_eval: 25,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            line_search,
        }
    }

    /// Buffers per parameter tensor (see the module's state layout).
    pub fn slots_per_param(&self) -> usize {
        // Saturating: asked before `validate` refuses a huge history.
        self.history_size.saturating_mul(2).saturating_add(2)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        for (name, value) in [("max_iter", self.max_iter), ("max_eval", self.max_eval)] {
            if value == 0 {
                return Err(arg_err!("{name} must be at least 1, not 0"));
            }
        }
        if !(1..=MAX_HISTORY).contains(&self.history_size) {
            return Err(arg_err!(
                "history_size must be from 1 to {MAX_HISTORY}, not {}",
                self.history_size
            ));
        }
        crate::error::check_non_negative("tolerance_grad", self.tolerance_grad)?;
        crate::error::check_non_negative("tolerance_change", self.tolerance_change)
    }
}

/// One pair of the history and its `1 / (y . s)`.
#[derive(Debug, Clone)]
struct Pair<T> {
    s: Vec<T>,
    y: Vec<T>,
    rho: f64,
}

/// What L-BFGS carries from one iteration to the next, as flat vectors.
#[derive(Debug, Clone)]
struct Memory<T> {
    /// The last iteration's step `t * d`: the next pair's `s`.
    step: Vec<T>,
    /// The gradient the last iteration started from.
    prev_grad: Vec<T>,
    pairs: VecDeque<Pair<T>>,
    /// Scale of the initial inverse Hessian: `y . s / y . y` of the last
    /// pair that joined the history, 1 before any.
    h_diag: f64,
    history_size: usize,
}

impl<T: Scalar> Memory<T> {
    /// The memory laid out in `slots` (see the module's state layout).
    fn from_slots(slots: &[Vec<T>], history_size: usize) -> Self {
        let per = 2 * history_size + 2;
        let flat = |j: usize| -> Vec<T> {
            let tensors = slots.iter().skip(j).step_by(per);
            tensors.flat_map(|s| s.iter().copied()).collect()
        };
        let mut memory = Memory {
            step: flat(0),
            prev_grad: flat(1),
            pairs: VecDeque::with_capacity(history_size),
            h_diag: 1.0,
            history_size,
        };
        for k in 0..history_size {
            if !memory.remember(flat(2 + 2 * k), flat(3 + 2 * k)) {
                break;
            }
        }
        memory
    }

    /// Writes the memory back into `slots`, laid out as `from_slots` reads it.
    fn to_slots(&self, slots: &mut [Vec<T>]) {
        let per = 2 * self.history_size + 2;
        let mut put = |j: usize, flat: Option<&[T]>| {
            let dst = slots
                .iter_mut()
                .skip(j)
                .step_by(per)
                .flat_map(|s| s.iter_mut());
            match flat {
                Some(src) => dst.zip(src).for_each(|(d, s)| *d = *s),
                None => dst.for_each(|d| *d = T::zero()),
            }
        };
        put(0, Some(&self.step));
        put(1, Some(&self.prev_grad));
        for k in 0..self.history_size {
            let pair = self.pairs.get(k);
            put(2 + 2 * k, pair.map(|p| &p.s[..]));
            put(3 + 2 * k, pair.map(|p| &p.y[..]));
        }
    }

    /// Records the step `t * d` just taken (or planned, if the search
    /// stopped before it).
    fn set_step(&mut self, t: f64, d: &[T]) {
        let t = T::of(t);
        self.step.clear();
        self.step.extend(d.iter().map(|&v| v * t));
    }

    fn forget(&mut self) {
        self.pairs.clear();
        self.h_diag = 1.0;
    }

    /// Adds the pair if its curvature `y . s` is positive enough, dropping
    /// the oldest when the history is full; whether it was added.
    fn remember(&mut self, s: Vec<T>, y: Vec<T>) -> bool {
        let ys = dot(&y, &s);
        if ys.is_nan() || ys <= MIN_CURVATURE {
            return false;
        }
        if self.pairs.len() == self.history_size {
            self.pairs.pop_front();
        }
        self.h_diag = ys / dot(&y, &y);
        self.pairs.push_back(Pair {
            s,
            y,
            rho: 1.0 / ys,
        });
        true
    }

    /// The two-loop recursion: `d = -H g`, `H` the inverse Hessian the
    /// history estimates.
    fn direction(&self, g: &[T]) -> Vec<T> {
        let mut q: Vec<T> = g.iter().map(|&v| -v).collect();
        let mut alpha = vec![0.0; self.pairs.len()];
        for (a, p) in alpha.iter_mut().zip(&self.pairs).rev() {
            *a = dot(&p.s, &q) * p.rho;
            add_scaled(&mut q, -*a, &p.y);
        }
        let h = T::of(self.h_diag);
        q.iter_mut().for_each(|v| *v = *v * h);
        for (a, p) in alpha.iter().zip(&self.pairs) {
            let beta = dot(&p.y, &q) * p.rho;
            add_scaled(&mut q, a - beta, &p.s);
        }
        q
    }
}

fn dot<T: Scalar>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.as_f64() * y.as_f64()).sum()
}

fn max_abs<T: Scalar>(v: &[T]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.as_f64().abs()))
}

/// `y += a * x`.
fn add_scaled<T: Scalar>(y: &mut [T], a: f64, x: &[T]) {
    let a = T::of(a);
    y.iter_mut().zip(x).for_each(|(y, &x)| *y = *y + a * x);
}

/// `out = x + t * d`: the point a step of length `t` along `d` reaches.
fn moved<T: Scalar>(x: &[T], t: f64, d: &[T], out: &mut Vec<T>) {
    let t = T::of(t);
    out.clear();
    out.extend(x.iter().zip(d).map(|(&x, &d)| x + t * d));
}

/// Whether loss `a` is at least as low as `b` (a NaN is never lower).
fn as_low(a: f64, b: f64) -> bool {
    a <= b || b.is_nan()
}

/// Whether loss `a` is lower than `b` (false if either is NaN).
fn below(a: f64, b: f64) -> bool {
    a < b
}

/// The loss and gradient of the objective at `x`.
type Objective<'a, T> = dyn FnMut(&[T], &mut [T]) -> Result<f64> + 'a;

/// A point of the line search: its step length, loss, gradient and
/// directional derivative.
#[derive(Debug, Clone)]
struct Point<T> {
    t: f64,
    f: f64,
    g: Vec<T>,
    gtd: f64,
}

/// The line search's evaluations along `d` from `x`.
struct Line<'a, 'f, T> {
    objective: &'a mut Objective<'f, T>,
    x: &'a [T],
    d: &'a [T],
    at: Vec<T>,
    evals: usize,
}

impl<T: Scalar> Line<'_, '_, T> {
    fn eval(&mut self, t: f64) -> Result<Point<T>> {
        moved(self.x, t, self.d, &mut self.at);
        let mut g = vec![T::zero(); self.x.len()];
        let f = (self.objective)(&self.at, &mut g)?;
        self.evals += 1;
        let gtd = dot(&g, self.d);
        Ok(Point { t, f, g, gtd })
    }
}

/// The minimum of the cubic through two points with their derivatives,
/// within `bounds` (by default between the points); their middle when the
/// cubic has none, or it is not a finite number.
fn cubic_interpolate<T>(a: &Point<T>, b: &Point<T>, bounds: Option<(f64, f64)>) -> f64 {
    let (lo, hi) = bounds.unwrap_or((a.t.min(b.t), a.t.max(b.t)));
    let d1 = a.gtd + b.gtd - 3.0 * (a.f - b.f) / (a.t - b.t);
    let d2_square = d1 * d1 - a.gtd * b.gtd;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if a.t <= b.t {
            b.t - (b.t - a.t) * ((b.gtd + d2 - d1) / (b.gtd - a.gtd + 2.0 * d2))
        } else {
            a.t - (a.t - b.t) * ((a.gtd + d2 - d1) / (a.gtd - b.gtd + 2.0 * d2))
        };
        if min_pos.is_finite() {
            return min_pos.max(lo).min(hi);
        }
    }
    (lo + hi) / 2.0
}

/// PyTorch's `_strong_wolfe`: a step length along `line.d` from `start`
/// (step 0) that satisfies the strong Wolfe conditions, or the best point
/// found in `MAX_LS` evaluations.
fn strong_wolfe<T: Scalar>(
    line: &mut Line<'_, '_, T>,
    start: Point<T>,
    t: f64,
    tolerance_change: f64,
) -> Result<Point<T>> {
    let (f0, gtd0) = (start.f, start.gtd);
    let d_norm = max_abs(line.d);
    // Sufficient decrease (Armijo); false for a NaN loss.
    let armijo = |p: &Point<T>| p.f <= f0 + C1 * p.t * gtd0;
    let curvature = |p: &Point<T>| p.gtd.abs() <= -C2 * gtd0;

    // Bracketing: grow the step until an interval holds a good point.
    let mut new = line.eval(t)?;
    let mut prev = start.clone();
    let mut ls_iter = 0;
    let mut bracket = loop {
        if ls_iter == MAX_LS {
            break [start, new];
        }
        if !armijo(&new) || (ls_iter > 1 && !below(new.f, prev.f)) {
            break [prev, new];
        }
        if curvature(&new) {
            return Ok(new);
        }
        if new.gtd >= 0.0 {
            break [prev, new];
        }
        let bounds = (new.t + 0.01 * (new.t - prev.t), new.t * 10.0);
        let t = cubic_interpolate(&prev, &new, Some(bounds));
        prev = std::mem::replace(&mut new, line.eval(t)?);
        ls_iter += 1;
    };

    // Zoom: shrink the bracket around a point meeting both conditions.
    let order = |b: &[Point<T>; 2]| {
        if as_low(b[0].f, b[1].f) {
            (0, 1)
        } else {
            (1, 0)
        }
    };
    let (mut low, mut high) = order(&bracket);
    let mut insufficient_progress = false;
    while ls_iter < MAX_LS {
        let (lo, hi) = (
            bracket[0].t.min(bracket[1].t),
            bracket[0].t.max(bracket[1].t),
        );
        if (hi - lo) * d_norm < tolerance_change {
            break;
        }
        let mut t = cubic_interpolate(&bracket[0], &bracket[1], None);
        // Too close to an end of the bracket twice in a row, or outside
        // it: a tenth of the bracket in from the nearer end instead.
        let eps = 0.1 * (hi - lo);
        if (hi - t).min(t - lo) < eps {
            if insufficient_progress || t >= hi || t <= lo {
                t = if (t - hi).abs() < (t - lo).abs() {
                    hi - eps
                } else {
                    lo + eps
                };
                insufficient_progress = false;
            } else {
                insufficient_progress = true;
            }
        } else {
            insufficient_progress = false;
        }
        let new = line.eval(t)?;
        ls_iter += 1;
        if !armijo(&new) || !below(new.f, bracket[low].f) {
            bracket[high] = new;
            (low, high) = order(&bracket);
        } else {
            let done = curvature(&new);
            if !done && new.gtd * (bracket[high].t - bracket[low].t) >= 0.0 {
                bracket[high] = bracket[low].clone();
            }
            bracket[low] = new;
            if done {
                break;
            }
        }
    }
    let [a, b] = bracket;
    Ok(if low == 0 { a } else { b })
}

/// One L-BFGS step (PyTorch's `LBFGS.step(closure)`) on `x`: `objective`
/// gives the loss at a point and writes its gradient. `n_iter` counts
/// iterations over all steps.
fn minimize<T: Scalar>(
    cfg: &Lbfgs,
    memory: &mut Memory<T>,
    n_iter: &mut u64,
    x: &mut Vec<T>,
    objective: &mut Objective<'_, T>,
) -> Result<()> {
    let mut g = vec![T::zero(); x.len()];
    let mut loss = objective(x, &mut g)?;
    let mut evals = 1;
    if !loss.is_finite() || max_abs(&g) <= cfg.tolerance_grad {
        return Ok(());
    }
    for iter in 1..=cfg.max_iter {
        *n_iter = n_iter.checked_add(1).ok_or_else(|| {
            arg_err!("the optimizer has taken more iterations than it can count; reset it")
        })?;
        let d = if *n_iter == 1 {
            memory.forget();
            g.iter().map(|&v| -v).collect()
        } else {
            let y = g
                .iter()
                .zip(&memory.prev_grad)
                .map(|(&a, &b)| a - b)
                .collect();
            memory.remember(memory.step.clone(), y);
            memory.direction(&g)
        };
        memory.prev_grad.clone_from(&g);
        let prev_loss = loss;
        let mut t = if *n_iter == 1 {
            let sum_abs: f64 = g.iter().map(|v| v.as_f64().abs()).sum();
            1f64.min(1.0 / sum_abs) * cfg.lr
        } else {
            cfg.lr
        };
        let gtd = dot(&g, &d);
        if gtd > -cfg.tolerance_change {
            // Not a descent direction: stop where we are.
            memory.set_step(t, &d);
            break;
        }
        let start = x.clone();
        if cfg.line_search {
            let mut line = Line {
                objective: &mut *objective,
                x: &start,
                d: &d,
                at: Vec::new(),
                evals: 0,
            };
            let from = Point {
                t: 0.0,
                f: loss,
                g: std::mem::take(&mut g),
                gtd,
            };
            let found = strong_wolfe(&mut line, from, t, cfg.tolerance_change)?;
            evals += line.evals;
            (t, loss, g) = (found.t, found.f, found.g);
            moved(&start, t, &d, x);
        } else {
            moved(&start, t, &d, x);
            // As PyTorch: the last iteration's point is not evaluated.
            if iter != cfg.max_iter {
                loss = objective(x, &mut g)?;
                evals += 1;
            }
        }
        memory.set_step(t, &d);
        if iter == cfg.max_iter
            || evals >= cfg.max_eval
            || !loss.is_finite()
            || max_abs(&g) <= cfg.tolerance_grad
            || max_abs(&memory.step) <= cfg.tolerance_change
            || (loss - prev_loss).abs() < cfg.tolerance_change
        {
            break;
        }
    }
    Ok(())
}

/// The trained parameters of `net`, flat in network order.
fn flat_params<T: Scalar>(net: &Network<T>) -> Vec<T> {
    let layers = net.layers().iter();
    let params = layers.flat_map(Layer::params);
    params.flat_map(|p| p.data.to_vec()).collect()
}

fn set_flat_params<T: Scalar>(net: &mut Network<T>, x: &[T]) {
    let layers = net.layers_mut().iter_mut();
    let mut values = x.iter();
    for p in layers.flat_map(Layer::params_mut) {
        p.data
            .iter_mut()
            .zip(&mut values)
            .for_each(|(d, &v)| *d = v);
    }
}

fn flat_grads<T: Scalar>(net: &Network<T>, into: &mut [T]) {
    let grads = net.layers().iter().flat_map(|l| {
        let params = l.params();
        params.into_iter().flat_map(|p| p.grad.to_vec())
    });
    into.iter_mut().zip(grads).for_each(|(d, g)| *d = g);
}

/// Evaluations of the loss on the network, remembering the last point.
struct Evaluations<'a, T: Scalar> {
    net: &'a mut Network<T>,
    evaluate: &'a mut dyn FnMut(&mut Network<T>) -> Result<f64>,
    last: Vec<T>,
    last_loss: f64,
}

impl<T: Scalar> Evaluations<'_, T> {
    /// The loss at `x`, its gradient written to `grad`; the network holds
    /// the outputs and gradients of `x` after it.
    fn at(&mut self, x: &[T], grad: &mut [T]) -> Result<f64> {
        set_flat_params(self.net, x);
        let mut loss = (self.evaluate)(self.net)?;
        flat_grads(self.net, grad);
        // A point whose gradient is not finite is of no use either (the
        // training loop then ends as for a loss that is not finite).
        if !grad.iter().all(|g| g.is_finite()) {
            loss = f64::NAN;
        }
        self.last.clear();
        self.last.extend_from_slice(x);
        self.last_loss = loss;
        Ok(loss)
    }
}

/// One L-BFGS step of `opt` (whose configuration is `cfg`) on `net`.
/// `evaluate(net)` runs the forward pass, loss and backward pass of the
/// whole batch at the network's parameters and returns the loss. The
/// network ends with the new parameters and an evaluation at them (outputs
/// and gradients): the loss there is returned.
pub fn step<T: Scalar>(
    opt: &mut Optimizer<T>,
    cfg: &Lbfgs,
    net: &mut Network<T>,
    evaluate: &mut dyn FnMut(&mut Network<T>) -> Result<f64>,
) -> Result<f64> {
    let sizes: Vec<usize> = net
        .layers()
        .iter()
        .flat_map(Layer::params)
        .map(|p| p.data.len())
        .collect();
    opt.ensure_slots(&sizes)?;
    let mut memory = Memory::from_slots(&opt.state.slots, cfg.history_size);
    let mut n_iter = opt.state.steps;
    let mut x = flat_params(net);
    let mut evaluations = Evaluations {
        net,
        evaluate,
        last: Vec::new(),
        last_loss: f64::NAN,
    };
    minimize(cfg, &mut memory, &mut n_iter, &mut x, &mut |at, grad| {
        evaluations.at(at, grad)
    })?;
    // Most steps end at the point evaluated last.
    let loss = if evaluations.last == x {
        evaluations.last_loss
    } else {
        evaluations.at(&x, &mut vec![T::zero(); x.len()])?
    };
    memory.to_slots(&mut opt.state.slots);
    opt.state.steps = n_iter;
    Ok(loss)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `steps` steps on `f` from `x`, `history_size` pairs at most.
    fn run(
        cfg: &Lbfgs,
        x: &mut Vec<f64>,
        steps: usize,
        f: &mut Objective<'_, f64>,
    ) -> (Memory<f64>, u64) {
        let mut memory = Memory::from_slots(&[], cfg.history_size);
        let mut n_iter = 0;
        for _ in 0..steps {
            minimize(cfg, &mut memory, &mut n_iter, x, f).unwrap();
        }
        (memory, n_iter)
    }

    /// PyTorch's defaults with tolerances tight enough to check
    /// convergence to 1e-6 (the defaults stop at changes of the loss of 1e-9).
    fn tight(line_search: bool) -> Lbfgs {
        Lbfgs {
            tolerance_grad: 1e-12,
            tolerance_change: 1e-15,
            ..Lbfgs::default_with(line_search)
        }
    }

    /// `0.5 * sum(a_i * (x_i - i)^2)`: minimum at `x_i = i`.
    fn quadratic(x: &[f64], g: &mut [f64]) -> Result<f64> {
        let mut f = 0.0;
        for (i, (&v, g)) in x.iter().zip(g.iter_mut()).enumerate() {
            let a = 1.0 + i as f64 * 3.0;
            let r = v - i as f64;
            f += 0.5 * a * r * r;
            *g = a * r;
        }
        Ok(f)
    }

    /// The Rosenbrock function, a curved valley with its minimum at (1, 1).
    fn rosenbrock(x: &[f64], g: &mut [f64]) -> Result<f64> {
        let (a, b) = (x[0], x[1]);
        g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        g[1] = 200.0 * (b - a * a);
        Ok((1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2))
    }

    #[test]
    fn converges_on_a_quadratic_with_and_without_line_search() {
        for line_search in [true, false] {
            let cfg = tight(line_search);
            let mut x = vec![5.0; 6];
            run(&cfg, &mut x, 10, &mut quadratic);
            for (i, v) in x.iter().enumerate() {
                assert!((v - i as f64).abs() < 1e-6, "{line_search}: {x:?}");
            }
        }
    }

    #[test]
    fn the_line_search_follows_a_curved_valley() {
        let cfg = tight(true);
        let mut x = vec![-1.2, 1.0];
        let (memory, n_iter) = run(&cfg, &mut x, 10, &mut rosenbrock);
        assert!(
            (x[0] - 1.0).abs() < 1e-6 && (x[1] - 1.0).abs() < 1e-6,
            "{x:?}"
        );
        assert!(n_iter > 20, "{n_iter}");
        assert!(memory.pairs.len() <= cfg.history_size);
    }

    #[test]
    fn one_step_stops_at_max_iter_and_max_eval() {
        let evals = std::cell::Cell::new(0);
        let mut counted = |x: &[f64], g: &mut [f64]| {
            evals.set(evals.get() + 1);
            rosenbrock(x, g)
        };
        let cfg = Lbfgs {
            max_iter: 3,
            max_eval: 1000,
            ..Lbfgs::default_with(true)
        };
        let (_, n_iter) = run(&cfg, &mut vec![-1.2, 1.0], 1, &mut counted);
        assert_eq!(n_iter, 3);
        let cfg = Lbfgs {
            max_iter: 1000,
            max_eval: 5,
            ..Lbfgs::default_with(true)
        };
        evals.set(0);
        run(&cfg, &mut vec![-1.2, 1.0], 1, &mut counted);
        // The iteration that reaches max_eval finishes its line search.
        assert!((5..5 + MAX_LS).contains(&evals.get()), "{}", evals.get());
    }

    #[test]
    fn the_history_is_bounded_and_survives_its_slots() {
        let cfg = Lbfgs {
            history_size: 3,
            max_iter: 4,
            ..Lbfgs::default_with(true)
        };
        let mut x = vec![-1.2, 1.0];
        let (memory, _) = run(&cfg, &mut x, 2, &mut rosenbrock);
        assert_eq!(memory.pairs.len(), 3);
        // Two "tensors" of one value each: slots per tensor.
        let mut slots = vec![vec![0.0]; 2 * cfg.slots_per_param()];
        memory.to_slots(&mut slots);
        let back = Memory::from_slots(&slots, 3);
        assert_eq!(back.step, memory.step);
        assert_eq!(back.prev_grad, memory.prev_grad);
        assert_eq!(back.h_diag, memory.h_diag);
        let pairs = |m: &Memory<f64>| -> Vec<_> {
            m.pairs
                .iter()
                .map(|p| (p.s.clone(), p.y.clone(), p.rho))
                .collect()
        };
        assert_eq!(pairs(&back), pairs(&memory));
        // A partly filled history: the zero pairs after it are not read.
        let mut memory = memory;
        memory.pairs.pop_back();
        memory.to_slots(&mut slots);
        assert_eq!(Memory::from_slots(&slots, 3).pairs.len(), 2);
    }

    #[test]
    fn nan_losses_end_the_step_without_panicking() {
        let mut nan_far = |x: &[f64], g: &mut [f64]| {
            let f = quadratic(x, g)?;
            Ok(if x[0].abs() > 2.0 { f64::NAN } else { f })
        };
        let cfg = Lbfgs::default_with(true);
        let mut x = vec![1.9, 0.0, 0.0];
        run(&cfg, &mut x, 3, &mut nan_far);
        assert!(x[0].abs() <= 2.0 || x.iter().all(|v| v.is_finite()));
        let mut always_nan = |_: &[f64], g: &mut [f64]| {
            g.iter_mut().for_each(|g| *g = f64::NAN);
            Ok(f64::NAN)
        };
        let mut x = vec![1.0, 2.0];
        let (_, n_iter) = run(&cfg, &mut x, 2, &mut always_nan);
        assert_eq!((x, n_iter), (vec![1.0, 2.0], 0));
    }

    #[test]
    fn invalid_settings_are_errors() {
        let ok = Lbfgs::default_with(true);
        assert!(ok.validate().is_ok());
        for bad in [
            Lbfgs { max_iter: 0, ..ok },
            Lbfgs { max_eval: 0, ..ok },
            Lbfgs {
                history_size: 0,
                ..ok
            },
            Lbfgs {
                history_size: MAX_HISTORY + 1,
                ..ok
            },
            Lbfgs {
                tolerance_grad: -1.0,
                ..ok
            },
            Lbfgs {
                tolerance_change: f64::NAN,
                ..ok
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
