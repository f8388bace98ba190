//! Thread pool and the deterministic parallel matrix multiply.
//!
//! Results must be bit-identical whatever the thread count: work is cut into
//! pieces by shape only, never by the number of threads, and each piece is
//! computed whole by one thread (for matrix products, see [`crate::gemm`]).

use crate::error::{arg_err, Result};
use crate::gemm::matmul;
use crate::scalar::Scalar;
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

/// Products with fewer multiply-adds than this run as one block: below it,
/// handing work to another thread costs more than it saves (measured: a
/// 32 x 784 x 100 mini-batch product ran slower on two threads).
const PARALLEL_MIN_WORK: usize = 1 << 22;

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

    /// `c = a · b + beta · c`, on the pool's threads when the product is
    /// large enough to gain from them. The bits are the same either way
    /// (see [`crate::gemm`]).
    pub fn matmul<T: Scalar>(
        &self,
        a: ArrayView2<T>,
        b: ArrayView2<T>,
        beta: T,
        c: ArrayViewMut2<T>,
    ) {
        let work = a.nrows() * a.ncols() * b.ncols();
        match &self.pool {
            Some(pool) if work >= PARALLEL_MIN_WORK => {
                pool.install(|| matmul(a, b, beta, c, self.threads))
            }
            _ => matmul(a, b, beta, c, 1),
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
        for &(m, k, n) in &[
            (300, 200, 150),
            (20, 300, 500),
            (3, 2, 4),
            (128, 784, 512),
            (784, 128, 512),
            (300, 1000, 33),
            (1000, 300, 7),
            (257, 129, 65),
        ] {
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
