# Optimizers: R6 objects holding hyper-parameters and the state they carry
# between steps; the update itself runs in the engine.

#' Optimizers
#'
#' @description
#' `Optimizer` is the base class; `SGD` is stochastic gradient descent with
#' optional momentum, in PyTorch's form: `v <- momentum * v + grad; param <-
#' param - lr * v` (with `momentum = 0`, `param <- param - lr * grad`).
#'
#' The optimizer keeps its state (momentum buffers and step count) in
#' `$state`, so passing the same object to successive `fit()` calls
#' continues where the last one stopped. `$step(model)` applies one update
#' from the gradients of `model$backward()`, for manual training loops.
#' @name optimizers
#' @examples
#' opt <- SGD$new(lr = 0.1, momentum = 0.9)
#' opt
NULL

#' @rdname optimizers
#' @export
Optimizer <- R6::R6Class("Optimizer",
  public = list(
    # @field state Steps taken and per-parameter buffers (`NULL` when fresh).
    state = NULL,

    # @description Apply one update to `model` from its current gradients.
    # @param model A [Sequential] model after `model$backward()`.
    step = function(model) {
      check_model(model, "model")
      self$state <- model$.optimizer_step(self$.description())
      invisible(self)
    },

    # @description Forget the state (momentum buffers, step count).
    reset = function() {
      self$state <- NULL
      invisible(self)
    },

    # @description Internal: hyper-parameters and state for the engine.
    .description = function() {
      c(private$hyper(), list(steps = self$state$steps %||% 0, slots = self$state$slots))
    },

    # @description One line describing the optimizer.
    # @param ... Unused.
    format = function(...) {
      h <- private$hyper()
      args <- paste(names(h)[-1], vapply(h[-1], format, character(1)), sep = " = ", collapse = ", ")
      paste0("<", class(self)[1], ": ", args, ">")
    },

    # @description Print the optimizer.
    # @param ... Unused.
    print = function(...) {
      writeLines(self$format())
      invisible(self)
    }
  ),
  private = list(
    hyper = function() list(type = "none")
  )
)

#' @rdname optimizers
#' @export
SGD <- R6::R6Class("SGD",
  inherit = Optimizer,
  public = list(
    # @field lr Learning rate.
    lr = NULL,
    # @field momentum Momentum factor in `[0, 1)`.
    momentum = NULL,

    # @description Create an SGD optimizer.
    # @param lr Learning rate, a positive number.
    # @param momentum Momentum factor in `[0, 1)`.
    initialize = function(lr = 0.01, momentum = 0) {
      self$lr <- check_number(lr, min = 0, min_inclusive = FALSE)
      self$momentum <- check_number(momentum, min = 0, max = 1, max_inclusive = FALSE)
    }
  ),
  private = list(
    hyper = function() list(type = "sgd", lr = self$lr, momentum = self$momentum)
  )
)

#' An optimizer object from an argument (NULL means the default).
#' @noRd
as_optimizer <- function(optimizer, arg = "optimizer", call = rlang::caller_env()) {
  if (inherits(optimizer, "Optimizer")) return(optimizer)
  abort_arg("{.arg {arg}} must be an optimizer object such as {.code SGD$new(lr = 0.1)}, not {.obj_type_friendly {optimizer}}.",
            arg, call = call)
}
