# Optimizers: every update rule against the same rule written in plain R,
# state carried across fit() calls and saveRDS(), names, printing, and bad
# arguments.

# PyTorch's update rules in plain R, for one parameter tensor: `h` holds the
# hyper-parameters, `s` the tensor's buffers (an empty list at first), `t`
# the step number. Each returns the new parameter and buffers.
`%||%` <- rlang::`%||%`

adam_rule <- function(decoupled) {
  function(h, p, g, s, t) {
    if (decoupled) p <- p - h$lr * h$weight_decay * p else g <- g + h$weight_decay * p
    s$m <- h$beta1 * (s$m %||% 0) + (1 - h$beta1) * g
    s$v <- h$beta2 * (s$v %||% 0) + (1 - h$beta2) * g^2
    m_hat <- s$m / (1 - h$beta1^t)
    v_hat <- s$v / (1 - h$beta2^t)
    list(p = p - h$lr * m_hat / (sqrt(v_hat) + h$eps), s = s)
  }
}

rules <- list(
  SGD = function(h, p, g, s, t) {
    g <- g + h$weight_decay * p
    if (h$momentum > 0) {
      s$b <- h$momentum * (s$b %||% 0) + g
      g <- if (h$nesterov) g + h$momentum * s$b else s$b
    }
    list(p = p - h$lr * g, s = s)
  },
  Adam = adam_rule(decoupled = FALSE),
  AdamW = adam_rule(decoupled = TRUE),
  RMSprop = function(h, p, g, s, t) {
    s$v <- h$rho * (s$v %||% 0) + (1 - h$rho) * g^2
    if (h$momentum > 0) {
      s$b <- h$momentum * (s$b %||% 0) + g / (sqrt(s$v) + h$eps)
      p <- p - h$lr * s$b
    } else {
      p <- p - h$lr * g / (sqrt(s$v) + h$eps)
    }
    list(p = p, s = s)
  },
  Adagrad = function(h, p, g, s, t) {
    s$s <- (s$s %||% 0) + g^2
    list(p = p - h$lr * g / (sqrt(s$s) + h$eps), s = s)
  }
)

cases <- list(
  "SGD" = list("SGD", lr = 0.1, momentum = 0, nesterov = FALSE, weight_decay = 0),
  "SGD with weight decay" = list("SGD", lr = 0.1, momentum = 0, nesterov = FALSE, weight_decay = 0.05),
  "SGD with momentum" = list("SGD", lr = 0.1, momentum = 0.9, nesterov = FALSE, weight_decay = 0),
  "SGD with Nesterov momentum and weight decay" =
    list("SGD", lr = 0.1, momentum = 0.9, nesterov = TRUE, weight_decay = 0.01),
  "Adam" = list("Adam", lr = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0),
  "Adam with L2 weight decay" =
    list("Adam", lr = 0.01, beta1 = 0.8, beta2 = 0.99, eps = 1e-6, weight_decay = 0.1),
  "AdamW" = list("AdamW", lr = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.1),
  "RMSprop" = list("RMSprop", lr = 0.01, rho = 0.9, eps = 1e-8, momentum = 0),
  "RMSprop with momentum" = list("RMSprop", lr = 0.01, rho = 0.99, eps = 1e-8, momentum = 0.5),
  "Adagrad" = list("Adagrad", lr = 0.1, eps = 1e-10)
)

small_model <- function(seed = 11) {
  set.seed(seed)
  Sequential$new(Linear$new(3, 2), Tanh$new(), Linear$new(2, 1), dtype = "float64")
}

# Takes `steps` steps with `opt` on a fresh model, computing the expected
# parameters with `rule` from the gradients the model reports at each step.
# Returns the model, the expected parameters and the reference buffers.
steps_against_rule <- function(opt, rule, h, steps) {
  model <- small_model()
  set.seed(12)
  x <- matrix(rnorm(15), 5)
  y <- matrix(rnorm(5), 5)
  expected <- lapply(model$layers, function(l) l$params)
  buffers <- lapply(expected, function(p) lapply(p, function(.) list()))
  for (t in seq_len(steps)) {
    out <- model$forward(x)
    model$backward(MSELoss$new()$grad(out, y))
    for (i in seq_along(expected)) {
      for (nm in names(expected[[i]])) {
        r <- rule(h, expected[[i]][[nm]], model$layers[[i]]$grads[[nm]], buffers[[i]][[nm]], t)
        expected[[i]][[nm]] <- r$p
        buffers[[i]][[nm]] <- r$s
      }
    }
    opt$step(model)
  }
  list(model = model, expected = expected, buffers = buffers)
}

for (case_name in names(cases)) {
  test_that(paste(case_name, "steps match the update written in R"), {
    case <- cases[[case_name]]
    class_name <- case[[1]]
    h <- case[-1]
    for (steps in c(1, 3)) {
      opt <- do.call(get(class_name)$new, h)
      run <- steps_against_rule(opt, rules[[class_name]], h, steps)
      for (i in seq_along(run$expected)) {
        expect_equal(run$model$layers[[i]]$params, run$expected[[i]], tolerance = 1e-12)
      }
      expect_equal(opt$state$steps, steps)
      # Buffers per tensor: weight 1, bias 1, weight 3, bias 3 (layer 2
      # has no parameters), each as long as its tensor.
      per_tensor <- length(run$buffers[[1]]$weight)
      sizes <- vapply(opt$state$slots, length, integer(1))
      expect_equal(sizes, rep(c(6, 2, 2, 1), each = per_tensor))
    }
  })
}

test_that("the state holds each tensor's buffers in turn, in the rules' order", {
  h <- cases[["Adam with L2 weight decay"]][-1]
  opt <- do.call(Adam$new, h)
  run <- steps_against_rule(opt, rules$Adam, h, 2)
  slots <- opt$state$slots
  # Vectors are laid out alike everywhere; a weight's values in any order.
  expect_equal(slots[[3]], run$buffers[[1]]$bias$m, tolerance = 1e-12)
  expect_equal(slots[[4]], run$buffers[[1]]$bias$v, tolerance = 1e-12)
  expect_equal(sort(slots[[1]]), sort(as.vector(run$buffers[[1]]$weight$m)), tolerance = 1e-12)
  expect_equal(sort(slots[[6]]), sort(as.vector(run$buffers[[3]]$weight$v)), tolerance = 1e-12)
  expect_length(SGD$new()$step(run$model)$state$slots, 0)
})

test_that("hyper-parameter fields can be changed between steps", {
  model <- small_model()
  x <- matrix(rnorm(15), 5)
  y <- matrix(rnorm(5), 5)
  opt <- SGD$new(lr = 0.1)
  opt$lr <- 0.5
  before <- model$layers[[1]]$params$weight
  model$backward(MSELoss$new()$grad(model$forward(x), y))
  grad <- model$layers[[1]]$grads$weight
  opt$step(model)
  expect_equal(model$layers[[1]]$params$weight, before - 0.5 * grad, tolerance = 1e-12)
  opt$lr <- -1
  model$backward(MSELoss$new()$grad(model$forward(x), y))
  expect_snapshot(error = TRUE, opt$step(model))
  expect_error(opt$step(model), class = "rustnn_error_argument")
  opt$lr <- 0.1
  opt$nesterov <- TRUE
  expect_snapshot(error = TRUE, fit(model, x, y, optimizer = opt, verbose = FALSE))
  expect_error(fit(model, x, y, optimizer = opt, verbose = FALSE), class = "rustnn_error_argument")
})

fit_data <- function() {
  set.seed(21)
  x <- matrix(rnorm(60), 20)
  list(x = x, y = sin(x[, 1]) + x[, 2] * x[, 3])
}

test_that("fit(5 epochs) twice with one optimizer equals fit(10 epochs), bit for bit", {
  d <- fit_data()
  for (make in list(function() Adam$new(lr = 0.01),
                    function() RMSprop$new(momentum = 0.5),
                    function() SGD$new(lr = 0.05, momentum = 0.9, nesterov = TRUE))) {
    split <- small_model()
    opt <- make()
    fit(split, d$x, d$y, optimizer = opt, epochs = 5, batch_size = 5, shuffle = FALSE, verbose = FALSE)
    expect_equal(opt$state$steps, 20)
    fit(split, d$x, d$y, optimizer = opt, epochs = 5, batch_size = 5, shuffle = FALSE, verbose = FALSE)
    expect_equal(opt$state$steps, 40)
    whole <- small_model()
    fit(whole, d$x, d$y, optimizer = make(), epochs = 10, batch_size = 5, shuffle = FALSE,
        verbose = FALSE)
    for (i in c(1, 3)) {
      expect_identical(split$layers[[i]]$params, whole$layers[[i]]$params)
    }
  }
})

test_that("a model keeps its optimizer across saveRDS()/readRDS()", {
  d <- fit_data()
  once <- small_model()
  fit(once, d$x, d$y, optimizer = AdamW$new(lr = 0.01), epochs = 10, batch_size = 5,
      shuffle = FALSE, verbose = FALSE)

  model <- small_model()
  fit(model, d$x, d$y, optimizer = AdamW$new(lr = 0.01), epochs = 5, batch_size = 5,
      shuffle = FALSE, verbose = FALSE)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(model, path)
  reloaded <- readRDS(path)
  saved_opt <- reloaded$.get_state()$optimizer
  expect_s3_class(saved_opt, "AdamW")
  expect_equal(reloaded$.get_state()$optimizer_state$steps, 20)
  expect_equal(saved_opt$lr, 0.01)

  # Without an optimizer, fit() continues with the saved one and its state.
  fit(model, d$x, d$y, epochs = 5, batch_size = 5, shuffle = FALSE, verbose = FALSE)
  fit(reloaded, d$x, d$y, epochs = 5, batch_size = 5, shuffle = FALSE, verbose = FALSE)
  for (i in c(1, 3)) {
    expect_identical(reloaded$layers[[i]]$params, model$layers[[i]]$params)
    expect_identical(reloaded$layers[[i]]$params, once$layers[[i]]$params)
  }
})

test_that("fit() takes an optimizer by name, in any case, with its defaults", {
  d <- fit_data()
  for (name in c("sgd", "adam", "AdamW", "RMSPROP", "adagrad")) {
    model <- small_model()
    history <- fit(model, d$x, d$y, optimizer = name, epochs = 3, batch_size = 10, verbose = FALSE)
    expect_length(history$metrics$loss, 3)
    opt <- model$.get_state()$optimizer
    expect_identical(tolower(class(opt)[1]), tolower(name))
    expect_equal(model$.get_state()$optimizer_state$steps, 6)
  }
  expect_identical(model$.get_state()$optimizer$format(), Adagrad$new()$format())
})

test_that("optimizers print their class and hyper-parameters", {
  expect_snapshot({
    SGD$new()
    SGD$new(lr = 0.1, momentum = 0.9, nesterov = TRUE, weight_decay = 1e-4)
    Adam$new()
    AdamW$new()
    RMSprop$new()
    Adagrad$new()
  })
  expect_s3_class(AdamW$new(), "Adam")
})

test_that("bad optimizer arguments get classed errors naming the argument", {
  expect_snapshot(error = TRUE, Adam$new(lr = -0.1))
  expect_snapshot(error = TRUE, Adam$new(beta1 = 1))
  expect_snapshot(error = TRUE, AdamW$new(beta2 = -0.5))
  expect_snapshot(error = TRUE, AdamW$new(weight_decay = -0.01))
  expect_snapshot(error = TRUE, SGD$new(nesterov = TRUE))
  expect_snapshot(error = TRUE, SGD$new(momentum = 0.9, nesterov = NA))
  expect_snapshot(error = TRUE, RMSprop$new(rho = 1.5))
  expect_snapshot(error = TRUE, Adagrad$new(eps = 0))
  expect_snapshot(error = TRUE, Adagrad$new(lr = "fast"))
  expect_snapshot(error = TRUE, Optimizer$new())
  expect_error(SGD$new(nesterov = TRUE), class = "rustnn_error_argument")
  expect_error(Adam$new(beta1 = 1), class = "rustnn_error_argument")

  set.seed(1)
  model <- Sequential$new(Linear$new(2, 1))
  x <- matrix(rnorm(20), 10)
  y <- rnorm(10)
  expect_snapshot(error = TRUE, fit(model, x, y, optimizer = "adamax", verbose = FALSE))
  expect_snapshot(error = TRUE, fit(model, x, y, optimizer = c("adam", "sgd"), verbose = FALSE))
  expect_snapshot(error = TRUE, fit(model, x, y, optimizer = list(lr = 0.1), verbose = FALSE))
  expect_error(fit(model, x, y, optimizer = "adamax", verbose = FALSE),
               class = "rustnn_error_argument")
  expect_error(fit(model, x, y, optimizer = Adam, verbose = FALSE),
               class = "rustnn_error_argument")
})

test_that("an optimizer's state does not carry over to another network", {
  set.seed(1)
  x <- matrix(rnorm(20), 10)
  y <- rnorm(10)
  opt <- Adam$new()
  fit(Sequential$new(Linear$new(2, 1)), x, y, optimizer = opt, epochs = 1, verbose = FALSE)
  other <- Sequential$new(Linear$new(2, 3), Linear$new(3, 1))
  before <- other$layers[[1]]$params
  expect_snapshot(error = TRUE, fit(other, x, y, optimizer = opt, verbose = FALSE))
  expect_error(fit(other, x, y, optimizer = opt, verbose = FALSE), class = "rustnn_error_engine")
  expect_identical(other$layers[[1]]$params, before)
  expect_equal(opt$state$steps, 1)
  fit(other, x, y, optimizer = opt$reset(), epochs = 1, verbose = FALSE)
  expect_equal(opt$state$steps, 1)
})

test_that("a model and its clone each continue with their own optimizer state", {
  d <- fit_data()
  set.seed(3)
  model <- small_model()
  fit(model, d$x, d$y, optimizer = Adam$new(lr = 0.01), epochs = 2, batch_size = 5,
      verbose = FALSE)
  twin <- model$clone()
  set.seed(4)
  fit(model, d$x, d$y, epochs = 3, batch_size = 5, verbose = FALSE)
  expect_equal(model$.get_state()$optimizer_state$steps, 20)
  expect_equal(twin$.get_state()$optimizer_state$steps, 8)
  # The twin resumes from its own state, as the model did.
  set.seed(4)
  fit(twin, d$x, d$y, epochs = 3, batch_size = 5, verbose = FALSE)
  expect_identical(twin$layers[[1]]$params, model$layers[[1]]$params)
})

# L-BFGS: full-batch, one step per epoch, its history kept between fits.

mtcars_logistic <- function() {
  list(x = scale(as.matrix(mtcars[, c("wt", "hp")])), y = mtcars$am)
}

logistic_model <- function() {
  set.seed(5)
  Sequential$new(Linear$new(2, 1), Sigmoid$new(), dtype = "float64")
}

test_that("LBFGS reaches glm()'s coefficients on a logistic regression", {
  d <- mtcars_logistic()
  ref <- coef(glm(d$y ~ d$x, family = binomial))
  model <- logistic_model()
  # PyTorch's default tolerances stop a step once the slope along the
  # direction is below 1e-9, here with coefficients 2e-5 away from the
  # optimum: tighter ones go on.
  opt <- LBFGS$new(tolerance_grad = 1e-10, tolerance_change = 1e-14)
  history <- fit(model, d$x, d$y, loss = "bce", optimizer = opt, epochs = 10, verbose = FALSE)
  expect_equal(as.vector(model$layers[[1]]$params$weight), unname(ref[-1]), tolerance = 1e-6)
  expect_equal(as.vector(model$layers[[1]]$params$bias), unname(ref[1]), tolerance = 1e-6)
  # One row per epoch: the loss after each step, on all the rows.
  loss <- history$metrics$loss
  expect_length(loss, 10)
  expect_true(all(diff(loss) <= 1e-12))
  p <- predict(model, d$x)
  expect_equal(loss[10], -mean(d$y * log(p) + (1 - d$y) * log(1 - p)), tolerance = 1e-10)
})

test_that("LBFGS trains a 4-10-3 network on iris to 98% accuracy in 100 iterations", {
  set.seed(42)
  model <- Sequential$new(Linear$new(4, 10), Tanh$new(), Linear$new(10, 3), Softmax$new(),
                          dtype = "float64")
  opt <- LBFGS$new(max_iter = 20)
  history <- fit(model, scale(iris[, 1:4]), iris$Species, loss = "cross_entropy",
                 optimizer = opt, epochs = 5, metrics = "accuracy", verbose = FALSE)
  expect_lte(opt$state$steps, 100)
  expect_gte(mean(predict(model, scale(iris[, 1:4]), type = "class") == iris$Species), 0.98)
  expect_gte(history$metrics$accuracy[5], 0.98)
})

test_that("LBFGS gives the same result on 1 and 2 threads, and for the same seed", {
  train <- function(threads, seed = 42) {
    set.seed(seed)
    model <- Sequential$new(Linear$new(4, 10), Tanh$new(), Linear$new(10, 3), Softmax$new())
    history <- fit(model, iris[, 1:4], iris$Species, optimizer = LBFGS$new(), epochs = 3,
                   threads = threads, verbose = FALSE)
    list(model$layers[[1]]$params, model$layers[[3]]$params, history$metrics)
  }
  one <- train(1)
  expect_identical(train(2), one)
  expect_identical(train(1), one)
  expect_false(identical(train(1, seed = 7), one))
})

test_that("LBFGS's state carries over fit() calls, saveRDS() and save_model()", {
  d <- mtcars_logistic()
  # Loose tolerances would stop early: every epoch here runs its 3 iterations.
  make <- function() LBFGS$new(max_iter = 3, max_eval = 100, tolerance_change = 0, tolerance_grad = 0)
  whole <- logistic_model()
  fit(whole, d$x, d$y, optimizer = make(), epochs = 4, shuffle = FALSE, verbose = FALSE)

  split <- logistic_model()
  opt <- make()
  fit(split, d$x, d$y, optimizer = opt, epochs = 2, shuffle = FALSE, verbose = FALSE)
  expect_equal(opt$state$steps, 6)
  # Per parameter tensor: 2 * history_size + 2 buffers, as long as it.
  expect_equal(lengths(opt$state$slots), rep(c(2, 1), each = 202))
  saved <- unserialize(serialize(split, NULL))
  path <- withr::local_tempfile(fileext = ".rnn")
  save_model(split, path)
  loaded <- load_model(path)
  fit(split, d$x, d$y, optimizer = opt, epochs = 2, shuffle = FALSE, verbose = FALSE)
  expect_identical(split$layers[[1]]$params, whole$layers[[1]]$params)
  # Models resume with the optimizer and state they keep.
  for (m in list(saved, loaded)) {
    fit(m, d$x, d$y, epochs = 2, shuffle = FALSE, verbose = FALSE)
    expect_identical(m$layers[[1]]$params, whole$layers[[1]]$params)
    expect_equal(m$.get_state()$optimizer_state$steps, 12)
  }
})

test_that("LBFGS without line search steps by lr, and schedules set lr", {
  d <- mtcars_logistic()
  model <- logistic_model()
  history <- fit(model, d$x, d$y, optimizer = LBFGS$new(lr = 0.5, line_search_fn = "none"),
                 epochs = 30, callbacks = list(callback_lr_step_decay(10, 0.5)), verbose = FALSE)
  expect_equal(history$metrics$lr, rep(c(0.5, 0.25, 0.125), each = 10))
  ref <- coef(glm(d$y ~ d$x, family = binomial))
  expect_equal(as.vector(model$layers[[1]]$params$weight), unname(ref[-1]), tolerance = 1e-3)
})

test_that("LBFGS prints, takes its name, and refuses bad settings and uses", {
  expect_snapshot({
    LBFGS$new()
    LBFGS$new(max_iter = 10, line_search_fn = "none")
  })
  expect_equal(LBFGS$new(max_iter = 10)$max_eval, 12)
  expect_snapshot(error = TRUE, LBFGS$new(max_iter = 0))
  expect_snapshot(error = TRUE, LBFGS$new(max_eval = 2.5))
  expect_snapshot(error = TRUE, LBFGS$new(history_size = 5000))
  expect_snapshot(error = TRUE, LBFGS$new(tolerance_grad = -1))
  expect_snapshot(error = TRUE, LBFGS$new(line_search_fn = "backtracking"))
  expect_error(LBFGS$new(lr = 0), class = "rustnn_error_argument")

  d <- mtcars_logistic()
  model <- logistic_model()
  history <- fit(model, d$x, d$y, optimizer = "lbfgs", epochs = 2, verbose = FALSE)
  expect_s3_class(model$.get_state()$optimizer, "LBFGS")
  expect_snapshot(error = TRUE, fit(model, d$x, d$y, optimizer = LBFGS$new(), batch_size = 8,
                                    verbose = FALSE))
  expect_error(fit(model, d$x, d$y, optimizer = LBFGS$new(), batch_size = 8, verbose = FALSE),
               class = "rustnn_error_full_batch")
  # A batch size of at least the training rows is all of them.
  fit(model, d$x, d$y, optimizer = LBFGS$new(), batch_size = 100, epochs = 1, verbose = FALSE)
  model$backward(MSELoss$new()$grad(model$forward(d$x), matrix(d$y)))
  expect_snapshot(error = TRUE, LBFGS$new()$step(model))
  expect_error(LBFGS$new()$step(model), class = "rustnn_error_full_batch")
})
