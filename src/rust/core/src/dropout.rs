//! Dropout: during training, each input element is zeroed with probability
//! `rate` and the survivors are scaled by `1 / (1 - rate)` ("inverted"
//! dropout, as Keras and PyTorch), so inference is the identity and needs
//! no rescaling.

use crate::error::Result;
use crate::kind::{Backward, Forward, LayerKind, Mode, Pass};
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};
use rand::rngs::StdRng;
use rand::Rng;

#[derive(Debug, Clone)]
pub struct Dropout<T: Scalar> {
    pub rate: f64,
    /// The last training pass's mask, already scaled: 0 or `1 / (1 - rate)`.
    mask: Array2<T>,
    /// Whether the last forward pass applied `mask` (training) or not.
    masked: bool,
}

impl<T: Scalar> Dropout<T> {
    pub fn new(rate: f64) -> Self {
        Dropout {
            rate,
            mask: Array2::zeros((0, 0)),
            masked: false,
        }
    }

    pub fn forward(
        &mut self,
        input: ArrayView2<T>,
        mut output: ArrayViewMut2<T>,
        mode: Mode,
        rng: &mut StdRng,
    ) -> crate::error::Result<()> {
        self.masked = mode == Mode::Train && self.rate > 0.0;
        if !self.masked {
            output.assign(&input);
            return Ok(());
        }
        let keep = 1.0 - self.rate;
        let scale = T::of(1.0 / keep);
        crate::matrix::ensure_shape(&mut self.mask, input.nrows(), input.ncols())?;
        // Drawn in row-major order from one generator: the same seed gives
        // the same masks whatever the thread count.
        self.mask.map_inplace(|m| {
            *m = if rng.random::<f64>() < keep {
                scale
            } else {
                T::zero()
            }
        });
        Zip::from(&mut output)
            .and(&input)
            .and(&self.mask)
            .for_each(|y, &x, &m| *y = x * m);
        Ok(())
    }

    pub fn backward(&self, grad_out: ArrayView2<T>, mut grad_in: ArrayViewMut2<T>) {
        if self.masked {
            Zip::from(&mut grad_in)
                .and(&grad_out)
                .and(&self.mask)
                .for_each(|gi, &g, &m| *gi = g * m);
        } else {
            grad_in.assign(&grad_out);
        }
    }
}

impl<T: Scalar> LayerKind<T> for Dropout<T> {
    fn forward(&mut self, io: Forward<'_, T>, pass: &mut Pass) -> crate::error::Result<()> {
        Dropout::forward(self, io.input, io.output, pass.mode, pass.rng)
    }

    fn backward(&mut self, grads: Backward<'_, T>, _par: &Parallel) -> Result<()> {
        if let Some(grad_in) = grads.grad_in {
            Dropout::backward(self, grads.grad_out, grad_in)
        }
        Ok(())
    }

    fn random_in_training(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;

    #[test]
    fn masks_scale_and_pass_gradients_through_the_same_mask() {
        let mut d = Dropout::<f64>::new(0.25);
        let x = Array2::from_elem((200, 50), 2.0);
        let mut y = Array2::zeros(x.dim());
        let mut rng = StdRng::seed_from_u64(3);
        d.forward(x.view(), y.view_mut(), Mode::Train, &mut rng)
            .unwrap();
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / 10_000.0;
        assert!((kept - 0.75).abs() < 0.02, "kept {kept}");
        assert!(y
            .iter()
            .all(|&v| v == 0.0 || (v - 2.0 / 0.75).abs() < 1e-12));
        let g = Array2::from_elem(x.dim(), 1.0);
        let mut gi = Array2::zeros(x.dim());
        d.backward(g.view(), gi.view_mut());
        // d(x * m)/dx = m: where the output was dropped, so is the gradient.
        Zip::from(&gi)
            .and(&y)
            .for_each(|&gv, &yv| assert_eq!(gv, yv / 2.0));
        // Inference is the identity, and so is its backward pass.
        d.forward(x.view(), y.view_mut(), Mode::Infer, &mut rng)
            .unwrap();
        assert_eq!(y, x);
        d.backward(g.view(), gi.view_mut());
        assert_eq!(gi, g);
    }

    #[test]
    fn same_seed_same_mask() {
        let x = Array2::from_elem((10, 10), 1.0f32);
        let run = |seed| {
            let mut d = Dropout::<f32>::new(0.5);
            let mut y = Array2::zeros(x.dim());
            d.forward(
                x.view(),
                y.view_mut(),
                Mode::Train,
                &mut StdRng::seed_from_u64(seed),
            )
            .unwrap();
            y
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }
}
