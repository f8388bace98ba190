# Bad input gets a classed R error that names the argument; every message is
# snapshot-tested.

bad_fit <- function(...) {
  set.seed(1)
  model <- Sequential$new(Linear$new(2, 3), Tanh$new(), Linear$new(3, 1))
  args <- utils::modifyList(list(object = model, x = matrix(rnorm(20), 10), y = rnorm(10),
                                 verbose = FALSE), list(...))
  do.call(fit, args)
}

test_that("fit() rejects bad data with classed errors", {
  expect_snapshot(error = TRUE, bad_fit(x = matrix(rnorm(30), 10)))
  expect_snapshot(error = TRUE, bad_fit(x = matrix(c(NA, rnorm(19)), 10)))
  expect_snapshot(error = TRUE, bad_fit(x = matrix(c(Inf, rnorm(19)), 10)))
  expect_snapshot(error = TRUE, bad_fit(x = data.frame(a = 1:10, b = letters[1:10])))
  expect_snapshot(error = TRUE, bad_fit(x = matrix(numeric(0), 0, 2), y = numeric(0)))
  expect_snapshot(error = TRUE, bad_fit(y = rnorm(9)))
  expect_snapshot(error = TRUE, bad_fit(y = c(NaN, rnorm(9))))
  expect_snapshot(error = TRUE, bad_fit(y = matrix(rnorm(20), 10)))
  expect_snapshot(error = TRUE, bad_fit(y = factor(letters[1:10])))
  expect_snapshot(error = TRUE, bad_fit(x = "a"))
  expect_error(bad_fit(x = matrix(rnorm(30), 10)), class = "rustnn_error_argument")
})

test_that("fit() rejects bad settings with classed errors", {
  expect_snapshot(error = TRUE, bad_fit(loss = "hinge"))
  expect_snapshot(error = TRUE, bad_fit(loss = 3))
  expect_snapshot(error = TRUE, bad_fit(epochs = 0))
  expect_snapshot(error = TRUE, bad_fit(epochs = 2.5))
  expect_snapshot(error = TRUE, bad_fit(batch_size = -1))
  expect_snapshot(error = TRUE, bad_fit(threads = 0))
  expect_snapshot(error = TRUE, bad_fit(shuffle = NA))
  expect_snapshot(error = TRUE, bad_fit(optimizer = 3))
  expect_snapshot(error = TRUE, SGD$new(lr = 0))
  expect_snapshot(error = TRUE, SGD$new(lr = -1))
  expect_snapshot(error = TRUE, SGD$new(momentum = 1))
  expect_error(SGD$new(lr = 0), class = "rustnn_error")
})

test_that("building models and layers rejects bad input", {
  expect_snapshot(error = TRUE, Linear$new(0, 2))
  expect_snapshot(error = TRUE, Sequential$new())
  expect_snapshot(error = TRUE, Sequential$new(Linear$new(2, 4), "relu"))
  expect_snapshot(error = TRUE, Sequential$new(Linear$new(2, 4), Linear$new(5, 1)))
  expect_snapshot(error = TRUE, Sequential$new(Linear$new(2, 4), dtype = "float16"))
  model <- Sequential$new(Linear$new(2, 3))
  expect_snapshot(error = TRUE, model$layers[[1]]$params$weight <- matrix(1, 3, 3))
  expect_snapshot(error = TRUE, model$layers[[1]]$params$bias <- c(1, NA, 3))
  expect_snapshot(error = TRUE, model$layers[[1]]$params <- list(weight = matrix(1, 2, 3)))
  expect_snapshot(error = TRUE, model$layers <- list())
  expect_snapshot(error = TRUE, model$layers[[1]]$grads <- list())
})

test_that("manual passes and predict() reject bad input", {
  set.seed(1)
  model <- Sequential$new(Linear$new(2, 3), Sigmoid$new())
  expect_snapshot(error = TRUE, model$backward(matrix(1, 4, 3)))
  model$forward(matrix(1, 4, 2))
  expect_snapshot(error = TRUE, model$backward(matrix(1, 5, 3)))
  expect_error(model$backward(matrix(1, 5, 3)), class = "rustnn_error_engine")
  expect_snapshot(error = TRUE, SGD$new()$step(model$clone()))
  expect_snapshot(error = TRUE, predict(model, matrix(1, 4, 3)))
  expect_snapshot(error = TRUE, predict(model, matrix(1, 4, 2), type = "prob"))
  expect_snapshot(error = TRUE, model$layers[[1]]$forward(matrix(1, 2, 2)))
  expect_snapshot(error = TRUE, MSELoss$new()$loss(matrix(1, 2, 2), matrix(1, 3, 2)))
  expect_snapshot(error = TRUE, Loss$new("hinge"))
  expect_snapshot(error = TRUE, evaluate(model, matrix(1, 4, 2), factor(1:4)))
})
