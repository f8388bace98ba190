//! Two-dimensional convolution (cross-correlation, as in PyTorch, Keras and
//! tutorial 002's `convolution()`): `out_channels` filters of
//! `in_channels x kernel` weights slide over the zero-padded input.
//!
//! Each sample is unfolded into a matrix whose rows are the (channel, kernel
//! row, kernel column) offsets and whose columns are the output positions
//! ("im2col"), so one matrix product per sample applies every filter at
//! every position. Samples are processed in fixed chunks of `CHUNK`, in
//! parallel; the weight gradient is summed per chunk and the chunks are
//! added in order, so results never depend on the number of threads.

use crate::error::{shape_err, Result};
use crate::gemm::matmul;
use crate::kind::{view, Backward, Forward, LayerKind, ParamView, Pass, TensorMut};
use crate::matrix::{try_zeros, try_zeros1, with_slices};
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use crate::shape::Shape;
use crate::window::Window;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

/// Samples per parallel task (and per partial weight gradient).
const CHUNK: usize = 8;

#[derive(Debug, Clone)]
pub struct Conv2d<T: Scalar> {
    /// `out_channels x (in_channels * kernel rows * kernel columns)`: each
    /// row is one filter, laid out as PyTorch's `(out, in, kh, kw)` weight.
    pub weight: Array2<T>,
    pub bias: Array1<T>,
    pub grad_weight: Array2<T>,
    pub grad_bias: Array1<T>,
    pub window: Window,
    pub input: Shape,
    /// Output rows and columns of each channel.
    out_size: (usize, usize),
    /// Partial gradients, one per chunk of the batch, reused across batches.
    partial_weight: Vec<Array2<T>>,
    partial_bias: Vec<Array1<T>>,
}

/// One backward task: its samples' inputs and output gradients, the
/// partial parameter gradients it fills, and its rows of dL/dinput.
struct BackwardTask<'a, T> {
    input: ArrayView2<'a, T>,
    grad_out: ArrayView2<'a, T>,
    grad_weight: &'a mut Array2<T>,
    grad_bias: &'a mut Array1<T>,
    grad_in: Option<ArrayViewMut2<'a, T>>,
}

impl<T: Scalar> Conv2d<T> {
    /// A layer with zero parameters for inputs of shape `input` (the R side
    /// draws the initial weights). The window must fit the input.
    pub fn zeros(input: Shape, out_channels: usize, window: Window) -> crate::error::Result<Self> {
        let out_size = window.output_size(input.height, input.width)?;
        // Each sample is unfolded into `fan_in x positions` values (see
        // `new_col`), allocated per task while the layer runs: a size the
        // engine does not take is refused here, before anything else.
        let (positions, fan_in) = (
            out_size.0.checked_mul(out_size.1),
            input.channels.checked_mul(window.area()),
        );
        let fan_in = match (positions, fan_in) {
            (Some(p), Some(f)) if p.checked_mul(f).is_some_and(|n| n <= Shape::MAX_SIZE) => f,
            _ => {
                return Err(shape_err!(
                    "a {} x {} kernel over {} channels would unfold each sample into more than the {} values the engine takes",
                    window.kernel[0],
                    window.kernel[1],
                    input.channels,
                    Shape::MAX_SIZE
                ))
            }
        };
        Ok(Conv2d {
            weight: try_zeros(out_channels, fan_in)?,
            bias: try_zeros1(out_channels)?,
            grad_weight: try_zeros(out_channels, fan_in)?,
            grad_bias: try_zeros1(out_channels)?,
            window,
            input,
            out_size,
            partial_weight: Vec::new(),
            partial_bias: Vec::new(),
        })
    }

    pub fn out_channels(&self) -> usize {
        self.weight.nrows()
    }

    pub fn output_shape(&self) -> Shape {
        Shape::image(self.out_channels(), self.out_size.0, self.out_size.1)
    }

    /// Positions per output channel.
    fn positions(&self) -> usize {
        self.out_size.0 * self.out_size.1
    }

    /// Unfolds one sample into `col`: row `(c, ky, kx)`, column `(oy, ox)`
    /// holds the input value under kernel offset `(ky, kx)` at output
    /// position `(oy, ox)` (zero in the padding).
    fn im2col(&self, x: &[T], col: &mut [T]) {
        let Shape { height, width, .. } = self.input;
        let [kh, kw] = self.window.kernel;
        let (oh, ow) = self.out_size;
        let (stride, pad) = (self.window.stride[1], self.window.padding[1]);
        for (r, row) in col.chunks_exact_mut(oh * ow).enumerate() {
            let (c, ky, kx) = (r / (kh * kw), (r / kw) % kh, r % kw);
            let inside = self.window.inside(1, kx, width, ow);
            for (oy, dst) in row.chunks_exact_mut(ow).enumerate() {
                let iy = self.window.source(0, oy, ky, height);
                let Some(iy) = iy.filter(|_| !inside.is_empty()) else {
                    dst.fill(T::zero());
                    continue;
                };
                let src = &x[(c * height + iy) * width..][..width];
                dst[..inside.start].fill(T::zero());
                dst[inside.end..].fill(T::zero());
                let first = inside.start * stride + kx - pad;
                if stride == 1 {
                    dst[inside.clone()].copy_from_slice(&src[first..first + inside.len()]);
                } else {
                    for (v, &s) in dst[inside.clone()]
                        .iter_mut()
                        .zip(src[first..].iter().step_by(stride))
                    {
                        *v = s;
                    }
                }
            }
        }
    }

    /// The reverse of `im2col`: adds each entry of `col` back onto the input
    /// value it was read from, giving dL/dinput in `grad_in`.
    fn col2im(&self, col: &[T], grad_in: &mut [T]) {
        let Shape { height, width, .. } = self.input;
        let [kh, kw] = self.window.kernel;
        let (oh, ow) = self.out_size;
        let (stride, pad) = (self.window.stride[1], self.window.padding[1]);
        grad_in.fill(T::zero());
        for (r, row) in col.chunks_exact(oh * ow).enumerate() {
            let (c, ky, kx) = (r / (kh * kw), (r / kw) % kh, r % kw);
            let inside = self.window.inside(1, kx, width, ow);
            for (oy, src) in row.chunks_exact(ow).enumerate() {
                let iy = self.window.source(0, oy, ky, height);
                let Some(iy) = iy.filter(|_| !inside.is_empty()) else {
                    continue;
                };
                let first = (c * height + iy) * width + inside.start * stride + kx - pad;
                let dst = grad_in[first..].iter_mut().step_by(stride);
                for (g, &v) in dst.zip(&src[inside.clone()]) {
                    *g = *g + v;
                }
            }
        }
    }

    /// `im2col` on a row of the batch (the buffers are contiguous: an owned
    /// array, and a row borrowed as a slice or copied if it is not).
    fn unfold(&self, x: ArrayView1<T>, col: &mut Array2<T>) {
        let x = x.as_standard_layout();
        if let (Some(x), Some(col)) = (x.as_slice(), col.as_slice_mut()) {
            self.im2col(x, col);
        }
    }

    /// `col2im` into a row of dL/dinput.
    fn fold(&self, col: &Array2<T>, mut grad_in: ArrayViewMut1<T>) {
        if let Some(col) = col.as_slice() {
            with_slices([], &mut grad_in, |[], g| self.col2im(col, g));
        }
    }

    /// One sample's output row seen as `out_channels x positions`.
    fn as_planes<'a>(&self, row: ArrayViewMut1<'a, T>) -> Option<ArrayViewMut2<'a, T>> {
        row.into_shape_with_order((self.out_channels(), self.positions()))
            .ok()
    }

    fn as_planes_ref<'a>(&self, row: ArrayView1<'a, T>) -> Option<ArrayView2<'a, T>> {
        row.into_shape_with_order((self.out_channels(), self.positions()))
            .ok()
    }

    fn new_col(&self) -> Array2<T> {
        Array2::zeros((self.weight.ncols(), self.positions()))
    }

    pub fn forward(&self, input: ArrayView2<T>, mut output: ArrayViewMut2<T>, par: &Parallel) {
        let tasks: Vec<_> = input
            .axis_chunks_iter(Axis(0), CHUNK)
            .zip(output.axis_chunks_iter_mut(Axis(0), CHUNK))
            .collect();
        par.for_each(tasks, |(input, mut output)| {
            let mut col = self.new_col();
            for (x, y) in input.rows().into_iter().zip(output.rows_mut()) {
                self.unfold(x, &mut col);
                let Some(mut planes) = self.as_planes(y) else {
                    continue;
                };
                for (mut plane, &b) in planes.rows_mut().into_iter().zip(&self.bias) {
                    plane.fill(b);
                }
                matmul(self.weight.view(), col.view(), T::one(), planes, 1);
            }
        });
    }

    /// Fills the weight and bias gradients and, when asked, `dL/dinput`.
    pub fn backward(
        &mut self,
        input: ArrayView2<T>,
        grad_out: ArrayView2<T>,
        mut grad_in: Option<ArrayViewMut2<T>>,
        par: &Parallel,
    ) {
        let chunks = input.nrows().div_ceil(CHUNK);
        let (w_dim, b_len) = (self.weight.dim(), self.bias.len());
        self.partial_weight
            .resize_with(chunks, || Array2::zeros(w_dim));
        self.partial_bias
            .resize_with(chunks, || Array1::zeros(b_len));
        // Moved out for the duration, so the tasks can share `self`.
        let mut partial_weight = std::mem::take(&mut self.partial_weight);
        let mut partial_bias = std::mem::take(&mut self.partial_bias);
        let grad_in_chunks: Vec<Option<ArrayViewMut2<T>>> = match grad_in.as_mut() {
            Some(g) => g.axis_chunks_iter_mut(Axis(0), CHUNK).map(Some).collect(),
            None => (0..chunks).map(|_| None).collect(),
        };
        let tasks: Vec<BackwardTask<T>> = input
            .axis_chunks_iter(Axis(0), CHUNK)
            .zip(grad_out.axis_chunks_iter(Axis(0), CHUNK))
            .zip(partial_weight.iter_mut().zip(partial_bias.iter_mut()))
            .zip(grad_in_chunks)
            .map(
                |(((input, grad_out), (grad_weight, grad_bias)), grad_in)| BackwardTask {
                    input,
                    grad_out,
                    grad_weight,
                    grad_bias,
                    grad_in,
                },
            )
            .collect();
        par.for_each(tasks, |task| self.backward_chunk(task));
        // Chunk by chunk, in order: the sums do not depend on the threads.
        self.grad_weight.fill(T::zero());
        self.grad_bias.fill(T::zero());
        for (gw, gb) in partial_weight.iter().zip(&partial_bias) {
            Zip::from(&mut self.grad_weight)
                .and(gw)
                .for_each(|g, &p| *g = *g + p);
            Zip::from(&mut self.grad_bias)
                .and(gb)
                .for_each(|g, &p| *g = *g + p);
        }
        self.partial_weight = partial_weight;
        self.partial_bias = partial_bias;
    }

    fn backward_chunk(&self, task: BackwardTask<T>) {
        let BackwardTask {
            input,
            grad_out,
            grad_weight,
            grad_bias,
            mut grad_in,
        } = task;
        let mut col = self.new_col();
        let mut grad_col = self.new_col();
        grad_weight.fill(T::zero());
        grad_bias.fill(T::zero());
        for (s, (x, dy)) in input.rows().into_iter().zip(grad_out.rows()).enumerate() {
            let Some(dy) = self.as_planes_ref(dy) else {
                continue;
            };
            self.unfold(x, &mut col);
            matmul(dy, col.t(), T::one(), grad_weight.view_mut(), 1);
            Zip::from(&mut *grad_bias)
                .and(dy.rows())
                .for_each(|b, plane| *b = *b + sum(plane));
            if let Some(g) = grad_in.as_mut() {
                matmul(self.weight.t(), dy, T::zero(), grad_col.view_mut(), 1);
                self.fold(&grad_col, g.row_mut(s));
            }
        }
    }
}

/// The sum of `values` in eight interleaved partial sums, added up in a
/// fixed order: as exact as one running sum, and not bound by the latency
/// of each addition waiting for the previous one.
fn sum<T: Scalar>(values: ArrayView1<T>) -> T {
    const LANES: usize = 8;
    let Some(values) = values.as_slice() else {
        return values.iter().fold(T::zero(), |acc, &v| acc + v);
    };
    let mut lanes = [T::zero(); LANES];
    let mut blocks = values.chunks_exact(LANES);
    for block in blocks.by_ref() {
        for (l, &v) in lanes.iter_mut().zip(block) {
            *l = *l + v;
        }
    }
    let tail = blocks.remainder().iter().fold(T::zero(), |acc, &v| acc + v);
    lanes.iter().fold(tail, |acc, &l| acc + l)
}

impl<T: Scalar> LayerKind<T> for Conv2d<T> {
    fn forward(&mut self, io: Forward<'_, T>, pass: &mut Pass) -> crate::error::Result<()> {
        Conv2d::forward(self, io.input, io.output, pass.par);
        Ok(())
    }

    fn backward(&mut self, grads: Backward<'_, T>, par: &Parallel) -> Result<()> {
        Conv2d::backward(self, grads.input, grads.grad_out, grads.grad_in, par);
        Ok(())
    }

    fn tensors(&self) -> Vec<ParamView<'_, T>> {
        let [kh, kw] = self.window.kernel;
        let (out, inp) = (self.out_channels(), self.input.channels);
        vec![
            view(
                "weight",
                vec![out, inp, kh, kw],
                &self.weight,
                Some(&self.grad_weight),
            ),
            view("bias", vec![out], &self.bias, Some(&self.grad_bias)),
        ]
    }

    fn tensors_mut(&mut self) -> Vec<TensorMut<'_, T>> {
        vec![
            TensorMut::of("weight", &mut self.weight, Some(&self.grad_weight)),
            TensorMut::of("bias", &mut self.bias, Some(&self.grad_bias)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Layer, LayerOptions, LayerSpec};
    use crate::network::Network;
    use crate::testing::{check_gradients, pseudo_matrix, random_net};

    fn conv_spec(cin: usize, cout: usize, k: [usize; 2], s: usize, p: usize) -> LayerSpec {
        let options = LayerOptions {
            kernel: k,
            stride: Some([s, s]),
            padding: [p, p],
            ..Default::default()
        };
        LayerSpec::new("conv2d", cin, cout, &options).unwrap()
    }

    /// The definition, written out with no unfolding: out[o, y, x] = b[o] +
    /// sum over c, ky, kx of w[o, c, ky, kx] * in[c, y*s + ky - p, x*s + kx - p].
    fn direct(conv: &Conv2d<f64>, x: &Array2<f64>) -> Array2<f64> {
        let Shape {
            channels,
            height,
            width,
            ..
        } = conv.input;
        let out = conv.output_shape();
        let [kh, kw] = conv.window.kernel;
        let (s, p) = (
            conv.window.stride[0] as isize,
            conv.window.padding[0] as isize,
        );
        Array2::from_shape_fn((x.nrows(), out.size()), |(i, j)| {
            let (o, y, xx) = (j / out.plane(), (j / out.width) % out.height, j % out.width);
            let mut acc = conv.bias[o];
            for c in 0..channels {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let iy = y as isize * s + ky as isize - p;
                        let ix = xx as isize * s + kx as isize - p;
                        if iy >= 0 && ix >= 0 && (iy as usize) < height && (ix as usize) < width {
                            let v = x[[i, (c * height + iy as usize) * width + ix as usize]];
                            acc += conv.weight[[o, (c * kh + ky) * kw + kx]] * v;
                        }
                    }
                }
            }
            acc
        })
    }

    #[test]
    fn forward_equals_the_direct_sum() {
        for &(k, s, p) in &[
            ([3, 3], 1, 0),
            ([3, 2], 2, 1),
            ([1, 1], 1, 0),
            ([5, 5], 1, 2),
        ] {
            let input = Shape::image(2, 6, 7);
            let net = random_net(&[conv_spec(2, 3, k, s, p)], Some(input));
            let Layer::Conv2d(conv) = &net.layers()[0] else {
                panic!()
            };
            let x = pseudo_matrix(11, input.size(), 0.4);
            let mut y = Array2::zeros((11, conv.output_shape().size()));
            conv.forward(x.view(), y.view_mut(), &Parallel::default());
            let want = direct(conv, &x);
            assert!(
                (&y - &want).iter().all(|d| d.abs() < 1e-12),
                "{k:?} {s} {p}"
            );
        }
    }

    #[test]
    fn gradients_match_central_differences() {
        for &(k, s, p) in &[
            ([3, 3], 1, 0),
            ([3, 2], 2, 1),
            ([2, 2], 1, 1),
            ([4, 4], 10, 3),
        ] {
            let input = Shape::image(2, 5, 6);
            let mut net = random_net(&[conv_spec(2, 3, k, s, p)], Some(input));
            // 10 samples: more than one chunk.
            check_gradients(&mut net, &pseudo_matrix(10, input.size(), 0.9));
        }
    }

    #[test]
    fn threads_do_not_change_the_bits() {
        let input = Shape::image(3, 12, 12);
        let specs = [conv_spec(3, 8, [3, 3], 1, 1)];
        let x = pseudo_matrix(37, input.size(), 0.2).mapv(|v| v as f32);
        let g = pseudo_matrix(37, 8 * 144, 0.3).mapv(|v| v as f32);
        let run = |threads: usize| {
            let mut net = Network::<f32>::new(&specs, Some(input)).unwrap();
            net.set_param(0, "weight", &crate::testing::pseudo(8 * 27, 0.5))
                .unwrap();
            net.parallel.set_threads(threads).unwrap();
            let out = net
                .forward(x.view(), crate::kind::Mode::Train)
                .unwrap()
                .to_owned();
            net.backward(g.view(), true).unwrap();
            let grads: Vec<Vec<f32>> = net.layers()[0]
                .params()
                .iter()
                .map(|p| p.grad.to_vec())
                .collect();
            (out, grads, net.input_grad().to_owned())
        };
        assert_eq!(run(1), run(2));
    }
}
