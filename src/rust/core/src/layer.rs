//! A layer of a network: what it is (`LayerSpec`, plain data that R can store
//! and rebuild from) and the built thing with its parameters (`Layer`).
//!
//! Parameters are exchanged by name (`"weight"`, `"bias"`) as flat `f64`
//! data in column-major order, the layout of an R matrix.

use crate::activation::Activation;
use crate::dropout::{Dropout, Mode};
use crate::error::{arg_err, check_fraction, check_non_negative, shape_err, Result};
use crate::linear::Linear;
use crate::matrix::{to_col_major, ColMajor};
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use ndarray::{Array1, ArrayView2, ArrayViewMut2};
use rand::rngs::StdRng;

/// Optional settings of a layer, as R passes them: only the ones a layer
/// kind uses are read (`alpha` by parameterized activations, `rate` by
/// dropout, `l1`/`l2` by linear layers).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LayerOptions {
    pub alpha: Option<f64>,
    pub rate: Option<f64>,
    pub l1: f64,
    pub l2: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
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
}

impl LayerSpec {
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
            _ => Activation::build(kind, options.alpha).map(LayerSpec::Activation),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Activation(a) => a.name(),
            LayerSpec::Dropout { .. } => "dropout",
        }
    }

    /// Input width the layer insists on, if any (activations take any width).
    pub fn input_dim(&self) -> Option<usize> {
        match self {
            LayerSpec::Linear { in_features, .. } => Some(*in_features),
            LayerSpec::Activation(_) | LayerSpec::Dropout { .. } => None,
        }
    }

    pub fn output_dim(&self, input_dim: usize) -> usize {
        match self {
            LayerSpec::Linear { out_features, .. } => *out_features,
            LayerSpec::Activation(_) | LayerSpec::Dropout { .. } => input_dim,
        }
    }
}

/// One parameter tensor, read-only, with its name and shape.
pub struct ParamView<'a, T> {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub data: &'a [T],
    pub grad: &'a [T],
}

// A network holds a handful of layers in one Vec: boxing the large variant
// would add an indirection on every pass to save a few hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Layer<T: Scalar> {
    Linear(Linear<T>),
    Activation(Activation),
    Dropout(Dropout<T>),
}

impl<T: Scalar> Layer<T> {
    pub fn from_spec(spec: LayerSpec) -> Self {
        match spec {
            LayerSpec::Linear {
                in_features,
                out_features,
                l1,
                l2,
            } => Layer::Linear(Linear {
                l1,
                l2,
                ..Linear::zeros(in_features, out_features)
            }),
            LayerSpec::Activation(a) => Layer::Activation(a),
            LayerSpec::Dropout { rate } => Layer::Dropout(Dropout::new(rate)),
        }
    }

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
        }
    }

    /// `output = layer(input)`; `mode` and `rng` matter to dropout only.
    pub fn forward(
        &mut self,
        input: ArrayView2<T>,
        output: ArrayViewMut2<T>,
        par: &Parallel,
        mode: Mode,
        rng: &mut StdRng,
    ) {
        match self {
            Layer::Linear(l) => l.forward(input, output, par),
            Layer::Activation(a) => a.forward(input, output),
            Layer::Dropout(d) => d.forward(input, output, mode, rng),
        }
    }

    /// The penalty (L1/L2) this layer adds to the loss.
    pub fn penalty(&self) -> f64 {
        match self {
            Layer::Linear(l) => l.penalty(),
            _ => 0.0,
        }
    }

    /// Computes parameter gradients and, if `grad_in` is given, `dL/dinput`.
    /// Activations have no parameters, so without `grad_in` they do nothing.
    pub fn backward(
        &mut self,
        input: ArrayView2<T>,
        output: ArrayView2<T>,
        grad_out: ArrayView2<T>,
        grad_in: Option<ArrayViewMut2<T>>,
        par: &Parallel,
    ) {
        match self {
            Layer::Linear(l) => l.backward(input, grad_out, grad_in, par),
            Layer::Activation(a) => {
                if let Some(grad_in) = grad_in {
                    a.backward(input, output, grad_out, grad_in)
                }
            }
            Layer::Dropout(d) => {
                if let Some(grad_in) = grad_in {
                    d.backward(grad_out, grad_in)
                }
            }
        }
    }

    pub fn params(&self) -> Vec<ParamView<'_, T>> {
        match self {
            Layer::Linear(l) => vec![
                ParamView {
                    name: "weight",
                    shape: vec![l.in_features(), l.out_features()],
                    data: slice(l.weight.as_slice()),
                    grad: slice(l.grad_weight.as_slice()),
                },
                ParamView {
                    name: "bias",
                    shape: vec![l.out_features()],
                    data: slice(l.bias.as_slice()),
                    grad: slice(l.grad_bias.as_slice()),
                },
            ],
            Layer::Activation(_) | Layer::Dropout(_) => Vec::new(),
        }
    }

    /// Calls `f(param, grad)` for each parameter beside its gradient, in the
    /// order of [`Layer::params`]. Optimizers run this on every step, so it
    /// allocates nothing.
    pub fn for_each_param_mut(&mut self, mut f: impl FnMut(&mut [T], &[T])) {
        match self {
            Layer::Linear(l) => {
                f(
                    slice_mut(l.weight.as_slice_mut()),
                    slice(l.grad_weight.as_slice()),
                );
                f(
                    slice_mut(l.bias.as_slice_mut()),
                    slice(l.grad_bias.as_slice()),
                );
            }
            Layer::Activation(_) | Layer::Dropout(_) => {}
        }
    }

    pub fn param_count(&self) -> usize {
        self.params().iter().map(|p| p.data.len()).sum()
    }

    /// Parameter `name` as column-major `f64` data (R's layout).
    pub fn param_col_major(p: &ParamView<'_, T>) -> Vec<f64> {
        if p.shape.len() == 2 {
            let view = ArrayView2::from_shape((p.shape[0], p.shape[1]), p.data)
                .expect("parameter data always matches its shape");
            to_col_major(view)
        } else {
            p.data.iter().map(|v| v.as_f64()).collect()
        }
    }

    /// Replaces parameter `name` with column-major `f64` data.
    pub fn set_param(&mut self, name: &str, data: &[f64]) -> Result<()> {
        let Layer::Linear(l) = self else {
            return Err(arg_err!(
                "a {} layer has no parameters, so \"{name}\" cannot be set",
                self.spec().kind()
            ));
        };
        match name {
            "weight" => {
                let m = ColMajor::new(data, l.in_features(), l.out_features()).map_err(|_| {
                    shape_err!(
                        "weight must be a {} x {} matrix ({} values), but {} values were given",
                        l.in_features(),
                        l.out_features(),
                        l.in_features() * l.out_features(),
                        data.len()
                    )
                })?;
                l.weight = m.to_array();
            }
            "bias" => {
                if data.len() != l.out_features() {
                    return Err(shape_err!(
                        "bias must have {} values, but {} were given",
                        l.out_features(),
                        data.len()
                    ));
                }
                l.bias = Array1::from_iter(data.iter().map(|&v| T::of(v)));
            }
            other => {
                return Err(arg_err!(
                    "a linear layer has parameters \"weight\" and \"bias\", not \"{other}\""
                ))
            }
        }
        Ok(())
    }
}

// Parameters are created by `zeros`/`from_iter` in standard layout, so their
// slices always exist; the fallback keeps this total without a panic path.
fn slice<T>(s: Option<&[T]>) -> &[T] {
    s.unwrap_or(&[])
}

fn slice_mut<T>(s: Option<&mut [T]>) -> &mut [T] {
    s.unwrap_or(&mut [])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip_in_r_layout() {
        let mut layer = Layer::<f32>::from_spec(LayerSpec::from_parts("linear", 2, 3).unwrap());
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

    #[test]
    fn bad_params_are_errors() {
        let mut layer = Layer::<f64>::from_spec(LayerSpec::from_parts("linear", 2, 3).unwrap());
        assert!(layer
            .set_param("weight", &[1.0; 5])
            .unwrap_err()
            .to_string()
            .contains("2 x 3"));
        assert!(layer.set_param("bias", &[1.0; 2]).is_err());
        assert!(layer.set_param("gamma", &[1.0; 3]).is_err());
        let mut act = Layer::<f64>::from_spec(LayerSpec::from_parts("tanh", 0, 0).unwrap());
        assert!(act.set_param("weight", &[]).is_err());
        assert!(LayerSpec::from_parts("linear", 0, 3).is_err());
        assert!(LayerSpec::from_parts("conv", 1, 1).is_err());
    }
}
