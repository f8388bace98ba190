# Writes the non-image data sets of the framework benchmark
# (bench/run_frameworks.sh) as CSV, so that rustnn, plain R, PyTorch and
# Keras train on exactly the same numbers:
#   xor.csv            W1: x1, x2, y1, y2 (one-hot of XOR), the 4 points
#   planar_train.csv   W2: x1, x2 (standardized by the training mean/sd), y;
#   planar_test.csv        rows 1-320 and 321-400 of planar_flower() after
#                          set.seed(69) and a shuffle (demo/tutorial_networks.R)
#   iris.csv           W3: the 4 raw measurements, label 0-2 (setosa,
#                          versicolor, virginica)
#   synthetic.csv      W7: x1..x20 ~ N(0, 1), y = 1 if x %*% beta + noise > 0,
#                          10,000 rows, set.seed(2024)
# Fashion-MNIST (W4-W6) is read from its IDX files by each side instead.
# Values are written with 17 significant digits (exact doubles); every tool
# converts them to its working precision (float32) itself.
#
#   R_LIBS=.build/lib Rscript bench/export_data.R [output directory]
# The default output directory is bench/data (gitignored). Needs rustnn
# (for planar_flower()).
suppressPackageStartupMessages(library(rustnn))

args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args)) args[1] else "bench/data"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

write_exact <- function(d, name) {
  d[] <- lapply(d, function(col) if (is.double(col)) sprintf("%.17g", col) else col)
  utils::write.csv(d, file.path(out_dir, name), row.names = FALSE, quote = FALSE)
}

# W1: tutorial 001's XOR.
xor_x <- matrix(c(0, 1, 0, 1, 0, 0, 1, 1), ncol = 2)
xor_y <- matrix(c(1, 0, 0, 1, 0, 1, 1, 0), ncol = 2)
write_exact(data.frame(x1 = xor_x[, 1], x2 = xor_x[, 2], y1 = xor_y[, 1], y2 = xor_y[, 2]),
            "xor.csv")

# W2: tutorial 003's planar flower, as in demo/tutorial_networks.R.
set.seed(69)
flower <- planar_flower()
flower <- flower[sample(nrow(flower)), ]
x_train <- scale(as.matrix(flower[1:320, 1:2]))
x_test <- scale(as.matrix(flower[321:400, 1:2]),
                attr(x_train, "scaled:center"), attr(x_train, "scaled:scale"))
write_exact(data.frame(x1 = x_train[, 1], x2 = x_train[, 2], y = as.integer(flower$y[1:320])),
            "planar_train.csv")
write_exact(data.frame(x1 = x_test[, 1], x2 = x_test[, 2], y = as.integer(flower$y[321:400])),
            "planar_test.csv")

# W3: iris, raw measurements.
write_exact(data.frame(x1 = iris[, 1], x2 = iris[, 2], x3 = iris[, 3], x4 = iris[, 4],
                       label = as.integer(iris$Species) - 1L), "iris.csv")

# W7: synthetic binary classification, 10,000 x 20.
set.seed(2024)
n <- 10000
p <- 20
x <- matrix(rnorm(n * p), n, p, dimnames = list(NULL, paste0("x", seq_len(p))))
beta <- seq(-1, 1, length.out = p)
y <- as.integer(drop(x %*% beta) + rnorm(n, sd = 0.5) > 0)
write_exact(data.frame(x, y = y), "synthetic.csv")

cat(sprintf("export_data: wrote xor, planar_train, planar_test, iris, synthetic CSV to %s\n",
            out_dir))
