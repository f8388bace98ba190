#' rustnn: neural networks from scratch, at native speed
#'
#' Layers, activations, losses and optimizers are R6 objects that read like
#' the code of "neural network from scratch in R" tutorials. A [Sequential]
#' model keeps one Rust network; [fit()][fit.Sequential] runs the whole
#' training loop (epochs, shuffling, mini-batches, forward, loss, backward,
#' optimizer step) inside it.
#'
#' @section Options:
#' * `rustnn.threads`: threads used by `fit()` and `predict()` (default: the
#'   machine's cores, at most 2 when `_R_CHECK_LIMIT_CORES_` is set).
#' * `rustnn.verbose`: default of `fit()`'s `verbose` (default: `interactive()`).
#'
#' @keywords internal
"_PACKAGE"

#' @importFrom R6 R6Class
#' @importFrom rlang %||% .data
NULL

#' @importFrom generics fit
#' @export
generics::fit

#' @importFrom generics tidy
#' @export
generics::tidy

#' @importFrom generics glance
#' @export
generics::glance

#' @importFrom generics augment
#' @export
generics::augment

# The class factories (activation_class(), loss_class(), optimizer_class())
# write `initialize` methods outside R6Class(), where R CMD check cannot see
# that R6 provides `super` and `private` to them.
utils::globalVariables(c("super", "private"))
