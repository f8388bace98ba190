# rustnn's memory use (Linux: it reads /proc/self/status):
#   a. "session": many consecutive small calls in one R session leave the
#      resident memory flat. A 2-8-1 tanh network (mse, SGD 0.05, 5 epochs,
#      batch 32) on 200 rows, for each thread count in `--threads` and each
#      pattern:
#        new_model  fit() of a new Sequential each time (its engine, and its
#                   thread pool when threads > 1, die with it);
#        refit      fit() of the same model again and again;
#        predict    predict() of that model on the 200 rows;
#        mlp        the internal mlp_sequential() behind rustnn_mlp() (build,
#                   standardize, fit) on the same data.
#      `--warmup` calls first, then `--fits` calls, all in chunks of
#      `--every` calls; the resident memory (VmRSS, after gc() twice) is read
#      after each chunk, and the growth is the last reading minus the one
#      after the warm-up. Target: < 10 MB per 1000 calls. The warm-up pays
#      R's JIT and caches, and lets R's cons-cell heap grow to the size this
#      loop needs: R grows it once, by 15-20 MB of RSS that it keeps, in the
#      second chunk of 50 calls even when the calls only build R6 objects
#      (shown as "RSS before warm-up" and R's "Ncells max used"), so the
#      warm-up is two chunks. Also shows the process's thread count (a
#      thread pool that outlived its model would show there).
#   b. "peak": the peak resident memory of one fit() on data much larger than
#      the CPU caches, `--rows` x `--cols` doubles (default 10^6 x 100 =
#      800 MB), in a child R process (bench/plain_r.R's rscript_child()):
#      after making x and y, it resets the kernel's peak-RSS mark
#      (reset_peak_rss(): "5" to /proc/self/clear_refs, as bench_scaling.R's
#      part c), runs one epoch of a 100-32-1 ReLU network (mse, SGD 0.01,
#      batch `--batch`) and reads VmHWM. The engine trains on one copy of x
#      in the network's precision, so the target is
#      peak <= baseline + that copy (4 bytes per value for float32, 8 for
#      float64) + 100 MB, where baseline = VmRSS just before the fit (x, y
#      and R). One child per `--dtypes` entry and `--calls` entry: "fit"
#      (the default; the target is about this one), "validation" (the same
#      fit with validation_split = 0.2) and "mlp" (mlp_sequential(x, y, hidden = 32,
#      epochs = 1), which standardizes x), to show what those cost.
#
#   R_LIBS=.build/lib Rscript bench/bench_memory.R [--parts=session,peak] \
#     [--threads=1,2] [--fits=1000] [--warmup=100] [--every=50] [--rows=1000000] \
#     [--cols=100] [--batch=256] [--dtypes=float32,float64] [--calls=fit] \
#     [--out-dir=bench/results]
#
# Run from the package root, with rustnn installed where R finds it (R_LIBS).
# Writes OUT-DIR/memory-YYYY-MM-DD.csv (part, case, threads, metric, value)
# and OUT-DIR/memory-YYYY-MM-DD.md. About 1.5 minutes on 2 cores (part a
# ~1 minute, part b ~15 s per case, mostly rnorm()); part b needs about 2 GB
# of free memory (4 GB with --calls=mlp).
suppressPackageStartupMessages(library(rustnn))

bench_dir <- "bench"  # scripts run from the package root
source(file.path(bench_dir, "plain_r.R"))   # arg(), cpu_model(), proc_mb() etc.

# The child of part b: `--child=peak` prints "key,value" lines.
if (arg("child", "") == "peak") {
  rows <- as.numeric(arg("rows", "1e6"))
  cols <- as.integer(arg("cols", "100"))
  batch <- as.integer(arg("batch", "256"))
  threads <- as.integer(arg("threads", "2"))
  dtype <- arg("dtype", "float32")
  set.seed(1)
  x <- rnorm(rows * cols)
  dim(x) <- c(rows, cols)        # in place: no second 800 MB vector
  y <- x[, 1] - 0.5 * x[, 2] + rnorm(rows, sd = 0.1)
  call <- arg("call", "fit")
  model <- Sequential$new(Linear$new(cols, 32), ReLU$new(), Linear$new(32, 1), dtype = dtype)
  optimizer <- SGD$new(lr = 0.01)
  loaded <- proc_mb()
  before <- rss_after_gc()
  reset_ok <- reset_peak_rss()
  reset <- proc_mb()
  secs <- system.time(switch(call,
    fit = fit(model, x, y, loss = "mse", optimizer = optimizer, epochs = 1,
              batch_size = batch, verbose = 0, threads = threads),
    validation = fit(model, x, y, loss = "mse", optimizer = optimizer, epochs = 1,
                     batch_size = batch, validation_split = 0.2, verbose = 0,
                     threads = threads),
    mlp = model <- rustnn:::mlp_sequential(x, y, hidden = 32, optimizer = optimizer, epochs = 1,
                       batch_size = batch, verbose = 0, threads = threads, dtype = dtype)
  ))[["elapsed"]]
  after <- proc_mb()
  out <- c(data_r = as.numeric(object.size(x)) / 1e6,
           copy = rows * cols * (if (dtype == "float32") 4 else 8) / 1e6,
           y_r = as.numeric(object.size(y)) / 1e6,
           hwm_loaded = loaded[["VmHWM"]], rss_before = before, reset_ok = reset_ok,
           hwm_reset = reset[["VmHWM"]], rss_reset = reset[["VmRSS"]],
           hwm_after = after[["VmHWM"]], rss_after = after[["VmRSS"]], seconds = secs,
           loss = model$history$metrics$loss[1])
  cat(sprintf("%s,%.10g\n", names(out), out), sep = "")
  quit(save = "no")
}

parts <- strsplit(arg("parts", "session,peak"), ",")[[1]]
threads_list <- as.integer(strsplit(arg("threads", "1,2"), ",")[[1]])
fits <- as.integer(arg("fits", "1000"))
warmup <- as.integer(arg("warmup", "100"))
every <- as.integer(arg("every", "50"))
rows <- as.numeric(arg("rows", "1000000"))
cols <- as.integer(arg("cols", "100"))
batch <- as.integer(arg("batch", "256"))
dtypes <- strsplit(arg("dtypes", "float32,float64"), ",")[[1]]
calls <- strsplit(arg("calls", "fit"), ",")[[1]]
out_dir <- arg("out-dir", file.path(bench_dir, "results"))
stopifnot(all(parts %in% c("session", "peak")), fits >= every, every >= 1, warmup >= 0,
          all(dtypes %in% c("float32", "float64")), all(calls %in% c("fit", "validation", "mlp")),
          file.exists("/proc/self/status"))
date <- format(Sys.Date())
command <- paste(c(if (nzchar(Sys.getenv("R_LIBS"))) paste0("R_LIBS=", Sys.getenv("R_LIBS")),
                   "Rscript bench/bench_memory.R", commandArgs(trailingOnly = TRUE)),
                 collapse = " ")

ram_gb <- as.numeric(sub("^[^0-9]*([0-9]+).*$", "\\1",
                         grep("^MemTotal:", readLines("/proc/meminfo"), value = TRUE))) * 1024 / 1e9

results <- list()
add <- function(part, case, threads, metric, value) {
  results[[length(results) + 1L]] <<- data.frame(part = part, case = case, threads = threads,
                                                 metric = metric, value = signif(value, 6))
}
md <- c(
  sprintf("# rustnn memory: many small calls in one session, peak of a large fit() (%s)", date),
  "",
  sprintf("- Date: %s", date),
  sprintf("- CPU: %s, %d cores; %.1f GB RAM", cpu_model(), parallel::detectCores(), ram_gb),
  sprintf("- R %s, rustnn %s", getRversion(), packageVersion("rustnn")),
  sprintf("- Command: `%s` (from the package root)", command),
  "- MB = 10^6 bytes; resident memory = VmRSS from /proc/self/status.",
  "")

# a. Many small calls in one session ------------------------------------
if ("session" %in% parts) {
  message(sprintf("a. %d consecutive small calls per pattern, RSS after gc()", fits))
  set.seed(1)
  x <- matrix(rnorm(400), 200)
  y <- x[, 1] * x[, 2] + rnorm(200, sd = 0.1)
  net <- function() Sequential$new(Linear$new(2, 8), Tanh$new(), Linear$new(8, 1))
  # Each pattern: a function of the thread count returning the call to repeat.
  patterns <- list(
    new_model = function(threads) function() {
      fit(net(), x, y, loss = "mse", optimizer = SGD$new(lr = 0.05), epochs = 5,
          batch_size = 32, verbose = 0, threads = threads)
    },
    refit = function(threads) {
      model <- net()
      function() fit(model, x, y, loss = "mse", optimizer = SGD$new(lr = 0.05), epochs = 5,
                     batch_size = 32, verbose = 0, threads = threads)
    },
    predict = function(threads) {
      model <- net()
      fit(model, x, y, loss = "mse", epochs = 5, verbose = 0, threads = threads)
      function() predict(model, x, threads = threads)
    },
    mlp = function(threads) function() {
      rustnn:::mlp_sequential(x, y, hidden = 8, activation = "tanh", epochs = 5, verbose = 0, threads = threads)
    })
  rows_a <- list()
  for (threads in threads_list) {
    for (name in names(patterns)) {
      step <- patterns[[name]](threads)
      # The same loop for the warm-up and the measurement: `every` calls
      # between readings, so R's heap sees the same garbage in every chunk.
      chunk <- function() {
        for (i in seq_len(every)) step()
        rss_after_gc()
      }
      before_warmup <- rss_after_gc()
      for (i in seq_len(ceiling(warmup / every))) chunk()
      start <- rss_after_gc()
      invisible(gc(reset = TRUE))
      chunks <- fits %/% every
      elapsed <- system.time(readings <- vapply(seq_len(chunks), function(i) chunk(),
                                                numeric(1)))[["elapsed"]]
      heap <- gc()
      end <- readings[chunks]
      half <- if (chunks > 1) readings[chunks %/% 2] else start
      row <- data.frame(
        pattern = name, threads = threads, calls = chunks * every,
        rss_before_warmup = before_warmup, rss_start = start, rss_end = end,
        growth = end - start, growth_second_half = end - half, rss_max = max(readings),
        threads_after = proc_mb("Threads")[[1]], ncells_max_used_mb = heap[1, 6],
        vcells_max_used_mb = heap[2, 6], seconds = elapsed)
      rows_a[[length(rows_a) + 1L]] <- row
      for (k in setdiff(names(row), c("pattern", "threads"))) {
        add("session", name, threads, k, row[[k]])
      }
      message(sprintf("  %-9s threads=%d: RSS %.1f -> %.1f MB (%+.2f MB over %d calls; max %.1f), %d threads, %.1f s",
                      name, threads, start, end, end - start, row$calls, row$rss_max,
                      row$threads_after, elapsed))
      rm(step)
    }
  }
  ta <- do.call(rbind, rows_a)
  md <- c(md,
    sprintf("## a. %d consecutive small calls in one session", fits),
    "",
    paste("A 2-8-1 tanh network (mse, SGD 0.05, 5 epochs, batch 32) on 200 rows x 2 columns,",
          "in one R session, pattern after pattern: `new_model` fits a new `Sequential` each",
          "time, `refit` fits the same model again, `predict` predicts the 200 rows with a",
          "trained model, `mlp` calls `mlp(x, y, hidden = 8, epochs = 5)`.",
          sprintf("Each pattern runs %d warm-up calls, then %d calls, in chunks of %d; RSS is",
                  warmup, fits, every),
          "read after `gc()` twice after each chunk; growth = last reading - the reading after",
          "the warm-up (start), target < 10 MB; also over the second half of the calls alone.",
          "RSS before the warm-up shows what the warm-up absorbed: R grows its cons-cell heap",
          "once (\"Ncells max used\", R's own figure for the loop, reaches `gc()`'s trigger),",
          "by 15-20 MB of RSS that it keeps; building R6 objects alone does the same.",
          "Threads: the process's thread count afterwards (R's own threads included)."),
    "",
    "| pattern | threads | calls | RSS before warm-up (MB) | RSS start (MB) | RSS end (MB) | growth (MB) | growth, 2nd half (MB) | max RSS (MB) | threads after | Ncells max used (MB) | Vcells max used (MB) | seconds | < 10 MB |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    sprintf("| %s | %d | %d | %.1f | %.1f | %.1f | %+.2f | %+.2f | %.1f | %d | %.1f | %.1f | %.1f | %s |",
            ta$pattern, ta$threads, ta$calls, ta$rss_before_warmup, ta$rss_start, ta$rss_end,
            ta$growth, ta$growth_second_half, ta$rss_max, as.integer(ta$threads_after),
            ta$ncells_max_used_mb, ta$vcells_max_used_mb, ta$seconds,
            ifelse(ta$growth < 10, "yes", "**no**")),
    "")
}

# b. Peak memory of a fit on large data ----------------------------------
if ("peak" %in% parts) {
  threads <- max(threads_list)
  message(sprintf("b. peak RSS of fit() on %g x %d doubles (child R process, threads = %d)",
                  rows, cols, threads))
  rows_b <- list()
  cases <- expand.grid(dtype = dtypes, call = calls, stringsAsFactors = FALSE)
  for (i in seq_len(nrow(cases))) {
    dtype <- cases$dtype[i]
    call <- cases$call[i]
    v <- rscript_child(file.path(bench_dir, "bench_memory.R"),
                       c("--child=peak", paste0("--rows=", format(rows, scientific = FALSE)),
                         paste0("--cols=", cols), paste0("--batch=", batch),
                         paste0("--threads=", threads), paste0("--dtype=", dtype),
                         paste0("--call=", call)))
    ok <- v[["reset_ok"]] == 1
    baseline <- if (ok) v[["rss_reset"]] else v[["rss_before"]]
    constant <- v[["hwm_after"]] - baseline - v[["copy"]]
    target <- baseline + v[["copy"]] + 100
    row <- c(data_r_mb = v[["data_r"]], copy_mb = v[["copy"]], y_r_mb = v[["y_r"]],
             peak_after_loading_mb = v[["hwm_loaded"]], baseline_mb = baseline,
             peak_reset_ok = ok, peak_during_fit_mb = v[["hwm_after"]],
             increase_mb = v[["hwm_after"]] - baseline, constant_mb = constant,
             target_mb = target, met = v[["hwm_after"]] <= target,
             rss_after_fit_mb = v[["rss_after"]], fit_seconds = v[["seconds"]],
             loss = v[["loss"]])
    label <- if (call == "fit") dtype else paste(call, dtype)
    case <- sprintf("%g x %d, %s", rows, cols, label)
    for (k in names(row)) add("peak", case, threads, k, row[[k]])
    rows_b[[label]] <- row
    message(sprintf(paste("  %s: baseline %.0f MB, peak %.0f MB (+%.0f MB = %.0f MB copy + %.0f MB);",
                          "target <= %.0f MB: %s%s"),
                    label, baseline, v[["hwm_after"]], v[["hwm_after"]] - baseline, v[["copy"]],
                    constant, target, if (row[["met"]] == 1) "met" else "NOT met",
                    if (ok) "" else "; peak-RSS reset FAILED"))
  }
  cell <- function(k, fmt = "%.1f") vapply(rows_b, function(r) sprintf(fmt, r[[k]]), character(1))
  yes_no <- function(k) ifelse(cell(k, "%.0f") == "1", "yes", "**no**")
  md <- c(md,
    sprintf("## b. Peak memory of fit() on %g x %d doubles", rows, cols),
    "",
    paste(sprintf("A child R process makes x = %g x %d standard normal doubles (in place,", rows, cols),
          "`dim<-` on `rnorm()`'s vector) and y = x1 - 0.5 x2 + noise, builds a",
          sprintf("%d-32-1 ReLU network, then resets the peak-RSS mark (\"5\" to", cols),
          "/proc/self/clear_refs; VmHWM drops to VmRSS) and runs one epoch",
          sprintf("(mse, SGD 0.01, batch %d, threads = %d); the peak is VmHWM afterwards.", batch,
                  threads),
          "Baseline = VmRSS just before the fit, with x, y and the model in memory.",
          "The engine trains on one copy of x in the network's precision, so the target is",
          "peak <= baseline + that copy + 100 MB; \"constant\" = peak - baseline - copy.",
          "Columns named \"validation\" run the same fit with `validation_split = 0.2`;",
          "\"mlp\" runs `mlp(x, y, hidden = 32, epochs = 1)` (which standardizes x) instead."),
    "",
    paste0("| | ", paste(names(rows_b), collapse = " | "), " |"),
    paste0("|---|", paste(rep("--:", length(rows_b)), collapse = "|"), "|"),
    paste0("| ", c("x in R (doubles), MB", "the engine's copy of x, MB", "y in R, MB",
                   "peak RSS after making the data (before the reset), MB",
                   "RSS before the fit (baseline), MB", "peak-RSS reset worked",
                   "peak RSS during the fit, MB", "increase over the baseline, MB",
                   "constant = increase - copy, MB", "target: baseline + copy + 100, MB",
                   "target met", "RSS after the fit, MB", "fit seconds", "epoch loss"),
           " | ",
           apply(rbind(cell("data_r_mb"), cell("copy_mb"), cell("y_r_mb"),
                       cell("peak_after_loading_mb"), cell("baseline_mb"),
                       yes_no("peak_reset_ok"), cell("peak_during_fit_mb"),
                       cell("increase_mb"), cell("constant_mb"), cell("target_mb"),
                       yes_no("met"), cell("rss_after_fit_mb"), cell("fit_seconds", "%.2f"),
                       cell("loss", "%.4g")),
                 1, paste, collapse = " | "),
           " |"),
    "")
}

results <- do.call(rbind, results)
write_results(results, md, out_dir, "memory", date)
