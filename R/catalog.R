# The engine's closed sets of names: layer types, activations, losses,
# metrics, optimizers, schedules, and the tensors that are buffers (moved by
# training, not trained: batch normalization's running statistics). The core declares each once
# (src/rust/core/src/catalog.rs); R reads them from there, once per
# session, instead of keeping lists of its own. tests/testthat/test-catalog.R
# checks that every name has its R class or argument.

# Package-level memo: the catalog, the core count, and `session`, a token
# of this R session that models hold beside their engine pointer: a copy
# read back by readRDS() holds a copy of the token, not the token, so a
# model knows without a call into the engine that its pointer is NULL.
the <- new.env(parent = emptyenv())
the$session <- new.env(parent = emptyenv())
the$losses <- list()

#' One of the engine's sets of names: "layers", "activations", "losses",
#' "metrics", "class_metrics" (those that compare classes),
#' "metrics_higher_is_better", "optimizers", "schedules" or "buffers".
#' @noRd
catalog <- function(set) {
  if (is.null(the$catalog)) the$catalog <- rn_catalog()
  the$catalog[[set]]
}
