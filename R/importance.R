# Permutation importance: how much a model's score drops when one input
# variable's values are shuffled, breaking its link with the target.

#' Permutation importance of a model's input variables
#'
#' For each input variable, shuffles its values `n_repeats` times (with R's
#' random number generator: [set.seed()] repeats it) and records how much
#' the model's score on `x` and `y` gets worse: the drop in `metric` for a
#' metric that improves by going up (accuracy, ...), the rise for the loss
#' and for `"mae"` and `"rmse"`. A variable the model does not use scores
#' about 0. The variables are the columns of `x` (a matrix or data frame),
#' or the variables of the formula's right-hand side for a model trained
#' with a formula (`data` given): a factor is shuffled as one variable,
#' whatever the number of its indicator columns.
#'
#' @param object A trained [Sequential] model.
#' @param x,y,data As for [evaluate()]: inputs and targets, or a formula's
#'   `data` (then leave `x` and `y` out).
#' @param metric The score: `"loss"` (the model's loss, the default) or a
#'   metric name (see [fit()][fit.Sequential]).
#' @param n_repeats Shuffles per variable.
#' @return A `rustnn_importance` data frame, one row per variable, most
#'   important first: `variable`, `importance` (the mean change in the
#'   score, positive when shuffling made the model worse), `sd` (its
#'   standard deviation over the repeats) and, in the attributes, `metric`
#'   and `baseline` (the score without shuffling). `plot()` draws it.
#' @export
#' @examples
#' set.seed(1)
#' x <- data.frame(signal = rnorm(200), noise = rnorm(200))
#' y <- 3 * x$signal + rnorm(200, sd = 0.1)
#' model <- Sequential$new(Linear$new(2, 8), Tanh$new(), Linear$new(8, 1))
#' fit(model, x, y, epochs = 100, optimizer = Adam$new(lr = 0.05), verbose = 0)
#' imp <- permutation_importance(model, x, y)
#' imp
#' plot(imp)
permutation_importance <- function(object, x = NULL, y = NULL, data = NULL, metric = "loss",
                                   n_repeats = 5) {
  check_current_model(object, "object")
  n_repeats <- check_count(n_repeats)
  metric <- check_choice(metric, c("loss", catalog("metrics")), "metric")
  formula_model <- !is.null(object$.get_state()$preprocess$terms)
  score <- importance_scorer(object, x, y, data, metric, formula_model)
  table <- if (formula_model) data else x
  variables <- importance_variables(object, table, formula_model)
  baseline <- score(table)
  sign <- if (monitor_higher_is_better(metric)) 1 else -1
  changes <- vapply(variables, function(v) {
    vapply(seq_len(n_repeats), function(r) {
      shuffled <- table
      shuffled[, v] <- shuffled[sample.int(nrow(shuffled)), v]
      sign * (baseline - score(shuffled))
    }, numeric(1))
  }, numeric(n_repeats))
  changes <- matrix(changes, nrow = n_repeats)
  out <- data.frame(variable = variables, importance = colMeans(changes),
                    sd = if (n_repeats > 1L) apply(changes, 2, stats::sd) else NA_real_,
                    stringsAsFactors = FALSE)
  out <- out[order(-out$importance), , drop = FALSE]
  rownames(out) <- NULL
  structure(out, metric = metric, baseline = baseline,
            class = c("rustnn_importance", "data.frame"))
}

#' A function of a table (x, or the formula's data) giving the model's score.
#' @noRd
importance_scorer <- function(object, x, y, data, metric, formula_model, call = rlang::caller_env()) {
  if (formula_model) {
    if (!is.data.frame(data)) {
      abort_arg("{.arg data} must be a data frame: the model was trained with a formula.", "data",
                call = call)
    }
    # evaluate() reads the model's own terms; the formula only says "data".
    return(function(table) {
      figure_of(evaluate(object, ~., data = table, metrics = metrics_for(metric)), metric)
    })
  }
  if (is.null(x) || is.null(y)) {
    abort_arg("Give {.arg x} and {.arg y} (or {.arg data} for a model trained with a formula).", "x",
              call = call)
  }
  if (!(is.matrix(x) || is.data.frame(x)) || is.null(ncol(x)) || ncol(x) < 1L) {
    abort_arg("{.arg x} must be a matrix or data frame of input columns, not {.obj_type_friendly {x}}.",
              "x", call = call)
  }
  function(table) figure_of(evaluate(object, table, y, metrics = metrics_for(metric)), metric)
}

metrics_for <- function(metric) if (metric == "loss") character() else metric

figure_of <- function(scores, metric) unname(scores[[metric]])

#' The variables to shuffle: the columns of x, or the formula's predictors.
#' @noRd
importance_variables <- function(object, table, formula_model) {
  if (formula_model) {
    tt <- stats::delete.response(object$.get_state()$preprocess$terms)
    return(intersect(all.vars(tt), names(table)))
  }
  colnames(table) %||% seq_len(ncol(table))
}

#' @export
print.rustnn_importance <- function(x, ...) {
  cat("<rustnn_importance> change in ", attr(x, "metric"), " when each variable is shuffled",
      " (baseline ", format(attr(x, "baseline"), digits = 4), ")\n", sep = "")
  print(as.data.frame(unclass(x))[c("variable", "importance", "sd")], row.names = FALSE, ...)
  invisible(x)
}

#' @export
plot.rustnn_importance <- function(x, y, ...) {
  shown <- x[rev(seq_len(nrow(x))), , drop = FALSE]
  old <- graphics::par(mar = c(4, max(4, max(nchar(as.character(shown$variable))) * 0.6), 1, 1))
  on.exit(graphics::par(old))
  graphics::barplot(shown$importance, names.arg = shown$variable, horiz = TRUE, las = 1,
                    xlab = paste("change in", attr(x, "metric"), "when shuffled"), ...)
  invisible(x)
}
