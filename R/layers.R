# Layers: the R6 objects users build networks from.
#
# A layer is either standalone (it owns its parameters, and forward()/
# backward() run a one-layer Rust network in float64) or part of a
# Sequential model (its parameters live in the model, and reading or
# assigning `layer$params` reads or writes the model's).

#' Layer: the base class of all layers
#'
#' @description
#' A layer maps a batch of samples (a matrix whose rows are samples, or an
#' array of images `n x channels x height x width`) to another. It has a
#' forward pass, a backward pass that fills `grads` and returns the gradient
#' for the layer below, parameters (`params`) and their gradients (`grads`),
#' as in the tutorials' R6 `Layer`. Use its subclasses: [Linear],
#' [Dropout], [BatchNorm], the image layers ([Conv2d], [MaxPool2d],
#' [AvgPool2d], [Flatten]) and the activations ([Sigmoid], [Tanh], [ReLU],
#' [LeakyReLU], [ELU], [GELU], [Softplus], [Softmax], [Identity]).
#'
#' @section Your own layers:
#' Write a layer as tutorial 001 does: a class that inherits from `Layer`,
#' sets `self$params` (a named list of numeric matrices or vectors) in
#' `initialize()` (calling `super$initialize()` with no arguments is
#' optional; an activation needs no `initialize()` at all), computes its
#' output in `forward(inputs)` keeping what it needs, and in
#' `backward(grad)` fills `self$grads` (same names and shapes as `params`)
#' and returns the gradient with respect to its input. Inputs and outputs
#' are matrices, one row per sample (an image batch arrives flattened, as
#' [Flatten] gives it). `forward()` may take a `training` argument.
#'
#' Such a layer goes into [Sequential] beside the built-in ones, anywhere.
#' `fit()`, `predict()`, `evaluate()`, the manual loop, [grad_check()] and
#' `forward(keep = TRUE)` work with it: the engine keeps its parameters
#' (so the optimizers train them with the same rules and state as the
#' others) and calls its `forward()` and `backward()` in R at every batch.
#' Its output width is the class's `out_features` field if it has one,
#' else that of `forward()` run once on two rows of zeros when the model is
#' built.
#'
#' Mistakes are errors of class `rustnn_error_custom_layer` naming the layer
#' and the method, raised at the first batch: an output of the wrong shape
#' or with NA, a gradient of the wrong shape, `grads` left unset, an error
#' in your code (kept as the parent). The model keeps the weights of its
#' last completed step. Warnings and messages reach the handlers around
#' the call. The model cannot be used from inside its own layer's methods
#' (`rustnn_error_busy`).
#'
#' `saveRDS()` and `clone()` keep such layers whole. [save_model()] keeps
#' the class's name, the parameters and the layer's settings (its public
#' fields holding up to 100 numbers, logicals or strings); [load_model()]
#' finds the class by that name in the calling functions' environments,
#' the global environment and the attached packages, and makes the object
#' without running its `initialize()`. A class that is not there is an
#' error of class `rustnn_error_model_class`.
#'
#' A subclass of a built-in layer (say of [Tanh], with its own `forward()`)
#' is refused: the engine would run the built-in layer as it is.
#'
#' A layer given to [Sequential] belongs to that model from then on:
#' `layer$params` shows the model's current (e.g. trained) values, and
#' assigning it sets them. Call `model$forward()`/`model$backward()` for such
#' layers; `layer$forward()` is for standalone layers.
#'
#' @section Shape:
#' Input: `n x in_features`; output: `n x out_features` (activations keep
#' the shape, images included). See [Conv2d] for image batches.
#' @export
#' @examples
#' # Tutorial 001's Linear layer, written in R, in a model
#' OwnLinear <- R6::R6Class("OwnLinear", inherit = Layer, public = list(
#'   inputs = NULL,
#'   initialize = function(input_size, output_size) {
#'     self$params$w <- matrix(rnorm(input_size * output_size), input_size, output_size)
#'     self$params$bias <- matrix(0, 1, output_size)
#'   },
#'   forward = function(inputs) {
#'     self$inputs <- inputs
#'     sweep(inputs %*% self$params$w, 2, self$params$bias, "+")
#'   },
#'   backward = function(grad) {
#'     self$grads$w <- t(self$inputs) %*% grad
#'     self$grads$bias <- matrix(colSums(grad), 1)
#'     grad %*% t(self$params$w)
#'   }
#' ))
#' set.seed(1)
#' x <- matrix(c(0, 0, 1, 1, 0, 1, 0, 1), ncol = 2)
#' y <- matrix(c(0, 1, 1, 0), ncol = 1)
#' model <- Sequential$new(OwnLinear$new(2, 4), Tanh$new(), OwnLinear$new(4, 1),
#'                         dtype = "float64")
#' grad_check(model, x, y, loss = "mse")
#' fit(model, x, y, loss = "mse", optimizer = SGD$new(lr = 0.1), epochs = 500, batch_size = 4)
#' round(predict(model, x), 2)
Layer <- R6::R6Class("Layer",
  public = list(
    # @description Create a layer (called by subclasses).
    # @param type Engine type name (`"linear"`, `"sigmoid"`, ...).
    # @param in_features,out_features Widths (`NA` for activations).
    # @param params Named list of initial parameters.
    # @param options Named list of the layer's settings for the engine
    #   (e.g. `alpha`, `rate`, `l1`, `l2`), numbers only.
    initialize = function(type, in_features = NA_integer_, out_features = NA_integer_,
                          params = list(), options = list()) {
      # A layer written in R calls super$initialize() with no type (or
      # does not call it at all): see custom.R.
      if (missing(type)) return(invisible(self))
      private$.type <- type
      private$.in <- in_features
      private$.out <- out_features
      private$.params <- params
      private$.options <- options
    },

    # @description Forward pass of a standalone layer (float64).
    # @param x Numeric matrix, one sample per row (or, for image layers, an
    #   array `n x channels x height x width`).
    # @param training Training mode (matters to dropout and batch
    #   normalization only).
    # @return The layer's output as a matrix (an array for image outputs).
    forward = function(x, training = TRUE) {
      private$require_standalone("forward")
      x <- as_input_batch(x, "x")
      check_flag(training)
      engine <- private$engine(sample_shape(x))
      out <- rust_call(rn_forward(engine, x, training,
                                  forward_seed(training && rust_call(rn_facts(engine))$random)))
      private$.backward_done <- FALSE
      # A training pass moves batch normalization's running statistics.
      if (training && private$.type == "batch_norm") private$.params <- rust_call(rn_params(engine, FALSE))[[1]]
      rows_to_images(out, utils::tail(rust_call(rn_shapes(engine)), 1L)[[1]])
    },

    # @description Backward pass of a standalone layer after `forward()`:
    #   fills `grads`.
    # @param grad Gradient of the loss with respect to this layer's output
    #   (shaped like the output).
    # @return Gradient with respect to the layer's input, shaped like it.
    backward = function(grad) {
      private$require_standalone("backward")
      engine <- private$engine(private$.input_shape)
      grad <- check_output_grad(grad, utils::tail(rust_call(rn_shapes(engine)), 1L)[[1]])
      out <- rust_call(rn_backward(engine, grad))
      private$.backward_done <- TRUE
      rows_to_images(out, rust_call(rn_shapes(engine))[[1]])
    },

    # @description One line describing the layer.
    # @param ... Unused.
    format = function(...) {
      opts <- private$.options
      values <- vapply(opts, function(v) paste(format(v), collapse = "x"), character(1))
      shown <- c(if (!is.na(private$.in)) paste(private$.in, "->", private$.out),
                 if (length(opts)) paste(names(opts), values, sep = " = "))
      dims <- if (length(shown)) paste0("(", paste(shown, collapse = ", "), ")") else ""
      where <- if (is.null(private$.model)) "" else paste0(" [layer ", private$.index, " of a model]")
      paste0("<", class(self)[1], dims, ">", where)
    },

    # @description Print the layer.
    # @param ... Unused.
    print = function(...) {
      writeLines(self$format())
      invisible(self)
    },

    # @description Internal: the layer's description for the engine.
    .spec = function() {
      if (is.null(private$.type)) return(custom_spec(self))
      c(list(type = private$.type, in_features = private$.in, out_features = private$.out),
        private$.options)
    },

    # @description Internal: make this layer a view of layer `index` of `model`.
    # @param model A [Sequential] model.
    # @param index Position in the model.
    .attach = function(model, index) {
      private$.model <- model
      private$.index <- as.integer(index)
      private$.params <- list()
      private$.engine_ptr <- NULL
      invisible(self)
    },

    # @description Internal: a standalone copy with the current parameters.
    .detached_copy = function() {
      params <- self$params
      copy <- self$clone()
      copy$.set_standalone(params)
      copy
    },

    # @description Internal: make the layer standalone with `params`.
    # @param params Named list of parameters.
    .set_standalone = function(params) {
      private$.model <- NULL
      private$.index <- NA_integer_
      private$.params <- params
      private$.engine_ptr <- NULL
      invisible(self)
    }
  ),

  active = list(
    # @field params Named list of parameter matrices (`weight`, `in x out`)
    #   and vectors (`bias`); assign to set them (same shapes).
    params = function(value) {
      if (missing(value)) {
        if (private$.in_engine) return(private$.engine_params)
        if (is.null(private$.model)) return(private$.params)
        return(private$.model$.layer_params(private$.index))
      }
      if (private$.in_engine) {
        abort_arg("A layer's {.fn forward} and {.fn backward} must not assign {.field params} in a model: the optimizer updates them.",
                  "params", call = rlang::caller_env())
      }
      value <- if (!is.null(private$.type)) private$check_params(value) else if (is.null(private$.model)) {
        check_custom_params(value)
      } else {
        check_custom_params_like(check_custom_params(value), self$params, rlang::caller_env())
      }
      if (is.null(private$.model)) {
        private$.params <- value
        private$.engine_ptr <- NULL
      } else {
        private$.model$.set_layer_params(private$.index, value)
      }
    },

    # @field grads Named list of gradients from the last backward pass
    #   (empty before one); read-only.
    grads = function(value) {
      custom <- is.null(private$.type)
      if (!missing(value)) {
        if (!custom) {
          abort_arg("{.field grads} is read-only: it is filled by the backward pass.", "grads")
        }
        value <- check_custom_params(value, "grads")
        if (private$.in_engine) private$.engine_grads <- value else private$.grads <- value
        return(invisible(self))
      }
      if (private$.in_engine) return(private$.engine_grads)
      if (!is.null(private$.model)) return(private$.model$.layer_grads(private$.index))
      if (custom) return(private$.grads)
      if (!private$.backward_done || length(private$.params) == 0L) return(list())
      rust_call(rn_params(private$engine(private$.input_shape), TRUE))[[1]]
    },

    # @field model The [Sequential] model this layer belongs to, or `NULL`.
    model = function(value) {
      if (!missing(value)) {
        abort_arg("{.field model} is read-only: give the layer to {.fn Sequential$new}.", "model")
      }
      private$.model
    }
  ),

  private = list(
    .type = NULL,
    .in = NA_integer_,
    .out = NA_integer_,
    .params = list(),
    .options = list(),
    .model = NULL,
    .index = NA_integer_,
    .engine_ptr = NULL,
    .engine_owner = NULL,
    .input_shape = NULL,
    .backward_done = FALSE,
    # A layer written in R: its gradients when standalone, and while the
    # engine runs its passes in a model, the engine's parameters and the
    # gradients its backward() sets (see custom.R).
    .grads = list(),
    .in_engine = FALSE,
    .engine_params = NULL,
    .engine_grads = NULL,

    require_standalone = function(what) {
      if (!is.null(private$.model)) {
        cli::cli_abort(
          c("This layer is layer {private$.index} of a model.",
            i = "Call {.code model${what}()} to run the model's {what} pass."),
          class = c("rustnn_error_state", "rustnn_error"), call = rlang::caller_env(2))
      }
    },

    # A one-layer float64 network mirroring this standalone layer, for
    # inputs of shape `input_shape` (rebuilt when that changes).
    # A clone copies the pointer too, so the engine is rebuilt for any
    # object but the one that built it.
    engine = function(input_shape) {
      fresh <- rn_is_live(private$.engine_ptr) && identical(private$.engine_owner, self) &&
        identical(input_shape, private$.input_shape)
      if (!fresh) {
        private$.engine_ptr <- build_engine("float64", list(self$.spec()), list(private$.params),
                                            input_shape, arg = "x", call = rlang::caller_env(2))
        private$.engine_owner <- self
        private$.input_shape <- input_shape
        private$.backward_done <- FALSE
      }
      private$.engine_ptr
    },

    check_params = function(value) {
      expected <- names(private$.params_shape())
      if (!is.list(value) || !setequal(names(value), expected) || length(value) != length(expected)) {
        shown <- if (length(expected)) paste(expected, collapse = ", ") else "none"
        abort_arg("{.arg params} must be a list with elements {shown}.", "params",
                  call = rlang::caller_env(2))
      }
      shapes <- private$.params_shape()
      out <- lapply(expected, function(nm) {
        check_param(value[[nm]], shapes[[nm]], paste0("params$", nm), rlang::caller_env(4))
      })
      stats::setNames(out, expected)
    },

    .params_shape = function() list()
  )
)

#' Checks one parameter value against its shape (matrix dims or vector length).
#' @noRd
check_param <- function(value, shape, arg, call) {
  if (!is.numeric(value)) {
    abort_arg("{.arg {arg}} must be numeric, not {.obj_type_friendly {value}}.", arg, call = call)
  }
  if (length(shape) >= 2L) {
    if (!identical(as.integer(dim(value)), as.integer(shape))) {
      got <- if (is.null(dim(value))) paste("a vector of length", length(value)) else
        paste(dim(value), collapse = " x ")
      what <- if (length(shape) == 2L) "matrix" else "array"
      abort_arg("{.arg {arg}} must be a {paste(shape, collapse = ' x ')} {what}, not {got}.", arg, call = call)
    }
  } else if (length(value) != shape) {
    abort_arg("{.arg {arg}} must have {shape} value{?s}, not {length(value)}.", arg, call = call)
  }
  check_finite(value, arg, call)
  storage.mode(value) <- "double"
  if (length(shape) == 1L) value <- as.vector(value)
  value
}

#' Checks the size of a parameter before it is allocated: the engine holds
#' at most `.Machine$integer.max` values in one (as in one sample), so an
#' absurd layer size is an error, not an attempt to allocate terabytes.
#' @noRd
check_param_size <- function(n, what, arg, call = rlang::caller_env()) {
  if (n > .Machine$integer.max) {
    shown <- format(n, big.mark = ",", scientific = FALSE)
    abort_arg("{.arg {arg}} make {what} of {shown} values, more than the {format(.Machine$integer.max, big.mark = ',')} a layer can hold.",
              arg, call = call)
  }
  invisible(n)
}

#' Builds a Rust network from layer specs, parameters and the shape of one
#' input sample (`NULL` when no layer needs it). The engine's shape errors
#' (a kernel larger than the image, a width that does not fit) become
#' argument errors naming `arg`.
#' @noRd
build_engine <- function(dtype, specs, params, input_shape = NULL, arg = "...",
                         call = rlang::caller_env(), layers = NULL) {
  # The engine reads numbers as doubles; widths are 0 where a layer keeps its
  # input's width.
  engine_specs <- lapply(specs, function(s) {
    s$in_features <- as.double(s$in_features %|NA|% 0)
    s$out_features <- as.double(s$out_features %|NA|% 0)
    s[vapply(s, is.numeric, logical(1))] <- lapply(s[vapply(s, is.numeric, logical(1))], as.double)
    s
  })
  shape <- if (!is.null(input_shape)) as.double(input_shape)
  customs <- custom_engine_defs(dtype, engine_specs, params, shape, layers, call)
  ptr <- rust_call(rn_new(dtype, engine_specs, shape, customs), call = call, abort = function(msg, call) {
    problem <- if (is.null(input_shape)) "The layers do not fit together." else
      "The layers cannot take inputs of shape {format_shape(input_shape)}."
    hint <- if (is.null(input_shape) && grepl("expects [0-9]+ inputs", msg)) {
      "Make each {.cls Linear} layer's {.arg in_features} equal the previous layer's output width."
    }
    abort_arg(c(problem, x = "{msg}.", i = hint), arg, call = call)
  })
  for (i in seq_along(params)) {
    for (nm in names(params[[i]])) {
      rust_call(rn_set_param(ptr, i, nm, as.double(params[[i]][[nm]])))
    }
  }
  ptr
}

#' The gradient given to a manual backward pass, as engine rows: it must
#' have the shape of the last forward pass's output, `out_shape` (an image
#' array is not read in another layout just because its size matches).
#' @noRd
check_output_grad <- function(grad, out_shape, call = rlang::caller_env()) {
  grad <- as_input_batch(grad, "grad", call)
  if (length(out_shape) == 3L || length(dim(grad)) > 2L) {
    if (!identical(as.integer(dim(grad)[-1]), as.integer(out_shape))) {
      abort_arg("{.arg grad} must have the shape of the output, {format_shape(out_shape)}, not {format_shape(dim(grad)[-1])}.",
                "grad", call = call)
    }
  }
  images_to_rows(grad)
}

#' Seed for a manual forward pass: drawn from R's RNG (so set.seed() decides
#' dropout masks) only when the pass is `random` (training with dropout).
#' @noRd
forward_seed <- function(random) {
  if (random) sample.int(.Machine$integer.max, 2L) else c(0L, 0L)
}

`%|NA|%` <- function(x, y) if (is.na(x)) y else x

#' "(n, 1, 28, 28)" for a sample shape; "(n, ?)" when unknown.
#' @noRd
format_shape <- function(shape) {
  paste0("(n, ", if (is.null(shape)) "?" else paste(shape, collapse = ", "), ")")
}

# `n` initial weight values (by default an `fan_in x fan_out` matrix's),
# from R's RNG. The Glorot (Xavier) ones keep the variance of activations
# and gradients about constant through tanh/sigmoid layers; the He (Kaiming)
# ones double it to make up for ReLU zeroing half of its inputs. A
# convolution's fans count the kernel too (Keras's and PyTorch's rule).
weight_initializers <- list(
  glorot_uniform = function(fan_in, fan_out, n = fan_in * fan_out) {
    limit <- sqrt(6 / (fan_in + fan_out))
    stats::runif(n, -limit, limit)
  },
  glorot_normal = function(fan_in, fan_out, n = fan_in * fan_out) {
    stats::rnorm(n, sd = sqrt(2 / (fan_in + fan_out)))
  },
  he_uniform = function(fan_in, fan_out, n = fan_in * fan_out) {
    limit <- sqrt(6 / fan_in)
    stats::runif(n, -limit, limit)
  },
  he_normal = function(fan_in, fan_out, n = fan_in * fan_out) {
    stats::rnorm(n, sd = sqrt(2 / fan_in))
  },
  normal = function(fan_in, fan_out, n = fan_in * fan_out) stats::rnorm(n),
  uniform_small = function(fan_in, fan_out, n = fan_in * fan_out) stats::runif(n) * 0.01
)

#' Linear (fully connected) layer
#'
#' @description
#' Computes `x %*% weight + bias` for a batch `x` whose rows are samples:
#' `weight` is `in_features x out_features`, `bias` a vector of
#' `out_features` values (added to every row), as in tutorial 001's
#' `Linear`. Initial weights are drawn with R's RNG, so `set.seed()`
#' decides them; biases start at zero. `init` chooses the distribution:
#'
#' * `"glorot_uniform"` (default, as in Keras): `runif(in * out, -a, a)` with
#'   `a = sqrt(6 / (in + out))`. Keras's `glorot_uniform`, PyTorch's
#'   `nn.init.xavier_uniform_()`.
#' * `"glorot_normal"`: `rnorm(in * out, sd = sqrt(2 / (in + out)))`.
#'   PyTorch's `nn.init.xavier_normal_()`; Keras's `glorot_normal` truncates
#'   the normal at two standard deviations, this one does not.
#' * `"he_uniform"`: `runif(in * out, -a, a)` with `a = sqrt(6 / in)`, for
#'   ReLU-like activations. Keras's `he_uniform`, PyTorch's
#'   `nn.init.kaiming_uniform_(nonlinearity = "relu")`.
#' * `"he_normal"`: `rnorm(in * out, sd = sqrt(2 / in))`. PyTorch's
#'   `nn.init.kaiming_normal_(nonlinearity = "relu")`; Keras's `he_normal`
#'   truncates the normal, this one does not.
#' * `"normal"`: `rnorm(in * out)`, tutorial 002's initialization.
#' * `"uniform_small"`: `runif(in * out) * 0.01`, tutorial 003's.
#'
#' `l1` and `l2` add `l1 * sum(abs(weight)) + l2 * sum(weight^2)` to the
#' loss during training (Keras's `kernel_regularizer`; the bias is not
#' penalized). The history's loss includes this penalty, and the backward
#' pass adds its gradient, `l1 * sign(weight) + 2 * l2 * weight`.
#'
#' @section Shape:
#' Input `n x in_features`, output `n x out_features`.
#' @section Methods:
#' `Linear$new(in_features, out_features, init = "glorot_uniform", l1 = 0,
#' l2 = 0)` creates the layer; `$forward(x)`, `$backward(grad)`, `$params` and `$grads` are
#' those of [Layer].
#' @export
#' @examples
#' set.seed(1)
#' layer <- Linear$new(3, 2)
#' x <- matrix(rnorm(6), nrow = 2)
#' out <- layer$forward(x)
#' all.equal(out, x %*% layer$params$weight + rep(layer$params$bias, each = 2))
#' grad_x <- layer$backward(matrix(1, 2, 2))
#' layer$grads$weight   # t(x) %*% grad
Linear <- R6::R6Class("Linear",
  inherit = Layer,
  public = list(
    # @description Create a linear layer.
    # @param in_features Number of inputs (columns of `x`).
    # @param out_features Number of outputs.
    # @param init Initial weight distribution (see Description).
    # @param l1,l2 Penalties on the weight (see Description).
    initialize = function(in_features, out_features, init = "glorot_uniform", l1 = 0, l2 = 0) {
      in_features <- check_count(in_features)
      out_features <- check_count(out_features)
      check_param_size(as.double(in_features) * out_features, "a weight matrix",
                       c("in_features", "out_features"))
      check_choice(init, names(weight_initializers))
      penalties <- list(l1 = check_number(l1, min = 0), l2 = check_number(l2, min = 0))
      weight <- matrix(weight_initializers[[init]](in_features, out_features),
                       nrow = in_features, ncol = out_features)
      super$initialize("linear", in_features, out_features,
                       params = list(weight = weight, bias = rep(0, out_features)),
                       options = penalties[unlist(penalties) != 0])
    }
  ),
  private = list(
    .params_shape = function() {
      list(weight = c(private$.in, private$.out), bias = private$.out)
    }
  )
)

#' Dropout layer
#'
#' @description
#' During training, sets each input element to zero with probability
#' `rate` and multiplies the others by `1 / (1 - rate)`, so that the
#' expected output equals the input; at inference (`predict()`,
#' `evaluate()`, validation, `model$forward(x, training = FALSE)`) it passes
#' its input through unchanged. This "inverted" dropout is what Keras and
#' PyTorch do. Masks come from a seed drawn from R's RNG, so `set.seed()`
#' makes training with dropout reproducible.
#'
#' @section Shape:
#' Input `n x k`, output `n x k`.
#' @section Methods:
#' `Dropout$new(rate = 0.5)` creates the layer.
#' @export
#' @examples
#' set.seed(1)
#' model <- Sequential$new(Linear$new(4, 32), ReLU$new(), Dropout$new(0.2),
#'                         Linear$new(32, 3), Softmax$new())
#' fit(model, Species ~ ., data = iris, optimizer = "adam", epochs = 20)
#' model$forward(as.matrix(iris[1:2, 1:4]), training = FALSE)
Dropout <- R6::R6Class("Dropout",
  inherit = Layer,
  public = list(
    # @description Create a dropout layer.
    # @param rate Probability of dropping each element, in `[0, 1)`.
    initialize = function(rate = 0.5) {
      rate <- check_number(rate, min = 0, max = 1, max_inclusive = FALSE)
      super$initialize("dropout", options = list(rate = rate))
    }
  )
)
