//! ONNX files: a network written as one (`rn_onnx_export`), and one read
//! back as plain R data (`rn_onnx_import`) that R builds a model from with
//! the layers' constructors. Failures of the file's kind come back as
//! `list(kind, what, message)` of class `"rustnn_onnx_failure"`, which
//! `R/onnx.R` raises as classed errors; everything else as `to_r()` does.

use crate::convert::{core_err, params_list, shape_to_r, to_r};
use crate::network::engine_ref;
use extendr_api::prelude::*;
use extendr_api::Result;
use rustnn_core::any::ParamExport;
use rustnn_core::onnx::{self, OnnxError, PortableModel};
use rustnn_core::{AnyNetwork, LayerSpec};

fn failure(e: OnnxError) -> Robj {
    let mut value: Robj = list!(
        kind = e.kind(),
        what = e.what().map(str::to_string),
        message = e.to_string()
    )
    .into();
    let _ = value.set_class(["rustnn_onnx_failure"]);
    value
}

fn doubles(x: &Robj, what: &str) -> Result<Option<Vec<f64>>> {
    if x.is_null() {
        return Ok(None);
    }
    x.as_real_vector()
        .map(Some)
        .ok_or_else(|| Error::Other(format!("{what} must be a double vector")))
}

/// The network as the bytes of an ONNX file. `center`/`scale` (or `NULL`)
/// standardize the input, `output_scale` (`c(scale, shift)` or `NULL`)
/// rescales the output; `metadata` is a named character vector.
/// @noRd
#[extendr]
fn rn_onnx_export(
    ptr: ExternalPtr<AnyNetwork>,
    center: Robj,
    scale: Robj,
    output_scale: Robj,
    metadata: Robj,
    producer_version: &str,
) -> Robj {
    to_r(|| {
        let net = engine_ref(&ptr)?;
        let mut model = match PortableModel::from_network(net) {
            Ok(m) => m,
            Err(e) => return Ok(failure(e)),
        };
        model.center = doubles(&center, "center")?;
        model.scale = doubles(&scale, "scale")?;
        model.output_scale = match doubles(&output_scale, "output_scale")?.as_deref() {
            Some(&[s, b]) => Some((s, b)),
            Some(_) => return Err(Error::Other("output_scale must hold 2 values".into())),
            None => None,
        };
        if let (Some(values), Some(names)) = (metadata.as_str_vector(), metadata.names()) {
            model.metadata = names
                .zip(values)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        model.producer = "rustnn".into();
        model.producer_version = producer_version.into();
        Ok(match onnx::export(&model) {
            Ok(bytes) => Robj::from(Raw::from_bytes(&bytes)),
            Err(e) => failure(e),
        })
    })
}

/// An ONNX file's bytes as `list(input_shape, layers, center, scale,
/// metadata, producer)`: each layer `list(type, in_features, out_features,
/// options, params)`, its options named as the R constructors' arguments.
/// @noRd
#[extendr]
fn rn_onnx_import(bytes: Raw) -> Robj {
    to_r(|| {
        let model = match onnx::import(bytes.as_slice()) {
            Ok(m) => m,
            Err(e) => return Ok(failure(e)),
        };
        let n = model.layers.len();
        let mut tensors = Vec::new();
        let mut layers = Vec::with_capacity(n);
        for (i, layer) in model.layers.iter().enumerate() {
            for t in &layer.tensors {
                tensors.push(ParamExport {
                    layer: i,
                    name: t.name,
                    shape: t.shape.clone(),
                    data: t.data.clone(),
                });
            }
            layers.push(layer_to_r(&layer.spec)?);
        }
        let params = params_list(tensors, n);
        let layers =
            List::from_values(layers.into_iter().zip(params.values()).map(|(mut l, p)| {
                l.push(("params", p));
                let (names, values): (Vec<&str>, Vec<Robj>) = l.into_iter().unzip();
                List::from_names_and_values(names, values)
                    .map(Robj::from)
                    .unwrap_or_default()
            }));
        let (keys, values): (Vec<String>, Vec<String>) = model.metadata.into_iter().unzip();
        let mut metadata: Robj = values.into();
        let _ = metadata.set_names(keys);
        Ok(list!(
            input_shape = shape_to_r(model.input),
            layers = layers,
            center = model.center.map(Robj::from).unwrap_or_default(),
            scale = model.scale.map(Robj::from).unwrap_or_default(),
            metadata = metadata,
            producer = model.producer,
            producer_version = model.producer_version
        )
        .into())
    })
}

/// A layer's type, widths and options, named as R's constructors name them.
fn layer_to_r(spec: &LayerSpec) -> Result<Vec<(&'static str, Robj)>> {
    let int = |v: usize| Robj::from(v as i32);
    let pair = |v: [usize; 2]| Robj::from(vec![v[0] as i32, v[1] as i32]);
    let mut out = vec![("type", Robj::from(spec.kind()))];
    match spec {
        LayerSpec::Linear {
            in_features,
            out_features,
            ..
        } => {
            out.push(("in_features", int(*in_features)));
            out.push(("out_features", int(*out_features)));
        }
        LayerSpec::Conv2d {
            in_channels,
            out_channels,
            window,
        } => {
            out.push(("in_channels", int(*in_channels)));
            out.push(("out_channels", int(*out_channels)));
            out.push(("kernel_size", pair(window.kernel)));
            out.push(("stride", pair(window.stride)));
            out.push(("padding", pair(window.padding)));
        }
        LayerSpec::Pool2d { window, .. } => {
            out.push(("kernel_size", pair(window.kernel)));
            out.push(("stride", pair(window.stride)));
        }
        LayerSpec::BatchNorm {
            channels,
            eps,
            momentum,
        } => {
            out.push(("num_features", int(*channels)));
            out.push(("eps", Robj::from(*eps)));
            out.push(("momentum", Robj::from(*momentum)));
        }
        LayerSpec::Dropout { rate } => out.push(("rate", Robj::from(*rate))),
        LayerSpec::Activation(a) => {
            if let Some(alpha) = a.alpha() {
                out.push(("alpha", Robj::from(alpha)));
            }
        }
        LayerSpec::Flatten => {}
        LayerSpec::Custom(_) => {
            return Err(core_err(rustnn_core::NnError::State(
                "an ONNX file cannot hold a layer written in R".into(),
            )))
        }
    }
    Ok(out)
}

extendr_module! {
    mod onnx;
    fn rn_onnx_export;
    fn rn_onnx_import;
}
