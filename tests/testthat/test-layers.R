# Linear layers' weight initializers: the spread of a large layer's weights
# against each formula, and reproducibility under set.seed().

test_that("initializers draw from their documented distributions", {
  fan_in <- 400
  fan_out <- 300
  weights <- function(init) {
    set.seed(40)
    as.vector(Linear$new(fan_in, fan_out, init = init)$params$weight)
  }
  # Uniform on [-a, a]: sd a / sqrt(3), and values reach near both ends.
  uniform_limits <- c(glorot_uniform = sqrt(6 / (fan_in + fan_out)), he_uniform = sqrt(6 / fan_in))
  for (init in names(uniform_limits)) {
    a <- uniform_limits[[init]]
    w <- weights(init)
    expect_lte(max(abs(w)), a)
    expect_gt(min(w), -a)
    expect_gt(max(w), 0.999 * a)
    expect_lt(min(w), -0.999 * a)
    expect_equal(sd(w), a / sqrt(3), tolerance = 0.01, label = init)
    expect_lt(abs(mean(w)), 0.01 * a)
  }
  normal_sds <- c(glorot_normal = sqrt(2 / (fan_in + fan_out)), he_normal = sqrt(2 / fan_in))
  for (init in names(normal_sds)) {
    s <- normal_sds[[init]]
    w <- weights(init)
    expect_equal(sd(w), s, tolerance = 0.01, label = init)
    expect_lt(abs(mean(w)), 0.01 * s)
    # Not truncated: about 4.6% of a normal lies beyond two sds.
    expect_equal(mean(abs(w) > 2 * s), 2 * pnorm(-2), tolerance = 0.05)
  }
})

test_that("set.seed() reproduces every initializer", {
  for (init in c("glorot_uniform", "glorot_normal", "he_uniform", "he_normal")) {
    set.seed(41)
    a <- Linear$new(5, 4, init = init)$params$weight
    set.seed(41)
    b <- Linear$new(5, 4, init = init)$params$weight
    expect_identical(a, b)
    expect_false(identical(a, Linear$new(5, 4, init = init)$params$weight))
  }
  expect_snapshot(error = TRUE, Linear$new(2, 2, init = "orthogonal"))
})
