//! Thin extendr glue between R and `rustnn-core`, split by concern:
//!
//! * [`convert`]: R values in and out (matrices, image arrays, parameter
//!   lists, errors as values) and [`convert::Settings`], the one way to read
//!   a named list from R;
//! * [`settings`]: the R classes' descriptions (layers, losses, optimizers,
//!   callbacks, fit's settings) as the core's types;
//! * [`network`]: the network's calls (build, shapes, parameters, manual
//!   passes, predict, optimizer steps) and the loss and metric helpers;
//! * [`dataset`]: data sets the engine holds (from matrices, IDX files,
//!   data set files);
//! * [`fit`]: a training session R starts, runs between pauses and finishes;
//! * [`custom`]: layers written in R, whose passes the engine asks R for;
//! * [`catalog`]: the closed sets of names the core knows, for the R side;
//! * [`untrusted`]: a model file's payload read as plain data only;
//! * [`onnx`]: ONNX files written from a network and read back as plain data.
//! * [`machine`]: what the engine knows of the CPU it runs on.
//!
//! Every function is internal (prefixed `rn_`): the public API is the R
//! code on top. Errors come back to R as values (see [`convert::to_r`]); the
//! R side re-signals them as classed conditions.

mod catalog;
mod convert;
mod custom;
mod dataset;
mod fit;
mod interrupt;
mod machine;
mod network;
mod onnx;
mod settings;
mod untrusted;

use extendr_api::prelude::*;

extendr_module! {
    mod rustnn;
    use network;
    use dataset;
    use fit;
    use catalog;
    use untrusted;
    use onnx;
    use machine;
}
