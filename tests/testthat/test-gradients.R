# Numerical gradient checks (float64, central differences) for every layer
# and loss, through the same public calls a tutorial's manual loop uses.

test_that("every activation and loss passes the gradient check", {
  set.seed(10)
  x <- matrix(rnorm(12), nrow = 4)
  activations <- list(Sigmoid, Tanh, ReLU, Softmax, Identity)
  for (act in activations) {
    model <- Sequential$new(Linear$new(3, 5), act$new(), Linear$new(5, 2), dtype = "float64")
    y <- matrix(rnorm(8), nrow = 4)
    expect_lt(max_grad_error(model, x, y, MSELoss$new()), 1e-6)
    expect_lt(max_grad_error(model, x, y, SSELoss$new()), 1e-6)
  }
})

test_that("cross-entropy losses pass the gradient check behind their activations", {
  set.seed(11)
  x <- matrix(rnorm(15), nrow = 5)
  y_bin <- matrix(c(1, 0, 1, 1, 0), ncol = 1)
  bin <- Sequential$new(Linear$new(3, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new(),
                        dtype = "float64")
  expect_lt(max_grad_error(bin, x, y_bin, BCELoss$new()), 1e-6)
  y_cat <- diag(3)[c(1, 3, 2, 2, 1), ]
  cat3 <- Sequential$new(Linear$new(3, 4), Tanh$new(), Linear$new(4, 3), Softmax$new(),
                         dtype = "float64")
  expect_lt(max_grad_error(cat3, x, y_cat, CrossEntropyLoss$new()), 1e-6)
})

test_that("the gradient check catches a wrong gradient", {
  set.seed(12)
  x <- matrix(rnorm(6), nrow = 3)
  y <- matrix(rnorm(3), nrow = 3)
  model <- Sequential$new(Linear$new(2, 1), dtype = "float64")
  HalvedGradient <- R6::R6Class("HalvedGradient", inherit = SSELoss,
    public = list(grad = function(pred, y) 0.5 * super$grad(pred, y)))
  expect_gt(max_grad_error(model, x, y, HalvedGradient$new()), 0.3)
  expect_lt(max_grad_error(model, x, y, SSELoss$new()), 1e-6)
})

test_that("a standalone Linear layer computes x W + b and its gradients", {
  set.seed(13)
  layer <- Linear$new(3, 2)
  x <- matrix(rnorm(12), nrow = 4)
  w <- layer$params$weight
  b <- layer$params$bias
  expect_equal(layer$forward(x), x %*% w + matrix(b, 4, 2, byrow = TRUE), tolerance = 1e-14)
  g <- matrix(rnorm(8), nrow = 4)
  expect_equal(layer$backward(g), g %*% t(w), tolerance = 1e-14)
  expect_equal(layer$grads$weight, t(x) %*% g, tolerance = 1e-14)
  expect_equal(layer$grads$bias, colSums(g), tolerance = 1e-14)
})
