# What the inspection tools cost: fit() with and without track = "weights"
# (median of `reps` fits each, one thread, measured in the same run), and
# grad_check() on tutorial 003's network and on a 784-128-10 network.
#
# Run from the package root with rustnn installed:
#   Rscript bench/bench_inspect.R [reps]
library(rustnn)
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[1]) else 5L

median_fit_seconds <- function(make, x, y, track, ...) {
  median(vapply(seq_len(reps), function(i) {
    model <- make()
    set.seed(1)
    system.time(fit(model, x, y, track = track, verbose = 0, threads = 1, ...))[["elapsed"]]
  }, numeric(1)))
}

tracking_overhead <- function(label, make, x, y, ...) {
  off <- median_fit_seconds(make, x, y, NULL, ...)
  on <- median_fit_seconds(make, x, y, "weights", ...)
  data.frame(workload = label, off_s = off, on_s = on, overhead = sprintf("%+.0f%%", 100 * (on / off - 1)))
}

set.seed(1)
x <- matrix(rnorm(20000 * 20), ncol = 20)
y <- x[, 1] * x[, 2] + sin(x[, 3])
mlp <- function() {
  set.seed(2)
  Sequential$new(Linear$new(20, 64), ReLU$new(), Linear$new(64, 64), ReLU$new(), Linear$new(64, 1))
}
x_wide <- cbind(x[1:256, ], x[1:256, ], x[1:256, ], x[1:256, ], x[1:256, ])
y_wide <- factor(sample(letters[1:10], 256, TRUE))
wide <- function() {
  set.seed(3)
  Sequential$new(Linear$new(100, 256), ReLU$new(), Linear$new(256, 256), ReLU$new(),
                 Linear$new(256, 10), Softmax$new())
}
deep_sigmoid <- function() {
  set.seed(7)
  hidden <- unlist(lapply(1:4, function(i) list(Sigmoid$new(), Linear$new(16, 16))))
  Sequential$new(c(list(Linear$new(4, 16)), hidden, list(Sigmoid$new(), Linear$new(16, 3), Softmax$new())))
}

overhead <- rbind(
  tracking_overhead("MLP 20-64-64-1, 20,000 rows, batch 32, 10 epochs, Adam", mlp, x, y,
                    epochs = 10, batch_size = 32, optimizer = Adam$new()),
  tracking_overhead("100-256-256-10, 256 rows, full batch, 300 epochs", wide, x_wide, y_wide,
                    epochs = 300, batch_size = 256, optimizer = SGD$new(lr = 0.1)),
  tracking_overhead("deep sigmoid net, iris, batch 10, 300 epochs", deep_sigmoid,
                    scale(iris[, 1:4]), iris$Species, epochs = 300, batch_size = 10,
                    optimizer = SGD$new(lr = 0.1)))
print(overhead, row.names = FALSE)

grad_check_time <- function(label, model, x, y, loss) {
  seconds <- system.time(check <- grad_check(model, x, y, loss = loss))[["elapsed"]]
  data.frame(workload = label, entries = sprintf("%d of %d", sum(check$checked), sum(check$size)),
             seconds = seconds, max_error = signif(max(check$max_error), 2), pass = all(check$pass))
}
flower <- planar_flower()
x_flower <- scale(as.matrix(flower[1:320, c("x1", "x2")]))
set.seed(4)
planar <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
digits <- Sequential$new(Linear$new(784, 128), ReLU$new(), Linear$new(128, 10), Softmax$new())
x_digits <- matrix(runif(784 * 8), 8)
y_digits <- factor(sample(letters[1:10], 8, TRUE), levels = letters[1:10])
print(rbind(grad_check_time("2-4-1 tanh, 320 rows, bce", planar, x_flower, flower$y[1:320], "bce"),
            grad_check_time("784-128-10 relu, 8 rows, cross-entropy", digits, x_digits, y_digits,
                            "cross_entropy")),
      row.names = FALSE)
