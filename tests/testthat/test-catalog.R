# The engine declares each closed set of names once (rn_catalog()); the R
# side has a class or an argument for every name, and no name of its own.

test_that("every layer type of the engine has its R class, and no other", {
  classes <- rustnn:::layer_classes()
  expect_setequal(names(classes), rustnn:::catalog("layers"))
  for (type in names(classes)) {
    generator <- classes[[type]]
    layer <- switch(type,
      linear = generator$new(2, 3), conv2d = generator$new(1, 2, 3), batch_norm = generator$new(2),
      max_pool2d = , avg_pool2d = generator$new(2),
      generator$new())
    expect_identical(layer$.spec()$type, type)
  }
})

test_that("activations, losses, metrics, optimizers and schedules match the engine's", {
  is_activation <- function(g) identical(g$get_inherit()$classname, "Activation")
  activation_types <- vapply(Filter(is_activation, rustnn:::layer_classes()),
                             function(g) g$new()$.spec()$type, character(1))
  expect_setequal(activation_types, rustnn:::catalog("activations"))
  for (name in rustnn:::catalog("losses")) expect_identical(Loss$new(name)$name, name)
  expect_error(Loss$new("hinge"), class = "rustnn_error_argument")
  x <- matrix(c(0, 1, 0, 1), ncol = 1)
  model <- Sequential$new(Linear$new(1, 1), Sigmoid$new())
  for (name in rustnn:::catalog("metrics")) {
    expect_named(evaluate(model, x, factor(c(0, 1, 0, 1)), metrics = name), c("loss", name))
  }
  types <- vapply(rustnn:::optimizer_names(), function(g) g$new()$.description()$type, character(1))
  expect_setequal(unique(types), rustnn:::catalog("optimizers"))
  schedules <- list(callback_lr_step_decay(2), callback_lr_exponential_decay(0.9),
                    callback_lr_cosine(5), callback_reduce_lr_on_plateau())
  expect_setequal(vapply(schedules, `[[`, character(1), "type"), rustnn:::catalog("schedules"))
})

test_that("the facts about metrics come from the engine and decide R's rules", {
  metrics <- rustnn:::catalog("metrics")
  expect_true(all(rustnn:::catalog("class_metrics") %in% metrics))
  expect_setequal(rustnn:::catalog("class_metrics"), c("accuracy", "precision", "recall", "f1", "auc"))
  expect_setequal(setdiff(metrics, rustnn:::catalog("metrics_higher_is_better")), c("mae", "rmse"))
  expect_false(rustnn:::monitor_higher_is_better("val_loss"))
  expect_false(rustnn:::monitor_higher_is_better("rmse"))
  expect_true(rustnn:::monitor_higher_is_better("val_accuracy"))
})
