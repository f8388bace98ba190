// Entry point of the rustnn shared library. The Rust glue (src/rust/glue)
// is a static library; calling into it from R_init_rustnn keeps the linker
// from dropping it and registers its routines.
#include <R.h>
#include <Rinternals.h>
#include <R_ext/Rdynload.h>

void R_init_rustnn_extendr(void *dll);
void register_extendr_panic_hook(void);

static void check_interrupt(void *unused) {
    (void) unused;
    R_CheckUserInterrupt();
}

// Called by the Rust training loop between batches. R_CheckUserInterrupt()
// would longjmp straight through Rust frames; inside R_ToplevelExec the
// interrupt is caught here instead, and reported as a return value.
int rustnn_interrupt_pending(void) {
    return !R_ToplevelExec(check_interrupt, NULL);
}

void R_init_rustnn(DllInfo *dll) {
    // Turns Rust panics into quiet R errors (no backtrace dump on the console).
    register_extendr_panic_hook();
    R_init_rustnn_extendr(dll);
}
