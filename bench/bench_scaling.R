# How rustnn's costs scale, on Fashion-MNIST (load_fashion_mnist(); the
# environment variable FASHION_MNIST_PATH, if set, overrides its directory):
#   a. Linear scaling of fit(): the framework benchmark's W4 network
#      (784-100 sigmoid-10 softmax, cross-entropy, SGD 0.1, batch 32, one
#      epoch) on the first 10k, 20k, 40k and 60k training rows: seconds per
#      epoch (median of `--runs` fits, each from a fresh model after
#      set.seed(i), after one untimed-for-the-table warm-up fit that pays
#      R's JIT), seconds per 10k rows, and each size's seconds per row
#      relative to the 60k one (target: within +-15%).
#   b. predict() throughput on the 10,000 test images, in images per second
#      (median of `--predict-runs` calls after one warm-up call), for W4's MLP
#      (trained one epoch on the 60k rows) and W6's CNN (conv 3x3x16, ReLU,
#      max-pool 2, flatten, linear 2704-10, softmax; trained one epoch on the
#      first 10k training images, Adam 1e-3, batch 64); the time includes
#      converting R's doubles to float32 and back, as a user sees it. With
#      PyTorch's inference from bench/bench_predict.py (same architectures,
#      random weights and random inputs of the same shapes, float32, the same
#      threads) when the benchmark virtualenv exists.
#   c. Peak memory of W4's fit() on 60k rows, in a child R process: after
#      loading the data as the 60000 x 784 double matrix x, it resets the
#      kernel's peak-RSS mark (writing "5" to /proc/self/clear_refs, checked:
#      VmHWM must drop to VmRSS), fits once, and reads VmHWM (the peak RSS
#      during the fit) from /proc/self/status. Target: peak <= RSS before
#      the fit + a float32 copy of x (60000 * 784 * 4 bytes) + 100 MB.
#
#   R_LIBS=.build/lib Rscript bench/bench_scaling.R [--threads=2] [--runs=3] \
#     [--predict-runs=5] [--sizes=10000,20000,40000,60000] \
#     [--parts=linear,predict,memory] [--out-dir=bench/results]
#
# Run from the package root, with rustnn installed where R finds it (R_LIBS).
# Writes OUT-DIR/scaling-YYYY-MM-DD.csv (long format: part, case, tool,
# threads, metric, value) and OUT-DIR/scaling-YYYY-MM-DD.md (machine,
# versions, command, one table per part). Takes well under a minute on 2 cores.
# Environment: BENCH_VENV (default .build/bench-venv) for PyTorch's
# Python; FASHION_MNIST_PATH (see above).
suppressPackageStartupMessages(library(rustnn))

bench_dir <- "bench"  # scripts run from the package root
source(file.path(bench_dir, "plain_r.R"))   # for cpu_model() and arg()

threads <- as.integer(arg("threads", "2"))
runs <- as.integer(arg("runs", "3"))
predict_runs <- as.integer(arg("predict-runs", "5"))
sizes <- as.integer(strsplit(arg("sizes", "10000,20000,40000,60000"), ",")[[1]])
parts <- strsplit(arg("parts", "linear,predict,memory"), ",")[[1]]
out_dir <- arg("out-dir", file.path(bench_dir, "results"))
stopifnot(all(parts %in% c("linear", "predict", "memory")), runs >= 1, predict_runs >= 1)
date <- format(Sys.Date())
command <- paste(c(if (nzchar(Sys.getenv("R_LIBS"))) paste0("R_LIBS=", Sys.getenv("R_LIBS")),
                   "Rscript bench/bench_scaling.R", commandArgs(trailingOnly = TRUE)),
                 collapse = " ")
python <- file.path(Sys.getenv("BENCH_VENV", ".build/bench-venv"), "bin", "python")

elapsed <- function(expr) {
  start <- Sys.time()
  force(expr)
  as.numeric(difftime(Sys.time(), start, units = "secs"))
}
mlp <- function() Sequential$new(Linear$new(784, 100), Sigmoid$new(), Linear$new(100, 10),
                                 Softmax$new())
cnn <- function() Sequential$new(Conv2d$new(1, 16, 3), ReLU$new(), MaxPool2d$new(2),
                                 Flatten$new(), Linear$new(2704, 10), Softmax$new())
fit_mlp <- function(model, x, y) {
  fit(model, x, y, loss = "cross_entropy", optimizer = SGD$new(lr = 0.1), epochs = 1,
      batch_size = 32, verbose = FALSE, threads = threads)
}

fashion_dir <- Sys.getenv("FASHION_MNIST_PATH")
fm <- if (nzchar(fashion_dir)) load_fashion_mnist(fashion_dir) else load_fashion_mnist()
x <- matrix(fm$train$x / 255, nrow(fm$train$x))
y <- fm$train$y
stopifnot(max(sizes) <= nrow(x))

results <- list()
add <- function(part, case, tool, metric, value) {
  results[[length(results) + 1L]] <<- data.frame(part = part, case = case, tool = tool,
                                                 threads = threads, metric = metric,
                                                 value = signif(value, 5))
}
md <- c(
  sprintf("# rustnn scaling: fit() time vs rows, predict() throughput, fit() peak memory (%s)", date),
  "",
  sprintf("- Date: %s", date),
  sprintf("- CPU: %s, %d cores", cpu_model(), parallel::detectCores()),
  sprintf("- R %s, rustnn %s; threads = %d", getRversion(), packageVersion("rustnn"), threads),
  sprintf("- Command: `%s` (from the package root)", command),
  "")

# a. Linear scaling ------------------------------------------------------
if ("linear" %in% parts) {
  message("a. fit() time vs rows")
  warm_rows <- min(sizes)
  warm <- elapsed({set.seed(0); fit_mlp(mlp(), x[seq_len(warm_rows), ], y[seq_len(warm_rows)])})
  lin <- do.call(rbind, lapply(sizes, function(n) {
    xs <- x[seq_len(n), ]
    ys <- y[seq_len(n)]
    secs <- vapply(seq_len(runs), function(i) {
      set.seed(i)
      model <- mlp()
      elapsed(fit_mlp(model, xs, ys))
    }, numeric(1))
    message(sprintf("  %6d rows: %s s", n, paste(signif(secs, 3), collapse = ", ")))
    data.frame(rows = n, sec = median(secs), fits = paste(signif(secs, 3), collapse = ", "))
  }))
  ref <- lin[which.max(lin$rows), ]
  lin$per_10k <- lin$sec / lin$rows * 1e4
  lin$relative <- (lin$sec / lin$rows) / (ref$sec / ref$rows)
  for (i in seq_len(nrow(lin))) {
    case <- paste0("W4 fit, ", lin$rows[i], " rows")
    add("linear", case, "rustnn", "sec_per_epoch", lin$sec[i])
    add("linear", case, "rustnn", "sec_per_10k_rows", lin$per_10k[i])
    add("linear", case, "rustnn", "per_row_vs_largest", lin$relative[i])
  }
  add("linear", paste0("W4 warm-up fit, ", warm_rows, " rows"), "rustnn", "seconds", warm)
  md <- c(md,
    "## a. fit() time vs training rows (W4)",
    "",
    sprintf(paste("W4's network (784-100 sigmoid-10 softmax), cross-entropy, SGD 0.1, batch 32,",
                  "one epoch on the first *rows* training images; median of %d fit%s, each from",
                  "a fresh model after `set.seed(i)`; per-row time relative to the %d-row fit",
                  "(target: within +-15%%). A warm-up fit on %d rows ran first (%.3g s, not counted)."),
            runs, if (runs > 1) "s" else "", ref$rows, warm_rows, warm),
    "",
    "| rows | s/epoch | fits (s) | s per 10k rows | per-row time vs largest | within +-15% |",
    "|--:|--:|---|--:|--:|---|",
    sprintf("| %d | %.3g | %s | %.3g | %.3f | %s |", lin$rows, lin$sec, lin$fits, lin$per_10k,
            lin$relative, ifelse(abs(lin$relative - 1) <= 0.15, "yes", "**no**")),
    "")
}

# b. predict() throughput ------------------------------------------------
if ("predict" %in% parts) {
  message("b. predict() throughput")
  test_flat <- matrix(fm$test$x / 255, nrow(fm$test$x))
  test_img <- fm$test$x / 255
  n_test <- nrow(test_flat)
  set.seed(1)
  m4 <- mlp()
  fit_mlp(m4, x, y)
  set.seed(1)
  m6 <- cnn()
  fit(m6, fm$train$x[1:10000, , ] / 255, y[1:10000], loss = "cross_entropy",
      optimizer = Adam$new(lr = 1e-3), epochs = 1, batch_size = 64, verbose = FALSE,
      threads = threads)
  throughput <- function(model, input) {
    out <- predict(model, input, threads = threads)  # warm-up
    secs <- vapply(seq_len(predict_runs), function(i) elapsed(predict(model, input, threads = threads)),
                   numeric(1))
    acc <- mean(max.col(out, "first") == as.integer(fm$test$y))
    c(sec = median(secs), ips = n_test / median(secs), acc = acc)
  }
  pr <- rbind(W4_mlp = throughput(m4, test_flat), W6_cnn = throughput(m6, test_img))
  for (case in rownames(pr)) {
    add("predict", case, "rustnn", "seconds", pr[case, "sec"])
    add("predict", case, "rustnn", "images_per_sec", pr[case, "ips"])
    add("predict", case, "rustnn", "test_accuracy", pr[case, "acc"])
    message(sprintf("  rustnn  %s: %.0f images/s (accuracy %.3f)", case, pr[case, "ips"],
                    pr[case, "acc"]))
  }
  torch <- NULL
  torch_note <- ""
  if (file.exists(python)) {
    out <- tryCatch(
      system2(python, c(file.path(bench_dir, "bench_predict.py"), paste0("--threads=", threads),
                        paste0("--runs=", predict_runs), paste0("--n=", n_test)),
              stdout = TRUE),
      error = function(e) NULL, warning = function(w) NULL)
    if (length(out)) {
      torch <- utils::read.csv(text = out, stringsAsFactors = FALSE)
      rownames(torch) <- torch$model
      for (case in rownames(torch)) {
        add("predict", case, "pytorch", "seconds", torch[case, "seconds"])
        add("predict", case, "pytorch", "images_per_sec", torch[case, "images_per_sec"])
        message(sprintf("  PyTorch %s: %.0f images/s", case, torch[case, "images_per_sec"]))
      }
      torch_note <- sprintf(paste(
        "PyTorch %s (bench/bench_predict.py): `torch.no_grad()`, the same architectures with",
        "random weights, on %d random float32 inputs of the same shapes, all in one batch,",
        "`torch.set_num_threads(%d)`, median of %d calls after a warm-up call."),
        torch$torch[1], n_test, threads, predict_runs)
    } else {
      message("  PyTorch: bench/bench_predict.py failed; skipped")
      torch_note <- "PyTorch: bench/bench_predict.py failed; skipped."
    }
  } else {
    message("  PyTorch: no ", python, " (bench/setup_python.sh creates it); skipped")
    torch_note <- sprintf("PyTorch: skipped (no %s; bench/setup_python.sh creates it).", python)
  }
  tips <- function(case) if (is.null(torch)) NA else torch[case, "images_per_sec"]
  fmt <- function(v) ifelse(is.na(v), "–", sprintf("%.0f", v))
  md <- c(md,
    "## b. predict() throughput on the 10,000 test images",
    "",
    sprintf(paste("`predict(model, x, threads = %d)`, images per second = %d / the median of %d",
                  "calls after a warm-up call (R doubles in, converted to float32, outputs back",
                  "as doubles). W4's MLP trained one epoch on the 60k training images (SGD 0.1,",
                  "batch 32), W6's CNN one epoch on the first 10k (Adam 1e-3, batch 64); the",
                  "test accuracy shows the models are trained."),
            threads, n_test, predict_runs),
    torch_note,
    "",
    "| model | rustnn images/s | PyTorch images/s | rustnn / PyTorch | rustnn s per call | rustnn test accuracy |",
    "|---|--:|--:|--:|--:|--:|",
    vapply(rownames(pr), function(case) {
      t <- tips(case)
      sprintf("| %s | %s | %s | %s | %.3g | %.3f |",
              c(W4_mlp = "W4 MLP 784-100-10", W6_cnn = "W6 CNN conv3x3x16-pool-2704-10")[[case]],
              fmt(pr[case, "ips"]), fmt(t),
              if (is.na(t)) "–" else sprintf("%.2f", pr[case, "ips"] / t),
              pr[case, "sec"], pr[case, "acc"])
    }, character(1)),
    "")
}

# c. Peak memory of fit() ------------------------------------------------
if ("memory" %in% parts) {
  message("c. peak memory of fit() (child R process)")
  child <- file.path(tempdir(), "bench_scaling_memory.R")
  writeLines(c(
    "suppressPackageStartupMessages(library(rustnn))",
    "threads <- as.integer(commandArgs(trailingOnly = TRUE)[1])",
    "mb <- function() {  # VmHWM and VmRSS in MB (10^6 bytes; /proc gives KiB)",
    "  s <- readLines('/proc/self/status')",
    "  kb <- function(k) as.numeric(sub('^[^0-9]*([0-9]+) kB.*$', '\\\\1', grep(paste0('^', k, ':'), s, value = TRUE)))",
    "  c(hwm = kb('VmHWM'), rss = kb('VmRSS')) * 1024 / 1e6",
    "}",
    "dir <- Sys.getenv('FASHION_MNIST_PATH')",
    "fm <- if (nzchar(dir)) load_fashion_mnist(dir) else load_fashion_mnist()",
    "x <- matrix(fm$train$x / 255, nrow(fm$train$x))",
    "y <- fm$train$y",
    "rm(fm); invisible(gc())",
    "set.seed(1)",
    "model <- Sequential$new(Linear$new(784, 100), Sigmoid$new(), Linear$new(100, 10), Softmax$new())",
    "optimizer <- SGD$new(lr = 0.1)",
    "loaded <- mb()",
    "reset_ok <- tryCatch({cat('5', file = '/proc/self/clear_refs'); TRUE}, error = function(e) FALSE, warning = function(w) FALSE)",
    "reset <- mb()",
    "fit(model, x, y, loss = 'cross_entropy', optimizer = optimizer, epochs = 1, batch_size = 32,",
    "    verbose = FALSE, threads = threads)",
    "after <- mb()",
    "cat(sprintf('%s,%.6g\\n',",
    "  c('data_r', 'data_f32', 'hwm_loaded', 'rss_loaded', 'reset_ok', 'hwm_reset', 'rss_reset', 'hwm_after', 'rss_after'),",
    "  c(as.numeric(object.size(x)) / 1e6, prod(dim(x)) * 4 / 1e6, loaded, reset_ok, reset, after)), sep = '')"),
    child)
  out <- system2(file.path(R.home("bin"), "Rscript"), c(shQuote(child), threads), stdout = TRUE,
                 env = paste0("R_LIBS=", shQuote(paste(.libPaths(), collapse = ":"))))
  kv <- utils::read.csv(text = out, header = FALSE, col.names = c("key", "value"))
  v <- stats::setNames(kv$value, kv$key)
  reset_ok <- v[["reset_ok"]] == 1 && v[["hwm_reset"]] <= v[["rss_reset"]] + 1
  baseline <- if (reset_ok) v[["rss_reset"]] else v[["rss_loaded"]]
  increase <- v[["hwm_after"]] - baseline
  budget <- baseline + v[["data_f32"]] + 100
  mem <- c(data_r_mb = v[["data_r"]], data_f32_mb = v[["data_f32"]],
           peak_after_loading_mb = v[["hwm_loaded"]], rss_before_fit_mb = baseline,
           peak_reset_ok = reset_ok, peak_during_fit_mb = v[["hwm_after"]],
           increase_mb = increase, target_mb = budget, rss_after_fit_mb = v[["rss_after"]])
  for (k in names(mem)) add("memory", "W4 fit, 60000 rows", "rustnn", k, mem[[k]])
  message(sprintf("  RSS before fit %.0f MB, peak during fit %.0f MB (+%.0f MB; target <= %.0f MB)%s",
                  baseline, v[["hwm_after"]], increase, budget,
                  if (reset_ok) "" else "; peak-RSS reset FAILED"))
  md <- c(md,
    "## c. Peak memory of W4's fit() on the 60k training rows",
    "",
    paste("A child R process loads Fashion-MNIST, builds the 60000 x 784 double matrix `x`",
          "(and frees the rest), builds the model, then writes \"5\" to /proc/self/clear_refs,",
          "which resets the kernel's peak-RSS mark VmHWM to the current RSS, and runs one",
          sprintf("fit (threads = %d); the peak during the fit is VmHWM read afterwards.", threads),
          "VmHWM is a high-water mark: without the reset it would still hold the peak of",
          "loading the data (the integer array, its /255 copy and the matrix), shown for",
          "reference. Baseline = VmRSS just before the fit (after the reset).",
          sprintf("The reset %s (VmHWM %.0f MB, VmRSS %.0f MB right after it).",
                  if (reset_ok) "worked" else "**failed**: the baseline is VmRSS before the fit, but the peak may be loading's",
                  v[["hwm_reset"]], v[["rss_reset"]]),
          "Target: peak <= baseline + a float32 copy of x + 100 MB. MB = 10^6 bytes."),
    "",
    "| | MB |",
    "|---|--:|",
    sprintf("| R's copy of the data (object.size(x), doubles) | %.1f |", v[["data_r"]]),
    sprintf("| a float32 copy (60000 x 784 x 4 bytes) | %.1f |", v[["data_f32"]]),
    sprintf("| peak RSS after loading the data (VmHWM before the reset) | %.1f |", v[["hwm_loaded"]]),
    sprintf("| RSS before the fit (baseline) | %.1f |", baseline),
    sprintf("| peak RSS during the fit (VmHWM after it) | %.1f |", v[["hwm_after"]]),
    sprintf("| increase over the baseline | %.1f |", increase),
    sprintf("| target: baseline + float32 copy + 100 | %.1f (%s) |", budget,
            if (v[["hwm_after"]] <= budget) "met" else "**not met**"),
    sprintf("| RSS after the fit | %.1f |", v[["rss_after"]]),
    "")
}

results <- do.call(rbind, results)
write_results(results, md, out_dir, "scaling", date)
