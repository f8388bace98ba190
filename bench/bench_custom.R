# What a layer written in R costs: fit() of the same network with a
# built-in Linear and with tutorial 001's Linear written in R (R/custom.R),
# from the same weights, per mini-batch.
#
#   R_LIBS=.build/lib Rscript bench/bench_custom.R [--reps=5] [--out=bench/results]
#
# The engine calls the R layer's forward() and backward() once per batch;
# the figure is the difference of the two fits' times divided by the
# number of batches (median of `reps` fits each, one thread, warm).
# Writes OUT/custom-DATE.md.

suppressPackageStartupMessages(library(rustnn))
source(file.path("bench", "plain_r.R"))
options(rustnn.threads = 1L, rustnn.verbose = 0L)
reps <- as.integer(arg("reps", "5"))
out_dir <- arg("out", file.path("bench", "results"))

OwnLinear <- tutorial_linear_class(inherit = Layer, sd = 0.1, bias_sd = 0)

set.seed(1)
n <- 4096
x <- matrix(rnorm(n * 20), n)
y <- x[, 1] - x[, 2] + rnorm(n, sd = 0.1)
rows <- list()
for (batch_size in c(32, 256)) {
  for (hidden in c(16, 128)) {
    own <- OwnLinear$new(hidden, hidden)
    make <- function(custom) {
      middle <- if (custom) own$clone() else {
        l <- Linear$new(hidden, hidden)
        l$params <- list(weight = own$params$w, bias = as.vector(own$params$bias))
        l
      }
      Sequential$new(Linear$new(20, hidden), ReLU$new(), middle, ReLU$new(), Linear$new(hidden, 1),
                     dtype = "float64")
    }
    time_fit <- function(custom) {
      median(replicate(reps, {
        model <- make(custom)
        system.time(fit(model, x, y, epochs = 2, batch_size = batch_size))[["elapsed"]]
      }))
    }
    builtin <- time_fit(FALSE)
    custom <- time_fit(TRUE)
    batches <- 2 * ceiling(n / batch_size)
    rows[[length(rows) + 1L]] <- data.frame(
      layer = sprintf("Linear(%d, %d)", hidden, hidden), batch_size = batch_size,
      builtin_us_per_batch = builtin / batches * 1e6, r_layer_us_per_batch = custom / batches * 1e6,
      extra_us_per_batch = (custom - builtin) / batches * 1e6)
  }
}
table <- do.call(rbind, rows)
print(table, digits = 3, row.names = FALSE)

# As a script pays it: a fresh R process (first calls included) builds the
# Linear(16, 16) network and trains it for 2 epochs at batch size 32, with
# the middle layer built in or written in R.
fresh_script <- function(custom) {
  path <- file.path(tempdir(), sprintf("fresh_%s.R", if (custom) "r_layer" else "builtin"))
  middle <- if (custom) {
    "tutorial_linear_class(inherit = Layer, sd = 0.1, bias_sd = 0)$new(16, 16)"
  } else {
    "Linear$new(16, 16)"
  }
  writeLines(c(
    "suppressPackageStartupMessages(library(rustnn))",
    "options(rustnn.threads = 1L, rustnn.verbose = 0L)",
    sprintf("source(%s)", deparse(normalizePath(file.path("bench", "plain_r.R")))),
    "start <- proc.time()[['elapsed']]",
    "set.seed(1)",
    sprintf("x <- matrix(rnorm(%d * 20), %d); y <- x[, 1] - x[, 2]", n, n),
    sprintf("model <- Sequential$new(Linear$new(20, 16), ReLU$new(), %s, ReLU$new(), Linear$new(16, 1), dtype = 'float64')", middle),
    "invisible(fit(model, x, y, epochs = 2, batch_size = 32))",
    "cat('seconds,', proc.time()[['elapsed']] - start, '\\n', sep = '')"), path)
  median(replicate(reps, rscript_child(path)[["seconds"]]))
}
fresh <- c(builtin = fresh_script(FALSE), r_layer = fresh_script(TRUE))
print(fresh)
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
md <- c(sprintf("# A layer written in R, %s", Sys.Date()), "",
        sprintf("%s, R %s, 1 thread, median of %d fits of 2 epochs on %d rows (`Rscript bench/bench_custom.R`).",
                cpu_model(), getRversion(), reps, n), "",
        "Network: Linear(20, h) - ReLU - *layer* - ReLU - Linear(h, 1), float64; *layer* built in, or tutorial 001's Linear written in R.", "",
        "| layer | batch size | built in (us/batch) | written in R (us/batch) | extra (us/batch) |",
        "|---|---|---|---|---|",
        sprintf("| %s | %d | %.1f | %.1f | %.1f |", table$layer, table$batch_size,
                table$builtin_us_per_batch, table$r_layer_us_per_batch, table$extra_us_per_batch),
        "", sprintf("In a fresh R process (`Rscript`, first calls included), building the Linear(16, 16) network and training it 2 epochs at batch size 32 takes %.0f ms with the layer built in and %.0f ms with it written in R (median of %d runs, timed from after library(rustnn)).",
                    fresh[["builtin"]] * 1e3, fresh[["r_layer"]] * 1e3, reps))
writeLines(md, file.path(out_dir, sprintf("custom-%s.md", Sys.Date())))
