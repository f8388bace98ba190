//! Reading the descriptions the R classes make (layers, losses,
//! optimizers, callbacks, fit's settings) into the core's types. Each
//! reads its list through [`Settings`]; the core validates the values.

use crate::convert::{core_err, count, seed_from, Settings};
use extendr_api::prelude::*;
use extendr_api::{Error, Result};
use rustnn_core::any::ExportedState;
use rustnn_core::{
    EarlyStopping, LayerOptions, LayerSpec, Lbfgs, Loss, Metric, OptimizerConfig, Schedule,
    Tracking, TrainConfig,
};

/// One layer description made by the R layer classes: `list(type,
/// in_features, out_features, ...options)`; widths are 0 for layers that
/// keep their input's width, absent options take defaults.
pub fn layer_spec_from(spec: &Robj) -> Result<LayerSpec> {
    let s = Settings::new(spec)?;
    let kind = s.text("type").unwrap_or("");
    let width = |name: &str| count(s.opt_real(name).unwrap_or(0.0) as i32, name);
    // Window sizes come as one number (both axes) or two (rows, columns).
    let pair = |name: &str| -> Result<Option<[usize; 2]>> {
        let Some(v) = s.reals(name) else {
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
        alpha: s.opt_real("alpha"),
        rate: s.opt_real("rate"),
        l1: s.opt_real("l1").unwrap_or(0.0),
        l2: s.opt_real("l2").unwrap_or(0.0),
        kernel: pair("kernel_size")?.unwrap_or([0, 0]),
        stride: pair("stride")?,
        padding: pair("padding")?.unwrap_or([0, 0]),
        eps: s.opt_real("eps"),
        momentum: s.opt_real("momentum"),
    };
    LayerSpec::new(
        kind,
        width("in_features")?,
        width("out_features")?,
        &options,
    )
    .map_err(core_err)
}

/// A loss description made by `Loss$.description()`: `list(name, delta)`,
/// `delta` `NULL` (or absent) for its default.
pub fn loss_from(loss: &Robj) -> Result<Loss> {
    let s = Settings::new(loss)?;
    Loss::from_parts(s.text("name").unwrap_or(""), s.opt_real("delta")).map_err(core_err)
}

/// An optimizer description made by the R optimizer classes: `list(type,
/// <hyper-parameters>, steps, slots)`, where `type` is `"sgd"` (`lr`,
/// `momentum`, `nesterov`, `weight_decay`), `"adam"` (`lr`, `beta1`,
/// `beta2`, `eps`, `weight_decay`, `decoupled`), `"rmsprop"` (`lr`, `rho`,
/// `eps`, `momentum`), `"adagrad"` (`lr`, `eps`) or `"lbfgs"` (`lr`,
/// `max_iter`, `max_eval`, `tolerance_grad`, `tolerance_change`,
/// `history_size`, `line_search_fn`: `"strong_wolfe"` or `"none"`).
pub fn optimizer_from(optimizer: &Robj) -> Result<(OptimizerConfig, ExportedState)> {
    let s = Settings::new(optimizer)?;
    let config = match s.text("type").unwrap_or("") {
        "sgd" => OptimizerConfig::Sgd {
            lr: s.real("lr")?,
            momentum: s.real("momentum")?,
            nesterov: s.flag("nesterov")?,
            weight_decay: s.real("weight_decay")?,
        },
        "adam" => OptimizerConfig::Adam {
            lr: s.real("lr")?,
            beta1: s.real("beta1")?,
            beta2: s.real("beta2")?,
            eps: s.real("eps")?,
            weight_decay: s.real("weight_decay")?,
            decoupled: s.flag("decoupled")?,
        },
        "rmsprop" => OptimizerConfig::RmsProp {
            lr: s.real("lr")?,
            rho: s.real("rho")?,
            eps: s.real("eps")?,
            momentum: s.real("momentum")?,
        },
        "adagrad" => OptimizerConfig::Adagrad {
            lr: s.real("lr")?,
            eps: s.real("eps")?,
        },
        "lbfgs" => OptimizerConfig::Lbfgs(Lbfgs {
            lr: s.real("lr")?,
            max_iter: s.whole("max_iter")?,
            max_eval: s.whole("max_eval")?,
            tolerance_grad: s.real("tolerance_grad")?,
            tolerance_change: s.real("tolerance_change")?,
            history_size: s.whole("history_size")?,
            line_search: match s.text("line_search_fn")? {
                "strong_wolfe" => true,
                "none" => false,
                other => {
                    return Err(Error::Other(format!(
                        "unknown line search \"{other}\": use \"strong_wolfe\" or \"none\""
                    )))
                }
            },
        }),
        other => return Err(Error::Other(format!("unknown optimizer type \"{other}\""))),
    };
    config.validate().map_err(core_err)?;
    let steps = s.real("steps")? as u64;
    let slots = match s.get("slots") {
        Some(slots) => List::try_from(slots.clone())?
            .values()
            .map(|v| v.as_real_vector().unwrap_or_default())
            .collect(),
        None => Vec::new(),
    };
    Ok((config, (steps, slots)))
}

/// The early-stopping description `list(monitor, patience, min_delta,
/// restore_best)` made by `early_stopping()`.
fn early_stopping_from(s: &Settings) -> Result<EarlyStopping> {
    Ok(EarlyStopping {
        monitor: s.text("monitor")?.to_string(),
        patience: s.whole("patience")?,
        min_delta: s.real("min_delta")?,
        restore_best: s.opt_flag("restore_best").unwrap_or(false),
    })
}

/// A schedule description `list(type, ...)` made by the `lr_*()` functions.
fn schedule_from(s: &Settings) -> Result<Schedule> {
    Ok(match s.text("type")? {
        "step" => Schedule::Step {
            step_size: s.whole("step_size")?,
            gamma: s.real("gamma")?,
        },
        "exponential" => Schedule::Exponential {
            gamma: s.real("gamma")?,
        },
        "cosine" => Schedule::Cosine {
            t_max: s.whole("t_max")?,
            lr_min: s.real("lr_min")?,
        },
        "plateau" => Schedule::Plateau {
            monitor: s.text("monitor")?.to_string(),
            factor: s.real("factor")?,
            patience: s.whole("patience")?,
            min_delta: s.real("min_delta")?,
            lr_min: s.real("lr_min")?,
        },
        other => return Err(Error::Other(format!("unknown schedule \"{other}\""))),
    })
}

pub fn metrics_from(names: Option<&Robj>) -> Result<Vec<Metric>> {
    match names {
        Some(m) => Strings::try_from(m.clone())?
            .iter()
            .map(|name| Metric::from_name(name.as_ref()).map_err(core_err))
            .collect(),
        None => Ok(Vec::new()),
    }
}

/// `fit()`'s settings: `list(epochs, batch_size, shuffle, seed, metrics,
/// early_stopping, schedule, track)`; `seed` is two draws from R's RNG and
/// `track` is `NULL` or `"weights"`.
pub fn train_config_from(control: &Robj) -> Result<TrainConfig> {
    let s = Settings::new(control)?;
    let seed = seed_from(
        s.get("seed")
            .and_then(|v| v.as_integer_slice())
            .ok_or_else(|| Error::Other("`seed` must be integers".into()))?,
    );
    let nested = |name: &str| s.get(name).map(Settings::new).transpose();
    let track = match s.get("track").map(|t| t.as_str()) {
        None => None,
        Some(Some("weights")) => Some(Tracking::default()),
        Some(_) => {
            return Err(Error::Other(
                "`track` must be NULL or \"weights\"".to_string(),
            ))
        }
    };
    Ok(TrainConfig {
        epochs: s.whole("epochs")?,
        batch_size: s.whole("batch_size")?,
        shuffle: s.opt_flag("shuffle").unwrap_or(true),
        seed,
        metrics: metrics_from(s.get("metrics"))?,
        early_stopping: nested("early_stopping")?
            .as_ref()
            .map(early_stopping_from)
            .transpose()?,
        schedule: nested("schedule")?
            .as_ref()
            .map(schedule_from)
            .transpose()?,
        track,
    })
}
