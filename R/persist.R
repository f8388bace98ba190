# save_model() and load_model(): a model in a documented, versioned file.
#
# The file holds plain R data only (lists, vectors, the formula as text),
# never R6 objects or closures: the model is rebuilt on load through the
# public constructors, so files keep loading when the classes change. A file
# is untrusted input: load_model() never evaluates, forces or loads anything
# in it (the payload is read by rn_read_model_data(), not unserialize(); the
# formula is parsed and checked, see persist-terms.R). The steps, each with
# its own error class:
#
#   save: check arguments -> plain payload -> rebuild a model from it and
#         check it is the same (a file that cannot load is never written)
#         -> bytes -> temporary file beside `path` -> read back -> rename.
#   load: read bytes -> header (magic, format version, length, size,
#         checksum) -> decompress (bounded) and read plain data -> terms
#         from checked text -> check every field -> rebuild -> check the
#         rebuilt model is the one described.

#' Save a model to a file, and load it back
#'
#' @description
#' `save_model()` writes everything needed to use a [Sequential] model and
#' to continue training it exactly where it stopped: the layers and their
#' settings, the weights (and batch normalization's running statistics),
#' the dtype and input shape, how new data is prepared (the formula's terms
#' and factor levels, the standardization of [rustnn_mlp()]), the classes of a
#' factor target, the loss, the training history, and the last optimizer
#' used by [fit()][fit.Sequential], with its hyper-parameters and its state
#' (step count and moment or velocity buffers). `load_model()` reads such a
#' file back into a new model: its predictions are identical to the saved
#' model's, and a `fit()` continuing from it gives the same weights as the
#' same `fit()` continuing from the original.
#'
#' Unlike [saveRDS()], which stores the R6 objects themselves, the file
#' holds plain data in a format documented below, with a version number, a
#' length and a checksum: files written by this version of rustnn will load
#' in later versions, and a damaged file is reported as such rather than
#' loading as a broken model. A model file is data, never code: unlike
#' [readRDS()], `load_model()` runs nothing a file holds (see "Untrusted
#' files" below).
#'
#' `save_model()` never destroys an existing file when it fails: it first
#' checks that a model can be rebuilt from what it is about to write, then
#' writes to a temporary file in the directory of `path`, reads it back to
#' check it, and only then renames it to `path` (replacing any file there).
#' If anything fails or is interrupted, the temporary file is removed and
#' `path` is untouched. `load_model()` checks the whole file before building
#' the model, so it returns a complete model or fails with an error: it
#' does not change R's random number stream, either.
#'
#' @section File format:
#' A file is one header line of ASCII text followed by the payload (format
#' version 2):
#'
#' ```
#' RUSTNN-MODEL 2 compression=zlib length=<n> size=<m> adler32=<8 hex digits> rustnn=<version>\n
#' <n bytes of payload>
#' ```
#'
#' * The header starts with the magic `RUSTNN-MODEL`, a space, and the
#'   format version as decimal digits; this much will stay the same in
#'   every version of the format. The line ends with a newline (byte 10)
#'   within the first 1024 bytes of the file. Space-separated `key=value`
#'   fields follow: `compression` (always `zlib`), `length` (the payload's
#'   size in bytes, decimal), `size` (the size of the decompressed payload,
#'   decimal: at most 2^31 bytes, and at most 1032 times `length`, the most
#'   zlib expands), `adler32` (the Adler-32 checksum of the payload's bytes,
#'   as zlib computes it, in lowercase hexadecimal) and `rustnn` (the
#'   version of the package that wrote the file, for information). Unknown
#'   fields are ignored.
#' * The payload is exactly `length` bytes: a zlib stream (RFC 1950, as
#'   written by `memCompress(type = "gzip")`) of exactly `size` bytes
#'   holding an R serialization ([serialize()], XDR, version 2 as written
#'   or version 3) of a list of plain data: logical, integer, double and
#'   character vectors and lists, with attributes of the same (names, dim,
#'   dimnames, levels, class, ...), nested at most 64 deep, with at most
#'   2^22 list elements and strings in all. Nothing follows the payload.
#'
#' The list has the elements `format` (`2L`, the header's version), `class`
#' (`"Sequential"`), `rustnn_version` and `r_version` (of the writer, as
#' strings), and `model`, a list of:
#'
#' * `dtype`: `"float32"` or `"float64"`.
#' * `input_shape`: `NULL` or the shape of one sample, an integer vector
#'   (`c(features)` or `c(channels, height, width)`).
#' * `specs`: one list per layer: `type` (the engine's name: `"linear"`,
#'   `"conv2d"`, `"relu"`, ...), `in_features` and `out_features` (integers,
#'   `NA` where the layer has none), then the layer's settings by name
#'   (`l1`, `l2`, `rate`, `alpha`, `kernel_size`, `stride`, `padding`,
#'   `eps`, `momentum`), as the layer's constructor stores them.
#' * `params`: one named list per layer of its parameters as double
#'   matrices, arrays and vectors in the layer's `params` layout (empty for
#'   layers without parameters).
#' * `target`: `NULL`, `list(type = "factor", levels = <character>)` or
#'   `list(type = "numeric", zero_based = <logical>)`.
#' * `loss`: `NULL` or the last loss used, `list(name, delta)`: its name
#'   (see [losses]) and, for `"huber"`, its `delta` (a positive number;
#'   `NULL` for the other losses).
#' * `preprocess`: `NULL`, or a list of any of `terms`, `xlevels` (factor
#'   levels of the predictors), `center` and `scale` (standardization).
#'   `terms` is `list(formula, predvars, dataClasses)`: the formula (after
#'   `.` is expanded) and the `predvars` of its [terms][stats::terms.object]
#'   as R code in strings, and its `dataClasses`; the terms are rebuilt from
#'   them with [stats::terms()], in the global environment.
#' * `history`: `NULL` or the `rustnn_history` list of the last `fit()`
#'   (with its `tracked` data frames, if any: see [fit()][fit.Sequential]).
#' * `optimizer`: `NULL` or `list(class, hyper, state)`: the optimizer's
#'   class name (`"SGD"`, `"Adam"`, `"AdamW"`, `"RMSprop"`, `"Adagrad"`),
#'   its hyper-parameters as a named list of the constructor's arguments,
#'   and its `state` (`NULL`, or `list(steps, slots)` as described in
#'   [optimizers]).
#'
#' Format version 1 (rustnn before format 2) has no `size` field, is
#' serialized with version 3, and holds the terms object itself (a call
#' with attributes, without its environment) instead of text. rustnn reads
#' it still: its payload may decompress to at most 64 times its length plus
#' 1 MiB (models compress little), and its formula and predvars are read as
#' text, checked as below, and the terms rebuilt from them. A reader of a
#' later version reads version 1 and 2 files as described here; a file of
#' a version newer than the reader's is refused with an error that says so.
#'
#' @section Untrusted files:
#' `load_model()` never evaluates, forces or loads anything a file holds:
#' it does not call [unserialize()] (which builds promises, functions and
#' environments, and loads the package of a namespace it meets) but reads
#' the serialization itself, accepting only the plain data above and
#' refusing anything else (functions, environments, promises, calls and
#' names outside the formula, namespace and package references, external
#' pointers, S4 objects, byte code, raw and complex vectors, compact
#' vectors of other packages) with a `rustnn_error_model_corrupt`, before
#' any of it is built. Every length is checked against the bytes left
#' before anything is allocated, and the payload's size is bounded as
#' above, so a small file cannot claim much memory.
#'
#' The formula and predvars are evaluated on new data by [predict()], so
#' they are checked when the file is loaded: parsed without evaluation,
#' they may call only these functions (directly, or as `base::`, `stats::`
#' or `splines::` followed by one of them):
#'
#' * formula operators and arithmetic: `~ + - * / ^ : %in% ( | & !`,
#'   `%%`, `%/%` and the comparisons `== != < > <= >=`;
#' * math: `I`, `log`, `log2`, `log10`, `log1p`, `exp`, `expm1`, `sqrt`,
#'   `abs`, `sign`, `sin`, `cos`, `tan`, `asin`, `acos`, `atan`, `sinh`,
#'   `cosh`, `tanh`, `floor`, `ceiling`, `round`, `signif`, `trunc`,
#'   `pmin`, `pmax`, `ifelse`;
#' * transformations whose coefficients [model.frame()] records: `poly`,
#'   `scale`, `offset`, `ns`, `bs`, `cut`, `factor`, `ordered`,
#'   `as.factor`, `as.numeric`, `as.double`, `as.integer`, `as.logical`, and
#'   `c` and `list` for their coefficients.
#'
#' Any other function (one that runs commands, reads files, evaluates text,
#' or calls a function given by name; or one of your own) makes the file
#' `rustnn_error_model_corrupt`, and `save_model()` refuses to write a model
#' whose formula calls one (`rustnn_error_model_write`), since the file
#' would not load.
#'
#' @section Errors:
#' `load_model()` fails with an error of class `rustnn_error_model_file`
#' (and `rustnn_error`), with one of these classes saying why:
#'
#' * `rustnn_error_model_missing`: there is no file at `path`.
#' * `rustnn_error_model_unreadable`: `path` is a directory, or the file
#'   cannot be read (permissions).
#' * `rustnn_error_model_not_rustnn`: the file does not start with the magic
#'   `RUSTNN-MODEL`, such as a file written by [saveRDS()] (read it with
#'   [readRDS()]) or any other file.
#' * `rustnn_error_model_version`: the file is of a newer format version
#'   than this rustnn reads; update rustnn to load it.
#' * `rustnn_error_model_truncated`: the file ends early: it is empty, ends
#'   within the header, or holds fewer payload bytes than its header
#'   announces (an incomplete copy or download).
#' * `rustnn_error_model_corrupt`: anything else: a malformed header, bytes
#'   after the payload, a checksum that does not match, a payload that does
#'   not decompress, that decompress to more than the header's `size`, or
#'   that hold anything but plain data (see "Untrusted files"), a formula
#'   that calls a function not listed there, or data that do not describe
#'   a valid model (a weight of the wrong shape, an unknown layer or
#'   optimizer, a setting out of range).
#'
#' A wrong `path` argument (not a single string) is a
#' `rustnn_error_argument`. `save_model()` fails with a
#' `rustnn_error_argument` for a bad `model` or `path` (or a `path` whose
#' directory does not exist, or that is a directory), and with a
#' `rustnn_error_model_write` (a `rustnn_error_model_file`) when the model
#' cannot be stored or the file cannot be written; in every case the file
#' at `path`, if any, is left as it was.
#'
#' The checksum detects accidental damage, not tampering: a file from an
#' untrusted source may describe a model that predicts anything, but it
#' cannot run code when it is loaded or used.
#'
#' @param model A [Sequential] model.
#' @param path Path of the file: a single string. `save_model()` replaces an
#'   existing file (following a symbolic link to the file it points to).
#' @return `save_model()`: `path`, invisibly. `load_model()`: the model, a
#'   new [Sequential] object.
#' @seealso [saveRDS()] also keeps a model (as R objects, for this version
#'   of the package), and so do `model$clone()` and sending a model to a
#'   parallel worker.
#' @export
#' @examples
#' set.seed(1)
#' model <- Sequential$new(Linear$new(4, 8), ReLU$new(), Linear$new(8, 3), Softmax$new())
#' fit(model, Species ~ ., data = iris, epochs = 20, verbose = 0)
#' path <- tempfile(fileext = ".rnn")
#' save_model(model, path)
#' readLines(path, n = 1, warn = FALSE)   # the header line
#'
#' same <- load_model(path)
#' identical(predict(same, iris, type = "prob"), predict(model, iris, type = "prob"))
#'
#' # Training continues where it stopped, with the saved optimizer's state.
#' set.seed(2)
#' fit(same, Species ~ ., data = iris, epochs = 5, verbose = 0)
#' unlink(path)
save_model <- function(model, path) {
  call <- rlang::current_env()
  check_model(model, "model", call = call)
  target <- check_save_path(path, call)
  # A file that cannot be loaded back is never written.
  payload <- tryCatch({
    payload <- model_payload(model)
    rebuild_model(payload$model)
    payload
  }, error = function(e) {
    abort_write(c("The model cannot be saved; any existing file at {.file {path}} is unchanged.",
                  x = "{cli::ansi_strip(conditionMessage(e))}"), path, call)
  })
  bytes <- tryCatch(encode_model_file(payload), error = function(e) {
    abort_write(c("The model cannot be saved; any existing file at {.file {path}} is unchanged.",
                  x = "{conditionMessage(e)}"), path, call)
  })

  tmp <- tempfile(pattern = paste0(".", basename(target), "."), tmpdir = dirname(target),
                  fileext = ".tmp")
  on.exit(if (file.exists(tmp)) unlink(tmp), add = TRUE)
  failed <- function(cond) {
    abort_write(c("Could not write the model to {.file {path}}; any existing file there is unchanged.",
                  x = "{conditionMessage(cond)}"), path, call)
  }
  tryCatch(write_model_file(bytes, tmp), error = failed, warning = failed)
  written <- tryCatch(read_bytes(tmp, length(bytes) + 1), error = failed, warning = failed)
  if (!identical(written, bytes)) {
    failed(simpleCondition(sprintf("The temporary file %s holds %d bytes, not the %d written (is the disk full?).",
                                   tmp, length(written), length(bytes))))
  }
  tryCatch(replace_file(tmp, target), error = failed, warning = failed)
  invisible(path)
}

#' @rdname save_model
#' @export
load_model <- function(path) {
  call <- rlang::current_env()
  if (!(is.character(path) && length(path) == 1L && !is.na(path) && nzchar(path))) {
    abort_arg("{.arg path} must be a single file name, not {.obj_type_friendly {path}}.",
              "path", call = call)
  }
  file <- path.expand(path)
  if (dir.exists(file)) {
    abort_model_file("{.file {path}} is a directory, not a model file.", "unreadable", path, call)
  }
  if (!file.exists(file)) {
    abort_model_file("There is no file {.file {path}}.", "missing", path, call)
  }
  unreadable <- function(cond) {
    abort_model_file(c("Cannot read {.file {path}}.", x = "{conditionMessage(cond)}"),
                     "unreadable", path, call)
  }
  size <- file.size(file)
  bytes <- tryCatch(read_bytes(file, size), error = unreadable, warning = unreadable)
  if (is.na(size) || length(bytes) != size) {
    unreadable(simpleCondition(sprintf("Read %d bytes of %s.", length(bytes), format(size))))
  }
  payload <- decode_model_file(bytes, path, call)
  tryCatch(rebuild_model(payload$model), error = function(e) {
    if (inherits(e, "rustnn_error_model_class")) {
      abort_model_file(c("{.file {path}} holds a layer written in R whose class is not in this session.",
                         x = "{cli::ansi_strip(conditionMessage(e))}",
                         i = "Define the class (run the code that makes it) before {.fn load_model}."),
                       "class", path, call)
    }
    abort_model_file(c("{.file {path}} does not hold a valid model.",
                       x = "{cli::ansi_strip(conditionMessage(e))}"),
                     "corrupt", path, call)
  })
}

# ---------------------------------------------------------------------------
# Errors

abort_model_file <- function(message, kind, path, call, .envir = parent.frame()) {
  cli::cli_abort(message, path = path,
                 class = c(paste0("rustnn_error_model_", kind), "rustnn_error_model_file",
                           "rustnn_error"),
                 call = call, .envir = .envir)
}

abort_write <- function(message, path, call, .envir = parent.frame()) {
  abort_model_file(message, "write", path, call, .envir = .envir)
}

#' A reason the payload is not a valid model; load_model() and save_model()
#' add the file's name. `...` are glued into one line, without cli markup.
#' @noRd
invalid_model <- function(...) {
  msg <- paste0(...)
  cli::cli_abort("{msg}", class = c("rustnn_error_model_corrupt", "rustnn_error_model_file",
                                    "rustnn_error"), call = NULL)
}

check_save_path <- function(path, call) {
  if (!(is.character(path) && length(path) == 1L && !is.na(path) && nzchar(path))) {
    abort_arg("{.arg path} must be a single file name, not {.obj_type_friendly {path}}.",
              "path", call = call)
  }
  target <- path.expand(path)
  # Replacing a symbolic link would turn it into a file: replace its target.
  if (nzchar(Sys.readlink(target)) && file.exists(target)) {
    target <- normalizePath(target, mustWork = TRUE)
  }
  if (dir.exists(target)) {
    abort_arg("{.arg path} is a directory: {.file {path}}. Give the name of a file.",
              "path", call = call)
  }
  if (!dir.exists(dirname(target))) {
    abort_arg("{.arg path} is in a directory that does not exist: {.file {dirname(path)}}.",
              "path", call = call)
  }
  target
}

# ---------------------------------------------------------------------------
# File I/O (separate functions so that tests can make them fail).

write_model_file <- function(bytes, file) {
  con <- file(file, "wb")
  on.exit(close(con))
  writeBin(bytes, con)
  invisible(file)
}

read_bytes <- function(file, n) {
  readBin(file, "raw", n = n)
}

replace_file <- function(from, to) {
  if (!file.rename(from, to)) stop("Could not rename the temporary file to the model file.")
  invisible(to)
}

# ---------------------------------------------------------------------------
# Bytes: header and compressed payload

model_magic <- "RUSTNN-MODEL"
model_format <- 2L
header_max <- 1024L

# The most a payload may decompress to, and for format 1 files (whose header
# does not give the size) the most it may expand, plus 1 MiB: models
# compress little (weights are noise), a zlib bomb a thousandfold.
model_size_max <- 2^31
model_ratio_max <- 64
# Deflate turns one bit into at most 258 bytes: no zlib stream expands more
# than 1032-fold, so a header announcing more is false.
zlib_ratio_max <- 1032

encode_model_file <- function(payload) {
  # Version 2 of R's serialization: no compact (ALTREP) vectors to expand.
  data <- serialize(payload_to_file(payload), NULL, xdr = TRUE, version = 2L)
  if (length(data) > model_size_max) {
    stop(sprintf("The model takes %.0f bytes, more than the %.0f a model file holds.",
                 length(data), model_size_max))
  }
  z <- memCompress(data, "gzip")
  header <- sprintf("%s %d compression=zlib length=%.0f size=%.0f adler32=%s rustnn=%s\n",
                    model_magic, model_format, length(z), length(data), adler32_hex(z),
                    rustnn_version())
  c(charToRaw(header), z)
}

#' The payload as the file holds it: the formula's terms as text.
#' @noRd
payload_to_file <- function(payload) {
  tt <- payload_terms(payload)
  if (inherits(tt, "terms")) payload$model$preprocess$terms <- terms_to_file(tt)
  payload
}

#' The payload a file holds, with the formula's terms rebuilt from their
#' text (checked: see terms_from_file()).
#' @noRd
payload_from_file <- function(payload, version) {
  tt <- payload_terms(payload)
  if (!is.null(tt)) payload$model$preprocess$terms <- terms_from_file(tt, version)
  payload
}

#' A payload's `model$preprocess$terms`, or NULL, whatever the payload is
#' (check_payload() reports a payload of the wrong shape).
#' @noRd
payload_terms <- function(payload) {
  pre <- if (is.list(payload) && is.list(payload[["model"]])) payload$model[["preprocess"]]
  if (is.list(pre)) pre[["terms"]]
}

#' How much the payload may decompress to: the header's `size` (format 2),
#' or a multiple of its compressed length (format 1); NULL if the header's
#' size is not valid.
#' @noRd
payload_limit <- function(fields, version, compressed) {
  if (version == 1L) {
    return(list(limit = min(model_size_max, model_ratio_max * compressed + 2^20), exact = FALSE))
  }
  size <- fields[["size"]] %||% ""
  if (!grepl("^[0-9]{1,10}$", size) ||
      as.numeric(size) > min(model_size_max, zlib_ratio_max * compressed)) {
    return(NULL)
  }
  list(limit = as.numeric(size), exact = TRUE)
}

#' The payload list from a file's bytes, or a classed error.
#' @noRd
decode_model_file <- function(bytes, path, call) {
  n <- length(bytes)
  fail <- function(kind, ...) abort_model_file(c(...), kind, path, call, .envir = parent.frame())
  if (n == 0L) fail("truncated", "{.file {path}} is empty (0 bytes): it is not a complete model file.")
  magic <- charToRaw(paste0(model_magic, " "))
  start <- bytes[seq_len(min(n, length(magic)))]
  if (!identical(start, magic[seq_along(start)])) {
    fail("not_rustnn", "{.file {path}} is not a rustnn model file.",
         i = not_rustnn_hint(bytes))
  }
  if (n < length(magic)) {
    fail("truncated", "{.file {path}} ends after {n} byte{?s}, within its header: the file is incomplete.")
  }
  newline <- match(as.raw(10L), bytes[seq_len(min(n, header_max))])
  if (is.na(newline)) {
    if (n < header_max) {
      fail("truncated", "{.file {path}} ends after {n} byte{?s}, within its header: the file is incomplete.")
    }
    fail("corrupt", "{.file {path}} is damaged: its header line is not terminated within {header_max} bytes.")
  }
  header_bytes <- bytes[seq_len(newline - 1L)]
  if (any(header_bytes == as.raw(0L) | header_bytes > as.raw(126L))) {
    fail("corrupt", "{.file {path}} is damaged: its header line is not plain text.")
  }
  tokens <- strsplit(rawToChar(header_bytes), " ", fixed = TRUE)[[1]]
  version_text <- if (length(tokens) >= 2L) tokens[2] else ""
  if (!grepl("^[0-9]{1,9}$", version_text)) {
    fail("corrupt", "{.file {path}} is damaged: its header has no format version.",
         i = "Header: {.val {rawToChar(header_bytes)}}")
  }
  fields <- header_fields(tokens[-(1:2)])
  version <- as.integer(version_text)
  if (version > model_format) {
    writer <- fields[["rustnn"]]
    fail("version",
         "{.file {path}} is a model file of format version {version}, but this version of rustnn ({rustnn_version()}) reads format versions up to {model_format}.",
         i = "Update rustnn{if (!is.null(writer) && grepl('^[0-9.-]+$', writer)) paste0(' (the file was written by version ', writer, ')') else ''} to load it.")
  }
  if (version < 1L) {
    fail("corrupt", "{.file {path}} is damaged: format version {version} does not exist.")
  }
  # Formats 1 and 2.
  length_text <- fields[["length"]] %||% ""
  checksum <- fields[["adler32"]] %||% ""
  if (!identical(fields[["compression"]], "zlib") || !grepl("^[0-9]{1,15}$", length_text) ||
      !grepl("^[0-9a-f]{8}$", checksum)) {
    fail("corrupt", "{.file {path}} is damaged: its header lacks a valid {.field compression}, {.field length} or {.field adler32} field.",
         i = "Header: {.val {rawToChar(header_bytes)}}")
  }
  expected <- as.numeric(length_text)
  got <- n - newline
  if (got < expected) {
    fail("truncated", "{.file {path}} is incomplete: it holds {got} of the {expected} bytes of its model.",
         i = "It may have been cut short by an interrupted copy or download.")
  }
  if (got > expected) {
    fail("corrupt", "{.file {path}} is damaged: {got - expected} unexpected byte{?s} follow{?s/} the model.")
  }
  z <- bytes[newline + seq_len(expected)]
  if (!identical(adler32_hex(z), checksum)) {
    fail("corrupt", "{.file {path}} is damaged: its checksum does not match its contents.")
  }
  # Never memDecompress() and unserialize(): see rn_read_model_data().
  limit <- payload_limit(fields, version, expected)
  if (is.null(limit)) {
    fail("corrupt", "{.file {path}} is damaged: its header lacks a valid {.field size} field.",
         i = "The size is at most {model_size_max} bytes and {zlib_ratio_max} times the payload's length.")
  }
  payload <- rust_call(rn_read_model_data(z, limit$limit, limit$exact), abort = function(msg, call) {
    fail("corrupt", "{.file {path}} is damaged or not plain data: its model data cannot be read.",
         x = "{msg}")
  })
  tryCatch(check_payload(payload_from_file(payload, version), version),
           rustnn_error_model_corrupt = function(e) {
    fail("corrupt", "{.file {path}} does not hold a valid model.", x = "{conditionMessage(e)}")
  })
}

header_fields <- function(tokens) {
  tokens <- tokens[grepl("^[a-z0-9_]+=", tokens)]
  keys <- sub("=.*$", "", tokens)
  values <- sub("^[^=]*=", "", tokens)
  as.list(stats::setNames(values, keys))[!duplicated(keys)]
}

not_rustnn_hint <- function(bytes) {
  starts <- function(x) length(bytes) >= length(x) && identical(bytes[seq_along(x)], x)
  if (starts(as.raw(c(0x1f, 0x8b))) || starts(charToRaw("X\n")) || starts(charToRaw("A\n")) ||
      starts(charToRaw("BZh")) || starts(as.raw(c(0xfd, 0x37, 0x7a, 0x58, 0x5a)))) {
    return("It may be a file written by {.fn saveRDS}: read that with {.fn readRDS}.")
  }
  "Model files written by {.fn save_model} start with {.val {model_magic}}."
}

#' Adler-32 of raw bytes, as zlib computes it, as 8 lowercase hex digits.
#' Computed by chunks so that every sum stays exact in doubles.
#' @noRd
adler32_hex <- function(bytes) {
  mod <- 65521
  a <- 1
  b <- 0
  n <- length(bytes)
  chunk <- 2^20
  start <- 1
  while (start <= n) {
    end <- min(n, start + chunk - 1)
    v <- as.double(as.integer(bytes[start:end]))
    m <- length(v)
    # Each byte adds itself to a, then a to b.
    b <- (b + m * a + sum(seq.int(m, 1) * v)) %% mod
    a <- (a + sum(v)) %% mod
    start <- end + 1
  }
  sprintf("%04x%04x", as.integer(b), as.integer(a))
}

rustnn_version <- function() {
  tryCatch(as.character(utils::packageVersion("rustnn")), error = function(e) "unknown")
}

# ---------------------------------------------------------------------------
# Payload: the model's state as plain data, and back

model_fields <- c("dtype", "input_shape", "specs", "params", "target", "loss", "preprocess",
                  "history", "optimizer")

model_payload <- function(model) {
  list(format = model_format, class = "Sequential", rustnn_version = rustnn_version(),
       r_version = as.character(getRversion()),
       model = plain_model(model$.get_state(), model$layers))
}

#' A model's state (`private$.state` of Sequential) as the file's `model`.
#' @noRd
plain_model <- function(state, layers = NULL) {
  specs <- state$specs
  # A layer written in R is saved as its class's name, its parameters and
  # its settings (see custom_fields()); loading finds the class by name.
  for (i in which(vapply(specs, function(s) identical(s$type, "custom"), logical(1)))) {
    specs[[i]]$fields <- custom_fields(layers[[i]])
  }
  list(dtype = state$dtype, input_shape = state$input_shape, specs = specs,
       params = state$params, target = state$target, loss = state$loss,
       preprocess = plain_preprocess(state$preprocess), history = state$history,
       optimizer = plain_optimizer(state$optimizer, state$optimizer_state))
}

plain_preprocess <- function(pre) {
  if (!is.null(pre$terms)) attr(pre$terms, ".Environment") <- NULL
  pre
}

#' The optimizers a file can hold, by class name: those fit() accepts by
#' name (optimizer_names()), so a new optimizer registered there is saved too.
#' @noRd
optimizer_classes <- function() {
  generators <- unname(optimizer_names())
  stats::setNames(generators, vapply(generators, function(g) g$classname, character(1)))
}

optimizer_hyper_names <- function(generator) {
  names(formals(generator$public_methods$initialize))
}

plain_optimizer <- function(opt, state) {
  if (is.null(opt)) return(NULL)
  known <- optimizer_classes()
  cls <- intersect(class(opt), names(known))[1]
  if (is.na(cls)) invalid_model("The optimizer of class ", class(opt)[1], " cannot be saved.")
  hyper <- lapply(optimizer_hyper_names(known[[cls]]), function(name) opt[[name]])
  names(hyper) <- optimizer_hyper_names(known[[cls]])
  list(class = cls, hyper = hyper, state = state)
}

#' Checks the payload: what only a file can get wrong (plain data, format,
#' fields, the optimizer as plain data), and the rules of a model state
#' (state.R); not yet that the pieces fit together: rebuild_model() does.
#' Errors are rustnn_error_model_corrupt.
#' @noRd
check_payload <- function(payload, format = model_format) {
  check_plain(payload)
  if (!is.list(payload) || is.null(names(payload))) {
    invalid_model("The model data are ", describe(payload), ", not a list.")
  }
  missing <- setdiff(c("format", "class", "model"), names(payload))
  if (length(missing)) invalid_model("The model data lack ", paste(missing, collapse = ", "), ".")
  if (!identical(payload$format, format)) {
    invalid_model("The model data are of format ", describe(payload$format),
                  ", not the header's ", format, ".")
  }
  if (!identical(payload$class, "Sequential")) {
    invalid_model("The model data describe ", describe(payload$class), ", not a Sequential model.")
  }
  m <- payload$model
  if (!is.list(m) || !identical(names(m), model_fields)) {
    invalid_model("The model's fields are ", paste(names(m), collapse = ", "), ", not ",
                  paste(model_fields, collapse = ", "), ".")
  }
  problem <- state_problem(m, values = TRUE)
  if (!is.null(problem)) invalid_model("The model data are invalid: ", problem)
  check_plain_optimizer(m$optimizer)
  invisible(payload)
}

#' Everything in a payload must be plain data: no environment, function,
#' pointer or S4 object, in values or attributes.
#' @noRd
check_plain <- function(x, where = "payload") {
  type <- typeof(x)
  plain <- c("NULL", "logical", "integer", "double", "complex", "character", "raw", "list",
             "symbol", "language")
  if (!type %in% plain || isS4(x)) {
    invalid_model("The model data hold ", if (isS4(x)) "an S4 object" else paste("an object of type", type),
                  " in ", where, "; a model file holds plain data only.")
  }
  if (type %in% c("list", "language")) {
    nms <- names(x)
    for (i in seq_along(x)) {
      if (type == "language" && identical(x[[i]], quote(expr = ))) next
      inner <- if (type == "list" && !is.null(nms) && !is.na(nms[i]) && nzchar(nms[i])) {
        paste0(where, "$", nms[i])
      } else {
        paste0(where, "[[", i, "]]")
      }
      check_plain(x[[i]], inner)
    }
  }
  for (a in setdiff(names(attributes(x)), "names")) {
    check_plain(attr(x, a, exact = TRUE), paste0("attr(", where, ", \"", a, "\")"))
  }
  invisible(x)
}

check_plain_optimizer <- function(opt) {
  if (is.null(opt)) return()
  known <- optimizer_classes()
  if (!(is.list(opt) && identical(names(opt), c("class", "hyper", "state")))) {
    invalid_model("The optimizer must be a list of class, hyper and state.")
  }
  if (!(is.character(opt$class) && length(opt$class) == 1L && opt$class %in% names(known))) {
    invalid_model("The optimizer's class is ", describe(opt$class), ", not one of ",
                  paste(names(known), collapse = ", "), ".")
  }
  hyper_names <- optimizer_hyper_names(known[[opt$class]])
  if (!(is.list(opt$hyper) && identical(sort(names(opt$hyper)), sort(hyper_names)))) {
    invalid_model("The ", opt$class, " optimizer's hyper-parameters must be ",
                  paste(hyper_names, collapse = ", "), ", not ",
                  paste(names(opt$hyper), collapse = ", "), ".")
  }
  # The hyper-parameters go to the constructor through do.call(), which
  # would evaluate a call: numbers, flags and strings only (L-BFGS's line
  # search is named by a string).
  plain <- c("logical", "integer", "double", "character")
  if (!all(vapply(opt$hyper, is_plain_setting, logical(1), types = plain))) {
    invalid_model("The ", opt$class, " optimizer's hyper-parameters must be numbers, TRUE/FALSE or strings.")
  }
  if (!is.null(optimizer_state_problem(opt$state))) {
    invalid_model("The optimizer's state must be NULL or list(steps, slots): a whole number of steps and a list of double vectors.")
  }
}

#' A constructor's argument read from a file: NULL, or a vector of one of
#' `types` without attributes (never a call, which do.call() would evaluate).
#' @noRd
is_plain_setting <- function(x, types = c("logical", "integer", "double", "character")) {
  is.null(x) || (typeof(x) %in% types && is.null(attributes(x)))
}

#' The model a checked payload describes, built through the public
#' constructors; any failure, or a model whose state is not exactly the one
#' described, is a rustnn_error_model_corrupt.
#' @noRd
rebuild_model <- function(m) {
  check_payload(list(format = model_format, class = "Sequential", model = m))
  layers <- lapply(seq_along(m$specs), function(i) rebuild_layer(m$specs[[i]], m$params[[i]], i))
  model <- rebuild_step("The layers do not form a model", function() {
    Sequential$new(layers, dtype = m$dtype, input_shape = m$input_shape)
  })
  optimizer <- rebuild_optimizer(m$optimizer, m$params)
  preprocess <- m$preprocess
  if (!is.null(preprocess$terms)) environment(preprocess$terms) <- globalenv()
  rebuild_step("The training information does not fit the model", function() {
    if (!is.null(m$target) || !is.null(m$loss) || !is.null(optimizer) || !is.null(m$history)) {
      model$.after_fit(m$target, m$loss, optimizer, m$history, preprocess, m$optimizer$state)
      # .after_fit() read the weights back from the engine (rounded to
      # float32 in a float32 model); keep them exactly as saved.
      for (i in seq_along(m$params)) {
        layer <- model$layers[[i]]
        if (length(m$params[[i]])) layer$params <- m$params[[i]]
      }
    } else if (!is.null(preprocess)) {
      model$.set_preprocess(preprocess)
    }
    # Build the engine now, unless it must wait for the input's shape as
    # the saved model did.
    if (!(needs_input_shape(m$specs) && is.null(m$input_shape))) model$.engine()
  })
  rebuild_step("The model's outputs cannot be found", function() check_outputs(model, m$target))
  rebuilt <- plain_model(model$.get_state(), model$layers)
  if (!identical(rebuilt, m)) {
    differ <- names(m)[!mapply(identical, rebuilt, m)]
    invalid_model("The model rebuilt from the data differs from the one they describe, in: ",
                  paste(differ, collapse = ", "), ".")
  }
  model
}

#' Runs `f()`, turning any error into a rustnn_error_model_corrupt that
#' starts with `what`. R's random numbers are left as they were (layer
#' constructors draw initial weights that are then replaced).
#' @noRd
rebuild_step <- function(what, f) {
  had_seed <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  seed <- if (had_seed) get(".Random.seed", envir = globalenv(), inherits = FALSE)
  on.exit({
    if (had_seed) {
      assign(".Random.seed", seed, envir = globalenv())
    } else if (exists(".Random.seed", envir = globalenv(), inherits = FALSE)) {
      rm(".Random.seed", envir = globalenv())
    }
  })
  tryCatch(f(), error = function(e) {
    if (inherits(e, "rustnn_error_model_corrupt")) stop(e)
    invalid_model(what, ": ", cli::ansi_strip(conditionMessage(e)))
  })
}

rebuild_layer <- function(spec, params, i) {
  if (identical(spec$type, "custom")) return(rebuild_custom_layer(spec, params, i))
  generator <- layer_classes()[[spec$type]]
  name <- generator$classname
  layer <- rebuild_step(paste0("Layer ", i, " (", name, ") cannot be built"), function() {
    widths <- c(spec$in_features, spec$out_features)
    options <- spec[setdiff(names(spec), c("type", "in_features", "out_features"))]
    if (!all(vapply(options, is_plain_setting, logical(1)))) stop("Its settings must be plain values.")
    do.call(generator$new, c(as.list(widths[!is.na(widths)]), options))
  })
  if (!identical(layer$.spec(), spec)) {
    unknown <- setdiff(names(spec), names(layer$.spec()))
    invalid_model("The settings of layer ", i, " are not those of a ", name, " layer",
                  if (length(unknown)) paste0(" (unknown: ", paste(unknown, collapse = ", "), ")"), ".")
  }
  rebuild_step(paste0("The parameters of layer ", i, " (", name, ") do not fit it"), function() {
    layer$params <- params
  })
  layer
}

rebuild_optimizer <- function(opt, params) {
  if (is.null(opt)) return(NULL)
  generator <- optimizer_classes()[[opt$class]]
  optimizer <- rebuild_step(paste0("The ", opt$class, " optimizer cannot be built"), function() {
    do.call(generator$new, opt$hyper)
  })
  st <- opt$state
  if (!is.null(st) && length(st$slots)) {
    # Buffers per trained tensor (see the optimizers' documentation), in
    # the order of the layers and their parameters.
    per_param <- rust_call(rn_optimizer_slots(optimizer$.description()))
    sizes <- unlist(lapply(params, function(p) {
      vapply(p[!names(p) %in% catalog("buffers")], length, integer(1))
    }))
    expected <- rep(unname(sizes), each = per_param)
    found <- vapply(st$slots, length, integer(1))
    if (!identical(unname(found), as.integer(expected))) {
      invalid_model("The ", opt$class, " optimizer's state holds buffers of sizes ",
                    paste(found, collapse = ", "), ", but this model needs ",
                    if (length(expected)) paste(expected, collapse = ", ") else "none", ".")
    }
  }
  optimizer
}

#' A factor target must fit the model's outputs, as predict() reads them.
#' @noRd
check_outputs <- function(model, target) {
  if (!identical(target$type, "factor")) return()
  shapes <- model$.shapes()
  if (is.null(shapes)) return()
  outputs <- prod(shapes[[length(shapes)]])
  k <- length(target$levels)
  if (!(outputs == k || (outputs == 1 && k == 2L))) {
    invalid_model("The model has ", outputs, " output", if (outputs != 1) "s", ", which do not fit its ",
                  k, " class", if (k != 1) "es", ".")
  }
}
