# Data sets held by the engine: the same results as the matrices they come
# from, files written and read back, IDX and CSV readers, and their errors.

iris_x <- scale(as.matrix(iris[, 1:4]))
iris_net <- function() {
  set.seed(1)
  Sequential$new(Linear$new(4, 8), ReLU$new(), Linear$new(8, 3), Softmax$new())
}
fit_with <- function(x, y = NULL, ...) {
  model <- iris_net()
  set.seed(5)
  history <- fit(model, x, y, epochs = 4, batch_size = 16, verbose = 0,
                 optimizer = Adam$new(lr = 0.01), metrics = "accuracy", ...)
  list(model = model, history = as.data.frame(history))
}

test_that("a data set trains, predicts and evaluates to the bit as its matrix", {
  ds <- rustnn_dataset(iris_x, y = iris$Species)
  expect_s3_class(ds, "rustnn_dataset")
  expect_identical(dim(ds), c(150L, 4L))
  a <- fit_with(iris_x, iris$Species)
  b <- fit_with(ds)
  expect_identical(b$model$layers[[1]]$params, a$model$layers[[1]]$params)
  expect_identical(b$history, a$history)
  expect_identical(predict(b$model, ds), predict(a$model, iris_x))
  expect_identical(evaluate(b$model, ds), evaluate(a$model, iris_x, iris$Species))
  # Validation split: the same rows held out (R's RNG), the same fit.
  a <- fit_with(iris_x, iris$Species, validation_split = 0.2)
  b <- fit_with(ds, validation_split = 0.2)
  expect_identical(b$history, a$history)
  expect_true("val_loss" %in% names(b$history))
})

test_that("a data set file gives back its rows, and trains block by block", {
  ds <- rustnn_dataset(iris_x, y = iris$Species)
  path <- withr::local_tempfile(fileext = ".rnds")
  expect_identical(dataset_write(ds, path), path)
  on_disk <- dataset_open(path, y = iris$Species)
  expect_true(on_disk$on_disk)
  expect_identical(unname(as.matrix(on_disk)), unname(as.matrix(ds)))
  loaded <- dataset_open(path, y = iris$Species, in_memory = TRUE)
  expect_false(loaded$on_disk)
  expect_identical(as.matrix(loaded), as.matrix(on_disk))
  model <- fit_with(ds)$model
  expect_identical(predict(model, on_disk), predict(model, ds))
  # Every row is visited each epoch (the loss is the mean over 150 rows),
  # and the same seed gives the same fit.
  a <- fit_with(on_disk)
  b <- fit_with(on_disk)
  expect_identical(a$history, b$history)
  # Rows that fit in one block are shuffled as a matrix's are.
  expect_identical(a$history, fit_with(ds)$history)
  expect_lt(a$history$loss[4], a$history$loss[1])
  # A file's data set survives saveRDS() (a new session opens the file
  # again); one in memory does not.
  again <- unserialize(serialize(on_disk, NULL))
  again$session <- "another"
  expect_identical(predict(model, again), predict(model, ds))
  gone <- unserialize(serialize(ds, NULL))
  gone$session <- "another"
  expect_snapshot(predict(model, gone), error = TRUE)
  # Validation rows are views, on disk as in memory.
  b <- fit_with(on_disk, validation_split = 0.2)
  expect_true(all(is.finite(b$history$val_loss)))
  held <- on_disk[c(3, 140)]
  expect_identical(held$y, iris$Species[c(3, 140)])
  expect_identical(as.matrix(held), unname(as.matrix(ds, rows = c(3, 140))))
  # A view of the file keeps it: another session opens the file again and
  # takes the view's rows.
  view <- unserialize(serialize(on_disk[c(150, 2, 77)], NULL))
  view$session <- "another"
  expect_identical(predict(model, view), predict(model, ds[c(150, 2, 77)]))
  # Rows out of order, written over the file they come from.
  reversed <- on_disk[150:1]
  dataset_write(reversed, path)
  expect_identical(as.matrix(dataset_open(path)), unname(as.matrix(ds, rows = 150:1)))
  dataset_write(ds, path)
  # Appending rows.
  dataset_write(ds[1:10], path, append = TRUE)
  expect_identical(nrow(dataset_open(path)), 160L)
  expect_identical(as.matrix(dataset_open(path), rows = 151:160), unname(as.matrix(ds, rows = 1:10)))
})

test_that("data set files are checked before they are read", {
  path <- withr::local_tempfile()
  writeBin(charToRaw("not a data set at all, but long enough for a header....."), path)
  expect_error(dataset_open(path), class = "rustnn_error_file")
  ds <- rustnn_dataset(iris_x)
  dataset_write(ds, path)
  bytes <- readBin(path, "raw", file.size(path))
  writeBin(bytes[1:(length(bytes) - 4)], path)
  expect_error(dataset_open(path), class = "rustnn_error_file")
  # A header that announces more rows than the file holds.
  bytes[17] <- as.raw(255)
  writeBin(bytes, path)
  expect_snapshot(dataset_open(path), error = TRUE, transform = function(x) gsub("/[^ ]*", "<path>", x))
  expect_error(dataset_write(ds, path, append = TRUE), class = "rustnn_error_file")
})

test_that("IDX files go straight to float32, as the R reader's x / 255 would", {
  path <- withr::local_tempfile(fileext = ".idx")
  con <- file(path, "wb")
  writeBin(as.raw(c(0, 0, 0x08, 3)), con)
  writeBin(c(5L, 3L, 4L), con, size = 4, endian = "big")
  writeBin(as.raw(seq(0, 255, length.out = 60)), con)
  close(con)
  ds <- dataset_idx(path)
  expect_identical(dim(ds), c(5L, 1L, 3L, 4L))
  expect_identical(as.matrix(ds), as.matrix(rustnn_dataset(read_idx(path) / 255)))
  gz <- withr::local_tempfile(fileext = ".gz")
  con <- gzfile(gz, "wb")
  writeBin(readBin(path, "raw", 1000), con)
  close(con)
  expect_identical(as.matrix(dataset_idx(gz, divide = 1)), as.matrix(rustnn_dataset(read_idx(path))))
  writeBin(readBin(path, "raw", 30), path)
  expect_error(dataset_idx(path), class = "rustnn_error_file")
  expect_error(dataset_idx(path, divide = 0), class = "rustnn_error_argument")
  # A file that ends after its magic bytes.
  writeBin(as.raw(c(0, 0, 8, 1)), path)
  expect_error(dataset_idx(path), class = "rustnn_error_file")
})

test_that("Fashion-MNIST's images from the IDX file equal the matrix path's", {
  skip_if_not(fashion_mnist_available(), "Fashion-MNIST is not installed")
  dir <- getOption("rustnn.fashion_mnist_path", "/usr/share/datasets/fashion-mnist")
  images <- file.path(dir, "t10k-images-idx3-ubyte.gz")
  fm <- load_fashion_mnist()$test
  ds <- dataset_idx(images, y = fm$y)
  expect_identical(dim(ds), c(10000L, 1L, 28L, 28L))
  rows <- c(1, 77, 10000)
  expect_identical(as.matrix(ds, rows = rows),
                   as.matrix(rustnn_dataset(fm$x[rows, , , drop = FALSE] / 255)))
})

test_that("CSV files are read in chunks, targets from a column", {
  path <- withr::local_tempfile(fileext = ".csv")
  utils::write.csv(iris, path, row.names = FALSE)
  ds <- dataset_csv(path, y = "Species", chunk_rows = 40)
  expect_identical(nrow(ds), 150L)
  expect_identical(ds$y, iris$Species)
  expect_identical(as.matrix(ds), as.matrix(rustnn_dataset(iris[, 1:4])))
  expect_identical(ds$columns, names(iris)[1:4])
  expect_error(dataset_csv(path, columns = "nope"), class = "rustnn_error_argument")
  # A line that does not parse in a later chunk is an error, not the end.
  lines <- readLines(path)
  lines[100] <- paste0(lines[100], ",1")
  writeLines(lines, path)
  expect_error(dataset_csv(path, y = "Species", chunk_rows = 40))
})

test_that("targets come from the data set or y, once", {
  ds <- rustnn_dataset(iris_x, y = iris$Species)
  bare <- rustnn_dataset(iris_x)
  model <- iris_net()
  expect_snapshot(fit(model, ds, iris$Species, epochs = 1, verbose = 0), error = TRUE)
  expect_snapshot(fit(model, bare, epochs = 1, verbose = 0), error = TRUE)
  expect_error(rustnn_dataset(iris_x, y = iris$Species[1:5]), class = "rustnn_error_argument")
  expect_silent(fit(model, bare, iris$Species, epochs = 1, verbose = 0))
  expect_identical(nrow(ds[iris$Species == "setosa"]), 50L)
})

test_that("a model that prepares its inputs in R refuses a data set", {
  set.seed(1)
  model <- Sequential$new(Linear$new(4, 3), Softmax$new())
  fit(model, Species ~ ., data = iris, epochs = 1, verbose = 0)
  expect_snapshot(predict(model, rustnn_dataset(iris_x)), error = TRUE)
})

test_that("cross-validation takes a data set file, whose workers open it from its path", {
  skip_without_future()
  path <- withr::local_tempfile(fileext = ".rnds")
  dataset_write(rustnn_dataset(iris_x), path)
  on_disk <- dataset_open(path, y = iris$Species)
  builder <- function() {
    Sequential$new(Linear$new(4, 5), ReLU$new(), Linear$new(5, 3), Softmax$new())
  }
  run <- function(x, y = NULL) {
    set.seed(3)
    cross_validate(builder, x, y, folds = 3, epochs = 2, batch_size = 16)$folds
  }
  withr::defer(future::plan(future::sequential))
  future::plan(future::sequential)
  from_matrix <- run(iris_x, iris$Species)
  expect_identical(run(on_disk), from_matrix)
  skip_without_loopback()
  local_worker_libs()
  future::plan(future::multisession, workers = 2)
  expect_identical(run(on_disk), from_matrix)
})
