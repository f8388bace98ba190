//! Asking R whether the user pressed Ctrl-C, without letting R jump out of
//! Rust code: the check runs inside `R_ToplevelExec` on the C side
//! (`src/entrypoint.c`), which catches the interrupt and reports it.

use std::os::raw::c_int;
use std::time::{Duration, Instant};

/// How often, at most, long work (training, prediction) asks R whether the
/// user pressed Ctrl-C: often enough to feel immediate, rarely enough to
/// cost nothing.
const CHECK_EVERY: Duration = Duration::from_millis(20);

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

/// Asks [`pending`] at most every [`CHECK_EVERY`]; false in between.
pub struct Throttled {
    last: Instant,
}

impl Throttled {
    pub fn new() -> Self {
        Throttled {
            last: Instant::now(),
        }
    }

    /// True if an interrupt is pending. Must be called on R's main thread.
    pub fn pending(&mut self) -> bool {
        if self.last.elapsed() < CHECK_EVERY {
            return false;
        }
        self.last = Instant::now();
        pending()
    }
}
