# A corpus of bad calls, run one after another in a single child R process:
# each must fail with a classed rustnn error (naming the offending argument
# where there is one), and the session must still work afterwards. A Rust
# panic, an abort or a segfault would kill the child; the progress file
# names the entry that did it.

# One entry: the call (quoted, evaluated in the child among the fixtures
# below), the class its error must have, and the argument its message must
# name (for argument errors, also the condition's `arg` field). A few calls
# are legal but doomed (a learning rate of 1e308): they must end with the
# package's classed warning, and a usable model, instead.
bad <- function(expr, class, arg = NULL) {
  list(expr = substitute(expr), class = class, arg = arg, kind = "error")
}
doomed <- function(expr, class) {
  list(expr = substitute(expr), class = class, arg = NULL, kind = "warning")
}

# Data and helpers the entries use, made in the child.
corpus_fixtures <- quote({
  set.seed(42)
  x <- matrix(rnorm(20), 10)
  y <- rnorm(10)
  dense <- function() Sequential$new(Linear$new(2, 3), Tanh$new(), Linear$new(3, 1))
  imgs <- array(runif(4 * 36), c(4, 6, 6))
  labels <- factor(c("a", "b", "a", "b"))
  cnn <- function() {
    Sequential$new(Conv2d$new(1, 2, 3), ReLU$new(), BatchNorm$new(2), Flatten$new(),
                   Linear$new(2 * 4 * 4, 2), Softmax$new())
  }
  df <- data.frame(x1 = rnorm(12), colour = factor(rep(c("red", "green", "blue"), 4)),
                   y = rnorm(12))
  binary <- function() Sequential$new(Linear$new(2, 1), Sigmoid$new())
  xb <- matrix(rnorm(8), 4)

  # Trained models written with saveRDS(); each entry reads its own copy.
  saved <- function(model) {
    path <- tempfile(fileext = ".rds")
    saveRDS(model, path)
    path
  }
  m <- dense()
  fit(m, x, y, epochs = 2, verbose = 0)
  dense_rds <- saved(m)
  m <- cnn()
  fit(m, imgs, labels, epochs = 1, verbose = 0)
  cnn_rds <- saved(m)
  m <- Sequential$new(Linear$new(3, 1))
  fit(m, y ~ ., data = df, epochs = 2, verbose = 0)
  formula_rds <- saved(m)
  m <- binary()
  fit(m, xb, labels, epochs = 2, verbose = 0)
  binary_rds <- saved(m)
  trained <- function() readRDS(dense_rds)
  trained_cnn <- function() readRDS(cnn_rds)
  trained_formula <- function() readRDS(formula_rds)
  trained_binary <- function() readRDS(binary_rds)
  # Edits a model's private state in place, as damage to a saved file would.
  # A model whose saved state was damaged: edited, then read back as
  # readRDS() would (a live model's state is the engine's own, and is
  # checked when it comes from outside).
  corrupt <- function(model, edit) {
    kept <- unserialize(serialize(model, NULL))
    edit(kept$.__enclos_env__$private)
    unserialize(serialize(kept, NULL))
  }
  with_option <- function(value, f) {
    old <- options(rustnn.threads = value)
    on.exit(options(old))
    f()
  }
  file_with <- function(bytes) {
    path <- tempfile()
    writeBin(bytes, path)
    path
  }

  # save_model()/load_model(), if this version has them.
  ns <- asNamespace("rustnn")
  if (exists("save_model", envir = ns) && exists("load_model", envir = ns)) {
    save_model <- get("save_model", envir = ns)
    load_model <- get("load_model", envir = ns)
    model_file <- tempfile(fileext = ".rnn")
    save_model(trained(), model_file)
    model_bytes <- readBin(model_file, "raw", file.size(model_file))
  }
})

corpus <- list(
  # Wrong types: x, y, layers, losses, optimizers.
  "x is NULL" = bad(fit(dense(), NULL, y, verbose = 0), "rustnn_error_argument", "x"),
  "x is a list" = bad(fit(dense(), list(1, 2), y, verbose = 0), "rustnn_error_argument", "x"),
  "x is a function" = bad(fit(dense(), function() 1, y, verbose = 0), "rustnn_error_argument", "x"),
  "x is a character matrix" = bad(predict(dense(), matrix("a", 2, 2)), "rustnn_error_argument", "newdata"),
  "x is a data frame with strings" = bad(fit(dense(), data.frame(a = 1:10, b = letters[1:10]), y, verbose = 0),
                                         "rustnn_error_argument", "x"),
  "y is a list" = bad(fit(dense(), x, as.list(y), verbose = 0), "rustnn_error_argument", "y"),
  "y is a function" = bad(fit(dense(), x, mean, verbose = 0), "rustnn_error_argument", "y"),
  "y is a data frame with strings" = bad(fit(dense(), x, data.frame(a = letters[1:10]), verbose = 0),
                                         "rustnn_error_argument", "y"),
  "y is NULL without a formula" = bad(fit(dense(), x, NULL, verbose = 0), "rustnn_error_argument", "y"),
  "a layer is NULL" = bad(Sequential$new(Linear$new(2, 2), NULL), "rustnn_error_argument"),
  "a layer is a class generator" = bad(Sequential$new(Linear), "rustnn_error_argument"),
  "a layer is a function" = bad(Sequential$new(function(x) x), "rustnn_error_argument"),
  "a layer is a string" = bad(Sequential$new(Linear$new(2, 4), "relu"), "rustnn_error_argument"),
  "no layers" = bad(Sequential$new(list()), "rustnn_error_argument"),
  "loss is a class generator" = bad(fit(dense(), x, y, loss = MSELoss, verbose = 0), "rustnn_error_argument", "loss"),
  "loss is a function" = bad(fit(dense(), x, y, loss = function(p, y) 1, verbose = 0), "rustnn_error_argument", "loss"),
  "loss is NA" = bad(fit(dense(), x, y, loss = NA_character_, verbose = 0), "rustnn_error_argument", "loss"),
  "loss is two names" = bad(fit(dense(), x, y, loss = c("mse", "mae"), verbose = 0), "rustnn_error_argument", "loss"),
  "optimizer is a class generator" = bad(fit(dense(), x, y, optimizer = SGD, verbose = 0),
                                         "rustnn_error_argument", "optimizer"),
  "optimizer is a function" = bad(fit(dense(), x, y, optimizer = function() 1, verbose = 0),
                                  "rustnn_error_argument", "optimizer"),
  "optimizer is a list" = bad(fit(dense(), x, y, optimizer = list(lr = 1), verbose = 0),
                              "rustnn_error_argument", "optimizer"),
  "optimizer is an unknown name" = bad(fit(dense(), x, y, optimizer = "nadam", verbose = 0),
                                       "rustnn_error_argument", "optimizer"),
  "step() on a string" = bad(SGD$new()$step("model"), "rustnn_error_argument", "model"),
  "dtype is NA" = bad(Sequential$new(Linear$new(2, 2), dtype = NA), "rustnn_error_argument", "dtype"),
  "unknown argument to fit()" = bad(fit(dense(), x, y, nonsense = 1, verbose = 0), "rustnn_error_argument", "..."),
  "predict() without newdata" = bad(predict(dense()), "rustnn_error_argument", "newdata"),
  "predict() type misspelt" = bad(predict(trained(), x, type = "probs"), "rustnn_error_argument", "type"),

  # Wrong shapes.
  "x has a column too many" = bad(fit(dense(), matrix(rnorm(30), 10), y, verbose = 0), "rustnn_error_argument", "x"),
  "newdata has one column" = bad(predict(trained(), matrix(1, 4, 1)), "rustnn_error_argument", "newdata"),
  "x has 0 rows" = bad(predict(dense(), matrix(numeric(0), 0, 2)), "rustnn_error_argument", "newdata"),
  "y has fewer rows than x" = bad(fit(dense(), x, rnorm(9), verbose = 0), "rustnn_error_argument", "y"),
  "y has too many columns" = bad(fit(dense(), x, matrix(rnorm(20), 10), verbose = 0), "rustnn_error_argument", "y"),
  "3-D array into a dense model" = bad(fit(dense(), array(runif(40), c(10, 2, 2)), y, verbose = 0),
                                       "rustnn_error_argument", "x"),
  "5-D array" = bad(predict(dense(), array(runif(40), c(10, 2, 2, 1, 1))), "rustnn_error_argument", "newdata"),
  "matrix into a CNN" = bad(predict(trained_cnn(), matrix(1, 2, 36)), "rustnn_error_argument", "newdata"),
  "image of the wrong size into a CNN" = bad(predict(trained_cnn(), array(runif(2 * 64), c(2, 8, 8))),
                                             "rustnn_error_argument", "newdata"),
  "image with the wrong channels into a CNN" = bad(predict(trained_cnn(), array(runif(2 * 72), c(2, 2, 6, 6))),
                                                   "rustnn_error_argument", "newdata"),
  "kernel larger than the image" = bad(fit(Sequential$new(Conv2d$new(1, 2, 5), Flatten$new(), Linear$new(2, 1)),
                                           array(runif(90), c(10, 3, 3)), y, verbose = 0),
                                       "rustnn_error_argument"),
  "kernel larger than input_shape" = bad(Sequential$new(Conv2d$new(1, 2, 5), Flatten$new(), input_shape = c(3, 3)),
                                         "rustnn_error_argument"),
  "pool larger than the image" = bad(predict(Sequential$new(MaxPool2d$new(4), Flatten$new()), array(runif(90), c(10, 3, 3))),
                                     "rustnn_error_argument"),
  "widths that do not chain" = bad(Sequential$new(Linear$new(2, 4), Linear$new(5, 1)), "rustnn_error_argument"),
  "gradient of the wrong shape" = bad({
    model <- dense()
    model$forward(x)
    model$backward(matrix(1, 10, 4))
  }, "rustnn_error"),
  "standalone layer, wrong width" = bad(Linear$new(2, 2)$forward(matrix(1, 2, 3)), "rustnn_error_argument", "x"),
  "loss of mismatched shapes" = bad(MSELoss$new()$loss(matrix(1, 2, 2), matrix(1, 3, 2)), "rustnn_error_argument", "y"),
  "validation data of another width" = bad(fit(dense(), x, y, validation_data = list(matrix(1, 2, 3), c(1, 2)), verbose = 0),
                                           "rustnn_error_argument", "validation_data"),

  # Factor levels (and formula columns) unseen at fit time.
  "predict(): level unseen in training" = bad(predict(trained_formula(), data.frame(x1 = 1, colour = "purple")),
                                              "rustnn_error_argument", "newdata"),
  "predict(): column missing" = bad(predict(trained_formula(), data.frame(x1 = 1)), "rustnn_error_argument", "newdata"),
  "refit with a new predictor level" = bad(fit(trained_formula(), y ~ ., verbose = 0,
                                               data = transform(df, colour = factor(rep(c("red", "green", "blue", "pink"), 3)))),
                                           "rustnn_error_argument", "data"),
  "evaluate(): class unseen in training" = bad(evaluate(trained_binary(), xb, factor(c("a", "b", "c", "b"))),
                                               "rustnn_error_argument", "y"),
  "refit with a new class" = bad(fit(trained_binary(), xb, factor(c("a", "b", "c", "b")), verbose = 0),
                                 "rustnn_error_argument", "y"),
  "formula names a missing column" = bad(fit(Sequential$new(Linear$new(3, 1)), y ~ nosuch, data = df, verbose = 0),
                                         "rustnn_error_argument"),
  "formula with data not a data frame" = bad(evaluate(trained_formula(), y ~ ., data = "df"), "rustnn_error_argument", "data"),
  "formula and y both" = bad(fit(Sequential$new(Linear$new(3, 1)), y ~ ., y = y, data = df, verbose = 0),
                             "rustnn_error_argument", "y"),

  # NA, NaN and Inf everywhere.
  "NA in x" = bad(fit(dense(), matrix(c(NA, rnorm(19)), 10), y, verbose = 0), "rustnn_error_argument", "x"),
  "Inf in x" = bad(fit(dense(), matrix(c(Inf, rnorm(19)), 10), y, verbose = 0), "rustnn_error_argument", "x"),
  "NaN in y" = bad(fit(dense(), x, c(NaN, rnorm(9)), verbose = 0), "rustnn_error_argument", "y"),
  "NA in a factor y" = bad(fit(trained_binary(), xb, factor(c("a", NA, "a", "b")), verbose = 0), "rustnn_error_argument", "y"),
  "NA in newdata" = bad(predict(trained(), matrix(c(NA, 1, 2, 3), 2)), "rustnn_error_argument", "newdata"),
  "Inf in a formula predictor" = bad(predict(trained_formula(), data.frame(x1 = Inf, colour = "red")),
                                    "rustnn_error_argument", "newdata"),
  "NA in images" = bad(predict(trained_cnn(), array(c(NA, runif(71)), c(2, 6, 6))), "rustnn_error_argument", "newdata"),
  "NA in forward()" = bad(dense()$forward(matrix(c(NA, 1, 2, 3), 2)), "rustnn_error_argument", "x"),
  "NA as training flag" = bad(dense()$forward(x, training = NA), "rustnn_error_argument", "training"),
  "NA as keep flag" = bad(dense()$forward(x, keep = NA), "rustnn_error_argument", "keep"),
  "grad_check of a list" = bad(grad_check(list(), x, y, "mse"), "rustnn_error_argument", "model"),
  "grad_check without a loss" = bad(grad_check(dense(), x, y), "rustnn_error_argument", "loss"),
  "grad_check, NaN eps" = bad(grad_check(dense(), x, y, "mse", eps = NaN), "rustnn_error_argument", "eps"),
  "grad_check, wrong width" = bad(grad_check(dense(), matrix(1, 3, 4), y, "mse"), "rustnn_error_argument", "x"),
  "grad_check, y of other rows" = bad(grad_check(dense(), x, 1:3, "mse"), "rustnn_error_argument", "y"),
  "grad_check of a CNN, matrix x" = bad(grad_check(cnn(), x, labels, "cross_entropy"), "rustnn_error_argument", "x"),
  "grad_check, NA entries" = bad(grad_check(dense(), x, y, "mse", max_entries = NA), "rustnn_error_argument", "max_entries"),
  "NaN weight set by hand" = bad({
    model <- dense()
    p <- model$layers[[1]]$params
    p$weight[1] <- NaN
    model$layers[[1]]$params <- p
  }, "rustnn_error_argument", "params$weight"),
  "Inf bias on a standalone layer" = bad({
    layer <- Linear$new(2, 2)
    layer$params <- list(weight = matrix(1, 2, 2), bias = c(0, Inf))
  }, "rustnn_error_argument", "params$bias"),
  "character weights set by hand" = bad({
    layer <- Linear$new(2, 2)
    layer$params <- list(weight = matrix("a", 2, 2), bias = c(0, 0))
  }, "rustnn_error_argument", "params$weight"),
  "NA sample_weight" = bad(fit(dense(), x, y, sample_weight = c(NA, rep(1, 9)), verbose = 0),
                           "rustnn_error_argument", "sample_weight"),
  "NA class_weight" = bad(fit(trained_binary(), xb, labels, class_weight = c(a = NA, b = 1), verbose = 0),
                          "rustnn_error_argument", "class_weight"),
  "NA in validation data" = bad(fit(trained_binary(), xb, labels, verbose = 0,
                                    validation_data = list(matrix(NA_real_, 2, 2), factor(c("a", "b")))),
                                "rustnn_error_argument", "validation_data$x"),
  "NA loss weights" = bad(MSELoss$new()$loss(matrix(1, 2, 1), matrix(1, 2, 1), weights = c(NA, 1)),
                          "rustnn_error_argument", "weights"),
  "NA in a loss's predictions" = bad(MSELoss$new()$grad(matrix(c(NA, 1)), matrix(c(1, 1))), "rustnn_error_argument", "pred"),
  "NA in a conv2d() filter" = bad(conv2d(matrix(runif(16), 4), matrix(NA_real_, 2, 2)), "rustnn_error_argument", "filter"),

  # Absurd hyper-parameters.
  "lr = -1" = bad(SGD$new(lr = -1), "rustnn_error_argument", "lr"),
  "lr = Inf" = bad(Adam$new(lr = Inf), "rustnn_error_argument", "lr"),
  "lr = NA" = bad(SGD$new(lr = NA), "rustnn_error_argument", "lr"),
  "lr is a string" = bad(RMSprop$new(lr = "0.1"), "rustnn_error_argument", "lr"),
  "lr changed to -5 after creation" = bad({
    opt <- SGD$new()
    opt$lr <- -5
    fit(dense(), x, y, optimizer = opt, verbose = 0)
  }, "rustnn_error_argument", "lr"),
  "beta1 = 1" = bad(Adam$new(beta1 = 1), "rustnn_error_argument", "beta1"),
  "eps = 0" = bad(Adam$new(eps = 0), "rustnn_error_argument", "eps"),
  "weight_decay = -1" = bad(SGD$new(weight_decay = -1), "rustnn_error_argument", "weight_decay"),
  "epochs = 0" = bad(fit(dense(), x, y, epochs = 0, verbose = 0), "rustnn_error_argument", "epochs"),
  "epochs = -1" = bad(fit(dense(), x, y, epochs = -1, verbose = 0), "rustnn_error_argument", "epochs"),
  "epochs = 1e12" = bad(fit(dense(), x, y, epochs = 1e12, verbose = 0), "rustnn_error_argument", "epochs"),
  "epochs = 2.5" = bad(fit(dense(), x, y, epochs = 2.5, verbose = 0), "rustnn_error_argument", "epochs"),
  "epochs = NA" = bad(fit(dense(), x, y, epochs = NA, verbose = 0), "rustnn_error_argument", "epochs"),
  "batch_size = 0" = bad(fit(dense(), x, y, batch_size = 0, verbose = 0), "rustnn_error_argument", "batch_size"),
  "batch_size = 1e12" = bad(fit(dense(), x, y, batch_size = 1e12, verbose = 0), "rustnn_error_argument", "batch_size"),
  "units = 0" = bad(Linear$new(2, 0), "rustnn_error_argument", "out_features"),
  "units = -3" = bad(Linear$new(-3, 2), "rustnn_error_argument", "in_features"),
  "units = 1e10" = bad(Linear$new(2, 1e10), "rustnn_error_argument", "out_features"),
  "1e5 x 1e5 weights" = bad(Linear$new(1e5, 1e5), "rustnn_error_argument", "in_features"),
  "1e14 convolution weights" = bad(Conv2d$new(1e4, 1e4, 1e3), "rustnn_error_argument", "in_channels"),
  "rustnn_mlp() with 1e10 hidden units" = bad(rustnn_mlp(y ~ ., data = df, hidden_units = 1e10), "rustnn_error_argument", "hidden_units"),
  "dropout rate = 1.5" = bad(Dropout$new(1.5), "rustnn_error_argument", "rate"),
  "rustnn_mlp() dropout = 1.5" = bad(rustnn_mlp(y ~ ., data = df, dropout = 1.5), "rustnn_error_argument", "dropout"),
  "threads = 0" = bad(predict(trained(), x, threads = 0), "rustnn_error_argument", "threads"),
  "threads = 1000" = bad(fit(dense(), x, y, threads = 1000, verbose = 0), "rustnn_error_argument", "threads"),
  "threads option = 1e12" = bad(with_option(1e12, function() predict(trained(), x)),
                                "rustnn_error_argument", "options(rustnn.threads)"),
  "stride = 0" = bad(Conv2d$new(1, 2, 3, stride = 0), "rustnn_error_argument", "stride"),
  "padding = -1" = bad(Conv2d$new(1, 2, 3, padding = -1), "rustnn_error_argument", "padding"),
  "BatchNorm momentum = 2" = bad(BatchNorm$new(3, momentum = 2), "rustnn_error_argument", "momentum"),
  "LeakyReLU alpha = NA" = bad(LeakyReLU$new(alpha = NA), "rustnn_error_argument", "alpha"),
  "huber delta = -1" = bad(HuberLoss$new(delta = -1), "rustnn_error_argument", "delta"),
  "validation_split = 1" = bad(fit(dense(), x, y, validation_split = 1, verbose = 0), "rustnn_error_argument", "validation_split"),
  "patience = -1" = bad(callback_early_stopping(patience = -1), "rustnn_error_argument", "patience"),
  "lr = 1e308 (legal, doomed)" = doomed({
    model <- trained()
    fit(model, x, y, optimizer = SGD$new(lr = 1e308), epochs = 3, verbose = 0)
  }, "rustnn_warning_non_finite"),
  "x of 1e300 in float32" = bad(fit(dense(), matrix(1e300, 10, 2), y, verbose = 0),
                                "rustnn_error_argument", "x"),
  "predict() on 1e300 in float32" = bad(predict(dense(), matrix(1e300, 10, 2)),
                                        "rustnn_error_argument", "newdata"),
  "a callback that fails" = doomed(fit(dense(), x, y, epochs = 2, verbose = 0,
                                       callbacks = list(callback_epoch_end(function(epoch, logs) stop("boom")))),
                                   "rustnn_warning_callback"),

  # Misuse of state.
  "backward before forward" = bad(dense()$backward(matrix(1, 10, 1)), "rustnn_error_state"),
  "step before backward" = bad({
    model <- dense()
    model$forward(x)
    SGD$new()$step(model)
  }, "rustnn_error_state"),
  "step on a fresh model" = bad(Adam$new()$step(dense()), "rustnn_error_state"),
  "optimizer continued on another model" = bad({
    opt <- Adam$new()
    fit(dense(), x, y, optimizer = opt, epochs = 1, verbose = 0)
    fit(Sequential$new(Linear$new(2, 5), Linear$new(5, 1)), x, y, optimizer = opt, epochs = 1, verbose = 0)
  }, "rustnn_error"),
  "optimizer stepped on another model" = bad({
    opt <- Adam$new()
    a <- dense()
    a$backward(MSELoss$new()$grad(a$forward(x), matrix(y)))
    opt$step(a)
    b <- Sequential$new(Linear$new(2, 5), Linear$new(5, 1))
    b$backward(MSELoss$new()$grad(b$forward(x), matrix(y)))
    opt$step(b)
  }, "rustnn_error"),
  "optimizer state overwritten" = bad({
    opt <- SGD$new()
    opt$state <- "junk"
    fit(dense(), x, y, optimizer = opt, verbose = 0)
  }, "rustnn_error_state", "state"),
  "optimizer state of garbage slots" = bad({
    opt <- Adam$new()
    opt$state <- list(steps = 3, slots = list(c(1, 2)))
    fit(dense(), x, y, optimizer = opt, verbose = 0)
  }, "rustnn_error"),
  "the Optimizer base class" = bad(Optimizer$new(), "rustnn_error"),
  "forward() on a model's layer" = bad(trained()$layers[[1]]$forward(x), "rustnn_error_state"),
  "replacing a model's layers" = bad({
    model <- dense()
    model$layers <- list()
  }, "rustnn_error_argument", "layers"),
  "assigning grads" = bad({
    model <- dense()
    model$layers[[1]]$grads <- list()
  }, "rustnn_error_argument", "grads"),

  # Models reloaded (readRDS) from corrupted state.
  "weight of the wrong shape" = bad(predict(corrupt(trained(), function(p) p$.state$params[[1]]$weight <- matrix(1, 5, 5)), x),
                                    "rustnn_error"),
  "weight of the wrong shape, then fit()" = bad(fit(corrupt(trained(), function(p) p$.state$params[[1]]$weight <- matrix(1, 5, 5)),
                                                    x, y, verbose = 0), "rustnn_error"),
  "NA weights" = bad(predict(corrupt(trained(), function(p) p$.state$params[[1]]$weight[] <- NA), x), "rustnn_error_state"),
  "NA weights, then forward()" = bad(corrupt(trained(), function(p) p$.state$params[[3]]$bias[1] <- NaN)$forward(x),
                                     "rustnn_error_state"),
  "character weights" = bad(predict(corrupt(trained(), function(p) p$.state$params[[1]]$weight[] <- "a"), x),
                            "rustnn_error_state"),
  "weight missing" = bad(predict(corrupt(trained(), function(p) p$.state$params[[1]]$weight <- NULL), x), "rustnn_error_state"),
  "parameters missing" = bad(predict(corrupt(trained(), function(p) p$.state$params <- NULL), x), "rustnn_error_state"),
  "spec type missing" = bad(predict(corrupt(trained(), function(p) p$.state$specs[[1]]$type <- NULL), x), "rustnn_error_state"),
  "spec type unknown" = bad(predict(corrupt(trained(), function(p) p$.state$specs[[2]]$type <- "swish9"), x), "rustnn_error"),
  "spec in_features missing" = bad(fit(corrupt(trained(), function(p) p$.state$specs[[1]]$in_features <- NULL), x, y, verbose = 0),
                                   "rustnn_error_state"),
  "spec in_features negative" = bad(predict(corrupt(trained(), function(p) p$.state$specs[[1]]$in_features <- -2), x),
                                    "rustnn_error_state"),
  "spec width of 2^31 - 1 (terabytes)" = bad(predict(corrupt(trained(), function(p) {
    p$.state$specs[[1]]$out_features <- .Machine$integer.max
    p$.state$specs[[3]]$in_features <- .Machine$integer.max
  }), x), "rustnn_error_state"),
  "layer option NA" = bad({
    model <- Sequential$new(Linear$new(2, 2), LeakyReLU$new())
    corrupt(model, function(p) p$.state$specs[[2]]$alpha <- NA_real_)$forward(x)
  }, "rustnn_error_state"),
  "dropout rate 5 in the spec" = bad({
    model <- Sequential$new(Linear$new(2, 2), Dropout$new(0.5))
    corrupt(model, function(p) p$.state$specs[[2]]$rate <- 5)$forward(x)
  }, "rustnn_error"),
  "dtype unknown" = bad(predict(corrupt(trained(), function(p) p$.state$dtype <- "float16"), x), "rustnn_error_state"),
  "whole state gone" = bad(predict(corrupt(trained(), function(p) p$.state <- NULL), x), "rustnn_error_state"),
  "whole state gone, then print()" = bad(print(corrupt(trained(), function(p) p$.state <- NULL)), "rustnn_error_state"),
  "input shape negative" = bad(predict(corrupt(trained(), function(p) p$.state$input_shape <- -3L), x), "rustnn_error_state"),
  "CNN input shape too small" = bad(predict(corrupt(trained_cnn(), function(p) p$.state$input_shape <- c(1L, 2L, 2L)),
                                            array(runif(8), c(2, 2, 2))), "rustnn_error"),
  "CNN kernel of three sizes" = bad(predict(corrupt(trained_cnn(), function(p) p$.state$specs[[1]]$kernel_size <- c(1, 2, 3)),
                                            imgs), "rustnn_error"),
  "negative running variance" = bad(predict(corrupt(trained_cnn(), function(p) p$.state$params[[3]]$running_var <- c(-1, -1)),
                                            imgs), "rustnn_error_state"),
  "class target without levels" = bad(predict(corrupt(trained_binary(), function(p) p$.state$target$levels <- NULL), xb,
                                              type = "class"), "rustnn_error_state"),
  "loss unknown" = bad(fit(corrupt(trained(), function(p) p$.state$loss <- "hinge"), x, y, verbose = 0), "rustnn_error_state"),
  "huber loss with a negative delta" = bad(evaluate(corrupt(trained(), function(p) {
    p$.state$loss <- list(name = "huber", delta = -1)
  }), x, y), "rustnn_error_state"),
  "optimizer not an optimizer" = bad(fit(corrupt(trained(), function(p) p$.state$optimizer <- "sgd"), x, y, verbose = 0),
                                     "rustnn_error_state"),
  "formula terms damaged" = bad(predict(corrupt(trained_formula(), function(p) p$.state$preprocess$terms <- "junk"), df),
                                "rustnn_error_state"),
  "standardization of the wrong width" = bad(predict(corrupt(trained(), function(p) {
    p$.state$preprocess <- list(center = c(1, 2, 3), scale = c(1, 1, 1))
  }), x), "rustnn_error"),
  "layer objects replaced" = bad(corrupt(trained(), function(p) p$.layers <- list("a"))$layers, "rustnn_error_state"),

  # Files.
  "read_idx() of a directory" = bad(read_idx(tempdir()), "rustnn_error_file"),
  "read_idx() of a truncated file" = bad(read_idx(file_with(as.raw(c(0, 0, 8, 3, 0, 0)))), "rustnn_error_file"),
  "read_idx() of a number" = bad(read_idx(42), "rustnn_error_argument", "path"),
  "Fashion-MNIST from nowhere" = bad(load_fashion_mnist(file.path(tempdir(), "nowhere")), "rustnn_error")
)

if (exists("load_model", envir = asNamespace("rustnn")) && exists("save_model", envir = asNamespace("rustnn"))) {
  corpus <- c(corpus, list(
    "load_model() of a missing file" = bad(load_model(file.path(tempdir(), "no-such-model")), "rustnn_error"),
    "load_model() of a number" = bad(load_model(42), "rustnn_error_argument", "path"),
    "load_model() of an empty file" = bad(load_model(file_with(raw(0))), "rustnn_error"),
    "load_model() of random bytes" = bad(load_model(file_with(as.raw(sample(0:255, 500, replace = TRUE)))), "rustnn_error"),
    "load_model() of an RDS file" = bad(load_model(dense_rds), "rustnn_error"),
    "load_model() of a truncated file" = bad(load_model(file_with(model_bytes[seq_len(length(model_bytes) %/% 2)])),
                                             "rustnn_error"),
    "load_model() of a file with flipped bytes" = bad({
      damaged <- model_bytes
      middle <- length(damaged) %/% 2 + 0:7
      damaged[middle] <- as.raw(255 - as.integer(damaged[middle]))
      load_model(file_with(damaged))
    }, "rustnn_error"),
    "load_model() of a file with bytes appended" = bad(load_model(file_with(c(model_bytes, as.raw(1:10)))), "rustnn_error"),
    "save_model() of a string" = bad(save_model("model", tempfile()), "rustnn_error_argument", "model"),
    "save_model() of a corrupted model" = bad(save_model(corrupt(trained(), function(p) p$.state$params[[1]]$weight[] <- NA),
                                                         tempfile()), "rustnn_error")
  ))
}

# Runs every entry in this (child) process: the result, then a liveness
# probe (a fresh model trains and predicts, the options are intact, plain R
# still computes). The name of each entry is appended to `progress` before
# it runs, and the results so far are saved to `partial` after it. One
# thread: starting thread pools for every model would cost more than the
# calls themselves.
run_corpus <- function(corpus, fixtures, progress, partial) {
  suppressPackageStartupMessages(library(rustnn))
  options(rustnn.verbose = 0, rustnn.threads = 1)
  env <- new.env()
  eval(fixtures, env)
  probe <- function() {
    set.seed(1)
    px <- matrix(runif(20), 10)
    model <- Sequential$new(Linear$new(2, 3), ReLU$new(), Linear$new(3, 1))
    fit(model, px, px[, 1] - px[, 2], epochs = 2, batch_size = 5, verbose = 0)
    out <- predict(model, px)
    isTRUE(all(is.finite(out))) && identical(dim(out), c(10L, 1L)) &&
      identical(default_threads(), 1L) && 1 + 1 == 2
  }
  results <- list()
  for (name in names(corpus)) {
    cat(name, "\n", sep = "", file = progress, append = TRUE)
    outcome <- tryCatch({
      eval(corpus[[name]]$expr, new.env(parent = env))
      list(signalled = "nothing")
    }, error = function(e) {
      list(signalled = "error", class = class(e), arg = e$arg,
           message = cli::ansi_strip(conditionMessage(e)))
    }, warning = function(w) {
      list(signalled = "warning", class = class(w), message = conditionMessage(w))
    })
    outcome$alive <- tryCatch(probe(), error = function(e) FALSE, warning = function(w) FALSE)
    results[[name]] <- outcome
    saveRDS(results, partial)
  }
  results
}

test_that("the corpus has at least 40 bad calls, each with an error class", {
  kinds <- vapply(corpus, `[[`, "", "kind")
  expect_gte(sum(kinds == "error"), 40)
  expect_false(anyDuplicated(names(corpus)) > 0)
  for (entry in corpus) {
    expect_match(entry$class, if (entry$kind == "error") "^rustnn_error" else "^rustnn_warning")
  }
})

progress <- withr::local_tempfile(.local_envir = teardown_env())
partial <- withr::local_tempfile(.local_envir = teardown_env())
child_out <- withr::local_tempfile(.local_envir = teardown_env())
child <- callr::r_bg(run_corpus, args = list(corpus = corpus, fixtures = corpus_fixtures,
                                             progress = progress, partial = partial),
                     stdout = child_out, stderr = "2>&1", package = FALSE)
child$wait(120000)
timed_out <- child$is_alive()
if (timed_out) child$kill()
completed <- tryCatch(child$get_result(), error = function(e) NULL)
# After a crash, the entries that ran before it still count.
results <- if (!is.null(completed)) completed else if (file.exists(partial)) readRDS(partial)
started <- if (file.exists(progress)) readLines(progress) else character()
last_started <- if (length(started)) utils::tail(started, 1) else "(none)"

test_that("one child R process survives the whole corpus", {
  output <- if (file.exists(child_out)) utils::tail(readLines(child_out), 12) else ""
  expect(!timed_out, sprintf("The child was still running after 120 s, in entry \"%s\".", last_started))
  expect(!is.null(completed),
         paste0(sprintf("The child R process died in entry \"%s\" (exit status %s). Its last output:\n",
                        last_started, format(child$get_exit_status())),
                paste(substr(output, 1, 160), collapse = "\n")))
  expect_identical(names(completed), names(corpus))
})

for (name in names(corpus)) {
  test_that(paste0("bad call: ", name), {
    entry <- corpus[[name]]
    res <- results[[name]]
    expect(!is.null(res), sprintf("No result: the child R process died in entry \"%s\".", last_started))
    if (is.null(res)) return()
    got <- function() {
      if (identical(res$signalled, "nothing")) return("no condition")
      sprintf("%s <%s>: %s", if (res$signalled == "error") "an error" else "a warning",
              paste(res$class, collapse = "/"), res$message)
    }
    expect(identical(res$signalled, entry$kind),
           sprintf("Expected a %s of class %s; got %s.", entry$kind, entry$class, got()))
    family <- if (entry$kind == "error") "rustnn_error" else "rustnn_warning"
    expect(family %in% res$class, sprintf("Not a %s: got %s.", family, got()))
    expect(entry$class %in% res$class, sprintf("Expected class %s; got %s.", entry$class, got()))
    if (!is.null(entry$arg)) {
      expect(grepl(entry$arg, res$message, fixed = TRUE),
             sprintf("The message does not name `%s`: %s", entry$arg, res$message))
      if ("rustnn_error_argument" %in% res$class) {
        expect(entry$arg %in% res$arg,
               sprintf("The error's `arg` is %s, not \"%s\".", paste(format(res$arg), collapse = ", "), entry$arg))
      }
    }
    expect(isTRUE(res$alive), "The session did not pass the liveness probe afterwards.")
  })
}
