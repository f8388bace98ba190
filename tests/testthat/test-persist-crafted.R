# A model file is data, never code: crafted files that would run code, load
# packages or exhaust memory under R's own unserialize() are refused with a
# classed error, and the code they carry never runs. Each payload would set
# the environment variable RUSTNN_CRAFTED; the files are made here, from a
# saved model or byte by byte (R's own serialize() cannot write some of
# them without running or loading what they refer to).

sentinel <- "RUSTNN_CRAFTED"
sentinel_call <- function(tag) call("Sys.setenv", RUSTNN_CRAFTED = tag)

# Loads a crafted file: a corrupt-file error, and the sentinel never set.
expect_refused <- function(bytes, pattern = NULL) {
  Sys.unsetenv(sentinel)
  path <- withr::local_tempfile(fileext = ".rnn")
  writeBin(bytes, path)
  err <- expect_error(load_model(path), pattern, class = "rustnn_error_model_corrupt")
  expect_s3_class(err, "rustnn_error_model_file")
  expect_identical(Sys.getenv(sentinel), "")
  invisible(err)
}

# A model file of the given format around serialized bytes.
model_file <- function(data, format = 2L, size = length(data)) {
  z <- memCompress(data, "gzip")
  header <- sprintf("RUSTNN-MODEL %d compression=zlib length=%d%s adler32=%s rustnn=0.0.1\n",
                    format, length(z), if (format >= 2L) sprintf(" size=%.0f", size) else "",
                    rustnn:::adler32_hex(z))
  c(charToRaw(header), z)
}

crafted_model <- function() {
  set.seed(3)
  mlp_sequential(Species ~ ., data = iris, hidden = 4, epochs = 2, verbose = 0)
}

# The payload of a model as load_model() returns it (terms as an object).
payload_of <- function(model) {
  path <- withr::local_tempfile(fileext = ".rnn")
  save_model(model, path)
  bytes <- readBin(path, "raw", file.size(path))
  rustnn:::decode_model_file(bytes, path, rlang::current_env())
}

# A format 2 file of `f(payload)`, `f` editing the payload as the file holds
# it (terms as text), serialized by R (version 3, as format 1 was).
format2_file <- function(f, model = crafted_model()) {
  p <- rustnn:::payload_to_file(payload_of(model))
  model_file(serialize(f(p), NULL, xdr = TRUE, version = 3L))
}

# A format 1 file, as rustnn wrote it before format 2: the terms object
# itself (language, no environment) in the payload.
format1_file <- function(f = identity, model = crafted_model()) {
  p <- payload_of(model)
  p$format <- 1L
  attr(p$model$preprocess$terms, ".Environment") <- NULL
  model_file(serialize(f(p), NULL, xdr = TRUE, version = 3L), format = 1L)
}

writeBin_tmp <- function(bytes, env = parent.frame()) {
  path <- withr::local_tempfile(fileext = ".rnn", .local_envir = env)
  writeBin(bytes, path)
  path
}

# Byte-level pieces of R's XDR serialization (version 2).
xdr_int <- function(...) writeBin(as.integer(c(...)), raw(), size = 4L, endian = "big")
xdr_header <- function() c(charToRaw("X\n"), xdr_int(2L, 0x040200L, 0x020300L))
xdr_chars <- function(s) c(xdr_int(9L, nchar(s, "bytes")), charToRaw(s))
xdr_symbol <- function(s) c(xdr_int(1L), xdr_chars(s))
xdr_strings <- function(...) c(xdr_int(16L, length(c(...))), unlist(lapply(c(...), xdr_chars)))
# Sys.setenv(RUSTNN_CRAFTED = tag) as a call.
xdr_sentinel_call <- function(tag) {
  c(xdr_int(6L), xdr_symbol("Sys.setenv"),
    xdr_int(2L + 1024L), xdr_symbol(sentinel), xdr_strings(tag), xdr_int(254L))
}
# The payload list(format = 2L, <item>): the item sits where a model would.
xdr_in_list <- function(item) {
  c(xdr_header(), xdr_int(19L, 2L), xdr_int(13L, 1L, 2L), item)
}

test_that("existing files still load: format 1 files of version 1002206", {
  for (f in c("mlp", "cnn")) {
    expect_s3_class(load_model(test_path("fixtures", paste0("saved-1002206-", f, ".rnn"))),
                    "Sequential")
  }
  model <- crafted_model()
  back <- load_model(writeBin_tmp(format1_file(model = model)))
  expect_identical(predict(back, iris, type = "prob"), predict(model, iris, type = "prob"))
})

test_that("a hyper-parameter holding a call is refused before anything runs", {
  hyper <- function(p) {
    p$model$optimizer$hyper$lr <- call("{", sentinel_call("hyper"), 0.01)
    p
  }
  expect_refused(format2_file(hyper), "hyper-parameters")
  # The same check guards the payload of an edited in-memory model.
  expect_refused(format1_file(function(p) {
    p$model$optimizer$hyper$lr <- call("{", sentinel_call("hyper"), 0.01)
    p
  }))
})

test_that("code in the formula or its predvars is refused, never run at predict()", {
  predvars <- function(p) {
    p$model$preprocess$terms$predvars <- "list(Species, Sys.setenv(RUSTNN_CRAFTED = 'predvars'), Sepal.Width, Petal.Length, Petal.Width)"
    p
  }
  expect_refused(format2_file(predvars), "Sys.setenv")
  formula <- function(p) {
    p$model$preprocess$terms$formula <- "Species ~ system('echo crafted') + Sepal.Length"
    p
  }
  expect_refused(format2_file(formula), "system")
  # Format 1: the terms as language objects.
  expect_refused(format1_file(function(p) {
    tt <- p$model$preprocess$terms
    pv <- attr(tt, "predvars")
    pv[[3]] <- call("+", pv[[3]], call("nchar", sentinel_call("predvars")))
    attr(p$model$preprocess$terms, "predvars") <- pv
    p
  }), "nchar|Sys.setenv")
  expect_refused(format1_file(function(p) {
    tt <- p$model$preprocess$terms
    tt[[3]] <- call("+", tt[[3]], sentinel_call("formula"))
    p$model$preprocess$terms <- tt
    p
  }), "Sys.setenv")
})

test_that("format 1 terms must be a terms object, whatever else the file holds", {
  terms_as <- function(value) function(p) {
    p$model$preprocess$terms <- value
    p
  }
  expect_refused(format1_file(terms_as("Species ~ .")), "terms")
  expect_refused(format1_file(terms_as(structure(list(text = "Species ~ .", attributes = 5),
                                                  class = "rustnn_language"))), "terms")
  expect_refused(format1_file(terms_as(list(formula = "Species ~ .", predvars = NULL,
                                            dataClasses = NULL))), "terms")
})

test_that("formula text calls only the listed functions, however it names them", {
  refused <- c("y ~ system('id')", "y ~ base::system('id')", "y ~ (function() 1)() + x",
               "y ~ \"Sys.setenv\"(A = 1)", "y ~ I(eval(parse(text = 'q()')))",
               "y ~ do.call('Sys.setenv', list(A = 1))", "y ~ x; Sys.setenv(A = 1)",
               "y ~ get('system')('id')", "y ~ utils::head(x)", "y ~ x[, 1]",
               "Sys.setenv(A = 1)", "y ~ `(`(x)(1)")
  for (text in refused) {
    expect_error(rustnn:::terms_from_file(list(formula = text, predvars = NULL, dataClasses = NULL)),
                 class = "rustnn_error_model_corrupt")
  }
  ok <- c("y ~ x", "y ~ log(x) + I(x^2) + poly(z, 2) - 1", "y ~ stats::poly(x, 3) * f",
          "y ~ splines::ns(x, 3) + offset(log(w))", "~ x + z", "y ~ .^2")
  for (text in ok[-6]) {
    tt <- rustnn:::terms_from_file(list(formula = text, predvars = NULL, dataClasses = NULL))
    expect_s3_class(tt, "terms")
  }
})

test_that("a promise is refused without being forced", {
  promise <- c(xdr_int(5L + 1024L), xdr_int(253L), xdr_int(252L), xdr_sentinel_call("promise"))
  expect_refused(model_file(c(xdr_header(), promise)), "promise")
  expect_refused(model_file(xdr_in_list(promise)), "promise")
  expect_refused(model_file(c(xdr_header(), promise), format = 1L), "promise")
})

test_that("references to packages are refused without loading them", {
  # A package that ships with R and is not loaded yet.
  pkg <- setdiff(c("stats4", "tcltk", "splines", "grid", "compiler"), loadedNamespaces())[1]
  expect_false(is.na(pkg))
  namespace <- c(xdr_int(249L), xdr_int(0L, 2L), xdr_chars(pkg), xdr_chars("4.2.0"))
  expect_refused(model_file(xdr_in_list(namespace)), "namespace")
  package <- c(xdr_int(248L), xdr_int(0L, 1L), xdr_chars(paste0("package:", pkg)))
  expect_refused(model_file(xdr_in_list(package)), "package")
  # A compact vector whose class a package would provide.
  altrep <- c(xdr_int(238L), xdr_int(2L), xdr_symbol("crafted_seq"), xdr_int(2L),
              xdr_symbol(pkg), xdr_int(2L), xdr_int(13L, 1L, 13L), xdr_int(254L),
              xdr_int(13L, 1L, 1L), xdr_int(254L))
  expect_refused(model_file(xdr_in_list(altrep)), pkg)
  expect_false(isNamespaceLoaded(pkg))
})

test_that("functions, environments, names, S4 objects and raw bytes are refused", {
  refuse <- function(x, pattern) {
    expect_refused(format2_file(function(p) { p$model$history$extra <- x; p }), pattern)
  }
  refuse(function() Sys.setenv(RUSTNN_CRAFTED = "closure"), "function")
  refuse(new.env(), "environment")
  refuse(globalenv(), "environment")
  refuse(quote(x), "name")
  refuse(asS4(1), "S4")
  refuse(as.raw(1:3), "raw")
  refuse(1i, "complex")
  refuse(expression(Sys.setenv(RUSTNN_CRAFTED = "expression")), "expression")
  refuse(pairlist(a = 1), "pairlist")
})

test_that("zlib bombs stop at the size the header declares, or 64 times the file", {
  bomb <- serialize(list(raw(0), double(2^23)), NULL, xdr = TRUE, version = 2L)
  # Format 2: the header declares 1000 bytes.
  expect_refused(model_file(bomb, size = 1000), "more than 1000 bytes")
  expect_refused(model_file(bomb, size = length(bomb) + 1), "not the")
  expect_refused(model_file(bomb, size = 2^32), "size")
  # More than zlib can expand the payload to.
  expect_refused(model_file(bomb, size = 2^31), "size")
  # Format 1 (no size): 64 MiB of zeros compress 1000-fold.
  expect_refused(model_file(bomb, format = 1L), "more than")
})

test_that("deep nesting is refused, not a stack overflow", {
  nested <- function(depth) c(xdr_header(), rep(xdr_int(19L, 1L), depth), xdr_int(254L))
  expect_refused(model_file(nested(1000)), "deeper than 64")
  expect_refused(model_file(nested(100000)), "deeper than 64")
  # Lengths that the bytes cannot hold are refused before any allocation.
  expect_refused(model_file(c(xdr_header(), xdr_int(14L, -1L, 4L, 0L))), "more than they hold")
  expect_refused(model_file(c(xdr_header(), xdr_int(19L, .Machine$integer.max))), "more than they hold")
})

test_that("attributes R would refuse to set are refused, not an R error inside the reader", {
  attr_of <- function(value, name, attr) {
    c(xdr_header(), value, xdr_int(2L + 1024L), xdr_symbol(name), attr, xdr_int(254L))
  }
  pair <- xdr_int(19L + 512L, 2L, 254L, 254L)
  doubles <- c(xdr_int(14L + 512L, 2L), writeBin(c(1, 2), raw(), endian = "big"))
  expect_refused(model_file(attr_of(pair, "names", xdr_strings("a", "b", "c"))), "names")
  expect_refused(model_file(attr_of(pair, "class", xdr_strings("factor"))), "class")
  expect_refused(model_file(attr_of(doubles, "dim", xdr_int(13L, 2L, 5L, 5L))), "dim")
  expect_refused(model_file(attr_of(doubles, "dimnames", c(xdr_int(19L, 1L), xdr_strings("a", "b")))),
                 "dimnames")
  expect_refused(model_file(attr_of(doubles, "tsp", xdr_int(13L, 3L, 1L, 2L, 1L))), "tsp")
  expect_refused(model_file(attr_of(doubles, "", xdr_int(13L, 1L, 1L))), "name")
  nul <- c(xdr_header(), xdr_int(16L, 1L, 9L, 3L), as.raw(c(0x61, 0x00, 0x62)))
  expect_refused(model_file(nul), "NUL")
})

test_that("the reader returns plain data as unserialize() does", {
  read_plain <- function(x, version = 3L) {
    z <- memCompress(serialize(x, NULL, xdr = TRUE, version = version), "gzip")
    rustnn:::rn_read_model_data(z, 1e7, FALSE)
  }
  x <- list(NULL, TRUE, NA, 1:10, c(a = 1.5, b = NA, c = NaN, d = -Inf), "\u00e9t\u00e9",
            c(NA, "b"), matrix(1:6, 2, dimnames = list(c("r1", "r2"), NULL)),
            factor(c("u", "v", "u")), data.frame(x = 1:3, y = c("a", "b", "c")),
            list(list(list())), seq(2, 20, by = 2), as.character(1:5), rev(1:4 + 0.5),
            iconv("caf\xe9", "latin1", "latin1"))
  expect_identical(read_plain(x), x)
  expect_identical(read_plain(x, version = 2L), x)
})

test_that("save_model() refuses formulas that would not load back", {
  # A formula's function is looked up in the global environment.
  assign("rustnn_crafted_fun", function(x) x, envir = globalenv())
  withr::defer(rm("rustnn_crafted_fun", envir = globalenv()))
  d <- data.frame(y = c(0, 1, 1, 0, 1, 0), x = 1:6)
  set.seed(1)
  model <- mlp_sequential(y ~ rustnn_crafted_fun(x), data = d, hidden = 2, epochs = 1, verbose = 0)
  path <- withr::local_tempfile(fileext = ".rnn")
  expect_error(save_model(model, path), "rustnn_crafted_fun", class = "rustnn_error_model_write")
  expect_false(file.exists(path))
})

test_that("formulas with many terms and transformations round-trip", {
  set.seed(5)
  d <- as.data.frame(matrix(runif(20 * 300), 20))
  d$y <- runif(20)
  model <- mlp_sequential(y ~ ., data = d, hidden = 2, epochs = 1, verbose = 0)
  for (file in list(format1_file(model = model), format2_file(identity, model = model))) {
    back <- load_model(writeBin_tmp(file))
    expect_identical(predict(back, d), predict(model, d))
  }
  d2 <- data.frame(y = runif(30), x = runif(30, 1, 2), f = factor(rep(c("a", "b", "c"), 10)))
  model <- mlp_sequential(y ~ poly(x, 2) + log(x) + scale(x) + I(x^2):f, data = d2, hidden = 2, epochs = 1,
               verbose = 0)
  for (file in list(format1_file(model = model), format2_file(identity, model = model))) {
    back <- load_model(writeBin_tmp(file))
    expect_identical(predict(back, d2), predict(model, d2))
  }
})

test_that("refusals say what the file holds", {
  withr::local_dir(withr::local_tempdir())
  promise <- c(xdr_int(5L + 1024L), xdr_int(253L), xdr_int(252L), xdr_sentinel_call("promise"))
  writeBin(model_file(c(xdr_header(), promise)), "promise.rnn")
  expect_snapshot(error = TRUE, load_model("promise.rnn"))
  writeBin(format2_file(function(p) {
    p$model$preprocess$terms$formula <- "Species ~ system('id')"
    p
  }), "formula.rnn")
  expect_snapshot(error = TRUE, load_model("formula.rnn"))
})

test_that("payloads that would expand far beyond their size are refused early", {
  # A call naming one long symbol many times: each reference is 4 bytes.
  long <- as.name(strrep("a", 9999))
  references <- as.call(c(list(as.name("f")), rep(list(long), 5000)))
  expect_refused(format2_file(function(p) { p$model$history$extra <- references; p }), "expand")
  # Compact sequences, each a few bytes, together millions of values.
  sequences <- lapply(1:30, function(i) i:(i + 999999L))
  bytes <- serialize(sequences, NULL, xdr = TRUE, version = 3L)
  expect_lt(length(bytes), 5000)
  out <- rustnn:::rn_read_model_data(memCompress(bytes, "gzip"), 1e8, FALSE)
  expect_s3_class(out, "rustnn_engine_error")
  expect_match(out$message, "expand")
})
