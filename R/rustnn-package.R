#' rustnn: neural networks from scratch, at native speed
#'
#' Layers, activations, losses and optimizers are R6 objects that read like
#' the code of "neural network from scratch in R" tutorials. A [Sequential]
#' model keeps one Rust network; [fit()][fit.Sequential] runs the whole
#' training loop (epochs, shuffling, mini-batches, forward, loss, backward,
#' optimizer step) inside it.
#'
#' @section Where to start:
#' | to ... | use |
#' |---|---|
#' | build a network | [Sequential], [Linear], [Dropout], [BatchNorm], [Conv2d], [MaxPool2d], [Flatten]; activations such as [ReLU], [Tanh], [Sigmoid], [Softmax] |
#' | train it | [fit()][fit.Sequential] (matrices, data frames, formulas, image arrays); optimizers [SGD], [Adam], [AdamW], [RMSprop], [Adagrad]; [losses] |
#' | watch or steer training | [callback_early_stopping()], [callback_model_checkpoint()], [callback_csv_logger()], the [lr_schedules], [callback_epoch_end()]; `fit(track = "weights")` |
#' | use the model | [predict()][predict.Sequential], [evaluate()], [confusion_matrix()], [summary()][summary.Sequential] |
#' | see it | [plot()][plot.rustnn_history] of a history, `plot(model)`, [plot_decision_boundary()], [plot_feature_maps()] |
#' | check backpropagation | [grad_check()], `model$forward(x, keep = TRUE)`, `model$backward(g, keep = TRUE)` |
#' | train step by step, as the tutorials do | `model$forward()`, `loss$grad()`, `model$backward()`, `optimizer$step(model)` (see [Sequential]) |
#' | cross-validate, tune, ensemble, on any `future` backend | [cross_validate()], [tune_cv()], [best_params()], [fit_ensemble()], [as_ensemble()] |
#' | save and load | [save_model()], [load_model()] (or [saveRDS()]) |
#' | deploy outside R, bring in PyTorch models | [export_onnx()], [import_onnx()] (ONNX files) |
#' | get data | [planar_flower()], [load_fashion_mnist()], [read_idx()] |
#' | keep data in the engine (converted once, read from IDX or CSV files, or from a file larger than memory) | [rustnn_dataset()], [dataset_idx()], [dataset_csv()], [dataset_write()], [dataset_open()] |
#'
#' The vignettes follow the tutorials step by step:
#' `browseVignettes("rustnn")` (they are installed when the package is
#' installed from a tarball made by `R CMD build`, as the README says).
#'
#' @section Options:
#' * `rustnn.threads`: threads used by `fit()` and `predict()` (default: the
#'   machine's cores, at most 2 when `_R_CHECK_LIMIT_CORES_` is set).
#' * `rustnn.verbose`: default of `fit()`'s `verbose` (default: `interactive()`).
#'
"_PACKAGE"

#' @importFrom R6 R6Class
#' @importFrom rlang %||% .data
NULL

#' Train a model
#'
#' `fit()` is the generic of the generics package, re-exported. For a
#' rustnn model it is [fit()][fit.Sequential] for [Sequential] models,
#' whose page documents the arguments: data, loss, optimizer, epochs,
#' batch size, validation, metrics, callbacks.
#'
#' @param object A model.
#' @param ... Arguments for the method: see [fit.Sequential()].
#' @return See [fit.Sequential()].
#' @name fit
#' @usage fit(object, ...)
#' @importFrom generics fit
#' @export fit
#' @examples
#' model <- Sequential$new(Linear$new(1, 1))
#' x <- matrix(1:10, ncol = 1)
#' history <- fit(model, x, 2 * x + 1, epochs = 5, verbose = 0)
NULL

#' @importFrom generics tidy
#' @export
generics::tidy

#' @importFrom generics glance
#' @export
generics::glance

#' @importFrom generics augment
#' @export
generics::augment

# The class factories (activation_class(), loss_class(), optimizer_class())
# write `initialize` methods outside R6Class(), where R CMD check cannot see
# that R6 provides `super` and `private` to them.
utils::globalVariables(c("super", "private", "self"))
