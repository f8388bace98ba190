//! An ONNX model read into a [`PortableModel`]: the file is untrusted data.
//! prost decodes it (nesting is bounded by its recursion limit, and every
//! length is checked against the bytes left); then every size is checked
//! before anything is allocated from it, and the graph must be a chain of
//! the subset's operators (see `mod.rs`) from its one input to its one
//! output. Anything else is an error that says what.

use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataLocation, tensor_proto::DataType,
    tensor_shape_proto::dimension::Value as Dim, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, TensorProto,
};
use super::{
    invalid, OnnxError, OnnxResult, PortableLayer, PortableModel, PortableTensor, MAX_NODES,
    OPSETS_READ,
};
use crate::activation::Activation;
use crate::layer::{LayerOptions, LayerSpec};
use crate::shape::Shape;
use prost::Message;
use std::collections::HashMap;

/// The model a file describes.
pub fn import(bytes: &[u8]) -> OnnxResult<PortableModel> {
    if bytes.is_empty() {
        return Err(invalid!("the file is empty"));
    }
    let model = ModelProto::decode(bytes).map_err(|e| {
        let what = e.to_string();
        if what.contains("underflow") || what.contains("unexpected end") {
            OnnxError::Truncated(format!(
                "the file ends in the middle of its data (is it truncated?): {what}"
            ))
        } else {
            invalid!("the file is not an ONNX model (it is not a protobuf ModelProto: {what})")
        }
    })?;
    let ir = model.ir_version.unwrap_or(0);
    let Some(graph) = model.graph.as_ref() else {
        return Err(invalid!(
            "the file is not an ONNX model: it holds no graph{}",
            if ir > 0 { " (is it truncated?)" } else { "" }
        ));
    };
    if ir < 3 {
        return Err(invalid!(
            "the file is not an ONNX model of IR version 3 or later (it has {ir})"
        ));
    }
    check_opsets(&model)?;
    let opset = default_opset(&model);
    let mut reader = Reader::new(graph, opset)?;
    let mut out = reader.walk()?;
    out.producer = model.producer_name.clone().unwrap_or_default();
    out.producer_version = model.producer_version.clone().unwrap_or_default();
    out.metadata = model
        .metadata_props
        .iter()
        .map(|p| {
            (
                p.key.clone().unwrap_or_default(),
                p.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    Ok(out)
}

fn is_default_domain(d: Option<&str>) -> bool {
    matches!(d.unwrap_or(""), "" | "ai.onnx")
}

fn default_opset(model: &ModelProto) -> i64 {
    model
        .opset_import
        .iter()
        .filter(|o| is_default_domain(o.domain.as_deref()))
        .filter_map(|o| o.version)
        .max()
        .unwrap_or(0)
}

fn check_opsets(model: &ModelProto) -> OnnxResult<()> {
    let opset = default_opset(model);
    if opset == 0 {
        return Err(invalid!(
            "the file names no version of ONNX's operators (opset_import), as ONNX models do (is it truncated?)"
        ));
    }
    if !OPSETS_READ.contains(&opset) {
        return Err(OnnxError::unsupported(
            format!("opset {opset}"),
            format!(
                "the model uses opset {opset} of ONNX's operators; rustnn reads opsets {} to {}",
                OPSETS_READ.start(),
                OPSETS_READ.end()
            ),
        ));
    }
    if let Some(f) = model.functions.first() {
        let name = f.name.clone().unwrap_or_default();
        return Err(OnnxError::unsupported(
            name.clone(),
            format!("the model defines a function, {name}, which rustnn does not read"),
        ));
    }
    Ok(())
}

/// A constant tensor: row-major values and dimensions.
#[derive(Debug, Clone)]
struct Const {
    dims: Vec<usize>,
    values: Vec<f64>,
}

impl Const {
    fn size(&self) -> usize {
        self.values.len()
    }

    /// The single value of a tensor of one element.
    fn scalar(&self) -> Option<f64> {
        (self.values.len() == 1).then(|| self.values[0])
    }

    /// The values as a vector of `n`: a tensor of `n` values whose
    /// dimensions are all 1 but one (`[n]`, `[1, n]`), or one value
    /// repeated (broadcast).
    fn per_feature(&self, n: usize) -> Option<Vec<f64>> {
        if let Some(v) = self.scalar() {
            return Some(vec![v; n]);
        }
        let ones = self.dims.iter().filter(|&&d| d == 1).count();
        let last = self.dims.last().copied();
        (self.values.len() == n && ones + 1 == self.dims.len() && last == Some(n))
            .then(|| self.values.clone())
    }
}

/// The element size and kind of the tensor types read.
fn element(ty: i32) -> Option<(usize, DataType)> {
    let ty = DataType::try_from(ty).ok()?;
    match ty {
        DataType::Float | DataType::Int32 => Some((4, ty)),
        DataType::Double | DataType::Int64 => Some((8, ty)),
        _ => None,
    }
}

/// A tensor's values, checked: its size must be one the engine takes and
/// match the data it holds.
fn read_tensor(t: &TensorProto) -> OnnxResult<Const> {
    let name = t.name.clone().unwrap_or_default();
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err(OnnxError::unsupported(
            "external data",
            format!(
                "tensor {name} is stored in a separate file (external data), which rustnn does not read"
            ),
        ));
    }
    if t.segment.is_some() {
        return Err(OnnxError::unsupported(
            "segment",
            format!("tensor {name} is split into segments, which rustnn does not read"),
        ));
    }
    let mut dims = Vec::with_capacity(t.dims.len());
    let mut size: usize = 1;
    for &d in &t.dims {
        let d = usize::try_from(d)
            .map_err(|_| invalid!("tensor {name} has a negative dimension, {d}"))?;
        size = size
            .checked_mul(d)
            .filter(|&s| s <= Shape::MAX_SIZE)
            .ok_or_else(|| invalid!("tensor {name} is larger than rustnn takes"))?;
        dims.push(d);
    }
    let ty = t.data_type.unwrap_or(0);
    let Some((bytes, kind)) = element(ty) else {
        let type_name = DataType::try_from(ty)
            .map(|d| d.as_str_name().to_string())
            .unwrap_or_else(|_| ty.to_string());
        return Err(OnnxError::unsupported(
            type_name.clone(),
            format!("tensor {name} holds {type_name} values; rustnn reads FLOAT, DOUBLE, INT32 and INT64 tensors"),
        ));
    };
    let mismatch =
        |n: usize| invalid!("tensor {name} has {size} elements by its dimensions, but holds {n}");
    let values: Vec<f64> = if let Some(raw) = &t.raw_data {
        if raw.len() != size.saturating_mul(bytes) {
            return Err(mismatch(raw.len() / bytes));
        }
        match kind {
            DataType::Float => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
            DataType::Int32 => raw
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
            DataType::Double => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            _ => raw
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
                .collect(),
        }
    } else {
        let values: Vec<f64> = match kind {
            DataType::Float => t.float_data.iter().map(|&v| v as f64).collect(),
            DataType::Int32 => t.int32_data.iter().map(|&v| v as f64).collect(),
            DataType::Double => t.double_data.clone(),
            _ => t.int64_data.iter().map(|&v| v as f64).collect(),
        };
        if values.len() != size {
            return Err(mismatch(values.len()));
        }
        values
    };
    if !values.iter().all(|v| v.is_finite()) {
        return Err(invalid!("tensor {name} holds NaN or infinite values"));
    }
    Ok(Const { dims, values })
}

/// The shape of one sample of the graph's input: `[batch, features]` or
/// `[batch, channels, height, width]`, the batch dimension free.
fn input_shape(graph: &GraphProto, name: &str) -> OnnxResult<Shape> {
    let info = graph
        .input
        .iter()
        .find(|i| i.name.as_deref() == Some(name))
        .ok_or_else(|| invalid!("the graph has no input {name}"))?;
    let Some(type_proto::Value::TensorType(t)) =
        info.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(OnnxError::unsupported(
            "input type",
            format!("the graph's input {name} is not a tensor"),
        ));
    };
    let ty = t.elem_type.unwrap_or(0);
    if ty != DataType::Float as i32 && ty != DataType::Double as i32 {
        return Err(OnnxError::unsupported(
            "input type",
            format!("the graph's input {name} is not of floating-point numbers (FLOAT or DOUBLE)"),
        ));
    }
    let dims = t.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or(&[]);
    let known: Vec<Option<usize>> = dims
        .iter()
        .map(|d| match d.value {
            Some(Dim::DimValue(v)) if v >= 1 && v as u64 <= Shape::MAX_SIZE as u64 => {
                Some(v as usize)
            }
            _ => None,
        })
        .collect();
    let sample: Option<Vec<usize>> = known.iter().skip(1).copied().collect();
    let shape = match (known.len(), sample) {
        (2, Some(s)) => Shape::flat(s[0]),
        (4, Some(s)) => Shape::image(s[0], s[1], s[2]),
        _ => {
            return Err(OnnxError::unsupported(
                "input shape",
                format!(
                    "the graph's input {name} must be a batch of vectors (batch x features) or of images (batch x channels x height x width), with every size but the batch's known; it has {} dimension{}",
                    known.len(),
                    if known.len() == 1 { "" } else { "s" }
                ),
            ))
        }
    };
    if shape.checked_size().is_none() {
        return Err(invalid!(
            "the graph's input {name} is larger than rustnn takes"
        ));
    }
    Ok(shape)
}

/// Walks the graph's nodes in order, each reading the previous one's output.
struct Reader<'a> {
    graph: &'a GraphProto,
    opset: i64,
    consts: HashMap<&'a str, Const>,
    /// How many nodes (and graph outputs) read each value.
    readers: HashMap<&'a str, usize>,
    /// Nodes left to read, without the `Constant` ones.
    nodes: Vec<&'a NodeProto>,
    model: PortableModel,
    cur: String,
    shape: Shape,
    /// The last layer is a linear one that a following `Add` or `Mul` by
    /// a constant may be folded into (MatMul + Add, as some exporters
    /// write a dense layer).
    foldable: bool,
}

impl<'a> Reader<'a> {
    fn new(graph: &'a GraphProto, opset: i64) -> OnnxResult<Self> {
        if graph.node.len() > MAX_NODES {
            return Err(invalid!(
                "the graph has {} nodes, more than the {MAX_NODES} rustnn reads",
                graph.node.len()
            ));
        }
        if !graph.sparse_initializer.is_empty() {
            return Err(OnnxError::unsupported(
                "sparse initializer",
                "the graph has sparse initializers, which rustnn does not read",
            ));
        }
        let mut consts = HashMap::new();
        for t in &graph.initializer {
            let name = t.name.as_deref().unwrap_or("");
            consts.insert(name, read_tensor(t)?);
        }
        let mut nodes = Vec::with_capacity(graph.node.len());
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for node in &graph.node {
            if !is_default_domain(node.domain.as_deref()) {
                let what = format!("{}::{}", node.domain.as_deref().unwrap_or(""), op(node));
                return Err(OnnxError::unsupported(
                    what.clone(),
                    format!("operator {what} is not one of ONNX's own, which are the only ones rustnn reads"),
                ));
            }
            if op(node) == "Constant" {
                let out = node.output.first().map(String::as_str).unwrap_or("");
                consts.insert(out, constant_node(node)?);
                continue;
            }
            for i in &node.input {
                *readers.entry(i.as_str()).or_default() += 1;
            }
            nodes.push(node);
        }
        for o in &graph.output {
            *readers.entry(o.name.as_deref().unwrap_or("")).or_default() += 1;
        }
        let inputs: Vec<&str> = graph
            .input
            .iter()
            .filter_map(|i| i.name.as_deref())
            .filter(|n| !consts.contains_key(n))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(OnnxError::unsupported(
                "inputs",
                format!(
                    "the graph has {} inputs (besides its weights); rustnn reads a graph of one",
                    inputs.len()
                ),
            ));
        };
        if graph.output.len() != 1 {
            return Err(OnnxError::unsupported(
                "outputs",
                format!(
                    "the graph has {} outputs; rustnn reads a graph of one",
                    graph.output.len()
                ),
            ));
        }
        let shape = input_shape(graph, input)?;
        Ok(Reader {
            graph,
            opset,
            consts,
            readers,
            nodes,
            model: PortableModel {
                input: Some(shape),
                ..Default::default()
            },
            cur: input.to_string(),
            shape,
            foldable: false,
        })
    }

    fn walk(&mut self) -> OnnxResult<PortableModel> {
        let mut i = 0;
        while i < self.nodes.len() {
            if let Some(n) = self.gelu(i)? {
                i += n;
                continue;
            }
            self.node(self.nodes[i])?;
            i += 1;
        }
        let output = self.graph.output[0].name.as_deref().unwrap_or("");
        if self.cur != output {
            return Err(invalid!(
                "the graph's output {output} is not the end of its chain of nodes"
            ));
        }
        Ok(std::mem::take(&mut self.model))
    }

    /// The constant input `k` of `node`, if it is one.
    fn constant(&self, node: &NodeProto, k: usize) -> Option<&Const> {
        node.input
            .get(k)
            .and_then(|name| self.consts.get(name.as_str()))
    }

    fn required_constant(&self, node: &NodeProto, k: usize, what: &str) -> OnnxResult<&Const> {
        self.constant(node, k).ok_or_else(|| {
            OnnxError::unsupported(
                op(node),
                format!(
                    "{} takes its {what} from another node's output; rustnn reads {} with constant {what}s only",
                    describe(node),
                    op(node)
                ),
            )
        })
    }

    /// Checks that `node` reads the chain's current value as its input `k`
    /// and that nothing else reads it, and that the node's other outputs
    /// are unused.
    fn check_in_chain(&self, node: &NodeProto, k: usize) -> OnnxResult<()> {
        if node.input.get(k).map(String::as_str) != Some(self.cur.as_str()) {
            return Err(OnnxError::unsupported(
                op(node),
                format!(
                    "{} does not read the output of the node before it: rustnn reads graphs that are one chain of layers",
                    describe(node)
                ),
            ));
        }
        if self.readers.get(self.cur.as_str()).copied().unwrap_or(0) > 1 {
            return Err(OnnxError::unsupported(
                op(node),
                format!(
                    "the value {} is read by several nodes: rustnn reads graphs that are one chain of layers",
                    self.cur
                ),
            ));
        }
        self.check_outputs(node)
    }

    fn check_outputs(&self, node: &NodeProto) -> OnnxResult<()> {
        for extra in node.output.iter().skip(1).filter(|o| !o.is_empty()) {
            if self.readers.contains_key(extra.as_str()) {
                return Err(OnnxError::unsupported(
                    op(node),
                    format!(
                        "{} has a second output, {extra}, that is used",
                        describe(node)
                    ),
                ));
            }
        }
        if node.output.first().is_none_or(|o| o.is_empty()) {
            return Err(invalid!("{} has no output", describe(node)));
        }
        Ok(())
    }

    fn advance(&mut self, node: &NodeProto) {
        self.cur = node.output[0].clone();
    }

    /// Adds a layer of `spec` with `tensors`, reading the current shape.
    fn push(
        &mut self,
        node: &NodeProto,
        spec: LayerSpec,
        tensors: Vec<PortableTensor>,
    ) -> OnnxResult<()> {
        self.shape = spec.output_shape(self.shape).map_err(|e| {
            invalid!(
                "{}: the {} layer it becomes {e}",
                describe(node),
                spec.kind()
            )
        })?;
        self.foldable = matches!(spec, LayerSpec::Linear { .. });
        self.model.layers.push(PortableLayer { spec, tensors });
        Ok(())
    }

    fn layer(
        &mut self,
        node: &NodeProto,
        kind: &str,
        i: usize,
        o: usize,
        options: LayerOptions,
        tensors: Vec<PortableTensor>,
    ) -> OnnxResult<()> {
        let spec = LayerSpec::new(kind, i, o, &options)
            .map_err(|e| invalid!("{}: {e}", describe(node)))?;
        self.push(node, spec, tensors)
    }

    fn node(&mut self, node: &'a NodeProto) -> OnnxResult<()> {
        let name = op(node);
        let attrs = Attrs::new(node)?;
        match name {
            "Relu" | "Sigmoid" | "Tanh" | "Softplus" | "Elu" | "LeakyRelu" | "Softmax" | "Gelu" => {
                self.check_in_chain(node, 0)?;
                let act = match name {
                    "Relu" => attrs.only(&[]).map(|_| Activation::Relu),
                    "Sigmoid" => attrs.only(&[]).map(|_| Activation::Sigmoid),
                    "Tanh" => attrs.only(&[]).map(|_| Activation::Tanh),
                    "Softplus" => attrs.only(&[]).map(|_| Activation::Softplus),
                    "Elu" => attrs.only(&["alpha"]).map(|_| Activation::Elu {
                        alpha: attrs.float("alpha", 1.0),
                    }),
                    "LeakyRelu" => attrs.only(&["alpha"]).map(|_| Activation::LeakyRelu {
                        alpha: attrs.float("alpha", 0.01),
                    }),
                    "Gelu" => {
                        attrs.only(&["approximate"])?;
                        let approx = attrs.string("approximate", "none");
                        if approx != "none" {
                            return Err(OnnxError::unsupported(
                                "Gelu",
                                format!("{} is GELU's {approx} approximation; rustnn's GELU is the exact one", describe(node)),
                            ));
                        }
                        Ok(Activation::Gelu)
                    }
                    _ => {
                        attrs.only(&["axis"])?;
                        let axis = attrs.int("axis", if self.opset < 13 { 1 } else { -1 });
                        if !self.shape.is_flat() || !(axis == 1 || axis == -1) {
                            return Err(OnnxError::unsupported(
                                "Softmax",
                                format!("{} is a softmax over axis {axis} of a {}-dimensional value; rustnn's softmax is over the features of each sample (axis 1 of a batch x features matrix)", describe(node), if self.shape.is_flat() { 2 } else { 4 }),
                            ));
                        }
                        Ok(Activation::Softmax)
                    }
                }?;
                let alpha = act.alpha();
                let options = LayerOptions { alpha, ..Default::default() };
                self.layer(node, act.name(), 0, 0, options, vec![])?;
                self.advance(node);
            }
            "Identity" => {
                self.check_in_chain(node, 0)?;
                self.advance(node);
            }
            "Dropout" => {
                self.check_in_chain(node, 0)?;
                attrs.only(&["ratio", "seed"])?;
                let mut rate = attrs.float("ratio", 0.5);
                if let Some(r) = self.constant(node, 1) {
                    rate = r.scalar().unwrap_or(rate);
                }
                if let Some(t) = self.constant(node, 2) {
                    if t.scalar() != Some(0.0) {
                        return Err(OnnxError::unsupported("Dropout", format!("{} is in training mode", describe(node))));
                    }
                } else if node.input.get(2).is_some_and(|s| !s.is_empty()) {
                    return Err(OnnxError::unsupported("Dropout", format!("{} has a training mode that is not a constant", describe(node))));
                }
                let options = LayerOptions { rate: Some(rate), ..Default::default() };
                self.layer(node, "dropout", 0, 0, options, vec![])?;
                self.advance(node);
            }
            "Flatten" => {
                self.check_in_chain(node, 0)?;
                attrs.only(&["axis"])?;
                if attrs.int("axis", 1) != 1 {
                    return Err(OnnxError::unsupported("Flatten", format!("{} flattens from axis {}; rustnn flattens each sample (axis 1)", describe(node), attrs.int("axis", 1))));
                }
                if !self.shape.is_flat() {
                    self.layer(node, "flatten", 0, 0, LayerOptions::default(), vec![])?;
                }
                self.advance(node);
            }
            "Reshape" => {
                self.check_in_chain(node, 0)?;
                attrs.only(&["allowzero"])?;
                let target = self.required_constant(node, 1, "shape")?;
                let size = self.shape.size() as f64;
                let t = &target.values;
                let flatten = t.len() == 2 && (t[0] == -1.0 || t[0] == 0.0) && (t[1] == -1.0 || t[1] == size);
                let same = !self.shape.is_flat() && t.len() == 4 && (t[0] == -1.0 || t[0] == 0.0) && t[1..] == [self.shape.channels as f64, self.shape.height as f64, self.shape.width as f64];
                if flatten && !self.shape.is_flat() {
                    self.layer(node, "flatten", 0, 0, LayerOptions::default(), vec![])?;
                } else if !(flatten || same) {
                    return Err(OnnxError::unsupported("Reshape", format!("{} reshapes each sample of {} values to {:?}; rustnn reads a Reshape only where it flattens each sample", describe(node), self.shape.size(), t.iter().map(|&v| v as i64).collect::<Vec<_>>())));
                }
                self.advance(node);
            }
            "Gemm" => {
                self.check_in_chain(node, 0)?;
                attrs.only(&["alpha", "beta", "transA", "transB"])?;
                if attrs.int("transA", 0) != 0 {
                    return Err(OnnxError::unsupported("Gemm", format!("{} transposes its input (transA = 1)", describe(node))));
                }
                let b = self.required_constant(node, 1, "weight")?.clone();
                let c = self.constant(node, 2).cloned();
                if node.input.get(2).is_some_and(|s| !s.is_empty()) && c.is_none() {
                    self.required_constant(node, 2, "bias")?;
                }
                let (alpha, beta) = (attrs.float("alpha", 1.0), attrs.float("beta", 1.0));
                self.dense(node, &b, attrs.int("transB", 0) != 0, alpha, c.as_ref(), beta)?;
            }
            "MatMul" => {
                self.check_in_chain(node, 0)?;
                let b = self.required_constant(node, 1, "weight")?.clone();
                self.dense(node, &b, false, 1.0, None, 1.0)?;
            }
            "Add" | "Sub" | "Mul" | "Div" => self.arithmetic(node)?,
            "Conv" => self.conv(node, &attrs)?,
            "MaxPool" | "AveragePool" => self.pool(node, &attrs)?,
            "GlobalMaxPool" | "GlobalAveragePool" => {
                self.check_in_chain(node, 0)?;
                attrs.only(&[])?;
                let kind = if name == "GlobalMaxPool" { "max_pool2d" } else { "avg_pool2d" };
                let kernel = [self.shape.height, self.shape.width];
                let options = LayerOptions { kernel, stride: Some(kernel), ..Default::default() };
                self.needs_image(node)?;
                self.layer(node, kind, 0, 0, options, vec![])?;
                self.advance(node);
            }
            "BatchNormalization" => self.batch_norm(node, &attrs)?,
            _ => {
                return Err(OnnxError::unsupported(
                    name,
                    format!("{} is outside the operators rustnn reads (Gemm, MatMul, Add, Relu, Sigmoid, Tanh, LeakyRelu, Elu, Softplus, GELU, Softmax, Conv, MaxPool, AveragePool, BatchNormalization, Flatten, Reshape, Dropout, Identity)", describe(node)),
                ))
            }
        }
        Ok(())
    }

    fn needs_image(&self, node: &NodeProto) -> OnnxResult<()> {
        if self.shape.is_flat() {
            return Err(invalid!("{} needs images (batch x channels x height x width), but gets a batch of {} features", describe(node), self.shape.size()));
        }
        Ok(())
    }

    /// A linear layer from `x · B` (`x · B^T` with `trans`), scaled by
    /// `alpha`, plus `beta * c`.
    fn dense(
        &mut self,
        node: &NodeProto,
        b: &Const,
        trans: bool,
        alpha: f64,
        c: Option<&Const>,
        beta: f64,
    ) -> OnnxResult<()> {
        if !self.shape.is_flat() {
            return Err(OnnxError::unsupported(
                op(node),
                format!(
                    "{} multiplies a 4-dimensional value; flatten it first",
                    describe(node)
                ),
            ));
        }
        let [r, k] = b.dims[..] else {
            return Err(OnnxError::unsupported(
                op(node),
                format!(
                    "{} has a weight of {} dimensions, not 2",
                    describe(node),
                    b.dims.len()
                ),
            ));
        };
        let (inputs, outputs) = if trans { (k, r) } else { (r, k) };
        if inputs != self.shape.size() {
            return Err(invalid!(
                "{} takes {inputs} inputs, but gets {}",
                describe(node),
                self.shape.size()
            ));
        }
        // Row-major out x in is R's in x out column-major.
        let mut weight = if trans {
            PortableTensor {
                name: "weight",
                shape: vec![inputs, outputs],
                data: b.values.clone(),
            }
        } else {
            PortableTensor::from_row_major("weight", vec![inputs, outputs], &b.values)
        };
        weight.data.iter_mut().for_each(|w| *w *= alpha);
        let bias = match c {
            Some(c) => c.per_feature(outputs).ok_or_else(|| {
                OnnxError::unsupported(
                    op(node),
                    format!(
                        "{} adds a bias of shape {:?}, not one value per output",
                        describe(node),
                        c.dims
                    ),
                )
            })?,
            None => vec![0.0; outputs],
        };
        let bias = PortableTensor {
            name: "bias",
            shape: vec![outputs],
            data: bias.iter().map(|v| v * beta).collect(),
        };
        self.layer(
            node,
            "linear",
            inputs,
            outputs,
            LayerOptions::default(),
            vec![weight, bias],
        )?;
        self.advance(node);
        Ok(())
    }

    /// `Sub` and `Div` by constants before any layer: the input's
    /// standardization; `Add`, `Sub`, `Mul` and `Div` by constants right
    /// after a linear layer: folded into its weights and bias.
    fn arithmetic(&mut self, node: &NodeProto) -> OnnxResult<()> {
        let name = op(node);
        Attrs::new(node)?.only(&[])?;
        let commutes = matches!(name, "Add" | "Mul");
        let k = if node.input.first().map(String::as_str) == Some(self.cur.as_str()) || !commutes {
            0
        } else {
            1
        };
        self.check_in_chain(node, k)?;
        let c = self.required_constant(node, 1 - k, "operand")?.clone();
        let n = self.shape.size();
        let values = c.per_feature(n).filter(|_| self.shape.is_flat()).ok_or_else(|| {
            OnnxError::unsupported(name, format!("{} applies a constant of shape {:?} to a value of shape {}; rustnn reads one value per feature", describe(node), c.dims, self.shape))
        })?;
        let start = self.model.layers.is_empty();
        if start && name == "Sub" && self.model.center.is_none() && self.model.scale.is_none() {
            self.model.center = Some(values);
        } else if start && name == "Div" && self.model.scale.is_none() {
            if values.contains(&0.0) {
                return Err(invalid!("{} divides by zero", describe(node)));
            }
            self.model.center.get_or_insert_with(|| vec![0.0; n]);
            self.model.scale = Some(values);
        } else if self.foldable {
            let Some(layer) = self.model.layers.last_mut() else {
                return Err(invalid!("no layer"));
            };
            let (mul, add): (Vec<f64>, Vec<f64>) = match name {
                "Add" => (vec![1.0; n], values),
                "Sub" => (vec![1.0; n], values.iter().map(|v| -v).collect()),
                "Mul" => (values, vec![0.0; n]),
                _ => {
                    if values.contains(&0.0) {
                        return Err(invalid!("{} divides by zero", describe(node)));
                    }
                    (values.iter().map(|v| 1.0 / v).collect(), vec![0.0; n])
                }
            };
            let inputs = layer.tensors[0].shape[0];
            for (o, (m, a)) in mul.iter().zip(&add).enumerate() {
                for w in &mut layer.tensors[0].data[o * inputs..(o + 1) * inputs] {
                    *w *= m;
                }
                let b = &mut layer.tensors[1].data[o];
                *b = *b * m + a;
            }
        } else {
            return Err(OnnxError::unsupported(name, format!("{} is an arithmetic operation that rustnn reads only as the input's standardization (Sub, then Div, before any layer) or after a linear layer (folded into it)", describe(node))));
        }
        self.advance(node);
        Ok(())
    }

    fn window(
        &self,
        node: &NodeProto,
        attrs: &Attrs,
        kernel: [usize; 2],
    ) -> OnnxResult<([usize; 2], [usize; 2])> {
        let unsupported = |what: String| {
            Err(OnnxError::unsupported(
                op(node),
                format!("{} has {what}", describe(node)),
            ))
        };
        let auto_pad = attrs.string("auto_pad", "NOTSET");
        if auto_pad != "NOTSET" && auto_pad != "VALID" {
            return unsupported(format!(
                "auto_pad = {auto_pad}; give the padding explicitly"
            ));
        }
        if attrs
            .ints("dilations")
            .is_some_and(|d| d.iter().any(|&v| v != 1))
        {
            return unsupported("dilations other than 1".into());
        }
        let pads = attrs.ints("pads").unwrap_or_else(|| vec![0; 4]);
        let stride = attrs.ints("strides").unwrap_or_else(|| vec![1, 1]);
        let ks = attrs.ints("kernel_shape");
        if pads.len() != 4 || stride.len() != 2 || ks.as_ref().is_some_and(|k| k.len() != 2) {
            return unsupported("a window that is not 2-dimensional".into());
        }
        if ks.is_some_and(|k| {
            k[0] as usize != kernel[0] || k[1] as usize != kernel[1] || k.iter().any(|&v| v < 1)
        }) {
            return Err(invalid!(
                "{} has a kernel_shape that does not match its weight",
                describe(node)
            ));
        }
        if pads[0] != pads[2] || pads[1] != pads[3] {
            return unsupported(format!(
                "unequal padding on opposite sides ({pads:?}); rustnn pads both sides alike"
            ));
        }
        let count = |v: i64| usize::try_from(v).ok().filter(|&v| v <= Shape::MAX_SIZE);
        match (
            count(pads[0]),
            count(pads[1]),
            count(stride[0]).filter(|&s| s >= 1),
            count(stride[1]).filter(|&s| s >= 1),
        ) {
            (Some(p0), Some(p1), Some(s0), Some(s1)) => Ok(([s0, s1], [p0, p1])),
            _ => Err(invalid!(
                "{} has negative padding or strides below 1",
                describe(node)
            )),
        }
    }

    fn conv(&mut self, node: &NodeProto, attrs: &Attrs) -> OnnxResult<()> {
        self.check_in_chain(node, 0)?;
        attrs.only(&[
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "pads",
            "strides",
        ])?;
        self.needs_image(node)?;
        if attrs.int("group", 1) != 1 {
            return Err(OnnxError::unsupported(
                "Conv",
                format!(
                    "{} is a grouped convolution (group = {})",
                    describe(node),
                    attrs.int("group", 1)
                ),
            ));
        }
        let w = self.required_constant(node, 1, "weight")?.clone();
        let [out, inp, kh, kw] = w.dims[..] else {
            return Err(OnnxError::unsupported("Conv", format!("{} has a weight of {} dimensions; rustnn reads 2-dimensional convolutions (a weight out x in x height x width)", describe(node), w.dims.len())));
        };
        let (stride, padding) = self.window(node, attrs, [kh, kw])?;
        let bias = match self.constant(node, 2) {
            Some(b) if b.size() == out => b.values.clone(),
            Some(_) => {
                return Err(invalid!(
                    "{} has a bias of another size than its {out} output channels",
                    describe(node)
                ))
            }
            None => {
                if node.input.get(2).is_some_and(|s| !s.is_empty()) {
                    self.required_constant(node, 2, "bias")?;
                }
                vec![0.0; out]
            }
        };
        let weight = PortableTensor::from_row_major("weight", vec![out, inp, kh, kw], &w.values);
        let bias = PortableTensor {
            name: "bias",
            shape: vec![out],
            data: bias,
        };
        let options = LayerOptions {
            kernel: [kh, kw],
            stride: Some(stride),
            padding,
            ..Default::default()
        };
        self.layer(node, "conv2d", inp, out, options, vec![weight, bias])?;
        self.advance(node);
        Ok(())
    }

    fn pool(&mut self, node: &NodeProto, attrs: &Attrs) -> OnnxResult<()> {
        self.check_in_chain(node, 0)?;
        attrs.only(&[
            "auto_pad",
            "ceil_mode",
            "count_include_pad",
            "dilations",
            "kernel_shape",
            "pads",
            "storage_order",
            "strides",
        ])?;
        self.needs_image(node)?;
        let Some(k) = attrs
            .ints("kernel_shape")
            .filter(|k| k.len() == 2 && k.iter().all(|&v| v >= 1 && v as usize <= Shape::MAX_SIZE))
        else {
            return Err(OnnxError::unsupported(
                op(node),
                format!("{} has no 2-dimensional kernel_shape", describe(node)),
            ));
        };
        let kernel = [k[0] as usize, k[1] as usize];
        let (stride, padding) = self.window(node, attrs, kernel)?;
        if padding != [0, 0] {
            return Err(OnnxError::unsupported(
                op(node),
                format!(
                    "{} pads its input; rustnn's pooling has no padding",
                    describe(node)
                ),
            ));
        }
        let options = LayerOptions {
            kernel,
            stride: Some(stride),
            ..Default::default()
        };
        let kind = if op(node) == "MaxPool" {
            "max_pool2d"
        } else {
            "avg_pool2d"
        };
        if attrs.int("ceil_mode", 0) != 0 {
            // The same as rounding down when the windows fit exactly.
            let fits = (0..2).all(|a| {
                let size = if a == 0 {
                    self.shape.height
                } else {
                    self.shape.width
                };
                size >= kernel[a] && (size - kernel[a]).is_multiple_of(stride[a])
            });
            if !fits {
                return Err(OnnxError::unsupported(op(node), format!("{} rounds its output size up (ceil_mode = 1) on an input its windows do not tile", describe(node))));
            }
        }
        self.layer(node, kind, 0, 0, options, vec![])?;
        self.advance(node);
        Ok(())
    }

    fn batch_norm(&mut self, node: &NodeProto, attrs: &Attrs) -> OnnxResult<()> {
        self.check_in_chain(node, 0)?;
        attrs.only(&["epsilon", "momentum", "training_mode", "spatial"])?;
        if attrs.int("training_mode", 0) != 0 || attrs.int("spatial", 1) != 1 {
            return Err(OnnxError::unsupported(
                "BatchNormalization",
                format!("{} is in training mode (or not spatial)", describe(node)),
            ));
        }
        let channels = self.shape.channels;
        let mut tensors = Vec::with_capacity(4);
        for (k, name) in ["gamma", "beta", "running_mean", "running_var"]
            .into_iter()
            .enumerate()
        {
            let c = self.required_constant(node, k + 1, name)?;
            if c.size() != channels {
                return Err(invalid!(
                    "{} has a {name} of {} values for {channels} channels",
                    describe(node),
                    c.size()
                ));
            }
            if name == "running_var" && c.values.iter().any(|&v| v < 0.0) {
                return Err(invalid!("{} has negative variances", describe(node)));
            }
            tensors.push(PortableTensor {
                name,
                shape: vec![channels],
                data: c.values.clone(),
            });
        }
        let momentum = 1.0 - attrs.float("momentum", 0.9);
        let options = LayerOptions {
            eps: Some(attrs.float("epsilon", 1e-5)),
            momentum: Some(momentum.clamp(0.0, 1.0)),
            ..Default::default()
        };
        self.layer(node, "batch_norm", channels, 0, options, tensors)?;
        self.advance(node);
        Ok(())
    }

    /// GELU written out as `0.5 * x * (1 + erf(x / sqrt(2)))` (as rustnn
    /// and PyTorch export it below opset 20): five nodes from node `i`.
    /// Returns how many nodes it read, or `None` if they are not that.
    fn gelu(&mut self, i: usize) -> OnnxResult<Option<usize>> {
        let Some(nodes) = self.nodes.get(i..i + 5) else {
            return Ok(None);
        };
        let x = self.cur.as_str();
        let near =
            |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() <= 1e-6 * want.abs());
        let other = |n: &NodeProto, name: &str| -> Option<Option<f64>> {
            // The operand of binary `n` besides `name`, as a scalar constant.
            let k = n.input.iter().position(|s| s == name)?;
            (n.input.len() == 2).then(|| {
                self.consts
                    .get(n.input[1 - k].as_str())
                    .and_then(Const::scalar)
            })
        };
        let out = |n: &NodeProto| n.output.first().cloned().unwrap_or_default();
        let [scale, erf, add, mul, half] = [nodes[0], nodes[1], nodes[2], nodes[3], nodes[4]];
        let scaled = match op(scale) {
            "Div" => {
                scale.input.first().map(String::as_str) == Some(x)
                    && near(other(scale, x).flatten(), std::f64::consts::SQRT_2)
            }
            "Mul" => near(other(scale, x).flatten(), std::f64::consts::FRAC_1_SQRT_2),
            _ => false,
        };
        let ok = scaled
            && op(erf) == "Erf"
            && erf.input.first() == Some(&out(scale))
            && op(add) == "Add"
            && near(other(add, &out(erf)).flatten(), 1.0)
            && op(mul) == "Mul"
            && other(mul, &out(add)).is_some()
            && mul.input.iter().any(|s| s == x)
            && op(half) == "Mul"
            && near(other(half, &out(mul)).flatten(), 0.5)
            && self.readers.get(x) == Some(&2)
            && [scale, erf, add, mul]
                .iter()
                .all(|n| self.readers.get(out(n).as_str()) == Some(&1));
        if !ok {
            return Ok(None);
        }
        self.check_outputs(half)?;
        self.layer(half, "gelu", 0, 0, LayerOptions::default(), vec![])?;
        self.advance(half);
        Ok(Some(5))
    }
}

/// A `Constant` node's value (its `value` attribute, or one of the
/// `value_float(s)`/`value_int(s)` forms).
fn constant_node(node: &NodeProto) -> OnnxResult<Const> {
    let a = node
        .attribute
        .first()
        .filter(|_| node.attribute.len() == 1)
        .ok_or_else(|| {
            invalid!(
                "{} has {} attributes, not one",
                describe(node),
                node.attribute.len()
            )
        })?;
    match a.name.as_deref().unwrap_or("") {
        "value" => read_tensor(
            a.t.as_ref()
                .ok_or_else(|| invalid!("{} has no tensor", describe(node)))?,
        ),
        "value_float" => Ok(Const {
            dims: vec![],
            values: vec![a.f.unwrap_or(0.0) as f64],
        }),
        "value_int" => Ok(Const {
            dims: vec![],
            values: vec![a.i.unwrap_or(0) as f64],
        }),
        "value_floats" => Ok(Const {
            dims: vec![a.floats.len()],
            values: a.floats.iter().map(|&v| v as f64).collect(),
        }),
        "value_ints" => Ok(Const {
            dims: vec![a.ints.len()],
            values: a.ints.iter().map(|&v| v as f64).collect(),
        }),
        other => Err(OnnxError::unsupported(
            "Constant",
            format!(
                "{} holds a {other}, which rustnn does not read",
                describe(node)
            ),
        )),
    }
}

fn op(node: &NodeProto) -> &str {
    node.op_type.as_deref().unwrap_or("")
}

/// How messages name a node: its operator and, if it has one, its name.
fn describe(node: &NodeProto) -> String {
    match node.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("the {} node {name}", op(node)),
        None => format!("a {} node", op(node)),
    }
}

/// A node's attributes by name.
struct Attrs<'a> {
    node: &'a NodeProto,
    by_name: HashMap<&'a str, &'a AttributeProto>,
}

impl<'a> Attrs<'a> {
    fn new(node: &'a NodeProto) -> OnnxResult<Self> {
        let mut by_name = HashMap::new();
        for a in &node.attribute {
            if a.ref_attr_name.is_some() {
                return Err(OnnxError::unsupported(
                    op(node),
                    format!("{} refers to a function's attribute", describe(node)),
                ));
            }
            by_name.insert(a.name.as_deref().unwrap_or(""), a);
        }
        Ok(Attrs { node, by_name })
    }

    /// Refuses attributes other than `known`.
    fn only(&self, known: &[&str]) -> OnnxResult<()> {
        match self.by_name.keys().find(|k| !known.contains(k)) {
            Some(k) => Err(OnnxError::unsupported(
                op(self.node),
                format!(
                    "{} has an attribute {k}, which rustnn does not read",
                    describe(self.node)
                ),
            )),
            None => Ok(()),
        }
    }

    fn typed(&self, name: &str, ty: AttributeType) -> Option<&'a AttributeProto> {
        self.by_name
            .get(name)
            .copied()
            .filter(|a| a.r#type.is_none_or(|t| t == ty as i32))
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.typed(name, AttributeType::Int)
            .and_then(|a| a.i)
            .unwrap_or(default)
    }

    /// A float attribute, as the shortest decimal that gives the same
    /// float32 (0.2, not 0.20000000298...: the value written).
    fn float(&self, name: &str, default: f64) -> f64 {
        self.typed(name, AttributeType::Float)
            .and_then(|a| a.f)
            .and_then(|f| f.to_string().parse::<f64>().ok())
            .filter(|v| v.is_finite())
            .unwrap_or(default)
    }

    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.typed(name, AttributeType::Ints)
            .map(|a| a.ints.clone())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.typed(name, AttributeType::String)
            .and_then(|a| a.s.as_ref())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_else(|| default.to_string())
    }
}
