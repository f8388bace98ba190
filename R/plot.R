# Plots.

#' Plot a training history
#'
#' One panel per figure (the loss, then each metric), the training curve
#' beside the validation one when there is one. With base graphics, or with
#' ggplot2 when it is installed (`method = "auto"`, as keras's R package
#' does).
#'
#' @param x A `rustnn_history` from [fit()][fit.Sequential].
#' @param y Unused.
#' @param metrics Figures to plot (without the `val_` prefix); default: the
#'   loss and every metric. Add `"lr"` to see the learning rate.
#' @param method `"auto"` (ggplot2 if installed, else base graphics),
#'   `"ggplot2"` or `"base"`.
#' @param log Passed to [graphics::plot()] with base graphics: `"y"` for
#'   logarithmic axes.
#' @param ... Further arguments to [graphics::plot()] (base graphics).
#' @return With ggplot2, the ggplot object (printed when auto-printed);
#'   with base graphics, `x`, invisibly.
#' @export
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(200), ncol = 2)
#' model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1))
#' history <- fit(model, x, x[, 1] * x[, 2], epochs = 30, metrics = "mae",
#'                validation_split = 0.2)
#' plot(history, method = "base")
plot.rustnn_history <- function(x, y, metrics = NULL, method = c("auto", "ggplot2", "base"),
                                log = "", ...) {
  method <- check_choice(method[1], c("auto", "ggplot2", "base"), "method")
  long <- history_long(x, metrics)
  if (method == "auto") {
    method <- if (requireNamespace("ggplot2", quietly = TRUE)) "ggplot2" else "base"
  }
  if (method == "ggplot2") {
    if (!requireNamespace("ggplot2", quietly = TRUE)) {
      abort_arg("{.arg method} = {.val ggplot2} needs the ggplot2 package.", "method")
    }
    return(history_ggplot(long))
  }
  history_base_plot(long, log, ...)
  invisible(x)
}

#' The history in long form: epoch, value, figure, data (training/validation).
#' @noRd
history_long <- function(history, metrics, call = rlang::caller_env()) {
  m <- history$metrics
  base <- unique(sub("^val_", "", names(m)))
  wanted <- metrics %||% setdiff(base, "lr")
  unknown <- setdiff(wanted, base)
  if (!is.character(wanted) || length(unknown)) {
    abort_arg("{.arg metrics} must name figures of the history: {.val {base}}.", "metrics", call = call)
  }
  rows <- lapply(names(m), function(name) {
    figure <- sub("^val_", "", name)
    if (!figure %in% wanted || length(m[[name]]) == 0L) return(NULL)
    data.frame(epoch = seq_along(m[[name]]), value = m[[name]],
               figure = figure,
               data = if (startsWith(name, "val_")) "validation" else "training",
               stringsAsFactors = FALSE)
  })
  long <- do.call(rbind, rows)
  if (is.null(long)) {
    abort_arg("The history has no completed epoch to plot.", "x", call = call)
  }
  long$figure <- factor(long$figure, levels = wanted)
  long
}

history_base_plot <- function(long, log, ...) {
  figures <- levels(long$figure)
  old <- graphics::par(mfrow = c(length(figures), 1L), mar = c(4, 4, 1, 1))
  on.exit(graphics::par(old))
  colours <- c(training = "black", validation = "firebrick")
  for (f in figures) {
    part <- long[long$figure == f, ]
    graphics::plot(range(part$epoch), range(part$value, finite = TRUE), type = "n",
                   xlab = "epoch", ylab = f, log = log, ...)
    for (d in unique(part$data)) {
      sel <- part$data == d
      graphics::lines(part$epoch[sel], part$value[sel], col = colours[[d]])
    }
    if (length(unique(part$data)) > 1L) {
      graphics::legend("topright", legend = names(colours), col = colours, lty = 1, bty = "n")
    }
  }
}

history_ggplot <- function(long) {
  aes <- ggplot2::aes
  ggplot2::ggplot(long, aes(x = .data$epoch, y = .data$value, colour = .data$data)) +
    ggplot2::geom_line() +
    ggplot2::facet_wrap(ggplot2::vars(.data$figure), ncol = 1L, scales = "free_y") +
    ggplot2::labs(x = "epoch", y = NULL, colour = NULL) +
    ggplot2::theme_minimal()
}

#' Show an image and its feature maps
#'
#' Draws a grid of grey-scale panels with base graphics: the `image` first
#' (if given), then each feature map, as tutorial 002 shows the maps of its
#' 64 random filters. Matrices are drawn the way they print: row 1 at the
#' top.
#'
#' @param maps Feature maps: a matrix, an array `height x width x maps` (as
#'   [conv2d()] returns for several filters), or a list of matrices.
#' @param image Optional image (a matrix) shown before the maps.
#' @param ncol Panels per row; default: about the square root of the count.
#' @param titles Panel titles; default: `"image"` and the map numbers.
#' @param col Colours, from low to high values.
#' @return `maps`, invisibly.
#' @importFrom grDevices grey.colors
#' @export
#' @examples
#' image <- outer(1:20, 1:20, function(r, c) sin(r / 3) + cos(c / 4))
#' set.seed(1)
#' filters <- array(sample(-1:1, 9 * 15, replace = TRUE), c(3, 3, 15))
#' plot_feature_maps(conv2d(image, filters), image = image)
plot_feature_maps <- function(maps, image = NULL, ncol = NULL, titles = NULL,
                              col = grDevices::grey.colors(256, start = 0, end = 1)) {
  panels <- feature_map_list(maps)
  if (!is.null(image)) {
    if (!(is.numeric(image) && is.matrix(image))) {
      abort_arg("{.arg image} must be a numeric matrix, not {.obj_type_friendly {image}}.", "image")
    }
    panels <- c(list(image), panels)
  }
  titles <- titles %||% c(if (!is.null(image)) "image", as.character(seq_along(feature_map_list(maps))))
  if (length(titles) != length(panels)) {
    abort_arg("{.arg titles} must have {length(panels)} element{?s}, one per panel.", "titles")
  }
  ncol <- if (is.null(ncol)) ceiling(sqrt(length(panels))) else check_count(ncol)
  old <- graphics::par(mfrow = c(ceiling(length(panels) / ncol), ncol),
                       mar = c(0.2, 0.2, 1.2, 0.2))
  on.exit(graphics::par(old))
  for (i in seq_along(panels)) {
    m <- panels[[i]]
    graphics::image(t(m[nrow(m):1, , drop = FALSE]), col = col, axes = FALSE, asp = nrow(m) / ncol(m))
    graphics::title(titles[i], cex.main = 0.8, font.main = 1)
  }
  invisible(maps)
}

#' Feature maps given as a matrix, a 3-d array or a list, as a list of matrices.
#' @noRd
feature_map_list <- function(maps, call = rlang::caller_env()) {
  if (is.matrix(maps)) maps <- list(maps)
  if (is.array(maps) && length(dim(maps)) == 3L) {
    d <- dim(maps)
    maps <- lapply(seq_len(d[3]), function(i) matrix(maps[, , i], d[1], d[2]))
  }
  ok <- is.list(maps) && length(maps) > 0L &&
    all(vapply(maps, function(m) is.numeric(m) && is.matrix(m) && all(is.finite(m)), logical(1)))
  if (!ok) {
    abort_arg("{.arg maps} must be a finite numeric matrix, a {.code height x width x maps} array or a list of matrices.",
              "maps", call = call)
  }
  maps
}
