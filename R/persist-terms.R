# A formula's terms in a model file: as text, never as R code.
#
# predict() evaluates the formula's variables and its `predvars` on new data
# (model.frame()), so a file whose terms call `system()` would run it. The
# file therefore holds the formula and predvars as text; load_model() parses
# the text (parsing runs nothing) and accepts it only if every function it
# calls is one of `formula_functions`, then rebuilds the terms with
# stats::terms(). save_model() refuses a formula that would not load back.

#' The functions a formula or its predvars may call in a model file: the
#' formula operators, arithmetic, comparisons and math functions, the
#' transformations that model.frame() records with their coefficients
#' (poly(), scale(), the splines' ns() and bs()), factor conversions, and
#' c() and list() for those coefficients. Nothing that reads or writes
#' files, runs commands, evaluates text or calls a function given by name.
#' A call `pkg::f` is allowed for `f` of this list in base, stats or splines.
#' @noRd
formula_functions <- c(
  "~", "+", "-", "*", "/", "^", ":", "%in%", "(", "|", "&", "!",
  "%%", "%/%", "==", "!=", "<", ">", "<=", ">=",
  "I", "log", "log2", "log10", "log1p", "exp", "expm1", "sqrt", "abs", "sign",
  "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
  "floor", "ceiling", "round", "signif", "trunc", "pmin", "pmax", "ifelse",
  "poly", "scale", "offset", "ns", "bs", "cut",
  "factor", "ordered", "as.factor", "as.numeric", "as.double", "as.integer", "as.logical",
  "c", "list"
)

formula_packages <- c("base", "stats", "splines")

#' A terms object as the file holds it: the formula and its predvars as R
#' text, its dataClasses as they are. Refused (an error) unless the text
#' rebuilds the same terms.
#' @noRd
terms_to_file <- function(tt) {
  formula <- tt
  attributes(formula) <- NULL
  predvars <- attr(tt, "predvars")
  out <- list(formula = call_to_text(formula),
              predvars = if (!is.null(predvars)) call_to_text(predvars),
              dataClasses = attr(tt, "dataClasses"))
  back <- terms_from_file(out)
  attr(tt, ".Environment") <- NULL
  same <- identical(without_predvars(back), without_predvars(tt)) &&
    identical(out$predvars, if (!is.null(predvars)) call_to_text(attr(back, "predvars")))
  if (!same) invalid_model("The formula's terms cannot be written as text: ", out$formula)
  out
}

without_predvars <- function(tt) {
  attr(tt, "predvars") <- NULL
  tt
}

#' R text of a call that parses back to it, numbers with 17 significant
#' digits (they read back exactly).
#' @noRd
call_to_text <- function(x) {
  paste(deparse(x, width.cutoff = 500L, control = c("keepInteger", "keepNA", "niceNames", "digits17")),
        collapse = "\n")
}

#' The terms a file describes: `list(formula, predvars, dataClasses)` (format
#' 2), or for format 1 the terms as the reader returns a call
#' (`rustnn_language`: its text and attributes). Errors are
#' rustnn_error_model_corrupt.
#' @noRd
terms_from_file <- function(x, version = model_format) {
  if (version == 1L) x <- terms_from_v1(x)
  fields <- c("formula", "predvars", "dataClasses")
  if (!(is.list(x) && !is.object(x) && identical(names(x), fields))) {
    invalid_model("The formula's terms are ", describe(x), ", not list(formula, predvars, dataClasses).")
  }
  f <- parse_checked(x$formula, "The formula")
  if (!(is.call(f) && identical(f[[1]], as.name("~")) && length(f) %in% 2:3)) {
    invalid_model("The formula is not a formula: ", x$formula)
  }
  formula <- structure(f, class = "formula", .Environment = globalenv())
  tt <- tryCatch(stats::terms(formula), error = function(e) {
    invalid_model("The formula's terms cannot be built: ", conditionMessage(e))
  })
  if (!is.null(x$predvars)) attr(tt, "predvars") <- parse_checked(x$predvars, "The formula's predvars")
  classes <- x$dataClasses
  if (!is.null(classes)) {
    if (!(is.character(classes) && !anyNA(classes) && !is.null(names(classes)) &&
          identical(names(attributes(classes)), "names"))) {
      invalid_model("The formula's dataClasses are ", describe(classes), ", not a named character vector.")
    }
    attr(tt, "dataClasses") <- classes
  }
  attr(tt, ".Environment") <- NULL
  tt
}

#' Format 1 files hold the terms object itself; the reader returns it, and
#' its predvars, as text (`rustnn_language`). Its other attributes are
#' rebuilt from the formula.
#' @noRd
terms_from_v1 <- function(x) {
  attrs <- if (inherits(x, "rustnn_language")) x[["attributes"]]
  if (!(is.list(attrs) && "terms" %in% attrs[["class"]])) {
    invalid_model("The formula's terms are ", describe(x), ", not a terms object.")
  }
  predvars <- attrs[["predvars"]]
  if (!(is.null(predvars) || inherits(predvars, "rustnn_language"))) {
    invalid_model("The formula's predvars are ", describe(predvars), ", not a call.")
  }
  list(formula = x[["text"]], predvars = predvars[["text"]], dataClasses = attrs[["dataClasses"]])
}

#' The one expression of `text`, parsed without evaluating anything, and
#' refused unless every function it calls is in `formula_functions`.
#' @noRd
parse_checked <- function(text, what) {
  if (!(is.character(text) && length(text) == 1L && !is.na(text))) {
    invalid_model(what, " is ", describe(text), ", not a string of R code.")
  }
  exprs <- tryCatch(parse(text = text, keep.source = FALSE), error = function(e) {
    invalid_model(what, " is not valid R code: ", conditionMessage(e))
  })
  if (length(exprs) != 1L) invalid_model(what, " is not one R expression: ", text)
  expr <- exprs[[1]]
  check_formula_calls(expr, what)
  expr
}

#' Walks the parse tree with a list as its stack (a formula of many terms
#' nests deeper than R's recursion allows), checking every call's function.
#' @noRd
check_formula_calls <- function(expr, what) {
  stack <- list(expr)
  while (length(stack)) {
    x <- stack[[length(stack)]]
    stack[[length(stack)]] <- NULL
    if (!is.call(x)) next
    fun <- call_function_name(x[[1]])
    if (is.na(fun)) {
      invalid_model(what, " calls ", paste(deparse(x[[1]], nlines = 1L), collapse = ""),
                    ", which a model file may not: it calls only ",
                    "formula operators, arithmetic and the functions listed in ?load_model.")
    }
    # Empty arguments (x[, 1]) are skipped: they cannot be held in a variable.
    args <- as.list(x)[-1]
    keep <- vapply(args, function(a) !identical(a, quote(expr = )), logical(1))
    stack <- c(stack, args[keep])
  }
  invisible(expr)
}

#' The name of an allowed function a call's head names (`log` or
#' `stats::poly`), or NA.
#' @noRd
call_function_name <- function(head) {
  if (is.call(head) && length(head) == 3L && identical(head[[1]], as.name("::")) &&
      is.symbol(head[[2]]) && as.character(head[[2]]) %in% formula_packages) {
    head <- head[[3]]
  }
  if (is.symbol(head) && as.character(head) %in% formula_functions) as.character(head) else NA_character_
}
