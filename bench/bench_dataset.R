# Data sets held by the engine, against R matrices: peak memory and time,
# each case in a fresh R process (peak resident memory from the kernel's
# VmHWM mark, as bench/bench_scaling.R reads it).
#
#   R_LIBS=.build/lib Rscript bench/bench_dataset.R [--rows=1e7] [--out=bench/results]
#
# a. W4 (784-100-10, SGD, batch 32, one epoch of Fashion-MNIST's 60,000
#    training images): read the IDX files and train, once through R arrays
#    (load_fashion_mnist(), x / 255) and once through dataset_idx(). The
#    weights must be identical; the peaks are compared.
# b. A 20-10-1 regression on `rows` x 20 rows (10^7: 800 MB of float32),
#    one epoch (Adam, batch 256): from a data set file (written in chunks
#    by another process), and from the same rows held in memory.
#    The file's process must stay under 300 MB resident. The targets are
#    read as a one-column matrix, which fit() uses as it is (a vector would
#    be copied into one: 80 MB more).

suppressPackageStartupMessages(library(rustnn))
args <- commandArgs(trailingOnly = TRUE)
arg <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) sub("^[^=]*=", "", hit[1]) else default
}
rows <- as.numeric(arg("rows", "1e7"))
out_dir <- arg("out", file.path("bench", "results"))
work <- tempfile("bench-dataset-")
dir.create(work)
on.exit(unlink(work, recursive = TRUE), add = TRUE)

# Runs `code` in a fresh Rscript; it prints lines "key=value", returned as
# a named numeric vector (peak_mb from the child's VmHWM at its end).
child <- function(code) {
  script <- file.path(work, "child.R")
  writeLines(c(
    "suppressPackageStartupMessages(library(rustnn))",
    "options(rustnn.verbose = 0L)",
    "report <- function(...) { v <- c(...); cat(paste0(names(v), '=', format(v, digits = 17)), sep = '\\n') }",
    "peak_mb <- function() { s <- readLines('/proc/self/status'); as.numeric(gsub('[^0-9]', '', grep('^VmHWM', s, value = TRUE))) * 1024 / 1e6 }",
    code,
    "report(peak_mb = peak_mb())"), script)
  out <- system2(file.path(R.home("bin"), "Rscript"), script, stdout = TRUE, stderr = TRUE,
                 env = paste0("R_LIBS=", paste(.libPaths(), collapse = ":")))
  kv <- grep("^[a-z_0-9]+=", out, value = TRUE)
  if (!length(kv)) stop(paste(out, collapse = "\n"))
  stats::setNames(as.numeric(sub("^[^=]*=", "", kv)), sub("=.*", "", kv))
}

lines <- c(sprintf("# Data sets against R matrices, %s", format(Sys.Date())), "",
           sprintf("%s, R %s, rustnn %s; each case a fresh `Rscript` process, peak = VmHWM at its end.",
                   sub("model name\t: ", "", grep("model name", readLines("/proc/cpuinfo"), value = TRUE)[1]),
                   getRversion(), utils::packageVersion("rustnn")), "")

# a. W4 from the IDX files.
if (fashion_mnist_available()) {
  dir <- getOption("rustnn.fashion_mnist_path", "/usr/share/datasets/fashion-mnist")
  w4 <- function(read) c(
    sprintf("dir <- '%s'", dir),
    "t0 <- proc.time()[['elapsed']]",
    read,
    "t1 <- proc.time()[['elapsed']]",
    "set.seed(1)",
    "model <- Sequential$new(Linear$new(784, 100), ReLU$new(), Linear$new(100, 10), Softmax$new())",
    "fit(model, x, y, optimizer = SGD$new(lr = 0.01), epochs = 1, batch_size = 32)",
    "t2 <- proc.time()[['elapsed']]",
    sprintf("saveRDS(model$layers[[3]]$params$weight, '%s')", file.path(work, "w-%s.rds")),
    "report(read_s = t1 - t0, epoch_s = t2 - t1)")
  matrix_path <- w4(c("fm <- load_fashion_mnist(dir)$train", "x <- fm$x / 255", "y <- fm$y", "rm(fm)"))
  matrix_path[length(matrix_path) - 1L] <- sprintf(matrix_path[length(matrix_path) - 1L], "matrix")
  dataset_path <- w4(c("y <- factor(read_idx(file.path(dir, 'train-labels-idx1-ubyte.gz')), levels = 0:9, labels = rustnn:::fashion_mnist_classes)",
                       "x <- dataset_idx(file.path(dir, 'train-images-idx3-ubyte.gz'))"))
  dataset_path[length(dataset_path) - 1L] <- sprintf(dataset_path[length(dataset_path) - 1L], "dataset")
  message("a. W4: matrix path")
  a_matrix <- child(matrix_path)
  message("a. W4: data set path")
  a_dataset <- child(dataset_path)
  same <- identical(readRDS(file.path(work, "w-matrix.rds")), readRDS(file.path(work, "w-dataset.rds")))
  lines <- c(lines, "## a. W4 (784-100-10, SGD, batch 32), reading the IDX files + one epoch", "",
             "| path | read (s) | epoch (s) | peak resident (MB) |", "|---|---|---|---|",
             sprintf("| R arrays: `load_fashion_mnist()`, `x / 255` | %.2f | %.2f | %.0f |",
                     a_matrix[["read_s"]], a_matrix[["epoch_s"]], a_matrix[["peak_mb"]]),
             sprintf("| `dataset_idx()` | %.2f | %.2f | %.0f |",
                     a_dataset[["read_s"]], a_dataset[["epoch_s"]], a_dataset[["peak_mb"]]), "",
             sprintf("Weights after the epoch identical: %s. Peak saved: %.0f MB (the R double copy of the images alone is %.0f MB).",
                     same, a_matrix[["peak_mb"]] - a_dataset[["peak_mb"]], 60000 * 784 * 8 / 1e6), "")
}

# b. A data set larger than the memory it trains in.
path <- file.path(work, "big.rnds")
message(sprintf("b. writing %g x 20 rows in chunks", rows))
write_code <- c(
  sprintf("rows <- %.0f; chunk <- 1e6; path <- '%s'", rows, path),
  "set.seed(7); w <- rnorm(20)",
  "for (start in seq(1, rows, by = chunk)) {",
  "  n <- min(chunk, rows - start + 1)",
  "  x <- matrix(rnorm(n * 20), n)",
  "  dataset_write(x, path, append = start > 1)",
  "  y <- x %*% w + rnorm(n, sd = 0.1)",
  "  con <- file(paste0(path, '.y'), if (start > 1) 'ab' else 'wb'); writeBin(as.double(y), con, size = 4); close(con)",
  "}",
  "report(bytes = file.size(path))")
b_write <- child(write_code)
big <- function(open) c(
  sprintf("path <- '%s'; rows <- %.0f", path, rows),
  "y <- readBin(paste0(path, '.y'), 'double', rows, size = 4)",
  "dim(y) <- c(rows, 1L)  # a one-column matrix: fit() uses it without a copy",
  "t0 <- proc.time()[['elapsed']]",
  open,
  "t1 <- proc.time()[['elapsed']]",
  "set.seed(1)",
  "model <- Sequential$new(Linear$new(20, 10), ReLU$new(), Linear$new(10, 1))",
  "h <- fit(model, x, y, loss = 'mse', optimizer = Adam$new(lr = 0.001), epochs = 1, batch_size = 256)",
  "t2 <- proc.time()[['elapsed']]",
  "report(open_s = t1 - t0, epoch_s = t2 - t1, loss = h$metrics$loss[1])")
message("b. one epoch from the file")
b_file <- child(big("x <- dataset_open(path)"))
message("b. one epoch from memory")
b_memory <- child(big("x <- dataset_open(path, in_memory = TRUE)"))
lines <- c(lines, sprintf("## b. 20-10-1 regression, %s rows x 20 (%.0f MB of float32 on disk), Adam, batch 256, one epoch", format(rows, big.mark = ",", scientific = FALSE), b_write[["bytes"]] / 1e6), "",
           "| data set | open / load (s) | epoch (s) | peak resident (MB) | loss |", "|---|---|---|---|---|",
           sprintf("| file, read block by block (`dataset_open()`) | %.2f | %.2f | %.0f | %.4f |",
                   b_file[["open_s"]], b_file[["epoch_s"]], b_file[["peak_mb"]], b_file[["loss"]]),
           sprintf("| the same rows in memory (`dataset_open(in_memory = TRUE)`) | %.2f | %.2f | %.0f | %.4f |",
                   b_memory[["open_s"]], b_memory[["epoch_s"]], b_memory[["peak_mb"]], b_memory[["loss"]]), "",
           sprintf("File / memory epoch time: %.2fx. Peak of the file's process under 300 MB: %s. (Both peaks include the targets, %0.f MB as R doubles.)",
                   b_file[["epoch_s"]] / b_memory[["epoch_s"]], b_file[["peak_mb"]] < 300, rows * 8 / 1e6))
writeLines(lines)
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
writeLines(lines, file.path(out_dir, sprintf("dataset-%s.md", format(Sys.Date()))))
