library(testthat)
library(rustnn)

test_check("rustnn")
