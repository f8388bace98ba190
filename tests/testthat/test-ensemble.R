# fit_ensemble(), as_ensemble() and predict() on an ensemble.

x_iris <- scale(iris[, 1:4])

# Defined here, not in a helper file: see test-resample.R.
small_net <- function(hidden = 6) {
  Sequential$new(Linear$new(4, hidden), ReLU$new(), Linear$new(hidden, 3), Softmax$new())
}

test_that("members differ, and each is the fit of its own stream", {
  skip_without_future()
  future::plan(future::sequential)
  set.seed(1)
  ens <- fit_ensemble(small_net, x_iris, iris$Species, members = 3, epochs = 3,
                      optimizer = "adam", batch_size = 16)
  expect_s3_class(ens, "rustnn_ensemble")
  expect_length(ens$models, 3L)
  w <- lapply(ens$models, function(m) m$layers[[1]]$params$weight)
  expect_false(identical(w[[1]], w[[2]]))
  # Member 3 by hand: stream 3 of the seed's L'Ecuyer-CMRG generator.
  RNGkind("L'Ecuyer-CMRG")
  withr::defer(RNGkind("default"))
  set.seed(ens$seed)
  stream <- .Random.seed
  for (k in 1:3) stream <- parallel::nextRNGStream(stream)
  assign(".Random.seed", stream, envir = globalenv())
  model <- small_net()
  fit(model, x_iris, iris$Species, epochs = 3, optimizer = "adam", batch_size = 16, verbose = 0)
  expect_identical(predict(ens$models[[3]], x_iris), predict(model, x_iris))
})

test_that("predict() averages the members' outputs and probabilities", {
  skip_without_future()
  future::plan(future::sequential)
  set.seed(2)
  ens <- fit_ensemble(function(hidden) small_net(hidden), x_iris, iris$Species, members = 3,
                      params = list(hidden = 5), epochs = 3, optimizer = "adam")
  each <- lapply(ens$models, predict, newdata = x_iris, type = "prob")
  mean_prob <- (each[[1]] + each[[2]] + each[[3]]) / 3
  expect_equal(predict(ens, x_iris, type = "prob"), mean_prob)
  expect_equal(colnames(predict(ens, x_iris, type = "prob")), levels(iris$Species))
  classes <- predict(ens, x_iris, type = "class")
  expect_identical(classes, factor(levels(iris$Species)[max.col(mean_prob, ties.method = "first")],
                                   levels = levels(iris$Species)))
  expect_equal(predict(ens, x_iris[1:3, ]), Reduce(`+`, lapply(ens$models, predict, newdata = x_iris[1:3, ])) / 3)
  expect_equal(ens$params, list(hidden = 5))
  expect_snapshot(print(ens))
})

test_that("a binary ensemble's classes come from its mean probability", {
  skip_without_future()
  future::plan(future::sequential)
  two <- droplevels(iris[51:150, ])
  x <- scale(two[, 1:4])
  set.seed(3)
  ens <- fit_ensemble(function() Sequential$new(Linear$new(4, 1), Sigmoid$new()), x, two$Species,
                      members = 2, epochs = 3, optimizer = "adam")
  p <- predict(ens, x, type = "prob")
  expect_equal(dim(p), c(100L, 2L))
  expect_equal(unname(p[, 2]), unname(predict(ens, x)[, 1]))
  expect_identical(predict(ens, x, type = "class"),
                   factor(levels(two$Species)[(p[, 2] > 0.5) + 1L], levels = levels(two$Species)))
})

test_that("the models of a cross-validation make an ensemble of its best setting", {
  skip_without_future()
  future::plan(future::sequential)
  set.seed(4)
  tuned <- tune_cv(small_net, data.frame(hidden = c(2, 8)), x_iris, iris$Species, folds = 3,
                   epochs = 3, optimizer = "adam", keep_models = TRUE)
  expect_length(tuned$models, 6L)
  # Each kept model scores, on its held-out rows, what the table says.
  folds <- rustnn:::as_folds(3L, x_iris, iris$Species, NULL, NULL)
  best <- best_params(tuned)
  ens <- as_ensemble(tuned)
  expect_equal(ens$params, list(hidden = best$hidden))
  expect_length(ens$models, 3L)
  mine <- which(tuned$folds$.config == best$.config)
  expect_identical(ens$models, tuned$models[mine])
  other <- as_ensemble(tuned, setdiff(c("setting_1", "setting_2"), best$.config))
  expect_false(identical(other$models, ens$models))
  expect_snapshot(error = TRUE, {
    as_ensemble(cross_validate(small_net, x_iris, iris$Species, folds = 2, epochs = 1))
    as_ensemble(tuned, "setting_9")
  })
})

test_that("kept models score on their held-out rows what the table says", {
  skip_without_future()
  future::plan(future::sequential)
  folds <- list(1:50, 51:150)
  set.seed(5)
  cv <- cross_validate(small_net, x_iris, iris$Species, folds = folds, epochs = 2,
                       optimizer = "adam", keep_models = TRUE)
  for (k in 1:2) {
    expect_equal(evaluate(cv$models[[k]], x_iris[folds[[k]], ], iris$Species[folds[[k]]])[["loss"]],
                 cv$folds$loss[k])
  }
})

test_that("ensembles are the same on worker processes", {
  skip_without_future()
  skip_without_loopback()
  local_worker_libs()
  withr::defer(future::plan(future::sequential))
  future::plan(future::multisession, workers = 2)
  set.seed(6)
  remote <- fit_ensemble(small_net, x_iris, iris$Species, members = 2, epochs = 2, optimizer = "adam")
  future::plan(future::sequential)
  set.seed(6)
  local <- fit_ensemble(small_net, x_iris, iris$Species, members = 2, epochs = 2, optimizer = "adam")
  expect_identical(predict(remote, x_iris), predict(local, x_iris))
})
