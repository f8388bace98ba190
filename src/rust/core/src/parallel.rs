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
use rayon::ThreadPool;
use std::sync::{Arc, Mutex, PoisonError};

/// Products with fewer multiply-adds than this run as one block: below it,
/// handing work to another thread costs more than it saves (measured: a
/// 32 x 784 x 100 mini-batch product ran slower on two threads).
const PARALLEL_MIN_WORK: usize = 1 << 22;

/// Thread counts whose pools are kept at once: a session that tries many
/// counts keeps the recent ones and lets the others' threads end.
const MAX_POOLS: usize = 4;

/// The process's thread pools, one per thread count, shared by every
/// network: hundreds of models then hold a few threads, not a few each,
/// and a model R has not yet collected holds none.
///
/// Each pool is used only in the process that built it. A forked child
/// (R's `mclapply()`, `mcparallel()`) inherits the pools but not their
/// threads, so work handed to them would wait forever; the child builds
/// its own instead, and forgets the inherited ones: dropping them would
/// wake threads that do not exist, through locks they may have held at
/// the fork.
#[derive(Debug)]
struct Registry {
    /// The process the pools were built in (0 before any: no process has it).
    pid: u32,
    /// Most recently used first.
    pools: Vec<(usize, Arc<ThreadPool>)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry::new());

impl Registry {
    const fn new() -> Self {
        Registry {
            pid: 0,
            pools: Vec::new(),
        }
    }

    /// The pool of `threads` threads for process `pid`, built if needed.
    fn get(&mut self, threads: usize, pid: u32) -> Result<Arc<ThreadPool>> {
        if self.pid != pid {
            std::mem::forget(std::mem::take(&mut self.pools));
            self.pid = pid;
        }
        match self.pools.iter().position(|(n, _)| *n == threads) {
            Some(i) => self.pools[..=i].rotate_right(1),
            None => {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("rustnn-{i}"))
                    .build()
                    .map_err(|e| arg_err!("could not start {threads} threads: {e}"))?;
                self.pools.insert(0, (threads, Arc::new(pool)));
                self.pools.truncate(MAX_POOLS);
            }
        }
        Ok(Arc::clone(&self.pools[0].1))
    }
}

/// The shared pool of `threads` threads in this process.
fn shared_pool(threads: usize) -> Result<Arc<ThreadPool>> {
    // The lock is held while a pool is looked up or started, never while
    // one works. Nothing in `get` panics between changes, so a poisoned
    // lock still guards a consistent registry.
    let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    registry.get(threads, std::process::id())
}

/// The threads a network may use: how many, the pool being the process's
/// shared one for that count (looked up at each use, which also notices a
/// fork). Work is cut the same way whatever the count.
#[derive(Debug)]
pub struct Parallel {
    threads: usize,
}

impl Default for Parallel {
    fn default() -> Self {
        Parallel { threads: 1 }
    }
}

impl Parallel {
    /// Uses `threads` threads from now on (1 means no pool at all). The
    /// pool is started here, so that a failure to start it is reported.
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        if threads == 0 {
            return Err(arg_err!("the number of threads must be at least 1"));
        }
        if threads > 1 {
            shared_pool(threads)?;
        }
        self.threads = threads;
        Ok(())
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The pool to run on, if any: none for one thread, and none if a pool
    /// cannot be started now (say, in a forked child short of resources);
    /// the work then runs on the calling thread, with the same bits.
    fn pool(&self) -> Option<Arc<ThreadPool>> {
        if self.threads > 1 {
            shared_pool(self.threads).ok()
        } else {
            None
        }
    }

    /// Runs `f` on every item, on the pool's threads when there is one. Each
    /// item owns the part of the output it writes and is computed whole by
    /// one call, so the result cannot depend on the thread that ran it.
    pub fn for_each<I: Send>(&self, items: Vec<I>, f: impl Fn(I) + Sync + Send) {
        let pool = (items.len() > 1).then(|| self.pool()).flatten();
        match pool {
            Some(pool) => pool.install(|| items.into_par_iter().for_each(f)),
            None => items.into_iter().for_each(f),
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
        let pool = (work >= PARALLEL_MIN_WORK).then(|| self.pool()).flatten();
        match pool {
            Some(pool) => pool.install(|| matmul(a, b, beta, c, self.threads)),
            // Not on the pool: one thread (gemm would otherwise use rayon's
            // global pool).
            None => matmul(a, b, beta, c, 1),
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

    #[test]
    fn networks_share_one_pool_per_thread_count() {
        let mut a = Parallel::default();
        let mut b = Parallel::default();
        a.set_threads(3).unwrap();
        b.set_threads(3).unwrap();
        let (pa, pb) = (a.pool().unwrap(), b.pool().unwrap());
        assert!(Arc::ptr_eq(&pa, &pb));
        assert_eq!(pa.current_num_threads(), 3);
        assert!(Parallel::default().pool().is_none());
    }

    #[test]
    fn a_pool_built_in_another_process_is_not_used() {
        let mut registry = Registry::new();
        let parent = registry.get(2, 100).unwrap();
        assert!(Arc::ptr_eq(&parent, &registry.get(2, 100).unwrap()));
        // As in a child forked from process 100: a pool of its own ...
        let child = registry.get(2, 101).unwrap();
        assert!(!Arc::ptr_eq(&parent, &child));
        assert!(Arc::ptr_eq(&child, &registry.get(2, 101).unwrap()));
        // ... and the inherited one forgotten, not dropped: the registry's
        // reference to it is still counted.
        assert_eq!(Arc::strong_count(&parent), 2);
        // And the new pool runs work.
        let sum = |pool: &ThreadPool| pool.install(|| (0..1000u64).into_par_iter().sum::<u64>());
        assert_eq!(sum(&child), 499_500);
    }

    #[test]
    fn only_the_recent_thread_counts_keep_a_pool() {
        let mut registry = Registry::new();
        let first = registry.get(2, 7).unwrap();
        for threads in 3..3 + MAX_POOLS {
            registry.get(threads, 7).unwrap();
        }
        // Count 2 was the least recently used: its pool was let go.
        assert_eq!(Arc::strong_count(&first), 1);
        assert!(!Arc::ptr_eq(&first, &registry.get(2, 7).unwrap()));
        assert!(registry.pools.len() <= MAX_POOLS);
        // Using a count keeps it: 2 is now the most recent.
        let again = registry.get(2, 7).unwrap();
        registry.get(3 + MAX_POOLS, 7).unwrap();
        assert!(Arc::ptr_eq(&again, &registry.get(2, 7).unwrap()));
    }
}
