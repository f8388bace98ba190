# The models and inputs whose ONNX files were checked against independent
# runtimes (the onnx checker, ONNX Runtime, PyTorch) by
# tools/onnx/make_fixtures.sh, which sources this file; test-onnx.R builds
# them again and compares predict() with the outputs those runtimes gave
# (tests/testthat/fixtures/onnx/*.f32). Weights come from set.seed(), not
# from training, so that they are the same on every platform.

#' Inputs by a recipe that the fixture script repeats in Python:
#' value `j` (0-based, in a sample's row-major order) of row `i` (0-based)
#' is `sin(0.0137 * (i + 1) * (j + 1) + 0.71 * (j + 1))`, rounded to
#' float32, as a matrix, or an `n x c x h x w` array for `shape = c(c, h, w)`.
onnx_inputs <- function(n, shape) {
  size <- prod(shape)
  i <- rep(seq_len(n), times = size)
  j <- rep(seq_len(size), each = n)
  x <- sin(0.0137 * i * j + 0.71 * j)
  x <- readBin(writeBin(x, raw(), size = 4), "double", n = length(x), size = 4)
  if (length(shape) == 1L) return(matrix(x, n, size))
  # Column-major n x (w, h, c) flattened the other way round: build the
  # row-major sample order, then put it in R's n x c x h x w layout.
  arr <- array(x, c(n, rev(shape)))
  aperm(arr, c(1, 4, 3, 2))
}

#' The models of the fixtures, by name: each `list(model, x)`, `x` the
#' 1,000 inputs. `mlp` standardizes its inputs (centers and scales of
#' its own, as rustnn_mlp() keeps them); `cnn` has batch normalization
#' with running statistics, max and average pooling, strides and padding;
#' `act_<name>` is a linear layer then that activation.
onnx_cases <- function(n = 1000L) {
  cases <- list()
  set.seed(20231)
  mlp <- Sequential$new(Linear$new(6, 16), ReLU$new(), Dropout$new(0.3), Linear$new(16, 8),
                        Tanh$new(), Linear$new(8, 3), Softmax$new())
  center <- c(5, -2, 0.5, 10, 0, 3)
  scale <- c(2, 0.5, 1, 4, 0.25, 3)
  mlp$.set_preprocess(list(center = center, scale = scale))
  x <- onnx_inputs(n, 6)
  # Raw columns on their own scales, which the model standardizes back.
  x <- sweep(sweep(x, 2, scale, `*`), 2, center, `+`)
  cases$mlp <- list(model = mlp, x = x)

  cnn <- Sequential$new(Conv2d$new(2, 4, 3, padding = 1), BatchNorm$new(4), ReLU$new(),
                        MaxPool2d$new(2), Conv2d$new(4, 6, 2, stride = 2), ELU$new(alpha = 0.7),
                        AvgPool2d$new(2, stride = 1), Flatten$new(), Linear$new(6, 10),
                        Softmax$new(), input_shape = c(2, 9, 9))
  bn <- cnn$layers[[2]]
  bn$params <- list(gamma = runif(4, 0.5, 1.5), beta = runif(4, -0.5, 0.5),
                    running_mean = runif(4, -0.3, 0.3), running_var = runif(4, 0.2, 2))
  cases$cnn <- list(model = cnn, x = onnx_inputs(n, c(2, 9, 9)))

  acts <- list(identity = Identity$new(), sigmoid = Sigmoid$new(), tanh = Tanh$new(),
               relu = ReLU$new(), softmax = Softmax$new(), leaky_relu = LeakyReLU$new(alpha = 0.2),
               elu = ELU$new(alpha = 0.7), gelu = GELU$new(), softplus = Softplus$new())
  for (name in names(acts)) {
    linear <- Linear$new(5, 3)
    linear$params <- list(weight = linear$params$weight * 3, bias = runif(3, -1, 1))
    cases[[paste0("act_", name)]] <- list(model = Sequential$new(linear, acts[[name]]),
                                          x = onnx_inputs(n, 5))
  }
  cases
}

#' Float32 values written row by row (numpy's order) as a matrix of `ncol`.
read_f32_rows <- function(path, ncol) {
  values <- readBin(path, "double", n = file.size(path) / 4, size = 4, endian = "little")
  matrix(values, ncol = ncol, byrow = TRUE)
}
