# Layers written in R (R/custom.R), the tutorial's way.

# Tutorial 001's Linear, with base matrices in place of rray (sweep() adds
# the bias row), unchanged otherwise: no super$initialize().
TutorialLinear <- R6::R6Class("TutorialLinear", inherit = Layer, public = list(
  inputs = NULL,
  initialize = function(input_size, output_size) {
    self$params[["w"]] = matrix(rnorm(input_size * output_size), input_size, output_size)
    self$params[["bias"]] = matrix(rnorm(output_size), 1, output_size)
  },
  forward = function(inputs) {
    self$inputs = inputs
    sweep(self$inputs %*% self$params[["w"]], 2, self$params[["bias"]], "+")
  },
  backward = function(grad) {
    self$grads[["w"]] = t(self$inputs) %*% grad
    self$grads[["bias"]] = matrix(colSums(grad), 1)
    grad %*% t(self$params[["w"]])
  }
))

# An activation with no parameters and no initialize() at all.
Swish <- R6::R6Class("Swish", inherit = Layer, public = list(
  x = NULL,
  forward = function(inputs) {
    self$x <- inputs
    inputs / (1 + exp(-inputs))
  },
  backward = function(grad) {
    s <- 1 / (1 + exp(-self$x))
    grad * (s + self$x * s * (1 - s))
  }
))

xor_x <- matrix(c(0, 0, 1, 0, 0, 1, 1, 1), ncol = 2, byrow = TRUE)
xor_y <- matrix(c(1, 0, 0, 1, 0, 1, 1, 0), ncol = 2, byrow = TRUE)

# The tutorial's network and the same one of built-in layers, same weights.
twin_models <- function(seed = 1) {
  set.seed(seed)
  l1 <- TutorialLinear$new(2, 2)
  l2 <- TutorialLinear$new(2, 2)
  custom <- Sequential$new(l1, Tanh$new(), l2, dtype = "float64")
  builtin <- Sequential$new(Linear$new(2, 2), Tanh$new(), Linear$new(2, 2), dtype = "float64")
  builtin$layers[[1]]$params <- list(weight = l1$params$w, bias = as.vector(l1$params$bias))
  builtin$layers[[3]]$params <- list(weight = l2$params$w, bias = as.vector(l2$params$bias))
  list(custom = custom, builtin = builtin)
}

same_weights <- function(custom, builtin, tolerance = 1e-12) {
  for (i in c(1, 3)) {
    expect_equal(custom$layers[[i]]$params$w, builtin$layers[[i]]$params$weight,
                 tolerance = tolerance)
    expect_equal(as.vector(custom$layers[[i]]$params$bias), builtin$layers[[i]]$params$bias,
                 tolerance = tolerance)
  }
}

test_that("tutorial 001's Linear trains in fit() as the built-in Linear does", {
  m <- twin_models()
  train <- function(model) {
    fit(model, xor_x, xor_y, loss = "sse", optimizer = SGD$new(lr = 0.01), epochs = 1000,
        batch_size = 4, shuffle = FALSE, verbose = 0)
  }
  h_custom <- train(m$custom)
  h_builtin <- train(m$builtin)
  same_weights(m$custom, m$builtin)
  expect_equal(h_custom$metrics$loss, h_builtin$metrics$loss, tolerance = 1e-12)
  expect_lt(utils::tail(h_custom$metrics$loss, 1), h_custom$metrics$loss[1])
  expect_equal(predict(m$custom, xor_x), predict(m$builtin, xor_x), tolerance = 1e-12)
  # The layer object shows the trained weights, and its gradients.
  expect_identical(m$custom$layers[[1]]$params$w, m$custom$.get_state()$params[[1]]$w)
  expect_identical(dim(m$custom$layers[[1]]$params$bias), c(1L, 2L))
})

test_that("the manual loop with a custom layer equals fit()", {
  m <- twin_models(2)
  manual <- m$custom
  fitted <- m$custom$clone(deep = TRUE)
  loss <- SSELoss$new()
  optimizer <- SGD$new(lr = 0.01)
  for (epoch in 1:50) {
    out <- manual$forward(xor_x)
    manual$backward(loss$grad(out, xor_y))
    optimizer$step(manual)
  }
  fit(fitted, xor_x, xor_y, loss = "sse", optimizer = SGD$new(lr = 0.01), epochs = 50,
      batch_size = 4, shuffle = FALSE, verbose = 0)
  expect_equal(manual$layers[[1]]$params, fitted$layers[[1]]$params, tolerance = 1e-12)
  expect_equal(manual$layers[[3]]$params, fitted$layers[[3]]$params, tolerance = 1e-12)
  expect_equal(names(manual$layers[[1]]$grads), c("w", "bias"))
  expect_named(manual$forward(xor_x, keep = TRUE), c("tutoriallinear_1", "tanh_2", "tutoriallinear_3"))
})

test_that("custom layers pass grad_check(), and a wrong backward() fails it", {
  set.seed(3)
  x <- matrix(rnorm(20), 10)
  y <- matrix(rnorm(10), 10)
  model <- Sequential$new(Linear$new(2, 3), Swish$new(), TutorialLinear$new(3, 1))
  expect_true(all(grad_check(model, x, y, loss = "mse")$pass))
  WrongSwish <- R6::R6Class("WrongSwish", inherit = Swish, public = list(
    backward = function(grad) grad / (1 + exp(-self$x))  # forgets x * s * (1 - s)
  ))
  wrong <- Sequential$new(Linear$new(2, 3), WrongSwish$new(), Linear$new(3, 1))
  expect_false(all(grad_check(wrong, x, y, loss = "mse")$pass))
})

test_that("one thread or two, and the same seed, give the same custom training", {
  set.seed(4)
  x <- matrix(rnorm(400), 200)
  y <- factor(x[, 1] * x[, 2] > 0)
  train <- function(threads) {
    set.seed(5)
    model <- Sequential$new(Linear$new(2, 8), Swish$new(), TutorialLinear$new(8, 1), Sigmoid$new())
    set.seed(6)
    fit(model, x, y, optimizer = Adam$new(lr = 0.05), epochs = 5, batch_size = 16,
        threads = threads, verbose = 0)
    model$layers[[3]]$params
  }
  one <- train(1)
  expect_identical(train(2), one)
  expect_identical(train(1), one)
})

test_that("mistakes in a custom layer are classed errors naming the layer and the method", {
  Wide <- R6::R6Class("Wide", inherit = Swish, public = list(
    forward = function(inputs) cbind(inputs, inputs)
  ))
  Wide$set("public", "out_features", 2L)
  NaNs <- R6::R6Class("NaNs", inherit = Swish, public = list(forward = function(inputs) inputs / 0 * 0))
  Unset <- R6::R6Class("Unset", inherit = Layer, public = list(
    initialize = function() self$params$a <- 1,
    forward = function(inputs) inputs * self$params$a,
    backward = function(grad) grad * self$params$a
  ))
  Fails <- R6::R6Class("Fails", inherit = Swish, public = list(
    backward = function(grad) stop("my backward broke")
  ))
  x <- matrix(rnorm(20), 10)
  y <- rnorm(10)
  for (layer in list(Wide$new(), NaNs$new(), Unset$new(), Fails$new())) {
    model <- Sequential$new(Linear$new(2, 2), layer, Linear$new(2, 1))
    before <- model$layers[[1]]$params
    expect_error(fit(model, x, y, epochs = 2, verbose = 0), class = "rustnn_error_custom_layer")
    # The model keeps its last good weights (float32 ones, as its engine
    # holds them); a sound forward() still predicts.
    expect_equal(model$layers[[1]]$params, before, tolerance = 1e-6)
    if (inherits(layer, c("Unset", "Fails"))) expect_no_error(predict(model, x))
  }
  expect_snapshot(error = TRUE, {
    fit(Sequential$new(Linear$new(2, 2), Wide$new(), Linear$new(2, 1)), x, y, verbose = 0)
    fit(Sequential$new(Linear$new(2, 2), NaNs$new(), Linear$new(2, 1)), x, y, verbose = 0)
    fit(Sequential$new(Linear$new(2, 2), Unset$new(), Linear$new(2, 1)), x, y, verbose = 0)
    fit(Sequential$new(Linear$new(2, 2), Fails$new(), Linear$new(2, 1)), x, y, verbose = 0)
  })
  # The user's own error is there, as the parent.
  err <- tryCatch(fit(Sequential$new(Linear$new(2, 2), Fails$new(), Linear$new(2, 1)), x, y,
                      verbose = 0), error = identity)
  expect_match(conditionMessage(err$parent), "my backward broke")
  NoBackward <- R6::R6Class("NoBackward", inherit = Layer, public = list(forward = function(inputs) inputs))
  expect_error(Sequential$new(Linear$new(2, 2), NoBackward$new()), class = "rustnn_error_custom_layer")
})

test_that("a warning in a custom layer reaches the handlers around fit()", {
  Noisy <- R6::R6Class("Noisy", inherit = Swish, public = list(
    forward = function(inputs) {
      warning("noisy forward")
      super$forward(inputs)
    }
  ))
  # Building it runs forward() once, to learn its width.
  model <- suppressWarnings(Sequential$new(Linear$new(2, 2), Noisy$new(), Linear$new(2, 1)))
  seen <- 0
  withCallingHandlers(
    fit(model, matrix(rnorm(20), 10), rnorm(10), epochs = 2, batch_size = 10, verbose = 0),
    warning = function(w) {
      if (grepl("noisy forward", conditionMessage(w))) seen <<- seen + 1
      invokeRestart("muffleWarning")
    })
  expect_gte(seen, 2)
})

test_that("clone() and saveRDS() keep custom layers", {
  m <- twin_models(7)$custom
  fit(m, xor_x, xor_y, loss = "sse", optimizer = SGD$new(lr = 0.01), epochs = 10, verbose = 0)
  copy <- m$clone(deep = TRUE)
  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(m, rds)
  back <- readRDS(rds)
  expect_identical(predict(copy, xor_x), predict(m, xor_x))
  expect_identical(predict(back, xor_x), predict(m, xor_x))
  fit(back, xor_x, xor_y, loss = "sse", optimizer = SGD$new(lr = 0.01), epochs = 10, verbose = 0)
  fit(m, xor_x, xor_y, loss = "sse", optimizer = SGD$new(lr = 0.01), epochs = 10, verbose = 0)
  expect_identical(back$layers[[1]]$params, m$layers[[1]]$params)
  # The clone trains on its own layer objects.
  expect_false(identical(copy$layers[[1]]$params, m$layers[[1]]$params))
})

test_that("a metric written in R goes into the history, as computed on each epoch's predictions", {
  set.seed(8)
  x <- matrix(rnorm(200), 100)
  y <- x[, 1] - 2 * x[, 2] + rnorm(100, sd = 0.1)
  model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(2 * 2, 1), dtype = "float64")
  max_error <- function(y_true, y_pred) max(abs(y_true - y_pred))
  by_hand <- numeric()
  watch <- callback_epoch_end(function(epoch, logs) {
    by_hand[epoch] <<- max(abs(y - predict(model, x)))
    expect_equal(logs[["max_error"]], by_hand[epoch])
  })
  history <- fit(model, x, y, epochs = 5, optimizer = SGD$new(lr = 0.05),
                 metrics = list("mae", max_error = max_error), callbacks = list(watch),
                 verbose = 0)
  expect_equal(history$metrics$max_error, by_hand)
  expect_true(all(c("loss", "mae", "max_error") %in% names(as.data.frame(history))))
  # With validation data, also val_<name>.
  h2 <- fit(model, x, y, epochs = 2, metrics = list(max_error = max_error), validation_split = 0.2,
            verbose = 0)
  expect_length(h2$metrics$val_max_error, 2)
  expect_no_error(plot(h2, method = "base"))
  # evaluate() takes them too.
  ev <- evaluate(model, x, y, metrics = list("mae", max_error = max_error))
  expect_equal(ev[["max_error"]], max_error(y, predict(model, x)))
  expect_error(fit(model, x, y, metrics = list(function(a, b) 1), verbose = 0),
               class = "rustnn_error_argument")
  expect_snapshot(error = TRUE, fit(model, x, y, metrics = list(function(a, b) 1), verbose = 0))
})

test_that("a loss written in R trains as the built-in one it computes", {
  MyMSE <- R6::R6Class("MyMSE", public = list(
    loss = function(pred, y) mean((pred - y)^2),
    grad = function(pred, y) 2 * (pred - y) / length(y)
  ))
  set.seed(9)
  x <- matrix(rnorm(300), 100)
  y <- cbind(x[, 1] - x[, 2], x[, 3] * 0.5)
  make <- function() {
    set.seed(10)
    Sequential$new(Linear$new(3, 6), Tanh$new(), Linear$new(6, 2), dtype = "float64")
  }
  train <- function(loss) {
    model <- make()
    set.seed(11)
    h <- fit(model, x, y, loss = loss, optimizer = Adam$new(lr = 0.01), epochs = 20,
             batch_size = 16, validation_split = 0.2, verbose = 0)
    list(model = model, history = h)
  }
  mine <- train(MyMSE$new())
  builtin <- train("mse")
  expect_equal(mine$model$layers[[3]]$params, builtin$model$layers[[3]]$params, tolerance = 1e-12)
  expect_equal(mine$history$metrics$loss, builtin$history$metrics$loss, tolerance = 1e-12)
  expect_equal(mine$history$metrics$val_loss, builtin$history$metrics$val_loss, tolerance = 1e-12)
  expect_identical(mine$history$params$loss, "MyMSE")
  # evaluate() and grad_check() take it too.
  expect_equal(evaluate(mine$model, x, y, loss = MyMSE$new())[["loss"]],
               evaluate(mine$model, x, y, loss = "mse")[["loss"]], tolerance = 1e-12)
  expect_true(all(grad_check(make(), x[1:10, ], y[1:10, ], loss = MyMSE$new())$pass))
  # Its mistakes are classed errors naming it.
  Broken <- R6::R6Class("Broken", public = list(
    loss = function(pred, y) mean((pred - y)^2),
    grad = function(pred, y) (pred - y)[, 1, drop = FALSE]
  ))
  model <- make()
  before <- model$layers[[1]]$params
  expect_error(fit(model, x, y, loss = Broken$new(), verbose = 0), class = "rustnn_error_custom_loss")
  expect_identical(model$layers[[1]]$params, before)
  expect_snapshot(error = TRUE, fit(model, x, y, loss = Broken$new(), verbose = 0))
  expect_error(fit(model, x, y, loss = list(loss = 1), verbose = 0), class = "rustnn_error_argument")
  expect_error(fit(model, x, y, loss = MyMSE$new(), sample_weight = rep(1, 100), verbose = 0),
               class = "rustnn_error_argument")
})

# Found in review: each was wrong before.
Flaky <- R6::R6Class("Flaky", inherit = Swish, public = list(
  calls = 0,
  forward = function(inputs) {
    self$calls <- self$calls + 1
    if (self$calls > 25) stop("boom")
    super$forward(inputs)
  }
))

test_that("a layer that fails mid-fit leaves the model's state equal to its engine", {
  set.seed(12)
  x <- matrix(rnorm(100), 50)
  y <- rnorm(50)
  model <- Sequential$new(Linear$new(2, 3), Flaky$new(), Linear$new(3, 1), dtype = "float64")
  expect_error(fit(model, x, y, epochs = 5, batch_size = 10, verbose = 0),
               class = "rustnn_error_custom_layer")
  model$layers[[2]]$calls <- -1e6
  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(model, rds)
  expect_identical(predict(readRDS(rds), x), predict(model, x))
  expect_identical(predict(model$clone(deep = TRUE), x), predict(model, x))
})

test_that("a clone runs its own layer objects", {
  Scale <- R6::R6Class("Scale", inherit = Layer, public = list(
    k = 1,
    forward = function(inputs) inputs * self$k,
    backward = function(grad) grad * self$k
  ))
  x <- matrix(rnorm(10), 5)
  model <- Sequential$new(Linear$new(2, 2), Scale$new(), dtype = "float64")
  copy <- model$clone(deep = TRUE)
  p <- predict(copy, x)
  copy$layers[[2]]$k <- 10
  expect_equal(predict(copy, x), p * 10)
  model$layers[[2]]$k <- 3
  expect_equal(predict(copy, x), p * 10)
  expect_equal(predict(model, x), p * 3)
})

test_that("a gradient of the wrong shape is refused, transposed or not", {
  Transposed <- R6::R6Class("Transposed", inherit = TutorialLinear, public = list(
    backward = function(grad) {
      self$grads$w <- t(t(self$inputs) %*% grad)
      self$grads$bias <- colSums(grad)
      grad %*% t(self$params$w)
    }
  ))
  model <- Sequential$new(Transposed$new(3, 2), Linear$new(2, 1))
  x <- matrix(rnorm(30), 10)
  model$forward(x)
  expect_error(model$backward(matrix(1, 10, 1)), class = "rustnn_error_custom_layer")
  expect_snapshot(error = TRUE, model$backward(matrix(1, 10, 1)))
})

test_that("a model called from inside its own layer is refused, not deadlocked", {
  Nosy <- R6::R6Class("Nosy", inherit = Swish, public = list(
    target = NULL,
    forward = function(inputs) {
      if (!is.null(self$target)) predict(self$target, matrix(0, 2, 2))
      super$forward(inputs)
    }
  ))
  nosy <- Nosy$new()
  model <- Sequential$new(Linear$new(2, 2), nosy)
  model$layers[[2]]$target <- model
  expect_error(predict(model, matrix(1, 3, 2)), class = "rustnn_error_busy")
  model$layers[[2]]$target <- NULL
  expect_no_error(predict(model, matrix(1, 3, 2)))
})

test_that("parameters assigned to a custom layer in a model keep its names and shapes", {
  model <- Sequential$new(TutorialLinear$new(2, 3), Linear$new(3, 1))
  p <- model$layers[[1]]$params
  expect_error(model$layers[[1]]$params <- list(w = t(p$w), bias = p$bias), class = "rustnn_error_argument")
  expect_error(model$layers[[1]]$params <- list(w = p$w), class = "rustnn_error_argument")
  expect_error(model$layers[[1]]$params <- c(p, list(extra = 1)), class = "rustnn_error_argument")
  expect_identical(model$layers[[1]]$params, p)
  p$w[] <- 0.5
  model$layers[[1]]$params <- p
  expect_identical(model$layers[[1]]$params$w, p$w)
  expect_equal(predict(model, matrix(1, 1, 2)), predict(model$clone(deep = TRUE), matrix(1, 1, 2)))
  # print() works with a layer that needs the input's shape before it.
  m2 <- Sequential$new(Linear$new(2, 4), BatchNorm$new(4), Swish$new())
  expect_output(print(m2), "Swish")
})

test_that("save_model() keeps layers written in R; load_model() needs their class", {
  Scaled <- R6::R6Class("Scaled", inherit = Layer, public = list(
    k = NULL, inputs = NULL,
    initialize = function(k) {
      self$k <- k
      self$params$a <- matrix(1, 1, 1)
    },
    forward = function(inputs) {
      self$inputs <- inputs
      inputs * self$k * self$params$a[1]
    },
    backward = function(grad) {
      self$grads$a <- matrix(sum(grad * self$inputs * self$k), 1, 1)
      grad * self$k * self$params$a[1]
    }
  ))
  set.seed(13)
  x <- matrix(rnorm(40), 20)
  y <- x[, 1] + rnorm(20, sd = 0.1)
  model <- Sequential$new(Linear$new(2, 3), Scaled$new(k = 2), Linear$new(3, 1), dtype = "float64")
  fit(model, x, y, epochs = 5, optimizer = Adam$new(lr = 0.01), verbose = 0)
  path <- withr::local_tempfile(fileext = ".rnn")
  save_model(model, path)
  back <- load_model(path)
  expect_identical(predict(back, x), predict(model, x))
  expect_identical(back$layers[[2]]$k, 2)
  expect_s3_class(back$layers[[2]], "Scaled")
  # It trains on as the original does.
  fit(back, x, y, epochs = 2, verbose = 0)
  fit(model, x, y, epochs = 2, verbose = 0)
  expect_identical(back$layers[[2]]$params, model$layers[[2]]$params)
  # Without the class in the session: a classed error naming it.
  script <- tempfile(fileext = ".R")
  writeLines(c("library(rustnn)",
               sprintf("m <- tryCatch(load_model('%s'), error = identity)", path),
               "cat(class(m)[1], conditionMessage(m))"), script)
  out <- system2(file.path(R.home("bin"), "Rscript"), script, stdout = TRUE, stderr = TRUE,
                 env = paste0("R_LIBS=", paste(.libPaths(), collapse = .Platform$path.sep)))
  expect_match(paste(out, collapse = " "), "rustnn_error_model_class")
  expect_match(paste(out, collapse = " "), "Scaled")
})

test_that("loading a layer written in R runs no code the file chooses", {
  Plain <- R6::R6Class("Plain", inherit = Swish, public = list(k = 1),
                       active = list(mode = function(value) {
                         if (!missing(value)) Sys.setenv(RUSTNN_CRAFTED = "setter")
                         "fixed"
                       }))
  model <- Sequential$new(Linear$new(2, 2), Plain$new(), Linear$new(2, 1))
  path <- withr::local_tempfile(fileext = ".rnn")
  save_model(model, path)
  Sys.unsetenv("RUSTNN_CRAFTED")
  # A caller's lazy argument named as the class is not forced.
  loader <- function(path, Plain = Sys.setenv(RUSTNN_CRAFTED = "promise")) load_model(path)
  back <- loader(path)
  expect_identical(Sys.getenv("RUSTNN_CRAFTED"), "")
  expect_s3_class(back$layers[[2]], "Plain")
  # A file naming a built-in layer as one written in R is refused.
  payload <- rustnn:::model_payload(model)
  payload$model$specs[[2]]$class <- "ReLU"
  payload$model$specs[[2]]$fields <- list(mode = "from the file")
  bytes <- rustnn:::encode_model_file(payload)
  crafted <- withr::local_tempfile(fileext = ".rnn")
  writeBin(bytes, crafted)
  expect_error(load_model(crafted), class = "rustnn_error_model_file")
  # Fields that are active bindings are never assigned from a file.
  payload$model$specs[[2]]$class <- "Plain"
  writeBin(rustnn:::encode_model_file(payload), crafted)
  expect_error(load_model(crafted), class = "rustnn_error_model_file")
  expect_identical(Sys.getenv("RUSTNN_CRAFTED"), "")
})
