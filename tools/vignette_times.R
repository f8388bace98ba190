# Renders every vignette in a temporary copy of vignettes/, and checks what
# R CMD build does not: that each one takes under 60 seconds and that its
# HTML shows its plots (embedded PNG images). Prints one line per vignette;
# exits non-zero if any is too slow, fails, or shows no plot.
#
# Run from the package root with rustnn installed: Rscript tools/vignette_times.R
limit <- 60
work <- tempfile("vignettes-")
dir.create(work)
invisible(file.copy(list.files("vignettes", full.names = TRUE), work, recursive = TRUE))

render_one <- function(rmd) {
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
  data.frame(vignette = rmd, seconds = round(seconds, 1), plots = images, built = ok)
}

results <- do.call(rbind, lapply(sort(list.files(work, pattern = "\\.Rmd$")), render_one))
print(results, row.names = FALSE)
bad <- !results$built | results$seconds >= limit | results$plots == 0
if (any(bad)) {
  cat("FAILED:", paste(results$vignette[bad], collapse = ", "), "\n")
  quit(status = 1)
}
cat(sprintf("all %d vignettes built, each under %d s, each with plots\n", nrow(results), limit))
