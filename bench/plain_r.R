# Plain-R neural networks written like the "neural network from scratch"
# tutorials, shared by the benchmarks that time rustnn against them:
#   bench/bench_vs_plain_r.R      rustnn vs tutorial 002/003 style loops
#   bench/bench_fashion_mnist.R   rustnn on Fashion-MNIST, plain R for scale
#   bench/bench_frameworks.R      rustnn and plain R beside PyTorch and Keras
#
# Not a script: `source()` it. It defines, with nothing but base R and R's
# own BLAS (no rustnn):
#   * activations, softmax, `median_seconds()`, `cpu_model()`;
#   * `init_params()`: a two-layer network's weights and biases;
#   * optimizers as closures: `plain_sgd()`, `plain_rmsprop()`, `plain_adam()`;
#   * `train_vectorized()`: tutorial 003's vectorized network (one matrix
#     product per layer and mini-batch) for sigmoid/BCE, softmax/
#     cross-entropy and linear/total-squared-error outputs;
#     `predict_vectorized()` for its outputs;
#   * `train_cnn_vectorized()` / `predict_cnn_vectorized()`: a small CNN
#     (3x3 convolution, ReLU, 2x2 max pooling, linear, softmax) vectorized
#     the same way, the convolution as one product of an im2col matrix.
# and, for the memory benchmarks (Linux: they read /proc/self), `proc_mb()`,
# `rss_after_gc()`, `reset_peak_rss()` and `rscript_child()`.
# Rows are samples everywhere.

sigmoid <- function(z) 1 / (1 + exp(-z))
softmax_rows <- function(z) {
  e <- exp(z - apply(z, 1, max))
  e / rowSums(e)
}
relu <- function(z) {
  z[z < 0] <- 0
  z
}

# Hidden activations with their derivative computed from their output.
hidden_fun <- list(tanh = list(f = tanh, d = function(a) 1 - a^2),
                   sigmoid = list(f = sigmoid, d = function(a) a * (1 - a)),
                   relu = list(f = relu, d = function(a) (a > 0) + 0))

# Output activations.
output_fun <- list(sigmoid = sigmoid, softmax = softmax_rows, identity = identity)

# Median elapsed seconds of `reps` calls of f().
median_seconds <- function(f, reps = 3) median(replicate(reps, system.time(f())[["elapsed"]]))

# The value of a --name=value command-line argument, or `default`.
arg <- function(name, default) {
  args <- commandArgs(trailingOnly = TRUE)
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) sub(paste0("^--", name, "="), "", hit[length(hit)]) else default
}

# The CPU's model name from /proc/cpuinfo (Linux), or "unknown CPU".
cpu_model <- function() {
  tryCatch(sub("^model name\\s*:\\s*", "",
               grep("^model name", readLines("/proc/cpuinfo"), value = TRUE)[1]),
           error = function(e) "unknown CPU", warning = function(w) "unknown CPU")
}

# Two-layer network: w1 is n_in x n_hidden, w2 n_hidden x n_out, biases zero.
# init "uniform": runif(-0.5, 0.5) as in the tutorials; "glorot_uniform":
# runif(-a, a) with a = sqrt(6 / (fan_in + fan_out)), rustnn's and Keras's
# default.
init_params <- function(n_in, n_hidden, n_out, init = c("uniform", "glorot_uniform")) {
  init <- match.arg(init)
  draw <- function(a, b) {
    limit <- if (init == "uniform") 0.5 else sqrt(6 / (a + b))
    matrix(runif(a * b, -limit, limit), a)
  }
  list(w1 = draw(n_in, n_hidden), b1 = rep(0, n_hidden),
       w2 = draw(n_hidden, n_out), b2 = rep(0, n_out))
}

# Optimizers: each returns a function(p, g) -> updated p, for parameter and
# gradient lists of the same names; RMSprop and Adam keep their state in the
# closure (so make a fresh one per training run). Defaults as rustnn's
# (RMSprop's are PyTorch's; Adam's are PyTorch's and rustnn's).
plain_sgd <- function(lr) {
  function(p, g) {
    for (k in names(p)) p[[k]] <- p[[k]] - lr * g[[k]]
    p
  }
}
plain_rmsprop <- function(lr = 0.01, rho = 0.99, eps = 1e-8) {
  v <- NULL
  function(p, g) {
    if (is.null(v)) v <<- lapply(g, function(x) x * 0)
    for (k in names(p)) {
      v[[k]] <<- rho * v[[k]] + (1 - rho) * g[[k]]^2
      p[[k]] <- p[[k]] - lr * g[[k]] / (sqrt(v[[k]]) + eps)
    }
    p
  }
}
plain_adam <- function(lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8) {
  m <- NULL
  v <- NULL
  t <- 0
  function(p, g) {
    if (is.null(m)) {
      m <<- lapply(g, function(x) x * 0)
      v <<- m
    }
    t <<- t + 1
    for (k in names(p)) {
      m[[k]] <<- beta1 * m[[k]] + (1 - beta1) * g[[k]]
      v[[k]] <<- beta2 * v[[k]] + (1 - beta2) * g[[k]]^2
      p[[k]] <- p[[k]] - lr * (m[[k]] / (1 - beta1^t)) / (sqrt(v[[k]] / (1 - beta2^t)) + eps)
    }
    p
  }
}

# Tutorial 003 style: one matrix product per layer and batch.
#   act: hidden activation, a name of hidden_fun;
#   out: "sigmoid" (mean binary cross-entropy over all outputs), "softmax"
#        (cross-entropy, mean over rows) or "identity" (total squared error,
#        tutorial 001's loss);
#   optimizer: a function(p, g) from plain_sgd() etc.;
#   shuffle: FALSE takes the batches in order (the tutorials), TRUE draws a
#        new order of the rows every epoch with sample().
train_vectorized <- function(p, x, y, act, out, optimizer, epochs, batch_size,
                             shuffle = FALSE) {
  h <- hidden_fun[[act]]
  f_out <- output_fun[[out]]
  n <- nrow(x)
  for (epoch in seq_len(epochs)) {
    order <- if (shuffle) sample.int(n) else seq_len(n)
    for (start in seq(1, n, by = batch_size)) {
      rows <- order[start:min(n, start + batch_size - 1)]
      xb <- x[rows, , drop = FALSE]; yb <- y[rows, , drop = FALSE]; m <- length(rows)
      a1 <- h$f(xb %*% p$w1 + rep(p$b1, each = m))
      a2 <- f_out(a1 %*% p$w2 + rep(p$b2, each = m))
      dz2 <- switch(out, sigmoid = (a2 - yb) / (m * ncol(yb)), softmax = (a2 - yb) / m,
                    identity = 2 * (a2 - yb))
      dz1 <- (dz2 %*% t(p$w2)) * h$d(a1)
      p <- optimizer(p, list(w1 = crossprod(xb, dz1), b1 = colSums(dz1),
                             w2 = crossprod(a1, dz2), b2 = colSums(dz2)))
    }
  }
  p
}

# Outputs (probabilities, or the linear outputs for "identity") of a network
# trained by train_vectorized().
predict_vectorized <- function(p, x, act, out) {
  m <- nrow(x)
  a1 <- hidden_fun[[act]]$f(x %*% p$w1 + rep(p$b1, each = m))
  output_fun[[out]](a1 %*% p$w2 + rep(p$b2, each = m))
}

# Small CNN for one-channel square images, vectorized over the mini-batch:
# Conv2d(1 -> filters, k x k, stride 1, no padding) - ReLU - MaxPool(2) -
# Flatten - Linear - Softmax, cross-entropy (mean over rows).
#   x: n x size x size array; y: n x classes one-hot matrix.
# The convolution is one product of the im2col matrix ((m * out^2) x k^2,
# built by one indexing of the batch) with the k^2 x filters weights.
init_cnn_params <- function(size, filters, kernel, classes) {
  out <- size - kernel + 1
  stopifnot(out %% 2 == 0)
  flat <- filters * (out / 2)^2
  glorot <- function(fan_in, fan_out, n) {
    limit <- sqrt(6 / (fan_in + fan_out))
    runif(n, -limit, limit)
  }
  # Conv2d's fans as in Keras and rustnn: kernel area times channels.
  list(wc = matrix(glorot(kernel^2, kernel^2 * filters, kernel^2 * filters), kernel^2),
       bc = rep(0, filters),
       w2 = matrix(glorot(flat, classes, flat * classes), flat), b2 = rep(0, classes))
}

# Indices into an m x size x size array (column-major) of the im2col matrix:
# row (i, r, c) of the output position, column (dr, dc) of the kernel offset.
im2col_index <- function(m, size, kernel) {
  out <- size - kernel + 1
  pos <- expand.grid(i = seq_len(m), r = seq_len(out), c = seq_len(out))
  off <- expand.grid(dr = seq_len(kernel) - 1, dc = seq_len(kernel) - 1)
  base <- pos$i + m * (pos$r - 1) + m * size * (pos$c - 1)
  outer(base, m * off$dr + m * size * off$dc, `+`)
}

cnn_forward <- function(p, xb, index) {
  m <- dim(xb)[1]
  size <- dim(xb)[2]
  kernel <- sqrt(nrow(p$wc))
  out <- size - kernel + 1
  half <- out / 2
  filters <- ncol(p$wc)
  cols <- matrix(xb[index], nrow = nrow(index))
  a <- relu(cols %*% p$wc + rep(p$bc, each = nrow(cols)))   # (m * out^2) x filters
  dim(a) <- c(m, out, out, filters)
  odd <- seq(1, out, by = 2)
  even <- odd + 1
  windows <- list(a[, odd, odd, , drop = FALSE], a[, even, odd, , drop = FALSE],
                  a[, odd, even, , drop = FALSE], a[, even, even, , drop = FALSE])
  pooled <- do.call(pmax, windows)                          # m x half x half x filters
  flat <- matrix(pooled, m)
  probs <- softmax_rows(flat %*% p$w2 + rep(p$b2, each = m))
  list(cols = cols, a = a, windows = windows, pooled = pooled, flat = flat, probs = probs,
       m = m, out = out, half = half, filters = filters)
}

train_cnn_vectorized <- function(p, x, y, optimizer, epochs, batch_size, shuffle = TRUE) {
  n <- dim(x)[1]
  size <- dim(x)[2]
  kernel <- sqrt(nrow(p$wc))
  indexes <- list()
  for (epoch in seq_len(epochs)) {
    order <- if (shuffle) sample.int(n) else seq_len(n)
    for (start in seq(1, n, by = batch_size)) {
      rows <- order[start:min(n, start + batch_size - 1)]
      m <- length(rows)
      key <- as.character(m)
      if (is.null(indexes[[key]])) indexes[[key]] <- im2col_index(m, size, kernel)
      f <- cnn_forward(p, x[rows, , , drop = FALSE], indexes[[key]])
      dz2 <- (f$probs - y[rows, , drop = FALSE]) / m
      dpooled <- dz2 %*% t(p$w2)
      dim(dpooled) <- dim(f$pooled)
      # Max pooling's gradient goes to the first window position holding
      # the maximum; ReLU's to positive outputs.
      da <- array(0, dim(f$a))
      odd <- seq(1, f$out, by = 2)
      even <- odd + 1
      taken <- array(FALSE, dim(f$pooled))
      slots <- list(list(odd, odd), list(even, odd), list(odd, even), list(even, even))
      for (w in seq_along(slots)) {
        hit <- !taken & f$windows[[w]] == f$pooled
        taken <- taken | hit
        da[, slots[[w]][[1]], slots[[w]][[2]], ] <- dpooled * hit
      }
      dz1 <- matrix(da * (f$a > 0), ncol = f$filters)
      p <- optimizer(p, list(wc = crossprod(f$cols, dz1), bc = colSums(dz1),
                             w2 = crossprod(f$flat, dz2), b2 = colSums(dz2)))
    }
  }
  p
}

# Class probabilities of the CNN for an n x size x size array, in chunks.
predict_cnn_vectorized <- function(p, x, chunk = 500) {
  n <- dim(x)[1]
  size <- dim(x)[2]
  kernel <- sqrt(nrow(p$wc))
  starts <- seq(1, n, by = chunk)
  do.call(rbind, lapply(starts, function(start) {
    rows <- start:min(n, start + chunk - 1)
    cnn_forward(p, x[rows, , , drop = FALSE], im2col_index(length(rows), size, kernel))$probs
  }))
}

# Memory of this R process (Linux), from /proc/self/status: the named kB
# fields (VmRSS = resident now, VmHWM = peak resident since start or the
# last reset_peak_rss()) in MB (10^6 bytes); "Threads" is returned as a count.
proc_mb <- function(fields = c("VmRSS", "VmHWM")) {
  status <- readLines("/proc/self/status")
  vapply(fields, function(f) {
    line <- grep(paste0("^", f, ":"), status, value = TRUE)
    value <- as.numeric(sub("^[^0-9]*([0-9]+).*$", "\\1", line))
    if (f == "Threads") value else value * 1024 / 1e6
  }, numeric(1))
}

# Resident MB after two full collections (the second also frees what the
# first one's finalizers released).
rss_after_gc <- function() {
  invisible(gc(full = TRUE))
  invisible(gc(full = TRUE))
  proc_mb("VmRSS")[[1]]
}

# Resets the kernel's peak-RSS mark VmHWM to the current VmRSS by writing
# "5" to /proc/self/clear_refs; TRUE if that worked (VmHWM is then within
# 1 MB of VmRSS), so that VmHWM read later is the peak since this call.
reset_peak_rss <- function() {
  ok <- tryCatch({cat("5", file = "/proc/self/clear_refs"); TRUE},
                 error = function(e) FALSE, warning = function(w) FALSE)
  mb <- proc_mb()
  ok && mb[["VmHWM"]] <= mb[["VmRSS"]] + 1
}

# Runs `Rscript script args` in a child process that finds the packages this
# one does, and reads the "key,value" lines it prints as a named numeric
# vector (other lines are ignored). A fresh process, so its memory figures
# are not disturbed by this one's.
rscript_child <- function(script, args = character()) {
  out <- system2(file.path(R.home("bin"), "Rscript"), c(shQuote(script), args), stdout = TRUE,
                 env = paste0("R_LIBS=", shQuote(paste(.libPaths(), collapse = ":"))))
  kv <- grep("^[A-Za-z_][A-Za-z0-9_.]*,[-+0-9.eEnaNA]+$", out, value = TRUE)
  if (!length(kv)) stop("the child R process printed no results:\n", paste(out, collapse = "\n"))
  stats::setNames(as.numeric(sub("^.*,", "", kv)), sub(",.*$", "", kv))
}

# Writes a benchmark's results to OUT_DIR/NAME-DATE.csv and its report to
# OUT_DIR/NAME-DATE.md, and says where.
write_results <- function(results, md, out_dir, name, date) {
  dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
  csv_file <- file.path(out_dir, sprintf("%s-%s.csv", name, date))
  md_file <- file.path(out_dir, sprintf("%s-%s.md", name, date))
  utils::write.csv(results, csv_file, row.names = FALSE)
  writeLines(md, md_file)
  message("bench_", name, ": wrote ", csv_file, " and ", md_file)
}

# Tutorial 001's Linear layer (base matrices instead of rray), as an R6
# class that inherits `inherit` (NULL: a plain R6 class, with its own
# `params` and `grads` fields; rustnn's Layer: a layer written in R).
# Weights are drawn with standard deviation `sd`; `bias_sd = 0` starts the
# bias at zero.
tutorial_linear_class <- function(inherit = NULL, sd = 1, bias_sd = 1) {
  fields <- if (is.null(inherit)) list(params = list(), grads = list())
  R6::R6Class("TutorialLinear", inherit = inherit, public = c(fields, list(
    inputs = NULL,
    initialize = function(input_size, output_size) {
      self$params$w <- matrix(rnorm(input_size * output_size, sd = sd), input_size, output_size)
      self$params$bias <- matrix(rnorm(output_size, sd = bias_sd), 1, output_size)
    },
    forward = function(inputs) {
      self$inputs <- inputs
      sweep(inputs %*% self$params$w, 2, self$params$bias, "+")
    },
    backward = function(grad) {
      self$grads$w <- t(self$inputs) %*% grad
      self$grads$bias <- matrix(colSums(grad), 1)
      grad %*% t(self$params$w)
    }
  )))
}
