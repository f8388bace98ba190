# mlp_sequential(): build, standardize, train and return a multilayer
# perceptron as a Sequential model, in one call.

#' A trained multilayer perceptron as a Sequential model: the engine of
#' [rustnn_mlp()], which hands it a matrix, and a quick way to build one in
#' the tests. Builds [Linear] layers of `hidden` units with the activation,
#' picks the output layer and loss from the target (softmax and
#' cross-entropy for a factor of more than two levels, sigmoid and binary
#' cross-entropy for two, linear outputs and mean squared error for
#' numbers), optionally standardizes the inputs (the model keeps the
#' training means and standard deviations, which predict() applies to new
#' data), and trains it with fit(); `x`, `y`, `data` and `...` are fit()'s.
#' @noRd
mlp_sequential <- function(x, y = NULL, data = NULL, hidden = 10, activation = "relu",
                           dropout = 0, l2 = 0, init = "glorot_uniform", standardize = TRUE,
                           optimizer = NULL, epochs = 100, batch_size = 32, loss = NULL,
                           metrics = NULL, validation_split = 0, callbacks = list(),
                           verbose = default_verbose(), threads = default_threads(),
                           dtype = "float32", ...) {
  check_units(hidden, "hidden")
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

#' Checks units of hidden layers: whole numbers, at least 1 each, or none.
#' @noRd
check_units <- function(x, arg, call = rlang::caller_env()) {
  if (!(is.numeric(x) && all(is.finite(x)) && all(x >= 1) &&
        all(x <= .Machine$integer.max) && all(x == round(x)))) {
    abort_arg("{.arg {arg}} must be whole numbers of units (at least 1 each), or {.code integer(0)}, not {.obj_type_friendly {x}}.",
              arg, call = call)
  }
  as.integer(x)
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
