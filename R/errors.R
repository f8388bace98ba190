# Argument checks and the package's error conditions.
#
# Every check names the argument and says what is wrong, through
# cli::cli_abort() with a class under "rustnn_error", so callers can catch
# them and tests can snapshot them.

abort_arg <- function(message, arg, ..., class = "rustnn_error_argument",
                      call = rlang::caller_env(), .envir = parent.frame()) {
  cli::cli_abort(message, ..., arg = arg,
                 class = c(class, "rustnn_error"), call = call, .envir = .envir)
}

check_flag <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!(is.logical(x) && length(x) == 1L && !is.na(x))) {
    abort_arg("{.arg {arg}} must be TRUE or FALSE, not {.obj_type_friendly {x}}.",
              arg, call = call)
  }
  x
}

#' Checks a single finite number, optionally a whole one, within bounds.
#' @noRd
check_number <- function(x, arg = rlang::caller_arg(x), min = -Inf, max = Inf,
                         min_inclusive = TRUE, max_inclusive = TRUE,
                         whole = FALSE, call = rlang::caller_env()) {
  if (!(is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x))) {
    abort_arg("{.arg {arg}} must be a single finite number, not {.obj_type_friendly {x}}.",
              arg, call = call)
  }
  if (whole && x != round(x)) {
    abort_arg("{.arg {arg}} must be a whole number, not {x}.", arg, call = call)
  }
  below <- if (min_inclusive) x < min else x <= min
  above <- if (max_inclusive) x > max else x >= max
  if (below || above) {
    abort_arg("{.arg {arg}} must be {describe_range(min, max, min_inclusive, max_inclusive)}, not {x}.",
              arg, call = call)
  }
  x
}

describe_range <- function(min, max, min_inclusive, max_inclusive) {
  if (is.infinite(max)) {
    return(paste(if (min_inclusive) "at least" else "greater than", format(min)))
  }
  paste0("in ", if (min_inclusive) "[" else "(", format(min), ", ", format(max),
         if (max_inclusive) "]" else ")")
}

#' Checks a count: a whole number from 1 to `max`, by default the largest R
#' integer (beyond it, as.integer() would give NA with a warning).
#' @noRd
check_count <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env(),
                        max = .Machine$integer.max) {
  check_number(x, arg, min = 1, whole = TRUE, call = call)
  if (x > max) {
    abort_arg("{.arg {arg}} must be at most {format(max, big.mark = ',')}, not {format(x, big.mark = ',')}.",
              arg, call = call)
  }
  as.integer(x)
}

#' rlang::check_dots_empty(), its error classed like the package's others.
#' @noRd
check_dots_empty <- function(env = rlang::caller_env(), call = rlang::caller_env()) {
  rlang::check_dots_empty(env = env, call = call, error = function(cnd) {
    hint <- did_you_mean(eval(quote(...names()), env), dots_owner_args(env))
    if (!is.null(hint)) cnd$body <- c(cnd$body, i = hint)
    class(cnd) <- c("rustnn_error_argument", "rustnn_error", class(cnd))
    cnd$arg <- "..."
    stop(cnd)
  })
}

#' The argument names of the function whose frame is `env`.
#' @noRd
dots_owner_args <- function(env) {
  for (i in rev(seq_len(sys.nframe()))) {
    if (identical(sys.frame(i), env)) return(setdiff(names(formals(sys.function(i))), "..."))
  }
  character()
}

#' "Did you mean `batch_size`?" for a misspelt argument name: the closest
#' real one, if within two edits (or the one it abbreviates), else NULL.
#' @noRd
did_you_mean <- function(given, candidates) {
  given <- given[!is.na(given) & nzchar(given)]
  if (!length(given) || !length(candidates)) return(NULL)
  for (name in given) {
    distance <- utils::adist(name, candidates, ignore.case = TRUE)[1, ]
    prefix <- startsWith(candidates, name)
    best <- if (sum(prefix) == 1L) which(prefix) else if (min(distance) <= 2) which.min(distance)
    if (length(best)) {
      return(cli::format_inline("Did you mean {.arg {candidates[best]}} instead of {.arg {name}}?"))
    }
  }
  NULL
}

check_choice <- function(x, choices, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!(is.character(x) && length(x) == 1L && !is.na(x) && x %in% choices)) {
    abort_arg(c("{.arg {arg}} must be one of {.or {.val {choices}}}, not {shown_choice(x)}."),
              arg, call = call)
  }
  x
}

#' A value given where a string was expected, for messages: a string
#' quoted, anything else by its type.
#' @noRd
shown_choice <- function(x) {
  if (is.character(x) && length(x) == 1L) paste0('"', x, '"') else
    cli::format_inline("{.obj_type_friendly {x}}")
}

#' Checks a hyper-parameter by its kind (see `hyper()` in optimizers.R):
#' the one validation behind optimizers' and activations' settings. Numbers
#' come back as doubles for the engine.
#' @noRd
check_hyper <- function(x, kind, arg, call, choices = NULL) {
  switch(kind,
    flag = check_flag(x, arg, call = call),
    count = check_count(x, arg, call = call),
    choice = check_choice(x, choices, arg, call = call),
    positive = as.double(check_number(x, arg, min = 0, min_inclusive = FALSE, call = call)),
    fraction = as.double(check_number(x, arg, min = 0, max = 1, max_inclusive = FALSE, call = call)),
    nonnegative = as.double(check_number(x, arg, min = 0, call = call))
  )
}

#' Runs a call into the Rust engine; its errors become classed R errors.
#' The engine returns its errors (and panics) as values of class
#' "rustnn_engine_error" (raising them from Rust leaks memory, see `to_r()`
#' in the glue), which must never reach the user: every `rn_` call that can
#' fail goes through here. `abort(message, call)` signals them, by default
#' as engine errors. A call the user interrupted (Ctrl-C) during long work
#' returns a "rustnn_interrupt" value instead, signalled here as an interrupt. No handler is set up around the call (it would cost
#' more than most calls into the engine): the glue raises no R error of its
#' own, and errors of R code run while its arguments are forced (rebuilding
#' the engine) pass through with their class.
#' @noRd
rust_call <- function(expr, call = rlang::caller_env(), abort = abort_engine) {
  result <- expr
  # What layers written in R said or failed with inside the engine (custom.R).
  if (!is.null(the$custom_failure) || !is.null(the$custom_conditions)) raise_custom_failure(call)
  if (inherits(result, "rustnn_engine_error")) {
    if (inherits(result, "rustnn_interrupt")) rlang::interrupt()
    abort(result$message, call)
  }
  result
}

abort_engine <- function(msg, call) {
  cli::cli_abort("{msg}", class = c("rustnn_error_engine", "rustnn_error"), call = call)
}

#' A layer the engine cannot run: a subclass (of `Layer` or of a built-in
#' layer) with methods of its own, or `Layer` itself.
#' @noRd
abort_custom_layer <- function(cls, i, call) {
  parent <- intersect(cls[-1], vapply(layer_classes(), function(g) g$classname, character(1)))[1]
  message <- if (cls[1] == "Layer") {
    c("Layer {i} is a {.cls Layer}, the base class, which computes nothing.",
      i = "Write a layer as a class that inherits from {.cls Layer}, with {.fn forward} and {.fn backward} (see {.code ?Layer}).")
  } else if (!is.na(parent)) {
    c("Layer {i} is a {.cls {cls[1]}}, a subclass of the built-in {.cls {parent}}, which the engine runs as it is: its own methods would be ignored.",
      i = "Write your layer as a class that inherits from {.cls Layer} itself (see {.code ?Layer}).")
  } else {
    c("Layer {i} is a {.cls {cls[1]}} whose {.fn initialize} names an engine type: only the built-in layers do that.",
      i = "Call {.code super$initialize()} with no arguments (see {.code ?Layer}).")
  }
  cli::cli_abort(message, class = c("rustnn_error_custom_layer", "rustnn_error"), call = call)
}
