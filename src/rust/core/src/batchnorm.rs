//! Batch normalization (Ioffe and Szegedy, 2015), per feature of a vector
//! input (PyTorch's `BatchNorm1d`) or per channel of an image input
//! (`BatchNorm2d`): one mechanism, since a vector of `k` features is an
//! image of `k` channels of one pixel.
//!
//! In training, each channel is standardized with the batch's mean and
//! (biased) variance, then scaled by `gamma` and shifted by `beta`; running
//! estimates `running = (1 - momentum) * running + momentum * batch` (with
//! the unbiased variance) are kept for inference, which uses them instead.
//! Defaults follow PyTorch: `eps = 1e-5`, `momentum = 0.1`. A training
//! batch with one value per channel leaves the running statistics as they
//! are (PyTorch refuses it; a last mini-batch of one row is common).

use crate::error::Result;
use crate::kind::Mode;
use crate::kind::{view, Backward, Forward, LayerKind, ParamView, Pass, TensorMut};
use crate::matrix::try_zeros1;
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use ndarray::{Array1, ArrayView2, ArrayViewMut2};

/// The names of the tensors a training pass moves but the optimizer does
/// not train (every other tensor of every layer is trained).
pub const BUFFERS: [&str; 2] = ["running_mean", "running_var"];

#[derive(Debug, Clone)]
pub struct BatchNorm<T: Scalar> {
    pub gamma: Array1<T>,
    pub beta: Array1<T>,
    pub grad_gamma: Array1<T>,
    pub grad_beta: Array1<T>,
    pub running_mean: Array1<T>,
    pub running_var: Array1<T>,
    pub eps: f64,
    pub momentum: f64,
    /// Per channel, the mean and `1 / sqrt(var + eps)` the last forward
    /// pass used (the batch's in training, the running ones otherwise).
    mean: Vec<f64>,
    inv_std: Vec<f64>,
    mode: Mode,
}

impl<T: Scalar> BatchNorm<T> {
    /// `gamma = 1`, `beta = 0`, running mean 0 and variance 1, as PyTorch.
    /// More channels than the engine takes, or memory that cannot be had,
    /// is an error.
    pub fn new(channels: usize, eps: f64, momentum: f64) -> Result<Self> {
        let ones = || try_zeros1::<T>(channels).map(|a| a.mapv_into(|_| T::one()));
        let stats = |v: f64| {
            try_zeros1::<f64>(channels).map(|a| a.mapv_into(|_| v).into_raw_vec_and_offset().0)
        };
        Ok(BatchNorm {
            gamma: ones()?,
            beta: try_zeros1(channels)?,
            grad_gamma: try_zeros1(channels)?,
            grad_beta: try_zeros1(channels)?,
            running_mean: try_zeros1(channels)?,
            running_var: ones()?,
            eps,
            momentum,
            mean: stats(0.0)?,
            inv_std: stats(1.0)?,
            mode: Mode::Infer,
        })
    }

    pub fn channels(&self) -> usize {
        self.gamma.len()
    }

    /// Values per channel in a row of `width` values.
    fn plane(&self, width: usize) -> usize {
        width / self.channels().max(1)
    }

    /// Calls `f(channel, values of that channel in that row)` for every row.
    fn channel_slices<'a>(
        &self,
        x: &'a ArrayView2<T>,
    ) -> impl Iterator<Item = (usize, ndarray::ArrayView1<'a, T>)> + 'a {
        let plane = self.plane(x.ncols());
        let channels = self.channels();
        x.rows().into_iter().flat_map(move |row| {
            (0..channels).map(move |c| (c, row.slice_move(ndarray::s![c * plane..(c + 1) * plane])))
        })
    }

    /// Batch statistics per channel (in `f64`, two passes for accuracy).
    fn batch_stats(&self, x: &ArrayView2<T>) -> (Vec<f64>, Vec<f64>, usize) {
        let channels = self.channels();
        let count = x.nrows() * self.plane(x.ncols());
        let mut mean = vec![0.0; channels];
        for (c, vals) in self.channel_slices(x) {
            mean[c] += vals.iter().map(|v| v.as_f64()).sum::<f64>();
        }
        mean.iter_mut().for_each(|m| *m /= count as f64);
        let mut var = vec![0.0; channels];
        for (c, vals) in self.channel_slices(x) {
            var[c] += vals
                .iter()
                .map(|v| (v.as_f64() - mean[c]).powi(2))
                .sum::<f64>();
        }
        var.iter_mut().for_each(|v| *v /= count as f64);
        (mean, var, count)
    }

    pub fn forward(&mut self, input: ArrayView2<T>, mut output: ArrayViewMut2<T>, mode: Mode) {
        self.mode = mode;
        if mode == Mode::Train {
            let (mean, var, count) = self.batch_stats(&input);
            let m = self.momentum;
            for c in 0..self.channels() {
                // One value per channel (a last mini-batch of one row) has no
                // variance to estimate: it leaves the running statistics be.
                if count > 1 {
                    let unbiased = var[c] * count as f64 / (count - 1) as f64;
                    let rm = self.running_mean[c].as_f64();
                    let rv = self.running_var[c].as_f64();
                    self.running_mean[c] = T::of((1.0 - m) * rm + m * mean[c]);
                    self.running_var[c] = T::of((1.0 - m) * rv + m * unbiased);
                }
                self.inv_std[c] = 1.0 / (var[c] + self.eps).sqrt();
            }
            self.mean = mean;
        } else {
            for c in 0..self.channels() {
                self.mean[c] = self.running_mean[c].as_f64();
                self.inv_std[c] = 1.0 / (self.running_var[c].as_f64() + self.eps).sqrt();
            }
        }
        let plane = self.plane(input.ncols());
        for (x, mut y) in input.rows().into_iter().zip(output.rows_mut()) {
            for c in 0..self.channels() {
                let scale = T::of(self.inv_std[c]) * self.gamma[c];
                let shift = self.beta[c] - T::of(self.mean[c]) * scale;
                for j in c * plane..(c + 1) * plane {
                    y[j] = x[j] * scale + shift;
                }
            }
        }
    }

    /// Fills `grad_gamma`, `grad_beta` and, when asked, `dL/dinput`. After a
    /// training pass the batch statistics depend on the input, which adds
    /// the two mean terms of the usual formula
    /// `dx = gamma * inv_std / m * (m * dy - sum(dy) - x_hat * sum(dy * x_hat))`.
    pub fn backward(
        &mut self,
        input: ArrayView2<T>,
        grad_out: ArrayView2<T>,
        grad_in: Option<ArrayViewMut2<T>>,
    ) {
        let channels = self.channels();
        let plane = self.plane(input.ncols());
        let count = (input.nrows() * plane) as f64;
        let mut sum_dy = vec![0.0; channels];
        let mut sum_dy_xhat = vec![0.0; channels];
        for (x, dy) in input.rows().into_iter().zip(grad_out.rows()) {
            for c in 0..channels {
                for j in c * plane..(c + 1) * plane {
                    let x_hat = (x[j].as_f64() - self.mean[c]) * self.inv_std[c];
                    sum_dy[c] += dy[j].as_f64();
                    sum_dy_xhat[c] += dy[j].as_f64() * x_hat;
                }
            }
        }
        for c in 0..channels {
            self.grad_gamma[c] = T::of(sum_dy_xhat[c]);
            self.grad_beta[c] = T::of(sum_dy[c]);
        }
        let Some(mut grad_in) = grad_in else { return };
        let training = self.mode == Mode::Train;
        for ((x, dy), mut dx) in input
            .rows()
            .into_iter()
            .zip(grad_out.rows())
            .zip(grad_in.rows_mut())
        {
            for c in 0..channels {
                let k = self.gamma[c].as_f64() * self.inv_std[c];
                for j in c * plane..(c + 1) * plane {
                    let g = dy[j].as_f64();
                    dx[j] = T::of(if training {
                        let x_hat = (x[j].as_f64() - self.mean[c]) * self.inv_std[c];
                        k * (g - sum_dy[c] / count - x_hat * sum_dy_xhat[c] / count)
                    } else {
                        k * g
                    });
                }
            }
        }
    }
}

impl<T: Scalar> LayerKind<T> for BatchNorm<T> {
    fn forward(&mut self, io: Forward<'_, T>, pass: &mut Pass) -> crate::error::Result<()> {
        BatchNorm::forward(self, io.input, io.output, pass.mode);
        Ok(())
    }

    fn backward(&mut self, grads: Backward<'_, T>, _par: &Parallel) -> Result<()> {
        BatchNorm::backward(self, grads.input, grads.grad_out, grads.grad_in);
        Ok(())
    }

    /// The trained scale and shift, then the running statistics (buffers).
    fn tensors(&self) -> Vec<ParamView<'_, T>> {
        let n = self.channels();
        vec![
            view("gamma", vec![n], &self.gamma, Some(&self.grad_gamma)),
            view("beta", vec![n], &self.beta, Some(&self.grad_beta)),
            view(BUFFERS[0], vec![n], &self.running_mean, None),
            view(BUFFERS[1], vec![n], &self.running_var, None),
        ]
    }

    fn tensors_mut(&mut self) -> Vec<TensorMut<'_, T>> {
        vec![
            TensorMut::of("gamma", &mut self.gamma, Some(&self.grad_gamma)),
            TensorMut::of("beta", &mut self.beta, Some(&self.grad_beta)),
            TensorMut::of(BUFFERS[0], &mut self.running_mean, None),
            TensorMut::of(BUFFERS[1], &mut self.running_var, None),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Layer, LayerSpec};
    use crate::shape::Shape;
    use crate::testing::{check_gradients, pseudo_matrix, random_net, specs};
    use ndarray::Array2;

    #[test]
    fn training_standardizes_and_updates_running_statistics() {
        let mut bn = BatchNorm::<f64>::new(2, 1e-5, 0.1).unwrap();
        // Two features; the first has mean 2 and biased variance 2/3.
        let x = ndarray::array![[1.0, 10.0], [2.0, 10.0], [3.0, 10.0]];
        let mut y = Array2::zeros((3, 2));
        bn.forward(x.view(), y.view_mut(), Mode::Train);
        let sd = (2.0f64 / 3.0 + 1e-5).sqrt();
        assert!((y[[0, 0]] + 1.0 / sd).abs() < 1e-12);
        assert!(y.column(1).iter().all(|v| v.abs() < 1e-12));
        assert!((bn.running_mean[0] - 0.2).abs() < 1e-12);
        // Unbiased variance 1: 0.9 * 1 + 0.1 * 1.
        assert!((bn.running_var[0] - 1.0).abs() < 1e-12);
        assert!((bn.running_var[1] - 0.9).abs() < 1e-12);
        // Inference uses the running statistics.
        bn.forward(x.view(), y.view_mut(), Mode::Infer);
        assert!((y[[0, 0]] - (1.0 - 0.2) / (1.0f64 + 1e-5).sqrt()).abs() < 1e-12);
        // A batch of one row leaves them as they are.
        let (mean, var) = (bn.running_mean.clone(), bn.running_var.clone());
        let one = ndarray::array![[5.0, -3.0]];
        let mut y1 = Array2::zeros((1, 2));
        bn.forward(one.view(), y1.view_mut(), Mode::Train);
        assert_eq!(
            (bn.running_mean.clone(), bn.running_var.clone()),
            (mean, var)
        );
        assert_eq!(y1, ndarray::array![[0.0, 0.0]]);
    }

    #[test]
    fn gradients_match_central_differences_1d_and_2d() {
        let mut net = random_net(&specs(&[("batch_norm", 4, 0)]), Some(Shape::flat(4)));
        check_gradients(&mut net, &pseudo_matrix(6, 4, 0.1));
        let image = Shape::image(3, 2, 3);
        let mut net = random_net(&specs(&[("batch_norm", 3, 0)]), Some(image));
        check_gradients(&mut net, &pseudo_matrix(5, image.size(), 0.2));
        // A nonlinearity after it, so the gradient is not trivially zero.
        let mut net = random_net(&specs(&[("batch_norm", 3, 0), ("tanh", 0, 0)]), Some(image));
        check_gradients(&mut net, &pseudo_matrix(5, image.size(), 0.3));
    }

    #[test]
    fn running_statistics_are_buffers_not_parameters() {
        let layer =
            Layer::<f32>::from_spec(LayerSpec::from_parts("batch_norm", 5, 0).unwrap(), None)
                .unwrap();
        let names: Vec<_> = layer.tensors().iter().map(|p| p.name).collect();
        assert_eq!(names, ["gamma", "beta", "running_mean", "running_var"]);
        let trained: Vec<_> = layer.params().iter().map(|p| p.name).collect();
        assert_eq!(trained, ["gamma", "beta"]);
        assert_eq!(layer.param_count(), 10);
    }
}
