//! The fuzz run as a test: random cases until the time budget is spent.
//!
//! * `RUSTNN_FUZZ_SECONDS` (default 40): wall-time budget of the cases.
//! * `RUSTNN_FUZZ_SEED`: the base seed (default: drawn from the clock, and
//!   printed, so a failing run can be repeated).
//! * `RUSTNN_FUZZ_CASES`: run exactly this many cases instead of a time
//!   budget; with a fixed seed the run is reproducible.
//!
//! Run with `--nocapture` to see the case count and per-call coverage.

use rustnn_fuzz::{run, RunConfig};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}")),
    )
}

#[test]
fn no_panic_escapes_the_api() {
    let seed = env_u64("RUSTNN_FUZZ_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let cfg = RunConfig {
        budget: Duration::from_secs(env_u64("RUSTNN_FUZZ_SECONDS").unwrap_or(40)),
        max_cases: env_u64("RUSTNN_FUZZ_CASES"),
        seed,
        batch_cases: 256,
        source_file: file!(),
        regressions: "proptest-regressions/api.txt",
        hang_after: Duration::from_secs(env_u64("RUSTNN_FUZZ_HANG_SECONDS").unwrap_or(60)),
    };
    println!("rustnn fuzz: seed {seed} (set RUSTNN_FUZZ_SEED={seed} to repeat)");
    match run(&cfg) {
        Ok(stats) => {
            println!("{stats}");
            for (message, n) in rustnn_fuzz::top_errors(40) {
                println!("{n:>8}  {message}");
            }
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// Sizes far beyond what the engine takes are refused when the network is
/// built, before anything is allocated (an allocation that fails aborts
/// the process, and R with it). None of these may take memory or time.
#[test]
fn absurd_sizes_are_errors_not_aborts() {
    use rustnn_core::{AnyNetwork, Dtype, LayerOptions, LayerSpec, Shape};
    let spec = |kind: &str, i: usize, o: usize, options: LayerOptions| {
        LayerSpec::new(kind, i, o, &options).unwrap()
    };
    let plain = LayerOptions::default();
    let window = |k: usize, p: usize| LayerOptions {
        kernel: [k, k],
        padding: [p, p],
        ..LayerOptions::default()
    };
    let cases: Vec<(Vec<LayerSpec>, Option<Shape>)> = vec![
        // 10^13 weights.
        (vec![spec("linear", 1_000_000_000_000, 10, plain)], None),
        // 2^62 weights: more than memory can address.
        (vec![spec("linear", 1 << 31, 1 << 31, plain)], None),
        (vec![spec("linear", 1 << 40, 1 << 40, plain)], None),
        // A 1000 x 1000 kernel over a padded 316 x 316 image: each sample
        // would unfold into 10^11 values, though weights and output are small.
        (
            vec![spec("conv2d", 1, 1, window(1000, 500))],
            Some(Shape::image(1, 316, 316)),
        ),
        // Kernel area and padding beyond what a usize can count.
        (
            vec![spec("conv2d", 4, 1, window(1 << 40, 1 << 39))],
            Some(Shape::image(4, 3, 3)),
        ),
        (
            vec![spec("conv2d", 1, 1, window(2, usize::MAX))],
            Some(Shape::image(1, 3, 3)),
        ),
        // Batch normalization of 2^40 features.
        (
            vec![spec("batch_norm", 1 << 40, 0, plain)],
            Some(Shape::flat(1 << 40)),
        ),
        // Input shapes whose size cannot be counted, or is empty but huge.
        (
            vec![spec("flatten", 0, 0, plain)],
            Some(Shape::image(1 << 62, 4, 3)),
        ),
        (
            vec![spec("max_pool2d", 0, 0, window(1, 0))],
            Some(Shape::image(0, 1, 1 << 40)),
        ),
    ];
    for (specs, input) in cases {
        for dtype in [Dtype::F32, Dtype::F64] {
            let built = AnyNetwork::new(dtype, &specs, input);
            assert!(built.is_err(), "{specs:?} on {input:?} was built");
        }
    }
}

/// The failures the fuzzer found, as plain calls (the seeds in
/// proptest-regressions/api.txt replay them only while the strategies stay
/// the same). Each returned an error or a value here once fixed; before,
/// each panicked, aborted or hung.
#[test]
fn fixed_bugs_stay_fixed() {
    use rustnn_core::any::{loss_value_and_grad, metric_values};
    use rustnn_core::{
        AnyNetwork, ColMajor, Dtype, LayerSpec, Loss, Metric, Mode, OptimizerConfig, Shape,
    };
    let spec = |kind: &str, i: usize, o: usize| LayerSpec::from_parts(kind, i, o).unwrap();
    let sgd = OptimizerConfig::Sgd {
        lr: 0.1,
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    };

    // An optimizer step count at u64::MAX (R passes steps as a double):
    // `steps + 1` overflowed.
    let mut net = AnyNetwork::new(Dtype::F64, &[spec("linear", 2, 1)], None).unwrap();
    assert!(net.step(sgd, (u64::MAX, vec![])).is_err());
    assert_eq!(net.step(sgd, (u64::MAX - 1, vec![])).unwrap().0, u64::MAX);

    // An input shape whose size overflows: Shape::size() overflowed.
    let huge_input = Shape::image(1, 3, usize::MAX / 2);
    assert!(AnyNetwork::new(Dtype::F64, &[spec("linear", 2, 1)], Some(huge_input)).is_err());

    // Layer usize::MAX in set_param: the message's `layer + 1` overflowed.
    assert!(net.set_param(usize::MAX, "weight", &[1.0]).is_err());

    // Flatten before the first linear layer, no input shape: the input
    // width was left unchecked, and a 3-column input hit an ndarray
    // broadcast panic in the flatten layer.
    let mut net = AnyNetwork::new(
        Dtype::F32,
        &[spec("flatten", 0, 0), spec("linear", 4, 1)],
        None,
    )
    .unwrap();
    assert_eq!(net.shapes()[0], Some(Shape::flat(4)));
    let x3 = [0.5; 6];
    assert!(net
        .forward(ColMajor::new(&x3, 2, 3).unwrap(), Mode::Infer, 0)
        .is_err());
    let x4 = [0.5; 8];
    let out = net
        .forward(ColMajor::new(&x4, 2, 4).unwrap(), Mode::Infer, 0)
        .unwrap();
    assert_eq!((out.nrow, out.ncol), (2, 1));

    // Sparse targets for predictions with no columns: the message's
    // `cols - 1` overflowed.
    let none: [f64; 0] = [];
    let k = [0.0];
    assert!(loss_value_and_grad(
        Loss::SparseCrossEntropy,
        ColMajor::new(&none, 1, 0).unwrap(),
        ColMajor::new(&k, 1, 1).unwrap(),
        None,
    )
    .is_err());

    // AUC with a NaN score looped forever.
    let p = [0.9, f64::NAN, 0.2, 0.4];
    let y = [1.0, 0.0, 1.0, 0.0];
    let auc = metric_values(
        &[Metric::Auc],
        ColMajor::new(&p, 4, 1).unwrap(),
        ColMajor::new(&y, 4, 1).unwrap(),
    )
    .unwrap();
    assert!(auc[0].is_nan());
}
