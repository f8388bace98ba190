//! A layer of a network: what it is (`LayerSpec`, plain data that R can store
//! and rebuild from) and the built thing with its parameters (`Layer`).
//!
//! Parameters are exchanged by name (`"weight"`, `"bias"`) as flat `f64`
//! data in column-major order, the layout of an R matrix.

use crate::activation::Activation;
use crate::batchnorm::BatchNorm;
use crate::conv::Conv2d;
use crate::custom::{CustomDef, CustomLayer};
use crate::dropout::Dropout;
use crate::error::{
    arg_err, check_fraction, check_non_negative, check_positive, shape_err, NnError, Result,
};
use crate::kind::{Backward, Forward, LayerKind, Mode, ParamView, Pass, TensorMut};
use crate::linear::Linear;
use crate::matrix::col_major_offsets;
use crate::parallel::Parallel;
use crate::pool::{Pool2d, PoolKind};
use crate::scalar::Scalar;
use crate::shape::Shape;
use crate::window::Window;
use ndarray::{ArrayView2, ArrayViewMut2};
use rand::rngs::StdRng;
use std::sync::Arc;

/// Optional settings of a layer, as R passes them: only the ones a layer
/// kind uses are read (`alpha` by parameterized activations, `rate` by
/// dropout, `l1`/`l2` by linear layers, the window by convolution and
/// pooling, `eps`/`momentum` by batch normalization).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LayerOptions {
    pub alpha: Option<f64>,
    pub rate: Option<f64>,
    pub l1: f64,
    pub l2: f64,
    pub kernel: [usize; 2],
    /// Defaults to 1 for convolution and to the kernel size for pooling.
    pub stride: Option<[usize; 2]>,
    pub padding: [usize; 2],
    pub eps: Option<f64>,
    pub momentum: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    Linear {
        in_features: usize,
        out_features: usize,
        l1: f64,
        l2: f64,
    },
    Activation(Activation),
    Dropout {
        rate: f64,
    },
    Conv2d {
        in_channels: usize,
        out_channels: usize,
        window: Window,
    },
    Pool2d {
        kind: PoolKind,
        window: Window,
    },
    /// Changes how a sample is read (image to vector), not its values.
    Flatten,
    BatchNorm {
        channels: usize,
        eps: f64,
        momentum: f64,
    },
    /// A layer the host computes (see `custom.rs`): not a type of the
    /// catalog, since the user writes it.
    Custom(Arc<CustomDef>),
}

impl LayerSpec {
    /// The layer types other than activations (which are named by
    /// [`Activation::NAMES`]), by the name the host uses.
    pub const TYPES: [&'static str; 7] = [
        "linear",
        "dropout",
        "conv2d",
        "max_pool2d",
        "avg_pool2d",
        "flatten",
        "batch_norm",
    ];

    /// Every layer type: [`LayerSpec::TYPES`], then the activations.
    pub fn all_types() -> impl Iterator<Item = &'static str> {
        Self::TYPES.into_iter().chain(Activation::NAMES)
    }

    /// Builds a spec with default options (see [`LayerSpec::new`]).
    pub fn from_parts(kind: &str, in_features: usize, out_features: usize) -> Result<Self> {
        Self::new(kind, in_features, out_features, &LayerOptions::default())
    }

    /// Builds a spec from the type name R uses ("linear", or an activation
    /// name), the widths (ignored by layers that keep the width) and options.
    pub fn new(
        kind: &str,
        in_features: usize,
        out_features: usize,
        options: &LayerOptions,
    ) -> Result<Self> {
        match kind {
            "linear" => {
                if in_features == 0 || out_features == 0 {
                    return Err(arg_err!(
                        "a linear layer needs at least one input and one output, not {in_features} and {out_features}"
                    ));
                }
                check_non_negative("the l1 penalty", options.l1)?;
                check_non_negative("the l2 penalty", options.l2)?;
                Ok(LayerSpec::Linear {
                    in_features,
                    out_features,
                    l1: options.l1,
                    l2: options.l2,
                })
            }
            "dropout" => {
                let rate = options.rate.unwrap_or(0.5);
                check_fraction("the dropout rate", rate)?;
                Ok(LayerSpec::Dropout { rate })
            }
            "conv2d" => {
                if in_features == 0 || out_features == 0 {
                    return Err(arg_err!(
                        "a convolution needs at least one input and one output channel, not {in_features} and {out_features}"
                    ));
                }
                let stride = options.stride.unwrap_or([1, 1]);
                Ok(LayerSpec::Conv2d {
                    in_channels: in_features,
                    out_channels: out_features,
                    window: Window::new(options.kernel, stride, options.padding)?,
                })
            }
            "max_pool2d" | "avg_pool2d" => {
                let kind = if kind == "max_pool2d" {
                    PoolKind::Max
                } else {
                    PoolKind::Average
                };
                let stride = options.stride.unwrap_or(options.kernel);
                Ok(LayerSpec::Pool2d {
                    kind,
                    window: Window::new(options.kernel, stride, [0, 0])?,
                })
            }
            "flatten" => Ok(LayerSpec::Flatten),
            "batch_norm" => {
                if in_features == 0 {
                    return Err(arg_err!(
                        "batch normalization needs at least one channel (or feature)"
                    ));
                }
                let eps = options.eps.unwrap_or(1e-5);
                let momentum = options.momentum.unwrap_or(0.1);
                check_positive("eps", eps)?;
                if !(0.0..=1.0).contains(&momentum) {
                    return Err(arg_err!("momentum must be in [0, 1], not {momentum}"));
                }
                Ok(LayerSpec::BatchNorm {
                    channels: in_features,
                    eps,
                    momentum,
                })
            }
            _ => Activation::build(kind, options.alpha).map(LayerSpec::Activation),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Activation(a) => a.name(),
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::Pool2d { kind, .. } => kind.name(),
            LayerSpec::Flatten => "flatten",
            LayerSpec::BatchNorm { .. } => "batch_norm",
            LayerSpec::Custom(_) => "custom",
        }
    }

    /// The input shape this layer implies when nothing before it fixes one
    /// (a linear layer takes vectors of `in_features`).
    pub fn implied_input(&self) -> Option<Shape> {
        match self {
            LayerSpec::Linear { in_features, .. } => Some(Shape::flat(*in_features)),
            _ => None,
        }
    }

    /// Whether the layer reads the layout of its input (image planes, or
    /// batch normalization's channels), so that the network must know the
    /// input's shape when it is built.
    pub fn needs_input_shape(&self) -> bool {
        matches!(
            self,
            LayerSpec::Conv2d { .. } | LayerSpec::Pool2d { .. } | LayerSpec::BatchNorm { .. }
        )
    }

    /// The shape of the output for an input of shape `input`, or why the
    /// layer cannot take that input (a sentence without the layer's name).
    pub fn output_shape(&self, input: Shape) -> Result<Shape> {
        let needs_image = |what: &str| {
            shape_err!(
                "needs images (channels x height x width) as input, but gets {} {what}",
                input.size()
            )
        };
        match *self {
            LayerSpec::Linear {
                in_features,
                out_features,
                ..
            } => {
                if input.size() != in_features {
                    let got = if input.is_flat() {
                        input.size().to_string()
                    } else {
                        format!("{} ({input})", input.size())
                    };
                    return Err(shape_err!("expects {in_features} inputs, but gets {got}"));
                }
                Ok(Shape::flat(out_features))
            }
            LayerSpec::Conv2d {
                in_channels,
                out_channels,
                window,
            } => {
                if input.is_flat() {
                    return Err(needs_image("features"));
                }
                if input.channels != in_channels {
                    return Err(shape_err!(
                        "expects {in_channels} input channel{}, but gets {input}",
                        if in_channels == 1 { "" } else { "s" }
                    ));
                }
                let (h, w) = window.output_size(input.height, input.width)?;
                Ok(Shape::image(out_channels, h, w))
            }
            LayerSpec::Pool2d { window, .. } => {
                if input.is_flat() {
                    return Err(needs_image("features"));
                }
                let (h, w) = window.output_size(input.height, input.width)?;
                Ok(Shape::image(input.channels, h, w))
            }
            LayerSpec::Flatten => Ok(input.flattened()),
            LayerSpec::BatchNorm { channels, .. } => {
                if input.channels != channels {
                    return Err(shape_err!(
                        "expects {channels} channels (or features), but gets {input}"
                    ));
                }
                Ok(input)
            }
            LayerSpec::Activation(_) | LayerSpec::Dropout { .. } => Ok(input),
            LayerSpec::Custom(ref def) => Ok(Shape::flat(def.out_width)),
        }
    }
}

/// Changes how a sample is read (image to vector), not its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flatten;

impl<T: Scalar> LayerKind<T> for Flatten {
    fn forward(&mut self, io: Forward<'_, T>, _pass: &mut Pass) -> Result<()> {
        let Forward { input, mut output } = io;
        output.assign(&input);
        Ok(())
    }

    fn backward(&mut self, grads: Backward<'_, T>, _par: &Parallel) -> Result<()> {
        if let Some(mut grad_in) = grads.grad_in {
            grad_in.assign(&grads.grad_out)
        }
        Ok(())
    }
}

// A network holds a handful of layers in one Vec: boxing the large variant
// would add an indirection on every pass to save a few hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Layer<T: Scalar> {
    Linear(Linear<T>),
    Activation(Activation),
    Dropout(Dropout<T>),
    Conv2d(Conv2d<T>),
    Pool2d(Pool2d),
    Flatten(Flatten),
    BatchNorm(BatchNorm<T>),
    Custom(CustomLayer<T>),
}

/// Runs `$body` with `$l` bound to the layer inside, whatever its kind.
macro_rules! each_layer {
    ($layer:expr, $l:ident => $body:expr) => {
        match $layer {
            Layer::Linear($l) => $body,
            Layer::Activation($l) => $body,
            Layer::Dropout($l) => $body,
            Layer::Conv2d($l) => $body,
            Layer::Pool2d($l) => $body,
            Layer::Flatten($l) => $body,
            Layer::BatchNorm($l) => $body,
            Layer::Custom($l) => $body,
        }
    };
}

impl<T: Scalar> Layer<T> {
    /// Builds the layer with zero weights; convolution and pooling need the
    /// shape of their input (see [`LayerSpec::needs_input_shape`]).
    pub fn from_spec(spec: LayerSpec, input: Option<Shape>) -> Result<Self> {
        let spatial_input = || {
            input.ok_or_else(|| {
                NnError::State(format!(
                    "a {} layer needs to know the shape of its input (channels x height x width)",
                    spec.kind()
                ))
            })
        };
        Ok(match spec {
            LayerSpec::Linear {
                in_features,
                out_features,
                l1,
                l2,
            } => Layer::Linear(Linear {
                l1,
                l2,
                ..Linear::zeros(in_features, out_features)?
            }),
            LayerSpec::Activation(a) => Layer::Activation(a),
            LayerSpec::Dropout { rate } => Layer::Dropout(Dropout::new(rate)),
            LayerSpec::Conv2d {
                out_channels,
                window,
                ..
            } => Layer::Conv2d(Conv2d::zeros(spatial_input()?, out_channels, window)?),
            LayerSpec::Pool2d { kind, window } => {
                Layer::Pool2d(Pool2d::new(kind, window, spatial_input()?)?)
            }
            LayerSpec::Flatten => Layer::Flatten(Flatten),
            LayerSpec::BatchNorm {
                channels,
                eps,
                momentum,
            } => Layer::BatchNorm(BatchNorm::new(channels, eps, momentum)?),
            LayerSpec::Custom(def) => Layer::Custom(CustomLayer::new(def)),
        })
    }

    /// What the layer is: the description it was built from.
    pub fn spec(&self) -> LayerSpec {
        match self {
            Layer::Linear(l) => LayerSpec::Linear {
                in_features: l.in_features(),
                out_features: l.out_features(),
                l1: l.l1,
                l2: l.l2,
            },
            Layer::Activation(a) => LayerSpec::Activation(*a),
            Layer::Dropout(d) => LayerSpec::Dropout { rate: d.rate },
            Layer::Conv2d(c) => LayerSpec::Conv2d {
                in_channels: c.input.channels,
                out_channels: c.out_channels(),
                window: c.window,
            },
            Layer::Pool2d(p) => LayerSpec::Pool2d {
                kind: p.kind,
                window: p.window,
            },
            Layer::Flatten(_) => LayerSpec::Flatten,
            Layer::BatchNorm(b) => LayerSpec::BatchNorm {
                channels: b.channels(),
                eps: b.eps,
                momentum: b.momentum,
            },
            Layer::Custom(c) => LayerSpec::Custom(c.def()),
        }
    }

    /// `output = layer(input)`; `mode` matters to dropout and batch
    /// normalization, `rng` to dropout.
    pub fn forward(
        &mut self,
        input: ArrayView2<T>,
        output: ArrayViewMut2<T>,
        par: &Parallel,
        mode: Mode,
        rng: &mut StdRng,
    ) -> Result<()> {
        let mut pass = Pass { par, mode, rng };
        let io = Forward { input, output };
        each_layer!(self, l => LayerKind::<T>::forward(l, io, &mut pass))
    }

    /// The penalty (L1/L2) this layer adds to the loss.
    pub fn penalty(&self) -> f64 {
        each_layer!(self, l => LayerKind::<T>::penalty(l))
    }

    /// Whether a training pass draws random numbers (dropout).
    pub fn random_in_training(&self) -> bool {
        each_layer!(self, l => LayerKind::<T>::random_in_training(l))
    }

    /// Computes parameter gradients and, if `grad_in` is given, `dL/dinput`.
    /// Layers without parameters do nothing without `grad_in`.
    pub fn backward(
        &mut self,
        input: ArrayView2<T>,
        output: ArrayView2<T>,
        grad_out: ArrayView2<T>,
        grad_in: Option<ArrayViewMut2<T>>,
        par: &Parallel,
    ) -> Result<()> {
        let grads = Backward {
            input,
            output,
            grad_out,
            grad_in,
        };
        each_layer!(self, l => LayerKind::<T>::backward(l, grads, par))
    }

    /// Every tensor of the layer's state: trained parameters, then buffers
    /// (one of the two walks over a layer's tensors; the other is
    /// [`Layer::tensors_mut`]).
    pub fn tensors(&self) -> Vec<ParamView<'_, T>> {
        each_layer!(self, l => LayerKind::<T>::tensors(l))
    }

    /// The same tensors, in the same order, writable.
    pub fn tensors_mut(&mut self) -> Vec<TensorMut<'_, T>> {
        each_layer!(self, l => LayerKind::<T>::tensors_mut(l))
    }

    /// The trainable parameters, with their gradients.
    pub fn params(&self) -> Vec<ParamView<'_, T>> {
        self.tensors()
            .into_iter()
            .filter(ParamView::trainable)
            .collect()
    }

    /// The trainable parameters, writable, beside their gradients.
    pub fn params_mut(&mut self) -> Vec<TensorMut<'_, T>> {
        self.tensors_mut()
            .into_iter()
            .filter(TensorMut::trainable)
            .collect()
    }

    /// Number of trainable values.
    pub fn param_count(&self) -> usize {
        self.params().iter().map(|p| p.data.len()).sum()
    }

    /// A parameter or buffer as column-major `f64` data (R's layout: a
    /// matrix, or an array for convolution weights).
    pub fn param_col_major(p: &ParamView<'_, T>) -> Vec<f64> {
        let offsets = col_major_offsets(&p.shape);
        let mut out = vec![0.0; p.data.len()];
        for (&o, v) in offsets.iter().zip(p.data) {
            out[o] = v.as_f64();
        }
        out
    }

    /// Replaces parameter or buffer `name` with column-major `f64` data.
    pub fn set_param(&mut self, name: &str, data: &[f64]) -> Result<()> {
        let shape = {
            let tensors = self.tensors();
            if tensors.is_empty() {
                return Err(arg_err!(
                    "a {} layer has no parameters, so \"{name}\" cannot be set",
                    self.spec().kind()
                ));
            }
            let Some(p) = tensors.iter().find(|p| p.name == name) else {
                let names: Vec<String> =
                    tensors.iter().map(|p| format!("\"{}\"", p.name)).collect();
                return Err(arg_err!(
                    "a {} layer has parameters {}, not \"{name}\"",
                    self.spec().kind(),
                    names.join(", ")
                ));
            };
            p.shape.clone()
        };
        let size: usize = shape.iter().product();
        if data.len() != size {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            let what = if shape.len() == 1 {
                "values"
            } else {
                "values in all"
            };
            return Err(shape_err!(
                "{name} must be {} ({size} {what}), but {} values were given",
                if shape.len() == 1 {
                    format!("a vector of {size}")
                } else {
                    format!("a {} array", dims.join(" x "))
                },
                data.len()
            ));
        }
        let offsets = col_major_offsets(&shape);
        if let Some(t) = self.tensors_mut().into_iter().find(|t| t.name == name) {
            for (v, &o) in t.data.iter_mut().zip(&offsets) {
                *v = T::of(data[o]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip_in_r_layout() {
        let mut layer =
            Layer::<f32>::from_spec(LayerSpec::from_parts("linear", 2, 3).unwrap(), None).unwrap();
        // R's matrix(1:6, 2, 3)
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        layer.set_param("weight", &w).unwrap();
        layer.set_param("bias", &[7.0, 8.0, 9.0]).unwrap();
        let params = layer.params();
        assert_eq!(Layer::param_col_major(&params[0]), w.to_vec());
        assert_eq!(Layer::param_col_major(&params[1]), vec![7.0, 8.0, 9.0]);
        assert_eq!(layer.param_count(), 9);
        let Layer::Linear(l) = &layer else { panic!() };
        assert_eq!(l.weight[[1, 0]], 2.0); // row 2, column 1
    }

    /// The read-only list and the mutable visitor are written separately
    /// (Rust cannot share one match between `&` and `&mut`): they must agree.
    #[test]
    fn views_and_the_mutable_visitor_list_the_same_tensors() {
        let options = LayerOptions {
            kernel: [2, 3],
            ..Default::default()
        };
        let input = Some(Shape::image(2, 5, 5));
        for (kind, i, o) in [("linear", 3, 4), ("conv2d", 2, 3), ("batch_norm", 2, 0)] {
            let spec = LayerSpec::new(kind, i, o, &options).unwrap();
            let shape = if kind == "linear" { None } else { input };
            let mut layer = Layer::<f64>::from_spec(spec, shape).unwrap();
            let views: Vec<_> = layer
                .tensors()
                .iter()
                .map(|p| (p.name, p.data.len(), p.grad.len()))
                .collect();
            let mut visited = Vec::new();
            for t in layer.tensors_mut() {
                visited.push((t.name, t.data.len(), t.grad.len()));
            }
            assert_eq!(views, visited, "{kind}");
        }
    }

    #[test]
    fn bad_params_are_errors() {
        let mut layer =
            Layer::<f64>::from_spec(LayerSpec::from_parts("linear", 2, 3).unwrap(), None).unwrap();
        assert!(layer
            .set_param("weight", &[1.0; 5])
            .unwrap_err()
            .to_string()
            .contains("2 x 3"));
        assert!(layer.set_param("bias", &[1.0; 2]).is_err());
        assert!(layer.set_param("gamma", &[1.0; 3]).is_err());
        let mut act =
            Layer::<f64>::from_spec(LayerSpec::from_parts("tanh", 0, 0).unwrap(), None).unwrap();
        assert!(act.set_param("weight", &[]).is_err());
        assert!(LayerSpec::from_parts("linear", 0, 3).is_err());
        assert!(LayerSpec::from_parts("conv", 1, 1).is_err());
    }
}
