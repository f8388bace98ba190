# Renders every vignette in a temporary copy of vignettes/, and checks what
# R CMD build does not: that each one takes under 60 seconds and that its
# HTML shows its plots (embedded PNG images). The vignettes that use
# Fashion-MNIST are rendered a second time as if the data were missing: they
# must still build and say what they skipped. Prints one line per render;
# exits non-zero if any is too slow, fails, or shows no plot.
#
# Run from the package root with rustnn installed: Rscript tools/vignette_times.R
limit <- 60
work <- tempfile("vignettes-")
dir.create(work)
invisible(file.copy(list.files("vignettes", full.names = TRUE), work, recursive = TRUE))

render_one <- function(rmd, without_data = FALSE) {
  if (without_data) {
    old <- options(rustnn.fashion_mnist_path = file.path(work, "no-such-directory"))
    on.exit(options(old))
  }
  seconds <- system.time(
    ok <- tryCatch({
      rmarkdown::render(file.path(work, rmd), quiet = TRUE, envir = new.env())
      TRUE
    }, error = function(e) {
      message(rmd, ": ", conditionMessage(e))
      FALSE
    })
  )[["elapsed"]]
  html <- file.path(work, sub("\\.Rmd$", ".html", rmd))
  text <- if (ok) paste(readLines(html, warn = FALSE), collapse = "\n") else ""
  images <- lengths(regmatches(text, gregexpr("<img src=\"data:image/png", text)))
  says_skipped <- grepl("were not found when this vignette was", text, fixed = TRUE)
  data.frame(vignette = rmd, data = if (without_data) "missing" else "present",
             seconds = round(seconds, 1), plots = images, built = ok,
             skip_noted = !without_data || says_skipped)
}

vignettes <- sort(list.files(work, pattern = "\\.Rmd$"))
uses_data <- vapply(vignettes, function(v) {
  any(grepl("fashion_mnist_available", readLines(file.path(work, v)), fixed = TRUE))
}, logical(1))
results <- rbind(do.call(rbind, lapply(vignettes, render_one)),
                 do.call(rbind, lapply(vignettes[uses_data], render_one, without_data = TRUE)))
print(results, row.names = FALSE)
bad <- !results$built | results$seconds >= limit | results$plots == 0 | !results$skip_noted
if (any(bad)) {
  cat("FAILED:", paste(results$vignette[bad], collapse = ", "), "\n")
  quit(status = 1)
}
cat(sprintf("%d renders of %d vignettes, each under %d s, each with plots\n",
            nrow(results), length(vignettes), limit))
