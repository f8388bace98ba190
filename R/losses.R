# Losses: one R6 class parameterized by the engine's loss name (and, for
# huber, its delta), with a subclass per loss for readable code
# (MSELoss$new(), ...).

#' Loss functions
#'
#' @description
#' A loss compares predictions with targets. Use a name in `fit()` (`loss =
#' "bce"`) or an object, whose `$loss()` and `$grad()` serve manual
#' training loops (tutorial 001's `loss$grad(predicted, actual)`). With `n`
#' rows and `k` columns of predictions `p` and targets `y`:
#'
#' * `"mse"` / `MSELoss`: `mean((p - y)^2)` over all elements.
#' * `"sse"` / `SSELoss`: total squared error `sum((p - y)^2)` (tutorial
#'   001's loss for XOR).
#' * `"mae"` / `MAELoss`: `mean(abs(p - y))` over all elements.
#' * `"huber"` / `HuberLoss$new(delta = 1)`: with `e <- p - y`, the mean
#'   over all elements of `ifelse(abs(e) <= delta, e^2 / 2, delta * (abs(e) -
#'   delta / 2))`: squared error near the target, absolute error (less
#'   sensitive to outliers) beyond `delta > 0`. As PyTorch's `HuberLoss` and
#'   Keras's `Huber`.
#' * `"bce"` / `BCELoss`: binary cross-entropy `-mean(y * log(p) + (1 - y) *
#'   log(1 - p))` over all elements, for sigmoid outputs.
#' * `"cross_entropy"` / `CrossEntropyLoss`: categorical cross-entropy,
#'   `-sum(y * log(p)) / n`, for softmax outputs and one-hot targets.
#' * `"sparse_cross_entropy"` / `SparseCrossEntropyLoss`: the same with the
#'   class of each row given as a **0-based** index instead of a one-hot row
#'   (as Keras's `sparse_categorical_crossentropy`): `y` is an `n x 1`
#'   matrix (or a vector) of whole numbers from 0 to `k - 1`, or a factor,
#'   whose level codes minus one are used. The value is `-mean(log(p[cbind(1:n,
#'   y + 1)]))`.
#'
#' Probabilities are clamped away from 0 and 1 before the logarithm
#' (`1e-15` in float64). During `fit()`, a final `Sigmoid` + `"bce"` or
#' `Softmax` + `"cross_entropy"` (or `"sparse_cross_entropy"`) is computed
#' from the logits instead, which is exact and stable.
#'
#' @section Weights:
#' `$loss()` and `$grad()` take optional per-row `weights` (non-negative,
#' one per row), as Keras's `sample_weight`: each row's contribution to the
#' sum, and its gradient, is multiplied by its weight, and the divisor (`n`,
#' `n * k`, or 1 for `"sse"`) stays the same. Weights of one change nothing;
#' a weight of two counts a row twice.
#'
#' @section Methods:
#' `Loss$new(name, delta = NULL)` creates a loss by name (`delta` only for
#' `"huber"`, default 1); the subclasses take no argument except
#' `HuberLoss$new(delta = 1)`. `$loss(pred, y, weights = NULL)` returns the
#' value and `$grad(pred, y, weights = NULL)` the gradient with respect to
#' `pred`, a matrix of `pred`'s shape.
#' @name losses
#' @examples
#' loss <- SSELoss$new()
#' pred <- matrix(c(0.9, 0.2), ncol = 1)
#' y <- matrix(c(1, 0), ncol = 1)
#' loss$loss(pred, y)   # 0.01 + 0.04
#' loss$grad(pred, y)   # 2 * (pred - y)
#' loss$loss(pred, y, weights = c(1, 3))   # 0.01 + 3 * 0.04
#'
#' HuberLoss$new(delta = 0.5)$loss(matrix(c(0, 2)), matrix(c(0.2, 0)))
#'
#' probs <- matrix(c(0.7, 0.2, 0.3, 0.8), nrow = 2)
#' SparseCrossEntropyLoss$new()$loss(probs, c(0, 1))   # -mean(log(c(0.7, 0.8)))
NULL

#' @rdname losses
#' @export
Loss <- R6::R6Class("Loss",
  public = list(
    # @field name Engine name of the loss.
    name = NULL,
    # @field delta The huber loss's threshold; NULL for other losses.
    delta = NULL,

    # @description Create a loss by name.
    # @param name One of `catalog("losses")`.
    # @param delta For `"huber"` only: the threshold (default 1).
    initialize = function(name, delta = NULL) {
      self$name <- check_choice(name, catalog("losses"), "loss")
      if (name == "huber") {
        self$delta <- check_number(delta %||% 1, "delta", min = 0, min_inclusive = FALSE)
      } else if (!is.null(delta)) {
        abort_arg("{.arg delta} is only used by the huber loss, not by {.val {name}}.", "delta")
      }
    },

    # @description The loss value.
    # @param pred Numeric matrix (or vector) of predictions.
    # @param y Targets of the same shape (class indices or a factor for
    #   the sparse loss).
    # @param weights Optional non-negative weight per row.
    loss = function(pred, y, weights = NULL) {
      private$compute(pred, y, weights)$value
    },

    # @description Gradient of the loss with respect to `pred`.
    # @param pred,y,weights As for `loss()`.
    grad = function(pred, y, weights = NULL) {
      private$compute(pred, y, weights)$grad
    },

    # @description Internal: the loss's description for the engine.
    .description = function() {
      list(name = self$name, delta = self$delta)
    },

    # @description One line describing the loss.
    # @param ... Unused.
    format = function(...) {
      paste0("<", class(self)[1], ": ", loss_label(self$.description()), ">")
    },

    # @description Print the loss.
    # @param ... Unused.
    print = function(...) {
      writeLines(self$format())
      invisible(self)
    }
  ),
  private = list(
    # Whether the object's class writes its own loss() and grad() (see
    # is_custom_loss()), once known.
    .custom = NULL,
    # `call`: the caller of `$loss()` or `$grad()`, whose call errors name.
    compute = function(pred, y, weights, call = rlang::caller_env(2)) {
      loss_compute(self, pred, y, weights, call)
    }
  )
)

#' The body of a loss's `$loss()` and `$grad()`, compiled with the package
#' (R6 methods are not): checks, then the engine's value and gradient.
#' @noRd
loss_compute <- function(self, pred, y, weights, call) {
  pred <- as_input_matrix(pred, "pred", call)
  # The sparse loss takes one 0-based class index per row instead.
  sparse <- self$name == "sparse_cross_entropy"
  if (sparse && is.factor(y)) y <- factor_codes(y, "y", call)
  y <- as_input_matrix(y, "y", call)
  want <- c(nrow(pred), if (sparse) 1L else ncol(pred))
  if (!identical(dim(y), want)) {
    abort_arg(if (sparse) {
      "{.arg y} is {nrow(y)} x {ncol(y)}, but must be {want[1]} x 1 (one class index per row of {.arg pred})."
    } else {
      "{.arg y} is {nrow(y)} x {ncol(y)}, but {.arg pred} is {nrow(pred)} x {ncol(pred)}."
    }, "y", call = call)
  }
  if (sparse) check_class_indices(y, ncol(pred), "y", call)
  if (!is.null(weights)) weights <- check_weights(weights, nrow(pred), "weights", call)
  rust_call(rn_loss(list(name = self$name, delta = self$delta), pred, y, weights), call = call)
}

#' 0-based class indices from a factor: its level codes minus one.
#' @noRd
factor_codes <- function(y, arg, call) {
  if (anyNA(y)) abort_arg("{.arg {arg}} must not contain NA.", arg, call = call)
  as.integer(y) - 1L
}

#' Checks sparse targets: whole numbers from 0 to `classes - 1`.
#' @noRd
check_class_indices <- function(y, classes, arg, call) {
  bad <- y != round(y) | y < 0 | y >= classes
  if (any(bad)) {
    first <- which(bad)[1]
    abort_arg(c("{.arg {arg}} must hold 0-based class indices: whole numbers from 0 to {classes - 1}.",
                x = "Row {first} is {y[first]}."),
              arg, call = call)
  }
  invisible(y)
}

#' Per-row weights: NULL, or non-negative finite numbers, one per row.
#' @noRd
check_weights <- function(weights, rows, arg, call) {
  if (!(is.numeric(weights) && is.null(dim(weights)))) {
    abort_arg("{.arg {arg}} must be a numeric vector, not {.obj_type_friendly {weights}}.",
              arg, call = call)
  }
  if (length(weights) != rows) {
    abort_arg("{.arg {arg}} must have one value per row ({rows}), not {length(weights)}.",
              arg, call = call)
  }
  check_finite(weights, arg, call)
  if (any(weights < 0)) {
    abort_arg("{.arg {arg}} must not be negative; element {which(weights < 0)[1]} is {weights[weights < 0][1]}.",
              arg, call = call)
  }
  as.double(weights)
}

# One class per loss, all made the same way; `params` (with defaults) become
# the arguments of `$new()` and are passed on to `Loss$new()`.
loss_class <- function(classname, name, params = list()) {
  initialize <- function() {
    args <- mget(as.character(names(params)), envir = rlang::current_env())
    do.call("initialize", c(list(name), args), envir = super)
  }
  formals(initialize) <- params
  R6::R6Class(classname,
    inherit = Loss,
    public = list(initialize = initialize)
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
MAELoss <- loss_class("MAELoss", "mae")

#' @rdname losses
#' @export
HuberLoss <- loss_class("HuberLoss", "huber", list(delta = 1))

#' @rdname losses
#' @export
BCELoss <- loss_class("BCELoss", "bce")

#' @rdname losses
#' @export
CrossEntropyLoss <- loss_class("CrossEntropyLoss", "cross_entropy")

#' @rdname losses
#' @export
SparseCrossEntropyLoss <- loss_class("SparseCrossEntropyLoss", "sparse_cross_entropy")

#' A loss's description (`Loss$.description()`, as a model's state keeps
#' its last loss) in words: its name, and its delta if it has one.
#' @noRd
loss_label <- function(description) {
  delta <- description$delta
  paste0(description$name, if (!is.null(delta)) paste0(" (delta = ", format(delta), ")"))
}

#' The Loss object a description (`Loss$.description()`) stands for, or
#' NULL for NULL.
#' @noRd
loss_from_description <- function(description) {
  if (is.null(description)) return(NULL)
  # Kept per description: building an R6 object costs more than a small
  # fit(), and these are the package's own, never handed to the user.
  key <- loss_label(description)
  the$losses[[key]] <- the$losses[[key]] %||% Loss$new(description$name, delta = description$delta)
}

#' A Loss object from a name or a Loss.
#' @noRd
as_loss <- function(loss, arg = "loss", call = rlang::caller_env()) {
  if (is.character(loss)) {
    check_choice(loss, catalog("losses"), arg, call = call)
    return(Loss$new(loss))
  }
  if (inherits(loss, "Loss") && !is_custom_loss(loss)) return(loss)
  # A loss written in R (custom.R).
  check_custom_loss(loss, arg, call)
}

# ---------------------------------------------------------------------------
# Which loss fits which output and target: the rules fit() checks and the
# defaults it picks, in one place.

#' What the built-in losses need of a network's output: class
#' probabilities summing to one per row (`"distribution"`, a softmax) or
#' probabilities (`"probability"`, a sigmoid or a softmax). Other losses
#' take any output.
#' @noRd
loss_output_needs <- c(cross_entropy = "distribution", sparse_cross_entropy = "distribution",
                       bce = "probability")

#' What a network's output is, from its last layer that changes values:
#' `"distribution"` (softmax), `"probability"` (sigmoid) or `"unbounded"`.
#' @noRd
output_kind <- function(specs) {
  types <- vapply(specs, function(s) s$type, character(1))
  types <- types[!types %in% c("dropout", "identity", "flatten")]
  last <- if (length(types)) types[length(types)] else ""
  # A layer written in R may give anything: its user knows.
  switch(last, softmax = "distribution", sigmoid = "probability", custom = "unknown", "unbounded")
}

#' The loss fit() uses when none is given and the model has none: from the
#' target and the network's output together. Classes (a factor, character
#' or logical y) take bce with one output and cross-entropy with several;
#' numbers take cross-entropy when a softmax meets one-hot (or probability)
#' rows, sparse cross-entropy when it meets one column of labels 0, 1, ...,
#' bce when a sigmoid meets values in [0, 1], and mse otherwise.
#' @noRd
default_loss <- function(y, outputs, kind) {
  if (is.factor(y) || is.character(y) || is.logical(y)) {
    return(if (outputs == 1L) "bce" else "cross_entropy")
  }
  if (!is.numeric(y) || anyNA(y)) return("mse")
  columns <- if (is.null(dim(y))) 1L else ncol(y)
  if (kind == "distribution" && outputs > 1L) {
    if (columns == outputs && all(y >= 0 & y <= 1) && all(abs(rowSums(as.matrix(y)) - 1) < 1e-6)) {
      return("cross_entropy")
    }
    if (columns == 1L && all(y == round(y) & y >= 0 & y < outputs)) return("sparse_cross_entropy")
  }
  if (kind %in% c("distribution", "probability") && all(y >= 0 & y <= 1)) return("bce")
  "mse"
}

#' Refuses a built-in loss the network's output cannot feed (cross-entropy
#' on raw outputs, say), and warns of one that is likely a mistake (bce on
#' sigmoids for one class per row of several). The engine computes a
#' `Loss` by its name, so the rule holds for every `Loss` object.
#' @noRd
check_loss_output <- function(loss, specs, outputs, target, call, warn = TRUE) {
  need <- loss_output_needs[loss_name(loss)]
  if (is.na(need)) return(invisible())
  kind <- output_kind(specs)
  if (kind == "unknown") return(invisible())
  softmax <- "End the model with {.code Softmax$new()}, which makes each row's outputs probabilities that sum to 1."
  sigmoid <- "End the model with {.code Sigmoid$new()}, which makes each output a probability."
  if (need == "distribution" && kind != "distribution") {
    abort_loss_output(c("The {.val {loss$name}} loss takes class probabilities that sum to 1 per row, but the model's last layer {if (kind == 'probability') 'is a sigmoid, whose outputs do not sum to 1' else 'gives unbounded outputs'}.",
                        i = if (outputs == 1L) "For two classes with one output, end the model with {.code Sigmoid$new()} and use {.code loss = \"bce\"}." else softmax),
                      call)
  }
  if (need == "probability" && kind == "unbounded") {
    abort_loss_output(c("The {.val bce} loss takes probabilities between 0 and 1, but the model's last layer gives unbounded outputs.",
                        i = if (outputs == 1L) sigmoid else "End the model with {.code Sigmoid$new()} (independent labels) or {.code Softmax$new()} (one class per row)."),
                      call)
  }
  if (warn && need == "probability" && kind == "probability" && identical(target$type, "factor") &&
      length(target$levels) > 2L) {
    cli::cli_warn(c("The model gives each of the {length(target$levels)} classes its own sigmoid, so the predicted probabilities of a row do not sum to 1.",
                    i = "For one class per row, end the model with {.code Softmax$new()} and use {.code loss = \"cross_entropy\"}."),
                  class = c("rustnn_warning_loss_output", "rustnn_warning"), call = call)
  }
  invisible()
}

abort_loss_output <- function(message, call, .envir = parent.frame()) {
  cli::cli_abort(message, class = c("rustnn_error_loss_output", "rustnn_error"), call = call,
                 .envir = .envir)
}

#' Whether encoded targets are classes: a factor, labels, or 0/1 values in
#' one column or one-hot rows.
#' @noRd
is_class_target <- function(target) {
  truth <- target$matrix
  # The first values decide most regressions without a pass over them all
  # (and its copies of a target of 10^7 rows).
  zero_one <- function(v) all(v == 0 | v == 1)
  target$info$type == "factor" || isTRUE(target$info$zero_based) ||
    zero_one(truth[seq_len(min(length(truth), 100L))]) && zero_one(truth) &&
    (ncol(truth) == 1L || all(rowSums(truth) == 1))
}

#' Refuses class metrics on targets that are not classes (accuracy of a
#' regression would compare rounded numbers).
#' @noRd
check_class_metrics <- function(metrics, target, call) {
  wrong <- intersect(metrics, catalog("class_metrics"))
  if (length(wrong) && !is_class_target(target)) {
    abort_arg(c("{.arg metrics} has the classification metric{?s} {.val {wrong}}, but the targets are numbers, not classes.",
                i = "For a regression use {.or {.val {setdiff(catalog('metrics'), catalog('class_metrics'))}}}; for classes give a factor {.arg y}."),
              "metrics", call = call)
  }
  invisible(metrics)
}
