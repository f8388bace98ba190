//! Vector instructions without compiling the package for one CPU.
//!
//! The crate is built for the baseline x86-64 (SSE2), so that a source
//! install runs on any machine. Hot loops that gain from wider vectors run
//! through [`vectorized`], which picks at run time the widest instruction
//! set this CPU has (AVX-512, AVX2 + FMA, or the baseline) and runs the
//! loop compiled for it. The loop's arithmetic is the same IEEE operations
//! in the same order on every path (Rust never fuses a multiply and an add
//! on its own), so the bits do not depend on the path taken.

/// Runs `f` compiled for the widest vector instructions of this CPU. Only
/// code inlined into `f` benefits: mark `f` and the functions it calls in
/// the hot loop `#[inline(always)]`.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    struct Op<F>(F);
    impl<R, F: FnOnce() -> R> pulp::WithSimd for Op<F> {
        type Output = R;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) -> R {
            (self.0)()
        }
    }
    pulp::Arch::new().dispatch(Op(f))
}
