# Plots.

#' Plot a training history
#'
#' The loss per epoch, with base graphics.
#'
#' @param x A `rustnn_history` from [fit()][fit.Sequential].
#' @param y Unused.
#' @param log Passed to [plot()]: `"y"` for a logarithmic loss axis.
#' @param ... Further arguments to [graphics::plot()].
#' @return `x`, invisibly.
#' @export
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(40), ncol = 2)
#' model <- Sequential$new(Linear$new(2, 1))
#' history <- fit(model, x, x[, 1] - x[, 2], epochs = 30)
#' plot(history)
plot.rustnn_history <- function(x, y, log = "", ...) {
  graphics::plot(seq_len(x$epochs), x$loss, type = "l", xlab = "epoch",
                 ylab = paste0("loss (", x$loss_name, ")"), log = log, ...)
  invisible(x)
}
