//! A [`PortableModel`] written as an ONNX model (IR version 8, opset 17):
//! one node (or a few) per layer, float32 weights, a batch dimension left
//! free (`"batch"`), the input called `input` and the output `output`.

use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::{
    invalid, OnnxError, OnnxResult, PortableLayer, PortableModel, INPUT_NAME, IR_VERSION, OPSET,
    OUTPUT_NAME,
};
use crate::activation::Activation;
use crate::layer::LayerSpec;
use crate::pool::PoolKind;
use crate::shape::Shape;
use prost::Message;

/// The file's bytes.
pub fn export(model: &PortableModel) -> OnnxResult<Vec<u8>> {
    let input = model.input.ok_or_else(|| {
        invalid!("the shape of the model's input is not known yet: give `input_shape` to Sequential$new(), or pass data through the model once")
    })?;
    let mut g = Graph::default();
    let mut cur = INPUT_NAME.to_string();
    let mut shape = input;
    if let (Some(center), Some(scale)) = (&model.center, &model.scale) {
        if !input.is_flat() || center.len() != input.size() || scale.len() != input.size() {
            return Err(invalid!(
                "the input's standardization has {} values, but the model takes {}",
                center.len(),
                input
            ));
        }
        let c = g.constant("center", vec![center.len()], center)?;
        cur = g.node("Sub", vec![cur, c], vec![]);
        let s = g.constant("scale", vec![scale.len()], scale)?;
        cur = g.node("Div", vec![cur, s], vec![]);
    }
    for (i, layer) in model.layers.iter().enumerate() {
        cur = layer_nodes(&mut g, layer, i, cur, shape)?;
        shape = layer
            .spec
            .output_shape(shape)
            .map_err(|e| invalid!("layer {} ({}) {e}", i + 1, layer.spec.kind()))?;
    }
    if let Some((scale, shift)) = model.output_scale {
        let s = g.constant("output_scale", vec![], &[scale])?;
        cur = g.node("Mul", vec![cur, s], vec![]);
        let b = g.constant("output_shift", vec![], &[shift])?;
        cur = g.node("Add", vec![cur, b], vec![]);
    }
    match g.nodes.last_mut() {
        Some(last) if cur != INPUT_NAME => last.output = vec![OUTPUT_NAME.to_string()],
        _ => {
            g.node("Identity", vec![cur], vec![]);
            if let Some(last) = g.nodes.last_mut() {
                last.output = vec![OUTPUT_NAME.to_string()];
            }
        }
    }
    let graph = GraphProto {
        node: g.nodes,
        name: Some("rustnn".into()),
        initializer: g.initializers,
        input: vec![value_info(INPUT_NAME, input)],
        output: vec![value_info(OUTPUT_NAME, shape)],
        ..Default::default()
    };
    let proto = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some(model.producer.clone()),
        producer_version: Some(model.producer_version.clone()),
        graph: Some(graph),
        metadata_props: model
            .metadata
            .iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect(),
        ..Default::default()
    };
    Ok(proto.encode_to_vec())
}

/// Appends the nodes of layer `i` (0-based), which reads `cur` of shape
/// `shape`; returns the name of its output.
fn layer_nodes(
    g: &mut Graph,
    layer: &PortableLayer,
    i: usize,
    cur: String,
    shape: Shape,
) -> OnnxResult<String> {
    let flat = |g: &mut Graph, cur: String| {
        if shape.is_flat() {
            cur
        } else {
            g.node("Flatten", vec![cur], vec![attr_int("axis", 1)])
        }
    };
    Ok(match &layer.spec {
        LayerSpec::Linear {
            in_features,
            out_features,
            ..
        } => {
            let cur = flat(g, cur);
            // R's in x out matrix, column-major, is ONNX's out x in
            // row-major: Gemm with transB = 1, as PyTorch writes Linear.
            let w = layer.tensor("weight")?;
            let w = g.constant(
                &format!("linear_{}_weight", i + 1),
                vec![*out_features, *in_features],
                &w.data,
            )?;
            let b = layer.tensor("bias")?;
            let b = g.constant(
                &format!("linear_{}_bias", i + 1),
                vec![*out_features],
                &b.data,
            )?;
            g.node("Gemm", vec![cur, w, b], vec![attr_int("transB", 1)])
        }
        LayerSpec::Activation(a) => activation_nodes(g, *a, cur, shape)?,
        // Dropout does nothing at inference.
        LayerSpec::Dropout { .. } => cur,
        LayerSpec::Conv2d { window, .. } => {
            let w = layer.tensor("weight")?;
            let w = g.constant(
                &format!("conv2d_{}_weight", i + 1),
                w.shape.clone(),
                &w.row_major(),
            )?;
            let b = layer.tensor("bias")?;
            let b = g.constant(&format!("conv2d_{}_bias", i + 1), b.shape.clone(), &b.data)?;
            let [ph, pw] = window.padding;
            g.node(
                "Conv",
                vec![cur, w, b],
                vec![
                    attr_ints("kernel_shape", &window.kernel),
                    attr_ints("strides", &window.stride),
                    attr_ints("pads", &[ph, pw, ph, pw]),
                    attr_ints("dilations", &[1, 1]),
                    attr_int("group", 1),
                ],
            )
        }
        LayerSpec::Pool2d { kind, window } => {
            let mut attrs = vec![
                attr_ints("kernel_shape", &window.kernel),
                attr_ints("strides", &window.stride),
                attr_ints("pads", &[0, 0, 0, 0]),
            ];
            let op = match kind {
                PoolKind::Max => "MaxPool",
                PoolKind::Average => {
                    attrs.push(attr_int("count_include_pad", 0));
                    "AveragePool"
                }
            };
            g.node(op, vec![cur], attrs)
        }
        LayerSpec::Flatten => flat(g, cur),
        LayerSpec::BatchNorm { eps, momentum, .. } => {
            let mut inputs = vec![cur];
            for name in ["gamma", "beta", "running_mean", "running_var"] {
                let t = layer.tensor(name)?;
                inputs.push(g.constant(
                    &format!("batch_norm_{}_{name}", i + 1),
                    vec![t.data.len()],
                    &t.data,
                )?);
            }
            // ONNX's momentum weighs the running statistics, PyTorch's
            // (and rustnn's) the batch's; only training reads it.
            g.node(
                "BatchNormalization",
                inputs,
                vec![
                    attr_float("epsilon", *eps),
                    attr_float("momentum", 1.0 - momentum),
                ],
            )
        }
        LayerSpec::Custom(def) => {
            return Err(OnnxError::unsupported(
                def.name.clone(),
                format!(
                    "layer {} is a {}, written in R: ONNX files hold only the built-in layers",
                    i + 1,
                    def.name
                ),
            ))
        }
    })
}

fn activation_nodes(g: &mut Graph, a: Activation, cur: String, shape: Shape) -> OnnxResult<String> {
    Ok(match a {
        Activation::Identity => cur,
        Activation::Sigmoid => g.node("Sigmoid", vec![cur], vec![]),
        Activation::Tanh => g.node("Tanh", vec![cur], vec![]),
        Activation::Relu => g.node("Relu", vec![cur], vec![]),
        Activation::LeakyRelu { alpha } => {
            g.node("LeakyRelu", vec![cur], vec![attr_float("alpha", alpha)])
        }
        Activation::Elu { alpha } => g.node("Elu", vec![cur], vec![attr_float("alpha", alpha)]),
        Activation::Softplus => g.node("Softplus", vec![cur], vec![]),
        // 0.5 * x * (1 + erf(x / sqrt(2))), as PyTorch writes GELU below
        // opset 20.
        Activation::Gelu => {
            let sqrt2 = g.constant("gelu_sqrt2", vec![], &[std::f64::consts::SQRT_2])?;
            let one = g.constant("gelu_one", vec![], &[1.0])?;
            let half = g.constant("gelu_half", vec![], &[0.5])?;
            let t = g.node("Div", vec![cur.clone(), sqrt2], vec![]);
            let e = g.node("Erf", vec![t], vec![]);
            let a = g.node("Add", vec![e, one], vec![]);
            let m = g.node("Mul", vec![cur, a], vec![]);
            g.node("Mul", vec![m, half], vec![])
        }
        Activation::Softmax if shape.is_flat() => {
            g.node("Softmax", vec![cur], vec![attr_int("axis", 1)])
        }
        // Over all the values of each sample, kept in its image shape.
        Activation::Softmax => {
            let f = g.node("Flatten", vec![cur], vec![attr_int("axis", 1)]);
            let s = g.node("Softmax", vec![f], vec![attr_int("axis", 1)]);
            let dims = [
                -1,
                shape.channels as i64,
                shape.height as i64,
                shape.width as i64,
            ];
            let d = g.int_constant("image_shape", &dims);
            g.node("Reshape", vec![s, d], vec![])
        }
    })
}

/// The nodes and initializers being written, with fresh names.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    count: usize,
}

impl Graph {
    /// `op` of `inputs`, with one output, whose (fresh) name is returned.
    fn node(&mut self, op: &str, inputs: Vec<String>, attribute: Vec<AttributeProto>) -> String {
        self.count += 1;
        let name = format!("{}_{}", op.to_lowercase(), self.count);
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![name.clone()],
            name: Some(name.clone()),
            op_type: Some(op.to_string()),
            attribute,
            ..Default::default()
        });
        name
    }

    /// A float32 initializer of row-major `data`; its name is returned.
    /// Values that float32 cannot hold are refused.
    fn constant(&mut self, name: &str, dims: Vec<usize>, data: &[f64]) -> OnnxResult<String> {
        let mut raw = Vec::with_capacity(4 * data.len());
        for &v in data {
            let f = v as f32;
            if !f.is_finite() {
                return Err(invalid!(
                    "{name} holds {v}, which a float32 ONNX tensor cannot hold"
                ));
            }
            raw.extend_from_slice(&f.to_le_bytes());
        }
        Ok(self.initializer(name, dims, DataType::Float, raw))
    }

    fn int_constant(&mut self, name: &str, data: &[i64]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name, vec![data.len()], DataType::Int64, raw)
    }

    fn initializer(&mut self, name: &str, dims: Vec<usize>, ty: DataType, raw: Vec<u8>) -> String {
        let name = if self
            .initializers
            .iter()
            .any(|t| t.name.as_deref() == Some(name))
        {
            self.count += 1;
            format!("{name}_{}", self.count)
        } else {
            name.to_string()
        };
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(ty as i32),
            name: Some(name.clone()),
            raw_data: Some(raw),
            ..Default::default()
        });
        name
    }
}

/// A float tensor of `shape` with a free batch dimension in front.
fn value_info(name: &str, shape: Shape) -> ValueInfoProto {
    use tensor_shape_proto::{dimension::Value, Dimension};
    let mut dims = vec![Value::DimParam("batch".into())];
    let sizes = if shape.is_flat() {
        vec![shape.size()]
    } else {
        vec![shape.channels, shape.height, shape.width]
    };
    dims.extend(sizes.into_iter().map(|d| Value::DimValue(d as i64)));
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .into_iter()
                        .map(|v| Dimension {
                            value: Some(v),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(i),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.iter().map(|&x| x as i64).collect(),
        ..Default::default()
    }
}

fn attr_float(name: &str, f: f64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(f as f32),
        ..Default::default()
    }
}
