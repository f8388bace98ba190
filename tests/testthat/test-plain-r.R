# float64 training must follow an independent plain-R implementation of the
# same network (tutorial 003's 2-4-1 tanh/sigmoid net) step for step.

test_that("full-batch gradient descent matches plain R for 50 steps", {
  data <- flower_split(3)
  x <- unname(data$x)
  y <- data$y
  set.seed(5)
  w1 <- matrix(runif(8, -1, 1), 2, 4)
  b1 <- runif(4, -0.1, 0.1)
  w2 <- matrix(runif(4, -1, 1), 4, 1)
  b2 <- 0.05
  lr <- 1.2

  model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new(),
                          dtype = "float64")
  model$layers[[1]]$params <- list(weight = w1, bias = b1)
  model$layers[[3]]$params <- list(weight = w2, bias = b2)
  fit(model, x, y, loss = "bce", optimizer = SGD$new(lr = lr), epochs = 50,
      batch_size = nrow(x), shuffle = FALSE, verbose = FALSE)

  # Plain R, rows = samples.
  sigmoid <- function(z) 1 / (1 + exp(-z))
  m <- nrow(x)
  for (step in 1:50) {
    a1 <- tanh(x %*% w1 + matrix(b1, m, 4, byrow = TRUE))
    a2 <- sigmoid(a1 %*% w2 + b2)
    dz2 <- (a2 - y) / m
    dw2 <- t(a1) %*% dz2
    db2 <- sum(dz2)
    dz1 <- (dz2 %*% t(w2)) * (1 - a1^2)
    dw1 <- t(x) %*% dz1
    db1 <- colSums(dz1)
    w1 <- w1 - lr * dw1; b1 <- b1 - lr * db1
    w2 <- w2 - lr * dw2; b2 <- b2 - lr * db2
  }
  expect_equal(model$layers[[1]]$params$weight, w1, tolerance = 1e-10)
  expect_equal(model$layers[[1]]$params$bias, b1, tolerance = 1e-10)
  expect_equal(model$layers[[3]]$params$weight, w2, tolerance = 1e-10)
  expect_equal(model$layers[[3]]$params$bias, b2, tolerance = 1e-10)
  expect_lt(max(abs(model$layers[[1]]$params$weight - w1)), 1e-10)
})

test_that("the manual loop (forward, grad, backward, step) equals fit()", {
  d <- xor_data()
  set.seed(2)
  a <- Sequential$new(Linear$new(2, 2), Tanh$new(), Linear$new(2, 2), dtype = "float64")
  b <- a$clone()
  loss <- SSELoss$new()
  opt <- SGD$new(lr = 0.05, momentum = 0.5)
  for (i in 1:20) {
    out <- a$forward(d$x)
    a$backward(loss$grad(out, d$y))
    opt$step(a)
  }
  fit(b, d$x, d$y, loss = "sse", optimizer = SGD$new(lr = 0.05, momentum = 0.5),
      epochs = 20, batch_size = 4, shuffle = FALSE, verbose = FALSE)
  expect_equal(a$layers[[1]]$params, b$layers[[1]]$params, tolerance = 1e-12)
  expect_equal(a$layers[[3]]$params, b$layers[[3]]$params, tolerance = 1e-12)
  expect_equal(opt$state$steps, 20)
})

test_that("SGD steps match hand-computed updates", {
  set.seed(4)
  model <- Sequential$new(Linear$new(2, 1), dtype = "float64")
  x <- matrix(rnorm(6), 3)
  y <- matrix(rnorm(3), 3)
  w <- model$layers[[1]]$params$weight
  b <- model$layers[[1]]$params$bias
  opt <- SGD$new(lr = 0.1, momentum = 0.9)
  v_w <- 0 * w; v_b <- 0
  for (i in 1:3) {
    model$backward(MSELoss$new()$grad(model$forward(x), y))
    g_w <- t(x) %*% (2 * (x %*% w + b - y) / 3)
    g_b <- sum(2 * (x %*% w + b - y) / 3)
    v_w <- 0.9 * v_w + g_w; v_b <- 0.9 * v_b + g_b
    w <- w - 0.1 * v_w; b <- b - 0.1 * v_b
    opt$step(model)
  }
  expect_equal(model$layers[[1]]$params$weight, w, tolerance = 1e-12)
  expect_equal(model$layers[[1]]$params$bias, b, tolerance = 1e-12)
})
