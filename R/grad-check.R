# grad_check(): is backpropagation right? The engine's analytic gradients
# against central finite differences, on a float64 copy of the model.

#' Check backpropagation against finite differences
#'
#' Computes the gradient of the loss with respect to every parameter twice:
#' by the engine's backward pass (what [fit()][fit.Sequential] trains with),
#' and by central finite differences, `(L(w + eps) - L(w - eps)) / (2 *
#' eps)` for each entry `w`, as tutorial 002 and Karpathy's notes recommend
#' before trusting a network. Both are computed on a float64 copy of the
#' model, whatever its dtype, so the comparison is not drowned in float32
#' rounding; the model itself is not changed.
#'
#' The loss is `loss$loss(pred, y)` plus the L1/L2 penalties of the layers,
#' and its gradient with respect to the predictions is `loss$grad(pred, y)`:
#' a [Loss] object of your own (an R6 class with `loss()` and `grad()`
#' methods, for instance a subclass of `Loss`) is checked along with the
#' layers. The network runs in training mode (batch normalization uses the
#' batch's statistics) and every pass draws the same dropout masks.
#'
#' **Reading the result.** The *error* of an entry is `abs(analytic -
#' numeric)` divided by the largest gradient of its tensor (analytic or
#' numerical), so that the tiny gradients of a deep network's first layers
#' are judged as strictly as the last layer's; but never by less than
#' `1e-3 * max(1, abs(L))`, since finite differences in float64 cannot
#' resolve gradients much below `1e-10 * abs(L)`. A parameter tensor
#' passes when all its errors are at most `tolerance`. Right
#' backpropagation gives errors around `1e-8` or below; a mistake gives
#' errors of the order of 1 (a gradient half what it should be: 0.5).
#' `max_rel_error`, the entries' own relative errors, is shown as well:
#' for entries whose gradient is near zero it is rounding noise. ReLU, max
#' pooling and the MAE and Huber losses have kinks where finite differences
#' are wrong: if a check fails by a little on such a network, try fewer
#' rows or a smaller `eps`.
#'
#' The check draws from R's random numbers (for dropout masks and the
#' sampled entries), so `set.seed()` makes it reproducible.
#'
#' @param model A [Sequential] model.
#' @param x Inputs as the network takes them (as for `model$forward()`): a
#'   numeric matrix, or an array of images. A few rows are enough.
#' @param y Targets for `x`, as `loss$loss()` takes them (a factor is
#'   one-hot encoded, except for the sparse cross-entropy loss).
#' @param loss A loss name (see [losses]), a loss object, or any object
#'   (an R6 object, a list) with functions `loss(pred, y)`, returning one
#'   number, and `grad(pred, y)`, returning its gradient shaped like `pred`.
#'   Default: the loss of the model's last `fit()`.
#' @param eps Step of the finite differences.
#' @param tolerance Largest error that passes.
#' @param max_entries Entries checked per parameter tensor, at most; larger
#'   tensors are checked on a random sample of this many (drawn with R's
#'   RNG). `Inf` checks every entry.
#' @return A data frame of class `rustnn_grad_check`, one row per parameter
#'   tensor: `layer` (as `model$forward(keep = TRUE)` names them), `param`,
#'   `checked` and `size` (entries compared, of all), `max_abs_error`
#'   (the largest `abs(analytic - numeric)`), `max_rel_error` (the largest
#'   relative error, `abs(analytic - numeric) / max(abs(analytic),
#'   abs(numeric))`, 0 where both are 0), `max_error` (the largest error
#'   as described above) and `pass`. Its attribute `"entries"` holds every compared entry:
#'   `layer`, `param`, `index` (in R's order of the parameter), `analytic`,
#'   `numeric`, `error`. The print method says whether backpropagation is
#'   right.
#' @seealso The `forward(keep = TRUE)` and `backward(keep = TRUE)` methods
#'   of [Sequential] to look at every layer's output and gradient.
#' @export
#' @examples
#' set.seed(1)
#' flower <- planar_flower()
#' x <- scale(as.matrix(flower[1:20, c("x1", "x2")]))
#' model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
#' grad_check(model, x, flower$y[1:20], loss = "bce")
#'
#' # A hand-written loss whose gradient is wrong (it forgets the 2 of the
#' # square's derivative) fails the check.
#' HalfSquare <- R6::R6Class("HalfSquare", public = list(
#'   loss = function(pred, y) sum((pred - y)^2),
#'   grad = function(pred, y) pred - y
#' ))
#' grad_check(model, x, flower$y[1:20], loss = HalfSquare$new())
grad_check <- function(model, x, y, loss = NULL, eps = 1e-5, tolerance = 1e-6,
                       max_entries = 1000) {
  if (!inherits(model, "Sequential")) {
    abort_arg("{.arg model} must be a {.cls Sequential} model, not {.obj_type_friendly {model}}.", "model")
  }
  state <- model$.get_state()
  if (sum(lengths(state$params)) == 0L) {
    abort_arg("{.arg model} has no parameters to check: it has no {.cls Linear}, {.cls Conv2d} or {.cls BatchNorm} layer.", "model")
  }
  loss <- check_grad_check_loss(loss %||% loss_from_description(state$loss))
  x <- as_input_batch(x, "x")
  check_number(eps, min = 0, min_inclusive = FALSE)
  check_number(tolerance, min = 0, min_inclusive = FALSE)
  if (!identical(max_entries, Inf)) max_entries <- check_count(max_entries)
  call <- rlang::current_env()

  # The copy learns an image model's input shape from x, not the model.
  copy <- model$clone()
  copy$.resolve_input(x, "x")
  if (NROW(y) != nrow(x)) {
    abort_arg("{.arg y} must have one target per row of {.arg x} ({nrow(x)}), not {NROW(y)}.", "y")
  }
  state <- copy$.get_state()
  engine <- build_engine("float64", state$specs, state$params, state$input_shape,
                         layers = copy$layers)
  out_shape <- utils::tail(rust_call(rn_shapes(engine)), 1L)[[1]]
  y <- grad_check_target(y, loss, nrow(x), out_shape)
  # One seed for every pass: the same dropout masks each time.
  seed <- forward_seed(rust_call(rn_facts(engine))$random)
  forward <- function() {
    rows_to_images(rust_call(rn_forward(engine, x, TRUE, seed)), out_shape)
  }
  objective <- function() {
    pred <- forward()
    value <- loss$loss(pred, y)
    if (!(is.numeric(value) && length(value) == 1L && is.finite(value))) {
      abort_arg("{.arg loss}'s {.fn loss} method must return one finite number, not {describe(value)}.",
                "loss", call = call)
    }
    value + rust_call(rn_penalty(engine))
  }

  loss_value <- objective()
  backward_from_loss(engine, forward(), y, loss, call)
  analytic <- rust_call(rn_params(engine, TRUE))
  values <- rust_call(rn_params(engine, FALSE))
  layers <- layer_names(state$specs)
  # Finite differences in float64 resolve gradients down to about 1e-11 of
  # the loss; below this floor, errors are measured against it instead of
  # the tensor's own gradients.
  floor <- 1e-3 * max(1, abs(loss_value))

  checks <- list()
  for (i in seq_along(analytic)) {
    for (param in names(analytic[[i]])) {
      base <- as.double(values[[i]][[param]])
      picked <- pick_entries(length(base), max_entries)
      numerical <- vapply(picked, function(k) {
        central_difference(objective, function(v) {
          nudged <- base
          nudged[k] <- v
          rust_call(rn_set_param(engine, i, param, nudged))
        }, base[k], eps)
      }, numeric(1))
      rust_call(rn_set_param(engine, i, param, base))
      checks[[length(checks) + 1L]] <- compare_entries(
        layers[i], param, picked, as.double(analytic[[i]][[param]])[picked], numerical,
        length(base), floor)
    }
  }
  result <- do.call(rbind, lapply(checks, `[[`, "summary"))
  result$pass <- result$max_error <= tolerance
  structure(result,
            class = c("rustnn_grad_check", "data.frame"),
            entries = do.call(rbind, lapply(checks, `[[`, "entries")),
            tolerance = tolerance, eps = eps, rows = nrow(x),
            loss = grad_check_loss_label(loss), custom_loss = is_custom_loss(loss))
}

#' The engine's backward pass from `loss$grad(pred, y)`, whose shape must
#' be the prediction's: a custom loss's mistakes are named as the loss's.
#' @noRd
backward_from_loss <- function(engine, pred, y, loss, call = rlang::caller_env()) {
  grad <- loss$grad(pred, y)
  same_shape <- is.numeric(grad) && identical(dim(as.array(grad)), dim(as.array(pred)))
  if (!same_shape) {
    abort_arg("{.arg loss}'s {.fn grad} method must return a numeric array shaped like its {.arg pred} ({paste(dim(as.array(pred)), collapse = ' x ')}), not {describe(grad)}.",
              "loss", call = call)
  }
  if (!all(is.finite(grad))) {
    abort_arg("{.arg loss}'s {.fn grad} method returned values that are not finite.", "loss", call = call)
  }
  rust_call(rn_backward(engine, images_to_rows(as_doubles(grad))), call = call)
}

#' How the result names its loss: a built-in as print(model) does
#' ("huber (delta = 2)"), one's own by its class.
#' @noRd
grad_check_loss_label <- function(loss) {
  if (is_custom_loss(loss)) class(loss)[1] else loss_label(loss$.description())
}

#' The loss to check: a name, or an object with loss() and grad() methods.
#' @noRd
check_grad_check_loss <- function(loss, call = rlang::caller_env()) {
  if (is.null(loss)) {
    abort_arg(c("{.arg loss} is missing: give the loss to check the gradients of.",
                i = "For example {.code loss = \"mse\"}, or a {.cls Loss} object."), "loss", call = call)
  }
  as_loss(loss, call = call)
}

#' Targets as the loss takes them; a factor becomes one-hot rows (or 0/1
#' for one output) except for the sparse loss, which takes the factor.
#' @noRd
grad_check_target <- function(y, loss, n, out_shape, call = rlang::caller_env()) {
  sparse <- identical(loss$name, "sparse_cross_entropy")
  if (!(is.factor(y) || is.character(y)) || sparse) return(y)
  outputs <- if (is.null(out_shape)) NA_integer_ else as.integer(prod(out_shape))
  encode_target(y, n, outputs, "y", call = call)$matrix
}

#' Which entries of a tensor of `n` to check: all, or a sorted random sample.
#' @noRd
pick_entries <- function(n, max_entries) {
  if (n <= max_entries) seq_len(n) else sort(sample.int(n, max_entries))
}

#' (f(w + eps) - f(w - eps)) / (2 eps), where `set(v)` puts v in place of w.
#' @noRd
central_difference <- function(f, set, w, eps) {
  set(w + eps)
  up <- f()
  set(w - eps)
  down <- f()
  (up - down) / (2 * eps)
}

#' The compared entries of one parameter tensor (of `size` entries), and
#' their summary row; `pass` is set by grad_check(). Errors are relative to
#' the tensor's largest gradient, or to `floor` if that is smaller.
#' @noRd
compare_entries <- function(layer, param, index, analytic, numerical, size, floor) {
  diff <- abs(analytic - numerical)
  biggest <- pmax(abs(analytic), abs(numerical))
  error <- diff / max(floor, biggest)
  relative <- ifelse(biggest > 0, diff / biggest, 0)
  list(entries = data.frame(layer = layer, param = param, index = index, analytic = analytic,
                            numeric = numerical, error = error, stringsAsFactors = FALSE),
       summary = data.frame(layer = layer, param = param, checked = length(index), size = size,
                            max_abs_error = max(diff), max_rel_error = max(relative),
                            max_error = max(error), stringsAsFactors = FALSE))
}

#' @export
format.rustnn_grad_check <- function(x, ...) {
  # A subset (columns or rows) is a plain table: no verdict to give.
  complete <- all(c("layer", "param", "checked", "size", "max_abs_error", "max_rel_error",
                    "max_error", "pass") %in% names(x)) &&
    !is.null(attr(x, "tolerance")) && nrow(x) > 0L
  if (!complete) {
    return(utils::capture.output(print(as.data.frame(unclass(x), stringsAsFactors = FALSE))))
  }
  rows <- attr(x, "rows")
  head <- sprintf("<rustnn_grad_check> %d parameter tensor%s, %d row%s, loss %s, eps %s, float64",
                  nrow(x), if (nrow(x) == 1L) "" else "s", rows, if (rows == 1L) "" else "s",
                  attr(x, "loss"), format(attr(x, "eps")))
  scientific <- function(v) formatC(v, format = "e", digits = 1)
  table <- data.frame(layer = x$layer, param = x$param,
                      checked = ifelse(x$checked == x$size, format(x$checked),
                                       paste0(x$checked, " of ", x$size)),
                      max_abs_error = scientific(x$max_abs_error),
                      max_rel_error = scientific(x$max_rel_error),
                      max_error = scientific(x$max_error), pass = x$pass,
                      stringsAsFactors = FALSE)
  lines <- utils::capture.output(print(table, row.names = FALSE, right = FALSE))
  c(head, paste0("  ", lines), grad_check_verdict(x))
}

#' One sentence: is backpropagation right, and if not, where is it wrong?
#' @noRd
grad_check_verdict <- function(x) {
  tolerance <- attr(x, "tolerance")
  if (all(x$pass)) {
    return(cli::format_inline("{cli::symbol$tick} Backpropagation is right: every analytic gradient matches central differences within {format(tolerance)}."))
  }
  failed <- paste0(x$layer[!x$pass], "$", x$param[!x$pass])
  suspect <- if (isTRUE(attr(x, "custom_loss"))) " (or in the loss's {.fn grad})" else ""
  cli::format_inline(paste0("{cli::symbol$cross} Backpropagation is wrong for {failed}", suspect,
                            ": analytic and numerical gradients differ by up to {format(signif(max(x$max_error), 2))} of the gradients' size (tolerance {format(tolerance)})."))
}

#' @export
print.rustnn_grad_check <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}
