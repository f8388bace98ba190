# What synchronous data-parallel training would pay per step to combine
# gradients: an allreduce of W5's 407,050 parameters (784-512-10) between
# two local processes, against the time one process takes for a batch.
#
#   R_LIBS=.build/lib Rscript bench/bench_allreduce.R [--reps=50] [--out=bench/results]
#
# Transports:
# * sockets, as the `parallel` package's clusters use them: two R processes
#   joined by a socketConnection(); each step, each sends its gradient
#   (writeBin(), float32 or float64) and reads the other's (the timed
#   part), then both add the two in the same order (partial of rank 0 +
#   partial of rank 1), which gives both the same bits (checked);
# * MPI through Rmpi (Debian: r-cran-rmpi, openmpi-bin), when installed:
#   MPI_Allreduce of the doubles (the library's own summation order), and
#   MPI_Sendrecv of float32 and float64 gradients (the exchange behind the
#   fixed-order sum above). Run by mpirun -np 2 with this script in
#   --role=mpi.
# The compute side: fit() of W5 (float32, SGD) on random data, one epoch
# of 8192 rows, per batch, at each batch size, on 1 and 2 threads.
# Writes OUT/allreduce-DATE.md.

suppressPackageStartupMessages(library(rustnn))
source(file.path("bench", "plain_r.R"))
reps <- as.integer(arg("reps", "50"))
out_dir <- arg("out", file.path("bench", "results"))
role <- arg("role", "main")
n_params <- 784L * 512L + 512L + 512L * 10L + 10L  # 407,050
stopifnot(n_params == 407050L)

# The gradient of one process, in the engine's float type, as bytes.
gradient_bytes <- function(size, rank) {
  set.seed(rank)
  writeBin(rnorm(n_params), raw(), size = size)
}
# The fixed-order sum: rank 0's partial first. (R adds in double; the
# engine would add float32 to float32. Either way a + b has the same bits
# on both processes, since IEEE addition is commutative.)
add_in_order <- function(mine, theirs, rank, size) {
  a <- readBin(mine, "double", n_params, size = size)
  b <- readBin(theirs, "double", n_params, size = size)
  if (rank == 0L) a + b else b + a
}

# ---- sockets ---------------------------------------------------------------

socket_exchange <- function(con, payload, rank) {
  n <- length(payload)
  if (rank == 0L) {
    writeBin(payload, con)
    theirs <- readBin(con, "raw", n)
  } else {
    theirs <- readBin(con, "raw", n)
    writeBin(payload, con)
  }
  # readBin() on a socket may return fewer bytes than asked: read the rest.
  while (length(theirs) < n) theirs <- c(theirs, readBin(con, "raw", n - length(theirs)))
  theirs
}

socket_steps <- function(con, rank, size, reps) {
  mine <- gradient_bytes(size, rank)
  for (i in 1:3) socket_exchange(con, mine, rank)  # warm
  times <- numeric(reps)
  for (i in seq_len(reps)) {
    t0 <- Sys.time()
    theirs <- socket_exchange(con, mine, rank)
    times[i] <- as.double(Sys.time() - t0, units = "secs")
  }
  total <- add_in_order(mine, theirs, rank, size)
  list(times = times, check = sum(total))
}

if (role == "socket-peer") {
  con <- socketConnection("localhost", as.integer(arg("port", "0")), open = "r+b", blocking = TRUE,
                          timeout = 60)
  res <- lapply(c(4L, 8L), function(size) socket_steps(con, 1L, size, reps))
  saveRDS(res, arg("save", ""))
  close(con)
  quit(save = "no")
}

# ---- MPI -------------------------------------------------------------------

if (role == "mpi") {
  suppressPackageStartupMessages(library(Rmpi))
  rank <- mpi.comm.rank(0)
  time_it <- function(f) {
    for (i in 1:3) f()
    vapply(seq_len(reps), function(i) {
      mpi.barrier(0)
      t0 <- Sys.time()
      f()
      as.double(Sys.time() - t0, units = "secs")
    }, numeric(1))
  }
  set.seed(rank)
  grad <- rnorm(n_params)
  allreduce64 <- time_it(function() mpi.allreduce(grad, type = 2, op = "sum", comm = 0))
  # Rmpi sends integers, doubles and strings: float32 values go as the
  # integers of the same bits.
  bytes32 <- gradient_bytes(4L, rank)
  ints32 <- readBin(bytes32, "integer", n_params)
  other <- 1L - rank
  sendrecv32 <- time_it(function() {
    mpi.sendrecv(ints32, 1, other, 1, integer(n_params), 1, other, 1, comm = 0)
  })
  bytes64 <- gradient_bytes(8L, rank)
  doubles64 <- readBin(bytes64, "double", n_params)
  sendrecv64 <- time_it(function() {
    mpi.sendrecv(doubles64, 2, other, 1, double(n_params), 2, other, 1, comm = 0)
  })
  if (rank == 0L) {
    saveRDS(list(allreduce64 = allreduce64, sendrecv32 = sendrecv32, sendrecv64 = sendrecv64),
            arg("save", ""))
  }
  mpi.barrier(0)
  mpi.finalize()
  quit(save = "no")
}

# ---- main: both transports, then the compute side --------------------------

med_ms <- function(t) 1000 * stats::median(t)

socket_run <- function() {
  port <- parallelly::freePort()
  server <- serverSocket(port)
  on.exit(close(server))
  save <- tempfile(fileext = ".rds")
  peer <- callr::r_bg(function(script, args) {
    system2(file.path(R.home("bin"), "Rscript"), c(script, args))
  }, list(script = file.path("bench", "bench_allreduce.R"),
          args = c("--role=socket-peer", paste0("--port=", port), paste0("--reps=", reps),
                   paste0("--save=", save))), wd = getwd())
  con <- socketAccept(server, blocking = TRUE, open = "r+b", timeout = 60)
  mine <- lapply(c(4L, 8L), function(size) socket_steps(con, 0L, size, reps))
  peer$wait(60)
  close(con)
  theirs <- readRDS(save)
  # Both processes hold the same sum, to the bit.
  stopifnot(identical(mine[[1]]$check, theirs[[1]]$check), identical(mine[[2]]$check, theirs[[2]]$check))
  list(float32 = mine[[1]]$times, float64 = mine[[2]]$times)
}

mpi_run <- function() {
  if (!nzchar(system.file(package = "Rmpi")) || !nzchar(Sys.which("mpirun"))) return(NULL)
  save <- tempfile(fileext = ".rds")
  env <- c(OMPI_ALLOW_RUN_AS_ROOT = "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = "1")
  # Debian's Rmpi opens "libmpi.so", which only the -dev package links to
  # the runtime library: without it, a private link to the runtime one.
  runtime <- Sys.glob("/usr/lib/*/libmpi.so.40")
  if (!length(Sys.glob("/usr/lib/*/libmpi.so")) && length(runtime)) {
    dir <- tempfile("mpilib")
    dir.create(dir)
    file.symlink(runtime[1], file.path(dir, "libmpi.so"))
    env <- c(env, LD_LIBRARY_PATH = paste(c(dir, Sys.getenv("LD_LIBRARY_PATH")), collapse = ":"))
  }
  old <- Sys.getenv(names(env), unset = NA)
  do.call(Sys.setenv, as.list(env))
  on.exit(for (n in names(old)) if (is.na(old[[n]])) Sys.unsetenv(n) else do.call(Sys.setenv, as.list(old[n])))
  status <- system2("mpirun", c("-np", "2", "--oversubscribe", "--bind-to", "none",
                                file.path(R.home("bin"), "Rscript"), file.path("bench", "bench_allreduce.R"),
                                "--role=mpi", paste0("--reps=", reps), paste0("--save=", save)),
                    stdout = FALSE, stderr = FALSE)
  if (status != 0 || !file.exists(save)) return(NULL)
  readRDS(save)
}

compute_run <- function() {
  set.seed(1)
  rows <- 8192L
  x <- matrix(runif(rows * 784), rows)
  y <- factor(sample(0:9, rows, replace = TRUE))
  grid <- expand.grid(batch = c(32L, 128L, 512L, 2048L), threads = 1:2)
  grid$ms <- NA_real_
  for (i in seq_len(nrow(grid))) {
    times <- replicate(3, {
      model <- Sequential$new(Linear$new(784, 512), ReLU$new(), Linear$new(512, 10), Softmax$new())
      system.time(fit(model, x, y, optimizer = SGD$new(lr = 0.01), epochs = 1,
                      batch_size = grid$batch[i], threads = grid$threads[i], verbose = 0))[["elapsed"]]
    })
    grid$ms[i] <- 1000 * stats::median(times) / ceiling(rows / grid$batch[i])
  }
  grid
}

sockets <- socket_run()
mpi <- mpi_run()
compute <- compute_run()

comm <- data.frame(
  transport = c("socket (parallel's connections), exchange", "socket, exchange",
                if (!is.null(mpi)) c("MPI (Rmpi) sendrecv", "MPI sendrecv", "MPI_Allreduce (Rmpi), exchange and sum")),
  type = c("float32", "float64", if (!is.null(mpi)) c("float32", "float64", "float64")),
  ms = c(med_ms(sockets$float32), med_ms(sockets$float64),
         if (!is.null(mpi)) c(med_ms(mpi$sendrecv32), med_ms(mpi$sendrecv64), med_ms(mpi$allreduce64))))
comm$MB <- ifelse(comm$type == "float32", 4, 8) * n_params / 1e6

one <- compute[compute$threads == 1L, ]
best_f32 <- min(comm$ms[comm$type == "float32"])
lines <- c(
  sprintf("# Allreduce of W5's gradient between two processes, %s", Sys.Date()),
  "",
  sprintf("%s, %d cores, R %s; `Rscript bench/bench_allreduce.R --reps=%d` (median of %d steps).",
          cpu_model(), parallel::detectCores(), getRversion(), reps, reps),
  "",
  sprintf("W5 is 784-512-10: %s parameters, %.2f MB in float32, %.2f MB in float64.",
          format(n_params, big.mark = ","), 4 * n_params / 1e6, 8 * n_params / 1e6),
  "Each step, each process sends its partial gradient and receives the other's (timed here); both",
  "then add them in rank order (the same bits on both: checked), as a fixed-order allreduce of two",
  "would. The addition itself, 407,050 adds, is not timed: the engine would do it in well under a",
  "millisecond (R's conversions from bytes cost more than the sum).",
  "",
  "| transport | type | MB sent each way | ms per allreduce |",
  "|---|---|---|---|",
  sprintf("| %s | %s | %.2f | %.2f |", comm$transport, comm$type, comm$MB, comm$ms),
  "",
  "Compute: `fit()` of W5 (float32, SGD), one epoch of 8192 random rows, per batch:",
  "",
  "| batch | ms per batch, 1 thread | ms per batch, 2 threads | batch time / fastest float32 allreduce (1 thread) |",
  "|---|---|---|---|",
  sprintf("| %d | %.2f | %.2f | %.1f |", one$batch, one$ms,
          compute$ms[compute$threads == 2L], one$ms / best_f32),
  "",
  sprintf("Load average at the end (1, 5, 15 min): %s.",
          if (file.exists("/proc/loadavg")) paste(strsplit(readLines("/proc/loadavg"), " ")[[1]][1:3], collapse = ", ") else "unknown"),
  "",
  if (is.null(mpi)) "Rmpi was not available: MPI rows are missing." else
    "MPI ran as `mpirun -np 2 --oversubscribe --bind-to none`, over shared memory (one host)."
)
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
out <- file.path(out_dir, sprintf("allreduce-%s.md", Sys.Date()))
writeLines(lines, out)
cat(lines, sep = "\n")
