# Losses: values against plain-R formulas, with and without per-row weights,
# gradients against central differences, and argument checks.

# Central differences of `value(pred)` against `grad`, largest relative error.
pred_grad_error <- function(value, grad, pred, eps = 1e-6) {
  worst <- 0
  for (k in seq_along(pred)) {
    up <- pred; up[k] <- up[k] + eps
    down <- pred; down[k] <- down[k] - eps
    numeric <- (value(up) - value(down)) / (2 * eps)
    worst <- max(worst, abs(numeric - grad[k]) / max(1e-8, abs(numeric), abs(grad[k])))
  }
  worst
}

huber_r <- function(p, y, delta) {
  e <- p - y
  ifelse(abs(e) <= delta, e^2 / 2, delta * (abs(e) - delta / 2))
}

test_that("losses equal their plain-R formulas, without and with weights", {
  set.seed(30)
  p <- matrix(runif(12, 0.05, 0.95), nrow = 4)
  y01 <- matrix(rbinom(12, 1, 0.5), nrow = 4)
  yr <- matrix(rnorm(12), nrow = 4)
  probs <- p / rowSums(p)
  labels <- c(2, 0, 1, 1)
  onehot <- diag(3)[labels + 1, ]
  w <- c(0.5, 2, 0, 1.25)
  n <- nrow(p)
  cases <- list(
    list(MSELoss$new(), yr, function(p, y) rowSums((p - y)^2) / length(p)),
    list(SSELoss$new(), yr, function(p, y) rowSums((p - y)^2)),
    list(MAELoss$new(), yr, function(p, y) rowSums(abs(p - y)) / length(p)),
    list(HuberLoss$new(), yr, function(p, y) rowSums(huber_r(p, y, 1)) / length(p)),
    list(HuberLoss$new(delta = 0.3), yr, function(p, y) rowSums(huber_r(p, y, 0.3)) / length(p)),
    list(BCELoss$new(), y01,
         function(p, y) -rowSums(y * log(p) + (1 - y) * log(1 - p)) / length(p))
  )
  for (case in cases) {
    loss <- case[[1]]
    per_row <- case[[3]](p, case[[2]])
    expect_equal(loss$loss(p, case[[2]]), sum(per_row), tolerance = 1e-14, label = format(loss))
    expect_equal(loss$loss(p, case[[2]], weights = w), sum(w * per_row), tolerance = 1e-14,
                 label = format(loss))
  }
  ce_rows <- -log(probs[cbind(1:n, labels + 1)]) / n
  expect_equal(CrossEntropyLoss$new()$loss(probs, onehot), sum(ce_rows), tolerance = 1e-14)
  sparse <- SparseCrossEntropyLoss$new()
  expect_equal(sparse$loss(probs, labels), sum(ce_rows), tolerance = 1e-14)
  expect_equal(sparse$loss(probs, matrix(labels)), sum(ce_rows), tolerance = 1e-14)
  expect_equal(sparse$loss(probs, as.integer(labels)), sum(ce_rows), tolerance = 1e-14)
  expect_equal(sparse$loss(probs, labels, weights = w), sum(w * ce_rows), tolerance = 1e-14)
  expect_equal(sparse$grad(probs, labels), CrossEntropyLoss$new()$grad(probs, onehot))
})

test_that("a factor target of the sparse loss uses its level codes minus one", {
  probs <- matrix(c(0.7, 0.2, 0.1, 0.2, 0.5, 0.1, 0.1, 0.3, 0.8), nrow = 3)
  f <- factor(c("cat", "dog", "eel"), levels = c("cat", "dog", "eel"))
  sparse <- SparseCrossEntropyLoss$new()
  expect_equal(sparse$loss(probs, f), sparse$loss(probs, c(0, 1, 2)))
  expect_equal(sparse$loss(probs, f), -mean(log(diag(probs))), tolerance = 1e-14)
})

test_that("every loss's gradient matches central differences, with and without weights", {
  set.seed(31)
  p <- matrix(runif(12, 0.1, 0.9), nrow = 4)
  yr <- matrix(rnorm(12), nrow = 4)
  y01 <- matrix(rbinom(12, 1, 0.5), nrow = 4)
  labels <- c(1, 0, 2, 2)
  w <- c(1.5, 0.25, 2, 1)
  cases <- list(
    list(MSELoss$new(), yr), list(SSELoss$new(), yr), list(MAELoss$new(), yr),
    list(HuberLoss$new(), yr), list(HuberLoss$new(delta = 0.4), yr),
    list(BCELoss$new(), y01), list(CrossEntropyLoss$new(), diag(3)[labels + 1, ]),
    list(SparseCrossEntropyLoss$new(), labels)
  )
  for (case in cases) {
    loss <- case[[1]]
    y <- case[[2]]
    for (weights in list(NULL, w)) {
      err <- pred_grad_error(function(pp) loss$loss(pp, y, weights), loss$grad(p, y, weights), p)
      expect_lt(err, 1e-6, label = format(loss))
    }
  }
})

test_that("new losses pass the gradient check through a model", {
  set.seed(32)
  x <- matrix(rnorm(15), nrow = 5)
  y <- matrix(rnorm(10), nrow = 5)
  w <- c(1, 2, 0.5, 0, 3)
  weighted <- function(loss) {
    list(loss = function(p, y) loss$loss(p, y, weights = w),
         grad = function(p, y) loss$grad(p, y, weights = w))
  }
  model <- Sequential$new(Linear$new(3, 4), Tanh$new(), Linear$new(4, 2), dtype = "float64")
  for (loss in list(MAELoss$new(), HuberLoss$new(delta = 0.5))) {
    expect_lt(max_grad_error(model, x, y, loss), 1e-6)
    expect_lt(max_grad_error(model, x, y, weighted(loss)), 1e-6)
  }
  cat3 <- Sequential$new(Linear$new(3, 4), Tanh$new(), Linear$new(4, 3), Softmax$new(),
                         dtype = "float64")
  labels <- c(0, 2, 1, 1, 0)
  expect_lt(max_grad_error(cat3, x, labels, SparseCrossEntropyLoss$new()), 1e-6)
  expect_lt(max_grad_error(cat3, x, labels, weighted(SparseCrossEntropyLoss$new())), 1e-6)
})

test_that("unit weights change nothing and a weight of two duplicates a row", {
  set.seed(33)
  p <- matrix(runif(12, 0.1, 0.9), nrow = 4)
  y <- matrix(rnorm(12), nrow = 4)
  for (loss in list(MSELoss$new(), SSELoss$new(), MAELoss$new(), HuberLoss$new(delta = 0.2))) {
    expect_identical(loss$loss(p, y, weights = rep(1, 4)), loss$loss(p, y))
    expect_identical(loss$grad(p, y, weights = rep(1, 4)), loss$grad(p, y))
    # A mean over 5 rows instead of 4, except for the sum of squares.
    ratio <- if (loss$name == "sse") 1 else 5 / 4
    dup <- c(1:4, 2)
    expect_equal(loss$loss(p, y, weights = c(1, 2, 1, 1)),
                 loss$loss(p[dup, ], y[dup, ]) * ratio, tolerance = 1e-14)
  }
})

test_that("new loss names work where names are accepted", {
  for (name in c("mae", "huber", "sparse_cross_entropy")) {
    loss <- rustnn:::as_loss(name)
    expect_s3_class(loss, "Loss")
    expect_equal(loss$name, name)
  }
  expect_equal(Loss$new("huber")$.description(), list(name = "huber", delta = 1))
  expect_equal(HuberLoss$new(delta = 2)$.description(), list(name = "huber", delta = 2))
  expect_equal(MAELoss$new()$.description(), list(name = "mae", delta = NULL))
  expect_equal(format(HuberLoss$new(0.5)), "<HuberLoss: huber (delta = 0.5)>")
  set.seed(34)
  x <- matrix(runif(40), ncol = 2)
  y <- x %*% c(1, -2) + 0.5
  model <- Sequential$new(Linear$new(2, 1), dtype = "float64")
  for (loss in c("mae", "huber")) {
    h <- fit(model, x, y, loss = loss, optimizer = SGD$new(lr = 0.1), epochs = 30, verbose = FALSE)
    expect_lt(h$metrics$loss[30], h$metrics$loss[1])
  }
})

test_that("bad loss arguments are rejected with classed errors", {
  probs <- matrix(c(0.7, 0.2, 0.3, 0.8), nrow = 2)
  sparse <- SparseCrossEntropyLoss$new()
  expect_snapshot(error = TRUE, HuberLoss$new(delta = 0))
  expect_snapshot(error = TRUE, HuberLoss$new(delta = -1))
  expect_snapshot(error = TRUE, Loss$new("mse", delta = 1))
  expect_snapshot(error = TRUE, Loss$new("hinge"))
  expect_snapshot(error = TRUE, sparse$loss(probs, c(0, 2)))
  expect_snapshot(error = TRUE, sparse$loss(probs, c(0, 0.5)))
  expect_snapshot(error = TRUE, sparse$loss(probs, c(-1, 0)))
  expect_snapshot(error = TRUE, sparse$loss(probs, probs))
  expect_snapshot(error = TRUE, sparse$loss(probs, factor(c("a", "b", "c"))[c(1, 3)]))
  expect_snapshot(error = TRUE, MSELoss$new()$loss(probs, probs, weights = 1:3))
  expect_snapshot(error = TRUE, MSELoss$new()$loss(probs, probs, weights = c(1, -1)))
  expect_snapshot(error = TRUE, MSELoss$new()$loss(probs, probs, weights = c(1, NA)))
  expect_error(sparse$loss(probs, c(0, 2)), class = "rustnn_error_argument")
})

# Which loss fits which output (R/losses.R: loss_output_needs, default_loss()).
iris_x <- function() scale(as.matrix(iris[, 1:4]))

test_that("a cross-entropy loss on outputs that are not a softmax is refused", {
  raw <- Sequential$new(Linear$new(4, 8), ReLU$new(), Linear$new(8, 3))
  expect_error(fit(raw, iris_x(), iris$Species, epochs = 1, verbose = 0),
               class = "rustnn_error_loss_output")
  sig <- Sequential$new(Linear$new(4, 3), Sigmoid$new())
  expect_error(fit(sig, iris_x(), iris$Species, epochs = 1, verbose = 0),
               class = "rustnn_error_loss_output")
  expect_error(fit(sig, iris_x(), iris$Species, loss = "sparse_cross_entropy", epochs = 1,
                   verbose = 0), class = "rustnn_error_loss_output")
  one <- Sequential$new(Linear$new(4, 1))
  expect_error(fit(one, iris_x(), iris$Species == "setosa", loss = "bce", epochs = 1, verbose = 0),
               class = "rustnn_error_loss_output")
  # Nothing trained: the weights are those before the call.
  w <- raw$layers[[1]]$params$weight
  try(fit(raw, iris_x(), iris$Species, epochs = 1, verbose = 0), silent = TRUE)
  expect_identical(raw$layers[[1]]$params$weight, w)
  expect_snapshot(error = TRUE, {
    fit(raw, iris_x(), iris$Species, epochs = 1, verbose = 0)
    fit(sig, iris_x(), iris$Species, epochs = 1, verbose = 0)
    fit(one, iris_x(), iris$Species == "setosa", loss = "bce", epochs = 1, verbose = 0)
  })
})

test_that("bce on one sigmoid per class of several warns that rows do not sum to 1", {
  sig <- Sequential$new(Linear$new(4, 3), Sigmoid$new())
  expect_snapshot(h <- fit(sig, iris_x(), iris$Species, loss = "bce", epochs = 1, verbose = 0))
  expect_warning(fit(sig, iris_x(), iris$Species, loss = "bce", epochs = 1, verbose = 0),
                 class = "rustnn_warning_loss_output")
  # Independent 0/1 labels (multi-label) are what bce on sigmoids is for.
  labels <- cbind(iris$Species == "setosa", iris$Sepal.Width > 3, iris$Petal.Width > 1) + 0
  expect_no_warning(fit(sig, iris_x(), labels, loss = "bce", epochs = 1, verbose = 0))
})

test_that("the default loss comes from the target and the last layer together", {
  soft <- function() Sequential$new(Linear$new(4, 3), Softmax$new())
  sig <- function() Sequential$new(Linear$new(4, 1), Sigmoid$new())
  lin <- function() Sequential$new(Linear$new(4, 1))
  loss_of <- function(model, y) fit(model, iris_x(), y, epochs = 1, verbose = 0)$params$loss
  one_hot <- diag(3)[as.integer(iris$Species), ]
  expect_equal(loss_of(soft(), one_hot), "cross_entropy")
  expect_equal(loss_of(soft(), as.integer(iris$Species) - 1L), "sparse_cross_entropy")
  expect_equal(loss_of(soft(), iris$Species), "cross_entropy")
  expect_equal(loss_of(sig(), iris$Species == "setosa"), "bce")
  expect_equal(loss_of(sig(), as.numeric(iris$Species == "setosa")), "bce")
  expect_equal(loss_of(lin(), iris$Petal.Width), "mse")
  expect_equal(loss_of(lin(), as.numeric(iris$Species == "setosa")), "mse")
  # The same loss as naming it: a softmax on one-hot rows trains as with
  # loss = "cross_entropy".
  set.seed(3); a <- soft(); set.seed(3); b <- soft()
  set.seed(4); fit(a, iris_x(), one_hot, epochs = 3, verbose = 0)
  set.seed(4); fit(b, iris_x(), one_hot, loss = "cross_entropy", epochs = 3, verbose = 0)
  expect_identical(a$layers[[1]]$params, b$layers[[1]]$params)
})
