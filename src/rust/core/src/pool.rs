//! Max and average pooling over each channel of an image, with a window that
//! slides by `stride` (by default the window's size, so windows do not
//! overlap). No parameters.
//!
//! Max pooling's backward pass sends each output's gradient to the first
//! input position holding the window's maximum (the one the forward pass
//! picked), found again from the input and output the network keeps, so the
//! layer stores nothing between passes. Average pooling spreads it evenly.

use crate::error::Result;
use crate::kind::{Backward, Forward, LayerKind, Pass};
use crate::matrix::with_slices;
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use crate::shape::Shape;
use crate::simd::vectorized;
use crate::window::Window;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use std::ops::Range;

/// Samples per parallel task.
const CHUNK: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average,
}

impl PoolKind {
    pub fn name(self) -> &'static str {
        match self {
            PoolKind::Max => "max_pool2d",
            PoolKind::Average => "avg_pool2d",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool2d {
    pub kind: PoolKind,
    pub window: Window,
    pub input: Shape,
    out_size: (usize, usize),
}

impl Pool2d {
    pub fn new(kind: PoolKind, window: Window, input: Shape) -> crate::error::Result<Self> {
        let out_size = window.output_size(input.height, input.width)?;
        Ok(Pool2d {
            kind,
            window,
            input,
            out_size,
        })
    }

    pub fn output_shape(&self) -> Shape {
        Shape::image(self.input.channels, self.out_size.0, self.out_size.1)
    }

    /// Calls `f(output index, input rows, input columns)` for every output
    /// value of one sample (channel `c`'s input rows start at `c * height`);
    /// padding positions are left out of the ranges.
    fn for_each_window(&self, mut f: impl FnMut(usize, usize, Range<usize>, Range<usize>)) {
        let Shape {
            channels,
            height,
            width,
            ..
        } = self.input;
        let (oh, ow) = self.out_size;
        for c in 0..channels {
            for oy in 0..oh {
                let rows = self.window.span(0, oy, height);
                for ox in 0..ow {
                    let cols = self.window.span(1, ox, width);
                    f((c * oh + oy) * ow + ox, c, rows.clone(), cols);
                }
            }
        }
    }

    #[inline(always)]
    fn forward_sample<T: Scalar>(&self, x: &[T], y: &mut [T]) {
        if self.window.padding == [0, 0] {
            return self.forward_unpadded(x, y);
        }
        let Shape { height, width, .. } = self.input;
        match self.kind {
            PoolKind::Max => self.for_each_window(|out, c, rows, cols| {
                // Branch-free maximum (the first one wins ties); a NaN in
                // the window makes the output NaN, as in PyTorch.
                let (mut acc, mut nan) = (T::neg_infinity(), false);
                for iy in rows {
                    for &v in &x[(c * height + iy) * width..][cols.clone()] {
                        acc = if v > acc { v } else { acc };
                        nan |= v.is_nan();
                    }
                }
                y[out] = if nan { T::nan() } else { acc };
            }),
            PoolKind::Average => {
                let scale = T::of(1.0 / self.window.area() as f64);
                self.for_each_window(|out, c, rows, cols| {
                    let mut acc = T::zero();
                    for iy in rows {
                        for &v in &x[(c * height + iy) * width..][cols.clone()] {
                            acc = acc + v;
                        }
                    }
                    y[out] = acc * scale;
                })
            }
        }
    }

    /// [`Pool2d::forward_sample`] without padding, where every window lies
    /// inside the image: for each output row, the window's input rows are
    /// first combined value by value (a loop that vectorizes), then each
    /// window's columns. Max propagates NaN, as in PyTorch.
    #[inline(always)]
    fn forward_unpadded<T: Scalar>(&self, x: &[T], y: &mut [T]) {
        match self.kind {
            PoolKind::Max => self.reduce_unpadded(x, y, T::neg_infinity(), max_nan, T::one()),
            PoolKind::Average => {
                let scale = T::of(1.0 / self.window.area() as f64);
                self.reduce_unpadded(x, y, T::zero(), |a, b| a + b, scale)
            }
        }
    }

    /// Each window of `x` folded with `combine` from `init`, times `scale`.
    #[inline(always)]
    fn reduce_unpadded<T: Scalar>(
        &self,
        x: &[T],
        y: &mut [T],
        init: T,
        combine: impl Fn(T, T) -> T,
        scale: T,
    ) {
        let Shape {
            channels,
            height,
            width,
            ..
        } = self.input;
        let ([kh, kw], [sh, sw]) = (self.window.kernel, self.window.stride);
        let (oh, ow) = self.out_size;
        let mut rows = vec![init; width];
        for c in 0..channels {
            let plane = &x[c * height * width..(c + 1) * height * width];
            for oy in 0..oh {
                rows.fill(init);
                for ky in 0..kh {
                    let line = &plane[(oy * sh + ky) * width..][..width];
                    for (r, &v) in rows.iter_mut().zip(line) {
                        *r = combine(*r, v);
                    }
                }
                let out = &mut y[(c * oh + oy) * ow..][..ow];
                for (ox, o) in out.iter_mut().enumerate() {
                    let window = &rows[ox * sw..][..kw];
                    *o = window.iter().fold(init, |acc, &v| combine(acc, v)) * scale;
                }
            }
        }
    }

    #[inline(always)]
    fn backward_sample<T: Scalar>(&self, x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
        let Shape { height, width, .. } = self.input;
        dx.fill(T::zero());
        if self.kind == PoolKind::Max && self.window.padding == [0, 0] {
            return self.max_backward_unpadded(x, y, dy, dx);
        }
        match self.kind {
            // The first cell equal to the maximum is the one forward picked;
            // with a NaN in the window none is, and no gradient flows.
            PoolKind::Max => self.for_each_window(|out, c, rows, cols| {
                'window: for iy in rows {
                    let line = (c * height + iy) * width;
                    for ix in cols.clone() {
                        if x[line + ix] == y[out] {
                            dx[line + ix] = dx[line + ix] + dy[out];
                            break 'window;
                        }
                    }
                }
            }),
            PoolKind::Average => {
                let scale = T::of(1.0 / self.window.area() as f64);
                self.for_each_window(|out, c, rows, cols| {
                    let share = dy[out] * scale;
                    for iy in rows {
                        for g in &mut dx[(c * height + iy) * width..][cols.clone()] {
                            *g = *g + share;
                        }
                    }
                })
            }
        }
    }

    /// Max pooling's backward pass without padding: as the general one,
    /// with each window's cells indexed directly instead of through
    /// `for_each_window`'s clipped ranges (measured: the CNN of the framework
    /// benchmark trains 0.35 s per epoch with it, 0.41-0.46 s without).
    #[inline(always)]
    fn max_backward_unpadded<T: Scalar>(&self, x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
        let Shape {
            channels,
            height,
            width,
            ..
        } = self.input;
        let ([kh, kw], [sh, sw]) = (self.window.kernel, self.window.stride);
        let (oh, ow) = self.out_size;
        for c in 0..channels {
            let base = c * height * width;
            for oy in 0..oh {
                for ox in 0..ow {
                    let out = (c * oh + oy) * ow + ox;
                    let corner = base + oy * sh * width + ox * sw;
                    'window: for ky in 0..kh {
                        let line = corner + ky * width;
                        for i in line..line + kw {
                            if x[i] == y[out] {
                                dx[i] = dx[i] + dy[out];
                                break 'window;
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn forward<T: Scalar>(
        &self,
        input: ArrayView2<T>,
        mut output: ArrayViewMut2<T>,
        par: &Parallel,
    ) {
        let tasks: Vec<_> = input
            .axis_chunks_iter(Axis(0), CHUNK)
            .zip(output.axis_chunks_iter_mut(Axis(0), CHUNK))
            .collect();
        par.for_each(tasks, |(x, mut y)| {
            vectorized(
                #[inline(always)]
                || {
                    for (xs, mut ys) in x.rows().into_iter().zip(y.rows_mut()) {
                        with_slices(
                            [xs],
                            &mut ys,
                            #[inline(always)]
                            |[x], y| self.forward_sample(x, y),
                        );
                    }
                },
            )
        });
    }

    pub fn backward<T: Scalar>(
        &self,
        input: ArrayView2<T>,
        output: ArrayView2<T>,
        grad_out: ArrayView2<T>,
        mut grad_in: ArrayViewMut2<T>,
        par: &Parallel,
    ) {
        let tasks: Vec<_> = input
            .axis_chunks_iter(Axis(0), CHUNK)
            .zip(output.axis_chunks_iter(Axis(0), CHUNK))
            .zip(grad_out.axis_chunks_iter(Axis(0), CHUNK))
            .zip(grad_in.axis_chunks_iter_mut(Axis(0), CHUNK))
            .collect();
        par.for_each(tasks, |(((x, y), dy), mut dx)| {
            vectorized(
                #[inline(always)]
                || {
                    for (((xs, ys), dys), mut dxs) in x
                        .rows()
                        .into_iter()
                        .zip(y.rows())
                        .zip(dy.rows())
                        .zip(dx.rows_mut())
                    {
                        with_slices(
                            [xs, ys, dys],
                            &mut dxs,
                            #[inline(always)]
                            |[x, y, dy], dx| self.backward_sample(x, y, dy, dx),
                        );
                    }
                },
            )
        });
    }
}

/// The larger of two values, or NaN if either is NaN (`acc` first: ties
/// keep it).
#[inline]
fn max_nan<T: Scalar>(acc: T, v: T) -> T {
    if v > acc || v.is_nan() {
        v
    } else {
        acc
    }
}

impl<T: Scalar> LayerKind<T> for Pool2d {
    fn forward(&mut self, io: Forward<'_, T>, pass: &mut Pass) -> crate::error::Result<()> {
        Pool2d::forward(self, io.input, io.output, pass.par);
        Ok(())
    }

    fn backward(&mut self, grads: Backward<'_, T>, par: &Parallel) -> Result<()> {
        if let Some(grad_in) = grads.grad_in {
            Pool2d::backward(
                self,
                grads.input,
                grads.output,
                grads.grad_out,
                grad_in,
                par,
            )
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Layer, LayerOptions, LayerSpec};
    use crate::testing::{check_gradients, pseudo_matrix, random_net};
    use ndarray::Array2;

    fn pool_spec(kind: &str, k: usize, s: Option<usize>) -> LayerSpec {
        let options = LayerOptions {
            kernel: [k, k],
            stride: s.map(|s| [s, s]),
            ..Default::default()
        };
        LayerSpec::new(kind, 0, 0, &options).unwrap()
    }

    #[test]
    fn forward_takes_window_maxima_and_means() {
        // One 4 x 4 channel holding 0..16, row by row.
        let x = Array2::from_shape_fn((1, 16), |(_, j)| j as f64);
        let input = Some(Shape::image(1, 4, 4));
        let net = random_net(&[pool_spec("max_pool2d", 2, None)], input);
        let Layer::Pool2d(max) = net.layers()[0] else {
            panic!()
        };
        let mut y = Array2::zeros((1, 4));
        max.forward(x.view(), y.view_mut(), &Parallel::default());
        assert_eq!(y.as_slice().unwrap(), &[5.0, 7.0, 13.0, 15.0]);
        // Overlapping 3 x 3 windows with stride 1.
        let net = random_net(&[pool_spec("avg_pool2d", 3, Some(1))], input);
        let Layer::Pool2d(avg) = net.layers()[0] else {
            panic!()
        };
        assert_eq!(avg.output_shape(), Shape::image(1, 2, 2));
        avg.forward(x.view(), y.view_mut(), &Parallel::default());
        assert_eq!(y.as_slice().unwrap(), &[5.0, 6.0, 9.0, 10.0]);
    }

    #[test]
    fn gradients_match_central_differences() {
        let input = Shape::image(3, 7, 6);
        for (kind, k, s) in [
            ("max_pool2d", 2, None),
            ("max_pool2d", 3, Some(2)),
            ("avg_pool2d", 2, None),
            ("avg_pool2d", 3, Some(1)),
        ] {
            let mut net = random_net(&[pool_spec(kind, k, s)], Some(input));
            check_gradients(&mut net, &pseudo_matrix(40, input.size(), 1.3));
        }
    }
}
