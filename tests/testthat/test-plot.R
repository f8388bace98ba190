# plot_decision_boundary(): the grid it returns is the model's own
# classification, whatever form the model's predictions take.

draw_to_file <- function(expr) {
  path <- withr::local_tempfile(fileext = ".png", .local_envir = parent.frame())
  grDevices::png(path, width = 500, height = 400)
  before <- graphics::par("mfrow")
  res <- withVisible(expr)
  after <- graphics::par("mfrow")
  grDevices::dev.off()
  list(value = res$value, visible = res$visible, same_par = identical(before, after),
       size = file.size(path))
}

test_that("plot_decision_boundary() classifies the grid as predict() does", {
  set.seed(69)
  flower <- planar_flower(n = 200)
  x <- scale(as.matrix(flower[, c("x1", "x2")]))
  model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
  fit(model, x, flower$y, loss = "bce", optimizer = SGD$new(lr = 1.2), epochs = 300,
      batch_size = 200, verbose = FALSE)
  drawn <- draw_to_file(plot_decision_boundary(model, x, flower$y, resolution = 50))
  grid <- drawn$value
  expect_false(drawn$visible)
  expect_true(drawn$same_par)
  expect_gt(drawn$size, 3000)
  expect_equal(nrow(grid), 2500)
  expect_named(grid, c("x1", "x2", "class"))
  # The grid spans the points' range plus 5% on each side.
  span <- diff(range(x[, 1]))
  expect_equal(range(grid$x1), range(x[, 1]) + c(-1, 1) * 0.05 * span)
  expected <- as.integer(predict(model, as.matrix(grid[, 1:2])) > 0.5)
  expect_equal(as.integer(as.character(grid$class)), expected)
  expect_setequal(levels(grid$class), c("0", "1"))
})

test_that("plot_decision_boundary() takes functions giving probabilities, scores or classes", {
  sepals <- as.matrix(iris[, c("Sepal.Length", "Sepal.Width")])
  logistic <- glm(I(Species == "versicolor") ~ Sepal.Length + Sepal.Width, family = binomial,
                  data = iris)
  probability <- function(g) predict(logistic, as.data.frame(g), type = "response")
  grid <- draw_to_file(plot_decision_boundary(probability, sepals, iris$Species == "versicolor",
                                              resolution = 30))$value
  expect_equal(grid$class == "1", unname(probability(as.matrix(grid[, 1:2])) > 0.5))
  expect_setequal(unique(grid$class), c("0", "1"))

  x <- as.matrix(iris[, c("Petal.Length", "Petal.Width")])

  # Class scores (a matrix): the class is the column with the largest score.
  set.seed(1)
  model <- Sequential$new(Linear$new(2, 3), Softmax$new())
  fit(model, x, iris$Species, optimizer = Adam$new(lr = 0.05), epochs = 50, verbose = FALSE)
  grid <- draw_to_file(plot_decision_boundary(model, x, iris$Species, resolution = 30))$value
  classes <- predict(model, as.matrix(grid[, 1:2]), type = "class")
  expect_equal(as.character(grid$class), as.character(classes))

  # Classes given directly, as a factor.
  by_class <- function(g) predict(model, g, type = "class")
  grid2 <- draw_to_file(plot_decision_boundary(by_class, x, iris$Species, resolution = 30))$value
  expect_equal(as.character(grid2$class), as.character(classes))
})

test_that("plot_decision_boundary() works for a model fitted with a formula", {
  set.seed(2)
  flower <- planar_flower(n = 100)
  model <- mlp_sequential(factor(y) ~ x1 + x2, data = flower, hidden = 6, epochs = 20, verbose = FALSE)
  grid <- draw_to_file(plot_decision_boundary(model, flower[, c("x1", "x2")], flower$y,
                                              resolution = 20))$value
  expect_equal(as.character(grid$class),
               as.character(predict(model, grid[, c("x1", "x2")], type = "class")))
})
