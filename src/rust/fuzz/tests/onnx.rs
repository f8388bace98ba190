//! ONNX files are untrusted: `rustnn_core::onnx::import` must return `Err`,
//! never panic, hang or allocate without bound, whatever the bytes; a model
//! it accepts must build into a network (or be refused by it) and predict
//! without panicking. Cases are two valid files (one exported by PyTorch,
//! kept as a fixture of the R tests, one written by `export` here) with
//! random bytes overwritten, inserted or cut, and random bytes.
//!
//! `RUSTNN_FUZZ_CASES` sets the number of cases per property (default 4000).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rustnn_core::onnx::{export, import, PortableModel};
use rustnn_core::{AnyNetwork, ColMajor, Dtype, LayerOptions, LayerSpec, Shape};
use rustnn_fuzz::gen::{edit, edited};

fn cases() -> u32 {
    std::env::var("RUSTNN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4000)
}

/// A CNN with every kind of layer the files hold, written by `export`.
fn exported() -> Vec<u8> {
    let window = |k, s, p| LayerOptions {
        kernel: [k, k],
        stride: Some([s, s]),
        padding: [p, p],
        ..Default::default()
    };
    let parts: Vec<(&str, usize, usize, LayerOptions)> = vec![
        ("conv2d", 1, 2, window(3, 1, 1)),
        ("batch_norm", 2, 0, LayerOptions::default()),
        ("gelu", 0, 0, LayerOptions::default()),
        ("max_pool2d", 0, 0, window(2, 2, 0)),
        ("avg_pool2d", 0, 0, window(1, 1, 0)),
        ("flatten", 0, 0, LayerOptions::default()),
        ("linear", 8, 3, LayerOptions::default()),
        (
            "leaky_relu",
            0,
            0,
            LayerOptions {
                alpha: Some(0.1),
                ..Default::default()
            },
        ),
        ("softmax", 0, 0, LayerOptions::default()),
    ];
    let specs: Vec<LayerSpec> = parts
        .iter()
        .map(|(k, i, o, opt)| LayerSpec::new(k, *i, *o, opt).unwrap())
        .collect();
    let net = AnyNetwork::new(Dtype::F32, &specs, Some(Shape::image(1, 4, 4))).unwrap();
    let mut model = PortableModel::from_network(&net).unwrap();
    for layer in &mut model.layers {
        for t in &mut layer.tensors {
            t.data
                .iter_mut()
                .enumerate()
                .for_each(|(k, v)| *v = (k as f64 * 0.37).sin());
        }
    }
    export(&model).unwrap()
}

fn seeds() -> Vec<Vec<u8>> {
    vec![
        include_bytes!("../../../../tests/testthat/fixtures/onnx/torch_cnn.onnx").to_vec(),
        exported(),
    ]
}

/// Reads `bytes`; a model read must build and predict, or be refused.
fn read(bytes: &[u8]) {
    let Ok(model) = import(bytes) else { return };
    let Ok(mut net) = model.to_network(Dtype::F32) else {
        return;
    };
    let Some(input) = model.input else { return };
    let width = input.size();
    if width > 4096 {
        return;
    }
    let data = vec![0.5; 2 * width];
    let x = ColMajor {
        data: &data,
        nrow: 2,
        ncol: width,
        image: (!input.is_flat()).then_some(input),
    };
    let _ = net.predict(x);
}

#[test]
fn the_seeds_read() {
    for seed in seeds() {
        let model = import(&seed).unwrap();
        assert!(model.to_network(Dtype::F64).is_ok());
    }
}

#[test]
fn damaged_onnx_files_are_errors_not_panics() {
    let seeds = seeds();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..seeds.len(), prop::collection::vec(edit(), 1..6));
    runner
        .run(&strategy, |(i, edits)| {
            read(&edited(seeds[i].clone(), &edits));
            Ok(())
        })
        .unwrap();
}

#[test]
fn random_bytes_are_not_onnx_files() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
            read(&bytes);
            Ok(())
        })
        .unwrap();
}
