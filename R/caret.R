# rustnn_caret(): rustnn_mlp() as a caret method, the plain list of
# functions caret::train() calls ("Using your own model in train"). Its
# functions run on caret's workers, which load rustnn but not its
# namespace's internals: they call exported functions only, by their full
# name.

#' A caret method for rustnn's multilayer perceptron
#'
#' The model description `caret::train()` takes as `method`, to tune
#' [rustnn_mlp()]'s `hidden_units` and `penalty` by resampling, for
#' classification (with class probabilities) and regression, sequentially
#' or on a parallel backend such as `doParallel`. Other arguments of
#' [rustnn_mlp()], such as `epochs` or `learn_rate`, go in `train()`'s
#' `...`.
#'
#' The default grid (`tuneLength = len`) crosses `hidden_units` of 5, 10,
#' ... (`5 * 1:len`) with `penalty` of 0 and `len - 1` values from 0.1 down
#' to 1e-4 on a log scale, as caret's `nnet` method does; a random search
#' draws `hidden_units` from 2 to 32 and `penalty` from 1e-5 to 0.1 (log
#' uniform).
#'
#' @return A list with caret's fields: `label`, `library`, `type`,
#'   `parameters`, `grid`, `fit`, `predict`, `prob`, `sort`, `levels`,
#'   `tags`.
#' @export
#' @examples
#' if (requireNamespace("caret", quietly = TRUE)) {
#'   set.seed(1)
#'   tuned <- caret::train(iris[, 1:4], iris$Species, method = rustnn_caret(),
#'                         tuneGrid = data.frame(hidden_units = 8, penalty = 0),
#'                         trControl = caret::trainControl(method = "cv", number = 3),
#'                         epochs = 30)
#'   tuned$results
#' }
rustnn_caret <- function() {
  list(
    label = "Multilayer perceptron (rustnn)",
    library = "rustnn",
    type = c("Classification", "Regression"),
    parameters = data.frame(parameter = c("hidden_units", "penalty"),
                            class = c("numeric", "numeric"),
                            label = c("#Hidden Units", "L2 Penalty")),
    grid = caret_grid,
    fit = caret_fit,
    predict = caret_predict,
    prob = caret_prob,
    sort = function(x) x[order(x$hidden_units, -x$penalty), ],
    levels = function(x) x$outcome$levels,
    tags = c("Neural Network", "L2 Regularization")
  )
}

caret_grid <- function(x, y, len = NULL, search = "grid") {
  if (search == "grid") {
    penalty <- c(0, if (len > 1) 10^seq(-1, -4, length.out = len - 1))
    return(expand.grid(hidden_units = 5L * seq_len(len), penalty = penalty))
  }
  data.frame(hidden_units = sample(2:32, len, replace = TRUE),
             penalty = 10^stats::runif(len, min = -5, max = -1))
}

caret_fit <- function(x, y, wts, param, lev, last, classProbs, ...) {
  if (!is.null(wts)) {
    cli::cli_abort("The rustnn method does not take case weights.",
                   class = c("rustnn_error_argument", "rustnn_error"))
  }
  if (!is.data.frame(x)) x <- as.data.frame(x)
  rustnn::rustnn_mlp(x, y, hidden_units = param$hidden_units, penalty = param$penalty, ...)
}

# caret wants classes as a vector and probabilities as a data frame with a
# column per level.
caret_predict <- function(modelFit, newdata, submodels = NULL) {
  if (!is.data.frame(newdata)) newdata <- as.data.frame(newdata)
  stats::predict(modelFit, newdata)[[1]]
}

caret_prob <- function(modelFit, newdata, submodels = NULL) {
  if (!is.data.frame(newdata)) newdata <- as.data.frame(newdata)
  probs <- as.data.frame(stats::predict(modelFit, newdata, type = "prob"))
  stats::setNames(probs, modelFit$outcome$levels)
}
