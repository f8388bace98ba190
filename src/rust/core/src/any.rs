//! The network as the host language sees it: one type whatever the float
//! type (`AnyNetwork`), taking and returning column-major `f64` matrices.
//! Every method dispatches once to the generic code; nothing here knows R.

use crate::dataset::{Dataset, SampleView, Samples};
use crate::error::{arg_err, NnError, Result};
use crate::kind::Mode;
use crate::layer::{Layer, LayerSpec};
use crate::loss::{Loss, Objective};
use crate::matrix::{to_col_major, ColMajor};
use crate::metrics::{Metric, Tally};
use crate::network::Network;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::scalar::Scalar;
use crate::shape::Shape;
use crate::train::{Control, Event, FitReport, Session, TrainConfig, TrainSet};
use ndarray::{Array1, ArrayView2, CowArray, Ix2};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
}

impl Dtype {
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "float32" => Ok(Dtype::F32),
            "float64" => Ok(Dtype::F64),
            other => Err(arg_err!(
                "dtype must be \"float32\" or \"float64\", not \"{other}\""
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
        }
    }
}

/// An owned column-major `f64` matrix, ready to become an R matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct ColMajorOwned {
    pub data: Vec<f64>,
    pub nrow: usize,
    pub ncol: usize,
}

impl ColMajorOwned {
    pub fn from_view<T: Scalar>(a: ArrayView2<T>) -> Self {
        ColMajorOwned {
            data: to_col_major(a),
            nrow: a.nrows(),
            ncol: a.ncols(),
        }
    }
}

/// One parameter (or gradient) tensor of one layer, in R's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamExport {
    /// 0-based layer index.
    pub layer: usize,
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Optimizer state as exchanged with the host: step count and one buffer per
/// parameter tensor.
pub type ExportedState = (u64, Vec<Vec<f64>>);

#[derive(Debug)]
pub enum AnyNetwork {
    F32(Network<f32>),
    F64(Network<f64>),
}

macro_rules! each {
    ($self:expr, $net:ident => $body:expr) => {
        match $self {
            AnyNetwork::F32($net) => $body,
            AnyNetwork::F64($net) => $body,
        }
    };
}

fn export<T: Scalar>(net: &Network<T>, grads: bool) -> Vec<ParamExport> {
    let mut out = Vec::new();
    for (i, layer) in net.layers().iter().enumerate() {
        let views = if grads {
            layer.params()
        } else {
            layer.tensors()
        };
        for p in views {
            let view = if grads {
                crate::kind::ParamView { data: p.grad, ..p }
            } else {
                p
            };
            out.push(ParamExport {
                layer: i,
                name: view.name,
                shape: view.shape.clone(),
                data: Layer::param_col_major(&view),
            });
        }
    }
    out
}

/// Everything one `fit()` call needs besides the network and the observer.
#[derive(Debug, Clone)]
pub struct FitJob<'a> {
    pub x: HostSamples<'a>,
    pub y: ColMajor<'a>,
    /// Per-row loss weights.
    pub weights: Option<&'a [f64]>,
    pub validation: Option<(HostSamples<'a>, ColMajor<'a>)>,
    pub loss: Objective,
    pub optimizer: OptimizerConfig,
    pub state: ExportedState,
    pub config: TrainConfig,
}

/// Samples as the host gives them: its matrix or image array, or a data
/// set the engine holds (see [`Dataset`]).
#[derive(Debug, Clone)]
pub enum HostSamples<'a> {
    Matrix(ColMajor<'a>),
    Dataset(Arc<Dataset>),
}

impl<'a> From<ColMajor<'a>> for HostSamples<'a> {
    fn from(m: ColMajor<'a>) -> Self {
        HostSamples::Matrix(m)
    }
}

/// A `fit()` under way, kept by the host between calls (see
/// [`crate::train::Session`]): its data are converted to the network's
/// type once, when it starts.
#[derive(Debug)]
pub enum AnyFitSession {
    F32(Session<'static, f32>),
    F64(Session<'static, f64>),
}

fn start_generic<T: Scalar>(net: &mut Network<T>, job: FitJob<'_>) -> Result<Session<'static, T>> {
    // The one working copy of the data, row-major in the network's type.
    let owned = |m: ColMajor<'_>| -> Result<CowArray<'static, T, Ix2>> {
        Ok(m.to_array_with::<T>(&net.parallel)?.into())
    };
    // A data set is used as it is: it is shared, not copied.
    let samples = |h: HostSamples<'_>| -> Result<Samples<'static, T>> {
        Ok(match h {
            HostSamples::Matrix(m) => Samples::Matrix(owned(m)?),
            HostSamples::Dataset(d) => Samples::Dataset(d),
        })
    };
    let data = TrainSet {
        x: samples(job.x)?,
        y: owned(job.y)?,
        weights: job
            .weights
            .map(|w| w.iter().map(|&v| T::of(v)).collect::<Array1<T>>().into()),
        validation: job
            .validation
            .map(|(vx, vy)| -> Result<_> { Ok((samples(vx)?, owned(vy)?)) })
            .transpose()?,
    };
    let (steps, slots) = job.state;
    let optimizer = Optimizer::<T>::new(job.optimizer)?.with_state(steps, slots);
    Session::new(net, data, job.loss, optimizer, job.config)
}

fn finish_generic<T: Scalar>(
    session: Session<'static, T>,
    net: &mut Network<T>,
) -> (FitReport, ExportedState) {
    let (report, optimizer) = session.finish(net);
    (report, optimizer.export_state())
}

/// Runs `body` on a session and the network of the same type.
macro_rules! paired {
    ($session:expr, $net:expr, |$s:ident, $n:ident| $body:expr) => {
        match ($session, $net) {
            (AnyFitSession::F32($s), AnyNetwork::F32($n)) => Ok($body),
            (AnyFitSession::F64($s), AnyNetwork::F64($n)) => Ok($body),
            _ => Err(NnError::State(
                "this training session belongs to a network of another type".into(),
            )),
        }
    };
}

macro_rules! each_session {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            AnyFitSession::F32($s) => $body,
            AnyFitSession::F64($s) => $body,
        }
    };
}

impl AnyFitSession {
    /// Trains until the end or a pause (see [`Session::run`]).
    pub fn run(
        &mut self,
        net: &mut AnyNetwork,
        observer: &mut dyn FnMut(Event) -> Control,
    ) -> Result<()> {
        paired!(self, net, |s, n| s.run(n, observer)?)
    }

    pub fn is_finished(&self) -> bool {
        each_session!(self, s => s.is_finished())
    }

    /// The optimizer's state now, as the host keeps it.
    pub fn optimizer_state(&self) -> ExportedState {
        each_session!(self, s => s.optimizer.export_state())
    }

    pub fn report(&self) -> &FitReport {
        each_session!(self, s => s.report())
    }

    /// Ends training where it is, after a pause.
    pub fn stop(&mut self) {
        each_session!(self, s => s.stop())
    }

    /// The report and the optimizer's state; early stopping's best weights
    /// put back into `net`.
    pub fn finish(self, net: &mut AnyNetwork) -> Result<(FitReport, ExportedState)> {
        paired!(self, net, |s, n| finish_generic(s, n))
    }
}

fn predict_generic<T: Scalar>(
    net: &mut Network<T>,
    x: ColMajor<'_>,
    stop: &mut dyn FnMut() -> bool,
) -> Result<ColMajorOwned> {
    // Convert chunk by chunk: no full copy of x in the network's type.
    let offsets = x.column_offsets();
    let out = net.predict_with(
        x.nrow,
        x.ncol,
        |start, _, buf| {
            x.fill_rows(&offsets, start, &mut buf.view_mut());
            Ok(())
        },
        stop,
    )?;
    Ok(ColMajorOwned::from_view(out.view()))
}

impl AnyNetwork {
    /// A network of `specs` with zero parameters; `input` is the shape of
    /// one sample, which convolution and pooling need.
    pub fn new(dtype: Dtype, specs: &[LayerSpec], input: Option<Shape>) -> Result<Self> {
        Ok(match dtype {
            Dtype::F32 => AnyNetwork::F32(Network::new(specs, input)?),
            Dtype::F64 => AnyNetwork::F64(Network::new(specs, input)?),
        })
    }

    pub fn dtype(&self) -> Dtype {
        match self {
            AnyNetwork::F32(_) => Dtype::F32,
            AnyNetwork::F64(_) => Dtype::F64,
        }
    }

    /// The shape of a sample entering each layer, then the output's.
    pub fn shapes(&self) -> Vec<Option<Shape>> {
        each!(self, net => net.shapes().to_vec())
    }

    pub fn specs(&self) -> Vec<LayerSpec> {
        each!(self, net => net.layers().iter().map(Layer::spec).collect())
    }

    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        each!(self, net => net.parallel.set_threads(threads))
    }

    pub fn set_param(&mut self, layer: usize, name: &str, data: &[f64]) -> Result<()> {
        each!(self, net => net.set_param(layer, name, data))
    }

    pub fn params(&self) -> Vec<ParamExport> {
        each!(self, net => export(net, false))
    }

    pub fn grads(&self) -> Vec<ParamExport> {
        each!(self, net => export(net, true))
    }

    /// Forward pass that keeps every layer's output for `backward`; in
    /// training mode, dropout masks are drawn from `seed`.
    pub fn forward(&mut self, x: ColMajor<'_>, mode: Mode, seed: u64) -> Result<ColMajorOwned> {
        each!(self, net => {
            let xs = x.to_array();
            net.rng = StdRng::seed_from_u64(seed);
            net.forward(xs.view(), mode).map(ColMajorOwned::from_view)
        })
    }

    /// Whether the network behaves differently in training (dropout).
    pub fn has_training_mode(&self) -> bool {
        each!(self, net => net.has_training_mode())
    }

    /// Whether a training pass moves buffers (batch normalization).
    pub fn has_buffers(&self) -> bool {
        each!(self, net => net.has_buffers())
    }

    /// The L1/L2 penalty its layers add to the loss.
    pub fn penalty(&self) -> f64 {
        each!(self, net => net.penalty())
    }

    /// Backward pass from dL/doutput; returns dL/dinput.
    pub fn backward(&mut self, grad: ColMajor<'_>) -> Result<ColMajorOwned> {
        each!(self, net => {
            let g = grad.to_array();
            net.backward(g.view(), true)?;
            Ok(ColMajorOwned::from_view(net.input_grad()))
        })
    }

    /// Every layer's output in the last forward pass or, with `grads`, the
    /// gradient of the loss with respect to it from the last backward pass.
    pub fn kept(&self, grads: bool) -> Result<Vec<ColMajorOwned>> {
        each!(self, net => {
            let views = if grads { net.kept_output_grads()? } else { net.kept_outputs()? };
            Ok(views.into_iter().map(ColMajorOwned::from_view).collect())
        })
    }

    pub fn predict(&mut self, x: ColMajor<'_>) -> Result<ColMajorOwned> {
        self.predict_or_stop(x, &mut || false)
    }

    /// [`AnyNetwork::predict`], asking `stop` between chunks of rows (the
    /// host checks for an interrupt there); if it says so, ends with
    /// [`NnError::Interrupted`](crate::NnError::Interrupted).
    pub fn predict_or_stop(
        &mut self,
        x: ColMajor<'_>,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<ColMajorOwned> {
        each!(self, net => predict_generic(net, x, stop))
    }

    /// Outputs for every row of a data set (see [`AnyNetwork::predict_or_stop`]).
    pub fn predict_dataset(
        &mut self,
        x: &Dataset,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<ColMajorOwned> {
        each!(self, net => {
            let out = net.predict_samples(SampleView::Dataset(x), stop)?;
            Ok(ColMajorOwned::from_view(out.view()))
        })
    }

    /// One optimizer step from the gradients of the last backward pass.
    pub fn step(
        &mut self,
        optimizer: OptimizerConfig,
        state: ExportedState,
    ) -> Result<ExportedState> {
        each!(self, net => {
            let mut opt = Optimizer::new(optimizer)?.with_state(state.0, state.1);
            opt.step(net.layers_mut())?;
            Ok(opt.export_state())
        })
    }

    /// Starts a `fit()`: checks the job and converts its data once.
    pub fn start_fit(&mut self, job: FitJob<'_>) -> Result<AnyFitSession> {
        Ok(match self {
            AnyNetwork::F32(net) => AnyFitSession::F32(start_generic(net, job)?),
            AnyNetwork::F64(net) => AnyFitSession::F64(start_generic(net, job)?),
        })
    }

    /// The whole `fit()` in one call (pauses are taken as going on).
    pub fn fit(
        &mut self,
        job: FitJob<'_>,
        observer: &mut dyn FnMut(Event) -> Control,
    ) -> Result<(FitReport, ExportedState)> {
        let mut session = self.start_fit(job)?;
        while !session.is_finished() {
            session.run(self, observer)?;
        }
        session.finish(self)
    }
}

/// Loss value and gradient for matrices (and optional per-row weights) given
/// by the host, in `f64`.
pub fn loss_value_and_grad(
    loss: Loss,
    pred: ColMajor<'_>,
    target: ColMajor<'_>,
    weights: Option<&[f64]>,
) -> Result<(f64, ColMajorOwned)> {
    let p = pred.to_array::<f64>();
    let y = target.to_array::<f64>();
    let w = weights.map(ndarray::ArrayView1::from);
    let mut g = ndarray::Array2::zeros(p.dim());
    let value = loss.value_and_grad(p.view(), y.view(), w, Some(g.view_mut()))?;
    Ok((value, ColMajorOwned::from_view(g.view())))
}

/// Metrics of predictions against targets given by the host (see
/// [`crate::metrics`] for how targets are read).
pub fn metric_values(
    metrics: &[Metric],
    pred: ColMajor<'_>,
    target: ColMajor<'_>,
) -> Result<Vec<f64>> {
    let mut tally = Tally::new(metrics, pred.ncol)?;
    tally.add(
        pred.to_array::<f64>().view(),
        target.to_array::<f64>().view(),
    )?;
    Ok(tally.values())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::OptimizerConfig;

    fn specs() -> Vec<LayerSpec> {
        vec![
            LayerSpec::from_parts("linear", 2, 3).unwrap(),
            LayerSpec::from_parts("sigmoid", 0, 0).unwrap(),
            LayerSpec::from_parts("linear", 3, 1).unwrap(),
        ]
    }

    fn xy() -> (Vec<f64>, Vec<f64>) {
        // 6 x 2, column-major; target = (x1 > x2)
        let x = vec![0.1, 0.9, 0.4, 0.7, 0.2, 0.8, 0.5, 0.3, 0.6, 0.1, 0.9, 0.2];
        let y = (0..6)
            .map(|i| if x[i] > x[i + 6] { 1.0 } else { 0.0 })
            .collect();
        (x, y)
    }

    fn trained(dtype: Dtype, threads: usize) -> (Vec<f64>, Vec<ParamExport>) {
        let mut net = AnyNetwork::new(dtype, &specs(), None).unwrap();
        net.set_threads(threads).unwrap();
        net.set_param(0, "weight", &[0.2, -0.5, 0.4, 0.1, -0.3, 0.6])
            .unwrap();
        net.set_param(2, "weight", &[0.3, -0.2, 0.5]).unwrap();
        let (x, y) = xy();
        let job = FitJob {
            x: ColMajor::new(&x, 6, 2).unwrap().into(),
            y: ColMajor::new(&y, 6, 1).unwrap(),
            weights: None,
            validation: None,
            loss: Loss::Mse.into(),
            optimizer: OptimizerConfig::Sgd {
                lr: 0.5,
                momentum: 0.9,
                nesterov: false,
                weight_decay: 0.0,
            },
            state: (0, vec![]),
            config: TrainConfig::new(20, 4, true, 7),
        };
        let (report, state) = net.fit(job, &mut |_| Control::Continue).unwrap();
        assert_eq!(state.0, 40);
        assert_eq!(state.1.len(), 4);
        (report.column("loss").unwrap(), net.params())
    }

    #[test]
    fn both_dtypes_train_and_threads_do_not_matter() {
        for dtype in [Dtype::F32, Dtype::F64] {
            let (l1, p1) = trained(dtype, 1);
            let (l2, p2) = trained(dtype, 2);
            assert_eq!(l1, l2);
            assert_eq!(p1, p2);
            assert!(l1[19] < l1[0]);
        }
        let (l32, _) = trained(Dtype::F32, 1);
        let (l64, _) = trained(Dtype::F64, 1);
        assert!((l32[19] - l64[19]).abs() < 1e-4);
    }

    #[test]
    fn forward_backward_step_and_predict() {
        let mut net = AnyNetwork::new(Dtype::F64, &specs(), None).unwrap();
        net.set_param(0, "weight", &[0.2, -0.5, 0.4, 0.1, -0.3, 0.6])
            .unwrap();
        net.set_param(2, "weight", &[0.3, -0.2, 0.5]).unwrap();
        let (x, _) = xy();
        let xm = ColMajor::new(&x, 6, 2).unwrap();
        let predicted = net.predict(xm).unwrap();
        let out = net.forward(xm, Mode::Train, 0).unwrap();
        assert_eq!((out.nrow, out.ncol), (6, 1));
        assert_eq!(predicted, out);
        let ones = vec![1.0; 6];
        let gin = net.backward(ColMajor::new(&ones, 6, 1).unwrap()).unwrap();
        assert_eq!((gin.nrow, gin.ncol), (6, 2));
        let before = net.params();
        let grads = net.grads();
        let state = net
            .step(
                OptimizerConfig::Sgd {
                    lr: 0.1,
                    momentum: 0.0,
                    nesterov: false,
                    weight_decay: 0.0,
                },
                (0, vec![]),
            )
            .unwrap();
        assert_eq!(state.0, 1);
        for ((b, a), g) in before.iter().zip(net.params()).zip(&grads) {
            for ((bv, av), gv) in b.data.iter().zip(&a.data).zip(&g.data) {
                assert!((bv - 0.1 * gv - av).abs() < 1e-15);
            }
        }
        assert_eq!(net.specs(), specs());
        assert_eq!(Dtype::from_name(net.dtype().name()).unwrap(), Dtype::F64);
        assert!(Dtype::from_name("float16").is_err());
    }

    #[test]
    fn loss_helper() {
        let p = [0.5, 0.25];
        let y = [1.0, 0.0];
        let (v, g) = loss_value_and_grad(
            Loss::Sse,
            ColMajor::new(&p, 2, 1).unwrap(),
            ColMajor::new(&y, 2, 1).unwrap(),
            None,
        )
        .unwrap();
        assert!((v - (0.25 + 0.0625)).abs() < 1e-15);
        assert_eq!(g.data, vec![-1.0, 0.5]);
    }
}
