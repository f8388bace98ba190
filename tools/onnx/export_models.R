# Step 1 of tools/onnx/make_fixtures.sh: writes the ONNX files of the test
# models (tests/testthat/helper-onnx.R) and their inputs into a directory,
# for make_fixtures.py to check with independent runtimes.
#   Rscript tools/onnx/export_models.R DIR   (rustnn installed in R_LIBS)
args <- commandArgs(trailingOnly = TRUE)
dir <- args[[1]]
suppressPackageStartupMessages(library(rustnn))
source(file.path("tests", "testthat", "helper-onnx.R"))
cases <- onnx_cases()
dims <- character()
for (name in names(cases)) {
  case <- cases[[name]]
  export_onnx(case$model, file.path(dir, paste0(name, ".onnx")))
  x <- case$x
  d <- dim(x)
  # Row-major (C order) float32, as numpy reads it.
  writeBin(as.vector(aperm(x, rev(seq_along(d)))), file.path(dir, paste0(name, ".input.f32")),
           size = 4, endian = "little")
  dims[name] <- paste(d, collapse = "x")
}
writeLines(paste(names(dims), dims, sep = ","), file.path(dir, "cases.csv"))
cat("export_models.R: wrote", length(cases), "models with rustnn", format(packageVersion("rustnn")), "\n")
