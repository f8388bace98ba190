//! Layers whose passes the host computes (in R, layers written by users):
//! the engine keeps their parameters and gradients like any layer's, so
//! the optimizers train them by the same rules, and asks the host for the
//! forward and backward passes through [`CustomCompute`].
//!
//! The host runs on one thread (R's), so a custom layer may only be called
//! on the thread that built it: the engine runs layers one after another
//! on the calling thread (its thread pool only ever runs pieces of one
//! layer's arithmetic), and [`CustomLayer`] checks it.

use crate::error::{NnError, Result};
use crate::kind::{Backward, Forward, LayerKind, ParamView, Pass, TensorMut};
use crate::matrix::col_major_offsets;
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use ndarray::{Array1, Array2, ArrayView2};
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;

/// What the host computes for a custom layer. Matrices have one sample per
/// row; parameters are flat, in the host's (column-major) layout. An `Err`
/// is a sentence for the user; the host may keep more (an R condition).
pub trait CustomCompute: Send {
    /// The layer's output for `input`, given its parameters.
    fn forward(
        &mut self,
        input: ArrayView2<'_, f64>,
        params: &[Vec<f64>],
        training: bool,
    ) -> std::result::Result<Array2<f64>, String>;

    /// From `dL/doutput` of the last forward pass: `dL/dinput` and the
    /// gradient of every parameter, in the order of the parameters.
    fn backward(
        &mut self,
        grad_output: ArrayView2<'_, f64>,
    ) -> std::result::Result<(Array2<f64>, Vec<Vec<f64>>), String>;
}

/// What a custom layer is: its name for messages, its parameters' names
/// and shapes, its output width, and the host's computation.
pub struct CustomDef {
    pub name: String,
    pub params: Vec<(&'static str, Vec<usize>)>,
    pub out_width: usize,
    compute: Mutex<Box<dyn CustomCompute>>,
    thread: ThreadId,
}

impl CustomDef {
    /// A definition whose passes `compute` runs, callable on this thread only.
    pub fn new(
        name: &str,
        params: Vec<(String, Vec<usize>)>,
        out_width: usize,
        compute: Box<dyn CustomCompute>,
    ) -> Result<Arc<Self>> {
        if out_width == 0 {
            return Err(NnError::InvalidArgument(format!(
                "layer {name} must have at least one output"
            )));
        }
        let mut seen = HashSet::new();
        for (p, shape) in &params {
            if p.is_empty() || !seen.insert(p.clone()) {
                return Err(NnError::InvalidArgument(format!(
                    "the parameters of layer {name} need distinct, non-empty names"
                )));
            }
            if shape.iter().product::<usize>() == 0 {
                return Err(NnError::InvalidArgument(format!(
                    "parameter {p} of layer {name} has no values"
                )));
            }
        }
        Ok(Arc::new(CustomDef {
            name: name.to_string(),
            params: params.into_iter().map(|(p, s)| (intern(&p), s)).collect(),
            out_width,
            compute: Mutex::new(compute),
            thread: std::thread::current().id(),
        }))
    }

    fn sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.params.iter().map(|(_, s)| s.iter().product())
    }

    /// The host's computation, on the thread that built it only.
    fn compute(&self) -> Result<std::sync::MutexGuard<'_, Box<dyn CustomCompute>>> {
        if std::thread::current().id() != self.thread {
            return Err(NnError::State(format!(
                "layer {} is computed by R and cannot run on another thread",
                self.name
            )));
        }
        // Never block: a second call while one runs (the host calling the
        // same network from inside the layer) is an error, not a deadlock.
        self.compute.try_lock().map_err(|_| {
            NnError::State(format!(
                "layer {} is already running (called from inside itself?)",
                self.name
            ))
        })
    }
}

impl fmt::Debug for CustomDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomDef")
            .field("name", &self.name)
            .field("params", &self.params)
            .field("out_width", &self.out_width)
            .finish()
    }
}

/// Two specs of custom layers are equal when they are the same definition.
impl PartialEq for CustomDef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

/// Parameter names as the engine keeps them (`&'static str`, as the
/// built-in layers' are): each distinct name is stored once per process.
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// A built custom layer: its definition, parameters and their gradients.
#[derive(Debug, Clone)]
pub struct CustomLayer<T> {
    def: Arc<CustomDef>,
    params: Vec<Array1<T>>,
    grads: Vec<Array1<T>>,
}

impl<T: Scalar> CustomLayer<T> {
    /// With zero parameters (the host sets them, as it sets any layer's).
    pub fn new(def: Arc<CustomDef>) -> Self {
        let params: Vec<Array1<T>> = def.sizes().map(Array1::zeros).collect();
        let grads = params.clone();
        CustomLayer { def, params, grads }
    }

    pub fn def(&self) -> Arc<CustomDef> {
        Arc::clone(&self.def)
    }

    fn failed(&self, method: &str, why: String) -> NnError {
        NnError::State(format!("layer {}'s {method}() {why}", self.def.name))
    }

    /// `m` as `T`, if it is `rows x cols` and finite.
    fn checked(
        &self,
        method: &str,
        what: &str,
        m: &Array2<f64>,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        if m.dim() != (rows, cols) {
            return Err(self.failed(
                method,
                format!(
                    "returned {what} of {} x {}, but must return {rows} x {cols}",
                    m.nrows(),
                    m.ncols()
                ),
            ));
        }
        if !m.iter().all(|v| v.is_finite()) {
            return Err(self.failed(
                method,
                format!("returned {what} with NA, NaN or infinite values"),
            ));
        }
        Ok(())
    }
}

fn to_f64<T: Scalar>(m: ArrayView2<'_, T>) -> Array2<f64> {
    m.mapv(Scalar::as_f64)
}

impl<T: Scalar> LayerKind<T> for CustomLayer<T> {
    fn forward(&mut self, io: Forward<'_, T>, pass: &mut Pass) -> Result<()> {
        let Forward { input, mut output } = io;
        // The engine keeps every tensor row-major; the host's layout is
        // column-major (see `Layer::param_col_major`).
        let params: Vec<Vec<f64>> = self
            .def
            .params
            .iter()
            .zip(&self.params)
            .map(|((_, shape), p)| {
                let mut host = vec![0.0; p.len()];
                for (&o, &v) in col_major_offsets(shape).iter().zip(p) {
                    host[o] = v.as_f64();
                }
                host
            })
            .collect();
        let training = pass.mode == crate::kind::Mode::Train;
        let out = self
            .def
            .compute()?
            .forward(to_f64(input.view()).view(), &params, training)
            .map_err(|why| self.failed("forward", why))?;
        // The buffer's width is the network's; it is the layer's own
        // whenever the network knows its input's shape.
        let (rows, cols) = output.dim();
        self.checked(
            "forward",
            "a matrix",
            &out,
            rows,
            cols.max(self.def.out_width),
        )?;
        if cols != self.def.out_width {
            return Err(self.failed(
                "forward",
                "cannot run before the network knows its input's shape".into(),
            ));
        }
        output.zip_mut_with(&out, |o, &v| *o = T::of(v));
        Ok(())
    }

    fn backward(&mut self, grads: Backward<'_, T>, _par: &Parallel) -> Result<()> {
        let (grad_in, param_grads) = self
            .def
            .compute()?
            .backward(to_f64(grads.grad_out.view()).view())
            .map_err(|why| self.failed("backward", why))?;
        let (rows, cols) = grads.input.dim();
        self.checked("backward", "a gradient", &grad_in, rows, cols)?;
        let sizes: Vec<usize> = self.def.sizes().collect();
        if param_grads.len() != sizes.len() {
            return Err(self.failed(
                "backward",
                format!(
                    "set {} gradients, but the layer has {} parameters",
                    param_grads.len(),
                    sizes.len()
                ),
            ));
        }
        for (((name, _), g), &size) in self.def.params.iter().zip(&param_grads).zip(&sizes) {
            if g.len() != size || !g.iter().all(|v| v.is_finite()) {
                return Err(self.failed(
                    "backward",
                    format!("set a gradient of {name} with {} values (or non-finite ones), but {name} has {size}", g.len()),
                ));
            }
        }
        for (((_, shape), dst), g) in self
            .def
            .params
            .iter()
            .zip(&mut self.grads)
            .zip(&param_grads)
        {
            for (d, &o) in dst.iter_mut().zip(&col_major_offsets(shape)) {
                *d = T::of(g[o]);
            }
        }
        if let Some(mut gi) = grads.grad_in {
            gi.zip_mut_with(&grad_in, |o, &v| *o = T::of(v));
        }
        Ok(())
    }

    fn tensors(&self) -> Vec<ParamView<'_, T>> {
        self.def
            .params
            .iter()
            .zip(self.params.iter().zip(&self.grads))
            .map(|((name, shape), (p, g))| crate::kind::view(name, shape.clone(), p, Some(g)))
            .collect()
    }

    fn tensors_mut(&mut self) -> Vec<TensorMut<'_, T>> {
        self.def
            .params
            .iter()
            .zip(self.params.iter_mut().zip(&self.grads))
            .map(|((name, _), (p, g))| TensorMut::of(name, p, Some(g)))
            .collect()
    }
}

/// A loss the host computes: its value for predictions against targets,
/// and the gradient with respect to the predictions.
pub trait CustomLossCompute: Send {
    fn value_and_grad(
        &mut self,
        pred: ArrayView2<'_, f64>,
        target: ArrayView2<'_, f64>,
    ) -> std::result::Result<(f64, Array2<f64>), String>;
}

/// A loss written by the user (in R), callable on the thread that made it.
pub struct CustomLoss {
    name: String,
    compute: Mutex<Box<dyn CustomLossCompute>>,
    thread: ThreadId,
}

impl CustomLoss {
    pub fn new(name: &str, compute: Box<dyn CustomLossCompute>) -> Arc<Self> {
        Arc::new(CustomLoss {
            name: name.to_string(),
            compute: Mutex::new(compute),
            thread: std::thread::current().id(),
        })
    }

    fn failed(&self, why: String) -> NnError {
        NnError::State(format!("loss {} {why}", self.name))
    }

    /// The value and the gradient, checked: one finite number, and a finite
    /// gradient shaped like the predictions.
    pub fn value_and_grad<T: Scalar>(
        &self,
        pred: ArrayView2<'_, T>,
        target: ArrayView2<'_, T>,
    ) -> Result<(f64, Array2<T>)> {
        if std::thread::current().id() != self.thread {
            return Err(self.failed("is computed by R and cannot run on another thread".into()));
        }
        let (value, grad) = self
            .compute
            .try_lock()
            .map_err(|_| self.failed("is already running".into()))?
            .value_and_grad(to_f64(pred).view(), to_f64(target).view())
            .map_err(|why| self.failed(why))?;
        if grad.dim() != pred.dim() || !grad.iter().all(|v| v.is_finite()) {
            return Err(self.failed(format!(
                "returned a gradient of {} x {} (or with values that are not finite), but the predictions are {} x {}",
                grad.nrows(),
                grad.ncols(),
                pred.nrows(),
                pred.ncols()
            )));
        }
        Ok((value, grad.mapv(T::of)))
    }
}

impl fmt::Debug for CustomLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomLoss")
            .field("name", &self.name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerSpec;
    use crate::network::Network;
    use crate::Mode;
    use ndarray::array;

    /// `y = x w` in the host's layout (w is `in x out`, column-major), as a
    /// host would compute it.
    struct HostLinear {
        input: Array2<f64>,
        w: Array2<f64>,
    }

    fn from_col_major(data: &[f64], rows: usize, cols: usize) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(r, c)| data[r + c * rows])
    }

    impl CustomCompute for HostLinear {
        fn forward(
            &mut self,
            input: ArrayView2<'_, f64>,
            params: &[Vec<f64>],
            _training: bool,
        ) -> std::result::Result<Array2<f64>, String> {
            self.input = input.to_owned();
            self.w = from_col_major(&params[0], 2, 3);
            Ok(input.dot(&self.w))
        }

        fn backward(
            &mut self,
            grad: ArrayView2<'_, f64>,
        ) -> std::result::Result<(Array2<f64>, Vec<Vec<f64>>), String> {
            let gw = self.input.t().dot(&grad);
            let col_major: Vec<f64> = gw.t().iter().copied().collect();
            Ok((grad.dot(&self.w.t()), vec![col_major]))
        }
    }

    #[test]
    fn a_host_layer_trains_as_the_built_in_one() {
        let host = HostLinear {
            input: Array2::zeros((0, 0)),
            w: Array2::zeros((0, 0)),
        };
        let def = CustomDef::new(
            "HostLinear",
            vec![("w".into(), vec![2, 3])],
            3,
            Box::new(host),
        )
        .unwrap();
        let input = Some(crate::Shape::flat(2));
        let mut custom = Network::<f64>::new(&[LayerSpec::Custom(def)], input).unwrap();
        let linear = LayerSpec::from_parts("linear", 2, 3).unwrap();
        let mut builtin = Network::<f64>::new(&[linear], None).unwrap();
        let w = [0.5, -1.0, 2.0, 0.25, 1.5, -0.75];
        custom.set_param(0, "w", &w).unwrap();
        builtin.set_param(0, "weight", &w).unwrap();
        let x = array![[1.0, 2.0], [-1.0, 0.5], [3.0, -2.0]];
        let g = array![[1.0, 0.0, -1.0], [0.5, 2.0, 1.0], [0.0, 1.0, 0.0]];
        let a = custom.forward(x.view(), Mode::Train).unwrap().to_owned();
        let b = builtin.forward(x.view(), Mode::Train).unwrap().to_owned();
        assert_eq!(a, b);
        custom.backward(g.view(), true).unwrap();
        builtin.backward(g.view(), true).unwrap();
        assert_eq!(custom.input_grad(), builtin.input_grad());
        let grad_of = |net: &Network<f64>| net.layers()[0].params()[0].grad.to_vec();
        assert_eq!(grad_of(&custom), grad_of(&builtin));
    }

    #[test]
    fn a_wrong_shape_from_the_host_is_an_error_naming_the_layer() {
        struct Wrong;
        impl CustomCompute for Wrong {
            fn forward(
                &mut self,
                input: ArrayView2<'_, f64>,
                _: &[Vec<f64>],
                _: bool,
            ) -> std::result::Result<Array2<f64>, String> {
                Ok(Array2::zeros((input.nrows(), 5)))
            }
            fn backward(
                &mut self,
                _: ArrayView2<'_, f64>,
            ) -> std::result::Result<(Array2<f64>, Vec<Vec<f64>>), String> {
                Err("no".into())
            }
        }
        let def = CustomDef::new("Wrong", vec![], 2, Box::new(Wrong)).unwrap();
        let mut net =
            Network::<f32>::new(&[LayerSpec::Custom(def)], Some(crate::Shape::flat(2))).unwrap();
        let err = net
            .forward(array![[1.0f32, 2.0]].view(), Mode::Infer)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("layer Wrong's forward() returned a matrix of 1 x 5"),
            "{err}"
        );
    }
}
