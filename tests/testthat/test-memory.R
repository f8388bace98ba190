# Memory: many small fits in one session leave the resident memory flat.
# A fast version of bench/bench_memory.R's part a (see there for the full
# measurement, and for the large-data peak measurement).

# Resident memory in MB (10^6 bytes) after two full collections (the second
# also frees what the first one's finalizers released, e.g. the engines).
rss_mb_after_gc <- function() {
  invisible(gc(full = TRUE))
  invisible(gc(full = TRUE))
  status <- readLines("/proc/self/status")
  kb <- as.numeric(sub("^[^0-9]*([0-9]+).*$", "\\1", grep("^VmRSS:", status, value = TRUE)))
  kb * 1024 / 1e6
}

test_that("1,000 consecutive small fit() calls keep the resident memory flat", {
  skip_on_cran()
  skip_on_os(c("windows", "mac", "solaris"))
  skip_if_not(file.exists("/proc/self/status"), "no /proc/self/status")
  set.seed(1)
  x <- matrix(rnorm(400), 200)
  y <- x[, 1] * x[, 2] + rnorm(200, sd = 0.1)
  # A new model each time: its engine (and, with 2 threads, its thread pool)
  # must be freed when R collects it.
  step <- function() {
    model <- Sequential$new(Linear$new(2, 8), Tanh$new(), Linear$new(8, 1))
    fit(model, x, y, loss = "mse", optimizer = SGD$new(lr = 0.05), epochs = 1, batch_size = 32,
        verbose = 0, threads = 2)
  }
  # Always 50 calls between readings, warm-up included: R grows its
  # cons-cell heap once to what such a loop needs (15-20 MB of RSS that it
  # keeps, even for R6 objects alone), within the first two chunks.
  chunk <- function() {
    for (i in 1:50) step()
    rss_mb_after_gc()
  }
  for (i in 1:2) chunk()
  before <- rss_mb_after_gc()
  readings <- vapply(1:20, function(i) chunk(), numeric(1))
  growth <- readings[20] - before
  expect_lt(growth, 10, label = sprintf(
    "RSS growth over 1,000 fits (%.1f MB -> %.1f MB; readings every 50 fits: %s)",
    before, readings[20], paste(sprintf("%.1f", readings), collapse = ", ")))
})
