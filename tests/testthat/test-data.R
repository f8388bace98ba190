# Preparing inputs (R/data.R): columns matched by name, variable types,
# classes, values a float32 model can hold.

iris_df <- function() as.data.frame(scale(iris[, 1:4]))

fitted_on_frame <- function() {
  set.seed(1)
  model <- Sequential$new(Linear$new(4, 8), ReLU$new(), Linear$new(8, 3), Softmax$new())
  fit(model, iris_df(), iris$Species, epochs = 30, optimizer = Adam$new(lr = 0.05), verbose = 0)
  model
}

test_that("predict() matches a data frame's columns by name, in any order", {
  model <- fitted_on_frame()
  df <- iris_df()
  expect_identical(predict(model, df[, 4:1]), predict(model, df))
  expect_identical(predict(model, cbind(extra = 1, df)), predict(model, df))
  expect_identical(predict(model, as.matrix(df)[, c(2, 1, 4, 3)]), predict(model, df))
  # Without names, columns are taken by position.
  expect_identical(predict(model, unname(as.matrix(df))), predict(model, df))
  renamed <- df
  names(renamed) <- paste0("v", 1:4)
  expect_error(predict(model, renamed), class = "rustnn_error_argument")
  expect_snapshot(error = TRUE, predict(model, renamed[, 1:3]))
})

test_that("refitting with the columns in another order trains on the same inputs", {
  a <- fitted_on_frame()
  b <- fitted_on_frame()
  set.seed(2); fit(a, iris_df(), iris$Species, epochs = 2, verbose = 0)
  set.seed(2); fit(b, iris_df()[, 4:1], iris$Species, epochs = 2, verbose = 0)
  expect_identical(a$layers[[1]]$params, b$layers[[1]]$params)
})

test_that("a formula model refuses a variable whose type changed, and matches terms by name", {
  set.seed(1)
  model <- mlp_sequential(Species ~ Sepal.Length + Sepal.Width + Petal.Length + Petal.Width, data = iris,
               hidden = 8, epochs = 60, verbose = 0)
  as_text <- iris
  as_text$Sepal.Width <- as.character(as_text$Sepal.Width)
  expect_error(predict(model, as_text), class = "rustnn_error_argument")
  expect_snapshot(error = TRUE, predict(model, as_text))
  acc <- function() mean(predict(model, iris, type = "class") == iris$Species)
  before <- acc()
  expect_gt(before, 0.9)
  # A refit with the terms in another order keeps each standardization
  # with its column (0 epochs of training change nothing else).
  fit(model, Species ~ Petal.Width + Petal.Length + Sepal.Width + Sepal.Length, data = iris,
      epochs = 1, optimizer = SGD$new(lr = 1e-12), verbose = 0)
  expect_equal(acc(), before)
})

test_that("values beyond float32's range are refused by a float32 model, everywhere", {
  model <- Sequential$new(Linear$new(4, 3), Softmax$new())
  x <- scale(as.matrix(iris[, 1:4]))
  huge <- x * 1e300
  expect_error(predict(model, huge), class = "rustnn_error_argument")
  expect_error(fit(model, huge, iris$Species, epochs = 1, verbose = 0), class = "rustnn_error_argument")
  expect_error(model$forward(huge), class = "rustnn_error_argument")
  expect_error(model$layers[[1]]$params$bias <- c(1e300, 0, 0), class = "rustnn_error_argument")
  expect_false(any(model$layers[[1]]$params$bias == 1e300))
  expect_snapshot(error = TRUE, predict(model, huge[1:2, ]))
  # float64 holds them.
  wide <- Sequential$new(Linear$new(4, 3), Softmax$new(), dtype = "float64")
  expect_no_error(predict(wide, x[1:2, ] * 1e300))
  expect_no_error(wide$layers[[1]]$params$bias <- c(1e300, 0, 0))
})
