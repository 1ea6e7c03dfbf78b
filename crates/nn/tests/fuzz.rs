//! Time-bounded mutation fuzzing (`byte-fuzz`) of the safetensors reader
//! and the model loader: any bytes give a model or an error naming the
//! file, never a panic, an abort or a hang. Replays
//! `tests/regressions/safetensors/`, runs the valid seeds in
//! `tests/corpus/safetensors/`, then mutates them for `FUZZ_SECONDS`.

use nn::safetensors::decode;
use nn::{Init, ModelSpec, Sequential};
use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Small networks of every kind of layer, so the seeds are a few KB.
const SEED_NETWORKS: [&str; 4] = [
    "4-3-2",
    "6-5-4-3 hidden=tanh",
    "1x6x6 c2k3bn p2 f3 2",
    "2x5x5 c3k3p1s2 a2 gap 4",
];

fn check(bytes: &[u8]) -> Result<(), String> {
    let path = Path::new("fuzz.safetensors");
    let names_the_file = |message: String| match message.contains("fuzz.safetensors") {
        true => Ok(()),
        false => Err(format!("the error names no file: {message}")),
    };
    let file = match decode(bytes, path) {
        Ok(file) => file,
        Err(error) => return names_the_file(error.to_string()),
    };
    for allow_extra in [false, true] {
        match Sequential::from_tensor_file(&file, path, allow_extra) {
            Ok(mut model) => {
                // A model that loads must run (on a small input only: the
                // architecture may be valid and enormous).
                let inputs = model.spec().inputs();
                if inputs <= 1 << 16 {
                    let x = tensor::Matrix::from_fn(2, inputs, |r, c| ((r + c) % 7) as f32 / 7.0);
                    model.predict_proba(x.view()).map_err(|e| e.to_string())?;
                }
            }
            Err(error) => names_the_file(error.to_string())?,
        }
    }
    Ok(())
}

#[test]
fn fuzz_safetensors_models() {
    let seeds: Vec<Vec<u8>> = byte_fuzz::files_in(&manifest_dir().join("tests/corpus/safetensors"))
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect();
    assert!(
        !seeds.is_empty(),
        "no seeds: run the ignored test write_seed_corpus"
    );
    let regressions = manifest_dir().join("tests/regressions/safetensors");
    let report = byte_fuzz::run(
        "safetensors",
        &seeds,
        &regressions,
        byte_fuzz::budget(),
        check,
    );
    assert!(report.mutants > 0 || byte_fuzz::budget().is_zero());
}

/// The seeds, written by our own writer:
/// `cargo test -p nn --test fuzz -- --ignored write_seed_corpus`
#[test]
#[ignore]
fn write_seed_corpus() {
    let dir = manifest_dir().join("tests/corpus/safetensors");
    std::fs::create_dir_all(&dir).unwrap();
    for (index, spec) in SEED_NETWORKS.iter().enumerate() {
        let model = Sequential::new(&ModelSpec::parse(spec).unwrap(), Init::HeNormal, 7).unwrap();
        model
            .save(&dir.join(format!("model-{index}.safetensors")))
            .unwrap();
    }
}
