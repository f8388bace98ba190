# rustnn's exported names beside those of the packages its users also load
# (fixtures/exports/, made by make-exports.sh from their NAMESPACE files).
# The only names shared are decided:
# * the generics package's generics, the same functions everywhere: fit(),
#   and tidy(), glance(), augment();
# * keras3's names for the same concepts: Layer, Loss, evaluate(),
#   save_model(), load_model() and the callback_*() functions, kept so that
#   code reads as keras3 code does (whichever package is attached last
#   provides them).

test_that("rustnn's exports clash with keras3, torch, brulee and parsnip only where decided", {
  ours <- getNamespaceExports("rustnn")
  from_generics <- Filter(function(name) {
    exists(name, envir = asNamespace("generics"), inherits = FALSE) &&
      identical(getExportedValue("rustnn", name), getExportedValue("generics", name))
  }, ours)
  expect_setequal(from_generics, c("fit", "tidy", "glance", "augment"))
  allowed <- list(
    keras3 = c(from_generics, "Layer", "Loss", "evaluate", "save_model", "load_model",
               grep("^callback_", ours, value = TRUE)),
    torch = from_generics, brulee = from_generics, parsnip = from_generics)
  for (pkg in names(allowed)) {
    theirs <- readLines(test_path("fixtures", "exports", paste0(pkg, ".txt")))
    expect_gt(length(theirs), 10 * (pkg != "brulee"))
    clash <- setdiff(intersect(ours, theirs), allowed[[pkg]])
    expect_identical(clash, character(), label = paste("names shared with", pkg))
  }
})
