# What a valid model state is: the rules, written once, for the two places
# a model's plain data come back from outside the running code:
#
# * a Sequential's `private$.state` (model.R), which saveRDS() keeps and
#   readRDS() brings back as stored, damaged or edited files included:
#   check_state() raises a `rustnn_error_state`;
# * the `model` list of a file read by load_model() (persist.R):
#   check_payload() raises a `rustnn_error_model_corrupt`.
#
# Both hold the same fields in the same form (persist.R's plain_model()
# copies the state) but for the optimizer, an R6 object (its class and
# hyper-parameters) beside its plain `optimizer_state` in the state, and
# one list of plain data in a file: each caller checks its own form of it, and
# persist.R adds what only a file can get wrong (its fields, format
# version, plain data only). The rules are in a file of their own because
# they describe the data both share, neither the class that holds them
# (model.R) nor the file format that stores them (persist.R).
#
# Every rule returns what is wrong, as the end of a sentence ("its dtype
# is ...", "layer 2 has ..."), or NULL; none raises, so that each caller
# raises its own error class.

#' What is wrong with a model state, or NULL: every field but the
#' optimizer. Parameter values (NA, infinite) are scanned only with
#' `values = TRUE`: that costs a pass over every weight.
#' @noRd
state_problem <- function(st, values = FALSE) {
  if (!is.list(st)) return(paste0("it is ", describe(st), ", not a list."))
  if (!(is.character(st$dtype) && length(st$dtype) == 1L && st$dtype %in% c("float32", "float64"))) {
    return(paste0("its dtype is ", describe(st$dtype), ", not \"float32\" or \"float64\"."))
  }
  shape <- st$input_shape
  if (!is.null(shape) && !(is.numeric(shape) && length(shape) %in% c(1L, 3L) && whole_counts(shape))) {
    return("its input shape is not 1 or 3 whole numbers of at least 1.")
  }
  specs <- st$specs
  if (!(is.list(specs) && length(specs) >= 1L)) return("it has no layers.")
  if (!(is.list(st$params) && length(st$params) == length(specs))) {
    return("it does not have one list of parameters per layer.")
  }
  for (i in seq_along(specs)) {
    problem <- spec_problem(specs[[i]]) %||% params_problem(st$params[[i]], values)
    if (!is.null(problem)) return(paste0("layer ", i, " ", problem))
  }
  target_problem(st$target) %||% loss_problem(st$loss) %||%
    preprocess_problem(st$preprocess) %||% history_problem(st$history) %||%
    optimizer_state_problem(st$optimizer_state)
}

#' The optimizer's state: NULL, or `list(steps, slots)`, a whole number of
#' steps and a list of double vectors (their sizes are for the engine to
#' check against the network at the first step).
#' @noRd
optimizer_state_problem <- function(st) {
  if (is.null(st)) return(NULL)
  ok <- is.list(st) && identical(names(st), c("steps", "slots")) && is.numeric(st$steps) &&
    length(st$steps) == 1L && is.finite(st$steps) && st$steps >= 0 && st$steps == round(st$steps) &&
    is.list(st$slots) && all(vapply(st$slots, function(s) is.double(s) && !anyNA(s), logical(1)))
  if (!ok) {
    return("its optimizer's state is not NULL or list(steps, slots): a whole number of steps and a list of double vectors.")
  }
  NULL
}

#' The layer classes a state can hold, by engine type. A new layer type
#' must be added here: a state with a type missing from this list is
#' corrupt, and load_model() rebuilds layers through these generators.
#' @noRd
layer_classes <- function() {
  list(linear = Linear, dropout = Dropout, conv2d = Conv2d, max_pool2d = MaxPool2d,
       avg_pool2d = AvgPool2d, flatten = Flatten, batch_norm = BatchNorm, sigmoid = Sigmoid,
       tanh = Tanh, relu = ReLU, leaky_relu = LeakyReLU, elu = ELU, gelu = GELU,
       softplus = Softplus, softmax = Softmax, identity = Identity)
}

#' What is wrong with one layer description (see `Layer$.spec()`), or NULL.
#' @noRd
spec_problem <- function(s) {
  nm <- names(s)
  if (!(is.list(s) && !is.null(nm) && !anyNA(nm) && all(nzchar(nm)) && !anyDuplicated(nm))) {
    return(paste0("is described by ", describe(s), ", not by a list of named settings."))
  }
  types <- c(names(layer_classes()), "custom")
  if (!(is.character(s$type) && length(s$type) == 1L && s$type %in% types)) {
    return(paste0("has type ", describe(s$type), ", not a layer type of this rustnn (",
                  paste(types, collapse = ", "), ")."))
  }
  widths <- list(s$in_features, s$out_features)
  if (!all(vapply(widths, function(w) is.numeric(w) && length(w) == 1L, logical(1)))) {
    return("has no in_features or out_features.")
  }
  widths <- as.double(unlist(widths))
  widths <- widths[!is.na(widths)]
  if (!whole_counts(widths)) return("has widths that are not whole numbers of at least 1.")
  if (s$type == "custom" && !(is.character(s$class) && length(s$class) == 1L && !is.na(s$class) &&
                              nzchar(s$class))) {
    return("is a layer written in R without its class name.")
  }
  options <- s[setdiff(nm, c("type", "in_features", "out_features", if (s$type == "custom") c("class", "fields")))]
  ok <- vapply(options, function(v) (is.numeric(v) || is.logical(v)) && length(v) >= 1L &&
                 all(is.finite(v)), logical(1))
  if (!all(ok)) return(paste0("has an invalid setting, ", names(options)[!ok][1], "."))
  # Widths times the kernel's area bound the values of one parameter (the
  # engine would abort on an allocation that large).
  size <- prod(widths, as.double(s$kernel_size))
  if (size > .Machine$integer.max) {
    return(paste0("is too large: a parameter of ", format(size, big.mark = ",", scientific = FALSE),
                  " values."))
  }
  NULL
}

#' What is wrong with one layer's parameters (a named list of doubles, as
#' the engine and `Layer$params` give them), or NULL; values are scanned
#' only with `values = TRUE`. Whether they are the ones the layer has is
#' for the engine to say (see check_state_params()).
#' @noRd
params_problem <- function(p, values) {
  if (!is.list(p)) return(paste0("has parameters that are ", describe(p), ", not a list."))
  if (length(p) == 0L) return(NULL)
  nm <- names(p)
  if (is.null(nm) || anyNA(nm) || !all(nzchar(nm)) || anyDuplicated(nm)) {
    return("has parameters without names.")
  }
  for (n in nm) {
    v <- p[[n]]
    if (!is.double(v)) return(paste0("has a parameter ", n, " that is not a vector of doubles."))
    if (values && !rn_all_finite(v)) {
      return(paste0("has NA or infinite values in its parameter ", n, "."))
    }
    if (values && n == "running_var" && any(v < 0)) {
      return("has negative running variances.")
    }
  }
  NULL
}

#' The target: what predictions decode to (see encode_target()).
#' @noRd
target_problem <- function(target) {
  if (is.null(target)) return(NULL)
  ok <- is.list(target) && is.character(target$type) && length(target$type) == 1L &&
    !is.na(target$type) &&
    switch(target$type,
      factor = identical(names(target), c("type", "levels")) && is.character(target$levels) &&
        length(target$levels) >= 1L && !anyNA(target$levels) && !anyDuplicated(target$levels),
      numeric = identical(setdiff(names(target), "classes"), c("type", "zero_based")) &&
        is_flag(target$zero_based) && (is.null(target$classes) || is_flag(target$classes)),
      FALSE)
  if (!ok) {
    return("its target is not list(type = \"factor\", levels) with distinct levels, or list(type = \"numeric\", zero_based, classes).")
  }
  NULL
}

#' The last loss: its description `list(name, delta)` (`Loss$.description()`).
#' @noRd
loss_problem <- function(loss) {
  if (is.null(loss)) return(NULL)
  ok <- is.list(loss) && identical(names(loss), c("name", "delta")) && is.character(loss$name) &&
    length(loss$name) == 1L && !is.na(loss$name) && loss$name %in% catalog("losses")
  if (ok) {
    delta <- loss$delta
    ok <- if (loss$name == "huber") {
      is.numeric(delta) && length(delta) == 1L && is.finite(delta) && delta > 0
    } else {
      is.null(delta)
    }
  }
  if (!ok) {
    return(paste0("its loss is ", describe(loss), ", not list(name, delta) naming a loss (",
                  paste(catalog("losses"), collapse = ", "), "), with a positive delta for huber only."))
  }
  NULL
}

#' How new inputs are prepared: `terms` and `xlevels` of a formula,
#' `center` and `scale` of mlp_sequential()'s standardization, the names of the input
#' `columns`.
#' @noRd
preprocess_problem <- function(pre) {
  if (is.null(pre)) return(NULL)
  known <- c("terms", "xlevels", "center", "scale", "columns")
  nm <- names(pre)
  if (!(is.list(pre) && (length(pre) == 0L || !is.null(nm) && all(nm %in% known) && !anyDuplicated(nm)))) {
    return(paste0("its input preparation is not a list of any of ", paste(known, collapse = ", "), "."))
  }
  if (!is.null(pre$terms) && !(inherits(pre$terms, "terms") && is.call(pre$terms))) {
    return(paste0("its input preparation's terms are ", describe(pre$terms), ", not a terms object."))
  }
  if (!is.null(pre$xlevels) && !(is.list(pre$xlevels) &&
                                 all(vapply(pre$xlevels, is.character, logical(1))))) {
    return("its input preparation's xlevels are not a list of character vectors.")
  }
  if (!is.null(pre$columns) && !(is.character(pre$columns) && length(pre$columns) >= 1L &&
                                 !anyNA(pre$columns) && !anyDuplicated(pre$columns))) {
    return("its input preparation's columns are not distinct column names.")
  }
  if (!is.null(pre$center) || !is.null(pre$scale)) {
    ok <- is.double(pre$center) && is.double(pre$scale) && length(pre$center) == length(pre$scale) &&
      length(pre$center) >= 1L && all(is.finite(pre$center)) && all(is.finite(pre$scale)) &&
      all(pre$scale != 0)
    if (!ok) {
      return("its input preparation's center and scale are not finite numbers, as many of each, with no zero scale.")
    }
  }
  NULL
}

#' The `rustnn_history` of the last fit() (see new_history()).
#' @noRd
history_problem <- function(history) {
  if (is.null(history)) return(NULL)
  ok <- is.list(history) && identical(class(history), "rustnn_history") &&
    is.list(history$metrics) && all(vapply(history$metrics, is.numeric, logical(1))) &&
    is.list(history$params) && is.character(history$status) && length(history$status) == 1L
  if (!ok) return("its history is not a valid rustnn_history.")
  tracked_problem(history$tracked, length(history$metrics$loss))
}

#' The columns of the history's `tracked` data frames and their types (see
#' tracked_frames() and fit()'s documentation).
#' @noRd
tracked_columns <- function() {
  key <- c(epoch = "integer", layer = "character", param = "character", kind = "character")
  list(summary = c(key, mean = "double", sd = "double", mean_abs = "double", min = "double",
                   max = "double"),
       histogram = c(key, lower = "double", upper = "double", count = "integer"))
}

#' A history's `tracked`: NULL, or the two data frames of tracked_columns(),
#' for epochs among the history's `epochs`.
#' @noRd
tracked_problem <- function(tracked, epochs) {
  if (is.null(tracked)) return(NULL)
  spec <- tracked_columns()
  if (!(is.list(tracked) && identical(names(tracked), names(spec)))) {
    return("its history's tracked weights are not list(summary, histogram).")
  }
  for (part in names(spec)) {
    problem <- tracked_frame_problem(tracked[[part]], spec[[part]], epochs)
    if (!is.null(problem)) return(paste0("its history's tracked ", part, " ", problem))
  }
  NULL
}

tracked_frame_problem <- function(df, types, epochs) {
  ok <- identical(class(df), "data.frame") && identical(names(df), names(types)) &&
    all(vapply(names(types), function(n) typeof(df[[n]]) == types[[n]], logical(1)))
  if (!ok) {
    return(paste0("is not a data frame of columns ",
                  paste0(names(types), " (", types, ")", collapse = ", "), "."))
  }
  keys <- df[c("epoch", "layer", "param", "kind", if (!is.null(df$count)) "count")]
  if (anyNA(keys)) return("has NA in its epoch, layer, param, kind or count.")
  if (!all(df$epoch >= 1L & df$epoch <= epochs)) {
    return(paste0("has epochs outside the history's 1 to ", epochs, "."))
  }
  if (!all(df$kind %in% c("weight", "gradient"))) {
    return("has kinds other than \"weight\" and \"gradient\".")
  }
  if (!is.null(df$count) && any(df$count < 0L)) return("has negative counts.")
  NULL
}

is_flag <- function(x) is.logical(x) && length(x) == 1L && !is.na(x)

whole_counts <- function(x) {
  !anyNA(x) && all(x >= 1 & x <= .Machine$integer.max & x == round(x))
}

#' A value, briefly, for messages: a string or number as itself, anything
#' else by its type and length.
#' @noRd
describe <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.character(x) && length(x) == 1L) return(encodeString(x, quote = "\""))
  if ((is.numeric(x) || is.logical(x)) && length(x) == 1L) return(format(x))
  type <- if (is.list(x)) "list" else paste(typeof(x), "vector")
  paste0(if (grepl("^[aeiou]", type)) "an " else "a ", type, " of length ", length(x))
}
