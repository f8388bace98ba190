# Ensembles: several models of one specification, trained on the same
# machinery as the resampling (one task and one random-number stream per
# member, on any future backend), and predict() averaging their outputs.

#' Train an ensemble of models
#'
#' @description
#' `fit_ensemble()` trains `members` models built by `model` on all the
#' rows, each with its own random-number stream (so they differ in their
#' initial weights, shuffling and dropout), on the `future` plan in use,
#' as [cross_validate()] does; the results are the same under every plan.
#' [as_ensemble()] makes one of the models a cross-validation kept.
#'
#' [predict()][predict.rustnn_ensemble] averages the members' outputs.
#'
#' @inheritParams cross_validate
#' @param model A function returning an untrained [Sequential] (or a list
#'   of one as `model` and arguments of [fit()][fit.Sequential]), called
#'   with `params`; see [cross_validate()].
#' @param members Number of models.
#' @param params A named list of arguments for `model`, such as a row of
#'   the grid chosen by [best_params()].
#' @return A `rustnn_ensemble` object: a list with `models`, the trained
#'   [Sequential] models, `params` and `seed` (the seed of the streams).
#' @seealso [predict.rustnn_ensemble()].
#' @export
#' @examplesIf requireNamespace("future.apply", quietly = TRUE)
#' future::plan("sequential")
#' build <- function(hidden = 8) {
#'   Sequential$new(Linear$new(4, hidden), ReLU$new(), Linear$new(hidden, 3), Softmax$new())
#' }
#' set.seed(1)
#' ens <- fit_ensemble(build, scale(iris[, 1:4]), iris$Species, members = 3, epochs = 10,
#'                     optimizer = "adam")
#' ens
#' head(predict(ens, scale(iris[, 1:4]), type = "prob"))
#' table(predict(ens, scale(iris[, 1:4]), type = "class"), iris$Species)
fit_ensemble <- function(model, x, y = NULL, data = NULL, members = 5L, params = list(), ...,
                         threads = NULL) {
  call <- rlang::current_env()
  check_resample_packages(call)
  members <- check_count(members, call = call)
  if (!is.list(params) || (length(params) && is.null(names(params)))) {
    abort_arg("{.arg params} must be a named list of arguments for {.arg model}.", "params", call = call)
  }
  params <- as.list(params)
  grid <- if (length(params)) tibble::as_tibble(lapply(params, function(p) if (length(p) == 1L && is.atomic(p)) p else list(p)))
  check_builder(model, grid, call)
  fit_args <- list(...)
  check_fit_args(fit_args, call)
  data <- resample_data(x, y, data, call)
  threads <- if (is.null(threads)) resample_threads() else check_threads(threads, call = call)
  all_rows <- seq_len(data_rows(data))
  payload <- list(builder = portable_function(model), grid = check_grid(grid, call), data = data,
                  analysis = list(all_rows), assessment = list(all_rows),
                  fit_args = portable_values(fit_args), metrics = NULL, threads = threads,
                  keep_models = TRUE)
  seed <- sample.int(.Machine$integer.max, 1L)
  tasks <- lapply(seq_len(members), function(i) list(setting = 1L, fold = 1L))
  out <- run_tasks(tasks, payload, seed)
  new_ensemble(lapply(out, function(o) o$model), params, seed)
}

#' An ensemble of the models of a cross-validation
#'
#' The models that [cross_validate()] or [tune_cv()] kept (`keep_models =
#' TRUE`) for one setting, one per fold, each trained on that fold's
#' analysis rows, as an ensemble: [predict()][predict.rustnn_ensemble]
#' averages them.
#'
#' @param x A `rustnn_resamples` object made with `keep_models = TRUE`.
#' @param config The setting whose models to take (its `.config`, such as
#'   `"setting_2"`). Default: the best by the loss, see [best_params()].
#' @return A `rustnn_ensemble` object, as [fit_ensemble()] returns.
#' @export
#' @examplesIf requireNamespace("future.apply", quietly = TRUE)
#' build <- function(hidden) {
#'   Sequential$new(Linear$new(4, hidden), ReLU$new(), Linear$new(hidden, 3), Softmax$new())
#' }
#' set.seed(1)
#' tuned <- tune_cv(build, data.frame(hidden = c(4, 8)), scale(iris[, 1:4]), iris$Species,
#'                  folds = 3, epochs = 10, optimizer = "adam", keep_models = TRUE)
#' ens <- as_ensemble(tuned)
#' ens
#' head(predict(ens, scale(iris[, 1:4]), type = "prob"))
as_ensemble <- function(x, config = NULL) {
  if (!inherits(x, "rustnn_resamples") || is.null(x$models)) {
    abort_arg("{.arg x} must be the result of {.fn cross_validate} or {.fn tune_cv} with {.code keep_models = TRUE}.",
              "x")
  }
  config <- config %||% best_params(x)$.config
  check_choice(config, unique(x$folds$.config), "config")
  which <- x$folds$.config == config
  params <- grid_row(x$grid, match(config, sprintf("setting_%d", seq_len(nrow(x$grid)))))
  new_ensemble(x$models[which], params, x$seed)
}

new_ensemble <- function(models, params, seed) {
  structure(list(models = models, params = params, seed = seed), class = "rustnn_ensemble")
}

#' Predict with an ensemble
#'
#' The mean of the members' predictions: of their outputs for `"response"`,
#' of their class probabilities for `"prob"`; `"class"` is the class with
#' the largest mean probability (for one output, a mean above 0.5).
#'
#' @param object A [fit_ensemble()] or [as_ensemble()] object.
#' @inheritParams predict.Sequential
#' @return As [predict()][predict.Sequential] for one model.
#' @export
#' @examplesIf requireNamespace("future.apply", quietly = TRUE)
#' build <- function() {
#'   Sequential$new(Linear$new(4, 8), ReLU$new(), Linear$new(8, 3), Softmax$new())
#' }
#' set.seed(1)
#' ens <- fit_ensemble(build, scale(iris[, 1:4]), iris$Species, members = 2, epochs = 10,
#'                     optimizer = "adam")
#' mean(predict(ens, scale(iris[, 1:4]), type = "class") == iris$Species)
predict.rustnn_ensemble <- function(object, newdata, type = c("response", "class", "prob"),
                                    threads = default_threads(), ...) {
  check_dots_empty()
  type <- check_choice(type[1], c("response", "class", "prob"), "type")
  models <- object$models
  each <- lapply(models, function(m) {
    stats::predict(m, newdata, type = if (type == "response") "response" else "prob",
                   threads = threads)
  })
  mean_out <- Reduce(`+`, each) / length(each)
  if (type != "class") return(mean_out)
  target <- models[[1]]$.get_state()$target
  # Back from probabilities to the outputs classes_of() reads.
  if (ncol(mean_out) == 2L && output_units(models[[1]]) == 1L) mean_out <- mean_out[, 2, drop = FALSE]
  classes_of(unname(mean_out), target)
}

#' @export
format.rustnn_ensemble <- function(x, ...) {
  params <- if (length(x$params)) {
    paste(names(x$params), vapply(x$params, function(p) paste(format(p), collapse = ", "), character(1)),
          sep = " = ", collapse = "; ")
  } else "none"
  c(sprintf("<rustnn_ensemble> %d model%s; parameters: %s", length(x$models),
            if (length(x$models) == 1L) "" else "s", params),
    utils::capture.output(print(x$models[[1]])))
}

#' @export
print.rustnn_ensemble <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}
