# callback_epoch_end() runs in fit()'s own context on the model being
# trained: it reads the current weights, changes them for the next batch,
# saves them, and its conditions reach the handlers around fit().

xor_xy <- function() {
  list(x = matrix(c(0, 0, 1, 0, 0, 1, 1, 1), ncol = 2, byrow = TRUE),
       y = matrix(c(0, 1, 1, 0), ncol = 1))
}

xor_model <- function(seed = 1) {
  set.seed(seed)
  Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), dtype = "float64")
}

fit_xor <- function(model, epochs, callbacks = list(), ...) {
  d <- xor_xy()
  fit(model, d$x, d$y, loss = "mse", optimizer = SGD$new(lr = 0.5), epochs = epochs,
      batch_size = 4, shuffle = FALSE, verbose = 0, callbacks = callbacks, ...)
}

test_that("a callback reads the weights of the epoch that just ended", {
  model <- xor_model()
  seen <- list()
  fit_xor(model, 5, callback_epoch_end(function(epoch, logs) {
    seen[[epoch]] <<- model$layers[[1]]$params$weight
  }))
  expect_length(seen, 5)
  for (k in 2:5) expect_false(identical(seen[[k]], seen[[k - 1]]))
  # Each is the weight after k epochs: a fit of k epochs from the same start.
  for (k in c(1, 3, 5)) {
    alone <- xor_model()
    fit_xor(alone, k)
    expect_identical(seen[[k]], alone$layers[[1]]$params$weight)
  }
  expect_identical(seen[[5]], model$layers[[1]]$params$weight)
})

test_that("save_model(), saveRDS() and clone() in a callback capture that epoch", {
  model <- xor_model()
  file <- withr::local_tempfile(fileext = ".rnn")
  rds <- withr::local_tempfile(fileext = ".rds")
  clone <- NULL
  fit_xor(model, 6, callback_epoch_end(function(epoch, logs) {
    if (epoch == 3) {
      save_model(model, file)
      saveRDS(model, rds)
      clone <<- model$clone()
    }
  }))
  third <- xor_model()
  fit_xor(third, 3)
  want <- lapply(third$layers, function(l) l$params)
  for (back in list(load_model(file), readRDS(rds), clone)) {
    expect_identical(lapply(back$layers, function(l) l$params), want)
    expect_identical(predict(back, xor_xy()$x), predict(third, xor_xy()$x))
  }
  expect_false(identical(lapply(model$layers, function(l) l$params), want))
})

test_that("weights assigned in a callback are used from the next batch on (max-norm)", {
  max_norm <- function(model, limit) {
    w <- model$layers[[1]]$params$weight
    norms <- sqrt(colSums(w^2))
    w <- sweep(w, 2, pmax(1, norms / limit), "/")
    model$layers[[1]]$params <- list(weight = w, bias = model$layers[[1]]$params$bias)
  }
  limit <- 0.6
  constrained <- xor_model(3)
  fit_xor(constrained, 8, callback_epoch_end(function(epoch, logs) max_norm(constrained, limit)))
  # The same thing one epoch at a time, constraining between fits
  # (full batches, no shuffling and plain SGD: nothing else differs).
  by_hand <- xor_model(3)
  for (epoch in 1:8) {
    fit_xor(by_hand, 1)
    max_norm(by_hand, limit)
  }
  expect_equal(constrained$layers[[1]]$params, by_hand$layers[[1]]$params, tolerance = 1e-12)
  expect_equal(constrained$layers[[3]]$params, by_hand$layers[[3]]$params, tolerance = 1e-12)
  expect_true(all(sqrt(colSums(constrained$layers[[1]]$params$weight^2)) <= limit + 1e-12))
  free <- xor_model(3)
  fit_xor(free, 8)
  expect_gt(max(sqrt(colSums(free$layers[[1]]$params$weight^2))), limit)
  # The history is the constrained fit's, and predictions use its weights.
  expect_length(constrained$history$metrics$loss, 8)
  expect_identical(predict(constrained, xor_xy()$x), predict(by_hand, xor_xy()$x))
})

test_that("training the model from its own callback is a classed error; predict() works", {
  model <- xor_model()
  d <- xor_xy()
  caught <- list()
  predicted <- NULL
  attempt <- function(expr) tryCatch(expr, error = identity)
  fit_xor(model, 3, callback_epoch_end(function(epoch, logs) {
    if (epoch == 2) {
      caught$fit <<- attempt(fit(model, d$x, d$y, epochs = 1, verbose = 0))
      caught$forward <<- attempt(model$forward(d$x))
      caught$backward <<- attempt(model$backward(d$y))
      caught$step <<- attempt(SGD$new()$step(model))
      predicted <<- predict(model, d$x)
    }
  }))
  expect_named(caught, c("fit", "forward", "backward", "step"))
  for (cnd in caught) {
    expect_s3_class(cnd, "rustnn_error_busy")
    expect_s3_class(cnd, "rustnn_error")
  }
  expect_snapshot(cat(conditionMessage(caught$fit)))
  # predict() in the callback saw epoch 2's weights and did not disturb
  # training: the fit equals one without it.
  second <- xor_model()
  fit_xor(second, 2)
  expect_identical(predicted, predict(second, d$x))
  quiet <- xor_model()
  fit_xor(quiet, 3)
  expect_identical(model$layers[[1]]$params, quiet$layers[[1]]$params)
  # Once fit() is over, the model trains again.
  expect_no_error(fit_xor(model, 1))
  # Another model trains inside the callback.
  other <- xor_model(2)
  fit_xor(model, 2, callback_epoch_end(function(epoch, logs) fit_xor(other, 1)))
  expect_length(other$history$metrics$loss, 1)
})

test_that("conditions in a callback reach the handlers around fit()", {
  model <- xor_model()
  warned <- character()
  informed <- character()
  withCallingHandlers(
    fit_xor(model, 3, callback_epoch_end(function(epoch, logs) {
      warning("epoch ", epoch, " was slow")
      message("epoch ", epoch, " done")
    })),
    warning = function(w) {
      warned <<- c(warned, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      informed <<- c(informed, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
  expect_identical(warned, paste("epoch", 1:3, "was slow"))
  expect_identical(informed, paste0("epoch ", 1:3, " done\n"))
  expect_silent(suppressWarnings(suppressMessages(
    fit_xor(model, 2, callback_epoch_end(function(epoch, logs) {
      warning("hidden")
      message("hidden")
    })))))
})

test_that("an interrupt in a callback stops training as Ctrl-C between batches does", {
  model <- xor_model()
  outcome <- tryCatch(
    suppressMessages(fit_xor(model, 10, callback_epoch_end(function(epoch, logs) {
      if (epoch == 4) rlang::interrupt()
    }))),
    interrupt = function(cnd) "interrupted")
  expect_identical(outcome, "interrupted")
  expect_identical(model$history$status, "interrupted")
  expect_length(model$history$metrics$loss, 4)
  fourth <- xor_model()
  fit_xor(fourth, 4)
  expect_identical(model$layers[[1]]$params, fourth$layers[[1]]$params)
  expect_no_error(fit_xor(model, 1))
})

test_that("a model read back from a file saved during fit() is not busy", {
  model <- xor_model()
  rds <- withr::local_tempfile(fileext = ".rds")
  fit_xor(model, 2, callback_epoch_end(function(epoch, logs) saveRDS(model, rds)))
  back <- readRDS(rds)
  expect_no_error(fit_xor(back, 1))
  expect_no_error(back$forward(xor_xy()$x))
})

test_that("a checkpoint saved in a callback resumes exactly where the fit was", {
  d <- xor_xy()
  full <- xor_model()
  file <- withr::local_tempfile(fileext = ".rnn")
  fit(full, d$x, d$y, loss = "mse", optimizer = Adam$new(lr = 0.05), epochs = 6, batch_size = 2,
      shuffle = FALSE, verbose = 0,
      callbacks = callback_epoch_end(function(epoch, logs) if (epoch == 3) save_model(full, file)))
  resumed <- load_model(file)
  expect_identical(resumed$history$metrics$loss, full$history$metrics$loss[1:3])
  expect_equal(resumed$.get_state()$optimizer_state$steps, 6)
  expect_s3_class(resumed$.get_state()$optimizer, "Adam")
  # Three more epochs from the checkpoint (the saved loss, optimizer and
  # state) end where the whole fit ended.
  fit(resumed, d$x, d$y, epochs = 3, batch_size = 2, shuffle = FALSE, verbose = 0)
  expect_identical(resumed$layers[[1]]$params, full$layers[[1]]$params)
  expect_identical(resumed$layers[[3]]$params, full$layers[[3]]$params)
  expect_equal(full$.get_state()$optimizer_state$steps, 12)
  expect_identical(full$history$status, "completed")
})

test_that("callback_model_checkpoint(save_best_only = TRUE) keeps the best epoch's model", {
  set.seed(1)
  x <- matrix(rnorm(400), ncol = 2)
  y <- x[, 1] - x[, 2] + rnorm(200, sd = 0.3)
  model <- Sequential$new(Linear$new(2, 8), ReLU$new(), Linear$new(8, 1), dtype = "float64")
  best <- withr::local_tempfile(fileext = ".rnn")
  every <- withr::local_tempdir()
  # A rate this high makes the validation loss go up and down.
  history <- fit(model, x, y, epochs = 15, validation_split = 0.25, optimizer = SGD$new(lr = 0.2),
                 callbacks = list(callback_model_checkpoint(best, save_best_only = TRUE),
                                  callback_model_checkpoint(file.path(every, "m-{epoch}.rnn"))),
                 verbose = 0)
  val <- history$metrics$val_loss
  kept <- load_model(best)
  expect_equal(length(kept$history$metrics$loss), which.min(val))
  at_best <- load_model(file.path(every, paste0("m-", which.min(val), ".rnn")))
  expect_identical(kept$layers[[1]]$params, at_best$layers[[1]]$params)
  expect_length(list.files(every), 15)
  expect_snapshot(print(callback_model_checkpoint("m.rnn", save_best_only = TRUE)))
  expect_error(callback_model_checkpoint(3), class = "rustnn_error_argument")
})

test_that("callback_csv_logger() writes as.data.frame(history), a row per epoch", {
  set.seed(2)
  x <- matrix(rnorm(200), ncol = 2)
  y <- factor(x[, 1] > 0)
  model <- Sequential$new(Linear$new(2, 1), Sigmoid$new())
  log <- withr::local_tempfile(fileext = ".csv")
  history <- fit(model, x, y, epochs = 6, metrics = "accuracy", validation_split = 0.2,
                 callbacks = list(callback_csv_logger(log)), verbose = 0)
  expect_equal(utils::read.csv(log), as.data.frame(history), tolerance = 1e-12)
  # append = TRUE continues the file without a second header.
  fit(model, x, y, epochs = 2, metrics = "accuracy", validation_split = 0.2,
      callbacks = list(callback_csv_logger(log, append = TRUE)), verbose = 0)
  expect_equal(nrow(utils::read.csv(log)), 8)
})

test_that("a checkpoint's monitor is checked when fit() starts, and a CSV log restarts with each fit", {
  set.seed(3)
  x <- matrix(rnorm(200), ncol = 2)
  model <- Sequential$new(Linear$new(2, 1))
  path <- withr::local_tempfile(fileext = ".rnn")
  expect_error(fit(model, x, x[, 1], epochs = 3, validation_split = 0.2, verbose = 0,
                   callbacks = list(callback_model_checkpoint(path, monitor = "val_los",
                                                              save_best_only = TRUE))),
               class = "rustnn_error_argument")
  expect_false(file.exists(path))
  expect_snapshot(error = TRUE, fit(model, x, x[, 1], epochs = 3, validation_split = 0.2, verbose = 0,
                                    callbacks = list(callback_model_checkpoint(path, monitor = "val_los",
                                                                               save_best_only = TRUE))))
  log <- withr::local_tempfile(fileext = ".csv")
  logger <- callback_csv_logger(log)
  chatty <- callback_epoch_end(function(epoch, logs) logs)  # returns its logs: not figures
  fit(model, x, x[, 1], epochs = 3, callbacks = list(chatty, logger), verbose = 0)
  h <- fit(model, x, x[, 1], epochs = 2, callbacks = list(chatty, logger), verbose = 0)
  expect_equal(utils::read.csv(log), as.data.frame(h), tolerance = 1e-12)
})
