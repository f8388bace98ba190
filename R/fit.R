# fit(): checks everything in R, then runs the whole training loop in one
# call into the engine.

#' Train a model
#'
#' Runs the whole training loop in the Rust engine: for each epoch, shuffle
#' the rows (if `shuffle`), then for each mini-batch of `batch_size` rows:
#' forward pass, loss, backward pass, optimizer step. No R code runs per
#' batch. Shuffling uses a seed drawn from R's RNG, so `set.seed()` makes the
#' whole run reproducible; the thread count never changes the result.
#'
#' Press Ctrl-C (Esc in RStudio) to stop: training ends after the current
#' batch, the model keeps the weights of the last completed batch, and the
#' interrupt is passed on.
#'
#' @param object A [Sequential] model; it is trained in place.
#' @param x Numeric matrix or data frame of numeric columns, one sample per row.
#' @param y Targets: a numeric vector or matrix (one column per output), or
#'   a factor for classification (one output per level, or one output for
#'   two levels; `predict(type = "class")` returns levels).
#' @param loss A loss name (`"mse"`, `"sse"`, `"bce"`, `"cross_entropy"`) or
#'   a [Loss] object. Default: the loss of the last `fit()`, or else
#'   `"cross_entropy"` for a factor with several outputs, `"bce"` for a
#'   factor with one output, `"mse"` for numbers.
#' @param optimizer An optimizer such as `SGD$new(lr = 0.1)`. Default: the
#'   last one used with this model (with its state), or `SGD$new()`.
#' @param epochs Number of passes over the data.
#' @param batch_size Rows per mini-batch (`nrow(x)` for full-batch gradient
#'   descent; larger values are reduced to `nrow(x)`).
#' @param shuffle Shuffle the rows before each epoch?
#' @param verbose Print the loss as training goes (up to about 10 lines)?
#' @param threads Number of threads; see [default_threads()].
#' @param ... Unused; must be empty.
#' @return A `rustnn_history` object (invisibly): per-epoch losses, with
#'   `print()`, `plot()` and `as.data.frame()` methods.
#' @export
#' @examples
#' set.seed(42)
#' x <- matrix(c(0, 0, 1, 1, 0, 1, 0, 1), ncol = 2)
#' y <- factor(c("no", "yes", "yes", "no"))
#' model <- Sequential$new(Linear$new(2, 4), Tanh$new(), Linear$new(4, 1), Sigmoid$new())
#' history <- fit(model, x, y, loss = "bce", optimizer = SGD$new(lr = 1),
#'                epochs = 500, batch_size = 4)
#' history
#' predict(model, x, type = "class")
fit.Sequential <- function(object, x, y, loss = NULL, optimizer = NULL, epochs = 10,
                           batch_size = 32, shuffle = TRUE,
                           verbose = getOption("rustnn.verbose", interactive()),
                           threads = default_threads(), ...) {
  rlang::check_dots_empty()
  model <- object
  state <- model$.get_state()
  x <- as_input_matrix(x, "x")
  check_input_width(model, x, "x")
  outputs <- model_output_dim(state, ncol(x))
  target <- encode_target(y, nrow(x), outputs, "y")
  loss <- as_loss(loss %||% state$loss %||% default_loss(target, outputs))
  optimizer <- if (is.null(optimizer)) last_optimizer(state) else as_optimizer(optimizer)
  epochs <- check_count(epochs)
  batch_size <- min(check_count(batch_size), nrow(x))
  check_flag(shuffle)
  check_flag(verbose)
  threads <- check_count(threads)

  seed <- sample.int(.Machine$integer.max, 2L)
  progress <- if (verbose) progress_printer(epochs) else NULL
  result <- rust_call(rn_fit(model$.engine(), x, target$matrix, loss$name,
                             optimizer$.description(), epochs, batch_size,
                             shuffle, seed, threads, progress))
  optimizer$state <- result$optimizer_state
  model$.after_fit(target$info, loss$name, optimizer$clone())
  history <- new_history(result$loss, loss$name, batch_size, nrow(x))
  if (result$status == "interrupted") {
    cli::cli_inform(c("!" = "Training interrupted in epoch {result$stopped_epoch}, after batch {result$stopped_batch}.",
                      i = "The model keeps the weights of that batch."))
    rlang::interrupt()
  }
  invisible(history)
}

default_loss <- function(target, outputs) {
  if (target$info$type == "factor") {
    if (outputs == 1L) "bce" else "cross_entropy"
  } else {
    "mse"
  }
}

# The model keeps its own copy of the last optimizer and never changes it in
# place, so clones of the model do not share optimizer state.
last_optimizer <- function(state) {
  if (inherits(state$optimizer, "Optimizer")) state$optimizer$clone() else SGD$new()
}

#' Epoch-end callback that prints about ten evenly spaced progress lines.
#'
#' It runs inside the engine's call back into R, where condition handlers set
#' outside fit() do not apply; so it writes plain lines to stdout, which
#' sink(), capture.output() and knitr all see.
#' @noRd
progress_printer <- function(epochs) {
  every <- max(1L, epochs %/% 10L)
  function(epoch, loss) {
    if (epoch %% every == 0L || epoch == epochs || epoch == 1L) {
      cat(sprintf("Epoch %d/%d - loss: %s\n", epoch, epochs, format(signif(loss, 6))))
    }
    FALSE
  }
}

new_history <- function(losses, loss_name, batch_size, rows) {
  structure(list(loss = losses, epochs = length(losses), loss_name = loss_name,
                 batch_size = batch_size, rows = rows),
            class = "rustnn_history")
}

#' @export
format.rustnn_history <- function(x, ...) {
  n <- x$epochs
  last <- if (n) format(signif(x$loss[n], 6)) else "-"
  first <- if (n) format(signif(x$loss[1], 6)) else "-"
  c(sprintf("<rustnn_history> %d epoch%s, batch size %d on %d rows", n,
            if (n == 1) "" else "s", x$batch_size, x$rows),
    sprintf("  loss (%s): %s -> %s", x$loss_name, first, last))
}

#' @export
print.rustnn_history <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}

#' @export
as.data.frame.rustnn_history <- function(x, row.names = NULL, optional = FALSE, ...) {
  data.frame(epoch = seq_len(x$epochs), loss = x$loss, row.names = row.names)
}
