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
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
md <- c(sprintf("# A layer written in R, %s", Sys.Date()), "",
        sprintf("%s, R %s, 1 thread, median of %d fits of 2 epochs on %d rows (`Rscript bench/bench_custom.R`).",
                cpu_model(), getRversion(), reps, n), "",
        "Network: Linear(20, h) - ReLU - *layer* - ReLU - Linear(h, 1), float64; *layer* built in, or tutorial 001's Linear written in R.", "",
        "| layer | batch size | built in (us/batch) | written in R (us/batch) | extra (us/batch) |",
        "|---|---|---|---|---|",
        sprintf("| %s | %d | %.1f | %.1f | %.1f |", table$layer, table$batch_size,
                table$builtin_us_per_batch, table$r_layer_us_per_batch, table$extra_us_per_batch))
writeLines(md, file.path(out_dir, sprintf("custom-%s.md", Sys.Date())))
