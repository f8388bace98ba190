# Two commands, both idempotent and starting from a machine with only Rust:
#   make demo   set up, build, install, and train the tutorial networks
#   make test   set up, then run every test (Rust, testthat, R CMD check)
.PHONY: demo test setup document bench

demo:
	tools/demo.sh

test:
	tools/test.sh

setup:
	tools/setup.sh

document:
	Rscript tools/document.R

bench:
	Rscript bench/bench_vs_plain_r.R
	Rscript bench/bench_fashion_mnist.R
