# Callbacks: what fit() does at the end of each epoch besides training.
#
# Early stopping and learning-rate schedules are descriptions (plain lists)
# that the engine executes inside its training loop, so they cost no R code
# per epoch. Only callback_epoch_end() runs R code, once per epoch.

new_callback <- function(kind, ..., class = NULL) {
  structure(list(...), class = c(class, paste0("rustnn_", kind), "rustnn_callback"))
}

#' Stop training when a figure stops improving
#'
#' Watches one figure of the history (`"val_loss"`, `"loss"`,
#' `"val_accuracy"`, ...) at the end of each epoch and stops training when
#' it has not improved by more than `min_delta` for `patience` epochs in a
#' row. Losses, `"mae"` and `"rmse"` improve by going down, the other metrics
#' by going up. With `restore_best_weights = TRUE`, the model ends with the
#' weights of its best epoch (unlike Keras, also when training runs all its
#' epochs without stopping).
#'
#' @param monitor Name of the figure to watch: `"loss"`, a metric given to
#'   `fit(metrics = )`, or either with the prefix `"val_"` (needs validation
#'   data).
#' @param patience Epochs without improvement before stopping (0 stops at the
#'   first epoch that does not improve).
#' @param min_delta Smallest change that counts as an improvement.
#' @param restore_best_weights Put back the weights of the best epoch?
#' @return A callback for `fit(callbacks = )`.
#' @family callbacks
#' @export
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(200), ncol = 2)
#' y <- x[, 1] - x[, 2] + rnorm(100, sd = 0.1)
#' model <- Sequential$new(Linear$new(2, 8), ReLU$new(), Linear$new(8, 1))
#' history <- fit(model, x, y, epochs = 200, validation_split = 0.2,
#'                callbacks = list(early_stopping(patience = 5)))
#' nrow(as.data.frame(history))   # fewer than 200 epochs
early_stopping <- function(monitor = "val_loss", patience = 0, min_delta = 0,
                           restore_best_weights = FALSE) {
  check_monitor(monitor)
  new_callback("early_stopping",
               monitor = monitor,
               patience = check_number(patience, min = 0, whole = TRUE),
               min_delta = check_number(min_delta, min = 0),
               restore_best = check_flag(restore_best_weights))
}

#' Learning-rate schedules
#'
#' Change the optimizer's learning rate from epoch to epoch. The rate of
#' epoch 1 is the optimizer's `lr` (the *base* rate); each fit() starts again
#' from it. The rate used in each epoch is in the history's `lr` column.
#'
#' * `lr_step_decay()`: multiply by `gamma` every `step_size` epochs:
#'   `lr * gamma^floor((epoch - 1) / step_size)` (PyTorch's `StepLR`).
#' * `lr_exponential_decay()`: `lr * gamma^(epoch - 1)` (`ExponentialLR`).
#' * `lr_cosine()`: from `lr` down to `lr_min` along half a cosine over
#'   `t_max` epochs, then `lr_min` (`CosineAnnealingLR` without restarts).
#' * `lr_reduce_on_plateau()`: multiply by `factor` (not below `lr_min`)
#'   whenever `monitor` has not improved by more than `min_delta` for
#'   `patience` epochs (Keras's `ReduceLROnPlateau`, without cooldown).
#'
#' @param step_size Epochs between two decays.
#' @param gamma Multiplicative factor, positive.
#' @param t_max Epochs from the base rate down to `lr_min`.
#' @param lr_min Lowest rate.
#' @param monitor,min_delta,patience As in [early_stopping()].
#' @param factor Multiplicative factor in `(0, 1)`.
#' @return A callback for `fit(callbacks = )`; one schedule per fit.
#' @family callbacks
#' @name lr_schedules
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(200), ncol = 2)
#' model <- Sequential$new(Linear$new(2, 1))
#' history <- fit(model, x, x[, 1], optimizer = SGD$new(lr = 0.1), epochs = 6,
#'                callbacks = list(lr_step_decay(step_size = 2, gamma = 0.5)))
#' as.data.frame(history)$lr
NULL

#' @rdname lr_schedules
#' @export
lr_step_decay <- function(step_size, gamma = 0.1) {
  new_callback("schedule", type = "step",
               step_size = check_number(step_size, min = 1, whole = TRUE),
               gamma = check_number(gamma, min = 0, min_inclusive = FALSE))
}

#' @rdname lr_schedules
#' @export
lr_exponential_decay <- function(gamma) {
  new_callback("schedule", type = "exponential",
               gamma = check_number(gamma, min = 0, min_inclusive = FALSE))
}

#' @rdname lr_schedules
#' @export
lr_cosine <- function(t_max, lr_min = 0) {
  new_callback("schedule", type = "cosine",
               t_max = check_number(t_max, min = 1, whole = TRUE),
               lr_min = check_number(lr_min, min = 0))
}

#' @rdname lr_schedules
#' @export
lr_reduce_on_plateau <- function(monitor = "val_loss", factor = 0.1, patience = 10,
                                 min_delta = 1e-4, lr_min = 0) {
  check_monitor(monitor)
  new_callback("schedule", type = "plateau", monitor = monitor,
               factor = check_number(factor, min = 0, max = 1, min_inclusive = FALSE,
                                     max_inclusive = FALSE),
               patience = check_number(patience, min = 0, whole = TRUE),
               min_delta = check_number(min_delta, min = 0),
               lr_min = check_number(lr_min, min = 0))
}

#' Run your own code at the end of each epoch
#'
#' `fun(epoch, logs)` is called after every epoch with the epoch number and
#' a named numeric vector of that epoch's figures (`loss`, metrics,
#' `val_loss`, ..., `lr`). If it returns `TRUE`, training stops after this
#' epoch (the model keeps its weights); any other value continues. An error
#' in `fun` stops training and is reported as a warning.
#'
#' `fun` runs inside `fit()`, on the model being trained, as it is at the
#' end of that epoch:
#'
#' * `model$layers[[i]]$params` are the epoch's weights and `model$history`
#'   the epochs so far; [save_model()], [saveRDS()] and `model$clone()`
#'   capture them with the optimizer's state, so that a checkpoint saved
#'   here continues training exactly where this fit is;
#'   [predict()][predict.Sequential] and [evaluate()] use those weights.
#' * Weights assigned to `model$layers[[i]]$params` are used from the next
#'   batch on: a max-norm constraint, clipping or pruning (see the example).
#' * Warnings and messages reach the handlers around `fit()`
#'   ([withCallingHandlers()], [suppressWarnings()]); Ctrl-C (or an
#'   interrupt) in `fun` stops training as it does between batches.
#' * `fit()`, `model$forward()`, `model$backward()` and `optimizer$step()`
#'   on the same model are refused with an error of class
#'   `rustnn_error_busy`: the model is in the middle of training (train
#'   another model, or `model$clone()`, instead).
#'
#' With such a callback, the engine stops at every epoch's end to run it,
#' copying the weights, the history and the optimizer's state into R first:
#' tens of microseconds per epoch for a small network, a pass over the
#' weights and the optimizer's buffers for a large one.
#'
#' @param fun A function of `(epoch, logs)`.
#' @return A callback for `fit(callbacks = )`.
#' @family callbacks
#' @export
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(200), ncol = 2)
#' model <- Sequential$new(Linear$new(2, 1))
#' stop_when_good <- callback_epoch_end(function(epoch, logs) logs[["loss"]] < 0.05)
#' history <- fit(model, x, x[, 1] + x[, 2], optimizer = SGD$new(lr = 0.1),
#'                epochs = 100, callbacks = list(stop_when_good))
#' history
#'
#' # A max-norm constraint: each unit's incoming weights kept within a norm of 1.
#' model <- Sequential$new(Linear$new(2, 8), ReLU$new(), Linear$new(8, 1))
#' max_norm <- callback_epoch_end(function(epoch, logs) {
#'   p <- model$layers[[1]]$params
#'   norms <- sqrt(colSums(p$weight^2))
#'   p$weight <- sweep(p$weight, 2, pmax(1, norms), "/")
#'   model$layers[[1]]$params <- p
#' })
#' fit(model, x, x[, 1] * x[, 2], epochs = 20, callbacks = list(max_norm))
#' sqrt(colSums(model$layers[[1]]$params$weight^2))
callback_epoch_end <- function(fun) {
  if (!is.function(fun)) {
    abort_arg("{.arg fun} must be a function of {.code (epoch, logs)}, not {.obj_type_friendly {fun}}.",
              "fun")
  }
  new_callback("epoch_end", fun = fun)
}

check_monitor <- function(monitor, call = rlang::caller_env()) {
  if (!(is.character(monitor) && length(monitor) == 1L && !is.na(monitor) && nzchar(monitor))) {
    abort_arg("{.arg monitor} must be the name of a figure such as {.val val_loss}, not {.obj_type_friendly {monitor}}.",
              "monitor", call = call)
  }
  monitor
}

#' Splits fit()'s callbacks into what the engine runs and R functions.
#' @noRd
sort_callbacks <- function(callbacks, call = rlang::caller_env()) {
  if (is.list(callbacks) && length(callbacks) == 0L) {
    return(list(early_stopping = NULL, schedule = NULL, epoch_end = list()))
  }
  if (inherits(callbacks, "rustnn_callback")) callbacks <- list(callbacks)
  if (!is.list(callbacks) || !all(vapply(callbacks, inherits, logical(1), "rustnn_callback"))) {
    abort_arg(c("{.arg callbacks} must be a list of callbacks.",
                i = "Make them with {.fn early_stopping}, {.fn lr_step_decay} and the other {.code lr_*()} schedules, or {.fn callback_epoch_end}."),
              "callbacks", call = call)
  }
  of_kind <- function(kind) Filter(function(cb) inherits(cb, paste0("rustnn_", kind)), callbacks)
  early <- of_kind("early_stopping")
  schedules <- of_kind("schedule")
  if (length(early) > 1L || length(schedules) > 1L) {
    abort_arg("{.arg callbacks} may hold at most one {.fn early_stopping} and one learning-rate schedule.",
              "callbacks", call = call)
  }
  list(early_stopping = if (length(early)) unclass(early[[1]]),
       schedule = if (length(schedules)) unclass(schedules[[1]]),
       epoch_end = lapply(of_kind("epoch_end"), `[[`, "fun"))
}

#' @export
format.rustnn_callback <- function(x, ...) {
  fields <- unclass(x)
  fields <- fields[!vapply(fields, is.function, logical(1))]
  args <- paste(names(fields), vapply(fields, format, character(1)), sep = " = ", collapse = ", ")
  paste0("<", sub("^rustnn_", "", class(x)[1]), if (nzchar(args)) ": ", args, ">")
}

#' @export
print.rustnn_callback <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}
