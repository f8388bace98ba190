# Shared helpers: numerical gradient checks through the public API, and
# small data sets.

# Central-difference gradient of `loss` (a Loss object) with respect to every
# parameter of `model` (float64), compared with the backward pass. Returns
# the largest relative error over all parameters and the input gradient.
# `extra()` is added to the loss (an L1/L2 penalty); with `seed`, every
# forward pass draws the same dropout masks.
max_grad_error <- function(model, x, y, loss, eps = 1e-6, extra = function() 0, seed = NULL) {
  forward <- function(x) {
    if (!is.null(seed)) set.seed(seed)
    model$forward(x)
  }
  out <- forward(x)
  grad_x <- model$backward(loss$grad(out, y))
  analytic <- lapply(model$layers, function(l) l$grads)
  value_at <- function() loss$loss(forward(x), y) + extra()
  rel <- function(a, b) abs(a - b) / max(1e-8, abs(a), abs(b))
  worst <- 0
  for (i in seq_along(model$layers)) {
    layer <- model$layers[[i]]
    for (nm in names(layer$params)) {
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
