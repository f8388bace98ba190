//! Optimizers: the configuration (plain numbers, validated once) apart from
//! the state they accumulate (buffers, step count), which R keeps between
//! `fit()` calls.
//!
//! Every rule follows PyTorch's documented algorithm, so results can be
//! compared with it; in the formulas `p` is a parameter, `g` its gradient and
//! `t` the number of this step (1 for the first), and every buffer starts at
//! zero.
//!
//! # State layout
//! [`OptimizerState::slots`] holds [`OptimizerConfig::slots_per_param`]
//! buffers per parameter tensor, each as long as its tensor, grouped by
//! tensor in the network's parameter order (layer by layer; weight, then
//! bias): Adam's is `[m0, v0, m1, v1, ...]`. Optimizers without buffers
//! (plain SGD) have none. L-BFGS keeps its direction history there too
//! (see [`crate::lbfgs`]).

use crate::error::{
    arg_err, check_fraction, check_non_negative, check_positive, shape_err, NnError, Result,
};
use crate::kind::TensorMut;
use crate::layer::Layer;
use crate::lbfgs::Lbfgs;
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use crate::simd::vectorized;

/// Values per piece of a parameter tensor in a parallel optimizer step: big
/// enough that handing a piece to a thread costs little next to updating it.
const STEP_PIECE: usize = 1 << 15;

/// Steps over fewer values than this run on the calling thread: waking the
/// pool for every batch costs more than it saves (measured: the 79,510
/// values of a 784-100-10 network updated slower on two threads).
const PARALLEL_STEP_MIN: usize = 1 << 18;

/// One piece of a parameter tensor, its gradient and its buffers.
struct UpdatePiece<'a, T> {
    param: &'a mut [T],
    grad: &'a [T],
    bufs: Vec<&'a mut [T]>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerConfig {
    /// PyTorch's `SGD` (no dampening):
    /// `g += weight_decay * p`; with momentum, `b = momentum * b + g` (`b`
    /// starts at 0, which equals PyTorch's first-step `b = g`) and then
    /// `g = g + momentum * b` if `nesterov`, else `g = b`; finally
    /// `p -= lr * g`. Buffers: `b` if `momentum > 0`.
    Sgd {
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    /// PyTorch's `Adam` (`decoupled = false`: `g += weight_decay * p`) or
    /// `AdamW` (`decoupled = true`: `p -= lr * weight_decay * p` first, the
    /// gradient untouched); then
    /// `m = beta1 * m + (1 - beta1) * g`, `v = beta2 * v + (1 - beta2) * g^2`,
    /// `p -= lr * mhat / (sqrt(vhat) + eps)` with `mhat = m / (1 - beta1^t)`
    /// and `vhat = v / (1 - beta2^t)`. Computed in PyTorch's arrangement,
    /// `p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
    /// Buffers: `m`, `v`.
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    },
    /// PyTorch's `RMSprop`, not centered, with `alpha = rho`:
    /// `v = rho * v + (1 - rho) * g^2`; with momentum,
    /// `b = momentum * b + g / (sqrt(v) + eps)` and `p -= lr * b`, else
    /// `p -= lr * g / (sqrt(v) + eps)`. Buffers: `v`, and `b` if
    /// `momentum > 0`.
    RmsProp {
        lr: f64,
        rho: f64,
        eps: f64,
        momentum: f64,
    },
    /// PyTorch's `Adagrad` without learning-rate decay, accumulator starting
    /// at 0: `s += g^2; p -= lr * g / (sqrt(s) + eps)`. Buffers: `s`.
    Adagrad { lr: f64, eps: f64 },
    /// PyTorch's `LBFGS`: full-batch, each step many evaluations of the
    /// loss and gradient (see [`crate::lbfgs`]), so it is not an update
    /// from one gradient: `Optimizer::step` refuses it and the training
    /// loop runs [`crate::lbfgs::step`]. Buffers: `2 * history_size + 2`.
    Lbfgs(Lbfgs),
}

impl OptimizerConfig {
    /// The optimizer types, by the name the host uses (AdamW is `"adam"`
    /// with decoupled weight decay).
    pub const NAMES: [&'static str; 5] = ["sgd", "adam", "rmsprop", "adagrad", "lbfgs"];

    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd { .. } => "sgd",
            OptimizerConfig::Adam { .. } => "adam",
            OptimizerConfig::RmsProp { .. } => "rmsprop",
            OptimizerConfig::Adagrad { .. } => "adagrad",
            OptimizerConfig::Lbfgs(_) => "lbfgs",
        }
    }

    pub fn validate(&self) -> Result<()> {
        check_positive("the learning rate (lr)", self.lr())?;
        match *self {
            OptimizerConfig::Sgd {
                momentum,
                nesterov,
                weight_decay,
                ..
            } => {
                check_fraction("momentum", momentum)?;
                check_non_negative("weight_decay", weight_decay)?;
                if nesterov && momentum == 0.0 {
                    return Err(arg_err!(
                        "Nesterov momentum needs a momentum greater than 0, not 0"
                    ));
                }
            }
            OptimizerConfig::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                check_fraction("beta1", beta1)?;
                check_fraction("beta2", beta2)?;
                check_positive("eps", eps)?;
                check_non_negative("weight_decay", weight_decay)?;
            }
            OptimizerConfig::RmsProp {
                rho, eps, momentum, ..
            } => {
                check_fraction("rho", rho)?;
                check_positive("eps", eps)?;
                check_fraction("momentum", momentum)?;
            }
            OptimizerConfig::Adagrad { eps, .. } => check_positive("eps", eps)?,
            OptimizerConfig::Lbfgs(cfg) => cfg.validate()?,
        }
        Ok(())
    }

    pub fn lr(&self) -> f64 {
        match *self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::RmsProp { lr, .. }
            | OptimizerConfig::Adagrad { lr, .. }
            | OptimizerConfig::Lbfgs(Lbfgs { lr, .. }) => lr,
        }
    }

    /// The same optimizer with another learning rate, for schedules; the
    /// state stays valid. Not validated: `Optimizer::new` does that.
    pub fn with_lr(mut self, new_lr: f64) -> Self {
        match &mut self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::RmsProp { lr, .. }
            | OptimizerConfig::Adagrad { lr, .. }
            | OptimizerConfig::Lbfgs(Lbfgs { lr, .. }) => *lr = new_lr,
        }
        self
    }

    /// How many buffers the optimizer keeps per parameter tensor (see the
    /// module's state layout).
    pub fn slots_per_param(&self) -> usize {
        match *self {
            OptimizerConfig::Sgd { momentum, .. } => usize::from(momentum > 0.0),
            OptimizerConfig::Adam { .. } => 2,
            OptimizerConfig::RmsProp { momentum, .. } => 1 + usize::from(momentum > 0.0),
            OptimizerConfig::Adagrad { .. } => 1,
            OptimizerConfig::Lbfgs(cfg) => cfg.slots_per_param(),
        }
    }
}

/// What an optimizer carries from one step to the next: the step count and
/// its buffers, laid out as the module documentation describes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptimizerState<T> {
    pub steps: u64,
    pub slots: Vec<Vec<T>>,
}

#[derive(Debug, Clone)]
pub struct Optimizer<T: Scalar> {
    pub config: OptimizerConfig,
    pub state: OptimizerState<T>,
}

impl<T: Scalar> Optimizer<T> {
    pub fn new(config: OptimizerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Optimizer {
            config,
            state: OptimizerState::default(),
        })
    }

    /// Restores state exported earlier (as `f64`); checked against the
    /// network at the next step.
    pub fn with_state(mut self, steps: u64, slots: Vec<Vec<f64>>) -> Self {
        self.state = OptimizerState {
            steps,
            slots: slots
                .into_iter()
                .map(|s| s.into_iter().map(T::of).collect())
                .collect(),
        };
        self
    }

    pub fn export_state(&self) -> (u64, Vec<Vec<f64>>) {
        (
            self.state.steps,
            self.state
                .slots
                .iter()
                .map(|s| s.iter().map(|v| v.as_f64()).collect())
                .collect(),
        )
    }

    /// Updates every parameter of `layers` from its gradient.
    pub fn step(&mut self, layers: &mut [Layer<T>]) -> Result<()> {
        self.step_with(layers, &Parallel::default())
    }

    /// [`Optimizer::step`] on `par`'s threads. Every rule is elementwise, so
    /// each tensor is cut into fixed-size pieces updated independently: the
    /// bits are the same for any number of threads.
    pub fn step_with(&mut self, layers: &mut [Layer<T>], par: &Parallel) -> Result<()> {
        if let OptimizerConfig::Lbfgs(_) = self.config {
            return Err(NnError::State(
                "L-BFGS evaluates the loss of the whole training data many times per step, which one gradient cannot do: train with fit()".into(),
            ));
        }
        // A step count from the host can be anything (R passes a double).
        let t = self.state.steps.checked_add(1).ok_or_else(|| {
            arg_err!(
                "the optimizer has already taken {} steps, more than it can count; reset it",
                self.state.steps
            )
        })?;
        let sizes: Vec<usize> = layers
            .iter()
            .flat_map(Layer::params)
            .map(|p| p.data.len())
            .collect();
        self.ensure_slots(&sizes)?;
        let per_param = self.config.slots_per_param();
        let config = self.config;
        let mut slots = self.state.slots.iter_mut();
        let mut pieces: Vec<UpdatePiece<T>> = Vec::new();
        for TensorMut {
            data: param, grad, ..
        } in layers.iter_mut().flat_map(Layer::params_mut)
        {
            // ensure_slots checked that each tensor has `per_param` buffers
            // as long as itself.
            let mut bufs: Vec<std::slice::ChunksMut<T>> = slots
                .by_ref()
                .take(per_param)
                .map(|b| b.chunks_mut(STEP_PIECE))
                .collect();
            for (param, grad) in param.chunks_mut(STEP_PIECE).zip(grad.chunks(STEP_PIECE)) {
                let bufs = bufs.iter_mut().filter_map(Iterator::next).collect();
                pieces.push(UpdatePiece { param, grad, bufs });
            }
        }
        // Small networks update on the calling thread: waking the pool would
        // cost more than the update.
        let values: usize = pieces.iter().map(|p| p.param.len()).sum();
        let serial = Parallel::default();
        let par = if values >= PARALLEL_STEP_MIN {
            par
        } else {
            &serial
        };
        let failed = std::sync::Mutex::new(None);
        par.for_each(pieces, |piece| {
            let UpdatePiece {
                param,
                grad,
                mut bufs,
            } = piece;
            let updated = vectorized(
                #[inline(always)]
                || update(&config, t, param, grad, &mut bufs),
            );
            if let Err(e) = updated {
                if let Ok(mut f) = failed.lock() {
                    f.get_or_insert(e);
                }
            }
        });
        if let Some(e) = failed.into_inner().ok().flatten() {
            return Err(e);
        }
        self.state.steps = t;
        Ok(())
    }

    /// Allocates zeroed buffers on first use, and refuses state that does
    /// not fit this optimizer and network (another optimizer's, or another
    /// network's): using it would silently train with the wrong buffers.
    /// `sizes` are those of the network's trained tensors, in order.
    pub(crate) fn ensure_slots(&mut self, sizes: &[usize]) -> Result<()> {
        let per_param = self.config.slots_per_param();
        let slots = &mut self.state.slots;
        if slots.is_empty() {
            for &size in sizes {
                slots.extend((0..per_param).map(|_| vec![T::zero(); size]));
            }
            return Ok(());
        }
        let fits = sizes.iter().enumerate().all(|(tensor, &size)| {
            let start = tensor * per_param;
            slots
                .get(start..start + per_param)
                .is_some_and(|bufs| bufs.iter().all(|b| b.len() == size))
        });
        if fits && slots.len() == sizes.len() * per_param {
            return Ok(());
        }
        let expected: Vec<usize> = sizes
            .iter()
            .flat_map(|&size| std::iter::repeat_n(size, per_param))
            .collect();
        let found: Vec<usize> = slots.iter().map(Vec::len).collect();
        Err(shape_err!(
            "the optimizer's state holds buffers of sizes {found:?}, but this optimizer needs {expected:?} for this network; reset the optimizer or use a new one"
        ))
    }
}

/// Updates one piece of a parameter tensor at step `t`. `bufs` are the same
/// pieces of its buffers, which `ensure_slots` has checked to be
/// `config.slots_per_param()` vectors as long as the tensor; the arms below
/// tell the variants apart by that count.
#[inline(always)]
fn update<T: Scalar>(
    config: &OptimizerConfig,
    t: u64,
    param: &mut [T],
    grad: &[T],
    bufs: &mut [&mut [T]],
) -> Result<()> {
    let c = T::of;
    match (*config, bufs) {
        (
            OptimizerConfig::Sgd {
                lr, weight_decay, ..
            },
            [],
        ) => {
            let (lr, wd) = (c(lr), c(weight_decay));
            for (p, &g) in param.iter_mut().zip(grad) {
                *p = *p - lr * (g + wd * *p);
            }
        }
        (
            OptimizerConfig::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            },
            [b],
        ) => {
            let (lr, mu, wd) = (c(lr), c(momentum), c(weight_decay));
            for ((p, &g), b) in param.iter_mut().zip(grad).zip(b.iter_mut()) {
                let g = g + wd * *p;
                *b = mu * *b + g;
                let d = if nesterov { g + mu * *b } else { *b };
                *p = *p - lr * d;
            }
        }
        (
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
            },
            [m, v],
        ) => {
            // Scalar factors in f64, as PyTorch computes them (Python
            // floats), so f32 training loses no precision to beta^t.
            let t = t as f64;
            let step_size = c(lr / (1.0 - beta1.powf(t)));
            let bc2_sqrt = c((1.0 - beta2.powf(t)).sqrt());
            let (shrink, l2) = if decoupled {
                (c(1.0 - lr * weight_decay), T::zero())
            } else {
                (T::one(), c(weight_decay))
            };
            let (b1, b2, eps) = (c(beta1), c(beta2), c(eps));
            let (one_b1, one_b2) = (c(1.0 - beta1), c(1.0 - beta2));
            for (((p, &g), m), v) in param
                .iter_mut()
                .zip(grad)
                .zip(m.iter_mut())
                .zip(v.iter_mut())
            {
                *p = *p * shrink;
                let g = g + l2 * *p;
                *m = b1 * *m + one_b1 * g;
                *v = b2 * *v + one_b2 * g * g;
                *p = *p - step_size * *m / (v.sqrt() / bc2_sqrt + eps);
            }
        }
        (OptimizerConfig::RmsProp { lr, rho, eps, .. }, [v]) => {
            let (lr, rho, one_rho, eps) = (c(lr), c(rho), c(1.0 - rho), c(eps));
            for ((p, &g), v) in param.iter_mut().zip(grad).zip(v.iter_mut()) {
                *v = rho * *v + one_rho * g * g;
                *p = *p - lr * g / (v.sqrt() + eps);
            }
        }
        (
            OptimizerConfig::RmsProp {
                lr,
                rho,
                eps,
                momentum,
            },
            [v, b],
        ) => {
            let (lr, rho, one_rho, eps) = (c(lr), c(rho), c(1.0 - rho), c(eps));
            let mu = c(momentum);
            for (((p, &g), v), b) in param
                .iter_mut()
                .zip(grad)
                .zip(v.iter_mut())
                .zip(b.iter_mut())
            {
                *v = rho * *v + one_rho * g * g;
                *b = mu * *b + g / (v.sqrt() + eps);
                *p = *p - lr * *b;
            }
        }
        (OptimizerConfig::Adagrad { lr, eps }, [s]) => {
            let (lr, eps) = (c(lr), c(eps));
            for ((p, &g), s) in param.iter_mut().zip(grad).zip(s.iter_mut()) {
                *s = *s + g * g;
                *p = *p - lr * g / (s.sqrt() + eps);
            }
        }
        (_, bufs) => {
            return Err(NnError::State(format!(
                "the optimizer has {} buffers for a parameter, but needs {}",
                bufs.len(),
                config.slots_per_param()
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerSpec;

    // Parameter tensors of `layers()`, flattened in network order, and a
    // constant gradient for each value: the updates below are checked value
    // by value against the same rule written out in plain f64.
    const PARAMS: [f64; 5] = [0.5, -1.5, 0.25, 0.8, -0.1];
    const GRADS: [f64; 5] = [0.3, -0.2, 0.7, -0.05, 0.0];

    /// Linear(2, 1) - Tanh - Linear(1, 1): weight (2), bias (1), weight (1),
    /// bias (1), with an activation between so that parameter-free layers
    /// are skipped.
    fn layers<T: Scalar>() -> Vec<Layer<T>> {
        let specs = [("linear", 2, 1), ("tanh", 0, 0), ("linear", 1, 1)];
        let mut layers: Vec<Layer<T>> = specs
            .iter()
            .map(|&(k, i, o)| {
                Layer::from_spec(LayerSpec::from_parts(k, i, o).unwrap(), None).unwrap()
            })
            .collect();
        let mut k = 0;
        for layer in &mut layers {
            if let Layer::Linear(l) = layer {
                for (p, g) in l.weight.iter_mut().zip(l.grad_weight.iter_mut()) {
                    (*p, *g) = (T::of(PARAMS[k]), T::of(GRADS[k]));
                    k += 1;
                }
                for (p, g) in l.bias.iter_mut().zip(l.grad_bias.iter_mut()) {
                    (*p, *g) = (T::of(PARAMS[k]), T::of(GRADS[k]));
                    k += 1;
                }
            }
        }
        assert_eq!(k, PARAMS.len());
        layers
    }

    fn values<T: Scalar>(layers: &mut [Layer<T>]) -> Vec<f64> {
        let mut out = Vec::new();
        for p in layers.iter().flat_map(Layer::params) {
            out.extend(p.data.iter().map(|v| v.as_f64()));
        }
        out
    }

    /// Runs `steps` steps of `config` and compares every parameter with
    /// `by_hand(p, g, buffers, t)` applied to each value on its own.
    fn check_against(
        config: OptimizerConfig,
        steps: u64,
        by_hand: impl Fn(f64, f64, &mut [f64; 2], u64) -> f64,
    ) {
        let mut net = layers::<f64>();
        let mut opt = Optimizer::new(config).unwrap();
        for _ in 0..steps {
            opt.step(&mut net).unwrap();
        }
        assert_eq!(opt.state.steps, steps);
        for (k, got) in values(&mut net).into_iter().enumerate() {
            let (mut p, mut bufs) = (PARAMS[k], [0.0; 2]);
            for t in 1..=steps {
                p = by_hand(p, GRADS[k], &mut bufs, t);
            }
            assert!(
                (got - p).abs() <= 1e-12 * p.abs().max(1.0),
                "{config:?}, {steps} steps, value {k}: {got} != {p}"
            );
        }
    }

    fn sgd(lr: f64, momentum: f64, nesterov: bool, weight_decay: f64) -> OptimizerConfig {
        OptimizerConfig::Sgd {
            lr,
            momentum,
            nesterov,
            weight_decay,
        }
    }

    fn adam(weight_decay: f64, decoupled: bool) -> OptimizerConfig {
        OptimizerConfig::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            decoupled,
        }
    }

    #[test]
    fn sgd_by_hand() {
        for steps in [1, 3] {
            check_against(sgd(0.1, 0.0, false, 0.0), steps, |p, g, _, _| p - 0.1 * g);
            check_against(sgd(0.1, 0.0, false, 0.01), steps, |p, g, _, _| {
                p - 0.1 * (g + 0.01 * p)
            });
            check_against(sgd(0.1, 0.9, false, 0.0), steps, |p, g, b, _| {
                b[0] = 0.9 * b[0] + g;
                p - 0.1 * b[0]
            });
            check_against(sgd(0.1, 0.9, true, 0.05), steps, |p, g, b, _| {
                let g = g + 0.05 * p;
                b[0] = 0.9 * b[0] + g;
                p - 0.1 * (g + 0.9 * b[0])
            });
        }
    }

    #[test]
    fn adam_and_adamw_by_hand() {
        for steps in [1, 3] {
            for wd in [0.0, 0.1] {
                check_against(adam(wd, false), steps, |p, g, s, t| {
                    let g = g + wd * p;
                    s[0] = 0.9 * s[0] + 0.1 * g;
                    s[1] = 0.999 * s[1] + 0.001 * g * g;
                    let mhat = s[0] / (1.0 - 0.9f64.powi(t as i32));
                    let vhat = s[1] / (1.0 - 0.999f64.powi(t as i32));
                    p - 0.01 * mhat / (vhat.sqrt() + 1e-8)
                });
            }
            check_against(adam(0.1, true), steps, |p, g, s, t| {
                let p = p - 0.01 * 0.1 * p;
                s[0] = 0.9 * s[0] + 0.1 * g;
                s[1] = 0.999 * s[1] + 0.001 * g * g;
                let mhat = s[0] / (1.0 - 0.9f64.powi(t as i32));
                let vhat = s[1] / (1.0 - 0.999f64.powi(t as i32));
                p - 0.01 * mhat / (vhat.sqrt() + 1e-8)
            });
        }
    }

    #[test]
    fn rmsprop_and_adagrad_by_hand() {
        let rmsprop = |momentum| OptimizerConfig::RmsProp {
            lr: 0.01,
            rho: 0.9,
            eps: 1e-8,
            momentum,
        };
        for steps in [1, 3] {
            check_against(rmsprop(0.0), steps, |p, g, s, _| {
                s[0] = 0.9 * s[0] + 0.1 * g * g;
                p - 0.01 * g / (s[0].sqrt() + 1e-8)
            });
            check_against(rmsprop(0.5), steps, |p, g, s, _| {
                s[0] = 0.9 * s[0] + 0.1 * g * g;
                s[1] = 0.5 * s[1] + g / (s[0].sqrt() + 1e-8);
                p - 0.01 * s[1]
            });
            let adagrad = OptimizerConfig::Adagrad {
                lr: 0.1,
                eps: 1e-10,
            };
            check_against(adagrad, steps, |p, g, s, _| {
                s[0] += g * g;
                p - 0.1 * g / (s[0].sqrt() + 1e-10)
            });
        }
    }

    #[test]
    fn float32_follows_float64() {
        let mut n32 = layers::<f32>();
        let mut n64 = layers::<f64>();
        let mut o32 = Optimizer::<f32>::new(adam(0.1, true)).unwrap();
        let mut o64 = Optimizer::<f64>::new(adam(0.1, true)).unwrap();
        for _ in 0..3 {
            o32.step(&mut n32).unwrap();
            o64.step(&mut n64).unwrap();
        }
        for (a, b) in values(&mut n32).iter().zip(values(&mut n64)) {
            assert!((a - b).abs() < 1e-6, "{a} != {b}");
        }
    }

    #[test]
    fn state_layout_and_round_trip() {
        let configs = [
            sgd(0.1, 0.0, false, 0.0),
            sgd(0.1, 0.9, true, 0.0),
            adam(0.0, false),
            OptimizerConfig::RmsProp {
                lr: 0.01,
                rho: 0.99,
                eps: 1e-8,
                momentum: 0.9,
            },
            OptimizerConfig::Adagrad {
                lr: 0.1,
                eps: 1e-10,
            },
        ];
        for config in configs {
            let mut net = layers::<f64>();
            let mut opt = Optimizer::new(config).unwrap();
            opt.step(&mut net).unwrap();
            // One buffer per tensor and slot, as long as its tensor.
            let sizes: Vec<usize> = opt.state.slots.iter().map(Vec::len).collect();
            let expected: Vec<usize> = [2, 1, 1, 1]
                .iter()
                .flat_map(|&n| std::iter::repeat_n(n, config.slots_per_param()))
                .collect();
            assert_eq!(sizes, expected, "{config:?}");

            // Stopping, exporting and restoring changes nothing.
            let (steps, slots) = opt.export_state();
            let mut again = Optimizer::<f64>::new(config)
                .unwrap()
                .with_state(steps, slots);
            assert_eq!(again.state, opt.state);
            let mut copy = net.clone();
            opt.step(&mut net).unwrap();
            again.step(&mut copy).unwrap();
            assert_eq!(values(&mut net), values(&mut copy));
            assert_eq!(again.state, opt.state);
        }
        assert_eq!(adam(0.0, false).lr(), 0.01);
        assert_eq!(adam(0.0, false).with_lr(0.5).lr(), 0.5);
        let sgd_state = Optimizer::<f64>::new(sgd(0.1, 0.0, false, 0.0)).unwrap();
        assert!(sgd_state.state.slots.is_empty());
    }

    #[test]
    fn invalid_configs_are_errors() {
        let bad = [
            sgd(0.0, 0.0, false, 0.0),
            sgd(f64::NAN, 0.0, false, 0.0),
            sgd(f64::INFINITY, 0.0, false, 0.0),
            sgd(0.1, 1.0, false, 0.0),
            sgd(0.1, -0.1, false, 0.0),
            sgd(0.1, 0.0, true, 0.0),
            sgd(0.1, 0.0, false, -1.0),
            OptimizerConfig::Adam {
                lr: 0.01,
                beta1: 1.0,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
                decoupled: false,
            },
            OptimizerConfig::Adam {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 0.0,
                weight_decay: 0.0,
                decoupled: true,
            },
            adam(f64::INFINITY, true),
            OptimizerConfig::RmsProp {
                lr: 0.01,
                rho: 1.0,
                eps: 1e-8,
                momentum: 0.0,
            },
            OptimizerConfig::Adagrad {
                lr: -1.0,
                eps: 1e-10,
            },
        ];
        for config in bad {
            assert!(Optimizer::<f32>::new(config).is_err(), "{config:?}");
        }
        let msg = sgd(-1.0, 0.0, false, 0.0)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(msg.contains("lr") && msg.contains("-1"), "{msg}");
        assert!(adam(0.0, false).with_lr(0.1).validate().is_ok());
        assert!(adam(0.0, false).with_lr(0.0).validate().is_err());
    }

    #[test]
    fn foreign_state_is_an_error() {
        let with = |config, slots: Vec<Vec<f64>>| {
            let mut net = layers::<f64>();
            let before = values(&mut net);
            let result = Optimizer::<f64>::new(config)
                .unwrap()
                .with_state(1, slots)
                .step(&mut net);
            // A refused state leaves the network untouched.
            if result.is_err() {
                assert_eq!(values(&mut net), before);
            }
            result
        };
        let momentum = sgd(0.1, 0.9, false, 0.0);
        // Another network's sizes.
        assert!(with(momentum, vec![vec![0.0; 7]]).is_err());
        assert!(with(momentum, vec![vec![0.0; 2], vec![0.0; 1]]).is_err());
        // Adam's two buffers per tensor given to SGD with momentum.
        let adam_state = vec![vec![0.0; 2], vec![0.0; 2], vec![0.0; 1], vec![0.0; 1]];
        assert!(with(momentum, adam_state.clone()).is_err());
        // Buffers given to an optimizer that keeps none.
        assert!(with(sgd(0.1, 0.0, false, 0.0), adam_state).is_err());
        let fits = vec![vec![0.0; 2], vec![0.0; 1], vec![0.0; 1], vec![0.0; 1]];
        assert!(with(momentum, fits).is_ok());
    }
}
