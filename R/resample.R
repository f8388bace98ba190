# Resampling and tuning on any `future` backend: cross_validate() and
# tune_cv() train one model per (setting of the grid, fold) through
# future.apply, so the same call runs sequentially, on local processes, on
# a cluster or on a scheduler, with the same results. A fit is a task; its
# random numbers (initial weights, shuffling, dropout) come from a
# L'Ecuyer-CMRG stream of its own, picked by its position among the tasks,
# never by the worker that runs it. The data travel to a worker once per
# chunk of tasks; each task takes its rows with subset_rows(), the one
# place that will also take the engine's own datasets.

#' Cross-validate a model
#'
#' @description
#' `cross_validate()` trains a model on the analysis rows of each fold and
#' scores it (loss and metrics, by [evaluate()]) on the held-out rows;
#' `tune_cv()` does so for each setting (row) of a grid of
#' hyper-parameters. The fits run through [future.apply::future_lapply()],
#' so they run wherever [future::plan()] says: one after another
#' (`plan(sequential)`, the default), in background R sessions
#' (`plan(multisession)`), in forked processes (`plan(multicore)`), on other
#' hosts (`plan(cluster, workers = c("n1", "n2"))`) or as jobs of a
#' scheduler (`future.batchtools`). Progress is reported through
#' `progressr`: wrap the call in [progressr::with_progress()] or set
#' [progressr::handlers()] globally.
#'
#' **Model.** `model` is a function that builds an untrained [Sequential]
#' network from the hyper-parameters of one setting: it is called with the
#' grid's columns as named arguments (with no arguments in
#' `cross_validate()`). It returns the network, or a list of the network as
#' `model` and arguments of [fit()][fit.Sequential] for this setting, such
#' as `optimizer = Adam$new(lr = lr)` or `epochs`. Arguments of
#' [fit()][fit.Sequential] common to every setting go in `...`. The
#' function runs on the workers: what it uses beyond its arguments and the
#' attached packages (variables of the session, of the function that made
#' it) is found when the call starts and sent with it, as `future` does
#' for the expressions of a future; the rest of its environment is not.
#'
#' **Reproducibility.** One seed is drawn from R's random number generator
#' at the start, after the folds (so [set.seed()] repeats the call), and
#' gives every fit a random-number stream of its own, in which the model's
#' initial weights are drawn and `fit()`'s shuffling and dropout seeded:
#' fit `k` runs with
#' `.Random.seed` set to stream `k` of the L'Ecuyer-CMRG generator
#' seeded with `seed`, that is `parallel::nextRNGStream()` applied `k` times
#' to the state `set.seed(seed, kind = "L'Ecuyer-CMRG")` makes (the streams
#' `future.apply::future_lapply()` takes as `future.seed`). Fits are
#' counted fold by fold: fold `j` of setting `i` of `S` is fit
#' `(j - 1) * S + i`. Since the engine's results do not depend on the
#' number of threads either, the results are identical under every plan
#' and number of workers.
#'
#' @param model A function of the grid's hyper-parameters returning an
#'   untrained [Sequential], or a list of one as `model` and further
#'   arguments of [fit()][fit.Sequential]. See **Model**.
#' @param x,y,data The data, as for [fit()][fit.Sequential]: a matrix,
#'   data frame or image array `x` with targets `y`, or a formula `x` with
#'   a data frame `data`. With `folds` from `rsample`, `data` may be left
#'   out: the folds' data are used.
#' @param folds The folds: a number of folds (at least 2) drawn at random
#'   with R's random number generator (for classes, within each class, so
#'   each fold holds about the same share of every class), an `rset` of
#'   `rsample` such as `rsample::vfold_cv(iris, v = 5)` (its analysis and
#'   assessment rows are used), or a list of vectors of row numbers, each
#'   the held-out rows of one fold.
#' @param grid A data frame of hyper-parameters, one setting per row, its
#'   columns named as the arguments of `model`, e.g. from [expand.grid()].
#'   List columns carry values of more than one number, such as the units
#'   of several hidden layers.
#' @param metrics Metrics computed on the held-out rows, as in
#'   [evaluate()] (default: accuracy for classes, none otherwise).
#' @param ... Arguments of [fit()][fit.Sequential] common to every fit,
#'   such as `epochs`, `batch_size`, `optimizer`, `loss`.
#' @param threads Threads per fit (see [default_threads()]). Default: 1
#'   when the plan has more than one worker (so that workers do not compete
#'   for the cores), else [default_threads()]. It never changes the
#'   results.
#' @param keep_models Keep the trained models? They are returned in
#'   `$models`, and [as_ensemble()] makes an ensemble of them.
#' @return A `rustnn_resamples` object: a list with
#'   * `folds`: a tibble with one row per fit: the grid's columns,
#'     `.config` (`"setting_1"`, ...; the setting's row in the grid),
#'     `fold` (the fold's id), `n_analysis` and `n_assessment` (rows),
#'     `epochs` (epochs trained), `loss` and a column per metric, on the
#'     held-out rows;
#'   * `summary`: a tibble with one row per setting and figure (`loss` and
#'     each metric): the grid's columns, `.config`, `metric`, `mean`, `sd`
#'     (over the folds) and `n` (folds);
#'   * `grid`, `seed` (the seed of the streams), `elapsed` (seconds) and,
#'     with `keep_models`, `models` (a list, in the order of `folds`' rows).
#'
#'   [best_params()] picks the best setting.
#' @seealso [fit_ensemble()] to train several models on all the rows.
#' @export
#' @examplesIf requireNamespace("future.apply", quietly = TRUE)
#' future::plan("sequential")  # or "multisession", "cluster", ...
#' build <- function(hidden = 8) {
#'   Sequential$new(Linear$new(4, hidden), ReLU$new(), Linear$new(hidden, 3), Softmax$new())
#' }
#' set.seed(1)
#' cv <- cross_validate(build, scale(iris[, 1:4]), iris$Species, folds = 3,
#'                      epochs = 10, optimizer = "adam")
#' cv
#' cv$folds
#'
#' # A grid: the hidden units and the learning rate
#' build_lr <- function(hidden, lr) {
#'   list(model = build(hidden), optimizer = Adam$new(lr = lr))
#' }
#' grid <- expand.grid(hidden = c(4, 16), lr = c(0.01, 0.1))
#' tuned <- tune_cv(build_lr, grid, scale(iris[, 1:4]), iris$Species, folds = 3,
#'                  epochs = 10)
#' tuned
#' best_params(tuned, "accuracy")
#'
#' # rsample's folds, a formula
#' if (requireNamespace("rsample", quietly = TRUE)) {
#'   folds <- rsample::vfold_cv(iris, v = 3, strata = Species)
#'   cross_validate(build, Species ~ ., folds = folds, epochs = 10, optimizer = "adam")
#' }
cross_validate <- function(model, x, y = NULL, data = NULL, folds = 5L, metrics = NULL, ...,
                           threads = NULL, keep_models = FALSE) {
  resample_grid(model, grid = NULL, x = x, y = y, data = data, folds = folds,
                metrics = metrics, fit_args = list(...), threads = threads,
                keep_models = keep_models, call = rlang::current_env())
}

#' @rdname cross_validate
#' @export
tune_cv <- function(model, grid, x, y = NULL, data = NULL, folds = 5L, metrics = NULL, ...,
                    threads = NULL, keep_models = FALSE) {
  resample_grid(model, grid = grid, x = x, y = y, data = data, folds = folds,
                metrics = metrics, fit_args = list(...), threads = threads,
                keep_models = keep_models, call = rlang::current_env())
}

#' The one path behind cross_validate() and tune_cv(): checks, folds, the
#' tasks (fold-major, so that a chunk of consecutive tasks mixes the
#' settings, whose costs differ), one future_lapply() over them, results in
#' the grid's order.
#' @noRd
resample_grid <- function(model, grid, x, y, data, folds, metrics, fit_args, threads,
                          keep_models, call) {
  check_resample_packages(call)
  check_builder(model, grid, call)
  grid <- check_grid(grid, call)
  check_fit_args(fit_args, call)
  check_flag(keep_models, call = call)
  if (!is.null(metrics)) metrics <- portable_values(metrics)
  # A data set's own targets stratify the folds as a given y does.
  if (inherits(x, "rustnn_dataset")) y <- dataset_targets(x, y, call)
  folds <- as_folds(folds, x, y, data, call)
  data <- resample_data(x, y, folds$data %||% data, call)
  check_fold_rows(folds, data_rows(data), call)
  threads <- if (is.null(threads)) resample_threads() else check_threads(threads, call = call)

  tasks <- expand.grid(setting = seq_len(nrow(grid)), fold = seq_along(folds$id))
  payload <- list(builder = portable_function(model), grid = grid, data = data,
                  analysis = folds$analysis, assessment = folds$assessment,
                  fit_args = portable_values(fit_args), metrics = metrics, threads = threads,
                  keep_models = keep_models)
  seed <- sample.int(.Machine$integer.max, 1L)
  started <- Sys.time()
  out <- run_tasks(unname(split(tasks, seq_len(nrow(tasks)))), payload, seed)
  elapsed <- as.double(difftime(Sys.time(), started, units = "secs"))
  # Back to the grid's order: each setting's folds together.
  order <- order(tasks$setting, tasks$fold)
  tasks <- tasks[order, ]
  out <- out[order]
  new_resamples(grid, folds$id[tasks$fold], tasks$setting, out, seed, elapsed, keep_models)
}

#' Runs one fit per task through future.apply, task k in stream k of the
#' L'Ecuyer-CMRG generator seeded with `seed` (whatever the worker), with a
#' progress step per fit. The worker function is the package's own (sent
#' by reference); rustnn and the attached packages whose functions the
#' builder uses by their bare names are attached on the workers, so that it
#' finds them there as it does here.
#' @noRd
run_tasks <- function(tasks, payload, seed) {
  progress <- if (requireNamespace("progressr", quietly = TRUE)) {
    progressr::progressor(steps = length(tasks))
  } else {
    function(...) invisible(NULL)
  }
  # Under plan(sequential) the fits run here, in their streams: the
  # caller's generator is put back as it was.
  local_rng_state()
  future.apply::future_lapply(tasks, resample_task, payload = payload, progress = progress,
                              future.seed = rng_streams(seed, length(tasks)),
                              future.packages = unique(c("rustnn", attr(payload$builder, "packages"))),
                              future.globals = FALSE)
}

#' The `.Random.seed` of streams 1..n of the L'Ecuyer-CMRG generator after
#' `set.seed(seed, kind = "L'Ecuyer-CMRG")`: stream k is
#' `parallel::nextRNGStream()` applied k times. The caller's generator is
#' left as it was.
#' @noRd
rng_streams <- function(seed, n) {
  local_rng_state()
  set.seed(seed, kind = "L'Ecuyer-CMRG")
  stream <- get(".Random.seed", envir = globalenv(), inherits = FALSE)
  streams <- vector("list", n)
  for (k in seq_len(n)) {
    stream <- parallel::nextRNGStream(stream)
    streams[[k]] <- stream
  }
  streams
}

#' Restores R's random number generator (its kinds and state) when the
#' calling function exits.
#' @noRd
local_rng_state <- function(env = parent.frame()) {
  kinds <- RNGkind()
  had_seed <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  old_seed <- if (had_seed) get(".Random.seed", envir = globalenv(), inherits = FALSE)
  restore <- function() {
    suppressWarnings(RNGkind(kinds[1], kinds[2], kinds[3]))
    if (had_seed) {
      assign(".Random.seed", old_seed, envir = globalenv())
    } else if (exists(".Random.seed", envir = globalenv(), inherits = FALSE)) {
      rm(".Random.seed", envir = globalenv())
    }
  }
  do.call(on.exit, list(as.call(list(restore)), add = TRUE), envir = env)
  invisible()
}

#' One fit, on a worker: build the model from the setting's parameters,
#' train it on the fold's analysis rows, score it on the held-out rows.
#' @noRd
resample_task <- function(task, payload, progress) {
  params <- grid_row(payload$grid, task$setting)
  built <- build_model(payload$builder, params)
  fit_args <- utils::modifyList(payload$fit_args, built$fit_args)
  train <- subset_rows(payload$data, payload$analysis[[task$fold]])
  test <- subset_rows(payload$data, payload$assessment[[task$fold]])
  history <- do.call(fit, c(list(built$model), train, fit_args,
                            list(verbose = 0, threads = payload$threads)))
  scores <- do.call(evaluate, c(list(built$model), test,
                                list(loss = fit_args$loss, metrics = payload$metrics,
                                     threads = payload$threads)))
  progress(sprintf("setting %d, fold %d", task$setting, task$fold))
  list(scores = scores, epochs = length(history$metrics$loss),
       n = c(data_rows(train), data_rows(test)),
       model = if (payload$keep_models) built$model)
}

#' A setting's parameters as a named list (list columns give their element).
#' @noRd
grid_row <- function(grid, i) {
  lapply(grid, function(col) if (is.list(col)) col[[i]] else col[i])
}

#' Calls the builder with a setting's parameters; the model and the fit()
#' arguments it returns.
#' @noRd
build_model <- function(builder, params) {
  built <- do.call(builder, params)
  if (inherits(built, "Sequential")) return(list(model = built, fit_args = list()))
  if (is.list(built) && !is.null(names(built)) && inherits(built$model, "Sequential")) {
    fit_args <- built[names(built) != "model"]
    check_fit_args(fit_args, rlang::current_env(), where = "the list {.arg model} returned")
    return(list(model = built$model, fit_args = fit_args))
  }
  cli::cli_abort(c("{.arg model} must return an untrained {.cls Sequential}, or a list of one as {.field model} and arguments of {.fn fit}, not {.obj_type_friendly {built}}.",
                   i = "For example {.code function(hidden) Sequential$new(Linear$new(4, hidden), ...)}."),
                 class = c("rustnn_error_model_spec", "rustnn_error"), call = NULL)
}

# Threads per fit when not given: one per worker when there are several.
resample_threads <- function() {
  if (future::nbrOfWorkers() > 1) 1L else default_threads()
}

# ---- the data: packed once, sent once per chunk, subset per task --------

#' The data as fit() and evaluate() take them, in one list: `list(x, y)`
#' or `list(x = formula, data)`. The hook for the engine's own datasets:
#' one held in memory would be sent as is; one backed by a file would be
#' sent as its path and opened by subset_rows() on the worker.
#' @noRd
resample_data <- function(x, y, data, call) {
  if (inherits(x, "formula")) {
    if (!is.data.frame(data)) {
      abort_arg("With a formula, {.arg data} must be a data frame (or give {.arg folds} from {.pkg rsample}), not {.obj_type_friendly {data}}.",
                "data", call = call)
    }
    return(list(x = x, data = data))
  }
  # The targets travel once, as `y`.
  if (inherits(x, "rustnn_dataset")) x$y <- NULL
  if (is.null(y)) abort_arg("{.arg y} is missing: give the targets, or a formula as {.arg x}.", "y", call = call)
  if (NROW(y) != data_rows(list(x = x))) {
    abort_arg("{.arg y} has {NROW(y)} row{?s}, but {.arg x} has {data_rows(list(x = x))}.", "y", call = call)
  }
  list(x = x, y = y)
}

#' Rows of packed data.
#' @noRd
data_rows <- function(d) {
  if (!is.null(d$data)) nrow(d$data) else NROW(d$x)
}

#' The rows `idx` of packed data (or of one of its parts): the one place
#' where a fit's data are taken from the whole.
#' @noRd
subset_rows <- function(x, idx) {
  if (is.null(x) || inherits(x, "formula")) return(x)
  # A view of a data set's rows (a data set file is opened again on a
  # worker from its path: only the path travels).
  if (inherits(x, "rustnn_dataset")) return(x[idx])
  if (is.list(x) && !is.data.frame(x)) return(lapply(x, subset_rows, idx = idx))
  if (is.data.frame(x) || is.matrix(x)) return(x[idx, , drop = FALSE])
  if (is.array(x) && length(dim(x)) > 1L) {
    return(do.call(`[`, c(list(x, idx), rep(list(TRUE), length(dim(x)) - 1L), drop = FALSE)))
  }
  x[idx]
}

# ---- folds -------------------------------------------------------------

#' Folds as `list(id, analysis, assessment, data)`: row numbers of each
#' fold's training and held-out rows; `data` is an rset's data.
#' @noRd
as_folds <- function(folds, x, y, data, call) {
  if (inherits(folds, "rset")) {
    splits <- folds$splits
    ids <- folds[grepl("^id", names(folds))]
    id <- do.call(paste, c(unname(as.list(ids)), sep = "_"))
    return(list(id = id, analysis = lapply(splits, function(s) s$in_id),
                assessment = lapply(splits, function(s) rsample::complement(s)),
                data = splits[[1]]$data))
  }
  if (is.list(folds)) {
    if (!length(folds) || !all(vapply(folds, is.numeric, logical(1)))) {
      abort_arg("A list of {.arg folds} must hold vectors of row numbers, the held-out rows of each fold.",
                "folds", call = call)
    }
    n <- data_rows(list(x = x, data = data))
    assessment <- lapply(folds, as.integer)
    id <- names(folds) %||% sprintf("Fold%d", seq_along(folds))
    return(list(id = id, assessment = assessment,
                analysis = lapply(assessment, function(a) setdiff(seq_len(n), a))))
  }
  v <- check_count(folds, "folds", call = call)
  if (v < 2L) abort_arg("{.arg folds} must be at least 2, not {v}.", "folds", call = call)
  if (inherits(x, "formula") && is.null(data)) {
    abort_arg("With a formula, give {.arg data} (or {.arg folds} from {.pkg rsample}).", "data", call = call)
  }
  n <- data_rows(list(x = x, data = data))
  if (v > n) abort_arg("{.arg folds} is {v}, more than the {n} rows.", "folds", call = call)
  fold_of <- draw_folds(n, v, fold_strata(x, y, data))
  assessment <- lapply(seq_len(v), function(k) which(fold_of == k))
  list(id = sprintf("Fold%d", seq_len(v)), assessment = assessment,
       analysis = lapply(assessment, function(a) setdiff(seq_len(n), a)))
}

#' The classes to stratify folds by: a factor, character or logical target
#' (`y`, or a formula's response), else NULL.
#' @noRd
fold_strata <- function(x, y, data) {
  if (inherits(x, "formula") && length(x) == 3L && is.name(x[[2]]) && is.data.frame(data)) {
    y <- data[[as.character(x[[2]])]]
  }
  if (is.factor(y) || is.character(y) || (is.logical(y) && is.null(dim(y)))) y
}

#' Fold numbers 1..v for n rows, with R's RNG: within each class, the
#' class's rows shuffled and dealt round the folds, each class starting
#' where the last left off (so the folds' sizes differ by at most one).
#' @noRd
draw_folds <- function(n, v, strata) {
  groups <- if (is.null(strata)) list(seq_len(n)) else split(seq_len(n), factor(strata, exclude = NULL))
  fold_of <- integer(n)
  start <- 0L
  for (rows in groups) {
    rows <- rows[sample.int(length(rows))]
    fold_of[rows] <- (start + seq_along(rows) - 1L) %% v + 1L
    start <- start + length(rows)
  }
  fold_of
}

check_fold_rows <- function(folds, n, call) {
  rows <- unlist(c(folds$analysis, folds$assessment))
  if (any(is.na(rows)) || any(rows < 1) || any(rows > n)) {
    abort_arg("{.arg folds} name rows outside the {n} rows of the data.", "folds", call = call)
  }
  empty <- vapply(folds$analysis, length, integer(1)) == 0L |
    vapply(folds$assessment, length, integer(1)) == 0L
  if (any(empty)) {
    abort_arg("Each fold needs analysis and held-out rows; fold{?s} {.val {folds$id[empty]}} {?has/have} none of one.",
              "folds", call = call)
  }
}

# ---- checks --------------------------------------------------------------

#' future and future.apply run the fits; a missing one is a classed error.
#' @noRd
check_resample_packages <- function(call) {
  for (pkg in c("future", "future.apply", "globals")) {
    if (!requireNamespace(pkg, quietly = TRUE)) {
      cli::cli_abort(c("Resampling needs the {.pkg {pkg}} package.",
                       i = "Install it with {.code install.packages(\"{pkg}\")}."),
                     class = c("rustnn_error_missing_package", "rustnn_error"), call = call)
    }
  }
}

check_builder <- function(model, grid, call) {
  if (!is.function(model)) {
    abort_arg(c("{.arg model} must be a function that returns an untrained {.cls Sequential}, not {.obj_type_friendly {model}}.",
                i = "For example {.code function(hidden) Sequential$new(Linear$new(4, hidden), ...)}."),
              "model", call = call)
  }
  args <- names(formals(model))
  unknown <- setdiff(names(grid), args)
  if (!"..." %in% args && length(unknown)) {
    abort_arg("{.arg model} has no argument{?s} {.arg {unknown}} for the grid's column{?s}.",
              "model", call = call)
  }
}

check_grid <- function(grid, call) {
  if (is.null(grid)) return(data.frame(row.names = 1L))
  if (!is.data.frame(grid) || nrow(grid) == 0L || ncol(grid) == 0L || is.null(names(grid)) ||
      anyDuplicated(names(grid)) || any(!nzchar(names(grid)))) {
    abort_arg("{.arg grid} must be a data frame of named columns with at least one row, one setting per row.",
              "grid", call = call)
  }
  grid
}

# Arguments of fit() the resampling sets itself.
reserved_fit_args <- c("object", "x", "y", "data", "verbose", "threads", "validation_data")

check_fit_args <- function(fit_args, call, where = "{.arg ...}") {
  nm <- names(fit_args)
  if (length(fit_args) && (is.null(nm) || any(!nzchar(nm)))) {
    abort_arg(paste("The arguments of {.fn fit} in", where, "must be named."), "...", call = call)
  }
  allowed <- setdiff(names(formals(fit.Sequential)), c(reserved_fit_args, "..."))
  bad <- setdiff(nm, allowed)
  if (length(bad)) {
    hint <- did_you_mean(bad, allowed)
    abort_arg(c(paste("{.arg {bad}} {?is not an argument/are not arguments} of {.fn fit} that", where, "can set."),
                i = hint %||% "The data, {.arg threads} and {.arg verbose} are set by the resampling; the others are {.arg {allowed}}."),
              "...", call = call)
  }
}

# ---- what is sent to the workers -----------------------------------------

#' A function that carries what it uses: a closure's environment (which may
#' hold anything of the function that made it, or of the session) is
#' replaced by a small one with only the variables the body and default
#' arguments use, found as `future` finds the globals of an expression
#' (functions among them made portable in turn, to a bounded depth).
#' Functions of packages are left as they are: they travel by reference.
#' @noRd
portable_function <- function(f, depth = 0L) {
  env <- environment(f)
  if (is.primitive(f) || is.null(env) || isNamespace(env) || identical(env, baseenv()) ||
      depth > 3L) {
    return(f)
  }
  defaults <- Filter(function(e) !identical(e, quote(expr = )), as.list(formals(f)))
  expr <- as.call(c(as.name("{"), unname(defaults), body(f)))
  found <- globals::globalsOf(expr, envir = env, mustExist = FALSE, recursive = FALSE)
  keep <- setdiff(names(found), names(formals(f)))
  where <- lapply(stats::setNames(keep, keep), home_of, env = env)
  # Variables of the session or of enclosing functions; not those of
  # attached packages (the workers attach them) nor those not found.
  in_package <- vapply(keep, function(n) {
    w <- where[[n]]
    is.environment(w) && (isNamespace(w) || identical(w, baseenv()) ||
                            startsWith(environmentName(w), "package:"))
  }, logical(1))
  packages <- unique(sub("^package:", "", vapply(where[keep[in_package]], environmentName, "")))
  keep <- keep[!in_package & vapply(keep, function(n) {
    is.environment(where[[n]]) && !identical(where[[n]], emptyenv())
  }, logical(1))]
  values <- lapply(keep, function(n) {
    v <- get(n, envir = where[[n]], inherits = FALSE)
    if (is.function(v)) {
      v <- portable_function(v, depth + 1L)
      packages <<- union(packages, attr(v, "packages"))
      attr(v, "packages") <- NULL
    }
    v
  })
  # Without its source references, which hold the text of the whole file
  # it was read from.
  f <- utils::removeSource(f)
  environment(f) <- list2env(stats::setNames(values, keep), parent = globalenv())
  attr(f, "packages") <- setdiff(packages, "base")
  f
}

#' The environment where `name` is found from `env` (R's lookup), or NULL.
#' @noRd
home_of <- function(name, env) {
  while (!identical(env, emptyenv())) {
    if (exists(name, envir = env, inherits = FALSE)) return(env)
    env <- parent.env(env)
  }
  NULL
}

#' Functions in a list (metrics written in R, a loss written in R) made
#' portable; other values as they are.
#' @noRd
portable_values <- function(x) {
  if (is.function(x)) return(portable_function(x))
  if (is.list(x) && !inherits(x, "R6") && !is.data.frame(x)) return(lapply(x, portable_values))
  x
}

# ---- results ---------------------------------------------------------------

new_resamples <- function(grid, fold_id, setting, out, seed, elapsed, keep_models) {
  scores <- lapply(out, function(o) o$scores)
  figures <- names(scores[[1]])
  per_fit <- as.data.frame(do.call(rbind, lapply(scores, function(s) s[figures])))
  names(per_fit) <- figures
  params <- grid[setting, , drop = FALSE]
  rownames(params) <- NULL
  folds <- tibble::as_tibble(c(as.list(params),
                               list(.config = sprintf("setting_%d", setting), fold = fold_id,
                                    n_analysis = vapply(out, function(o) o$n[1], integer(1)),
                                    n_assessment = vapply(out, function(o) o$n[2], integer(1)),
                                    epochs = vapply(out, function(o) o$epochs, integer(1))),
                               as.list(per_fit)))
  structure(list(folds = folds, summary = summarize_folds(folds, grid, figures), grid = grid,
                 metrics = figures, seed = seed, elapsed = elapsed,
                 models = if (keep_models) lapply(out, function(o) o$model)),
            class = "rustnn_resamples")
}

#' Mean, sd and count over the folds of each setting and figure.
#' @noRd
summarize_folds <- function(folds, grid, figures) {
  configs <- sprintf("setting_%d", seq_len(nrow(grid)))
  rows <- lapply(seq_along(configs), function(i) {
    mine <- folds[folds$.config == configs[i], , drop = FALSE]
    params <- grid[rep(i, length(figures)), , drop = FALSE]
    rownames(params) <- NULL
    c(as.list(params),
      list(.config = rep(configs[i], length(figures)), metric = figures,
           mean = vapply(figures, function(m) mean(mine[[m]]), numeric(1), USE.NAMES = FALSE),
           sd = vapply(figures, function(m) stats::sd(mine[[m]]), numeric(1), USE.NAMES = FALSE),
           n = rep(nrow(mine), length(figures))))
  })
  tibble::as_tibble(do.call(rbind_columns, rows))
}

#' Binds lists of equal-length columns (list columns kept) row-wise.
#' @noRd
rbind_columns <- function(...) {
  parts <- list(...)
  stats::setNames(lapply(names(parts[[1]]), function(n) do.call(c, lapply(parts, `[[`, n))),
                  names(parts[[1]]))
}

# Figures where larger is better; for the others (loss, mae, rmse, ...)
# smaller is.
larger_is_better <- c("accuracy", "precision", "recall", "f1", "auc", "r2")

#' The best setting of a resampling
#'
#' The setting (row of the grid) with the best mean of a figure over the
#' folds: the smallest loss, mean absolute error or root mean squared
#' error, the largest accuracy, precision, recall, F1, AUC or R squared.
#'
#' @param x A `rustnn_resamples` object from [tune_cv()] or
#'   [cross_validate()].
#' @param metric The figure: `"loss"` or one of the metrics computed.
#' @param maximize Is larger better? Default: as said above; metrics
#'   written in R are taken as smaller-is-better unless `maximize = TRUE`.
#' @return A one-row tibble: the setting's hyper-parameters, `.config`,
#'   and the `mean` and `sd` of the figure.
#' @export
#' @examplesIf requireNamespace("future.apply", quietly = TRUE)
#' build <- function(hidden, lr) {
#'   list(model = Sequential$new(Linear$new(4, hidden), ReLU$new(), Linear$new(hidden, 3),
#'                               Softmax$new()),
#'        optimizer = Adam$new(lr = lr))
#' }
#' set.seed(1)
#' tuned <- tune_cv(build, expand.grid(hidden = c(4, 16), lr = c(0.01, 0.1)),
#'                  scale(iris[, 1:4]), iris$Species, folds = 3, epochs = 10)
#' best_params(tuned)
#' best_params(tuned, "accuracy")
best_params <- function(x, metric = "loss", maximize = NULL) {
  if (!inherits(x, "rustnn_resamples")) {
    abort_arg("{.arg x} must be the result of {.fn tune_cv} or {.fn cross_validate}, not {.obj_type_friendly {x}}.", "x")
  }
  check_choice(metric, x$metrics, "metric")
  maximize <- maximize %||% (metric %in% larger_is_better)
  check_flag(maximize)
  s <- x$summary[x$summary$metric == metric, , drop = FALSE]
  best <- if (maximize) which.max(s$mean) else which.min(s$mean)
  s[best, setdiff(names(s), c("metric", "n")), drop = FALSE]
}

#' @export
format.rustnn_resamples <- function(x, ...) {
  n_settings <- nrow(x$grid)
  n_folds <- nrow(x$folds) / n_settings
  wide <- x$summary[, setdiff(names(x$summary), c("sd", "n", "mean", "metric")), drop = FALSE]
  wide <- unique(wide)
  for (m in x$metrics) {
    s <- x$summary[x$summary$metric == m, , drop = FALSE]
    wide[[m]] <- sprintf("%.4g (%.2g)", s$mean, s$sd)
  }
  wide <- as.data.frame(wide)
  if (ncol(x$grid) == 0L) wide$.config <- NULL
  c(sprintf("<rustnn_resamples> %d setting%s x %d folds = %d fits in %.1f s",
            n_settings, if (n_settings == 1L) "" else "s", n_folds, nrow(x$folds), x$elapsed),
    "Mean (sd) over the folds, on the held-out rows:",
    utils::capture.output(print(wide, row.names = FALSE)))
}

#' @export
print.rustnn_resamples <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}
