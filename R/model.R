# The Sequential model: a stack of layers and the one Rust network behind it.
#
# The live engine is the model. The plain-R state (`private$.state`: dtype,
# layer specs, parameters, what it was last trained on) is its copy in R
# data, which saveRDS(), clone() and save_model() capture: every call that
# changes weights (a step, a training forward pass through batch
# normalization, the end of fit(), a pause of fit() before R callbacks run)
# copies them back into it, and weights assigned from R go into the engine
# at once. Nothing on the hot path re-checks the state: it is checked in
# full only where it comes from outside, when the engine is rebuilt from it
# (after readRDS(), in a clone, from load_model()).

#' Sequential model
#'
#' @description
#' A stack of layers applied in order. Train it with [fit()][fit.Sequential],
#' use it with [predict()][predict.Sequential] and [evaluate()], or drive it
#' by hand like tutorial 001: `out <- model$forward(x)`, `g <-
#' loss$grad(out, y)`, `model$backward(g)`, `optimizer$step(model)`.
#'
#' Computation is in float32 by default, like Keras and PyTorch; use
#' `dtype = "float64"` for exact comparisons with base R.
#'
#' Image models ([Conv2d], [MaxPool2d], [AvgPool2d], [BatchNorm]) take
#' arrays `n x channels x height x width` (`n x height x width` for one
#' channel). The model learns the shape of a sample from the first data it
#' sees (`model$input_shape`), or from `Sequential$new(..., input_shape =
#' c(channels, height, width))`; `print()` and `summary()` then show every
#' layer's output shape, such as `(n, 16, 26, 26)`.
#'
#' Models survive `saveRDS()`/`readRDS()` and `model$clone()` (the clone
#' trains independently of the original); [save_model()] writes a versioned
#' file, with the optimizer's state, that later versions of rustnn will read.
#'
#' [plot()][plot.Sequential] draws a model: every weight of a small dense
#' network, or one box per layer.
#'
#' @section Methods:
#' * `Sequential$new(..., dtype = "float32", input_shape = NULL)`: layers
#'   first to last (or one list of them); `input_shape` as above, optional.
#' * `$forward(x, training = TRUE, keep = FALSE)`: the output (a matrix,
#'   or an array for image outputs), keeping every layer's output for
#'   `$backward()`. `training = FALSE` runs dropout and batch normalization
#'   as `predict()` does. With `keep = TRUE`, returns every layer's output
#'   instead: a list named by layer (`linear_1`, `tanh_2`, ...: type and
#'   position), each a matrix with one row per sample (an array `n x
#'   channels x height x width` for image layers); the last is the output.
#' * `$backward(grad, keep = FALSE)`: from the gradient of the loss with
#'   respect to the output, fills every layer's `grads`; returns the
#'   gradient with respect to the input, invisibly. With `keep = TRUE`,
#'   returns the gradient of the loss with respect to every layer's output
#'   instead, named and shaped like `forward(keep = TRUE)`'s list.
#' * Fields: `layers`, `history` (of the last `fit()`), `dtype`,
#'   `input_shape`, `input_dim` (values per sample).
#'
#' @section Looking inside:
#' Tutorial 003 writes its 2-4-1 network's passes by hand, with `Z1`, `A1`,
#' `Z2`, `A2` going forward and `dZ2`, `dW2`, `dZ1` coming back. The same
#' quantities come out of a model: on its 320 training points,
#' `model$forward(x, keep = TRUE)` returns `linear_1` (`Z1`, 320 x 4),
#' `tanh_2` (`A1`, the hidden activations, 320 x 4), `linear_3` (`Z2`, 320
#' x 1) and `sigmoid_4` (`A2`, 320 x 1). After `model$backward(g, keep =
#' TRUE)` from `g`, the gradient of the loss with respect to `A2`, the list
#' holds the gradients with respect to each of them (`linear_3` is `dZ2`,
#' `linear_1` is `dZ1`), and each layer's `grads` holds `dW` and `db`.
#' [grad_check()] checks all of them against finite differences.
#' @seealso [grad_check()] to check backpropagation.
#' @export
#' @examples
#' set.seed(42)
#' model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
#' model
#' x <- matrix(rnorm(10), ncol = 2)
#' model$forward(x)
#'
#' # Every layer's output, and the gradients coming back (tutorial 003)
#' flower <- planar_flower()[1:320, ]
#' x <- scale(as.matrix(flower[, c("x1", "x2")]))
#' acts <- model$forward(x, keep = TRUE)
#' dim(acts$tanh_2)   # A1: 320 x 4
#' grads <- model$backward(BCELoss$new()$grad(acts$sigmoid_4, flower$y), keep = TRUE)
#' dim(grads$linear_1)   # dZ1: 320 x 4
#' model$layers[[1]]$grads$weight   # dW1 = t(x) %*% dZ1
#'
#' # An image model, with its input shape given up front
#' cnn <- Sequential$new(Conv2d$new(1, 8, 3), ReLU$new(), MaxPool2d$new(2), Flatten$new(),
#'                       Linear$new(8 * 13 * 13, 10), Softmax$new(), input_shape = c(28, 28))
#' summary(cnn)
Sequential <- R6::R6Class("Sequential",
  public = list(
    # @description Create a model from layers.
    # @param ... Layer objects (or one list of them), first to last. A layer
    #   that already belongs to another model is copied.
    # @param dtype `"float32"` (default) or `"float64"`.
    # @param input_shape Shape of one input sample: `c(channels, height,
    #   width)` (or `c(height, width)` for one channel) for image models,
    #   `c(features)` otherwise. Optional: taken from the first data the
    #   model sees.
    initialize = function(..., dtype = "float32", input_shape = NULL) {
      layers <- list(...)
      if (length(layers) == 1L && is.list(layers[[1]]) && !inherits(layers[[1]], "R6")) {
        layers <- layers[[1]]
      }
      check_choice(dtype, c("float32", "float64"))
      check_layers(layers)
      input_shape <- check_input_shape(input_shape)
      layers <- lapply(layers, function(l) if (is.null(l$model)) l else l$.detached_copy())
      private$.state <- list(
        format = 1L,
        dtype = dtype,
        input_shape = input_shape,
        specs = lapply(layers, function(l) l$.spec()),
        params = lapply(layers, function(l) l$params),
        target = NULL,
        loss = NULL,
        optimizer = NULL,
        optimizer_state = NULL,
        preprocess = NULL,
        history = NULL
      )
      for (i in seq_along(layers)) layers[[i]]$.attach(self, i)
      private$.layers <- layers
      # Built now when the layers alone fix the input's shape (or it was
      # given), so that a bad input shape fails here and the first call
      # pays nothing; an image model waits for its first data.
      if (!is.null(input_shape) || !needs_input_shape(private$.state$specs)) {
        private$build(arg = if (is.null(input_shape)) "..." else "input_shape",
                      call = rlang::current_env(), checked = TRUE)
      }
    },

    # @description Forward pass, keeping every layer's output for `backward()`.
    # @param x Numeric matrix or data frame, one sample per row; or an
    #   array of images `n x channels x height x width` (`n x height x
    #   width` for one channel).
    # @param training Training mode (dropout active, batch normalization
    #   using batch statistics, as in PyTorch's default `train()` mode), or
    #   inference (as in `predict()`).
    # @param keep Return every layer's output (a list named by layer), not
    #   just the last?
    # @return The output as a matrix (an array for image outputs); with
    #   `keep = TRUE`, a named list of every layer's output.
    forward = function(x, training = TRUE, keep = FALSE) {
      model_forward(self, private, x, training, keep, environment())
    },

    # @description Backward pass from the gradient of the loss with respect
    #   to the output of the last `forward()`; fills every layer's `grads`.
    # @param grad Numeric matrix (or array) shaped like the output.
    # @param keep Return the gradient of the loss with respect to every
    #   layer's output (a list named by layer)?
    # @return The gradient with respect to the input, shaped like it,
    #   invisibly; with `keep = TRUE`, a named list of the gradients with
    #   respect to every layer's output.
    backward = function(grad, keep = FALSE) {
      force(grad) # may run the forward pass: model$backward(loss$grad(model$forward(x), y))
      model_backward(self, private, grad, keep, environment())
    },

    # @description Text describing the model: layers, output shapes and
    #   parameter counts.
    # @param ... Unused.
    format = function(...) {
      format_model(self, self$.get_state())
    },

    # @description Print the model.
    # @param ... Unused.
    print = function(...) {
      writeLines(self$format())
      invisible(self)
    },

    # @description Internal: parameters of layer `i`.
    # @param i Layer index.
    .layer_params = function(i) private$.state$params[[i]],

    # @description Internal: set the parameters of layer `i` (validated by
    #   the layer). A live engine takes them at once, so a callback that
    #   changes weights during `fit()` changes the next batch's.
    # @param i Layer index.
    # @param value Named list of parameters.
    .set_layer_params = function(i, value) {
      for (nm in names(value)) {
        check_dtype_range(value[[nm]], private$.state$dtype, paste0("params$", nm),
                          rlang::caller_env(3))
      }
      if (private$live()) {
        for (nm in names(value)) {
          rust_call(rn_set_param(private$.engine_ptr, i, nm, value[[nm]]))
        }
        private$.grads_ready <- FALSE
      }
      private$.state$params[[i]] <- value
      invisible(self)
    },

    # @description Internal: gradients of layer `i` after `backward()`.
    # @param i Layer index.
    .layer_grads = function(i) {
      if (!private$.grads_ready || length(private$.state$params[[i]]) == 0L) return(list())
      rust_call(rn_params(private$engine(), TRUE))[[i]]
    },

    # @description Internal: one optimizer step; returns the new optimizer state.
    # @param description Optimizer description from `Optimizer$.description()`.
    .optimizer_step = function(description) model_step(self, private, description),

    # @description Internal: the Rust network, rebuilt if needed.
    .engine = function() private$engine(call = rlang::caller_env()),

    # @description Internal: the shape of a sample entering each layer,
    #   then the output's (`NULL` entries where any width goes), or `NULL`
    #   while an image model has not seen data yet.
    .shapes = function() {
      if (private$live()) return(private$.facts$shapes)
      st <- self$.get_state()
      if (needs_input_shape(st$specs) && is.null(st$input_shape)) {
        # Known anyway when a linear layer comes first.
        return(tryCatch(rust_call(rn_shapes(build_engine(st$dtype, st$specs, list(),
                                                         layers = private$.layers))),
                        rustnn_error = function(e) NULL))
      }
      private$engine()
      private$.facts$shapes
    },

    # @description Internal: check that a batch fits the model; an image
    #   model without an input shape takes the batch's.
    # @param x Batch from `as_input_batch()`.
    # @param arg,call For error messages.
    .resolve_input = function(x, arg, call = rlang::caller_env()) {
      model_resolve_input(self, private, x, arg, call)
    },

    # @description Internal: record what the model was last trained on;
    #   its weights are the engine's (see `.sync_params()`).
    # @param target,loss,optimizer,history,preprocess Description of the
    #   last training (`loss` as `Loss$.description()`, with its settings;
    #   `optimizer` an object that nothing changes afterwards).
    # @param optimizer_state The optimizer's state after it (`list(steps,
    #   slots)`), kept as plain data: it changes with every fit().
    .after_fit = function(target, loss, optimizer, history, preprocess, optimizer_state = NULL) {
      private$sync_params()
      private$.state$target <- target
      private$.state$loss <- loss
      private$.state$optimizer <- optimizer
      private$.state["optimizer_state"] <- list(optimizer_state)
      private$.state$history <- history
      private$.state$preprocess <- preprocess
      private$.forward_rows <- NULL
      private$.grads_ready <- FALSE
      invisible(self)
    },

    # @description Internal: copy the engine's weights into the model's
    #   plain-R state, which `saveRDS()`, `clone()` and `save_model()`
    #   capture: `fit()` calls it before R callbacks run and when it ends.
    .sync_params = function() {
      if (private$live()) private$sync_params()
      invisible(self)
    },

    # @description Internal: the model's plain-R state: as it is while the
    #   engine is live (the state is then the engine's own), checked when
    #   it comes from outside (a model read by `readRDS()`).
    .get_state = function() {
      if (private$live()) private$.state else check_state(private$.state, call = rlang::caller_env())
    },

    # @description Internal: set how new inputs are prepared (by mlp_sequential()).
    # @param preprocess List of `terms`, `xlevels`, `center`, `scale`.
    .set_preprocess = function(preprocess) {
      private$.state$preprocess <- preprocess
      invisible(self)
    },

    # @description Internal: mark the model as being trained by `fit()`
    #   (`handle`, its session) or not (`NULL`).
    # @param handle The session from `rn_fit_start()`, or `NULL`.
    .set_fitting = function(handle) {
      private$.fitting <- handle
      invisible(self)
    },

    # @description Internal: mark the model as running R code of its own
    #   layers inside the engine (see custom.R), when nothing may call it.
    # @param busy `TRUE` or `FALSE`.
    .set_busy = function(busy) {
      private$.busy <- busy
      invisible(self)
    },

    # @description Internal: refuse `what` while `fit()` trains this model
    #   (from one of its own callbacks): the engine is in the middle of it.
    # @param what The refused call, for the message.
    .check_idle = function(what) {
      if (!is.null(private$.fitting) && rn_fit_live(private$.fitting)) {
        cli::cli_abort(c("{.code {what}} cannot run on a model that {.fn fit} is training.",
                         i = "It was called from one of the model's own callbacks. Callbacks may read and change the weights, call {.fn predict}, {.fn evaluate} or {.fn save_model}; train another model (or {.code model$clone()}) instead."),
                       class = c("rustnn_error_busy", "rustnn_error_state", "rustnn_error"),
                       call = rlang::caller_env(2))
      }
      invisible(self)
    }
  ),

  active = list(
    # @field layers The layers, in order (read-only list; assign their
    #   `params` to change weights).
    layers = function(value) {
      private$own_layers()
      if (!missing(value)) {
        same <- is.list(value) && length(value) == length(private$.layers) &&
          all(mapply(identical, value, private$.layers))
        if (!same) {
          abort_arg("{.field layers} cannot be replaced; build a new {.cls Sequential} instead.", "layers")
        }
      }
      private$.layers
    },

    # @field history The `rustnn_history` of the last `fit()`, or `NULL`.
    history = function(value) {
      if (!missing(value)) abort_arg("{.field history} is read-only.", "history")
      private$.state$history
    },

    # @field dtype `"float32"` or `"float64"` (read-only).
    dtype = function(value) {
      if (!missing(value)) abort_arg("{.field dtype} is read-only.", "dtype")
      private$.state$dtype
    },

    # @field input_dim Number of input values per sample the model expects
    #   (`NA` if any, or not known yet).
    input_dim = function(value) {
      if (!missing(value)) abort_arg("{.field input_dim} is read-only.", "input_dim")
      shape <- self$input_shape
      if (is.null(shape)) NA_integer_ else as.integer(prod(shape))
    },

    # @field input_shape Shape of one input sample: `c(channels, height,
    #   width)` for images, `c(features)` otherwise; `NULL` if not known.
    input_shape = function(value) {
      if (!missing(value)) abort_arg("{.field input_shape} is read-only.", "input_shape")
      private$.state$input_shape %||% self$.shapes()[[1]]
    }
  ),

  private = list(
    # The plain-R state (see the top of this file), the layer objects, the
    # engine and what is known of it (`rn_facts()`: shapes, whether a
    # training pass is random or moves buffers), the state of a manual
    # pass, and the fit() session training the model, if any.
    .state = NULL,
    .layers = list(),
    .engine_ptr = NULL,
    .engine_owner = NULL,
    .engine_session = NULL,
    .facts = NULL,
    .grads_ready = FALSE,
    .forward_rows = NULL,
    .fitting = NULL,
    .busy = FALSE,

    # Whether this object's own engine is alive: not after readRDS() (the
    # pointer is NULL, and the session token a copy; see catalog.R) nor in a
    # clone (the pointer is its original's).
    live = function() model_live(self, private),

    # The engine: this object's live one, or one built from the state
    # (checked in full: it comes from outside). `arg` and `call` name the
    # culprit if the layers do not take the input shape.
    engine = function(arg = "...", call = rlang::caller_env()) {
      if (private$.busy) abort_busy_engine(call)
      if (model_live(self, private)) return(private$.engine_ptr)
      private$build(arg, call)
    },

    build = function(arg, call, checked = FALSE) {
      # Layers written in R run as the engine's: they must be this model's
      # own objects, not a clone's original's.
      if (!checked) private$own_layers()
      st <- if (checked) private$.state else check_state(private$.state, values = TRUE, call)
      ptr <- build_engine(st$dtype, st$specs, st$params, st$input_shape, arg = arg, call = call,
                          layers = private$.layers)
      if (!checked) check_state_params(st$params, ptr, call)
      private$.state <- st
      private$.engine_ptr <- ptr
      private$.engine_owner <- self
      private$.engine_session <- the$session
      private$.facts <- rust_call(rn_facts(ptr), call = call)
      private$.grads_ready <- FALSE
      private$.forward_rows <- NULL
      ptr
    },

    # Before the engine exists: an image model takes the shape of the
    # first batch it sees (building the engine checks that the layers take
    # it; if they do not, the model stays without one).
    adopt_input_shape = function(got, columns, arg, call) {
      st <- check_state(private$.state, call = call)
      images <- length(st$input_shape) == 3L || has_layer(st$specs, image_layer_types)
      if (images && length(got) != 3L) {
        abort_arg(c("{.arg {arg}} must be an array of images, {.code n x channels x height x width} (or {.code n x height x width} for one channel), for a model of images.",
                    x = "It is a matrix of {columns} column{?s}."), arg, call = call)
      }
      if (needs_input_shape(st$specs) && is.null(st$input_shape)) {
        private$.state$input_shape <- as.integer(got)
        withCallingHandlers(private$build(arg, call),
                            error = function(e) private$.state$input_shape <- NULL)
      } else {
        private$engine(arg, call)
      }
    },

    # Every layer's output (or its gradient) from the engine's last pass,
    # shaped like the layer's output and named by layer.
    kept = function(grads) {
      kept <- rust_call(rn_kept(private$engine(), grads))
      kept <- Map(rows_to_images, kept, private$.facts$shapes[-1L])
      stats::setNames(kept, layer_names(private$.state$specs))
    },

    sync_params = function() {
      private$keep_params(rust_call(rn_params(private$.engine_ptr, FALSE)))
    },

    keep_params = function(params) {
      private$.state$params <- params
    },

    # A clone shares its original's layer objects until it makes its own;
    # a model from outside (readRDS()) has its layer objects checked.
    own_layers = function() {
      layers <- private$.layers
      if (!private$live() && !(is.list(layers) && length(layers) == length(self$.get_state()$specs) &&
            all(vapply(layers, inherits, logical(1), "Layer")))) {
        abort_corrupt_state("its layer objects are not one layer per layer description.",
                            rlang::caller_env(2))
      }
      if (length(layers) && !identical(layers[[1]]$model, self)) {
        private$.layers <- lapply(seq_along(layers), function(i) layers[[i]]$clone()$.attach(self, i))
      }
    },

    deep_clone = function(name, value) {
      if (name %in% c(".engine_ptr", ".engine_owner", ".engine_session", ".facts", ".fitting")) NULL else value
    }
  )
)

# The hot methods' bodies. R6 gives each object its own copies of its
# methods, which R then runs without byte-compiling them; these functions
# are compiled with the package, so a method hands over to one at once.
# `call` is the method's frame, the call that errors are reported against.

#' Whether the model's own engine is alive: not after readRDS() (the
#' pointer is NULL, and the session token a copy; see catalog.R) nor in a
#' clone (the pointer is its original's).
#' @noRd
model_live <- function(self, private) {
  identical(private$.engine_owner, self) && identical(private$.engine_session, the$session)
}

model_forward <- function(self, private, x, training, keep, call) {
  if (!is.null(private$.fitting)) self$.check_idle("model$forward()")
  check_flag(training, call = call)
  check_flag(keep, call = call)
  x <- as_input_batch(x, "x", call)
  model_resolve_input(self, private, x, "x", call)
  engine <- private$engine(call = call)
  facts <- private$.facts
  seed <- forward_seed(training && facts$random)
  out <- rust_call(rn_forward(engine, x, training, seed), call = call)
  private$.grads_ready <- FALSE
  private$.forward_rows <- nrow(x)
  # Batch normalization moved its running statistics: keep them.
  if (training && facts$buffers) private$sync_params()
  if (keep) return(private$kept(grads = FALSE))
  rows_to_images(out, facts$shapes[[length(facts$shapes)]])
}

model_backward <- function(self, private, grad, keep, call) {
  if (!is.null(private$.fitting)) self$.check_idle("model$backward()")
  if (is.null(private$.forward_rows)) {
    cli::cli_abort(c("{.code model$backward()} needs a forward pass first.",
                     i = "Call {.code model$forward(x)} before it."),
                   class = c("rustnn_error_state", "rustnn_error"), call = call)
  }
  check_flag(keep, call = call)
  engine <- private$engine(call = call)
  shapes <- private$.facts$shapes
  grad <- check_output_grad(grad, shapes[[length(shapes)]], call)
  check_dtype_range(grad, private$.state$dtype, "grad", call)
  out <- rust_call(rn_backward(engine, grad), call = call)
  private$.grads_ready <- TRUE
  if (keep) return(private$kept(grads = TRUE))
  invisible(rows_to_images(out, shapes[[1]]))
}

#' One optimizer step, from `optimizer$step(model)`: errors name the frame
#' that called `$step()` (four up: this method, `optimizer_step()`,
#' `$step()`, its caller).
#' @noRd
model_step <- function(self, private, description) {
  if (!is.null(private$.fitting)) self$.check_idle("optimizer$step()")
  if (!private$.grads_ready) {
    cli::cli_abort(c("There are no gradients to step with.",
                     i = "Call {.code model$backward(grad)} before {.code optimizer$step(model)}."),
                   class = c("rustnn_error_state", "rustnn_error"), call = rlang::caller_env(4))
  }
  stepped <- rust_call(rn_step(private$engine(), description))
  private$keep_params(stepped$params)
  stepped$state
}

model_resolve_input <- function(self, private, x, arg, call) {
  check_dtype_range(x, private$.state$dtype, arg, call)
  got <- sample_shape(x)
  if (!model_live(self, private)) private$adopt_input_shape(got, ncol(x), arg, call)
  want <- private$.facts$shapes[[1]]
  if (length(want) == 3L) {
    if (length(got) != 3L) {
      abort_arg(c("{.arg {arg}} must be an array of images, {.code n x channels x height x width} (or {.code n x height x width} for one channel), for a model of images.",
                  x = "It is a matrix of {ncol(x)} column{?s}."), arg, call = call)
    }
    if (!identical(got, want)) {
      abort_arg("{.arg {arg}} has samples of shape {format_shape(got)}, but the model takes {format_shape(want)}.",
                arg, call = call)
    }
  } else if (!is.null(want) && prod(got) != want) {
    if (length(got) == 1L) {
      abort_arg("{.arg {arg}} has {ncol(x)} column{?s}, but the model expects {want}.", arg, call = call)
    }
    abort_arg("{.arg {arg}} has samples of shape {format_shape(got)} ({prod(got)} values), but the model expects {want} values per sample.",
              arg, call = call)
  }
  invisible(self)
}

#' A model's plain-R state, in its current form and checked (the rules are
#' in state.R): it may come from readRDS() of a damaged or edited file, and
#' the engine is rebuilt from it, so a corrupt state must fail with a
#' classed error, not predict garbage or reach the engine with sizes it
#' cannot allocate. Parameter values (NA, infinite) are scanned only with
#' `values = TRUE`, before the engine is rebuilt: that costs a pass over
#' every weight.
#' @noRd
check_state <- function(st, values = FALSE, call = rlang::caller_env()) {
  st <- upgrade_state(st)
  problem <- state_problem(st, values)
  # The one field a file holds in another form (see state.R).
  if (is.null(problem) && !is.null(st$optimizer) && !inherits(st$optimizer, "Optimizer")) {
    problem <- "its optimizer is not an optimizer object."
  }
  if (!is.null(problem)) abort_corrupt_state(problem, call)
  st
}

abort_corrupt_state <- function(problem, call) {
  cli::cli_abort(c("The model's state is corrupt: {problem}",
                   i = "Build the model again, or load an intact copy."),
                 class = c("rustnn_error_state", "rustnn_error"), call = call)
}

#' A state kept by saveRDS() in an earlier version of rustnn, in the current
#' form: the last loss was kept as its bare name (now its description, with
#' the default settings that name gave), and refitting a formula model left
#' `NA`-named `NULL` entries in `preprocess`.
#' @noRd
upgrade_state <- function(st) {
  if (!is.list(st)) return(st)
  loss <- st$loss
  if (is.character(loss) && length(loss) == 1L && !is.na(loss) && loss %in% catalog("losses")) {
    st$loss <- Loss$new(loss)$.description()
  }
  # The optimizer's state was kept inside the optimizer object.
  if (!"optimizer_state" %in% names(st) && inherits(st$optimizer, "Optimizer")) {
    st["optimizer_state"] <- list(st$optimizer$state)
  }
  pre <- st$preprocess
  if (is.list(pre) && anyNA(names(pre))) {
    st$preprocess <- pre[!(is.na(names(pre)) & vapply(pre, is.null, logical(1)))]
  }
  st
}

#' After the engine is rebuilt from a state: each layer's parameters must be
#' exactly the ones the engine has (a missing one would silently keep the
#' engine's initial values).
#' @noRd
check_state_params <- function(params, ptr, call) {
  expected <- lapply(rust_call(rn_params(ptr, FALSE), call = call), names)
  for (i in seq_along(expected)) {
    have <- names(params[[i]]) %||% character()
    want <- expected[[i]] %||% character()
    if (!setequal(have, want)) {
      abort_corrupt_state(paste0("layer ", i, " has parameters ",
                                 if (length(have)) paste(have, collapse = ", ") else "none",
                                 " instead of ", if (length(want)) paste(want, collapse = ", ") else "none", "."),
                          call)
    }
  }
}

check_layers <- function(layers, call = rlang::caller_env()) {
  if (length(layers) == 0L) {
    abort_arg("A model needs at least one layer.", "...", call = call)
  }
  builtin <- vapply(layer_classes(), function(g) g$classname, character(1))
  for (i in seq_along(layers)) {
    if (!inherits(layers[[i]], "Layer")) {
      abort_arg("Layer {i} must be a layer object such as {.code Linear$new(2, 4)}, not {.obj_type_friendly {layers[[i]]}}.",
                "...", call = call)
    }
    # A subclass of a built-in layer would have its own methods ignored
    # (the engine runs the built-in one); a layer written in R must say
    # what it computes.
    cls <- class(layers[[i]])
    if (!cls[1] %in% builtin && (any(cls %in% builtin) || cls[1] == "Layer" ||
                                 !is_custom_layer(layers[[i]]))) {
      abort_custom_layer(cls, i, call)
    }
    if (!cls[1] %in% builtin) check_custom_layer(layers[[i]], i, call)
  }
  # Whether the layers fit together is the engine's to say, when it is
  # built (see build_engine()).
  invisible(layers)
}

image_layer_types <- c("conv2d", "max_pool2d", "avg_pool2d")

#' Whether any of these layer specs is of one of `types`.
#' @noRd
has_layer <- function(specs, types) {
  any(vapply(specs, function(s) s$type %in% types, logical(1)))
}

#' Names for a model's layers, from their engine type and position
#' ("linear_1", "tanh_2", ...): the names of kept activations, gradients,
#' grad_check() rows and tracked weights.
#' @noRd
layer_names <- function(specs) {
  # A layer written in R is named by its class.
  kinds <- vapply(specs, function(s) if (identical(s$type, "custom")) tolower(s$class) else s$type,
                  character(1))
  paste0(kinds, "_", seq_along(specs))
}

#' Whether a model with these layer specs needs to know its input's shape
#' (image layers, and batch normalization, which reads channels); the
#' engine tells the ones a linear layer fixes.
#' @noRd
needs_input_shape <- function(specs) {
  # A layer written in R that comes first learns its width from the input.
  has_layer(specs, c(image_layer_types, "batch_norm")) || identical(specs[[1]]$type, "custom")
}

#' `input_shape` as given to Sequential$new(): NULL, c(features),
#' c(height, width) (one channel) or c(channels, height, width).
#' @noRd
check_input_shape <- function(input_shape, call = rlang::caller_env()) {
  if (is.null(input_shape)) return(NULL)
  ok <- is.numeric(input_shape) && length(input_shape) %in% 1:3 && !anyNA(input_shape) &&
    all(input_shape >= 1) && all(input_shape == round(input_shape))
  if (!ok) {
    abort_arg("{.arg input_shape} must be {.code c(channels, height, width)}, {.code c(height, width)} or {.code c(features)}: whole numbers of at least 1.",
              "input_shape", call = call)
  }
  if (length(input_shape) == 2L) input_shape <- c(1, input_shape)
  as.integer(input_shape)
}

#' A model that saveRDS() kept in an earlier version of rustnn carries that
#' version's methods (R6 objects hold their code): it predicts, but cannot
#' be trained by this version's fit(). Such an object lacks `.check_idle()`,
#' which every model of this version has.
#' @noRd
check_current_model <- function(model, arg, call = rlang::caller_env()) {
  if (!is.function(model$.check_idle)) {
    cli::cli_abort(c("{.arg {arg}} is a model that {.fn saveRDS} kept in an earlier version of rustnn, with that version's code.",
                     i = "Make it a model of this version with {.code model <- load_model(save_model(model, tempfile()))}.",
                     i = "{.fn save_model} files load in later versions; {.fn saveRDS} keeps a model for the same version."),
                   class = c("rustnn_error_outdated", "rustnn_error_state", "rustnn_error"),
                   call = call)
  }
}

check_model <- function(model, arg, call = rlang::caller_env()) {
  if (!inherits(model, "Sequential")) {
    abort_arg("{.arg {arg}} must be a {.cls Sequential} model, not {.obj_type_friendly {model}}.",
              arg, call = call)
  }
}

#' Output width of a model for a batch `x` it has accepted.
#' @noRd
model_output_dim <- function(model, x) {
  shapes <- model$.shapes()
  out <- if (!is.null(shapes)) shapes[[length(shapes)]]
  if (is.null(out)) prod(sample_shape(x)) else prod(out)
}

#' One row per layer: its class, output shape, and trainable and other
#' (batch-normalization statistics) parameter counts.
#' @noRd
layer_table <- function(model, state) {
  layers <- model$layers
  shapes <- model$.shapes()
  rows <- lapply(seq_along(layers), function(i) {
    params <- state$params[[i]]
    sizes <- vapply(params, length, integer(1))
    fixed <- names(params) %in% catalog("buffers")
    data.frame(layer = class(layers[[i]])[1],
               output_shape = format_shape(if (!is.null(shapes)) shapes[[i + 1L]]),
               params = sum(sizes), trainable = sum(sizes[!fixed]),
               stringsAsFactors = FALSE)
  })
  tab <- do.call(rbind, rows)
  # The names kept activations, grad_check() and tracking use.
  tab$name <- layer_names(state$specs)
  tab
}

format_model <- function(model, state) {
  tab <- layer_table(model, state)
  header <- sprintf("<Sequential> %s, %d layer%s, %s parameters", state$dtype, nrow(tab),
                    if (nrow(tab) == 1L) "" else "s", format(sum(tab$params), big.mark = ","))
  body <- format(data.frame(`#` = seq_len(nrow(tab)), Layer = tab$layer,
                            `Output shape` = tab$output_shape,
                            Params = format(tab$params, big.mark = ","),
                            check.names = FALSE), justify = "left")
  lines <- utils::capture.output(print(body, row.names = FALSE, right = FALSE))
  c(header, paste0("  ", lines))
}

#' Summarise a model
#'
#' Lists layers, output shapes and parameter counts, with totals, like
#' Keras's `summary()`.
#'
#' @param object A [Sequential] model.
#' @param ... Unused.
#' @return An object of class `summary.Sequential`: a list with `layers` (a
#'   data frame), `total_params`, `trainable_params` (all but batch
#'   normalization's running statistics), `dtype`, `input_dim`,
#'   `input_shape`.
#' @export
#' @examples
#' model <- Sequential$new(Linear$new(4, 40), Sigmoid$new(), Linear$new(40, 3), Softmax$new())
#' summary(model)
summary.Sequential <- function(object, ...) {
  state <- object$.get_state()
  tab <- layer_table(object, state)
  structure(list(layers = tab, total_params = sum(tab$params),
                 trainable_params = sum(tab$trainable), dtype = state$dtype,
                 input_dim = object$input_dim, input_shape = object$input_shape,
                 trained_with = if (!is.null(state$loss)) loss_label(state$loss)),
            class = "summary.Sequential")
}

#' @export
format.summary.Sequential <- function(x, ...) {
  tab <- x$layers
  cells <- rbind(c("Layer (type)", "Output shape", "Param #"),
                 cbind(paste0(tab$name, " (", tab$layer, ")"),
                       tab$output_shape, format(tab$params, big.mark = ",")))
  widths <- apply(cells, 2L, function(col) max(nchar(col)))
  row_text <- function(r) {
    paste0(" ", formatC(r[1], width = -widths[1]), "   ", formatC(r[2], width = -widths[2]),
           "   ", formatC(r[3], width = widths[3]))
  }
  rule <- function(ch) strrep(ch, sum(widths) + 7L)
  c(sprintf("Model: Sequential, %s, input %s", x$dtype, format_shape(x$input_shape)),
    rule("-"), row_text(cells[1, ]), rule("="),
    vapply(seq_len(nrow(tab)) + 1L, function(i) row_text(cells[i, ]), character(1)),
    rule("-"),
    sprintf("Total params: %s", format(x$total_params, big.mark = ",")),
    sprintf("Trainable params: %s", format(x$trainable_params, big.mark = ",")),
    sprintf("Non-trainable params: %s", format(x$total_params - x$trainable_params, big.mark = ",")),
    if (!is.null(x$trained_with)) sprintf("Last trained with loss: %s", x$trained_with))
}

#' @export
print.summary.Sequential <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}
