//! Times the training loop alone, without R, on synthetic data shaped like
//! the framework benchmark's workloads (bench/frameworks-workloads.csv):
//! `w2` planar 2-4-1 (320 rows, full batch, 1000 epochs), `w4` and `w5` the
//! Fashion-MNIST MLPs (60,000 x 784, one epoch), `w6` the CNN (10,000
//! images of 28 x 28, one epoch). For profiling, e.g.
//! `perf record cargo run --release --example train -- w5 2`.
//!
//! Usage: `cargo run --release --example train -- [w2|w4|w5|w6] [threads] [fits]`

use ndarray::Array2;
use rustnn_core::layer::{LayerOptions, LayerSpec};
use rustnn_core::loss::Loss;
use rustnn_core::network::Network;
use rustnn_core::optim::{Optimizer, OptimizerConfig};
use rustnn_core::parallel::Parallel;
use rustnn_core::shape::Shape;
use rustnn_core::train::{fit, Control, TrainConfig, TrainData};
use rustnn_core::ColMajor;
use std::time::Instant;

struct Workload {
    specs: Vec<LayerSpec>,
    input: Option<Shape>,
    rows: usize,
    classes: usize,
    epochs: usize,
    batch: usize,
    loss: &'static str,
    optimizer: OptimizerConfig,
}

fn spec(kind: &str, i: usize, o: usize) -> LayerSpec {
    LayerSpec::from_parts(kind, i, o).expect("spec")
}

fn workload(name: &str) -> Workload {
    let sgd = |lr| OptimizerConfig::Sgd {
        lr,
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    };
    let mlp = |hidden, act| {
        vec![
            spec("linear", 784, hidden),
            spec(act, 0, 0),
            spec("linear", hidden, 10),
            spec("softmax", 0, 0),
        ]
    };
    match name {
        "w2" => Workload {
            specs: vec![
                spec("linear", 2, 4),
                spec("tanh", 0, 0),
                spec("linear", 4, 1),
                spec("sigmoid", 0, 0),
            ],
            input: None,
            rows: 320,
            classes: 1,
            epochs: 1000,
            batch: 320,
            loss: "bce",
            optimizer: sgd(1.2),
        },
        "w4" => Workload {
            specs: mlp(100, "sigmoid"),
            input: None,
            rows: 60_000,
            classes: 10,
            epochs: 1,
            batch: 32,
            loss: "cross_entropy",
            optimizer: sgd(0.1),
        },
        "w6" => {
            let conv = LayerOptions {
                kernel: [3, 3],
                ..Default::default()
            };
            let pool = LayerOptions {
                kernel: [2, 2],
                ..Default::default()
            };
            Workload {
                specs: vec![
                    LayerSpec::new("conv2d", 1, 16, &conv).expect("conv"),
                    spec("relu", 0, 0),
                    LayerSpec::new("max_pool2d", 0, 0, &pool).expect("pool"),
                    spec("flatten", 0, 0),
                    spec("linear", 2704, 10),
                    spec("softmax", 0, 0),
                ],
                input: Some(Shape::image(1, 28, 28)),
                rows: 10_000,
                classes: 10,
                epochs: 1,
                batch: 64,
                loss: "cross_entropy",
                optimizer: OptimizerConfig::Adam {
                    lr: 1e-3,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: 0.0,
                    decoupled: false,
                },
            }
        }
        _ => Workload {
            specs: mlp(512, "relu"),
            input: None,
            rows: 60_000,
            classes: 10,
            epochs: 1,
            batch: 128,
            loss: "cross_entropy",
            optimizer: OptimizerConfig::RmsProp {
                lr: 1e-3,
                rho: 0.99,
                eps: 1e-8,
                momentum: 0.0,
            },
        },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("w5", String::as_str);
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let fits: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let w = workload(name);
    let mut par = Parallel::default();
    par.set_threads(threads).expect("threads");
    let cols = w
        .input
        .or(w.specs[0].implied_input())
        .map_or(0, Shape::size);
    // The conversion every fit() from R starts with: R's column-major
    // doubles to the engine's row-major f32.
    let col_major: Vec<f64> = (0..w.rows * cols)
        .map(|i| ((i * 7919) % 256) as f64 / 255.0)
        .collect();
    let t = Instant::now();
    let x = ColMajor::new(&col_major, w.rows, cols)
        .and_then(|m| m.to_array_with::<f32>(&par))
        .expect("conversion");
    println!(
        "{name}: conversion of {} x {cols}: {:.4} s",
        w.rows,
        t.elapsed().as_secs_f64()
    );
    let y = Array2::from_shape_fn((w.rows, w.classes), |(i, j)| {
        let class = (i * 31 + i / 7) % w.classes.max(2);
        f32::from(u8::from(class == j || (w.classes == 1 && class == 1)))
    });
    for run in 0..fits {
        let mut net = Network::<f32>::new(&w.specs, w.input).expect("network");
        net.parallel.set_threads(threads).expect("threads");
        for layer in net.layers_mut() {
            for p in layer.params_mut() {
                for (i, v) in p.data.iter_mut().enumerate() {
                    *v = ((i as f32 * 0.618).fract() - 0.5) * 0.1;
                }
            }
        }
        let mut opt = Optimizer::new(w.optimizer).expect("optimizer");
        let cfg = TrainConfig::new(w.epochs, w.batch, true, run as u64);
        let loss = Loss::from_name(w.loss).expect("loss");
        let t = Instant::now();
        let data = TrainData::new(x.view(), y.view());
        let report = fit(&mut net, &data, loss, &mut opt, &cfg, &mut |_| {
            Control::Continue
        })
        .expect("fit");
        println!(
            "{name} threads {threads}: {:.3e} s/epoch, final loss {:.4}",
            t.elapsed().as_secs_f64() / w.epochs as f64,
            report.history.last().map_or(f64::NAN, |h| h[0])
        );
    }
}
