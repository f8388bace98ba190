# Layers written in R, the tutorial's way: a class that inherits from
# Layer, sets `self$params` and writes forward(inputs) and backward(grad),
# filling `self$grads`. In a model, the engine keeps their parameters (so
# the optimizers train them with the others, by the same rules) and, for
# their passes, calls the two closures custom_layer_calls() makes, which
# run the user's methods on R's thread (see src/rust/glue/src/custom.rs).
#
# Nothing the user's code does may unwind through the engine: the closures
# catch errors and interrupts (kept in `the$custom_failure`, raised again
# by rust_call() once the engine has returned) and hold back warnings and
# messages (`the$custom_conditions`, signalled then, where the handlers
# around the call see them).

#' Whether a layer is written in R: a class of the user's, whose
#' initialize() did not name an engine type.
#' @noRd
is_custom_layer <- function(layer) {
  is.null(layer$.__enclos_env__$private$.type)
}

#' A custom layer's description in a model's state.
#' @noRd
custom_spec <- function(layer) {
  list(type = "custom", class = class(layer)[1], in_features = NA_integer_,
       out_features = NA_integer_)
}

#' The dimensions of a parameter as the engine keeps them.
#' @noRd
param_dims <- function(p) as.double(dim(p) %||% length(p))

#' What the engine needs of custom layer `layer` (its description for
#' rn_new()): its name, parameter shapes, output width and the closures.
#' The width is the class's `out_features` field if it has one, else that
#' of forward() run once on two rows of zeros of `in_width` columns.
#' @noRd
custom_engine_def <- function(layer, params, in_width, call) {
  calls <- custom_layer_calls(layer, params)
  out_width <- layer$out_features
  if (!(is.numeric(out_width) && length(out_width) == 1L && !is.na(out_width))) {
    probe <- calls$forward(matrix(0, 2L, in_width), lapply(params, as.double), FALSE)
    raise_custom_failure(call)
    out_width <- ncol(probe)
  }
  calls$expect_width(out_width)
  list(name = class(layer)[1], out_width = as.double(out_width),
       params = lapply(params, param_dims), forward = calls$forward, backward = calls$backward)
}

#' The closures the engine calls for a custom layer: `forward(x, params,
#' training)` gives the layer's output for engine params (flat, in the
#' order of `template`, the layer's named parameters), `backward(grad)`
#' gives `list(grad_input, grads)`. Each returns NULL if the user's code
#' failed or returned something unusable (the reason kept for rust_call()).
#' @noRd
custom_layer_calls <- function(layer, template) {
  private <- layer$.__enclos_env__$private
  names <- names(template)
  shaped <- function(values) {
    out <- Map(function(v, like) {
      if (!is.null(dim(like))) dim(v) <- dim(like)
      v
    }, values, template)
    stats::setNames(out, names)
  }
  takes_training <- "training" %in% names(formals(layer$forward))
  width <- NULL     # the output's, once known
  input_dim <- NULL # of the last forward pass
  forward <- function(x, params, training) {
    private$.engine_params <- shaped(params)
    input_dim <<- dim(x)
    in_engine(layer, "forward", function() {
      out <- if (takes_training) layer$forward(x, training = training) else layer$forward(x)
      # The probe that finds the width (on zeros) only needs a matrix.
      check_custom_matrix(out, c(nrow(x), width %||% NA), layer, "forward", "its output",
                          finite = !is.null(width))
    })
  }
  backward <- function(grad) {
    private$.engine_grads <- list()
    in_engine(layer, "backward", function() {
      grad_input <- check_custom_matrix(layer$backward(grad), input_dim, layer, "backward",
                                        "the gradient with respect to its input")
      grads <- private$.engine_grads
      unset <- setdiff(names, names(grads))
      if (length(unset)) {
        abort_custom_call(layer, "backward",
                          "left {.field grads${unset}} unset: it must fill {.field self$grads} with the gradient of every parameter ({.field {names}}).")
      }
      for (n in names) {
        if (!same_shape(grads[[n]], template[[n]])) {
          abort_custom_call(layer, "backward",
                            "set {.field grads${n}} to {shape_text(grads[[n]])}, but {.field params${n}} is {shape_text(template[[n]])}: a gradient has its parameter's shape.")
        }
      }
      list(grad_input, lapply(grads[names], as.double))
    })
  }
  list(forward = forward, backward = backward, expect_width = function(w) width <<- w)
}

#' Runs `f()` as the engine's call of a custom layer's `method`: the
#' layer's `params` and `grads` are the engine's meanwhile.
#' @noRd
in_engine <- function(layer, method, f) {
  private <- layer$.__enclos_env__$private
  private$.in_engine <- TRUE
  model <- private$.model
  if (!is.null(model)) model$.set_busy(TRUE)
  on.exit({
    private$.in_engine <- FALSE
    if (!is.null(model)) model$.set_busy(FALSE)
  })
  guarded(f, function(e) abort_custom_call(layer, method, "failed.", parent = e))
}

#' Runs R code the engine called (`f()`), so that nothing unwinds through
#' the engine: an error or interrupt is kept (an error not of the package's
#' own made into one by `wrap(e)`) and NULL returned; warnings and messages
#' are held back. rust_call() raises and signals them once the engine has
#' returned.
#' @noRd
guarded <- function(f, wrap) {
  hold <- function(cnd) {
    the$custom_conditions <- c(the$custom_conditions, list(cnd))
    rlang::cnd_muffle(cnd)
  }
  keep <- function(cnd) {
    the$custom_failure <- if (inherits(cnd, c("rustnn_error", "interrupt"))) cnd else
      tryCatch(wrap(cnd), error = identity)
    NULL
  }
  tryCatch(withCallingHandlers(f(), warning = hold, message = hold),
           error = keep, interrupt = keep)
}

#' A custom layer's result as a double matrix of dimensions `want` (`NA`
#' for any), finite, or a classed error.
#' @noRd
check_custom_matrix <- function(x, want, layer, method, what, finite = TRUE) {
  if (!(is.matrix(x) && (is.numeric(x) || is.logical(x)))) {
    abort_custom_call(layer, method,
                      "must return {what} as a numeric matrix (one row per sample), not {.obj_type_friendly {x}}.")
  }
  if (!all(is.na(want) | dim(x) == want)) {
    shown <- paste(ifelse(is.na(want), "any", want), collapse = " x ")
    abort_custom_call(layer, method,
                      "returned {what} as a {nrow(x)} x {ncol(x)} matrix, but it must be {shown}.")
  }
  if (finite && !all(is.finite(x))) {
    abort_custom_call(layer, method, "returned {what} with NA, NaN or infinite values.")
  }
  storage.mode(x) <- "double"
  x
}

abort_custom_call <- function(layer, method, problem, parent = NULL, .envir = parent.frame()) {
  who <- cli::format_inline("Layer {.cls {class(layer)[1]}}'s {.fn {method}}")
  cli::cli_abort(paste(who, cli::format_inline(problem, .envir = .envir)),
                 parent = parent, class = c("rustnn_error_custom_layer", "rustnn_error"),
                 call = NULL)
}

#' After a call into the engine: the warnings and messages custom layers
#' held back, signalled here, and the failure that stopped one, raised.
#' @noRd
raise_custom_failure <- function(call) {
  held <- the$custom_conditions
  the$custom_conditions <- NULL
  for (cnd in held) {
    if (inherits(cnd, "warning")) warning(cnd) else message(cnd)
  }
  failure <- the$custom_failure
  if (is.null(failure)) return(invisible())
  the$custom_failure <- NULL
  if (inherits(failure, "interrupt")) rlang::interrupt()
  rlang::cnd_signal(failure)
}

#' Checks the parameters a custom layer sets: a named list of numeric
#' matrices or vectors, finite.
#' @noRd
check_custom_params <- function(value, field = "params", call = rlang::caller_env()) {
  nm <- names(value)
  ok <- is.list(value) && (length(value) == 0L || !is.null(nm) && all(nzchar(nm)) &&
                             !anyNA(nm) && !anyDuplicated(nm))
  if (!ok) {
    abort_arg("{.field {field}} must be a list of numeric matrices or vectors with distinct names.",
              field, call = call)
  }
  for (n in nm) {
    v <- value[[n]]
    if (!(is.numeric(v) || is.logical(v)) || length(v) == 0L || length(dim(v)) > 2L) {
      abort_arg("{.field {field}${n}} must be a numeric matrix or vector, not {.obj_type_friendly {v}}.",
                field, call = call)
    }
    check_finite(v, paste0(field, "$", n), call)
    storage.mode(value[[n]]) <- "double"
  }
  value
}

#' Checks a layer written in R before a model takes it: its own forward()
#' and backward(), and parameters it can train.
#' @noRd
check_custom_layer <- function(layer, i, call) {
  for (method in c("forward", "backward")) {
    if (identical(body(layer[[method]]), body(Layer$public_methods[[method]]))) {
      cli::cli_abort(c("Layer {i} ({.cls {class(layer)[1]}}) has no {.fn {method}} of its own.",
                       i = "A layer written in R computes {.code forward(inputs)} and {.code backward(grad)}, filling {.field self$grads} (see {.code ?Layer})."),
                     class = c("rustnn_error_custom_layer", "rustnn_error"), call = call)
    }
  }
  check_custom_params(layer$params, "params", call)
  invisible(layer)
}

#' rn_new()'s `customs`: for each layer, NULL or, for a layer written in R,
#' its description (custom_engine_def()). A custom layer's output width may
#' need its input width, which the layers before it give: they are built
#' first (a network of those layers) to know it.
#' @noRd
custom_engine_defs <- function(dtype, specs, params, shape, layers, call) {
  customs <- vector("list", length(specs))
  for (i in which(vapply(specs, function(s) identical(s$type, "custom"), logical(1)))) {
    layer <- layers[[i]]
    if (is.null(layer)) {
      cli::cli_abort("Layer {i} is written in R, but its object is missing.",
                     class = c("rustnn_error_state", "rustnn_error"), call = call)
    }
    in_width <- if (i == 1L) {
      if (is.null(shape)) NA else prod(shape)
    } else {
      before <- rust_call(rn_new(dtype, specs[seq_len(i - 1L)], shape, customs[seq_len(i - 1L)]),
                          call = call)
      prod(utils::tail(rust_call(rn_shapes(before)), 1L)[[1]])
    }
    if (is.na(in_width) || !length(in_width)) {
      cli::cli_abort(c("Layer {i} ({.cls {class(layer)[1]}}) is written in R and comes first, so the model needs its input width.",
                       i = "Give {.arg input_shape} to {.fn Sequential$new}, or let it come from the first data."),
                     class = c("rustnn_error_custom_layer", "rustnn_error"), call = call)
    }
    template <- (if (length(params) >= i) params[[i]]) %||% layer$params
    customs[[i]] <- custom_engine_def(layer, template, in_width, call)
  }
  customs
}

# ---------------------------------------------------------------------------
# Losses written in R: any object with `loss(pred, y)` and `grad(pred, y)`
# (an R6 object, or a Loss subclass with methods of its own). fit() hands
# the engine a closure that computes both per batch.

#' Whether `loss` is one the engine must ask R for: not a built-in Loss
#' (whose `loss()` and `grad()` are Loss's own, computed by the engine).
#' @noRd
is_custom_loss <- function(loss) {
  if (!inherits(loss, "Loss")) return(TRUE)
  # Asked once per object (fit() asks often), kept in its private part.
  private <- loss$.__enclos_env__$private
  if (is.null(private$.custom)) {
    private$.custom <- !identical(body(loss$loss), body(Loss$public_methods$loss)) ||
      !identical(body(loss$grad), body(Loss$public_methods$grad))
  }
  private$.custom
}

#' A loss written in R, checked: an object with loss() and grad() methods.
#' @noRd
check_custom_loss <- function(loss, arg, call) {
  ok <- (is.environment(loss) || is.list(loss)) && is.function(loss$loss) && is.function(loss$grad)
  if (!ok) {
    abort_arg(c("{.arg {arg}} must be a loss name ({.val {catalog('losses')}}), a {.cls Loss} object, or an object with {.code loss(pred, y)} and {.code grad(pred, y)} methods, not {.obj_type_friendly {loss}}."),
              arg, call = call)
  }
  loss
}

#' The name a loss goes by in histories and messages.
#' @noRd
loss_name <- function(loss) if (is_custom_loss(loss)) class(loss)[1] else loss$name

#' The engine's description of what fit() minimizes.
#' @noRd
loss_description <- function(loss) {
  if (!is_custom_loss(loss)) return(loss$.description())
  name <- class(loss)[1]
  list(name = "custom", class = name, value_and_grad = function(pred, y) {
    guarded(function() {
      value <- loss$loss(pred, y)
      if (!(is.numeric(value) && length(value) == 1L && is.finite(value))) {
        abort_custom_loss(name, "{.fn loss} must return one finite number, not {.obj_type_friendly {value}}.")
      }
      grad <- loss$grad(pred, y)
      if (!(is.matrix(grad) && is.numeric(grad) && identical(dim(grad), dim(pred)))) {
        abort_custom_loss(name, "{.fn grad} must return a numeric matrix shaped like {.arg pred} ({nrow(pred)} x {ncol(pred)}).")
      }
      storage.mode(grad) <- "double"
      list(as.double(value), grad)
    }, function(e) abort_custom_loss(name, "failed.", parent = e))
  })
}

abort_custom_loss <- function(name, problem, parent = NULL, .envir = parent.frame()) {
  who <- cli::format_inline("Loss {.cls {name}}:")
  cli::cli_abort(paste(who, cli::format_inline(problem, .envir = .envir)), parent = parent,
                 class = c("rustnn_error_custom_loss", "rustnn_error"), call = NULL)
}

#' A call on a model from its own layer's forward() or backward(), which
#' run inside the engine's pass over that model.
#' @noRd
abort_busy_engine <- function(call) {
  cli::cli_abort(c("The model cannot be used from its own layer's {.fn forward} or {.fn backward}: the engine is in the middle of a pass over it.",
                   i = "Compute with the layer's inputs and parameters only, or use another model (or {.code model$clone()})."),
                 class = c("rustnn_error_busy", "rustnn_error_state", "rustnn_error"), call = call)
}

#' Whether `x` has the shape of parameter `like`: the same dimensions for a
#' matrix with more than one row and column; the same number of values for
#' a vector or a one-row (one-column) matrix, which are read alike.
#' @noRd
same_shape <- function(x, like) {
  d <- dim(like)
  if (length(d) == 2L && all(d > 1L)) return(identical(as.integer(dim(x)), as.integer(d)))
  length(x) == length(like) && (is.null(dim(x)) || any(dim(x) == 1L))
}

shape_text <- function(x) {
  if (is.null(dim(x))) paste(length(x), "values") else paste("a", paste(dim(x), collapse = " x "), "matrix")
}

#' New parameters for a layer written in R that belongs to a model: the
#' names and shapes it has.
#' @noRd
check_custom_params_like <- function(value, current, call) {
  if (!setequal(names(value), names(current)) || length(value) != length(current)) {
    abort_arg("{.field params} must have the layer's parameters, {.field {names(current)}}.", "params",
              call = call)
  }
  for (n in names(current)) {
    if (!same_shape(value[[n]], current[[n]])) {
      abort_arg("{.field params${n}} must be {shape_text(current[[n]])}, not {shape_text(value[[n]])}.",
                "params", call = call)
    }
    dim(value[[n]]) <- dim(current[[n]])
  }
  value[names(current)]
}

# ---------------------------------------------------------------------------
# Model files with layers written in R: the file holds the class's name,
# the parameters and the layer's settings (plain data); load_model() finds
# the class in the session by that name and makes an object of it without
# running its initialize() (whose arguments the file does not know).

#' A layer's settings as a file keeps them: its public fields that hold a
#' few plain values (vectors of numbers, logicals or strings, at most
#' `max_saved_field` of them), not the data it keeps between passes (such
#' as the matrix `inputs`).
#' @noRd
custom_fields <- function(layer) {
  names <- setdiff(ls(layer), c("params", "grads", "model", ".__enclos_env__"))
  keep <- Filter(function(n) {
    if (bindingIsActive(n, layer)) return(FALSE)
    v <- get(n, envir = layer, inherits = FALSE)
    is_plain_field(v)
  }, names)
  lapply(stats::setNames(keep, keep), function(n) get(n, envir = layer, inherits = FALSE))
}

max_saved_field <- 100L

is_plain_field <- function(v) {
  (is.numeric(v) || is.logical(v) || is.character(v)) && length(v) <= max_saved_field &&
    all(names(attributes(v)) %in% "names")
}

#' The generator of R6 class `name` in this session: in the calling
#' functions' environments (innermost first), then the global environment,
#' then the attached packages. Nothing is read that would run code (an
#' active binding, a lazy argument not yet evaluated), and only an R6 class
#' inheriting Layer that is not one of rustnn's own is taken.
#' @noRd
find_layer_class <- function(name) {
  builtin <- vapply(layer_classes(), function(g) g$classname, character(1))
  if (startsWith(name, "..") || name %in% c(builtin, "Layer")) {
    invalid_model("A layer written in R cannot be of class ", name, ".")
  }
  envs <- c(rev(sys.frames()), list(globalenv()), lapply(search()[-1], as.environment))
  for (env in envs) {
    if (!exists(name, envir = env, inherits = FALSE) || bindingIsActive(name, env) ||
        rlang::env_binding_are_lazy(env, name)) next
    gen <- get(name, envir = env, inherits = FALSE)
    if (inherits(gen, "R6ClassGenerator") && identical(gen$classname, name) && inherits_layer(gen)) {
      return(gen)
    }
  }
  cli::cli_abort("There is no R6 class {.cls {name}} that inherits from {.cls Layer}.",
                 class = c("rustnn_error_model_class", "rustnn_error_model_file", "rustnn_error"),
                 call = NULL)
}

inherits_layer <- function(gen) {
  while (!is.null(gen)) {
    if (identical(gen$classname, "Layer")) return(TRUE)
    gen <- gen$get_inherit()
  }
  FALSE
}

#' A layer written in R from a file: an object of its class made without
#' its initialize(), with the saved settings and parameters.
#' @noRd
rebuild_custom_layer <- function(spec, params, i) {
  if (!(is.character(spec$class) && length(spec$class) == 1L && grepl("^[.A-Za-z][.A-Za-z0-9_]*$", spec$class))) {
    invalid_model("Layer ", i, " is written in R, but its class name is not a name.")
  }
  fields <- spec$fields %||% list()
  if (!(is.list(fields) && all(vapply(fields, is_plain_field, logical(1))) &&
        (!length(fields) || !is.null(names(fields))))) {
    invalid_model("The settings of layer ", i, " (", spec$class, ") are not plain values.")
  }
  gen <- find_layer_class(spec$class)
  holder <- new.env(parent = environment())
  holder$gen <- gen
  blank <- R6::R6Class(spec$class, inherit = gen, parent_env = holder,
                       public = list(initialize = function(...) invisible(self)))
  layer <- blank$new()
  class(layer) <- unique(class(layer))
  # Only the class's plain fields: assigning an active binding would run
  # its code with a value from the file.
  known <- Filter(function(n) !bindingIsActive(n, layer) && !is.function(get(n, envir = layer)),
                  setdiff(ls(layer), c("params", "grads", "model")))
  for (n in intersect(names(fields), known)) assign(n, fields[[n]], envir = layer)
  rebuild_step(paste0("The parameters of layer ", i, " (", spec$class, ") do not fit it"), function() {
    layer$params <- params
  })
  layer
}
