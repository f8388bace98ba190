//! The training loop, whole, in one call: per epoch, shuffle; per mini-batch,
//! gather rows, forward, loss, backward, optimizer step, then tell the
//! observer (which may stop training: Ctrl-C, callbacks). Read it next to
//! tutorial 002's `SGD()` and `update_mini_batch()`: same steps, vectorized.

use crate::error::{arg_err, shape_err, Result};
use crate::loss::Loss;
use crate::matrix::ensure_shape;
use crate::network::Network;
use crate::optim::Optimizer;
use crate::scalar::Scalar;
use ndarray::{Array2, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub shuffle: bool,
    /// Seeds the shuffling; the R side draws it from R's RNG.
    pub seed: u64,
}

/// What the training loop reports; epochs and batches count from 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    BatchEnd { epoch: usize, batch: usize },
    EpochEnd { epoch: usize, loss: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitStatus {
    Completed,
    /// The observer asked to stop after this batch; its weights are kept.
    Stopped {
        epoch: usize,
        batch: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// One loss per completed epoch.
    pub losses: Vec<f64>,
    pub status: FitStatus,
}

fn check_data<T: Scalar>(
    net: &Network<T>,
    x: &ArrayView2<T>,
    y: &ArrayView2<T>,
    cfg: &TrainConfig,
) -> Result<()> {
    if x.nrows() == 0 {
        return Err(shape_err!("x has no rows"));
    }
    if x.nrows() != y.nrows() {
        return Err(shape_err!(
            "x has {} rows but y has {}",
            x.nrows(),
            y.nrows()
        ));
    }
    if let Some(d) = net.input_dim() {
        if d != x.ncols() {
            return Err(shape_err!(
                "x has {} columns, but the network expects {d}",
                x.ncols()
            ));
        }
    }
    let out = net.output_dim(x.ncols());
    if y.ncols() != out {
        return Err(shape_err!(
            "y has {} columns, but the network produces {out}",
            y.ncols()
        ));
    }
    if cfg.epochs == 0 || cfg.batch_size == 0 {
        return Err(arg_err!("epochs and batch_size must be at least 1"));
    }
    Ok(())
}

/// Trains `net` on rows of `x` against rows of `y`.
pub fn fit<T: Scalar>(
    net: &mut Network<T>,
    x: ArrayView2<T>,
    y: ArrayView2<T>,
    loss: Loss,
    optimizer: &mut Optimizer<T>,
    cfg: &TrainConfig,
    observer: &mut dyn FnMut(Event) -> Control,
) -> Result<FitReport> {
    check_data(net, &x, &y, cfg)?;
    let n = x.nrows();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut target = Array2::<T>::zeros((0, 0));
    let mut losses = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        if cfg.shuffle {
            order.shuffle(&mut rng);
        }
        let mut epoch_loss = 0.0;
        for (b, rows) in order.chunks(cfg.batch_size).enumerate() {
            net.load_rows(x, rows);
            ensure_shape(&mut target, rows.len(), y.ncols());
            for (mut dst, &r) in target.axis_iter_mut(Axis(0)).zip(rows) {
                dst.assign(&y.row(r));
            }
            net.forward_loaded();
            let batch_loss = net.loss_backward(loss, target.view())?;
            optimizer.step(net.layers_mut())?;
            // Mean losses: weight each batch by its rows, so the epoch's loss
            // is the mean over all its samples. Sum losses just add up.
            epoch_loss += if loss.is_sum() {
                batch_loss
            } else {
                batch_loss * rows.len() as f64 / n as f64
            };
            let batch = b + 1;
            if observer(Event::BatchEnd { epoch, batch }) == Control::Stop {
                return Ok(FitReport {
                    losses,
                    status: FitStatus::Stopped { epoch, batch },
                });
            }
        }
        losses.push(epoch_loss);
        if observer(Event::EpochEnd {
            epoch,
            loss: epoch_loss,
        }) == Control::Stop
        {
            let batch = n.div_ceil(cfg.batch_size);
            return Ok(FitReport {
                losses,
                status: FitStatus::Stopped { epoch, batch },
            });
        }
    }
    Ok(FitReport {
        losses,
        status: FitStatus::Completed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerSpec;
    use crate::optim::OptimizerConfig;
    use ndarray::array;

    /// Tutorial 001's XOR network: Linear(2,2) - Tanh - Linear(2,2), SGD on
    /// total squared error, targets one-hot.
    fn xor_net() -> Network<f64> {
        let specs: Vec<LayerSpec> = [("linear", 2, 2), ("tanh", 0, 0), ("linear", 2, 2)]
            .iter()
            .map(|&(k, i, o)| LayerSpec::from_parts(k, i, o).unwrap())
            .collect();
        let mut net = Network::new(&specs).unwrap();
        net.set_param(0, "weight", &[0.5, -0.3, 0.8, 0.2]).unwrap();
        net.set_param(0, "bias", &[0.1, -0.1]).unwrap();
        net.set_param(2, "weight", &[-0.4, 0.6, 0.3, -0.7]).unwrap();
        net
    }

    fn xor_data() -> (Array2<f64>, Array2<f64>) {
        (
            array![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
            array![[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]],
        )
    }

    fn sgd(lr: f64) -> Optimizer<f64> {
        Optimizer::new(OptimizerConfig::Sgd {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        })
        .unwrap()
    }

    #[test]
    fn xor_is_learned() {
        let (x, y) = xor_data();
        let mut net = xor_net();
        let cfg = TrainConfig {
            epochs: 2000,
            batch_size: 4,
            shuffle: false,
            seed: 1,
        };
        let report = fit(
            &mut net,
            x.view(),
            y.view(),
            Loss::Sse,
            &mut sgd(0.05),
            &cfg,
            &mut |_| Control::Continue,
        )
        .unwrap();
        assert_eq!(report.status, FitStatus::Completed);
        assert_eq!(report.losses.len(), 2000);
        assert!(
            report.losses[1999] < 0.01,
            "final loss {}",
            report.losses[1999]
        );
        let pred = net.predict(x.view()).unwrap();
        for i in 0..4 {
            let guess = if pred[[i, 1]] > pred[[i, 0]] {
                1.0
            } else {
                0.0
            };
            assert_eq!(guess, y[[i, 1]]);
        }
    }

    #[test]
    fn same_seed_same_result_and_observer_can_stop() {
        let (x, y) = xor_data();
        let cfg = TrainConfig {
            epochs: 50,
            batch_size: 3,
            shuffle: true,
            seed: 42,
        };
        let run = || {
            let mut net = xor_net();
            let r = fit(
                &mut net,
                x.view(),
                y.view(),
                Loss::Mse,
                &mut sgd(0.1),
                &cfg,
                &mut |_| Control::Continue,
            )
            .unwrap();
            (r.losses, net.predict(x.view()).unwrap())
        };
        assert_eq!(run(), run());
        let mut net = xor_net();
        let mut seen = 0;
        let report = fit(
            &mut net,
            x.view(),
            y.view(),
            Loss::Mse,
            &mut sgd(0.1),
            &cfg,
            &mut |e| {
                seen += 1;
                if matches!(e, Event::BatchEnd { epoch: 3, batch: 1 }) {
                    Control::Stop
                } else {
                    Control::Continue
                }
            },
        )
        .unwrap();
        assert_eq!(report.status, FitStatus::Stopped { epoch: 3, batch: 1 });
        assert_eq!(report.losses.len(), 2);
        // Epochs 1-2: two batches and an epoch end each; then one batch.
        assert_eq!(seen, 7);
    }

    #[test]
    fn epoch_loss_is_the_mean_over_samples() {
        // With lr tiny, the weights barely move, so the epoch's loss must
        // equal the full-batch loss of the initial network.
        let (x, y) = xor_data();
        let mut net = xor_net();
        let p = net.predict(x.view()).unwrap();
        let full = Loss::Mse.value_and_grad(p.view(), y.view(), None).unwrap();
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: 3,
            shuffle: false,
            seed: 0,
        };
        let r = fit(
            &mut net,
            x.view(),
            y.view(),
            Loss::Mse,
            &mut sgd(1e-12),
            &cfg,
            &mut |_| Control::Continue,
        )
        .unwrap();
        assert!((r.losses[0] - full).abs() < 1e-9);
    }

    #[test]
    fn bad_data_is_an_error() {
        let (x, y) = xor_data();
        let mut net = xor_net();
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: 2,
            shuffle: false,
            seed: 0,
        };
        let mut go = |_: Event| Control::Continue;
        let short = y.slice(ndarray::s![0..3, ..]);
        let err = fit(
            &mut net,
            x.view(),
            short,
            Loss::Mse,
            &mut sgd(0.1),
            &cfg,
            &mut go,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "x has 4 rows but y has 3");
        let wide = Array2::<f64>::zeros((4, 3));
        assert!(fit(
            &mut net,
            x.view(),
            wide.view(),
            Loss::Mse,
            &mut sgd(0.1),
            &cfg,
            &mut go
        )
        .is_err());
        let zero = TrainConfig {
            batch_size: 0,
            ..cfg
        };
        assert!(fit(
            &mut net,
            x.view(),
            y.view(),
            Loss::Mse,
            &mut sgd(0.1),
            &zero,
            &mut go
        )
        .is_err());
    }
}
