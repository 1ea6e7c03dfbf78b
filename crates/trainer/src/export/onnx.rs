//! A network as an ONNX model, encoded by hand: a handful of message types
//! need no protobuf crate. The field numbers are those of `onnx/onnx.proto`
//! in the ONNX repository (IR version 7 and later keep them), e.g.
//! `ModelProto.graph = 7`, `GraphProto.initializer = 5`,
//! `TensorProto.raw_data = 9`, `AttributeProto.type = 20`.
//!
//! The graph (opset 13, standard operators only):
//!
//! ```text
//! pixels  [N, 1, 28, 28] (CNN) or [N, 784] (MLP), float, 0-255
//!   -> Mul by 1/255 (the trainer's inputs are p / 255)
//!   -> Conv, BatchNormalization, Relu/LeakyRelu/Sigmoid/Tanh, MaxPool,
//!      AveragePool, Flatten, Gemm (transB = 1) ... in nn.Sequential's order
//!   -> logits [N, 10] (or the output activation's values, e.g. Softmax)
//! ```
//!
//! Nodes are named after their PyTorch module (`layers.4`) and weights
//! keep their safetensors names (`layers.4.weight`). Dropout is the
//! identity at inference and has no node.

use super::protobuf::Message;
use super::{modules, ModelCard, Module};
use nn::{Activation, Sequential, Shape};
use std::collections::HashMap;

/// The operator set the graph is written for.
pub const OPSET: i64 = 13;
/// ONNX IR version 7 is the one that came with opset 13.
pub const IR_VERSION: i64 = 7;
/// The graph's input: pixels 0-255 as float.
pub const INPUT: &str = "pixels";
/// The graph's output when the output activation is the identity.
pub const LOGITS: &str = "logits";
/// The graph's output otherwise (e.g. probabilities for `output=softmax`).
pub const OUTPUT: &str = "output";
/// The name of the batch dimension, left free.
pub const BATCH: &str = "N";

/// Field numbers of onnx.proto, by message.
mod field {
    pub mod model {
        pub const IR_VERSION: u32 = 1;
        pub const PRODUCER_NAME: u32 = 2;
        pub const PRODUCER_VERSION: u32 = 3;
        pub const DOC_STRING: u32 = 6;
        pub const GRAPH: u32 = 7;
        pub const OPSET_IMPORT: u32 = 8;
        pub const METADATA_PROPS: u32 = 14;
    }
    pub mod opset {
        pub const DOMAIN: u32 = 1;
        pub const VERSION: u32 = 2;
    }
    pub mod entry {
        pub const KEY: u32 = 1;
        pub const VALUE: u32 = 2;
    }
    pub mod graph {
        pub const NODE: u32 = 1;
        pub const NAME: u32 = 2;
        pub const INITIALIZER: u32 = 5;
        pub const DOC_STRING: u32 = 10;
        pub const INPUT: u32 = 11;
        pub const OUTPUT: u32 = 12;
    }
    pub mod node {
        pub const INPUT: u32 = 1;
        pub const OUTPUT: u32 = 2;
        pub const NAME: u32 = 3;
        pub const OP_TYPE: u32 = 4;
        pub const ATTRIBUTE: u32 = 5;
    }
    pub mod attribute {
        pub const NAME: u32 = 1;
        pub const F: u32 = 2;
        pub const I: u32 = 3;
        pub const INTS: u32 = 8;
        pub const TYPE: u32 = 20;
        /// `AttributeProto.AttributeType` values.
        pub const TYPE_FLOAT: i64 = 1;
        pub const TYPE_INT: i64 = 2;
        pub const TYPE_INTS: i64 = 7;
    }
    pub mod tensor {
        pub const DIMS: u32 = 1;
        pub const DATA_TYPE: u32 = 2;
        pub const NAME: u32 = 8;
        pub const RAW_DATA: u32 = 9;
        /// `TensorProto.DataType` values.
        pub const FLOAT: i64 = 1;
        pub const INT64: i64 = 7;
    }
    pub mod value_info {
        pub const NAME: u32 = 1;
        pub const TYPE: u32 = 2;
    }
    /// `TypeProto.tensor_type`, then `TypeProto.Tensor`'s fields.
    pub mod type_proto {
        pub const TENSOR_TYPE: u32 = 1;
        pub const ELEM_TYPE: u32 = 1;
        pub const SHAPE: u32 = 2;
    }
    /// `TensorShapeProto.dim`, then `Dimension`'s fields.
    pub mod shape {
        pub const DIM: u32 = 1;
        pub const DIM_VALUE: u32 = 1;
        pub const DIM_PARAM: u32 = 2;
    }
}

/// One node before encoding.
struct Node {
    op_type: &'static str,
    name: String,
    inputs: Vec<String>,
    output: String,
    attributes: Vec<Message>,
}

/// The graph being built: nodes in order, initializers, and the name of
/// the value the next node reads.
struct Builder<'a> {
    tensors: HashMap<&'a str, (&'a [usize], &'a [f32])>,
    nodes: Vec<Node>,
    initializers: Vec<Message>,
    current: String,
}

impl<'a> Builder<'a> {
    /// Adds a node reading the current value and `extra` inputs; its output
    /// becomes the current value.
    fn node(
        &mut self,
        op_type: &'static str,
        name: &str,
        extra: &[&str],
        attributes: Vec<Message>,
    ) {
        let output = format!("{name}.output");
        let mut inputs = vec![self.current.clone()];
        inputs.extend(extra.iter().map(|s| s.to_string()));
        self.nodes.push(Node {
            op_type,
            name: name.to_string(),
            inputs,
            output: output.clone(),
            attributes,
        });
        self.current = output;
    }

    /// Adds the model's tensor `name` as an initializer; returns its name.
    fn weight(&mut self, name: String) -> String {
        let (shape, values) = self.tensors[name.as_str()];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers
            .push(tensor(&name, field::tensor::FLOAT, shape, &bytes));
        name
    }

    fn activation(&mut self, name: &str, activation: Activation, shape: Shape) {
        match activation {
            Activation::Identity => {}
            Activation::Relu => self.node("Relu", name, &[], vec![]),
            Activation::LeakyRelu(slope) => self.node(
                "LeakyRelu",
                name,
                &[],
                vec![float_attribute("alpha", slope)],
            ),
            Activation::Sigmoid => self.node("Sigmoid", name, &[], vec![]),
            Activation::Tanh => self.node("Tanh", name, &[], vec![]),
            // nn's softmax runs over a whole row: all of an image's values.
            Activation::Softmax if shape.is_image() => {
                let flat = format!("{name}.flatten");
                self.node("Flatten", &flat, &[], vec![int_attribute("axis", 1)]);
                let softmax = format!("{name}.softmax");
                self.node("Softmax", &softmax, &[], vec![int_attribute("axis", 1)]);
                let target = format!("{name}.shape");
                let dims = [0, shape.channels, shape.height, shape.width].map(|d| d as i64);
                let bytes: Vec<u8> = dims.iter().flat_map(|d| d.to_le_bytes()).collect();
                self.initializers
                    .push(tensor(&target, field::tensor::INT64, &[4], &bytes));
                self.node("Reshape", name, &[&target], vec![]);
            }
            Activation::Softmax => self.node("Softmax", name, &[], vec![int_attribute("axis", 1)]),
            // 1 where x > 0, else 0: Relu(Sign(x)).
            Activation::Step => {
                self.node("Sign", &format!("{name}.sign"), &[], vec![]);
                self.node("Relu", name, &[], vec![]);
            }
        }
    }
}

/// The ONNX model of `model`, with `card` in its `metadata_props`.
pub fn encode(model: &Sequential, card: &ModelCard) -> Vec<u8> {
    let spec = model.spec();
    let mut builder = Builder {
        tensors: model
            .tensors()
            .map(|(name, shape, values)| (name, (shape, values)))
            .collect(),
        nodes: Vec::new(),
        initializers: Vec::new(),
        current: INPUT.to_string(),
    };
    let scale = "pixel_scale";
    builder.initializers.push(tensor(
        scale,
        field::tensor::FLOAT,
        &[],
        &(1.0f32 / 255.0).to_le_bytes(),
    ));
    builder.node("Mul", "scale_pixels", &[scale], vec![]);
    for (index, module) in modules(spec).iter().enumerate() {
        let name = format!("layers.{index}");
        let tensor_name = |what: &str| format!("{name}.{what}");
        match *module {
            Module::Conv2d {
                kernel,
                stride,
                padding,
                bias,
                ..
            } => {
                let mut inputs = vec![builder.weight(tensor_name("weight"))];
                if bias {
                    inputs.push(builder.weight(tensor_name("bias")));
                }
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let (k, s, p) = (kernel as i64, stride as i64, padding as i64);
                let attributes = vec![
                    ints_attribute("kernel_shape", &[k, k]),
                    ints_attribute("strides", &[s, s]),
                    ints_attribute("pads", &[p, p, p, p]),
                ];
                builder.node("Conv", &name, &inputs, attributes);
            }
            Module::BatchNorm { .. } => {
                let inputs: Vec<String> = ["weight", "bias", "running_mean", "running_var"]
                    .iter()
                    .map(|what| builder.weight(tensor_name(what)))
                    .collect();
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let epsilon = float_attribute("epsilon", nn::BATCH_NORM_EPS);
                builder.node("BatchNormalization", &name, &inputs, vec![epsilon]);
            }
            Module::Linear { bias, .. } => {
                let mut inputs = vec![builder.weight(tensor_name("weight"))];
                if bias {
                    inputs.push(builder.weight(tensor_name("bias")));
                }
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                // Y = X * W^T + b, W stored [O, I] as PyTorch stores it.
                builder.node("Gemm", &name, &inputs, vec![int_attribute("transB", 1)]);
            }
            Module::Activation { activation, shape } => {
                builder.activation(&name, activation, shape)
            }
            Module::MaxPool2d { kernel, stride } | Module::AvgPool2d { kernel, stride } => {
                let op = match module {
                    Module::MaxPool2d { .. } => "MaxPool",
                    _ => "AveragePool",
                };
                let (k, s) = (kernel as i64, stride as i64);
                let attributes = vec![
                    ints_attribute("kernel_shape", &[k, k]),
                    ints_attribute("strides", &[s, s]),
                ];
                builder.node(op, &name, &[], attributes);
            }
            Module::Flatten => builder.node("Flatten", &name, &[], vec![int_attribute("axis", 1)]),
            Module::Dropout(_) => {}
        }
    }
    let output_name = match spec.output {
        Activation::Identity => LOGITS,
        _ => OUTPUT,
    };
    builder
        .nodes
        .last_mut()
        .expect("the output layer is a node")
        .output = output_name.to_string();

    let mut graph = Message::new();
    for node in &builder.nodes {
        let mut message = Message::new();
        for input in &node.inputs {
            message.string(field::node::INPUT, input);
        }
        message
            .string(field::node::OUTPUT, &node.output)
            .string(field::node::NAME, &node.name)
            .string(field::node::OP_TYPE, node.op_type);
        for attribute in &node.attributes {
            message.message(field::node::ATTRIBUTE, attribute);
        }
        graph.message(field::graph::NODE, &message);
    }
    graph.string(field::graph::NAME, "mnist");
    for initializer in &builder.initializers {
        graph.message(field::graph::INITIALIZER, initializer);
    }
    graph.string(field::graph::DOC_STRING, &doc_string(model));
    let input_dims: Vec<usize> = if spec.input.is_image() {
        vec![spec.input.channels, spec.input.height, spec.input.width]
    } else {
        vec![spec.input.len()]
    };
    graph.message(field::graph::INPUT, &value_info(INPUT, &input_dims));
    graph.message(
        field::graph::OUTPUT,
        &value_info(output_name, &[spec.outputs]),
    );

    let mut onnx = Message::new();
    onnx.int(field::model::IR_VERSION, IR_VERSION)
        .string(field::model::PRODUCER_NAME, "trainer")
        .string(field::model::PRODUCER_VERSION, env!("CARGO_PKG_VERSION"))
        .string(field::model::DOC_STRING, &doc_string(model))
        .message(field::model::GRAPH, &graph);
    let mut opset = Message::new();
    opset
        .string(field::opset::DOMAIN, "")
        .int(field::opset::VERSION, OPSET);
    onnx.message(field::model::OPSET_IMPORT, &opset);
    for (key, value) in card.entries() {
        let mut entry = Message::new();
        entry
            .string(field::entry::KEY, &key)
            .string(field::entry::VALUE, &value);
        onnx.message(field::model::METADATA_PROPS, &entry);
    }
    onnx.into_bytes()
}

/// What the graph takes and gives, for its `doc_string`.
fn doc_string(model: &Sequential) -> String {
    let spec = model.spec();
    let shape = if spec.input.is_image() {
        format!(
            "{BATCH} x {} x {} x {}",
            spec.input.channels, spec.input.height, spec.input.width
        )
    } else {
        format!("{BATCH} x {}", spec.input.len())
    };
    let output = match spec.output {
        Activation::Identity => format!(
            "{LOGITS}: {BATCH} x {}, logits (apply softmax yourself for probabilities)",
            spec.outputs
        ),
        other => format!("{OUTPUT}: {BATCH} x {}, {}", spec.outputs, other.name()),
    };
    format!(
        "{}: {INPUT}: float {shape}, pixel values 0-255 (0 = background), row after row; \
         the graph scales them by 1/255. {output}.",
        spec.summary()
    )
}

fn tensor(name: &str, data_type: i64, dims: &[usize], raw: &[u8]) -> Message {
    let mut message = Message::new();
    for &dim in dims {
        message.int(field::tensor::DIMS, dim as i64);
    }
    message
        .int(field::tensor::DATA_TYPE, data_type)
        .string(field::tensor::NAME, name)
        .bytes(field::tensor::RAW_DATA, raw);
    message
}

/// A float tensor's name, type and shape; the first dimension is the batch
/// (`N`, free), then `dims`.
fn value_info(name: &str, dims: &[usize]) -> Message {
    let mut shape = Message::new();
    let mut batch = Message::new();
    batch.string(field::shape::DIM_PARAM, BATCH);
    shape.message(field::shape::DIM, &batch);
    for &dim in dims {
        let mut dimension = Message::new();
        dimension.int(field::shape::DIM_VALUE, dim as i64);
        shape.message(field::shape::DIM, &dimension);
    }
    let mut tensor_type = Message::new();
    tensor_type
        .int(field::type_proto::ELEM_TYPE, field::tensor::FLOAT)
        .message(field::type_proto::SHAPE, &shape);
    let mut type_proto = Message::new();
    type_proto.message(field::type_proto::TENSOR_TYPE, &tensor_type);
    let mut message = Message::new();
    message
        .string(field::value_info::NAME, name)
        .message(field::value_info::TYPE, &type_proto);
    message
}

fn attribute(name: &str, kind: i64) -> Message {
    let mut message = Message::new();
    message
        .string(field::attribute::NAME, name)
        .int(field::attribute::TYPE, kind);
    message
}

fn int_attribute(name: &str, value: i64) -> Message {
    let mut message = attribute(name, field::attribute::TYPE_INT);
    message.int(field::attribute::I, value);
    message
}

fn float_attribute(name: &str, value: f32) -> Message {
    let mut message = attribute(name, field::attribute::TYPE_FLOAT);
    message.float(field::attribute::F, value);
    message
}

fn ints_attribute(name: &str, values: &[i64]) -> Message {
    let mut message = attribute(name, field::attribute::TYPE_INTS);
    for &value in values {
        message.int(field::attribute::INTS, value);
    }
    message
}
