# save_model()/load_model(): round trips that keep predictions and training
# bit for bit, a classed error for every kind of bad file, saves that never
# destroy an existing file; and the R-object ways of keeping a model
# (saveRDS, serialize, a parallel worker).

params_of <- function(model) lapply(model$layers, function(l) l$params)

round_trip <- function(model) {
  path <- withr::local_tempfile(fileext = ".rnn", .local_envir = parent.frame())
  expect_identical(save_model(model, path), path)
  load_model(path)
}

# A small image data set: 8 x 8 one-channel images, two classes.
image_data <- function(n = 24) {
  set.seed(11)
  x <- array(runif(n * 8 * 8), c(n, 8, 8))
  list(x = x, y = factor(ifelse(apply(x[, 1:4, ], 1, mean) > 0.5, "bright", "dark")))
}

cnn <- function(dtype = "float32") {
  set.seed(12)
  Sequential$new(Conv2d$new(1, 3, 3), BatchNorm$new(3), ReLU$new(), MaxPool2d$new(2),
                 Dropout$new(0.25), Flatten$new(), Linear$new(3 * 3 * 3, 2), Softmax$new(),
                 dtype = dtype)
}

# The bytes of a saved model, and a file holding other bytes.
saved_bytes <- function(model, env = parent.frame()) {
  path <- withr::local_tempfile(fileext = ".rnn", .local_envir = env)
  save_model(model, path)
  list(path = path, bytes = readBin(path, "raw", file.size(path)))
}

bytes_file <- function(bytes, env = parent.frame()) {
  path <- withr::local_tempfile(fileext = ".rnn", .local_envir = env)
  writeBin(bytes, path)
  path
}

# A file whose payload is `f(payload)` of a saved model's, with a valid
# header and checksum: the damage is only in what the data say.
edited_file <- function(saved, f, env = parent.frame()) {
  payload <- rustnn:::decode_model_file(saved$bytes, saved$path, rlang::current_env())
  bytes_file(rustnn:::encode_model_file(f(payload)), env)
}

header_end <- function(bytes) match(as.raw(10L), bytes)

# Replaces an internal function of rustnn until the calling test ends.
mock_internal <- function(name, value, env = parent.frame()) {
  ns <- asNamespace("rustnn")
  old <- get(name, envir = ns)
  set <- function(f) {
    unlockBinding(name, ns)
    assign(name, f, envir = ns)
    lockBinding(name, ns)
  }
  set(value)
  withr::defer(set(old), envir = env)
}

trained_mlp <- function(dtype) {
  set.seed(1)
  mlp_sequential(Species ~ ., data = iris, hidden = c(8, 6), dropout = 0.1, epochs = 5, batch_size = 16,
      optimizer = Adam$new(lr = 0.02), dtype = dtype, verbose = 0)
}

test_that("a trained MLP with a factor target round-trips exactly, in float32 and float64", {
  for (dtype in c("float32", "float64")) {
    model <- trained_mlp(dtype)
    back <- round_trip(model)
    expect_s3_class(back, "Sequential")
    expect_identical(back$dtype, dtype)
    expect_identical(predict(back, iris), predict(model, iris))
    expect_identical(predict(back, iris, type = "prob"), predict(model, iris, type = "prob"))
    expect_identical(predict(back, iris, type = "class"), predict(model, iris, type = "class"))
    expect_identical(levels(predict(back, iris, type = "class")), levels(iris$Species))
    expect_identical(params_of(back), params_of(model))
    expect_identical(back$history, model$history)
    expect_identical(back$input_shape, model$input_shape)
    expect_identical(evaluate(back, Species ~ ., data = iris), evaluate(model, Species ~ ., data = iris))
    expect_identical(format(back), format(model))
  }
})

test_that("training continues from a loaded model exactly as from the original", {
  for (dtype in c("float32", "float64")) {
    model <- trained_mlp(dtype)
    back <- round_trip(model)
    opt <- back$.get_state()$optimizer
    expect_s3_class(opt, "Adam")
    expect_identical(opt$lr, 0.02)
    expect_identical(back$.get_state()$optimizer_state, model$.get_state()$optimizer_state)
    expect_gt(length(back$.get_state()$optimizer_state$slots), 0)

    set.seed(5)
    fit(model, Species ~ ., data = iris, epochs = 3, batch_size = 16, verbose = 0)
    set.seed(5)
    fit(back, Species ~ ., data = iris, epochs = 3, batch_size = 16, verbose = 0)
    expect_identical(params_of(back), params_of(model))
    expect_identical(back$.get_state()$optimizer_state, model$.get_state()$optimizer_state)
    expect_identical(back$history, model$history)
  }
})

test_that("every optimizer is restored with its hyper-parameters and state", {
  set.seed(2)
  x <- matrix(rnorm(80), ncol = 4)
  y <- x %*% c(1, -1, 0.5, 2) + rnorm(20, sd = 0.1)
  optimizers <- list(SGD$new(lr = 0.05), SGD$new(lr = 0.05, momentum = 0.9, nesterov = TRUE),
                     Adam$new(lr = 0.01, weight_decay = 0.001), AdamW$new(lr = 0.01),
                     RMSprop$new(lr = 0.01), RMSprop$new(lr = 0.01, momentum = 0.5),
                     Adagrad$new(lr = 0.1))
  for (opt in optimizers) {
    set.seed(3)
    model <- Sequential$new(Linear$new(4, 5), Tanh$new(), Linear$new(5, 1), dtype = "float64")
    fit(model, x, y, optimizer = opt, epochs = 4, batch_size = 5, verbose = 0)
    back <- round_trip(model)
    restored <- back$.get_state()$optimizer
    expect_identical(class(restored), class(opt))
    expect_identical(restored$.description(), model$.get_state()$optimizer$.description())

    set.seed(4)
    fit(model, x, y, epochs = 2, batch_size = 5, verbose = 0)
    set.seed(4)
    fit(back, x, y, epochs = 2, batch_size = 5, verbose = 0)
    expect_identical(params_of(back), params_of(model))
  }
})

test_that("a CNN with batch normalization and dropout round-trips and keeps training identically", {
  d <- image_data()
  for (dtype in c("float32", "float64")) {
    model <- cnn(dtype)
    fit(model, d$x, d$y, optimizer = Adam$new(lr = 0.01), epochs = 3, batch_size = 8, verbose = 0)
    back <- round_trip(model)
    expect_identical(back$input_shape, c(1L, 8L, 8L))
    expect_identical(predict(back, d$x, type = "prob"), predict(model, d$x, type = "prob"))
    expect_identical(predict(back, d$x, type = "class"), predict(model, d$x, type = "class"))
    expect_identical(params_of(back)[[2]], params_of(model)[[2]]) # running statistics too
    expect_identical(summary(back), summary(model))

    set.seed(6)
    fit(model, d$x, d$y, epochs = 2, batch_size = 8, verbose = 0)
    set.seed(6)
    fit(back, d$x, d$y, epochs = 2, batch_size = 8, verbose = 0)
    expect_identical(params_of(back), params_of(model))
  }
})

test_that("untrained models round-trip, including an image model that has not seen data", {
  set.seed(7)
  dense <- Sequential$new(Linear$new(3, 4, l2 = 0.01), LeakyReLU$new(0.2), Linear$new(4, 2),
                          ELU$new(0.5), GELU$new(), Softplus$new(), Identity$new(), Sigmoid$new())
  back <- round_trip(dense)
  expect_identical(params_of(back), params_of(dense)) # not rounded to float32
  x <- matrix(rnorm(12), ncol = 3)
  expect_identical(predict(back, x), predict(dense, x))
  expect_null(back$history)
  expect_null(back$.get_state()$optimizer)

  images <- Sequential$new(Conv2d$new(1, 2, 3, stride = 2, padding = 1), AvgPool2d$new(2),
                           Flatten$new(), Linear$new(2 * 2 * 2, 1))
  back <- round_trip(images)
  expect_null(back$.get_state()$input_shape)
  x <- array(runif(3 * 8 * 8), c(3, 8, 8))
  expect_identical(predict(back, x), predict(images, x))
})

test_that("a numeric-target model with standardized matrix inputs round-trips", {
  set.seed(8)
  x <- matrix(rnorm(60, mean = 10, sd = 3), ncol = 3)
  y <- cbind(a = x[, 1] - x[, 2], b = x[, 3])
  model <- mlp_sequential(x, y, hidden = 4, epochs = 3, verbose = 0)
  back <- round_trip(model)
  expect_identical(back$.get_state()$preprocess, model$.get_state()$preprocess)
  expect_identical(predict(back, x), predict(model, x))
})

test_that("load_model() leaves R's random numbers as they were", {
  model <- trained_mlp("float32")
  path <- withr::local_tempfile(fileext = ".rnn")
  save_model(model, path)
  set.seed(99)
  before <- .Random.seed
  load_model(path)
  expect_identical(.Random.seed, before)
})

test_that("the header line is readable and the checksum is zlib's Adler-32", {
  s <- saved_bytes(trained_mlp("float32"))
  header <- rawToChar(s$bytes[seq_len(header_end(s$bytes) - 1L)])
  expect_match(header, "^RUSTNN-MODEL 2 compression=zlib length=[0-9]+ size=[0-9]+ adler32=[0-9a-f]{8} rustnn=[0-9.]+$")
  expect_identical(as.numeric(sub(".*length=([0-9]+).*", "\\1", header)),
                   as.numeric(length(s$bytes) - header_end(s$bytes)))
  # memCompress() ends its zlib stream with the data's Adler-32.
  data <- serialize(iris, NULL)
  expect_identical(rustnn:::adler32_hex(data),
                   paste(as.character(utils::tail(memCompress(data, "gzip"), 4L)), collapse = ""))
  expect_identical(rustnn:::adler32_hex(raw(0)), "00000001")
})

test_that("load_model() gives a classed error for a missing, unreadable or foreign file", {
  expect_error(load_model(file.path(tempdir(), "no-such-model.rnn")),
               class = "rustnn_error_model_missing")
  expect_error(load_model(tempdir()), class = "rustnn_error_model_unreadable")
  expect_error(load_model(tempdir()), class = "rustnn_error_model_file")
  expect_error(load_model(c("a", "b")), class = "rustnn_error_argument")
  expect_error(load_model(NA_character_), class = "rustnn_error_argument")

  empty <- bytes_file(raw(0))
  expect_error(load_model(empty), class = "rustnn_error_model_truncated")

  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(iris, rds)
  expect_error(load_model(rds), class = "rustnn_error_model_not_rustnn")
  expect_error(load_model(rds), "readRDS")
  saveRDS(trained_mlp("float32"), rds)
  expect_error(load_model(rds), class = "rustnn_error_model_not_rustnn")
  expect_error(load_model(bytes_file(charToRaw("hello, world\n"))),
               class = "rustnn_error_model_not_rustnn")
  expect_error(load_model(bytes_file(charToRaw("RUSTNN-MODELS 1\n"))),
               class = "rustnn_error_model_not_rustnn")

  err <- tryCatch(load_model(empty), error = identity)
  expect_s3_class(err, c("rustnn_error_model_truncated", "rustnn_error_model_file", "rustnn_error"))
})

test_that("every prefix of a model file is reported as truncated", {
  s <- saved_bytes(trained_mlp("float32"))
  n <- length(s$bytes)
  end <- header_end(s$bytes)
  for (k in unique(c(1, 5, 12, 13, 20, end - 1, end, end + 1, end + 100, n - 1))) {
    expect_error(load_model(bytes_file(s$bytes[seq_len(k)])), class = "rustnn_error_model_truncated")
  }
})

test_that("a file of a newer format version is refused as such", {
  here <- environment()
  s <- saved_bytes(trained_mlp("float32"))
  end <- header_end(s$bytes)
  header <- rawToChar(s$bytes[seq_len(end - 1L)])
  newer <- function(h) bytes_file(c(charToRaw(h), as.raw(10L), s$bytes[-seq_len(end)]), here)
  expect_error(load_model(newer(sub("^RUSTNN-MODEL 2 ", "RUSTNN-MODEL 3 ", header))),
               class = "rustnn_error_model_version")
  # Whatever a later format puts after its version.
  expect_error(load_model(newer("RUSTNN-MODEL 17 brand new fields rustnn=9.0.0")),
               class = "rustnn_error_model_version")
  expect_error(load_model(newer("RUSTNN-MODEL 17 brand new fields rustnn=9.0.0")), "9.0.0")
})

test_that("damaged headers and payloads are reported as corrupt", {
  s <- saved_bytes(trained_mlp("float32"))
  end <- header_end(s$bytes)
  header <- rawToChar(s$bytes[seq_len(end - 1L)])
  payload <- s$bytes[-seq_len(end)]
  here <- environment()
  with_header <- function(h, p = payload) bytes_file(c(charToRaw(h), as.raw(10L), p), here)
  corrupt <- "rustnn_error_model_corrupt"

  expect_error(load_model(with_header("RUSTNN-MODEL x")), class = corrupt)
  expect_error(load_model(with_header("RUSTNN-MODEL 0 compression=zlib")), class = corrupt)
  expect_error(load_model(with_header(sub("length=[0-9]+", "length=abc", header))), class = corrupt)
  expect_error(load_model(with_header(sub("compression=zlib", "compression=lz4", header))), class = corrupt)
  expect_error(load_model(with_header(sub(" adler32=[0-9a-f]+", "", header))), class = corrupt)
  expect_error(load_model(bytes_file(c(charToRaw("RUSTNN-MODEL 1 "), charToRaw(strrep("x", 2000))))),
               class = corrupt)
  # Bytes after the payload.
  expect_error(load_model(bytes_file(c(s$bytes, as.raw(0L)))), class = corrupt)

  # A correct header over garbage: the checksum catches it.
  set.seed(1)
  garbage <- as.raw(sample(0:255, length(payload), replace = TRUE))
  expect_error(load_model(with_header(header, garbage)), class = corrupt)
  flipped <- payload
  flipped[length(flipped) %/% 2] <- xor(flipped[length(flipped) %/% 2], as.raw(1L))
  expect_error(load_model(with_header(header, flipped)), class = corrupt)
  # Garbage with a matching checksum: it does not decompress.
  zeros <- raw(length(payload))
  expect_error(load_model(with_header(sub("adler32=[0-9a-f]+", paste0("adler32=", rustnn:::adler32_hex(zeros)), header),
                                      zeros)),
               class = corrupt)
  # A valid zlib stream of bytes that are not an R serialization.
  junk <- memCompress(charToRaw("not a serialization"), "gzip")
  junk_header <- sprintf("RUSTNN-MODEL 1 compression=zlib length=%d adler32=%s", length(junk),
                         rustnn:::adler32_hex(junk))
  expect_error(load_model(with_header(junk_header, junk)), class = corrupt)
})

test_that("a payload that does not describe a valid model is corrupt, not a half-built model", {
  s <- saved_bytes(trained_mlp("float32"))
  corrupt <- "rustnn_error_model_corrupt"
  bad <- function(f) load_model(edited_file(s, f))

  # A weight of the wrong shape, a missing or extra parameter.
  expect_error(bad(function(p) {
    w <- p$model$params[[1]]$weight
    p$model$params[[1]]$weight <- w[-1, , drop = FALSE]
    p
  }), class = corrupt)
  expect_error(bad(function(p) { p$model$params[[1]]$weight <- t(p$model$params[[1]]$weight); p }),
               class = corrupt)
  expect_error(bad(function(p) { p$model$params[[1]]$bias <- NULL; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$params[[1]]$bias[1] <- NaN; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$params[[2]] <- list(weight = 1); p }), class = corrupt)
  expect_error(bad(function(p) { storage.mode(p$model$params[[1]]$weight) <- "integer"; p }),
               class = corrupt)
  err <- tryCatch(bad(function(p) {
    p$model$params[[1]]$weight <- p$model$params[[1]]$weight[-1, , drop = FALSE]
    p
  }), error = identity)
  expect_match(conditionMessage(err), "layer 1", ignore.case = TRUE)

  # Layers that do not fit, unknown types and settings.
  expect_error(bad(function(p) { p$model$specs[[1]]$in_features <- 5L; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$specs[[2]]$type <- "swish"; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$specs[[2]]$alpha <- 0.1; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$specs[[3]]$rate <- 1.5; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$specs <- p$model$specs[-1]; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$dtype <- "float16"; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$input_shape <- c(0L, 1L); p }), class = corrupt)

  # Training information.
  expect_error(bad(function(p) { p$model$target$levels <- c("a", "b", "c", "d"); p }), class = corrupt)
  expect_error(bad(function(p) { p$model$target$levels <- c("a", "a", "b"); p }), class = corrupt)
  expect_error(bad(function(p) { p$model$loss <- "hinge"; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$loss <- "cross_entropy"; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$loss <- list(name = "huber", delta = -1); p }), class = corrupt)
  expect_error(bad(function(p) { p$model$loss <- list(name = "mse", delta = 2); p }), class = corrupt)
  expect_error(bad(function(p) { p$model$preprocess <- c(p$model$preprocess, list(NULL)); p }),
               class = corrupt)
  expect_error(bad(function(p) { p$model$preprocess$scale[1] <- 0; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$preprocess$terms <- "Species ~ ."; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$history <- unclass(p$model$history); p }), class = corrupt)
  expect_error(bad(function(p) { p$model$optimizer$class <- "Nadam"; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$optimizer$hyper$lr <- -1; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$optimizer$hyper$gamma <- 1; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$optimizer$state$slots <- p$model$optimizer$state$slots[-1]; p }),
               class = corrupt)
  expect_error(bad(function(p) {
    p$model$optimizer$state$slots[[1]] <- c(p$model$optimizer$state$slots[[1]], 0)
    p
  }), class = corrupt)
  expect_error(bad(function(p) { p$model$optimizer$state$steps <- -1; p }), class = corrupt)

  # Not plain data, not the right structure.
  expect_error(bad(function(p) { p$model$history$env <- new.env(); p }), class = corrupt)
  expect_error(bad(function(p) { p$model$loss <- function() "mse"; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$specs[[1]]$env <- globalenv(); p }), class = corrupt)
  expect_error(bad(function(p) { p$model$optimizer <- Adam$new(); p }), class = corrupt)
  expect_error(bad(function(p) 1:3), class = corrupt)
  expect_error(bad(function(p) { p$format <- 1L; p }), class = corrupt)
  expect_error(bad(function(p) { p$class <- "Graph"; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$extra <- 1; p }), class = corrupt)
  expect_error(bad(function(p) { p$model$specs[[1]] <- "linear"; p }), class = corrupt)

  # The unedited payload loads: the edits above were the only problem.
  expect_s3_class(bad(identity), "Sequential")
})

test_that("save_model() checks its arguments", {
  model <- trained_mlp("float32")
  expect_error(save_model(iris, tempfile()), class = "rustnn_error_argument")
  expect_error(save_model(model, c("a", "b")), class = "rustnn_error_argument")
  expect_error(save_model(model, NA_character_), class = "rustnn_error_argument")
  expect_error(save_model(model, 1), class = "rustnn_error_argument")
  expect_error(save_model(model, tempdir()), class = "rustnn_error_argument")
  expect_error(save_model(model, file.path(tempdir(), "no-such-dir", "m.rnn")),
               class = "rustnn_error_argument")
  err <- tryCatch(save_model(model, 1), error = identity)
  expect_identical(err$arg, "path")
  err <- tryCatch(save_model(iris, tempfile()), error = identity)
  expect_identical(err$arg, "model")
})

test_that("a save that fails midway leaves the existing file as it was, and no temporary file", {
  dir <- withr::local_tempdir()
  path <- file.path(dir, "model.rnn")
  first <- trained_mlp("float32")
  save_model(first, path)
  before <- readBin(path, "raw", file.size(path))
  second <- trained_mlp("float64")
  check_intact <- function() {
    expect_identical(list.files(dir, all.files = TRUE, no.. = TRUE), "model.rnn")
    expect_identical(readBin(path, "raw", file.size(path) + 1), before)
    expect_identical(predict(load_model(path), iris), predict(first, iris))
  }

  local({
    # The write stops halfway, as on a full disk or a crash.
    mock_internal("write_model_file", function(bytes, file) {
      writeBin(bytes[seq_len(length(bytes) %/% 2)], file)
      stop("No space left on device")
    })
    expect_error(save_model(second, path), class = "rustnn_error_model_write")
    expect_error(save_model(second, path), "No space left")
  })
  check_intact()

  local({
    # The write "succeeds" but the file holds fewer bytes.
    mock_internal("write_model_file", function(bytes, file) writeBin(bytes[-1], file))
    expect_error(save_model(second, path), class = "rustnn_error_model_write")
  })
  check_intact()

  local({
    # Serialization fails before anything is written.
    mock_internal("encode_model_file", function(payload) stop("cannot serialize"))
    expect_error(save_model(second, path), class = "rustnn_error_model_write")
    expect_error(save_model(second, path), "cannot serialize")
  })
  check_intact()

  local({
    mock_internal("replace_file", function(from, to) stop("rename failed"))
    expect_error(save_model(second, path), class = "rustnn_error_model_write")
  })
  check_intact()

  local({
    # An interrupt during the write.
    mock_internal("write_model_file", function(bytes, file) {
      writeBin(bytes[1:10], file)
      rlang::interrupt()
    })
    got <- tryCatch(save_model(second, path), interrupt = function(cnd) "interrupted")
    expect_identical(got, "interrupted")
  })
  check_intact()

  # A model that cannot be stored is refused before any file is touched.
  local({
    mock_internal("plain_optimizer", function(opt) list(class = "Nadam", hyper = list(), state = NULL))
    expect_error(save_model(second, path), class = "rustnn_error_model_write")
  })
  check_intact()

  # And a save that works replaces the file.
  save_model(second, path)
  expect_identical(list.files(dir, all.files = TRUE, no.. = TRUE), "model.rnn")
  expect_identical(predict(load_model(path), iris), predict(second, iris))
})

test_that("save_model() replaces the target of a symbolic link, not the link", {
  skip_on_os("windows")
  dir <- withr::local_tempdir()
  real <- file.path(dir, "real.rnn")
  link <- file.path(dir, "link.rnn")
  model <- trained_mlp("float32")
  save_model(model, real)
  file.symlink(real, link)
  save_model(trained_mlp("float64"), link)
  expect_true(nzchar(Sys.readlink(link)))
  expect_identical(load_model(real)$dtype, "float64")
})

test_that("the last loss keeps its settings through save_model() and saveRDS()", {
  set.seed(3)
  x <- matrix(rnorm(100), ncol = 2)
  y <- 3 * x[, 1] + rnorm(50)
  model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), dtype = "float64")
  fit(model, x, y, loss = HuberLoss$new(delta = 0.5), optimizer = SGD$new(lr = 0.05), epochs = 2,
      batch_size = 10, verbose = 0)
  refit <- function(m) {
    set.seed(4)
    fit(m, x, y, epochs = 2, batch_size = 10, verbose = 0)
    params_of(m)
  }
  explicit <- model$clone(deep = TRUE)
  set.seed(4)
  fit(explicit, x, y, loss = HuberLoss$new(delta = 0.5), epochs = 2, batch_size = 10, verbose = 0)
  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(model, rds)
  for (back in list(round_trip(model), readRDS(rds))) {
    expect_identical(back$.get_state()$loss, list(name = "huber", delta = 0.5))
    expect_identical(evaluate(back, x, y), evaluate(model, x, y))
    expect_identical(refit(back), params_of(explicit))
  }
})

test_that("a state kept by an earlier version (bare loss name, NA-named preparation) still works", {
  # Such a state comes from a file (readRDS()): edited, then read back.
  as_kept <- function(model, edit) {
    kept <- unserialize(serialize(model, NULL))
    edit(kept$.__enclos_env__$private)
    unserialize(serialize(kept, NULL))
  }
  trained <- trained_mlp("float64")
  model <- as_kept(trained, function(private) {
    private$.state$loss <- "cross_entropy"
    n <- length(private$.state$preprocess)
    private$.state$preprocess <- c(private$.state$preprocess, list(NULL, NULL))
    names(private$.state$preprocess)[n + 1:2] <- NA
  })
  expect_identical(model$.get_state()$loss, list(name = "cross_entropy", delta = NULL))
  expect_identical(names(model$.get_state()$preprocess),
                   c("terms", "xlevels", "center", "scale", "columns"))
  want <- predict(model, iris, type = "prob")
  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(model, rds)
  for (back in list(round_trip(model), readRDS(rds))) {
    expect_identical(predict(back, iris, type = "prob"), want)
    expect_identical(evaluate(back, Species ~ ., data = iris), evaluate(model, Species ~ ., data = iris))
    expect_identical(back$.get_state()$loss, list(name = "cross_entropy", delta = NULL))
  }
  # A huber loss kept by name had lost its delta: it is read as the default.
  model <- as_kept(trained, function(private) private$.state$loss <- "huber")
  expect_identical(model$.get_state()$loss, list(name = "huber", delta = 1))
  fit(model, Species ~ ., data = iris, loss = "cross_entropy", epochs = 1, verbose = 0)
  expect_identical(model$.__enclos_env__$private$.state$loss, list(name = "cross_entropy", delta = NULL))
})

test_that("saveRDS(), serialize() and clone() keep predictions", {
  model <- trained_mlp("float32")
  want <- predict(model, iris, type = "prob")
  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(model, rds)
  expect_identical(predict(readRDS(rds), iris, type = "prob"), want)
  expect_identical(predict(unserialize(serialize(model, NULL)), iris, type = "prob"), want)
  expect_identical(predict(model$clone(), iris, type = "prob"), want)
  # The model loaded from a file serializes too.
  back <- round_trip(model)
  expect_identical(predict(unserialize(serialize(back, NULL)), iris, type = "prob"), want)
})

test_that("a model goes to a PSOCK worker and back with identical predictions", {
  skip_on_cran()
  model <- trained_mlp("float32")
  d <- image_data()
  image_model <- cnn()
  fit(image_model, d$x, d$y, optimizer = "adam", epochs = 2, batch_size = 8, verbose = 0)

  # Functions sent to the worker take nothing of this test's environment.
  in_worker <- function(f, ...) {
    environment(f) <- globalenv()
    parallel::clusterCall(cl, f, ...)[[1]]
  }
  cl <- parallel::makePSOCKcluster(1)
  withr::defer(parallel::stopCluster(cl))
  in_worker(function(paths) .libPaths(paths), .libPaths())
  in_worker(function() suppressPackageStartupMessages(library(rustnn)))

  remote <- in_worker(function(m, data) predict(m, data, type = "prob"), model, iris)
  expect_identical(remote, predict(model, iris, type = "prob"))
  remote <- in_worker(function(m, x) predict(m, x), image_model, d$x)
  expect_identical(remote, predict(image_model, d$x))

  # Trained in the worker and sent back: the same as training here.
  trained <- in_worker(function(m) {
    set.seed(21)
    fit(m, Species ~ ., data = iris, epochs = 2, verbose = 0)
    m
  }, model)
  set.seed(21)
  fit(model, Species ~ ., data = iris, epochs = 2, verbose = 0)
  expect_identical(predict(trained, iris, type = "prob"), predict(model, iris, type = "prob"))
  expect_identical(params_of(trained), params_of(model))

  # A file saved in the worker loads here.
  path <- withr::local_tempfile(fileext = ".rnn")
  in_worker(function(m, p) save_model(m, p), image_model, path)
  expect_identical(predict(load_model(path), d$x), predict(image_model, d$x))
})

test_that("models saved by an earlier version load, predict as they did, and train on", {
  fixture <- function(name) test_path("fixtures", paste0("saved-1002206-", name))
  expected <- readRDS(fixture("expected.rds"))
  # save_model() files: this version's models, trained on with the saved
  # optimizer state.
  mlp <- load_model(fixture("mlp.rnn"))
  expect_identical(predict(mlp, iris, type = "prob"), expected$mlp)
  expect_gt(mlp$.get_state()$optimizer_state$steps, 0)
  set.seed(1)
  expect_s3_class(fit(mlp, Species ~ ., data = iris, epochs = 1, verbose = 0), "rustnn_history")
  cnn <- load_model(fixture("cnn.rnn"))
  expect_identical(predict(cnn, expected$images), expected$cnn)
  set.seed(1)
  expect_s3_class(fit(cnn, expected$images, expected$labels, epochs = 1, verbose = 0),
                  "rustnn_history")
  # saveRDS() objects carry the earlier version's code: they predict, and
  # fit() says how to make them this version's models.
  old <- readRDS(fixture("mlp.rds"))
  expect_identical(predict(old, iris, type = "prob"), expected$mlp)
  expect_identical(predict(readRDS(fixture("cnn.rds")), expected$images), expected$cnn)
  expect_snapshot(error = TRUE, fit(old, Species ~ ., data = iris, epochs = 1, verbose = 0))
  upgraded <- load_model(save_model(old, withr::local_tempfile(fileext = ".rnn")))
  expect_identical(predict(upgraded, iris, type = "prob"), expected$mlp)
  expect_identical(upgraded$.get_state()$optimizer_state,
                   load_model(fixture("mlp.rnn"))$.get_state()$optimizer_state)
})
