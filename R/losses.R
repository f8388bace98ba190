# Losses: one R6 class parameterized by the engine's loss name, with a
# subclass per loss for readable code (MSELoss$new(), ...).

loss_names <- c("mse", "sse", "bce", "cross_entropy")

#' Loss functions
#'
#' @description
#' A loss compares predictions with targets. Use a name in `fit()` (`loss =
#' "bce"`) or an object, whose `$loss()` and `$grad()` serve manual
#' training loops (tutorial 001's `loss$grad(predicted, actual)`):
#'
#' * `"mse"` / `MSELoss`: mean of `(pred - y)^2` over all elements.
#' * `"sse"` / `SSELoss`: total squared error `sum((pred - y)^2)` (tutorial
#'   001's loss for XOR).
#' * `"bce"` / `BCELoss`: binary cross-entropy, mean over all elements, for
#'   sigmoid outputs.
#' * `"cross_entropy"` / `CrossEntropyLoss`: categorical cross-entropy,
#'   `-sum(y * log(pred)) / n`, for softmax outputs and one-hot targets.
#'
#' Probabilities are clamped away from 0 and 1 before the logarithm
#' (`1e-15` in float64). During `fit()`, a final `Sigmoid` + `"bce"` or
#' `Softmax` + `"cross_entropy"` is computed from the logits instead, which
#' is exact and stable.
#' @name losses
#' @examples
#' loss <- SSELoss$new()
#' pred <- matrix(c(0.9, 0.2), ncol = 1)
#' y <- matrix(c(1, 0), ncol = 1)
#' loss$loss(pred, y)   # 0.01 + 0.04
#' loss$grad(pred, y)   # 2 * (pred - y)
NULL

#' @rdname losses
#' @export
Loss <- R6::R6Class("Loss",
  public = list(
    # @field name Engine name of the loss.
    name = NULL,

    # @description Create a loss by name.
    # @param name One of `"mse"`, `"sse"`, `"bce"`, `"cross_entropy"`.
    initialize = function(name) {
      self$name <- check_choice(name, loss_names, "loss")
    },

    # @description The loss value.
    # @param pred,y Numeric matrices (or vectors) of the same shape.
    loss = function(pred, y) {
      private$compute(pred, y)$value
    },

    # @description Gradient of the loss with respect to `pred`.
    # @param pred,y Numeric matrices (or vectors) of the same shape.
    grad = function(pred, y) {
      private$compute(pred, y)$grad
    },

    # @description One line describing the loss.
    # @param ... Unused.
    format = function(...) paste0("<", class(self)[1], ": ", self$name, ">"),

    # @description Print the loss.
    # @param ... Unused.
    print = function(...) {
      writeLines(self$format())
      invisible(self)
    }
  ),
  private = list(
    compute = function(pred, y) {
      call <- rlang::caller_env(2)
      pred <- as_input_matrix(pred, "pred", call)
      y <- as_input_matrix(y, "y", call)
      if (!identical(dim(pred), dim(y))) {
        abort_arg("{.arg y} is {nrow(y)} x {ncol(y)}, but {.arg pred} is {nrow(pred)} x {ncol(pred)}.",
                  "y", call = call)
      }
      rust_call(rn_loss(self$name, pred, y), call = call)
    }
  )
)

loss_class <- function(classname, name) {
  R6::R6Class(classname,
    inherit = Loss,
    public = list(initialize = function() super$initialize(name))
  )
}

#' @rdname losses
#' @export
MSELoss <- loss_class("MSELoss", "mse")

#' @rdname losses
#' @export
SSELoss <- loss_class("SSELoss", "sse")

#' @rdname losses
#' @export
BCELoss <- loss_class("BCELoss", "bce")

#' @rdname losses
#' @export
CrossEntropyLoss <- loss_class("CrossEntropyLoss", "cross_entropy")

#' A Loss object from a name or a Loss.
#' @noRd
as_loss <- function(loss, arg = "loss", call = rlang::caller_env()) {
  if (inherits(loss, "Loss")) return(loss)
  if (is.character(loss)) {
    check_choice(loss, loss_names, arg, call = call)
    return(Loss$new(loss))
  }
  abort_arg("{.arg {arg}} must be a loss name ({.val {loss_names}}) or a {.cls Loss} object, not {.obj_type_friendly {loss}}.",
            arg, call = call)
}
