//! The strategies that generate fuzz cases: values, sizes, layer stacks,
//! losses, optimizers, training settings and the script of calls.

use proptest::prelude::*;
use rustnn_core::{
    Activation, EarlyStopping, LayerOptions, Lbfgs, Loss, Metric, OptimizerConfig, Schedule, Shape,
    Tracking,
};

// ---------------------------------------------------------------------------
// Values

/// Numbers that break naive numeric code.
pub const SPECIAL: [f64; 30] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MAX,
    f64::MIN,
    f64::MIN_POSITIVE,
    -f64::MIN_POSITIVE,
    5e-324,
    -5e-324,
    1e-310,
    1e30,
    -1e30,
    1e-30,
    -1e-30,
    1e300,
    -1e300,
    3.5e38, // beyond f32::MAX: infinite in float32
    1e-45,  // a float32 subnormal
    1e-40,
    f32::MAX as f64,
    0.999_999_999,
    1.000_000_1,
    709.8, // exp() overflows just above
    -745.2,
];

/// Sizes far above what the engine takes (`Shape::MAX_SIZE` values per
/// sample or tensor): refusing them must not allocate anything.
pub const HUGE: [usize; 6] = [
    1 << 36,
    1_000_000_000_000,
    1 << 40,
    1 << 62,
    usize::MAX / 2,
    usize::MAX,
];

fn special() -> impl Strategy<Value = f64> {
    prop::sample::select(SPECIAL.to_vec())
}

/// One input value: mostly ordinary numbers, sometimes special ones.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -3.0f64..3.0,
        1 => -1e4f64..1e4,
        2 => special(),
    ]
}

/// An ordinary finite value (some cases use only these, so that the shapes
/// of successful results can be checked on clean data too).
fn clean_value() -> impl Strategy<Value = f64> {
    prop_oneof![4 => -2.0f64..2.0, 1 => Just(0.0), 1 => -100.0f64..100.0]
}

/// A pool of values that a call's data is filled from, cycling.
#[derive(Debug, Clone)]
pub struct Values(pub Vec<f64>);

fn values() -> impl Strategy<Value = Values> {
    prop_oneof![
        3 => prop::collection::vec(clean_value(), 1..24).prop_map(Values),
        2 => prop::collection::vec(value(), 1..24).prop_map(Values),
    ]
}

impl Values {
    pub fn take(&self, n: usize, offset: usize) -> Vec<f64> {
        let v = &self.0;
        (0..n).map(|i| v[(i + offset) % v.len()]).collect()
    }
}

/// A hyper-parameter: usually in a sensible range, sometimes anything.
fn hyper() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0f64..1.0,
        1 => prop::sample::select(vec![0.0, 1e-8, 1e-3, 0.1, 0.5, 0.9, 0.999, 1.0, 2.0]),
        1 => -2.0f64..10.0,
        1 => special(),
    ]
}

fn maybe_hyper(p: f64) -> impl Strategy<Value = Option<f64>> {
    prop::option::weighted(p, hyper())
}

// ---------------------------------------------------------------------------
// Sizes

/// A width: taken from the layer below (so most stacks fit together), or
/// fixed (0, small, or absurd).
#[derive(Debug, Clone, Copy)]
pub enum Width {
    Chain,
    Fixed(usize),
}

fn huge() -> impl Strategy<Value = usize> {
    prop::sample::select(HUGE.to_vec())
}

fn fixed_width() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => Just(0usize),
        8 => 1usize..=8,
        2 => 9usize..=64,
        1 => huge(),
    ]
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![6 => Just(Width::Chain), 4 => fixed_width().prop_map(Width::Fixed)]
}

/// A kernel size, stride or padding: small (0 included), or absurd. Never
/// large-but-possible: a 1000 x 1000 kernel on a padded image is a real
/// workload, not a fuzz case.
fn window_size() -> impl Strategy<Value = usize> {
    prop_oneof![12 => 0usize..=4, 1 => huge()]
}

fn window_pair() -> impl Strategy<Value = [usize; 2]> {
    prop_oneof![
        3 => window_size().prop_map(|k| [k, k]),
        1 => (window_size(), window_size()).prop_map(|(a, b)| [a, b]),
    ]
}

/// A dimension of the input shape.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 10 => 1usize..=5, 3 => 6usize..=12, 1 => huge()]
}

#[derive(Debug, Clone, Copy)]
pub enum ShapeGene {
    Flat(usize),
    Image(usize, usize, usize),
}

impl ShapeGene {
    pub fn shape(self) -> Shape {
        match self {
            ShapeGene::Flat(k) => Shape::flat(k),
            ShapeGene::Image(c, h, w) => Shape::image(c, h, w),
        }
    }
}

fn shape_gene() -> impl Strategy<Value = ShapeGene> {
    prop_oneof![
        1 => dim().prop_map(ShapeGene::Flat),
        2 => (dim(), dim(), dim()).prop_map(|(c, h, w)| ShapeGene::Image(c, h, w)),
    ]
}

/// Rows of a batch: often 0 or 1, at most 16.
fn rows() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 2 => Just(1usize), 6 => 2usize..=16]
}

/// A dimension of a matrix handed to a call: what the call expects (from
/// the network or the previous call), or something else.
#[derive(Debug, Clone, Copy)]
pub enum Dim {
    Expected,
    Other(usize),
}

impl Dim {
    pub fn get(self, expected: usize) -> usize {
        match self {
            Dim::Expected => expected,
            Dim::Other(k) => k,
        }
    }
}

fn dim_choice(other: impl Strategy<Value = usize>) -> impl Strategy<Value = Dim> {
    prop_oneof![9 => Just(Dim::Expected), 1 => other.prop_map(Dim::Other)]
}

// ---------------------------------------------------------------------------
// Layers

const LAYER_KINDS: [&str; 22] = [
    "linear",
    "linear",
    "linear",
    "conv2d",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "flatten",
    "batch_norm",
    "dropout",
    "identity",
    "sigmoid",
    "tanh",
    "relu",
    "softmax",
    "leaky_relu",
    "elu",
    "gelu",
    "softplus",
    "relu",
    "swish", // unknown
    "",
];

#[derive(Debug, Clone)]
pub struct LayerGene {
    pub kind: &'static str,
    pub input: Width,
    pub output: usize,
    pub options: LayerOptions,
}

/// Options as the R layer classes make them: defaults, a small window.
fn sane_options() -> impl Strategy<Value = LayerOptions> {
    (
        prop::option::weighted(0.5, 1usize..=3),
        prop::option::weighted(0.3, 1usize..=2),
        prop::option::weighted(0.3, 0usize..=1),
        prop::option::weighted(0.3, 0.0f64..0.9),
        prop::option::weighted(0.2, 0.0f64..0.1),
    )
        .prop_map(|(k, stride, pad, rate, l2)| LayerOptions {
            rate,
            l2: l2.unwrap_or(0.0),
            kernel: [k.unwrap_or(2); 2],
            stride: stride.map(|s| [s, s]),
            padding: [pad.unwrap_or(0); 2],
            ..LayerOptions::default()
        })
}

fn layer_options() -> impl Strategy<Value = LayerOptions> {
    prop_oneof![3 => sane_options(), 1 => wild_options()]
}

/// Any options: random hyper-parameters, windows of any size.
fn wild_options() -> impl Strategy<Value = LayerOptions> {
    (
        (maybe_hyper(0.15), maybe_hyper(0.2)),
        (
            prop_oneof![5 => Just(0.0), 1 => hyper()],
            prop_oneof![5 => Just(0.0), 1 => hyper()],
        ),
        (
            window_pair(),
            prop::option::weighted(0.5, window_pair()),
            prop_oneof![2 => Just([0usize, 0]), 1 => window_pair()],
        ),
        (maybe_hyper(0.2), maybe_hyper(0.2)),
    )
        .prop_map(
            |((alpha, rate), (l1, l2), (kernel, stride, padding), (eps, momentum))| LayerOptions {
                alpha,
                rate,
                l1,
                l2,
                kernel,
                stride,
                padding,
                eps,
                momentum,
            },
        )
}

fn layer_gene() -> impl Strategy<Value = LayerGene> {
    (
        prop::sample::select(LAYER_KINDS.to_vec()),
        width(),
        fixed_width(),
        layer_options(),
    )
        .prop_map(|(kind, input, output, options)| LayerGene {
            kind,
            input,
            output,
            options,
        })
}

fn gene(kind: &'static str, input: Width, output: usize, options: LayerOptions) -> LayerGene {
    LayerGene {
        kind,
        input,
        output,
        options,
    }
}

fn activation_kind() -> impl Strategy<Value = &'static str> {
    prop::sample::select(Activation::NAMES.to_vec())
}

/// A block of a dense network: linear, then maybe an activation, batch
/// normalization and dropout.
fn dense_block() -> impl Strategy<Value = Vec<LayerGene>> {
    (
        1usize..=12,
        prop::option::weighted(0.8, activation_kind()),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
        sane_options(),
    )
        .prop_map(|(units, act, bn, dropout, options)| {
            let mut block = vec![gene("linear", Width::Chain, units, options)];
            if bn {
                block.push(gene("batch_norm", Width::Chain, 0, LayerOptions::default()));
            }
            if let Some(a) = act {
                block.push(gene(a, Width::Chain, 0, LayerOptions::default()));
            }
            if dropout {
                block.push(gene("dropout", Width::Chain, 0, options));
            }
            block
        })
}

/// A block of a convolutional network: convolution, activation, maybe
/// batch normalization and pooling.
fn conv_block() -> impl Strategy<Value = Vec<LayerGene>> {
    (
        1usize..=6,
        activation_kind(),
        prop::bool::weighted(0.25),
        prop::option::weighted(0.5, prop::sample::select(vec!["max_pool2d", "avg_pool2d"])),
        sane_options(),
        sane_options(),
    )
        .prop_map(|(channels, act, bn, pool, conv_options, pool_options)| {
            let mut block = vec![gene("conv2d", Width::Chain, channels, conv_options)];
            if bn {
                block.push(gene("batch_norm", Width::Chain, 0, LayerOptions::default()));
            }
            block.push(gene(act, Width::Chain, 0, LayerOptions::default()));
            if let Some(p) = pool {
                block.push(gene(p, Width::Chain, 0, pool_options));
            }
            block
        })
}

/// A side of an input image: mostly big enough for a few 2 x 2 windows.
fn image_side() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 1usize..=2, 5 => 3usize..=12]
}

/// A stack and the input shape it is built for: dense or convolutional
/// networks as R users build them, or anything at all.
fn stack() -> impl Strategy<Value = (Vec<LayerGene>, Option<ShapeGene>)> {
    let dense = (
        prop::collection::vec(dense_block(), 1..4),
        prop::option::weighted(0.5, (1usize..=10).prop_map(ShapeGene::Flat)),
    )
        .prop_map(|(blocks, shape)| (blocks.concat(), shape));
    let conv = (
        prop::collection::vec(conv_block(), 1..3),
        prop::option::weighted(0.7, dense_block()),
        (1usize..=3, image_side(), image_side()),
    )
        .prop_map(|(blocks, head, (c, h, w))| {
            let mut layers = blocks.concat();
            if let Some(head) = head {
                layers.push(gene("flatten", Width::Chain, 0, LayerOptions::default()));
                layers.extend(head);
            }
            (layers, Some(ShapeGene::Image(c, h, w)))
        });
    let random = (
        prop::collection::vec(layer_gene(), 0..6),
        prop::option::weighted(0.6, shape_gene()),
    );
    prop_oneof![2 => dense, 2 => conv, 2 => random]
}

// ---------------------------------------------------------------------------
// Losses, metrics, optimizers, training settings

#[derive(Debug, Clone)]
pub struct LossGene {
    pub name: &'static str,
    pub delta: Option<f64>,
}

fn loss_gene() -> impl Strategy<Value = LossGene> {
    let mut names = Loss::NAMES.to_vec();
    names.push("hinge");
    (prop::sample::select(names), maybe_hyper(0.2))
        .prop_map(|(name, delta)| LossGene { name, delta })
}

fn metric_names() -> impl Strategy<Value = Vec<&'static str>> {
    let mut names = Metric::NAMES.to_vec();
    names.push("top5");
    prop_oneof![
        2 => Just(Vec::new()),
        3 => prop::collection::vec(prop::sample::select(names), 1..4),
    ]
}

/// An optimizer as the R classes make one (valid hyper-parameters, some
/// extreme), or with any hyper-parameters at all.
fn optimizer() -> impl Strategy<Value = OptimizerConfig> {
    prop_oneof![3 => sane_optimizer(), 1 => sane_lbfgs(), 2 => wild_optimizer()]
}

/// L-BFGS as `LBFGS$new()` makes it, with few iterations and a short
/// history, so that cases stay fast.
fn sane_lbfgs() -> impl Strategy<Value = OptimizerConfig> {
    let lr = prop_oneof![3 => Just(1.0), 1 => 1e-3f64..2.0, 1 => Just(1e6)];
    let tolerance = prop_oneof![2 => Just(1e-7), 1 => Just(0.0), 1 => 0.0f64..1.0];
    (
        lr,
        1..6usize,
        1..8usize,
        tolerance.clone(),
        tolerance,
        1..6usize,
        any::<bool>(),
    )
        .prop_map(lbfgs_config)
}

/// An L-BFGS configuration from its settings, in the order of `Lbfgs`'s
/// fields.
fn lbfgs_config(
    (lr, max_iter, max_eval, tolerance_grad, tolerance_change, history_size, line_search): (
        f64,
        usize,
        usize,
        f64,
        f64,
        usize,
        bool,
    ),
) -> OptimizerConfig {
    OptimizerConfig::Lbfgs(Lbfgs {
        lr,
        max_iter,
        max_eval,
        tolerance_grad,
        tolerance_change,
        history_size,
        line_search,
    })
}

fn sane_optimizer() -> impl Strategy<Value = OptimizerConfig> {
    let lr = prop_oneof![4 => 1e-4f64..1.0, 1 => prop::sample::select(vec![1e-30, 10.0, 1e6])];
    let fraction = || prop_oneof![4 => 0.0f64..0.999, 1 => Just(0.0), 1 => Just(0.999_999)];
    let eps = prop_oneof![3 => Just(1e-8), 1 => 1e-12f64..1.0];
    let wd = prop_oneof![3 => Just(0.0), 1 => 0.0f64..0.1];
    (
        lr,
        fraction(),
        fraction(),
        fraction(),
        eps,
        wd,
        any::<bool>(),
        0..4u8,
    )
        .prop_map(|(lr, a, b, c, eps, weight_decay, flag, kind)| match kind {
            0 => OptimizerConfig::Sgd {
                lr,
                momentum: a,
                nesterov: flag && a > 0.0,
                weight_decay,
            },
            1 => OptimizerConfig::Adam {
                lr,
                beta1: a,
                beta2: b,
                eps,
                weight_decay,
                decoupled: flag,
            },
            2 => OptimizerConfig::RmsProp {
                lr,
                rho: b,
                eps,
                momentum: c,
            },
            _ => OptimizerConfig::Adagrad { lr, eps },
        })
}

fn wild_optimizer() -> impl Strategy<Value = OptimizerConfig> {
    prop_oneof![
        (hyper(), hyper(), any::<bool>(), hyper()).prop_map(
            |(lr, momentum, nesterov, weight_decay)| {
                OptimizerConfig::Sgd {
                    lr,
                    momentum,
                    nesterov,
                    weight_decay,
                }
            }
        ),
        (hyper(), hyper(), hyper(), hyper(), hyper(), any::<bool>()).prop_map(
            |(lr, beta1, beta2, eps, weight_decay, decoupled)| OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
            }
        ),
        (hyper(), hyper(), hyper(), hyper()).prop_map(|(lr, rho, eps, momentum)| {
            OptimizerConfig::RmsProp {
                lr,
                rho,
                eps,
                momentum,
            }
        }),
        (hyper(), hyper()).prop_map(|(lr, eps)| OptimizerConfig::Adagrad { lr, eps }),
        (
            hyper(),
            0..40usize,
            0..60usize,
            hyper(),
            hyper(),
            0..1500usize,
            any::<bool>()
        )
            .prop_map(lbfgs_config),
    ]
}

/// Optimizer state handed back from the host: none, buffers that fit the
/// network, or buffers of random lengths; any step count.
#[derive(Debug, Clone)]
pub struct StateGene {
    pub steps: u64,
    pub slots: SlotsGene,
}

#[derive(Debug, Clone)]
pub enum SlotsGene {
    Empty,
    Matching(Values),
    Random(Vec<usize>, Values),
}

fn state_gene() -> impl Strategy<Value = StateGene> {
    (
        prop_oneof![
            4 => Just(0u64),
            2 => 1u64..100,
            1 => prop::sample::select(vec![u64::MAX, u64::MAX - 1, 1 << 53, i64::MAX as u64]),
            1 => any::<u64>(),
        ],
        prop_oneof![
            4 => Just(SlotsGene::Empty),
            2 => values().prop_map(SlotsGene::Matching),
            1 => (prop::collection::vec(0usize..20, 0..6), values())
                .prop_map(|(l, v)| SlotsGene::Random(l, v)),
        ],
    )
        .prop_map(|(steps, slots)| StateGene { steps, slots })
}

fn monitor() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "loss",
        "val_loss",
        "accuracy",
        "val_accuracy",
        "auc",
        "val_mae",
        "lr",
        "nonsense",
    ])
    .prop_map(str::to_string)
}

fn patience() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0usize..4, 1 => Just(usize::MAX)]
}

fn early_stopping() -> impl Strategy<Value = Option<EarlyStopping>> {
    prop::option::weighted(
        0.25,
        (monitor(), patience(), hyper(), any::<bool>()).prop_map(
            |(monitor, patience, min_delta, restore_best)| EarlyStopping {
                monitor,
                patience,
                min_delta,
                restore_best,
            },
        ),
    )
}

fn step_count() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 4 => 1usize..5, 1 => Just(usize::MAX)]
}

/// Weight tracking, with bins from none (an error) to more than values.
fn tracking() -> impl Strategy<Value = Option<Tracking>> {
    prop::option::weighted(
        0.3,
        prop_oneof![1 => Just(0usize), 8 => 1usize..=30].prop_map(|bins| Tracking { bins }),
    )
}

fn schedule() -> impl Strategy<Value = Option<Schedule>> {
    prop::option::weighted(
        0.25,
        prop_oneof![
            (step_count(), hyper())
                .prop_map(|(step_size, gamma)| Schedule::Step { step_size, gamma }),
            hyper().prop_map(|gamma| Schedule::Exponential { gamma }),
            (step_count(), hyper()).prop_map(|(t_max, lr_min)| Schedule::Cosine { t_max, lr_min }),
            (monitor(), hyper(), patience(), hyper(), hyper()).prop_map(
                |(monitor, factor, patience, min_delta, lr_min)| Schedule::Plateau {
                    monitor,
                    factor,
                    patience,
                    min_delta,
                    lr_min,
                }
            ),
        ],
    )
}

// ---------------------------------------------------------------------------
// Calls

/// A batch of inputs: a matrix, or an image array when the network takes
/// images (`image`), of `rows` rows and the expected width or another.
#[derive(Debug, Clone)]
pub struct InputGene {
    pub rows: usize,
    pub cols: Dim,
    pub image: bool,
    /// Values missing (negative) or extra (positive) in the data.
    pub len_error: i8,
    pub values: Values,
}

fn input_gene() -> impl Strategy<Value = InputGene> {
    (
        rows(),
        dim_choice(0usize..=20),
        prop::bool::weighted(0.7),
        prop_oneof![12 => Just(0i8), 1 => -2i8..=2],
        values(),
    )
        .prop_map(|(rows, cols, image, len_error, values)| InputGene {
            rows,
            cols,
            image,
            len_error,
            values,
        })
}

/// Targets: as the loss wants them (shape from the network and the loss),
/// or of another shape; for sparse losses, class indices, some out of range.
#[derive(Debug, Clone)]
pub struct TargetGene {
    pub rows: Dim,
    pub cols: Dim,
    pub classes: bool,
    pub values: Values,
}

fn target_gene() -> impl Strategy<Value = TargetGene> {
    (
        dim_choice(0usize..=17),
        dim_choice(0usize..=6),
        prop::bool::weighted(0.5),
        values(),
    )
        .prop_map(|(rows, cols, classes, values)| TargetGene {
            rows,
            cols,
            classes,
            values,
        })
}

#[derive(Debug, Clone)]
pub struct FitGene {
    pub x: InputGene,
    pub y: TargetGene,
    pub weights: Option<(Dim, Values)>,
    pub validation: Option<(InputGene, TargetGene)>,
    pub loss: LossGene,
    pub optimizer: OptimizerConfig,
    pub state: StateGene,
    pub epochs: usize,
    pub batch_size: usize,
    pub shuffle: bool,
    pub seed: u64,
    pub metrics: Vec<&'static str>,
    pub early_stopping: Option<EarlyStopping>,
    pub schedule: Option<Schedule>,
    pub track: Option<Tracking>,
    pub threads: usize,
    /// The observer says stop after this many events.
    pub stop_after: Option<usize>,
}

fn fit_gene() -> impl Strategy<Value = FitGene> {
    (
        (
            input_gene(),
            target_gene(),
            prop::option::weighted(0.3, (dim_choice(0usize..=17), values())),
            prop::option::weighted(0.3, (input_gene(), target_gene())),
            loss_gene(),
        ),
        (optimizer(), state_gene()),
        (
            prop_oneof![1 => Just(0usize), 8 => 1usize..=4],
            prop_oneof![1 => Just(0usize), 6 => 1usize..=20, 1 => huge()],
            any::<bool>(),
            any::<u64>(),
        ),
        (metric_names(), early_stopping(), schedule(), tracking()),
        (threads(), prop::option::weighted(0.15, 0usize..6)),
    )
        .prop_map(
            |(
                (x, y, weights, validation, loss),
                (optimizer, state),
                (epochs, batch_size, shuffle, seed),
                (metrics, early_stopping, schedule, track),
                (threads, stop_after),
            )| FitGene {
                x,
                y,
                weights,
                validation,
                loss,
                optimizer,
                state,
                epochs,
                batch_size,
                shuffle,
                seed,
                metrics,
                early_stopping,
                schedule,
                track,
                threads,
                stop_after,
            },
        )
}

fn threads() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 6 => Just(1usize), 2 => Just(2usize), 1 => Just(3usize)]
}

const PARAM_NAMES: [&str; 7] = [
    "weight",
    "bias",
    "gamma",
    "beta",
    "running_mean",
    "running_var",
    "kernel",
];

#[derive(Debug, Clone)]
pub enum Op {
    /// Sets every parameter and buffer to data of the right length (so the
    /// network computes something), from `values`.
    InitParams(Values),
    /// One `set_param` with a random layer, name and length.
    SetParam {
        layer: usize,
        name: &'static str,
        len: Dim,
        values: Values,
    },
    Forward {
        x: InputGene,
        train: bool,
        seed: u64,
    },
    Backward {
        rows: Dim,
        cols: Dim,
        values: Values,
    },
    Predict {
        x: InputGene,
        threads: usize,
    },
    Step {
        optimizer: OptimizerConfig,
        state: StateGene,
    },
    Fit(Box<FitGene>),
    /// What R's manual training does: forward in training mode, the loss
    /// and its gradient on the output, backward, one optimizer step.
    TrainStep {
        x: InputGene,
        y: TargetGene,
        loss: LossGene,
        seed: u64,
        optimizer: OptimizerConfig,
        state: StateGene,
    },
    Loss {
        loss: LossGene,
        x: InputGene,
        y: TargetGene,
        weights: Option<(Dim, Values)>,
    },
    Metrics {
        names: Vec<&'static str>,
        x: InputGene,
        y: TargetGene,
    },
    /// Every read-only query: shapes, specs, params, grads, penalty, ...
    Inspect,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => values().prop_map(Op::InitParams),
        1 => (
            prop_oneof![4 => 0usize..8, 1 => huge()],
            prop::sample::select(PARAM_NAMES.to_vec()),
            dim_choice(0usize..30),
            values()
        )
            .prop_map(|(layer, name, len, values)| Op::SetParam {
                layer,
                name,
                len,
                values
            }),
        5 => (input_gene(), any::<bool>(), any::<u64>())
            .prop_map(|(x, train, seed)| Op::Forward { x, train, seed }),
        3 => (dim_choice(0usize..=17), dim_choice(0usize..=20), values())
            .prop_map(|(rows, cols, values)| Op::Backward { rows, cols, values }),
        3 => (input_gene(), threads()).prop_map(|(x, threads)| Op::Predict { x, threads }),
        3 => (optimizer(), state_gene())
            .prop_map(|(optimizer, state)| Op::Step { optimizer, state }),
        5 => fit_gene().prop_map(|f| Op::Fit(Box::new(f))),
        4 => (
            (input_gene(), target_gene(), loss_gene(), any::<u64>()),
            (optimizer(), state_gene())
        )
            .prop_map(|((x, y, loss, seed), (optimizer, state))| Op::TrainStep {
                x,
                y,
                loss,
                seed,
                optimizer,
                state
            }),
        2 => (
            loss_gene(),
            input_gene(),
            target_gene(),
            prop::option::weighted(0.3, (dim_choice(0usize..=17), values()))
        )
            .prop_map(|(loss, x, y, weights)| Op::Loss { loss, x, y, weights }),
        2 => (metric_names(), input_gene(), target_gene())
            .prop_map(|(names, x, y)| Op::Metrics { names, x, y }),
        1 => Just(Op::Inspect),
    ]
}

/// One fuzz case: a network (layer stack, input shape, float type,
/// threads) and a short script of calls on it.
#[derive(Debug, Clone)]
pub struct Case {
    pub dtype: &'static str,
    pub layers: Vec<LayerGene>,
    pub input_shape: Option<ShapeGene>,
    pub threads: usize,
    pub ops: Vec<Op>,
}

pub fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec!["float64", "float32", "float64", "float32", "float16"]),
        stack(),
        threads(),
        prop::collection::vec(op(), 1..7),
    )
        .prop_map(|(dtype, (layers, input_shape), threads, ops)| Case {
            dtype,
            layers,
            input_shape,
            threads,
            ops,
        })
}

// ---------------------------------------------------------------------------
// Damaged files: a valid file's bytes overwritten, inserted or cut.

/// One change to a file's bytes (positions taken modulo its length).
#[derive(Debug, Clone)]
pub enum Edit {
    Set(usize, u8),
    Insert(usize, [u8; 4]),
    Cut(usize),
}

pub fn edited(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Set(at, b) => {
                if let Some(x) = bytes.get_mut(at % n) {
                    *x = b;
                }
            }
            Edit::Insert(at, word) => {
                let at = at % n;
                bytes.splice(at..at, word);
            }
            Edit::Cut(at) => bytes.truncate(at % n),
        }
    }
    bytes
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        8 => (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Set(a, b)),
        3 => (any::<usize>(), any::<[u8; 4]>()).prop_map(|(a, w)| Edit::Insert(a, w)),
        1 => any::<usize>().prop_map(Edit::Cut),
    ]
}
