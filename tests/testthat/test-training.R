# The tutorials' networks reach their accuracies; training is reproducible,
# thread-count independent, and survives saveRDS() and clone().

test_that("tutorial 001: XOR with Linear(2,2)-Tanh-Linear(2,2) and SGD on SSE", {
  d <- xor_data()
  set.seed(1)
  model <- Sequential$new(Linear$new(2, 2), Tanh$new(), Linear$new(2, 2))
  fit(model, d$x, d$y, loss = "sse", optimizer = SGD$new(lr = 0.01), epochs = 5000,
      batch_size = 4, verbose = FALSE)
  expect_equal(predict(model, d$x, type = "class"), max.col(d$y))
})

test_that("tutorial 002: iris 4-40-3 reaches 95% training accuracy in 30 epochs", {
  set.seed(1)
  model <- Sequential$new(Linear$new(4, 40), Sigmoid$new(), Linear$new(40, 3), Softmax$new())
  fit(model, iris[, 1:4], iris$Species, loss = "cross_entropy",
      optimizer = SGD$new(lr = 0.5), epochs = 30, batch_size = 10, verbose = FALSE)
  result <- evaluate(model, iris[, 1:4], iris$Species)
  expect_gte(result[["accuracy"]], 0.95)
  classes <- predict(model, iris[, 1:4], type = "class")
  expect_s3_class(classes, "factor")
  expect_equal(levels(classes), levels(iris$Species))
  expect_equal(mean(classes == iris$Species), result[["accuracy"]])
})

test_that("tutorial 003: the planar flower 2-4-1 net reaches 85% test accuracy", {
  d <- flower_split(69)
  set.seed(69)
  model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
  history <- fit(model, d$x, d$y, loss = "bce", optimizer = SGD$new(lr = 1.2),
                 epochs = 10000, batch_size = nrow(d$x), verbose = FALSE)
  expect_lt(history$metrics$loss[10000], history$metrics$loss[1])
  expect_gte(evaluate(model, d$x_test, d$y_test)[["accuracy"]], 0.85)
  p <- predict(model, d$x_test)
  expect_true(all(p > 0 & p < 1))
  expect_equal(predict(model, d$x_test, type = "class"), as.integer(p > 0.5))
})

train_once <- function(seed, threads, dtype = "float32") {
  set.seed(seed)
  x <- matrix(rnorm(3000 * 20), ncol = 20)
  y <- factor(sample(letters[1:4], 3000, replace = TRUE))
  model <- Sequential$new(Linear$new(20, 300), ReLU$new(), Linear$new(300, 4), Softmax$new(),
                          dtype = dtype)
  h <- fit(model, x, y, optimizer = SGD$new(lr = 0.05, momentum = 0.9), epochs = 3,
           batch_size = 256, threads = threads, verbose = FALSE)
  list(loss = h$metrics$loss, params = lapply(model$layers, function(l) l$params))
}

test_that("same seed, same model and history; 1 and 2 threads give identical weights", {
  one <- train_once(7, threads = 1)
  expect_identical(train_once(7, threads = 1), one)
  expect_identical(train_once(7, threads = 2), one)
  expect_false(identical(train_once(8, threads = 1)$params, one$params))
  expect_identical(train_once(7, 2, "float64"), train_once(7, 1, "float64"))
})

test_that("a network large enough for every parallel path trains bit-identically on 1, 2 and 3 threads", {
  # 600 x 500 weights (300,500 values) and batches of 128 x 600 cross the
  # sizes above which the matrix products, the optimizer step and the
  # gathering of batch rows run on several threads.
  set.seed(3)
  x <- matrix(rnorm(512 * 600), 512)
  y <- factor(sample(letters[1:4], 512, replace = TRUE))
  train <- function(threads) {
    set.seed(5)
    model <- Sequential$new(Linear$new(600, 500), ReLU$new(), Linear$new(500, 4), Softmax$new())
    h <- fit(model, x, y, optimizer = RMSprop$new(lr = 1e-3), epochs = 2, batch_size = 128,
             verbose = FALSE, threads = threads)
    list(loss = h$metrics$loss, params = lapply(model$layers, function(l) l$params),
         pred = predict(model, x, threads = threads))
  }
  one <- train(1)
  expect_identical(train(2), one)
  expect_identical(train(3), one)
  expect_true(all(is.finite(one$loss)))
})

test_that("saveRDS/readRDS keeps predictions; clone() trains independently", {
  d <- flower_split(1)
  set.seed(1)
  model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
  fit(model, d$x, d$y, loss = "bce", optimizer = SGD$new(lr = 1.2), epochs = 200,
      batch_size = 64, verbose = FALSE)
  before <- predict(model, d$x_test)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(model, path)
  restored <- readRDS(path)
  expect_identical(predict(restored, d$x_test), before)
  expect_identical(restored$layers[[3]]$params, model$layers[[3]]$params)
  fit(restored, d$x, d$y, epochs = 5, verbose = FALSE)  # keeps training, same loss
  expect_false(identical(predict(restored, d$x_test), before))

  twin <- model$clone()
  fit(twin, d$x, d$y, epochs = 20, verbose = FALSE)
  expect_identical(predict(model, d$x_test), before)
  expect_false(identical(twin$layers[[1]]$params, model$layers[[1]]$params))
  expect_identical(twin$layers[[1]]$model, twin)
  expect_identical(model$layers[[1]]$model, model)
})

test_that("assigning weights sets them; fit() results show in the same field", {
  set.seed(3)
  model <- Sequential$new(Linear$new(2, 3), Sigmoid$new(), Linear$new(3, 1), dtype = "float64")
  w <- matrix(c(0.1, 0.2, 0.3, 0.4, 0.5, 0.6), 2, 3)
  model$layers[[1]]$params$weight <- w
  expect_identical(model$layers[[1]]$params$weight, w)
  x <- matrix(c(1, 2), 1)
  h <- 1 / (1 + exp(-(x %*% w + model$layers[[1]]$params$bias)))
  expect_equal(model$forward(x), h %*% model$layers[[3]]$params$weight +
                 model$layers[[3]]$params$bias, tolerance = 1e-14)
  layer <- model$layers[[1]]
  fit(model, matrix(rnorm(20), 10), rnorm(10), epochs = 3, verbose = FALSE)
  expect_false(identical(layer$params$weight, w))
  expect_identical(layer$params, model$layers[[1]]$params)
})

test_that("a layer already in a model is copied into a new one", {
  set.seed(4)
  shared <- Linear$new(2, 2)
  a <- Sequential$new(shared)
  b <- Sequential$new(shared)
  expect_identical(shared$model, a)
  expect_identical(b$layers[[1]]$params, a$layers[[1]]$params)
  fit(b, matrix(rnorm(8), 4), matrix(rnorm(8), 4), epochs = 2, verbose = FALSE)
  expect_false(identical(b$layers[[1]]$params, a$layers[[1]]$params))
})

test_that("optimizer state persists across fit() calls", {
  set.seed(5)
  x <- matrix(rnorm(40), 20)
  y <- rnorm(20)
  opt <- SGD$new(lr = 0.01, momentum = 0.9)
  model <- Sequential$new(Linear$new(2, 1))
  fit(model, x, y, optimizer = opt, epochs = 2, batch_size = 5, verbose = FALSE)
  expect_equal(opt$state$steps, 8)
  fit(model, x, y, optimizer = opt, epochs = 1, batch_size = 5, verbose = FALSE)
  expect_equal(opt$state$steps, 12)
  expect_length(opt$state$slots, 2)
})
