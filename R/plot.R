# Plots.

#' Plot a training history
#'
#' With `what = "metrics"` (the default): one panel per figure (the loss,
#' then each metric), the training curve beside the validation one when
#' there is one. With `what = "weights"` or `"gradients"`, for a history of
#' a `fit(track = "weights")`: how each layer's weights, or their
#' gradients, changed over training. With base graphics, or with ggplot2
#' when it is installed (`method = "auto"`, as keras's R package does).
#'
#' Two styles show tracked weights and gradients:
#'
#' * `style = "histogram"`: one panel per parameter tensor (by default each
#'   layer's `weight`, or batch normalization's `gamma`), with the
#'   histograms of a few epochs drawn over one another, from light (early)
#'   to dark (late). Each histogram is the one recorded for that epoch (20
#'   bins spanning that epoch's range; see [fit()][fit.Sequential]). A
#'   tensor whose values are all equal is drawn as a vertical line.
#' * `style = "size"`: the mean absolute value of each tensor against the
#'   epoch, one line per layer, on a logarithmic axis. For gradients, this
#'   is the clearest picture of vanishing gradients: in a deep sigmoid
#'   network, the lines of the layers near the input lie orders of magnitude
#'   below those near the output.
#'
#' @param x A `rustnn_history` from [fit()][fit.Sequential].
#' @param y Unused.
#' @param metrics Figures to plot (without the `val_` prefix); default: the
#'   loss and every metric. Add `"lr"` to see the learning rate.
#' @param method `"auto"` (ggplot2 if installed, else base graphics),
#'   `"ggplot2"` or `"base"`.
#' @param log Passed to [graphics::plot()] with base graphics for
#'   `what = "metrics"`: `"y"` for logarithmic axes. (`style = "size"` is
#'   always drawn on a logarithmic axis.)
#' @param what `"metrics"`, `"weights"` (the tracked values of the
#'   parameters) or `"gradients"` (their tracked gradients, from each
#'   epoch's last mini-batch).
#' @param style For weights and gradients: `"histogram"` or `"size"` (see
#'   Details).
#' @param epochs For `style = "histogram"`: the epochs whose histograms are
#'   drawn. Default: the first, middle and last.
#' @param params For weights and gradients: the parameters to show, among
#'   `"weight"`, `"bias"`, `"gamma"` and `"beta"`. Default: the weights
#'   (and batch normalization's `gamma`), not the biases.
#' @param ... Further arguments to [graphics::plot()] (base graphics), such
#'   as `main` or `ylim`.
#' @return With ggplot2, the ggplot object (printed when auto-printed). With
#'   base graphics, invisibly: `x` for metrics; for weights and gradients,
#'   the data drawn, rows of `x$tracked$histogram` (`style = "histogram"`)
#'   or `x$tracked$summary` (`style = "size"`) with a column `panel` or
#'   `series` naming where each row is drawn.
#' @export
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(200), ncol = 2)
#' model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1))
#' history <- fit(model, x, x[, 1] * x[, 2], epochs = 30, metrics = "mae",
#'                validation_split = 0.2)
#' plot(history, method = "base")
#'
#' # Weights and gradients, recorded with track = "weights"
#' model <- Sequential$new(Linear$new(2, 8), Sigmoid$new(), Linear$new(8, 8), Sigmoid$new(),
#'                         Linear$new(8, 1))
#' history <- fit(model, x, x[, 1] * x[, 2], epochs = 30, track = "weights")
#' plot(history, what = "weights", method = "base")
#' plot(history, what = "gradients", style = "size", method = "base")
plot.rustnn_history <- function(x, y, metrics = NULL, method = c("auto", "ggplot2", "base"),
                                log = "", what = c("metrics", "weights", "gradients"),
                                style = c("histogram", "size"), epochs = NULL,
                                params = c("weight", "gamma"), ...) {
  method <- plot_method(method)
  what <- check_choice(what[1], c("metrics", "weights", "gradients"), "what")
  if (what != "metrics") {
    return(plot_tracked(x, what, style, epochs, params, method, ...))
  }
  long <- history_long(x, metrics)
  if (method == "ggplot2") return(history_ggplot(long))
  history_base_plot(long, log, ...)
  invisible(x)
}

#' `method` resolved to "ggplot2" or "base".
#' @noRd
plot_method <- function(method, call = rlang::caller_env()) {
  method <- check_choice(method[1], c("auto", "ggplot2", "base"), "method", call = call)
  have <- requireNamespace("ggplot2", quietly = TRUE)
  if (method == "auto") return(if (have) "ggplot2" else "base")
  if (method == "ggplot2" && !have) {
    abort_arg("{.arg method} = {.val ggplot2} needs the ggplot2 package.", "method", call = call)
  }
  method
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

#' Tracked weights or gradients, drawn in one of two styles.
#' @noRd
plot_tracked <- function(history, what, style, epochs, params, method, ...,
                         call = rlang::caller_env()) {
  style <- check_choice(style[1], c("histogram", "size"), "style", call = call)
  kind <- if (what == "weights") "weight" else "gradient"
  tracked <- tracked_part(history, kind, params, call)
  if (style == "histogram") {
    data <- tracked_histograms(tracked$histogram, epochs, call)
    if (method == "ggplot2") return(histograms_ggplot(data, kind))
    histograms_base_plot(data, kind, ...)
  } else {
    data <- tracked_sizes(tracked$summary, call)
    if (method == "ggplot2") return(sizes_ggplot(data, kind))
    sizes_base_plot(data, kind, ...)
  }
  invisible(data)
}

#' The tracked rows of one kind and of some parameters, with a `panel`
#' column naming their tensor ("linear_1 weight"), a factor in network
#' order.
#' @noRd
tracked_part <- function(history, kind, params, call) {
  tracked <- history$tracked
  if (is.null(tracked)) {
    abort_arg(c("The history has no tracked weights or gradients.",
                i = "Fit with {.code track = \"weights\"} to record them."), "x", call = call)
  }
  if (nrow(tracked$summary) == 0L) {
    abort_arg("The history has no completed epoch to plot.", "x", call = call)
  }
  known <- c("weight", "bias", "gamma", "beta")
  if (!(is.character(params) && length(params) >= 1L && all(params %in% known))) {
    abort_arg("{.arg params} must name parameters among {.val {known}}.", "params", call = call)
  }
  lapply(tracked, function(df) {
    df <- df[df$kind == kind & df$param %in% params, , drop = FALSE]
    if (nrow(df) == 0L) {
      abort_arg("The model has no {.or {.val {params}}} parameters: see {.arg params}.",
                "params", call = call)
    }
    tensor <- paste(df$layer, df$param)
    df$panel <- factor(tensor, levels = unique(tensor))
    rownames(df) <- NULL
    df
  })
}

#' The histogram rows of the chosen epochs (default: first, middle, last).
#' @noRd
tracked_histograms <- function(hist, epochs, call) {
  recorded <- sort(unique(hist$epoch))
  n <- length(recorded)
  if (is.null(epochs)) {
    epochs <- unique(recorded[c(1L, ceiling((n + 1) / 2), n)])
  } else if (!(is.numeric(epochs) && length(epochs) >= 1L && all(epochs %in% recorded))) {
    abort_arg("{.arg epochs} must be recorded epochs, from {recorded[1]} to {recorded[n]}.",
              "epochs", call = call)
  }
  hist <- hist[hist$epoch %in% epochs, , drop = FALSE]
  rownames(hist) <- NULL
  hist
}

#' Colours of epochs, from light (early) to dark (late).
#' @noRd
epoch_colours <- function(epochs) {
  ramp <- grDevices::colorRampPalette(c("#9ECAE1", "#08306B"))
  if (length(epochs) == 1L) ramp(2)[2] else ramp(length(epochs))
}

histograms_base_plot <- function(data, kind, ...) {
  panels <- levels(data$panel)
  epochs <- sort(unique(data$epoch))
  colours <- epoch_colours(epochs)
  ncol <- ceiling(sqrt(length(panels)))
  # Each panel is titled by its tensor; a `main` given is the figure's.
  dots <- list(...)
  figure_title <- dots$main
  dots$main <- NULL
  old <- graphics::par(mfrow = c(ceiling(length(panels) / ncol), ncol), mar = c(4, 4, 2, 1),
                       oma = c(0, 0, if (is.null(figure_title)) 1.5 else 3, 0))
  on.exit(graphics::par(old))
  for (p in panels) {
    part <- data[data$panel == p, , drop = FALSE]
    plot_with_defaults(list(range(part$lower, part$upper), c(0, max(part$count)), type = "n",
                            xlab = kind, ylab = "count", main = p, font.main = 1), dots)
    for (i in seq_along(epochs)) {
      draw_histogram(part[part$epoch == epochs[i], , drop = FALSE], colours[i])
    }
    if (p == panels[1]) {
      # One legend for every panel, across the top of the figure.
      graphics::legend(graphics::grconvertX(0.5, "ndc", "user"),
                       graphics::grconvertY(1, "ndc", "user"), xjust = 0.5, yjust = 1,
                       legend = paste("epoch", epochs), fill = colours, horiz = TRUE,
                       bty = "n", xpd = NA)
    }
  }
  if (!is.null(figure_title)) graphics::mtext(figure_title, side = 3, line = 0.3, outer = TRUE, font = 2)
}

#' graphics::plot() with the arguments a figure needs, any of which the
#' user's (`dots`) replace.
#' @noRd
plot_with_defaults <- function(defaults, dots) {
  do.call(graphics::plot, utils::modifyList(defaults, dots))
}

#' One histogram as a step outline over a light fill; a single bin of
#' width zero (all values equal) as a vertical line.
#' @noRd
draw_histogram <- function(bins, colour) {
  if (nrow(bins) == 1L && bins$lower == bins$upper) {
    graphics::segments(bins$lower, 0, bins$lower, bins$count, col = colour, lwd = 3)
    return(invisible())
  }
  k <- nrow(bins)
  xs <- c(bins$lower[1], rbind(bins$lower, bins$upper), bins$upper[k])
  ys <- c(0, rbind(bins$count, bins$count), 0)
  graphics::polygon(xs, ys, col = grDevices::adjustcolor(colour, alpha.f = 0.15), border = colour,
                    lwd = 1.5)
}

histograms_ggplot <- function(data, kind) {
  aes <- ggplot2::aes
  ggplot2::ggplot(data, aes(xmin = .data$lower, xmax = .data$upper, ymin = 0, ymax = .data$count,
                            colour = .data$epoch, fill = .data$epoch,
                            group = .data$epoch)) +
    ggplot2::geom_rect(alpha = 0.15) +
    ggplot2::facet_wrap(ggplot2::vars(.data$panel), scales = "free") +
    ggplot2::scale_colour_gradient(low = "#9ECAE1", high = "#08306B",
                                   aesthetics = c("colour", "fill")) +
    ggplot2::labs(x = kind, y = "count", colour = "epoch", fill = "epoch") +
    ggplot2::theme_minimal()
}

#' The summary rows with a `series` column: one line per layer (per
#' tensor when several parameters are shown).
#' @noRd
tracked_sizes <- function(summary, call) {
  one_param <- length(unique(summary$param)) == 1L
  summary$series <- if (one_param) {
    factor(summary$layer, levels = unique(summary$layer))
  } else {
    summary$panel
  }
  if (!any(summary$mean_abs > 0)) {
    abort_arg("Every mean absolute value is zero: there is nothing to draw on a logarithmic axis.",
              "x", call = call)
  }
  summary
}

#' Colours of layers, from the input's to the output's.
#' @noRd
layer_colours <- function(n) {
  grDevices::hcl.colors(n + 1L, "viridis")[seq_len(n)]
}

sizes_base_plot <- function(data, kind, ...) {
  series <- levels(data$series)
  colours <- layer_colours(length(series))
  # A right margin wide enough for the legend, in lines of text.
  mar <- graphics::par("mar")
  old <- graphics::par(mar = c(mar[1:3], max(mar[4], 0.45 * max(nchar(series)) + 3)))
  on.exit(graphics::par(old))
  positive <- data$mean_abs[data$mean_abs > 0]
  plot_with_defaults(list(range(data$epoch), range(positive), type = "n", log = "y",
                          xlab = "epoch", ylab = paste0("mean |", kind, "|"), yaxt = "n"),
                     list(...))
  # R's default log axis labels only a few decades; label every tick.
  ticks <- grDevices::axisTicks(log10(range(positive)), log = TRUE)
  graphics::axis(2, at = ticks, labels = format(ticks), cex.axis = 0.8)
  for (i in seq_along(series)) {
    part <- data[data$series == series[i], , drop = FALSE]
    size <- ifelse(part$mean_abs > 0, part$mean_abs, NA)
    graphics::lines(part$epoch, size, col = colours[i], lwd = 2)
    if (nrow(part) == 1L) graphics::points(part$epoch, size, col = colours[i], pch = 19)
  }
  graphics::legend("topleft", inset = c(1.02, 0), legend = series, col = colours, lwd = 2,
                   bty = "n", cex = 0.8, xpd = NA)
}

sizes_ggplot <- function(data, kind) {
  aes <- ggplot2::aes
  data$mean_abs[data$mean_abs <= 0] <- NA
  ggplot2::ggplot(data, aes(x = .data$epoch, y = .data$mean_abs, colour = .data$series)) +
    ggplot2::geom_line() +
    ggplot2::scale_y_log10() +
    ggplot2::scale_colour_manual(values = layer_colours(nlevels(data$series))) +
    ggplot2::labs(x = "epoch", y = paste0("mean |", kind, "|"), colour = NULL) +
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

#' Plot a classifier's decision boundary
#'
#' Colours the plane by the class a model predicts, draws the boundary
#' between the classes, and adds the data points coloured by their true
#' class, as tutorial 003 does to compare its network with a logistic
#' regression. Works for any model of two input features: a [Sequential]
#' model, or a function, so that [stats::glm()] and other models can be drawn
#' the same way.
#'
#' @param model A [Sequential] model with two inputs, or a function that
#'   takes a two-column matrix (column names those of `x`) and returns one
#'   probability or score per row (binary: class 1 where it exceeds
#'   `threshold`), a matrix of class scores (the class is the largest), or
#'   the classes themselves (a factor or character vector).
#' @param x The points: a numeric matrix or data frame with two columns. The
#'   grid spans their range plus a margin of 5%.
#' @param y Optional true classes of the points, used to colour them.
#' @param resolution Grid points along each axis.
#' @param threshold Cut-off for a single probability output.
#' @param main,xlab,ylab Title and axis labels.
#' @param col Colours, one per class (in the order of the class levels).
#' @param ... Further arguments to [graphics::points()] for the data points.
#' @return Invisibly, a data frame of the grid: the two features (named as
#'   `x`'s columns) and `class`, the predicted class (a factor).
#' @export
#' @examples
#' set.seed(69)
#' flower <- planar_flower()
#' x <- scale(as.matrix(flower[, c("x1", "x2")]))
#' model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
#' fit(model, x, flower$y, loss = "bce", optimizer = SGD$new(lr = 1.2),
#'     epochs = 500, batch_size = nrow(x), verbose = FALSE)
#' plot_decision_boundary(model, x, flower$y, main = "2-4-1 network")
#'
#' # Any other classifier, through a function
#' logistic <- glm(y ~ x1 + x2, family = binomial, data = data.frame(x, y = flower$y))
#' plot_decision_boundary(function(g) predict(logistic, as.data.frame(g), type = "response"),
#'                        x, flower$y, main = "logistic regression")
plot_decision_boundary <- function(model, x, y = NULL, resolution = 200, threshold = 0.5,
                                   main = NULL, xlab = NULL, ylab = NULL, col = NULL, ...) {
  predict_fun <- boundary_predictor(model)
  x <- boundary_points(x)
  if (is.logical(y)) y <- as.integer(y)
  if (!is.null(y) && length(y) != nrow(x)) {
    abort_arg("{.arg y} must have one class per row of {.arg x} ({nrow(x)}), not {length(y)}.", "y")
  }
  resolution <- check_count(resolution)
  if (resolution < 2L) abort_arg("{.arg resolution} must be at least 2.", "resolution")
  check_number(threshold)
  axes <- lapply(seq_len(2L), function(j) {
    r <- range(x[, j])
    pad <- 0.05 * max(diff(r), 1e-8)
    seq(r[1] - pad, r[2] + pad, length.out = resolution)
  })
  grid <- as.matrix(expand.grid(axes[[1]], axes[[2]], KEEP.OUT.ATTRS = FALSE))
  colnames(grid) <- colnames(x)
  raw <- predict_fun(grid)
  predicted <- as_classes(raw, nrow(grid), threshold)
  levels <- union(levels(predicted), if (!is.null(y)) as.character(sort(unique(y))))
  predicted <- factor(predicted, levels = levels)
  col <- col %||% grDevices::hcl.colors(max(2L, length(levels)), "Dark 3")[seq_along(levels)]
  if (length(col) < length(levels)) {
    abort_arg("{.arg col} must have a colour for each of the {length(levels)} classes.", "col")
  }
  codes <- matrix(as.integer(predicted), resolution)
  graphics::image(axes[[1]], axes[[2]], codes, col = grDevices::adjustcolor(col, alpha.f = 0.25),
                  breaks = seq(0.5, length(levels) + 0.5), useRaster = TRUE, main = main,
                  xlab = xlab %||% colnames(x)[1], ylab = ylab %||% colnames(x)[2])
  # A single score gives a smooth line at the threshold; classes, a step.
  if (is.numeric(raw) && length(raw) == nrow(grid)) {
    graphics::contour(axes[[1]], axes[[2]], matrix(as.vector(raw), resolution), levels = threshold,
                      drawlabels = FALSE, add = TRUE, lwd = 1.5)
  } else {
    graphics::contour(axes[[1]], axes[[2]], codes, levels = seq_len(length(levels) - 1L) + 0.5,
                      drawlabels = FALSE, add = TRUE, lwd = 1.5)
  }
  point_col <- if (is.null(y)) "black" else col[match(as.character(y), levels)]
  graphics::points(x[, 1], x[, 2], col = point_col, pch = 19, cex = 0.6, ...)
  out <- as.data.frame(grid)
  out$class <- predicted
  invisible(out)
}

#' A function from a grid matrix to predictions, for a model or a function.
#' @noRd
boundary_predictor <- function(model, call = rlang::caller_env()) {
  if (is.function(model)) return(model)
  if (!inherits(model, "Sequential")) {
    abort_arg("{.arg model} must be a {.cls Sequential} model or a function, not {.obj_type_friendly {model}}.",
              "model", call = call)
  }
  if (!identical(model$input_dim, 2L) && !is.na(model$input_dim)) {
    abort_arg("{.arg model} must take two input features, not {model$input_dim}.", "model", call = call)
  }
  state <- model$.get_state()
  # A model fitted with a formula reads its inputs by column name.
  by_name <- !is.null(state$preprocess$terms)
  function(grid) {
    out <- stats::predict(model, if (by_name) as.data.frame(grid) else grid)
    # The class names predict(type = "class") would give, in column order.
    attr(out, "labels") <- colnames(probabilities(out[1L, , drop = FALSE], state$target))
    out
  }
}

#' The points as a two-column numeric matrix with column names.
#' @noRd
boundary_points <- function(x, call = rlang::caller_env()) {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (!(is.numeric(x) && is.matrix(x) && ncol(x) == 2L && nrow(x) > 0L && all(is.finite(x)))) {
    abort_arg("{.arg x} must be a finite numeric matrix or data frame with two columns.",
              "x", call = call)
  }
  if (is.null(colnames(x))) colnames(x) <- c("x1", "x2")
  x
}

#' Predictions (probabilities, class scores or classes) as classes.
#' A `labels` attribute names the classes (the two of a single score, or
#' one per column of scores).
#' @noRd
as_classes <- function(pred, n, threshold, call = rlang::caller_env()) {
  labels <- attr(pred, "labels")
  if (is.factor(pred) || is.character(pred)) {
    out <- factor(pred)
  } else if (is.numeric(pred) && (is.null(dim(pred)) || ncol(pred) == 1L)) {
    out <- factor(as.integer(as.vector(pred) > threshold) + 1L, levels = 1:2,
                  labels = labels %||% c("0", "1"))
  } else if (is.numeric(pred) && is.matrix(pred)) {
    out <- factor(max.col(pred, ties.method = "first"), levels = seq_len(ncol(pred)),
                  labels = labels %||% colnames(pred) %||% as.character(seq_len(ncol(pred))))
  } else {
    out <- NULL
  }
  if (is.null(out) || length(out) != n || anyNA(out)) {
    abort_arg("{.arg model} must give one prediction per grid point (probabilities, class scores or classes).",
              "model", call = call)
  }
  out
}
