# Reading IDX files, the format of MNIST and Fashion-MNIST, and loading
# Fashion-MNIST from the files Debian's `dataset-fashion-mnist` installs.

#' Read an IDX file
#'
#' Reads a file in the IDX format of MNIST and Fashion-MNIST, gzipped or
#' not. An IDX file starts with two zero bytes, a byte giving the type of the
#' values, a byte giving the number of dimensions, and each dimension as a
#' big-endian 32-bit unsigned integer; the values follow in row-major (C)
#' order, big-endian. Gzipped files are recognised by their first two bytes,
#' not by their name.
#'
#' The type byte is one of `0x08` (unsigned byte), `0x09` (signed byte),
#' `0x0B` (16-bit integer), `0x0C` (32-bit integer), `0x0D` (32-bit float)
#' or `0x0E` (64-bit float).
#'
#' @param path Path of the IDX file, possibly gzipped.
#' @return For one dimension, a vector; for more, an array with `dim` the
#'   file's dimensions, indexed as in the file: for an images file of
#'   `n x 28 x 28`, `x[i, r, c]` is pixel (`r`, `c`) of image `i`. Integer
#'   types give an integer vector or array, float types a double one.
#'   A malformed file (not IDX, truncated, or with bytes beyond the size its
#'   header declares) is an error of class `rustnn_error_file`.
#' @seealso [load_fashion_mnist()] reads the four files of Fashion-MNIST.
#' @export
#' @examples
#' # A 2 x 3 matrix of unsigned bytes.
#' path <- tempfile(fileext = ".idx")
#' con <- file(path, "wb")
#' writeBin(as.raw(c(0, 0, 0x08, 2)), con)            # magic: ubyte, 2 dims
#' writeBin(c(2L, 3L), con, size = 4, endian = "big") # the dims
#' writeBin(as.raw(1:6), con)                          # values, row by row
#' close(con)
#' read_idx(path)
#' unlink(path)
read_idx <- function(path) {
  check_path(path)
  con <- if (is_gzip(path)) gzfile(path, "rb") else file(path, "rb")
  on.exit(close(con))
  header <- read_idx_header(con, path)
  values <- read_idx_values(con, path, header)
  dims <- header$dims
  if (length(dims) < 2L) return(values)
  # The file is row-major and R column-major: take the reversed shape, then
  # reverse the axes back.
  dim(values) <- rev(dims)
  aperm(values, rev(seq_along(dims)))
}

# The IDX type byte -> how readBin() reads one value. Unsigned bytes are read
# as raw and converted: 2-3 times faster than readBin()'s own conversion.
idx_types <- list(
  "8" = list(name = "unsigned byte", what = "raw", size = 1L, signed = FALSE),
  "9" = list(name = "signed byte", what = "integer", size = 1L, signed = TRUE),
  "11" = list(name = "int16", what = "integer", size = 2L, signed = TRUE),
  "12" = list(name = "int32", what = "integer", size = 4L, signed = TRUE),
  "13" = list(name = "float32", what = "double", size = 4L, signed = TRUE),
  "14" = list(name = "float64", what = "double", size = 8L, signed = TRUE)
)

abort_file <- function(message, path, ..., class = NULL,
                       call = rlang::caller_env(), .envir = parent.frame()) {
  cli::cli_abort(message, ..., path = path,
                 class = c(class, "rustnn_error_file", "rustnn_error"),
                 call = call, .envir = .envir)
}

check_path <- function(path, call = rlang::caller_env()) {
  if (!(is.character(path) && length(path) == 1L && !is.na(path) && nzchar(path))) {
    abort_arg("{.arg path} must be a single file path, not {.obj_type_friendly {path}}.",
              "path", call = call)
  }
  if (!file.exists(path)) {
    abort_file("{.arg path} must be an existing file: {.file {path}} does not exist.",
               path, call = call)
  }
  if (dir.exists(path)) {
    abort_file("{.arg path} must be a file, but {.file {path}} is a directory.",
               path, call = call)
  }
}

is_gzip <- function(path) {
  con <- file(path, "rb")
  on.exit(close(con))
  identical(readBin(con, "raw", 2L), as.raw(c(0x1f, 0x8b)))
}

#' The header as list(type, dims, bytes); dims are doubles, as they are
#' unsigned 32-bit.
#' @noRd
read_idx_header <- function(con, path, call = rlang::caller_env()) {
  magic <- readBin(con, "raw", 4L)
  zeros <- magic[seq_len(min(2L, length(magic)))]
  type <- idx_types[[as.character(as.integer(magic[3L]))]]
  if (any(zeros != 0) || (length(magic) >= 3L && is.null(type))) {
    found <- paste0("0x", format(magic), collapse = " ")
    abort_file(c("{.file {path}} is not an IDX file: wrong magic number.",
                 x = "Its first bytes are {found}.",
                 i = "An IDX file starts with 0x00 0x00, a type byte (0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e) and the number of dimensions."),
               path, call = call)
  }
  if (length(magic) < 4L) abort_truncated_header(path, length(magic), 4, call)
  n_dims <- as.integer(magic[4L])
  raw_dims <- readBin(con, "raw", 4L * n_dims)
  if (length(raw_dims) < 4L * n_dims) {
    abort_truncated_header(path, 4 + length(raw_dims), 4 + 4 * n_dims, call)
  }
  dims <- readBin(raw_dims, "integer", n_dims, size = 4L, endian = "big")
  dims <- as.double(dims)
  dims[dims < 0] <- dims[dims < 0] + 2^32
  list(type = type, dims = dims, bytes = 4 + 4 * n_dims)
}

abort_truncated_header <- function(path, found, expected, call) {
  abort_file(c("{.file {path}} is truncated: its header is incomplete.",
               x = "Expected {expected} header bytes, found {found}."),
             path, call = call)
}

read_idx_values <- function(con, path, header, call = rlang::caller_env()) {
  type <- header$type
  n <- prod(header$dims)
  # readBin() allocates all n values up front: a corrupt header must not ask
  # for more than the file can hold (deflate compresses at most ~1032:1).
  most <- file.size(path) * (if (inherits(con, "gzfile")) 1100 else 1)
  if (n * type$size > most) {
    abort_truncated_data(path, header, count_bytes(con) %/% type$size, call)
  }
  values <- readBin(con, type$what, n, size = type$size, signed = type$signed,
                    endian = "big")
  if (length(values) < n) abort_truncated_data(path, header, length(values), call)
  if (is.raw(values)) values <- as.integer(values)
  if (length(readBin(con, "raw", 1L))) {
    expected <- header$bytes + n * type$size
    actual <- expected + 1 + count_bytes(con)
    unzipped <- if (inherits(con, "gzfile")) " (uncompressed)" else ""
    abort_file(c("{.file {path}} has bytes beyond the size its header declares.",
                 x = "Size mismatch: expected {big(expected)} bytes{unzipped}, found {big(actual)}."),
               path, call = call)
  }
  values
}

abort_truncated_data <- function(path, header, found, call) {
  dims <- paste(big(header$dims), collapse = " x ")
  abort_file(c("{.file {path}} is truncated: its data are incomplete.",
               x = "Expected {big(prod(header$dims))} values ({dims}, {header$type$name}), found {big(found)}."),
             path, call = call)
}

# Counts in full, not as 6e+05.
big <- function(x) format(x, scientific = FALSE, trim = TRUE)

#' Bytes left in a connection, read in chunks (only on the error paths).
#' @noRd
count_bytes <- function(con) {
  total <- 0
  repeat {
    got <- length(readBin(con, "raw", 2^20))
    if (got == 0L) return(total)
    total <- total + got
  }
}

# Class names in label order: label 0 is "T-shirt/top".
fashion_mnist_classes <- c("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

fashion_mnist_files <- c(
  train_x = "train-images-idx3-ubyte", train_y = "train-labels-idx1-ubyte",
  test_x = "t10k-images-idx3-ubyte", test_y = "t10k-labels-idx1-ubyte"
)

#' Load Fashion-MNIST
#'
#' Reads the Fashion-MNIST data set (Zalando's 28 x 28 grey-scale images of
#' clothes, 60,000 for training and 10,000 for testing) from its four IDX
#' files: `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
#' `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`, gzipped or
#' not (then without `.gz`).
#'
#' On Debian and Ubuntu, `sudo apt-get install dataset-fashion-mnist` puts
#' them in `/usr/share/datasets/fashion-mnist`, the default directory.
#' Elsewhere, download them from the Fashion-MNIST project
#' (<https://github.com/zalandoresearch/fashion-mnist>) and pass their
#' directory as `path`, or set the option `rustnn.fashion_mnist_path`.
#'
#' The labels are the ten classes, in label order (label 0 first):
#' "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
#' "Sneaker", "Bag" and "Ankle boot".
#'
#' @param path Directory holding the four files.
#' @return A list with elements `train` and `test`, each a list of
#'   * `x`: an integer array `n x 28 x 28` of pixel values 0 to 255, where
#'     `x[i, r, c]` is row `r`, column `c` of image `i` (as Keras's
#'     `dataset_fashion_mnist()` returns them);
#'   * `y`: a factor of the `n` classes, with the ten levels above.
#'
#'   Missing files are an error of class `rustnn_error_data_missing` that
#'   says which ones and how to get them.
#' @seealso [fashion_mnist_available()] to check for the files first;
#'   [read_idx()] for other IDX files.
#' @export
#' @examples
#' if (fashion_mnist_available()) {
#'   fmnist <- load_fashion_mnist()
#'   dim(fmnist$train$x)
#'   table(fmnist$test$y)
#'   # The first training image.
#'   image(t(fmnist$train$x[1, 28:1, ]), col = grey.colors(256, 1, 0))
#' }
load_fashion_mnist <- function(path = getOption("rustnn.fashion_mnist_path",
                                                "/usr/share/datasets/fashion-mnist")) {
  files <- fashion_mnist_paths(path)
  missing <- names(files)[is.na(files)]
  if (length(missing)) {
    abort_file(c("Cannot find the Fashion-MNIST files in {.path {path}}.",
                 x = "Missing (gzipped or not): {.file {missing}}.",
                 i = "On Debian or Ubuntu: {.code sudo apt-get install dataset-fashion-mnist}.",
                 i = "Or download the four files from the Fashion-MNIST project ({.url https://github.com/zalandoresearch/fashion-mnist}) and pass their directory as {.arg path}."),
               path, class = "rustnn_error_data_missing")
  }
  list(train = fashion_mnist_part(files[[1L]], files[[2L]]),
       test = fashion_mnist_part(files[[3L]], files[[4L]]))
}

#' Is Fashion-MNIST available?
#'
#' Checks that the four files [load_fashion_mnist()] reads are in `path`,
#' so that examples and vignettes can skip gracefully without them.
#'
#' @inheritParams load_fashion_mnist
#' @return `TRUE` if all four files are there (gzipped or not), else `FALSE`.
#' @seealso [load_fashion_mnist()]
#' @export
#' @examples
#' fashion_mnist_available()
fashion_mnist_available <- function(path = getOption("rustnn.fashion_mnist_path",
                                                     "/usr/share/datasets/fashion-mnist")) {
  !anyNA(fashion_mnist_paths(path))
}

#' The four files' paths, named by their `.gz` names; NA where missing.
#' @noRd
fashion_mnist_paths <- function(path, call = rlang::caller_env()) {
  if (!(is.character(path) && length(path) == 1L && !is.na(path))) {
    abort_arg("{.arg path} must be a single directory path, not {.obj_type_friendly {path}}.",
              "path", call = call)
  }
  found <- vapply(fashion_mnist_files, function(name) {
    candidates <- file.path(path, c(paste0(name, ".gz"), name))
    candidates[file.exists(candidates)][1L]
  }, character(1))
  names(found) <- paste0(fashion_mnist_files, ".gz")
  found
}

#' One split as list(x, y), checked for shape, count and labels.
#' @noRd
fashion_mnist_part <- function(images, labels, call = rlang::caller_env()) {
  x <- read_idx(images)
  y <- read_idx(labels)
  if (!(is.integer(x) && length(dim(x)) == 3L && all(dim(x)[2:3] == 28L))) {
    shape <- paste(if (is.null(dim(x))) length(x) else dim(x), collapse = " x ")
    abort_file("{.file {images}} must hold 28 x 28 images, not values of shape {shape}.",
               images, call = call)
  }
  if (!(is.integer(y) && is.null(dim(y)) && length(y) == dim(x)[1L])) {
    abort_file(c("{.file {labels}} must hold one label per image.",
                 x = "Found {length(y)} label{?s} for {dim(x)[1L]} image{?s}."),
               labels, call = call)
  }
  if (anyNA(y) || any(y < 0L | y > 9L)) {
    bad <- unique(y[is.na(y) | y < 0L | y > 9L])
    abort_file(c("{.file {labels}} must hold labels 0 to 9.",
                 x = "Found {.val {bad}}."),
               labels, call = call)
  }
  # Labels 0-9 are already the codes of the factor, less one.
  list(x = x, y = structure(y + 1L, levels = fashion_mnist_classes, class = "factor"))
}
