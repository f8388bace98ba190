# Data sets the engine holds: inputs converted to float32 once (or read
# from IDX files straight into float32), in memory or in a file that
# training reads block by block. The targets stay in R, beside the handle:
# they are one column, and fit() encodes them as it does a matrix's.

#' Data sets held by the engine
#'
#' A data set holds the inputs of [fit()], [predict()] and [evaluate()] in
#' the engine's own float32 rows, made once: later fits, predictions and
#' validations reuse them without converting R's doubles again, and the R
#' copy can be dropped (the pattern of xgboost's `xgb.DMatrix`).
#'
#' * `rustnn_dataset()` converts a numeric matrix, a data frame of numeric
#'   columns, or an image array (`n x height x width` or
#'   `n x channels x height x width`).
#' * `dataset_idx()` reads an IDX file (MNIST's and Fashion-MNIST's format,
#'   gzipped or not) straight into float32, so the images never exist as R
#'   doubles; its labels can come from [read_idx()].
#' * `dataset_csv()` reads a CSV file of numeric columns in chunks of
#'   `chunk_rows` rows, so that only one chunk is in R at a time.
#' * `dataset_write()` writes a data set to a file (or appends its rows to
#'   one), and `dataset_open()` opens such a file. Training reads an opened
#'   file block by block (blocks of about 4 MB), so a data set larger than
#'   memory trains with a few blocks in memory.
#'
#' @section Results: On data that fit in memory, a data set gives the same
#'   fit as the matrix it was made from, to the bit, for the same seed: the
#'   rows are converted to float32 the same way and visited in the same
#'   order. A float64 model reads a data set's float32 values exactly, so its
#'   results are those of the matrix rounded to float32.
#'
#' @section Shuffling a file: Rows of a data set opened with
#'   `dataset_open()` (and of its views) that span more than one block are
#'   shuffled by blocks: each epoch visits the blocks in
#'   a new order, and the rows of each block in a new order, so that it reads
#'   each block once (a full shuffle would read a block per row once the
#'   file no longer fits the system's cache). The order is still determined
#'   by the seed (`set.seed()`). Batches then mix rows of one or two blocks
#'   only, so a file whose rows are sorted (by class, by time) should be
#'   written in a shuffled order first.
#'
#' @section Files: A data set file is a 48-byte header (`RUSTNNDS`, a format
#'   version, the number of rows and the shape of a sample) followed by the
#'   rows as little-endian float32. It holds numbers only; `dataset_open()`
#'   checks the header against the file's size before reading any row.
#'   Targets are not stored in it: give them to `dataset_open()` as `y`.
#'
#' @param x A numeric matrix, a data frame of numeric columns, or an array
#'   of images `n x height x width` or `n x channels x height x width`.
#' @param y Optional targets, one per row, as [fit()] takes them (a factor,
#'   numbers, a matrix); kept in R beside the data set, and used by `fit()`
#'   and `evaluate()` when they are given no `y`.
#' @param threads Threads converting the rows.
#' @return A `rustnn_dataset`: `dim()` gives its rows and the shape of a
#'   sample, `nrow()` its rows; `as.matrix()` reads rows back as doubles;
#'   `x[i]` is a view of rows `i` (and of their targets): it shares the
#'   rows, in memory or on disk, so validation splits and resampling folds
#'   copy no data.
#' @seealso [fit.Sequential()], [predict.Sequential()], [load_fashion_mnist()].
#' @export
#' @examples
#' ds <- rustnn_dataset(scale(iris[, 1:4]), y = iris$Species)
#' ds
#' dim(ds)
#' set.seed(1)
#' model <- Sequential$new(Linear$new(4, 8), ReLU$new(), Linear$new(8, 3), Softmax$new())
#' fit(model, ds, epochs = 5, batch_size = 16, verbose = 0)
#' head(predict(model, ds, type = "class"))
#'
#' # On disk, read block by block when training.
#' path <- tempfile(fileext = ".rnds")
#' dataset_write(ds, path)
#' on_disk <- dataset_open(path, y = iris$Species)
#' evaluate(model, on_disk)
#' unlink(path)
rustnn_dataset <- function(x, y = NULL, threads = default_threads()) {
  threads <- check_threads(threads)
  columns <- colnames(x)
  x <- as_input_batch(x, "x")
  check_dtype_range(x, "float32", "x", rlang::current_env())
  check_dataset_y(y, nrow(x))
  new_dataset(rust_call(rn_dataset_new(x, threads)), y, columns = columns)
}

#' @rdname rustnn_dataset
#' @param path For `dataset_idx()`, an IDX file (gzipped or not); for
#'   `dataset_csv()`, a CSV file; for `dataset_write()` and
#'   `dataset_open()`, a data set file.
#' @param divide Each value is divided by it (255 maps pixels to 0-1, as
#'   `x / 255` does).
#' @export
dataset_idx <- function(path, y = NULL, divide = 255) {
  check_path(path)
  check_number(divide, min = 0, min_inclusive = FALSE)
  ds <- new_dataset(rust_call(rn_dataset_read_idx(path.expand(path), divide),
                              abort = abort_dataset_file), NULL)
  check_dataset_y(y, nrow(ds))
  ds$y <- y
  ds
}

#' @rdname rustnn_dataset
#' @param columns For `dataset_csv()`, the input columns (names or
#'   positions; all but `y` by default).
#' @param chunk_rows Rows read from the CSV file at a time.
#' @param ... For `dataset_csv()`, passed on to [utils::read.csv()] (such
#'   as `sep`); `y` may name a column of the file, which becomes the
#'   targets.
#' @export
dataset_csv <- function(path, y = NULL, columns = NULL, chunk_rows = 100000,
                        threads = default_threads(), ...) {
  check_path(path)
  chunk_rows <- check_count(chunk_rows)
  threads <- check_threads(threads)
  con <- file(path, "r")
  on.exit(close(con))
  first <- utils::read.csv(con, nrows = chunk_rows, ...)
  names_ <- names(first)
  target <- if (is.character(y) && length(y) == 1L && y %in% names_) y
  inputs <- columns %||% setdiff(names_, target)
  if (is.numeric(inputs)) inputs <- names_[inputs]
  if (!all(inputs %in% names_)) {
    abort_arg("{.arg columns} names columns that {.file {path}} does not have: {.val {setdiff(inputs, names_)}}.",
              "columns")
  }
  ys <- list()
  ds <- NULL
  chunk <- first
  done <- 0
  repeat {
    x <- as_input_batch(chunk[inputs], sprintf("rows %.0f to %.0f of the CSV file", done + 1,
                                               done + nrow(chunk)))
    check_dtype_range(x, "float32", "x", rlang::current_env())
    if (is.null(ds)) {
      ds <- new_dataset(rust_call(rn_dataset_new(x, threads)), NULL, columns = inputs)
    } else {
      rust_call(rn_dataset_append(ds$ptr, x, threads))
    }
    if (!is.null(target)) ys[[length(ys) + 1L]] <- chunk[[target]]
    done <- done + nrow(chunk)
    if (nrow(chunk) < chunk_rows) break
    # The end of the file, seen without parsing: a parse error in a later
    # chunk is an error, not the end.
    line <- readLines(con, n = 1L)
    if (!length(line)) break
    pushBack(line, con)
    chunk <- utils::read.csv(con, nrows = chunk_rows, header = FALSE, col.names = names_, ...)
  }
  ds <- refresh_dataset(ds)
  ds$y <- if (!is.null(target)) do.call(c, ys) else y
  # Text labels are classes, as read.csv(stringsAsFactors = TRUE) would have them.
  if (is.character(ds$y)) ds$y <- factor(ds$y)
  check_dataset_y(ds$y, nrow(ds))
  ds
}

#' @rdname rustnn_dataset
#' @param data A data set (or what `rustnn_dataset()` takes).
#' @param in_memory For `dataset_open()`, read the whole file into memory
#'   (once, in float32) instead of block by block when training.
#' @param append Add the rows to the data set file at `path`, whose samples
#'   must have the same shape, instead of replacing it (which writes a new
#'   file and renames it over the old one: data sets open on the old file
#'   keep reading it).
#' @return `dataset_write()`: `path`, invisibly.
#' @export
dataset_write <- function(data, path, append = FALSE) {
  if (!inherits(data, "rustnn_dataset")) data <- rustnn_dataset(data)
  check_flag(append)
  if (!(is.character(path) && length(path) == 1L && !is.na(path))) {
    abort_arg("{.arg path} must be a file path.", "path")
  }
  path <- path.expand(path)
  rust_call(rn_dataset_write(dataset_ptr(data), path, append), abort = abort_dataset_file)
  invisible(path)
}

#' @rdname rustnn_dataset
#' @export
dataset_open <- function(path, y = NULL, in_memory = FALSE) {
  check_path(path)
  check_flag(in_memory)
  path <- normalizePath(path)
  ds <- new_dataset(rust_call(rn_dataset_open(path, in_memory), abort = abort_dataset_file), y,
                    path = if (!in_memory) path)
  check_dataset_y(y, nrow(ds))
  ds
}

#' A data set object around an engine handle. A data set file's (and its
#' views') `path`, with a view's rows of it (`file_rows`), let another
#' session open it again.
#' @noRd
new_dataset <- function(ptr, y, columns = NULL, path = NULL, file_rows = NULL) {
  info <- rust_call(rn_dataset_info(ptr))
  structure(list(ptr = ptr, y = y, rows = info$rows, shape = info$shape,
                 image = info$image, on_disk = info$on_disk, columns = columns,
                 path = path, file_rows = file_rows, session = the$session),
            class = "rustnn_dataset")
}

#' The object with its row count read again (after appending).
#' @noRd
refresh_dataset <- function(ds) {
  new_dataset(ds$ptr, ds$y, ds$columns, ds$path)
}

#' The engine handle of a data set; a file's is opened again after
#' `readRDS()` (a data set in memory does not outlive its session).
#' @noRd
dataset_ptr <- function(ds, call = rlang::caller_env()) {
  if (identical(ds$session, the$session)) return(ds$ptr)
  if (!is.null(ds$path) && file.exists(ds$path)) {
    ptr <- rust_call(rn_dataset_open(ds$path, FALSE), call = call, abort = abort_dataset_file)
    if (!is.null(ds$file_rows)) ptr <- rust_call(rn_dataset_subset(ptr, ds$file_rows), call = call)
    if (rust_call(rn_dataset_info(ptr))$rows != ds$rows) {
      abort_arg(c("The data set file {.file {ds$path}} has changed since this data set was made.",
                  i = "Open it again with {.fn dataset_open}."), "x", call = call)
    }
    return(ptr)
  }
  abort_arg(c("This data set was held in memory by another R session and is gone.",
              i = "Make it again, or keep it in a file with {.fn dataset_write} and {.fn dataset_open}."),
            "x", call = call)
}

#' What a fit, prediction or the engine gets for `x`: a data set's handle,
#' or `x` itself.
#' @noRd
engine_input <- function(x, call = rlang::caller_env()) {
  if (inherits(x, "rustnn_dataset")) dataset_ptr(x, call) else x
}

#' The engine's message about a file, as a file error.
#' @noRd
abort_dataset_file <- function(msg, call) {
  cli::cli_abort("{msg}", class = c("rustnn_error_file", "rustnn_error"), call = call)
}

check_dataset_y <- function(y, rows, call = rlang::caller_env()) {
  if (!is.null(y) && NROW(y) != rows) {
    abort_arg("{.arg y} has {NROW(y)} row{?s}, but the data set has {rows}.", "y", call = call)
  }
  invisible(y)
}

#' Targets for a data set in fit() or evaluate(): its own, or `y`.
#' @noRd
dataset_targets <- function(x, y, call = rlang::caller_env()) {
  if (!is.null(y) && !is.null(x$y)) {
    abort_arg("The data set has its own targets: give no {.arg y}.", "y", call = call)
  }
  y <- y %||% x$y
  if (is.null(y)) {
    abort_arg(c("{.arg y} is missing: the data set has no targets.",
                i = "Give {.arg y}, or make the data set with {.code y = }."), "y", call = call)
  }
  check_dataset_y(y, nrow(x), call)
}

#' fit()'s prepared inputs for a data set: it, its targets (or `y`), and
#' the model's input preparation, with the data set's column names.
#' @noRd
prepare_dataset <- function(pre, x, y, data, call = rlang::caller_env()) {
  if (!is.null(data)) {
    abort_arg("{.arg data} is only used with a formula; a data set holds the inputs itself.",
              "data", call = call)
  }
  check_dataset_input(pre, x, "x", call)
  pre$columns <- pre$columns %||% x$columns
  list(x = x, y = dataset_targets(x, y, call), preprocess = pre)
}

#' A model's input preparation on a data set: a data set holds prepared
#' inputs, so a model that prepares its own (a formula, standardization)
#' refuses it, and column names must agree when both have them.
#' @noRd
check_dataset_input <- function(pre, x, arg, call = rlang::caller_env()) {
  if (!is.null(pre$terms) || !is.null(pre$center)) {
    abort_arg(c("This model prepares its inputs in R (a formula or standardization), which a data set cannot do.",
                i = "Give {.arg {arg}} as a matrix or data frame, or make the data set from prepared inputs and fit a model on it."),
              arg, call = call)
  }
  if (!is.null(pre$columns) && !is.null(x$columns) && !identical(pre$columns, x$columns)) {
    abort_arg(c("The data set's columns are not the model's.",
                x = "Model: {.val {pre$columns}}.", x = "Data set: {.val {x$columns}}."),
              arg, call = call)
  }
  invisible(x)
}

#' @export
dim.rustnn_dataset <- function(x) {
  shape <- as.integer(x$shape)
  as.integer(c(x$rows, if (isTRUE(x$image)) shape else shape[1]))
}

#' @export
format.rustnn_dataset <- function(x, ...) {
  shape <- if (isTRUE(x$image)) paste(x$shape, collapse = " x ") else paste(x$shape[1], "features")
  where <- if (isTRUE(x$on_disk)) paste("on disk,", x$path) else "in memory"
  y <- if (is.null(x$y)) "no targets" else if (is.factor(x$y)) {
    paste0("targets: a factor of ", nlevels(x$y), " levels")
  } else paste0("targets: ", NCOL(x$y), " numeric column", if (NCOL(x$y) > 1L) "s")
  c(paste0("<rustnn_dataset> ", format(x$rows, big.mark = ","), " rows of ", shape, " (float32, ", where, ")"),
    paste0("  ", y))
}

#' @export
print.rustnn_dataset <- function(x, ...) {
  writeLines(format(x))
  invisible(x)
}

#' @export
as.matrix.rustnn_dataset <- function(x, rows = NULL, ...) {
  rows <- rows %||% seq_len(nrow(x))
  m <- rust_call(rn_dataset_rows(dataset_ptr(x), as.double(rows)))
  if (!is.null(x$columns)) colnames(m) <- x$columns
  m
}

#' @export
`[.rustnn_dataset` <- function(x, i, ...) {
  if (missing(i)) return(x)
  if (is.logical(i)) i <- which(rep_len(i, nrow(x)))
  i <- as.double(i)
  if (anyNA(i) || any(i < 1 | i > nrow(x) | i != round(i))) {
    abort_arg("Rows must be whole numbers from 1 to {nrow(x)}.", "i")
  }
  y <- x$y
  if (!is.null(y)) y <- if (is.null(dim(y))) y[i] else y[i, , drop = FALSE]
  file_rows <- if (!is.null(x$path)) if (is.null(x$file_rows)) i else x$file_rows[i]
  new_dataset(rust_call(rn_dataset_subset(dataset_ptr(x), i)), y, columns = x$columns,
              path = x$path, file_rows = file_rows)
}
