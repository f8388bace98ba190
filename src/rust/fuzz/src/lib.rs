//! Property-based fuzzing of rustnn-core through the public API the R glue
//! (`src/rust/glue/src/lib.rs`) drives: building a network from layer specs
//! and an input shape, setting and reading parameters, forward, backward,
//! predict, loss, metrics, optimizer steps and the whole `fit()` loop, in
//! both float types and on 1 to 3 threads.
//!
//! A generated [`Case`] is a layer stack (sensible or not), an input shape
//! and a short script of calls with random shapes, hyper-parameters and
//! values mixing ordinary numbers with 0, -0, NaN, ±Inf, `f64::MAX`,
//! `f64::MIN_POSITIVE`, subnormals, 1e±30 and so on. The property
//! ([`check_case`]): no call panics (each one runs under `catch_unwind`),
//! every failure is an `Err`, and a call that succeeds returns what its
//! documentation promises (shapes, lengths, history columns, optimizer
//! buffers). A case that runs longer than a minute (a hang) aborts the run
//! with the case printed.
//!
//! Sizes are kept tiny (at most 16 rows, 64 units, 12 x 12 images) so that
//! thousands of cases run per minute. Absurd sizes are drawn only from
//! [`HUGE`], far above what the engine accepts (`Shape::MAX_SIZE`), so
//! that they must be refused before anything is allocated: the fuzzer never
//! asks the machine for a large but possible amount of memory.

use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use rustnn_core::any::{loss_value_and_grad, metric_values, ExportedState, FitJob};
use rustnn_core::train::history_columns;
use rustnn_core::{
    AnyNetwork, ColMajor, Control, Dtype, Event, FitReport, FitStatus, LayerSpec, Loss, Metric,
    Mode, OptimizerConfig, Shape, TrainConfig,
};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub mod gen;
pub use gen::*;

// ---------------------------------------------------------------------------
// Running a case

/// Calls made and how they ended, for the coverage summary.
struct Tally {
    ok: [AtomicU64; CALLS.len()],
    err: [AtomicU64; CALLS.len()],
}

const CALLS: [&str; 14] = [
    "LayerSpec::new",
    "AnyNetwork::new",
    "set_threads",
    "set_param",
    "forward",
    "backward",
    "predict",
    "step",
    "fit",
    "fit (completed)",
    "fit (non-finite)",
    "loss_value_and_grad",
    "metric_values",
    "ColMajor::new/image",
];

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
static TALLY: Tally = Tally {
    ok: [ZERO; CALLS.len()],
    err: [ZERO; CALLS.len()],
};
static CASES: AtomicU64 = AtomicU64::new(0);

fn count(call: &str, ok: bool) {
    if let Some(i) = CALLS.iter().position(|&c| c == call) {
        let slot = if ok { &TALLY.ok[i] } else { &TALLY.err[i] };
        slot.fetch_add(1, Ordering::Relaxed);
    }
}

/// The last panic's message and location, recorded by the quiet hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the panic hook with one that only records the message of
/// panics on the calling thread and on the engine's pool threads, so that
/// the panics the property catches (and proptest's shrinking replays) do
/// not flood the output. Other threads (other tests) keep the old hook.
pub fn install_quiet_panic_hook() {
    let fuzz_thread = std::thread::current().id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let me = std::thread::current();
        let quiet = me.id() == fuzz_thread || me.name().is_some_and(|n| n.starts_with("rustnn-"));
        if !quiet {
            return previous(info);
        }
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(info.to_string());
        }
    }));
}

/// Runs one API call; a panic becomes a failure of the property.
fn guard<R>(call: &str, f: impl FnOnce() -> R) -> Result<R, TestCaseError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let recorded = LAST_PANIC.lock().ok().and_then(|mut p| p.take());
        let message = recorded.unwrap_or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into())
        });
        TestCaseError::fail(format!("a panic escaped from {call}: {message}"))
    })
}

/// Error messages seen, digits masked, when `RUSTNN_FUZZ_ERRORS` is set:
/// shows which refusals the cases run into most (to tune the strategies).
static ERRORS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

fn collect_errors() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("RUSTNN_FUZZ_ERRORS").is_some())
}

/// A `Result` from the core, counted.
fn counted<T, E: std::fmt::Display>(call: &str, r: Result<T, E>) -> Option<T> {
    count(call, r.is_ok());
    if let (Err(e), true) = (&r, collect_errors()) {
        let masked: String = e
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .take(90)
            .collect();
        if let Ok(mut map) = ERRORS.lock() {
            *map.get_or_insert_with(HashMap::new)
                .entry(format!("{call}: {masked}"))
                .or_default() += 1;
        }
    }
    r.ok()
}

/// The most frequent error messages (see `RUSTNN_FUZZ_ERRORS`).
pub fn top_errors(n: usize) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = ERRORS
        .lock()
        .ok()
        .and_then(|m| m.clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.1));
    all.truncate(n);
    all
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(TestCaseError::fail(format!($($arg)*)));
        }
    };
}

/// Builds the specs of `layers` as the glue would, with widths taken
/// from the layer below where the gene says so.
fn build_specs(
    layers: &[LayerGene],
    input: Option<Shape>,
) -> Result<Option<Vec<LayerSpec>>, TestCaseError> {
    // As the network does, shapes too large to count are not followed.
    let mut current = input.filter(|s| s.checked_size().is_some());
    let mut specs = Vec::with_capacity(layers.len());
    let mut all_ok = true;
    for gene in layers {
        let chained = match gene.kind {
            "linear" => current.and_then(Shape::checked_size),
            "conv2d" | "batch_norm" => current.map(|s| s.channels),
            _ => None,
        };
        let input_width = match gene.input {
            Width::Chain => chained.unwrap_or(3),
            Width::Fixed(k) => k,
        };
        let spec = guard("LayerSpec::new", || {
            LayerSpec::new(gene.kind, input_width, gene.output, &gene.options)
        })?;
        let Some(spec) = counted("LayerSpec::new", spec) else {
            all_ok = false;
            continue;
        };
        current = current.or_else(|| spec.implied_input());
        current = match current {
            Some(s) => guard("LayerSpec::output_shape", || spec.output_shape(s))?
                .ok()
                .filter(|s| s.checked_size().is_some()),
            None => None,
        };
        let _ = guard("LayerSpec::kind", || {
            (spec.kind(), spec.needs_input_shape())
        })?;
        specs.push(spec);
    }
    Ok(all_ok.then_some(specs))
}

/// Column-major data of `rows x cols` (with `len_error` values missing or
/// extra), from `values`.
fn matrix_data(rows: usize, cols: usize, len_error: i8, values: &Values) -> Vec<f64> {
    let n = (rows * cols) as i64 + i64::from(len_error);
    values.take(n.max(0) as usize, rows)
}

/// What the network state looks like between calls.
struct Session {
    net: AnyNetwork,
    /// Rows and columns of the last successful forward pass (its output).
    last_forward: Option<(usize, usize)>,
}

impl Session {
    fn input_shape(&self) -> Option<Shape> {
        self.net.shapes()[0]
    }

    fn output_width(&self, input_cols: usize) -> usize {
        self.net
            .shapes()
            .last()
            .copied()
            .flatten()
            .map_or(input_cols, Shape::size)
    }
}

/// The input matrix of `x`, as `input_of()` in the glue makes it.
fn input_matrix<'a>(
    x: &InputGene,
    data: &'a [f64],
    shape: Option<Shape>,
) -> Result<Option<ColMajor<'a>>, TestCaseError> {
    let cols = x.cols.get(shape.map_or(3, Shape::size));
    // The glue's rn_all_finite(), which R calls on user data first.
    guard("all_finite", || rustnn_core::matrix::all_finite(data))?;
    let made = guard("ColMajor::new/image", || match shape {
        Some(s) if x.image && !s.is_flat() && matches!(x.cols, Dim::Expected) => {
            ColMajor::image(data, x.rows, s)
        }
        _ => ColMajor::new(data, x.rows, cols),
    })?;
    Ok(counted("ColMajor::new/image", made))
}

fn input_data(x: &InputGene, shape: Option<Shape>) -> Vec<f64> {
    let cols = x.cols.get(shape.map_or(3, Shape::size));
    matrix_data(x.rows, cols, x.len_error, &x.values)
}

/// Targets for predictions of `rows x outputs` under `loss`.
fn target_data(
    y: &TargetGene,
    rows: usize,
    outputs: usize,
    loss: Option<Loss>,
) -> (usize, usize, Vec<f64>) {
    let sparse = loss == Some(Loss::SparseCrossEntropy);
    let want_cols = loss.map_or(outputs, |l| l.target_cols(outputs));
    let (r, c) = (y.rows.get(rows), y.cols.get(want_cols));
    let data = if (sparse || c == 1) && y.classes {
        // Class indices: mostly valid, from the values otherwise.
        let k = outputs.max(1) as u64;
        y.values
            .0
            .iter()
            .cycle()
            .take(r * c)
            .enumerate()
            .map(|(i, &v)| {
                if v.is_finite() && v.abs() < 3.0 {
                    ((i as u64 * 7 + v.abs() as u64) % k) as f64
                } else {
                    v
                }
            })
            .collect()
    } else {
        y.values.take(r * c, 1)
    };
    (r, c, data)
}

fn shape_size(shape: &[usize]) -> usize {
    shape.iter().product()
}

fn slots_for(net: &AnyNetwork, optimizer: &OptimizerConfig, gene: &StateGene) -> ExportedState {
    let slots = match &gene.slots {
        SlotsGene::Empty => Vec::new(),
        SlotsGene::Matching(values) => {
            let per = optimizer.slots_per_param();
            net.grads()
                .iter()
                .flat_map(|p| std::iter::repeat_n(p.data.len(), per))
                .enumerate()
                .map(|(i, len)| values.take(len, i))
                .collect()
        }
        SlotsGene::Random(lens, values) => lens
            .iter()
            .enumerate()
            .map(|(i, &len)| values.take(len, i))
            .collect(),
    };
    (gene.steps, slots)
}

fn metrics_of(names: &[&str]) -> Result<Vec<Metric>, TestCaseError> {
    let parsed = guard("Metric::from_name", || {
        names
            .iter()
            .map(|n| Metric::from_name(n))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(parsed.unwrap_or_default().into_iter().collect())
}

fn loss_of(gene: &LossGene) -> Result<Option<Loss>, TestCaseError> {
    Ok(guard("Loss::from_parts", || {
        Loss::from_parts(gene.name, gene.delta)
    })?
    .ok())
}

/// The property: runs every call of `case`, failing on any panic and on
/// successful results of the wrong shape.
pub fn check_case(case: &Case) -> Result<(), TestCaseError> {
    CASES.fetch_add(1, Ordering::Relaxed);
    let dtype = guard("Dtype::from_name", || Dtype::from_name(case.dtype))?.ok();
    let input_shape = case.input_shape.map(ShapeGene::shape);
    let specs = build_specs(&case.layers, input_shape)?;
    let mut session = None;
    if let (Some(dtype), Some(specs)) = (dtype, specs) {
        let built = guard("AnyNetwork::new", || {
            AnyNetwork::new(dtype, &specs, input_shape)
        })?;
        if let Some(net) = counted("AnyNetwork::new", built) {
            let mut s = Session {
                net,
                last_forward: None,
            };
            let threads = guard("set_threads", || s.net.set_threads(case.threads))?;
            counted("set_threads", threads);
            let shapes = guard("shapes", || s.net.shapes())?;
            ensure!(
                shapes.len() == specs.len() + 1,
                "shapes(): {} for {} layers",
                shapes.len(),
                specs.len()
            );
            let (dt, rebuilt) = guard("specs", || (s.net.dtype(), s.net.specs()))?;
            ensure!(
                dt == dtype && rebuilt == specs,
                "specs() or dtype() changed"
            );
            session = Some(s);
        }
    }
    for op in &case.ops {
        run_op(op, session.as_mut())?;
    }
    Ok(())
}

fn run_op(op: &Op, session: Option<&mut Session>) -> Result<(), TestCaseError> {
    match op {
        Op::Loss {
            loss,
            x,
            y,
            weights,
        } => return loss_op(loss, x, y, weights.as_ref()),
        Op::Metrics { names, x, y } => return metrics_op(names, x, y),
        _ => {}
    }
    let Some(s) = session else { return Ok(()) };
    match op {
        Op::InitParams(values) => {
            let params = guard("params", || s.net.params())?;
            for (i, p) in params.iter().enumerate() {
                ensure!(
                    p.data.len() == shape_size(&p.shape),
                    "params(): {} values for shape {:?}",
                    p.data.len(),
                    p.shape
                );
                let data = values.take(p.data.len(), i);
                let set = guard("set_param", || s.net.set_param(p.layer, p.name, &data))?;
                ensure!(
                    set.is_ok(),
                    "set_param({}, {}) with the right length failed: {set:?}",
                    p.layer,
                    p.name
                );
                count("set_param", true);
            }
        }
        Op::SetParam {
            layer,
            name,
            len,
            values,
        } => {
            let right = s
                .net
                .params()
                .iter()
                .find(|p| p.layer == *layer && p.name == *name)
                .map_or(4, |p| p.data.len());
            let data = values.take(len.get(right), 0);
            let set = guard("set_param", || s.net.set_param(*layer, name, &data))?;
            counted("set_param", set);
        }
        Op::Forward { x, train, seed } => {
            let shape = s.input_shape();
            let data = input_data(x, shape);
            let Some(m) = input_matrix(x, &data, shape)? else {
                return Ok(());
            };
            let mode = if *train { Mode::Train } else { Mode::Infer };
            let out = guard("forward", || s.net.forward(m, mode, *seed))?;
            if let Some(out) = counted("forward", out) {
                let want = (m.nrow, s.output_width(m.ncol));
                ensure!(
                    (out.nrow, out.ncol) == want && out.data.len() == want.0 * want.1,
                    "forward gave {} x {} ({} values), expected {want:?}",
                    out.nrow,
                    out.ncol,
                    out.data.len()
                );
                s.last_forward = Some((m.nrow, m.ncol));
            }
        }
        Op::Backward { rows, cols, values } => {
            // After fit() the workspace holds its last batch, whose size
            // the script does not track: then only what is known is checked.
            let known = s.last_forward;
            let (r0, in_cols) = known.unwrap_or((2, s.input_shape().map_or(3, Shape::size)));
            let (r, c) = (rows.get(r0), cols.get(s.output_width(in_cols)));
            let data = values.take(r * c, 0);
            let Some(g) = counted("ColMajor::new/image", ColMajor::new(&data, r, c)) else {
                return Ok(());
            };
            let out = guard("backward", || s.net.backward(g))?;
            if let Some(out) = counted("backward", out) {
                let in_cols = match (known, s.input_shape()) {
                    (None, None) => out.ncol,
                    _ => in_cols,
                };
                ensure!(
                    (out.nrow, out.ncol) == (r, in_cols) && out.data.len() == r * in_cols,
                    "backward gave {} x {}, expected {r} x {in_cols}",
                    out.nrow,
                    out.ncol
                );
                let grads = guard("grads", || s.net.grads())?;
                for p in grads {
                    ensure!(p.data.len() == shape_size(&p.shape), "grads(): bad length");
                }
            }
        }
        Op::Predict { x, threads } => {
            let shape = s.input_shape();
            let data = input_data(x, shape);
            let Some(m) = input_matrix(x, &data, shape)? else {
                return Ok(());
            };
            let set = guard("set_threads", || s.net.set_threads(*threads))?;
            if counted("set_threads", set).is_none() {
                return Ok(());
            }
            let out = guard("predict", || s.net.predict(m))?;
            if let Some(out) = counted("predict", out) {
                let want = (m.nrow, s.output_width(m.ncol));
                ensure!(
                    (out.nrow, out.ncol) == want && out.data.len() == want.0 * want.1,
                    "predict gave {} x {}, expected {want:?}",
                    out.nrow,
                    out.ncol
                );
                // predict() replaces the workspace: backward must now refuse.
                s.last_forward = None;
            }
        }
        Op::Step { optimizer, state } => {
            let state = slots_for(&s.net, optimizer, state);
            let valid = guard("OptimizerConfig::validate", || optimizer.validate())?;
            if valid.is_err() {
                return Ok(());
            }
            let before = state.1.len();
            let stepped = guard("step", || s.net.step(*optimizer, state))?;
            if let Some((steps, slots)) = counted("step", stepped) {
                let tensors = s.net.grads().len();
                ensure!(
                    slots.len() == tensors * optimizer.slots_per_param(),
                    "step returned {} buffers (given {before}) for {tensors} tensors",
                    slots.len()
                );
                ensure!(steps > 0, "step count did not advance");
            }
        }
        Op::Fit(fit) => fit_op(fit, s)?,
        Op::TrainStep {
            x,
            y,
            loss,
            seed,
            optimizer,
            state,
        } => {
            let Some(loss) = loss_of(loss)? else {
                return Ok(());
            };
            let shape = s.input_shape();
            let data = input_data(x, shape);
            let Some(m) = input_matrix(x, &data, shape)? else {
                return Ok(());
            };
            let out = guard("forward", || s.net.forward(m, Mode::Train, *seed))?;
            let Some(out) = counted("forward", out) else {
                return Ok(());
            };
            s.last_forward = Some((m.nrow, m.ncol));
            let (r, c, target) = target_data(y, out.nrow, out.ncol, Some(loss));
            let (Ok(p), Ok(t)) = (
                ColMajor::new(&out.data, out.nrow, out.ncol),
                ColMajor::new(&target, r, c),
            ) else {
                return Ok(());
            };
            let lg = guard("loss_value_and_grad", || {
                loss_value_and_grad(loss, p, t, None)
            })?;
            let Some((_, grad)) = counted("loss_value_and_grad", lg) else {
                return Ok(());
            };
            let Ok(g) = ColMajor::new(&grad.data, grad.nrow, grad.ncol) else {
                return Ok(());
            };
            let back = guard("backward", || s.net.backward(g))?;
            let Some(back) = counted("backward", back) else {
                return Ok(());
            };
            ensure!(
                (back.nrow, back.ncol) == (m.nrow, m.ncol),
                "backward gave {} x {} for a {} x {} input",
                back.nrow,
                back.ncol,
                m.nrow,
                m.ncol
            );
            if guard("OptimizerConfig::validate", || optimizer.validate())?.is_err() {
                return Ok(());
            }
            let state = slots_for(&s.net, optimizer, state);
            let stepped = guard("step", || s.net.step(*optimizer, state))?;
            counted("step", stepped);
        }
        Op::Inspect => {
            guard("inspect", || {
                let _ = s.net.shapes();
                let _ = s.net.specs();
                let _ = s.net.params();
                let _ = s.net.grads();
                let _ = s.net.penalty();
                let _ = s.net.has_training_mode();
                let _ = s.net.dtype().name();
            })?;
        }
        Op::Loss { .. } | Op::Metrics { .. } => {}
    }
    Ok(())
}

fn loss_op(
    loss: &LossGene,
    x: &InputGene,
    y: &TargetGene,
    weights: Option<&(Dim, Values)>,
) -> Result<(), TestCaseError> {
    let Some(l) = loss_of(loss)? else {
        return Ok(());
    };
    let cols = x.cols.get(3);
    let pred = matrix_data(x.rows, cols, 0, &x.values);
    let (r, c, target) = target_data(y, x.rows, cols, Some(l));
    let w = weights.map(|(len, v)| v.take(len.get(x.rows), 2));
    let (Ok(p), Ok(t)) = (
        ColMajor::new(&pred, x.rows, cols),
        ColMajor::new(&target, r, c),
    ) else {
        return Ok(());
    };
    let out = guard("loss_value_and_grad", || {
        loss_value_and_grad(l, p, t, w.as_deref())
    })?;
    if let Some((_, grad)) = counted("loss_value_and_grad", out) {
        ensure!(
            (grad.nrow, grad.ncol) == (x.rows, cols) && grad.data.len() == x.rows * cols,
            "loss gradient is {} x {}, predictions {} x {cols}",
            grad.nrow,
            grad.ncol,
            x.rows
        );
    }
    Ok(())
}

fn metrics_op(names: &[&str], x: &InputGene, y: &TargetGene) -> Result<(), TestCaseError> {
    let metrics = metrics_of(names)?;
    if metrics.len() != names.len() {
        return Ok(());
    }
    let cols = x.cols.get(2);
    let pred = matrix_data(x.rows, cols, 0, &x.values);
    let (r, c, target) = target_data(y, x.rows, cols, None);
    let (Ok(p), Ok(t)) = (
        ColMajor::new(&pred, x.rows, cols),
        ColMajor::new(&target, r, c),
    ) else {
        return Ok(());
    };
    let out = guard("metric_values", || metric_values(&metrics, p, t))?;
    if let Some(v) = counted("metric_values", out) {
        ensure!(
            v.len() == metrics.len(),
            "{} metric values for {} metrics",
            v.len(),
            metrics.len()
        );
    }
    Ok(())
}

fn fit_op(fit: &FitGene, s: &mut Session) -> Result<(), TestCaseError> {
    let Some(loss) = loss_of(&fit.loss)? else {
        return Ok(());
    };
    let metrics = metrics_of(&fit.metrics)?;
    if metrics.len() != fit.metrics.len() {
        return Ok(());
    }
    if guard("OptimizerConfig::validate", || fit.optimizer.validate())?.is_err() {
        return Ok(());
    }
    let shape = s.input_shape();
    let x_data = input_data(&fit.x, shape);
    let Some(x) = input_matrix(&fit.x, &x_data, shape)? else {
        return Ok(());
    };
    let outputs = s.output_width(x.ncol);
    let (yr, yc, y_data) = target_data(&fit.y, x.nrow, outputs, Some(loss));
    let Some(y) = counted("ColMajor::new/image", ColMajor::new(&y_data, yr, yc)) else {
        return Ok(());
    };
    let weights = fit
        .weights
        .as_ref()
        .map(|(len, v)| v.take(len.get(x.nrow), 3));
    let val_data = fit.validation.as_ref().map(|(vx, vy)| {
        let xd = input_data(vx, shape);
        let (r, c, yd) = target_data(vy, vx.rows, outputs, Some(loss));
        (xd, r, c, yd)
    });
    let validation = match (&fit.validation, &val_data) {
        (Some((vx, _)), Some((xd, r, c, yd))) => {
            let Some(m) = input_matrix(vx, xd, shape)? else {
                return Ok(());
            };
            let Some(t) = counted("ColMajor::new/image", ColMajor::new(yd, *r, *c)) else {
                return Ok(());
            };
            Some((m, t))
        }
        _ => None,
    };
    let state = slots_for(&s.net, &fit.optimizer, &fit.state);
    let config = TrainConfig {
        epochs: fit.epochs,
        batch_size: fit.batch_size,
        shuffle: fit.shuffle,
        seed: fit.seed,
        metrics: metrics.clone(),
        early_stopping: fit.early_stopping.clone(),
        schedule: fit.schedule.clone(),
        track: fit.track,
    };
    let columns = history_columns(&metrics, validation.is_some());
    let job = FitJob {
        x: x.into(),
        y,
        weights: weights.as_deref(),
        validation: validation.map(|(vx, vy)| (vx.into(), vy)),
        loss: loss.into(),
        optimizer: fit.optimizer,
        state,
        config,
    };
    let set = guard("set_threads", || s.net.set_threads(fit.threads))?;
    if counted("set_threads", set).is_none() {
        return Ok(());
    }
    let mut events = 0usize;
    let mut bad_event = None;
    let mut observer = |event: Event| -> Control {
        events += 1;
        if let Event::EpochEnd { figures, .. } = event {
            if figures.len() != columns.len() {
                bad_event = Some(figures.len());
            }
        }
        match fit.stop_after {
            Some(k) if events > k => Control::Stop,
            _ => Control::Continue,
        }
    };
    let result = guard("fit", || s.net.fit(job, &mut observer))?;
    ensure!(
        bad_event.is_none(),
        "an epoch reported {bad_event:?} figures for {} columns",
        columns.len()
    );
    s.last_forward = None;
    let Some((report, (steps, slots))) = counted("fit", result) else {
        return Ok(());
    };
    match report.status {
        FitStatus::Completed => count("fit (completed)", true),
        FitStatus::NonFinite { .. } => count("fit (non-finite)", true),
        _ => {}
    }
    ensure!(
        report.columns == columns,
        "fit reported columns {:?}, expected {columns:?}",
        report.columns
    );
    ensure!(
        report.history.len() <= fit.epochs,
        "{} epochs of history for {}",
        report.history.len(),
        fit.epochs
    );
    for row in &report.history {
        ensure!(
            row.len() == columns.len(),
            "a history row has {} figures for {} columns",
            row.len(),
            columns.len()
        );
    }
    check_tracked(&report, &s.net, fit)?;
    if report.status == FitStatus::Completed {
        ensure!(
            report.history.len() == fit.epochs,
            "completed after {} of {} epochs",
            report.history.len(),
            fit.epochs
        );
    }
    // State handed in is checked at the first step: if none was taken (the
    // first batch was not finite), it comes back as it was given.
    if steps != fit.state.steps {
        let tensors = s.net.grads().len();
        ensure!(
            slots.len() == tensors * fit.optimizer.slots_per_param(),
            "fit returned {} optimizer buffers for {tensors} tensors",
            slots.len()
        );
    }
    Ok(())
}

/// With tracking, two records (values, gradient) per trained tensor per
/// epoch of history, each histogram counting every value once in at most
/// the bins asked for, on edges that never go down.
fn check_tracked(report: &FitReport, net: &AnyNetwork, fit: &FitGene) -> Result<(), TestCaseError> {
    use std::cmp::Ordering::Less;
    let Some(tracking) = fit.track else {
        ensure!(report.tracked.is_empty(), "records without tracking");
        return Ok(());
    };
    let sizes: Vec<usize> = net.grads().iter().map(|g| g.data.len()).collect();
    ensure!(
        report.tracked.len() == report.history.len() * 2 * sizes.len(),
        "{} records for {} epochs of {} tensors",
        report.tracked.len(),
        report.history.len(),
        sizes.len()
    );
    for (k, rec) in report.tracked.iter().enumerate() {
        let size = sizes[(k / 2) % sizes.len()] as u64;
        let h = &rec.histogram;
        ensure!(
            h.counts.iter().sum::<u64>() == size
                && h.counts.len() <= tracking.bins
                && h.edges.len() == h.counts.len() + 1
                && h.edges
                    .windows(2)
                    .all(|e| e[1].partial_cmp(&e[0]) != Some(Less)),
            "record {k} has a bad histogram: {h:?} for {size} values"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The time-bounded driver

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunStats {
    pub seed: u64,
    pub batches: u64,
    /// Cases generated and checked (proptest's replays of persisted
    /// failures included).
    pub cases: u64,
    pub elapsed: Duration,
    /// Per API call: how many returned Ok and how many Err.
    pub coverage: Vec<(&'static str, u64, u64)>,
}

impl std::fmt::Display for RunStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "rustnn fuzz: {} cases in {} batches, {:.1} s, seed {}",
            self.cases,
            self.batches,
            self.elapsed.as_secs_f64(),
            self.seed
        )?;
        for (call, ok, err) in &self.coverage {
            writeln!(f, "  {call:<22} {ok:>9} ok {err:>9} err")?;
        }
        Ok(())
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn rng_for(seed: u64, batch: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    let mut x = splitmix(seed ^ splitmix(batch));
    for chunk in bytes.chunks_mut(8) {
        x = splitmix(x);
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// How long and how: `budget` of wall time, or exactly `max_cases` cases
/// when given (reproducible with a fixed `seed`), in batches of
/// `batch_cases` proptest cases with seeds derived from `seed`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub budget: Duration,
    pub max_cases: Option<u64>,
    pub seed: u64,
    pub batch_cases: u32,
    /// `file!()` of the test (proptest's configuration wants it).
    pub source_file: &'static str,
    /// Where proptest records failing seeds, relative to the package root
    /// (cargo's working directory for tests); replayed first by every batch.
    pub regressions: &'static str,
    /// A case running longer than this is reported as a hang.
    pub hang_after: Duration,
}

static CURRENT: Mutex<Option<(Instant, Case)>> = Mutex::new(None);

/// Runs batches of cases until the budget (or case count) is spent. A
/// failure returns the minimal failing case proptest shrank it to.
pub fn run(cfg: &RunConfig) -> Result<RunStats, String> {
    install_quiet_panic_hook();
    let start = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        let hang_after = cfg.hang_after;
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let stuck = CURRENT.lock().ok().and_then(|c| {
                    c.as_ref()
                        .filter(|(t, _)| t.elapsed() > hang_after)
                        .map(|(_, c)| format!("{c:#?}"))
                });
                if let Some(case) = stuck {
                    eprintln!("rustnn fuzz: a case has run for more than {hang_after:?}:\n{case}");
                    std::process::abort();
                }
            }
        })
    };
    let cases_before = CASES.load(Ordering::Relaxed);
    let mut batches = 0;
    let mut outcome = Ok(());
    loop {
        let run_so_far = CASES.load(Ordering::Relaxed) - cases_before;
        let finished = match cfg.max_cases {
            Some(max) => run_so_far >= max,
            None => start.elapsed() >= cfg.budget,
        };
        if finished {
            break;
        }
        let cases = match cfg.max_cases {
            Some(max) => (max - run_so_far).min(u64::from(cfg.batch_cases)) as u32,
            None => cfg.batch_cases,
        };
        let config = Config {
            cases,
            source_file: Some(cfg.source_file),
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(cfg.regressions))),
            max_shrink_iters: 4096,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, rng_for(cfg.seed, batches));
        batches += 1;
        let result = runner.run(&case(), |c| {
            if let Ok(mut cur) = CURRENT.lock() {
                *cur = Some((Instant::now(), c.clone()));
            }
            let r = check_case(&c);
            if let Ok(mut cur) = CURRENT.lock() {
                *cur = None;
            }
            r
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, minimal)) => {
                outcome = Err(format!(
                    "seed {}, batch {}: {reason}\nminimal failing case:\n{minimal:#?}",
                    cfg.seed,
                    batches - 1
                ));
                break;
            }
            Err(TestError::Abort(reason)) => {
                outcome = Err(format!("proptest aborted: {reason}"));
                break;
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    let _ = std::panic::take_hook();
    outcome?;
    let coverage = CALLS
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            (
                c,
                TALLY.ok[i].load(Ordering::Relaxed),
                TALLY.err[i].load(Ordering::Relaxed),
            )
        })
        .collect();
    Ok(RunStats {
        seed: cfg.seed,
        batches,
        cases: CASES.load(Ordering::Relaxed) - cases_before,
        elapsed: start.elapsed(),
        coverage,
    })
}
