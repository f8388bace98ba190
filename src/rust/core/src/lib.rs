//! rustnn-core: the numeric engine behind the rustnn R package.
//!
//! Nothing in this crate knows about R. Matrices and image arrays cross the
//! boundary as plain column-major `f64` slices (the way R stores them);
//! inside, every batch is a row-major `ndarray::Array2` whose rows are
//! samples (an image sample flattened in channel, row, column order; see
//! [`Shape`]), computed in `f32` or `f64` (`Scalar`). A [`Network`] is a stack of [`Layer`]s with reusable
//! workspace buffers; [`train::fit`] runs the whole training loop (epochs,
//! shuffling, mini-batches, forward, loss, backward, optimizer step) in one
//! call, reporting to the caller through an observer closure so the host can
//! check for interrupts and print progress between batches.

pub mod activation;
pub mod any;
pub mod batchnorm;
pub mod callbacks;
pub mod catalog;
pub mod conv;
pub mod custom;
pub mod dataset;
pub mod dropout;
pub mod error;
pub mod gemm;
pub mod kind;
pub mod layer;
pub mod lbfgs;
pub mod linear;
pub mod loss;
pub mod matrix;
pub mod metrics;
pub mod network;
pub mod onnx;
pub mod optim;
pub mod parallel;
pub mod pool;
pub mod scalar;
pub mod shape;
pub mod simd;
#[cfg(test)]
pub(crate) mod testing;
pub mod track;
pub mod train;
pub mod untrusted;
pub mod window;

pub use activation::Activation;
pub use any::{AnyNetwork, Dtype};
pub use callbacks::{EarlyStopping, Schedule};
pub use dataset::Dataset;
pub use error::{NnError, Result};
pub use kind::Mode;
pub use layer::{Layer, LayerOptions, LayerSpec};
pub use lbfgs::Lbfgs;
pub use loss::Loss;
pub use matrix::ColMajor;
pub use metrics::{Metric, Tally};
/// The array crate of the engine's types, for the glue.
pub use ndarray;
pub use network::Network;
pub use optim::{Optimizer, OptimizerConfig, OptimizerState};
pub use scalar::Scalar;
pub use shape::Shape;
pub use track::Tracking;
pub use train::{Control, Event, FitReport, FitStatus, TrainConfig, TrainData};
