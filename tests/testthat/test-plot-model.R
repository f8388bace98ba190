# plot() of a model: the network diagram and the blocks it returns describe
# the model's own weights, layers and shapes.

# Draws `expr` on a null device; returns its value and whether it was
# visible and left the margins (which the plots set) as they were.
draw_null <- function(expr) {
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  before <- graphics::par("mar", "mfrow")
  res <- withVisible(expr)
  list(value = res$value, visible = res$visible,
       same_par = identical(before, graphics::par("mar", "mfrow")))
}

net_241 <- function() {
  set.seed(3)
  Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
}

tiny_cnn <- function() {
  Sequential$new(Conv2d$new(1, 8, 3), ReLU$new(), MaxPool2d$new(2), Flatten$new(),
                 Linear$new(8 * 13 * 13, 10), Softmax$new(), input_shape = c(28, 28))
}

test_that("the network diagram of a 2-4-1 net has a column of nodes per layer", {
  drawn <- draw_null(plot(net_241()))
  expect_false(drawn$visible)
  expect_true(drawn$same_par)
  nodes <- drawn$value$nodes
  units <- nodes[!nodes$bias, ]
  expect_equal(as.vector(table(units$column)), c(2, 4, 1))
  expect_equal(units$row, c(1:2, 1:4, 1L))
  expect_equal(units$x, units$column)
  # Columns are centred, one unit between nodes, the first row on top.
  expect_equal(units$y[units$column == 2], c(1.5, 0.5, -0.5, -1.5))
  expect_equal(units$label, c("x1", "x2", "", "", "", "", "y"))
  # A bias node feeds each column but the input's, from above, between columns.
  bias <- nodes[nodes$bias, ]
  expect_equal(bias$column, 2:3)
  expect_equal(bias$row, c(0L, 0L))
  expect_equal(bias$x, c(1.5, 2.5))
  expect_true(all(bias$y > max(units$y)))
  expect_equal(bias$label, c("1", "1"))
  expect_equal(drawn$value$columns$label, c("input", "linear + tanh", "linear + sigmoid"))
})

test_that("every weight and bias is an edge, coloured by its sign and as wide as it is large", {
  model <- net_241()
  # Biases start at zero: give them values of both signs.
  model$layers[[1]]$params <- list(weight = model$layers[[1]]$params$weight,
                                   bias = c(0.5, -0.25, 0.1, -1))
  edges <- draw_null(plot(model, type = "network", col = c("darkgreen", "orange")))$value$edges
  expect_equal(nrow(edges), 2 * 4 + 4 * 1 + 4 + 1)
  expect_equal(as.vector(table(edges$column)), c(2 * 4 + 4, 4 * 1 + 1))
  expect_equal(unique(edges$layer), c(1L, 3L))
  params <- lapply(model$layers, function(l) l$params)
  for (i in which(edges$from > 0)) {
    expect_equal(edges$weight[i], params[[edges$layer[i]]]$weight[edges$from[i], edges$to[i]])
  }
  is_bias <- edges$from == 0L
  expect_equal(sum(is_bias), 5)
  expect_equal(edges$weight[is_bias], c(params[[1]]$bias, params[[3]]$bias))
  expect_equal(edges$col, ifelse(edges$weight < 0, "orange", "darkgreen"))
  # Width and opacity grow with |weight|: the largest is the widest and opaque.
  by_size <- order(abs(edges$weight))
  expect_false(is.unsorted(edges$lwd[by_size]))
  expect_false(is.unsorted(edges$alpha[by_size]))
  expect_equal(edges$alpha[which.max(abs(edges$weight))], 1)
  expect_lt(max(edges$alpha[edges$weight == 0]), 0.25)
  # Edges join the nodes they name.
  nodes <- draw_null(plot(model))$value$nodes
  first <- edges[edges$column == 2 & edges$from > 0, ]
  expect_equal(first$x0, rep(1, 8))
  expect_equal(first$y0, nodes$y[match(paste(1, first$from), paste(nodes$column, nodes$row))])
  expect_equal(first$y1, nodes$y[match(paste(2, first$to), paste(nodes$column, nodes$row))])
})

test_that("show_weights draws the same diagram with the values", {
  model <- net_241()
  plain <- draw_null(plot(model))
  with_values <- draw_null(plot(model, show_weights = TRUE, main = "2-4-1"))
  expect_true(with_values$same_par)
  expect_equal(with_values$value[c("nodes", "edges", "columns")], plain$value)
  # The values are written on every edge (weights and biases), and only when asked for.
  expect_null(plain$value$values)
  written <- with_values$value$values
  expect_equal(nrow(written), 4 * 2 + 4 * 1 + 4 + 1)
  p1 <- model$layers[[1]]$params
  p3 <- model$layers[[3]]$params
  expect_setequal(written$label, formatC(c(p1$weight, p1$bias, p3$weight, p3$bias), format = "f", digits = 2))
})

test_that("nodes are named by the model's input columns and classes", {
  set.seed(1)
  iris_model <- mlp_sequential(Species ~ ., data = iris, hidden = c(8, 8), activation = "tanh",
                    epochs = 2, verbose = 0)
  drawn <- draw_null(plot(iris_model))$value
  units <- drawn$nodes[!drawn$nodes$bias, ]
  expect_equal(as.vector(table(units$column)), c(4, 8, 8, 3))
  expect_equal(units$label[units$column == 1], names(iris)[1:4])
  expect_equal(units$label[units$column == 4], levels(iris$Species))
  expect_equal(drawn$columns$label,
               c("input", "linear + tanh", "linear + tanh", "linear + softmax"))
  expect_equal(nrow(drawn$edges), 4 * 8 + 8 * 8 + 8 * 3 + 8 + 8 + 3)

  # A formula on a Sequential: its model matrix's columns (factors coded by
  # contrasts); a single sigmoid output is the second class.
  set.seed(2)
  df <- data.frame(size = rnorm(30), colour = factor(rep(c("red", "green", "blue"), 10)),
                   y = factor(rep(c("no", "yes"), 15)))
  model <- Sequential$new(Linear$new(3, 2), ReLU$new(), Dropout$new(0.1), Linear$new(2, 1),
                          Sigmoid$new())
  fit(model, y ~ size + colour, data = df, epochs = 1, verbose = 0)
  drawn <- draw_null(plot(model))$value
  units <- drawn$nodes[!drawn$nodes$bias, ]
  expect_equal(units$label[units$column == 1], c("size", "colourgreen", "colourred"))
  expect_equal(units$label[units$column == 3], "yes")
  expect_equal(drawn$columns$label[2], "linear + relu + dropout")

  # Several outputs without classes.
  units <- draw_null(plot(Sequential$new(Linear$new(3, 2))))$value$nodes
  expect_equal(units$label[units$column == 2 & !units$bias], c("y1", "y2"))
})

test_that("auto draws the network up to 20 nodes a column, blocks beyond and for image models", {
  is_network <- function(model) !is.data.frame(draw_null(plot(model))$value)
  expect_true(is_network(net_241()))
  expect_true(is_network(Sequential$new(Linear$new(20, 20), ReLU$new(), Linear$new(20, 3))))
  expect_false(is_network(Sequential$new(Linear$new(21, 5), ReLU$new(), Linear$new(5, 3))))
  expect_false(is_network(Sequential$new(Linear$new(4, 64), ReLU$new(), Linear$new(64, 3))))
  expect_false(is_network(tiny_cnn()))
  expect_false(is_network(Sequential$new(Linear$new(4, 4), BatchNorm$new(4), Linear$new(4, 1))))
  # Asked for, the network diagram draws wide dense nets too.
  wide <- draw_null(plot(Sequential$new(Linear$new(4, 64), ReLU$new(), Linear$new(64, 3)),
                         type = "network"))$value
  expect_equal(nrow(wide$edges), 4 * 64 + 64 * 3 + 64 + 3)
})

test_that("blocks show each layer's class, output shape and parameters as print() does", {
  cnn <- tiny_cnn()
  drawn <- draw_null(plot(cnn))
  expect_false(drawn$visible)
  expect_true(drawn$same_par)
  boxes <- drawn$value
  table <- summary(cnn)$layers
  expect_equal(boxes$layer, 0:6)
  expect_equal(boxes$label, c("Input", table$layer))
  expect_equal(boxes$label[-1], c("Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "Softmax"))
  expect_equal(boxes$shape, c("(n, 1, 28, 28)", table$output_shape))
  expect_equal(boxes$params, c(0, table$params))
  expect_equal(boxes$params, c(0, 80, 0, 0, 0, 13530, 0))
  expect_equal(boxes$size, c(784, 8 * 26 * 26, 8 * 26 * 26, 8 * 13 * 13, 8 * 13 * 13, 10, 10))
  expect_equal(boxes$kind, c("input", "parameters", "activation", "other", "other",
                             "parameters", "activation"))
  # Top to bottom in order; wider for larger outputs, equal for equal sizes.
  expect_equal(boxes$y, 7:1)
  expect_equal(order(boxes$width), order(boxes$size, boxes$layer))
  expect_equal(boxes$width[2], boxes$width[3])
  expect_equal(boxes$width[6], boxes$width[7])

  # The same for a dense model, asked for.
  dense <- net_241()
  boxes <- draw_null(plot(dense, type = "blocks", main = "blocks"))$value
  expect_equal(boxes$label, c("Input", "Linear", "Tanh", "Linear", "Sigmoid"))
  expect_equal(boxes$shape, c("(n, 2)", "(n, 4)", "(n, 4)", "(n, 1)", "(n, 1)"))
  expect_equal(boxes$params, c(0, 12, 0, 5, 0))
})

test_that("blocks draw models whose shapes are not known yet", {
  boxes <- draw_null(plot(Sequential$new(Conv2d$new(1, 2, 3), Flatten$new())))$value
  expect_equal(boxes$shape, rep("(n, ?)", 3))
  expect_equal(boxes$size, rep(NA_real_, 3))
  expect_equal(boxes$params, c(0, 20, 0))
})

test_that("plot() of a model rejects bad arguments", {
  model <- net_241()
  expect_error(plot(tiny_cnn(), type = "network"), class = "rustnn_error_argument")
  expect_snapshot(error = TRUE, plot(tiny_cnn(), type = "network"))
  expect_snapshot(error = TRUE, plot(Sequential$new(ReLU$new()), type = "network"))
  expect_snapshot(error = TRUE, plot(model, type = "graph"))
  expect_error(plot(model, type = c("network", "blocks")), class = "rustnn_error_argument")
  expect_error(plot(model, type = NA), class = "rustnn_error_argument")
  expect_snapshot(error = TRUE, plot(model, "blocks"))
  expect_error(plot(model, show_weights = "yes"), class = "rustnn_error_argument")
  expect_error(plot(model, show_weights = NA), class = "rustnn_error_argument")
  expect_snapshot(error = TRUE, plot(model, col = "red"))
  expect_error(plot(model, col = c("red", "not a colour")), class = "rustnn_error_argument")
  expect_error(plot(model, col = list("red", "blue")), class = "rustnn_error_argument")
  expect_error(plot(model, main = c("a", "b")), class = "rustnn_error_argument")
  expect_error(plot(model, kind = "blocks"), class = "rustnn_error_argument")
})
