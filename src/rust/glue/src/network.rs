//! The network's calls: build, shapes, parameters, manual passes, predict,
//! optimizer steps, and the stateless loss and metric helpers.

use crate::convert::{
    col_major, core_err, count, input_of, interrupted, params_list, r_matrix, seed_from,
    shape_from, shape_to_r, to_r,
};
use crate::custom::custom_spec;
use crate::dataset::dataset_of;
use crate::interrupt;
use crate::settings::{layer_spec_from, loss_from, metrics_from, optimizer_from};
use extendr_api::prelude::*;
use extendr_api::Result;
use rustnn_core::any::{loss_value_and_grad, metric_values, ExportedState};
use rustnn_core::{AnyNetwork, Dtype, Mode, NnError};

pub fn engine_ref(ptr: &ExternalPtr<AnyNetwork>) -> Result<&AnyNetwork> {
    ptr.try_addr()
}

pub fn engine_mut(ptr: &mut ExternalPtr<AnyNetwork>) -> Result<&mut AnyNetwork> {
    ptr.try_addr_mut()
}

/// Builds a network with zero parameters from a list of layer descriptions
/// and the shape of one input sample (`NULL`, `c(features)` or
/// `c(channels, height, width)`). `customs` has, for each layer, `NULL` or
/// the description of a layer written in R (see `custom_spec()`).
/// @noRd
#[extendr]
fn rn_new(dtype: &str, specs: List, input_shape: Robj, customs: List) -> Robj {
    to_r(|| {
        let dtype = Dtype::from_name(dtype).map_err(core_err)?;
        let specs = specs
            .values()
            .zip(
                customs
                    .values()
                    .chain(std::iter::repeat_with(Robj::default)),
            )
            .map(|(s, c)| {
                if c.is_null() {
                    layer_spec_from(&s)
                } else {
                    custom_spec(&c)
                }
            })
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
        Ok(List::from_values(shapes.into_iter().map(shape_to_r)))
    })
}

/// What the R side keeps of a new network: the shape entering each layer
/// and the output's (as `rn_shapes`), and whether a training pass draws
/// random numbers (dropout) or moves buffers (batch normalization).
/// @noRd
#[extendr]
fn rn_facts(ptr: ExternalPtr<AnyNetwork>) -> Robj {
    to_r(|| {
        let net = engine_ref(&ptr)?;
        let shapes = List::from_values(net.shapes().into_iter().map(shape_to_r));
        Ok(list!(
            shapes = shapes,
            random = net.has_training_mode(),
            buffers = net.has_buffers()
        ))
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

/// Parameters (or, with `grads = TRUE`, their gradients) as one named list per layer.
/// @noRd
#[extendr]
fn rn_params(ptr: ExternalPtr<AnyNetwork>, grads: bool) -> Robj {
    to_r(|| Ok(params_of(engine_ref(&ptr)?, grads)))
}

pub fn params_of(net: &AnyNetwork, grads: bool) -> List {
    let exported = if grads { net.grads() } else { net.params() };
    params_list(exported, net.specs().len())
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

/// The L1/L2 penalty the layers add to the loss.
/// @noRd
#[extendr]
fn rn_penalty(ptr: ExternalPtr<AnyNetwork>) -> Robj {
    to_r(|| Ok(engine_ref(&ptr)?.penalty()))
}

/// Metrics of predictions against targets: one value per name.
/// @noRd
#[extendr]
fn rn_metrics(names: Robj, pred: RMatrix<f64>, target: RMatrix<f64>) -> Robj {
    to_r(|| {
        let metrics = metrics_from(Some(&names))?;
        let values =
            metric_values(&metrics, col_major(&pred)?, col_major(&target)?).map_err(core_err)?;
        Ok(Doubles::from_values(values))
    })
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

/// Outputs for every row of `x`, on `threads` threads. Ctrl-C is checked
/// between chunks of rows; it stops the prediction (see `interrupted()`).
/// @noRd
#[extendr]
fn rn_predict(mut ptr: ExternalPtr<AnyNetwork>, x: Robj, threads: i32) -> Robj {
    to_r(|| {
        let net = engine_mut(&mut ptr)?;
        net.set_threads(count(threads, "threads")?)
            .map_err(core_err)?;
        let mut interrupts = interrupt::Throttled::new();
        let mut stop = || interrupts.pending();
        let out = match dataset_of(&x) {
            Some(d) => net.predict_dataset(&d, &mut stop),
            None => net.predict_or_stop(input_of(&x)?, &mut stop),
        };
        match out {
            Ok(out) => Ok(r_matrix(out).into()),
            Err(NnError::Interrupted) => Ok(interrupted()),
            Err(e) => Err(core_err(e)),
        }
    })
}

/// Loss value and gradient (float64), with optional per-row weights:
/// `list(value, grad)`.
/// @noRd
#[extendr]
fn rn_loss(loss: Robj, pred: RMatrix<f64>, target: RMatrix<f64>, weights: Robj) -> Robj {
    to_r(|| {
        let loss = loss_from(&loss)?;
        let weights = weights.as_real_slice();
        let (value, grad) =
            loss_value_and_grad(loss, col_major(&pred)?, col_major(&target)?, weights)
                .map_err(core_err)?;
        Ok(list!(value = value, grad = r_matrix(grad)))
    })
}

pub fn state_list(state: ExportedState) -> List {
    let slots = List::from_values(state.1);
    list!(steps = state.0 as f64, slots = slots)
}

/// Buffers the optimizer described keeps per trained tensor (momentum,
/// moments, ...).
/// @noRd
#[extendr]
fn rn_optimizer_slots(optimizer: Robj) -> Robj {
    to_r(|| Ok(optimizer_from(&optimizer)?.0.slots_per_param() as i32))
}

/// One optimizer step from the gradients of the last `rn_backward`:
/// `list(state, params)`, the optimizer's new state and the network's new
/// parameters (the R side keeps both).
/// @noRd
#[extendr]
fn rn_step(mut ptr: ExternalPtr<AnyNetwork>, optimizer: Robj) -> Robj {
    to_r(|| {
        let (config, state) = optimizer_from(&optimizer)?;
        let net = engine_mut(&mut ptr)?;
        let state = net.step(config, state).map_err(core_err)?;
        Ok(list!(
            state = state_list(state),
            params = params_of(net, false)
        ))
    })
}

extendr_module! {
    mod network;
    fn rn_new;
    fn rn_facts;
    fn rn_all_finite;
    fn rn_shapes;
    fn rn_is_live;
    fn rn_set_param;
    fn rn_params;
    fn rn_forward;
    fn rn_penalty;
    fn rn_metrics;
    fn rn_backward;
    fn rn_kept;
    fn rn_predict;
    fn rn_loss;
    fn rn_step;
    fn rn_optimizer_slots;
}
