# The R half of the framework benchmark (bench/run_frameworks.sh): times the
# seven workloads of bench/frameworks-workloads.csv (W1 XOR ... W7 synthetic)
# with
#   rustnn          fit(..., threads = 2), shuffling on (the default)
#   rustnn_1thread  the same with threads = 1
#   plain_r         tutorial-style vectorized R from bench/plain_r.R (one
#                   matrix product per layer and mini-batch, rows shuffled
#                   every epoch, Glorot-uniform weights as rustnn's), with
#                   R's own BLAS
# on the data bench/export_data.R wrote and on Fashion-MNIST read with
# load_fashion_mnist() (option rustnn.fashion_mnist_path for another
# directory). Each timing is the median of `--runs` fits (seeds 1, 2, 3,
# ...), each from a fresh model, reported as seconds per epoch (the fit's
# elapsed time / epochs); the accuracy is the median over the same runs,
# computed after the timed fit. A fit that takes longer than
# `--max-repeat-seconds` (default 60) is not repeated: its one run gives the
# time and accuracy, and the note says so. The environment variable
# FASHION_MNIST_PATH, if set, overrides the Fashion-MNIST directory (as for
# the Python side).
#
#   R_LIBS=.build/lib Rscript bench/bench_frameworks.R \
#     [--tools=rustnn,rustnn_1thread,plain_r] [--workloads=W1,...,W7] \
#     [--runs=3] [--threads=2] [--data=bench/data] [--max-repeat-seconds=60] \
#     [--out=FILE]
#
# Writes FILE (default: standard output) as CSV with columns workload,
# description, tool, threads, sec_per_epoch, accuracy, note, run_seconds
# (the individual fit times, separated by ";").
suppressPackageStartupMessages(library(rustnn))

bench_dir <- "bench"  # scripts run from the package root
source(file.path(bench_dir, "plain_r.R"))

tools <- strsplit(arg("tools", "rustnn,rustnn_1thread,plain_r"), ",")[[1]]
specs <- utils::read.csv(file.path(bench_dir, "frameworks-workloads.csv"),
                         stringsAsFactors = FALSE, comment.char = "#")
wanted <- strsplit(arg("workloads", paste(specs$workload, collapse = ",")), ",")[[1]]
runs <- as.integer(arg("runs", "3"))
threads <- as.integer(arg("threads", "2"))
data_dir <- arg("data", file.path(bench_dir, "data"))
out_file <- arg("out", "")
max_repeat_seconds <- as.numeric(arg("max-repeat-seconds", "60"))
stopifnot(all(tools %in% c("rustnn", "rustnn_1thread", "plain_r")),
          all(wanted %in% specs$workload))

# Plain-R runs that would take well over a minute can be timed on the first
# rows only and scaled to a whole epoch (noted in the results), e.g.
# c(W5 = 20000). None needs it on a current CPU: the slowest, W5, takes
# about 30 s per epoch with R's reference BLAS.
plain_r_rows <- integer()

# The data, in the shapes each R tool takes -------------------------------

read_data <- function(name) utils::read.csv(file.path(data_dir, paste0(name, ".csv")))
one_hot <- function(labels, k) diag(k)[labels + 1L, , drop = FALSE]

load_fmnist <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      dir <- Sys.getenv("FASHION_MNIST_PATH")
      fm <- if (nzchar(dir)) load_fashion_mnist(dir) else load_fashion_mnist()
      flat <- function(x) matrix(x / 255, dim(x)[1])
      cache <<- list(
        images = fm$train$x[1:10000, , ] / 255, images_y = fm$train$y[1:10000],
        test_images = fm$test$x / 255,
        train = flat(fm$train$x), train_y = fm$train$y,
        test = flat(fm$test$x), test_label = as.integer(fm$test$y) - 1L)
    }
    cache
  }
})

# For each workload: data() -> list(x, y (rustnn's target), y_plain (one-hot
# or 0/1 matrix), eval_x, eval_label (0-based classes or 0/1)); rustnn() ->
# a fresh Sequential; optimizer(lr) for rustnn; plain: the plain-R network.
workloads <- list(
  W1 = list(
    data = function() {
      d <- read_data("xor")
      x <- as.matrix(d[, c("x1", "x2")]); y <- as.matrix(d[, c("y1", "y2")])
      list(x = x, y = y, y_plain = y, eval_x = x, eval_label = max.col(y) - 1L)
    },
    rustnn = function() Sequential$new(Linear$new(2, 2), Tanh$new(), Linear$new(2, 2)),
    plain = list(hidden = 2, act = "tanh", out = "identity")),
  W2 = list(
    data = function() {
      tr <- read_data("planar_train"); te <- read_data("planar_test")
      list(x = as.matrix(tr[, 1:2]), y = tr$y, y_plain = matrix(tr$y),
           eval_x = as.matrix(te[, 1:2]), eval_label = te$y)
    },
    rustnn = function() Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1),
                                       Sigmoid$new()),
    plain = list(hidden = 4, act = "tanh", out = "sigmoid")),
  W3 = list(
    data = function() {
      d <- read_data("iris")
      x <- as.matrix(d[, paste0("x", 1:4)])
      list(x = x, y = factor(d$label), y_plain = one_hot(d$label, 3),
           eval_x = x, eval_label = d$label)
    },
    rustnn = function() Sequential$new(Linear$new(4, 40), Sigmoid$new(), Linear$new(40, 3),
                                       Softmax$new()),
    plain = list(hidden = 40, act = "sigmoid", out = "softmax")),
  W4 = list(
    data = function() {
      fm <- load_fmnist()
      list(x = fm$train, y = fm$train_y, y_plain = one_hot(as.integer(fm$train_y) - 1L, 10),
           eval_x = fm$test, eval_label = fm$test_label)
    },
    rustnn = function() Sequential$new(Linear$new(784, 100), Sigmoid$new(),
                                       Linear$new(100, 10), Softmax$new()),
    plain = list(hidden = 100, act = "sigmoid", out = "softmax")),
  W5 = list(
    data = function() workloads$W4$data(),
    rustnn = function() Sequential$new(Linear$new(784, 512), ReLU$new(),
                                       Linear$new(512, 10), Softmax$new()),
    plain = list(hidden = 512, act = "relu", out = "softmax")),
  W6 = list(
    data = function() {
      fm <- load_fmnist()
      list(x = fm$images, y = fm$images_y, y_plain = one_hot(as.integer(fm$images_y) - 1L, 10),
           eval_x = fm$test_images, eval_label = fm$test_label)
    },
    rustnn = function() Sequential$new(Conv2d$new(1, 16, 3), ReLU$new(), MaxPool2d$new(2),
                                       Flatten$new(), Linear$new(2704, 10), Softmax$new()),
    plain = list(cnn = TRUE)),
  W7 = list(
    data = function() {
      d <- read_data("synthetic")
      x <- as.matrix(d[, paste0("x", 1:20)])
      list(x = x, y = d$y, y_plain = matrix(d$y), eval_x = x, eval_label = d$y)
    },
    rustnn = function() Sequential$new(Linear$new(20, 10), Sigmoid$new(), Linear$new(10, 1),
                                       Sigmoid$new()),
    plain = list(hidden = 10, act = "sigmoid", out = "sigmoid"))
)

# Accuracy of outputs (probabilities or linear outputs) against 0-based
# labels: argmax for several columns, > 0.5 for one.
accuracy <- function(out, label) {
  out <- as.matrix(out)
  pred <- if (ncol(out) == 1L) as.integer(out[, 1] > 0.5) else max.col(out, "first") - 1L
  mean(pred == label)
}

rustnn_optimizer <- function(spec) {
  switch(spec$optimizer,
         sgd = SGD$new(lr = spec$lr),
         # rustnn's RMSprop defaults are PyTorch's (rho 0.99, eps 1e-8).
         rmsprop = RMSprop$new(lr = spec$lr),
         adam = Adam$new(lr = spec$lr))
}
plain_optimizer <- function(spec) {
  switch(spec$optimizer,
         sgd = plain_sgd(spec$lr),
         # Plain R uses rustnn's (= PyTorch's) RMSprop defaults: rho 0.99, eps 1e-8.
         rmsprop = plain_rmsprop(lr = spec$lr),
         adam = plain_adam(lr = spec$lr))
}

# Elapsed seconds of evaluating `expr`, to the microsecond (system.time()
# counts whole milliseconds, too coarse for the smallest fits).
elapsed <- function(expr) {
  start <- Sys.time()
  force(expr)
  as.numeric(difftime(Sys.time(), start, units = "secs"))
}

# One timed fit from a fresh model: c(seconds, accuracy).
run_rustnn <- function(w, spec, d, seed, threads) {
  set.seed(seed)
  model <- w$rustnn()
  optimizer <- rustnn_optimizer(spec)
  seconds <- elapsed(
    fit(model, d$x, d$y, loss = spec$loss, optimizer = optimizer,
        epochs = spec$epochs, batch_size = spec$batch_size, verbose = FALSE,
        threads = threads))
  c(seconds, accuracy(predict(model, d$eval_x, threads = threads), d$eval_label))
}

run_plain <- function(w, spec, d, seed, rows) {
  set.seed(seed)
  x <- d$x
  y <- d$y_plain
  if (rows < nrow(y)) {
    x <- if (length(dim(x)) == 3L) x[seq_len(rows), , , drop = FALSE] else x[seq_len(rows), ]
    y <- y[seq_len(rows), , drop = FALSE]
  }
  if (isTRUE(w$plain$cnn)) {
    p <- init_cnn_params(28, 16, 3, 10)
    optimizer <- plain_optimizer(spec)
    seconds <- elapsed(
      p <- train_cnn_vectorized(p, x, y, optimizer, spec$epochs, spec$batch_size))
    out <- predict_cnn_vectorized(p, d$eval_x)
  } else {
    p <- init_params(ncol(x), w$plain$hidden, ncol(y), init = "glorot_uniform")
    optimizer <- plain_optimizer(spec)
    seconds <- elapsed(
      p <- train_vectorized(p, x, y, w$plain$act, w$plain$out, optimizer,
                            spec$epochs, spec$batch_size, shuffle = TRUE))
    out <- predict_vectorized(p, d$eval_x, w$plain$act, w$plain$out)
  }
  c(seconds, accuracy(out, d$eval_label))
}

# run(seed) for seeds 1..runs, as columns c(seconds, accuracy); only seed 1
# if that fit took longer than max_repeat_seconds.
repeat_runs <- function(run) {
  first <- run(1L)
  if (runs == 1L || first[1] > max_repeat_seconds) return(matrix(first))
  cbind(first, sapply(seq(2L, runs), run))
}

blas <- basename(extSoftVersion()[["BLAS"]])
reference_blas <- grepl("^libblas|^libRblas", blas)

results <- list()
for (id in wanted) {
  spec <- as.list(specs[specs$workload == id, ])
  w <- workloads[[id]]
  d <- w$data()
  n <- NROW(d$y_plain)
  for (tool in tools) {
    note <- ""
    tool_threads <- switch(tool, rustnn = threads, rustnn_1thread = 1L,
                           plain_r = if (reference_blas) 1L else NA_integer_)
    if (tool == "plain_r") {
      rows <- min(n, if (id %in% names(plain_r_rows)) plain_r_rows[[id]] else n)
      runs_out <- repeat_runs(function(seed) run_plain(w, spec, d, seed, rows))
      runs_out[1, ] <- runs_out[1, ] * n / rows
      note <- sprintf("R's BLAS %s%s", blas, if (reference_blas) " (single-threaded)" else "")
      if (rows < n) {
        note <- sprintf("%s; timed on the first %d of %d rows (%.2f epoch) and scaled to one epoch; accuracy after that partial epoch",
                        note, rows, n, rows / n)
      }
    } else {
      runs_out <- repeat_runs(function(seed) run_rustnn(w, spec, d, seed, tool_threads))
    }
    if (ncol(runs_out) < runs) {
      note <- paste(c(if (nzchar(note)) note,
                      sprintf("one run only: a fit takes %.0f s (over %g s)", runs_out[1, 1],
                              max_repeat_seconds)), collapse = "; ")
    }
    results[[length(results) + 1L]] <- data.frame(
      workload = id, description = spec$description, tool = tool, threads = tool_threads,
      sec_per_epoch = signif(median(runs_out[1, ]) / spec$epochs, 4),
      accuracy = round(median(runs_out[2, ]), 4), note = note,
      run_seconds = paste(signif(runs_out[1, ], 4), collapse = ";"))
    r <- results[[length(results)]]
    message(sprintf("%s %-15s %.3g s/epoch  accuracy %.4f  (fits: %s s)", id, tool,
                    r$sec_per_epoch, r$accuracy, r$run_seconds))
  }
}
results <- do.call(rbind, results)
if (nzchar(out_file)) {
  utils::write.csv(results, out_file, row.names = FALSE)
} else {
  utils::write.csv(results, stdout(), row.names = FALSE)
}
