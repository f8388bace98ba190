# rustnn_caret(): tuning rustnn_mlp() with caret::train(), sequentially and
# on a doParallel cluster.

cv3 <- function(...) caret::trainControl(method = "cv", number = 3, ...)

test_that("the method list has caret's fields and grids", {
  method <- rustnn_caret()
  expect_true(all(c("label", "library", "type", "parameters", "grid", "fit", "predict",
                    "prob", "sort", "levels") %in% names(method)))
  expect_equal(method$parameters$parameter, c("hidden_units", "penalty"))
  grid <- method$grid(NULL, NULL, len = 3)
  expect_equal(nrow(grid), 9)
  expect_equal(sort(unique(grid$hidden_units)), c(5, 10, 15))
  expect_equal(sort(unique(grid$penalty)), c(0, 1e-4, 1e-1))
  set.seed(1)
  random <- method$grid(NULL, NULL, len = 4, search = "random")
  expect_equal(nrow(random), 4)
  expect_true(all(random$penalty > 0 & random$penalty < 0.1))
  expect_equal(method$sort(grid)$hidden_units, sort(grid$hidden_units))
})

test_that("caret::train() tunes a classifier on iris with class probabilities", {
  skip_without("caret")
  set.seed(1)
  tuned <- caret::train(iris[, 1:4], iris$Species, method = rustnn_caret(),
                        trControl = cv3(classProbs = TRUE), tuneLength = 2, epochs = 50)
  expect_equal(nrow(tuned$results), 4)
  expect_gte(max(tuned$results$Accuracy), 0.9)
  expect_s3_class(tuned$finalModel, "rustnn_mlp")
  probs <- predict(tuned, iris[c(1, 51, 101), 1:4], type = "prob")
  expect_named(probs, levels(iris$Species))
  expect_equal(rowSums(probs), rep(1, 3), tolerance = 1e-5, ignore_attr = TRUE)
  expect_equal(levels(predict(tuned, iris[1:3, 1:4])), levels(iris$Species))
})

test_that("caret::train() tunes a regression on mtcars", {
  skip_without("caret")
  set.seed(2)
  tuned <- caret::train(mtcars[, -1], mtcars$mpg, method = rustnn_caret(),
                        trControl = cv3(), tuneLength = 2, epochs = 50)
  expect_true(all(is.finite(tuned$results$RMSE)))
  expect_lt(min(tuned$results$RMSE), sd(mtcars$mpg))
  expect_length(predict(tuned, mtcars[1:5, -1]), 5)
})

test_that("caret::train() runs on doParallel with 2 workers", {
  skip_without("caret")
  skip_without("doParallel")
  skip_on_os("windows")  # forked workers
  withr::local_envvar(TZ = Sys.getenv("TZ", "UTC"))  # see skip_without()
  # Forked workers (they inherit this session's rustnn and its thread
  # pools, which they must rebuild): no sockets, which a sandboxed check
  # may not allow.
  doParallel::registerDoParallel(cores = 2)
  withr::defer(foreach::registerDoSEQ())
  expect_equal(foreach::getDoParWorkers(), 2)
  set.seed(3)
  tuned <- caret::train(iris[, 1:4], iris$Species, method = rustnn_caret(),
                        trControl = cv3(classProbs = TRUE), tuneLength = 2, epochs = 50)
  expect_true(foreach::getDoParWorkers() == 2)
  expect_gte(max(tuned$results$Accuracy), 0.9)
  set.seed(4)
  cars <- caret::train(mtcars[, -1], mtcars$mpg, method = rustnn_caret(),
                       trControl = cv3(), tuneLength = 2, epochs = 50)
  expect_true(all(is.finite(cars$results$RMSE)))
})
