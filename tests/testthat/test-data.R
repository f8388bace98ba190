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

test_that("fit() drops rows with NA of a formula's data or a data frame, as lm() does", {
  ir <- iris
  ir$Sepal.Length[c(3, 7)] <- NA
  set.seed(1)
  a <- Sequential$new(Linear$new(4, 3), Softmax$new())
  b <- a$clone(deep = TRUE)
  set.seed(2)
  h <- fit(a, Species ~ ., data = ir, epochs = 2, verbose = 0)
  set.seed(2)
  fit(b, Species ~ ., data = ir[-c(3, 7), ], epochs = 2, verbose = 0)
  expect_equal(h$params$rows, 148)
  expect_identical(a$layers[[1]]$params, b$layers[[1]]$params)
  y <- ir$Species
  y[5] <- NA
  h2 <- fit(Sequential$new(Linear$new(4, 3), Softmax$new()), ir[1:4], y, epochs = 1, verbose = 0)
  expect_equal(h2$params$rows, 147)
  expect_error(fit(a, ir[1:4], ir$Species, na.action = na.fail, verbose = 0),
               class = "rustnn_error_argument")
  all_na <- ir
  all_na$Sepal.Width <- NA_real_
  expect_snapshot(error = TRUE, fit(a, Species ~ ., data = all_na, verbose = 0))
  # A matrix with NA is still refused: it has no rows to drop by name.
  expect_error(fit(a, as.matrix(ir[1:4]), ir$Species, verbose = 0), class = "rustnn_error_argument")
})
