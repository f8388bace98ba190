# How many threads the engine uses.

#' Default number of threads
#'
#' The value of `getOption("rustnn.threads")` if set; otherwise the number of
#' cores, capped at 2 when the environment variable `_R_CHECK_LIMIT_CORES_`
#' is set (as `R CMD check --as-cran` does). Results never depend on it:
#' every thread count gives bit-identical weights.
#'
#' @return A positive integer.
#' @export
#' @examples
#' default_threads()
default_threads <- function() {
  opt <- getOption("rustnn.threads")
  if (!is.null(opt)) {
    return(check_count(opt, "options(rustnn.threads)"))
  }
  cores <- parallel::detectCores()
  if (is.na(cores)) cores <- 1L
  if (nzchar(Sys.getenv("_R_CHECK_LIMIT_CORES_"))) cores <- min(cores, 2L)
  max(1L, as.integer(cores))
}
