# rustnn on real images: the two Fashion-MNIST networks of the image-layer
# work, timed per epoch (median of 3 runs in this one run) with 1 and 2
# threads, with the test accuracy each run reaches, beside tutorial 003's
# vectorized plain-R network on the same MLP for scale.
#
#   MLP  784-100(sigmoid)-10(softmax), SGD lr 0.1, batch 32, 1 epoch, all
#        60,000 training images
#   CNN  Conv2d(1->16, 3x3) - ReLU - MaxPool 2x2 - Flatten - Linear(2704->10),
#        Adam lr 1e-3, batch 64, 1 epoch on the first 10,000 images
#
# Needs Debian's dataset-fashion-mnist (installed by `make setup`).
# Run from the package root after installing rustnn:
#   Rscript bench/bench_fashion_mnist.R
# (the plain-R network comes from bench/plain_r.R, in this script's directory).
suppressPackageStartupMessages(library(rustnn))
if (!fashion_mnist_available()) stop("Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist")

fm <- load_fashion_mnist()
x_train <- fm$train$x / 255
x_test <- fm$test$x / 255

# One run: fresh model from `seed`, one epoch; seconds and test accuracy.
run <- function(make, x, y, optimizer, batch_size, threads, seed) {
  set.seed(seed)
  model <- make()
  seconds <- system.time(fit(model, x, y, optimizer = optimizer(), batch_size = batch_size,
                             epochs = 1, verbose = 0, threads = threads))[["elapsed"]]
  predict_seconds <- system.time(
    pred <- predict(model, x_test, type = "class", threads = threads))[["elapsed"]]
  c(seconds = seconds, accuracy = mean(pred == fm$test$y),
    images_per_second = dim(x_test)[1] / predict_seconds)
}

bench <- function(name, make, x, y, optimizer, batch_size) {
  rows <- lapply(1:2, function(threads) {
    runs <- sapply(1:3, function(seed) run(make, x, y, optimizer, batch_size, threads, seed))
    data.frame(network = name, tool = "rustnn", threads = threads,
               seconds_per_epoch = median(runs["seconds", ]),
               test_accuracy = median(runs["accuracy", ]),
               predict_images_per_second = round(median(runs["images_per_second", ])))
  })
  do.call(rbind, rows)
}

mlp <- function() {
  Sequential$new(Linear$new(784, 100), Sigmoid$new(), Linear$new(100, 10), Softmax$new())
}
cnn <- function() {
  Sequential$new(Conv2d$new(1, 16, 3), ReLU$new(), MaxPool2d$new(2), Flatten$new(),
                 Linear$new(2704, 10), Softmax$new())
}
first <- seq_len(10000)
results <- rbind(
  bench("MLP 784-100-10, 60k", mlp, x_train, fm$train$y, function() SGD$new(lr = 0.1), 32),
  bench("CNN conv16-pool-linear, 10k", cnn, x_train[first, , ], fm$train$y[first],
        function() Adam$new(lr = 1e-3), 64)
)

# Tutorial 003's vectorized R network (one matrix product per layer and
# batch, bench/plain_r.R's train_vectorized()) on the same MLP epoch, with
# R's own BLAS: Glorot-uniform weights as rustnn's, batches in order.
bench_dir <- "bench"  # scripts run from the package root
source(file.path(bench_dir, "plain_r.R"))
flat_train <- matrix(x_train, nrow(x_train))
one_hot <- diag(10)[as.integer(fm$train$y), ]
set.seed(1)
plain_seconds <- system.time(
  p <- train_vectorized(init_params(784, 100, 10, init = "glorot_uniform"), flat_train, one_hot,
                        act = "sigmoid", out = "softmax", optimizer = plain_sgd(0.1),
                        epochs = 1, batch_size = 32))[["elapsed"]]
flat_test <- matrix(x_test, nrow(x_test))
scores <- predict_vectorized(p, flat_test, act = "sigmoid", out = "softmax")
plain_accuracy <- mean(max.col(scores) == as.integer(fm$test$y))
results <- rbind(results, data.frame(
  network = "MLP 784-100-10, 60k", tool = "plain R (vectorized)", threads = 1,
  seconds_per_epoch = plain_seconds, test_accuracy = plain_accuracy,
  predict_images_per_second = NA))

cat(sprintf("rustnn %s, %s, %s, %s\n", utils::packageVersion("rustnn"), R.version.string,
            cpu_model(), format(Sys.Date())))
results$seconds_per_epoch <- round(results$seconds_per_epoch, 3)
results$test_accuracy <- round(results$test_accuracy, 4)
print(results, row.names = FALSE)
mlp_rows <- results$network == results$network[1]
cat(sprintf("\nMLP epoch: rustnn (2 threads) is %.1fx faster than vectorized plain R\n",
            plain_seconds / results$seconds_per_epoch[mlp_rows & results$threads == 2 &
                                                        results$tool == "rustnn"]))
