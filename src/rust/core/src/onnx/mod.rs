//! ONNX files: a network written out for other runtimes (`export`), and a
//! network read back from a file made here or by another framework
//! (`import`).
//!
//! Both sides go through a [`PortableModel`]: the layers' specs and their
//! tensors in R's layout (column-major `f64`, as `Layer::param_col_major`
//! gives them), the shape of one input sample, and the input
//! standardization `(x - center) / scale` and output rescaling
//! `y * scale + shift` that the R side applies around the network. The
//! protobuf messages are `proto.rs`, generated from the official
//! `onnx.proto` by `tools/onnx/proto-gen` and committed (no protoc at build
//! time); prost encodes and decodes them.
//!
//! The subset, in both directions: `Gemm` (and `MatMul` followed by `Add`,
//! on import), `Relu`, `Sigmoid`, `Tanh`, `LeakyRelu`, `Elu`, `Softplus`,
//! GELU written with `Erf` (`0.5 * x * (1 + erf(x / sqrt(2)))`: the `Gelu`
//! operator only exists from opset 20), `Softmax`, `Conv` (2-d, NCHW),
//! `MaxPool`, `AveragePool` (no padding), `BatchNormalization` (inference),
//! `Flatten`, `Dropout` (import only: export leaves it out, as it does
//! nothing at inference), and `Sub`/`Div` by constants for the input's
//! standardization. Anything else is an [`OnnxError::Unsupported`] naming
//! the operator.

mod export;
mod import;
#[allow(clippy::all, missing_docs)]
#[rustfmt::skip]
pub mod proto;

pub use export::export;
pub use import::import;

use crate::any::AnyNetwork;
use crate::layer::LayerSpec;
use crate::matrix::col_major_offsets;
use crate::shape::Shape;
use std::fmt;

/// The IR version and default-domain opset of the files written.
pub const IR_VERSION: i64 = 8;
pub const OPSET: i64 = 17;
/// The opsets of the default domain a file may import (the operators of
/// the subset mean the same in all of them, given the checks made).
pub const OPSETS_READ: std::ops::RangeInclusive<i64> = 9..=23;
/// The names of the graph's input and output in the files written.
pub const INPUT_NAME: &str = "input";
pub const OUTPUT_NAME: &str = "output";
/// At most this many nodes in a graph read (a network of the subset has
/// a handful per layer).
pub const MAX_NODES: usize = 100_000;

/// Why a file could not be written or read.
#[derive(Debug, Clone, PartialEq)]
pub enum OnnxError {
    /// Not an ONNX model, or one whose parts do not fit together.
    Invalid(String),
    /// A protobuf message that ends early: most likely a truncated file.
    Truncated(String),
    /// A model (or layer) outside the subset; `what` is the operator (or
    /// layer type) named in the message.
    Unsupported { what: String, message: String },
}

impl OnnxError {
    pub fn unsupported(what: impl Into<String>, message: impl Into<String>) -> Self {
        OnnxError::Unsupported {
            what: what.into(),
            message: message.into(),
        }
    }

    /// `"invalid"`, `"truncated"` or `"unsupported"`.
    pub fn kind(&self) -> &'static str {
        match self {
            OnnxError::Invalid(_) => "invalid",
            OnnxError::Truncated(_) => "truncated",
            OnnxError::Unsupported { .. } => "unsupported",
        }
    }

    /// The operator or layer type an `Unsupported` error is about.
    pub fn what(&self) -> Option<&str> {
        match self {
            OnnxError::Unsupported { what, .. } => Some(what),
            _ => None,
        }
    }
}

impl fmt::Display for OnnxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnnxError::Invalid(m) | OnnxError::Truncated(m) => f.write_str(m),
            OnnxError::Unsupported { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for OnnxError {}

pub type OnnxResult<T> = std::result::Result<T, OnnxError>;

macro_rules! invalid {
    ($($arg:tt)*) => { $crate::onnx::OnnxError::Invalid(format!($($arg)*)) };
}
pub(crate) use invalid;

/// One tensor of a layer, in R's layout (column-major).
#[derive(Debug, Clone, PartialEq)]
pub struct PortableTensor {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl PortableTensor {
    /// The values in row-major order (ONNX's).
    pub fn row_major(&self) -> Vec<f64> {
        col_major_offsets(&self.shape)
            .into_iter()
            .map(|o| self.data[o])
            .collect()
    }

    /// A tensor from row-major values (`data.len()` must be the shape's size).
    pub fn from_row_major(name: &'static str, shape: Vec<usize>, data: &[f64]) -> Self {
        let mut out = vec![0.0; data.len()];
        for (&o, &v) in col_major_offsets(&shape).iter().zip(data) {
            out[o] = v;
        }
        PortableTensor {
            name,
            shape,
            data: out,
        }
    }
}

/// One layer: what it is and its tensors (trained parameters, then buffers).
#[derive(Debug, Clone, PartialEq)]
pub struct PortableLayer {
    pub spec: LayerSpec,
    pub tensors: Vec<PortableTensor>,
}

impl PortableLayer {
    /// The tensor called `name` (every layer of the subset has fixed ones).
    pub fn tensor(&self, name: &str) -> OnnxResult<&PortableTensor> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| invalid!("a {} layer has no {name}", self.spec.kind()))
    }
}

/// A network and what surrounds it, as files hold it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PortableModel {
    /// The shape of one input sample.
    pub input: Option<Shape>,
    pub layers: Vec<PortableLayer>,
    /// Input standardization `(x - center) / scale`, per column.
    pub center: Option<Vec<f64>>,
    pub scale: Option<Vec<f64>>,
    /// Output rescaling `y * scale + shift` (a regression trained on a
    /// standardized outcome).
    pub output_scale: Option<(f64, f64)>,
    /// Key-value pairs of the file's metadata.
    pub metadata: Vec<(String, String)>,
    pub producer: String,
    pub producer_version: String,
}

impl PortableModel {
    /// The layers and input shape of a built network; a layer written in R
    /// is refused (its computation is R code, which no file can hold).
    pub fn from_network(net: &AnyNetwork) -> OnnxResult<Self> {
        let specs = net.specs();
        let mut layers: Vec<PortableLayer> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            if let LayerSpec::Custom(def) = &spec {
                return Err(OnnxError::unsupported(
                    def.name.clone(),
                    format!(
                        "layer {} is a {}, written in R: ONNX files hold only the built-in layers",
                        i + 1,
                        def.name
                    ),
                ));
            }
            layers.push(PortableLayer {
                spec,
                tensors: Vec::new(),
            });
        }
        for p in net.params() {
            if let Some(layer) = layers.get_mut(p.layer) {
                layer.tensors.push(PortableTensor {
                    name: p.name,
                    shape: p.shape,
                    data: p.data,
                });
            }
        }
        let input = net.shapes().first().copied().flatten();
        Ok(PortableModel {
            input,
            layers,
            ..Default::default()
        })
    }
}

impl PortableModel {
    /// The network the model describes, with its tensors (what the R side
    /// does through the layers' constructors; the tests and the fuzz
    /// target use it).
    pub fn to_network(&self, dtype: crate::any::Dtype) -> crate::error::Result<AnyNetwork> {
        let specs: Vec<LayerSpec> = self.layers.iter().map(|l| l.spec.clone()).collect();
        let mut net = AnyNetwork::new(dtype, &specs, self.input)?;
        for (i, layer) in self.layers.iter().enumerate() {
            for t in &layer.tensors {
                net.set_param(i, t.name, &t.data)?;
            }
        }
        Ok(net)
    }
}

#[cfg(test)]
mod tests;
