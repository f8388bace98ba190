# Turning user data into the numeric matrices the engine takes, and the
# tutorial data sets.

#' x as a double matrix with rows = samples; errors name `arg`.
#' @noRd
as_input_matrix <- function(x, arg = "x", call = rlang::caller_env()) {
  # The common case first, in a few checks: a double matrix of finite values.
  d <- dim(x)
  if (is.double(x) && length(d) == 2L && d[1L] > 0L && d[2L] > 0L && rn_all_finite(x)) return(x)
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
  as_doubles(x)
}

#' A batch of inputs as the engine takes it: a double matrix (rows =
#' samples), or a double array of images, `n x height x width` (one channel)
#' or `n x channels x height x width` (samples first, as the image layers
#' document). Matrices and data frames go through as_input_matrix().
#' @noRd
as_input_batch <- function(x, arg = "x", call = rlang::caller_env()) {
  d <- dim(x)
  if (length(d) <= 2L) return(as_input_matrix(x, arg, call))
  if (!(is.numeric(x) || is.logical(x)) || !length(d) %in% 3:4) {
    abort_arg(c("{.arg {arg}} must be a numeric matrix, or an array of images {.code n x height x width} or {.code n x channels x height x width}.",
                x = "It is {if (is.numeric(x)) paste0('a ', length(d), '-dimensional array') else cli::format_inline('{.obj_type_friendly {x}}')}."),
              arg, call = call)
  }
  if (any(d == 0L)) {
    abort_arg("{.arg {arg}} must not have an empty dimension, but its dimensions are {paste(d, collapse = ' x ')}.",
              arg, call = call)
  }
  check_finite(x, arg, call)
  as_doubles(x)
}

#' The shape of one sample of a batch: `c(features)` for a matrix,
#' `c(channels, height, width)` for an image array.
#' @noRd
sample_shape <- function(x) {
  d <- dim(x)
  if (length(d) == 2L) return(d[2L])
  switch(length(d) - 1L, d[2], c(1L, d[2:3]), d[2:4])
}

#' Rows `rows` of a matrix or image array.
#' @noRd
take_rows <- function(x, rows) {
  # A data set's rows are a view: nothing is copied.
  if (inherits(x, "rustnn_dataset")) return(x[rows])
  switch(length(dim(x)) - 1L,
         x[rows, , drop = FALSE],
         x[rows, , , drop = FALSE],
         x[rows, , , , drop = FALSE])
}

#' Engine rows (one sample per row, channel by channel, each image row by
#' row) back to an R array `n x channels x height x width` when `shape` is
#' an image; matrices of flat outputs are returned as they are.
#' @noRd
rows_to_images <- function(m, shape) {
  if (length(shape) != 3L) return(m)
  images <- array(m, c(nrow(m), shape[3], shape[2], shape[1]))
  aperm(images, c(1L, 4L, 3L, 2L))
}

#' The reverse of rows_to_images(): an image array as an engine-ordered matrix.
#' @noRd
images_to_rows <- function(x) {
  d <- dim(x)
  if (length(d) <= 2L) return(x)
  if (length(d) == 3L) d <- c(d[1], 1L, d[2:3])
  m <- aperm(array(x, d), c(1L, 4L, 3L, 2L))
  dim(m) <- c(d[1], prod(d[-1]))
  m
}

#' x with double storage, copied only if it is not double already (a
#' replacement on a shared object would copy it even then, and the inputs
#' of fit() can be hundreds of megabytes).
#' @noRd
as_doubles <- function(x) {
  if (!is.double(x)) storage.mode(x) <- "double"
  x
}

check_finite <- function(x, arg, call) {
  # A fast pass first, without allocating: one scan in the engine for
  # doubles; integers and logicals can only hold NA.
  all_ok <- if (is.double(x)) rn_all_finite(x) else !anyNA(x)
  if (all_ok) return(invisible())
  bad <- !is.finite(x)
  if (any(bad)) {
    where <- if (length(dim(x)) > 2L) {
      paste0("[", paste(arrayInd(which(bad)[1], dim(x)), collapse = ", "), "]")
    } else if (is.matrix(x)) {
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

#' The largest finite float32 value: a float32 model turns larger inputs
#' and weights into infinities.
#' @noRd
float32_max <- 3.4028234663852886e+38

#' Refuses finite values a model of `dtype` cannot hold (beyond float32's
#' range in a float32 model), which it would otherwise turn into NaN
#' predictions in silence. `x` is already known to be finite.
#' @noRd
check_dtype_range <- function(x, dtype, arg, call) {
  # A data set holds float32 values already.
  if (dtype != "float32" || inherits(x, "rustnn_dataset") || !length(x)) return(invisible(x))
  r <- range(x)
  if (r[1] < -float32_max || r[2] > float32_max) {
    abort_arg(c("{.arg {arg}} has values beyond the float32 range (about -3.4e38 to 3.4e38), which the model (dtype {.val float32}) cannot hold.",
                x = "Its values run from {format(r[1], digits = 3)} to {format(r[2], digits = 3)}.",
                i = "Rescale them (see {.fn scale}), or build the model with {.code dtype = \"float64\"}."),
              arg, call = call)
  }
  invisible(x)
}

#' Encodes y for a network with `outputs` output units.
#'
#' Returns list(matrix, info): info records how to decode predictions
#' (`type` "factor" with `levels`, or "numeric", with `zero_based` labels for
#' sparse integer targets). With `levels` (a model's known classes), a
#' factor or character y is coded against them, and values outside them are
#' an error. Sparse losses take one column of 0-based class indices.
#' @noRd
encode_target <- function(y, n, outputs, arg = "y", call = rlang::caller_env(),
                          loss = NULL, levels = NULL) {
  sparse <- identical(loss, "sparse_cross_entropy")
  # Logical targets are two classes, FALSE and TRUE.
  if (is.logical(y) && is.null(dim(y))) y <- factor(y, levels = c("FALSE", "TRUE"))
  if (is.character(y)) y <- factor(y, levels = levels %||% sort(unique(y)))
  if (is.factor(y)) {
    if (anyNA(y)) {
      abort_arg("{.arg {arg}} must not contain NA.", arg, call = call)
    }
    if (nlevels(y) < 2L && is.null(levels)) {
      abort_arg(c("{.arg {arg}} has a single class, {.val {levels(y)}}: a classifier needs at least two.",
                  i = "Declare the other classes as levels of the factor, e.g. {.code factor(y, levels = c(\"a\", \"b\"))}."),
                arg, call = call)
    }
    if (!is.null(levels) && !identical(levels(y), levels)) {
      unseen <- setdiff(unique(as.character(y)), levels)
      if (length(unseen)) {
        abort_arg(c("{.arg {arg}} has class{?es} {.val {unseen}} that the model was not trained on.",
                    i = "Its classes are {.val {levels}}."), arg, call = call)
      }
      y <- factor(as.character(y), levels = levels)
    }
    lv <- levels(y)
    if (sparse && outputs == length(lv)) {
      m <- matrix(as.double(as.integer(y) - 1L), ncol = 1L)
    } else if (!sparse && outputs == 1L && length(lv) == 2L) {
      m <- matrix(as.double(as.integer(y) == 2L), ncol = 1L)
    } else if (!sparse && outputs == length(lv)) {
      m <- diag(length(lv))[as.integer(y), , drop = FALSE]
    } else {
      abort_arg(c("{.arg {arg}} has {length(lv)} level{?s}, which does not fit a network with {outputs} output{?s}{if (sparse) ' and a sparse loss' else ''}.",
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
    if (!is.double(m)) storage.mode(m) <- "double"
    want <- if (sparse) 1L else outputs
    if (ncol(m) != want && sparse) {
      abort_arg("{.arg {arg}} has {ncol(m)} column{?s}, but the sparse cross-entropy loss needs one column of class labels.",
                arg, call = call)
    }
    if (ncol(m) != want) {
      abort_arg("{.arg {arg}} has {ncol(m)} column{?s}, but the network has {outputs} output{?s}.",
                arg, call = call)
    }
    if (sparse && !all(m %in% seq.int(0, outputs - 1))) {
      abort_arg("{.arg {arg}} must hold class labels 0 to {outputs - 1} (whole numbers) for the sparse cross-entropy loss.",
                arg, call = call)
    }
    info <- list(type = "numeric", zero_based = sparse)
  }
  if (info$type == "numeric") {
    # Whether predict() may give classes (see is_class_target()).
    info$classes <- is_class_target(list(matrix = m, info = info))
  }
  if (nrow(m) != n) {
    abort_arg("{.arg {arg}} has {nrow(m)} row{?s}, but {.arg x} has {n}.", arg, call = call)
  }
  list(matrix = m, info = info)
}

#' fit()'s x and y as a numeric matrix and targets, from a matrix or data
#' frame and y, or from a formula and data. Returns list(x, y, preprocess):
#' `preprocess` is what predict() must apply to new data (formula terms,
#' factor levels, standardization); `pre` is the model's current one.
#' @noRd
prepare_xy <- function(pre, x, y, data, call = rlang::caller_env()) {
  if (inherits(x, "formula")) {
    if (!is.data.frame(data)) {
      abort_arg("{.arg data} must be a data frame when {.arg x} is a formula, not {.obj_type_friendly {data}}.",
                "data", call = call)
    }
    if (!is.null(y)) {
      abort_arg("Give {.arg y} or a formula, not both: with a formula, the response comes from {.arg data}.",
                "y", call = call)
    }
    # A new formula's terms, keeping the standardization of mlp_sequential()
    # and the input columns of an earlier fit, if any.
    pre <- c(formula_terms(x, data, call), pre[intersect(c("center", "scale", "columns"), names(pre))])
    d <- design_matrix(pre, data, "data", call, response = TRUE)
    return(list(x = d$x, y = d$y, preprocess = remember_columns(pre, d$x)))
  }
  if (!is.null(data)) {
    abort_arg("{.arg data} is only used with a formula, such as {.code fit(model, y ~ ., data = df)}.",
              "data", call = call)
  }
  if (is.null(y)) {
    abort_arg("{.arg y} is missing: give targets, or a formula and {.arg data}.", "y", call = call)
  }
  x <- apply_preprocess(pre, x, "x", call)
  list(x = x, y = y, preprocess = remember_columns(pre, x))
}

#' The model's input preparation, with the names of its input columns
#' (those of the first fit() that had names), by which later data are
#' matched (see match_columns()).
#' @noRd
remember_columns <- function(pre, x) {
  names <- colnames(x)
  if (is.null(pre$columns) && length(dim(x)) == 2L && !is.null(names) && !anyNA(names) &&
      !anyDuplicated(names)) {
    pre$columns <- names
  }
  pre
}

#' Inputs with the model's columns in the model's order, matched by name
#' when both have names (as lm() matches variables): reordered, and other
#' columns dropped (`extra = TRUE`, a matrix or data frame) or refused (a
#' formula's design matrix, where one means a level unseen in training);
#' a missing column is an error. Without names on either side, columns are
#' taken by position.
#' @noRd
match_columns <- function(x, pre, arg, call, extra = TRUE) {
  want <- pre$columns
  have <- colnames(x)
  if (is.null(want) || is.null(have) || identical(have, want)) return(x)
  missing <- setdiff(want, have)
  if (length(missing)) {
    abort_arg(c("{.arg {arg}} lacks the {cli::qty(missing)}column{?s} {.field {missing}} that the model was trained on.",
                i = "The model takes the columns {.field {want}}, matched by name.",
                i = "To use columns by position, remove their names with {.code unname()}."),
              arg, call = call)
  }
  unknown <- setdiff(have, want)
  if (!extra && length(unknown)) {
    abort_arg(c("{.arg {arg}} makes the input {cli::qty(unknown)}column{?s} {.field {unknown}}, which the model was not trained on.",
                i = "A factor level unseen in training makes a column of its own: drop those rows, or train a new model."),
              arg, call = call)
  }
  x[, match(want, have), drop = FALSE]
}

#' The rows `na.action` (a function such as stats::na.omit, or its name)
#' drops from `frame`, as indices; refused when it drops them all.
#' @noRd
dropped_rows <- function(frame, na.action, call) {
  if (is.character(na.action)) na.action <- match.fun(na.action)
  if (!is.function(na.action)) {
    abort_arg("{.arg na.action} must be a function such as {.fn stats::na.omit}, or its name, not {.obj_type_friendly {na.action}}.",
              "na.action", call = call)
  }
  kept <- tryCatch(na.action(frame), error = function(e) {
    abort_arg("{.arg na.action} refused the data: {conditionMessage(e)}", "na.action", call = call)
  })
  dropped <- as.integer(stats::na.action(kept))
  if (length(dropped) && length(dropped) == nrow(frame)) {
    abort_arg("Every row has a missing value in a predictor or the outcome: there is nothing to train on.",
              "data", call = call)
  }
  dropped
}

#' fit()'s data without the rows `na.action` drops: rows of a formula's
#' data with NA in one of its variables, or of a data frame `x` (and `y`)
#' with NA. Matrices and arrays go through as they are (their NA are
#' refused later).
#' @noRd
omit_na_rows <- function(x, y, data, na.action, call) {
  if (inherits(x, "formula") && is.data.frame(data)) {
    vars <- intersect(all.vars(x), names(data))
    if ("." %in% all.vars(x)) vars <- names(data)
    dropped <- dropped_rows(data[vars], na.action, call)
    if (length(dropped)) data <- data[-dropped, , drop = FALSE]
  } else if (is.data.frame(x) && !is.null(y) && (is.atomic(y) || is.data.frame(y)) &&
             NROW(y) == nrow(x)) {
    frame <- x
    frame$.y <- if (is.null(dim(y))) y else seq_len(nrow(x))
    dropped <- dropped_rows(frame, na.action, call)
    if (is.data.frame(y) || is.matrix(y)) {
      dropped <- union(dropped, which(!stats::complete.cases(y)))
    }
    if (length(dropped)) {
      x <- x[-dropped, , drop = FALSE]
      y <- if (is.null(dim(y))) y[-dropped] else y[-dropped, , drop = FALSE]
    }
  } else {
    dropped <- integer()
  }
  list(x = x, y = y, data = data, dropped = dropped)
}

#' Terms and factor levels of a formula on a data frame.
#' @noRd
formula_terms <- function(formula, data, call) {
  vars <- setdiff(all.vars(formula), ".")
  missing <- setdiff(vars, names(data))
  if (length(missing)) {
    abort_arg(c("The formula names column{?s} {.field {missing}}, which {?is/are} not in {.arg data}.",
                i = "Columns of {.arg data}: {.field {names(data)}}."), "x", call = call)
  }
  mf <- stats::model.frame(formula, data, na.action = stats::na.pass)
  tt <- attr(mf, "terms")
  # The formula's environment would travel with the model into saveRDS();
  # the global one is stored as a reference.
  environment(tt) <- globalenv()
  list(terms = tt, xlevels = stats::.getXlevels(tt, mf))
}

#' The model matrix (no intercept column, standardized if the model is) and,
#' if asked, the response of `data` under a model's terms.
#' @noRd
design_matrix <- function(pre, data, arg, call, response = FALSE) {
  if (!is.data.frame(data)) {
    abort_arg("{.arg {arg}} must be a data frame (the model was trained with a formula), not {.obj_type_friendly {data}}.",
              arg, call = call)
  }
  tt <- if (response) pre$terms else stats::delete.response(pre$terms)
  needed <- all.vars(tt)
  missing <- setdiff(needed, names(data))
  if (length(missing)) {
    abort_arg("{.arg {arg}} lacks the {cli::qty(missing)}column{?s} {.field {missing}} that the model was trained with.",
              arg, call = call)
  }
  with_na <- needed[vapply(needed, function(v) anyNA(data[[v]]), logical(1))]
  if (length(with_na)) {
    abort_arg("{.arg {arg}} has NA in {cli::qty(with_na)}column{?s} {.field {with_na}}.", arg, call = call)
  }
  for (v in intersect(names(pre$xlevels), needed)) {
    unseen <- setdiff(unique(as.character(data[[v]])), pre$xlevels[[v]])
    if (length(unseen)) {
      abort_arg("Column {.field {v}} of {.arg {arg}} has level{?s} {.val {unseen}} not seen in training.",
                arg, call = call)
    }
  }
  mf <- stats::model.frame(tt, data, xlev = pre$xlevels, na.action = stats::na.pass)
  check_data_classes(tt, mf, arg, call)
  x <- stats::model.matrix(tt, mf)
  x <- x[, colnames(x) != "(Intercept)", drop = FALSE]
  attr(x, "assign") <- NULL
  attr(x, "contrasts") <- NULL
  x <- match_columns(x, pre, arg, call, extra = FALSE)
  list(x = standardize(as_input_matrix(x, arg, call), pre, arg, call),
       y = if (response) stats::model.response(mf))
}

#' New inputs prepared the way the model's training inputs were.
#' @noRd
apply_preprocess <- function(pre, x, arg, call = rlang::caller_env()) {
  if (inherits(x, "rustnn_dataset")) return(check_dataset_input(pre, x, arg, call))
  if (!is.null(pre$terms) && is.data.frame(x)) {
    return(design_matrix(pre, x, arg, call)$x)
  }
  x <- as_input_batch(x, arg, call)
  if (length(dim(x)) > 2L) {
    if (!is.null(pre$center)) {
      abort_arg("{.arg {arg}} is an image array, but the model was trained on a matrix of {length(pre$center)} columns.",
                arg, call = call)
    }
    return(x)
  }
  standardize(match_columns(x, pre, arg, call), pre, arg, call)
}

#' Which rows of new inputs have no NA in the columns the model reads (a
#' formula's variables; all columns otherwise, as apply_preprocess()
#' converts them all), as a logical vector; NULL when `x` is not a data
#' frame or every row is complete. predict() gives NA for the other rows,
#' as na.exclude does.
#' @noRd
complete_rows <- function(x, pre) {
  if (!is.data.frame(x) || !nrow(x)) return(NULL)
  used <- if (!is.null(pre$terms)) all.vars(stats::delete.response(pre$terms)) else names(x)
  used <- intersect(used, names(x))
  if (!length(used)) return(NULL)
  complete <- stats::complete.cases(x[used])
  if (all(complete)) NULL else complete
}

#' Outputs for the complete rows of new data spread back over all its rows,
#' with NA rows for the others.
#' @noRd
fill_rows <- function(out, complete) {
  if (is.null(complete)) return(out)
  at <- rep(NA_integer_, length(complete))
  at[complete] <- seq_len(sum(complete))
  out[at, , drop = FALSE]
}

#' Refuses a variable whose type changed since training (a numeric column
#' read as character), as predict.lm() does: its values would be coded
#' differently.
#' @noRd
check_data_classes <- function(tt, mf, arg, call) {
  classes <- attr(tt, "dataClasses")
  if (is.null(classes)) return(invisible())
  # Kinds of coding: factors, ordered or not, and strings are all levels.
  kind <- function(cl) ifelse(cl %in% c("ordered", "character"), "factor", cl)
  got <- vapply(mf, stats::.MFclass, character(1))
  shared <- intersect(names(classes), names(got))
  changed <- shared[kind(classes[shared]) != kind(got[shared])]
  if (length(changed)) {
    v <- changed[1]
    abort_arg(c("Column {.field {v}} of {.arg {arg}} is {got[[v]]}, but the model was trained on it as {classes[[v]]}.",
                i = "Convert it back, e.g. with {.code as.numeric()} for numbers read as text."),
              arg, call = call)
  }
  invisible()
}

#' Centers and scales columns with the training statistics, if any.
#' @noRd
standardize <- function(x, pre, arg = "x", call = rlang::caller_env()) {
  if (is.null(pre$center)) return(x)
  if (ncol(x) != length(pre$center)) {
    abort_arg("{.arg {arg}} has {ncol(x)} column{?s}, but the model was trained on {length(pre$center)}.",
              arg, call = call)
  }
  # Column by column: one copy of x, where two nested sweep()s held three
  # at once (2.4 GB more at the peak of mlp_sequential() on 10^6 x 100
  # doubles).
  for (j in seq_len(ncol(x))) x[, j] <- (x[, j] - pre$center[[j]]) / pre$scale[[j]]
  x
}

#' Standard deviation of each column, one column at a time (apply() would
#' hold a copy of x).
#' @noRd
column_sd <- function(x) {
  stats::setNames(vapply(seq_len(ncol(x)), function(j) stats::sd(x[, j]), numeric(1)), colnames(x))
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
