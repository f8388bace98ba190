# Shared helpers: numerical gradient checks through the public API, and
# small data sets.

# Central-difference gradient of `loss` (a Loss object) with respect to every
# parameter of `model` (float64), compared with the backward pass. Returns
# the largest relative error over all parameters and the input gradient.
# `extra()` is added to the loss (an L1/L2 penalty); with `seed`, every
# forward pass draws the same dropout masks.
max_grad_error <- function(model, x, y, loss, eps = 1e-6, extra = function() 0, seed = NULL,
                           floor = 1e-8) {
  forward <- function(x) {
    if (!is.null(seed)) set.seed(seed)
    model$forward(x)
  }
  out <- forward(x)
  grad_x <- model$backward(loss$grad(out, y))
  analytic <- lapply(model$layers, function(l) l$grads)
  value_at <- function() loss$loss(forward(x), y) + extra()
  rel <- function(a, b) abs(a - b) / max(floor, abs(a), abs(b))
  worst <- 0
  for (i in seq_along(model$layers)) {
    layer <- model$layers[[i]]
    # Gradients exist for trained parameters (not for running statistics).
    for (nm in names(analytic[[i]])) {
      base <- layer$params
      for (k in seq_along(base[[nm]])) {
        p <- base; p[[nm]][k] <- p[[nm]][k] + eps; layer$params <- p
        up <- value_at()
        p <- base; p[[nm]][k] <- p[[nm]][k] - eps; layer$params <- p
        down <- value_at()
        layer$params <- base
        worst <- max(worst, rel((up - down) / (2 * eps), analytic[[i]][[nm]][k]))
      }
    }
  }
  for (k in seq_along(x)) {
    xp <- x; xp[k] <- xp[k] + eps
    xm <- x; xm[k] <- xm[k] - eps
    numeric <- (loss$loss(forward(xp), y) - loss$loss(forward(xm), y)) / (2 * eps)
    worst <- max(worst, rel(numeric, grad_x[k]))
  }
  worst
}

xor_data <- function() {
  list(x = matrix(c(0, 1, 0, 1, 0, 0, 1, 1), ncol = 2),
       y = matrix(c(1, 0, 0, 1, 0, 1, 1, 0), ncol = 2))
}

# Tutorial 003's pipeline: flower data, shuffle, 80/20 split, standardize
# (the test set with the training set's centre and scale).
flower_split <- function(seed = 69) {
  set.seed(seed)
  df <- planar_flower()
  df <- df[sample(nrow(df)), ]
  x <- scale(as.matrix(df[1:320, 1:2]))
  x_test <- scale(as.matrix(df[321:400, 1:2]), attr(x, "scaled:center"), attr(x, "scaled:scale"))
  list(x = x, y = df$y[1:320], x_test = x_test, y_test = df$y[321:400])
}

# Independent plain-R references for the image layers, written from the
# definitions with explicit loops (no unfolding, no engine).

# x: n x C x H x W; w: O x C x kh x kw; b: O. Returns n x O x out_h x out_w.
plain_conv <- function(x, w, b, stride = 1, padding = 0) {
  d <- dim(x)
  kh <- dim(w)[3]
  kw <- dim(w)[4]
  padded <- array(0, c(d[1:2], d[3:4] + 2 * padding))
  padded[, , padding + seq_len(d[3]), padding + seq_len(d[4])] <- x
  oh <- (d[3] + 2 * padding - kh) %/% stride + 1
  ow <- (d[4] + 2 * padding - kw) %/% stride + 1
  out <- array(0, c(d[1], dim(w)[1], oh, ow))
  for (i in seq_len(d[1])) for (o in seq_len(dim(w)[1])) for (r in seq_len(oh)) for (cc in seq_len(ow)) {
    rows <- (r - 1) * stride + seq_len(kh)
    cols <- (cc - 1) * stride + seq_len(kw)
    out[i, o, r, cc] <- sum(padded[i, , rows, cols] * w[o, , , ]) + b[o]
  }
  out
}

# Max or mean over each k x k window moved by `stride`, per channel.
plain_pool <- function(x, k, stride, fun) {
  d <- dim(x)
  oh <- (d[3] - k) %/% stride + 1
  ow <- (d[4] - k) %/% stride + 1
  out <- array(0, c(d[1:2], oh, ow))
  for (i in seq_len(d[1])) for (ch in seq_len(d[2])) for (r in seq_len(oh)) for (cc in seq_len(ow)) {
    out[i, ch, r, cc] <- fun(x[i, ch, (r - 1) * stride + seq_len(k), (cc - 1) * stride + seq_len(k)])
  }
  out
}

# Tutorial 002's convolution(), as the tutorial writes it with outer().
tutorial_convolution <- function(input_img, filter) {
  kernel_size <- dim(filter)
  outer(1:(nrow(input_img) - kernel_size[[1]] + 1),
        1:(ncol(input_img) - kernel_size[[2]] + 1),
        Vectorize(function(r, c) {
          sum(input_img[r:(r + kernel_size[[1]] - 1), c:(c + kernel_size[[2]] - 1)] * filter)
        }))
}
