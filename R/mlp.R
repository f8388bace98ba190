# mlp(): build, standardize, train and return a multilayer perceptron in one
# call, in the style of nnet::nnet().

#' Train a multilayer perceptron in one call
#'
#' Builds a [Sequential] network of [Linear] layers with `hidden` units and
#' the chosen activation, picks the output layer and loss from the target
#' (softmax and cross-entropy for a factor with more than two levels,
#' sigmoid and binary cross-entropy for two levels, linear outputs and
#' mean squared error for numbers), optionally standardizes the inputs (the
#' model remembers the training means and standard deviations, and
#' [predict()][predict.Sequential] applies them to new data), trains it with
#' [fit()][fit.Sequential] and returns it. The history is in
#' `model$history`.
#'
#' @param x A formula with `data` (`Species ~ .`), or a numeric matrix or
#'   data frame of inputs with `y`.
#' @param y Targets, when `x` is not a formula.
#' @param data A data frame, with a formula.
#' @param hidden Units of each hidden layer, e.g. `c(64, 32)`; `integer(0)`
#'   for none (a linear or logistic model).
#' @param activation Activation of the hidden layers: `"relu"`, `"sigmoid"`,
#'   `"tanh"`, or another name of [activations].
#' @param dropout Dropout rate after each hidden layer (0 for none).
#' @param l2 L2 penalty on every weight matrix (see [Linear]).
#' @param init Weight initialization (see [Linear]).
#' @param standardize Center and scale the inputs with the training data's
#'   means and standard deviations?
#' @param optimizer Optimizer object or name; default `Adam$new(lr = 0.01)`.
#' @param epochs,batch_size,loss,metrics,validation_split,callbacks,verbose,threads
#'   As in [fit()][fit.Sequential].
#' @param dtype `"float32"` or `"float64"`.
#' @param ... Further arguments to [fit()][fit.Sequential], such as
#'   `class_weight` or `validation_data`.
#' @return The trained [Sequential] model.
#' @export
#' @examples
#' set.seed(1)
#' model <- mlp(Species ~ ., data = iris, hidden = 16, epochs = 50, verbose = 0)
#' model
#' mean(predict(model, iris, type = "class") == iris$Species)
mlp <- function(x, y = NULL, data = NULL, hidden = 10, activation = "relu", dropout = 0,
                l2 = 0, init = "glorot_uniform", standardize = TRUE, optimizer = NULL,
                epochs = 100, batch_size = 32, loss = NULL, metrics = NULL,
                validation_split = 0, callbacks = list(), verbose = default_verbose(),
                threads = default_threads(), dtype = "float32", ...) {
  if (!(is.numeric(hidden) && all(is.finite(hidden)) && all(hidden >= 1) &&
        all(hidden <= .Machine$integer.max) && all(hidden == round(hidden)))) {
    abort_arg("{.arg hidden} must be whole numbers of units (at least 1 each), or {.code integer(0)}, not {.obj_type_friendly {hidden}}.",
              "hidden")
  }
  check_choice(activation, names(hidden_activations))
  check_number(dropout, min = 0, max = 1, max_inclusive = FALSE)
  check_flag(standardize)

  # Layer sizes come from the prepared data (no preprocessing yet).
  prepared <- prepare_xy(NULL, x, y, data)
  pre <- prepared$preprocess
  if (standardize) {
    center <- colMeans(prepared$x)
    scale <- column_sd(prepared$x)
    scale[!is.finite(scale) | scale == 0] <- 1
    pre$center <- center
    pre$scale <- scale
  }
  output <- output_layer(prepared$y)
  sizes <- c(ncol(prepared$x), hidden)
  layers <- list()
  for (i in seq_along(hidden)) {
    layers <- c(layers, Linear$new(sizes[i], sizes[i + 1], init = init, l2 = l2),
                hidden_activations[[activation]]$new())
    if (dropout > 0) layers <- c(layers, Dropout$new(dropout))
  }
  layers <- c(layers, Linear$new(sizes[length(sizes)], output$units, init = init, l2 = l2),
              output$activation)
  model <- Sequential$new(layers, dtype = dtype)
  model$.set_preprocess(pre)
  fit_args <- list(model, x, y = y, data = data, loss = loss %||% output$loss,
                   optimizer = optimizer %||% Adam$new(lr = 0.01), epochs = epochs,
                   batch_size = batch_size, metrics = metrics,
                   validation_split = validation_split, callbacks = callbacks,
                   verbose = verbose, threads = threads, ...)
  do.call(fit, fit_args)
  model
}

# Hidden-layer activations by name.
hidden_activations <- list(relu = ReLU, sigmoid = Sigmoid, tanh = Tanh, leaky_relu = LeakyReLU,
                           elu = ELU, gelu = GELU, softplus = Softplus, identity = Identity)

#' Output units, activation and loss for targets `y`.
#' @noRd
output_layer <- function(y) {
  if (is.logical(y) && is.null(dim(y))) y <- factor(y, levels = c("FALSE", "TRUE"))
  if (is.character(y)) y <- factor(y)
  if (is.factor(y)) {
    k <- nlevels(y)
    if (k == 2L) return(list(units = 1L, activation = Sigmoid$new(), loss = "bce"))
    return(list(units = k, activation = Softmax$new(), loss = "cross_entropy"))
  }
  units <- if (is.null(dim(y))) 1L else ncol(y)
  list(units = units, activation = Identity$new(), loss = "mse")
}
