# broom's verbs for models: tidy() (one row per parameter tensor), glance()
# (one row per model), augment() (data with predictions) and coef() (the
# parameters themselves), for Sequential networks and rustnn_mlp() models.

#' Tidy summaries of a model's parameters, fit and predictions
#'
#' The `generics` package's verbs (re-exported by rustnn, and by broom):
#' `tidy()` describes every parameter tensor, `glance()` the model in one
#' row, `augment()` adds predictions to data, and `coef()` returns the
#' parameters themselves.
#'
#' @param x,object A [Sequential] model or a [rustnn_mlp()] model.
#' @param new_data A data frame to predict for (for a [Sequential] model, any
#'   input [predict()][predict.Sequential] takes, turned into a data frame).
#' @param threads Number of threads; see [default_threads()].
#' @param ... Unused; must be empty.
#' @return
#' * `tidy()`: a tibble with one row per parameter tensor of each layer that
#'   has any, in order: `layer` (the layer's name: its type and position,
#'   `"linear_1"`, ...), `type` (its class, `"Linear"`), `name` (the
#'   parameter: `"weight"`, `"bias"`, or batch normalization's `"gamma"`,
#'   `"beta"`, `"running_mean"`, `"running_var"`), `shape` (dimensions, as
#'   `"4 x 8"`), `size` (number of values), `trainable` (whether training
#'   changes it by gradient: not batch normalization's running statistics),
#'   and the values' `mean`, `sd` ([sd()]: `NA` for a single value), `min`,
#'   `max` and `mean_abs` (mean of the absolute values).
#' * `glance()`: a tibble of one row: `epochs` (completed in the last
#'   `fit()`, 0 if never trained), `loss` (that of the last epoch, `NA` if
#'   never trained), the last value of every metric of the history
#'   (`accuracy`, `val_loss`, ...: the learning rate excepted), `nobs` (rows
#'   trained on, `NA` if never trained), `params` and `trainable_params`
#'   (counts of values).
#' * `augment()`: `new_data` as a tibble with the prediction columns added:
#'   `.pred` for a regression (`.pred_1`, `.pred_2`, ... for several
#'   outputs), `.pred_class` and `.pred_<level>` for a classifier.
#' * `coef()`: a list with one element per layer that has parameters, named
#'   by the layer, each the layer's named list of parameters (as
#'   `model$layers[[i]]$params`).
#' @name tidy.Sequential
#' @examples
#' set.seed(1)
#' fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 4, epochs = 20)
#' tidy(fitted)
#' glance(fitted)
#' head(augment(fitted, iris))
#' coef(fitted)$linear_1$bias
NULL

#' @rdname tidy.Sequential
#' @export
tidy.Sequential <- function(x, ...) {
  check_dots_empty()
  state <- x$.get_state()
  names <- layer_names(state$specs)
  types <- vapply(x$layers, function(l) class(l)[1], character(1))
  rows <- lapply(seq_along(state$params), function(i) {
    params <- state$params[[i]]
    lapply(names(params), function(p) param_row(names[i], types[i], p, params[[p]]))
  })
  rows <- unlist(rows, recursive = FALSE)
  if (!length(rows)) return(tibble::as_tibble(param_row(character(), character(), character(), NULL)))
  tibble::as_tibble(do.call(rbind, rows))
}

#' One row of tidy(): a parameter tensor described.
#' @noRd
param_row <- function(layer, type, name, values) {
  v <- as.vector(values)
  one <- length(layer) == 1L
  stat <- function(f) if (one) f(v) else numeric()
  data.frame(layer = layer, type = type, name = name,
             shape = if (one) paste(dim(values) %||% length(v), collapse = " x ") else character(),
             size = if (one) length(v) else integer(),
             trainable = if (one) !name %in% catalog("buffers") else logical(),
             mean = stat(mean), sd = stat(stats::sd), min = stat(min), max = stat(max),
             mean_abs = stat(function(v) mean(abs(v))), stringsAsFactors = FALSE)
}

#' @rdname tidy.Sequential
#' @export
glance.Sequential <- function(x, ...) {
  check_dots_empty()
  tab <- layer_table(x, x$.get_state())
  metrics <- x$history$metrics
  last <- lapply(metrics[setdiff(names(metrics), c("loss", "lr"))], function(m) utils::tail(m, 1L))
  tibble::as_tibble(c(list(epochs = length(metrics$loss),
                           loss = if (length(metrics$loss)) utils::tail(metrics$loss, 1L) else NA_real_),
                      last,
                      list(nobs = x$history$params$rows %||% NA_integer_,
                           params = sum(tab$params), trainable_params = sum(tab$trainable))))
}

#' @rdname tidy.Sequential
#' @export
augment.Sequential <- function(x, new_data, threads = default_threads(), ...) {
  check_dots_empty()
  classifier <- identical(x$.get_state()$target$type, "factor")
  preds <- if (classifier) {
    probs <- stats::predict(x, new_data, type = "prob", threads = threads)
    cbind(hardhat::spruce_class(stats::predict(x, new_data, type = "class", threads = threads)),
          hardhat::spruce_prob(colnames(probs), probs))
  } else {
    out <- stats::predict(x, new_data, threads = threads)
    out <- matrix(out, nrow(out))
    colnames(out) <- if (ncol(out) == 1L) ".pred" else paste0(".pred_", seq_len(ncol(out)))
    tibble::as_tibble(out)
  }
  tibble::as_tibble(cbind(as.data.frame(new_data), preds))
}

#' @rdname tidy.Sequential
#' @export
coef.Sequential <- function(object, ...) {
  check_dots_empty()
  state <- object$.get_state()
  params <- stats::setNames(state$params, layer_names(state$specs))
  params[lengths(params) > 0L]
}

#' @rdname tidy.Sequential
#' @export
tidy.rustnn_mlp <- function(x, ...) {
  check_dots_empty()
  tidy(x$model)
}

#' @rdname tidy.Sequential
#' @export
glance.rustnn_mlp <- function(x, ...) {
  check_dots_empty()
  glance(x$model)
}

#' @rdname tidy.Sequential
#' @export
augment.rustnn_mlp <- function(x, new_data, threads = default_threads(), ...) {
  check_dots_empty()
  preds <- if (is.null(x$outcome$levels)) {
    stats::predict(x, new_data, threads = threads)
  } else {
    cbind(stats::predict(x, new_data, type = "class", threads = threads),
          stats::predict(x, new_data, type = "prob", threads = threads))
  }
  tibble::as_tibble(cbind(as.data.frame(new_data), preds))
}

#' @rdname tidy.Sequential
#' @export
coef.rustnn_mlp <- function(object, ...) {
  check_dots_empty()
  stats::coef(object$model)
}
