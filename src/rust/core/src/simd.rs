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

/// The vector instructions the run-time dispatch picks on this CPU, by
/// name: `"avx512"`, `"avx2"` (AVX2 + FMA) or `"sse2"` (the x86-64
/// baseline) on x86-64; `"neon"` or `"scalar"` on 64-bit ARM; `"scalar"`
/// elsewhere. The matrix multiply (the `gemm` crate) picks its kernels by
/// the same features. Results are bit-identical for any thread count on one
/// machine; two machines whose answers here differ may differ in the last
/// bits of float results (different kernels sum in different orders, and
/// only the wider ones fuse multiply-adds).
pub fn instruction_set() -> &'static str {
    name_of(pulp::Arch::new())
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn name_of(arch: pulp::Arch) -> &'static str {
    match arch {
        pulp::Arch::V4(_) => "avx512",
        pulp::Arch::V3(_) => "avx2",
        _ => "sse2",
    }
}

#[cfg(target_arch = "aarch64")]
fn name_of(arch: pulp::Arch) -> &'static str {
    match arch {
        pulp::Arch::Neon(_) => "neon",
        _ => "scalar",
    }
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
fn name_of(_arch: pulp::Arch) -> &'static str {
    "scalar"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name agrees with the features the standard library detects, and
    /// with the expectation of a run restricted to one instruction set (on
    /// an emulated CPU, tools/cpu_paths.sh sets
    /// RUSTNN_EXPECT_INSTRUCTION_SET).
    #[test]
    fn instruction_set_matches_the_cpu() {
        let name = instruction_set();
        #[cfg(target_arch = "x86_64")]
        {
            use std::is_x86_feature_detected as has;
            let v3 = has!("sse4.2")
                && has!("popcnt")
                && has!("avx")
                && has!("avx2")
                && has!("bmi1")
                && has!("bmi2")
                && has!("fma")
                && has!("lzcnt");
            let v4 = v3
                && has!("avx512f")
                && has!("avx512bw")
                && has!("avx512cd")
                && has!("avx512dq")
                && has!("avx512vl");
            let expected = if v4 {
                "avx512"
            } else if v3 {
                "avx2"
            } else {
                "sse2"
            };
            assert_eq!(name, expected);
        }
        #[cfg(target_arch = "aarch64")]
        assert_eq!(
            name,
            if std::arch::is_aarch64_feature_detected!("neon") {
                "neon"
            } else {
                "scalar"
            }
        );
        if let Ok(expected) = std::env::var("RUSTNN_EXPECT_INSTRUCTION_SET") {
            assert_eq!(name, expected);
        }
    }
}
