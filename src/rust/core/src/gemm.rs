//! The matrix multiply behind every dense and convolution layer.
//!
//! rustnn does not use R's BLAS (the reference BLAS on many machines, about
//! 25x slower than a tuned one): products go to the `gemm` crate, a Rust
//! GEMM with AVX2/FMA and AVX-512 kernels chosen at run time for the CPU at
//! hand, and close to OpenBLAS's speed (see `bench/bench_gemm.sh`).
//!
//! Why the bits do not depend on the thread count: `gemm` cuts the
//! output into the same register tiles and the inner dimension into the same
//! cache blocks whatever the number of threads (both depend on the shapes and
//! the cache sizes only), and each tile is summed by one thread in the same
//! order; threads only decide which thread computes which tile. The test
//! `threads_do_not_change_the_bits` checks this over many shapes.

use crate::scalar::Scalar;
use ndarray::{ArrayView2, ArrayViewMut2};

/// Products with at most this many multiply-adds (those of tiny networks
/// such as the tutorials' 2-4-1) are plain loops: `gemm`'s set-up costs
/// more than the whole product at this size. The choice depends on the
/// shapes only, so the bits never depend on threads.
const SMALL_PRODUCT: usize = 1 << 12;

/// `c = a · b + beta · c` by the definition, each element summed in
/// order of `k`. Row by row of `c`, so that the inner loop runs along a
/// row of `b` and a row of `c`; it reads the views through their strides,
/// since half the products of a backward pass take a transposed view.
fn matmul_small<T: Scalar>(a: ArrayView2<T>, b: ArrayView2<T>, beta: T, mut c: ArrayViewMut2<T>) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    let (pa, pb, pc) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // SAFETY: every offset below is `row * row_stride + col * col_stride`
    // with `row` and `col` within the view's dimensions (i < m, p < k,
    // j < n, and the caller checked that a is m x k, b is k x n and c is
    // m x n), which is the address ndarray itself computes for that
    // element, so it lies inside the view's allocation; `c` is borrowed
    // mutably, so its elements alias neither `a` nor `b`.
    unsafe {
        for i in 0..m as isize {
            let c_row = pc.offset(i * c_rs);
            for j in 0..n as isize {
                let v = c_row.offset(j * c_cs);
                *v = if beta == T::zero() {
                    T::zero()
                } else {
                    beta * *v
                };
            }
            let a_row = pa.offset(i * a_rs);
            for p in 0..k as isize {
                let a_ip = *a_row.offset(p * a_cs);
                let b_row = pb.offset(p * b_rs);
                if c_cs == 1 && b_cs == 1 {
                    let c_slice = std::slice::from_raw_parts_mut(c_row, n);
                    let b_slice = std::slice::from_raw_parts(b_row, n);
                    for (x, &y) in c_slice.iter_mut().zip(b_slice) {
                        *x = *x + a_ip * y;
                    }
                } else {
                    for j in 0..n as isize {
                        let x = c_row.offset(j * c_cs);
                        *x = *x + a_ip * *b_row.offset(j * b_cs);
                    }
                }
            }
        }
    }
}

/// `c = a · b + beta · c`, on `threads` threads of the current rayon pool
/// (1: on the calling thread only). Shapes must agree; the callers build
/// them from layer sizes that the network checked.
pub fn matmul<T: Scalar>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    mut c: ArrayViewMut2<T>,
    threads: usize,
) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && c.dim() == (m, n),
        "matmul: {m}x{k} times {k2}x{n} into {:?}",
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: the product contributes nothing.
        c.mapv_inplace(|v| {
            if beta == T::zero() {
                T::zero()
            } else {
                beta * v
            }
        });
        return;
    }
    if m * n * k <= SMALL_PRODUCT {
        return matmul_small(a, b, beta, c);
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    // SAFETY: the three pointers and their (row, column) strides come from
    // ndarray views of the stated shapes, so every element `gemm` reads or
    // writes lies inside its view; `c` is borrowed mutably, so it cannot
    // alias `a` or `b`; T is f32 or f64 (the only `Scalar`s), both of which
    // `gemm` implements.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            beta != T::zero(),
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            beta,
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}
