# Activation layers: no parameters, the same width in and out. Some have a
# hyper-parameter (`alpha`), which is checked here and sent to the engine in
# the layer's options.

#' Activation layers
#'
#' @description
#' Element-wise non-linearities, used as layers:
#'
#' * `Sigmoid`: `1 / (1 + exp(-x))`.
#' * `Tanh`: `tanh(x)`.
#' * `ReLU`: `pmax(x, 0)`.
#' * `LeakyReLU$new(alpha = 0.01)`: `ifelse(x > 0, x, alpha * x)`, with
#'   `alpha >= 0` (PyTorch's default slope; Keras's is 0.3).
#' * `ELU$new(alpha = 1)`: `ifelse(x > 0, x, alpha * (exp(x) - 1))`, with
#'   `alpha > 0`.
#' * `GELU`: the exact Gaussian error linear unit `x * pnorm(x)` (PyTorch's
#'   default, Keras's `approximate = FALSE`), not the tanh approximation.
#' * `Softplus`: `log(1 + exp(x))`, computed as `pmax(x, 0) + log1p(exp(-abs(x)))`
#'   so it neither overflows for large `x` nor rounds to 0 for very negative `x`.
#' * `Identity`: `x`.
#' * `Softmax`: each row is exponentiated and divided by its sum, so it sums
#'   to one.
#'
#' A final `Sigmoid` with the `"bce"` loss, or `Softmax` with
#' `"cross_entropy"` or `"sparse_cross_entropy"`, is trained through the
#' fused, numerically stable form of the loss.
#'
#' @section Methods:
#' `$new()` creates the layer; only `LeakyReLU$new(alpha = 0.01)` and
#' `ELU$new(alpha = 1)` take an argument: for `LeakyReLU`, `alpha` is the
#' slope for negative inputs (at least 0); for `ELU`, `-alpha` is the value
#' approached as `x -> -Inf` (greater than 0). Printing such a layer shows
#' its `alpha`. `$forward(x)` and `$backward(grad)` are those of [Layer].
#' @section Shape:
#' Input `n x k`, output `n x k`.
#' @name activations
#' @examples
#' x <- matrix(c(-2, 0, 3, 1), nrow = 2)
#' Tanh$new()$forward(x)
#' Softmax$new()$forward(x)   # rows sum to 1
#' LeakyReLU$new(alpha = 0.1)$forward(x)
#' GELU$new()$forward(x)      # x * pnorm(x)
NULL

#' @rdname activations
#' @export
Activation <- R6::R6Class("Activation",
  inherit = Layer,
  public = list(
    # @description Create an activation layer.
    # @param type Engine name of the activation.
    # @param options Named list of the activation's hyper-parameters.
    initialize = function(type, options = list()) {
      super$initialize(type, options = options)
    }
  )
)

# One class per activation, all made the same way. `params` describes the
# hyper-parameters, each `list(default, kind)` as `hyper()` makes them for
# optimizers: they become the arguments of `$new()`, checked by check_hyper().
activation_class <- function(classname, type, params = list()) {
  initialize <- function() {
    call <- rlang::current_env()
    options <- lapply(names(params), function(name) {
      check_hyper(get(name, envir = call), params[[name]]$kind, name, call)
    })
    super$initialize(type, stats::setNames(options, names(params)))
  }
  formals(initialize) <- lapply(params, `[[`, "default")
  R6::R6Class(classname,
    inherit = Activation,
    public = list(initialize = initialize)
  )
}

#' @rdname activations
#' @export
Sigmoid <- activation_class("Sigmoid", "sigmoid")

#' @rdname activations
#' @export
Tanh <- activation_class("Tanh", "tanh")

#' @rdname activations
#' @export
ReLU <- activation_class("ReLU", "relu")

#' @rdname activations
#' @export
LeakyReLU <- activation_class("LeakyReLU", "leaky_relu",
  list(alpha = list(default = 0.01, kind = "nonnegative")))

#' @rdname activations
#' @export
ELU <- activation_class("ELU", "elu",
  list(alpha = list(default = 1, kind = "positive")))

#' @rdname activations
#' @export
GELU <- activation_class("GELU", "gelu")

#' @rdname activations
#' @export
Softplus <- activation_class("Softplus", "softplus")

#' @rdname activations
#' @export
Softmax <- activation_class("Softmax", "softmax")

#' @rdname activations
#' @export
Identity <- activation_class("Identity", "identity")
