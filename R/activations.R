# Activation layers: no parameters, the same width in and out.

#' Activation layers
#'
#' @description
#' Element-wise non-linearities, used as layers: `Sigmoid` (`1 / (1 +
#' exp(-x))`), `Tanh`, `ReLU` (`pmax(x, 0)`), `Identity`, and `Softmax`
#' (each row is exponentiated and divided by its sum, so it sums to one).
#' A final `Sigmoid` with the `"bce"` loss, or `Softmax` with
#' `"cross_entropy"`, is trained through the fused, numerically stable form
#' of the loss.
#'
#' @section Shape:
#' Input `n x k`, output `n x k`.
#' @name activations
#' @examples
#' x <- matrix(c(-2, 0, 3, 1), nrow = 2)
#' Tanh$new()$forward(x)
#' Softmax$new()$forward(x)   # rows sum to 1
NULL

#' @rdname activations
#' @export
Activation <- R6::R6Class("Activation",
  inherit = Layer,
  public = list(
    # @description Create an activation layer.
    # @param type Engine name of the activation.
    initialize = function(type) {
      super$initialize(type)
    }
  )
)

# One class per activation, all made the same way.
activation_class <- function(classname, type) {
  R6::R6Class(classname,
    inherit = Activation,
    public = list(
      initialize = function() super$initialize(type)
    )
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
Softmax <- activation_class("Softmax", "softmax")

#' @rdname activations
#' @export
Identity <- activation_class("Identity", "identity")
