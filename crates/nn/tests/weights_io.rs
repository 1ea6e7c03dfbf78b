//! Weights on disk: save then load gives bit-identical predictions, and every
//! kind of bad file is a clear error naming the file. Also, when Python with
//! `safetensors` and `numpy` is available (set `NN_PYTHON`, default
//! `python3`), the file is read by `safetensors.numpy.load_file`.

use nn::safetensors::{encode, read_tensors, write_tensors};
use nn::{Init, ModelSpec, NnError, Sequential};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tensor::Matrix;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("nn-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn model() -> Sequential {
    let spec = ModelSpec::parse("20-16-8-5 hidden=tanh dropout=0.25").unwrap();
    let mut model = Sequential::new(&spec, Init::XavierNormal, 99).unwrap();
    // Non-zero biases so they round-trip too.
    for (name, value, _) in model.params_mut() {
        if name.ends_with("bias") {
            value
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = i as f32 * 0.01 - 0.03);
        }
    }
    model
}

fn inputs() -> Matrix {
    Matrix::from_fn(1234, 20, |r, c| ((r * 20 + c) as f32 * 0.017).sin())
}

#[test]
fn save_then_load_gives_bit_identical_predictions() {
    let dir = TempDir::new("roundtrip");
    let path = dir.join("model.safetensors");
    let mut original = model();
    original.save(&path).unwrap();
    let mut loaded = Sequential::load(&path).unwrap();
    assert_eq!(loaded.spec(), original.spec());
    let x = inputs();
    let a = original.predict_proba(x.view()).unwrap();
    let b = loaded.predict_proba(x.view()).unwrap();
    let bits = |m: &Matrix| m.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(
        original.predict(x.view()).unwrap(),
        loaded.predict(x.view()).unwrap()
    );
    // Loading into an existing model of the same architecture works too.
    let spec = original.spec().clone();
    let mut fresh = Sequential::new(&spec, Init::HeNormal, 1).unwrap();
    fresh.load_weights(&path).unwrap();
    assert_eq!(bits(&fresh.predict_proba(x.view()).unwrap()), bits(&a));
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
}

/// Writes the model's tensors after `edit`, with the model's metadata.
fn write_edited(path: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<f32>)>)) {
    let original = model();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = original
        .params()
        .map(|(n, s, v)| (n.to_string(), s.to_vec(), v.to_vec()))
        .collect();
    edit(&mut tensors);
    let views = tensors
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice()));
    write_tensors(path, views, &original.metadata()).unwrap();
}

#[test]
fn a_wrong_shape_is_named() {
    let dir = TempDir::new("shape");
    let path = dir.join("bad.safetensors");
    write_edited(&path, |t| {
        t[2].1 = vec![16, 8]; // layers.3.weight should be [8, 16]
    });
    let err = Sequential::load(&path).unwrap_err();
    match &err {
        NnError::WrongShape {
            name,
            expected,
            found,
            ..
        } => {
            assert_eq!(name, "layers.3.weight");
            assert_eq!(
                (expected.as_slice(), found.as_slice()),
                (&[8, 16][..], &[16, 8][..])
            );
        }
        other => panic!("wrong error: {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("bad.safetensors") && message.contains("[16, 8]"),
        "{message}"
    );
}

#[test]
fn a_missing_or_unexpected_name_is_named() {
    let dir = TempDir::new("names");
    let missing = dir.join("missing.safetensors");
    write_edited(&missing, |t| {
        t.remove(1);
    });
    let err = Sequential::load(&missing).unwrap_err();
    assert!(
        matches!(&err, NnError::MissingTensor { name, .. } if name == "layers.0.bias"),
        "{err}"
    );
    assert!(err.to_string().contains("missing.safetensors"));

    let extra = dir.join("extra.safetensors");
    write_edited(&extra, |t| {
        t.push(("layers.9.weight".into(), vec![1], vec![0.0]))
    });
    let err = Sequential::load(&extra).unwrap_err();
    assert!(
        matches!(&err, NnError::UnexpectedTensor { name, .. } if name == "layers.9.weight"),
        "{err}"
    );
}

#[test]
fn a_file_read_once_builds_the_model_and_extra_tensors_are_allowed_only_on_request() {
    let dir = TempDir::new("from-file");
    let path = dir.join("checkpoint.safetensors");
    write_edited(&path, |t| {
        t.push((
            "optimizer.adam.m.layers.0.weight".into(),
            vec![2],
            vec![1.0, 2.0],
        ))
    });
    let file = read_tensors(&path).unwrap();
    let err = Sequential::from_tensor_file(&file, &path, false).unwrap_err();
    assert!(
        matches!(&err, NnError::UnexpectedTensor { name, .. } if name.starts_with("optimizer.")),
        "{err}"
    );
    let mut loaded = Sequential::from_tensor_file(&file, &path, true).unwrap();
    let mut original = model();
    assert_eq!(loaded.spec(), original.spec());
    let x = inputs();
    let bits = |m: &Matrix| m.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&loaded.predict_proba(x.view()).unwrap()),
        bits(&original.predict_proba(x.view()).unwrap())
    );
}

#[test]
fn a_wrong_dtype_is_named() {
    let dir = TempDir::new("dtype");
    let path = dir.join("f64.safetensors");
    // A well-formed file whose first tensor says F64 (same byte count as 2 x F32).
    let header = r#"{"layers.0.bias":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 8]);
    std::fs::write(&path, bytes).unwrap();
    let err = read_tensors(&path).unwrap_err();
    assert!(
        matches!(&err, NnError::WrongDtype { name, dtype, .. } if name == "layers.0.bias" && dtype == "F64"),
        "{err}"
    );
    assert!(err.to_string().contains("f64.safetensors"));
}

#[test]
fn truncated_and_garbled_files_are_errors_not_panics() {
    let dir = TempDir::new("truncated");
    let good = dir.join("good.safetensors");
    model().save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.join("cut.safetensors");
    for len in [0, 5, 8, 40, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let err = Sequential::load(&cut).unwrap_err();
        assert!(matches!(err, NnError::Format { .. }), "{len}: {err}");
        assert!(err.to_string().contains("cut.safetensors"), "{err}");
    }
    let noise = dir.join("noise.safetensors");
    std::fs::write(&noise, b"this is not a tensor file at all, just text").unwrap();
    assert!(matches!(
        Sequential::load(&noise),
        Err(NnError::Format { .. })
    ));
    let absent = dir.join("absent.safetensors");
    let err = Sequential::load(&absent).unwrap_err();
    assert!(matches!(err, NnError::Io { .. }) && err.to_string().contains("absent.safetensors"));
}

#[test]
fn another_architecture_is_refused_by_load_weights() {
    let dir = TempDir::new("arch");
    let path = dir.join("model.safetensors");
    model().save(&path).unwrap();
    // Same shapes, other activation: loading would silently change behaviour.
    let spec = ModelSpec::parse("20-16-8-5 hidden=relu dropout=0.25").unwrap();
    let mut other = Sequential::new(&spec, Init::HeNormal, 0).unwrap();
    let err = other.load_weights(&path).unwrap_err();
    assert!(matches!(err, NnError::ArchitectureMismatch { .. }), "{err}");
    // A file without architecture metadata cannot build a model by itself.
    let bare = dir.join("bare.safetensors");
    let m = model();
    write_tensors(&bare, m.params(), &BTreeMap::new()).unwrap();
    assert!(Sequential::load(&bare)
        .unwrap_err()
        .to_string()
        .contains("architecture"));
    // ...but loads into a model built from the spec.
    let mut built = Sequential::new(m.spec(), Init::HeNormal, 5).unwrap();
    built.load_weights(&bare).unwrap();
}

#[test]
fn python_safetensors_reads_our_file() {
    let python = std::env::var("NN_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python)
        .args(["-c", "import safetensors.numpy, numpy"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!(
            "note: skipping the Python check: {python} cannot import safetensors and numpy \
             (pip install safetensors numpy, then set NN_PYTHON)"
        );
        return;
    }
    let dir = TempDir::new("python");
    let path = dir.join("model.safetensors");
    let m = model();
    m.save(&path).unwrap();
    // Python prints every tensor's name, shape and sum, and the metadata.
    let script = r#"
import sys, json
from safetensors.numpy import load_file, save_file
from safetensors import safe_open
tensors = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework="numpy") as f:
    meta = f.metadata()
save_file(tensors, sys.argv[2], metadata=meta)
out = {name: [list(t.shape), str(t.dtype), float(t.astype("float64").sum())] for name, t in tensors.items()}
print(json.dumps({"tensors": out, "metadata": meta}))
"#;
    let output = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&path)
        .arg(dir.join("from-python.safetensors"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["metadata"]["architecture"].as_str().unwrap(),
        m.spec().to_string()
    );
    let tensors = report["tensors"].as_object().unwrap();
    assert_eq!(tensors.len(), m.params().count());
    for (name, shape, values) in m.params() {
        let entry = &tensors[name];
        let py_shape: Vec<usize> = entry[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(py_shape, shape, "{name}");
        assert_eq!(entry[1], "float32", "{name}");
        let sum: f64 = values.iter().map(|&v| v as f64).sum();
        assert!((entry[2].as_f64().unwrap() - sum).abs() < 1e-9, "{name}");
    }
    // And the file Python wrote back loads here with identical predictions.
    let mut from_python = Sequential::load(&dir.join("from-python.safetensors")).unwrap();
    let mut ours = m;
    let x = inputs();
    assert_eq!(
        from_python.predict_proba(x.view()).unwrap(),
        ours.predict_proba(x.view()).unwrap()
    );
}

#[test]
fn the_generic_writer_round_trips_bytes_exactly() {
    // Byte-exact: encoding what was decoded gives the same file.
    let m = model();
    let bytes = encode(Path::new("m"), m.params(), &m.metadata()).unwrap();
    let file = nn::safetensors::decode(&bytes, Path::new("m")).unwrap();
    let again = encode(
        Path::new("m"),
        file.tensors
            .iter()
            .map(|t| (t.name.as_str(), t.shape.as_slice(), t.data.as_slice())),
        &file.metadata,
    )
    .unwrap();
    assert_eq!(bytes, again);
}

#[test]
fn saving_replaces_the_old_file_and_a_failed_save_names_the_path() {
    let dir = TempDir::new("atomic");
    let path = dir.join("model.safetensors");
    model().save(&path).unwrap();
    let spec = ModelSpec::parse("20-3").unwrap();
    let small = Sequential::new(&spec, Init::HeNormal, 0).unwrap();
    small.save(&path).unwrap();
    assert_eq!(Sequential::load(&path).unwrap().spec(), &spec);
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        1,
        "no temp file left"
    );

    let nowhere = dir.join("no-such-dir").join("model.safetensors");
    let err = small.save(&nowhere).unwrap_err();
    assert!(matches!(err, NnError::Io { .. }), "{err}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn a_convolutional_network_with_batch_norm_round_trips_with_its_running_statistics() {
    let dir = TempDir::new("cnn");
    let path = dir.join("cnn.safetensors");
    let spec = ModelSpec::parse("1x10x10 c4k3bn p2 c3k3p1 d0.2 gap f6bn 5").unwrap();
    let mut model = Sequential::new(&spec, Init::HeNormal, 5).unwrap();
    let x = Matrix::from_fn(8, 100, |r, c| ((r * 100 + c) as f32 * 0.37).sin());
    // A few training forward passes move the running statistics.
    for _ in 0..3 {
        model.forward(x.view()).unwrap();
    }
    let names: Vec<(String, Vec<usize>)> = model
        .tensors()
        .map(|(name, shape, _)| (name.to_string(), shape.to_vec()))
        .collect();
    assert_eq!(names, spec.tensor_shapes());
    assert!(names.contains(&("layers.1.num_batches_tracked".to_string(), vec![])));
    assert!(!names.iter().any(|(name, _)| name == "layers.0.bias"));
    assert_eq!(
        model.tensors().count(),
        model.params().count() + 2 * 3,
        "two batch norms, three buffers each"
    );
    model.save(&path).unwrap();
    let mut loaded = Sequential::load(&path).unwrap();
    for ((name, _, a), (_, _, b)) in model.tensors().zip(loaded.tensors()) {
        assert_eq!(a, b, "{name}");
    }
    assert_eq!(
        model.predict_proba(x.view()).unwrap(),
        loaded.predict_proba(x.view()).unwrap()
    );
}

#[test]
fn a_file_claiming_a_huge_architecture_is_refused_before_anything_is_built() {
    let dir = TempDir::new("claims");
    let path = dir.join("huge.safetensors");
    let metadata = BTreeMap::from([("architecture".to_string(), "784-100000000-10".to_string())]);
    write_tensors(&path, std::iter::empty(), &metadata).unwrap();
    let started = std::time::Instant::now();
    let error = Sequential::load(&path).unwrap_err();
    assert!(matches!(error, NnError::MissingTensor { .. }), "{error}");
    assert!(error.to_string().contains("layers.0.weight"), "{error}");
    // Built first, 78 GB of weights would have been asked for.
    assert!(started.elapsed().as_secs() < 5);
}

/// A model trained into NaN (ReLU hides NaN weights from the loss) was saved,
/// and loaded by `eval` and `predict` without a word. Now both directions
/// refuse it, naming the file, the tensor and the value.
#[test]
fn non_finite_weights_are_refused_on_load_and_on_save() {
    let dir = TempDir::new("non-finite");
    for (bad, shown) in [(f32::NAN, "NaN"), (f32::NEG_INFINITY, "-inf")] {
        let path = dir.join("nan.safetensors");
        write_edited(&path, |t| t[1].2[2] = bad);
        let name = model().params().nth(1).unwrap().0.to_string();
        for error in [
            Sequential::load(&path).unwrap_err(),
            model().load_weights(&path).unwrap_err(),
        ] {
            assert!(matches!(error, NnError::NonFinite { .. }), "{error}");
            let message = error.to_string();
            assert!(
                message.starts_with(&path.display().to_string())
                    && message.contains(&format!("tensor {name:?} holds {shown} at index 2")),
                "{message}"
            );
        }
        // A refused load leaves the model as it was.
        let mut kept = model();
        let _ = kept.load_weights(&path);
        assert!(kept
            .params()
            .all(|(_, _, v)| v.iter().all(|x| x.is_finite())));

        let mut broken = model();
        broken.params_mut().nth(1).unwrap().1[2] = bad;
        let saved = dir.join("saved.safetensors");
        let message = broken.save(&saved).unwrap_err().to_string();
        assert!(
            message.starts_with(&saved.display().to_string()) && message.contains(&name),
            "{message}"
        );
        assert!(!saved.exists(), "a refused save wrote the file");
    }
}

/// The bytes `safetensors.torch.save_file(model.state_dict(), ...)` writes for
/// `tensors`: no metadata, and batch norm's `num_batches_tracked` as I64.
fn torch_style_bytes(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let begin = data.len();
        let dtype = if name.ends_with("num_batches_tracked") {
            data.extend_from_slice(&(values[0] as i64).to_le_bytes());
            "I64"
        } else {
            values
                .iter()
                .for_each(|v| data.extend_from_slice(&v.to_le_bytes()));
            "F32"
        };
        let entry = serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, data.len()]});
        header.insert(name.clone(), entry);
    }
    let header = serde_json::Value::Object(header).to_string();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    bytes
}

#[test]
fn a_pytorch_state_dict_loads_given_the_architecture() {
    let spec = ModelSpec::parse("1x10x10 c4k3bn p2 f6bn 5").unwrap();
    let mut model = Sequential::new(&spec, Init::HeNormal, 5).unwrap();
    let x = Matrix::from_fn(8, 100, |r, c| ((r * 100 + c) as f32 * 0.37).sin());
    for _ in 0..3 {
        model.forward(x.view()).unwrap();
    }
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = model
        .tensors()
        .map(|(n, s, v)| (n.to_string(), s.to_vec(), v.to_vec()))
        .collect();
    let path = Path::new("torch.safetensors");
    let expected = model.predict_proba(x.view()).unwrap();
    // Held in `layers` (as `trainer info --pytorch` writes it), or a bare
    // `nn.Sequential` whose names have no prefix.
    let bare: Vec<_> = (tensors.iter().cloned())
        .map(|(n, s, v)| (n.trim_start_matches("layers.").to_string(), s, v))
        .collect();
    for tensors in [&tensors, &bare] {
        let file = nn::safetensors::decode(&torch_style_bytes(tensors), path).unwrap();
        assert!(file.metadata.is_empty());
        // Without the architecture, the file cannot say what it holds.
        assert!(matches!(
            Sequential::from_tensor_file(&file, path, false),
            Err(NnError::Format { .. })
        ));
        let mut loaded = Sequential::from_tensor_file_as(&spec, &file, path, false).unwrap();
        assert_eq!(loaded.predict_proba(x.view()).unwrap(), expected);
        let counter = |m: &Sequential| {
            m.tensors()
                .find(|(n, _, _)| *n == "layers.1.num_batches_tracked")
                .map(|(_, _, v)| v.to_vec())
        };
        assert_eq!(counter(&loaded), Some(vec![3.0]));
    }

    // Another architecture: the first tensor that differs is named.
    let file = nn::safetensors::decode(&torch_style_bytes(&tensors), path).unwrap();
    let wider = ModelSpec::parse("1x10x10 c5k3bn p2 f6bn 5").unwrap();
    let error = Sequential::from_tensor_file_as(&wider, &file, path, false).unwrap_err();
    assert!(
        matches!(&error, NnError::WrongShape { name, .. } if name == "layers.0.weight"),
        "{error}"
    );
    let deeper = ModelSpec::parse("1x10x10 c4k3bn p2 f6bn f6 5").unwrap();
    let error = Sequential::from_tensor_file_as(&deeper, &file, path, false).unwrap_err();
    assert!(
        matches!(&error, NnError::WrongShape { name, .. } if name == "layers.8.weight"),
        "{error}"
    );
    // A file that names its architecture must name this one.
    let ours = nn::safetensors::decode(
        &encode(path, model.tensors(), &model.metadata()).unwrap(),
        path,
    )
    .unwrap();
    let error = Sequential::from_tensor_file_as(&wider, &ours, path, false).unwrap_err();
    assert!(
        matches!(error, NnError::ArchitectureMismatch { .. }),
        "{error}"
    );
    assert!(Sequential::from_tensor_file_as(&spec, &ours, path, false).is_ok());
}
