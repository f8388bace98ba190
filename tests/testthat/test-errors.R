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
  expect_snapshot(error = TRUE, predict(model, matrix(1, 4, 2), type = "probability"))
  expect_snapshot(error = TRUE, model$layers[[1]]$forward(matrix(1, 2, 2)))
  expect_snapshot(error = TRUE, MSELoss$new()$loss(matrix(1, 2, 2), matrix(1, 3, 2)))
  expect_snapshot(error = TRUE, Loss$new("hinge"))
  expect_snapshot(error = TRUE, evaluate(model, matrix(1, 4, 2), factor(1:4)))
})

test_that("engine errors come back as classed R errors, never as values", {
  model <- Sequential$new(Linear$new(2, 3))
  model$forward(matrix(1, 4, 2))
  for (i in 1:3) {
    cnd <- tryCatch(model$backward(matrix(1, 5, 3)), error = identity)
    expect_s3_class(cnd, "rustnn_error_engine")
    expect_false(inherits(cnd, "rustnn_engine_error"))
  }
  expect_error(Sequential$new(Linear$new(2, 4), Linear$new(5, 1)),
               class = "rustnn_error_argument")
  expect_identical(dim(model$forward(matrix(1, 4, 2))), c(4L, 3L))
  returned <- structure(list(message = "boom"), class = "rustnn_engine_error")
  expect_error(rust_call(returned), "boom", class = "rustnn_error_engine")
})

test_that("the training toolkit rejects bad settings with classed errors", {
  expect_snapshot(error = TRUE, bad_fit(metrics = c("accuracy", "kappa")))
  expect_snapshot(error = TRUE, bad_fit(metrics = "auc", y = matrix(rnorm(20), 10),
                                        object = Sequential$new(Linear$new(2, 2))))
  expect_snapshot(error = TRUE, callback_early_stopping(patience = -1))
  expect_snapshot(error = TRUE, callback_early_stopping(monitor = 3))
  expect_snapshot(error = TRUE, bad_fit(callbacks = list(callback_early_stopping(monitor = "val_auc")),
                                        validation_split = 0.2))
  expect_snapshot(error = TRUE, bad_fit(callbacks = list(callback_lr_step_decay(2), callback_lr_cosine(5))))
  expect_snapshot(error = TRUE, bad_fit(callbacks = "early"))
  expect_snapshot(error = TRUE, callback_reduce_lr_on_plateau(factor = 1))
  expect_snapshot(error = TRUE, Dropout$new(rate = 1))
  expect_snapshot(error = TRUE, Linear$new(2, 2, l2 = -1))
  expect_snapshot(error = TRUE, bad_fit(validation_split = 1))
  expect_snapshot(error = TRUE, bad_fit(validation_split = 0.01))
  expect_snapshot(error = TRUE, bad_fit(validation_data = matrix(1, 2, 2)))
  expect_snapshot(error = TRUE, bad_fit(sample_weight = rep(-1, 10)))
  expect_snapshot(error = TRUE, bad_fit(class_weight = c(1, 2)))
  expect_snapshot(error = TRUE, bad_fit(verbose = 3))
  expect_snapshot(error = TRUE, bad_fit(data = iris))
  expect_snapshot(error = TRUE, bad_fit(y = NULL))
  expect_snapshot(error = TRUE, fit(Sequential$new(Linear$new(4, 3)), Species ~ ., data = "iris"))
  expect_snapshot(error = TRUE, rustnn_mlp(Species ~ ., data = iris, hidden_units = -2))
  expect_snapshot(error = TRUE, rustnn_mlp(Species ~ ., data = iris, activation = "swish"))
  expect_snapshot(error = TRUE, callback_epoch_end("f"))
  expect_snapshot(error = TRUE, confusion_matrix(1:3, 1:2))
  expect_error(callback_early_stopping(patience = -1), class = "rustnn_error_argument")
})

test_that("image layers reject bad sizes with classed errors", {
  expect_snapshot(error = TRUE, Conv2d$new(1, 2.5, 3))
  expect_snapshot(error = TRUE, Conv2d$new(1, 2, kernel_size = 2.5))
  expect_snapshot(error = TRUE, Conv2d$new(1, 2, kernel_size = c(3, 3, 3)))
  expect_snapshot(error = TRUE, Conv2d$new(1, 2, 3, stride = 0))
  expect_snapshot(error = TRUE, Conv2d$new(1, 2, 3, padding = -1))
  expect_snapshot(error = TRUE, MaxPool2d$new(0))
  expect_snapshot(error = TRUE, AvgPool2d$new(2, stride = "a"))
  expect_snapshot(error = TRUE, BatchNorm$new(0))
  expect_snapshot(error = TRUE, BatchNorm$new(3, momentum = 2))
  expect_error(Conv2d$new(1, 2, 3, stride = 1.5), class = "rustnn_error_argument")
})

test_that("image models reject data of the wrong rank, channels or size", {
  cnn <- function(...) {
    set.seed(1)
    Sequential$new(Conv2d$new(3, 2, 3), ReLU$new(), Flatten$new(), Linear$new(2 * 4 * 4, 2),
                   Softmax$new(), ...)
  }
  y <- factor(c("a", "b", "a", "b"))
  rgb <- array(runif(4 * 3 * 6 * 6), c(4, 3, 6, 6))
  expect_snapshot(error = TRUE, fit(cnn(), matrix(runif(4 * 108), 4), y))
  expect_snapshot(error = TRUE, fit(cnn(), array(runif(4 * 3 * 6 * 6 * 2), c(4, 3, 6, 6, 2)), y))
  expect_snapshot(error = TRUE, fit(cnn(), array(runif(4 * 6 * 6), c(4, 6, 6)), y))
  expect_snapshot(error = TRUE, fit(cnn(), array(runif(4 * 3 * 2 * 2), c(4, 3, 2, 2)), y))
  expect_snapshot(error = TRUE, fit(cnn(), array(runif(4 * 3 * 7 * 7), c(4, 3, 7, 7)), y))
  expect_snapshot(error = TRUE, fit(cnn(), array(c(NA, runif(4 * 108 - 1)), c(4, 3, 6, 6)), y))
  expect_snapshot(error = TRUE, fit(cnn(), array(letters[1:4], c(4, 1, 1, 1)), y))
  model <- cnn()
  fit(model, rgb, y, epochs = 1, verbose = 0)
  expect_snapshot(error = TRUE, predict(model, array(runif(2 * 3 * 8 * 8), c(2, 3, 8, 8))))
  expect_snapshot(error = TRUE, cnn(input_shape = c(3, 0, 6)))
  expect_snapshot(error = TRUE, cnn(input_shape = c(3, 2, 2)))
  expect_error(cnn(input_shape = "a"), class = "rustnn_error_argument")
  expect_error(fit(cnn(), array(runif(4 * 6 * 6), c(4, 6, 6)), y), class = "rustnn_error_argument")
})

test_that("conv2d() and plot_feature_maps() reject bad input", {
  img <- matrix(runif(16), 4)
  expect_snapshot(error = TRUE, conv2d("a", diag(3)))
  expect_snapshot(error = TRUE, conv2d(img, list(1, 2)))
  expect_snapshot(error = TRUE, conv2d(img, matrix(1, 5, 5)))
  expect_snapshot(error = TRUE, conv2d(img, diag(3), stride = 0.5))
  expect_snapshot(error = TRUE, conv2d(array(runif(16), c(1, 2, 2, 4)), diag(2)))
  expect_error(conv2d(img, matrix(NA_real_, 2, 2)), class = "rustnn_error_argument")
})

test_that("plot_decision_boundary() rejects bad input", {
  model <- Sequential$new(Linear$new(2, 1), Sigmoid$new())
  x <- matrix(runif(20), 10)
  expect_snapshot(error = TRUE, plot_decision_boundary("model", x))
  expect_snapshot(error = TRUE, plot_decision_boundary(Sequential$new(Linear$new(3, 1)), x))
  expect_snapshot(error = TRUE, plot_decision_boundary(model, x[, 1]))
  expect_snapshot(error = TRUE, plot_decision_boundary(model, x, y = 1:3))
  expect_snapshot(error = TRUE, plot_decision_boundary(function(g) 1, x))
  expect_snapshot(error = TRUE, plot_decision_boundary(model, x, resolution = 1))
  expect_error(plot_decision_boundary(model, x, col = "red", y = rep(0:1, 5)),
               class = "rustnn_error_argument")
})

test_that("a misspelt argument in `...` gets a suggestion", {
  model <- Sequential$new(Linear$new(2, 1))
  x <- matrix(rnorm(20), 10)
  expect_error(fit(model, x, x[, 1], bach_size = 3, verbose = 0), class = "rustnn_error_argument")
  expect_snapshot(error = TRUE, fit(model, x, x[, 1], bach_size = 3, verbose = 0))
  expect_snapshot(error = TRUE, predict(model, x, thread = 1, tpye = "class"))
  expect_null(rustnn:::did_you_mean("zzz", c("epochs", "batch_size")))
  expect_match(rustnn:::did_you_mean("batch", c("batch_size", "epochs")), "batch_size")
})
