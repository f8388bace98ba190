//! What every kind of layer does (the [`LayerKind`] trait), and the views
//! and pass settings its methods take. Each layer implements it in its own
//! file; `layer.rs` dispatches to them and knows what each one is.

use crate::error::Result;
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use ndarray::{ArrayView2, ArrayViewMut2};
use rand::rngs::StdRng;

/// Whether a forward pass is part of training (dropout active) or inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Infer,
}

/// One tensor of a layer's state, read-only, with its name and shape: a
/// trained parameter beside its gradient, or a buffer (batch
/// normalization's running statistics), learned but not by the optimizer,
/// whose `grad` is empty.
pub struct ParamView<'a, T> {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub data: &'a [T],
    pub grad: &'a [T],
}

impl<T> ParamView<'_, T> {
    pub fn trainable(&self) -> bool {
        !self.grad.is_empty()
    }
}

/// The same tensor, writable (its gradient read-only; empty for a buffer).
pub struct TensorMut<'a, T> {
    pub name: &'static str,
    pub data: &'a mut [T],
    pub grad: &'a [T],
}

impl<'a, T> TensorMut<'a, T> {
    /// `data` (and `grad`; `None` for a buffer) named `name`.
    pub fn of<D: ndarray::Dimension>(
        name: &'static str,
        data: &'a mut ndarray::Array<T, D>,
        grad: Option<&'a ndarray::Array<T, D>>,
    ) -> Self {
        TensorMut {
            name,
            data: slice_mut(data.as_slice_mut()),
            grad: grad.map_or(&[], |g| slice(g.as_slice())),
        }
    }

    pub fn trainable(&self) -> bool {
        !self.grad.is_empty()
    }
}

/// A view of `data` (and `grad`; `None` for a buffer) named `name`.
pub(crate) fn view<'a, T, D: ndarray::Dimension>(
    name: &'static str,
    shape: Vec<usize>,
    data: &'a ndarray::Array<T, D>,
    grad: Option<&'a ndarray::Array<T, D>>,
) -> ParamView<'a, T> {
    ParamView {
        name,
        shape,
        data: slice(data.as_slice()),
        grad: grad.map_or(&[], |g| slice(g.as_slice())),
    }
}

/// What a forward pass needs besides its input and output: the threads,
/// training or inference, and the generator dropout draws its masks from.
pub struct Pass<'a> {
    pub par: &'a Parallel,
    pub mode: Mode,
    pub rng: &'a mut StdRng,
}

/// A forward pass's input and where its output goes.
pub struct Forward<'a, T> {
    pub input: ArrayView2<'a, T>,
    pub output: ArrayViewMut2<'a, T>,
}

/// What a backward pass reads (the forward pass's input and output, and
/// `dL/doutput`) and, when the layer below needs it, where `dL/dinput` goes.
pub struct Backward<'a, T> {
    pub input: ArrayView2<'a, T>,
    pub output: ArrayView2<'a, T>,
    pub grad_out: ArrayView2<'a, T>,
    pub grad_in: Option<ArrayViewMut2<'a, T>>,
}

/// What every kind of layer does, each in its own file (`linear.rs`,
/// `conv.rs`, `pool.rs`, `batchnorm.rs`, `dropout.rs`, `activation.rs`, and
/// `Flatten` in `layer.rs`); `Layer` only dispatches to it. What a layer
/// is (its `LayerSpec`) and how one is built from it are `layer.rs`'s.
pub trait LayerKind<T: Scalar> {
    /// `io.output = layer(io.input)`.
    fn forward(&mut self, io: Forward<'_, T>, pass: &mut Pass) -> Result<()>;

    /// Fills the parameter gradients and, if `grads.grad_in` is given,
    /// `dL/dinput`. Only a layer computed by the host (see `custom.rs`) can
    /// fail here.
    fn backward(&mut self, grads: Backward<'_, T>, par: &Parallel) -> Result<()>;

    /// Every tensor of its state, read-only: trained parameters with their
    /// gradients, then buffers. [`LayerKind::tensors_mut`] lists the same
    /// ones in the same order (a test keeps the two in step).
    fn tensors(&self) -> Vec<ParamView<'_, T>> {
        Vec::new()
    }

    fn tensors_mut(&mut self) -> Vec<TensorMut<'_, T>> {
        Vec::new()
    }

    /// The penalty (L1/L2) it adds to the loss.
    fn penalty(&self) -> f64 {
        0.0
    }

    /// Whether a training pass draws random numbers (dropout).
    fn random_in_training(&self) -> bool {
        false
    }
}

// Parameters are created by `zeros`/`from_iter` in standard layout, so their
// slices always exist; the fallback keeps this total without a panic path.
pub(crate) fn slice<T>(s: Option<&[T]>) -> &[T] {
    s.unwrap_or(&[])
}

pub(crate) fn slice_mut<T>(s: Option<&mut [T]>) -> &mut [T] {
    s.unwrap_or(&mut [])
}
