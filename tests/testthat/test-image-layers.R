# The image layers against plain-R definitions, their gradients against
# central differences, and the shapes a model reports.

test_that("Conv2d computes the convolution's definition, with stride and padding", {
  set.seed(20)
  x <- array(rnorm(3 * 2 * 7 * 6), c(3, 2, 7, 6))
  for (case in list(c(k = 3, s = 1, p = 0), c(k = 3, s = 2, p = 1), c(k = 2, s = 1, p = 2),
                    c(k = 4, s = 3, p = 0))) {
    conv <- Conv2d$new(2, 4, case[["k"]], stride = case[["s"]], padding = case[["p"]])
    conv$params <- list(weight = conv$params$weight, bias = rnorm(4))
    want <- plain_conv(x, conv$params$weight, conv$params$bias, case[["s"]], case[["p"]])
    expect_equal(conv$forward(x), want, tolerance = 1e-12)
  }
  # Rectangular kernels and strides, through a float64 model.
  conv <- Conv2d$new(2, 3, c(3, 2), stride = c(2, 1))
  model <- Sequential$new(conv, dtype = "float64")
  w <- model$layers[[1]]$params$weight
  expect_equal(dim(w), c(3, 2, 3, 2))
  out <- model$forward(x)
  expect_equal(dim(out), c(3, 3, 3, 5))
  ref <- array(0, dim(out))
  for (i in 1:3) for (o in 1:3) for (r in 1:3) for (cc in 1:5) {
    ref[i, o, r, cc] <- sum(x[i, , (r - 1) * 2 + 1:3, cc + 0:1] * w[o, , , ])
  }
  expect_equal(out, ref, tolerance = 1e-12)
})

test_that("a one-channel batch may be n x height x width", {
  set.seed(21)
  conv <- Conv2d$new(1, 2, 3)
  x <- array(rnorm(2 * 5 * 5), c(2, 5, 5))
  expect_equal(conv$forward(x), conv$forward(array(x, c(2, 1, 5, 5))))
})

test_that("pooling takes window maxima and means", {
  set.seed(22)
  x <- array(rnorm(2 * 3 * 6 * 7), c(2, 3, 6, 7))
  expect_equal(MaxPool2d$new(2)$forward(x), plain_pool(x, 2, 2, max))
  expect_equal(MaxPool2d$new(3, stride = 1)$forward(x), plain_pool(x, 3, 1, max))
  expect_equal(AvgPool2d$new(2)$forward(x), plain_pool(x, 2, 2, mean), tolerance = 1e-12)
  expect_equal(AvgPool2d$new(3, stride = 2)$forward(x), plain_pool(x, 3, 2, mean), tolerance = 1e-12)
})

test_that("Flatten orders values channel by channel, row by row", {
  x <- array(seq_len(2 * 2 * 2 * 3), c(2, 2, 2, 3))
  flat <- Flatten$new()$forward(x)
  expect_equal(dim(flat), c(2, 12))
  expect_equal(flat[2, ], as.vector(aperm(x[2, , , ], c(3, 2, 1))))
})

test_that("BatchNorm standardizes per feature and per channel, and keeps running statistics", {
  set.seed(23)
  x <- cbind(rnorm(50, 3, 2), rnorm(50, -1, 0.1))
  bn <- BatchNorm$new(2)
  out <- bn$forward(x)
  m <- colMeans(x)
  v <- colMeans(sweep(x, 2, m)^2)
  expect_equal(out, sweep(sweep(x, 2, m), 2, sqrt(v + 1e-5), "/"), tolerance = 1e-10)
  expect_equal(bn$params$running_mean, 0.1 * m, tolerance = 1e-12)
  expect_equal(bn$params$running_var, 0.9 + 0.1 * apply(x, 2, var), tolerance = 1e-12)
  # Inference uses the running statistics.
  inferred <- bn$forward(x, training = FALSE)
  rm <- bn$params$running_mean
  rv <- bn$params$running_var
  expect_equal(inferred, sweep(sweep(x, 2, rm), 2, sqrt(rv + 1e-5), "/"), tolerance = 1e-10)

  images <- array(rnorm(4 * 3 * 2 * 2, mean = 5), c(4, 3, 2, 2))
  bn2 <- BatchNorm$new(3, momentum = 0.5)
  bn2$params <- list(gamma = c(1, 2, 3), beta = c(0, 1, -1), running_mean = rep(0, 3),
                     running_var = rep(1, 3))
  out2 <- bn2$forward(images)
  for (ch in 1:3) {
    v <- images[, ch, , ]
    want <- (v - mean(v)) / sqrt(mean((v - mean(v))^2) + 1e-5) * ch + c(0, 1, -1)[ch]
    expect_equal(out2[, ch, , ], want, tolerance = 1e-10)
  }
  expect_equal(bn2$params$running_mean, 0.5 * apply(images, 2, mean), tolerance = 1e-12)
})

test_that("every image layer passes the gradient check, stride and padding included", {
  set.seed(24)
  x <- array(rnorm(3 * 2 * 6 * 5), c(3, 2, 6, 5))
  y <- matrix(rnorm(3 * 2), 3)
  loss <- MSELoss$new()
  # eps = 1e-5: with 1e-6, rounding in the loss differences reaches 1e-7
  # relative error on the smallest gradients.
  check <- function(...) {
    model <- Sequential$new(..., dtype = "float64")
    max_grad_error(model, x, y, loss, eps = 1e-5)
  }
  expect_lt(check(Conv2d$new(2, 3, 3), Tanh$new(), Flatten$new(), Linear$new(36, 2)), 1e-6)
  expect_lt(check(Conv2d$new(2, 2, 3, stride = 2, padding = 1), Flatten$new(), Linear$new(18, 2)), 1e-6)
  expect_lt(check(Conv2d$new(2, 2, c(2, 3), stride = c(1, 2), padding = c(2, 0)), Flatten$new(),
                  Linear$new(2 * 9 * 2, 2)), 1e-6)
  expect_lt(check(MaxPool2d$new(2), Flatten$new(), Linear$new(12, 2)), 1e-6)
  expect_lt(check(MaxPool2d$new(3, stride = 1), Flatten$new(), Linear$new(24, 2)), 1e-6)
  expect_lt(check(AvgPool2d$new(2, stride = 1), Flatten$new(), Linear$new(40, 2)), 1e-6)
  expect_lt(check(BatchNorm$new(2), Tanh$new(), Flatten$new(), Linear$new(60, 2)), 1e-6)
  xm <- matrix(rnorm(5 * 4), 5)
  ym <- matrix(rnorm(5 * 2), 5)
  bn1d <- Sequential$new(Linear$new(4, 3), BatchNorm$new(3), Tanh$new(), Linear$new(3, 2),
                         dtype = "float64")
  # The bias before batch normalization has gradient exactly 0 (the
  # normalization removes any shift): its numerical estimate is rounding
  # noise of about 1e-11, so gradients below 1e-4 are compared absolutely
  # (all the others here are above 0.007).
  expect_lt(max_grad_error(bn1d, xm, ym, loss, eps = 1e-5, floor = 1e-4), 1e-6)
})

test_that("conv2d() gives tutorial 002's emboss and sharpen maps", {
  emboss <- matrix(c(2, 0, 0, 0, -1, 0, 0, 0, -1), nrow = 3)
  sharpen <- matrix(c(0, -1, 0, -1, 5, -1, 0, -1, 0), nrow = 3)
  img <- volcano / max(volcano)
  expect_equal(conv2d(img, emboss), tutorial_convolution(img, emboss), tolerance = 1e-12)
  expect_equal(conv2d(img, sharpen), tutorial_convolution(img, sharpen), tolerance = 1e-12)
  # Several filters at once, and each channel of an array on its own.
  set.seed(25)
  filters <- array(sample(1:3, 9 * 4, replace = TRUE) - 2, c(3, 3, 4))
  maps <- conv2d(img, filters)
  expect_equal(dim(maps), c(nrow(img) - 2, ncol(img) - 2, 4))
  expect_equal(maps[, , 3], tutorial_convolution(img, filters[, , 3]), tolerance = 1e-12)
  rgb <- array(c(img, 1 - img, img^2), c(dim(img), 3))
  per_channel <- conv2d(rgb, sharpen)
  expect_equal(per_channel[, , 2], tutorial_convolution(1 - img, sharpen), tolerance = 1e-12)
  expect_equal(dim(conv2d(rgb, filters)), c(dim(img) - 2, 3, 4))
  # Stride and padding follow the layer's rules.
  padded <- conv2d(img, sharpen, stride = 2, padding = 1)
  want <- plain_conv(array(img, c(1, 1, dim(img))), array(sharpen, c(1, 1, 3, 3)), 0, 2, 1)
  expect_equal(padded, want[1, 1, , ], tolerance = 1e-12)
})

test_that("plot_feature_maps draws the image and every map", {
  set.seed(26)
  img <- volcano / max(volcano)
  maps <- conv2d(img, array(sample(-1:1, 9 * 64, replace = TRUE), c(3, 3, 64)))
  path <- withr::local_tempfile(fileext = ".png")
  grDevices::png(path, width = 600, height = 600)
  before <- graphics::par("mfrow")
  res <- withVisible(plot_feature_maps(maps, image = img))
  after <- graphics::par("mfrow")
  grDevices::dev.off()
  expect_false(res$visible)
  expect_identical(res$value, maps)
  expect_equal(after, before)
  expect_gt(file.size(path), 5000)
  expect_error(plot_feature_maps(maps, titles = "one"), class = "rustnn_error_argument")
  expect_error(plot_feature_maps("not maps"), class = "rustnn_error_argument")
})

test_that("a CNN reports its output shapes and trains", {
  set.seed(27)
  model <- Sequential$new(Conv2d$new(1, 4, 3), ReLU$new(), MaxPool2d$new(2), Flatten$new(),
                          Linear$new(36, 2), Softmax$new())
  expect_null(model$input_shape)
  expect_snapshot(print(model))
  x <- array(runif(300 * 8 * 8), c(300, 8, 8))
  y <- factor(ifelse(apply(x[, 1:4, ], 1, mean) > apply(x[, 5:8, ], 1, mean), "top", "bottom"))
  history <- fit(model, x, y, optimizer = Adam$new(lr = 0.01), epochs = 60, verbose = 0,
                 metrics = "accuracy")
  expect_equal(model$input_shape, c(1L, 8L, 8L))
  expect_snapshot(summary(model))
  s <- summary(model)
  expect_equal(s$layers$output_shape,
               c("(n, 4, 6, 6)", "(n, 4, 6, 6)", "(n, 4, 3, 3)", "(n, 36)", "(n, 2)", "(n, 2)"))
  expect_gt(utils::tail(history$metrics$accuracy, 1), 0.9)
  # BatchNorm's running statistics are counted as non-trainable.
  bn <- Sequential$new(Conv2d$new(1, 4, 3), BatchNorm$new(4), input_shape = c(8, 8))
  expect_equal(summary(bn)$total_params - summary(bn)$trainable_params, 8)
})

test_that("image models survive saveRDS, clone, and any thread count", {
  set.seed(28)
  make <- function() {
    Sequential$new(Conv2d$new(2, 3, 3, padding = 1), BatchNorm$new(3), ReLU$new(),
                   AvgPool2d$new(2), Flatten$new(), Linear$new(3 * 3 * 3, 3), Softmax$new())
  }
  x <- array(rnorm(40 * 2 * 6 * 6), c(40, 2, 6, 6))
  y <- factor(sample(letters[1:3], 40, replace = TRUE))
  set.seed(1)
  one <- make()
  fit(one, x, y, optimizer = "adam", epochs = 3, batch_size = 8, verbose = 0, threads = 1)
  set.seed(1)
  two <- make()
  fit(two, x, y, optimizer = "adam", epochs = 3, batch_size = 8, verbose = 0, threads = 2)
  expect_identical(one$layers[[1]]$params, two$layers[[1]]$params)
  expect_identical(one$layers[[2]]$params, two$layers[[2]]$params)
  # Training moved the running statistics, and they are saved with the model.
  expect_false(all(one$layers[[2]]$params$running_mean == 0))
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(one, path)
  back <- readRDS(path)
  expect_identical(predict(back, x), predict(one, x))
  copy <- one$clone(deep = TRUE)
  fit(copy, x, y, epochs = 1, verbose = 0)
  expect_identical(predict(back, x), predict(one, x))
  expect_false(identical(predict(copy, x), predict(one, x)))
})

test_that("a dense model takes image arrays as flat vectors", {
  set.seed(29)
  x <- array(runif(30 * 4 * 4), c(30, 4, 4))
  model <- Sequential$new(Linear$new(16, 2), dtype = "float64")
  flat <- t(apply(x, 1, function(m) as.vector(t(m))))
  expect_equal(predict(model, x), predict(model, flat))
})

test_that("image models validate on held-out images, split or given", {
  set.seed(30)
  x <- array(runif(50 * 6 * 6), c(50, 6, 6))
  y <- factor(ifelse(x[, 3, 3] > 0.5, "hi", "lo"))
  make <- function() {
    set.seed(2)
    Sequential$new(Conv2d$new(1, 2, 3), Flatten$new(), Linear$new(32, 2), Softmax$new())
  }
  split <- make()
  h1 <- fit(split, x, y, epochs = 2, validation_split = 0.2, shuffle = FALSE, verbose = 0)
  given <- make()
  # The rows validation_split draws, from the same point of R's RNG.
  held <- rustnn:::validation_rows(50, 0.2, as.integer(y))
  h2 <- fit(given, x[-held, , ], y[-held], epochs = 2, shuffle = FALSE, verbose = 0,
            validation_data = list(x[held, , ], y[held]))
  expect_equal(h1$metrics$val_loss, h2$metrics$val_loss)
  expect_equal(unname(evaluate(given, x[held, , ], y[held])["loss"]),
               utils::tail(h2$metrics$val_loss, 1), tolerance = 1e-6)
  expect_error(fit(make(), x, y, validation_data = list(array(0, c(5, 7, 7)), y[1:5]), verbose = 0),
               class = "rustnn_error_argument")
})

test_that("edge geometries work: windows over padding only, 1 x 1 outputs", {
  set.seed(31)
  conv <- Conv2d$new(1, 2, kernel_size = 4, stride = 10, padding = 3)
  x <- array(rnorm(3), c(3, 1, 1, 1))
  want <- plain_conv(x, conv$params$weight, conv$params$bias, 10, 3)
  out <- conv$forward(x)
  expect_equal(dim(out), c(3, 2, 1, 1))
  expect_equal(out, want, tolerance = 1e-12)
  expect_equal(conv2d(matrix(1:9, 3) * 1, matrix(1, 3, 3)), matrix(45))
  maps <- conv2d(matrix(runif(20), 4, 5), array(1, c(4, 2, 3)))
  expect_equal(dim(maps), c(1, 4, 3))
  path <- withr::local_tempfile(fileext = ".png")
  grDevices::png(path)
  expect_invisible(plot_feature_maps(maps))
  grDevices::dev.off()
  # Sizes beyond what fits are errors, not a crash.
  expect_error(Conv2d$new(1, 1, 1, padding = 1e5)$forward(array(1, c(1, 1, 1))),
               class = "rustnn_error_argument")
  expect_error(Conv2d$new(1, 1, 3, padding = 3e9), class = "rustnn_error_argument")
})

test_that("batch normalization keeps its statistics through manual passes, clones and tiny batches", {
  set.seed(32)
  model <- Sequential$new(Linear$new(2, 3), BatchNorm$new(3), dtype = "float64")
  x <- matrix(rnorm(40, 3, 2), 20)
  model$forward(x)
  moved <- model$layers[[2]]$params$running_mean
  expect_false(all(moved == 0))
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(model, path)
  expect_identical(predict(readRDS(path), x), predict(model, x))

  bn <- BatchNorm$new(2)
  bn$forward(x)
  copy <- bn$clone()
  copy$forward(x + 100)
  expect_equal(bn$params$running_mean, 0.1 * colMeans(x))
  expect_equal(bn$forward(x[1:2, ], training = FALSE), {
    rm <- 0.1 * colMeans(x)
    rv <- 0.9 + 0.1 * apply(x, 2, var)
    sweep(sweep(x[1:2, ], 2, rm), 2, sqrt(rv + 1e-5), "/")
  }, tolerance = 1e-10)

  # 33 rows in batches of 32: the last batch of one row leaves the running
  # variance alone instead of pulling it to zero.
  xs <- matrix(rnorm(66, 0, 3), 33)
  tiny <- Sequential$new(BatchNorm$new(2, momentum = 0.5), Linear$new(2, 1), dtype = "float64")
  fit(tiny, xs, rnorm(33), epochs = 20, batch_size = 32, shuffle = FALSE,
      optimizer = SGD$new(lr = 1e-12), verbose = 0)
  expect_equal(tiny$layers[[1]]$params$running_var, apply(xs[1:32, ], 2, var), tolerance = 1e-6)
})

test_that("backward takes a gradient shaped like the output, not just as long", {
  set.seed(33)
  conv <- Conv2d$new(1, 2, 3)
  out <- conv$forward(array(rnorm(50), c(2, 5, 5)))
  expect_equal(dim(conv$backward(array(1, dim(out)))), c(2, 1, 5, 5))
  expect_error(conv$backward(array(1, c(2, 3, 3, 2))), class = "rustnn_error_argument")
  model <- Sequential$new(Conv2d$new(1, 2, 3), dtype = "float64")
  model$forward(array(rnorm(50), c(2, 5, 5)))
  expect_error(model$backward(array(1, c(2, 2, 1, 9))), class = "rustnn_error_argument")
  expect_snapshot(error = TRUE, model$backward(array(1, c(2, 3, 3, 2))))
})
