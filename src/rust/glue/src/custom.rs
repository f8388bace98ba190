//! Layers written in R: the core's `CustomCompute` answered by two R
//! closures that `custom_layer_calls()` (R/custom.R) makes for each such
//! layer. They run the user's `forward()` and `backward()`, check what comes
//! back, and return `NULL` after keeping, on the R side, the condition that
//! stopped them; so no R error ever unwinds through the engine's frames (R
//! evaluates them inside `R_tryEval` besides).

use crate::convert::{core_err, Settings};
use crate::settings::loss_from;
use extendr_api::prelude::*;
use extendr_api::{Error, Result};
use rustnn_core::custom::{CustomCompute, CustomDef, CustomLoss, CustomLossCompute};
use rustnn_core::loss::Objective;
use rustnn_core::ndarray::{Array2, ArrayView2};
use rustnn_core::LayerSpec;

/// The closures of one custom layer.
struct RLayer {
    forward: Function,
    backward: Function,
}

// SAFETY: an `RLayer` holds R objects, which only R's main thread may
// touch. The engine calls a custom layer only on the thread that built it
// (`CustomDef` checks the thread before every call and refuses any other),
// and every `rn_` function, where networks are built, used and dropped,
// runs on R's main thread: R has no other thread that calls R code.
unsafe impl Send for RLayer {}

/// Why a closure returned NULL: R keeps the condition and raises it again
/// once the engine has returned (see `rust_call()`).
const FAILED: &str = "stopped with an error";

fn matrix_of(robj: Robj, what: &str) -> std::result::Result<Array2<f64>, String> {
    let m = RMatrix::<f64>::try_from(robj)
        .map_err(|_| format!("returned {what} that is not a numeric matrix"))?;
    let (rows, cols) = (m.nrows(), m.ncols());
    let data = m.data();
    Ok(Array2::from_shape_fn((rows, cols), |(r, c)| {
        data[r + c * rows]
    }))
}

fn r_rows(m: ArrayView2<'_, f64>) -> Robj {
    RMatrix::new_matrix(m.nrows(), m.ncols(), |r, c| m[[r, c]]).into()
}

impl CustomCompute for RLayer {
    fn forward(
        &mut self,
        input: ArrayView2<'_, f64>,
        params: &[Vec<f64>],
        training: bool,
    ) -> std::result::Result<Array2<f64>, String> {
        let params = List::from_values(
            params
                .iter()
                .map(|p| Doubles::from_values(p.iter().copied())),
        );
        let out = self
            .forward
            .call(pairlist!(r_rows(input), params, training))
            .map_err(|_| FAILED.to_string())?;
        if out.is_null() {
            return Err(FAILED.into());
        }
        matrix_of(out, "a value")
    }

    fn backward(
        &mut self,
        grad_output: ArrayView2<'_, f64>,
    ) -> std::result::Result<(Array2<f64>, Vec<Vec<f64>>), String> {
        let out = self
            .backward
            .call(pairlist!(r_rows(grad_output)))
            .map_err(|_| FAILED.to_string())?;
        if out.is_null() {
            return Err(FAILED.into());
        }
        let parts = List::try_from(out).map_err(|_| FAILED.to_string())?;
        let mut values = parts.values();
        let grad_in = matrix_of(values.next().unwrap_or_default(), "a gradient")?;
        let grads = match values.next().map(List::try_from) {
            Some(Ok(list)) => list
                .values()
                .map(|g| g.as_real_vector().ok_or_else(|| FAILED.to_string()))
                .collect::<std::result::Result<Vec<_>, _>>()?,
            _ => return Err(FAILED.into()),
        };
        Ok((grad_in, grads))
    }
}

/// A custom layer's spec from its description: `list(name, out_width,
/// params = list(<name> = dims, ...), forward, backward)`.
pub fn custom_spec(def: &Robj) -> Result<LayerSpec> {
    let s = Settings::new(def)?;
    let name = s.text("name")?.to_string();
    let out_width = s.whole("out_width")?;
    let params = match s.get("params").map(|p| List::try_from(p.clone())) {
        Some(Ok(list)) => list
            .iter()
            .map(|(n, dims)| {
                let dims = dims
                    .as_real_vector()
                    .or_else(|| {
                        dims.as_integer_vector()
                            .map(|d| d.iter().map(|&v| v as f64).collect())
                    })
                    .ok_or_else(|| {
                        Error::Other(format!("the dimensions of {n} are not numbers"))
                    })?;
                Ok((
                    n.to_string(),
                    dims.iter().map(|&d| d.max(0.0) as usize).collect(),
                ))
            })
            .collect::<Result<Vec<_>>>()?,
        _ => Vec::new(),
    };
    let closure = |key: &str| -> Result<Function> {
        s.get(key)
            .and_then(|f| Function::try_from(f.clone()).ok())
            .ok_or_else(|| {
                Error::Other(format!(
                    "the description of layer {name} lacks its {key} closure"
                ))
            })
    };
    let compute = RLayer {
        forward: closure("forward")?,
        backward: closure("backward")?,
    };
    let def = CustomDef::new(&name, params, out_width, Box::new(compute)).map_err(core_err)?;
    Ok(LayerSpec::Custom(def))
}

/// The closure of a loss written in R (`custom_loss_call()`, R/custom.R):
/// `value_and_grad(pred, y)` gives `list(value, grad)`, or NULL after
/// keeping the condition that stopped it.
struct RLoss {
    value_and_grad: Function,
}

// SAFETY: as for `RLayer`: the core calls a custom loss only on the thread
// that made it (`CustomLoss` checks), R's main thread.
unsafe impl Send for RLoss {}

impl CustomLossCompute for RLoss {
    fn value_and_grad(
        &mut self,
        pred: ArrayView2<'_, f64>,
        target: ArrayView2<'_, f64>,
    ) -> std::result::Result<(f64, Array2<f64>), String> {
        let out = self
            .value_and_grad
            .call(pairlist!(r_rows(pred), r_rows(target)))
            .map_err(|_| FAILED.to_string())?;
        let parts = List::try_from(out).map_err(|_| FAILED.to_string())?;
        let mut values = parts.values();
        let value = values
            .next()
            .and_then(|v| v.as_real())
            .ok_or_else(|| FAILED.to_string())?;
        let grad = matrix_of(values.next().unwrap_or_default(), "a gradient")?;
        Ok((value, grad))
    }
}

/// What fit() minimizes, from a loss description: a built-in loss's
/// `list(name, delta)`, or `list(name = "custom", class, value_and_grad)`.
pub fn objective_from(loss: &Robj) -> Result<Objective> {
    let s = Settings::new(loss)?;
    if s.text("name").ok() != Some("custom") {
        return Ok(Objective::Builtin(loss_from(loss)?));
    }
    let f = s
        .get("value_and_grad")
        .and_then(|f| Function::try_from(f.clone()).ok())
        .ok_or_else(|| {
            Error::Other("a loss written in R needs its value_and_grad closure".into())
        })?;
    let name = s.text("class").unwrap_or("custom").to_string();
    Ok(Objective::Custom(CustomLoss::new(
        &name,
        Box::new(RLoss { value_and_grad: f }),
    )))
}
