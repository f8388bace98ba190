# rustnn_mlp(): the x/y, formula and recipe interfaces through hardhat,
# predictions as tidymodels' tibbles, missing values, classed errors.

test_that("the formula method classifies iris and predicts tibbles", {
  set.seed(1)
  fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 8, epochs = 40)
  expect_s3_class(fitted, "rustnn_mlp")
  expect_s3_class(fitted$model, "Sequential")
  expect_s3_class(fitted$blueprint, "hardhat_blueprint")
  classes <- predict(fitted, iris)
  expect_s3_class(classes, "tbl_df")
  expect_named(classes, ".pred_class")
  expect_identical(levels(classes$.pred_class), levels(iris$Species))
  expect_gte(mean(classes$.pred_class == iris$Species), 0.9)
  probs <- predict(fitted, iris[1:5, ], type = "prob")
  expect_named(probs, paste0(".pred_", levels(iris$Species)))
  expect_equal(nrow(probs), 5)
  expect_equal(rowSums(probs), rep(1, 5), tolerance = 1e-5)
  # The outcome column is not needed in new data.
  expect_identical(predict(fitted, iris[1:5, 1:4]), predict(fitted, iris[1:5, ]))
  expect_output(print(fitted), "classification, 3 classes")
  expect_s3_class(summary(fitted), "summary.Sequential")
})

test_that("x and y as a data frame or a matrix give the same regression, on the outcome's scale", {
  x <- mtcars[, -1]
  set.seed(2)
  by_frame <- rustnn_mlp(x, mtcars$mpg, hidden_units = 4, epochs = 80)
  set.seed(2)
  by_matrix <- rustnn_mlp(as.matrix(x), mtcars$mpg, hidden_units = 4, epochs = 80)
  pred <- predict(by_frame, x)
  expect_named(pred, ".pred")
  expect_equal(nrow(pred), nrow(x))
  expect_equal(pred, predict(by_matrix, as.matrix(x)))
  # Trained on the standardized outcome, predicted on the original scale.
  expect_lt(sqrt(mean((pred$.pred - mtcars$mpg)^2)), sd(mtcars$mpg) / 2)
  expect_equal(by_frame$outcome$center, mean(mtcars$mpg))
  expect_output(print(by_frame), "regression")
})

test_that("the settings reach the network", {
  set.seed(3)
  fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = c(6, 4), activation = "tanh",
                       dropout = 0.1, penalty = 0.001, epochs = 3, batch_size = 50,
                       optimizer = "sgd", learn_rate = 0.05, validation = 0.2)
  types <- vapply(fitted$model$layers, function(l) class(l)[1], "")
  expect_equal(types, c("Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear", "Softmax"))
  expect_equal(fitted$model$.get_state()$specs[[1]]$l2, 0.001)
  history <- fitted$model$history
  expect_equal(history$params$batch_size, 50)
  expect_equal(history$params$rows, 120)
  expect_length(history$metrics$val_loss, 3)
  expect_equal(fitted$settings$optimizer, "sgd")
})

test_that("a recipe with step_dummy() and step_normalize() fits and predicts", {
  skip_without("recipes")
  cars <- mtcars
  cars$cyl <- factor(cars$cyl)
  cars$am <- factor(cars$am, labels = c("automatic", "manual"))
  rec <- recipes::recipe(mpg ~ ., data = cars)
  rec <- recipes::step_dummy(rec, recipes::all_nominal_predictors())
  rec <- recipes::step_normalize(rec, recipes::all_numeric_predictors())
  set.seed(4)
  fitted <- rustnn_mlp(rec, cars, hidden_units = 4, epochs = 60)
  expect_equal(fitted$model$input_dim, 11)  # 8 numbers, cyl: 2 dummies, am: 1
  pred <- predict(fitted, cars[1:7, ])
  expect_named(pred, ".pred")
  expect_equal(nrow(pred), 7)
  expect_true(all(is.finite(pred$.pred)))
  # A classifier from a recipe, with a factor predictor.
  flowers <- iris
  flowers$size <- factor(ifelse(flowers$Sepal.Length > 5.8, "big", "small"))
  rec <- recipes::step_dummy(recipes::recipe(Species ~ ., data = flowers),
                             recipes::all_nominal_predictors())
  set.seed(5)
  classifier <- rustnn_mlp(rec, flowers, hidden_units = 8, epochs = 40)
  expect_gte(mean(predict(classifier, flowers)$.pred_class == flowers$Species), 0.9)
})

test_that("rows with NA are dropped in training (na.action) and predicted as NA", {
  data <- iris
  data$Sepal.Width[c(3, 60)] <- NA
  data$Species[100] <- NA
  set.seed(6)
  fitted <- rustnn_mlp(Species ~ ., data = data, hidden_units = 4, epochs = 5)
  expect_equal(fitted$omitted, 3)
  expect_equal(fitted$model$history$params$rows, 147)
  expect_output(print(fitted), "3 with NA omitted")
  expect_error(rustnn_mlp(Species ~ ., data = data, epochs = 1, na.action = stats::na.fail),
               "missing values")
  expect_error(rustnn_mlp(Species ~ ., data = data, epochs = 1, na.action = "na.fail"),
               "missing values")
  set.seed(6)
  by_xy <- rustnn_mlp(data[, 1:4], data$Species, hidden_units = 4, epochs = 1)
  expect_equal(by_xy$omitted, 3)

  new_data <- iris[1:6, ]
  new_data$Petal.Length[c(2, 5)] <- NA
  classes <- predict(fitted, new_data)
  probs <- predict(fitted, new_data, type = "prob")
  expect_equal(nrow(classes), 6)
  expect_equal(nrow(probs), 6)
  expect_equal(which(is.na(classes$.pred_class)), c(2L, 5L))
  expect_true(all(is.na(probs[c(2, 5), ])))
  expect_equal(probs[-c(2, 5), ], predict(fitted, new_data[-c(2, 5), ], type = "prob"))
  everything_missing <- new_data
  everything_missing$Sepal.Width <- NA_real_
  expect_true(all(is.na(predict(fitted, everything_missing)$.pred_class)))

  cars <- rustnn_mlp(mtcars[, -1], mtcars$mpg, hidden_units = 2, epochs = 5)
  some <- mtcars[1:4, -1]
  some$wt[3] <- NA
  pred <- predict(cars, some)
  expect_equal(is.na(pred$.pred), c(FALSE, FALSE, TRUE, FALSE))
})

test_that("errors are classed and name the argument", {
  expect_snapshot(error = TRUE, rustnn_mlp("Species"))
  expect_snapshot(error = TRUE, rustnn_mlp(Species ~ ., data = "iris"))
  expect_snapshot(error = TRUE, rustnn_mlp(iris[, 4:5], iris$Sepal.Length))
  expect_snapshot(error = TRUE, rustnn_mlp(Sepal.Length + Sepal.Width ~ Species, data = iris))
  expect_snapshot(error = TRUE, rustnn_mlp(Species ~ ., data = iris, hidden_units = 0))
  expect_snapshot(error = TRUE, rustnn_mlp(Species ~ ., data = iris, penalty = -1))
  expect_snapshot(error = TRUE, rustnn_mlp(Species ~ ., data = iris, optimizer = "nadam"))
  expect_snapshot(error = TRUE, rustnn_mlp(Species ~ ., data = iris, learn_rate = 0))
  expect_snapshot(error = TRUE, rustnn_mlp(Species ~ ., data = iris, validation = 1))
  expect_snapshot(error = TRUE, rustnn_mlp(Species ~ ., data = iris, na.action = 1))
  expect_snapshot(error = TRUE, rustnn_mlp(Species ~ ., data = iris, size = 4))
  nothing <- data.frame(x = c(NA, NA, 1), y = c(1, 2, NA))
  expect_snapshot(error = TRUE, rustnn_mlp(y ~ x, data = nothing))
  set.seed(7)
  fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 2, epochs = 1)
  expect_snapshot(error = TRUE, predict(fitted, iris, type = "numeric"))
  expect_snapshot(error = TRUE, predict(fitted, iris, type = "response"))
  expect_snapshot(error = TRUE, predict(fitted, iris, threads = 0))
  expect_error(rustnn_mlp(Species ~ ., data = iris, hidden_units = 0),
               class = "rustnn_error_argument")
})

test_that("rustnn_mlp() trains with L-BFGS on all the rows at once", {
  set.seed(1)
  fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 6, epochs = 10, optimizer = "lbfgs",
                       learn_rate = 1)
  expect_gt(mean(predict(fitted, iris, type = "class")$.pred_class == iris$Species), 0.9)
})
