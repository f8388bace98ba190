//! The training loop: per epoch, shuffle; per mini-batch, gather rows,
//! forward, loss, backward, optimizer step; after the epoch, figures and
//! the callbacks' decisions. Read [`Session::run`] next to tutorial 002's
//! `SGD()` and `update_mini_batch()`: same steps, vectorized.
//!
//! A [`Session`] holds everything one `fit()` carries between batches, so
//! the loop can pause at any batch's or epoch's end, hand control back to
//! the host (which runs its own callbacks there, in its own context, and
//! may change the weights) and go on where it stopped. [`fit`] runs a
//! session from start to end.

use crate::callbacks::{EarlyStopping, EpochRules, Schedule};
use crate::dataset::{SampleView, Samples};
use crate::error::{arg_err, shape_err, Result};
use crate::kind::Mode;
use crate::lbfgs;
use crate::loss::{Loss, Objective, RunningLoss};
use crate::matrix::{ensure_shape, gather_rows};
use crate::metrics::{Metric, Tally};
use crate::network::Network;
use crate::optim::{Optimizer, OptimizerConfig, OptimizerState};
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use crate::track::{self, TensorRecord, Tracking};
use ndarray::{Array2, ArrayView1, ArrayView2, CowArray, Ix1, Ix2};
use rand::rngs::StdRng;
use rand::SeedableRng;

#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub shuffle: bool,
    /// Seeds the shuffling and the dropout masks; the R side draws it from
    /// R's RNG.
    pub seed: u64,
    /// Figures reported beside the loss, on the training batches as they
    /// go (as Keras does) and on the validation data at each epoch's end.
    pub metrics: Vec<Metric>,
    pub early_stopping: Option<EarlyStopping>,
    pub schedule: Option<Schedule>,
    /// Records weights and gradients at every epoch's end (see
    /// [`crate::track`] and `FitReport::tracked`); `None` records nothing.
    pub track: Option<Tracking>,
}

impl TrainConfig {
    /// Plain training: no metrics, no early stopping, a constant rate.
    pub fn new(epochs: usize, batch_size: usize, shuffle: bool, seed: u64) -> Self {
        TrainConfig {
            epochs,
            batch_size,
            shuffle,
            seed,
            metrics: Vec::new(),
            early_stopping: None,
            schedule: None,
            track: None,
        }
    }
}

/// The data of one `fit()`: rows of `x` against rows of `y`, optional
/// per-row loss weights, optional validation data.
#[derive(Debug, Clone)]
pub struct TrainData<'a, T> {
    pub x: SampleView<'a, T>,
    pub y: ArrayView2<'a, T>,
    pub weights: Option<ArrayView1<'a, T>>,
    pub validation: Option<(SampleView<'a, T>, ArrayView2<'a, T>)>,
}

impl<'a, T> TrainData<'a, T> {
    pub fn new(x: ArrayView2<'a, T>, y: ArrayView2<'a, T>) -> Self {
        TrainData {
            x: x.into(),
            y,
            weights: None,
            validation: None,
        }
    }
}

/// The data a [`Session`] trains on: borrowed from the caller (the whole
/// `fit()` in one call) or owned (a session the host keeps between calls).
#[derive(Debug, Clone)]
pub struct TrainSet<'a, T> {
    pub x: Samples<'a, T>,
    pub y: CowArray<'a, T, Ix2>,
    pub weights: Option<CowArray<'a, T, Ix1>>,
    pub validation: Option<(Samples<'a, T>, CowArray<'a, T, Ix2>)>,
}

impl<'a, T: Scalar> From<&TrainData<'a, T>> for TrainSet<'a, T> {
    fn from(d: &TrainData<'a, T>) -> Self {
        TrainSet {
            x: d.x.into(),
            y: d.y.into(),
            weights: d.weights.map(Into::into),
            validation: d.validation.map(|(vx, vy)| (vx.into(), vy.into())),
        }
    }
}

impl<T: Scalar> TrainSet<'_, T> {
    fn views(&self) -> TrainData<'_, T> {
        TrainData {
            x: self.x.view(),
            y: self.y.view(),
            weights: self.weights.as_ref().map(|w| w.view()),
            validation: self
                .validation
                .as_ref()
                .map(|(vx, vy)| (vx.view(), vy.view())),
        }
    }
}

/// What the training loop reports; epochs and batches count from 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// `loss` is the mean loss of the epoch's batches so far.
    BatchEnd {
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: f64,
    },
    /// `figures` is the epoch's row of the history (see `FitReport::columns`).
    EpochEnd { epoch: usize, figures: &'a [f64] },
}

/// The observer's answer to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// End training here, keeping the weights of this batch.
    Stop,
    /// Return from [`Session::run`]; the next call goes on from here.
    Pause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitStatus {
    Completed,
    /// The observer (or the host, after a pause) stopped training after
    /// this batch; its weights are kept.
    Stopped {
        epoch: usize,
        batch: usize,
    },
    /// Early stopping ended training after this epoch.
    EarlyStopped {
        epoch: usize,
    },
    /// The loss (or a weight) became NaN or infinite in this batch; the
    /// network holds the weights of the start of that epoch.
    NonFinite {
        epoch: usize,
        batch: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// Names of the per-epoch figures: "loss", the metrics, "val_loss" and
    /// the validation metrics (with validation data), and "lr".
    pub columns: Vec<String>,
    /// One row of figures per completed epoch.
    pub history: Vec<Vec<f64>>,
    pub status: FitStatus,
    /// The epoch whose weights early stopping put back at the end, if any.
    pub restored_epoch: Option<usize>,
    /// With `TrainConfig::track`: for every epoch with a row in `history`
    /// (the epochs that ran to their end, whatever stopped training), each
    /// trained parameter's values at the epoch's end and its gradient from
    /// the epoch's last mini-batch. Restoring the best weights does not
    /// change the records: they are the weights each epoch ended with.
    pub tracked: Vec<TensorRecord>,
}

impl FitReport {
    /// One figure over all epochs, e.g. `column("loss")`.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let j = self.columns.iter().position(|c| c == name)?;
        Some(self.history.iter().map(|row| row[j]).collect())
    }
}

fn check_data<T: Scalar>(
    net: &Network<T>,
    data: &TrainData<'_, T>,
    loss: &Objective,
    optimizer: &OptimizerConfig,
    cfg: &TrainConfig,
) -> Result<()> {
    let check_pair = |x: &SampleView<T>, y: &ArrayView2<T>, what: &str| -> Result<()> {
        if x.nrows() == 0 {
            return Err(shape_err!("{what}x has no rows"));
        }
        if x.nrows() != y.nrows() {
            return Err(shape_err!(
                "{what}x has {} rows but {what}y has {}",
                x.nrows(),
                y.nrows()
            ));
        }
        if let Some(d) = net.input_dim() {
            if d != x.ncols() {
                return Err(shape_err!(
                    "{what}x has {} columns, but the network expects {d}",
                    x.ncols()
                ));
            }
        }
        // A loss written in R takes targets of any width: it checks them.
        let Objective::Builtin(loss) = loss else {
            return Ok(());
        };
        let want = loss.target_cols(net.output_dim(x.ncols()));
        if y.ncols() != want {
            return Err(shape_err!(
                "{what}y has {} columns, but the {} loss needs {want} for this network",
                y.ncols(),
                loss.name()
            ));
        }
        Ok(())
    };
    check_pair(&data.x, &data.y, "")?;
    if u32::try_from(data.x.nrows()).is_err() {
        return Err(arg_err!(
            "a fit() takes at most {} rows, not {}",
            u32::MAX,
            data.x.nrows()
        ));
    }
    if let Some((vx, vy)) = &data.validation {
        check_pair(vx, vy, "validation ")?;
    }
    if let Some(w) = &data.weights {
        if w.len() != data.x.nrows() {
            return Err(shape_err!(
                "there are {} row weights for {} rows",
                w.len(),
                data.x.nrows()
            ));
        }
    }
    if cfg.epochs == 0 || cfg.batch_size == 0 {
        return Err(arg_err!("epochs and batch_size must be at least 1"));
    }
    if let OptimizerConfig::Lbfgs(_) = optimizer {
        if cfg.batch_size < data.x.nrows() {
            return Err(arg_err!(
                "L-BFGS trains on all the rows at once: batch_size must be at least {}, the number of rows, not {}",
                data.x.nrows(),
                cfg.batch_size
            ));
        }
    }
    if let Some(t) = &cfg.track {
        t.validate()?;
    }
    Ok(())
}

/// The value of `loss` on predictions, without a gradient.
#[cfg(test)]
fn loss_value<T: Scalar>(loss: Loss, pred: ArrayView2<T>, target: ArrayView2<T>) -> Result<f64> {
    loss.value_and_grad(pred, target, None, None)
}

/// Names of the history's columns (and of the figures of `Event::EpochEnd`).
pub fn history_columns(metrics: &[Metric], validation: bool) -> Vec<String> {
    let mut cols = vec!["loss".to_string()];
    cols.extend(metrics.iter().map(|m| m.name().to_string()));
    if validation {
        cols.push("val_loss".into());
        cols.extend(metrics.iter().map(|m| format!("val_{}", m.name())));
    }
    cols.push("lr".into());
    cols
}

/// Weights and optimizer state at one moment, kept to go back to.
#[derive(Debug, Clone, Default)]
struct Checkpoint<T> {
    params: Vec<Vec<T>>,
    state: OptimizerState<T>,
}

impl<T: Scalar> Checkpoint<T> {
    fn take(&mut self, net: &Network<T>, opt: &Optimizer<T>) {
        net.copy_params(&mut self.params);
        self.state.clone_from(&opt.state);
    }

    fn restore(&self, net: &mut Network<T>, opt: Option<&mut Optimizer<T>>) {
        net.restore_params(&self.params);
        if let Some(opt) = opt {
            opt.state.clone_from(&self.state);
        }
    }
}

/// Loss and metrics of the network on the validation data, in inference mode.
fn validate<T: Scalar>(
    net: &mut Network<T>,
    (x, y): (SampleView<T>, ArrayView2<T>),
    loss: &Objective,
    tally: &mut Tally,
    figures: &mut Vec<f64>,
) -> Result<()> {
    let pred = net.predict_samples(x, &mut || false)?;
    figures.push(loss.value(pred.view(), y)? + net.penalty());
    tally.reset();
    tally.add(pred.view(), y)?;
    figures.extend(tally.values());
    Ok(())
}

/// One `fit()` in progress: its data, optimizer, callbacks, where it is
/// (epoch, batch) and what it has reported so far.
#[derive(Debug)]
pub struct Session<'a, T: Scalar> {
    data: TrainSet<'a, T>,
    loss: Objective,
    pub optimizer: Optimizer<T>,
    cfg: TrainConfig,
    rules: EpochRules,
    shuffler: StdRng,
    /// The epoch's order of the rows, as `u32` (half the memory of
    /// `usize` on a data set of 10^7 rows), and the current batch's rows.
    order: Vec<u32>,
    batch_rows: Vec<usize>,
    /// The epoch under way (from 1), and how many of its batches are done.
    epoch: usize,
    batch: usize,
    batches: usize,
    epoch_loss: RunningLoss,
    tally: Tally,
    val_tally: Tally,
    target: Array2<T>,
    batch_weights: Vec<T>,
    /// The weights the current epoch started with (the ones a NaN goes back
    /// to), and the best epoch's, for early stopping.
    last_good: Checkpoint<T>,
    best: Checkpoint<T>,
    /// The last epoch was the best so far: take its weights as they are
    /// when training goes on (after the host's callbacks had their say).
    best_pending: bool,
    finished: bool,
    report: FitReport,
}

impl<'a, T: Scalar> Session<'a, T> {
    /// Checks the data against the network and prepares the first epoch.
    pub fn new(
        net: &mut Network<T>,
        data: TrainSet<'a, T>,
        loss: impl Into<Objective>,
        optimizer: Optimizer<T>,
        cfg: TrainConfig,
    ) -> Result<Self> {
        let loss = loss.into();
        check_data(net, &data.views(), &loss, &optimizer.config, &cfg)?;
        let n = data.x.view().nrows();
        let columns = history_columns(&cfg.metrics, data.validation.is_some());
        let rules = EpochRules::new(
            cfg.early_stopping.as_ref(),
            cfg.schedule.as_ref(),
            &columns,
            optimizer.config.lr(),
        )?;
        let tally = Tally::new(&cfg.metrics, net.output_dim(data.x.view().ncols()))?;
        // A stream of its own for dropout, so adding dropout does not change
        // the order the rows are visited in.
        net.rng = StdRng::seed_from_u64(cfg.seed ^ 0x9E37_79B9_7F4A_7C15);
        Ok(Session {
            epoch_loss: RunningLoss::new(&loss),
            loss,
            rules,
            shuffler: StdRng::seed_from_u64(cfg.seed),
            order: (0..n as u32).collect(),
            batch_rows: Vec::new(),
            epoch: 1,
            batch: 0,
            batches: n.div_ceil(cfg.batch_size),
            val_tally: tally.clone(),
            tally,
            target: Array2::zeros((0, 0)),
            batch_weights: Vec::new(),
            last_good: Checkpoint::default(),
            best: Checkpoint::default(),
            best_pending: false,
            finished: false,
            report: FitReport {
                history: Vec::with_capacity(cfg.epochs),
                columns,
                status: FitStatus::Completed,
                restored_epoch: None,
                tracked: Vec::new(),
            },
            data,
            optimizer,
            cfg,
        })
    }

    /// Trains until the end, or until the observer says stop or pause.
    /// After a pause, call again to go on (the network may have been changed
    /// in between: the next batch uses its weights as they are).
    pub fn run(
        &mut self,
        net: &mut Network<T>,
        observer: &mut dyn FnMut(Event) -> Control,
    ) -> Result<()> {
        while !self.finished {
            if self.batch == 0 {
                self.start_epoch(net);
            }
            while self.batch < self.batches {
                let Some(loss_so_far) = self.train_batch(net)? else {
                    return Ok(()); // not finite: finished
                };
                let event = Event::BatchEnd {
                    epoch: self.epoch,
                    batch: self.batch,
                    batches: self.batches,
                    loss: loss_so_far,
                };
                if self.ends_run(observer(event)) {
                    return Ok(());
                }
            }
            let Some(figures) = self.end_epoch(net)? else {
                return Ok(()); // not finite: finished
            };
            let event = Event::EpochEnd {
                epoch: self.epoch - 1,
                figures: &figures,
            };
            if self.ends_run(observer(event)) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Heeds the observer's answer: true if this run ends here.
    fn ends_run(&mut self, answer: Control) -> bool {
        match answer {
            Control::Continue => false,
            Control::Stop => {
                self.stop();
                true
            }
            Control::Pause => true,
        }
    }

    /// Whether training has ended (then [`Session::finish`] gives the report).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The report so far: the history of the epochs done.
    pub fn report(&self) -> &FitReport {
        &self.report
    }

    /// Ends training where it is (after a pause), keeping the weights.
    pub fn stop(&mut self) {
        let (epoch, batch) = if self.batch == 0 {
            (self.epoch - 1, self.batches)
        } else {
            (self.epoch, self.batch)
        };
        self.report.status = FitStatus::Stopped { epoch, batch };
        self.finished = true;
    }

    /// Ends the session: early stopping's best weights put back (unless
    /// training was stopped by the observer or the host), and the report.
    pub fn finish(mut self, net: &mut Network<T>) -> (FitReport, Optimizer<T>) {
        self.finished = true;
        let stopped = matches!(self.report.status, FitStatus::Stopped { .. });
        if let Some(epoch) = self.rules.epoch_to_restore(self.report.history.len()) {
            if !stopped {
                self.best.restore(net, None);
                self.report.restored_epoch = Some(epoch);
            }
        }
        (self.report, self.optimizer)
    }

    fn start_epoch(&mut self, net: &Network<T>) {
        self.last_good.take(net, &self.optimizer);
        if self.best_pending {
            self.best.clone_from(&self.last_good);
            self.best_pending = false;
        }
        let lr = self.rules.lr_for(self.epoch);
        self.optimizer.config = self.optimizer.config.with_lr(lr);
        if self.cfg.shuffle {
            self.data
                .x
                .view()
                .shuffled_order(&mut self.order, &mut self.shuffler);
        }
        self.tally.reset();
        self.epoch_loss = RunningLoss::new(&self.loss);
    }

    /// One mini-batch: forward, loss, backward, step. The epoch's loss so
    /// far, or `None` if the loss was not finite (training then ends with
    /// the weights the epoch started with).
    fn train_batch(&mut self, net: &mut Network<T>) -> Result<Option<f64>> {
        let size = self.cfg.batch_size;
        let start = self.batch * size;
        self.batch_rows.clear();
        let end = (start + size).min(self.order.len());
        self.batch_rows
            .extend(self.order[start..end].iter().map(|&r| r as usize));
        let rows = &self.batch_rows[..];
        let n_rows = rows.len();
        let data = self.data.views();
        net.load_samples(data.x, rows)?;
        ensure_shape(&mut self.target, rows.len(), data.y.ncols())?;
        gather_rows(data.y, rows, self.target.view_mut(), &Parallel::default());
        let weights = data.weights.map(|w| {
            // Reuses one buffer: nothing is allocated per batch.
            self.batch_weights.clear();
            self.batch_weights.extend(rows.iter().map(|&r| w[r]));
            ArrayView1::from(&self.batch_weights[..])
        });
        let (loss, target) = (&self.loss, self.target.view());
        let mut evaluate = |net: &mut Network<T>| -> Result<f64> {
            net.forward_loaded(Mode::Train)?;
            Ok(net.objective_backward(loss, target, weights)? + net.penalty())
        };
        // L-BFGS's step evaluates the batch (all the rows) as often as it
        // needs, and ends with an evaluation at the new weights: its figures
        // are those after the step. Other optimizers step from one gradient,
        // their figures are those before.
        let lbfgs = match self.optimizer.config {
            OptimizerConfig::Lbfgs(cfg) => Some(cfg),
            _ => None,
        };
        let batch_loss = match &lbfgs {
            Some(cfg) => lbfgs::step(&mut self.optimizer, cfg, net, &mut evaluate)?,
            None => evaluate(net)?,
        };
        self.batch += 1;
        if !batch_loss.is_finite() {
            self.end_non_finite(net);
            return Ok(None);
        }
        self.tally.add(net.output(), self.target.view())?;
        if lbfgs.is_none() {
            let (layers, par) = net.layers_and_threads();
            self.optimizer.step_with(layers, par)?;
        }
        self.epoch_loss.add(batch_loss, n_rows);
        Ok(Some(self.epoch_loss.value()))
    }

    /// The epoch's row of figures, recorded, and the callbacks' decisions;
    /// `None` if a weight is not finite (training then ends).
    fn end_epoch(&mut self, net: &mut Network<T>) -> Result<Option<Vec<f64>>> {
        if !net.params_finite() {
            self.end_non_finite(net);
            return Ok(None);
        }
        let epoch = self.epoch;
        // The epoch gets a row of the history whatever follows: record it
        // here, where the layers hold the last batch's gradients.
        if let Some(t) = &self.cfg.track {
            track::record(net, epoch, t, &mut self.report.tracked);
        }
        let mut figures = Vec::with_capacity(self.report.columns.len());
        figures.push(self.epoch_loss.value());
        figures.extend(self.tally.values());
        if let Some(v) = self.data.views().validation {
            validate(net, v, &self.loss, &mut self.val_tally, &mut figures)?;
        }
        figures.push(self.optimizer.config.lr());
        let decision = self.rules.after_epoch(&figures, epoch);
        self.best_pending = decision.keep_as_best;
        self.report.history.push(figures.clone());
        self.epoch += 1;
        self.batch = 0;
        if decision.stop {
            self.report.status = FitStatus::EarlyStopped { epoch };
            self.finished = true;
        } else if epoch == self.cfg.epochs {
            self.finished = true;
        }
        if self.finished && self.best_pending {
            self.best.take(net, &self.optimizer);
        }
        Ok(Some(figures))
    }

    fn end_non_finite(&mut self, net: &mut Network<T>) {
        self.last_good.restore(net, Some(&mut self.optimizer));
        self.report.status = FitStatus::NonFinite {
            epoch: self.epoch,
            batch: self.batch,
        };
        self.finished = true;
    }
}

/// Trains `net` on `data`: the whole loop, epochs to batches to steps, in
/// one call (a pause from the observer is taken as going on).
pub fn fit<T: Scalar>(
    net: &mut Network<T>,
    data: &TrainData<'_, T>,
    loss: Loss,
    optimizer: &mut Optimizer<T>,
    cfg: &TrainConfig,
    observer: &mut dyn FnMut(Event) -> Control,
) -> Result<FitReport> {
    let mut session = Session::new(net, data.into(), loss, optimizer.clone(), cfg.clone())?;
    while !session.is_finished() {
        session.run(net, observer)?;
    }
    let (report, trained) = session.finish(net);
    *optimizer = trained;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{LayerOptions, LayerSpec};
    use ndarray::array;

    fn specs(parts: &[(&str, usize, usize)]) -> Vec<LayerSpec> {
        parts
            .iter()
            .map(|&(k, i, o)| LayerSpec::from_parts(k, i, o).unwrap())
            .collect()
    }

    /// Tutorial 001's XOR network: Linear(2,2) - Tanh - Linear(2,2), SGD on
    /// total squared error, targets one-hot.
    fn xor_net() -> Network<f64> {
        let mut net = Network::new(
            &specs(&[("linear", 2, 2), ("tanh", 0, 0), ("linear", 2, 2)]),
            None,
        )
        .unwrap();
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

    fn go(_: Event) -> Control {
        Control::Continue
    }

    fn run(
        net: &mut Network<f64>,
        data: &TrainData<'_, f64>,
        loss: Loss,
        lr: f64,
        cfg: &TrainConfig,
    ) -> FitReport {
        fit(net, data, loss, &mut sgd(lr), cfg, &mut go).unwrap()
    }

    #[test]
    fn xor_is_learned() {
        let (x, y) = xor_data();
        let mut net = xor_net();
        let cfg = TrainConfig::new(2000, 4, false, 1);
        let report = run(
            &mut net,
            &TrainData::new(x.view(), y.view()),
            Loss::Sse,
            0.05,
            &cfg,
        );
        assert_eq!(report.status, FitStatus::Completed);
        let losses = report.column("loss").unwrap();
        assert_eq!(losses.len(), 2000);
        assert!(losses[1999] < 0.01, "final loss {}", losses[1999]);
        assert_eq!(report.column("lr").unwrap()[1999], 0.05);
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
        let cfg = TrainConfig::new(50, 3, true, 42);
        let data = TrainData::new(x.view(), y.view());
        let once = || {
            let mut net = xor_net();
            let r = run(&mut net, &data, Loss::Mse, 0.1, &cfg);
            (r.history, net.predict(x.view()).unwrap())
        };
        assert_eq!(once(), once());
        let mut net = xor_net();
        let mut seen = 0;
        let report = fit(&mut net, &data, Loss::Mse, &mut sgd(0.1), &cfg, &mut |e| {
            seen += 1;
            match e {
                Event::BatchEnd {
                    epoch: 3, batch: 1, ..
                } => Control::Stop,
                _ => Control::Continue,
            }
        })
        .unwrap();
        assert_eq!(report.status, FitStatus::Stopped { epoch: 3, batch: 1 });
        assert_eq!(report.history.len(), 2);
        // Epochs 1-2: two batches and an epoch end each; then one batch.
        assert_eq!(seen, 7);
    }

    /// A session paused at every batch and epoch end (as the host pauses
    /// it for R callbacks and progress) trains exactly as one run does, and
    /// the host can change the weights and stop where it paused.
    #[test]
    fn a_paused_session_goes_on_where_it_stopped() {
        let (x, y) = xor_data();
        let mut cfg = TrainConfig::new(6, 3, true, 9);
        cfg.early_stopping = Some(EarlyStopping {
            monitor: "loss".into(),
            patience: 10,
            min_delta: 0.0,
            restore_best: true,
        });
        let data = TrainData::new(x.view(), y.view());
        let mut straight = xor_net();
        let expected = run(&mut straight, &data, Loss::Mse, 0.1, &cfg);

        let session_on = |net: &mut Network<f64>| {
            Session::new(net, (&data).into(), Loss::Mse, sgd(0.1), cfg.clone()).unwrap()
        };
        let mut net = xor_net();
        let mut session = session_on(&mut net);
        let mut pauses = 0;
        while !session.is_finished() {
            session.run(&mut net, &mut |_| Control::Pause).unwrap();
            pauses += 1;
        }
        // Two batches and an epoch end per epoch.
        assert_eq!(pauses, 6 * 3);
        let (report, _) = session.finish(&mut net);
        assert_eq!(report, expected);
        assert_eq!(
            net.predict(x.view()).unwrap(),
            straight.predict(x.view()).unwrap()
        );

        // Weights changed during a pause stay when the host stops there.
        let mut net = xor_net();
        let mut session = session_on(&mut net);
        let mut epochs = 0;
        while epochs < 2 {
            session
                .run(&mut net, &mut |e| match e {
                    Event::EpochEnd { .. } => Control::Pause,
                    _ => Control::Continue,
                })
                .unwrap();
            epochs += 1;
        }
        let mut halved = Vec::new();
        net.copy_params(&mut halved);
        halved.iter_mut().flatten().for_each(|v| *v *= 0.5);
        net.restore_params(&halved);
        session.stop();
        assert!(session.is_finished());
        let (report, _) = session.finish(&mut net);
        assert_eq!(report.status, FitStatus::Stopped { epoch: 2, batch: 2 });
        assert_eq!(report.history.len(), 2);
        let mut after = Vec::new();
        net.copy_params(&mut after);
        assert_eq!(after, halved);
    }

    #[test]
    fn epoch_loss_is_the_mean_over_samples() {
        // With lr tiny, the weights barely move, so the epoch's loss must
        // equal the full-batch loss of the initial network.
        let (x, y) = xor_data();
        let mut net = xor_net();
        let p = net.predict(x.view()).unwrap();
        let full = loss_value(Loss::Mse, p.view(), y.view()).unwrap();
        let cfg = TrainConfig::new(1, 3, false, 0);
        let r = run(
            &mut net,
            &TrainData::new(x.view(), y.view()),
            Loss::Mse,
            1e-12,
            &cfg,
        );
        assert!((r.history[0][0] - full).abs() < 1e-9);
    }

    /// Two well separated blobs, labelled by the sign of x1 + x2.
    fn blobs(n: usize) -> (Array2<f64>, Array2<f64>) {
        let x = Array2::from_shape_fn((n, 2), |(i, j)| {
            let t = (i * 7 + j * 3) as f64;
            let side = if i % 2 == 0 { 1.0 } else { -1.0 };
            side + 0.3 * (t * 0.37).sin()
        });
        let y = Array2::from_shape_fn((n, 1), |(i, _)| if i % 2 == 0 { 1.0 } else { 0.0 });
        (x, y)
    }

    fn logistic() -> Network<f64> {
        Network::new(&specs(&[("linear", 2, 1), ("sigmoid", 0, 0)]), None).unwrap()
    }

    /// Two features and a 0/1 target that no line separates (a noisy
    /// threshold): logistic regression has a finite optimum.
    fn overlapping(n: usize) -> (Array2<f64>, Array2<f64>) {
        let x = Array2::from_shape_fn((n, 2), |(i, j)| ((i * 3 + j * 7) as f64 * 0.91).sin());
        let y = Array2::from_shape_fn((n, 1), |(i, _)| {
            let noise = (i as f64 * 2.3).cos();
            f64::from(x[[i, 0]] - 0.5 * x[[i, 1]] + 0.8 * noise > 0.0)
        });
        (x, y)
    }

    fn lbfgs() -> Optimizer<f64> {
        Optimizer::new(OptimizerConfig::Lbfgs(crate::Lbfgs::default_with(true))).unwrap()
    }

    /// Full-batch L-BFGS fits of a logistic regression: the report and the
    /// network's final weights.
    fn lbfgs_fit(
        net: &mut Network<f64>,
        opt: &mut Optimizer<f64>,
        epochs: usize,
        shuffle: bool,
    ) -> FitReport {
        let (x, y) = overlapping(60);
        let data = TrainData::new(x.view(), y.view());
        let cfg = TrainConfig::new(epochs, 60, shuffle, 7);
        fit(net, &data, Loss::Bce, opt, &cfg, &mut go).unwrap()
    }

    #[test]
    fn lbfgs_reaches_the_optimum_of_a_logistic_regression() {
        let mut net = logistic();
        let mut opt = lbfgs();
        let r = lbfgs_fit(&mut net, &mut opt, 5, true);
        let losses = r.column("loss").unwrap();
        assert_eq!(losses.len(), 5);
        assert!(
            losses.windows(2).all(|w| w[1] <= w[0] + 1e-12),
            "{losses:?}"
        );
        // At the optimum the gradient of the mean loss vanishes.
        let (x, y) = overlapping(60);
        net.forward(x.view(), Mode::Train).unwrap();
        let loss = net.loss_backward(Loss::Bce, y.view(), None).unwrap();
        assert!((loss - losses[4]).abs() < 1e-9, "{loss} {losses:?}");
        let grads = param_values(&net, true);
        for (_, name, g) in grads {
            assert!(g.iter().all(|v| v.abs() < 1e-6), "{name}: {g:?}");
        }
        // Iterations are counted as steps; the history buffers are kept.
        assert!(opt.state.steps > 5);
        let slots = 2 * 100 + 2;
        assert_eq!(opt.state.slots.len(), 2 * slots);
    }

    #[test]
    fn lbfgs_is_the_same_on_any_threads_and_resumes_exactly() {
        let trained = |threads: usize, epochs: &[usize]| {
            let mut net = logistic();
            net.parallel.set_threads(threads).unwrap();
            let mut opt = lbfgs();
            let mut history = Vec::new();
            for &e in epochs {
                // The state as the host keeps it between fit() calls.
                let (steps, slots) = opt.export_state();
                opt = lbfgs().with_state(steps, slots);
                history.extend(lbfgs_fit(&mut net, &mut opt, e, false).history);
            }
            (history, param_values(&net, false), opt.state)
        };
        let one = trained(1, &[3]);
        assert_eq!(one, trained(2, &[3]));
        assert_eq!(one, trained(1, &[1, 2]));
    }

    #[test]
    fn lbfgs_needs_the_whole_batch_and_fit() {
        let (x, y) = overlapping(20);
        let data = TrainData::new(x.view(), y.view());
        let cfg = TrainConfig::new(1, 10, false, 0);
        let err = fit(
            &mut logistic(),
            &data,
            Loss::Bce,
            &mut lbfgs(),
            &cfg,
            &mut go,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("batch_size must be at least 20"),
            "{err}"
        );
        let err = lbfgs().step(logistic().layers_mut()).unwrap_err();
        assert!(err.to_string().contains("fit()"), "{err}");
    }

    #[test]
    fn metrics_and_validation_figures_are_reported() {
        let (x, y) = blobs(40);
        let mut data = TrainData::new(x.view(), y.view());
        data.validation = Some((x.view().into(), y.view()));
        let mut cfg = TrainConfig::new(30, 8, true, 5);
        cfg.metrics = vec![Metric::Accuracy, Metric::Auc];
        let mut net = logistic();
        let r = run(&mut net, &data, Loss::Bce, 0.5, &cfg);
        assert_eq!(
            r.columns,
            [
                "loss",
                "accuracy",
                "auc",
                "val_loss",
                "val_accuracy",
                "val_auc",
                "lr"
            ]
        );
        let last = r.history.last().unwrap();
        assert_eq!(last[4], 1.0);
        assert_eq!(last[5], 1.0);
        // The validation loss is the loss of the final weights on that data.
        let p = net.predict(x.view()).unwrap();
        let direct = loss_value(Loss::Bce, p.view(), y.view()).unwrap();
        assert!((last[3] - direct).abs() < 1e-12);
    }

    /// A fit with `cfg` plus early stopping on the validation loss (the
    /// training data) that restores the best weights. Its learning rate is
    /// far too large, so the loss rises after the first epochs: the best
    /// epoch is early and training stops. Returns the network, the report,
    /// the epoch it stopped at and the configuration.
    fn restoring_early_stop(mut cfg: TrainConfig) -> (Network<f64>, FitReport, usize, TrainConfig) {
        let (x, y) = blobs(40);
        let mut data = TrainData::new(x.view(), y.view());
        data.validation = Some((x.view().into(), y.view()));
        cfg.early_stopping = Some(EarlyStopping {
            monitor: "val_loss".into(),
            patience: 3,
            min_delta: 0.0,
            restore_best: true,
        });
        let mut net = Network::new(&specs(&[("linear", 2, 1)]), None).unwrap();
        net.set_param(0, "weight", &[0.1, 0.1]).unwrap();
        let r = run(&mut net, &data, Loss::Mse, 0.9, &cfg);
        let FitStatus::EarlyStopped { epoch } = r.status else {
            panic!("expected an early stop, got {:?}", r.status)
        };
        (net, r, epoch, cfg)
    }

    #[test]
    fn early_stopping_restores_the_best_epoch() {
        let (mut net, r, epoch, mut cfg) =
            restoring_early_stop(TrainConfig::new(200, 40, false, 1));
        let val = r.column("val_loss").unwrap();
        assert_eq!(val.len(), epoch);
        let best = (0..val.len())
            .min_by(|&a, &b| val[a].total_cmp(&val[b]))
            .unwrap();
        assert_eq!(epoch, best + 1 + 3);
        assert_eq!(r.restored_epoch, Some(best + 1));
        let (x, y) = blobs(40);
        let mut data = TrainData::new(x.view(), y.view());
        data.validation = Some((x.view().into(), y.view()));
        let p = net.predict(x.view()).unwrap();
        let now = loss_value(Loss::Mse, p.view(), y.view()).unwrap();
        assert!((now - val[best]).abs() < 1e-12);
        // Monitoring a figure that is not reported is an error.
        cfg.early_stopping.as_mut().unwrap().monitor = "val_accuracy".into();
        assert!(fit(&mut net, &data, Loss::Mse, &mut sgd(0.1), &cfg, &mut go).is_err());
    }

    #[test]
    fn divergence_stops_with_the_last_finite_weights() {
        let (x, y) = blobs(20);
        let x = x.mapv(|v| v * 1e150);
        let mut net = Network::new(&specs(&[("linear", 2, 1)]), None).unwrap();
        net.set_param(0, "weight", &[1.0, 1.0]).unwrap();
        let mut before = Vec::new();
        net.copy_params(&mut before);
        let cfg = TrainConfig::new(10, 5, false, 0);
        let r = run(
            &mut net,
            &TrainData::new(x.view(), y.view()),
            Loss::Mse,
            1.0,
            &cfg,
        );
        assert!(matches!(r.status, FitStatus::NonFinite { epoch: 1, .. }));
        let mut after = Vec::new();
        net.copy_params(&mut after);
        assert_eq!(before, after);
        assert!(r.history.is_empty());
    }

    #[test]
    fn schedules_set_each_epochs_rate() {
        let (x, y) = blobs(20);
        let data = TrainData::new(x.view(), y.view());
        let mut cfg = TrainConfig::new(5, 20, false, 0);
        cfg.schedule = Some(Schedule::Step {
            step_size: 2,
            gamma: 0.1,
        });
        let r = run(&mut logistic(), &data, Loss::Bce, 1.0, &cfg);
        let lr = r.column("lr").unwrap();
        let expected = [1.0, 1.0, 0.1, 0.1, 0.01];
        for (a, b) in lr.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15);
        }
        // A plateau: "loss" of a model that cannot move (lr tiny) never
        // improves by min_delta, so the rate halves every 2 epochs.
        cfg.schedule = Some(Schedule::Plateau {
            monitor: "loss".into(),
            factor: 0.5,
            patience: 2,
            min_delta: 1.0,
            lr_min: 0.0,
        });
        let r = run(&mut logistic(), &data, Loss::Bce, 1e-9, &cfg);
        let lr: Vec<f64> = r.column("lr").unwrap().iter().map(|v| v / 1e-9).collect();
        assert_eq!(lr.len(), 5);
        for (a, b) in lr.iter().zip([1.0, 1.0, 1.0, 0.5, 0.5]) {
            assert!((a - b).abs() < 1e-9, "{lr:?}");
        }
    }

    #[test]
    fn dropout_is_reproducible_and_off_for_prediction() {
        let (x, y) = blobs(40);
        let data = TrainData::new(x.view(), y.view());
        let build = || {
            let opts = LayerOptions {
                rate: Some(0.5),
                ..LayerOptions::default()
            };
            let mut net = Network::<f64>::new(
                &[
                    LayerSpec::from_parts("linear", 2, 8).unwrap(),
                    LayerSpec::new("dropout", 0, 0, &opts).unwrap(),
                    LayerSpec::from_parts("linear", 8, 1).unwrap(),
                ],
                None,
            )
            .unwrap();
            let w: Vec<f64> = (0..16).map(|i| ((i as f64) * 0.7).sin()).collect();
            net.set_param(0, "weight", &w).unwrap();
            net.set_param(2, "weight", &w[..8]).unwrap();
            net
        };
        let cfg = TrainConfig::new(5, 10, true, 11);
        let train = |seed| {
            let mut net = build();
            let cfg = TrainConfig {
                seed,
                ..cfg.clone()
            };
            let r = run(&mut net, &data, Loss::Mse, 0.05, &cfg);
            (r.history, net.predict(x.view()).unwrap())
        };
        assert_eq!(train(11), train(11));
        assert_ne!(train(11).0, train(12).0);
        // Prediction does not drop anything: twice the same answer.
        let mut net = build();
        assert_eq!(
            net.predict(x.view()).unwrap(),
            net.predict(x.view()).unwrap()
        );
    }

    #[test]
    fn l2_penalty_is_in_the_loss_and_its_gradient() {
        let (x, y) = blobs(10);
        let opts = LayerOptions {
            l1: 0.01,
            l2: 0.1,
            ..LayerOptions::default()
        };
        let mut net =
            Network::<f64>::new(&[LayerSpec::new("linear", 2, 1, &opts).unwrap()], None).unwrap();
        net.set_param(0, "weight", &[0.5, -2.0]).unwrap();
        let penalty = 0.01 * 2.5 + 0.1 * 4.25;
        assert!((net.penalty() - penalty).abs() < 1e-15);
        // The epoch's loss with a tiny rate is the data loss plus the penalty.
        let p = net.predict(x.view()).unwrap();
        let data_loss = loss_value(Loss::Mse, p.view(), y.view()).unwrap();
        let cfg = TrainConfig::new(1, 10, false, 0);
        let r = run(
            &mut net,
            &TrainData::new(x.view(), y.view()),
            Loss::Mse,
            1e-12,
            &cfg,
        );
        assert!((r.history[0][0] - (data_loss + penalty)).abs() < 1e-9);
        // Gradient of the penalty: l1 * sign(w) + 2 * l2 * w, beside the data's.
        let mut plain = Network::<f64>::new(&specs(&[("linear", 2, 1)]), None).unwrap();
        plain.set_param(0, "weight", &[0.5, -2.0]).unwrap();
        for n in [&mut net, &mut plain] {
            n.forward(x.view(), Mode::Train).unwrap();
            n.loss_backward(Loss::Mse, y.view(), None).unwrap();
        }
        let g = |n: &Network<f64>| n.layers()[0].params()[0].grad.to_vec();
        let (gn, gp) = (g(&net), g(&plain));
        assert!((gn[0] - gp[0] - (0.01 + 0.2 * 0.5)).abs() < 1e-9);
        assert!((gn[1] - gp[1] - (-0.01 - 0.2 * 2.0)).abs() < 1e-9);
    }

    /// A deep enough network for tracking: two linear layers, with biases.
    fn tracked_net() -> Network<f64> {
        let mut net = Network::new(
            &specs(&[("linear", 2, 3), ("sigmoid", 0, 0), ("linear", 3, 1)]),
            None,
        )
        .unwrap();
        net.set_param(0, "weight", &[0.5, -0.3, 0.8, 0.2, -0.6, 0.1])
            .unwrap();
        net.set_param(2, "weight", &[0.4, -0.7, 0.3]).unwrap();
        net
    }

    fn tracking(epochs: usize, batch_size: usize) -> TrainConfig {
        TrainConfig {
            track: Some(Tracking::default()),
            ..TrainConfig::new(epochs, batch_size, true, 3)
        }
    }

    /// Equal summaries, NaN (the sd of one value) equal to NaN.
    fn same(a: &crate::track::Summary, b: &crate::track::Summary) -> bool {
        let parts = |s: &crate::track::Summary| [s.mean, s.sd, s.mean_abs, s.min, s.max];
        parts(a)
            .iter()
            .zip(parts(b))
            .all(|(x, y)| *x == y || (x.is_nan() && y.is_nan()))
    }

    /// The parameters of `net` as (layer, name, values), in record order.
    fn param_values(net: &Network<f64>, grads: bool) -> Vec<(usize, &'static str, Vec<f64>)> {
        let mut out = Vec::new();
        for (i, l) in net.layers().iter().enumerate() {
            for p in l.params() {
                let v = if grads { p.grad } else { p.data };
                out.push((i, p.name, v.to_vec()));
            }
        }
        out
    }

    #[test]
    fn tracking_records_every_tensor_at_every_epoch() {
        use crate::track::{Kind, Summary};
        let (x, y) = blobs(30);
        let data = TrainData::new(x.view(), y.view());
        let mut net = tracked_net();
        let r = run(&mut net, &data, Loss::Mse, 0.3, &tracking(4, 8));
        // 4 epochs x 4 tensors (2 weights, 2 biases) x (values, gradient).
        assert_eq!(r.tracked.len(), 4 * 4 * 2);
        let keys: Vec<_> = r.tracked[..8]
            .iter()
            .map(|t| (t.epoch, t.layer, t.param, t.kind))
            .collect();
        assert_eq!(
            keys,
            [
                (1, 0, "weight", Kind::Weight),
                (1, 0, "weight", Kind::Gradient),
                (1, 0, "bias", Kind::Weight),
                (1, 0, "bias", Kind::Gradient),
                (1, 2, "weight", Kind::Weight),
                (1, 2, "weight", Kind::Gradient),
                (1, 2, "bias", Kind::Weight),
                (1, 2, "bias", Kind::Gradient),
            ]
        );
        for e in 1..=4 {
            assert_eq!(r.tracked.iter().filter(|t| t.epoch == e).count(), 8);
        }
        // The last epoch's records are the final weights, and the gradients
        // of the last batch, still in the layers.
        let last = &r.tracked[24..];
        let finals = param_values(&net, false);
        let grads = param_values(&net, true);
        for (k, ((layer, name, w), (_, _, g))) in finals.iter().zip(&grads).enumerate() {
            let (wr, gr) = (&last[2 * k], &last[2 * k + 1]);
            assert_eq!((wr.layer, wr.param), (*layer, *name));
            assert!(same(&wr.summary, &Summary::of(w)), "{layer} {name}");
            assert!(same(&gr.summary, &Summary::of(g)), "{layer} {name}");
            assert_eq!(wr.histogram.counts.iter().sum::<u64>(), w.len() as u64);
            let min = w.iter().copied().fold(f64::INFINITY, f64::min);
            assert_eq!(wr.summary.min, min);
        }
        assert_eq!(last[0].histogram.counts.len(), 20);
        // Off: nothing recorded.
        let r = run(
            &mut tracked_net(),
            &data,
            Loss::Mse,
            0.3,
            &TrainConfig::new(4, 8, true, 3),
        );
        assert!(r.tracked.is_empty());
    }

    #[test]
    fn full_batch_epoch_one_gradient_is_the_initial_gradient() {
        let (x, y) = blobs(20);
        // The gradient at the initial weights, by hand.
        let mut by_hand = tracked_net();
        by_hand.forward(x.view(), Mode::Train).unwrap();
        by_hand.loss_backward(Loss::Mse, y.view(), None).unwrap();
        let initial = param_values(&by_hand, true);
        let initial_w = param_values(&by_hand, false);
        // In the same row order: the sums then add up in the same order.
        let cfg = TrainConfig {
            shuffle: false,
            ..tracking(2, 20)
        };
        let mut net = tracked_net();
        let r = run(
            &mut net,
            &TrainData::new(x.view(), y.view()),
            Loss::Mse,
            0.5,
            &cfg,
        );
        let grads: Vec<_> = r
            .tracked
            .iter()
            .filter(|t| t.epoch == 1 && t.kind == crate::track::Kind::Gradient)
            .collect();
        assert_eq!(grads.len(), initial.len());
        for (rec, (_, name, g)) in grads.iter().zip(&initial) {
            assert_eq!(rec.param, *name);
            let want = crate::track::Summary::of(g);
            assert!(same(&rec.summary, &want), "{name}");
            let h = crate::track::Histogram::of(g, want.min, want.max, 20);
            assert_eq!(rec.histogram, h);
        }
        // The recorded weights of epoch 1 are one SGD step from the start:
        // w - lr * g, in mean.
        let weights: Vec<_> = r
            .tracked
            .iter()
            .filter(|t| t.epoch == 1 && t.kind == crate::track::Kind::Weight)
            .collect();
        for (rec, ((_, _, w), (_, _, g))) in weights.iter().zip(initial_w.iter().zip(&initial)) {
            let stepped: Vec<f64> = w.iter().zip(g).map(|(w, g)| w - 0.5 * g).collect();
            let want = crate::track::Summary::of(&stepped);
            assert!((rec.summary.mean - want.mean).abs() < 1e-15);
            assert_eq!(rec.summary.max, want.max);
        }
    }

    #[test]
    fn zero_biases_are_one_bin() {
        // A new network's biases are zero, and so are the gradients before
        // any backward pass: one bin of width zero each.
        let net = tracked_net();
        let mut records = Vec::new();
        track::record(&net, 1, &Tracking::default(), &mut records);
        let bias = records
            .iter()
            .find(|t| t.param == "bias" && t.kind == crate::track::Kind::Weight)
            .unwrap();
        assert_eq!(
            bias.histogram.bins().collect::<Vec<_>>(),
            vec![(0.0, 0.0, 3)]
        );
        assert_eq!(bias.summary.sd, 0.0);
        assert_eq!(records.len(), 8);
    }

    #[test]
    fn records_come_back_for_the_epochs_that_ran_however_training_ends() {
        let (x, y) = blobs(40);
        let per_epoch = 8;
        // A tracked fit that the observer stops where `stop` says.
        let stopped_at = |stop: &dyn Fn(&Event) -> bool| {
            fit(
                &mut tracked_net(),
                &TrainData::new(x.view(), y.view()),
                Loss::Mse,
                &mut sgd(0.1),
                &tracking(10, 10),
                &mut |e| {
                    if stop(&e) {
                        Control::Stop
                    } else {
                        Control::Continue
                    }
                },
            )
            .unwrap()
        };
        // Interrupted in epoch 3: two epochs recorded.
        let r = stopped_at(&|e| {
            matches!(
                e,
                Event::BatchEnd {
                    epoch: 3,
                    batch: 2,
                    ..
                }
            )
        });
        assert_eq!(r.status, FitStatus::Stopped { epoch: 3, batch: 2 });
        assert_eq!(r.tracked.len(), 2 * per_epoch);
        assert_eq!(r.tracked.last().unwrap().epoch, 2);
        // Stopped by a callback at an epoch's end: that epoch has its row
        // and its records.
        let r = stopped_at(&|e| matches!(e, Event::EpochEnd { epoch: 2, .. }));
        assert_eq!(r.history.len(), 2);
        assert_eq!(r.tracked.len(), 2 * per_epoch);
        // Diverging in epoch 1: no row, no record.
        let big = x.mapv(|v| v * 1e150);
        let mut net = Network::new(&specs(&[("linear", 2, 1)]), None).unwrap();
        net.set_param(0, "weight", &[1.0, 1.0]).unwrap();
        let r = run(
            &mut net,
            &TrainData::new(big.view(), y.view()),
            Loss::Mse,
            1.0,
            &tracking(5, 10),
        );
        assert!(matches!(r.status, FitStatus::NonFinite { epoch: 1, .. }));
        assert!(r.tracked.is_empty());
        // Early stopping with the best weights restored: every epoch that
        // ran is recorded as it ended; the restored weights are the best
        // epoch's record.
        let mut cfg = tracking(200, 40);
        cfg.shuffle = false;
        let (net, r, epoch, _) = restoring_early_stop(cfg);
        assert_eq!(r.tracked.len(), epoch * 4);
        let best = r.restored_epoch.unwrap();
        let restored = param_values(&net, false);
        let rec = r
            .tracked
            .iter()
            .find(|t| {
                t.epoch == best && t.param == "weight" && t.kind == crate::track::Kind::Weight
            })
            .unwrap();
        assert!(same(
            &rec.summary,
            &crate::track::Summary::of(&restored[0].2)
        ));
    }

    #[test]
    fn bad_data_is_an_error() {
        let (x, y) = xor_data();
        let mut net = xor_net();
        let cfg = TrainConfig::new(1, 2, false, 0);
        let short = y.slice(ndarray::s![0..3, ..]);
        let err = fit(
            &mut net,
            &TrainData::new(x.view(), short),
            Loss::Mse,
            &mut sgd(0.1),
            &cfg,
            &mut go,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "x has 4 rows but y has 3");
        let wide = Array2::<f64>::zeros((4, 3));
        let data = TrainData::new(x.view(), wide.view());
        assert!(fit(&mut net, &data, Loss::Mse, &mut sgd(0.1), &cfg, &mut go).is_err());
        let mut data = TrainData::new(x.view(), y.view());
        data.validation = Some((x.view().into(), wide.view()));
        let err = fit(&mut net, &data, Loss::Mse, &mut sgd(0.1), &cfg, &mut go).unwrap_err();
        assert!(err.to_string().starts_with("validation y has 3 columns"));
        let zero = TrainConfig {
            batch_size: 0,
            ..cfg
        };
        let data = TrainData::new(x.view(), y.view());
        assert!(fit(&mut net, &data, Loss::Mse, &mut sgd(0.1), &zero, &mut go).is_err());
    }
}
