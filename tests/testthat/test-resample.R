# cross_validate(), tune_cv(), best_params(): the folds, the results, and
# the same results on every future plan.

x_iris <- scale(iris[, 1:4])

# Defined here, not in a helper file: the helpers live in the package's
# namespace while testing, which worker processes do not share.
# A network for iris of `hidden` units, trained with Adam at rate `lr`.
iris_builder <- function(hidden, lr) {
  list(model = Sequential$new(Linear$new(4, hidden), ReLU$new(), Linear$new(hidden, 3),
                              Softmax$new()),
       optimizer = Adam$new(lr = lr))
}

iris_grid <- expand.grid(hidden = c(4, 8), lr = c(0.01, 0.05))

# 5 folds x the 4 settings of iris_grid, with seed 1, on the plan in use.
iris_tuning <- function(...) {
  set.seed(1)
  tune_cv(iris_builder, iris_grid, scale(iris[, 1:4]), iris$Species, folds = 5,
          epochs = 5, batch_size = 16, metrics = c("accuracy", "f1"), ...)
}

test_that("5 folds x 4 settings on iris are identical under sequential, multisession and cluster plans", {
  skip_without_future()
  skip_without_loopback()
  local_worker_libs()
  withr::defer(future::plan(future::sequential))
  future::plan(future::sequential)
  sequential <- iris_tuning()
  expect_equal(nrow(sequential$folds), 20L)
  expect_equal(sort(unique(sequential$folds$fold)), sprintf("Fold%d", 1:5))

  future::plan(future::multisession, workers = 2)
  expect_equal(future::nbrOfWorkers(), 2)
  multisession <- iris_tuning()
  # Two processes ran the fits, with one engine thread each.
  expect_equal(rustnn:::resample_threads(), 1L)

  future::plan(future::cluster, workers = 2)
  cluster <- iris_tuning()
  # and one worker, four threads per fit: the same again
  future::plan(future::multisession, workers = 1)
  one_worker <- iris_tuning(threads = 4)
  future::plan(future::sequential)

  for (other in list(multisession, cluster, one_worker)) {
    expect_identical(other$folds, sequential$folds)
    expect_identical(other$summary, sequential$summary)
    expect_identical(other$seed, sequential$seed)
  }
})

test_that("the results depend on the seed, and each fit on its own stream", {
  skip_without_future()
  future::plan(future::sequential)
  a <- iris_tuning()
  again <- iris_tuning()
  expect_identical(a$folds, again$folds)
  set.seed(2)
  b <- tune_cv(iris_builder, iris_grid, x_iris, iris$Species, folds = 5, epochs = 5,
               batch_size = 16, metrics = c("accuracy", "f1"))
  expect_false(identical(a$folds$loss, b$folds$loss))
  # No two fits share a stream: all 20 losses differ.
  expect_equal(length(unique(a$folds$loss)), 20L)
  expect_false(identical(a$seed, b$seed))
  # The caller's generator is left as it was after the draw of that seed.
  set.seed(1)
  folds <- rustnn:::as_folds(5L, x_iris, iris$Species, NULL, NULL)
  sample.int(.Machine$integer.max, 1L)
  after <- .Random.seed
  set.seed(1)
  iris_tuning()
  expect_identical(.Random.seed, after)
  expect_identical(RNGkind()[1], "Mersenne-Twister")
})

test_that("a fit scores like fit() and evaluate() by hand on its fold's rows and stream", {
  skip_without_future()
  future::plan(future::sequential)
  folds <- list(f1 = 1:30, f2 = 31:150)
  set.seed(3)
  cv <- cross_validate(function() iris_builder(6, 0.05), x_iris, iris$Species, folds = folds,
                       epochs = 4, batch_size = 10, metrics = "accuracy")
  # Stream 2 of the L'Ecuyer-CMRG generator seeded with cv$seed is the second fold's.
  RNGkind("L'Ecuyer-CMRG")
  withr::defer(RNGkind("default"))
  set.seed(cv$seed)
  stream <- parallel::nextRNGStream(parallel::nextRNGStream(.Random.seed))
  assign(".Random.seed", stream, envir = globalenv())
  built <- iris_builder(6, 0.05)
  train <- setdiff(1:150, 31:150)
  fit(built$model, x_iris[train, ], iris$Species[train], optimizer = built$optimizer, epochs = 4,
      batch_size = 10, verbose = 0)
  by_hand <- evaluate(built$model, x_iris[31:150, ], iris$Species[31:150], metrics = "accuracy")
  expect_identical(unlist(cv$folds[2, c("loss", "accuracy")]), by_hand)
  expect_identical(cv$folds$fold, c("f1", "f2"))
  expect_identical(cv$folds$n_assessment, c(30L, 120L))
  expect_identical(cv$folds$n_analysis, c(120L, 30L))
})

test_that("its own folds partition the rows, and hold each class evenly", {
  skip_without_future()
  set.seed(4)
  folds <- rustnn:::as_folds(5L, x_iris, iris$Species, NULL, NULL)
  expect_setequal(unlist(folds$assessment), 1:150)
  expect_equal(anyDuplicated(unlist(folds$assessment)), 0L)
  for (k in 1:5) {
    expect_equal(as.vector(table(iris$Species[folds$assessment[[k]]])), c(10, 10, 10))
    expect_setequal(c(folds$analysis[[k]], folds$assessment[[k]]), 1:150)
  }
  # Regression targets: sizes differ by at most one.
  sizes <- lengths(rustnn:::as_folds(4L, x_iris, iris$Sepal.Length, NULL, NULL)$assessment)
  expect_lte(max(sizes) - min(sizes), 1L)
})

test_that("rsample's folds and a formula", {
  skip_without_future()
  skip_if_not_installed("rsample")
  future::plan(future::sequential)
  set.seed(5)
  folds <- rsample::vfold_cv(iris, v = 3, repeats = 2)
  cv <- cross_validate(function() iris_builder(4, 0.05)$model, Species ~ ., folds = folds,
                       epochs = 3, optimizer = "adam")
  expect_equal(cv$folds$fold, paste(folds$id, folds$id2, sep = "_"))
  expect_equal(cv$folds$n_assessment, vapply(folds$splits, function(s) nrow(rsample::assessment(s)), integer(1)))
  expect_equal(cv$summary$n, c(6L, 6L))
  expect_equal(cv$summary$metric, c("loss", "accuracy"))
  expect_equal(cv$summary$mean[2], mean(cv$folds$accuracy))
  expect_equal(cv$summary$sd[1], sd(cv$folds$loss))
})

test_that("image arrays are split along their first dimension", {
  skip_without_future()
  future::plan(future::sequential)
  set.seed(6)
  images <- array(runif(40 * 6 * 6), c(40, 6, 6))
  labels <- factor(rep(c("a", "b"), 20))
  build <- function() Sequential$new(Flatten$new(), Linear$new(36, 2), Softmax$new())
  cv <- cross_validate(build, images, labels, folds = 4, epochs = 2)
  expect_equal(cv$folds$n_assessment, rep(10L, 4))
  expect_identical(rustnn:::subset_rows(images, 3:4), images[3:4, , , drop = FALSE])
})

test_that("best_params() picks the smallest loss and the largest accuracy", {
  skip_without_future()
  future::plan(future::sequential)
  tuned <- iris_tuning()
  s <- tuned$summary
  best_loss <- best_params(tuned)
  expect_equal(best_loss$mean, min(s$mean[s$metric == "loss"]))
  best_acc <- best_params(tuned, "accuracy")
  expect_equal(best_acc$mean, max(s$mean[s$metric == "accuracy"]))
  expect_named(best_acc, c("hidden", "lr", ".config", "mean", "sd"))
  expect_equal(best_params(tuned, "loss", maximize = TRUE)$mean, max(s$mean[s$metric == "loss"]))
  expect_snapshot(best_params(tuned, "auc"), error = TRUE)
  expect_snapshot(print(tuned), transform = function(x) sub("in [0-9.]+ s", "in <time> s", x))
})

test_that("list columns of the grid: several hidden layers", {
  skip_without_future()
  future::plan(future::sequential)
  build <- function(units) {
    sizes <- c(4, units)
    layers <- unlist(lapply(seq_along(units), function(i) list(Linear$new(sizes[i], sizes[i + 1]), ReLU$new())))
    Sequential$new(c(layers, Linear$new(utils::tail(sizes, 1), 3), Softmax$new()))
  }
  grid <- tibble::tibble(units = list(4, c(8, 4)))
  tuned <- tune_cv(build, grid, x_iris, iris$Species, folds = 2, epochs = 2, optimizer = "adam")
  expect_equal(tuned$folds$units, list(4, 4, c(8, 4), c(8, 4)))
  expect_equal(nrow(tuned$summary), 4L)
})

test_that("progress is reported through progressr, one step per fit", {
  skip_without_future()
  skip_if_not_installed("progressr")
  future::plan(future::sequential)
  steps <- character()
  progressr::with_progress(enable = TRUE, handlers = progressr::handler_void(), {
    withCallingHandlers(
      cross_validate(function() iris_builder(4, 0.05), x_iris, iris$Species, folds = 3, epochs = 1),
      progression = function(p) if (identical(p$type, "update")) steps <<- c(steps, p$message))
  })
  expect_equal(steps, sprintf("setting 1, fold %d", 1:3))
})

test_that("a builder carries only what it uses to the workers", {
  skip_without_future()
  make <- function() {
    big <- runif(1e6)  # 8 MB the builder does not use
    units <- 5
    helper <- function(k) Linear$new(4, k)
    function(lr = rate) list(model = Sequential$new(helper(units), ReLU$new(), Linear$new(units, 3),
                                                    Softmax$new()),
                             optimizer = Adam$new(lr = lr))
  }
  rate <- 0.05
  builder <- make()
  expect_gt(length(serialize(builder, NULL)), 8e6)
  portable <- rustnn:::portable_function(builder)
  expect_lt(length(serialize(portable, NULL)), 5e4)
  expect_setequal(ls(environment(portable)), c("units", "helper", "rate"))
  expect_identical(environment(portable)$rate, 0.05)
  set.seed(1)
  a <- builder()
  set.seed(1)
  b <- portable()
  expect_identical(a$model$layers[[1]]$params, b$model$layers[[1]]$params)
  # What the fits need, sent to a worker process: the builder's variables
  # arrive there.
  skip_without_loopback()
  local_worker_libs()
  withr::defer(future::plan(future::sequential))
  future::plan(future::multisession, workers = 2)
  set.seed(1)
  remote <- cross_validate(builder, x_iris, iris$Species, folds = 2, epochs = 2)
  future::plan(future::sequential)
  set.seed(1)
  local <- cross_validate(builder, x_iris, iris$Species, folds = 2, epochs = 2)
  expect_identical(remote$folds, local$folds)
})

test_that("on plan(multicore), after the parent trained with 2 threads: no hang, same results", {
  skip_without_future()
  skip_on_os("windows")
  result <- callr::r(function() {
    library(rustnn)
    set.seed(1)
    x <- matrix(rnorm(5000 * 10), ncol = 10)
    model <- Sequential$new(Linear$new(10, 16), ReLU$new(), Linear$new(16, 1))
    # The parent's pool of two threads exists before the fork.
    fit(model, x, rnorm(5000), epochs = 1, batch_size = 500, verbose = 0, threads = 2)
    build <- function(hidden) {
      Sequential$new(Linear$new(4, hidden), ReLU$new(), Linear$new(hidden, 3), Softmax$new())
    }
    run <- function(threads) {
      set.seed(2)
      tune_cv(build, data.frame(hidden = c(4, 8)), scale(iris[, 1:4]), iris$Species, folds = 5,
              epochs = 3, optimizer = "adam", threads = threads)$folds
    }
    future::plan(future::multicore, workers = 2)
    forked <- list(supported = future::supportsMulticore(), workers = future::nbrOfWorkers(),
                   one = run(1), two = run(2))
    future::plan(future::sequential)
    c(forked, list(sequential = run(2)))
  }, timeout = 120)
  expect_true(result$supported)
  expect_equal(result$workers, 2)
  expect_identical(result$one, result$sequential)
  expect_identical(result$two, result$sequential)
})

test_that("future.batchtools runs the fits as jobs, with the same results", {
  skip_without_future()
  skip_if_not_installed("future.batchtools")
  local_worker_libs()
  withr::defer(future::plan(future::sequential))
  withr::local_options(future.cache.path = withr::local_tempdir())
  withr::local_dir(withr::local_tempdir())
  future::plan(future.batchtools::batchtools_local)
  build <- function() iris_builder(4, 0.05)
  set.seed(7)
  jobs <- cross_validate(build, x_iris, iris$Species, folds = 3, epochs = 2)
  future::plan(future::sequential)
  set.seed(7)
  expect_identical(jobs$folds, cross_validate(build, x_iris, iris$Species, folds = 3, epochs = 2)$folds)
})

test_that("threads default to one per fit with several workers, and all the cores with one", {
  skip_without_future()
  future::plan(future::sequential)
  expect_equal(rustnn:::resample_threads(), default_threads())
})

test_that("mistakes are classed errors that say what to do", {
  skip_without_future()
  future::plan(future::sequential)
  expect_snapshot(error = TRUE, {
    cross_validate(42, x_iris, iris$Species)
    tune_cv(function(hidden) NULL, data.frame(width = 3), x_iris, iris$Species)
    tune_cv(function(hidden) NULL, data.frame(), x_iris, iris$Species)
    cross_validate(function() NULL, x_iris, iris$Species, epochs = 2, verbose = 1)
    cross_validate(function() NULL, x_iris, iris$Species, epoch = 2)
    cross_validate(function() NULL, x_iris, iris$Species, folds = 1)
    cross_validate(function() NULL, x_iris, iris$Species, folds = 151)
    cross_validate(function() NULL, x_iris, iris$Species, folds = list(1:10, 140:160))
    cross_validate(function() NULL, x_iris, iris$Species, folds = list(1:150))
    cross_validate(function() NULL, x_iris)
    cross_validate(function() NULL, x_iris, iris$Species[1:10])
    cross_validate(function() NULL, Species ~ ., folds = 3)
    cross_validate(function() "a model", x_iris, iris$Species, folds = 2)
    cross_validate(function() list(model = Sequential$new(Linear$new(4, 3)), lr = 1), x_iris,
                   iris$Species, folds = 2)
  })
  err <- rlang::catch_cnd(cross_validate(function() "a model", x_iris, iris$Species, folds = 2))
  expect_s3_class(err, "rustnn_error_model_spec")
  err <- rlang::catch_cnd(cross_validate(42, x_iris, iris$Species))
  expect_s3_class(err, "rustnn_error_argument")
})
