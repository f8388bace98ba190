# Optimizers: R6 objects holding hyper-parameters and the state they carry
# between steps; the update itself runs in the engine.
#
# Each class is declared once, by `optimizer_class()`: its engine type and a
# list of hyper-parameters (default and kind of check). The constructor's
# arguments, the public fields, the checks, format() and the description sent
# to the engine all come from that list.

#' Optimizers
#'
#' @description
#' An optimizer updates a model's parameters from the gradients of the last
#' backward pass. Give one to [fit()][fit.Sequential], as an object or by
#' name (`"sgd"`, `"adam"`, `"adamw"`, `"rmsprop"`, `"adagrad"`, `"lbfgs"`,
#' for that class with its defaults), or call `$step(model)` after
#' `model$backward()` in a manual training loop (not [LBFGS], which needs
#' `fit()`).
#'
#' Each update follows PyTorch's documented algorithm for the optimizer of
#' the same name. Below, `p` is a parameter, `g` its gradient, `t` the number
#' of the step (1 for the first) and every buffer (`b`, `m`, `v`, `s`) starts
#' at zero; each line applies element-wise to every parameter matrix and
#' vector.
#'
#' @section SGD:
#' `SGD$new(lr = 0.01, momentum = 0, nesterov = FALSE, weight_decay = 0)`:
#' stochastic gradient descent, optionally with (Nesterov) momentum and L2
#' weight decay. `nesterov = TRUE` needs `momentum > 0`.
#' ```
#' g <- g + weight_decay * p
#' if (momentum > 0) {
#'   b <- momentum * b + g
#'   g <- if (nesterov) g + momentum * b else b
#' }
#' p <- p - lr * g
#' ```
#'
#' @section Adam and AdamW:
#' `Adam$new(lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8,
#' weight_decay = 0)` adds weight decay to the gradient (L2 penalty);
#' `AdamW$new(lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8,
#' weight_decay = 0.01)` decouples it, shrinking the parameters directly.
#' ```
#' if (AdamW) p <- p - lr * weight_decay * p else g <- g + weight_decay * p
#' m <- beta1 * m + (1 - beta1) * g
#' v <- beta2 * v + (1 - beta2) * g^2
#' m_hat <- m / (1 - beta1^t)
#' v_hat <- v / (1 - beta2^t)
#' p <- p - lr * m_hat / (sqrt(v_hat) + eps)
#' ```
#'
#' @section RMSprop:
#' `RMSprop$new(lr = 0.01, rho = 0.99, eps = 1e-8, momentum = 0)`, PyTorch's
#' defaults (its `alpha` is `rho` here); Keras's are `lr = 0.001, rho = 0.9`.
#' ```
#' v <- rho * v + (1 - rho) * g^2
#' if (momentum > 0) {
#'   b <- momentum * b + g / (sqrt(v) + eps)
#'   p <- p - lr * b
#' } else {
#'   p <- p - lr * g / (sqrt(v) + eps)
#' }
#' ```
#'
#' @section Adagrad:
#' `Adagrad$new(lr = 0.01, eps = 1e-10)`:
#' ```
#' s <- s + g^2
#' p <- p - lr * g / (sqrt(s) + eps)
#' ```
#'
#' @section LBFGS:
#' `LBFGS$new(lr = 1, max_iter = 20, max_eval = (max_iter * 5) %/% 4,
#' tolerance_grad = 1e-7, tolerance_change = 1e-9, history_size = 100,
#' line_search_fn = "strong_wolfe")`: limited-memory BFGS, PyTorch's
#' `torch.optim.LBFGS` (brulee's default optimizer, scikit-learn's `lbfgs`
#' solver), a quasi-Newton method for small data sets and networks.
#'
#' It trains **full-batch**: each epoch of `fit()` is one L-BFGS step on all
#' the training rows, made of up to `max_iter` iterations, and every
#' evaluation of the loss (at most about `max_eval` per step) is a forward
#' pass, loss and backward pass over all of them. Leave `fit()`'s
#' `batch_size` out (a smaller one is an error of class
#' `rustnn_error_full_batch`); `$step(model)` is refused with that class
#' too. Each iteration takes the direction the last `history_size` steps and
#' gradient changes give (the two-loop recursion), then a step length: with
#' `line_search_fn = "strong_wolfe"`, by PyTorch's strong-Wolfe line search
#' (from a step of `lr`); with `"none"`, `lr` itself. The very first
#' iteration steps `min(1, 1 / sum(abs(g))) * lr`. A step ends early when
#' the largest gradient is at most `tolerance_grad`, or the largest change
#' of a parameter or the change of the loss is below `tolerance_change`.
#'
#' The history has one row per epoch; its loss and metrics are those after
#' the step, on all the training rows (other optimizers report the mean over
#' the epoch's batches, before each step), and `lr` schedules set `lr` for
#' each step. Iterations are not recorded one by one: `$state$steps` counts
#' them over all steps (PyTorch's `n_iter`). Results are the same for any
#' number of threads. With `track = "weights"`, the gradient recorded is
#' the one at the epoch's final weights. Every evaluation is a training
#' pass: dropout draws new masks, and batch normalization's running
#' statistics move, at each one.
#'
#' The state (the direction history) is kept between `fit()` calls like any
#' optimizer's, so two fits of 5 epochs equal one of 10. It holds
#' `2 * history_size + 2` buffers per parameter matrix or vector: the last
#' step, the gradient it started from, then pairs of a past step and its
#' gradient change, oldest first (zero where the history is not full yet):
#' `2 * history_size + 2` times the model's parameters in all, so lower
#' `history_size` for a large model.
#'
#' @section Arguments and fields:
#' * `lr`: learning rate, a positive number.
#' * `momentum`, `beta1`, `beta2`, `rho`: decay factors in `[0, 1)`.
#' * `eps`: a positive number added to the denominator for stability.
#' * `weight_decay`: L2 penalty factor (decoupled in `AdamW`), zero or more.
#' * `nesterov`: `TRUE` or `FALSE`.
#' * `max_iter`, `max_eval`, `history_size`: whole numbers of at least 1
#'   (`history_size` at most 1000).
#' * `tolerance_grad`, `tolerance_change`: zero or more.
#' * `line_search_fn`: `"strong_wolfe"` or `"none"`.
#'
#' Each is also a public field of the object (`opt$lr`), which may be
#' changed between calls; new values are checked when the optimizer is next
#' used.
#'
#' @section State and methods:
#' The optimizer keeps its state in `$state`: `steps`, the number of steps
#' taken, and `slots`, its buffers (for each parameter of the model in
#' order, its buffers in the order above; none for plain SGD). Passing the
#' same object to successive `fit()` calls continues where the last one
#' stopped, and a model saved with `saveRDS()` keeps a copy of the last
#' optimizer it was trained with.
#'
#' * `$step(model)`: one update of `model` from the gradients of
#'   `model$backward()`.
#' * `$reset()`: forget the state (buffers and step count).
#' * `$format()`, `$print()`: the class and hyper-parameters.
#'
#' `Optimizer` is the base class of them all; it cannot be created itself.
#' @name optimizers
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(40), ncol = 2)
#' y <- matrix(x[, 1] - 2 * x[, 2], ncol = 1)
#' model <- Sequential$new(Linear$new(2, 1))
#'
#' opt <- Adam$new(lr = 0.05)
#' opt
#' fit(model, x, y, optimizer = opt, epochs = 20, batch_size = 5, verbose = FALSE)
#' opt$state$steps
#' # The same object continues with its state.
#' fit(model, x, y, optimizer = opt, epochs = 20, batch_size = 5, verbose = FALSE)
#'
#' # By name, with the defaults.
#' fit(model, x, y, optimizer = "rmsprop", epochs = 5, verbose = FALSE)
#'
#' # L-BFGS: full-batch, a few epochs suffice for a small model.
#' lbfgs_model <- Sequential$new(Linear$new(2, 1))
#' fit(lbfgs_model, x, y, optimizer = LBFGS$new(), epochs = 3, verbose = FALSE)
#'
#' # One step of a manual loop.
#' sgd <- SGD$new(lr = 0.1, momentum = 0.9, nesterov = TRUE)
#' out <- model$forward(x)
#' model$backward(MSELoss$new()$grad(out, y))
#' sgd$step(model)
NULL

#' @rdname optimizers
#' @export
Optimizer <- R6::R6Class("Optimizer",
  public = list(
    # @field state Steps taken and buffers (`NULL` when fresh).
    state = NULL,

    # @description Refuses: only subclasses are optimizers.
    initialize = function() {
      cli::cli_abort(c("{.cls Optimizer} is the base class of the optimizers and cannot be created itself.",
                       i = "Use {.code SGD$new()}, {.code Adam$new()}, {.code AdamW$new()}, {.code RMSprop$new()}, {.code Adagrad$new()} or {.code LBFGS$new()}."),
                     class = "rustnn_error")
    },

    # @description Apply one update to `model` from its current gradients.
    # @param model A [Sequential] model after `model$backward()`.
    step = function(model) optimizer_step(self, private, model, environment()),

    # @description Internal: whether the optimizer trains on all the rows at
    # once, and only in fit() (L-BFGS).
    .full_batch = function() private$full_batch,

    # @description Forget the state (buffers, step count).
    reset = function() {
      self$state <- NULL
      invisible(self)
    },

    # @description Internal: checked hyper-parameters and state for the engine.
    # @param call Call to blame for a bad hyper-parameter.
    .description = function(call = rlang::caller_env()) {
      optimizer_description(self, private, call)
    },

    # @description One line describing the optimizer.
    # @param ... Unused.
    format = function(...) {
      h <- mget(names(private$spec), envir = self)
      args <- paste(names(h), vapply(h, format, character(1)), sep = " = ", collapse = ", ")
      paste0("<", class(self)[1], ": ", args, ">")
    },

    # @description Print the optimizer.
    # @param ... Unused.
    print = function(...) {
      writeLines(self$format())
      invisible(self)
    }
  ),
  private = list(
    # Engine type name, hyper-parameter specs (see `hyper()`) and settings
    # fixed by the class.
    type = NULL,
    spec = list(),
    fixed = list(),
    full_batch = FALSE,
    # The hyper-parameters as last checked, and the checked values.
    checked_values = NULL,
    checked = NULL,

    # A check across hyper-parameters (a method, so that subclasses can
    # override it: R6 would let a field here mask their method).
    constraint = function(values, call) invisible(NULL),

    checked_hypers = function(call) {
      values <- lapply(names(private$spec), function(name) {
        spec <- private$spec[[name]]
      check_hyper(self[[name]], spec$kind, name, call, spec$choices)
      })
      names(values) <- names(private$spec)
      private$constraint(values, call)
      values
    }
  )
)

#' The body of `Optimizer$step()`, compiled with the package.
#' @noRd
optimizer_step <- function(self, private, model, call) {
  if (private$full_batch) {
    cli::cli_abort(c("{.cls {class(self)[1]}} cannot take a step from one gradient: each of its steps evaluates the loss on all the training rows many times.",
                     i = "Train with {.code fit(model, x, y, optimizer = {class(self)[1]}$new())}."),
                   class = c("rustnn_error_full_batch", "rustnn_error"), call = call)
  }
  check_model(model, "model", call = call)
  # Forced here: evaluated lazily inside the engine call, a bad
  # hyper-parameter would be reported as an engine error.
  description <- optimizer_description(self, private, call)
  self$state <- model$.optimizer_step(description)
  invisible(self)
}

#' The body of `Optimizer$.description()`, compiled with the package (R6
#' methods are not).
#' @noRd
optimizer_description <- function(self, private, call) {
  if (!(is.null(self$state) || is.list(self$state))) {
    abort_arg(c("The optimizer's {.field state} must be {.code NULL} or the list that {.code $step()} and {.fn fit} leave, not {.obj_type_friendly {self$state}}.",
                i = "Call {.code $reset()} to clear it."),
              "state", class = "rustnn_error_state", call = call)
  }
  # Checked again only when a field changed since the last check (a manual
  # loop calls this every step).
  values <- mget(names(private$spec), envir = self)
  if (!identical(values, private$checked_values)) {
    private$checked <- private$checked_hypers(call)
    private$checked_values <- values
  }
  c(list(type = private$type), private$checked, private$fixed,
    list(steps = self$state$steps %||% 0, slots = self$state$slots))
}

#' A hyper-parameter: its default (a value, or an expression of the
#' hyper-parameters before it) and the kind of value it takes; a "choice"
#' is one of `choices`.
#' @noRd
hyper <- function(default, kind = c("positive", "fraction", "nonnegative", "flag", "count", "choice"),
                  choices = NULL) {
  list(default = default, kind = match.arg(kind), choices = choices)
}

#' Declares an optimizer class from its hyper-parameters: `SGD$new()` gets
#' one argument per hyper-parameter, with its default, and one public field.
#' `fixed` are settings for the engine that the class implies (AdamW's
#' `decoupled = TRUE`); `constraint(values, call)` checks combinations;
#' `full_batch` optimizers train on all the rows at once, in fit() only.
#' @noRd
optimizer_class <- function(classname, type, spec, inherit = quote(Optimizer),
                            fixed = list(), constraint = NULL, full_batch = FALSE) {
  # The constructor: one argument per hyper-parameter (formals set below),
  # each stored in its field, then all checked together.
  initialize <- function() {
    values <- mget(names(private$spec), envir = environment())
    for (name in names(values)) self[[name]] <- values[[name]]
    private$checked_hypers(call = environment())
    invisible(self)
  }
  formals(initialize) <- lapply(spec, `[[`, "default")
  # R6 gives methods the object's environment; the one they were made in
  # (this frame, holding the parent generator) would only be stored in
  # the installed package, once per class.
  environment(initialize) <- topenv()
  fields <- stats::setNames(vector("list", length(spec)), names(spec))
  # `inherit` is the parent class's name, which R6Class() keeps and looks
  # up in `parent_env` (the package namespace): a class that held its
  # parent generator itself would carry a copy of it into the installed
  # package. `parent_env = topenv()` also keeps this function's frame out
  # of the objects that saveRDS() writes.
  do.call(R6::R6Class, list(
    classname = classname,
    inherit = inherit,
    public = c(fields, list(initialize = initialize)),
    private = c(list(type = type, spec = spec, fixed = fixed, full_batch = full_batch),
                if (!is.null(constraint)) list(constraint = constraint)),
    parent_env = topenv()
  ))
}

#' @rdname optimizers
#' @export
SGD <- optimizer_class("SGD", "sgd",
  list(lr = hyper(0.01, "positive"), momentum = hyper(0, "fraction"),
       nesterov = hyper(FALSE, "flag"), weight_decay = hyper(0, "nonnegative")),
  constraint = function(values, call) {
    if (values$nesterov && values$momentum == 0) {
      abort_arg("{.arg nesterov} = TRUE needs a {.arg momentum} greater than 0.",
                "nesterov", call = call)
    }
  }
)

adam_spec <- list(lr = hyper(0.001, "positive"), beta1 = hyper(0.9, "fraction"),
                  beta2 = hyper(0.999, "fraction"), eps = hyper(1e-8, "positive"),
                  weight_decay = hyper(0, "nonnegative"))

#' @rdname optimizers
#' @export
Adam <- optimizer_class("Adam", "adam", adam_spec, fixed = list(decoupled = FALSE))

#' @rdname optimizers
#' @export
AdamW <- optimizer_class("AdamW", "adam",
  utils::modifyList(adam_spec, list(weight_decay = hyper(0.01, "nonnegative"))),
  inherit = quote(Adam), fixed = list(decoupled = TRUE)
)

#' @rdname optimizers
#' @export
RMSprop <- optimizer_class("RMSprop", "rmsprop",
  list(lr = hyper(0.01, "positive"), rho = hyper(0.99, "fraction"),
       eps = hyper(1e-8, "positive"), momentum = hyper(0, "fraction"))
)

#' @rdname optimizers
#' @export
Adagrad <- optimizer_class("Adagrad", "adagrad",
  list(lr = hyper(0.01, "positive"), eps = hyper(1e-10, "positive"))
)

#' @rdname optimizers
#' @export
LBFGS <- optimizer_class("LBFGS", "lbfgs",
  list(lr = hyper(1, "positive"), max_iter = hyper(20, "count"),
       # PyTorch's default, max_iter * 5 // 4.
       max_eval = hyper(quote((max_iter * 5) %/% 4), "count"),
       tolerance_grad = hyper(1e-7, "nonnegative"), tolerance_change = hyper(1e-9, "nonnegative"),
       history_size = hyper(100, "count"),
       line_search_fn = hyper("strong_wolfe", "choice", c("strong_wolfe", "none"))),
  constraint = function(values, call) {
    # The state holds 2 * history_size + 2 copies of the parameters.
    if (values$history_size > 1000) {
      abort_arg("{.arg history_size} must be at most 1000, not {values$history_size}.",
                "history_size", call = call)
    }
  },
  full_batch = TRUE
)

#' The optimizers `fit()` accepts by name.
#' @noRd
optimizer_names <- function() {
  list(sgd = SGD, adam = Adam, adamw = AdamW, rmsprop = RMSprop, adagrad = Adagrad, lbfgs = LBFGS)
}

#' An optimizer object from an argument: an object is used as is, a name
#' (any case) gives that optimizer with its defaults.
#' @noRd
as_optimizer <- function(optimizer, arg = "optimizer", call = rlang::caller_env()) {
  if (inherits(optimizer, "Optimizer")) {
    # Its fields may have been changed since it was created: check them now,
    # as the argument errors they are.
    optimizer$.description(call)
    return(optimizer)
  }
  if (is.character(optimizer)) {
    classes <- optimizer_names()
    name <- tolower(optimizer)
    if (length(name) != 1L || !name %in% names(classes)) {
      check_choice(optimizer, names(classes), arg, call = call)
    }
    return(classes[[name]]$new())
  }
  abort_arg("{.arg {arg}} must be an optimizer object such as {.code Adam$new(lr = 0.01)} or a name such as {.val adam}, not {.obj_type_friendly {optimizer}}.",
            arg, call = call)
}
