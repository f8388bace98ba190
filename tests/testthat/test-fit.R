# fit()'s toolkit: validation, metrics, callbacks, schedules, NaN stops,
# weights, the formula interface, mlp_sequential(), progress display.

binary_data <- function(n = 200, seed = 3) {
  set.seed(seed)
  x <- matrix(rnorm(n * 2), ncol = 2)
  y <- factor(ifelse(x[, 1] + 0.5 * x[, 2] + rnorm(n, sd = 0.5) > 0, "yes", "no"))
  list(x = x, y = y)
}

test_that("metrics equal plain-R computations of the same predictions", {
  d <- binary_data()
  set.seed(1)
  model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
  fit(model, d$x, d$y, optimizer = SGD$new(lr = 0.2), epochs = 5, verbose = 0)
  p <- predict(model, d$x)[, 1]
  truth <- as.integer(d$y == "yes")
  guess <- as.integer(p > 0.5)
  tp <- sum(guess == 1 & truth == 1)
  precision <- tp / sum(guess == 1)
  recall <- tp / sum(truth == 1)
  r <- rank(p)
  n1 <- sum(truth == 1)
  auc <- (sum(r[truth == 1]) - n1 * (n1 + 1) / 2) / (n1 * sum(truth == 0))
  got <- evaluate(model, d$x, d$y, metrics = c("accuracy", "precision", "recall", "f1", "auc"))
  expect_equal(unname(got[-1]),
               c(mean(guess == truth), precision, recall,
                 2 * precision * recall / (precision + recall), auc), tolerance = 1e-12)
  bce <- -mean(truth * log(p) + (1 - truth) * log(1 - p))
  expect_equal(got[["loss"]], bce, tolerance = 1e-6)

  # Regression figures.
  set.seed(2)
  x <- matrix(rnorm(300), ncol = 3)
  y <- cbind(x %*% c(1, -1, 0.5), x[, 1]^2)
  reg <- Sequential$new(Linear$new(3, 8), Tanh$new(), Linear$new(8, 2), dtype = "float64")
  fit(reg, x, y, epochs = 3, verbose = 0)
  pred <- predict(reg, x)
  r2 <- mean(sapply(1:2, function(j) 1 - sum((y[, j] - pred[, j])^2) / sum((y[, j] - mean(y[, j]))^2)))
  got <- evaluate(reg, x, y, metrics = c("mae", "rmse", "r2"))
  expect_equal(unname(got), c(mean((pred - y)^2), mean(abs(pred - y)), sqrt(mean((pred - y)^2)), r2),
               tolerance = 1e-12)
})

test_that("macro precision, recall and F1 follow scikit-learn's definitions", {
  set.seed(4)
  model <- Sequential$new(Linear$new(4, 3), Softmax$new())
  fit(model, Species ~ ., data = iris, optimizer = SGD$new(lr = 0.05), epochs = 2, verbose = 0)
  guess <- predict(model, iris, type = "class")
  per_class <- sapply(levels(iris$Species), function(k) {
    tp <- sum(guess == k & iris$Species == k)
    p <- if (sum(guess == k)) tp / sum(guess == k) else 0
    r <- tp / sum(iris$Species == k)
    c(p, r, if (p + r > 0) 2 * p * r / (p + r) else 0)
  })
  got <- evaluate(model, Species ~ ., data = iris, metrics = c("precision", "recall", "f1"))
  expect_equal(unname(got[-1]), unname(rowMeans(per_class)), tolerance = 1e-12)
})

test_that("the history has one row per epoch and one column per figure", {
  d <- binary_data()
  set.seed(1)
  model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
  h <- fit(model, d$x, d$y, epochs = 4, metrics = c("accuracy", "auc"),
           validation_data = list(d$x[1:50, ], d$y[1:50]), verbose = 0)
  df <- as.data.frame(h)
  expect_equal(names(df), c("epoch", "loss", "accuracy", "auc", "val_loss", "val_accuracy",
                            "val_auc", "lr"))
  expect_equal(nrow(df), 4)
  expect_identical(model$history, h)
  # The last validation figures are those of the final model on that data.
  final <- evaluate(model, d$x[1:50, ], d$y[1:50], metrics = c("accuracy", "auc"))
  expect_equal(df$val_loss[4], final[["loss"]], tolerance = 1e-5)
  expect_equal(df$val_accuracy[4], final[["accuracy"]])
  expect_equal(df$val_auc[4], final[["auc"]])
})

test_that("validation_split holds out rows drawn with R's RNG, as validation_data would", {
  d <- binary_data(100)
  set.seed(1)
  a <- Sequential$new(Linear$new(2, 1), Sigmoid$new())
  b <- a$clone(deep = TRUE)
  set.seed(9)
  ha <- fit(a, d$x, d$y, epochs = 3, validation_split = 0.25, verbose = 0)
  set.seed(9)
  held <- rustnn:::validation_rows(100, 0.25, d$y)
  hb <- fit(b, d$x[-held, ], d$y[-held], epochs = 3,
            validation_data = list(d$x[held, ], d$y[held]), verbose = 0)
  expect_identical(as.data.frame(ha), as.data.frame(hb))
  expect_equal(ha$params$rows, 100 - length(held))
})

test_that("early stopping stops, and restores the best weights", {
  # A rate far too large for these inputs makes the validation loss climb
  # after the first epochs.
  set.seed(5)
  x <- matrix(rnorm(400, sd = 3), ncol = 2)
  y <- x[, 1] - x[, 2]
  model <- Sequential$new(Linear$new(2, 1), dtype = "float64")
  h <- fit(model, x, y, optimizer = SGD$new(lr = 0.12), epochs = 100, batch_size = 200,
           validation_data = list(x, y), shuffle = FALSE, verbose = 0,
           callbacks = list(callback_early_stopping(patience = 2, restore_best_weights = TRUE)))
  df <- as.data.frame(h)
  best <- which.min(df$val_loss)
  expect_lt(nrow(df), 100)
  expect_equal(h$status, "early_stopped")
  expect_equal(nrow(df), best + 2)
  expect_equal(h$restored_epoch, best)
  expect_equal(evaluate(model, x, y)[["loss"]], df$val_loss[best], tolerance = 1e-12)
})

test_that("learning-rate schedules set each epoch's rate", {
  set.seed(1)
  x <- matrix(rnorm(100), ncol = 2)
  run <- function(cb) {
    model <- Sequential$new(Linear$new(2, 1))
    as.data.frame(fit(model, x, x[, 1], optimizer = SGD$new(lr = 0.1), epochs = 6,
                      callbacks = list(cb), verbose = 0))$lr
  }
  expect_equal(run(callback_lr_step_decay(2, 0.5)), 0.1 * 0.5^c(0, 0, 1, 1, 2, 2))
  expect_equal(run(callback_lr_exponential_decay(0.9)), 0.1 * 0.9^(0:5))
  expect_equal(run(callback_lr_cosine(t_max = 5, lr_min = 0.01)),
               0.01 + 0.09 * (1 + cos(pi * pmin(0:5, 5) / 5)) / 2)
  plateau <- run(callback_reduce_lr_on_plateau("loss", factor = 0.5, patience = 1, min_delta = 10))
  expect_equal(plateau, 0.1 * 0.5^c(0, 0, 1, 2, 3, 4))
})

test_that("a user callback sees each epoch's figures and can stop training", {
  set.seed(1)
  x <- matrix(rnorm(100), ncol = 2)
  seen <- list()
  cb <- callback_epoch_end(function(epoch, logs) {
    seen[[epoch]] <<- logs
    epoch == 3
  })
  model <- Sequential$new(Linear$new(2, 1))
  h <- fit(model, x, x[, 1], epochs = 10, metrics = "mae", callbacks = list(cb), verbose = 0)
  expect_length(seen, 3)
  expect_named(seen[[3]], c("loss", "mae", "lr"))
  expect_equal(unname(seen[[2]]["loss"]), h$metrics$loss[2])
  expect_equal(h$status, "stopped")
  failing <- callback_epoch_end(function(epoch, logs) stop("no luck"))
  expect_warning(fit(model, x, x[, 1], epochs = 5, callbacks = list(failing), verbose = 0),
                 class = "rustnn_warning_callback")
})

test_that("a diverging fit stops with a warning and keeps finite weights", {
  set.seed(1)
  x <- matrix(rnorm(200), ncol = 2)
  model <- Sequential$new(Linear$new(2, 8), ReLU$new(), Linear$new(8, 1))
  fit(model, x, x[, 1], epochs = 2, verbose = 0)
  before <- lapply(model$layers, function(l) l$params)
  expect_warning(h <- fit(model, x * 1e30, x[, 1] * 1e30, optimizer = SGD$new(lr = 10),
                          epochs = 5, verbose = 0),
                 "epoch 1", class = "rustnn_warning_non_finite")
  expect_equal(h$status, "non_finite")
  expect_identical(lapply(model$layers, function(l) l$params), before)
  expect_true(all(is.finite(predict(model, x))))
})

test_that("same seed, same result with dropout and shuffling", {
  run <- function(seed) {
    set.seed(seed)
    model <- Sequential$new(Linear$new(4, 16), ReLU$new(), Dropout$new(0.3),
                            Linear$new(16, 3), Softmax$new())
    h <- fit(model, Species ~ ., data = iris, optimizer = SGD$new(lr = 0.1), epochs = 5,
             batch_size = 8, verbose = 0)
    list(h$metrics, predict(model, iris))
  }
  expect_identical(run(1), run(1))
  expect_false(identical(run(1)[[1]], run(2)[[1]]))
  # Inference ignores dropout; a training forward pass drops about 30%.
  set.seed(3)
  model <- Sequential$new(Linear$new(4, 1000), Dropout$new(0.3), dtype = "float64")
  x <- as.matrix(iris[1:5, 1:4])
  expect_identical(model$forward(x, training = FALSE), predict(model, x))
  dropped <- mean(model$forward(x) == 0)
  expect_gt(dropped, 0.25)
  expect_lt(dropped, 0.35)
})

test_that("dropout and L1/L2 pass the numerical gradient check", {
  set.seed(11)
  model <- Sequential$new(Linear$new(3, 4, l1 = 0.01, l2 = 0.1), Tanh$new(),
                          Linear$new(4, 2, l2 = 0.05), dtype = "float64")
  x <- matrix(rnorm(15), 5)
  y <- matrix(rnorm(10), 5)
  penalty <- function() {
    w1 <- model$layers[[1]]$params$weight
    w2 <- model$layers[[3]]$params$weight
    0.01 * sum(abs(w1)) + 0.1 * sum(w1^2) + 0.05 * sum(w2^2)
  }
  expect_lt(max_grad_error(model, x, y, MSELoss$new(), extra = penalty), 1e-7)
  # Dropout with a fixed mask is linear: check it with a fixed seed.
  drop <- Sequential$new(Linear$new(3, 4), Dropout$new(0.5), Linear$new(4, 2), dtype = "float64")
  expect_lt(max_grad_error(drop, x, y, MSELoss$new(), seed = 5), 1e-7)
})

test_that("formula interface and predict() on new data frames", {
  set.seed(1)
  df <- data.frame(a = rnorm(120), b = rnorm(120),
                   g = factor(sample(c("u", "v", "w"), 120, replace = TRUE)))
  df$y <- factor(ifelse(df$a + (df$g == "v") > 0.3, "hi", "lo"))
  model <- Sequential$new(Linear$new(4, 6), Tanh$new(), Linear$new(6, 1), Sigmoid$new())
  fit(model, y ~ a + b + g, data = df, optimizer = SGD$new(lr = 0.5), epochs = 30, verbose = 0)
  # The same design matrix built by hand gives the same predictions.
  mm <- model.matrix(~ a + b + g, df)[, -1]
  expect_equal(predict(model, df[1:10, c("g", "b", "a")]), predict(model, mm[1:10, ]))
  expect_equal(levels(predict(model, df, type = "class")), c("hi", "lo"))
  prob <- predict(model, df, type = "prob")
  expect_equal(colnames(prob), c("hi", "lo"))
  expect_equal(unname(rowSums(prob)), rep(1, 120), tolerance = 1e-6)
  expect_snapshot(error = TRUE, predict(model, df[, c("a", "g")]))
  bad_level <- df[1:3, ]
  bad_level$g <- factor(c("u", "z", "w"))
  expect_snapshot(error = TRUE, predict(model, bad_level))
  expect_snapshot(error = TRUE, fit(model, y ~ a + nope, data = df, verbose = 0))
})

test_that("class_weight and sample_weight weight the loss", {
  d <- binary_data(50)
  set.seed(1)
  model <- Sequential$new(Linear$new(2, 1), Sigmoid$new(), dtype = "float64")
  w <- ifelse(d$y == "yes", 3, 1)
  a <- model$clone(deep = TRUE)
  b <- model$clone(deep = TRUE)
  set.seed(2)
  ha <- fit(a, d$x, d$y, class_weight = c(no = 1, yes = 3), epochs = 3, verbose = 0)
  set.seed(2)
  hb <- fit(b, d$x, d$y, sample_weight = w, epochs = 3, verbose = 0)
  expect_identical(ha$metrics, hb$metrics)
  # A weighted loss equals the plain loss with each row repeated w times,
  # up to the divisor (rows, not the sum of the weights).
  p <- predict(model, d$x)[, 1]
  truth <- as.integer(d$y == "yes")
  weighted <- -sum(w * (truth * log(p) + (1 - truth) * log(1 - p))) / 50
  set.seed(2)
  h <- fit(model$clone(deep = TRUE), d$x, d$y, sample_weight = w, epochs = 1,
           batch_size = 50, optimizer = SGD$new(lr = 1e-12), verbose = 0)
  expect_equal(h$metrics$loss, weighted, tolerance = 1e-9)
})

test_that("mlp_sequential() builds, standardizes and trains in one call", {
  set.seed(1)
  model <- mlp_sequential(Species ~ ., data = iris, hidden = c(16, 8), epochs = 60, batch_size = 16,
               metrics = "accuracy", verbose = 0)
  expect_s3_class(model, "Sequential")
  expect_equal(vapply(model$layers, function(l) class(l)[1], ""),
               c("Linear", "ReLU", "Linear", "ReLU", "Linear", "Softmax"))
  expect_gte(tail(model$history$metrics$accuracy, 1), 0.9)
  st <- model$.get_state()$preprocess
  expect_equal(unname(st$center), unname(colMeans(iris[, 1:4])))
  expect_equal(unname(st$scale), unname(apply(iris[, 1:4], 2, sd)))
  expect_gte(mean(predict(model, iris, type = "class") == iris$Species), 0.9)
  # Regression with a matrix: standardization is applied to new inputs too.
  set.seed(2)
  x <- matrix(rnorm(200, mean = 100, sd = 10), ncol = 2)
  y <- (x[, 1] - 100) / 10
  reg <- mlp_sequential(x, y, hidden = integer(0), epochs = 100, verbose = 0,
             optimizer = SGD$new(lr = 0.1))
  expect_lt(mean((predict(reg, x)[, 1] - y)^2), 1e-3)
})

test_that("Adam on iris (4-16-3, ReLU, batch 16, lr 0.01) reaches 96% in 50 epochs", {
  set.seed(1)
  model <- Sequential$new(Linear$new(4, 16), ReLU$new(), Linear$new(16, 3), Softmax$new())
  h <- fit(model, Species ~ ., data = iris, optimizer = Adam$new(lr = 0.01), epochs = 50,
           batch_size = 16, metrics = "accuracy", verbose = 0)
  expect_gte(evaluate(model, Species ~ ., data = iris)[["accuracy"]], 0.96)
})

test_that("progress: one line per epoch, a few lines in logs, a bar in consoles", {
  set.seed(1)
  x <- matrix(rnorm(100), ncol = 2)
  model <- Sequential$new(Linear$new(2, 1))
  per_epoch <- capture.output(fit(model, x, x[, 1], epochs = 30, verbose = 2))
  expect_length(per_epoch, 30)
  expect_match(per_epoch[30], "^Epoch 30/30 - [0-9.]+s - loss: [0-9.]+$")
  logged <- capture.output(fit(model, x, x[, 1], epochs = 100, verbose = 1))
  expect_lte(length(logged), 12)
  expect_false(any(grepl("\r", logged, fixed = TRUE)))
  expect_length(capture.output(fit(model, x, x[, 1], epochs = 5, verbose = 0)), 0)
  rep <- rustnn:::progress_reporter(1L, 4L, dynamic = TRUE)
  drawn <- capture.output({
    rep$on_batch(1L, 5L, 10L, 0.5)
    rep$on_epochs(2L, rbind(c(loss = 0.25, lr = 0.1)))
    rep$finish()
  })
  expect_match(paste(drawn, collapse = ""), "\r\\[=+ *\\] +50% Epoch 2/4")
  expect_match(paste(drawn, collapse = ""), "ETA")
})

test_that("summary() is a Keras-like table", {
  set.seed(1)
  model <- Sequential$new(Linear$new(4, 40), Sigmoid$new(), Dropout$new(0.2),
                          Linear$new(40, 3), Softmax$new())
  expect_snapshot(summary(model))
})

test_that("confusion_matrix() counts and prints", {
  actual <- factor(c("a", "a", "b", "b", "c"))
  predicted <- factor(c("a", "b", "b", "b", "a"), levels = c("a", "b", "c"))
  cm <- confusion_matrix(actual, predicted)
  expect_equal(unclass(cm)[, ], matrix(c(1, 0, 1, 1, 2, 0, 0, 0, 0), 3,
                                       dimnames = list(actual = c("a", "b", "c"),
                                                       predicted = c("a", "b", "c"))),
               ignore_attr = TRUE)
  expect_snapshot(print(cm))
})

test_that("plot(history) draws with base graphics and ggplot2", {
  set.seed(1)
  x <- matrix(rnorm(100), ncol = 2)
  model <- Sequential$new(Linear$new(2, 1))
  h <- fit(model, x, x[, 1], epochs = 5, metrics = "mae", validation_split = 0.2, verbose = 0)
  path <- withr::local_tempfile(fileext = ".pdf")
  grDevices::pdf(path)
  expect_invisible(plot(h, method = "base"))
  grDevices::dev.off()
  expect_gt(file.size(path), 0)
  long <- rustnn:::history_long(h, NULL)
  expect_equal(nrow(long), 4 * 5)
  expect_setequal(unique(long$data), c("training", "validation"))
  skip_if_not_installed("ggplot2")
  g <- plot(h, method = "ggplot2")
  expect_s3_class(g, "ggplot")
  expect_equal(nrow(g$data), 20)
})

test_that("sparse cross-entropy on labels trains like cross-entropy on one-hot rows", {
  run <- function(loss, y) {
    set.seed(8)
    model <- Sequential$new(Linear$new(4, 6), Tanh$new(), Linear$new(6, 3), Softmax$new(),
                            dtype = "float64")
    h <- fit(model, as.matrix(iris[, 1:4]), y, loss = loss, optimizer = SGD$new(lr = 0.1),
             epochs = 5, batch_size = 30, metrics = "accuracy", verbose = 0)
    list(h$metrics, predict(model, as.matrix(iris[, 1:4])))
  }
  dense <- run("cross_entropy", iris$Species)
  expect_equal(run("sparse_cross_entropy", iris$Species), dense, tolerance = 1e-12)
  expect_equal(run("sparse_cross_entropy", as.integer(iris$Species) - 1L), dense,
               tolerance = 1e-12)
})

test_that("fit() uses the Huber loss's delta", {
  set.seed(3)
  x <- matrix(rnorm(100), ncol = 2)
  y <- 3 * x[, 1]
  model <- Sequential$new(Linear$new(2, 1), dtype = "float64")
  huber <- HuberLoss$new(delta = 0.5)
  expected <- huber$loss(predict(model, x), y)
  h <- fit(model, x, y, loss = huber, optimizer = SGD$new(lr = 1e-12), epochs = 1,
           batch_size = 50, verbose = 0)
  expect_equal(h$metrics$loss, expected, tolerance = 1e-9)
  expect_false(isTRUE(all.equal(expected, HuberLoss$new(delta = 1)$loss(predict(model, x), y))))
})

test_that("fit() without a loss, and evaluate(), use the last loss with its delta", {
  set.seed(3)
  x <- matrix(rnorm(100), ncol = 2)
  y <- 3 * x[, 1] + rnorm(50)
  weights <- function(model) lapply(model$layers, function(l) l$params)
  start <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), dtype = "float64")
  train <- function(model, ...) {
    set.seed(4)
    fit(model, x, y, ..., epochs = 3, batch_size = 10, verbose = 0)
    model
  }
  first <- function() {
    train(start$clone(deep = TRUE), loss = HuberLoss$new(delta = 0.5), optimizer = SGD$new(lr = 0.05))
  }
  kept <- train(first())
  explicit <- train(first(), loss = HuberLoss$new(delta = 0.5))
  default_delta <- train(first(), loss = "huber")
  expect_identical(weights(kept), weights(explicit))
  expect_false(identical(weights(kept), weights(default_delta)))
  expect_identical(kept$.get_state()$loss, list(name = "huber", delta = 0.5))
  expect_identical(Loss$new("huber", delta = 0.5)$.description(), HuberLoss$new(delta = 0.5)$.description())

  value <- evaluate(kept, x, y)
  expect_identical(value, evaluate(kept, x, y, loss = HuberLoss$new(delta = 0.5)))
  expect_equal(value[["loss"]], HuberLoss$new(delta = 0.5)$loss(predict(kept, x), y), tolerance = 1e-12)
  expect_false(isTRUE(all.equal(value[["loss"]], evaluate(kept, x, y, loss = "huber")[["loss"]])))
  expect_match(format(summary(kept)), "Last trained with loss: huber (delta = 0.5)", fixed = TRUE,
               all = FALSE)
})

test_that("refitting a formula model keeps its input preparation as the first fit made it", {
  raw_preprocess <- function(model) model$.__enclos_env__$private$.state$preprocess
  set.seed(7)
  model <- Sequential$new(Linear$new(4, 3), Softmax$new())
  fit(model, Species ~ ., data = iris, epochs = 1, verbose = 0)
  first <- names(model$.get_state()$preprocess)
  expect_identical(first, c("terms", "xlevels", "columns"))
  for (i in 1:2) {
    fit(model, Species ~ ., data = iris, epochs = 1, verbose = 0)
    expect_identical(names(raw_preprocess(model)), first)
    expect_identical(names(model$.get_state()$preprocess), first)
  }
  # mlp_sequential()'s standardization is kept by a refit with a formula.
  std <- mlp_sequential(Species ~ ., data = iris, hidden = 4, epochs = 1, verbose = 0)
  before <- std$.get_state()$preprocess
  fit(std, Species ~ ., data = iris, epochs = 1, verbose = 0)
  expect_identical(names(raw_preprocess(std)), c("terms", "xlevels", "center", "scale", "columns"))
  expect_identical(raw_preprocess(std)[c("center", "scale")], before[c("center", "scale")])
})

test_that("validation data in a data frame is standardized like the training data", {
  set.seed(6)
  model <- mlp_sequential(Species ~ ., data = iris, hidden = 8, epochs = 5, verbose = 0,
               validation_data = list(iris[1:30, ]))
  val <- tail(model$history$metrics$val_loss, 1)
  expect_equal(val, evaluate(model, Species ~ ., data = iris[1:30, ])[["loss"]], tolerance = 1e-5)
})

test_that("validation_split draws rows at random within each class, with R's RNG", {
  set.seed(1)
  x <- scale(as.matrix(iris[, 1:4]))
  model <- Sequential$new(Linear$new(4, 3), Softmax$new())
  rows <- function(seed) {
    set.seed(seed)
    rustnn:::validation_rows(150, 0.2, as.integer(iris$Species))
  }
  val <- rows(1)
  expect_length(val, 30)
  expect_equal(as.vector(table(iris$Species[val])), c(10, 10, 10))
  expect_identical(rows(1), val)
  expect_false(identical(rows(2), val))
  # fit() holds out those rows: its validation loss is the loss on them.
  set.seed(5)
  h <- fit(model, x, iris$Species, validation_split = 0.2, epochs = 1, verbose = 0,
           optimizer = SGD$new(lr = 1e-300))
  set.seed(5)
  held <- rustnn:::validation_rows(150, 0.2, as.integer(iris$Species))
  expect_equal(h$metrics$val_loss, unname(evaluate(model, x[held, ], iris$Species[held])["loss"]),
               tolerance = 1e-6)
})

test_that("a single class is refused at fit time", {
  model <- Sequential$new(Linear$new(4, 1), Sigmoid$new())
  x <- scale(as.matrix(iris[, 1:4]))
  expect_error(fit(model, x, factor(rep("a", 150)), epochs = 1, verbose = 0),
               class = "rustnn_error_argument")
  expect_error(fit(model, x, rep("a", 150), epochs = 1, verbose = 0),
               class = "rustnn_error_argument")
  expect_snapshot(error = TRUE, fit(model, x, factor(rep("a", 150)), epochs = 1, verbose = 0))
  # Two declared levels are two classes, even if one is absent.
  expect_no_error(fit(model, x, factor(rep("a", 150), levels = c("a", "b")), epochs = 1, verbose = 0))
})

test_that("a fit whose loss ends far above where it started warns", {
  set.seed(1)
  x <- matrix(as.vector(scale(rnorm(100))), ncol = 1)
  y <- 2 * x[, 1] + 1
  # Gradient descent on mse with a rate of 1.5 doubles the error each step.
  model <- Sequential$new(Linear$new(1, 1), dtype = "float64")
  expect_snapshot(h <- fit(model, x, y, optimizer = SGD$new(lr = 1.5), epochs = 20,
                           batch_size = 100, verbose = 0))
  expect_warning(fit(Sequential$new(Linear$new(1, 1), dtype = "float64"), x, y,
                     optimizer = SGD$new(lr = 1.5), epochs = 20, batch_size = 100, verbose = 0),
                 class = "rustnn_warning_diverged")
  expect_gt(h$metrics$loss[20], 10 * h$metrics$loss[1])
  expect_no_warning(fit(Sequential$new(Linear$new(1, 1), dtype = "float64"), x, y,
                        optimizer = SGD$new(lr = 0.1), epochs = 20, batch_size = 100, verbose = 0))
})
