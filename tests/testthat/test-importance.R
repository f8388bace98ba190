# Permutation importance (R/importance.R).

test_that("a variable the model uses matters, one it ignores does not", {
  set.seed(1)
  x <- data.frame(signal = rnorm(300), noise = rnorm(300))
  y <- 3 * x$signal + rnorm(300, sd = 0.1)
  model <- Sequential$new(Linear$new(2, 8), Tanh$new(), Linear$new(8, 1), dtype = "float64")
  fit(model, x, y, epochs = 150, optimizer = Adam$new(lr = 0.05), verbose = 0)
  set.seed(2)
  imp <- permutation_importance(model, x, y, n_repeats = 4)
  expect_s3_class(imp, "rustnn_importance")
  expect_identical(imp$variable, c("signal", "noise"))
  expect_gt(imp$importance[1], 1)
  expect_lt(abs(imp$importance[2]), 0.05)
  # The figure is the loss's rise, recomputed by hand for one shuffle.
  set.seed(3)
  one <- permutation_importance(model, x, y, n_repeats = 1)
  set.seed(3)
  shuffled <- x
  shuffled$signal <- shuffled$signal[sample.int(300)]
  rise <- evaluate(model, shuffled, y)[["loss"]] - evaluate(model, x, y)[["loss"]]
  expect_equal(one$importance[one$variable == "signal"], rise)
  expect_equal(attr(one, "baseline"), evaluate(model, x, y)[["loss"]])
  expect_no_error(plot(imp))
})

test_that("a formula model's factors are shuffled as one variable, scored by a metric", {
  set.seed(4)
  model <- Sequential$new(Linear$new(4, 8), ReLU$new(), Linear$new(8, 3), Softmax$new())
  fit(model, Species ~ ., data = iris, epochs = 80, optimizer = Adam$new(lr = 0.05), verbose = 0)
  imp <- permutation_importance(model, data = iris, metric = "accuracy", n_repeats = 2)
  expect_setequal(imp$variable, names(iris)[1:4])
  expect_true(imp$variable[1] %in% c("Petal.Length", "Petal.Width"))
  expect_gt(imp$importance[1], 0.1)
  expect_snapshot(error = TRUE, permutation_importance(model, iris[1:4], iris$Species, metric = "nope"))
})
