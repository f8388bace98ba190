# Image layers: convolution, pooling, flattening and batch normalization,
# and tutorial 002's functional convolution, conv2d().
#
# Image batches are R arrays with the samples first: n x channels x height x
# width, or n x height x width for one channel. The engine reads each sample
# as one row in channel, row, column order (PyTorch's NCHW flattening), so
# Flatten costs nothing and a Linear layer can follow any image layer.

#' Check a window size (kernel, stride, padding): one whole number for both
#' axes or two (rows, columns), each at least `min`. Returns two integers.
#' @noRd
check_window <- function(x, min, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  ok <- is.numeric(x) && length(x) %in% 1:2 && !anyNA(x) && all(is.finite(x)) &&
    all(x == round(x)) && all(x >= min) && all(x <= .Machine$integer.max)
  if (!ok) {
    shown <- if (is.numeric(x) && length(x) <= 4L) paste(format(x), collapse = ", ") else
      cli::format_inline("{.obj_type_friendly {x}}")
    abort_arg("{.arg {arg}} must be one or two whole numbers of at least {min} (rows, columns), not {shown}.",
              arg, call = call)
  }
  as.integer(rep_len(x, 2L))
}

#' 2-d convolution layer
#'
#' @description
#' Slides `out_channels` filters of `in_channels x kernel_size` weights
#' over the image, after padding it with `padding` rows and columns of
#' zeros, moving `stride` pixels at a time; each output channel is the sum
#' over input channels of the filter's products with the pixels under it,
#' plus a bias. This is the cross-correlation PyTorch's `nn.Conv2d` and
#' Keras's `layer_conv_2d()` compute (and tutorial 002's `convolution()`):
#' the filter is not flipped. The engine unfolds each image into a matrix
#' ("im2col") and applies every filter with one matrix product, in parallel
#' over the samples.
#'
#' `weight` is an array `out_channels x in_channels x kernel rows x kernel
#' columns` (PyTorch's layout: `weight[o, c, , ]` is the kernel matrix of
#' filter `o` on input channel `c`), `bias` a vector of `out_channels`.
#' Initial weights are drawn with R's RNG by `init` (see [Linear]) with
#' `fan_in = in_channels * kernel area` and `fan_out = out_channels *
#' kernel area`; biases start at zero.
#'
#' @section Shape:
#' Input `n x in_channels x height x width` (or `n x height x width` when
#' `in_channels` is 1); output `n x out_channels x out_height x out_width`
#' with `out_height = floor((height + 2 * padding - kernel) / stride) + 1`
#' (and the same for widths). A kernel larger than the padded image is an
#' error. A model with image layers learns the image size from the first
#' data it sees, or from `Sequential$new(..., input_shape = )`.
#' @section Methods:
#' `Conv2d$new(in_channels, out_channels, kernel_size, stride = 1, padding
#' = 0, init = "glorot_uniform")`; `kernel_size`, `stride` and `padding` are
#' one number for both axes or two (rows, columns). `$forward(x)`,
#' `$backward(grad)`, `$params` and `$grads` are those of [Layer].
#' @seealso [conv2d()] to apply a fixed filter, [MaxPool2d], [Flatten].
#' @export
#' @examples
#' set.seed(1)
#' conv <- Conv2d$new(1, 2, kernel_size = 3, padding = 1)
#' x <- array(runif(2 * 5 * 5), c(2, 5, 5))   # two 5 x 5 one-channel images
#' dim(conv$forward(x))                       # 2 x 2 x 5 x 5
#'
#' # A small CNN on 8 x 8 images
#' model <- Sequential$new(Conv2d$new(1, 4, 3), ReLU$new(), MaxPool2d$new(2),
#'                         Flatten$new(), Linear$new(36, 2), Softmax$new())
#' x <- array(runif(20 * 8 * 8), c(20, 8, 8))
#' y <- factor(apply(x, 1, mean) > 0.5)
#' fit(model, x, y, optimizer = Adam$new(lr = 0.01), epochs = 5)
#' summary(model)
Conv2d <- R6::R6Class("Conv2d",
  inherit = Layer,
  public = list(
    # @description Create a convolution layer.
    # @param in_channels,out_channels Channels of the input and output.
    # @param kernel_size,stride,padding Window geometry (see Description).
    # @param init Initial weight distribution (see [Linear]).
    initialize = function(in_channels, out_channels, kernel_size, stride = 1, padding = 0,
                          init = "glorot_uniform") {
      in_channels <- check_count(in_channels)
      out_channels <- check_count(out_channels)
      kernel_size <- check_window(kernel_size, 1)
      stride <- check_window(stride, 1)
      padding <- check_window(padding, 0)
      check_choice(init, names(weight_initializers))
      area <- prod(as.double(kernel_size))
      check_param_size(as.double(in_channels) * out_channels * area, "a weight array",
                       c("in_channels", "out_channels", "kernel_size"))
      values <- weight_initializers[[init]](in_channels * area, out_channels * area,
                                            n = out_channels * in_channels * area)
      weight <- array(values, c(out_channels, in_channels, kernel_size))
      super$initialize("conv2d", in_channels, out_channels,
                       params = list(weight = weight, bias = rep(0, out_channels)),
                       options = list(kernel_size = kernel_size, stride = stride, padding = padding))
    }
  ),
  private = list(
    .params_shape = function() {
      list(weight = c(private$.out, private$.in, private$.options$kernel_size), bias = private$.out)
    }
  )
)

#' The pooling layers' shared constructor body.
#' @noRd
pool_layer <- function(classname, type) {
  R6::R6Class(classname,
    inherit = Layer,
    public = list(
      initialize = function(kernel_size, stride = kernel_size) {
        kernel_size <- check_window(kernel_size, 1)
        stride <- check_window(stride, 1)
        super$initialize(type, options = list(kernel_size = kernel_size, stride = stride))
      }
    )
  )
}

#' 2-d max and average pooling layers
#'
#' @description
#' `MaxPool2d` replaces each `kernel_size` window of every channel by its
#' largest value, `AvgPool2d` by its mean; the window moves `stride` pixels
#' at a time (by default its own size, so windows do not overlap). No
#' parameters. In the backward pass, max pooling sends each gradient to the
#' position of its window's maximum (the first one, if several are equal);
#' average pooling spreads it evenly over the window.
#'
#' @section Shape:
#' Input `n x channels x height x width`; output `n x channels x
#' out_height x out_width`, `out_height = floor((height - kernel) / stride)
#' + 1`.
#' @section Methods:
#' `MaxPool2d$new(kernel_size, stride = kernel_size)`,
#' `AvgPool2d$new(kernel_size, stride = kernel_size)`; each size is one
#' number or two (rows, columns).
#' @name pooling
#' @export
#' @examples
#' pool <- MaxPool2d$new(2)
#' x <- array(1:16, c(1, 1, 4, 4))
#' pool$forward(x)[1, 1, , ]   # the maximum of each 2 x 2 block
#' AvgPool2d$new(2)$forward(x)[1, 1, , ]
MaxPool2d <- pool_layer("MaxPool2d", "max_pool2d")

#' @rdname pooling
#' @export
AvgPool2d <- pool_layer("AvgPool2d", "avg_pool2d")

#' Flatten layer
#'
#' @description
#' Turns each image sample (`channels x height x width`) into one vector of
#' `channels * height * width` values, channel by channel and row by row
#' (PyTorch's order), to feed a [Linear] layer. The engine stores images
#' that way already, so this changes how the next layer reads the values,
#' not the values.
#'
#' @section Shape:
#' Input `n x channels x height x width`; output `n x (channels * height *
#' width)`.
#' @section Methods:
#' `Flatten$new()`.
#' @export
#' @examples
#' x <- array(1:8, c(1, 2, 2, 2))
#' Flatten$new()$forward(x)
Flatten <- R6::R6Class("Flatten",
  inherit = Layer,
  public = list(
    # @description Create a flatten layer.
    initialize = function() super$initialize("flatten")
  )
)

#' Batch normalization layer
#'
#' @description
#' Standardizes each feature (after a [Linear] layer: PyTorch's
#' `BatchNorm1d`) or each channel (after a [Conv2d] layer: `BatchNorm2d`)
#' and then scales it by `gamma` and shifts it by `beta`, both learned.
#' In training (`fit()`, `model$forward(x)`), the mean and variance are the
#' batch's, and running estimates are updated:
#' `running = (1 - momentum) * running + momentum * batch` (the variance
#' unbiased). In inference (`predict()`, `evaluate()`, validation,
#' `model$forward(x, training = FALSE)`), the running estimates are used, so
#' a prediction does not depend on the other rows of the batch.
#'
#' `params` holds `gamma`, `beta`, `running_mean` and `running_var`; only
#' the first two are trained by the optimizer (the summary counts the
#' running statistics as non-trainable parameters, as Keras does).
#' Defaults follow PyTorch: `eps = 1e-5`, `momentum = 0.1` (Keras's
#' `momentum = 0.99` is PyTorch's `0.01`).
#'
#' @section Shape:
#' Input `n x num_features`, or `n x num_features x height x width`;
#' output the same.
#' @section Methods:
#' `BatchNorm$new(num_features, eps = 1e-5, momentum = 0.1)`.
#' @export
#' @examples
#' set.seed(1)
#' bn <- BatchNorm$new(2)
#' x <- cbind(rnorm(100, 5, 2), rnorm(100, -3, 0.5))
#' out <- bn$forward(x)
#' round(colMeans(out), 6)
#' bn$params$running_mean   # moved 10% of the way to the batch means
BatchNorm <- R6::R6Class("BatchNorm",
  inherit = Layer,
  public = list(
    # @description Create a batch normalization layer.
    # @param num_features Features (or channels) of the input.
    # @param eps Added to the variance before the square root.
    # @param momentum Weight of each batch in the running statistics.
    initialize = function(num_features, eps = 1e-5, momentum = 0.1) {
      num_features <- check_count(num_features)
      options <- list(eps = check_number(eps, min = 0, min_inclusive = FALSE),
                      momentum = check_number(momentum, min = 0, max = 1))
      params <- list(gamma = rep(1, num_features), beta = rep(0, num_features),
                     running_mean = rep(0, num_features), running_var = rep(1, num_features))
      super$initialize("batch_norm", num_features, params = params, options = options)
    }
  ),
  private = list(
    .params_shape = function() {
      n <- private$.in
      list(gamma = n, beta = n, running_mean = n, running_var = n)
    }
  )
)

#' Apply a fixed filter to an image
#'
#' The 2-d convolution of tutorial 002's `convolution()`: slide `filter`
#' over `image` and, at each position, sum the products of the filter with
#' the pixels under it. Computed by the engine's [Conv2d] (in float64), so
#' it gives the same numbers as the tutorial's `outer()` loop, much faster.
#'
#' @param image A numeric matrix (one image, rows = pixel rows), or an array
#'   `height x width x channels` (e.g. an RGB image): each channel is
#'   filtered on its own.
#' @param filter A numeric matrix (the kernel), or an array `kernel rows x
#'   kernel columns x filters` to apply several at once.
#' @param stride Pixels the filter moves at each step: one number, or two
#'   (rows, columns).
#' @param padding Rows and columns of zeros added around the image.
#' @return The feature map: a matrix `out_height x out_width`, with a third
#'   dimension for the channels of an array `image` and a last one for the
#'   filters of an array `filter`.
#' @seealso [plot_feature_maps()] to show the maps; [Conv2d] for a layer
#'   whose filters are learned.
#' @rdname conv2d-function
#' @export
#' @examples
#' image <- outer(1:8, 1:8, function(r, c) (r - 4.5)^2 + (c - 4.5)^2 < 9)
#' emboss <- matrix(c(2, 0, 0, 0, -1, 0, 0, 0, -1), nrow = 3)
#' conv2d(image * 1, emboss)
#'
#' # 8 random filters of -1, 0 and 1, as in the tutorial
#' set.seed(1)
#' filters <- array(sample(-1:1, 9 * 8, replace = TRUE), c(3, 3, 8))
#' dim(conv2d(image * 1, filters))
conv2d <- function(image, filter, stride = 1, padding = 0) {
  d <- dim(image)
  if (!(is.numeric(image) || is.logical(image)) || !length(d) %in% 2:3) {
    abort_arg("{.arg image} must be a numeric matrix or a {.code height x width x channels} array, not {.obj_type_friendly {image}}.",
              "image")
  }
  check_finite(image, "image", rlang::current_env())
  fd <- dim(filter)
  if (!is.numeric(filter) || !length(fd) %in% 2:3) {
    abort_arg("{.arg filter} must be a numeric matrix or a {.code rows x columns x filters} array, not {.obj_type_friendly {filter}}.",
              "filter")
  }
  check_finite(filter, "filter", rlang::current_env())
  stride <- check_window(stride, 1)
  padding <- check_window(padding, 0)
  if (any(fd[1:2] > d[1:2] + 2 * padding)) {
    abort_arg("{.arg filter} ({fd[1]} x {fd[2]}) is larger than {.arg image} ({d[1]} x {d[2]}{if (any(padding > 0)) ' with its padding' else ''}).",
              "filter")
  }
  n_filters <- if (length(fd) == 3L) fd[3] else 1L
  # The channels become the samples of a one-channel batch.
  channels <- if (length(d) == 3L) d[3] else 1L
  batch <- array(aperm(array(as.double(image), c(d[1:2], channels)), c(3L, 1L, 2L)),
                 c(channels, 1L, d[1:2]))
  weight <- aperm(array(as.double(filter), c(fd[1:2], n_filters)), c(3L, 1L, 2L))
  spec <- list(type = "conv2d", in_features = 1L, out_features = n_filters,
               kernel_size = fd[1:2], stride = stride, padding = padding)
  engine <- build_engine("float64", list(spec),
                         list(list(weight = array(weight, c(n_filters, 1L, fd[1:2])),
                                   bias = rep(0, n_filters))),
                         c(1L, d[1:2]), arg = "filter")
  out_shape <- utils::tail(rust_call(rn_shapes(engine)), 1L)[[1]]
  maps <- rows_to_images(rust_call(rn_predict(engine, batch, 1L)), out_shape)
  # maps is channels x filters x out_height x out_width.
  maps <- aperm(maps, c(3L, 4L, 1L, 2L))
  keep <- c(TRUE, TRUE, length(d) == 3L, length(fd) == 3L)
  array(maps, dim(maps)[keep])
}
