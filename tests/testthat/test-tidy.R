# tidy(), glance(), augment() and coef() of Sequential and rustnn_mlp models.

test_that("tidy() describes every parameter tensor", {
  set.seed(1)
  fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 5, epochs = 3)
  tab <- tidy(fitted)
  expect_s3_class(tab, "tbl_df")
  expect_named(tab, c("layer", "type", "name", "shape", "size", "trainable",
                      "mean", "sd", "min", "max", "mean_abs"))
  expect_equal(tab$layer, c("linear_1", "linear_1", "linear_3", "linear_3"))
  expect_equal(tab$type, rep("Linear", 4))
  expect_equal(tab$name, rep(c("weight", "bias"), 2))
  expect_equal(tab$shape, c("4 x 5", "5", "5 x 3", "3"))
  expect_equal(tab$size, c(20L, 5L, 15L, 3L))
  w <- fitted$model$layers[[3]]$params$weight
  expect_equal(unlist(tab[3, c("mean", "sd", "min", "max", "mean_abs")], use.names = FALSE),
               c(mean(w), sd(w), min(w), max(w), mean(abs(w))))
  expect_identical(tidy(fitted), tidy(fitted$model))
  # Batch normalization's running statistics are not trained by gradient.
  bn <- Sequential$new(Linear$new(3, 2), BatchNorm$new(2), input_shape = 3)
  expect_equal(tidy(bn)$trainable, c(TRUE, TRUE, TRUE, TRUE, FALSE, FALSE))
  # A model without parameters.
  empty <- tidy(Sequential$new(ReLU$new(), input_shape = 2))
  expect_equal(nrow(empty), 0)
  expect_named(empty, names(tab))
})

test_that("glance() gives one row: epochs, loss, metrics, rows and parameter counts", {
  set.seed(2)
  model <- Sequential$new(Linear$new(4, 3), Softmax$new())
  untrained <- glance(model)
  expect_equal(untrained$epochs, 0L)
  expect_true(is.na(untrained$loss))
  expect_equal(untrained$params, 15L)
  fit(model, Species ~ ., data = iris, epochs = 4, metrics = "accuracy",
      validation_split = 0.2, verbose = 0)
  row <- glance(model)
  expect_equal(nrow(row), 1)
  expect_named(row, c("epochs", "loss", "accuracy", "val_loss", "val_accuracy", "nobs",
                      "params", "trainable_params"))
  expect_equal(row$epochs, 4L)
  expect_equal(row$loss, tail(model$history$metrics$loss, 1))
  expect_equal(row$val_accuracy, tail(model$history$metrics$val_accuracy, 1))
  expect_equal(row$nobs, 120)
  set.seed(3)
  fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 5, epochs = 3)
  expect_equal(glance(fitted)$params, 4 * 5 + 5 + 5 * 3 + 3)
})

test_that("augment() adds prediction columns to the data, NA rows included", {
  set.seed(4)
  fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 5, epochs = 3)
  new_data <- iris[c(1, 51, 101, 2), ]
  new_data$Sepal.Length[4] <- NA
  out <- augment(fitted, new_data)
  expect_s3_class(out, "tbl_df")
  expect_equal(nrow(out), 4)
  expect_named(out, c(names(iris), ".pred_class", paste0(".pred_", levels(iris$Species))))
  expect_equal(out$.pred_class, predict(fitted, new_data)$.pred_class)
  expect_true(is.na(out$.pred_class[4]))

  cars <- rustnn_mlp(mtcars[, -1], mtcars$mpg, hidden_units = 2, epochs = 3)
  expect_named(augment(cars, mtcars[1:3, ]), c(names(mtcars), ".pred"))

  # A Sequential model: classes and probabilities, or outputs.
  model <- Sequential$new(Linear$new(4, 3), Softmax$new())
  fit(model, Species ~ ., data = iris, epochs = 2, verbose = 0)
  expect_named(augment(model, iris[1:2, ]),
               c(names(iris), ".pred_class", paste0(".pred_", levels(iris$Species))))
  regression <- Sequential$new(Linear$new(2, 2))
  x <- matrix(rnorm(20), ncol = 2, dimnames = list(NULL, c("a", "b")))
  fit(regression, x, x, epochs = 1, verbose = 0)
  out <- augment(regression, x)
  expect_named(out, c("a", "b", ".pred_1", ".pred_2"))
  expect_equal(as.matrix(out[, 3:4]), predict(regression, x), ignore_attr = TRUE)
})

test_that("coef() returns the parameters, by layer", {
  set.seed(5)
  fitted <- rustnn_mlp(Species ~ ., data = iris, hidden_units = 5, epochs = 3)
  params <- coef(fitted)
  expect_named(params, c("linear_1", "linear_3"))
  expect_identical(params$linear_1, fitted$model$layers[[1]]$params)
  expect_identical(params$linear_3, fitted$model$layers[[3]]$params)
  expect_identical(coef(fitted$model), params)
})

test_that("the verbs refuse extra arguments", {
  model <- Sequential$new(Linear$new(2, 1))
  expect_snapshot(error = TRUE, tidy(model, conf.int = TRUE))
  expect_error(glance(model, 1), class = "rustnn_error_argument")
  expect_error(coef(model, 1), class = "rustnn_error_argument")
})
