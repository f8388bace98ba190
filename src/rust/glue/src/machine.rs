//! What the engine knows of the machine it runs on.

use extendr_api::prelude::*;

/// The vector instructions the engine's kernels run on this CPU: "avx512",
/// "avx2", "sse2", "neon" or "scalar" (see `rustnn_core::simd`).
/// @noRd
#[extendr]
fn rn_instruction_set() -> &'static str {
    rustnn_core::simd::instruction_set()
}

extendr_module! {
    mod machine;
    fn rn_instruction_set;
}
