# Writes inst/AUTHORS: the authors, version and license of every vendored
# Rust crate, read from the [package] table of each crate's Cargo.toml.
# Called by tools/vendor.sh:  Rscript tools/authors.R VENDOR_DIR OUTPUT
# Fails if a crate's license does not offer one of the permissive licenses
# below, all compatible with rustnn's MIT license.

args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) == 2L)
vendor_dir <- args[[1]]
output <- args[[2]]

`%||%` <- function(a, b) if (length(a)) a else b

permissive <- c("MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "Zlib",
                "Unlicense", "Unicode-3.0", "Apache-2.0 WITH LLVM-exception")

# The [package] table of a normalized (vendored) Cargo.toml as a named list
# of strings; arrays such as `authors` keep all their elements.
package_fields <- function(manifest) {
  lines <- readLines(manifest, warn = FALSE)
  start <- match("[package]", lines)
  next_table <- which(grepl("^\\[", lines) & seq_along(lines) > start)
  end <- if (length(next_table)) next_table[[1]] - 1L else length(lines)
  text <- paste(lines[(start + 1L):end], collapse = "\n")
  fields <- regmatches(text, gregexpr("(?m)^[a-z-]+ = (\\[[^]]*\\]|\"[^\"]*\"|'[^']*')", text,
                                      perl = TRUE))[[1]]
  keys <- sub(" = .*", "", fields)
  values <- lapply(sub("^[a-z-]+ = ", "", fields), function(v) {
    quoted <- regmatches(v, gregexpr("\"[^\"]*\"|'[^']*'", v))[[1]]
    substring(quoted, 2L, nchar(quoted) - 1L)
  })
  stats::setNames(values, keys)
}

# TRUE when the SPDX expression offers a permissive license: some term of
# an OR is permissive, and for an AND (as in "(MIT OR Apache-2.0) AND
# Unicode-3.0") every part is.
license_ok <- function(expr) {
  expr <- gsub("/", " OR ", expr)
  parts <- strsplit(gsub("[()]", "", expr), " AND ", fixed = TRUE)[[1]]
  all(vapply(parts, function(p) any(trimws(strsplit(p, " OR ", fixed = TRUE)[[1]]) %in% permissive),
             logical(1)))
}

crates <- lapply(sort(list.files(vendor_dir)), function(dir) {
  f <- package_fields(file.path(vendor_dir, dir, "Cargo.toml"))
  list(name = f$name, version = f$version, license = f$license %||% "(none stated)",
       authors = f$authors %||% character())
})
bad <- Filter(function(c) !license_ok(c$license), crates)
if (length(bad)) {
  stop("Licenses not known to be compatible with MIT: ",
       paste(vapply(bad, function(c) paste(c$name, c$license), ""), collapse = "; "))
}

entry <- function(c) {
  authors <- if (length(c$authors)) paste(c$authors, collapse = ", ") else "its contributors (none listed)"
  c(sprintf("%s %s (license: %s)", c$name, c$version, c$license),
    paste0("  by ", authors), "")
}
header <- c(
  "rustnn is written by the rustnn developers.",
  "",
  "Its source package bundles the Rust crates below (src/rust/vendor.tar.xz),",
  "compiled into rustnn's shared library. They are the work of their authors,",
  "distributed under the licenses given, each of which allows their use in",
  "rustnn under its MIT license. The crates' full license texts are in the",
  "tarball, in each crate's directory.",
  "",
  sprintf("%d crates:", length(crates)),
  ""
)
writeLines(c(header, unlist(lapply(crates, entry))), output)
