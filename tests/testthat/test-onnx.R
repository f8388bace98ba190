# export_onnx() and import_onnx(): the files against independent runtimes
# (outputs of the onnx checker's accepted files in ONNX Runtime, and of
# PyTorch, kept as fixtures by tools/onnx/make_fixtures.sh), round trips,
# and files that are not models.

fixture_dir <- normalizePath(test_path("fixtures", "onnx"))
fixture <- function(...) file.path(fixture_dir, ...)

test_that("ONNX Runtime computes what predict() does, for every layer and activation", {
  cases <- onnx_cases()
  expect_setequal(paste0(names(cases), ".f32"),
                  setdiff(list.files(fixture(), "\\.f32$"), "torch_cnn.f32"))
  for (name in names(cases)) {
    case <- cases[[name]]
    ours <- predict(case$model, case$x)
    theirs <- read_f32_rows(fixture(paste0(name, ".f32")), ncol(ours))
    expect_equal(dim(theirs), c(1000L, ncol(ours)), label = name)
    expect_lt(max(abs(ours - theirs)), 1e-5, label = name)
  }
  # The checks were made on files of the same layers: every activation.
  expect_true(all(paste0("act_", c(catalog("activations"))) %in% names(cases)))
})

test_that("a model exported by PyTorch predicts what PyTorch predicted", {
  model <- import_onnx(fixture("torch_cnn.onnx"))
  expect_equal(vapply(model$layers, function(l) class(l)[1], character(1)),
               c("Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "ReLU", "Linear", "Softmax"))
  expect_equal(model$input_shape, c(1L, 8L, 8L))
  x <- onnx_inputs(1000, c(1, 8, 8))
  theirs <- read_f32_rows(fixture("torch_cnn.f32"), 5)
  expect_lt(max(abs(predict(model, x) - theirs)), 1e-5)
  # It can be inspected and trained further.
  expect_length(model$forward(x[1:3, , , , drop = FALSE], keep = TRUE), 8L)
  expect_output(print(summary(model)), "Conv2d")
  before <- model$layers[[7]]$params$weight
  set.seed(1)
  fit(model, x[1:100, , , , drop = FALSE], factor(rep(letters[1:5], 20)), epochs = 2, verbose = 0)
  expect_false(isTRUE(all.equal(model$layers[[7]]$params$weight, before)))
})

test_that("exported models round-trip with identical float32 predictions", {
  path <- withr::local_tempfile(fileext = ".onnx")
  for (case in onnx_cases(n = 50)) {
    expect_identical(export_onnx(case$model, path), path)
    back <- import_onnx(path)
    expect_identical(predict(back, case$x), predict(case$model, case$x))
  }
  # The standardization comes back as the model's.
  mlp <- onnx_cases(n = 5)$mlp
  export_onnx(mlp$model, path)
  pre <- import_onnx(path)$.get_state()$preprocess
  expect_equal(pre$center, c(5, -2, 0.5, 10, 0, 3))
  expect_equal(pre$scale, c(2, 0.5, 1, 4, 0.25, 3))
})

test_that("a float64 model is written in float32 and read in either precision", {
  set.seed(3)
  model <- Sequential$new(Linear$new(3, 4), GELU$new(), Linear$new(4, 2), dtype = "float64")
  x <- matrix(rnorm(30), 10)
  path <- withr::local_tempfile(fileext = ".onnx")
  export_onnx(model, path)
  back <- import_onnx(path, dtype = "float64")
  expect_identical(back$dtype, "float64")
  expect_equal(predict(back, x), predict(model, x), tolerance = 1e-6)
})

test_that("rustnn_mlp() models are exported with their input and output scales", {
  set.seed(4)
  path <- withr::local_tempfile(fileext = ".onnx")
  cars <- rustnn_mlp(mtcars[, -1], mtcars$mpg, hidden_units = 4, epochs = 20)
  export_onnx(cars, path)
  back <- import_onnx(path)
  x <- as.matrix(mtcars[, -1])
  expect_equal(predict(back, x)[, 1], predict(cars, mtcars)$.pred, tolerance = 1e-5)
  flowers <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 4, epochs = 10)
  export_onnx(flowers, path)
  probs <- predict(import_onnx(path), as.matrix(iris[, 1:4]))
  expect_equal(unname(probs), unname(as.matrix(predict(flowers, iris, type = "prob"))),
               tolerance = 1e-6)
})

test_that("what an ONNX file cannot hold is refused, with classed errors", {
  withr::local_dir(withr::local_tempdir())
  Twice <- R6::R6Class("Twice", inherit = Layer, public = list(
    forward = function(inputs) 2 * inputs,
    backward = function(grad) 2 * grad
  ))
  model <- Sequential$new(Linear$new(2, 2), Twice$new())
  expect_snapshot(error = TRUE, export_onnx(model, "model.onnx"))
  err <- expect_error(export_onnx(model, "model.onnx"), class = "rustnn_error_onnx_unsupported")
  expect_identical(err$layer, "Twice")
  expect_false(file.exists("model.onnx"))

  cnn <- Sequential$new(Conv2d$new(1, 2, 3), Flatten$new(), Linear$new(2 * 4 * 4, 1))
  expect_snapshot(error = TRUE, export_onnx(cnn, "model.onnx"))
  expect_snapshot(error = TRUE, export_onnx(list(), "model.onnx"))
  expect_snapshot(error = TRUE, export_onnx(Sequential$new(Linear$new(2, 2)), "no-such-dir/m.onnx"))
})

test_that("files that are not ONNX models are classed errors", {
  withr::local_dir(withr::local_tempdir())
  writeLines("not a model", "text.onnx")
  expect_snapshot(error = TRUE, import_onnx("text.onnx"))
  expect_error(import_onnx("text.onnx"), class = "rustnn_error_onnx_invalid")
  writeBin(raw(), "empty.onnx")
  expect_snapshot(error = TRUE, import_onnx("empty.onnx"))
  bytes <- readBin(fixture("torch_cnn.onnx"), "raw", 1e5)
  writeBin(bytes[seq_len(length(bytes) - 100)], "truncated.onnx")
  expect_snapshot(error = TRUE, import_onnx("truncated.onnx"))
  expect_error(import_onnx("truncated.onnx"), class = "rustnn_error_onnx_truncated")
  expect_snapshot(error = TRUE, import_onnx("missing.onnx"))
  expect_error(import_onnx("missing.onnx"), class = "rustnn_error_onnx_file")
  expect_error(import_onnx("."), class = "rustnn_error_onnx_file")
  expect_snapshot(error = TRUE, import_onnx(fixture("torch_cnn.onnx"), dtype = "half"))
})

#' `bytes` with the last occurrence of string `from` replaced by `to`, of
#' the same length: an operator's name in a protobuf string field (a node's
#' name, which PyTorch makes of its operator's, comes before it).
replace_string <- function(bytes, from, to) {
  from <- charToRaw(from)
  starts <- which(bytes == from[1])
  at <- starts[vapply(starts, function(s) identical(bytes[s - 1 + seq_along(from)], from), logical(1))]
  at <- at[length(at)]
  bytes[at - 1 + seq_along(from)] <- charToRaw(to)
  bytes
}

test_that("operators outside the subset are named in classed errors", {
  withr::local_dir(withr::local_tempdir())
  bytes <- readBin(fixture("torch_cnn.onnx"), "raw", 1e5)
  writeBin(replace_string(bytes, "Softmax", "Hardmax"), "hardmax.onnx")
  expect_snapshot(error = TRUE, import_onnx("hardmax.onnx"))
  err <- expect_error(import_onnx("hardmax.onnx"), class = "rustnn_error_onnx_unsupported")
  expect_identical(err$operator, "Hardmax")
  writeBin(replace_string(bytes, "Relu", "Selu"), "selu.onnx")
  expect_error(import_onnx("selu.onnx"), class = "rustnn_error_onnx_unsupported")

  # A softmax over images is written (Flatten, Softmax, Reshape) but not
  # read back: rustnn has no layer that reshapes vectors into images.
  model <- Sequential$new(Conv2d$new(1, 2, 2), Softmax$new(), input_shape = c(3, 3))
  export_onnx(model, "image-softmax.onnx")
  expect_snapshot(error = TRUE, import_onnx("image-softmax.onnx"))
})

test_that("damaged files are errors, never crashes or other failures", {
  withr::local_dir(withr::local_tempdir())
  path <- "damaged.onnx"
  check <- function(bytes) {
    writeBin(bytes, path)
    result <- tryCatch(import_onnx(path), rustnn_error_onnx = function(e) e)
    expect_true(inherits(result, "Sequential") || inherits(result, "rustnn_error_onnx"))
  }
  export_onnx(onnx_cases(n = 5)$act_gelu$model, "gelu.onnx")
  small <- readBin("gelu.onnx", "raw", 1e5)
  # Every prefix of a small file.
  for (n in seq_len(length(small) - 1L)) check(small[seq_len(n)])
  # Bytes changed at random, in it and in PyTorch's.
  set.seed(42)
  torch_bytes <- readBin(fixture("torch_cnn.onnx"), "raw", 1e5)
  for (bytes in list(small, torch_bytes)) {
    for (k in 1:150) {
      damaged <- bytes
      at <- sample(length(bytes), sample(1:4, 1))
      damaged[at] <- as.raw(sample(0:255, length(at), replace = TRUE))
      check(damaged)
    }
  }
})
