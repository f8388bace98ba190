# Callbacks: what fit() does at the end of each epoch besides training,
# named as keras3 names them (callback_*()).
#
# Early stopping and learning-rate schedules are descriptions (plain lists)
# that the engine executes inside its training loop, so they cost no R code
# per epoch. callback_epoch_end(), callback_model_checkpoint() and
# callback_csv_logger() run R code, once per epoch: each is a function of
# (epoch, logs, model) that fit() calls in its pauses (see run_session()).

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
#'                optimizer = SGD$new(lr = 0.05),
#'                callbacks = list(callback_early_stopping(patience = 5)))
#' nrow(as.data.frame(history))   # the epochs it ran
callback_early_stopping <- function(monitor = "val_loss", patience = 0, min_delta = 0,
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
#' * `callback_lr_step_decay()`: multiply by `gamma` every `step_size` epochs:
#'   `lr * gamma^floor((epoch - 1) / step_size)` (PyTorch's `StepLR`).
#' * `callback_lr_exponential_decay()`: `lr * gamma^(epoch - 1)` (`ExponentialLR`).
#' * `callback_lr_cosine()`: from `lr` down to `lr_min` along half a cosine over
#'   `t_max` epochs, then `lr_min` (`CosineAnnealingLR` without restarts).
#' * `callback_reduce_lr_on_plateau()`: multiply by `factor` (not below `lr_min`)
#'   whenever `monitor` has not improved by more than `min_delta` for
#'   `patience` epochs (Keras's `ReduceLROnPlateau`, without cooldown).
#'
#' @param step_size Epochs between two decays.
#' @param gamma Multiplicative factor, positive.
#' @param t_max Epochs from the base rate down to `lr_min`.
#' @param lr_min Lowest rate.
#' @param monitor,min_delta,patience As in [callback_early_stopping()].
#' @param factor Multiplicative factor in `(0, 1)`.
#' @return A callback for `fit(callbacks = )`; one schedule per fit.
#' @family callbacks
#' @name lr_schedules
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(200), ncol = 2)
#' model <- Sequential$new(Linear$new(2, 1))
#' history <- fit(model, x, x[, 1], optimizer = SGD$new(lr = 0.1), epochs = 6,
#'                callbacks = list(callback_lr_step_decay(step_size = 2, gamma = 0.5)))
#' as.data.frame(history)$lr
NULL

#' @rdname lr_schedules
#' @export
callback_lr_step_decay <- function(step_size, gamma = 0.1) {
  new_callback("schedule", type = "step",
               step_size = check_number(step_size, min = 1, whole = TRUE),
               gamma = check_number(gamma, min = 0, min_inclusive = FALSE))
}

#' @rdname lr_schedules
#' @export
callback_lr_exponential_decay <- function(gamma) {
  new_callback("schedule", type = "exponential",
               gamma = check_number(gamma, min = 0, min_inclusive = FALSE))
}

#' @rdname lr_schedules
#' @export
callback_lr_cosine <- function(t_max, lr_min = 0) {
  new_callback("schedule", type = "cosine",
               t_max = check_number(t_max, min = 1, whole = TRUE),
               lr_min = check_number(lr_min, min = 0))
}

#' @rdname lr_schedules
#' @export
callback_reduce_lr_on_plateau <- function(monitor = "val_loss", factor = 0.1, patience = 10,
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
  epoch_end_callback(function(epoch, logs, model) fun(epoch, logs))
}

#' A callback that runs `on_epoch_end(epoch, logs, model)` in fit()'s pauses.
#' @noRd
epoch_end_callback <- function(on_epoch_end, ..., class = NULL) {
  new_callback("epoch_end", on_epoch_end = on_epoch_end, ..., class = class)
}

#' Save the model during training
#'
#' Saves the model with [save_model()] at the end of each epoch, or, with
#' `save_best_only = TRUE`, whenever `monitor` improved on its best so far
#' (losses, `"mae"` and `"rmse"` improve by going down, the other metrics
#' by going up, as in [callback_early_stopping()]). The file holds the
#' model as it is then: its weights, its history so far and its optimizer's
#' state, so that [load_model()] gives a model that trains on exactly where
#' that epoch left off. Each file is written whole or not at all, as
#' [save_model()] writes.
#'
#' @param path The file to write. `"{epoch}"` in it is replaced by the
#'   epoch's number (`"model-{epoch}.rnn"` keeps one file per epoch);
#'   otherwise each save replaces the last.
#' @param monitor Name of the figure that decides the best epoch, as in
#'   [callback_early_stopping()].
#' @param save_best_only Save only when `monitor` improves? Otherwise after
#'   every epoch.
#' @param mode Whether `monitor` improves by going down (`"min"`) or up
#'   (`"max"`); `"auto"` knows the losses and the engine's metrics (give it
#'   for a metric written in R).
#' @return A callback for `fit(callbacks = )`.
#' @family callbacks
#' @export
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(200), ncol = 2)
#' y <- x[, 1] - x[, 2] + rnorm(100, sd = 0.1)
#' model <- Sequential$new(Linear$new(2, 8), ReLU$new(), Linear$new(8, 1))
#' best <- tempfile(fileext = ".rnn")
#' history <- fit(model, x, y, epochs = 30, validation_split = 0.2,
#'                callbacks = list(callback_model_checkpoint(best, save_best_only = TRUE)))
#' kept <- load_model(best)
#' which.min(history$metrics$val_loss) == length(kept$history$metrics$loss)
callback_model_checkpoint <- function(path, monitor = "val_loss", save_best_only = FALSE,
                                      mode = c("auto", "min", "max")) {
  if (!(is.character(path) && length(path) == 1L && !is.na(path) && nzchar(path))) {
    abort_arg("{.arg path} must be a file name, not {.obj_type_friendly {path}}.", "path")
  }
  check_monitor(monitor)
  check_flag(save_best_only)
  mode <- check_choice(mode[1], c("auto", "min", "max"), "mode")
  higher <- if (mode == "auto") monitor_higher_is_better(monitor) else mode == "max"
  best <- NULL
  epoch_end_callback(function(epoch, logs, model) {
    value <- logs[[monitor]]
    if (save_best_only) {
      improved <- is.null(best) || (if (higher) value > best else value < best)
      if (!improved) return(invisible(FALSE))
      best <<- value
    }
    save_model(model, gsub("{epoch}", epoch, path, fixed = TRUE))
    invisible(FALSE)
  }, path = path, monitor = monitor, save_best_only = save_best_only,
  class = "rustnn_model_checkpoint")
}

#' Write each epoch's figures to a CSV file
#'
#' After every epoch, appends a row to a CSV file: the epoch and its
#' figures (`loss`, metrics, `val_*`, `lr`), the columns and values of
#' `as.data.frame(history)`, so the file can be followed while training
#' runs (and keeps the epochs done if it is interrupted).
#'
#' @param path The CSV file.
#' @param append Add to an existing file (without repeating its header)?
#'   Otherwise the file is replaced at the first epoch.
#' @return A callback for `fit(callbacks = )`.
#' @family callbacks
#' @export
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(200), ncol = 2)
#' model <- Sequential$new(Linear$new(2, 1))
#' log <- tempfile(fileext = ".csv")
#' history <- fit(model, x, x[, 1], epochs = 5, callbacks = list(callback_csv_logger(log)))
#' read.csv(log)
callback_csv_logger <- function(path, append = FALSE) {
  if (!(is.character(path) && length(path) == 1L && !is.na(path) && nzchar(path))) {
    abort_arg("{.arg path} must be a file name, not {.obj_type_friendly {path}}.", "path")
  }
  check_flag(append)
  epoch_end_callback(function(epoch, logs, model) {
    row <- data.frame(epoch = epoch, as.list(logs), check.names = FALSE)
    # Each fit() starts at epoch 1: the file is replaced then (or, with
    # `append`, continued, with a header only if it is new).
    first <- epoch == 1L
    header <- first && !(append && file.exists(path))
    utils::write.table(row, path, sep = ",", row.names = FALSE, col.names = header,
                       append = !first || append, qmethod = "double")
    invisible(FALSE)
  }, path = path, class = "rustnn_csv_logger")
}

#' Whether `monitor` (a figure such as "val_loss" or "accuracy") improves
#' by going up: the metrics the engine says so of (the losses go down).
#' @noRd
monitor_higher_is_better <- function(monitor) {
  sub("^val_", "", monitor) %in% catalog("metrics_higher_is_better")
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
                i = "Make them with the {.code callback_*()} functions, such as {.fn callback_early_stopping}."),
              "callbacks", call = call)
  }
  of_kind <- function(kind) Filter(function(cb) inherits(cb, paste0("rustnn_", kind)), callbacks)
  early <- of_kind("early_stopping")
  schedules <- of_kind("schedule")
  if (length(early) > 1L || length(schedules) > 1L) {
    abort_arg("{.arg callbacks} may hold at most one {.fn callback_early_stopping} and one learning-rate schedule.",
              "callbacks", call = call)
  }
  list(early_stopping = if (length(early)) unclass(early[[1]]),
       schedule = if (length(schedules)) unclass(schedules[[1]]),
       epoch_end = lapply(of_kind("epoch_end"), `[[`, "on_epoch_end"),
       # R callbacks that watch a figure, checked with the others by fit().
       monitoring = Filter(function(cb) isTRUE(cb$save_best_only), of_kind("epoch_end")))
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
