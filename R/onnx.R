# ONNX files: export_onnx() writes a trained model for other runtimes
# (ONNX Runtime in Python, C#, Java, JavaScript, on phones), import_onnx()
# reads a model of the same layers back, from rustnn or another framework.
# The engine writes and reads the bytes (core/src/onnx); here are the
# argument checks, the file, and the model built from what the file holds
# through the layers' own constructors.

#' Export a model to ONNX, or import one
#'
#' @description
#' `export_onnx()` writes a trained model as an [ONNX](https://onnx.ai)
#' file, which ONNX Runtime (Python, C#, Java, JavaScript, mobile) and other
#' runtimes run without R. `import_onnx()` reads such a file back into a
#' [Sequential] model that predicts, can be inspected (`summary()`,
#' `plot()`, `forward(keep = TRUE)`) and trained further: files written by
#' `export_onnx()`, and small networks of the same layers exported from
#' PyTorch (`torch.onnx.export()`) or other frameworks.
#'
#' @section What the file holds:
#' ONNX IR version 8, operator set 17, float32 weights (a `"float64"`
#' model is rounded). The graph has one input, `"input"`, and one output,
#' `"output"`, both float32 with a free first (batch) dimension: `batch x
#' features` for a network of vectors, `batch x channels x height x width`
#' for an image model (the layout of rustnn's image arrays and PyTorch's
#' NCHW). Each layer becomes:
#'
#' | rustnn | ONNX |
#' |---|---|
#' | [Linear] | `Gemm` (`transB = 1`, as PyTorch writes it) |
#' | [ReLU], [Sigmoid], [Tanh], [Softplus] | `Relu`, `Sigmoid`, `Tanh`, `Softplus` |
#' | [LeakyReLU], [ELU] | `LeakyRelu`, `Elu` with their `alpha` |
#' | [GELU] | `Div`, `Erf`, `Add`, `Mul`, `Mul`: the exact GELU `0.5 * x * (1 + erf(x / sqrt(2)))` (the `Gelu` operator only exists from operator set 20) |
#' | [Softmax] | `Softmax` over the features (an image output is flattened for it and reshaped back) |
#' | [Conv2d] | `Conv` with its strides and padding |
#' | [MaxPool2d], [AvgPool2d] | `MaxPool`, `AveragePool` (no padding) |
#' | [BatchNorm] | `BatchNormalization`, inference form (running statistics) |
#' | [Flatten] | `Flatten` (and before a `Gemm` that follows an image layer) |
#' | [Dropout], [Identity] | nothing: they do nothing at inference |
#'
#' A model that standardizes its inputs ([rustnn_mlp()] does, and a model
#' trained on a formula keeps its columns' means and standard deviations)
#' starts with `Sub` and `Div` nodes, so the file takes the raw columns, as
#' [predict()][predict.Sequential] does. For a [rustnn_mlp()] regression,
#' `Mul` and `Add` nodes put the output back on the outcome's scale. What
#' R does before the network is not in the file: a formula's or a recipe's
#' processing (indicator columns of factors, say) must be done by the
#' program that feeds the file; the input's columns are named in the file's
#' metadata (`rustnn.input_columns`), and a classifier's levels too
#' (`rustnn.levels`, the order of the output's columns).
#'
#' A layer written in R ([Layer]) cannot be exported: its computation is
#' R code. `export_onnx()` refuses it with an error of class
#' `rustnn_error_onnx_unsupported` naming the layer.
#'
#' @section What can be imported:
#' A graph that is one chain of the operators above, from one input (`batch
#' x features` or `batch x channels x height x width`) to one output, in
#' operator sets 9 to 23, its weights in the file: also `MatMul` followed by
#' `Add` (a linear layer), `Add`, `Sub`, `Mul` or `Div` by constants right
#' after one (folded into it), `Sub` then `Div` by constants first (the
#' input's standardization, kept as the model's), `Reshape` that flattens
#' each sample, `GlobalAveragePool` and `GlobalMaxPool`, `Gelu` (exact),
#' `Dropout` (a [Dropout] layer) and `Identity`. Convolutions must be
#' ungrouped, without dilation, padded alike on opposite sides; pooling
#' without padding. Anything else is an error of class
#' `rustnn_error_onnx_unsupported` naming the operator; a file that is not
#' an ONNX model, `rustnn_error_onnx_invalid` (`rustnn_error_onnx_truncated`
#' when it ends early). The file is read as data: sizes are checked before
#' anything is allocated, and nothing in it is run.
#'
#' @param model A [Sequential] model, or a [rustnn_mlp()] model. Its input
#'   shape must be known (an image model learns it from its first data, or
#'   from `Sequential$new(..., input_shape = )`).
#' @param path File name (`.onnx` by convention). `export_onnx()` replaces
#'   an existing file, only once the new one is written in full.
#' @param dtype `"float32"` (default) or `"float64"`: the precision of the
#'   imported model.
#' @param ... Unused; must be empty.
#' @return `export_onnx()`: `path`, invisibly. `import_onnx()`: a
#'   [Sequential] model.
#' @seealso [save_model()] for rustnn's own file format, which keeps
#'   everything (the optimizer's state, the history, a formula).
#' @export
#' @examples
#' set.seed(1)
#' model <- Sequential$new(Linear$new(4, 8), ReLU$new(), Linear$new(8, 3), Softmax$new())
#' x <- as.matrix(iris[, 1:4])
#' fit(model, x, iris$Species, epochs = 20, verbose = 0)
#' path <- tempfile(fileext = ".onnx")
#' export_onnx(model, path)
#'
#' # The file read back predicts the same, and trains further
#' same <- import_onnx(path)
#' same
#' all.equal(predict(same, x), predict(model, x))
#' fit(same, x, iris$Species, epochs = 5, verbose = 0)
#'
#' # In Python, with ONNX Runtime:
#' #   import onnxruntime as ort, numpy as np
#' #   session = ort.InferenceSession("model.onnx")
#' #   probs = session.run(["output"], {"input": x.astype(np.float32)})[0]
#' unlink(path)
export_onnx <- function(model, path, ...) {
  UseMethod("export_onnx")
}

#' @rdname export_onnx
#' @export
export_onnx.default <- function(model, path, ...) {
  abort_arg("{.arg model} must be a {.cls Sequential} or {.cls rustnn_mlp} model, not {.obj_type_friendly {model}}.",
            "model")
}

#' @rdname export_onnx
#' @export
export_onnx.Sequential <- function(model, path, ...) {
  check_dots_empty()
  write_onnx(model, path, output_scale = NULL, levels = model$.get_state()$target$levels,
             call = rlang::current_env())
}

#' @rdname export_onnx
#' @export
export_onnx.rustnn_mlp <- function(model, path, ...) {
  check_dots_empty()
  outcome <- model$outcome
  output_scale <- if (is.null(outcome$levels)) c(outcome$scale, outcome$center)
  write_onnx(model$model, path, output_scale = output_scale, levels = outcome$levels,
             call = rlang::current_env())
}

#' Writes `model` to `path` (see export_onnx()), with the output rescaled
#' by `output_scale` (`c(scale, shift)`) if given.
#' @noRd
write_onnx <- function(model, path, output_scale, levels, call) {
  target <- check_save_path(path, call)
  st <- model$.get_state()
  for (i in seq_along(st$specs)) {
    if (identical(st$specs[[i]]$type, "custom")) {
      cls <- st$specs[[i]]$class
      cli::cli_abort(c("Layer {i} is a {.cls {cls}}, written in R: an ONNX file holds only rustnn's built-in layers.",
                       i = "Write the model with {.fn save_model} instead, which keeps layers written in R."),
                     layer = cls, class = c("rustnn_error_onnx_unsupported", "rustnn_error_onnx", "rustnn_error"),
                     call = call)
    }
  }
  shapes <- model$.shapes()
  if (is.null(shapes) || is.null(shapes[[1]])) {
    abort_arg(c("The shape of {.arg model}'s input is not known yet, and an ONNX file must say it.",
                i = "Give {.code input_shape} to {.code Sequential$new()}, or pass data through the model once."),
              "model", call = call)
  }
  pre <- st$preprocess
  metadata <- c(rustnn.input_columns = if (!is.null(pre$columns)) json_strings(pre$columns),
                rustnn.levels = if (!is.null(levels)) json_strings(levels))
  bytes <- rust_call(rn_onnx_export(model$.engine(), pre$center, pre$scale, output_scale,
                                    metadata %||% character(), rustnn_version()), call = call)
  if (inherits(bytes, "rustnn_onnx_failure")) abort_onnx(bytes, path, call, writing = TRUE)
  tmp <- tempfile(pattern = paste0(".", basename(target), "."), tmpdir = dirname(target),
                  fileext = ".tmp")
  on.exit(if (file.exists(tmp)) unlink(tmp), add = TRUE)
  failed <- function(cond) {
    cli::cli_abort(c("Could not write the ONNX file {.file {path}}; any existing file there is unchanged.",
                     x = "{conditionMessage(cond)}"),
                   path = path, class = c("rustnn_error_onnx_write", "rustnn_error_onnx", "rustnn_error"),
                   call = call)
  }
  tryCatch({
    write_model_file(bytes, tmp)
    replace_file(tmp, target)
  }, error = failed, warning = failed)
  invisible(path)
}

#' A JSON array of strings.
#' @noRd
json_strings <- function(x) {
  escaped <- vapply(enc2utf8(x), function(s) {
    s <- gsub("\\", "\\\\", s, fixed = TRUE)
    s <- gsub("\"", "\\\"", s, fixed = TRUE)
    s <- gsub("\n", "\\n", s, fixed = TRUE)
    s <- gsub("\r", "\\r", s, fixed = TRUE)
    gsub("\t", "\\t", s, fixed = TRUE)
  }, character(1))
  paste0("[", paste0("\"", escaped, "\"", collapse = ","), "]")
}

#' The largest file import_onnx() reads: protobuf's own limit.
#' @noRd
onnx_size_max <- 2^31 - 1

#' @rdname export_onnx
#' @export
import_onnx <- function(path, dtype = "float32") {
  call <- rlang::current_env()
  if (!(is.character(path) && length(path) == 1L && !is.na(path) && nzchar(path))) {
    abort_arg("{.arg path} must be a single file name, not {.obj_type_friendly {path}}.",
              "path", call = call)
  }
  check_choice(dtype, c("float32", "float64"))
  file <- path.expand(path)
  abort_file <- function(message, .envir = parent.frame()) {
    cli::cli_abort(message, path = path, class = c("rustnn_error_onnx_file", "rustnn_error_onnx", "rustnn_error"),
                   call = call, .envir = .envir)
  }
  if (dir.exists(file)) abort_file("{.file {path}} is a directory, not an ONNX file.")
  if (!file.exists(file)) abort_file("There is no file {.file {path}}.")
  size <- file.size(file)
  if (is.na(size) || size > onnx_size_max) {
    abort_file("{.file {path}} is larger than the 2 GB an ONNX file can be.")
  }
  unreadable <- function(cond) abort_file(c("Cannot read {.file {path}}.", x = "{conditionMessage(cond)}"))
  bytes <- tryCatch(read_bytes(file, size), error = unreadable, warning = unreadable)
  if (length(bytes) != size) {
    unreadable(simpleCondition(sprintf("Read %d bytes of %s.", length(bytes), format(size))))
  }
  read <- rust_call(rn_onnx_import(bytes), call = call)
  if (inherits(read, "rustnn_onnx_failure")) abort_onnx(read, path, call)
  onnx_model(read, dtype, path, call)
}

#' The Sequential model of what rn_onnx_import() read, built through the
#' layers' constructors (R's random numbers are left as they were: the
#' constructors draw initial weights that are then replaced).
#' @noRd
onnx_model <- function(read, dtype, path, call) {
  build <- function(what, f) {
    tryCatch(rebuild_step(what, f), rustnn_error_model_corrupt = function(e) {
      cli::cli_abort(c("{.file {path}} holds a model that rustnn cannot build.",
                       x = "{cli::ansi_strip(conditionMessage(e))}"),
                     path = path, class = c("rustnn_error_onnx_invalid", "rustnn_error_onnx", "rustnn_error"),
                     call = call)
    })
  }
  layers <- lapply(seq_along(read$layers), function(i) {
    l <- read$layers[[i]]
    generator <- layer_classes()[[l$type]]
    build(paste0("Layer ", i, " (", generator$classname, ")"), function() {
      layer <- do.call(generator$new, l[setdiff(names(l), c("type", "params"))])
      if (length(l$params)) layer$params <- l$params
      layer
    })
  })
  # A graph without layers computes its input.
  if (length(layers) == 0L) layers <- list(Identity$new())
  build("The layers", function() {
    model <- Sequential$new(layers, dtype = dtype, input_shape = read$input_shape)
    if (!is.null(read$center)) model$.set_preprocess(list(center = read$center, scale = read$scale))
    model$.engine()
    model
  })
}

#' The classed error of a failure the engine reported on an ONNX file.
#' @noRd
abort_onnx <- function(failure, path, call, writing = FALSE) {
  kind <- failure$kind
  message <- failure$message
  substr(message, 1, 1) <- toupper(substr(message, 1, 1))
  head <- if (writing) {
    "The model cannot be written as an ONNX file; any existing file at {.file {path}} is unchanged."
  } else {
    switch(kind,
      unsupported = "{.file {path}} holds a model outside what rustnn reads.",
      truncated = "{.file {path}} is not a complete ONNX file.",
      "{.file {path}} is not an ONNX model that rustnn can read."
    )
  }
  class <- switch(kind,
    unsupported = "rustnn_error_onnx_unsupported",
    truncated = c("rustnn_error_onnx_truncated", "rustnn_error_onnx_invalid"),
    "rustnn_error_onnx_invalid"
  )
  cli::cli_abort(c(head, x = "{message}."), path = path, operator = failure$what,
                 class = c(class, "rustnn_error_onnx", "rustnn_error"), call = call)
}
