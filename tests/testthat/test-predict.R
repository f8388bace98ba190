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

test_that("rows of a data frame with NA get NA predictions in place", {
  set.seed(11)
  model <- Sequential$new(Linear$new(4, 3), Softmax$new())
  fit(model, Species ~ ., data = iris, epochs = 3, verbose = 0)
  new_data <- iris[c(1, 51, 101, 2), ]
  new_data$Petal.Width[2] <- NA
  new_data$Species[3] <- NA  # the response is not needed
  complete <- new_data[-2, ]
  out <- predict(model, new_data)
  expect_equal(dim(out), c(4L, 3L))
  expect_true(all(is.na(out[2, ])))
  expect_equal(out[-2, ], predict(model, complete))
  classes <- predict(model, new_data, type = "class")
  expect_s3_class(classes, "factor")
  expect_equal(is.na(classes), c(FALSE, TRUE, FALSE, FALSE))
  expect_equal(classes[-2], predict(model, complete, type = "class"))
  probs <- predict(model, new_data, type = "prob")
  expect_equal(colnames(probs), levels(iris$Species))
  expect_true(all(is.na(probs[2, ])))
  # Every row missing: no call into the network, all NA.
  new_data$Sepal.Length <- NA_real_
  expect_equal(dim(predict(model, new_data)), c(4L, 3L))
  expect_true(all(is.na(predict(model, new_data, type = "class"))))

  # A model trained on a matrix, given a data frame.
  binary <- Sequential$new(Linear$new(2, 1), Sigmoid$new())
  x <- matrix(rnorm(40), ncol = 2, dimnames = list(NULL, c("a", "b")))
  fit(binary, x, as.integer(x[, 1] > 0), loss = "bce", epochs = 2, verbose = 0)
  frame <- data.frame(b = c(0, 1, 2, NA), a = c(1, NA, -1, 1))
  classes <- predict(binary, frame, type = "class")
  expect_equal(is.na(classes), c(FALSE, TRUE, FALSE, TRUE))
  expect_type(classes, "integer")
  # A matrix with NA is still refused.
  expect_error(predict(binary, as.matrix(frame[, 1:2])), class = "rustnn_error_argument")
})
