# rustnn's fit() against plain-R networks written like the tutorials:
# tutorial 002's per-example backpropagation loop and tutorial 003's
# vectorized matrices. Same data, same architecture, same hyper-parameters;
# no shuffling (the plain-R loops take batches in order); each timed as the
# median of 3 runs, in this one run, and reported as
# seconds per epoch with rustnn's speed-up.
#
# Run from the package root after installing rustnn:
#   Rscript bench/bench_vs_plain_r.R
# (it sources bench/plain_r.R).
suppressPackageStartupMessages(library(rustnn))

# Shared plain-R helpers: sigmoid(), softmax_rows(), hidden_fun,
# init_params(), plain_sgd(), train_vectorized() (tutorial 003 style: one
# matrix product per layer and batch), median_seconds(), cpu_model().
bench_dir <- "bench"  # scripts run from the package root
source(file.path(bench_dir, "plain_r.R"))

# Tutorial 002 style: backpropagate one example at a time, add up the
# gradients over the mini-batch, then update.
train_per_example <- function(p, x, y, act, out, lr, epochs, batch_size) {
  h <- hidden_fun[[act]]
  n <- nrow(x)
  for (epoch in seq_len(epochs)) {
    for (start in seq(1, n, by = batch_size)) {
      rows <- start:min(n, start + batch_size - 1)
      g <- lapply(p, function(v) v * 0)
      for (i in rows) {
        xi <- x[i, , drop = FALSE]; yi <- y[i, , drop = FALSE]
        a1 <- h$f(xi %*% p$w1 + p$b1)
        z2 <- a1 %*% p$w2 + p$b2
        a2 <- if (out == "sigmoid") sigmoid(z2) else softmax_rows(z2)
        dz2 <- a2 - yi
        dz1 <- (dz2 %*% t(p$w2)) * h$d(a1)
        g$w2 <- g$w2 + t(a1) %*% dz2; g$b2 <- g$b2 + as.vector(dz2)
        g$w1 <- g$w1 + t(xi) %*% dz1; g$b1 <- g$b1 + as.vector(dz1)
      }
      m <- length(rows) * (if (out == "sigmoid") ncol(y) else 1)
      p <- Map(function(v, gv) v - lr / m * gv, p, g)
    }
  }
  p
}

workloads <- list(
  list(name = "planar flower 2-4-1, full batch", act = "tanh", out = "sigmoid",
       lr = 1.2, batch_size = 320, epochs = c(rustnn = 10000, vectorized = 2000, per_example = 50),
       data = function() {
         set.seed(69)
         d <- planar_flower()
         list(x = scale(as.matrix(d[1:320, 1:2])), y = matrix(d$y[1:320]), hidden = 4)
       }),
  list(name = "iris 4-40-3, batch 10", act = "sigmoid", out = "softmax",
       lr = 0.5, batch_size = 10, epochs = c(rustnn = 300, vectorized = 30, per_example = 30),
       data = function() {
         list(x = as.matrix(iris[, 1:4]), y = diag(3)[as.integer(iris$Species), ], hidden = 40)
       })
)

rows <- list()
for (w in workloads) {
  d <- w$data()
  n_in <- ncol(d$x); n_out <- ncol(d$y)
  rustnn_fit <- function() {
    model <- Sequential$new(Linear$new(n_in, d$hidden),
                            if (w$act == "tanh") Tanh$new() else Sigmoid$new(),
                            Linear$new(d$hidden, n_out),
                            if (w$out == "sigmoid") Sigmoid$new() else Softmax$new())
    fit(model, d$x, d$y, loss = if (w$out == "sigmoid") "bce" else "cross_entropy",
        optimizer = SGD$new(lr = w$lr), epochs = w$epochs[["rustnn"]],
        batch_size = w$batch_size, shuffle = FALSE, verbose = FALSE, threads = 1)
  }
  per_epoch <- c(
    rustnn = median_seconds(rustnn_fit) / w$epochs[["rustnn"]],
    vectorized = median_seconds(function()
      train_vectorized(init_params(n_in, d$hidden, n_out), d$x, d$y, w$act, w$out,
                       plain_sgd(w$lr), w$epochs[["vectorized"]], w$batch_size)) / w$epochs[["vectorized"]],
    per_example = median_seconds(function()
      train_per_example(init_params(n_in, d$hidden, n_out), d$x, d$y, w$act, w$out, w$lr,
                        w$epochs[["per_example"]], w$batch_size)) / w$epochs[["per_example"]]
  )
  rows[[length(rows) + 1]] <- data.frame(
    workload = w$name, method = names(per_epoch),
    ms_per_epoch = signif(1000 * per_epoch, 3),
    rustnn_speedup = signif(per_epoch / per_epoch[["rustnn"]], 3)
  )
}
result <- do.call(rbind, rows)
cat(sprintf("rustnn vs plain R, %s, R %s, %s\n", format(Sys.Date()), getRversion(), cpu_model()))
print(result, row.names = FALSE)
