test_that("printing a model lists layers, output shapes and parameter counts", {
  set.seed(1)
  model <- Sequential$new(Linear$new(4, 40), Sigmoid$new(), Linear$new(40, 3), Softmax$new())
  expect_snapshot(print(model))
  expect_snapshot(summary(model))
  s <- summary(model)
  expect_equal(s$total_params, 4 * 40 + 40 + 40 * 3 + 3)
  expect_equal(s$layers$output_shape, c("(n, 40)", "(n, 40)", "(n, 3)", "(n, 3)"))
})

test_that("history prints, converts and plots", {
  set.seed(1)
  model <- Sequential$new(Linear$new(1, 1))
  x <- matrix(1:10 / 10)
  h <- fit(model, x, 2 * x[, 1], epochs = 5, verbose = FALSE)
  expect_s3_class(h, "rustnn_history")
  df <- as.data.frame(h)
  expect_equal(names(df), c("epoch", "loss", "lr"))
  expect_equal(nrow(df), 5)
  expect_output(print(h), "5 epochs")
  path <- withr::local_tempfile(fileext = ".pdf")
  grDevices::pdf(path)
  expect_invisible(plot(h, method = "base"))
  grDevices::dev.off()
  expect_gt(file.size(path), 0)
})

test_that("verbose fit prints progress lines", {
  set.seed(1)
  model <- Sequential$new(Linear$new(1, 1))
  x <- matrix(1:10 / 10)
  expect_output(fit(model, x, x[, 1], epochs = 20, verbose = TRUE), "Epoch 20/20 - [0-9.]+s - loss: ")
})

test_that("default_threads honours the option and the check limit", {
  withr::local_options(rustnn.threads = 3L)
  expect_equal(default_threads(), 3L)
  withr::local_options(rustnn.threads = NULL)
  withr::local_envvar(`_R_CHECK_LIMIT_CORES_` = "TRUE")
  expect_lte(default_threads(), 2L)
})

test_that("planar_flower follows the published construction", {
  set.seed(1)
  d <- planar_flower(400)
  expect_equal(dim(d), c(400, 3))
  expect_equal(as.vector(table(d$y)), c(200, 200))
  r <- sqrt(d$x1^2 + d$x2^2)
  expect_lt(max(r), 4 + 1)
})

test_that("subclasses of built-in layers are refused, not silently run as the built-in layer", {
  MyTanh <- R6::R6Class("MyTanh", inherit = Tanh,
                        public = list(forward = function(x, training = TRUE) x * 0))
  MyLayer <- R6::R6Class("MyLayer", inherit = Layer,
                         public = list(initialize = function() super$initialize("linear", 2L, 2L)))
  expect_error(Sequential$new(Linear$new(2, 2), MyTanh$new()), class = "rustnn_error_custom_layer")
  expect_error(Sequential$new(MyLayer$new()), class = "rustnn_error_custom_layer")
  expect_error(Sequential$new(Layer$new()), class = "rustnn_error_custom_layer")
  expect_snapshot(error = TRUE, {
    Sequential$new(Linear$new(2, 2), MyTanh$new())
    Sequential$new(MyLayer$new())
    Sequential$new(Linear$new(2, 2), Layer$new())
  })
})
