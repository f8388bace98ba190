//! Thread pool and the deterministic parallel matrix multiply.
//!
//! Results must be bit-identical whatever the thread count. Each output
//! element of a matrix product is computed entirely by one call into
//! `general_mat_mul`, and the way the output is cut into blocks depends only
//! on the matrix shapes — never on the number of threads. With one thread the
//! same blocks simply run one after the other.

use crate::error::{arg_err, Result};
use crate::scalar::Scalar;
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Products with fewer multiply-adds than this run as one block: below it,
/// handing work to another thread costs more than it saves (measured: a
/// 32 x 784 x 100 mini-batch product ran slower on two threads).
const PARALLEL_MIN_WORK: usize = 1 << 22;
/// Rows (or columns) of the output per block.
const BLOCK: usize = 64;

/// The threads a network may use. Holds a rayon pool of its own, so the
/// thread count chosen from R applies to this network only.
#[derive(Debug)]
pub struct Parallel {
    threads: usize,
    pool: Option<rayon::ThreadPool>,
}

impl Default for Parallel {
    fn default() -> Self {
        Parallel {
            threads: 1,
            pool: None,
        }
    }
}

impl Parallel {
    /// Uses `threads` threads from now on (1 means no pool at all).
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        if threads == 0 {
            return Err(arg_err!("the number of threads must be at least 1"));
        }
        if threads == self.threads {
            return Ok(());
        }
        self.pool = if threads == 1 {
            None
        } else {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("rustnn-{i}"))
                    .build()
                    .map_err(|e| arg_err!("could not start {threads} threads: {e}"))?,
            )
        };
        self.threads = threads;
        Ok(())
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on every item, on the pool's threads when there is one. Each
    /// item owns the part of the output it writes and is computed whole by
    /// one call, so the result cannot depend on the thread that ran it.
    pub fn for_each<I: Send>(&self, items: Vec<I>, f: impl Fn(I) + Sync + Send) {
        match &self.pool {
            Some(pool) if items.len() > 1 => pool.install(|| items.into_par_iter().for_each(f)),
            _ => items.into_iter().for_each(f),
        }
    }

    /// `c = a · b + beta · c`.
    pub fn matmul<T: Scalar>(
        &self,
        a: ArrayView2<T>,
        b: ArrayView2<T>,
        beta: T,
        mut c: ArrayViewMut2<T>,
    ) {
        let (m, k) = a.dim();
        let n = b.ncols();
        if m * n * k < PARALLEL_MIN_WORK {
            general_mat_mul(T::one(), &a, &b, beta, &mut c);
            return;
        }
        // Cut along the longer side of the output; both cuts keep every
        // element's dot product whole.
        let blocks: Vec<(ArrayView2<T>, ArrayView2<T>, ArrayViewMut2<T>)> = if m >= n {
            a.axis_chunks_iter(Axis(0), BLOCK)
                .zip(c.axis_chunks_iter_mut(Axis(0), BLOCK))
                .map(|(a_blk, c_blk)| (a_blk, b, c_blk))
                .collect()
        } else {
            b.axis_chunks_iter(Axis(1), BLOCK)
                .zip(c.axis_chunks_iter_mut(Axis(1), BLOCK))
                .map(|(b_blk, c_blk)| (a, b_blk, c_blk))
                .collect()
        };
        let run = |(a_blk, b_blk, mut c_blk): (ArrayView2<T>, ArrayView2<T>, ArrayViewMut2<T>)| {
            general_mat_mul(T::one(), &a_blk, &b_blk, beta, &mut c_blk)
        };
        match &self.pool {
            Some(pool) => pool.install(|| blocks.into_par_iter().for_each(run)),
            None => blocks.into_iter().for_each(run),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn filled(rows: usize, cols: usize, salt: f32) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 31 + j * 17) as f32 * 0.013 + salt).sin()
        })
    }

    #[test]
    fn threads_do_not_change_the_bits() {
        for &(m, k, n) in &[(300, 200, 150), (20, 300, 500), (3, 2, 4)] {
            let a = filled(m, k, 0.1);
            let b = filled(k, n, 0.7);
            let mut one = Parallel::default();
            let mut two = Parallel::default();
            two.set_threads(2).unwrap();
            let mut c1 = Array2::<f32>::zeros((m, n));
            let mut c2 = Array2::<f32>::zeros((m, n));
            one.matmul(a.view(), b.view(), 0.0, c1.view_mut());
            two.matmul(a.view(), b.view(), 0.0, c2.view_mut());
            assert_eq!(c1, c2);
            one.set_threads(1).unwrap();
            // And the product is right.
            let reference = a.dot(&b);
            for (x, y) in c1.iter().zip(reference.iter()) {
                assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()));
            }
        }
    }

    #[test]
    fn zero_threads_is_an_error() {
        assert!(Parallel::default().set_threads(0).is_err());
    }
}
