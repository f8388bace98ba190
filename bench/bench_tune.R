# The speed-up of tune_cv() on 2 worker processes over 1: a grid of 4
# settings x 3 folds (12 fits), each fit about a second on one thread.
#
#   R_LIBS=.build/lib Rscript bench/bench_tune.R [--reps=3] [--out=bench/results]
#
# Warm: in one session, the same call under plan(sequential) (one thread
# per fit) and under plan(multisession, workers = 2) with the workers
# already started (one thread each); the median of `reps` runs each.
# Fresh: the whole script of one tuning run in a new Rscript process (R
# and rustnn start, the workers start, the data are sent), timed from
# outside, for 1 and 2 workers (plan(sequential) and plan(multisession)).
# Every run must give the same table of results. Writes OUT/tune-DATE.md.

suppressPackageStartupMessages(library(rustnn))
source(file.path("bench", "plain_r.R"))
reps <- as.integer(arg("reps", "3"))
out_dir <- arg("out", file.path("bench", "results"))
fresh_only <- arg("child", "") != ""

load_avg <- function() {
  if (file.exists("/proc/loadavg")) paste(strsplit(readLines("/proc/loadavg"), " ")[[1]][1:3], collapse = ", ") else "unknown"
}

# The workload, also run by the fresh processes (--child=1 or 2 workers).
workload <- function() {
  set.seed(1)
  n <- 6000
  x <- matrix(rnorm(n * 20), n)
  y <- x[, 1] - x[, 2]^2 + sin(x[, 3]) + rnorm(n, sd = 0.1)
  build <- function(hidden, lr) {
    list(model = Sequential$new(Linear$new(20, hidden), ReLU$new(), Linear$new(hidden, hidden),
                                ReLU$new(), Linear$new(hidden, 1)),
         optimizer = Adam$new(lr = lr))
  }
  list(build = build, grid = expand.grid(hidden = c(112, 128), lr = c(0.001, 0.01)), x = x, y = y)
}
tune_once <- function(w, threads = 1L) {
  set.seed(2)
  tune_cv(w$build, w$grid, w$x, w$y, folds = 3, epochs = 50, batch_size = 32, threads = threads)
}

if (fresh_only) {
  workers <- as.integer(arg("child", "1"))
  if (workers == 1L) future::plan("sequential") else future::plan("multisession", workers = workers)
  w <- workload()  # before tune_once() sets its seed (workload() sets its own)
  res <- tune_once(w)
  saveRDS(res$folds, arg("save", tempfile()))
  quit(save = "no")
}

load_start <- load_avg()
w <- workload()
future::plan("sequential")
one_fit <- system.time({
  set.seed(3)
  b <- w$build(128, 0.01)
  fit(b$model, w$x[1:4000, ], w$y[1:4000], optimizer = b$optimizer, epochs = 50, batch_size = 32,
      threads = 1, verbose = 0)
})[["elapsed"]]
cat(sprintf("one fit (128 units, 4000 rows, 50 epochs, 1 thread): %.2f s\n", one_fit))

time_plan <- function() {
  times <- numeric(reps)
  results <- NULL
  for (r in seq_len(reps)) {
    times[r] <- system.time(res <- tune_once(w))[["elapsed"]]
    if (!is.null(results) && !identical(results, res$folds)) stop("the results changed between runs")
    results <- res$folds
  }
  list(times = times, results = results)
}
future::plan("sequential")
seq_run <- time_plan()
future::plan("multisession", workers = 2)
invisible(future::value(future::future(NULL)))  # workers started
par_run <- time_plan()
future::plan("sequential")
stopifnot(identical(seq_run$results, par_run$results))
cat(sprintf("warm: 1 worker %s s, 2 workers %s s\n", paste(format(seq_run$times, digits = 3), collapse = ", "),
            paste(format(par_run$times, digits = 3), collapse = ", ")))

fresh <- function(workers) {
  file <- tempfile(fileext = ".rds")
  times <- numeric(reps)
  for (r in seq_len(reps)) {
    times[r] <- system.time(status <- system2(file.path(R.home("bin"), "Rscript"),
                                              c("bench/bench_tune.R", paste0("--child=", workers),
                                                paste0("--save=", file))))[["elapsed"]]
    if (status != 0) stop("the fresh run failed")
    if (!identical(readRDS(file), seq_run$results)) stop("a fresh run gave other results")
  }
  times
}
fresh1 <- fresh(1L)
fresh2 <- fresh(2L)
cat(sprintf("fresh: 1 worker %s s, 2 workers %s s\n", paste(format(fresh1, digits = 3), collapse = ", "),
            paste(format(fresh2, digits = 3), collapse = ", ")))

med <- function(x) stats::median(x)
lines <- c(
  sprintf("# tune_cv() on 2 workers against 1, %s", Sys.Date()),
  "",
  sprintf("%s, %d cores, R %s; `Rscript bench/bench_tune.R --reps=%d` (median of %d runs).",
          cpu_model(), parallel::detectCores(), getRversion(), reps, reps),
  "",
  "Workload: `tune_cv()` of a 20-h-h-1 regression network (ReLU, Adam, batch 32, 50 epochs) over",
  "4 settings (h = 112, 128; lr = 0.001, 0.01) x 3 folds of 6000 rows = 12 fits, one engine thread per fit.",
  sprintf("One fit (h = 128, 4000 rows) takes %.2f s alone.", one_fit),
  "",
  "| run | 1 worker (s) | 2 workers (s) | speed-up |",
  "|---|---|---|---|",
  sprintf("| warm (workers started; each run's times: %s / %s) | %.2f | %.2f | %.2f |",
          paste(sprintf("%.2f", seq_run$times), collapse = ", "),
          paste(sprintf("%.2f", par_run$times), collapse = ", "),
          med(seq_run$times), med(par_run$times), med(seq_run$times) / med(par_run$times)),
  sprintf("| fresh `Rscript` process, start to end (each: %s / %s) | %.2f | %.2f | %.2f |",
          paste(sprintf("%.2f", fresh1), collapse = ", "), paste(sprintf("%.2f", fresh2), collapse = ", "),
          med(fresh1), med(fresh2), med(fresh1) / med(fresh2)),
  "",
  "1 worker is `plan(sequential)`; 2 workers is `plan(multisession, workers = 2)`.",
  sprintf("Load average at the start and the end of the runs (1, 5, 15 min): %s; %s.", load_start, load_avg()),
  "Every run, warm or fresh, gave the identical table of per-fold results."
)
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
out <- file.path(out_dir, sprintf("tune-%s.md", Sys.Date()))
writeLines(lines, out)
cat(lines, sep = "\n")
