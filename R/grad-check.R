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
#' **Reading the result.** For each entry, the *error* is `abs(analytic -
#' numeric) / max(1, abs(analytic), abs(numeric))`: the relative error for
#' gradients larger than 1, the absolute error for smaller ones, since
#' finite differences cannot measure a small gradient to a relative
#' precision (their own error, about `1e-10` in float64, would dominate).
#' A parameter passes when all its errors are below `tolerance`. Right
#' backpropagation gives errors around `1e-9` or below; a mistake gives
#' errors near the size of the gradient. ReLU, max pooling and the MAE and
#' Huber losses have kinks where finite differences are wrong: if a check
#' fails by a little on such a network, try fewer rows or a smaller `eps`.
#'
#' @param model A [Sequential] model.
#' @param x Inputs as the network takes them (as for `model$forward()`): a
#'   numeric matrix, or an array of images. A few rows are enough.
#' @param y Targets for `x`, as `loss$loss()` takes them (a factor is
#'   one-hot encoded, except for the sparse cross-entropy loss).
#' @param loss A loss name (see [losses]) or a loss object. Default: the loss
#'   of the model's last `fit()`.
#' @param eps Step of the finite differences.
#' @param tolerance Largest error that passes.
#' @param max_entries Entries checked per parameter tensor, at most; larger
#'   tensors are checked on a random sample of this many (drawn with R's
#'   RNG). `Inf` checks every entry.
#' @return A data frame of class `rustnn_grad_check`, one row per parameter
#'   tensor: `layer` (as `model$forward(keep = TRUE)` names them), `param`,
#'   `checked` and `entries` (entries compared, of all), `max_abs_error`
#'   (the largest `abs(analytic - numeric)`), `max_rel_error` (the largest
#'   relative error, `abs(analytic - numeric) / max(abs(analytic),
#'   abs(numeric))`, 0 where both are 0), `max_error` (as described above)
#'   and `pass`. Its attribute `"entries"` holds every compared entry:
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
  loss <- check_grad_check_loss(loss %||% loss_from_description(state$loss))
  x <- as_input_batch(x, "x")
  check_number(eps, min = 0, min_inclusive = FALSE)
  check_number(tolerance, min = 0, min_inclusive = FALSE)
  if (!identical(max_entries, Inf)) max_entries <- check_count(max_entries)

  model$.resolve_input(x, "x")
  state <- model$.get_state()
  engine <- build_engine("float64", state$specs, state$params, state$input_shape)
  out_shape <- utils::tail(rust_call(rn_shapes(engine)), 1L)[[1]]
  y <- grad_check_target(y, loss, nrow(x), out_shape)
  # One seed for every pass: the same dropout masks each time.
  seed <- forward_seed(engine, training = TRUE)
  forward <- function() {
    rows_to_images(rust_call(rn_forward(engine, x, TRUE, seed)), out_shape)
  }
  objective <- function() {
    value <- loss$loss(forward(), y)
    if (!(is.numeric(value) && length(value) == 1L)) {
      abort_arg("{.arg loss}'s {.fn loss} method must return one number, not {.obj_type_friendly {value}}.", "loss")
    }
    value + rust_call(rn_penalty(engine))
  }

  grad_out <- loss$grad(forward(), y)
  rust_call(rn_backward(engine, check_output_grad(grad_out, engine, call = rlang::current_env())))
  analytic <- rust_call(rn_params(engine, TRUE))
  values <- rust_call(rn_params(engine, FALSE))
  names <- layer_names(state$specs)

  checks <- list()
  for (i in seq_along(analytic)) {
    for (param in names(analytic[[i]])) {
      base <- as.double(values[[i]][[param]])
      picked <- pick_entries(length(base), max_entries)
      numeric <- vapply(picked, function(k) {
        central_difference(objective, function(v) {
          nudged <- base
          nudged[k] <- v
          rust_call(rn_set_param(engine, i, param, nudged))
        }, base[k], eps)
      }, numeric(1))
      rust_call(rn_set_param(engine, i, param, base))
      checks[[length(checks) + 1L]] <- compare_entries(
        names[i], param, picked, as.double(analytic[[i]][[param]])[picked], numeric, length(base))
    }
  }
  if (length(checks) == 0L) abort_arg("{.arg model} has no parameters to check.", "model")
  result <- do.call(rbind, lapply(checks, `[[`, "summary"))
  result$pass <- result$max_error <= tolerance
  structure(result,
            class = c("rustnn_grad_check", "data.frame"),
            entries = do.call(rbind, lapply(checks, `[[`, "entries")),
            tolerance = tolerance, eps = eps, rows = nrow(x),
            loss = if (identical(class(loss)[1], "Loss")) loss_label(loss$.description()) else class(loss)[1])
}

#' The loss to check: a name, or an object with loss() and grad() methods.
#' @noRd
check_grad_check_loss <- function(loss, call = rlang::caller_env()) {
  if (is.null(loss)) {
    abort_arg(c("{.arg loss} is missing: give the loss to check the gradients of.",
                i = "For example {.code loss = \"mse\"}, or a {.cls Loss} object."), "loss", call = call)
  }
  if (is.character(loss)) return(as_loss(loss, call = call))
  methods_ok <- is.environment(loss) && is.function(loss$loss) && is.function(loss$grad)
  if (!methods_ok) {
    abort_arg("{.arg loss} must be a loss name ({.val {loss_names}}) or an object with {.fn loss} and {.fn grad} methods, not {.obj_type_friendly {loss}}.",
              "loss", call = call)
  }
  loss
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
#' their summary row; `pass` is set by grad_check().
#' @noRd
compare_entries <- function(layer, param, index, analytic, numeric, size) {
  diff <- abs(analytic - numeric)
  biggest <- pmax(abs(analytic), abs(numeric))
  error <- diff / pmax(1, biggest)
  relative <- ifelse(biggest > 0, diff / biggest, 0)
  list(entries = data.frame(layer = layer, param = param, index = index, analytic = analytic,
                            numeric = numeric, error = error, stringsAsFactors = FALSE),
       summary = data.frame(layer = layer, param = param, checked = length(index), entries = size,
                            max_abs_error = max(diff), max_rel_error = max(relative),
                            max_error = max(error), stringsAsFactors = FALSE))
}

#' @export
format.rustnn_grad_check <- function(x, ...) {
  tolerance <- attr(x, "tolerance")
  head <- sprintf("<rustnn_grad_check> %d parameter tensor%s, %d row%s, loss %s, eps %s, float64",
                  nrow(x), if (nrow(x) == 1L) "" else "s", attr(x, "rows"),
                  if (attr(x, "rows") == 1L) "" else "s", attr(x, "loss"), format(attr(x, "eps")))
  table <- data.frame(layer = x$layer, param = x$param,
                      checked = ifelse(x$checked == x$entries, format(x$checked),
                                       paste0(x$checked, " of ", x$entries)),
                      max_abs_error = formatC(x$max_abs_error, format = "e", digits = 1),
                      max_rel_error = formatC(x$max_rel_error, format = "e", digits = 1),
                      max_error = formatC(x$max_error, format = "e", digits = 1),
                      pass = x$pass, stringsAsFactors = FALSE)
  lines <- utils::capture.output(print(table, row.names = FALSE, right = FALSE))
  c(head, paste0("  ", lines), grad_check_verdict(x, tolerance))
}

#' One sentence: is backpropagation right, and if not, where is it wrong?
#' @noRd
grad_check_verdict <- function(x, tolerance) {
  if (all(x$pass)) {
    return(cli::format_inline("{cli::symbol$tick} Backpropagation is right: every analytic gradient matches central differences within {format(tolerance)}."))
  }
  failed <- paste0(x$layer[!x$pass], "$", x$param[!x$pass])
  cli::format_inline("{cli::symbol$cross} Backpropagation is wrong for {failed}: analytic and numerical gradients differ by up to {format(signif(max(x$max_error), 2))} (tolerance {format(tolerance)}).")
}

#' @export
print.rustnn_grad_check <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}
