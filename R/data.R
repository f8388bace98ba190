# Turning user data into the numeric matrices the engine takes, and the
# tutorial data sets.

#' x as a double matrix with rows = samples; errors name `arg`.
#' @noRd
as_input_matrix <- function(x, arg = "x", call = rlang::caller_env()) {
  if (is.data.frame(x)) {
    bad <- names(x)[!vapply(x, function(col) is.numeric(col) || is.logical(col), logical(1))]
    if (length(bad)) {
      abort_arg(c("{.arg {arg}} must have only numeric columns.",
                  x = "Not numeric: {.field {bad}}."), arg, call = call)
    }
    x <- as.matrix(x)
  } else if (is.numeric(x) && is.null(dim(x))) {
    x <- matrix(x, ncol = 1L)
  }
  if (!(is.matrix(x) && (is.numeric(x) || is.logical(x)))) {
    abort_arg("{.arg {arg}} must be a numeric matrix or a data frame of numeric columns, not {.obj_type_friendly {x}}.",
              arg, call = call)
  }
  if (nrow(x) == 0L || ncol(x) == 0L) {
    abort_arg("{.arg {arg}} must have at least one row and one column, not {nrow(x)} x {ncol(x)}.",
              arg, call = call)
  }
  check_finite(x, arg, call)
  storage.mode(x) <- "double"
  x
}

check_finite <- function(x, arg, call) {
  bad <- !is.finite(x)
  if (any(bad)) {
    where <- if (is.matrix(x)) {
      first <- which(bad, arr.ind = TRUE)[1, ]
      paste0("row ", first[1], ", column ", first[2])
    } else {
      paste0("element ", which(bad)[1])
    }
    abort_arg(c("{.arg {arg}} must not contain NA, NaN or infinite values.",
                x = "Found {sum(bad)} such value{?s}; the first at {where}."),
              arg, call = call)
  }
}

#' Encodes y for a network with `outputs` output units.
#'
#' Returns list(matrix, info): info records how to decode predictions
#' (`type` "factor" with `levels`, or "numeric").
#' @noRd
encode_target <- function(y, n, outputs, arg = "y", call = rlang::caller_env()) {
  if (is.factor(y)) {
    if (anyNA(y)) {
      abort_arg("{.arg {arg}} must not contain NA.", arg, call = call)
    }
    lv <- levels(y)
    if (outputs == 1L && length(lv) == 2L) {
      m <- matrix(as.double(as.integer(y) == 2L), ncol = 1L)
    } else if (outputs == length(lv)) {
      m <- diag(length(lv))[as.integer(y), , drop = FALSE]
    } else {
      abort_arg(c("{.arg {arg}} has {length(lv)} level{?s}, which does not fit a network with {outputs} output{?s}.",
                  i = "Use one output per level (softmax), or one output for two levels (sigmoid)."),
                arg, call = call)
    }
    info <- list(type = "factor", levels = lv)
  } else {
    if (is.data.frame(y)) y <- as_input_matrix(y, arg, call)
    if (!(is.numeric(y) || is.logical(y))) {
      abort_arg("{.arg {arg}} must be a numeric vector, matrix or factor, not {.obj_type_friendly {y}}.",
                arg, call = call)
    }
    m <- if (is.null(dim(y))) matrix(y, ncol = 1L) else as.matrix(y)
    check_finite(m, arg, call)
    storage.mode(m) <- "double"
    if (ncol(m) != outputs) {
      abort_arg("{.arg {arg}} has {ncol(m)} column{?s}, but the network has {outputs} output{?s}.",
                arg, call = call)
    }
    info <- list(type = "numeric")
  }
  if (nrow(m) != n) {
    abort_arg("{.arg {arg}} has {nrow(m)} row{?s}, but {.arg x} has {n}.", arg, call = call)
  }
  list(matrix = m, info = info)
}

#' The planar "flower" data set
#'
#' Two classes of points arranged as the petals of a flower, the data set of
#' the "neural net from scratch" tutorial (tutorial 003): class `j` has
#' angles `t` evenly spaced over `[3.12 j, 3.12 (j + 1)]` plus noise, radius
#' `petals * sin(4 t)` plus noise, and coordinates
#' `(r sin t, r cos t)`. No straight line separates the classes.
#'
#' @param n Number of points (half of them in each class).
#' @param petals Maximum radius of a petal.
#' @param noise Standard deviation of the noise added to angles and radii.
#' @return A data frame with numeric columns `x1`, `x2` and an integer
#'   column `y` (0 or 1).
#' @export
#' @examples
#' set.seed(69)
#' flower <- planar_flower()
#' table(flower$y)
planar_flower <- function(n = 400, petals = 4, noise = 0.2) {
  n <- check_count(n)
  check_number(petals, min = 0, min_inclusive = FALSE)
  check_number(noise, min = 0)
  half <- n %/% 2L
  sizes <- c(half, n - half)
  parts <- lapply(0:1, function(j) {
    m <- sizes[j + 1L]
    t <- seq(j * 3.12, (j + 1) * 3.12, length.out = m) + stats::rnorm(m) * noise
    r <- petals * sin(4 * t) + stats::rnorm(m) * noise
    data.frame(x1 = r * sin(t), x2 = r * cos(t), y = rep(j, m))
  })
  out <- do.call(rbind, parts)
  out$y <- as.integer(out$y)
  out
}
