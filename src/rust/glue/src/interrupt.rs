//! Asking R whether the user pressed Ctrl-C, without letting R jump out of
//! Rust code: the check runs inside `R_ToplevelExec` on the C side
//! (`src/entrypoint.c`), which catches the interrupt and reports it.

use std::os::raw::c_int;

extern "C" {
    fn rustnn_interrupt_pending() -> c_int;
}

/// True if an interrupt is pending. Must be called on R's main thread.
pub fn pending() -> bool {
    // SAFETY: a C function with no arguments and no preconditions other than
    // running on R's main thread, which every caller here does (the training
    // loop's observer runs on the thread that called into R).
    unsafe { rustnn_interrupt_pending() != 0 }
}
