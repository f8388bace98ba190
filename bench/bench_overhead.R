# What one call from R costs: the R layer in front of the engine, timed on
# the small networks where it dominates, beside the same work in plain R.
#
#   R_LIBS=.build/lib Rscript bench/bench_overhead.R [--reps=15] [--out=bench/results]
#
# Each figure is the median over `reps` rounds of the mean time of one call
# in a round of many (one thread, warm: the model is built and has been
# called before). The last row is different: a fresh R process
# (`Rscript`), timed from after library(rustnn) to the end of the first
# model's build and fit(), as a user's script pays it.
#
# Plain R references: tutorial 001's R6 layers (its `Linear` and `Tanh`,
# base matrices instead of rray) for the manual step on XOR, and tutorial
# 003's vectorized functions (bench/plain_r.R) for the 2-4-1 network, the
# iris epoch and prediction. Writes OUT/overhead-DATE.csv and .md.

suppressPackageStartupMessages(library(rustnn))
source(file.path("bench", "plain_r.R"))
options(rustnn.threads = 1L, rustnn.verbose = 0L)
reps <- as.integer(arg("reps", "15"))
out_dir <- arg("out", file.path("bench", "results"))

# Seconds per call of f(): median over `reps` rounds of `n` calls each,
# with `n` chosen so that a round lasts about 20 ms.
per_call <- function(f, reps) {
  f()
  n <- 1L
  repeat {
    t <- system.time(for (i in seq_len(n)) f())[["elapsed"]]
    if (t >= 0.02 || n >= 1e6) break
    n <- n * 4L
  }
  median(vapply(seq_len(reps), function(r) {
    system.time(for (i in seq_len(n)) f())[["elapsed"]] / n
  }, numeric(1)))
}

# Tutorial 001's layers, as its vignette writes them.
TutorialLinear <- tutorial_linear_class()
TutorialTanh <- R6::R6Class("TutorialTanh", public = list(
  params = list(), grads = list(), inputs = NULL,
  forward = function(inputs) {
    self$inputs <- inputs
    tanh(inputs)
  },
  backward = function(grad) (1 - tanh(self$inputs)^2) * grad
))
tutorial_step <- function(net, x, y, lr) {
  predicted <- Reduce(function(h, layer) layer$forward(h), net, x)
  grad <- 2 * (predicted - y)
  for (layer in rev(net)) grad <- layer$backward(grad)
  for (layer in net) {
    for (name in names(layer$params)) {
      layer$params[[name]] <- layer$params[[name]] - lr * layer$grads[[name]]
    }
  }
}

manual_step <- function(model, loss, optimizer, x, y) {
  predicted <- model$forward(x)
  model$backward(loss$grad(predicted, y))
  optimizer$step(model)
}

set.seed(1)
rows <- list()
add <- function(call, rustnn, plain = NA, goal, goal_text) {
  rows[[length(rows) + 1L]] <<- data.frame(call = call, rustnn_us = rustnn * 1e6,
                                           plain_r_us = plain * 1e6, goal = goal_text,
                                           met = rustnn <= goal, stringsAsFactors = FALSE)
}

# Iris 4-40-3: predict and one full-batch epoch.
x_iris <- scale(as.matrix(iris[, 1:4]))
y_iris <- iris$Species
iris_model <- Sequential$new(Linear$new(4, 40), Sigmoid$new(), Linear$new(40, 3), Softmax$new())
fit(iris_model, x_iris, y_iris, epochs = 1, batch_size = 150)
p_iris <- init_params(4, 40, 3, "glorot_uniform")
y_onehot <- diag(3)[as.integer(y_iris), ]
one_row <- x_iris[1, , drop = FALSE]
add("predict(), 1 row (iris 4-40-3)", per_call(function() predict(iris_model, one_row), reps),
    per_call(function() predict_vectorized(p_iris, one_row, "sigmoid", "softmax"), reps),
    100e-6, "<= 100 us")
add("predict(), 150 rows", per_call(function() predict(iris_model, x_iris), reps),
    per_call(function() predict_vectorized(p_iris, x_iris, "sigmoid", "softmax"), reps),
    200e-6, "<= 200 us")
add("fit(), one full-batch epoch of iris",
    per_call(function() fit(iris_model, x_iris, y_iris, epochs = 1, batch_size = 150), reps),
    per_call(function() train_vectorized(p_iris, x_iris, y_onehot, "sigmoid", "softmax",
                                         plain_sgd(0.01), 1, 150), reps),
    500e-6, "<= 500 us")
add("model$layers[[1]]$params$weight",
    per_call(function() iris_model$layers[[1]]$params$weight, reps),
    per_call(function() p_iris$w1, reps), 20e-6, "<= 20 us")

# Tutorial 001's manual step on XOR (2-2-2, tanh, total squared error, SGD).
x_xor <- matrix(c(0, 0, 1, 0, 0, 1, 1, 1), ncol = 2, byrow = TRUE)
y_xor <- matrix(c(1, 0, 0, 1, 0, 1, 1, 0), ncol = 2, byrow = TRUE)
xor_model <- Sequential$new(Linear$new(2, 2), Tanh$new(), Linear$new(2, 2), dtype = "float64")
sse <- SSELoss$new()
sgd <- SGD$new(lr = 0.01)
tutorial_net <- list(TutorialLinear$new(2, 2), TutorialTanh$new(), TutorialLinear$new(2, 2))
xor_plain <- per_call(function() tutorial_step(tutorial_net, x_xor, y_xor, 0.01), reps)
add("manual step, XOR 2-2-2 (tutorial 001)",
    per_call(function() manual_step(xor_model, sse, sgd, x_xor, y_xor), reps), xor_plain,
    xor_plain, "no slower than plain R")

# The same step on tutorial 003's 2-4-1 network, 320 rows.
flower <- planar_flower()[1:320, ]
x_fl <- scale(as.matrix(flower[, c("x1", "x2")]))
y_fl <- matrix(flower$y, ncol = 1)
flower_model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
bce <- BCELoss$new()
sgd_fl <- SGD$new(lr = 1.2)
p_fl <- init_params(2, 4, 1)
flower_plain <- per_call(function() {
  p_fl <<- train_vectorized(p_fl, x_fl, y_fl, "tanh", "sigmoid", plain_sgd(1.2), 1, 320)
}, reps)
add("manual step, planar flower 2-4-1, 320 rows (tutorial 003)",
    per_call(function() manual_step(flower_model, bce, sgd_fl, x_fl, y_fl), reps), flower_plain,
    flower_plain / 2, "2x faster than plain R")

# A fresh R process: the first build and fit() after library(rustnn).
first_fit <- file.path(tempdir(), "first_fit.R")
writeLines(c(
  "suppressPackageStartupMessages(library(rustnn))",
  "start <- proc.time()[['elapsed']]",
  "set.seed(1)",
  "model <- Sequential$new(Linear$new(4, 40), Sigmoid$new(), Linear$new(40, 3), Softmax$new())",
  "fit(model, Species ~ ., data = iris, epochs = 1, verbose = 0)",
  "cat('seconds,', proc.time()[['elapsed']] - start, '\\n', sep = '')"), first_fit)
fresh <- median(replicate(max(3L, reps %/% 3L), rscript_child(first_fit)[["seconds"]]))
add("first build + fit() in a fresh R session, after library(rustnn)", fresh, NA, 0.1,
    "<= 100 ms")

results <- do.call(rbind, rows)
results$ratio_plain_over_rustnn <- results$plain_r_us / results$rustnn_us
shown <- within(results, {
  rustnn_us <- signif(rustnn_us, 3)
  plain_r_us <- signif(plain_r_us, 3)
  ratio_plain_over_rustnn <- signif(ratio_plain_over_rustnn, 3)
})
print(shown, row.names = FALSE, right = FALSE)
date <- format(Sys.Date())
md <- c(sprintf("# R-layer overhead, %s", date), "",
        sprintf("%s, R %s, rustnn %s, 1 thread, median of %d rounds (`Rscript bench/bench_overhead.R`).",
                cpu_model(), getRversion(), utils::packageVersion("rustnn"), reps), "",
        "| call | rustnn (us) | plain R (us) | plain R / rustnn | goal | met |",
        "|---|---|---|---|---|---|",
        sprintf("| %s | %s | %s | %s | %s | %s |", shown$call, shown$rustnn_us,
                ifelse(is.na(shown$plain_r_us), "", shown$plain_r_us),
                ifelse(is.na(shown$ratio_plain_over_rustnn), "", paste0(shown$ratio_plain_over_rustnn, "x")),
                shown$goal, ifelse(shown$met, "yes", "no")))
write_results(results, md, out_dir, "overhead", date)
