# The engine's threads: one pool per thread count for the whole process,
# rebuilt in forked children (R/threads.R, src/rust/core/src/parallel.rs).
# Each check runs in a fresh R process: a hang there fails after a timeout
# instead of blocking the run, and no other test's threads are counted.

test_that("forked children train and predict after the parent used its threads", {
  skip_on_os("windows")
  result <- callr::r(function() {
    library(rustnn)
    set.seed(1)
    x <- matrix(rnorm(5000 * 10), ncol = 10)
    y <- rnorm(5000)
    model <- Sequential$new(Linear$new(10, 16), ReLU$new(), Linear$new(16, 1))
    cnn <- Sequential$new(Conv2d$new(1, 4, 3), ReLU$new(), MaxPool2d$new(2),
                          Flatten$new(), Linear$new(36, 2), Softmax$new())
    images <- array(runif(50 * 8 * 8), c(50, 8, 8))
    # The parent's pool of two threads exists before the fork, and both
    # models have used it.
    fit(model, x, y, epochs = 1, batch_size = 5000, verbose = FALSE, threads = 2)
    predict(cnn, images, threads = 2)
    # Each child works on the parent's live models (their engines came
    # across the fork); the sequential run on clones of them.
    job <- function(i, model, cnn) {
      set.seed(i)
      fit(model, x, y, epochs = 2, batch_size = 100, verbose = FALSE, threads = 2)
      list(weights = lapply(model$layers, function(l) l$params),
           train = predict(model, x, threads = 2),
           images = predict(cnn, images, threads = 2))
    }
    forked <- parallel::mclapply(1:2, function(i) job(i, model, cnn), mc.cores = 2)
    single <- parallel::mccollect(parallel::mcparallel(job(3, model, cnn)))[[1]]
    sequential <- lapply(1:3, function(i) job(i, model$clone(), cnn$clone()))
    list(forked = c(forked, list(single)), sequential = sequential)
  }, timeout = 120)
  for (r in result$forked) expect_false(inherits(r, "try-error"))
  expect_identical(result$forked, result$sequential)
})

test_that("hundreds of models share their threads", {
  skip_on_os("windows")
  skip_if_not(file.exists("/proc/self/status"))
  result <- callr::r(function() {
    library(rustnn)
    os_threads <- function() {
      status <- readLines("/proc/self/status")
      as.integer(sub("^Threads:\\s*", "", grep("^Threads:", status, value = TRUE)))
    }
    before <- os_threads()
    models <- lapply(1:300, function(i) {
      model <- Sequential$new(Linear$new(4, 2))
      predict(model, matrix(0, 1, 4), threads = 2)
      model
    })
    # Discarded models (not yet collected) hold no threads of their own either.
    for (i in 1:300) predict(Sequential$new(Linear$new(4, 2)), matrix(0, 1, 4), threads = 2)
    list(before = before, after = os_threads(), models = length(models))
  }, timeout = 120)
  expect_equal(result$models, 300)
  expect_lt(result$after, 10 + parallel::detectCores())
  expect_lte(result$after - result$before, 2)
})
