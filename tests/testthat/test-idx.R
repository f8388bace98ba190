# read_idx() on small files written byte by byte, its errors on broken ones,
# and load_fashion_mnist() on the real data set.

# Writes an IDX file: magic (type byte, number of dims), dims, then `values`
# as written by writeBin() with `size`; `extra` raw bytes go at the end.
write_idx <- function(path, type, dims, values, size = 1L, extra = raw(0), gzip = FALSE) {
  con <- if (gzip) gzfile(path, "wb") else file(path, "wb")
  on.exit(close(con))
  writeBin(as.raw(c(0, 0, type, length(dims))), con)
  writeBin(as.integer(dims), con, size = 4L, endian = "big")
  if (is.raw(values)) writeBin(values, con) else writeBin(values, con, size = size, endian = "big")
  writeBin(extra, con)
  invisible(path)
}

write_raw <- function(path, bytes) {
  writeBin(as.raw(bytes), path)
  invisible(path)
}

test_that("a 3-d unsigned-byte file reads as an integer array indexed [i, r, c]", {
  path <- withr::local_tempfile(fileext = ".idx")
  # Two 2 x 3 "images" whose bytes, in file order, are 0, 10, ..., 110 but
  # the first of them is 255 to check bytes are unsigned.
  bytes <- c(255, seq(10, 110, by = 10))
  write_idx(path, 0x08, c(2, 2, 3), as.raw(bytes))
  x <- read_idx(path)
  expect_type(x, "integer")
  expect_identical(dim(x), c(2L, 2L, 3L))
  expect_identical(x[1, 1, ], c(255L, 10L, 20L))
  expect_identical(x[1, 2, ], c(30L, 40L, 50L))
  expect_identical(x[2, 1, ], c(60L, 70L, 80L))
  expect_identical(x[2, 2, 3], 110L)
  # Row-major order: the last index varies fastest in the file.
  expect_identical(as.vector(aperm(x, 3:1)), as.integer(bytes))
})

test_that("a 2-d file reads as a matrix with rows as in the file", {
  path <- withr::local_tempfile()
  write_idx(path, 0x08, c(2, 3), as.raw(1:6))
  expect_identical(read_idx(path), matrix(1:6, 2, 3, byrow = TRUE))
})

test_that("a 1-d labels file reads as a plain integer vector", {
  path <- withr::local_tempfile()
  write_idx(path, 0x08, 5, as.raw(c(9, 0, 0, 3, 200)))
  y <- read_idx(path)
  expect_identical(y, c(9L, 0L, 0L, 3L, 200L))
  expect_null(dim(y))
})

test_that("signed bytes, int16 and int32 read as big-endian signed integers", {
  path <- withr::local_tempfile()
  write_idx(path, 0x09, 3, as.raw(c(0xff, 0x80, 0x7f)))
  expect_identical(read_idx(path), c(-1L, -128L, 127L))
  write_idx(path, 0x0B, 3, c(-2L, 300L, 32767L), size = 2L)
  expect_identical(read_idx(path), c(-2L, 300L, 32767L))
  values <- c(-5L, 70000L, 123456789L, .Machine$integer.max, 0L, 1L)
  write_idx(path, 0x0C, c(3, 2), values, size = 4L)
  expect_identical(read_idx(path), matrix(values, 3, 2, byrow = TRUE))
})

test_that("float32 and float64 read as doubles", {
  path <- withr::local_tempfile()
  write_idx(path, 0x0D, c(2, 2), c(0.5, -1.25, 3, 1e10), size = 4L)
  x <- read_idx(path)
  expect_type(x, "double")
  expect_identical(x, matrix(c(0.5, -1.25, 3, 1e10), 2, 2, byrow = TRUE))
  write_idx(path, 0x0E, 3, c(pi, -exp(1), 1e-300), size = 8L)
  expect_identical(read_idx(path), c(pi, -exp(1), 1e-300))
})

test_that("dimensions are read as unsigned and empty data are fine", {
  path <- withr::local_tempfile()
  write_idx(path, 0x08, c(0, 28, 28), raw(0))
  x <- read_idx(path)
  expect_identical(dim(x), c(0L, 28L, 28L))
  expect_type(x, "integer")
})

test_that("a gzipped file gives the same result as the plain one", {
  plain <- withr::local_tempfile()
  zipped <- withr::local_tempfile(fileext = ".gz")
  values <- as.raw(sample(0:255, 4 * 5 * 6, replace = TRUE))
  write_idx(plain, 0x08, c(4, 5, 6), values)
  write_idx(zipped, 0x08, c(4, 5, 6), values, gzip = TRUE)
  expect_identical(readBin(zipped, "raw", 2L), as.raw(c(0x1f, 0x8b)))
  expect_identical(read_idx(zipped), read_idx(plain))
  # Detection goes by content, not name: a plain file named .gz reads too.
  misnamed <- withr::local_tempfile(fileext = ".gz")
  file.copy(plain, misnamed, overwrite = TRUE)
  expect_identical(read_idx(misnamed), read_idx(plain))
})

test_that("a wrong magic number is an error saying it is not IDX", {
  path <- withr::local_tempfile()
  writeLines("hello, world", path)
  expect_error(read_idx(path), class = "rustnn_error_file")
  expect_error(read_idx(path), "not an IDX file")
  expect_error(read_idx(path), "0x68 0x65 0x6c 0x6c")
  write_raw(path, c(0x01, 0x00, 0x08, 0x01, 0, 0, 0, 0))
  expect_error(read_idx(path), "wrong magic number", class = "rustnn_error_file")
})

test_that("an unknown type byte is an error naming the bytes found", {
  path <- withr::local_tempfile()
  write_idx(path, 0x0A, 2, as.raw(1:2))
  expect_error(read_idx(path), class = "rustnn_error_file")
  expect_error(read_idx(path), "not an IDX file")
  expect_error(read_idx(path), "0x00 0x00 0x0a 0x01")
})

test_that("a truncated header is an error", {
  path <- withr::local_tempfile()
  write_raw(path, c(0, 0, 0x08))
  expect_error(read_idx(path), "header is incomplete", class = "rustnn_error_file")
  expect_error(read_idx(path), "Expected 4 header bytes, found 3")
  # Three dimensions declared, one and a half given.
  write_raw(path, c(0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0))
  expect_error(read_idx(path), "Expected 16 header bytes, found 10", class = "rustnn_error_file")
  file.create(path)
  expect_error(read_idx(path), "found 0", class = "rustnn_error_file")
})

test_that("truncated data are an error saying how many values were expected and found", {
  path <- withr::local_tempfile()
  write_idx(path, 0x08, c(2, 3, 4), as.raw(1:20))
  expect_error(read_idx(path), "data are incomplete", class = "rustnn_error_file")
  expect_error(read_idx(path), "Expected 24 values (2 x 3 x 4, unsigned byte), found 20", fixed = TRUE)
  write_idx(path, 0x0E, 3, c(1, 2), size = 8L)
  expect_error(read_idx(path), "Expected 3 values (3, float64), found 2", fixed = TRUE)
  write_idx(path, 0x08, c(2, 3, 4), as.raw(1:20), gzip = TRUE)
  expect_error(read_idx(path), "Expected 24 values (2 x 3 x 4, unsigned byte), found 20", fixed = TRUE)
})

test_that("a header declaring far more data than the file holds is caught before reading", {
  path <- withr::local_tempfile()
  # 4e12 values: reading them would try to allocate 16 TB.
  write_idx(path, 0x0C, c(-1, 1000), 1:3, size = 4L)
  expect_error(read_idx(path), "Expected 4294967295000 values (4294967295 x 1000, int32), found 3",
               fixed = TRUE, class = "rustnn_error_file")
  write_idx(path, 0x0C, c(-1, 1000), 1:3, size = 4L, gzip = TRUE)
  expect_error(read_idx(path), "found 3", class = "rustnn_error_file")
})

test_that("bytes beyond the declared size are a size-mismatch error", {
  path <- withr::local_tempfile()
  write_idx(path, 0x08, c(2, 2), as.raw(1:4), extra = as.raw(c(7, 7, 7)))
  expect_error(read_idx(path), "beyond the size its header declares", class = "rustnn_error_file")
  expect_error(read_idx(path), "expected 16 bytes, found 19", fixed = TRUE)
  write_idx(path, 0x08, c(2, 2), as.raw(1:4), extra = as.raw(7), gzip = TRUE)
  expect_error(read_idx(path), "expected 16 bytes (uncompressed), found 17", fixed = TRUE,
               class = "rustnn_error_file")
})

test_that("a missing file or a directory is a file error naming the path", {
  path <- file.path(withr::local_tempdir(), "nope.idx")
  expect_error(read_idx(path), class = "rustnn_error_file")
  expect_error(read_idx(path), "does not exist")
  expect_error(read_idx(path), "nope.idx")
  expect_error(read_idx(dirname(path)), "is a directory", class = "rustnn_error_file")
})

test_that("a path that is not a single string is an argument error", {
  expect_error(read_idx(3), class = "rustnn_error_argument")
  expect_error(read_idx(3), "`path` must be a single file path")
  expect_error(read_idx(c("a", "b")), "character vector", class = "rustnn_error_argument")
  expect_error(read_idx(NA_character_), class = "rustnn_error_argument")
  expect_error(load_fashion_mnist(path = 1), class = "rustnn_error_argument")
  expect_error(fashion_mnist_available(NULL), class = "rustnn_error_argument")
})

test_that("missing Fashion-MNIST files are an error saying how to get them", {
  dir <- withr::local_tempdir()
  expect_false(fashion_mnist_available(dir))
  expect_error(load_fashion_mnist(dir), class = "rustnn_error_data_missing")
  expect_error(load_fashion_mnist(dir), class = "rustnn_error_file")
  # cli wraps messages to the console width: compare with spaces normalised.
  err <- expect_error(load_fashion_mnist(dir), class = "rustnn_error_data_missing")
  msg <- gsub("\\s+", " ", conditionMessage(err))
  expect_match(msg, "apt-get install dataset-fashion-mnist", fixed = TRUE)
  expect_match(msg, "github.com/zalandoresearch/fashion-mnist", fixed = TRUE)
  expect_match(msg, "train-images-idx3-ubyte.gz", fixed = TRUE)
  expect_match(msg, "t10k-labels-idx1-ubyte.gz", fixed = TRUE)
  expect_match(msg, basename(dir), fixed = TRUE)
  expect_error(load_fashion_mnist(file.path(dir, "absent")), class = "rustnn_error_data_missing")
  # With three of the four files, the message names only the missing one.
  write_idx(file.path(dir, "train-images-idx3-ubyte.gz"), 0x08, c(2, 28, 28), as.raw(rep(0, 2 * 784)))
  write_idx(file.path(dir, "train-labels-idx1-ubyte"), 0x08, 2, as.raw(0:1))
  write_idx(file.path(dir, "t10k-images-idx3-ubyte"), 0x08, c(1, 28, 28), as.raw(rep(0, 784)))
  err <- expect_error(load_fashion_mnist(dir), class = "rustnn_error_data_missing")
  expect_match(conditionMessage(err), "t10k-labels-idx1-ubyte.gz", fixed = TRUE)
  expect_no_match(conditionMessage(err), "train-images", fixed = TRUE)
  expect_false(fashion_mnist_available(dir))
})

test_that("small Fashion-MNIST-shaped files load, and inconsistent ones are errors", {
  dir <- withr::local_tempdir()
  pixels <- as.raw(rep(c(0, 255), 784))
  write_idx(file.path(dir, "train-images-idx3-ubyte.gz"), 0x08, c(2, 28, 28), pixels, gzip = TRUE)
  write_idx(file.path(dir, "train-labels-idx1-ubyte.gz"), 0x08, 2, as.raw(c(9, 0)), gzip = TRUE)
  write_idx(file.path(dir, "t10k-images-idx3-ubyte"), 0x08, c(1, 28, 28), pixels[1:784])
  write_idx(file.path(dir, "t10k-labels-idx1-ubyte"), 0x08, 1, as.raw(3))
  expect_true(fashion_mnist_available(dir))
  withr::local_options(rustnn.fashion_mnist_path = dir)
  expect_true(fashion_mnist_available())
  d <- load_fashion_mnist()
  expect_identical(names(d), c("train", "test"))
  expect_identical(names(d$train), c("x", "y"))
  expect_identical(dim(d$train$x), c(2L, 28L, 28L))
  expect_identical(d$train$x[1, 1, 1:3], c(0L, 255L, 0L))
  expect_identical(as.character(d$train$y), c("Ankle boot", "T-shirt/top"))
  expect_identical(as.character(d$test$y), "Dress")

  write_idx(file.path(dir, "t10k-labels-idx1-ubyte"), 0x08, 2, as.raw(c(3, 3)))
  expect_error(load_fashion_mnist(dir), "Found 2 labels for 1 image", class = "rustnn_error_file")
  write_idx(file.path(dir, "t10k-labels-idx1-ubyte"), 0x08, 1, as.raw(10))
  expect_error(load_fashion_mnist(dir), "labels 0 to 9", class = "rustnn_error_file")
  write_idx(file.path(dir, "t10k-labels-idx1-ubyte"), 0x08, 1, as.raw(3))
  write_idx(file.path(dir, "t10k-images-idx3-ubyte"), 0x08, c(1, 784), pixels[1:784])
  expect_error(load_fashion_mnist(dir), "28 x 28 images, not values of shape 1 x 784",
               class = "rustnn_error_file")
})

test_that("the real Fashion-MNIST loads with the right shapes, classes and values", {
  skip_if_not(fashion_mnist_available())
  d <- load_fashion_mnist()
  expect_identical(dim(d$train$x), c(60000L, 28L, 28L))
  expect_identical(dim(d$test$x), c(10000L, 28L, 28L))
  expect_type(d$train$x, "integer")
  expect_type(d$test$x, "integer")
  expect_identical(range(d$train$x), c(0L, 255L))
  expect_identical(range(d$test$x), c(0L, 255L))
  classes <- c("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
  expect_identical(levels(d$train$y), classes)
  expect_identical(levels(d$test$y), classes)
  expect_identical(as.vector(table(d$train$y)), rep(6000L, 10))
  expect_identical(as.vector(table(d$test$y)), rep(1000L, 10))

  # Facts found once by parsing the files with plain readBin().
  expect_identical(as.character(d$train$y[1:4]), c("Ankle boot", "T-shirt/top", "T-shirt/top", "Dress"))
  expect_identical(as.character(d$test$y[1:3]), c("Ankle boot", "Pullover", "Trouser"))
  expect_identical(sum(d$train$x[1, , ]), 76247L)
  expect_identical(sum(d$train$x[2, , ]), 84598L)
  expect_identical(d$train$x[1, 14, 12:15], c(0L, 55L, 236L, 228L))

  # And the first two images again, parsed independently, row by row.
  dir <- getOption("rustnn.fashion_mnist_path", "/usr/share/datasets/fashion-mnist")
  file <- file.path(dir, "train-images-idx3-ubyte.gz")
  if (!file.exists(file)) file <- sub("\\.gz$", "", file)
  con <- gzfile(file, "rb")
  header <- readBin(con, "integer", 4L, size = 4L, endian = "big")
  pixels <- readBin(con, "integer", 2L * 784L, size = 1L, signed = FALSE)
  close(con)
  expect_identical(header, c(2051L, 60000L, 28L, 28L))
  expect_identical(d$train$x[1, , ], matrix(pixels[1:784], 28, 28, byrow = TRUE))
  expect_identical(d$train$x[2, , ], matrix(pixels[785:1568], 28, 28, byrow = TRUE))
})
