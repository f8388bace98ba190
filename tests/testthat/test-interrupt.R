# Ctrl-C during fit() stops at the next batch and leaves a usable model. A
# child R process is interrupted with SIGINT, as a console's Ctrl-C does.

# Waits until the child R process says it is busy (file `ready`), lets it
# run a second, interrupts it and returns its result.
interrupt_when_ready <- function(child, ready) {
  deadline <- Sys.time() + 60
  while (!file.exists(ready) && Sys.time() < deadline) Sys.sleep(0.05)
  Sys.sleep(1)
  child$interrupt()
  child$wait(30000)
  expect_false(child$is_alive())
  child$get_result()
}

test_that("an interrupt stops fit() and keeps the last completed weights", {
  skip_on_os("windows")
  ready <- withr::local_tempfile()
  child <- callr::r_bg(function(ready) {
    library(rustnn)
    set.seed(1)
    x <- matrix(rnorm(2000 * 20), ncol = 20)
    y <- rnorm(2000)
    model <- Sequential$new(Linear$new(20, 64), ReLU$new(), Linear$new(64, 1))
    w0 <- model$layers[[1]]$params$weight
    file.create(ready)
    started <- Sys.time()
    outcome <- tryCatch({
      fit(model, x, y, epochs = 100000, batch_size = 10, verbose = FALSE)
      "completed"
    }, interrupt = function(e) "interrupted")
    list(outcome = outcome,
         seconds = as.numeric(difftime(Sys.time(), started, units = "secs")),
         changed = !identical(model$layers[[1]]$params$weight, w0),
         predictions = predict(model, x[1:5, ]))
  }, args = list(ready = ready))
  result <- interrupt_when_ready(child, ready)
  expect_equal(result$outcome, "interrupted")
  expect_lt(result$seconds, 30)
  expect_true(result$changed)
  expect_true(all(is.finite(result$predictions)))
})

test_that("an interrupt stops a long predict() between chunks of rows", {
  skip_on_os("windows")
  ready <- withr::local_tempfile()
  child <- callr::r_bg(function(ready) {
    library(rustnn)
    set.seed(1)
    model <- Sequential$new(Conv2d$new(1, 64, 5, padding = 2), ReLU$new(),
                            Conv2d$new(64, 64, 5, padding = 2), ReLU$new(),
                            Flatten$new(), Linear$new(64 * 28 * 28, 1))
    # Enough images for about 30 seconds on this machine, uninterrupted
    # (at most 20,000: 125 MB).
    probe <- array(runif(100 * 28 * 28), c(100, 28, 28))
    per_image <- system.time(predict(model, probe, threads = 1))[["elapsed"]] / 100
    n <- as.integer(min(20000, max(1000, 30 / per_image)))
    x <- array(runif(n * 28 * 28), c(n, 28, 28))
    file.create(ready)
    started <- Sys.time()
    outcome <- tryCatch({
      predict(model, x, threads = 1)
      "completed"
    }, interrupt = function(e) "interrupted")
    stopped <- Sys.time()
    list(outcome = outcome,
         seconds = as.numeric(difftime(stopped, started, units = "secs")),
         expected = n * per_image,
         again = identical(predict(model, probe[1:3, , ]), predict(model, probe)[1:3, , drop = FALSE]))
  }, args = list(ready = ready))
  result <- interrupt_when_ready(child, ready)
  expect_equal(result$outcome, "interrupted")
  # Stopped within a few seconds of the interrupt, long before the end.
  expect_lt(result$seconds, 5)
  expect_lt(result$seconds, result$expected / 2)
  # The model predicts as before afterwards.
  expect_true(result$again)
})
