# The engine's threads: one pool per thread count for the whole process,
# rebuilt in forked children (R/threads.R, src/rust/core/src/parallel.rs).
# Each check runs in a fresh R process: a hang there fails after a timeout
# instead of blocking the run, and no other test's threads are counted.

test_that("forked children train and predict after the parent used its threads", {
  skip_on_os("windows")
  result <- callr::r(function() {
    library(rustnn)
    set.seed(1)
    x <- matrix(rnorm(5000 * 10), ncol = 10)
    y <- rnorm(5000)
    model <- Sequential$new(Linear$new(10, 16), ReLU$new(), Linear$new(16, 1))
    cnn <- Sequential$new(Conv2d$new(1, 4, 3), ReLU$new(), MaxPool2d$new(2),
                          Flatten$new(), Linear$new(36, 2), Softmax$new())
    images <- array(runif(50 * 8 * 8), c(50, 8, 8))
    # The parent's pool of two threads exists before the fork, and both
    # models have used it.
    fit(model, x, y, epochs = 1, batch_size = 5000, verbose = FALSE, threads = 2)
    predict(cnn, images, threads = 2)
    # Each child works on the parent's live models (their engines came
    # across the fork); the sequential run on clones of them.
    job <- function(i, model, cnn) {
      set.seed(i)
      fit(model, x, y, epochs = 2, batch_size = 100, verbose = FALSE, threads = 2)
      list(weights = lapply(model$layers, function(l) l$params),
           train = predict(model, x, threads = 2),
           images = predict(cnn, images, threads = 2))
    }
    forked <- parallel::mclapply(1:2, function(i) job(i, model, cnn), mc.cores = 2)
    single <- parallel::mccollect(parallel::mcparallel(job(3, model, cnn)))[[1]]
    sequential <- lapply(1:3, function(i) job(i, model$clone(), cnn$clone()))
    list(forked = c(forked, list(single)), sequential = sequential)
  }, timeout = 120)
  for (r in result$forked) expect_false(inherits(r, "try-error"))
  expect_identical(result$forked, result$sequential)
})

test_that("hundreds of models share their threads", {
  skip_on_os("windows")
  skip_if_not(file.exists("/proc/self/status"))
  result <- callr::r(function() {
    library(rustnn)
    os_threads <- function() {
      status <- readLines("/proc/self/status")
      as.integer(sub("^Threads:\\s*", "", grep("^Threads:", status, value = TRUE)))
    }
    before <- os_threads()
    models <- lapply(1:300, function(i) {
      model <- Sequential$new(Linear$new(4, 2))
      predict(model, matrix(0, 1, 4), threads = 2)
      model
    })
    # Discarded models (not yet collected) hold no threads of their own either.
    for (i in 1:300) predict(Sequential$new(Linear$new(4, 2)), matrix(0, 1, 4), threads = 2)
    list(before = before, after = os_threads(), models = length(models))
  }, timeout = 120)
  expect_equal(result$models, 300)
  expect_lt(result$after, 10 + parallel::detectCores())
  expect_lte(result$after - result$before, 2)
})

test_that("the engine reports the vector instructions its kernels run on this CPU", {
  isa <- rn_instruction_set()
  expect_true(isa %in% c("avx512", "avx2", "sse2", "neon", "scalar"))
  # A run restricted to one instruction set (tools/cpu_paths.sh runs R on an
  # emulated CPU) names the set it expects.
  expected <- Sys.getenv("RUSTNN_EXPECT_INSTRUCTION_SET")
  if (nzchar(expected)) {
    expect_identical(isa, expected)
  } else if (R.version$arch == "x86_64" && file.exists("/proc/cpuinfo")) {
    # On Linux the CPU's flags say which kernels it can run (lzcnt is "abm").
    flags <- strsplit(sub(".*: ", "", grep("^flags", readLines("/proc/cpuinfo"), value = TRUE)[1]), " ")[[1]]
    v3 <- all(c("sse4_2", "popcnt", "avx", "avx2", "bmi1", "bmi2", "fma", "abm") %in% flags)
    v4 <- v3 && all(c("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl") %in% flags)
    expect_identical(isa, if (v4) "avx512" else if (v3) "avx2" else "sse2")
  } else if (R.version$arch == "aarch64") {
    expect_identical(isa, "neon")
  }
})
