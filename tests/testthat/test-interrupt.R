# Ctrl-C during fit() stops at the next batch and leaves a usable model. A
# child R process is interrupted with SIGINT, as a console's Ctrl-C does.

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
  deadline <- Sys.time() + 60
  while (!file.exists(ready) && Sys.time() < deadline) Sys.sleep(0.05)
  Sys.sleep(1)
  child$interrupt()
  child$wait(30000)
  expect_false(child$is_alive())
  result <- child$get_result()
  expect_equal(result$outcome, "interrupted")
  expect_lt(result$seconds, 30)
  expect_true(result$changed)
  expect_true(all(is.finite(result$predictions)))
})
