# How many threads the engine uses.

#' Default number of threads
#'
#' The value of `getOption("rustnn.threads")` if set; otherwise the number of
#' cores, capped at 2 when the environment variable `_R_CHECK_LIMIT_CORES_`
#' is set (as `R CMD check --as-cran` does). Results never depend on it:
#' every thread count gives bit-identical weights.
#'
#' **What "bit-identical" promises.** On one machine, the same seed, data
#' and settings give the same bits for any number of threads, in every
#' session. Across machines, the engine's matrix multiply and vector loops
#' are picked when it starts, for the widest instructions the CPU has:
#' AVX-512, AVX2 with FMA, or the SSE2 that every x86-64 CPU has; NEON on
#' 64-bit ARM (Apple silicon, ARM servers). Machines whose CPUs get different
#' kernels may differ in the last bits of float results (the kernels add in
#' different orders and only the wider ones fuse multiplies and adds), which
#' training can grow into small differences in the weights. The tests hold
#' the AVX-512, AVX2 and SSE2 kernels to the same float64 references and
#' tolerances.
#'
#' Threads are shared: the process keeps one set of threads per thread count
#' in use, whatever the number of models, so a model holds no threads of its
#' own (the few most recently used counts are kept). A forked child
#' (`parallel::mclapply()`, `parallel::mcparallel()`,
#' `future::plan("multicore")`) starts its own threads the first time it
#' needs them, so models work there as in the parent, with the same results.
#'
#' `predict()` and `fit()` stop promptly on an interrupt (Ctrl-C).
#'
#' @return A positive integer.
#' @export
#' @examples
#' default_threads()
default_threads <- function() {
  opt <- getOption("rustnn.threads")
  if (!is.null(opt)) {
    return(check_threads(opt, "options(rustnn.threads)"))
  }
  cores <- core_count()
  if (nzchar(Sys.getenv("_R_CHECK_LIMIT_CORES_"))) cores <- min(cores, 2L)
  max(1L, as.integer(cores))
}

# More threads than this is a mistake (typically a number meant for another
# argument): each is an OS thread the engine starts, and results never
# depend on the count, so none beyond the cores can help.
max_threads <- function() {
  max(256L, core_count())
}

# The machine's cores, asked once per session: parallel::detectCores()
# runs a shell command on Linux, milliseconds that every predict() and
# fit() paid before.
core_count <- function() {
  if (is.null(the$cores)) {
    cores <- parallel::detectCores()
    the$cores <- if (is.na(cores)) 1L else as.integer(cores)
  }
  the$cores
}

#' Checks a thread count: a whole number from 1 to max_threads().
#' @noRd
check_threads <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  check_count(x, arg, call = call, max = max_threads())
}
