# Draws the README's figure (man/figures/README-decision-boundary.png): the
# decision boundaries of the planar-flower vignette's 2-4-1 network and of a
# logistic regression, with the vignette's seed and settings.
#
# Run from the package root with rustnn installed: Rscript tools/readme_figures.R
library(rustnn)

set.seed(69)
df <- planar_flower()
df <- df[sample(nrow(df)), ]
x <- scale(as.matrix(df[1:320, c("x1", "x2")]))
y <- df$y[1:320]

network <- Sequential$new(Linear$new(2, 4, init = "uniform_small"), Tanh$new(),
                          Linear$new(4, 1, init = "uniform_small"), Sigmoid$new(),
                          dtype = "float64")
fit(network, x, y, loss = "bce", optimizer = SGD$new(lr = 1.2), epochs = 10000,
    batch_size = nrow(x), shuffle = FALSE, verbose = FALSE)
logistic <- glm(y ~ x1 + x2, family = binomial, data = data.frame(x, y = y))

dir.create(file.path("man", "figures"), showWarnings = FALSE)
grDevices::png(file.path("man", "figures", "README-decision-boundary.png"),
               width = 900, height = 430, res = 110)
op <- par(mfrow = c(1, 2), mar = c(4, 4, 2, 1))
plot_decision_boundary(network, x, y, main = "2-4-1 network (tanh)")
plot_decision_boundary(function(g) predict(logistic, as.data.frame(g), type = "response"),
                       x, y, main = "Logistic regression (glm)")
par(op)
invisible(grDevices::dev.off())
