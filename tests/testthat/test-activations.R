# Activation layers: forward values against plain-R formulas, backward passes
# against the formulas' derivatives and central differences, and their
# hyper-parameters.

# Each new activation beside a plain-R definition and derivative.
reference_activations <- function() {
  list(
    list(make = function() LeakyReLU$new(),
         f = function(x) ifelse(x > 0, x, 0.01 * x),
         df = function(x) ifelse(x > 0, 1, 0.01)),
    list(make = function() LeakyReLU$new(alpha = 0.2),
         f = function(x) ifelse(x > 0, x, 0.2 * x),
         df = function(x) ifelse(x > 0, 1, 0.2)),
    list(make = function() ELU$new(),
         f = function(x) ifelse(x > 0, x, exp(x) - 1),
         df = function(x) ifelse(x > 0, 1, exp(x))),
    list(make = function() ELU$new(alpha = 0.5),
         f = function(x) ifelse(x > 0, x, 0.5 * (exp(x) - 1)),
         df = function(x) ifelse(x > 0, 1, 0.5 * exp(x))),
    list(make = function() GELU$new(),
         f = function(x) x * pnorm(x),
         df = function(x) pnorm(x) + x * dnorm(x)),
    list(make = function() Softplus$new(),
         f = function(x) log1p(exp(x)),
         df = function(x) plogis(x))
  )
}

test_that("new activations compute their definitions forward and backward", {
  set.seed(20)
  x <- matrix(c(rnorm(12, sd = 2), -4, -0.5, 0.5, 4), nrow = 4)
  g <- matrix(rnorm(16), nrow = 4)
  for (ref in reference_activations()) {
    layer <- ref$make()
    label <- format(layer)
    expect_equal(layer$forward(x), ref$f(x), tolerance = 1e-14, label = label)
    expect_equal(layer$backward(g), g * ref$df(x), tolerance = 1e-14, label = label)
  }
})

test_that("GELU and Softplus stay accurate far from zero", {
  x <- matrix(c(-30, -10, 30, 800))
  expect_equal(GELU$new()$forward(x), x * pnorm(x), tolerance = 1e-12)
  sp <- Softplus$new()$forward(matrix(c(-50, 800)))
  expect_equal(sp[1], exp(-50), tolerance = 1e-14)   # log1p(exp(-50)) rounds to it
  expect_equal(sp[2], 800)                            # where exp(800) overflows
})

test_that("new activations pass the gradient check inside a model", {
  set.seed(21)
  x <- matrix(rnorm(12), nrow = 4)
  y <- matrix(rnorm(8), nrow = 4)
  for (ref in reference_activations()) {
    model <- Sequential$new(Linear$new(3, 5), ref$make(), Linear$new(5, 2), dtype = "float64")
    expect_lt(max_grad_error(model, x, y, MSELoss$new()), 1e-6)
  }
})

test_that("alpha reaches the engine inside a model", {
  set.seed(22)
  x <- matrix(rnorm(20), nrow = 5)
  for (act in list(LeakyReLU$new(alpha = 0.3), ELU$new(alpha = 2))) {
    model <- Sequential$new(Linear$new(4, 3), act, dtype = "float64")
    p <- model$layers[[1]]$params
    z <- x %*% p$weight + matrix(p$bias, 5, 3, byrow = TRUE)
    want <- if (inherits(act, "ELU")) ifelse(z > 0, z, 2 * (exp(z) - 1)) else ifelse(z > 0, z, 0.3 * z)
    expect_equal(model$forward(x), want, tolerance = 1e-14)
    # The parameter survives serialization of the model.
    path <- withr::local_tempfile(fileext = ".rds")
    saveRDS(model, path)
    expect_equal(readRDS(path)$forward(x), want, tolerance = 1e-14)
  }
})

test_that("activations print their alpha", {
  expect_equal(format(LeakyReLU$new()), "<LeakyReLU(alpha = 0.01)>")
  expect_equal(format(ELU$new(alpha = 2)), "<ELU(alpha = 2)>")
  expect_equal(format(GELU$new()), "<GELU>")
  model <- Sequential$new(Linear$new(2, 2), ELU$new())
  expect_equal(format(model$layers[[2]]), "<ELU(alpha = 1)> [layer 2 of a model]")
  expect_output(print(Softplus$new()), "<Softplus>")
})

test_that("bad alphas are rejected with classed errors", {
  expect_snapshot(error = TRUE, ELU$new(alpha = -1))
  expect_snapshot(error = TRUE, ELU$new(alpha = 0))
  expect_snapshot(error = TRUE, LeakyReLU$new(alpha = -0.1))
  expect_snapshot(error = TRUE, LeakyReLU$new(alpha = "a"))
  expect_error(ELU$new(alpha = NA), class = "rustnn_error_argument")
  expect_equal(format(LeakyReLU$new(alpha = 0)), "<LeakyReLU(alpha = 0)>")
})
