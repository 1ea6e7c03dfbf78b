//! `trainer export --onnx`, `trainer info [--pytorch]` and `eval
//! --dump-logits`, end to end: the ONNX file is decoded here by a protobuf
//! reader of the test's own (not the writer's code) and checked field by
//! field against onnx.proto's numbering and the weights file; then, when
//! Python has onnxruntime (`pip install onnxruntime onnx numpy`), the file
//! runs there on the MNIST test images and must give our accuracy exactly
//! and our logits within 1e-4. The printed PyTorch source is checked
//! against the spec's modules, and run in PyTorch when `torch` imports
//! (in `TRAINER_TORCH_PYTHON`, default `python3`). Without those packages
//! the Python parts print a note and pass, as `nn`'s `weights_io` does;
//! `cargo xtask interop` runs the same scripts with PyTorch installed.

mod common;

use common::{
    assert_clean_failure, assert_success, path_arg, run, temp_dir, text, train_one_epoch,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const MLP: &str = "784,32,10";
const CNN: &str = "1x28x28 c4k3bn p2 10";

/// Trains `layers` for one epoch on 2000 images into `dir/name`.
fn train(dir: &Path, name: &str, layers: &str) -> PathBuf {
    train_one_epoch(&dir.join(name), 2000, &["--layers", layers])
}

fn export(model: &Path, onnx: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "export",
        "--model",
        path_arg(model),
        "--onnx",
        path_arg(onnx),
    ];
    args.extend_from_slice(extra);
    assert_success(&run(&args))
}

// ---------------------------------------------------------------------------
// A protobuf reader, independent of the exporter's writer.
// https://protobuf.dev/programming-guides/encoding/

#[derive(Clone, Copy, Debug)]
enum Value<'a> {
    Varint(u64),
    /// Skipped: onnx.proto's messages here hold no double or fixed64.
    Fixed64,
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// `(field number, value)` of every field of a message, in order.
fn decode(mut bytes: &[u8]) -> Vec<(u32, Value<'_>)> {
    fn varint(bytes: &mut &[u8]) -> u64 {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = bytes[0];
            *bytes = &bytes[1..];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
        }
        panic!("varint longer than 10 bytes")
    }
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes);
        let (field, wire_type) = ((key >> 3) as u32, key & 7);
        let value = match wire_type {
            0 => Value::Varint(varint(&mut bytes)),
            1 => {
                bytes = &bytes[8..];
                Value::Fixed64
            }
            2 => {
                let length = varint(&mut bytes) as usize;
                let (head, rest) = bytes.split_at(length);
                bytes = rest;
                Value::Bytes(head)
            }
            5 => {
                let (head, rest) = bytes.split_at(4);
                bytes = rest;
                Value::Fixed32(u32::from_le_bytes(head.try_into().unwrap()))
            }
            other => panic!("wire type {other} in field {field}"),
        };
        fields.push((field, value));
    }
    fields
}

/// Every length-delimited value of `field`.
fn all<'a>(message: &[(u32, Value<'a>)], field: u32) -> Vec<&'a [u8]> {
    message
        .iter()
        .filter(|(f, _)| *f == field)
        .map(|(_, v)| match v {
            Value::Bytes(b) => *b,
            other => panic!("field {field} is {other:?}, not length-delimited"),
        })
        .collect()
}

fn one<'a>(message: &[(u32, Value<'a>)], field: u32) -> Option<&'a [u8]> {
    let found = all(message, field);
    assert!(found.len() <= 1, "field {field} repeated");
    found.first().copied()
}

fn string(message: &[(u32, Value<'_>)], field: u32) -> String {
    one(message, field).map_or(String::new(), |b| String::from_utf8(b.to_vec()).unwrap())
}

fn strings(message: &[(u32, Value<'_>)], field: u32) -> Vec<String> {
    all(message, field)
        .into_iter()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
        .collect()
}

/// Every varint of `field` as int64 (repeated fields, packed or not).
fn ints(message: &[(u32, Value<'_>)], field: u32) -> Vec<i64> {
    let mut values = Vec::new();
    for (f, value) in message {
        if *f != field {
            continue;
        }
        match value {
            Value::Varint(v) => values.push(*v as i64),
            Value::Bytes(packed) => {
                values.extend(decode_packed(packed));
            }
            other => panic!("field {field} is {other:?}"),
        }
    }
    values
}

fn decode_packed(mut bytes: &[u8]) -> Vec<i64> {
    let mut values = Vec::new();
    while !bytes.is_empty() {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = bytes[0];
            bytes = &bytes[1..];
            value |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        values.push(value as i64);
    }
    values
}

fn int(message: &[(u32, Value<'_>)], field: u32) -> Option<i64> {
    let found = ints(message, field);
    assert!(found.len() <= 1, "field {field} repeated");
    found.first().copied()
}

fn float(message: &[(u32, Value<'_>)], field: u32) -> Option<f32> {
    message.iter().find_map(|(f, v)| match (f, v) {
        (f, Value::Fixed32(bits)) if *f == field => Some(f32::from_bits(*bits)),
        _ => None,
    })
}

// ---------------------------------------------------------------------------
// onnx.proto, as read here.

/// An attribute's ints, float and int, whichever it holds.
type Attribute = (Vec<i64>, Option<f32>, Option<i64>);
/// A graph input or output: name, elem_type, dims (a value, or Err(param)).
type ValueInfo = (String, i64, Vec<Result<i64, String>>);

struct OnnxNode {
    op_type: String,
    name: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    attributes: BTreeMap<String, Attribute>,
}

struct OnnxTensor {
    dims: Vec<usize>,
    data_type: i64,
    raw: Vec<u8>,
}

impl OnnxTensor {
    fn floats(&self) -> Vec<f32> {
        assert_eq!(self.data_type, 1, "FLOAT");
        self.raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }
}

struct OnnxModel {
    ir_version: i64,
    /// (domain, version)
    opsets: Vec<(String, i64)>,
    producer: String,
    nodes: Vec<OnnxNode>,
    initializers: BTreeMap<String, OnnxTensor>,
    inputs: Vec<ValueInfo>,
    outputs: Vec<ValueInfo>,
    metadata: BTreeMap<String, String>,
}

fn value_info(bytes: &[u8]) -> ValueInfo {
    let info = decode(bytes);
    let type_proto = decode(one(&info, 2).expect("ValueInfoProto.type"));
    let tensor_type = decode(one(&type_proto, 1).expect("TypeProto.tensor_type"));
    let shape = decode(one(&tensor_type, 2).expect("Tensor.shape"));
    let dims = all(&shape, 1)
        .into_iter()
        .map(|dim| {
            let dim = decode(dim);
            match int(&dim, 1) {
                Some(value) => Ok(value),
                None => Err(string(&dim, 2)),
            }
        })
        .collect();
    (
        string(&info, 1),
        int(&tensor_type, 1).expect("elem_type"),
        dims,
    )
}

fn read_onnx(path: &Path) -> OnnxModel {
    let bytes = std::fs::read(path).unwrap();
    let model = decode(&bytes);
    let graph = decode(one(&model, 7).expect("ModelProto.graph"));
    let nodes = all(&graph, 1)
        .into_iter()
        .map(|node| {
            let node = decode(node);
            let attributes = all(&node, 5)
                .into_iter()
                .map(|a| {
                    let a = decode(a);
                    (string(&a, 1), (ints(&a, 8), float(&a, 2), int(&a, 3)))
                })
                .collect();
            OnnxNode {
                op_type: string(&node, 4),
                name: string(&node, 3),
                inputs: strings(&node, 1),
                outputs: strings(&node, 2),
                attributes,
            }
        })
        .collect();
    let initializers = all(&graph, 5)
        .into_iter()
        .map(|t| {
            let t = decode(t);
            let tensor = OnnxTensor {
                dims: ints(&t, 1).into_iter().map(|d| d as usize).collect(),
                data_type: int(&t, 2).expect("data_type"),
                raw: one(&t, 9).expect("raw_data").to_vec(),
            };
            (string(&t, 8), tensor)
        })
        .collect();
    let opsets = all(&model, 8)
        .into_iter()
        .map(|o| {
            let o = decode(o);
            (string(&o, 1), int(&o, 2).unwrap())
        })
        .collect();
    let metadata = all(&model, 14)
        .into_iter()
        .map(|e| {
            let e = decode(e);
            (string(&e, 1), string(&e, 2))
        })
        .collect();
    OnnxModel {
        ir_version: int(&model, 1).expect("ir_version"),
        opsets,
        producer: string(&model, 2),
        nodes,
        initializers,
        inputs: all(&graph, 11).into_iter().map(value_info).collect(),
        outputs: all(&graph, 12).into_iter().map(value_info).collect(),
        metadata,
    }
}

// ---------------------------------------------------------------------------

/// Checks what every export holds: opset, the scaling Mul first, the
/// nodes chained one into the next, initializers equal to the weights
/// file's tensors, input and output with a free batch dimension, the card.
fn check_common(onnx: &OnnxModel, weights: &Path, input_dims: &[i64], op_types: &[&str]) {
    assert!(onnx.ir_version >= 7, "IR version {}", onnx.ir_version);
    let default_domain: Vec<i64> = onnx
        .opsets
        .iter()
        .filter(|(domain, _)| domain.is_empty() || domain == "ai.onnx")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(default_domain.len(), 1, "{:?}", onnx.opsets);
    assert!(default_domain[0] >= 13);
    assert_eq!(onnx.producer, "trainer");

    let ops: Vec<&str> = onnx.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, op_types);
    // pixels -> Mul(1/255) -> ... -> logits, each node reading the last.
    let first = &onnx.nodes[0];
    assert_eq!(first.inputs[0], "pixels");
    let scale = &onnx.initializers[&first.inputs[1]];
    assert!(scale.dims.is_empty());
    assert_eq!(scale.floats(), [1.0f32 / 255.0]);
    for pair in onnx.nodes.windows(2) {
        assert_eq!(pair[1].inputs[0], pair[0].outputs[0], "{}", pair[1].name);
    }
    assert_eq!(onnx.nodes.last().unwrap().outputs, ["logits"]);

    // Initializers: the weights file's tensors, by name, shape and value
    // (num_batches_tracked is not needed at inference), plus the scale.
    let file = nn::safetensors::read_tensors(weights).unwrap();
    let mut expected: Vec<&str> = file
        .tensors
        .iter()
        .map(|t| t.name.as_str())
        .filter(|name| !name.ends_with("num_batches_tracked"))
        .collect();
    expected.push(first.inputs[1].as_str());
    expected.sort();
    let names: Vec<&str> = onnx.initializers.keys().map(String::as_str).collect();
    assert_eq!(names, expected);
    for tensor in &file.tensors {
        let Some(initializer) = onnx.initializers.get(&tensor.name) else {
            continue;
        };
        assert_eq!(initializer.dims, tensor.shape, "{}", tensor.name);
        assert_eq!(initializer.floats(), tensor.data, "{}", tensor.name);
    }
    // Every node input is the graph input, an initializer or an earlier output.
    let mut known: Vec<String> = onnx.initializers.keys().cloned().collect();
    known.push("pixels".into());
    for node in &onnx.nodes {
        for input in &node.inputs {
            assert!(known.contains(input), "{} reads unknown {input}", node.name);
        }
        known.extend(node.outputs.iter().cloned());
    }

    let batch = || Err::<i64, String>("N".into());
    let mut dims = vec![batch()];
    dims.extend(input_dims.iter().map(|&d| Ok(d)));
    assert_eq!(onnx.inputs, [("pixels".to_string(), 1, dims)]);
    assert_eq!(
        onnx.outputs,
        [("logits".to_string(), 1, vec![batch(), Ok(10)])]
    );

    let keys: Vec<&str> = onnx.metadata.keys().map(String::as_str).collect();
    for key in ["architecture", "parameters", "date", "trainer_version"] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert_eq!(onnx.metadata["trainer_version"], env!("CARGO_PKG_VERSION"));
    // The training record travels too: the dataset, its checksum, the commit.
    let file = nn::safetensors::read_tensors(weights).unwrap();
    for key in [
        "training_data",
        "training_data_checksum",
        "trainer_commit",
        "preset",
    ] {
        assert_eq!(
            onnx.metadata.get(key),
            file.metadata.get(key),
            "{key} in {:?}",
            onnx.metadata
        );
        assert!(onnx.metadata.contains_key(key), "{key}");
    }
    let date = &onnx.metadata["date"];
    assert!(
        date.len() == 20 && date.starts_with("20") && date.ends_with('Z'),
        "{date}"
    );
}

#[test]
fn an_mlp_exports_as_gemms_with_the_scaling_first() {
    let dir = temp_dir("export-mlp");
    let weights = train(&dir, "mlp", MLP);
    let onnx_path = dir.join("mlp.onnx");
    let said = export(&weights, &onnx_path, &[]);
    assert!(
        said.contains("mlp.onnx") && said.contains("784-32-10"),
        "{said}"
    );
    let onnx = read_onnx(&onnx_path);
    check_common(&onnx, &weights, &[784], &["Mul", "Gemm", "Relu", "Gemm"]);
    let gemm = &onnx.nodes[1];
    assert_eq!(gemm.name, "layers.0");
    assert_eq!(gemm.inputs[1..], ["layers.0.weight", "layers.0.bias"]);
    assert_eq!(gemm.attributes["transB"].2, Some(1));
    assert_eq!(
        onnx.nodes[3].inputs[1..],
        ["layers.2.weight", "layers.2.bias"]
    );
    assert_eq!(onnx.metadata["architecture"], "784-32-10");
    assert_eq!(
        onnx.metadata["parameters"],
        (784 * 32 + 32 + 32 * 10 + 10).to_string()
    );
    // The model file's own card, written by train, gives the test accuracy.
    let card = nn::safetensors::read_tensors(&weights).unwrap().metadata;
    assert_eq!(onnx.metadata["test_accuracy"], card["test_accuracy"]);
}

#[test]
fn a_cnn_exports_convolution_batch_norm_and_pooling_with_their_attributes() {
    let dir = temp_dir("export-cnn");
    let weights = train(&dir, "cnn", CNN);
    let onnx_path = dir.join("cnn.onnx");
    export(&weights, &onnx_path, &["--measure"]);
    let onnx = read_onnx(&onnx_path);
    let ops = [
        "Mul",
        "Conv",
        "BatchNormalization",
        "Relu",
        "MaxPool",
        "Flatten",
        "Gemm",
    ];
    check_common(&onnx, &weights, &[1, 28, 28], &ops);
    let conv = &onnx.nodes[1];
    assert_eq!(
        conv.inputs[1..],
        ["layers.0.weight"],
        "no bias before batch norm"
    );
    assert_eq!(conv.attributes["kernel_shape"].0, [3, 3]);
    assert_eq!(conv.attributes["strides"].0, [1, 1]);
    assert_eq!(conv.attributes["pads"].0, [0, 0, 0, 0]);
    let norm = &onnx.nodes[2];
    let statistics = ["weight", "bias", "running_mean", "running_var"];
    let expected: Vec<String> = statistics.iter().map(|s| format!("layers.1.{s}")).collect();
    assert_eq!(norm.inputs[1..], expected);
    assert_eq!(norm.attributes["epsilon"].1, Some(1e-5));
    assert_eq!(onnx.nodes[4].attributes["kernel_shape"].0, [2, 2]);
    assert_eq!(onnx.nodes[4].attributes["strides"].0, [2, 2]);
    assert_eq!(onnx.nodes[5].attributes["axis"].2, Some(1));
    assert_eq!(
        onnx.nodes[6].inputs[1..],
        ["layers.5.weight", "layers.5.bias"]
    );
    // --measure: the test accuracy, as eval reports it.
    let eval = assert_success(&run(&["eval", "--model", path_arg(&weights), "--json"]));
    let eval: serde_json::Value = serde_json::from_str(&eval).unwrap();
    let accuracy: f64 = onnx.metadata["test_accuracy"].parse().unwrap();
    assert!((accuracy - eval["accuracy"].as_f64().unwrap()).abs() < 1e-4);
    assert_eq!(onnx.metadata["test_images"], "10000");
    assert_eq!(onnx.metadata["architecture"], "1x28x28 c4k3bn p2 10");
}

#[test]
fn the_card_takes_the_test_accuracy_from_the_run_folders_metrics() {
    let dir = temp_dir("export-metrics");
    let weights = train(&dir, "mlp", "784-10");
    let metrics = weights.with_file_name("metrics.jsonl");
    let mut lines = std::fs::read_to_string(&metrics).unwrap();
    lines.push_str("{\"test_accuracy\":0.9123,\"test_loss\":0.3,\"test_images\":10000}\n");
    std::fs::write(&metrics, lines).unwrap();
    let onnx_path = dir.join("m.onnx");
    export(&weights, &onnx_path, &[]);
    assert_eq!(read_onnx(&onnx_path).metadata["test_accuracy"], "0.9123");
    let info = assert_success(&run(&["info", "--model", path_arg(&weights)]));
    assert!(
        info.contains("test accuracy: 91.23% on 10000 test images"),
        "{info}"
    );
}

#[test]
fn export_refuses_a_missing_model_and_an_unwritable_place_in_one_line() {
    let dir = temp_dir("export-errors");
    let output = run(&[
        "export",
        "--model",
        path_arg(&dir.join("absent.safetensors")),
        "--onnx",
        path_arg(&dir.join("x.onnx")),
    ]);
    assert_clean_failure(&output, 1, &["absent.safetensors"]);
    let weights = common::small_model(&dir);
    let nowhere = dir.join("no-such-folder").join("x.onnx");
    let output = run(&[
        "export",
        "--model",
        path_arg(&weights),
        "--onnx",
        path_arg(&nowhere),
    ]);
    assert_clean_failure(&output, 1, &["no-such-folder"]);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn export_help_says_what_the_graph_takes_and_gives() {
    let help = assert_success(&run(&["export", "--help"]));
    for needle in [
        "0-255",
        "1/255",
        "N x 1 x 28 x 28",
        "N x 784",
        "logits",
        "softmax",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from:\n{help}");
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), one bit at a time.
fn crc32_bitwise(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn info_prints_the_card_modules_and_tensors() {
    assert_eq!(crc32_bitwise(b"123456789"), 0xCBF4_3926);
    let dir = temp_dir("export-info");
    let weights = train(&dir, "cnn", CNN);
    let info = assert_success(&run(&["info", "--model", path_arg(&weights)]));
    for needle in [
        "architecture: 1x28x28 c4k3bn p2 10",
        "parameters: 6814",
        "  0  Conv2d(1, 4, kernel_size=3",
        "  4  Flatten()",
        "  5  Linear(676, 10, bias=True)",
        "layers.1.num_batches_tracked []",
        "layers.5.weight",
    ] {
        assert!(info.contains(needle), "{needle:?} missing from:\n{info}");
    }
    // The data it was trained on, each file's CRC-32 (computed here bit by
    // bit), and the commit the trainer was built from.
    let data = mnist_dir().canonicalize().unwrap();
    assert!(
        info.contains(&format!("training data: {}\n", data.display())),
        "{info}"
    );
    let sums: Vec<String> = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    .iter()
    .map(|name| {
        format!(
            "{name} {:08x}",
            crc32_bitwise(&std::fs::read(data.join(name)).unwrap())
        )
    })
    .collect();
    let checksum = format!("training data checksum: crc32 {}\n", sums.join(", "));
    assert!(
        info.contains(&checksum),
        "{checksum:?} missing from:\n{info}"
    );
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_string(), |o| {
            text(&o.stdout).trim().to_string()
        });
    assert!(
        info.contains(&format!("trainer commit: {commit}\n")),
        "{commit} missing from:\n{info}"
    );
    // A run folder stands for its model, as for eval and predict.
    let folder = weights.parent().unwrap();
    let source = assert_success(&run(&["info", "--model", path_arg(folder), "--pytorch"]));
    let named = format!("load_file({:?})", path_arg(&weights));
    assert!(source.contains(&named), "{named} missing from:\n{source}");
    let onnx = folder.join("cnn.onnx");
    export(folder, &onnx, &[]);
    assert_eq!(read_onnx(&onnx).nodes.len(), 7);
}

// ---------------------------------------------------------------------------
// Elsewhere: onnxruntime and PyTorch.

fn python_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
}

/// Whether `python` can import `module`.
fn python_has(python: &str, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a checker script and parses its one JSON line.
fn run_checker(python: &str, script: &str, args: &[&Path]) -> serde_json::Value {
    let output = Command::new(python)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(python_tests().join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script} failed: {}",
        text(&output.stderr)
    );
    serde_json::from_str(&text(&output.stdout)).unwrap()
}

/// Our accuracy on the full test set (`eval --json`) and our outputs
/// (`--dump-logits`) for `weights`.
fn our_results(weights: &Path, logits: &Path) -> f64 {
    let eval = assert_success(&run(&[
        "eval",
        "--model",
        path_arg(weights),
        "--json",
        "--dump-logits",
        path_arg(logits),
    ]));
    let eval: serde_json::Value = serde_json::from_str(&eval).unwrap();
    assert_eq!(eval["images"], 10_000);
    eval["accuracy"].as_f64().unwrap()
}

#[test]
fn dump_logits_writes_a_npy_of_the_test_outputs() {
    let dir = temp_dir("export-dump");
    let weights = common::small_model(&dir);
    let path = dir.join("logits.npy");
    our_results(&weights, &path);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0);
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(
        header.contains("'descr': '<f4'") && header.contains("(10000, 10)"),
        "{header}"
    );
    assert_eq!(bytes.len(), 10 + header_len + 10_000 * 10 * 4);
}

#[test]
fn onnxruntime_gives_our_accuracy_and_logits() {
    if !python_has("python3", "onnxruntime") || !python_has("python3", "numpy") {
        eprintln!(
            "note: python3 lacks onnxruntime or numpy (pip install onnxruntime onnx numpy); \
             the ONNX files are not run"
        );
        return;
    }
    let dir = temp_dir("export-onnxruntime");
    for (name, layers, input) in [
        ("mlp", MLP, vec!["N", "784"]),
        ("cnn", CNN, vec!["N", "1", "28", "28"]),
    ] {
        let weights = train(&dir, name, layers);
        let onnx = dir.join(format!("{name}.onnx"));
        export(&weights, &onnx, &[]);
        let logits = dir.join(format!("{name}.npy"));
        let accuracy = our_results(&weights, &logits);
        let checked = run_checker("python3", "check_onnx.py", &[&onnx, &logits, &mnist_dir()]);
        assert_eq!(checked["images"], 10_000);
        assert_eq!(
            checked["accuracy"].as_f64().unwrap(),
            accuracy,
            "{name}: {checked}"
        );
        let diff = checked["max_abs_diff"].as_f64().unwrap();
        assert!(diff <= 1e-4, "{name}: logits differ by {diff}");
        assert_eq!(checked["input_shape"], serde_json::json!(input));
        assert_eq!(checked["output_shape"], serde_json::json!(["N", "10"]));
        assert_eq!(checked["output_name"], "logits");
        assert_ne!(checked["checker"], "failed");
        eprintln!("{name}: onnxruntime accuracy {accuracy}, logits within {diff:e}");
    }
}

/// Every kind of layer and activation `nn` trains: strides, padding,
/// average and global pooling, batch norm on images and on vectors,
/// dropout, leaky ReLU, tanh, sigmoid, softmax over an image and at the
/// output. The ops are checked here; onnxruntime and torch, when present,
/// must agree with our outputs.
#[test]
fn every_kind_of_layer_exports_and_runs_the_same_elsewhere() {
    let dir = temp_dir("export-kinds");
    let onnxruntime = python_has("python3", "onnxruntime") && python_has("python3", "numpy");
    let python = std::env::var("TRAINER_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let torch = python_has(&python, "torch") && python_has(&python, "numpy");
    let cases: [(&str, &[&str]); 4] = [
        (
            "1x28x28 c4k3s2p1bn d0.1 p3s2 gap f10bn d0.5 10 hidden=leaky_relu:0.1 output=softmax",
            &[
                "Mul",
                "Conv",
                "BatchNormalization",
                "LeakyRelu",
                "MaxPool",
                "AveragePool",
                "Flatten",
                "Gemm",
                "BatchNormalization",
                "LeakyRelu",
                "Gemm",
                "Softmax",
            ],
        ),
        (
            "1x28x28 c4k5p2 a2 c8k5 a2 f12 10 hidden=tanh",
            &[
                "Mul",
                "Conv",
                "Tanh",
                "AveragePool",
                "Conv",
                "Tanh",
                "AveragePool",
                "Flatten",
                "Gemm",
                "Tanh",
                "Gemm",
            ],
        ),
        (
            "784 f16bn 10 hidden=sigmoid dropout=0.2",
            &["Mul", "Gemm", "BatchNormalization", "Sigmoid", "Gemm"],
        ),
        (
            "1x28x28 c2k3 p2 10 hidden=softmax",
            &[
                "Mul", "Conv", "Flatten", "Softmax", "Reshape", "MaxPool", "Flatten", "Gemm",
            ],
        ),
    ];
    for (k, (layers, ops)) in cases.iter().enumerate() {
        let out = dir.join(format!("run{k}"));
        assert_success(&run(&[
            "train",
            "--layers",
            layers,
            "--limit",
            "300",
            "--epochs",
            "1",
            "--out",
            path_arg(&out),
        ]));
        let weights = out.join("model.safetensors");
        let onnx_path = dir.join(format!("{k}.onnx"));
        export(&weights, &onnx_path, &[]);
        let onnx = read_onnx(&onnx_path);
        let found: Vec<&str> = onnx.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(found, *ops, "{layers}");
        let output = if layers.contains("output=softmax") {
            "output"
        } else {
            "logits"
        };
        assert_eq!(onnx.outputs[0].0, output);
        if !onnxruntime && !torch {
            continue;
        }
        let logits = dir.join(format!("{k}.npy"));
        let accuracy = our_results(&weights, &logits);
        if onnxruntime {
            let checked = run_checker(
                "python3",
                "check_onnx.py",
                &[&onnx_path, &logits, &mnist_dir()],
            );
            assert_eq!(checked["accuracy"].as_f64().unwrap(), accuracy, "{layers}");
            let diff = checked["max_abs_diff"].as_f64().unwrap();
            assert!(diff <= 1e-4, "{layers}: onnxruntime differs by {diff}");
        }
        if torch {
            let source =
                assert_success(&run(&["info", "--model", path_arg(&weights), "--pytorch"]));
            let source_path = dir.join(format!("{k}.py"));
            std::fs::write(&source_path, source).unwrap();
            let checked = run_checker(
                &python,
                "check_pytorch.py",
                &[&source_path, &weights, &logits, &mnist_dir()],
            );
            assert_eq!(checked["accuracy"].as_f64().unwrap(), accuracy, "{layers}");
            let diff = checked["max_abs_diff"].as_f64().unwrap();
            assert!(diff <= 1e-4, "{layers}: torch differs by {diff}");
        }
    }
}

/// The `# k` module lines of the printed source: `(k, constructor)`.
fn listed_modules(source: &str) -> Vec<(usize, String)> {
    source
        .lines()
        .filter_map(|line| {
            let (code, index) = line.trim().rsplit_once(",  # ")?;
            Some((index.parse().ok()?, code.to_string()))
        })
        .collect()
}

#[test]
fn pytorch_source_matches_the_spec_and_runs_in_torch_when_it_can() {
    let dir = temp_dir("export-pytorch");
    let python = std::env::var("TRAINER_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_torch = python_has(&python, "torch") && python_has(&python, "numpy");
    if !has_torch {
        eprintln!(
            "note: {python} cannot import torch and numpy (set TRAINER_TORCH_PYTHON to a \
             python that can); only the module list is checked"
        );
    }
    for (name, layers, modules) in [
        ("mlp", MLP, &["Linear(784, 32", "ReLU", "Linear(32, 10"][..]),
        (
            "cnn",
            CNN,
            &[
                "Conv2d(1, 4, kernel_size=3, stride=1, padding=0, bias=False",
                "BatchNorm2d(4",
                "ReLU",
                "MaxPool2d(kernel_size=2, stride=2",
                "Flatten",
                "Linear(676, 10, bias=True",
            ][..],
        ),
    ] {
        let weights = train(&dir, name, layers);
        let source = assert_success(&run(&["info", "--model", path_arg(&weights), "--pytorch"]));
        let listed = listed_modules(&source);
        assert_eq!(listed.len(), modules.len(), "{source}");
        for (k, ((index, code), expected)) in listed.iter().zip(modules).enumerate() {
            assert_eq!(*index, k);
            assert!(
                code.starts_with(&format!("nn.{expected}")),
                "{code} vs {expected}"
            );
        }
        // The module indices name the weights file's tensors.
        let file = nn::safetensors::read_tensors(&weights).unwrap();
        for tensor in &file.tensors {
            let index: usize = tensor.name.split('.').nth(1).unwrap().parse().unwrap();
            let module = &listed[index].1;
            assert!(
                module.starts_with("nn.Linear")
                    || module.starts_with("nn.Conv2d")
                    || module.starts_with("nn.BatchNorm"),
                "{} names {module}",
                tensor.name
            );
        }
        assert!(source.contains("def prepare(pixels):"));
        assert!(source.contains("model = Network().eval()"));
        if !has_torch {
            continue;
        }
        let source_path = dir.join(format!("{name}.py"));
        std::fs::write(&source_path, &source).unwrap();
        let logits = dir.join(format!("{name}.npy"));
        let accuracy = our_results(&weights, &logits);
        let checked = run_checker(
            &python,
            "check_pytorch.py",
            &[&source_path, &weights, &logits, &mnist_dir()],
        );
        assert_eq!(
            checked["accuracy"].as_f64().unwrap(),
            accuracy,
            "{name}: {checked}"
        );
        let diff = checked["max_abs_diff"].as_f64().unwrap();
        assert!(diff <= 1e-4, "{name}: logits differ by {diff}");
        eprintln!(
            "{name}: PyTorch accuracy {accuracy}, logits within {diff:e} (weights loaded {})",
            checked["loaded_with"]
        );
    }
}

// ---------------------------------------------------------------------------
// PyTorch's weights, here: state_dicts without our metadata, given --arch.

/// The values of a float32 `.npy` file (format 1.0, as numpy and
/// `--dump-logits` write it).
fn read_npy_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}", path.display());
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'<f4'"), "{header}");
    bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// `eval --json` of `weights` (with `extra` flags): the accuracy.
fn eval_accuracy(weights: &Path, extra: &[&str]) -> f64 {
    let mut args = vec!["eval", "--model", path_arg(weights), "--json"];
    args.extend_from_slice(extra);
    let eval: serde_json::Value = serde_json::from_str(&assert_success(&run(&args))).unwrap();
    eval["accuracy"].as_f64().unwrap()
}

/// A file as a PyTorch user would hand us: the tensors of our `weights`,
/// with no metadata (no architecture), named as a bare `nn.Sequential`
/// names them (`0.weight`).
fn as_bare_state_dict(weights: &Path, out: &Path) {
    let file = nn::safetensors::read_tensors(weights).unwrap();
    let renamed: Vec<(String, &nn::safetensors::Tensor)> = (file.tensors.iter())
        .map(|t| (t.name.trim_start_matches("layers.").to_string(), t))
        .collect();
    let tensors = (renamed.iter()).map(|(name, t)| (name.as_str(), &t.shape[..], &t.data[..]));
    nn::safetensors::write_tensors(out, tensors, &BTreeMap::new()).unwrap();
}

#[test]
fn a_state_dict_without_our_metadata_is_used_given_its_architecture() {
    let dir = temp_dir("export-arch");
    let weights = train(&dir, "cnn", CNN);
    let bare = dir.join("bare.safetensors");
    as_bare_state_dict(&weights, &bare);

    // Without --arch: what is missing, and the flag that gives it.
    let output = run(&["eval", "--model", path_arg(&bare), "--limit", "10"]);
    assert_clean_failure(&output, 1, &["bare.safetensors", "--arch \"SPEC\""]);

    // With it: the same model, so the same accuracy to the last image.
    let ours = eval_accuracy(&weights, &[]);
    assert_eq!(eval_accuracy(&bare, &["--arch", CNN]), ours);
    let seven = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seven-grey.jpg");
    for model in [&weights, &bare] {
        let predicted = assert_success(&run(&[
            "predict",
            "--model",
            path_arg(model),
            "--arch",
            CNN,
            "--json",
            path_arg(&seven),
        ]));
        let predicted: serde_json::Value = serde_json::from_str(&predicted).unwrap();
        assert_eq!(predicted["predictions"][0]["file"], path_arg(&seven));
        assert!(predicted["predictions"][0]["digit"].is_u64(), "{predicted}");
    }

    // Fine-tuning from it: with a learning rate too small to move a weight,
    // the run keeps its accuracy (batch norm's statistics move a little).
    assert_close_after_init_from(&bare, CNN);
    // And on to ONNX: the same graph as from our own file.
    let (from_bare, from_ours) = (dir.join("bare.onnx"), dir.join("ours.onnx"));
    export(&bare, &from_bare, &["--arch", CNN]);
    export(&weights, &from_ours, &[]);
    let (bare_graph, our_graph) = (read_onnx(&from_bare), read_onnx(&from_ours));
    let ops = |graph: &OnnxModel| -> Vec<String> {
        graph
            .nodes
            .iter()
            .map(|node| node.op_type.clone())
            .collect()
    };
    assert_eq!(ops(&bare_graph), ops(&our_graph));
    let weights_of = |graph: &OnnxModel| -> Vec<(String, Vec<u8>)> {
        (graph.initializers.iter())
            .map(|(name, tensor)| (name.clone(), tensor.raw.clone()))
            .collect()
    };
    assert!(weights_of(&bare_graph) == weights_of(&our_graph));
    assert_eq!(bare_graph.metadata["architecture"], CNN);

    // Another architecture: the first tensor that does not fit is named.
    let output = run(&[
        "eval",
        "--model",
        path_arg(&bare),
        "--arch",
        "1x28x28 c8k3bn p2 10",
    ]);
    assert_clean_failure(
        &output,
        1,
        &[
            "bare.safetensors",
            "\"layers.0.weight\"",
            "[4, 1, 3, 3]",
            "[8, 1, 3, 3]",
        ],
    );
    let output = run(&[
        "eval",
        "--model",
        path_arg(&bare),
        "--arch",
        "1x28x28 c4k3bn p2 f16 10",
    ]);
    assert_clean_failure(
        &output,
        1,
        &["\"layers.5.weight\"", "[10, 676]", "[16, 676]"],
    );
    // Our own file says what it holds: a different --arch is refused.
    let output = run(&["eval", "--model", path_arg(&weights), "--arch", MLP]);
    assert_clean_failure(
        &output,
        1,
        &["holds a 1x28x28 c4k3bn p2 10 network", "784-32-10"],
    );
    // Half precision (model.half() before saving): named, with the fix.
    let half = dir.join("half.safetensors");
    let header = br#"{"0.weight":{"dtype":"F16","shape":[4,1,3,3],"data_offsets":[0,72]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 72]);
    std::fs::write(&half, bytes).unwrap();
    let output = run(&["eval", "--model", path_arg(&half), "--arch", CNN]);
    assert_clean_failure(
        &output,
        1,
        &["half.safetensors", "\"0.weight\"", "F16", ".float()"],
    );
    let output = run(&["eval", "--model", path_arg(&bare), "--arch", "1x28x28 c4q3"]);
    assert_clean_failure(&output, 2, &["--arch", "c4q3"]);

    // info --arch without a file: the module of a spec, the same as the file's.
    let from_spec = assert_success(&run(&["info", "--arch", CNN, "--pytorch"]));
    let from_file = assert_success(&run(&["info", "--model", path_arg(&weights), "--pytorch"]));
    assert_eq!(listed_modules(&from_spec), listed_modules(&from_file));
    let output = run(&["info", "--arch", "784-100000000-10"]);
    assert_clean_failure(&output, 2, &["--arch", "parameters"]);
    let output = run(&["info", "--arch", "20-10"]);
    assert_clean_failure(&output, 2, &["--arch", "784 inputs"]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `train --init-from weights --arch layers` at a learning rate too small
/// to move a weight keeps the model's test accuracy on 1000 images (within
/// what batch norm's running statistics, which training moves, change).
fn assert_close_after_init_from(weights: &Path, layers: &str) {
    let limit = ["--limit", "1000"];
    let before = eval_accuracy(weights, &[&["--arch", layers][..], &limit].concat());
    let tuned = assert_success(&run(&[
        &[
            "train",
            "--init-from",
            path_arg(weights),
            "--arch",
            layers,
            "--epochs",
            "1",
            "--lr",
            "1e-30",
            "--no-save",
            "--json",
        ][..],
        &limit,
    ]
    .concat()));
    let tuned: serde_json::Value = serde_json::from_str(&tuned).unwrap();
    let after = tuned["test_accuracy"].as_f64().unwrap();
    assert!(
        (after - before).abs() < 0.05 && before > 0.3,
        "{}: {before} before, {after} after",
        weights.display()
    );
}

/// The round trip a PyTorch user makes: `info --arch SPEC --pytorch`, train
/// that module in PyTorch, `safetensors.torch.save_file(state_dict)` (batch
/// norm's counters as I64), then `eval --arch SPEC` here gives PyTorch's
/// accuracy and its logits within 1e-4, for the module's names and a bare
/// `nn.Sequential`'s.
#[test]
fn weights_trained_in_pytorch_give_pytorchs_logits_here() {
    let python = std::env::var("TRAINER_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let usable = ["torch", "numpy", "safetensors"]
        .iter()
        .all(|module| python_has(&python, module));
    if !usable {
        eprintln!(
            "note: {python} cannot import torch, numpy and safetensors (set \
             TRAINER_TORCH_PYTHON to a python that can); PyTorch's weights are not tried"
        );
        return;
    }
    let dir = temp_dir("export-from-torch");
    for (name, layers) in [("cnn", CNN), ("mlp", "784 f32bn 10 hidden=tanh")] {
        let out = dir.join(name);
        std::fs::create_dir_all(&out).unwrap();
        let source = assert_success(&run(&["info", "--arch", layers, "--pytorch"]));
        let source_path = out.join("network.py");
        std::fs::write(&source_path, source).unwrap();
        let torch = run_checker(
            &python,
            "torch_weights.py",
            &[&source_path, &out, &mnist_dir()],
        );
        assert_eq!(torch["dtypes"], serde_json::json!(["F32", "I64"]), "{name}");
        let torch_accuracy = torch["accuracy"].as_f64().unwrap();
        assert!(
            torch_accuracy > 0.5,
            "{name}: PyTorch's training failed: {torch}"
        );
        let torch_logits = read_npy_f32(&out.join("torch.npy"));
        for file in ["held", "bare"] {
            let weights = out.join(format!("{file}.safetensors"));
            let ours = out.join(format!("{file}.npy"));
            let accuracy = eval_accuracy(
                &weights,
                &["--arch", layers, "--dump-logits", path_arg(&ours)],
            );
            let logits = read_npy_f32(&ours);
            assert_eq!(logits.len(), torch_logits.len());
            let diff = (logits.iter().zip(&torch_logits))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(diff <= 1e-4, "{name} {file}: logits differ by {diff}");
            assert_eq!(accuracy, torch_accuracy, "{name} {file}");
            eprintln!(
                "{name} ({file} names): PyTorch's accuracy {accuracy}, logits within {diff:e}"
            );
        }
        assert_close_after_init_from(&out.join("held.safetensors"), layers);
    }
    std::fs::remove_dir_all(dir).unwrap();
}
