//! Optimizers: the configuration (plain numbers, validated once) apart from
//! the state they accumulate (momentum buffers, step count), which R keeps
//! between `fit()` calls.

use crate::error::{arg_err, shape_err, Result};
use crate::layer::Layer;
use crate::scalar::Scalar;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerConfig {
    /// PyTorch's definition: `v = momentum * v + g; p -= lr * v`
    /// (plain gradient descent when `momentum` is 0).
    Sgd { lr: f64, momentum: f64 },
}

impl OptimizerConfig {
    pub fn validate(&self) -> Result<()> {
        match *self {
            OptimizerConfig::Sgd { lr, momentum } => {
                if !(lr.is_finite() && lr > 0.0) {
                    return Err(arg_err!(
                        "the learning rate must be a positive number, not {lr}"
                    ));
                }
                if !(0.0..1.0).contains(&momentum) {
                    return Err(arg_err!("momentum must be in [0, 1), not {momentum}"));
                }
            }
        }
        Ok(())
    }

    pub fn lr(&self) -> f64 {
        match *self {
            OptimizerConfig::Sgd { lr, .. } => lr,
        }
    }

    /// The same optimizer with learning rate `lr` (for schedules).
    pub fn with_lr(self, lr: f64) -> Self {
        match self {
            OptimizerConfig::Sgd { momentum, .. } => OptimizerConfig::Sgd { lr, momentum },
        }
    }

    fn needs_slots(&self) -> bool {
        match *self {
            OptimizerConfig::Sgd { momentum, .. } => momentum > 0.0,
        }
    }
}

/// What an optimizer carries from one step to the next: one buffer per
/// parameter tensor (in the network's parameter order) and the step count.
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
        let mut pairs: Vec<(&mut [T], &[T])> = layers
            .iter_mut()
            .flat_map(|l| l.params_and_grads_mut())
            .collect();
        if self.config.needs_slots() {
            self.ensure_slots(&pairs)?;
        }
        match self.config {
            OptimizerConfig::Sgd { lr, momentum } => {
                let lr = T::of(lr);
                if momentum > 0.0 {
                    let mu = T::of(momentum);
                    for ((param, grad), v) in pairs.iter_mut().zip(self.state.slots.iter_mut()) {
                        for ((p, &g), vi) in param.iter_mut().zip(grad.iter()).zip(v.iter_mut()) {
                            *vi = mu * *vi + g;
                            *p = *p - lr * *vi;
                        }
                    }
                } else {
                    for (param, grad) in pairs.iter_mut() {
                        for (p, &g) in param.iter_mut().zip(grad.iter()) {
                            *p = *p - lr * g;
                        }
                    }
                }
            }
        }
        self.state.steps += 1;
        Ok(())
    }

    /// Allocates zeroed buffers on first use, and refuses state that belongs
    /// to a network of another shape.
    fn ensure_slots(&mut self, pairs: &[(&mut [T], &[T])]) -> Result<()> {
        if self.state.slots.is_empty() {
            self.state.slots = pairs
                .iter()
                .map(|(p, _)| vec![T::zero(); p.len()])
                .collect();
            return Ok(());
        }
        let expected: Vec<usize> = pairs.iter().map(|(p, _)| p.len()).collect();
        let found: Vec<usize> = self.state.slots.iter().map(Vec::len).collect();
        if expected != found {
            return Err(shape_err!(
                "the optimizer's state was built for parameters of sizes {found:?}, but this network has {expected:?}; use a new optimizer"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerSpec;

    fn layer_with(w: f64, g: f64) -> Vec<Layer<f64>> {
        let mut layer = Layer::from_spec(LayerSpec::from_parts("linear", 1, 1).unwrap());
        if let Layer::Linear(l) = &mut layer {
            l.weight[[0, 0]] = w;
            l.grad_weight[[0, 0]] = g;
            l.grad_bias[0] = g;
        }
        vec![layer]
    }

    fn weight(layers: &[Layer<f64>]) -> f64 {
        match &layers[0] {
            Layer::Linear(l) => l.weight[[0, 0]],
            _ => unreachable!(),
        }
    }

    #[test]
    fn sgd_step() {
        let mut layers = layer_with(1.0, 0.5);
        let mut opt = Optimizer::new(OptimizerConfig::Sgd {
            lr: 0.1,
            momentum: 0.0,
        })
        .unwrap();
        opt.step(&mut layers).unwrap();
        assert!((weight(&layers) - 0.95).abs() < 1e-15);
    }

    #[test]
    fn sgd_momentum_three_steps_by_hand() {
        let mut layers = layer_with(1.0, 0.5);
        let mut opt = Optimizer::new(OptimizerConfig::Sgd {
            lr: 0.1,
            momentum: 0.9,
        })
        .unwrap();
        let (mut w, mut v) = (1.0f64, 0.0f64);
        for _ in 0..3 {
            opt.step(&mut layers).unwrap();
            v = 0.9 * v + 0.5;
            w -= 0.1 * v;
        }
        assert!((weight(&layers) - w).abs() < 1e-15);
        assert_eq!(opt.state.steps, 3);
        let (steps, slots) = opt.export_state();
        let again = Optimizer::<f64>::new(opt.config)
            .unwrap()
            .with_state(steps, slots);
        assert_eq!(again.state, opt.state);
    }

    #[test]
    fn invalid_config_and_foreign_state_are_errors() {
        assert!(Optimizer::<f32>::new(OptimizerConfig::Sgd {
            lr: 0.0,
            momentum: 0.0
        })
        .is_err());
        assert!(Optimizer::<f32>::new(OptimizerConfig::Sgd {
            lr: f64::NAN,
            momentum: 0.0
        })
        .is_err());
        assert!(Optimizer::<f32>::new(OptimizerConfig::Sgd {
            lr: 0.1,
            momentum: 1.0
        })
        .is_err());
        let mut layers = layer_with(1.0, 0.5);
        let mut opt = Optimizer::<f64>::new(OptimizerConfig::Sgd {
            lr: 0.1,
            momentum: 0.5,
        })
        .unwrap()
        .with_state(1, vec![vec![0.0; 7]]);
        assert!(opt.step(&mut layers).is_err());
    }
}
