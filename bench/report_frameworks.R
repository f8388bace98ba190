# The last step of the framework benchmark (bench/run_frameworks.sh):
# combines the raw results of bench/bench_frameworks.R (r.csv) and
# bench/bench_frameworks.py (pytorch.csv, keras.csv, versions.csv) from one
# directory into the published tables:
#   bench/results/frameworks-DATE.md    markdown: machine, versions, command,
#                                       one row per workload with seconds per
#                                       epoch and accuracy per tool and
#                                       rustnn's speed-up vs PyTorch and Keras,
#                                       notes, and the individual fit times
#   bench/results/frameworks-DATE.csv   long format: workload, description,
#                                       tool, threads, sec_per_epoch,
#                                       accuracy, note
#   vignettes/framework-timings.csv     a copy of that CSV
#   vignettes/framework-timings-meta.csv  key,value: date, cpu, cores, r,
#                                       rustnn, python, torch, tensorflow,
#                                       keras, numpy, command
#
#   R_LIBS=.build/lib Rscript bench/report_frameworks.R --raw=DIR \
#     [--date=YYYY-MM-DD] [--command="bench/run_frameworks.sh"] [--runs=3] [--root=.]
# (--root: the package root the outputs are written under.)
bench_dir <- "bench"  # scripts run from the package root
source(file.path(bench_dir, "plain_r.R"))   # for cpu_model() and arg()

raw_dir <- arg("raw", NA)
if (is.na(raw_dir)) stop("give --raw=DIR, the directory of r.csv, pytorch.csv, keras.csv, versions.csv")
date <- arg("date", format(Sys.Date()))
command <- arg("command", "bench/run_frameworks.sh")
runs <- as.integer(arg("runs", "3"))
root <- arg("root", ".")

tools <- c("rustnn", "rustnn_1thread", "plain_r", "pytorch", "keras")
tool_names <- c(rustnn = "rustnn", rustnn_1thread = "rustnn 1 thread", plain_r = "plain R",
                pytorch = "PyTorch", keras = "Keras")

read_raw <- function(name) {
  path <- file.path(raw_dir, name)
  if (!file.exists(path)) {
    warning("missing ", path, call. = FALSE)
    return(NULL)
  }
  utils::read.csv(path, stringsAsFactors = FALSE, na.strings = c("NA", ""))
}
raw <- do.call(rbind, lapply(c("r.csv", "pytorch.csv", "keras.csv"), read_raw))
raw$note[is.na(raw$note)] <- ""
raw <- raw[order(raw$workload, match(raw$tool, tools)), ]

versions <- read_raw("versions.csv")
version_of <- function(key) {
  v <- versions$value[versions$key == key]
  if (length(v)) v else NA_character_
}
meta <- data.frame(
  key = c("date", "cpu", "cores", "r", "rustnn", "python", "torch", "tensorflow", "keras",
          "numpy", "command"),
  value = c(date, cpu_model(), parallel::detectCores(), as.character(getRversion()),
            as.character(utils::packageVersion("rustnn")), version_of("python"),
            version_of("torch"), version_of("tensorflow"), version_of("keras"),
            version_of("numpy"), command))

# Long-format CSV ---------------------------------------------------------
long <- raw[, c("workload", "description", "tool", "threads", "sec_per_epoch", "accuracy", "note")]
results_dir <- file.path(root, "bench", "results")
dir.create(results_dir, showWarnings = FALSE, recursive = TRUE)
csv_file <- file.path(results_dir, sprintf("frameworks-%s.csv", date))
utils::write.csv(long, csv_file, row.names = FALSE, na = "NA")
vignette_dir <- file.path(root, "vignettes")
utils::write.csv(long, file.path(vignette_dir, "framework-timings.csv"), row.names = FALSE,
                 na = "NA")
utils::write.csv(meta, file.path(vignette_dir, "framework-timings-meta.csv"), row.names = FALSE)

# Markdown ----------------------------------------------------------------
fmt_sec <- function(x) {
  ifelse(is.na(x), "NA", trimws(formatC(signif(x, 3), digits = 3, format = "fg")))
}
fmt_acc <- function(x) ifelse(is.na(x), "NA", sprintf("%.3f", x))
fmt_ratio <- function(x) ifelse(is.na(x), "NA", sprintf(ifelse(x >= 100, "%.0fx", "%.1fx"), x))
cell <- function(w, tool, column) {
  v <- raw[[column]][raw$workload == w & raw$tool == tool]
  if (length(v)) v[1] else NA
}

workloads <- unique(raw$workload)
short <- sub(",.*", "", raw$description[match(workloads, raw$workload)])
rows <- vapply(seq_along(workloads), function(i) {
  w <- workloads[i]
  sec <- vapply(tools, function(t) cell(w, t, "sec_per_epoch"), numeric(1))
  acc <- vapply(tools, function(t) cell(w, t, "accuracy"), numeric(1))
  paste0("| ", paste(c(
    paste(w, short[i]), fmt_sec(sec),
    fmt_acc(acc[c("rustnn", "plain_r", "pytorch", "keras")]),
    fmt_ratio(sec[["pytorch"]] / sec[["rustnn"]]), fmt_ratio(sec[["keras"]] / sec[["rustnn"]])
  ), collapse = " | "), " |")
}, character(1))
header <- c(
  "| Workload | rustnn s/epoch | rustnn 1-thread s/epoch | plain R s/epoch | PyTorch s/epoch | Keras s/epoch | rustnn acc. | plain R acc. | PyTorch acc. | Keras acc. | rustnn speed-up vs PyTorch | rustnn speed-up vs Keras |",
  paste0("|", paste(rep("---", 12), collapse = "|"), "|"))

threads_of <- function(tool) {
  t <- unique(raw$threads[raw$tool == tool])
  if (length(t) == 1L) as.character(t) else paste(t, collapse = "/")
}

# Notes: each distinct note once, with the cells it applies to.
noted <- raw[nzchar(raw$note), ]
note_lines <- character()
for (n in unique(noted$note)) {
  where <- noted[noted$note == n, ]
  all_of_tool <- length(unique(where$tool)) == 1L &&
    setequal(where$workload, raw$workload[raw$tool == where$tool[1]])
  cells <- if (all_of_tool) {
    sprintf("%s (all workloads)", tool_names[[where$tool[1]]])
  } else {
    paste(sprintf("%s %s", where$workload, tool_names[where$tool]), collapse = ", ")
  }
  note_lines <- c(note_lines, sprintf("- %s: %s.", cells, n))
}

fit_lines <- c("| Workload | Tool | Fit times (s) |", "|---|---|---|",
               sprintf("| %s | %s | %s |", raw$workload, tool_names[raw$tool],
                       gsub(";", ", ", raw$run_seconds)))

specs <- utils::read.csv(file.path(bench_dir, "frameworks-workloads.csv"),
                         stringsAsFactors = FALSE, comment.char = "#")
spec_of <- match(workloads, specs$workload)
descriptions <- sprintf("- **%s** %s; accuracy on the %s.", workloads,
                        specs$description[spec_of], specs$accuracy_on[spec_of])

md <- c(
  sprintf("# rustnn, plain R, PyTorch and Keras: seconds per epoch (%s)", date),
  "",
  sprintf("- Date: %s", date),
  sprintf("- CPU: %s, %s cores", meta$value[meta$key == "cpu"], meta$value[meta$key == "cores"]),
  sprintf("- Versions: R %s, rustnn %s, Python %s, torch %s, tensorflow %s, keras %s, numpy %s",
          meta$value[meta$key == "r"], meta$value[meta$key == "rustnn"],
          meta$value[meta$key == "python"], meta$value[meta$key == "torch"],
          meta$value[meta$key == "tensorflow"], meta$value[meta$key == "keras"],
          meta$value[meta$key == "numpy"]),
  sprintf("- Command: `%s` (from the package root)", command),
  sprintf("- Threads: rustnn %s (and 1 in the 1-thread column), plain R %s, PyTorch %s, Keras %s",
          threads_of("rustnn"), threads_of("plain_r"), threads_of("pytorch"), threads_of("keras")),
  "",
  sprintf("Seconds per epoch = the fit's wall time / epochs, median of %d fit%s from fresh models", runs,
          if (runs == 1) "" else "s"),
  sprintf("(seeds 1-%d) unless a note says otherwise; accuracy = median over the same fits.", runs),
  "Speed-up = the other tool's seconds per epoch / rustnn's (2 threads); above 1, rustnn is faster.",
  "All tools train on the same data (bench/export_data.R's CSV files, Fashion-MNIST's IDX files)",
  "in float32 (plain R: double), with shuffling every epoch and each tool's own weight",
  "initialization and optimizer defaults apart from the learning rate. The accuracies of the",
  "small workloads vary with the seed for every tool (iris: about 0.8 to 0.99), so compare them loosely.",
  "",
  header, rows,
  "",
  "## Workloads",
  "",
  descriptions,
  "",
  "## Notes",
  "",
  "- rustnn: `fit(..., verbose = FALSE, threads = 2)`, shuffling on; the 1-thread column is the same fit with `threads = 1`.",
  "- plain R: bench/plain_r.R, tutorial 003's vectorized network (one matrix product per layer and mini-batch; the CNN's convolution as one im2col product), Glorot-uniform weights, rows shuffled every epoch, rustnn's optimizer defaults.",
  "- PyTorch: eager loop over a `torch.randperm()` order with tensor indexing, `torch.set_num_threads(2)`; sigmoid/softmax outputs fused into `BCEWithLogitsLoss`/`CrossEntropyLoss`. The PyPI wheel is the CUDA build, run on the CPU.",
  "- Keras 3, TensorFlow backend (CPU): `model.fit(x, y, epochs=, batch_size=, verbose=0)` timed as a whole, so the time includes tracing the training step; intra- and inter-op thread pools of 2.",
  note_lines,
  "",
  "## Individual fit times",
  "",
  fit_lines
)
md_file <- file.path(results_dir, sprintf("frameworks-%s.md", date))
writeLines(md, md_file)
cat(sprintf("report_frameworks: wrote %s, %s, vignettes/framework-timings.csv, vignettes/framework-timings-meta.csv\n",
            md_file, csv_file))
writeLines(c(header, rows))
