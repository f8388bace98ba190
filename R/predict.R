# Using a trained model: predict() and evaluate().

#' Predict with a model
#'
#' @param object A [Sequential] model.
#' @param newdata Numeric matrix or data frame with the columns the model
#'   was trained on (a data frame with the formula's columns if it was
#'   trained with a formula; the model's standardization is repeated), or
#'   an array of images shaped like the training images, or a data set
#'   ([rustnn_dataset()]). Rows of a data
#'   frame with `NA` in a variable of the model's formula (in any column,
#'   for a model trained without one) get `NA` predictions, in place (as
#'   with `na.action = na.exclude` in [lm()]).
#' @param type `"response"`: the network's outputs as a matrix. `"prob"`:
#'   class probabilities with one column per class, named by level (for a
#'   one-output binary model, `1 - p` and `p`). `"class"`: the predicted
#'   class of each row — factor levels if the model was trained on a
#'   factor, otherwise 0/1 for one output (threshold 0.5) or the column
#'   number of the largest output (from 0 if trained on 0-based labels).
#' @param threads Number of threads; see [default_threads()].
#' @param ... Unused; must be empty.
#' @return A matrix (`"response"`, `"prob"`; an array for a model whose
#'   output is an image), or a factor or integer vector (`"class"`), with
#'   one row or element per row of `newdata`.
#' @export
#' @examples
#' set.seed(1)
#' model <- Sequential$new(Linear$new(4, 8), ReLU$new(), Linear$new(8, 3), Softmax$new())
#' fit(model, Species ~ ., data = iris, optimizer = Adam$new(lr = 0.05), epochs = 50,
#'     verbose = 0)
#' head(predict(model, iris, type = "prob"))
#' table(predict(model, iris, type = "class"), iris$Species)
predict.Sequential <- function(object, newdata, type = c("response", "class", "prob"),
                               threads = default_threads(), ...) {
  check_dots_empty()
  if (missing(newdata)) {
    abort_arg("{.arg newdata} is missing: give the inputs to predict for.", "newdata")
  }
  type <- check_choice(type[1], c("response", "class", "prob"), "type")
  state <- object$.get_state()
  # Rows of a data frame with NA get NA predictions, in place (na.exclude).
  complete <- complete_rows(newdata, state$preprocess)
  if (!is.null(complete) && !any(complete)) {
    threads <- check_threads(threads)
    if (type != "response") check_classifier(state$target, type)
    out <- matrix(NA_real_, length(complete), output_units(object))
  } else {
    if (!is.null(complete)) newdata <- newdata[complete, , drop = FALSE]
    x <- apply_preprocess(state$preprocess, newdata, "newdata")
    object$.resolve_input(x, "newdata")
    threads <- check_threads(threads)
    if (type != "response") check_classifier(state$target, type)
    out <- fill_rows(rust_call(rn_predict(object$.engine(), engine_input(x), threads)), complete)
  }
  switch(type,
         response = rows_to_images(out, utils::tail(object$.shapes(), 1L)[[1]]),
         class = classes_of(out, state$target),
         prob = probabilities(out, state$target))
}

#' Values per sample of a model's output (its width as a matrix).
#' @noRd
output_units <- function(model) {
  as.integer(prod(utils::tail(model$.shapes(), 1L)[[1]]))
}

#' Refuses class predictions from a model fitted on numbers that are not
#' classes (a regression). A model trained by hand (no fit()) has no
#' target, and gets them as documented.
#' @noRd
check_classifier <- function(target, type, call = rlang::caller_env()) {
  if (identical(target$type, "numeric") && identical(target$classes, FALSE)) {
    abort_arg(c("{.code type = \"{type}\"} needs a classifier, but this model was trained on numbers that are not classes (a regression).",
                i = "Use {.code type = \"response\"} for its predictions."),
              "type", call = call)
  }
}

classes_of <- function(out, target) {
  idx <- if (ncol(out) == 1L) as.integer(out[, 1] > 0.5) + 1L else max.col(out, ties.method = "first")
  if (identical(target$type, "factor")) {
    factor(target$levels[idx], levels = target$levels)
  } else if (ncol(out) == 1L || isTRUE(target$zero_based)) {
    idx - 1L
  } else {
    idx
  }
}

# Columns named like the classes classes_of() returns.
probabilities <- function(out, target) {
  binary <- ncol(out) == 1L
  if (binary) out <- cbind(1 - out, out)
  colnames(out) <- if (identical(target$type, "factor")) target$levels else
    if (binary || isTRUE(target$zero_based)) seq_len(ncol(out)) - 1L else seq_len(ncol(out))
  out
}

#' Evaluate a model
#'
#' The loss (including any L1/L2 penalty, as in `fit()`'s history) and
#' metrics of the model on `x` and `y`, computed by the same code as
#' `fit()`'s.
#'
#' @param object A model.
#' @param ... Passed to methods.
#' @return A named numeric vector: `loss` and one value per metric.
#' @export
evaluate <- function(object, ...) {
  UseMethod("evaluate")
}

#' @rdname evaluate
#' @param x,y,data Data as for [fit()][fit.Sequential]: a matrix or data
#'   frame and targets, a data set (with its targets, or `y`), or a formula
#'   and a data frame.
#' @param loss Loss name or object; default: the loss of the last `fit()`,
#'   with its settings (a huber loss's `delta`).
#' @param metrics Metric names, and metrics written in R (see
#'   [fit()][fit.Sequential]). Default:
#'   `"accuracy"` for classification targets (a factor, 0/1, one-hot or
#'   labels), none otherwise; classification metrics on other numeric
#'   targets are an error.
#' @param threads Number of threads; see [default_threads()].
#' @export
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(40), ncol = 2)
#' y <- factor(x[, 1] > 0)
#' model <- Sequential$new(Linear$new(2, 1), Sigmoid$new())
#' fit(model, x, y, loss = "bce", optimizer = SGD$new(lr = 1), epochs = 100)
#' evaluate(model, x, y, metrics = c("accuracy", "auc"))
evaluate.Sequential <- function(object, x, y = NULL, data = NULL, loss = NULL, metrics = NULL,
                                threads = default_threads(), ...) {
  check_dots_empty()
  state <- object$.get_state()
  if (inherits(x, "formula")) {
    if (is.null(state$preprocess$terms)) {
      abort_arg("This model was not trained with a formula; give {.arg x} and {.arg y}.", "x")
    }
    d <- design_matrix(state$preprocess, data, "data", rlang::current_env(), response = TRUE)
    x <- d$x
    y <- d$y
  } else if (inherits(x, "rustnn_dataset")) {
    y <- dataset_targets(x, y)
    x <- apply_preprocess(state$preprocess, x, "x")
  } else {
    if (is.null(y)) abort_arg("{.arg y} is missing.", "y")
    x <- apply_preprocess(state$preprocess, x, "x")
  }
  object$.resolve_input(x, "x")
  threads <- check_threads(threads)
  pred <- rust_call(rn_predict(object$.engine(), engine_input(x), threads))
  loss <- as_loss(loss %||% loss_from_description(state$loss) %||%
                    default_loss(y, ncol(pred), output_kind(state$specs)))
  known_levels <- if (identical(state$target$type, "factor")) state$target$levels
  target <- encode_target(y, nrow(pred), ncol(pred), "y", loss = loss_name(loss), levels = known_levels)
  # fit() warned of a likely mistake already; evaluating is not training.
  check_loss_output(loss, state$specs, ncol(pred), target$info, rlang::current_env(), warn = FALSE)
  metrics <- metrics %||% if (is_class_target(target)) "accuracy" else character()
  own <- split_custom_metrics(metrics, rlang::current_env())
  metrics <- check_class_metrics(check_metrics(own$names, ncol(pred)), target, rlang::current_env())
  value <- loss$loss(pred, target$matrix) + rust_call(rn_penalty(object$.engine()))
  figures <- if (length(metrics)) rust_call(rn_metrics(metrics, pred, target$matrix)) else numeric()
  written <- vapply(own$functions, function(f) as.double(f(target$matrix, pred)), numeric(1))
  stats::setNames(c(value, figures, written), c("loss", metrics, names(own$functions)))
}

#' Confusion matrix
#'
#' Counts of each (actual, predicted) pair of classes, with overall
#' accuracy and per-class precision and recall when printed.
#'
#' @param actual The true classes: a factor (or a vector of labels).
#' @param predicted The predicted classes, e.g. `predict(model, x, type =
#'   "class")`, of the same length.
#' @return A `rustnn_confusion` object: a table with actual classes in rows
#'   and predicted classes in columns.
#' @export
#' @examples
#' set.seed(1)
#' model <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 8, epochs = 30)
#' confusion_matrix(iris$Species, predict(model, iris)$.pred_class)
confusion_matrix <- function(actual, predicted) {
  if (!(is.atomic(actual) && is.atomic(predicted)) || is.null(actual) || is.null(predicted)) {
    abort_arg("{.arg actual} and {.arg predicted} must be vectors or factors of classes.", "actual")
  }
  if (length(actual) != length(predicted)) {
    abort_arg("{.arg predicted} has {length(predicted)} value{?s}, but {.arg actual} has {length(actual)}.",
              "predicted")
  }
  classes <- union(levels(as.factor(actual)), levels(as.factor(predicted)))
  tab <- table(actual = factor(actual, levels = classes),
               predicted = factor(predicted, levels = classes))
  class(tab) <- c("rustnn_confusion", class(tab))
  tab
}

#' @export
format.rustnn_confusion <- function(x, ...) {
  counts <- unclass(x)
  class(counts) <- "table"
  correct <- diag(counts)
  per_class <- data.frame(class = rownames(counts),
                          precision = round(correct / pmax(colSums(counts), 1), 4),
                          recall = round(correct / pmax(rowSums(counts), 1), 4))
  c(utils::capture.output(print(counts)), "",
    sprintf("Accuracy: %.4f (%d of %d)", sum(correct) / sum(counts), sum(correct), sum(counts)),
    utils::capture.output(print(per_class, row.names = FALSE)))
}

#' @export
print.rustnn_confusion <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}
