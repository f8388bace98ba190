# Looking inside a network: every layer's output and gradient, and
# grad_check() against finite differences.

# Tutorial 003's 2-4-1 network on its 320 training points.
planar_model <- function(dtype = "float64") {
  set.seed(3)
  Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new(), dtype = dtype)
}

test_that("forward(keep = TRUE) gives every layer's output, as plain R computes them", {
  data <- flower_split()
  model <- planar_model()
  acts <- model$forward(data$x, keep = TRUE)
  expect_named(acts, c("linear_1", "tanh_2", "linear_3", "sigmoid_4"))
  expect_equal(dim(acts$tanh_2), c(320L, 4L))
  w1 <- model$layers[[1]]$params$weight
  b1 <- model$layers[[1]]$params$bias
  w2 <- model$layers[[3]]$params$weight
  b2 <- model$layers[[3]]$params$bias
  z1 <- data$x %*% w1 + matrix(b1, 320, 4, byrow = TRUE)
  a1 <- tanh(z1)
  z2 <- a1 %*% w2 + b2
  expect_equal(acts$linear_1, z1, tolerance = 1e-14, ignore_attr = TRUE)
  expect_equal(acts$tanh_2, a1, tolerance = 1e-14, ignore_attr = TRUE)
  expect_equal(acts$linear_3, z2, tolerance = 1e-14, ignore_attr = TRUE)
  expect_equal(acts$sigmoid_4, 1 / (1 + exp(-z2)), tolerance = 1e-14, ignore_attr = TRUE)
  # The last kept output is what forward() returns.
  expect_identical(acts$sigmoid_4, model$forward(data$x))
})

test_that("backward(keep = TRUE) gives the gradient at every layer's output, as tutorial 003 derives them", {
  data <- flower_split()
  model <- planar_model()
  acts <- model$forward(data$x, keep = TRUE)
  y <- matrix(data$y)
  d_out <- BCELoss$new()$grad(acts$sigmoid_4, y)
  grads <- model$backward(d_out, keep = TRUE)
  expect_named(grads, names(acts))
  expect_equal(grads$sigmoid_4, d_out, ignore_attr = TRUE)
  # dZ2 = A2 - Y (over n, the loss's mean), dA1 = dZ2 W2', dZ1 = dA1 (1 - A1^2).
  dz2 <- (acts$sigmoid_4 - y) / 320
  expect_equal(grads$linear_3, dz2, tolerance = 1e-12, ignore_attr = TRUE)
  w2 <- model$layers[[3]]$params$weight
  expect_equal(grads$tanh_2, dz2 %*% t(w2), tolerance = 1e-12, ignore_attr = TRUE)
  dz1 <- grads$tanh_2 * (1 - acts$tanh_2^2)
  expect_equal(grads$linear_1, dz1, tolerance = 1e-14, ignore_attr = TRUE)
  # The parameter gradients are the kept ones, multiplied out.
  expect_equal(model$layers[[1]]$grads$weight, t(data$x) %*% dz1, tolerance = 1e-12, ignore_attr = TRUE)
  expect_equal(model$layers[[3]]$grads$bias, sum(dz2), tolerance = 1e-12)
})

test_that("kept outputs of image layers are arrays shaped like the layers' outputs", {
  set.seed(4)
  images <- array(rnorm(2 * 6 * 6), c(2, 1, 6, 6))
  conv <- Conv2d$new(1, 3, 3)
  model <- Sequential$new(conv, ReLU$new(), MaxPool2d$new(2), Flatten$new(), Linear$new(12, 2),
                          dtype = "float64")
  acts <- model$forward(images, keep = TRUE)
  expect_named(acts, c("conv2d_1", "relu_2", "max_pool2d_3", "flatten_4", "linear_5"))
  expect_equal(dim(acts$conv2d_1), c(2L, 3L, 4L, 4L))
  expect_equal(dim(acts$max_pool2d_3), c(2L, 3L, 2L, 2L))
  expect_equal(dim(acts$flatten_4), c(2L, 12L))
  p <- model$layers[[1]]$params
  expect_equal(acts$conv2d_1, plain_conv(images, p$weight, p$bias), tolerance = 1e-12)
  expect_equal(acts$max_pool2d_3, plain_pool(pmax(acts$conv2d_1, 0), 2, 2, max), tolerance = 1e-14)
  grads <- model$backward(matrix(1, 2, 2), keep = TRUE)
  expect_equal(dim(grads$relu_2), c(2L, 3L, 4L, 4L))
  # ReLU passes the gradient where its input was positive, and only there.
  expect_equal(grads$conv2d_1, grads$relu_2 * (acts$conv2d_1 > 0))
})

test_that("keep is checked", {
  model <- planar_model()
  x <- matrix(rnorm(6), ncol = 2)
  expect_error(model$forward(x, keep = NA), class = "rustnn_error_argument")
  model$forward(x)
  expect_error(model$backward(matrix(1, 3, 1), keep = "yes"), class = "rustnn_error_argument")
})

test_that("kept outputs of float32 and batch-normalized models are the layers' outputs", {
  set.seed(7)
  x <- matrix(rnorm(40), 10)
  model <- Sequential$new(Linear$new(4, 3), BatchNorm$new(3), ReLU$new(), Linear$new(3, 2))
  acts <- model$forward(x, keep = TRUE)
  expect_named(acts, c("linear_1", "batch_norm_2", "relu_3", "linear_4"))
  p <- model$layers[[1]]$params
  z <- x %*% p$weight + matrix(p$bias, 10, 3, byrow = TRUE)
  expect_equal(acts$linear_1, z, tolerance = 1e-6, ignore_attr = TRUE)
  # Training mode: each column normalized with the batch's mean and
  # (biased) variance, then gamma = 1, beta = 0.
  normalized <- sweep(sweep(z, 2, colMeans(z)), 2, sqrt(colMeans(sweep(z, 2, colMeans(z))^2) + 1e-5), "/")
  expect_equal(acts$batch_norm_2, normalized, tolerance = 1e-5, ignore_attr = TRUE)
  expect_equal(acts$relu_3, pmax(acts$batch_norm_2, 0))
  expect_identical(acts$linear_4, model$forward(x, training = TRUE))
})

test_that("grad_check finds backpropagation right on tutorial 003's network (errors below 1e-7)", {
  data <- flower_split()
  for (dtype in c("float64", "float32")) {
    model <- planar_model(dtype)
    before <- lapply(model$layers, function(l) l$params)
    check <- grad_check(model, data$x, data$y, loss = "bce")
    expect_s3_class(check, "rustnn_grad_check")
    expect_equal(check$layer, c("linear_1", "linear_1", "linear_3", "linear_3"))
    expect_equal(check$param, c("weight", "bias", "weight", "bias"))
    expect_equal(check$checked, c(8, 4, 4, 1))
    expect_true(all(check$pass))
    expect_lt(max(check$max_abs_error), 1e-7)
    expect_lt(max(check$max_error), 1e-7)
    # Relative errors of near-zero gradients are finite differences' noise
    # (about 1e-10 absolute), which is why `pass` does not use them.
    expect_lt(max(check$max_rel_error), 1e-4)
    # The model is untouched: the check runs on a float64 copy.
    expect_identical(lapply(model$layers, function(l) l$params), before)
    expect_identical(model$dtype, dtype)
  }
  expect_output(print(check), "Backpropagation is right")
  entries <- attr(check, "entries")
  expect_equal(nrow(entries), 17L)
  expect_equal(entries$analytic, entries$numeric, tolerance = 1e-6)
})

test_that("a hand-written loss with a wrong gradient fails grad_check", {
  data <- flower_split()
  model <- planar_model()
  # Forgets the 2 of d/dp (p - y)^2: every gradient is half what it should be.
  HalfSquare <- R6::R6Class("HalfSquare", public = list(
    loss = function(pred, y) sum((pred - y)^2),
    grad = function(pred, y) pred - y
  ))
  check <- grad_check(model, data$x[1:20, ], data$y[1:20], loss = HalfSquare$new())
  expect_false(any(check$pass))
  entries <- attr(check, "entries")
  expect_equal(entries$analytic, entries$numeric / 2, tolerance = 1e-6)
  expect_output(print(check), "Backpropagation is wrong for linear_1\\$weight")
  # The same loss, written right, passes; so does a subclass of a built-in loss.
  Square <- R6::R6Class("Square", inherit = HalfSquare,
                        public = list(grad = function(pred, y) 2 * (pred - y)))
  expect_true(all(grad_check(model, data$x[1:20, ], data$y[1:20], loss = Square$new())$pass))
  Doubled <- R6::R6Class("Doubled", inherit = MSELoss,
                         public = list(grad = function(pred, y, weights = NULL) 2 * super$grad(pred, y)))
  expect_false(any(grad_check(model, data$x[1:20, ], data$y[1:20], loss = Doubled$new())$pass))
})

test_that("grad_check covers image layers, batch normalization, dropout and penalties", {
  set.seed(5)
  images <- array(rnorm(4 * 2 * 5 * 5), c(4, 2, 5, 5))
  y <- factor(c("a", "b", "c", "a"))
  model <- Sequential$new(Conv2d$new(2, 3, 3, padding = 1), BatchNorm$new(3), Tanh$new(),
                          AvgPool2d$new(2), Flatten$new(), Dropout$new(0.3),
                          Linear$new(12, 3, l2 = 0.1, l1 = 0.01), Softmax$new())
  check <- grad_check(model, images, y, loss = "cross_entropy")
  expect_equal(check$layer, c("conv2d_1", "conv2d_1", "batch_norm_2", "batch_norm_2",
                              "linear_7", "linear_7"))
  expect_true(all(check$pass))
  expect_lt(max(check$max_error), 1e-7)
  # Sparse targets: the factor goes to the loss as it is.
  sparse <- grad_check(model, images, y, loss = "sparse_cross_entropy")
  expect_true(all(sparse$pass))
  expect_lt(max(sparse$max_error), 1e-7)
})

test_that("grad_check samples large tensors, and takes the loss of the last fit", {
  set.seed(6)
  x <- matrix(rnorm(30), 10)
  y <- matrix(rnorm(20), 10)
  model <- Sequential$new(Linear$new(3, 40), GELU$new(), Linear$new(40, 2))
  expect_error(grad_check(model, x, y), class = "rustnn_error_argument")
  fit(model, x, y, loss = "huber", epochs = 1, verbose = FALSE)
  check <- grad_check(model, x, y, max_entries = 25)
  expect_equal(check$checked, c(25, 25, 25, 2))
  expect_equal(check$size, c(120, 40, 80, 2))
  expect_true(all(check$pass))
  expect_output(print(check), "25 of 120")
  expect_identical(attr(check, "loss"), "huber (delta = 1)")
})

test_that("grad_check's arguments are checked", {
  model <- planar_model()
  x <- matrix(rnorm(6), ncol = 2)
  y <- c(0, 1, 1)
  expect_error(grad_check(list(), x, y, "bce"), class = "rustnn_error_argument")
  expect_error(grad_check(model, x, y, "nope"), class = "rustnn_error_argument")
  expect_error(grad_check(model, x, y, list(loss = 1)), class = "rustnn_error_argument")
  expect_error(grad_check(model, x, y, "bce", eps = 0), class = "rustnn_error_argument")
  expect_error(grad_check(model, x, y, "bce", tolerance = -1), class = "rustnn_error_argument")
  expect_error(grad_check(model, x, y, "bce", max_entries = 0), class = "rustnn_error_argument")
  expect_error(grad_check(model, matrix(1, 3, 5), y, "bce"), class = "rustnn_error_argument")
  Scalarless <- R6::R6Class("Scalarless", public = list(
    loss = function(pred, y) pred, grad = function(pred, y) pred))
  expect_error(grad_check(model, x, y, Scalarless$new()), "must return one finite number")
  Misshapen <- R6::R6Class("Misshapen", public = list(
    loss = function(pred, y) sum(pred), grad = function(pred, y) matrix(1, 2, 2)))
  err <- expect_error(grad_check(model, x, y, Misshapen$new()), class = "rustnn_error_argument")
  expect_identical(err$arg, "loss")
  expect_match(conditionMessage(err), "shaped like its `pred` \\(3 x 1\\)")
  Infinite <- list(loss = function(pred, y) Inf, grad = function(pred, y) pred)
  err <- expect_error(grad_check(model, x, y, Infinite), class = "rustnn_error_argument")
  expect_identical(err$arg, "loss")
  err <- expect_error(grad_check(model, x, 1:2, Misshapen$new()), class = "rustnn_error_argument")
  expect_identical(err$arg, "y")
  err <- expect_error(grad_check(Sequential$new(Tanh$new()), x, x, "mse"), class = "rustnn_error_argument")
  expect_match(conditionMessage(err), "no parameters")
})

test_that("grad_check works whatever a correct loss reads, and leaves the model as it was", {
  model <- planar_model()
  x <- matrix(rnorm(6), ncol = 2)
  y <- c(0, 1, 1)
  # A gradient that does not depend on pred: the forward pass still runs.
  Linear_in_pred <- list(loss = function(pred, y) sum(pred * y), grad = function(pred, y) matrix(y, ncol = 1))
  expect_true(all(grad_check(model, x, y, Linear_in_pred)$pass))
  # An image model without an input shape keeps none.
  cnn <- Sequential$new(Conv2d$new(1, 2, 3), Flatten$new(), Linear$new(2 * 4 * 4, 1))
  expect_null(cnn$.get_state()$input_shape)
  expect_true(all(grad_check(cnn, array(rnorm(2 * 36), c(2, 1, 6, 6)), c(0.5, 1), "mse")$pass))
  expect_null(cnn$.get_state()$input_shape)
})

test_that("grad_check judges tiny gradients by their own size: a deep sigmoid network's first layer", {
  set.seed(8)
  x <- scale(as.matrix(iris[seq(1, 150, by = 15), 1:4]))
  y <- matrix(rnorm(30), 10)
  hidden <- unlist(lapply(1:8, function(i) list(Sigmoid$new(), Linear$new(16, 16))))
  deep <- Sequential$new(c(list(Linear$new(4, 16)), hidden, list(Sigmoid$new(), Linear$new(16, 3))),
                         dtype = "float64")
  right <- grad_check(deep, x, y, "mse")
  expect_true(all(right$pass))
  # The first layer's gradients are below 1e-6, the tolerance...
  entries <- attr(right, "entries")
  expect_lt(max(abs(entries$analytic[entries$layer == "linear_1"])), 1e-6)
  # ...yet a loss whose gradient is half what it should be fails there too.
  Halved <- R6::R6Class("Halved", inherit = MSELoss,
                        public = list(grad = function(pred, y, weights = NULL) super$grad(pred, y) / 2))
  wrong <- grad_check(deep, x, y, Halved$new())
  expect_false(any(wrong$pass))
  expect_gt(min(wrong$max_error), 10 * 1e-6)
  expect_equal(wrong$max_error[wrong$layer == "linear_17"], c(0.5, 0.5), tolerance = 1e-6)
  expect_output(print(wrong), "or in the loss's")
})

test_that("a grad_check result prints as a plain table once subset", {
  check <- grad_check(planar_model(), matrix(rnorm(6), ncol = 2), c(0, 1, 1), "bce")
  expect_output(print(check[, 1:3]), "layer")
  expect_output(print(check[!check$pass, ]), "0 rows")
  expect_identical(attr(grad_check(planar_model(), matrix(rnorm(6), ncol = 2), c(0, 1, 1),
                                   HuberLoss$new(delta = 2)), "loss"), "huber (delta = 2)")
})
