//! A network: a stack of layers plus the workspace its passes reuse.
//!
//! The workspace holds every layer's output (`acts[i + 1]` is the output of
//! layer `i`, `acts[0]` the input batch) and the gradient of the loss with
//! respect to each of them (`deltas[i]`). A layer's backward pass reads its
//! input and output from there, so no layer keeps a copy of its own, and the
//! buffers are reallocated only when the batch size changes.

use crate::dataset::SampleView;
use crate::error::{arg_err, shape_err, NnError, Result};
use crate::kind::Mode;
use crate::layer::{Layer, LayerSpec};
use crate::loss::{Loss, Objective};
use crate::matrix::ensure_shape;
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use crate::shape::Shape;
use ndarray::{s, Array2, ArrayView1, ArrayView2};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Rows pushed through the network at once by `predict`, at most, and
/// values in its widest layer's buffer, at most (fewer rows for wide image
/// layers), to bound memory and stay near the cache.
const PREDICT_ROWS: usize = 4096;
const PREDICT_VALUES: usize = 1 << 21;

#[derive(Debug)]
pub struct Network<T: Scalar> {
    layers: Vec<Layer<T>>,
    /// `shapes[i]` is the shape of a sample entering layer `i` (the last is
    /// the network's output), where known: a network of activations alone
    /// takes inputs of any width.
    shapes: Vec<Option<Shape>>,
    acts: Vec<Array2<T>>,
    deltas: Vec<Array2<T>>,
    /// Rows of the batch whose activations are in `acts`, once a forward pass ran.
    forward_rows: Option<usize>,
    /// Whether `deltas` holds the gradients of a full `backward` from the
    /// current forward pass (training's fused pass skips some of them).
    backward_done: bool,
    pub parallel: Parallel,
    /// Draws dropout masks; reseeded by every `fit()` and manual forward pass
    /// from a seed the host takes from its own RNG.
    pub rng: StdRng,
}

impl<T: Scalar> Network<T> {
    /// Builds the layers (parameters zero) after checking that each layer
    /// can take what the layers before it produce. `input` is the shape of
    /// one sample; without it, the first layer that implies one (a linear
    /// layer) decides, and convolution or pooling before that is an error.
    pub fn new(specs: &[LayerSpec], input: Option<Shape>) -> Result<Self> {
        let shapes = Self::propagate_shapes(specs, input)?;
        let layers = specs
            .iter()
            .zip(&shapes)
            .map(|(spec, shape)| Layer::from_spec(spec.clone(), *shape))
            .collect::<Result<Vec<_>>>()?;
        let n = specs.len();
        Ok(Network {
            layers,
            shapes,
            acts: vec![Array2::zeros((0, 0)); n + 1],
            deltas: vec![Array2::zeros((0, 0)); n + 1],
            forward_rows: None,
            backward_done: false,
            parallel: Parallel::default(),
            rng: StdRng::seed_from_u64(0),
        })
    }

    /// The shape entering each layer, then the output's (see `shapes`).
    fn propagate_shapes(specs: &[LayerSpec], input: Option<Shape>) -> Result<Vec<Option<Shape>>> {
        if specs.is_empty() {
            return Err(arg_err!("a network needs at least one layer"));
        }
        if let Some(s) = input.filter(|s| s.checked_size().is_none()) {
            return Err(shape_err!(
                "an input of {} x {} x {} values per sample is more than the {} the engine takes",
                s.channels,
                s.height,
                s.width,
                Shape::MAX_SIZE
            ));
        }
        let mut shapes = Vec::with_capacity(specs.len() + 1);
        let mut current = input;
        for (i, spec) in specs.iter().enumerate() {
            // A linear layer fixes the width of its input when nothing
            // before it did.
            current = current.or_else(|| spec.implied_input());
            if current.is_none() && spec.needs_input_shape() {
                return Err(NnError::State(format!(
                    "layer {} ({}) needs to know the shape of its input: give the network an input shape (channels x height x width)",
                    i + 1,
                    spec.kind()
                )));
            }
            shapes.push(current);
            current = match current {
                Some(shape) => {
                    let out = spec
                        .output_shape(shape)
                        .map_err(|e| shape_err!("layer {} ({}) {e}", i + 1, spec.kind()))?;
                    if out.checked_size().is_none() {
                        return Err(shape_err!(
                            "layer {} ({}) would produce {} x {} x {} values per sample, more than the {} the engine takes",
                            i + 1,
                            spec.kind(),
                            out.channels,
                            out.height,
                            out.width,
                            Shape::MAX_SIZE
                        ));
                    }
                    Some(out)
                }
                None => None,
            };
        }
        shapes.push(current);
        // Activations, dropout and flattening before that linear layer keep
        // their input's size, so it is the network's input shape too (left
        // unknown, a flatten layer would take inputs of any width and hand
        // the linear layer the wrong one).
        if let Some(first) = shapes.iter().position(Option::is_some) {
            let agnostic = |s: &LayerSpec| {
                matches!(
                    s,
                    LayerSpec::Activation(_) | LayerSpec::Dropout { .. } | LayerSpec::Flatten
                )
            };
            if specs[..first].iter().all(agnostic) {
                let known = shapes[first];
                shapes[..first].iter_mut().for_each(|s| *s = known);
            }
        }
        Ok(shapes)
    }

    /// Shape of a sample entering each layer, then of the output (`None`
    /// where any width is accepted).
    pub fn shapes(&self) -> &[Option<Shape>] {
        &self.shapes
    }

    pub fn layers(&self) -> &[Layer<T>] {
        &self.layers
    }

    pub fn layers_mut(&mut self) -> &mut [Layer<T>] {
        &mut self.layers
    }

    /// Input width, if some layer fixes it (a network of activations takes any).
    /// The layers, and the threads to update them on (an optimizer step).
    pub fn layers_and_threads(&mut self) -> (&mut [Layer<T>], &Parallel) {
        (&mut self.layers, &self.parallel)
    }

    pub fn input_dim(&self) -> Option<usize> {
        self.shapes[0].map(Shape::size)
    }

    /// Output width for inputs of width `input_dim`.
    pub fn output_dim(&self, input_dim: usize) -> usize {
        self.shapes[self.layers.len()].map_or(input_dim, Shape::size)
    }

    pub fn param_count(&self) -> usize {
        self.layers.iter().map(Layer::param_count).sum()
    }

    /// The L1/L2 penalty the layers add to the loss.
    pub fn penalty(&self) -> f64 {
        self.layers.iter().map(Layer::penalty).sum()
    }

    /// Whether any layer behaves differently in training (dropout).
    pub fn has_training_mode(&self) -> bool {
        self.layers.iter().any(Layer::random_in_training)
    }

    /// Whether any layer keeps buffers that a training pass moves (batch
    /// normalization's running statistics).
    pub fn has_buffers(&self) -> bool {
        self.layers
            .iter()
            .any(|l| l.tensors().iter().any(|p| !p.trainable()))
    }

    /// Every parameter's and buffer's values, in network order.
    pub fn copy_params(&self, into: &mut Vec<Vec<T>>) {
        into.resize(
            self.layers.iter().map(|l| l.tensors().len()).sum(),
            Vec::new(),
        );
        let views = self.layers.iter().flat_map(|l| l.tensors());
        for (dst, p) in into.iter_mut().zip(views) {
            dst.clear();
            dst.extend_from_slice(p.data);
        }
    }

    /// Whether every parameter and buffer is finite.
    pub fn params_finite(&self) -> bool {
        self.layers
            .iter()
            .flat_map(|l| l.tensors())
            .all(|p| p.data.iter().all(|v| v.is_finite()))
    }

    /// Puts back values taken by `copy_params` from this network.
    pub fn restore_params(&mut self, from: &[Vec<T>]) {
        let mut sources = from.iter();
        for t in self.layers.iter_mut().flat_map(Layer::tensors_mut) {
            if let Some(src) = sources.next() {
                t.data.copy_from_slice(src);
            }
        }
    }

    pub fn set_param(&mut self, layer: usize, name: &str, data: &[f64]) -> Result<()> {
        let count = self.layers.len();
        self.layers
            .get_mut(layer)
            .ok_or_else(|| {
                arg_err!(
                    "layer {} does not exist; the network has {count}",
                    layer as u128 + 1
                )
            })?
            .set_param(name, data)
    }

    fn check_input_width(&self, ncols: usize) -> Result<()> {
        match self.input_dim() {
            Some(d) if d != ncols => Err(shape_err!(
                "input has {ncols} columns, but the network expects {d}"
            )),
            _ => Ok(()),
        }
    }

    /// Copies rows `rows` of `x` into the input buffer (a mini-batch).
    pub(crate) fn load_samples(&mut self, x: SampleView<T>, rows: &[usize]) -> Result<()> {
        // The last forward pass's input is gone: backward must not run on it.
        self.forward_rows = None;
        self.backward_done = false;
        let input = &mut self.acts[0];
        ensure_shape(input, rows.len(), x.ncols())?;
        x.gather(rows, input.view_mut(), &self.parallel)
    }

    /// Runs every layer on the batch in the input buffer.
    pub(crate) fn forward_loaded(&mut self, mode: Mode) -> Result<()> {
        self.forward_rows = None;
        self.backward_done = false;
        let rows = self.acts[0].nrows();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let width = self.shapes[i + 1].map_or(self.acts[i].ncols(), Shape::size);
            let (done, rest) = self.acts.split_at_mut(i + 1);
            ensure_shape(&mut rest[0], rows, width)?;
            layer.forward(
                done[i].view(),
                rest[0].view_mut(),
                &self.parallel,
                mode,
                &mut self.rng,
            )?;
        }
        self.forward_rows = Some(rows);
        Ok(())
    }

    /// Forward pass over `x`, keeping every layer's output for `backward`.
    pub fn forward(&mut self, x: ArrayView2<T>, mode: Mode) -> Result<ArrayView2<'_, T>> {
        self.check_input_width(x.ncols())?;
        let input = &mut self.acts[0];
        ensure_shape(input, x.nrows(), x.ncols())?;
        input.assign(&x);
        self.forward_loaded(mode)?;
        Ok(self.output())
    }

    /// Output of the last forward pass.
    pub fn output(&self) -> ArrayView2<'_, T> {
        self.acts[self.layers.len()].view()
    }

    /// Output of layer `i` (0-based) in the last forward pass.
    pub fn layer_output(&self, i: usize) -> Option<ArrayView2<'_, T>> {
        self.acts.get(i + 1).map(|a| a.view())
    }

    /// Gradient of the loss with respect to the network's input, after a
    /// `backward(.., true)`.
    pub fn input_grad(&self) -> ArrayView2<'_, T> {
        self.deltas[0].view()
    }

    fn require_forward(&self, rows: usize) -> Result<()> {
        match self.forward_rows {
            None => Err(NnError::State(
                "backward needs the outputs of a forward pass: call forward() first (predict() and fit() replace them)".into(),
            )),
            Some(r) if r != rows => Err(shape_err!(
                "the gradient has {rows} rows, but the last forward pass had {r}"
            )),
            Some(_) => Ok(()),
        }
    }

    /// Backpropagates `grad_output` (dL/doutput of the last forward pass),
    /// filling every parameter gradient; with `input_grad`, also dL/dinput.
    pub fn backward(&mut self, grad_output: ArrayView2<T>, input_grad: bool) -> Result<()> {
        self.require_forward(grad_output.nrows())?;
        let top = self.layers.len();
        if grad_output.dim() != self.acts[top].dim() {
            let (r, c) = self.acts[top].dim();
            return Err(shape_err!(
                "the gradient is {} x {}, but the network's output is {r} x {c}",
                grad_output.nrows(),
                grad_output.ncols()
            ));
        }
        ensure_shape(
            &mut self.deltas[top],
            grad_output.nrows(),
            grad_output.ncols(),
        )?;
        self.deltas[top].assign(&grad_output);
        self.backward_from(top, input_grad)?;
        self.backward_done = true;
        Ok(())
    }

    /// Every layer's output in the last forward pass, first layer first.
    pub fn kept_outputs(&self) -> Result<Vec<ArrayView2<'_, T>>> {
        self.require_forward_any()?;
        Ok(self.acts[1..].iter().map(|a| a.view()).collect())
    }

    /// The gradient of the loss with respect to every layer's output, from
    /// the last `backward` (the last one is the gradient it was given).
    pub fn kept_output_grads(&self) -> Result<Vec<ArrayView2<'_, T>>> {
        self.require_forward_any()?;
        if !self.backward_done {
            return Err(NnError::State(
                "there are no gradients to show: call backward() after forward()".into(),
            ));
        }
        Ok(self.deltas[1..].iter().map(|a| a.view()).collect())
    }

    fn require_forward_any(&self) -> Result<()> {
        match self.forward_rows {
            Some(_) => Ok(()),
            None => Err(NnError::State(
                "there are no layer outputs to show: call forward() first (predict() and fit() replace them)".into(),
            )),
        }
    }

    /// Loss of the last forward pass against `target` (with optional per-row
    /// `weights`), then the backward pass (the input gradient is skipped:
    /// training never needs it). Uses the fused loss when the last layer
    /// allows it.
    pub fn loss_backward(
        &mut self,
        loss: Loss,
        target: ArrayView2<T>,
        weights: Option<ArrayView1<T>>,
    ) -> Result<f64> {
        self.require_forward(target.nrows())?;
        let top = self.layers.len();
        let fused = match &self.layers[top - 1] {
            Layer::Activation(a) => loss.fuses_with(*a),
            _ => false,
        };
        let start = if fused { top - 1 } else { top };
        let (r, c) = self.acts[start].dim();
        ensure_shape(&mut self.deltas[start], r, c)?;
        let value = if fused {
            loss.fused_value_and_grad(
                self.acts[top - 1].view(),
                self.acts[top].view(),
                target,
                weights,
                Some(self.deltas[top - 1].view_mut()),
            )?
        } else {
            loss.value_and_grad(
                self.acts[top].view(),
                target,
                weights,
                Some(self.deltas[top].view_mut()),
            )?
        };
        self.backward_from(start, false)?;
        Ok(value)
    }

    /// [`Network::loss_backward`] for what training minimizes: a built-in
    /// loss, or one the host computes (its gradient with respect to the
    /// output, then the layers' backward passes; no row weights).
    pub fn objective_backward(
        &mut self,
        objective: &Objective,
        target: ArrayView2<T>,
        weights: Option<ArrayView1<T>>,
    ) -> Result<f64> {
        let loss = match objective {
            Objective::Builtin(loss) => return self.loss_backward(*loss, target, weights),
            Objective::Custom(loss) => loss,
        };
        if weights.is_some() {
            return Err(arg_err!("a loss written in R takes no row weights"));
        }
        self.require_forward(target.nrows())?;
        let top = self.layers.len();
        let (value, grad) = loss.value_and_grad(self.acts[top].view(), target)?;
        ensure_shape(&mut self.deltas[top], grad.nrows(), grad.ncols())?;
        self.deltas[top].assign(&grad);
        self.backward_from(top, false)?;
        Ok(value)
    }

    /// Runs layers `top - 1` down to 0 from `deltas[top]`.
    fn backward_from(&mut self, top: usize, input_grad: bool) -> Result<()> {
        for i in (0..top).rev() {
            let want_grad_in = i > 0 || input_grad;
            if want_grad_in {
                let (r, c) = self.acts[i].dim();
                ensure_shape(&mut self.deltas[i], r, c)?;
            }
            let (below, above) = self.deltas.split_at_mut(i + 1);
            let grad_in = if want_grad_in {
                Some(below[i].view_mut())
            } else {
                None
            };
            self.layers[i].backward(
                self.acts[i].view(),
                self.acts[i + 1].view(),
                above[0].view(),
                grad_in,
                &self.parallel,
            )?;
        }
        Ok(())
    }

    /// Outputs for every row of `x`, computed `PREDICT_ROWS` rows at a time;
    /// `fill_input` writes rows `start..end` of the input into the buffer it
    /// is given. `stop` is asked before each chunk but the first, so that
    /// the host can check for an interrupt: if it says so, the prediction
    /// ends with [`NnError::Interrupted`].
    pub fn predict_with(
        &mut self,
        nrow: usize,
        ncol: usize,
        mut fill_input: impl FnMut(usize, usize, &mut Array2<T>) -> Result<()>,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<Array2<T>> {
        self.check_input_width(ncol)?;
        let mut out = Array2::zeros((nrow, self.output_dim(ncol)));
        let widest = self
            .shapes
            .iter()
            .flatten()
            .map(|s| s.size())
            .fold(ncol, usize::max);
        let chunk = (PREDICT_VALUES / widest.max(1)).clamp(1, PREDICT_ROWS);
        let mut start = 0;
        while start < nrow {
            if start > 0 && stop() {
                self.forward_rows = None;
                return Err(NnError::Interrupted);
            }
            let end = (start + chunk).min(nrow);
            ensure_shape(&mut self.acts[0], end - start, ncol)?;
            fill_input(start, end, &mut self.acts[0])?;
            self.forward_loaded(Mode::Infer)?;
            out.slice_mut(s![start..end, ..]).assign(&self.output());
            start = end;
        }
        // The workspace now holds the last predict chunk, not a batch that
        // backward could use.
        self.forward_rows = None;
        Ok(out)
    }

    pub fn predict(&mut self, x: ArrayView2<T>) -> Result<Array2<T>> {
        self.predict_samples(x.into(), &mut || false)
    }

    /// [`Network::predict`] of a matrix or a data set, asking `stop`
    /// between chunks (see [`Network::predict_with`]).
    pub fn predict_samples(
        &mut self,
        x: SampleView<T>,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<Array2<T>> {
        self.predict_with(
            x.nrows(),
            x.ncols(),
            |start, end, buf| x.read_range(start, end, buf.view_mut()),
            stop,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use ndarray::array;

    fn specs(parts: &[(&str, usize, usize)]) -> Vec<LayerSpec> {
        parts
            .iter()
            .map(|&(k, i, o)| LayerSpec::from_parts(k, i, o).unwrap())
            .collect()
    }

    fn small_net() -> Network<f64> {
        let mut net = Network::new(
            &specs(&[
                ("linear", 2, 3),
                ("tanh", 0, 0),
                ("linear", 3, 2),
                ("softmax", 0, 0),
            ]),
            None,
        )
        .unwrap();
        net.set_param(0, "weight", &[0.1, -0.4, 0.3, 0.8, -0.6, 0.2])
            .unwrap();
        net.set_param(0, "bias", &[0.01, -0.02, 0.03]).unwrap();
        net.set_param(2, "weight", &[0.5, -0.3, 0.2, -0.1, 0.4, 0.7])
            .unwrap();
        net.set_param(2, "bias", &[0.05, -0.05]).unwrap();
        net
    }

    fn owned(views: Result<Vec<ArrayView2<'_, f64>>>) -> Vec<Array2<f64>> {
        views.unwrap().iter().map(|a| a.to_owned()).collect()
    }

    /// The kept outputs are the layers' own computations, and the kept
    /// gradients chain back from the gradient given to backward.
    #[test]
    fn kept_outputs_and_gradients_follow_the_layers() {
        let mut net = small_net();
        assert!(net.kept_outputs().is_err());
        let x = array![[0.5, -1.0], [2.0, 0.25]];
        net.forward(x.view(), Mode::Train).unwrap();
        assert!(net.kept_output_grads().is_err());
        let kept = owned(net.kept_outputs());
        assert_eq!(kept.len(), 4);
        let w1 = array![[0.1, 0.3, -0.6], [-0.4, 0.8, 0.2]];
        let z1 = x.dot(&w1) + &array![0.01, -0.02, 0.03];
        assert!((&kept[0] - &z1).iter().all(|d| d.abs() < 1e-15));
        assert!((&kept[1] - &z1.mapv(f64::tanh))
            .iter()
            .all(|d| d.abs() < 1e-15));
        assert_eq!(kept[3], net.output());

        let g = array![[1.0, -1.0], [0.5, 0.0]];
        net.backward(g.view(), true).unwrap();
        let grads = owned(net.kept_output_grads());
        assert_eq!(grads[3], g);
        // Through tanh: dL/dz1 = dL/da1 * (1 - a1^2).
        let through_tanh = &grads[1] * &kept[1].mapv(|a| 1.0 - a * a);
        assert!((&grads[0] - &through_tanh).iter().all(|d| d.abs() < 1e-15));
        // A new forward pass makes the old gradients stale.
        net.forward(x.view(), Mode::Train).unwrap();
        assert!(net.kept_output_grads().is_err());
    }

    #[test]
    fn mismatched_layers_are_rejected() {
        let err = Network::<f32>::new(
            &specs(&[("linear", 2, 4), ("relu", 0, 0), ("linear", 5, 1)]),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer 3 (linear) expects 5 inputs, but gets 4"
        );
        assert!(Network::<f32>::new(&[], None).is_err());
    }

    fn window(kind: &str, cin: usize, cout: usize, k: usize) -> LayerSpec {
        let options = crate::layer::LayerOptions {
            kernel: [k, k],
            ..Default::default()
        };
        LayerSpec::new(kind, cin, cout, &options).unwrap()
    }

    /// The CNN in miniature: conv, ReLU, max pool, flatten, linear,
    /// softmax; every gradient checked through the whole stack.
    #[test]
    fn a_small_cnn_has_the_right_shapes_and_gradients() {
        let layers = vec![
            window("conv2d", 1, 3, 3),
            LayerSpec::from_parts("relu", 0, 0).unwrap(),
            window("max_pool2d", 0, 0, 2),
            LayerSpec::from_parts("flatten", 0, 0).unwrap(),
            LayerSpec::from_parts("linear", 12, 4).unwrap(),
            LayerSpec::from_parts("softmax", 0, 0).unwrap(),
        ];
        let input = Shape::image(1, 6, 6);
        let mut net = crate::testing::random_net(&layers, Some(input));
        let shapes: Vec<String> = net
            .shapes()
            .iter()
            .map(|s| s.unwrap().to_string())
            .collect();
        assert_eq!(
            shapes,
            [
                "1 x 6 x 6",
                "3 x 4 x 4",
                "3 x 4 x 4",
                "3 x 2 x 2",
                "12",
                "4",
                "4"
            ]
        );
        assert_eq!(net.input_dim(), Some(36));
        assert_eq!(net.output_dim(36), 4);
        crate::testing::check_gradients(&mut net, &crate::testing::pseudo_matrix(9, 36, 0.6));
    }

    #[test]
    fn shapes_are_known_from_the_first_linear_layer_after_width_keeping_ones() {
        let net = Network::<f32>::new(&specs(&[("relu", 0, 0), ("linear", 3, 2)]), None).unwrap();
        assert_eq!(net.input_dim(), Some(3));
        // Batch normalization before it may see images: the input's shape
        // must be given.
        let layers = specs(&[("batch_norm", 2, 0), ("flatten", 0, 0), ("linear", 60, 2)]);
        assert!(Network::<f32>::new(&layers, None).is_err());
        let net = Network::<f32>::new(&layers, Some(Shape::image(2, 5, 6))).unwrap();
        assert_eq!(net.input_dim(), Some(60));
        assert_eq!(net.output_dim(60), 2);
        let err = Network::<f32>::new(&layers, Some(Shape::image(3, 4, 5))).unwrap_err();
        assert!(err.to_string().contains("expects 2 channels"), "{err}");
    }

    #[test]
    fn image_layers_need_a_fitting_input_shape() {
        let conv = window("conv2d", 1, 2, 3);
        let err = Network::<f32>::new(std::slice::from_ref(&conv), None).unwrap_err();
        assert!(matches!(err, NnError::State(_)));
        assert!(err
            .to_string()
            .contains("layer 1 (conv2d) needs to know the shape"));
        let err = Network::<f32>::new(std::slice::from_ref(&conv), Some(Shape::image(1, 2, 5)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer 1 (conv2d) has a 3 x 3 kernel, larger than its input (2 x 5)"
        );
        let err = Network::<f32>::new(std::slice::from_ref(&conv), Some(Shape::image(3, 8, 8)))
            .unwrap_err();
        assert!(err
            .to_string()
            .contains("expects 1 input channel, but gets 3 x 8 x 8"));
        let after_linear = [LayerSpec::from_parts("linear", 4, 9).unwrap(), conv.clone()];
        let err = Network::<f32>::new(&after_linear, None).unwrap_err();
        assert!(err.to_string().contains("needs images"), "{err}");
        let too_wide = [conv, LayerSpec::from_parts("linear", 10, 2).unwrap()];
        let err = Network::<f32>::new(&too_wide, Some(Shape::image(1, 5, 5))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer 2 (linear) expects 10 inputs, but gets 18 (2 x 3 x 3)"
        );
    }

    #[test]
    fn forward_checks_width_and_backward_needs_forward() {
        let mut net = small_net();
        assert_eq!(net.input_dim(), Some(2));
        assert_eq!(net.param_count(), 9 + 8);
        let bad = Array2::<f64>::zeros((4, 5));
        assert_eq!(
            net.forward(bad.view(), Mode::Train)
                .unwrap_err()
                .to_string(),
            "input has 5 columns, but the network expects 2"
        );
        let g = Array2::<f64>::zeros((4, 2));
        assert!(matches!(
            net.backward(g.view(), false),
            Err(NnError::State(_))
        ));
    }

    /// The fused training gradient equals backprop of the plain loss
    /// gradient through the softmax, and both match central differences.
    #[test]
    fn loss_backward_matches_numerical_gradient() {
        let x = array![[0.5, -1.0], [1.5, 0.25], [-0.3, 0.8]];
        let y = array![[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]];
        let mut net = small_net();
        net.forward(x.view(), Mode::Train).unwrap();
        net.loss_backward(Loss::CrossEntropy, y.view(), None)
            .unwrap();
        let analytic: Vec<Vec<f64>> = net
            .layers()
            .iter()
            .flat_map(|l| l.params().into_iter().map(|p| p.grad.to_vec()))
            .collect();
        // Unfused path: loss gradient wrt probabilities, then backward.
        let mut net2 = small_net();
        let p = net2.forward(x.view(), Mode::Train).unwrap().to_owned();
        let mut g = Array2::zeros(p.dim());
        Loss::CrossEntropy
            .value_and_grad(p.view(), y.view(), None, Some(g.view_mut()))
            .unwrap();
        net2.backward(g.view(), true).unwrap();
        let unfused: Vec<Vec<f64>> = net2
            .layers()
            .iter()
            .flat_map(|l| l.params().into_iter().map(|p| p.grad.to_vec()))
            .collect();
        let eps = 1e-6;
        let loss_at = |net: &mut Network<f64>| {
            let p = net.forward(x.view(), Mode::Train).unwrap().to_owned();
            Loss::CrossEntropy
                .value_and_grad(p.view(), y.view(), None, None)
                .unwrap()
        };
        let mut k = 0;
        for layer in [0usize, 2] {
            for name in ["weight", "bias"] {
                let reference = small_net();
                let base: Vec<f64> = {
                    let l = &reference.layers()[layer];
                    let pv = l.params();
                    let pv = pv.iter().find(|p| p.name == name).unwrap();
                    Layer::param_col_major(pv)
                };
                // Gradients are row-major; compare element by element in that order.
                let shape = reference.layers()[layer]
                    .params()
                    .iter()
                    .find(|p| p.name == name)
                    .unwrap()
                    .shape
                    .clone();
                for (idx, (&a, &u)) in analytic[k].iter().zip(&unfused[k]).enumerate() {
                    let col_major_idx = if shape.len() == 2 {
                        let (r, c) = (idx / shape[1], idx % shape[1]);
                        r + c * shape[0]
                    } else {
                        idx
                    };
                    let mut plus = base.clone();
                    plus[col_major_idx] += eps;
                    let mut minus = base.clone();
                    minus[col_major_idx] -= eps;
                    let mut np = small_net();
                    np.set_param(layer, name, &plus).unwrap();
                    let mut nm = small_net();
                    nm.set_param(layer, name, &minus).unwrap();
                    let numeric = (loss_at(&mut np) - loss_at(&mut nm)) / (2.0 * eps);
                    let rel = (numeric - a).abs() / (1e-10 + numeric.abs().max(a.abs()));
                    assert!(rel < 1e-6, "layer {layer} {name}[{idx}]: {numeric} vs {a}");
                    assert!((a - u).abs() < 1e-12);
                }
                k += 1;
            }
        }
        assert_eq!(net2.input_grad().dim(), (3, 2));
    }

    #[test]
    fn predict_in_chunks_equals_forward() {
        let mut net =
            Network::<f32>::new(&specs(&[("linear", 3, 2), ("sigmoid", 0, 0)]), None).unwrap();
        net.set_param(0, "weight", &[0.3, -0.2, 0.1, 0.5, 0.4, -0.6])
            .unwrap();
        let x = Array2::from_shape_fn((PREDICT_ROWS * 2 + 7, 3), |(i, j)| ((i + j) as f32).sin());
        let all = net.predict(x.view()).unwrap();
        let direct = net.forward(x.view(), Mode::Train).unwrap().to_owned();
        assert_eq!(all, direct);
        assert_eq!(Activation::Sigmoid.name(), "sigmoid");
    }

    #[test]
    fn predict_asks_between_chunks_and_stops_when_told() {
        let mut net = Network::<f64>::new(&specs(&[("linear", 3, 2)]), None).unwrap();
        let x = Array2::from_shape_fn((PREDICT_ROWS * 2 + 7, 3), |(i, j)| ((i + j) as f64).cos());
        let fill = |start: usize, end: usize, buf: &mut Array2<f64>| {
            buf.assign(&x.slice(s![start..end, ..]));
            Ok(())
        };
        // Three chunks: asked twice, before the second and the third.
        let mut asked = 0;
        let all = net
            .predict_with(x.nrows(), 3, fill, &mut || {
                asked += 1;
                false
            })
            .unwrap();
        assert_eq!(asked, 2);
        let mut asked = 0;
        let stopped = net.predict_with(x.nrows(), 3, fill, &mut || {
            asked += 1;
            true
        });
        assert_eq!(stopped, Err(NnError::Interrupted));
        assert_eq!(asked, 1);
        // Nothing is left half done: backward refuses, predict works again.
        assert!(net.backward(all.view(), false).is_err());
        assert_eq!(net.predict(x.view()).unwrap(), all);
    }
}
