# rustnn_mlp(): a multilayer perceptron for the R modelling ecosystem. One
# generic with one method per interface (x and y, formula, recipe); each
# calls hardhat::mold() and hands the result to rustnn_mlp_bridge(), which
# checks the settings, drops incomplete rows (na.action) and trains a
# Sequential model. predict() forges new data with the same blueprint and
# answers with tidymodels' tibbles (.pred, .pred_class, .pred_<level>).

#' Multilayer perceptron for the modelling ecosystem
#'
#' @description
#' Fits a multilayer perceptron from a data frame or matrix and outcomes, a
#' formula, or a [recipes::recipe()], the way tidymodels' engines do: the
#' data are processed by [hardhat::mold()] (a formula's factors become
#' indicator columns, one per level), the predictors are standardized with
#' the training means and standard deviations, and a [Sequential] network
#' of [Linear] layers is trained with [fit()][fit.Sequential]. New data go
#' through the same processing in [predict()][predict.rustnn_mlp], which
#' returns a tibble.
#'
#' The arguments are named as in `parsnip::mlp()`. A factor outcome gives a
#' classifier (softmax and cross-entropy, or sigmoid and binary
#' cross-entropy for two levels); a numeric one a regression, trained on the
#' outcome centered and scaled (its loss is on that scale) and predicted on
#' the original one.
#'
#' @param x A data frame or matrix of numeric predictors (with `y`), a
#'   formula (with `data`), or a [recipes::recipe()] (with `data`).
#' @param y The outcome: a factor (classification) or a numeric vector
#'   (regression), or a data frame or matrix of one such column.
#' @param formula A formula `outcome ~ predictors`, as in [lm()].
#' @param data A data frame, with a formula or a recipe.
#' @param hidden_units Units of each hidden layer, e.g. `c(32, 16)`;
#'   `integer(0)` for none (a linear or logistic model).
#' @param penalty L2 penalty on every weight matrix (see [Linear]).
#' @param dropout Dropout rate after each hidden layer, in `[0, 1)`.
#' @param epochs Number of passes over the training data.
#' @param activation Activation of the hidden layers: `"relu"`, `"tanh"`,
#'   `"sigmoid"`, `"leaky_relu"`, `"elu"`, `"gelu"`, `"softplus"` or
#'   `"identity"`.
#' @param learn_rate Learning rate of the optimizer.
#' @param batch_size Rows per mini-batch.
#' @param optimizer Name of the optimizer: `"adam"`, `"adamw"`, `"sgd"`,
#'   `"rmsprop"` or `"adagrad"`.
#' @param validation Proportion of the rows held out to report validation
#'   loss each epoch (`val_loss` in the history), in `[0, 1)`.
#' @param verbose Progress display, as in [fit()][fit.Sequential].
#' @param threads Number of threads; see [default_threads()].
#' @param na.action What to do with rows that have `NA` in a predictor or
#'   the outcome after processing: a function such as [stats::na.omit()]
#'   (the default, as in [lm()]: drop them) or [stats::na.fail()] (refuse
#'   them), or its name.
#' @param ... Unused; must be empty.
#' @return A `rustnn_mlp` object (a [hardhat::new_model()]): a list with
#'   `model`, the trained [Sequential] network (its history in
#'   `model$history`), `blueprint`, the hardhat blueprint that processes
#'   new data, `outcome` (`levels` for a classifier, `center` and `scale`
#'   for a regression), `settings` (the arguments above) and `omitted` (the
#'   number of rows that `na.action` dropped).
#' @seealso [predict.rustnn_mlp()], [tidy.rustnn_mlp()], [rustnn_caret()].
#' @export
#' @examples
#' set.seed(1)
#' fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 8, epochs = 30)
#' fitted
#' head(predict(fitted, iris, type = "prob"))
#'
#' # x and y; a regression
#' cars <- rustnn_mlp(mtcars[, -1], mtcars$mpg, hidden_units = 4, epochs = 50)
#' head(predict(cars, mtcars))
#'
#' # A recipe
#' if (requireNamespace("recipes", quietly = TRUE)) {
#'   rec <- recipes::recipe(Species ~ ., data = iris)
#'   rec <- recipes::step_normalize(rec, recipes::all_numeric_predictors())
#'   fitted <- rustnn_mlp(rec, iris, hidden_units = 8, epochs = 30)
#'   head(predict(fitted, iris))
#' }
rustnn_mlp <- function(x, ...) {
  UseMethod("rustnn_mlp")
}

#' @rdname rustnn_mlp
#' @export
rustnn_mlp.default <- function(x, ...) {
  abort_arg(c("{.fn rustnn_mlp} takes a data frame or matrix with {.arg y}, a formula, or a recipe, not {.obj_type_friendly {x}}."),
            "x")
}

#' @rdname rustnn_mlp
#' @export
rustnn_mlp.data.frame <- function(x, y, hidden_units = 10L, penalty = 0, dropout = 0,
                                  epochs = 100L, activation = "relu", learn_rate = 0.01,
                                  batch_size = 32L, optimizer = "adam", validation = 0,
                                  verbose = FALSE, threads = default_threads(),
                                  na.action = stats::na.omit, ...) {
  check_dots_empty()
  rustnn_mlp_bridge(hardhat::mold(x, y), mlp_settings(), na.action)
}

#' @rdname rustnn_mlp
#' @export
rustnn_mlp.matrix <- function(x, y, hidden_units = 10L, penalty = 0, dropout = 0,
                              epochs = 100L, activation = "relu", learn_rate = 0.01,
                              batch_size = 32L, optimizer = "adam", validation = 0,
                              verbose = FALSE, threads = default_threads(),
                              na.action = stats::na.omit, ...) {
  check_dots_empty()
  rustnn_mlp_bridge(hardhat::mold(x, y), mlp_settings(), na.action)
}

#' @rdname rustnn_mlp
#' @export
rustnn_mlp.formula <- function(formula, data, hidden_units = 10L, penalty = 0, dropout = 0,
                               epochs = 100L, activation = "relu", learn_rate = 0.01,
                               batch_size = 32L, optimizer = "adam", validation = 0,
                               verbose = FALSE, threads = default_threads(),
                               na.action = stats::na.omit, ...) {
  check_dots_empty()
  if (!is.data.frame(data)) {
    abort_arg("{.arg data} must be a data frame, not {.obj_type_friendly {data}}.", "data")
  }
  rustnn_mlp_bridge(hardhat::mold(formula, data), mlp_settings(), na.action)
}

#' @rdname rustnn_mlp
#' @export
rustnn_mlp.recipe <- function(x, data, hidden_units = 10L, penalty = 0, dropout = 0,
                              epochs = 100L, activation = "relu", learn_rate = 0.01,
                              batch_size = 32L, optimizer = "adam", validation = 0,
                              verbose = FALSE, threads = default_threads(),
                              na.action = stats::na.omit, ...) {
  check_dots_empty()
  if (!is.data.frame(data)) {
    abort_arg("{.arg data} must be a data frame, not {.obj_type_friendly {data}}.", "data")
  }
  rustnn_mlp_bridge(hardhat::mold(x, data), mlp_settings(), na.action)
}

#' The settings every rustnn_mlp() method takes, from the method's frame,
#' checked: the methods differ only in how they mold the data.
#' @noRd
mlp_settings <- function(env = parent.frame(), call = rlang::caller_env()) {
  s <- mget(c("hidden_units", "penalty", "dropout", "epochs", "activation", "learn_rate",
              "batch_size", "optimizer", "validation", "verbose", "threads"), envir = env)
  s$hidden_units <- check_units(s$hidden_units, "hidden_units", call)
  check_number(s$penalty, "penalty", min = 0, call = call)
  check_number(s$dropout, "dropout", min = 0, max = 1, max_inclusive = FALSE, call = call)
  s$epochs <- check_count(s$epochs, "epochs", call = call)
  check_choice(s$activation, names(hidden_activations), "activation", call = call)
  check_number(s$learn_rate, "learn_rate", min = 0, min_inclusive = FALSE, call = call)
  s$batch_size <- check_count(s$batch_size, "batch_size", call = call)
  check_choice(s$optimizer, names(optimizer_names()), "optimizer", call = call)
  check_number(s$validation, "validation", min = 0, max = 1, max_inclusive = FALSE, call = call)
  s
}

#' Fits the network to molded data: the one path behind every interface.
#' @noRd
rustnn_mlp_bridge <- function(processed, settings, na.action, call = rlang::caller_env()) {
  processed <- omit_incomplete(processed, na.action, call)
  x <- predictor_matrix(processed$predictors, "x", call)
  y <- mlp_outcome(processed$outcomes, call)
  optimizer <- optimizer_names()[[settings$optimizer]]$new(lr = settings$learn_rate)
  model <- mlp_sequential(x, y$values, hidden = settings$hidden_units,
                          activation = settings$activation, dropout = settings$dropout,
                          l2 = settings$penalty, optimizer = optimizer,
                          epochs = settings$epochs,
                          # L-BFGS trains on all the rows at once.
                          batch_size = if (optimizer$.full_batch()) nrow(x) else settings$batch_size,
                          validation_split = settings$validation, verbose = settings$verbose,
                          threads = settings$threads)
  hardhat::new_model(model = model, blueprint = processed$blueprint, outcome = y$info,
                     settings = settings[setdiff(names(settings), "threads")],
                     omitted = processed$omitted, class = "rustnn_mlp")
}

#' Molded data without the rows `na.action` drops (those with NA in a
#' processed predictor or the outcome); `omitted` counts them.
#' @noRd
omit_incomplete <- function(processed, na.action, call) {
  both <- cbind(as.data.frame(processed$predictors), as.data.frame(processed$outcomes))
  dropped <- dropped_rows(both, na.action, call)
  processed$omitted <- length(dropped)
  if (length(dropped)) {
    processed$predictors <- processed$predictors[-dropped, , drop = FALSE]
    processed$outcomes <- processed$outcomes[-dropped, , drop = FALSE]
  }
  processed
}

#' Processed predictors as a numeric matrix; other columns are refused, with
#' the ways to encode them.
#' @noRd
predictor_matrix <- function(predictors, arg, call) {
  numeric <- vapply(predictors, function(col) is.numeric(col) || is.logical(col), logical(1))
  if (!all(numeric)) {
    bad <- names(predictors)[!numeric]
    abort_arg(c("The predictors must be numeric after processing; {.field {bad}} {?is/are} not.",
                i = "Use a formula, which makes indicator columns of factors, or a recipe with {.fn recipes::step_dummy}."),
              arg, call = call)
  }
  as.matrix(predictors)
}

#' The one outcome column, as fit() takes it, and what predict() needs to
#' give predictions back on its scale: levels, or the center and scale of
#' a regression's outcome (trained on standardized values).
#' @noRd
mlp_outcome <- function(outcomes, call) {
  if (ncol(outcomes) != 1L) {
    abort_arg("{.fn rustnn_mlp} takes one outcome, not {ncol(outcomes)}: {.field {names(outcomes)}}.",
              "y", call = call)
  }
  y <- outcomes[[1]]
  if (is.factor(y)) return(list(values = y, info = list(levels = levels(y))))
  if (!is.numeric(y)) {
    abort_arg("The outcome must be a factor (classification) or numeric (regression), not {.obj_type_friendly {y}}.",
              "y", call = call)
  }
  center <- mean(y)
  scale <- stats::sd(y)
  if (!is.finite(scale) || scale == 0) scale <- 1
  list(values = (y - center) / scale, info = list(center = center, scale = scale))
}

#' Predict with a multilayer perceptron
#'
#' New data go through the processing of the training data (the formula,
#' the recipe, or the columns of `x`) by [hardhat::forge()], then through
#' the network.
#'
#' @param object A [rustnn_mlp()] model.
#' @param new_data A data frame (or matrix, for a model trained on one) with
#'   the predictors. Rows with `NA` in a predictor get `NA` predictions.
#' @param type `"numeric"` for a regression (the default), `"class"` (the
#'   default) or `"prob"` for a classifier.
#' @param threads Number of threads; see [default_threads()].
#' @param ... Unused; must be empty.
#' @return A tibble with one row per row of `new_data`: `.pred`
#'   (`"numeric"`), `.pred_class` (`"class"`, a factor), or `.pred_<level>`
#'   for each class (`"prob"`).
#' @export
#' @examples
#' set.seed(1)
#' fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 8, epochs = 30)
#' new_flowers <- iris[c(1, 51, 101), ]
#' new_flowers$Petal.Width[2] <- NA
#' predict(fitted, new_flowers)
#' predict(fitted, new_flowers, type = "prob")
predict.rustnn_mlp <- function(object, new_data, type = NULL, threads = default_threads(), ...) {
  check_dots_empty()
  type <- check_prediction_type(object, type)
  forged <- hardhat::forge(new_data, object$blueprint)
  # A data frame, so that the network gives NA for the rows with NA.
  x <- as.data.frame(forged$predictors)
  switch(type,
         numeric = {
           out <- stats::predict(object$model, x, threads = threads)[, 1]
           hardhat::spruce_numeric(out * object$outcome$scale + object$outcome$center)
         },
         class = hardhat::spruce_class(stats::predict(object$model, x, type = "class", threads = threads)),
         prob = hardhat::spruce_prob(object$outcome$levels,
                                     stats::predict(object$model, x, type = "prob", threads = threads)))
}

#' The prediction type, by default the one of the outcome; a type that does
#' not fit the outcome is refused.
#' @noRd
check_prediction_type <- function(object, type, call = rlang::caller_env()) {
  classifier <- !is.null(object$outcome$levels)
  type <- type %||% if (classifier) "class" else "numeric"
  check_choice(type, c("numeric", "class", "prob"), "type", call = call)
  if (classifier == (type == "numeric")) {
    abort_arg(c("{.code type = \"{type}\"} does not fit a {if (classifier) 'classifier' else 'regression'}.",
                i = "Use {.or {.val {if (classifier) c('class', 'prob') else 'numeric'}}}."),
              "type", call = call)
  }
  type
}

#' @export
format.rustnn_mlp <- function(x, ...) {
  s <- x$settings
  levels <- x$outcome$levels
  kind <- if (is.null(levels)) "regression" else
    sprintf("classification, %d classes (%s)", length(levels), paste(levels, collapse = ", "))
  history <- x$model$history
  loss <- utils::tail(history$metrics$loss, 1L)
  sizes <- c(x$model$input_dim, s$hidden_units,
             if (is.null(levels)) 1L else if (length(levels) == 2L) 1L else length(levels))
  c(sprintf("<rustnn_mlp> %s", kind),
    sprintf("  network: %s units, %s activation, dropout %s, penalty %s",
            paste(sizes, collapse = "-"), s$activation, format(s$dropout), format(s$penalty)),
    sprintf("  trained: %d epochs on %d rows%s, %s (learn rate %s), final loss %s%s",
            length(history$metrics$loss), history$params$rows,
            if (x$omitted > 0) sprintf(" (%d with NA omitted)", x$omitted) else "",
            s$optimizer, format(s$learn_rate), format(loss, digits = 4),
            if (is.null(levels)) " (on the scaled outcome)" else ""))
}

#' @export
print.rustnn_mlp <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}

#' @rdname rustnn_mlp
#' @param object A `rustnn_mlp` model.
#' @return `summary()`: the summary of its network, see
#'   [summary()][summary.Sequential].
#' @export
summary.rustnn_mlp <- function(object, ...) {
  summary(object$model, ...)
}
