# fit(): checks everything in R, prepares the data once, then runs the whole
# training loop in one call into the engine.

#' Train a model
#'
#' Runs the whole training loop in the Rust engine: for each epoch, shuffle
#' the rows (if `shuffle`), then for each mini-batch of `batch_size` rows:
#' forward pass, loss, backward pass, optimizer step; at the end of the
#' epoch, metrics, validation, callbacks. No R code runs per batch. Shuffling
#' and dropout use a seed drawn from R's RNG, so `set.seed()` makes the whole
#' run reproducible; the thread count never changes the result (on another
#' kind of CPU the last bits may differ: see [default_threads()]).
#'
#' **Data.** `x` is a numeric matrix or data frame with `y` beside it, an
#' array of images (`n x channels x height x width`, or `n x height x width`
#' for one channel; see [Conv2d]) with `y`, or a formula with `data`
#' (`fit(model, Species ~ ., data = iris)`): factors
#' among the predictors become indicator columns (as in [lm()]), and the
#' model remembers how, so [predict()][predict.Sequential] takes a data
#' frame with the same columns.
#'
#' **Stopping.** If the loss becomes NaN or infinite, training stops with a
#' warning naming the epoch and the model keeps the weights it had at the
#' end of the previous epoch. If training ends with a loss more than 10
#' times that of the first epoch, it warns that training diverged (class
#' `rustnn_warning_diverged`): the learning rate is likely too high. Press Ctrl-C (Esc in RStudio) to stop at once:
#' training ends after the current batch, the model keeps the weights of
#' that batch, and the interrupt is passed on.
#'
#' @param object A [Sequential] model; it is trained in place.
#' @param x Numeric matrix or data frame of numeric columns, one sample per
#'   row; an array of images, samples first; a data set held by the engine
#'   ([rustnn_dataset()], converted once, or read from files; its targets
#'   are used when `y` is not given); or a formula such as `y ~ .`
#'   (then give `data`).
#' @param y Targets: a numeric vector or matrix (one column per output), or
#'   classes: a factor, character or logical vector (one output per class,
#'   or one output for two; at least two classes, which may be declared as
#'   levels of the factor). With `loss = "sparse_cross_entropy"`, integer labels from
#'   0 are also accepted. Not used with a formula.
#' @param data A data frame, with a formula.
#' @param loss A loss name (see [losses]), a [Loss] object, or a loss
#'   written in R: any object with methods `loss(pred, y)` (one number) and
#'   `grad(pred, y)` (a matrix shaped like `pred`), where `pred` is the
#'   network's output for a batch and `y` the targets as the built-in losses
#'   see them (one-hot rows for a factor). The engine asks R for it at every
#'   batch; the epoch's loss is the mean of the batches' weighted by their
#'   rows; it takes no `sample_weight` or `class_weight`, and the model does
#'   not keep it (give it again to the next `fit()`). Default: the
#'   loss of the last `fit()`, with its settings (a huber loss's `delta`),
#'   or else one chosen from the targets and the model's last layer
#'   together: for classes (a factor, character or logical `y`), `"bce"`
#'   with one output and `"cross_entropy"` with several; for numbers,
#'   `"cross_entropy"` when a [Softmax] output meets one-hot rows,
#'   `"sparse_cross_entropy"` when it meets one column of labels 0, 1, ...,
#'   `"bce"` when a [Sigmoid] output meets values in `[0, 1]`, and `"mse"`
#'   otherwise. The cross-entropy losses need a model that ends with
#'   [Softmax], and `"bce"` one that ends with [Sigmoid] (or [Softmax]): any
#'   other pairing is an error (class `rustnn_error_loss_output`) that says
#'   what to change.
#' @param optimizer An optimizer object such as `SGD$new(lr = 0.1)`, or a
#'   name (`"sgd"`, `"adam"`, ...) for one with default settings. Default:
#'   the last one used with this model (with its state), or `SGD$new()`.
#' @param epochs Number of passes over the data.
#' @param batch_size Rows per mini-batch (`nrow(x)` for full-batch gradient
#'   descent; larger values are reduced to `nrow(x)`). [LBFGS] trains on all
#'   the training rows at once: leave `batch_size` out (it is then the
#'   number of training rows) or give at least that many; fewer is an error
#'   (class `rustnn_error_full_batch`).
#' @param validation_data `list(x, y)` to evaluate after each epoch (same
#'   form as `x` and `y`, or a data frame with a formula), or a data set
#'   with its targets.
#' @param validation_split Fraction of the rows held out as validation
#'   data, drawn at random with R's random number generator (so
#'   [set.seed()] repeats it) and, for classes, within each class (so a
#'   data set sorted by class, such as `iris`, gives validation data of
#'   every class; about `validation_split` of each class's rows, rounded).
#'   Unlike Keras, which takes the last rows, the order of the rows does not
#'   matter.
#' @param metrics Metrics to report each epoch, on the training
#'   batches and the validation data. Names of the engine's metrics: for
#'   classes, `"accuracy"`,
#'   `"precision"`, `"recall"`, `"f1"` (binary with one output,
#'   macro-averaged with several), `"auc"` (one output); for any target,
#'   `"mae"`, `"rmse"`, `"r2"`. Classification metrics on numeric targets
#'   that are not classes (0/1, one-hot rows or labels) are an error.
#'   Metrics written in R go in a list beside them, named:
#'   `metrics = list("accuracy", my_metric = function(y_true, y_pred) ...)`,
#'   where `y_true` is the target matrix the loss sees (one-hot rows for a
#'   factor) and `y_pred` the network's output matrix. They are computed at
#'   the end of each epoch on the predictions for all the training rows (and
#'   the validation rows, as `val_<name>`), in R, and go into the history
#'   beside the others.
#' @param callbacks A list of callbacks: [callback_early_stopping()], one of the
#'   [lr_schedules], [callback_epoch_end()].
#' @param class_weight Weights of the classes in the loss, for a factor `y`
#'   (or 0/1 targets): a numeric vector named by level (or in level order).
#' @param sample_weight Weights of the rows in the loss: a numeric vector of
#'   `nrow(x)` non-negative values. Multiplied by `class_weight` if both are
#'   given.
#' @param shuffle Shuffle the rows before each epoch?
#' @param verbose `0`: silent; `1`: a progress bar in a console that can
#'   redraw a line, otherwise about ten evenly spaced lines; `2`: one line
#'   per epoch. `TRUE`/`FALSE` mean 1/0. Default: `1` in an interactive
#'   session, else `0` (option `rustnn.verbose`).
#' @param threads Number of threads; see [default_threads()].
#' @param na.action What to do with rows that have `NA`, for a formula (in
#'   its variables) and for a data frame `x` (in its columns or `y`), as
#'   [lm()] does: [na.omit()] (the default) drops them, [na.fail()] refuses
#'   them. The history's `params$rows` counts the rows trained on. Matrices
#'   and image arrays with `NA` are refused.
#' @param track `NULL` (the default) records nothing more; `"weights"`
#'   records, at the end of every epoch, each trained parameter's values
#'   and gradient, for plots such as `plot(history, what = "gradients")`:
#'   see **Tracking weights** and the value `$tracked`.
#' @param ... Unused; must be empty.
#' @return A `rustnn_history` object (invisibly): the per-epoch figures in
#'   `$metrics` (`loss`, metrics, `val_*`, `lr`), with `print()`, `plot()`
#'   and `as.data.frame()` methods. The model keeps it as `model$history`
#'   (and [save_model()] stores it).
#'
#'   With `track = "weights"`, `$tracked` is a list of two data frames
#'   (without it, there is no `$tracked`):
#'
#'   * `summary`: one row per epoch, layer, parameter and kind, with columns
#'     `epoch` (integer, from 1), `layer` (the layer's name: its type and
#'     position, `"linear_1"`, `"relu_2"`, ...), `param` (`"weight"`,
#'     `"bias"`, or batch normalization's `"gamma"`, `"beta"`), `kind`
#'     (`"weight"`: the parameter's values; `"gradient"`: its gradient),
#'     `mean`, `sd` (as [sd()] computes it: `NA` for a parameter of one
#'     value), `mean_abs` (the mean of the absolute values), `min` and
#'     `max`.
#'   * `histogram`: one row per bin of each of those, with columns `epoch`,
#'     `layer`, `param`, `kind`, `lower` and `upper` (the bin's edges) and
#'     `count` (integer). The 20 bins of equal width span the tensor's
#'     range that epoch, `min` to `max`, their edges those of `seq(min, max,
#'     length.out = 21)`; each bin holds the values above its lower edge up
#'     to its upper edge, the first one its lower edge too, as
#'     [hist()] counts (`right = TRUE`). When all the values are equal (a
#'     bias that starts at zero), one bin with `lower == upper` holds them
#'     all.
#'
#' @section Tracking weights:
#' With `track = "weights"`, the engine records, at the end of every epoch
#' that runs to its end, for every layer with trained parameters (linear and
#' convolution layers' `weight` and `bias`, batch normalization's `gamma`
#' and `beta`, not its running statistics):
#'
#' * the parameter's **values** at the end of the epoch, after its last
#'   optimizer step (the weights the epoch hands to the next);
#' * its **gradient from the last mini-batch of the epoch**: the gradient of
#'   that batch's loss (including the layer's `l1`/`l2` penalty, not the
#'   optimizer's weight decay) the optimizer's last step used, before
#'   momentum or Adam's scaling. The last batch is the one that ends the
#'   (shuffled) epoch, and can be smaller than `batch_size`; with
#'   `batch_size = nrow(x)`, it is the full-batch gradient of the epoch.
#'
#' Each gets the summary and histogram described under Value. The records
#' are taken by the engine, with no R code per epoch, in a few passes over
#' the parameters and gradients (a few nanoseconds per parameter per epoch):
#' nothing beside an epoch of many mini-batches, but noticeable when an epoch
#' is a single small batch through a large network. Epochs
#' whose weights became NaN or infinite, and an epoch cut short by Ctrl-C,
#' have no records (nor a row in `$metrics`); the epochs before them keep
#' theirs. With `callback_early_stopping(restore_best_weights = TRUE)`, the records
#' stay those of each epoch's end: the model's final weights are then the
#' restored epoch's.
#' @export
#' @examples
#' set.seed(42)
#' x <- matrix(c(0, 0, 1, 1, 0, 1, 0, 1), ncol = 2)
#' y <- factor(c("no", "yes", "yes", "no"))
#' model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
#' history <- fit(model, x, y, loss = "bce", optimizer = SGD$new(lr = 1),
#'                epochs = 500, batch_size = 4, metrics = "accuracy")
#' history
#' predict(model, x, type = "class")
#'
#' # Formula interface, validation data and early stopping
#' set.seed(1)
#' model <- Sequential$new(Linear$new(4, 16), ReLU$new(), Linear$new(16, 3), Softmax$new())
#' history <- fit(model, Species ~ ., data = iris, optimizer = Adam$new(lr = 0.01),
#'                epochs = 50, batch_size = 16, metrics = "accuracy",
#'                validation_split = 0.2,
#'                callbacks = list(callback_early_stopping(patience = 10)))
#' tail(as.data.frame(history), 3)
#'
#' # Watching the weights and gradients of each layer
#' model <- Sequential$new(Linear$new(4, 8), Sigmoid$new(), Linear$new(8, 8), Sigmoid$new(),
#'                         Linear$new(8, 3), Softmax$new())
#' history <- fit(model, scale(iris[, 1:4]), iris$Species, epochs = 20, batch_size = 150,
#'                optimizer = SGD$new(lr = 0.5), track = "weights")
#' head(history$tracked$summary)
#' plot(history, what = "gradients", style = "size", method = "base")
fit.Sequential <- function(object, x, y = NULL, data = NULL, loss = NULL, optimizer = NULL,
                           epochs = 10, batch_size = 32, validation_data = NULL,
                           validation_split = 0, metrics = NULL, callbacks = list(),
                           class_weight = NULL, sample_weight = NULL, shuffle = TRUE,
                           verbose = default_verbose(), threads = default_threads(),
                           track = NULL, na.action = stats::na.omit, ...) {
  check_dots_empty()
  # Before it is checked (assigned): a full-batch optimizer then takes all the rows.
  default_batch_size <- missing(batch_size)
  model <- object
  check_current_model(model, "object")
  model$.check_idle("fit()")
  state <- model$.get_state()
  prepared <- if (inherits(x, "rustnn_dataset")) {
    prepare_dataset(state$preprocess, x, y, data)
  } else {
    complete <- omit_na_rows(x, y, data, na.action, rlang::current_env())
    # Row weights given for every row lose the rows dropped with them.
    if (length(complete$dropped) && length(sample_weight) == NROW(if (is.null(data)) x else data)) {
      sample_weight <- sample_weight[-complete$dropped]
    }
    prepare_xy(state$preprocess, complete$x, complete$y, complete$data)
  }
  x <- prepared$x
  model$.resolve_input(x, "x")
  outputs <- model_output_dim(model, x)
  loss <- as_loss(loss %||% loss_from_description(state$loss) %||%
                    default_loss(prepared$y, outputs, output_kind(state$specs)))
  # A loss written in R, and its name (asked once: the test reads methods).
  custom_loss <- is_custom_loss(loss)
  loss_label <- if (custom_loss) class(loss)[1] else loss$name
  # Refitting a classifier keeps its classes in the same output columns.
  known_levels <- if (identical(state$target$type, "factor")) state$target$levels
  target <- encode_target(prepared$y, nrow(x), outputs, "y", loss = loss_label,
                          levels = known_levels)
  check_loss_output(loss, state$specs, outputs, target$info, rlang::current_env())
  # The optimizer: the one given (its state is updated, so that the same
  # object goes on where it stopped), one by name, or the model's last, with
  # the state the model keeps beside it (see .after_fit()).
  given <- inherits(optimizer, "Optimizer")
  resumed <- is.null(optimizer)
  optimizer <- if (resumed) state$optimizer %||% SGD$new() else as_optimizer(optimizer)
  optimizer_state <- if (resumed) state$optimizer_state else optimizer$state
  epochs <- check_count(epochs)
  batch_size <- check_count(batch_size)
  custom_metrics <- split_custom_metrics(metrics)
  metrics <- check_class_metrics(check_metrics(custom_metrics$names, outputs), target,
                                 rlang::current_env())
  cbs <- sort_callbacks(callbacks)
  weights <- row_weights(sample_weight, class_weight, prepared$y, target, nrow(x))
  check_flag(shuffle)
  verbose <- check_verbose(verbose)
  threads <- check_threads(threads)
  track <- check_track(track)

  split <- split_validation(x, target$matrix, weights, validation_split, validation_data,
                            model, prepared, target$info, loss_label, outputs)
  check_monitors(cbs, metrics, names(custom_metrics$functions), validation = !is.null(split$val_x))
  # Metrics written in R are computed in R at each epoch's end, on the
  # predictions for the training (and validation) data, before callbacks.
  own <- if (length(custom_metrics$functions)) {
    custom_metric_recorder(custom_metrics$functions, engine_of = function() model$.engine(),
                           split, threads)
  }
  if (!is.null(own)) cbs$epoch_end <- c(list(own$on_epoch_end), cbs$epoch_end)
  batch_size <- fit_batch_size(optimizer, batch_size, default_batch_size, nrow(split$x))
  control <- list(epochs = epochs, batch_size = batch_size, shuffle = shuffle,
                  seed = sample.int(.Machine$integer.max, 2L), metrics = metrics,
                  early_stopping = cbs$early_stopping, schedule = cbs$schedule, track = track)
  engine <- model$.engine()
  if (custom_loss && !is.null(split$weights)) {
    abort_arg("A loss written in R takes no {.arg sample_weight} or {.arg class_weight}: weight the rows in its own {.fn loss} and {.fn grad}.",
              "loss")
  }
  session <- rust_call(rn_fit_start(engine, engine_input(split$x), split$y, split$weights,
                                    engine_input(split$val_x),
                                    split$val_y, loss_description(loss),
                                    with_optimizer_state(optimizer$.description(), optimizer_state),
                                    control, threads))
  kept <- if (given) copy_optimizer(optimizer) else optimizer
  # What the model records of this fit: at its end and, before R callbacks
  # run, as it stands then (epochs so far, the optimizer's state now), so
  # that a checkpoint taken in a callback resumes exactly.
  record <- function(result) {
    if (!is.null(own)) result$history <- own$merge(result$history)
    history <- new_history(result, loss_label, batch_size, nrow(split$x), epochs, state$specs)
    # A loss written in R is not kept: the model's state is plain data.
    kept_loss <- if (custom_loss) state$loss else loss$.description()
    model$.after_fit(target$info, kept_loss, kept, history, prepared$preprocess,
                     result$optimizer_state)
    history
  }
  checkpoint <- function() {
    snapshot <- rust_call(rn_fit_snapshot(session))
    record(list(history = snapshot$history, status = "running", restored_epoch = 0L,
                optimizer_state = snapshot$optimizer_state))
  }
  # R code that runs per batch (layers or a loss written in R) can fail
  # after training started, even in the first run.
  r_code <- custom_loss || has_layer(state$specs, "custom")
  run <- run_session(model, engine, session, progress_reporter(verbose, epochs), cbs$epoch_end,
                     checkpoint, r_code)
  result <- rust_call(rn_fit_finish(engine, session, run$stop, run$interrupted))
  if (given) optimizer$state <- result$optimizer_state
  history <- record(result)
  report_end(result, history, run$failure, verbose)
  invisible(history)
}

#' Runs a training session to its end. The engine trains until it pauses:
#' at every epoch's end when there are R callbacks, and every 250 ms for
#' the progress display. R code runs only in those pauses, here, in fit()'s
#' own context: the callbacks' warnings and messages reach the handlers
#' around fit(), an interrupt (Ctrl-C) in them ends training as one between
#' batches does, and the model they see is the one being trained
#' (`checkpoint()` first records it as it stands: weights, history so far,
#' optimizer state; weights they assign are used from the next batch on). A
#' callback's error stops training and is reported after it, as a warning.
#' Returns `list(stop, interrupted, failure)`.
#' @noRd
run_session <- function(model, engine, session, reporter, callbacks, checkpoint, r_code = FALSE) {
  model$.set_fitting(session)
  on.exit({
    model$.set_fitting(NULL)
    # Whatever ended the session after it trained (an interrupt, an engine
    # error, R code of a layer or loss failing mid-epoch), the R state holds
    # the engine's weights: those of the last completed step. Without R
    # code, an engine error in the first run comes before any step (an
    # optimizer state that does not fit the network).
    if (!done && (ran || r_code)) model$.sync_params()
  }, add = TRUE)
  rows <- 0L
  ran <- FALSE
  done <- FALSE
  out <- list(stop = FALSE, interrupted = FALSE, failure = NULL)
  pause_each_epoch <- length(callbacks) > 0L
  pause_ms <- if (reporter$active) 250 else 0
  tryCatch(repeat {
    run <- rust_call(rn_fit_run(engine, session, pause_each_epoch, pause_ms, rows))
    ran <- TRUE
    if (nrow(run$rows)) {
      reporter$on_epochs(rows + seq_len(nrow(run$rows)), run$rows)
      rows <- rows + nrow(run$rows)
    }
    if (!run$epoch_end && !run$finished) {
      reporter$on_batch(run$epoch, run$batch, run$batches, run$loss)
    }
    if (run$epoch_end && pause_each_epoch) {
      checkpoint()
      logs <- run$rows[nrow(run$rows), ]
      for (f in callbacks) {
        # The recorder of metrics written in R returns figures, added to
        # the logs the next callbacks see.
        answer <- tryCatch(f(run$epoch, logs, model), error = function(e) {
          out$failure <<- list(epoch = run$epoch, message = conditionMessage(e))
          TRUE
        })
        if (inherits(answer, "rustnn_figures")) {
          logs <- c(logs, unclass(answer))
          answer <- FALSE
        }
        out$stop <- out$stop || isTRUE(answer)
      }
    }
    if (run$finished || out$stop) break
  }, interrupt = function(cnd) out$interrupted <<- TRUE)
  out$stop <- out$stop || out$interrupted
  reporter$finish()
  done <- TRUE
  out
}

#' Default of fit()'s `verbose`: option `rustnn.verbose`, else 1 when
#' interactive and 0 otherwise.
#' @noRd
default_verbose <- function() {
  getOption("rustnn.verbose", if (interactive()) 1L else 0L)
}

check_verbose <- function(verbose, call = rlang::caller_env()) {
  if (is.logical(verbose) && length(verbose) == 1L && !is.na(verbose)) {
    return(as.integer(verbose))
  }
  if (!(is.numeric(verbose) && length(verbose) == 1L && verbose %in% 0:2)) {
    abort_arg("{.arg verbose} must be 0, 1 or 2 (or TRUE/FALSE), not {.obj_type_friendly {verbose}}.",
              "verbose", call = call)
  }
  as.integer(verbose)
}

#' fit()'s `track`: NULL (off) or "weights".
#' @noRd
check_track <- function(track, call = rlang::caller_env()) {
  if (is.null(track) || identical(track, "weights")) return(track)
  abort_arg(c("{.arg track} must be {.code NULL} (off) or {.val weights}, not {shown_choice(track)}.",
              i = "{.code track = \"weights\"} records each layer's weights and gradients at every epoch's end."),
            "track", call = call)
}

#' fit()'s `metrics` as the engine's metric names and the metrics written in
#' R: functions `f(y_true, y_pred)`, named.
#' @noRd
split_custom_metrics <- function(metrics, call = rlang::caller_env()) {
  if (!is.list(metrics)) return(list(names = metrics, functions = list()))
  is_fun <- vapply(metrics, is.function, logical(1))
  nm <- names(metrics) %||% rep("", length(metrics))
  if (any(is_fun & (is.na(nm) | !nzchar(nm)))) {
    abort_arg(c("{.arg metrics} has a function without a name.",
                i = "Name each metric written in R: {.code metrics = list(my_metric = function(y_true, y_pred) ...)}."),
              "metrics", call = call)
  }
  clash <- intersect(nm[is_fun], c("loss", "lr", catalog("metrics")))
  if (length(clash)) {
    abort_arg("{.arg metrics}: a metric written in R cannot be named {.val {clash}}, a name rustnn uses.",
              "metrics", call = call)
  }
  rest <- metrics[!is_fun]
  if (!all(vapply(rest, function(m) is.character(m) && length(m) == 1L, logical(1)))) {
    abort_arg("{.arg metrics} must hold metric names and named functions {.code function(y_true, y_pred)}.",
              "metrics", call = call)
  }
  list(names = if (length(rest)) unlist(rest, use.names = FALSE), functions = metrics[is_fun])
}

#' Records metrics written in R during a fit(): `on_epoch_end` (a callback)
#' computes each on the predictions for the training data (and the
#' validation data, as `val_<name>`) and returns them; `merge(history)`
#' adds the columns recorded so far to the engine's history.
#' @noRd
custom_metric_recorder <- function(functions, engine_of, split, threads) {
  names <- names(functions)
  columns <- c(names, if (!is.null(split$val_x)) paste0("val_", names))
  recorded <- list()
  figure <- function(f, name, truth, x) {
    value <- f(truth, rust_call(rn_predict(engine_of(), engine_input(x), threads)))
    if (!(is.numeric(value) && length(value) == 1L)) {
      cli::cli_abort("Metric {.val {name}} must return one number, not {.obj_type_friendly {value}}.",
                     class = c("rustnn_error_argument", "rustnn_error"))
    }
    as.double(value)
  }
  on_epoch_end <- function(epoch, logs, model) {
    values <- c(
      vapply(names, function(n) figure(functions[[n]], n, split$y, split$x), numeric(1)),
      if (!is.null(split$val_x)) {
        vapply(names, function(n) figure(functions[[n]], n, split$val_y, split$val_x), numeric(1))
      })
    values <- stats::setNames(values, columns)
    recorded[[epoch]] <<- values
    structure(values, class = "rustnn_figures")
  }
  merge <- function(history) {
    n <- length(history$loss)
    if (!length(names) || n == 0L) return(history)
    # NA for an epoch whose figures are not computed yet (a checkpoint
    # taken before they are).
    at <- function(e, column) {
      if (e <= length(recorded) && !is.null(recorded[[e]])) recorded[[e]][[column]] else NA_real_
    }
    for (column in columns) {
      history[[column]] <- vapply(seq_len(n), at, numeric(1), column = column)
    }
    history
  }
  list(names = names, on_epoch_end = on_epoch_end, merge = merge)
}

check_metrics <- function(metrics, outputs, call = rlang::caller_env()) {
  if (is.null(metrics)) return(character())
  if (!is.character(metrics) || anyNA(metrics)) {
    abort_arg("{.arg metrics} must be a character vector of metric names, not {.obj_type_friendly {metrics}}.",
              "metrics", call = call)
  }
  unknown <- setdiff(metrics, catalog("metrics"))
  if (length(unknown)) {
    abort_arg(c("{.arg metrics} has unknown metric{?s} {.val {unknown}}.",
                i = "Known metrics: {.val {catalog('metrics')}}."), "metrics", call = call)
  }
  if ("auc" %in% metrics && outputs != 1L) {
    abort_arg("{.arg metrics}: {.val auc} needs a binary model with one output, but this one has {outputs}.",
              "metrics", call = call)
  }
  unique(metrics)
}

#' Each callback's `monitor` must be a figure this fit() reports.
#' @noRd
check_monitors <- function(cbs, metrics, r_metrics, validation, call = rlang::caller_env()) {
  # The engine's callbacks watch its figures; R callbacks also R metrics.
  all_metrics <- c(metrics, r_metrics)
  watched <- list(
    list(callbacks = list(cbs$early_stopping, cbs$schedule),
         reported = c("loss", metrics, if (validation) c("val_loss", sprintf("val_%s", metrics)))),
    list(callbacks = cbs$monitoring,
         reported = c("loss", all_metrics, if (validation) c("val_loss", sprintf("val_%s", all_metrics)))))
  for (w in watched) {
    for (cb in w$callbacks) {
      if (!is.null(cb$monitor) && !cb$monitor %in% w$reported) {
        hint <- did_you_mean(cb$monitor, w$reported)
        abort_arg(c("A callback in {.arg callbacks} monitors {.val {cb$monitor}}, which this fit() does not report.",
                    i = hint,
                    i = "It reports {.val {w$reported}}{if (!validation) '; validation figures need validation data' else ''}.",
                    i = "Metrics come from {.arg metrics}."),
                  "callbacks", call = call)
      }
    }
  }
}

#' The batch size of a fit(): at most the training rows; for a full-batch
#' optimizer (L-BFGS), all of them, and a smaller one given is an error.
#' @noRd
fit_batch_size <- function(optimizer, batch_size, default, rows, call = rlang::caller_env()) {
  if (!optimizer$.full_batch()) return(min(batch_size, rows))
  if (!default && batch_size < rows) {
    abort_arg(c("{.cls {class(optimizer)[1]}} trains on all the training rows at once: {.arg batch_size} must be at least {rows}, not {batch_size}.",
                i = "Leave {.arg batch_size} out to train on all of them."),
              "batch_size", class = c("rustnn_error_full_batch", "rustnn_error_argument"), call = call)
  }
  rows
}

#' The model's own copy of an optimizer given to fit(): its class and
#' hyper-parameters, made by the class's constructor (R6's clone() costs
#' twice as much). Its state is not copied: the model keeps that beside it
#' as plain data, and never changes the optimizer object it keeps, so that
#' clones of the model may share it.
#' @noRd
copy_optimizer <- function(opt) {
  generator <- optimizer_classes()[[class(opt)[1]]]
  if (is.null(generator)) {
    copy <- opt$clone()
    copy$state <- NULL
    return(copy)
  }
  do.call(generator$new, mget(optimizer_hyper_names(generator), envir = opt))
}

#' An optimizer's description for the engine, with `state` (steps and
#' buffers, or NULL for a fresh start) in place of the object's own.
#' @noRd
with_optimizer_state <- function(description, state) {
  description$steps <- state$steps %||% 0
  description["slots"] <- list(state$slots)
  description
}

#' Per-row loss weights from sample_weight and class_weight (NULL if none).
#' @noRd
row_weights <- function(sample_weight, class_weight, y, target, n, call = rlang::caller_env()) {
  w <- NULL
  if (!is.null(sample_weight)) {
    if (!(is.numeric(sample_weight) && length(sample_weight) == n && all(is.finite(sample_weight)) &&
          all(sample_weight >= 0))) {
      abort_arg("{.arg sample_weight} must be {n} finite non-negative number{?s}, one per row of {.arg x}.",
                "sample_weight", call = call)
    }
    w <- as.double(sample_weight)
  }
  if (!is.null(class_weight)) {
    classes <- if (identical(target$info$type, "factor")) target$info$levels else c("0", "1")
    labels <- if (is.factor(y)) as.integer(y) else if (all(y %in% c(0, 1))) as.integer(y) + 1L else NULL
    if (is.null(labels)) {
      abort_arg("{.arg class_weight} needs a factor {.arg y} or 0/1 targets.", "class_weight", call = call)
    }
    if (!(is.numeric(class_weight) && length(class_weight) == length(classes) &&
          all(is.finite(class_weight)) && all(class_weight >= 0))) {
      abort_arg("{.arg class_weight} must be {length(classes)} non-negative number{?s}, one per class ({.val {classes}}).",
                "class_weight", call = call)
    }
    if (!is.null(names(class_weight))) {
      missing <- setdiff(classes, names(class_weight))
      if (length(missing)) {
        abort_arg("{.arg class_weight} has no weight for class{?es} {.val {missing}}.",
                  "class_weight", call = call)
      }
      class_weight <- class_weight[classes]
    }
    by_row <- as.double(class_weight)[labels]
    w <- if (is.null(w)) by_row else w * by_row
  }
  w
}

#' Training and validation parts: explicit validation data, or
#' `validation_split` of the rows drawn at random (see validation_rows()).
#' @noRd
split_validation <- function(x, y, weights, validation_split, validation_data, model,
                             prepared, info, loss_name, outputs, call = rlang::caller_env()) {
  check_number(validation_split, min = 0, max = 1, max_inclusive = FALSE, call = call)
  none <- list(x = x, y = y, weights = weights, val_x = NULL, val_y = NULL)
  if (inherits(validation_data, "rustnn_dataset")) {
    validation_data <- list(validation_data, dataset_targets(validation_data, NULL, call))
  }
  if (!is.null(validation_data)) {
    if (validation_split > 0) {
      abort_arg("Give {.arg validation_data} or {.arg validation_split}, not both.",
                "validation_data", call = call)
    }
    if (!(is.list(validation_data) && !is.data.frame(validation_data) &&
          length(validation_data) %in% 1:2)) {
      abort_arg("{.arg validation_data} must be {.code list(x, y)} (or {.code list(data)} with a formula).",
                "validation_data", call = call)
    }
    pre <- prepared$preprocess
    v <- if (!is.null(pre$terms)) {
      design_matrix(pre, validation_data[[1]], "validation_data", call, response = TRUE)
    } else {
      list(x = apply_preprocess(pre, validation_data[[1]], "validation_data$x", call),
           y = validation_data[[2]])
    }
    vt <- encode_target(v$y, nrow(v$x), outputs, "validation_data$y", call, loss = loss_name,
                        levels = info$levels)
    if (!identical(sample_shape(v$x), sample_shape(x))) {
      what <- function(m) if (length(dim(m)) == 2L) paste(ncol(m), "columns") else
        paste("samples of shape", format_shape(sample_shape(m)))
      abort_arg("{.arg validation_data$x} has {what(v$x)}, but {.arg x} has {what(x)}.",
                "validation_data", call = call)
    }
    check_dtype_range(v$x, model$dtype, "validation_data", call)
    none$val_x <- v$x
    none$val_y <- vt$matrix
    return(none)
  }
  if (validation_split == 0) return(none)
  classes <- identical(info$type, "factor") || isTRUE(info$zero_based)
  val <- validation_rows(nrow(x), validation_split,
                         if (classes) if (ncol(y) == 1L) y[, 1] else max.col(y, "first"))
  n_val <- length(val)
  if (n_val < 1L || n_val >= nrow(x)) {
    abort_arg("{.arg validation_split} = {validation_split} leaves {n_val} validation row{?s} out of {nrow(x)}; each part needs at least one.",
              "validation_split", call = call)
  }
  train <- setdiff(seq_len(nrow(x)), val)
  list(x = take_rows(x, train), y = y[train, , drop = FALSE],
       weights = if (!is.null(weights)) weights[train],
       val_x = take_rows(x, val), val_y = y[val, , drop = FALSE])
}

#' The rows held out by `validation_split`: drawn with R's RNG, within each
#' class when `strata` gives the rows' classes (so that the validation data
#' have every class in proportion, even when the rows are sorted by class),
#' and kept in their order.
#' @noRd
validation_rows <- function(n, fraction, strata = NULL) {
  groups <- if (is.null(strata)) list(seq_len(n)) else split(seq_len(n), strata)
  held <- lapply(groups, function(rows) rows[sample.int(length(rows), round(length(rows) * fraction))])
  sort(unlist(held, use.names = FALSE))
}

#' Messages and warnings once training has ended.
#' @noRd
report_end <- function(result, history, failure, verbose, call = rlang::caller_env()) {
  if (!is.null(failure)) {
    cli::cli_warn(c("A {.fn callback_epoch_end} function failed in epoch {failure$epoch}, so training stopped.",
                    x = "{failure$message}"),
                  class = c("rustnn_warning_callback", "rustnn_warning"), call = call)
  }
  # A loss that became NaN or infinite has a warning of its own.
  if (result$status != "non_finite") check_divergence(history, call)
  switch(result$status,
    non_finite = {
      lr <- history$metrics$lr
      cli::cli_warn(c("Training stopped in epoch {result$stopped_epoch}: the loss became NaN or infinite.",
                      i = if (result$stopped_epoch > 1) "The model keeps its weights from the end of epoch {result$stopped_epoch - 1}." else "The model keeps the weights it had before this fit().",
                      i = "Try a lower learning rate{if (length(lr)) paste0(' (it was ', format(lr[length(lr)]), ')') else ''}, or standardize the inputs."),
                    class = c("rustnn_warning_non_finite", "rustnn_warning"), call = call)
    },
    early_stopped = if (verbose > 0) {
      restored <- if (result$restored_epoch > 0) paste0("; restored the weights of epoch ", result$restored_epoch) else ""
      cli::cli_inform("Early stopping after epoch {result$stopped_epoch}{restored}.")
    },
    interrupted = {
      cli::cli_inform(c("!" = "Training interrupted in epoch {result$stopped_epoch}, after batch {result$stopped_batch}.",
                        i = "The model keeps the weights of that batch."))
      rlang::interrupt()
    }
  )
  invisible()
}

#' Warns when training made the loss much worse: the last epoch's loss more
#' than `divergence_ratio` times the first's. (A loss that became NaN or
#' infinite stops training with its own warning.)
#' @noRd
check_divergence <- function(history, call) {
  loss <- history$metrics$loss
  n <- length(loss)
  if (n < 2L || !is.finite(loss[n]) || !(loss[n] > divergence_ratio * loss[1])) return(invisible())
  lr <- history$metrics$lr
  cli::cli_warn(c("Training diverged: the loss rose from {format(loss[1], digits = 3)} in epoch 1 to {format(loss[n], digits = 3)} in epoch {n}.",
                  i = "Try a lower learning rate{if (length(lr)) paste0(' than ', format(lr[n])) else ''}, or standardize the inputs."),
                class = c("rustnn_warning_diverged", "rustnn_warning"), call = call)
}

divergence_ratio <- 10

new_history <- function(result, loss_name, batch_size, rows, epochs, specs) {
  history <- structure(list(metrics = result$history,
                            params = list(epochs = epochs, batch_size = batch_size, rows = rows,
                                          loss = loss_name),
                            status = result$status,
                            restored_epoch = if (result$restored_epoch > 0) result$restored_epoch),
                       class = "rustnn_history")
  if (!is.null(result$tracked)) history$tracked <- tracked_frames(result$tracked, specs)
  history
}

#' The engine's tracking records (lists of columns, with layers, params
#' and kinds as codes; see `tracked_list()` in the glue) as the history's
#' `tracked`: two data frames, with the layers by name.
#' @noRd
tracked_frames <- function(tracked, specs) {
  names <- list(layer = layer_names(specs), param = tracked$params, kind = tracked$kinds)
  lapply(tracked[c("summary", "histogram")], function(columns) {
    for (key in names(names)) columns[[key]] <- names[[key]][columns[[key]]]
    as.data.frame(columns, stringsAsFactors = FALSE)
  })
}

#' @export
format.rustnn_history <- function(x, ...) {
  m <- x$metrics
  n <- length(m$loss)
  head <- sprintf("<rustnn_history> %d epoch%s (of %d), batch size %d on %d rows, loss %s",
                  n, if (n == 1) "" else "s", x$params$epochs, x$params$batch_size,
                  x$params$rows, x$params$loss)
  if (n == 0L) return(c(head, "  (no epoch completed)"))
  shown <- setdiff(names(m), "lr")
  figures <- vapply(shown, function(f) paste0(f, ": ", format(signif(m[[f]][n], 5))), character(1))
  c(head, paste0("  final: ", paste(figures, collapse = ", ")),
    tracked_line(x$tracked),
    switch(x$status,
           early_stopped = paste0("  stopped early", if (!is.null(x$restored_epoch))
             paste0("; weights of epoch ", x$restored_epoch, " restored")),
           non_finite = "  stopped: the loss became NaN or infinite",
           interrupted = "  interrupted",
           stopped = "  stopped by a callback",
           NULL))
}

#' What format() says of tracked weights, if any.
#' @noRd
tracked_line <- function(tracked) {
  if (is.null(tracked)) return(NULL)
  s <- tracked$summary
  tensors <- unique(paste(s$layer, s$param))
  sprintf("  weights and gradients tracked: %d tensor%s of %d layer%s (see $tracked, plot(what = \"gradients\"))",
          length(tensors), if (length(tensors) == 1L) "" else "s",
          length(unique(s$layer)), if (length(unique(s$layer)) == 1L) "" else "s")
}

#' @export
print.rustnn_history <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}

#' @export
as.data.frame.rustnn_history <- function(x, row.names = NULL, optional = FALSE, ...) {
  n <- length(x$metrics$loss)
  do.call(data.frame, c(list(epoch = seq_len(n)), x$metrics, list(row.names = row.names)))
}
