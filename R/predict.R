# Using a trained model: predict() and evaluate().

#' Predict with a model
#'
#' @param object A [Sequential] model.
#' @param x Numeric matrix or data frame with the columns the model was
#'   trained on.
#' @param type `"response"`: the network's outputs as a matrix (e.g.
#'   probabilities). `"class"`: the predicted class of each row — factor
#'   levels if the model was trained on a factor, otherwise 0/1 for one
#'   output (threshold 0.5) or the column number of the largest output.
#' @param threads Number of threads; see [default_threads()].
#' @param ... Unused; must be empty.
#' @return A matrix (`"response"`), or a factor or integer vector (`"class"`).
#' @export
#' @examples
#' set.seed(1)
#' model <- Sequential$new(Linear$new(2, 3), Softmax$new())
#' predict(model, matrix(rnorm(4), ncol = 2))
predict.Sequential <- function(object, x, type = c("response", "class"),
                               threads = default_threads(), ...) {
  rlang::check_dots_empty()
  type <- check_choice(type[1], c("response", "class"), "type")
  x <- as_input_matrix(x, "x")
  check_input_width(object, x, "x")
  threads <- check_count(threads)
  out <- rust_call(rn_predict(object$.engine(), x, threads))
  if (type == "response") out else classes_of(out, object$.get_state()$target)
}

classes_of <- function(out, target) {
  idx <- if (ncol(out) == 1L) as.integer(out[, 1] > 0.5) + 1L else max.col(out, ties.method = "first")
  if (identical(target$type, "factor")) {
    factor(target$levels[idx], levels = target$levels)
  } else if (ncol(out) == 1L) {
    idx - 1L
  } else {
    idx
  }
}

#' Evaluate a model
#'
#' Loss and, for classification, accuracy of the model on `x` and `y`.
#'
#' @param object A model.
#' @param ... Passed to methods.
#' @return A named numeric vector: `loss`, and `accuracy` when `y` is a
#'   factor or 0/1 (one output) or one-hot (several outputs).
#' @export
evaluate <- function(object, ...) {
  UseMethod("evaluate")
}

#' @rdname evaluate
#' @param x,y Data as for [fit()][fit.Sequential].
#' @param loss Loss name or object; default: the loss of the last `fit()`.
#' @param threads Number of threads; see [default_threads()].
#' @export
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(40), ncol = 2)
#' y <- factor(x[, 1] > 0)
#' model <- Sequential$new(Linear$new(2, 1), Sigmoid$new())
#' fit(model, x, y, loss = "bce", optimizer = SGD$new(lr = 1), epochs = 100)
#' evaluate(model, x, y)
evaluate.Sequential <- function(object, x, y, loss = NULL, threads = default_threads(), ...) {
  rlang::check_dots_empty()
  state <- object$.get_state()
  pred <- predict(object, x, threads = threads)
  target <- encode_target(y, nrow(pred), ncol(pred), "y")
  loss <- as_loss(loss %||% state$loss %||% default_loss(target, ncol(pred)))
  value <- loss$loss(pred, target$matrix)
  truth <- target$matrix
  is_class <- target$info$type == "factor" ||
    (ncol(truth) == 1L && all(truth %in% c(0, 1))) ||
    (ncol(truth) > 1L && all(truth %in% c(0, 1)) && all(rowSums(truth) == 1))
  if (!is_class) return(c(loss = value))
  predicted <- classes_of(pred, list(type = "numeric"))
  actual <- if (ncol(truth) == 1L) as.integer(truth[, 1]) else max.col(truth, ties.method = "first")
  c(loss = value, accuracy = mean(predicted == actual))
}
