# fit(track = "weights"): the engine's per-epoch records of each trained
# parameter and its gradient, checked against the same figures computed in
# plain R; where they are kept (history, state, model files); their plots.

# A float64 network with two linear layers, and regression data for it.
small_net <- function(seed = 3) {
  set.seed(seed)
  Sequential$new(Linear$new(3, 5), Tanh$new(), Linear$new(5, 2), dtype = "float64")
}

small_data <- function(n = 40) {
  set.seed(4)
  x <- matrix(rnorm(n * 3), n)
  list(x = x, y = cbind(sin(x[, 1]), x[, 2] * x[, 3]))
}

# One row of the tracked summary, as a named vector of its figures.
summary_row <- function(history, epoch, layer, param, kind) {
  s <- history$tracked$summary
  row <- s[s$epoch == epoch & s$layer == layer & s$param == param & s$kind == kind, ]
  expect_equal(nrow(row), 1L)
  unlist(row[c("mean", "sd", "mean_abs", "min", "max")])
}

r_summary <- function(v) {
  c(mean = mean(v), sd = sd(v), mean_abs = mean(abs(v)), min = min(v), max = max(v))
}

# A deep, narrow classifier on standardized iris: `hidden` activations
# between linear layers of width 16.
deep_net <- function(activation, seed, hidden = 5) {
  set.seed(seed)
  layers <- list(Linear$new(4, 16))
  for (i in seq_len(hidden - 1)) layers <- c(layers, list(activation$new(), Linear$new(16, 16)))
  Sequential$new(c(layers, list(activation$new(), Linear$new(16, 3), Softmax$new())),
                 dtype = "float64")
}

test_that("the last epoch's records are the final weights, summarised and binned as in R", {
  d <- small_data()
  model <- small_net()
  history <- fit(model, d$x, d$y, optimizer = SGD$new(lr = 0.05), epochs = 6, batch_size = 8,
                 track = "weights", verbose = 0)
  s <- history$tracked$summary
  h <- history$tracked$histogram
  expect_named(history$tracked, c("summary", "histogram"))
  expect_named(s, c("epoch", "layer", "param", "kind", "mean", "sd", "mean_abs", "min", "max"))
  expect_named(h, c("epoch", "layer", "param", "kind", "lower", "upper", "count"))
  expect_type(s$epoch, "integer")
  expect_type(h$count, "integer")
  # 6 epochs x 2 layers x (weight, bias) x (values, gradient).
  expect_equal(nrow(s), 6 * 2 * 2 * 2)
  expect_setequal(s$layer, c("linear_1", "linear_3"))
  expect_equal(as.vector(table(s$epoch)), rep(8L, 6))
  for (i in c(1L, 3L)) {
    layer <- paste0("linear_", i)
    for (param in c("weight", "bias")) {
      w <- model$layers[[i]]$params[[param]]
      expect_equal(summary_row(history, 6, layer, param, "weight"), r_summary(w),
                   tolerance = 1e-12)
      bins <- h[h$epoch == 6 & h$layer == layer & h$param == param & h$kind == "weight", ]
      expect_equal(nrow(bins), 20L)
      expect_equal(sum(bins$count), length(w))
      breaks <- seq(min(w), max(w), length.out = 21)
      # Edges exactly those of seq(); counts those of hist(): right-closed
      # bins, the first closed on both sides.
      expect_identical(c(bins$lower, bins$upper[20]), breaks)
      expect_identical(bins$count, graphics::hist(w, breaks = breaks, plot = FALSE)$counts)
    }
  }
})

test_that("bins are closed on the right, like hist()'s", {
  # Weights set on the edges of 20 bins over [0, 20]: each edge value falls
  # in the bin it closes (0 and 1 both in the first). An input of 0 and a
  # target equal to the bias make every gradient zero: the weights stay.
  model <- Sequential$new(Linear$new(1, 21), dtype = "float64")
  model$layers[[1]]$params <- list(weight = matrix(0:20, 1), bias = rep(0, 21))
  history <- fit(model, matrix(0, 1, 1), matrix(0, 1, 21), epochs = 1, batch_size = 1,
                 track = "weights", verbose = 0)
  h <- history$tracked$histogram
  w <- h[h$param == "weight" & h$kind == "weight", ]
  expect_equal(w$lower, 0:19)
  expect_equal(w$count, c(2L, rep(1L, 19)))
  expect_equal(w$count, graphics::hist(0:20, breaks = 0:20, plot = FALSE)$counts)
})

test_that("a bias of equal values is one bin of width zero", {
  # Zero weights and a zero target: the output is the target, every
  # gradient is zero and the weights stay zero.
  model <- Sequential$new(Linear$new(2, 3), dtype = "float64")
  model$layers[[1]]$params <- list(weight = matrix(0, 2, 3), bias = rep(0, 3))
  x <- matrix(c(1, 2, 3, 4), 2)
  history <- fit(model, x, matrix(0, 2, 3), epochs = 2, batch_size = 2, track = "weights",
                 verbose = 0)
  h <- history$tracked$histogram
  zero <- h[h$epoch == 2 & h$param == "bias" & h$kind == "weight", ]
  expect_equal(nrow(zero), 1L)
  expect_equal(unlist(zero[c("lower", "upper", "count")]),
               c(lower = 0, upper = 0, count = 3))
  expect_equal(summary_row(history, 2, "linear_1", "bias", "gradient"),
               c(mean = 0, sd = 0, mean_abs = 0, min = 0, max = 0))
})

test_that("full-batch SGD: epoch 1's gradient is the gradient at the initial weights", {
  d <- small_data()
  model <- small_net()
  start <- model$clone(deep = TRUE)
  loss <- MSELoss$new()
  out <- start$forward(d$x)
  start$backward(loss$grad(out, d$y))
  history <- fit(model, d$x, d$y, loss = "mse", optimizer = SGD$new(lr = 0.1), epochs = 3,
                 batch_size = nrow(d$x), track = "weights", verbose = 0)
  for (i in c(1L, 3L)) {
    for (param in c("weight", "bias")) {
      g <- start$layers[[i]]$grads[[param]]
      expect_equal(summary_row(history, 1, paste0("linear_", i), param, "gradient"),
                   r_summary(g), tolerance = 1e-12)
      # And epoch 1's weights are one step down that gradient.
      w <- start$layers[[i]]$params[[param]] - 0.1 * g
      expect_equal(summary_row(history, 1, paste0("linear_", i), param, "weight"),
                   r_summary(w), tolerance = 1e-12)
    }
  }
})

test_that("gradients vanish towards the input of a deep sigmoid network, not of a ReLU one", {
  x <- scale(as.matrix(iris[, 1:4]))
  ratios <- function(activation, seed) {
    history <- fit(deep_net(activation, seed), x, iris$Species, epochs = 10, batch_size = 10,
                   optimizer = SGD$new(lr = 0.1), track = "weights", verbose = 0)
    s <- history$tracked$summary
    g <- s[s$kind == "gradient" & s$param == "weight", ]
    g$mean_abs[g$layer == "linear_1"] / g$mean_abs[g$layer == "linear_11"]
  }
  for (seed in 1:2) {
    sigmoid <- ratios(Sigmoid, seed)
    relu <- ratios(ReLU, seed)
    expect_length(sigmoid, 10)
    # Every epoch, the first layer's gradient is under a tenth of the
    # last's with sigmoid (typically a thousandth), and over a tenth with ReLU.
    expect_lt(max(sigmoid), 0.1)
    expect_gt(min(relu), 0.1)
    expect_gt(median(relu) / median(sigmoid), 100)
  }
})

test_that("no track, no tracked element; a bad track is an argument error", {
  d <- small_data()
  history <- fit(small_net(), d$x, d$y, epochs = 2, verbose = 0)
  expect_false("tracked" %in% names(history))
  expect_false(any(grepl("tracked", format(history))))
  for (bad in list(TRUE, "weight", c("weights", "weights"), NA_character_, 1)) {
    expect_error(fit(small_net(), d$x, d$y, epochs = 1, track = bad, verbose = 0),
                 class = "rustnn_error_argument", regexp = "track")
  }
  expect_snapshot(error = TRUE, fit(small_net(), d$x, d$y, epochs = 1, track = "gradients",
                                    verbose = 0))
  tracked <- fit(small_net(), d$x, d$y, epochs = 2, track = "weights", verbose = 0)
  expect_match(format(tracked), "weights and gradients tracked: 4 tensors of 2 layers",
               all = FALSE)
})

test_that("float32 models, batch normalization and convolutions are tracked, without running statistics", {
  set.seed(5)
  x <- array(runif(12 * 6 * 6), c(12, 1, 6, 6))
  y <- factor(rep(c("a", "b"), 6))
  model <- Sequential$new(Conv2d$new(1, 2, 3), BatchNorm$new(2), ReLU$new(), Flatten$new(),
                          Linear$new(2 * 4 * 4, 2), Softmax$new())
  history <- fit(model, x, y, epochs = 2, batch_size = 4, track = "weights", verbose = 0)
  s <- history$tracked$summary
  expect_equal(unique(paste(s$layer, s$param)),
               c("conv2d_1 weight", "conv2d_1 bias", "batch_norm_2 gamma", "batch_norm_2 beta",
                 "linear_5 weight", "linear_5 bias"))
  gamma <- model$layers[[2]]$params$gamma
  expect_equal(summary_row(history, 2, "batch_norm_2", "gamma", "weight"), r_summary(gamma),
               tolerance = 1e-6)
  h <- history$tracked$histogram
  conv <- h[h$epoch == 2 & h$layer == "conv2d_1" & h$param == "weight" & h$kind == "gradient", ]
  expect_equal(sum(conv$count), 2L * 3L * 3L)
})

test_that("records come back for the epochs that ran when training stops", {
  d <- small_data()
  # Diverging: the epochs before the loss became infinite keep their
  # records, and the model keeps the weights of the last one.
  set.seed(3)
  model <- Sequential$new(Linear$new(3, 5), Linear$new(5, 2), dtype = "float64")
  expect_warning(
    history <- fit(model, d$x, d$y, optimizer = SGD$new(lr = 2), epochs = 50, batch_size = 40,
                   track = "weights", verbose = 0),
    class = "rustnn_warning_non_finite")
  n <- length(history$metrics$loss)
  expect_gt(n, 1)
  expect_lt(n, 50)
  expect_equal(sort(unique(history$tracked$summary$epoch)), seq_len(n))
  expect_equal(summary_row(history, n, "linear_2", "weight", "weight"),
               r_summary(model$layers[[2]]$params$weight), tolerance = 1e-12)
  # Stopped early with the best weights restored: every epoch is recorded as
  # it ended, and the restored weights are the best epoch's record.
  model <- small_net()
  history <- fit(model, d$x, d$y, optimizer = SGD$new(lr = 0.5), epochs = 200, batch_size = 8,
                 validation_split = 0.25, track = "weights", verbose = 0,
                 callbacks = list(callback_early_stopping(patience = 2, restore_best_weights = TRUE)))
  expect_identical(history$status, "early_stopped")
  n <- length(history$metrics$loss)
  expect_equal(max(history$tracked$summary$epoch), n)
  best <- history$restored_epoch
  expect_true(best < n)
  expect_equal(summary_row(history, best, "linear_1", "weight", "weight"),
               r_summary(model$layers[[1]]$params$weight), tolerance = 1e-12)
})

test_that("tracked records survive save_model()/load_model() and are checked on load", {
  d <- small_data()
  model <- small_net()
  fit(model, d$x, d$y, epochs = 3, track = "weights", verbose = 0)
  path <- withr::local_tempfile(fileext = ".rnn")
  save_model(model, path)
  back <- load_model(path)
  expect_identical(back$history, model$history)
  expect_identical(back$history$tracked, model$history$tracked)
  # saveRDS keeps it too (the state is checked when used).
  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(model, rds)
  expect_identical(readRDS(rds)$history$tracked, model$history$tracked)

  # A file whose records name an epoch the history does not have is corrupt.
  bytes <- readBin(path, "raw", file.size(path))
  payload <- rustnn:::decode_model_file(bytes, path, rlang::current_env())
  payload$model$history$tracked$summary$epoch[1] <- 9L
  bad <- withr::local_tempfile(fileext = ".rnn")
  writeBin(rustnn:::encode_model_file(payload), bad)
  expect_error(load_model(bad), class = "rustnn_error_model_corrupt",
               regexp = "tracked summary has epochs outside")
  payload$model$history$tracked$summary$epoch[1] <- 1L
  payload$model$history$tracked$histogram$count <- as.double(payload$model$history$tracked$histogram$count)
  writeBin(rustnn:::encode_model_file(payload), bad)
  expect_error(load_model(bad), class = "rustnn_error_model_corrupt", regexp = "count \\(integer\\)")
})

test_that("plot(what = \"weights\" / \"gradients\") draws and returns the data it drew", {
  x <- scale(as.matrix(iris[, 1:4]))
  history <- fit(deep_net(Sigmoid, 1, hidden = 2), x, iris$Species, epochs = 7, batch_size = 30,
                 track = "weights", verbose = 0)
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  before <- graphics::par("mfrow", "mar")
  drawn <- withVisible(plot(history, what = "gradients", method = "base"))
  expect_false(drawn$visible)
  d <- drawn$value
  # First, middle and last epochs; the weights of the three linear layers.
  expect_equal(sort(unique(d$epoch)), c(1L, 4L, 7L))
  expect_equal(levels(d$panel), c("linear_1 weight", "linear_3 weight", "linear_5 weight"))
  expect_true(all(d$kind == "gradient"))
  expect_equal(nrow(d), 3 * 3 * 20)
  h <- history$tracked$histogram
  expect_equal(d$count, h$count[h$kind == "gradient" & h$param == "weight" & h$epoch %in% c(1, 4, 7)])
  expect_identical(graphics::par("mfrow", "mar"), before)

  d <- plot(history, what = "weights", epochs = 2, params = c("weight", "bias"), method = "base")
  expect_equal(unique(d$epoch), 2L)
  expect_equal(nlevels(d$panel), 6L)
  expect_true(all(d$kind == "weight"))

  sizes <- plot(history, what = "gradients", style = "size", method = "base", main = "sigmoid")
  s <- history$tracked$summary
  expect_equal(sizes$mean_abs, s$mean_abs[s$kind == "gradient" & s$param == "weight"])
  expect_equal(levels(sizes$series), c("linear_1", "linear_3", "linear_5"))
  expect_identical(graphics::par("mfrow", "mar"), before)
  # The user's title and labels replace the figure's own.
  expect_silent(plot(history, what = "weights", method = "base", main = "weights", xlab = "w",
                     ylab = "n"))
  expect_silent(plot(history, what = "gradients", style = "size", method = "base", xlab = "t",
                     ylab = "size"))

  # The metrics plot is unchanged, and the history without records says how to get them.
  expect_identical(plot(history, method = "base"), history)
  untracked <- fit(deep_net(ReLU, 1, hidden = 2), x, iris$Species, epochs = 1, verbose = 0)
  expect_error(plot(untracked, what = "gradients", method = "base"),
               class = "rustnn_error_argument", regexp = "track = \"weights\"")
  expect_error(plot(history, what = "weights", epochs = 8, method = "base"),
               class = "rustnn_error_argument", regexp = "epochs")
  expect_error(plot(history, what = "weights", params = "running_mean", method = "base"),
               class = "rustnn_error_argument", regexp = "params")
  expect_error(plot(history, what = "weights", style = "violin", method = "base"),
               class = "rustnn_error_argument", regexp = "style")

  skip_if_not_installed("ggplot2")
  g <- plot(history, what = "gradients", style = "size", method = "ggplot2")
  expect_s3_class(g, "ggplot")
  expect_equal(nrow(g$data), 7 * 3)
  g <- plot(history, what = "weights", method = "ggplot2")
  expect_s3_class(g, "ggplot")
  expect_equal(sort(unique(g$data$epoch)), c(1L, 4L, 7L))
})

test_that("a tracked fit that ends before its first epoch does keeps empty records", {
  set.seed(1)
  model <- Sequential$new(Linear$new(1, 1), dtype = "float64")
  x <- matrix(c(1e200, -1e200, 1, 2))
  expect_warning(history <- fit(model, x, c(1, 2, 3, 4), epochs = 3, batch_size = 4,
                                track = "weights", verbose = 0),
                 class = "rustnn_warning_non_finite")
  expect_named(history$tracked, c("summary", "histogram"))
  expect_identical(nrow(history$tracked$summary), 0L)
  expect_identical(nrow(history$tracked$histogram), 0L)
})
