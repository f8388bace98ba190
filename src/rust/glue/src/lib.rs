//! Thin extendr glue between R and `rustnn-core`.
//!
//! Each function converts its R arguments once, calls the core, and converts
//! the answer back. All of them are internal (prefixed `rn_`): the public API
//! is the R code on top. Errors come back to R as values (see [`to_r`]); the
//! R side re-signals them as classed conditions.

use extendr_api::prelude::*;
use extendr_api::{Error, Result};
use rustnn_core::any::{
    loss_value_and_grad, metric_values, ColMajorOwned, ExportedState, FitJob, ParamExport,
};
use rustnn_core::track::{Kind, TensorRecord};
use rustnn_core::train::history_columns;
use rustnn_core::{
    AnyNetwork, ColMajor, Control, Dtype, EarlyStopping, Event, FitStatus, LayerOptions, LayerSpec,
    Loss, Metric, Mode, NnError, OptimizerConfig, Schedule, Shape, Tracking, TrainConfig,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

mod interrupt;

/// How often, at most, training asks R whether the user pressed Ctrl-C.
const INTERRUPT_CHECK_EVERY: Duration = Duration::from_millis(20);
/// How often, at most, training reports progress within an epoch.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

fn core_err(e: NnError) -> Error {
    Error::Other(e.to_string())
}

/// Runs the body of an `rn_` function and hands its result to R as a value:
/// the answer on success, and on failure `list(message = "<text>")` of class
/// `"rustnn_engine_error"`, which `rust_call()` on the R side turns into a
/// classed R error.
///
/// Why not return `Result` and let extendr raise the error: extendr-macros
/// 0.9's wrapper turns an `Err` into a panic, catches it and calls
/// `Rf_error()`, whose longjmp skips the Rust frames that own the panic
/// payload and the message's copies, so every error leaked them (valgrind:
/// "definitely lost" through `wrap__rn_*`; extendr issues #278 and #549).
/// Returning normally lets Rust free everything before R sees the error.
fn to_r<T: Into<Robj>>(body: impl FnOnce() -> Result<T>) -> Robj {
    match body() {
        Ok(value) => value.into(),
        Err(e) => {
            let mut error: Robj = list!(message = e.to_string()).into();
            let _ = error.set_class(["rustnn_engine_error"]);
            error
        }
    }
}

fn col_major(m: &RMatrix<f64>) -> Result<ColMajor<'_>> {
    ColMajor::new(m.data(), m.nrows(), m.ncols()).map_err(core_err)
}

/// Reads a batch of inputs: a double matrix (one sample per row), or an
/// array of images `n x height x width` (one channel) or `n x channels x
/// height x width`. The R side has checked the type and the values.
fn input_of(x: &Robj) -> Result<ColMajor<'_>> {
    let data = x
        .as_real_slice()
        .ok_or_else(|| Error::Other("the input must be a double matrix or array".into()))?;
    let dims: Vec<usize> = match x.get_attrib("dim").and_then(|d| d.as_integer_vector()) {
        Some(d) => d.iter().map(|&v| v.max(0) as usize).collect(),
        None => vec![data.len(), 1],
    };
    let image = match dims[..] {
        [n, k] => return ColMajor::new(data, n, k).map_err(core_err),
        [_, h, w] => Shape::image(1, h, w),
        [_, c, h, w] => Shape::image(c, h, w),
        _ => {
            return Err(Error::Other(format!(
                "the input must be a matrix or an array of 3 or 4 dimensions, not {}",
                dims.len()
            )))
        }
    };
    ColMajor::image(data, dims[0], image).map_err(core_err)
}

fn optional_input(x: &Robj) -> Result<Option<ColMajor<'_>>> {
    if x.is_null() {
        Ok(None)
    } else {
        input_of(x).map(Some)
    }
}

/// A sample shape from R: `c(channels, height, width)` or `c(features)`.
fn shape_from(dims: &[f64]) -> Result<Shape> {
    let whole = |v: f64| -> Result<usize> {
        if v >= 1.0 && v.fract() == 0.0 {
            Ok(v as usize)
        } else {
            Err(Error::Other(format!(
                "a shape needs whole numbers of at least 1, not {v}"
            )))
        }
    };
    match dims {
        [k] => Ok(Shape::flat(whole(*k)?)),
        [c, h, w] => Ok(Shape::image(whole(*c)?, whole(*h)?, whole(*w)?)),
        _ => Err(Error::Other(format!(
            "a shape has 1 or 3 numbers, not {}",
            dims.len()
        ))),
    }
}

fn r_matrix(m: ColMajorOwned) -> RMatrix<f64> {
    let ColMajorOwned { data, nrow, .. } = m;
    RMatrix::new_matrix(nrow, m.ncol, |r, c| data[r + c * nrow])
}

fn engine_ref(ptr: &ExternalPtr<AnyNetwork>) -> Result<&AnyNetwork> {
    ptr.try_addr()
}

fn engine_mut(ptr: &mut ExternalPtr<AnyNetwork>) -> Result<&mut AnyNetwork> {
    ptr.try_addr_mut()
}

fn count(value: i32, what: &str) -> Result<usize> {
    usize::try_from(value).map_err(|_| Error::Other(format!("{what} must not be negative")))
}

/// Reads one layer description made by the R layer classes:
/// `list(type, in_features, out_features, ...options)`; widths are 0 for
/// layers that keep their input's width, absent options take defaults.
fn layer_spec_from(spec: Robj) -> Result<LayerSpec> {
    let map: HashMap<&str, Robj> = List::try_from(spec)?.try_into()?;
    let kind = map.get("type").and_then(|v| v.as_str()).unwrap_or("");
    let width = |name: &str| -> Result<usize> {
        let v = map.get(name).and_then(|v| v.as_real()).unwrap_or(0.0);
        count(v as i32, name)
    };
    let option = |name: &str| map.get(name).and_then(|v| v.as_real());
    // Window sizes come as one number (both axes) or two (rows, columns).
    let pair = |name: &str| -> Result<Option<[usize; 2]>> {
        let Some(v) = map.get(name).and_then(|v| v.as_real_vector()) else {
            return Ok(None);
        };
        let (a, b) = match v[..] {
            [a] => (a, a),
            [a, b] => (a, b),
            _ => return Err(Error::Other(format!("`{name}` must have 1 or 2 values"))),
        };
        Ok(Some([count(a as i32, name)?, count(b as i32, name)?]))
    };
    let options = LayerOptions {
        alpha: option("alpha"),
        rate: option("rate"),
        l1: option("l1").unwrap_or(0.0),
        l2: option("l2").unwrap_or(0.0),
        kernel: pair("kernel_size")?.unwrap_or([0, 0]),
        stride: pair("stride")?,
        padding: pair("padding")?.unwrap_or([0, 0]),
        eps: option("eps"),
        momentum: option("momentum"),
    };
    LayerSpec::new(
        kind,
        width("in_features")?,
        width("out_features")?,
        &options,
    )
    .map_err(core_err)
}

/// Builds a network with zero parameters from a list of layer descriptions
/// and the shape of one input sample (`NULL`, `c(features)` or
/// `c(channels, height, width)`).
/// @noRd
#[extendr]
fn rn_new(dtype: &str, specs: List, input_shape: Robj) -> Robj {
    to_r(|| {
        let dtype = Dtype::from_name(dtype).map_err(core_err)?;
        let specs = specs
            .values()
            .map(layer_spec_from)
            .collect::<Result<Vec<_>>>()?;
        let input = match input_shape.as_real_vector() {
            Some(d) => Some(shape_from(&d)?),
            _ => None,
        };
        let net = AnyNetwork::new(dtype, &specs, input).map_err(core_err)?;
        Ok(ExternalPtr::new(net))
    })
}

/// The shape of a sample entering each layer, then the output's: a list of
/// `c(channels, height, width)` or `c(features)`, `NULL` where any width goes.
/// @noRd
#[extendr]
fn rn_shapes(ptr: ExternalPtr<AnyNetwork>) -> Robj {
    to_r(|| {
        let shapes = engine_ref(&ptr)?.shapes();
        Ok(List::from_values(shapes.into_iter().map(|s| -> Robj {
            match s {
                None => ().into(),
                Some(s) if s.is_flat() => (s.size() as i32).into(),
                Some(s) => vec![s.channels as i32, s.height as i32, s.width as i32].into(),
            }
        })))
    })
}

/// TRUE if no value of a double vector, matrix or array is NA, NaN or
/// infinite (FALSE for any other type: the R side checks those itself).
/// @noRd
#[extendr]
fn rn_all_finite(x: Robj) -> bool {
    x.as_real_slice()
        .is_some_and(rustnn_core::matrix::all_finite)
}

/// TRUE when `ptr` is an engine that is still alive (not NULL after readRDS).
/// @noRd
#[extendr]
fn rn_is_live(ptr: Robj) -> bool {
    <ExternalPtr<AnyNetwork>>::try_from(&ptr)
        .map(|p| p.try_addr().is_ok())
        .unwrap_or(false)
}

/// @noRd
#[extendr]
fn rn_set_param(mut ptr: ExternalPtr<AnyNetwork>, layer: i32, name: &str, data: &[f64]) -> Robj {
    to_r(|| {
        let index = count(layer.saturating_sub(1), "layer")?;
        engine_mut(&mut ptr)?
            .set_param(index, name, data)
            .map_err(core_err)
    })
}

fn params_list(params: Vec<ParamExport>, layers: usize) -> List {
    let mut per_layer: Vec<(Vec<&'static str>, Vec<Robj>)> = vec![(vec![], vec![]); layers];
    for p in params {
        let mut value: Robj = p.data.into();
        if p.shape.len() >= 2 {
            // A matrix, or an array for convolution weights.
            let dim: Vec<i32> = p.shape.iter().map(|&d| d as i32).collect();
            let _ = value.set_attrib("dim", dim);
        }
        per_layer[p.layer].0.push(p.name);
        per_layer[p.layer].1.push(value);
    }
    List::from_values(per_layer.into_iter().map(|(names, values)| {
        List::from_names_and_values(names, values)
            .map(Robj::from)
            .unwrap_or_default()
    }))
}

/// Parameters (or, with `grads = TRUE`, their gradients) as one named list per layer.
/// @noRd
#[extendr]
fn rn_params(ptr: ExternalPtr<AnyNetwork>, grads: bool) -> Robj {
    to_r(|| {
        let net = engine_ref(&ptr)?;
        let layers = net.specs().len();
        let exported = if grads { net.grads() } else { net.params() };
        Ok(params_list(exported, layers))
    })
}

/// @noRd
#[extendr]
fn rn_forward(mut ptr: ExternalPtr<AnyNetwork>, x: Robj, training: bool, seed: &[i32]) -> Robj {
    to_r(|| {
        let mode = if training { Mode::Train } else { Mode::Infer };
        let out = engine_mut(&mut ptr)?
            .forward(input_of(&x)?, mode, seed_from(seed))
            .map_err(core_err)?;
        Ok(r_matrix(out))
    })
}

/// TRUE when the network behaves differently in training (dropout), so
/// that a manual forward pass needs a seed.
/// @noRd
#[extendr]
fn rn_has_training_mode(ptr: ExternalPtr<AnyNetwork>) -> Robj {
    to_r(|| Ok(engine_ref(&ptr)?.has_training_mode()))
}

/// The L1/L2 penalty the layers add to the loss.
/// @noRd
#[extendr]
fn rn_penalty(ptr: ExternalPtr<AnyNetwork>) -> Robj {
    to_r(|| Ok(engine_ref(&ptr)?.penalty()))
}

/// Metrics of predictions against targets: one value per name.
/// @noRd
#[extendr]
fn rn_metrics(names: Strings, pred: RMatrix<f64>, target: RMatrix<f64>) -> Robj {
    to_r(|| {
        let metrics = names
            .iter()
            .map(|n| Metric::from_name(n.as_ref()).map_err(core_err))
            .collect::<Result<Vec<_>>>()?;
        let values =
            metric_values(&metrics, col_major(&pred)?, col_major(&target)?).map_err(core_err)?;
        Ok(Doubles::from_values(values))
    })
}

/// Two 32-bit draws from R's RNG as one 64-bit seed.
fn seed_from(seed: &[i32]) -> u64 {
    seed.iter()
        .fold(0u64, |acc, &s| (acc << 32) | u64::from(s as u32))
}

/// @noRd
#[extendr]
fn rn_backward(mut ptr: ExternalPtr<AnyNetwork>, grad: RMatrix<f64>) -> Robj {
    to_r(|| {
        let out = engine_mut(&mut ptr)?
            .backward(col_major(&grad)?)
            .map_err(core_err)?;
        Ok(r_matrix(out))
    })
}

/// Every layer's output from the last forward pass or, with `grads`, the
/// gradient of the loss with respect to it from the last backward pass:
/// one matrix per layer, rows as in the engine.
/// @noRd
#[extendr]
fn rn_kept(ptr: ExternalPtr<AnyNetwork>, grads: bool) -> Robj {
    to_r(|| {
        let kept = engine_ref(&ptr)?.kept(grads).map_err(core_err)?;
        Ok(List::from_values(kept.into_iter().map(r_matrix)))
    })
}

/// @noRd
#[extendr]
fn rn_predict(mut ptr: ExternalPtr<AnyNetwork>, x: Robj, threads: i32) -> Robj {
    to_r(|| {
        let net = engine_mut(&mut ptr)?;
        net.set_threads(count(threads, "threads")?)
            .map_err(core_err)?;
        Ok(r_matrix(net.predict(input_of(&x)?).map_err(core_err)?))
    })
}

/// Reads a loss description made by `Loss$.description()`:
/// `list(name, delta)`, `delta` `NULL` (or absent) for its default.
fn loss_from(list: List) -> Result<Loss> {
    let map: HashMap<&str, Robj> = list.try_into()?;
    let name = map.get("name").and_then(|v| v.as_str()).unwrap_or("");
    let delta = map.get("delta").and_then(|v| v.as_real());
    Loss::from_parts(name, delta).map_err(core_err)
}

/// Loss value and gradient (float64), with optional per-row weights:
/// `list(value, grad)`.
/// @noRd
#[extendr]
fn rn_loss(
    loss: List,
    pred: RMatrix<f64>,
    target: RMatrix<f64>,
    weights: Nullable<Doubles>,
) -> Robj {
    to_r(|| {
        let loss = loss_from(loss)?;
        let weights: Option<Vec<f64>> = match weights {
            Nullable::NotNull(w) => Robj::from(w).as_real_vector(),
            Nullable::Null => None,
        };
        let (value, grad) = loss_value_and_grad(
            loss,
            col_major(&pred)?,
            col_major(&target)?,
            weights.as_deref(),
        )
        .map_err(core_err)?;
        Ok(list!(value = value, grad = r_matrix(grad)))
    })
}

/// Reads an optimizer description made by the R optimizer classes:
/// `list(type, <hyper-parameters>, steps, slots)`, where `type` is `"sgd"`
/// (`lr`, `momentum`, `nesterov`, `weight_decay`), `"adam"` (`lr`, `beta1`,
/// `beta2`, `eps`, `weight_decay`, `decoupled`), `"rmsprop"` (`lr`, `rho`,
/// `eps`, `momentum`) or `"adagrad"` (`lr`, `eps`); `nesterov` and
/// `decoupled` are logicals, the rest doubles.
fn optimizer_from(list: List) -> Result<(OptimizerConfig, ExportedState)> {
    let map: HashMap<&str, Robj> = list.try_into()?;
    let num = |name: &str| -> Result<f64> {
        map.get(name)
            .and_then(|v| v.as_real())
            .ok_or_else(|| Error::Other(format!("the optimizer has no numeric `{name}`")))
    };
    let flag = |name: &str| -> Result<bool> {
        map.get(name)
            .and_then(|v| v.as_bool())
            .ok_or_else(|| Error::Other(format!("the optimizer has no logical `{name}`")))
    };
    let kind = map.get("type").and_then(|v| v.as_str()).unwrap_or("");
    let config = match kind {
        "sgd" => OptimizerConfig::Sgd {
            lr: num("lr")?,
            momentum: num("momentum")?,
            nesterov: flag("nesterov")?,
            weight_decay: num("weight_decay")?,
        },
        "adam" => OptimizerConfig::Adam {
            lr: num("lr")?,
            beta1: num("beta1")?,
            beta2: num("beta2")?,
            eps: num("eps")?,
            weight_decay: num("weight_decay")?,
            decoupled: flag("decoupled")?,
        },
        "rmsprop" => OptimizerConfig::RmsProp {
            lr: num("lr")?,
            rho: num("rho")?,
            eps: num("eps")?,
            momentum: num("momentum")?,
        },
        "adagrad" => OptimizerConfig::Adagrad {
            lr: num("lr")?,
            eps: num("eps")?,
        },
        other => return Err(Error::Other(format!("unknown optimizer type \"{other}\""))),
    };
    config.validate().map_err(core_err)?;
    let steps = num("steps")? as u64;
    let slots = match map.get("slots") {
        Some(s) if !s.is_null() => List::try_from(s.clone())?
            .values()
            .map(|v| v.as_real_vector().unwrap_or_default())
            .collect(),
        _ => Vec::new(),
    };
    Ok((config, (steps, slots)))
}

fn state_list(state: ExportedState) -> List {
    let slots = List::from_values(state.1);
    list!(steps = state.0 as f64, slots = slots)
}

/// One optimizer step from the gradients of the last `rn_backward`; returns the new state.
/// @noRd
#[extendr]
fn rn_step(mut ptr: ExternalPtr<AnyNetwork>, optimizer: List) -> Robj {
    to_r(|| {
        let (config, state) = optimizer_from(optimizer)?;
        let state = engine_mut(&mut ptr)?
            .step(config, state)
            .map_err(core_err)?;
        Ok(state_list(state))
    })
}

/// Reads the early-stopping description `list(monitor, patience, min_delta,
/// restore_best)` made by `early_stopping()`.
fn early_stopping_from(robj: &Robj) -> Result<Option<EarlyStopping>> {
    if robj.is_null() {
        return Ok(None);
    }
    let map: HashMap<&str, Robj> = List::try_from(robj.clone())?.try_into()?;
    Ok(Some(EarlyStopping {
        monitor: text(&map, "monitor")?,
        patience: whole(&map, "patience")?,
        min_delta: real(&map, "min_delta")?,
        restore_best: map
            .get("restore_best")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
    }))
}

/// Reads a schedule description `list(type, ...)` made by the `schedule_*()`
/// functions.
fn schedule_from(robj: &Robj) -> Result<Option<Schedule>> {
    if robj.is_null() {
        return Ok(None);
    }
    let map: HashMap<&str, Robj> = List::try_from(robj.clone())?.try_into()?;
    let schedule = match text(&map, "type")?.as_str() {
        "step" => Schedule::Step {
            step_size: whole(&map, "step_size")?,
            gamma: real(&map, "gamma")?,
        },
        "exponential" => Schedule::Exponential {
            gamma: real(&map, "gamma")?,
        },
        "cosine" => Schedule::Cosine {
            t_max: whole(&map, "t_max")?,
            lr_min: real(&map, "lr_min")?,
        },
        "plateau" => Schedule::Plateau {
            monitor: text(&map, "monitor")?,
            factor: real(&map, "factor")?,
            patience: whole(&map, "patience")?,
            min_delta: real(&map, "min_delta")?,
            lr_min: real(&map, "lr_min")?,
        },
        other => return Err(Error::Other(format!("unknown schedule \"{other}\""))),
    };
    Ok(Some(schedule))
}

fn real(map: &HashMap<&str, Robj>, name: &str) -> Result<f64> {
    map.get(name)
        .and_then(|v| v.as_real().or_else(|| v.as_integer().map(f64::from)))
        .ok_or_else(|| Error::Other(format!("`{name}` must be a number")))
}

fn whole(map: &HashMap<&str, Robj>, name: &str) -> Result<usize> {
    let v = real(map, name)?;
    if v >= 0.0 && v.fract() == 0.0 {
        Ok(v as usize)
    } else {
        Err(Error::Other(format!(
            "`{name}` must be a whole number, not {v}"
        )))
    }
}

fn text(map: &HashMap<&str, Robj>, name: &str) -> Result<String> {
    map.get(name)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::Other(format!("`{name}` must be a string")))
}

/// Reads `fit()`'s `track`: `NULL` (absent) or `"weights"`.
fn tracking_from(robj: Option<&Robj>) -> Result<Option<Tracking>> {
    match robj {
        None => Ok(None),
        Some(r) if r.is_null() => Ok(None),
        Some(r) => match r.as_str() {
            Some("weights") => Ok(Some(Tracking::default())),
            _ => Err(Error::Other(
                "`track` must be NULL or \"weights\"".to_string(),
            )),
        },
    }
}

/// Reads `fit()`'s settings: `list(epochs, batch_size, shuffle, seed,
/// metrics, early_stopping, schedule, track)`; `seed` is two draws from R's
/// RNG.
fn train_config_from(control: List) -> Result<TrainConfig> {
    let map: HashMap<&str, Robj> = control.try_into()?;
    let seed = seed_from(
        map.get("seed")
            .and_then(|v| v.as_integer_slice())
            .ok_or_else(|| Error::Other("`seed` must be integers".into()))?,
    );
    let metrics = match map.get("metrics") {
        Some(m) if !m.is_null() => Strings::try_from(m.clone())?
            .iter()
            .map(|name| Metric::from_name(name.as_ref()).map_err(core_err))
            .collect::<Result<Vec<_>>>()?,
        _ => Vec::new(),
    };
    let none = Robj::from(());
    Ok(TrainConfig {
        epochs: whole(&map, "epochs")?,
        batch_size: whole(&map, "batch_size")?,
        shuffle: map.get("shuffle").and_then(|v| v.as_bool()).unwrap_or(true),
        seed,
        metrics,
        early_stopping: early_stopping_from(map.get("early_stopping").unwrap_or(&none))?,
        schedule: schedule_from(map.get("schedule").unwrap_or(&none))?,
        track: tracking_from(map.get("track"))?,
    })
}

fn optional_matrix(robj: &Robj) -> Result<Option<RMatrix<f64>>> {
    if robj.is_null() {
        Ok(None)
    } else {
        Ok(Some(RMatrix::try_from(robj.clone())?))
    }
}

/// Calls an R callback; anything but FALSE (including an error, which the
/// R side already reported) means stop.
fn call_says_stop(f: &Function, args: Pairlist) -> bool {
    f.call(args)
        .map(|v| v.as_bool() != Some(false))
        .unwrap_or(true)
}

/// The records of a tracked fit as two lists of columns: `summary` (epoch,
/// layer, param, kind, mean, sd, mean_abs, min, max: one row per record)
/// and `histogram` (epoch, layer, param, kind, lower, upper, count: one row
/// per bin), then `params` and `kinds`, the names that the `param` and
/// `kind` codes index. Codes and layers count from 1; an sd of NaN (one
/// value) becomes NA, as R's `sd()` gives.
///
/// Why codes: a string column costs a lookup in R's string cache per row,
/// and the histogram has a row per bin; R makes the names by indexing.
fn tracked_list(records: &[TensorRecord]) -> Result<List> {
    let mut params: Vec<&'static str> = Vec::new();
    let mut keys: [Vec<i32>; 4] = Default::default();
    let mut bin_keys: [Vec<i32>; 4] = Default::default();
    let mut figures: [Vec<f64>; 5] = Default::default();
    let (mut lower, mut upper, mut count) = (vec![], vec![], vec![]);
    for r in records {
        let param = match params.iter().position(|&p| p == r.param) {
            Some(i) => i,
            None => {
                params.push(r.param);
                params.len() - 1
            }
        };
        let key = [r.epoch, r.layer + 1, param + 1, r.kind.index() + 1].map(|v| v as i32);
        for (column, v) in keys.iter_mut().zip(key) {
            column.push(v);
        }
        let s = &r.summary;
        for (column, v) in figures
            .iter_mut()
            .zip([s.mean, s.sd, s.mean_abs, s.min, s.max])
        {
            column.push(v);
        }
        for (lo, up, n) in r.histogram.bins() {
            for (column, v) in bin_keys.iter_mut().zip(key) {
                column.push(v);
            }
            lower.push(lo);
            upper.push(up);
            // Tensors are smaller than R's integers: the R side bounds them.
            count.push(i32::try_from(n).map_err(|_| {
                Error::Other(format!("a histogram bin holds {n} values, too many for R"))
            })?);
        }
    }
    let sd: Doubles = figures[1]
        .iter()
        .map(|&v| if v.is_nan() { Rfloat::na() } else { v.into() })
        .collect();
    let [epoch, layer, param, kind] = keys;
    let [mean, _, mean_abs, min, max] = figures;
    let summary = list!(
        epoch = epoch,
        layer = layer,
        param = param,
        kind = kind,
        mean = mean,
        sd = sd,
        mean_abs = mean_abs,
        min = min,
        max = max
    );
    let [epoch, layer, param, kind] = bin_keys;
    let histogram = list!(
        epoch = epoch,
        layer = layer,
        param = param,
        kind = kind,
        lower = lower,
        upper = upper,
        count = count
    );
    Ok(list!(
        summary = summary,
        histogram = histogram,
        params = params,
        kinds = Kind::ALL.map(Kind::name).to_vec()
    ))
}

/// Runs the whole training loop. `on_epoch(epoch, figures)` is called after
/// each epoch and `on_batch(epoch, batch, batches, loss)` at most every
/// `PROGRESS_EVERY` during one, both on R's thread; either returns TRUE to stop.
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rn_fit(
    mut ptr: ExternalPtr<AnyNetwork>,
    x: Robj,
    y: RMatrix<f64>,
    weights: Robj,
    val_x: Robj,
    val_y: Robj,
    loss: List,
    optimizer: List,
    control: List,
    threads: i32,
    on_epoch: Nullable<Function>,
    on_batch: Nullable<Function>,
) -> Robj {
    to_r(|| {
        let loss = loss_from(loss)?;
        let (config_opt, state) = optimizer_from(optimizer)?;
        let config = train_config_from(control)?;
        let val_y = optional_matrix(&val_y)?;
        let validation = match (optional_input(&val_x)?, &val_y) {
            (Some(vx), Some(vy)) => Some((vx, col_major(vy)?)),
            _ => None,
        };
        let columns = history_columns(&config.metrics, validation.is_some());
        let tracking = config.track.is_some();
        let job = FitJob {
            x: input_of(&x)?,
            y: col_major(&y)?,
            weights: weights.as_real_slice(),
            validation,
            loss,
            optimizer: config_opt,
            state,
            config,
        };
        let net = engine_mut(&mut ptr)?;
        net.set_threads(count(threads, "threads")?)
            .map_err(core_err)?;

        let mut interrupted = false;
        let mut last_check = Instant::now();
        let mut last_progress = Instant::now();
        let mut observer = |event: Event| -> Control {
            if last_check.elapsed() >= INTERRUPT_CHECK_EVERY {
                last_check = Instant::now();
                if interrupt::pending() {
                    interrupted = true;
                    return Control::Stop;
                }
            }
            let stop = match (event, &on_epoch, &on_batch) {
                (Event::EpochEnd { epoch, figures }, Nullable::NotNull(f), _) => {
                    last_progress = Instant::now();
                    let mut named: Robj = Doubles::from_values(figures.iter().copied()).into();
                    let _ = named.set_names(columns.iter().map(String::as_str));
                    call_says_stop(f, pairlist!(epoch as i32, named))
                }
                (
                    Event::BatchEnd {
                        epoch,
                        batch,
                        batches,
                        loss,
                    },
                    _,
                    Nullable::NotNull(f),
                ) if last_progress.elapsed() >= PROGRESS_EVERY => {
                    last_progress = Instant::now();
                    call_says_stop(
                        f,
                        pairlist!(epoch as i32, batch as i32, batches as i32, loss),
                    )
                }
                _ => false,
            };
            if stop {
                Control::Stop
            } else {
                Control::Continue
            }
        };
        let (report, state) = net.fit(job, &mut observer).map_err(core_err)?;
        let (status, epoch, batch) = match report.status {
            FitStatus::Completed => ("completed", 0, 0),
            FitStatus::Stopped { epoch, batch } if interrupted => ("interrupted", epoch, batch),
            FitStatus::Stopped { epoch, batch } => ("stopped", epoch, batch),
            FitStatus::EarlyStopped { epoch } => ("early_stopped", epoch, 0),
            FitStatus::NonFinite { epoch, batch } => ("non_finite", epoch, batch),
        };
        let history = List::from_names_and_values(
            report.columns.iter().map(String::as_str),
            report
                .columns
                .iter()
                .map(|c| report.column(c).unwrap_or_default()),
        )?;
        let tracked: Robj = if tracking {
            tracked_list(&report.tracked)?.into()
        } else {
            ().into()
        };
        Ok(list!(
            history = history,
            status = status,
            stopped_epoch = epoch as i32,
            stopped_batch = batch as i32,
            restored_epoch = report.restored_epoch.map(|e| e as i32).unwrap_or(0),
            optimizer_state = state_list(state),
            tracked = tracked
        ))
    })
}

extendr_module! {
    mod rustnn;
    fn rn_new;
    fn rn_all_finite;
    fn rn_shapes;
    fn rn_is_live;
    fn rn_set_param;
    fn rn_params;
    fn rn_forward;
    fn rn_has_training_mode;
    fn rn_penalty;
    fn rn_metrics;
    fn rn_backward;
    fn rn_kept;
    fn rn_predict;
    fn rn_loss;
    fn rn_step;
    fn rn_fit;
}
