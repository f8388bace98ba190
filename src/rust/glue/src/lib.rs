//! Thin extendr glue between R and `rustnn-core`.
//!
//! Each function converts its R arguments once, calls the core, and converts
//! the answer back. All of them are internal (prefixed `rn_`): the public API
//! is the R code on top. Core errors become R errors with the core's message;
//! the R side re-signals them as classed conditions.

use extendr_api::prelude::*;
use extendr_api::{Error, Result};
use rustnn_core::any::{loss_value_and_grad, ColMajorOwned, ExportedState, FitJob, ParamExport};
use rustnn_core::{
    AnyNetwork, ColMajor, Control, Dtype, Event, FitStatus, LayerOptions, LayerSpec, Loss, NnError,
    OptimizerConfig, TrainConfig,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

mod interrupt;

/// How often, at most, training asks R whether the user pressed Ctrl-C.
const INTERRUPT_CHECK_EVERY: Duration = Duration::from_millis(20);

fn core_err(e: NnError) -> Error {
    Error::Other(e.to_string())
}

fn col_major(m: &RMatrix<f64>) -> Result<ColMajor<'_>> {
    ColMajor::new(m.data(), m.nrows(), m.ncols()).map_err(core_err)
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
    let options = LayerOptions {
        alpha: option("alpha"),
        rate: option("rate"),
        l1: option("l1").unwrap_or(0.0),
        l2: option("l2").unwrap_or(0.0),
    };
    LayerSpec::new(
        kind,
        width("in_features")?,
        width("out_features")?,
        &options,
    )
    .map_err(core_err)
}

/// Builds a network with zero parameters from a list of layer descriptions.
/// @noRd
#[extendr]
fn rn_new(dtype: &str, specs: List) -> Result<ExternalPtr<AnyNetwork>> {
    let dtype = Dtype::from_name(dtype).map_err(core_err)?;
    let specs = specs
        .values()
        .map(layer_spec_from)
        .collect::<Result<Vec<_>>>()?;
    let net = AnyNetwork::new(dtype, &specs).map_err(core_err)?;
    Ok(ExternalPtr::new(net))
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
fn rn_set_param(
    mut ptr: ExternalPtr<AnyNetwork>,
    layer: i32,
    name: &str,
    data: &[f64],
) -> Result<()> {
    let index = count(layer - 1, "layer")?;
    engine_mut(&mut ptr)?
        .set_param(index, name, data)
        .map_err(core_err)
}

fn params_list(params: Vec<ParamExport>, layers: usize) -> List {
    let mut per_layer: Vec<(Vec<&'static str>, Vec<Robj>)> = vec![(vec![], vec![]); layers];
    for p in params {
        let value: Robj = if p.shape.len() == 2 {
            let m = ColMajorOwned {
                data: p.data,
                nrow: p.shape[0],
                ncol: p.shape[1],
            };
            r_matrix(m).into()
        } else {
            p.data.into()
        };
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
fn rn_params(ptr: ExternalPtr<AnyNetwork>, grads: bool) -> Result<List> {
    let net = engine_ref(&ptr)?;
    let layers = net.specs().len();
    let exported = if grads { net.grads() } else { net.params() };
    Ok(params_list(exported, layers))
}

/// @noRd
#[extendr]
fn rn_forward(mut ptr: ExternalPtr<AnyNetwork>, x: RMatrix<f64>) -> Result<RMatrix<f64>> {
    let out = engine_mut(&mut ptr)?
        .forward(col_major(&x)?)
        .map_err(core_err)?;
    Ok(r_matrix(out))
}

/// @noRd
#[extendr]
fn rn_backward(mut ptr: ExternalPtr<AnyNetwork>, grad: RMatrix<f64>) -> Result<RMatrix<f64>> {
    let out = engine_mut(&mut ptr)?
        .backward(col_major(&grad)?)
        .map_err(core_err)?;
    Ok(r_matrix(out))
}

/// @noRd
#[extendr]
fn rn_predict(
    mut ptr: ExternalPtr<AnyNetwork>,
    x: RMatrix<f64>,
    threads: i32,
) -> Result<RMatrix<f64>> {
    let net = engine_mut(&mut ptr)?;
    net.set_threads(count(threads, "threads")?)
        .map_err(core_err)?;
    Ok(r_matrix(net.predict(col_major(&x)?).map_err(core_err)?))
}

/// Loss value and gradient (float64): `list(value, grad)`.
/// @noRd
#[extendr]
fn rn_loss(name: &str, pred: RMatrix<f64>, target: RMatrix<f64>) -> Result<List> {
    let loss = Loss::from_name(name).map_err(core_err)?;
    let (value, grad) =
        loss_value_and_grad(loss, col_major(&pred)?, col_major(&target)?).map_err(core_err)?;
    Ok(list!(value = value, grad = r_matrix(grad)))
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
fn rn_step(mut ptr: ExternalPtr<AnyNetwork>, optimizer: List) -> Result<List> {
    let (config, state) = optimizer_from(optimizer)?;
    let state = engine_mut(&mut ptr)?
        .step(config, state)
        .map_err(core_err)?;
    Ok(state_list(state))
}

/// Runs the whole training loop. `on_epoch(epoch, loss)`, if given, is
/// called after each epoch on this (R's) thread and returns TRUE to stop.
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rn_fit(
    mut ptr: ExternalPtr<AnyNetwork>,
    x: RMatrix<f64>,
    y: RMatrix<f64>,
    loss: &str,
    optimizer: List,
    epochs: i32,
    batch_size: i32,
    shuffle: bool,
    seed: &[i32],
    threads: i32,
    on_epoch: Nullable<Function>,
) -> Result<List> {
    let loss = Loss::from_name(loss).map_err(core_err)?;
    let (config_opt, state) = optimizer_from(optimizer)?;
    // Two draws from R's RNG make the 64-bit shuffling seed.
    let seed = seed
        .iter()
        .fold(0u64, |acc, &s| (acc << 32) | u64::from(s as u32));
    let config = TrainConfig {
        epochs: count(epochs, "epochs")?,
        batch_size: count(batch_size, "batch_size")?,
        shuffle,
        seed,
    };
    let job = FitJob {
        x: col_major(&x)?,
        y: col_major(&y)?,
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
    let mut observer = |event: Event| -> Control {
        if last_check.elapsed() >= INTERRUPT_CHECK_EVERY {
            last_check = Instant::now();
            if interrupt::pending() {
                interrupted = true;
                return Control::Stop;
            }
        }
        match (event, &on_epoch) {
            (Event::EpochEnd { epoch, loss }, Nullable::NotNull(f)) => {
                // The R callback catches its own errors; anything but FALSE stops.
                let stop = f
                    .call(pairlist!(epoch as i32, loss))
                    .map(|v| v.as_bool() != Some(false))
                    .unwrap_or(true);
                if stop {
                    Control::Stop
                } else {
                    Control::Continue
                }
            }
            _ => Control::Continue,
        }
    };
    let (report, state) = net.fit(job, &mut observer).map_err(core_err)?;
    let (status, epoch, batch) = match report.status {
        FitStatus::Completed => ("completed", 0, 0),
        FitStatus::Stopped { epoch, batch } if interrupted => ("interrupted", epoch, batch),
        FitStatus::Stopped { epoch, batch } => ("stopped", epoch, batch),
    };
    Ok(list!(
        loss = report.losses,
        status = status,
        stopped_epoch = epoch as i32,
        stopped_batch = batch as i32,
        optimizer_state = state_list(state)
    ))
}

extendr_module! {
    mod rustnn;
    fn rn_new;
    fn rn_is_live;
    fn rn_set_param;
    fn rn_params;
    fn rn_forward;
    fn rn_backward;
    fn rn_predict;
    fn rn_loss;
    fn rn_step;
    fn rn_fit;
}
