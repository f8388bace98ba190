use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, ModelProto, NodeProto,
    TensorProto,
};
use super::*;
use crate::any::Dtype;
use crate::layer::LayerOptions;
use crate::network::Network;
use crate::testing::{pseudo, pseudo_matrix};
use prost::Message;

/// A layer of `kind` with float32-exact pseudo-random tensors.
fn layer(kind: &str, i: usize, o: usize, options: LayerOptions, input: Shape) -> PortableLayer {
    let spec = LayerSpec::new(kind, i, o, &options).unwrap();
    let spec2 = spec.clone();
    let net = AnyNetwork::new(Dtype::F64, &[spec], Some(input)).unwrap();
    let tensors = net
        .params()
        .into_iter()
        .enumerate()
        .map(|(k, p)| {
            let mut data: Vec<f64> = pseudo(p.data.len(), k as f64 + 0.5)
                .into_iter()
                .map(|v| (v * 0.5) as f32 as f64)
                .collect();
            if p.name == "running_var" {
                data.iter_mut()
                    .for_each(|v| *v = (v.abs() + 0.5) as f32 as f64);
            }
            PortableTensor {
                name: p.name,
                shape: p.shape,
                data,
            }
        })
        .collect();
    PortableLayer {
        spec: spec2,
        tensors,
    }
}

/// A model of `parts` (kind, in, out, options) from `input`, shapes chained.
fn model(input: Shape, parts: &[(&str, usize, usize, LayerOptions)]) -> PortableModel {
    let mut shape = input;
    let mut layers = Vec::new();
    for (kind, i, o, options) in parts {
        let l = layer(kind, *i, *o, *options, shape);
        shape = l.spec.output_shape(shape).unwrap();
        layers.push(l);
    }
    PortableModel {
        input: Some(input),
        layers,
        producer: "rustnn".into(),
        ..Default::default()
    }
}

fn f64_net(m: &PortableModel) -> Network<f64> {
    match m.to_network(Dtype::F64).unwrap() {
        AnyNetwork::F64(n) => n,
        AnyNetwork::F32(_) => unreachable!(),
    }
}

fn predict(m: &PortableModel, rows: usize) -> ndarray::Array2<f64> {
    let x = pseudo_matrix(rows, m.input.unwrap().size(), 0.3);
    f64_net(m).predict(x.view()).unwrap()
}

fn opts() -> LayerOptions {
    LayerOptions::default()
}

fn window(k: usize, s: usize, p: usize) -> LayerOptions {
    LayerOptions {
        kernel: [k, k],
        stride: Some([s, s]),
        padding: [p, p],
        ..Default::default()
    }
}

fn alpha(a: f64) -> LayerOptions {
    LayerOptions {
        alpha: Some(a),
        ..Default::default()
    }
}

fn cnn() -> PortableModel {
    let bn = LayerOptions {
        eps: Some(1e-3),
        momentum: Some(0.25),
        ..Default::default()
    };
    model(
        Shape::image(2, 9, 8),
        &[
            ("conv2d", 2, 3, window(3, 1, 1)),
            ("batch_norm", 3, 0, bn),
            ("relu", 0, 0, opts()),
            ("max_pool2d", 0, 0, window(2, 2, 0)),
            (
                "conv2d",
                3,
                4,
                LayerOptions {
                    stride: Some([2, 1]),
                    ..window(2, 1, 0)
                },
            ),
            ("elu", 0, 0, alpha(0.7)),
            ("avg_pool2d", 0, 0, window(2, 1, 0)),
            ("dropout", 0, 0, opts()),
            ("flatten", 0, 0, opts()),
            ("linear", 8, 6, opts()), // 4 x 1 x 2
            ("softmax", 0, 0, opts()),
        ],
    )
}

#[test]
fn a_cnn_round_trips_with_the_same_predictions() {
    let m = cnn();
    let bytes = export(&m).unwrap();
    let back = import(&bytes).unwrap();
    assert_eq!(back.input, m.input);
    // Dropout is left out of the file.
    let kinds: Vec<&str> = back.layers.iter().map(|l| l.spec.kind()).collect();
    assert_eq!(
        kinds,
        [
            "conv2d",
            "batch_norm",
            "relu",
            "max_pool2d",
            "conv2d",
            "elu",
            "avg_pool2d",
            "flatten",
            "linear",
            "softmax"
        ]
    );
    let LayerSpec::BatchNorm { eps, momentum, .. } = back.layers[1].spec else {
        panic!()
    };
    assert!((eps - 1e-3).abs() < 1e-9 && (momentum - 0.25).abs() < 1e-6);
    assert_eq!(predict(&back, 7), predict(&m, 7));
    for (a, b) in back
        .layers
        .iter()
        .zip(m.layers.iter().filter(|l| l.spec.kind() != "dropout"))
    {
        assert_eq!(a.tensors, b.tensors, "{}", a.spec.kind());
    }
}

#[test]
fn every_activation_and_the_standardization_round_trip() {
    let input = Shape::flat(5);
    let mut parts = vec![("linear", 5, 4, opts())];
    for act in ["sigmoid", "tanh", "relu", "gelu", "softplus", "identity"] {
        parts.push((act, 0, 0, opts()));
    }
    parts.push(("leaky_relu", 0, 0, alpha(0.2)));
    parts.push(("batch_norm", 4, 0, opts()));
    parts.push(("linear", 4, 3, opts()));
    let mut m = model(input, &parts);
    m.center = Some(vec![1.0, 2.0, -3.0, 0.5, 0.0]);
    m.scale = Some(vec![2.0, 0.5, 1.0, 4.0, 1.0]);
    let back = import(&export(&m).unwrap()).unwrap();
    assert_eq!(back.center, m.center);
    assert_eq!(back.scale, m.scale);
    let kinds: Vec<&str> = back.layers.iter().map(|l| l.spec.kind()).collect();
    // Identity is left out of the file.
    assert_eq!(
        kinds,
        [
            "linear",
            "sigmoid",
            "tanh",
            "relu",
            "gelu",
            "softplus",
            "leaky_relu",
            "batch_norm",
            "linear"
        ]
    );
    assert_eq!(back.layers[6].spec, m.layers[7].spec);
    assert_eq!(predict(&back, 9), predict(&m, 9));
}

#[test]
fn the_output_rescaling_is_folded_into_the_last_linear_layer() {
    let mut m = model(
        Shape::flat(3),
        &[
            ("linear", 3, 2, opts()),
            ("tanh", 0, 0, opts()),
            ("linear", 2, 1, opts()),
        ],
    );
    m.output_scale = Some((4.0, -1.5));
    let back = import(&export(&m).unwrap()).unwrap();
    assert_eq!(back.layers.len(), 3);
    let want = predict(&m, 6).mapv(|y| y * 4.0 - 1.5);
    let got = predict(&back, 6);
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12));
}

#[test]
fn a_softmax_over_images_is_written_but_not_read() {
    let m = model(
        Shape::image(1, 3, 3),
        &[("conv2d", 1, 2, window(2, 1, 0)), ("softmax", 0, 0, opts())],
    );
    let bytes = export(&m).unwrap();
    let err = import(&bytes).unwrap_err();
    assert_eq!(err.what(), Some("Reshape"), "{err}");
}

#[test]
fn a_model_without_layers_is_an_identity() {
    let m = PortableModel {
        input: Some(Shape::flat(2)),
        ..Default::default()
    };
    let back = import(&export(&m).unwrap()).unwrap();
    assert!(back.layers.is_empty());
    assert_eq!(back.input, Some(Shape::flat(2)));
}

#[test]
fn unknown_input_shapes_and_bad_standardizations_are_refused() {
    let mut m = model(Shape::flat(2), &[("linear", 2, 1, opts())]);
    m.input = None;
    assert!(matches!(export(&m), Err(OnnxError::Invalid(_))));
    m.input = Some(Shape::flat(2));
    m.center = Some(vec![0.0]);
    m.scale = Some(vec![1.0]);
    assert!(matches!(export(&m), Err(OnnxError::Invalid(_))));
    m.center = Some(vec![0.0, 1e300]);
    m.scale = Some(vec![1.0, 1.0]);
    assert!(matches!(export(&m), Err(OnnxError::Invalid(_))));
}

// ---------------------------------------------------------------------------
// Files written by other exporters, made here by hand.

fn tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        float_data: values.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(i),
        ..Default::default()
    }
}

/// A model of `nodes` from input `x` (batch x `width`) to output `y`.
fn graph_model(width: usize, nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> Vec<u8> {
    let exported = export(&PortableModel {
        input: Some(Shape::flat(width)),
        ..Default::default()
    })
    .unwrap();
    let mut m = ModelProto::decode(exported.as_slice()).unwrap();
    let g = m.graph.as_mut().unwrap();
    g.input[0].name = Some("x".into());
    g.output[0].name = Some("y".into());
    g.node = nodes;
    g.initializer = inits;
    m.encode_to_vec()
}

#[test]
fn matmul_add_and_gemm_without_transposition_are_linear_layers() {
    // x (1 x 2) · W (2 x 3) + b, then Gemm(alpha 2, beta 0.5, transB 0).
    let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let nodes = vec![
        node("MatMul", &["x", "W"], "h", vec![]),
        node("Add", &["b", "h"], "h2", vec![]),
        node("Mul", &["h2", "two"], "h3", vec![]),
        node(
            "Gemm",
            &["h3", "V", "c"],
            "y",
            vec![
                AttributeProto {
                    name: Some("alpha".into()),
                    r#type: Some(AttributeType::Float as i32),
                    f: Some(2.0),
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("beta".into()),
                    r#type: Some(AttributeType::Float as i32),
                    f: Some(0.5),
                    ..Default::default()
                },
            ],
        ),
    ];
    let inits = vec![
        tensor("W", &[2, 3], &w),
        tensor("b", &[3], &[0.5, -1.0, 2.0]),
        tensor("two", &[], &[2.0]),
        tensor("V", &[3, 1], &[1.0, 1.0, -1.0]),
        tensor("c", &[1, 1], &[4.0]),
    ];
    let m = import(&graph_model(2, nodes, inits)).unwrap();
    assert_eq!(m.layers.len(), 2);
    let out = f64_net(&m)
        .predict(ndarray::array![[1.0, -1.0]].view())
        .unwrap();
    // h = [1-4, 2-5, 3-6] + b = [-2.5, -4, -1]; times 2: [-5, -8, -2];
    // y = 2 * (-5 - 8 + 2) + 0.5 * 4 = -20.
    assert_eq!(out[[0, 0]], -20.0);
}

#[test]
fn operators_outside_the_subset_are_named() {
    let nodes = vec![
        node("Relu", &["x"], "h", vec![]),
        node("LSTM", &["h"], "y", vec![]),
    ];
    let err = import(&graph_model(2, nodes, vec![])).unwrap_err();
    assert_eq!(err.what(), Some("LSTM"));
    assert!(err.to_string().contains("a LSTM node is outside"), "{err}");

    let nodes = vec![node("Relu", &["x"], "y", vec![int_attr("foo", 1)])];
    let err = import(&graph_model(2, nodes, vec![])).unwrap_err();
    assert!(err.to_string().contains("attribute foo"), "{err}");

    // A branch: x read twice.
    let nodes = vec![
        node("Relu", &["x"], "h", vec![]),
        node("Add", &["h", "x"], "y", vec![]),
    ];
    assert!(matches!(
        import(&graph_model(2, nodes, vec![])),
        Err(OnnxError::Unsupported { .. })
    ));

    // A grouped convolution, and max pooling with padding.
    let conv = |attrs| {
        let m = model(
            Shape::image(2, 5, 5),
            &[
                ("conv2d", 2, 2, window(3, 1, 0)),
                ("max_pool2d", 0, 0, window(2, 2, 0)),
            ],
        );
        let mut p = ModelProto::decode(export(&m).unwrap().as_slice()).unwrap();
        let g = p.graph.as_mut().unwrap();
        let n = g
            .node
            .iter_mut()
            .find(|n| n.op_type.as_deref() == Some("MaxPool"))
            .unwrap();
        n.attribute.retain(|a| a.name.as_deref() != Some("pads"));
        n.attribute.push(attrs);
        p.encode_to_vec()
    };
    let pads = AttributeProto {
        name: Some("pads".into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: vec![1, 1, 1, 1],
        ..Default::default()
    };
    assert!(import(&conv(pads))
        .unwrap_err()
        .to_string()
        .contains("pads its input"));
    assert!(import(&conv(int_attr("ceil_mode", 0))).is_ok());
    assert_eq!(
        import(&conv(int_attr("ceil_mode", 1))).unwrap_err().what(),
        Some("MaxPool")
    );
}

#[test]
fn files_that_are_not_models_are_errors_of_their_kind() {
    assert!(matches!(import(b""), Err(OnnxError::Invalid(_))));
    assert!(matches!(
        import(b"just some text, not a model\n"),
        Err(OnnxError::Invalid(_) | OnnxError::Truncated(_))
    ));
    assert!(matches!(import(&[0x08, 0x08]), Err(OnnxError::Invalid(_))));
    // Every prefix of a real file is an error, never a panic.
    let bytes = export(&cnn()).unwrap();
    for n in 0..bytes.len() {
        let err = import(&bytes[..n]).unwrap_err();
        assert!(
            matches!(err, OnnxError::Invalid(_) | OnnxError::Truncated(_)),
            "{n}: {err:?}"
        );
    }
    assert!(matches!(
        import(&bytes[..bytes.len() / 2]),
        Err(OnnxError::Truncated(_))
    ));
}

#[test]
fn tensors_whose_data_do_not_fit_their_dimensions_are_refused() {
    let nodes = vec![node("MatMul", &["x", "W"], "y", vec![])];
    for t in [
        tensor("W", &[2, 3], &[1.0; 5]),
        tensor("W", &[2, -3], &[1.0; 6]),
        tensor("W", &[1 << 40, 1 << 40], &[1.0]),
        tensor("W", &[2, 3], &[1.0, 1.0, f32::NAN, 1.0, 1.0, 1.0]),
    ] {
        assert!(matches!(
            import(&graph_model(2, nodes.clone(), vec![t])),
            Err(OnnxError::Invalid(_))
        ));
    }
    let mut t = tensor("W", &[2, 3], &[]);
    t.raw_data = Some(vec![0; 23]);
    assert!(matches!(
        import(&graph_model(2, nodes.clone(), vec![t])),
        Err(OnnxError::Invalid(_))
    ));
    let mut t = tensor("W", &[2, 3], &[1.0; 6]);
    t.data_type = Some(DataType::Float16 as i32);
    assert_eq!(
        import(&graph_model(2, nodes, vec![t])).unwrap_err().what(),
        Some("FLOAT16")
    );
}

#[test]
fn a_layer_written_in_r_is_refused_by_name() {
    use crate::custom::{CustomCompute, CustomDef};
    use ndarray::{Array2, ArrayView2};
    struct Nothing;
    impl CustomCompute for Nothing {
        fn forward(
            &mut self,
            input: ArrayView2<'_, f64>,
            _: &[Vec<f64>],
            _: bool,
        ) -> std::result::Result<Array2<f64>, String> {
            Ok(input.to_owned())
        }
        fn backward(
            &mut self,
            grad: ArrayView2<'_, f64>,
        ) -> std::result::Result<(Array2<f64>, Vec<Vec<f64>>), String> {
            Ok((grad.to_owned(), vec![]))
        }
    }
    let def = CustomDef::new("MyLayer", vec![], 2, Box::new(Nothing)).unwrap();
    let net = AnyNetwork::new(Dtype::F64, &[LayerSpec::Custom(def)], Some(Shape::flat(2))).unwrap();
    let err = PortableModel::from_network(&net).unwrap_err();
    assert_eq!(err.what(), Some("MyLayer"));
}
