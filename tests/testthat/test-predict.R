# predict() and evaluate() (R/predict.R).

test_that("class predictions and class metrics are refused for a regression", {
  set.seed(1)
  x <- scale(as.matrix(iris[, 1:3]))
  model <- Sequential$new(Linear$new(3, 8), ReLU$new(), Linear$new(8, 1))
  fit(model, x, iris$Petal.Width, epochs = 2, verbose = 0)
  expect_error(predict(model, x, type = "class"), class = "rustnn_error_argument")
  expect_error(predict(model, x, type = "prob"), class = "rustnn_error_argument")
  expect_error(fit(model, x, iris$Petal.Width, metrics = "accuracy", epochs = 1, verbose = 0),
               class = "rustnn_error_argument")
  expect_error(evaluate(model, x, iris$Petal.Width, metrics = "accuracy"),
               class = "rustnn_error_argument")
  expect_named(evaluate(model, x, iris$Petal.Width), "loss")
  expect_snapshot(error = TRUE, {
    predict(model, x, type = "class")
    fit(model, x, iris$Petal.Width, metrics = "accuracy", epochs = 1, verbose = 0)
  })
  # 0/1 targets are classes, whatever the loss.
  binary <- Sequential$new(Linear$new(3, 1), Sigmoid$new())
  fit(binary, x, as.numeric(iris$Species == "setosa"), epochs = 2, metrics = "accuracy", verbose = 0)
  expect_type(predict(binary, x, type = "class"), "integer")
})

test_that("logical targets are two classes", {
  set.seed(1)
  x <- scale(as.matrix(iris[, 1:4]))
  model <- Sequential$new(Linear$new(4, 1), Sigmoid$new())
  h <- fit(model, x, iris$Species == "setosa", epochs = 50, optimizer = SGD$new(lr = 0.5),
           metrics = "accuracy", verbose = 0)
  expect_equal(h$params$loss, "bce")
  cls <- predict(model, x, type = "class")
  expect_equal(levels(cls), c("FALSE", "TRUE"))
  expect_gt(mean(cls == as.character(iris$Species == "setosa")), 0.95)
})
