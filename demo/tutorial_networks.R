# Trains the networks of the "neural network from scratch in R" tutorials
# with rustnn and prints each one's accuracy and training time.
library(rustnn)

report <- function(name, seconds, accuracy, what) {
  cat(sprintf("%-32s %-26s accuracy %5.1f%%   training %7.3f s\n",
              name, what, 100 * accuracy, seconds))
}

# Tutorial 001: XOR, Linear(2,2)-Tanh-Linear(2,2), SGD on total squared error.
set.seed(1)
x <- matrix(c(0, 1, 0, 1, 0, 0, 1, 1), ncol = 2)
y <- matrix(c(1, 0, 0, 1, 0, 1, 1, 0), ncol = 2)
xor_net <- Sequential$new(Linear$new(2, 2), Tanh$new(), Linear$new(2, 2))
t <- system.time(fit(xor_net, x, y, loss = "sse", optimizer = SGD$new(lr = 0.01),
                     epochs = 5000, batch_size = 4, verbose = FALSE))[["elapsed"]]
report("XOR (tutorial 001)", t, mean(predict(xor_net, x, type = "class") == max.col(y)),
       "4/4 points, 5000 epochs")

# Tutorial 003: planar flower, 2-4-1 tanh/sigmoid, full batch, lr 1.2.
set.seed(69)
flower <- planar_flower()
flower <- flower[sample(nrow(flower)), ]
x_train <- scale(as.matrix(flower[1:320, 1:2]))
x_test <- scale(as.matrix(flower[321:400, 1:2]),
                attr(x_train, "scaled:center"), attr(x_train, "scaled:scale"))
flower_net <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
t <- system.time(fit(flower_net, x_train, flower$y[1:320], loss = "bce",
                     optimizer = SGD$new(lr = 1.2), epochs = 10000,
                     batch_size = 320, verbose = FALSE))[["elapsed"]]
report("Planar flower 2-4-1 (003)", t,
       evaluate(flower_net, x_test, flower$y[321:400])[["accuracy"]], "test set, 10000 epochs")

# Tutorial 002: iris 4-40-3, sigmoid hidden, softmax + cross-entropy, SGD 0.5,
# batch 10, 30 epochs.
set.seed(1)
iris_net <- Sequential$new(Linear$new(4, 40), Sigmoid$new(), Linear$new(40, 3), Softmax$new())
t <- system.time(fit(iris_net, iris[, 1:4], iris$Species, loss = "cross_entropy",
                     optimizer = SGD$new(lr = 0.5), epochs = 30, batch_size = 10,
                     verbose = FALSE))[["elapsed"]]
report("Iris 4-40-3 (tutorial 002)", t,
       evaluate(iris_net, iris[, 1:4], iris$Species)[["accuracy"]], "training set, 30 epochs")
