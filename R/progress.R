# Progress display during fit().
#
# The engine pauses every 250 ms (see run_session() in fit.R) and hands over
# the epochs done since the last pause; the display writes plain text to
# stdout with cat(): the console, sink(), capture.output() and knitr all
# see it.
#
# verbose = 1 redraws one line with "\r" where the console can (a terminal,
# RStudio); elsewhere (knitr, a log file) it prints about ten lines in all, so
# a notebook or log is never flooded. verbose = 2 prints one line per epoch.

#' Functions that show fit()'s progress: `on_epoch(epoch, logs)`,
#' `on_batch(epoch, batch, batches, loss)` (NULL when not needed) and
#' `finish()`.
#' @noRd
progress_reporter <- function(verbose, epochs, dynamic = cli::is_dynamic_tty(stdout())) {
  quiet <- list(active = FALSE, on_epochs = function(epochs, rows) invisible(),
                on_batch = function(...) invisible(), finish = function() invisible())
  if (verbose == 0L) return(quiet)
  start <- Sys.time()
  elapsed <- function() as.double(difftime(Sys.time(), start, units = "secs"))
  drawn <- FALSE

  epoch_line <- function(epoch, logs) {
    shown <- logs[names(logs) != "lr"]
    paste0("Epoch ", epoch, "/", epochs, " - ", format_seconds(elapsed()), " - ",
           paste(names(shown), format_figure(shown), sep = ": ", collapse = " - "))
  }
  redraw <- function(text) {
    width <- cli::console_width()
    cat("\r", cli::ansi_strtrim(text, width - 1L), strrep(" ", 2L), sep = "")
    drawn <<- TRUE
  }
  bar_line <- function(done, label) {
    eta <- if (done > 0) elapsed() * (1 - done) / done else NA
    paste0(progress_bar(done, 24L), " ", format(floor(100 * done), width = 3), "% ",
           label, if (is.finite(eta)) paste0(" - ETA ", format_seconds(eta)))
  }

  # `rows`: the history rows of epochs `done` (the engine hands them over
  # in bursts, at its pauses).
  if (verbose == 2L || !dynamic) {
    every <- if (verbose == 2L) 1L else max(1L, epochs %/% 10L)
    on_epochs <- function(done, rows) {
      for (k in seq_along(done)) {
        epoch <- done[k]
        if (epoch %% every == 0L || epoch == 1L || epoch == epochs) {
          cat(epoch_line(epoch, rows[k, ]), "\n", sep = "")
        }
      }
    }
    return(list(active = TRUE, on_epochs = on_epochs, on_batch = function(...) invisible(),
                finish = function() invisible()))
  }
  on_epochs <- function(done, rows) {
    epoch <- done[length(done)]
    redraw(bar_line(epoch / epochs, epoch_line(epoch, rows[length(done), ])))
  }
  on_batch <- function(epoch, batch, batches, loss) {
    done <- (epoch - 1 + batch / batches) / epochs
    redraw(bar_line(done, paste0("Epoch ", epoch, "/", epochs, " - batch ", batch, "/",
                                 batches, " - loss: ", format_figure(loss))))
  }
  finish <- function() {
    if (drawn) cat("\n")
    invisible()
  }
  list(active = TRUE, on_epochs = on_epochs, on_batch = on_batch, finish = finish)
}

progress_bar <- function(done, width) {
  filled <- round(done * width)
  paste0("[", strrep("=", filled), strrep(" ", width - filled), "]")
}

format_figure <- function(x) {
  formatC(x, digits = 4, format = "fg", flag = "#")
}

format_seconds <- function(s) {
  if (s < 60) return(sprintf("%.1fs", s))
  if (s < 3600) return(sprintf("%dm %02ds", as.integer(s %/% 60), as.integer(round(s %% 60))))
  sprintf("%dh %02dm", as.integer(s %/% 3600), as.integer(round((s %% 3600) / 60)))
}
