# plot() of a Sequential model: a diagram of its network with every weight
# (small dense networks, as the neuralnet package draws them), or one box
# per layer (any model). Layouts are computed apart from the drawing, so
# that what was drawn can be returned and tested.

#' Plot a model's network
#'
#' @description
#' Draws a model with base graphics, in one of two ways:
#'
#' * `type = "network"`: a network diagram like the neuralnet package's,
#'   for small dense networks (only [Linear], [Dropout] and [activations]
#'   layers). A column of nodes for the input features, then one for the
#'   outputs of each `Linear` layer, labelled underneath with what happens
#'   there (`"input"`, `"linear + tanh"`, ...: the `Linear` layer and the
#'   layers after it). An edge for every weight, coloured by its sign (see
#'   `col`), wider and more opaque the larger its magnitude relative to the
#'   largest weight (or bias) of the network. Above, between each column
#'   and the one it feeds, a bias node `"1"`, whose edges are the biases.
#'   Input nodes are named by the model's input columns when it knows them
#'   (trained with a formula, or by [rustnn_mlp()]), otherwise `x1`, `x2`, ...;
#'   output nodes by the classes of a factor target (a single output of two
#'   classes by the second, whose probability it gives), otherwise `y`, or
#'   `y1`, `y2`, ....
#' * `type = "blocks"`: one box per layer, top to bottom, after a box for
#'   the input: the layer's class, its output shape and its parameter count
#'   (left out when 0), as `print(model)` shows them. A box's width grows
#'   with the logarithm of its output's size; boxes of layers with
#'   parameters are blue, activations orange, other layers grey.
#' * `type = "auto"` (the default): the network diagram when the network is
#'   dense and no column has more than 20 nodes (beyond that, nodes and
#'   edges blur together); blocks otherwise.
#'
#' An untrained model shows its random initial weights.
#'
#' @param x A [Sequential] model.
#' @param y Unused (name `type` to choose the diagram).
#' @param type `"auto"`, `"network"` or `"blocks"` (see Description).
#' @param show_weights Print each weight's value on its edge, as neuralnet
#'   does: readable for tiny networks only.
#' @param col Colours of the edges of positive (and zero) and of negative
#'   weights.
#' @param main Title, or `NULL` for none.
#' @param ... Unused; must be empty.
#' @return Invisibly, a description of what was drawn, in user coordinates.
#'   For the network diagram, a list of data frames:
#'   * `nodes`: `column` (1 for the inputs), `row` (from the top; 0 for a
#'     bias node), `x`, `y`, `label` (`""` for hidden nodes), `bias` (a
#'     bias node, of the column it feeds).
#'   * `edges`: `column` (the one the edge enters), `layer` (the position
#'     of its `Linear` layer in the model), `from` (row in the previous
#'     column, 0 for the bias node), `to` (row), `weight`, `col` (by the
#'     sign), `lwd`, `alpha` (both growing with `abs(weight)`), and the ends
#'     `x0`, `y0`, `x1`, `y1`. Biases follow each layer's weights.
#'   * `columns`: `column`, `x`, `label` (written under the column).
#'   * `values` (with `show_weights = TRUE` only): the values written on
#'     the edges, `x`, `y` and `label`.
#'
#'   For the blocks, a data frame with one row per box: `layer` (0 for the
#'   input), `label` (the layer's class, or `"Input"`), `shape` and `params`
#'   (as `print(model)` shows them), `size` (values per sample; `NA` when
#'   unknown), `kind` (`"input"`, `"parameters"`, `"activation"` or
#'   `"other"`), `x`, `y`, `width`, `height` (across, a unit is an inch).
#' @seealso [summary()][summary.Sequential] for the same figures as a
#'   table.
#' @export
#' @examples
#' set.seed(69)
#' flower <- planar_flower()
#' x <- scale(as.matrix(flower[, c("x1", "x2")]))
#' model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
#' fit(model, x, flower$y, loss = "bce", optimizer = SGD$new(lr = 1.2),
#'     epochs = 500, batch_size = nrow(x), verbose = FALSE)
#' plot(model)
#' drawn <- plot(model, show_weights = TRUE, main = "2-4-1 network")
#' head(drawn$edges)
#'
#' # Larger models, image models: one box per layer
#' cnn <- Sequential$new(Conv2d$new(1, 8, 3), ReLU$new(), MaxPool2d$new(2), Flatten$new(),
#'                       Linear$new(8 * 13 * 13, 10), Softmax$new(), input_shape = c(28, 28))
#' plot(cnn)
plot.Sequential <- function(x, y, type = c("auto", "network", "blocks"), show_weights = FALSE,
                            col = c("steelblue", "firebrick"), main = NULL, ...) {
  check_dots_empty()
  if (!missing(y)) {
    abort_arg(c("{.arg y} is not used.",
                i = "To choose the diagram, name the argument: {.code plot(model, type = \"blocks\")}."),
              "y")
  }
  type <- if (missing(type)) "auto" else check_choice(type, c("auto", "network", "blocks"))
  check_flag(show_weights)
  check_edge_colours(col)
  check_title(main)
  state <- x$.get_state()
  columns <- network_columns(x$layers, state$specs)
  if (type == "auto") {
    readable <- !is.null(columns) && max(columns$width) <= max_network_nodes
    type <- if (readable) "network" else "blocks"
  }
  drawn <- if (type == "network") {
    if (is.null(columns)) abort_not_dense(x$layers)
    draw_network(network_layout(state, columns, col), show_weights, main)
  } else {
    draw_blocks(block_layout(x, state), main)
  }
  invisible(drawn)
}

# `type = "auto"` draws the network diagram up to this many nodes in a
# column: beyond it, nodes and edges blur together.
max_network_nodes <- 20L

check_edge_colours <- function(col, call = rlang::caller_env()) {
  valid <- (is.character(col) || is.numeric(col)) && length(col) == 2L && !anyNA(col) &&
    !inherits(try(grDevices::col2rgb(col), silent = TRUE), "try-error")
  if (!valid) {
    abort_arg("{.arg col} must be two colours: for positive and for negative weights.",
              "col", call = call)
  }
}

check_title <- function(main, call = rlang::caller_env()) {
  if (!is.null(main) && !(is.character(main) && length(main) == 1L && !is.na(main))) {
    abort_arg("{.arg main} must be a single string or {.code NULL}, not {.obj_type_friendly {main}}.",
              "main", call = call)
  }
}

# ---- Network diagram: layout ----------------------------------------------

#' The columns of a dense network's diagram, or NULL if it is not dense (or
#' has no Linear layer to give widths): `width` (nodes), `label` (what
#' happens there), `linear` (the position of the Linear layer feeding
#' each column but the first).
#' @noRd
network_columns <- function(layers, specs) {
  types <- vapply(specs, function(s) s$type, character(1))
  linear <- which(types == "linear")
  if (!all(is_dense_layer(layers)) || length(linear) == 0L) return(NULL)
  widths <- c(specs[[linear[1]]]$in_features,
              vapply(specs[linear], function(s) as.integer(s$out_features), integer(1)))
  # Each Linear layer starts a column; the layers after it act there too
  # (those before the first act on the inputs).
  column_of_layer <- cumsum(types == "linear") + 1L
  labels <- vapply(seq_along(widths), function(k) {
    paste(c(if (k == 1L) "input", types[column_of_layer == k]), collapse = " + ")
  }, character(1))
  list(width = as.integer(widths), label = labels, linear = linear)
}

#' Layers that map each sample's vector of values to another, value by
#' value or through a weight matrix: the ones a network diagram can draw.
#' @noRd
is_dense_layer <- function(layers) {
  vapply(layers, inherits, logical(1), what = c("Linear", "Dropout", "Activation"))
}

abort_not_dense <- function(layers, call = rlang::caller_env()) {
  classes <- vapply(layers, function(l) class(l)[1], character(1))
  dense <- is_dense_layer(layers)
  others <- vapply(unique(classes[!dense]), function(cl) cli::format_inline("{.cls {cl}}"),
                   character(1))
  problem <- if (all(dense)) "It has no {.cls Linear} layer." else "It has {others} layer{?s}."
  abort_arg(c("{.code type = \"network\"} draws dense networks only: {.cls Linear}, {.cls Dropout} and activation layers.",
              x = problem,
              i = "Use {.code type = \"blocks\"} for a diagram of any model."),
            "type", call = call)
}

#' Nodes and edges of the network diagram, in user coordinates: column `k`
#' at x = k, nodes one unit apart and centred on y = 0, bias nodes a unit
#' above the tallest column, halfway between the columns they join.
#' @noRd
network_layout <- function(state, columns, col) {
  widths <- columns$width
  nodes <- network_nodes(widths, input_labels(state$preprocess, widths[1]),
                         output_labels(state$target, widths[length(widths)]))
  edges <- network_edges(state$params, columns, col)
  key <- paste(nodes$column, nodes$row)
  # An edge leaves row `from` of the previous column, or the bias node of
  # its own column (row 0).
  from <- match(ifelse(edges$from == 0L, paste(edges$column, 0L),
                       paste(edges$column - 1L, edges$from)), key)
  to <- match(paste(edges$column, edges$to), key)
  edges$x0 <- nodes$x[from]
  edges$y0 <- nodes$y[from]
  edges$x1 <- nodes$x[to]
  edges$y1 <- nodes$y[to]
  list(nodes = nodes, edges = edges,
       columns = data.frame(column = seq_along(widths), x = seq_along(widths),
                            label = columns$label, stringsAsFactors = FALSE))
}

network_nodes <- function(widths, inputs, outputs) {
  last <- length(widths)
  units <- lapply(seq_len(last), function(k) {
    n <- widths[k]
    label <- if (k == 1L) inputs else if (k == last) outputs else rep("", n)
    data.frame(column = k, row = seq_len(n), x = k, y = (n + 1) / 2 - seq_len(n),
               label = label, bias = FALSE, stringsAsFactors = FALSE)
  })
  fed <- seq_len(last)[-1L]
  bias <- data.frame(column = fed, row = 0L, x = fed - 0.5, y = (max(widths) - 1) / 2 + 1,
                     label = "1", bias = TRUE, stringsAsFactors = FALSE)
  rbind(do.call(rbind, units), bias)
}

#' One edge per weight of each Linear layer (`weight[i, j]` joins input `i`
#' to output `j`, as `x %*% weight` uses it), then one per bias; widths
#' and opacity scale with the magnitude relative to the network's largest,
#' and the widest edges are thinner when columns are tall (many edges,
#' close together).
#' @noRd
network_edges <- function(params, columns, col) {
  widths <- columns$width
  parts <- lapply(seq_along(columns$linear), function(k) {
    layer <- columns$linear[k]
    n_in <- widths[k]
    n_out <- widths[k + 1L]
    data.frame(column = k + 1L, layer = layer,
               from = c(rep(seq_len(n_in), times = n_out), rep(0L, n_out)),
               to = c(rep(seq_len(n_out), each = n_in), seq_len(n_out)),
               weight = c(as.vector(params[[layer]]$weight), params[[layer]]$bias))
  })
  edges <- do.call(rbind, parts)
  largest <- max(abs(edges$weight))
  strength <- if (largest > 0) abs(edges$weight) / largest else rep(0, nrow(edges))
  edges$col <- ifelse(edges$weight < 0, col[2], col[1])
  thickest <- 3.6 * min(1, 6 / max(widths))
  edges$lwd <- 0.4 + thickest * strength
  edges$alpha <- 0.2 + 0.8 * strength
  edges
}

#' Names of the model's input columns when its preprocessing knows them
#' (mlp_sequential()'s standardization keeps them; a formula gives them), else x1, x2, ...
#' @noRd
input_labels <- function(preprocess, n) {
  known <- names(preprocess$center) %||% formula_columns(preprocess)
  if (length(known) == n && all(nzchar(known))) known else paste0("x", seq_len(n))
}

#' The columns a model's formula makes of the data, from one row of
#' placeholder values (NULL if the formula needs other ones).
#' @noRd
formula_columns <- function(preprocess) {
  if (is.null(preprocess$terms)) return(NULL)
  terms <- stats::delete.response(preprocess$terms)
  levels <- preprocess$xlevels
  placeholder <- lapply(stats::setNames(nm = all.vars(terms)), function(v) {
    if (v %in% names(levels)) factor(levels[[v]][1], levels = levels[[v]]) else 1
  })
  tryCatch({
    frame <- stats::model.frame(terms, placeholder, xlev = levels)
    columns <- colnames(stats::model.matrix(terms, frame))
    columns[columns != "(Intercept)"]
  }, error = function(e) NULL)
}

output_labels <- function(target, n) {
  classes <- if (identical(target$type, "factor")) target$levels
  if (length(classes) == n) return(classes)
  # One sigmoid output of two classes is the probability of the second.
  if (n == 1L && length(classes) == 2L) return(classes[2])
  if (n == 1L) "y" else paste0("y", seq_len(n))
}

# ---- Network diagram: drawing ---------------------------------------------

draw_network <- function(layout, show_weights, main) {
  nodes <- layout$nodes
  edges <- layout$edges
  old <- graphics::par(mar = c(0.5, 0.5, if (is.null(main)) 0.5 else 2.5, 0.5))
  on.exit(graphics::par(old))
  graphics::plot.new()
  frame <- network_frame(nodes, layout$columns$label)
  graphics::plot.window(frame$xlim, frame$ylim)
  # The strongest edges last, on top of the others.
  shown <- edges[order(edges$alpha), ]
  graphics::segments(shown$x0, shown$y0, shown$x1, shown$y1, lwd = shown$lwd,
                     col = with_alpha(shown$col, shown$alpha))
  if (show_weights) layout$values <- draw_weight_values(shown, frame$cex)
  graphics::symbols(nodes$x, nodes$y, circles = rep(1, nrow(nodes)), inches = frame$radius,
                    add = TRUE, fg = "grey25", bg = ifelse(nodes$bias, "grey90", "white"))
  draw_node_labels(nodes, frame)
  graphics::text(layout$columns$x, frame$column_label_y, frame$columns$text,
                 adj = c(0.5, 1), cex = frame$columns$cex, col = "grey20")
  if (!is.null(main)) graphics::title(main)
  layout
}

#' Colours made transparent, each by its own alpha (adjustcolor() takes
#' one alpha for all).
#' @noRd
with_alpha <- function(col, alpha) {
  rgb <- grDevices::col2rgb(col)
  grDevices::rgb(rgb[1, ], rgb[2, ], rgb[3, ], alpha = round(255 * alpha), maxColorValue = 255)
}

#' Plot limits and sizes for the network diagram on the current device,
#' worked out in inches: room for the input labels on the left, the output
#' labels on the right and the column labels below, whatever the number of
#' nodes; nodes and text sized to the spacing of the nodes.
#' @noRd
network_frame <- function(nodes, column_labels) {
  plot_in <- graphics::par("pin")
  n_col <- length(column_labels)
  column_in <- plot_in[1] / n_col
  columns <- fit_column_labels(column_labels, 0.95 * column_in)
  line_in <- 1.3 * graphics::strheight("M", "inches")
  max_radius <- 0.18
  below_in <- max_radius + 0.15 + columns$lines * line_in * columns$cex
  above_in <- 0.25
  y_per_in <- diff(range(nodes$y)) / (plot_in[2] - below_in - above_in)
  radius <- min(max_radius, 0.3 / y_per_in, 0.12 * column_in)
  cex <- min(1, 0.75 / y_per_in / line_in)
  text_in <- function(labels, cex) max(0, graphics::strwidth(labels, "inches", cex = cex))
  half_label <- function(k) text_in(columns$text[k], columns$cex) / 2
  gap <- radius + 0.08
  left_in <- max(gap + text_in(nodes$label[nodes$column == 1L], cex), half_label(1L))
  right_in <- max(gap + text_in(nodes$label[nodes$column == n_col & !nodes$bias], cex),
                  half_label(n_col))
  span_in <- max(plot_in[1] - left_in - right_in, 0.3 * plot_in[1])
  x_per_in <- (n_col - 1) / span_in
  list(xlim = c(1 - left_in * x_per_in, n_col + right_in * x_per_in),
       ylim = range(nodes$y) + c(-below_in, above_in) * y_per_in,
       radius = radius, cex = cex, gap_x = gap * x_per_in,
       columns = columns, column_label_y = min(nodes$y) - (radius + 0.1) * y_per_in)
}

#' Column labels that fit `width_in` inches: on one line if they can, else
#' one step ("+ relu") per line; smaller text if even that is too wide.
#' @noRd
fit_column_labels <- function(labels, width_in) {
  widest <- function(text) max(graphics::strwidth(text, "inches"))
  if (widest(labels) <= width_in) return(list(text = labels, cex = 1, lines = 1L))
  wrapped <- gsub(" + ", "\n+ ", labels, fixed = TRUE)
  lines <- max(lengths(strsplit(wrapped, "\n", fixed = TRUE)))
  list(text = wrapped, cex = min(1, width_in / widest(wrapped)), lines = lines)
}

draw_node_labels <- function(nodes, frame) {
  last <- max(nodes$column)
  inputs <- nodes[nodes$column == 1L, ]
  outputs <- nodes[nodes$column == last & !nodes$bias, ]
  bias <- nodes[nodes$bias, ]
  graphics::text(inputs$x - frame$gap_x, inputs$y, inputs$label, adj = c(1, 0.5), cex = frame$cex)
  graphics::text(outputs$x + frame$gap_x, outputs$y, outputs$label, adj = c(0, 0.5), cex = frame$cex)
  graphics::text(bias$x, bias$y, bias$label, cex = 0.8 * frame$cex)
}

#' Each weight's value on its edge, on a white patch. Values of edges from
#' the upper nodes of a column sit nearer to it than those from its lower
#' nodes, so that the values of edges converging on a node do not overlap.
#' @noRd
draw_weight_values <- function(edges, cex) {
  sources <- stats::ave(edges$from, edges$column, FUN = max)
  along <- ifelse(edges$from == 0L, 0.5, 0.2 + 0.6 * (edges$from - 0.5) / pmax(sources, 1))
  x <- edges$x0 + along * (edges$x1 - edges$x0)
  y <- edges$y0 + along * (edges$y1 - edges$y0)
  values <- formatC(edges$weight, format = "f", digits = 2)
  cex <- 0.7 * cex
  half_w <- graphics::strwidth(values, cex = cex) / 2 * 1.1
  half_h <- graphics::strheight(values, cex = cex) / 2 * 1.4
  graphics::rect(x - half_w, y - half_h, x + half_w, y + half_h,
                 col = grDevices::adjustcolor("white", alpha.f = 0.8), border = NA)
  graphics::text(x, y, values, col = edges$col, cex = cex)
  data.frame(x = x, y = y, label = values, stringsAsFactors = FALSE)
}

# ---- Block diagram ---------------------------------------------------------

#' One box per layer after one for the input, from the rows print(model)
#' shows: top to bottom a unit apart. `width` is, until drawn, the log of
#' the output's size relative to the largest's (0 to 1).
#' @noRd
block_layout <- function(model, state) {
  rows <- layer_table(model, state)
  shapes <- model$.shapes()
  sizes <- vapply(seq_len(nrow(rows) + 1L), function(i) {
    shape <- if (!is.null(shapes)) shapes[[i]]
    if (is.null(shape)) NA_real_ else prod(as.double(shape))
  }, numeric(1))
  is_activation <- vapply(model$layers, inherits, logical(1), what = "Activation")
  kind <- c("input", ifelse(rows$params > 0, "parameters",
                            ifelse(is_activation, "activation", "other")))
  n <- nrow(rows) + 1L
  data.frame(layer = seq_len(n) - 1L, label = c("Input", rows$layer),
             shape = c(format_shape(if (!is.null(shapes)) shapes[[1]]), rows$output_shape),
             params = c(0, rows$params), size = sizes, kind = kind,
             x = 0, y = rev(seq_len(n)), width = relative_log_sizes(sizes), height = 0.6,
             stringsAsFactors = FALSE)
}

#' Log sizes from 0 (one value, or unknown) to 1 (the largest size).
#' @noRd
relative_log_sizes <- function(sizes) {
  largest <- max(sizes, 1, na.rm = TRUE)
  if (largest == 1) return(rep(0, length(sizes)))
  rel <- log(sizes) / log(largest)
  ifelse(is.na(rel), 0, rel)
}

block_fills <- c(input = "white", parameters = "#D5E4F2", activation = "#FBE0CC",
                 other = "grey92")

draw_blocks <- function(boxes, main) {
  old <- graphics::par(mar = c(0.5, 0.5, if (is.null(main)) 0.5 else 2.5, 0.5))
  on.exit(graphics::par(old))
  graphics::plot.new()
  frame <- blocks_frame(nrow(boxes))
  graphics::plot.window(frame$xlim, frame$ylim)
  box_text <- block_text(boxes, frame)
  # The narrowest box holds the longest text; the others grow from it with
  # their log size, so that equal sizes make equal widths.
  narrowest <- max(box_text$width) + graphics::strwidth("MM", cex = box_text$cex)
  boxes$width <- narrowest + boxes$width * max(0, frame$widest - narrowest)
  draw_block_arrows(boxes)
  graphics::rect(boxes$x - boxes$width / 2, boxes$y - boxes$height / 2,
                 boxes$x + boxes$width / 2, boxes$y + boxes$height / 2,
                 col = block_fills[boxes$kind], border = "grey30")
  draw_block_text(boxes, box_text, frame)
  if (!is.null(main)) graphics::title(main)
  boxes
}

#' The text of each box: its label in bold, then the output shape and the
#' parameter count (if any), on two lines filling at most 75% of the box's
#' height, or on one line when two would make the text too small to read.
#' @noRd
block_text <- function(boxes, frame) {
  details <- ifelse(boxes$params > 0,
                    paste0(boxes$shape, "   ", format_count(boxes$params), " params"),
                    boxes$shape)
  line_in <- 1.6 * graphics::strheight("M", "inches")
  box_in <- boxes$height[1] * frame$inch_per_y
  cex <- min(1, 0.75 * box_in / (2 * line_in))
  one_line <- cex < 0.8
  if (one_line) cex <- min(1, 0.75 * box_in / line_in)
  label_width <- graphics::strwidth(boxes$label, cex = cex, font = 2)
  details_width <- graphics::strwidth(details, cex = 0.9 * cex)
  space <- graphics::strwidth("  ", cex = cex)
  width <- if (one_line) label_width + space + details_width else pmax(label_width, details_width)
  list(details = details, cex = cex, one_line = one_line, line_in = line_in,
       label_width = label_width, space = space, width = width)
}

draw_block_text <- function(boxes, box_text, frame) {
  cex <- box_text$cex
  if (box_text$one_line) {
    start <- boxes$x - box_text$width / 2
    graphics::text(start, boxes$y, boxes$label, adj = c(0, 0.5), font = 2, cex = cex)
    graphics::text(start + box_text$label_width + box_text$space, boxes$y, box_text$details,
                   adj = c(0, 0.5), cex = 0.9 * cex, col = "grey20")
  } else {
    line_gap <- 0.5 * box_text$line_in * cex / frame$inch_per_y
    graphics::text(boxes$x, boxes$y + line_gap, boxes$label, font = 2, cex = cex)
    graphics::text(boxes$x, boxes$y - line_gap, box_text$details, cex = 0.9 * cex,
                   col = "grey20")
  }
}

format_count <- function(n) format(n, big.mark = ",", scientific = FALSE, trim = TRUE)

#' Plot limits for `n` boxes a unit apart: at least 6 units tall, so that
#' a few boxes are not stretched over the whole device. Across, a unit is
#' an inch (box widths are text widths); the widest box takes 85% of the
#' width, at most 4.5 inches.
#' @noRd
blocks_frame <- function(n) {
  plot_in <- graphics::par("pin")
  height <- max(n, 6)
  ylim <- (n + 1) / 2 + c(-1, 1) * height / 2
  widest <- min(0.85 * plot_in[1], 4.5)
  list(xlim = c(-1, 1) * plot_in[1] / 2, ylim = ylim, widest = widest,
       inch_per_y = plot_in[2] / height)
}

draw_block_arrows <- function(boxes) {
  n <- nrow(boxes)
  if (n < 2L) return(invisible())
  top <- boxes$y[-n] - boxes$height[-n] / 2
  bottom <- boxes$y[-1L] + boxes$height[-1L] / 2
  graphics::arrows(boxes$x[-n], top, boxes$x[-1L], bottom, length = 0.06, col = "grey40")
}
