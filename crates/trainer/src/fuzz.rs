//! Time-bounded mutation fuzzing (`byte-fuzz`) of the trainer's own readers
//! of outside bytes: checkpoints (resumed with `--resume`, read by `eval`
//! and `predict`) and pictures (PNG and JPEG through `predict`'s whole
//! pipeline: decode, ink, crop, scale, centre). Any bytes give a value or an
//! error, never a panic, an abort or a hang. Each target replays
//! `tests/regressions/<target>/`, runs the seeds in `tests/corpus/<target>/`,
//! then mutates them for `FUZZ_SECONDS` (10 s by default).

use crate::checkpoint;
use crate::config::TrainConfig;
use crate::files::tests::temp_dir;
use crate::picture;
use crate::run_state::{Position, RunState};
use nn::{Init, ModelSpec, Sequential};
use optim::{optimizer_by_name, CommonSettings, Param};
use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seeds_in(dirs: &[PathBuf], endings: &[&str]) -> Vec<Vec<u8>> {
    let seeds: Vec<Vec<u8>> = (dirs.iter())
        .flat_map(|dir| byte_fuzz::files_in(dir))
        .filter(|(path, _)| endings.iter().any(|e| path.to_string_lossy().ends_with(e)))
        .map(|(_, bytes)| bytes)
        .collect();
    assert!(
        !seeds.is_empty(),
        "no seeds: run the ignored test write_seed_corpus"
    );
    seeds
}

#[test]
fn fuzz_checkpoints() {
    let dir = temp_dir("fuzz-checkpoints");
    let path = dir.join("mutant-checkpoint");
    let seeds = seeds_in(
        &[manifest_dir().join("tests/corpus/checkpoint")],
        &["checkpoint"],
    );
    let regressions = manifest_dir().join("tests/regressions/checkpoint");
    // Valid seeds, or the mutants start from nothing worth mutating.
    for seed in &seeds {
        std::fs::write(&path, seed).unwrap();
        // Loading builds the optimizer from its state, as --resume needs it.
        checkpoint::load(&path).unwrap();
    }
    let report = byte_fuzz::run("checkpoint", &seeds, &regressions, byte_fuzz::budget(), {
        let path = path.clone();
        move |bytes: &[u8]| {
            std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
            match checkpoint::load(&path) {
                Ok(_) => Ok(()),
                Err(error) if error.to_string().contains("mutant-checkpoint") => Ok(()),
                Err(error) => Err(format!("the error names no file: {error}")),
            }
        }
    });
    assert!(report.mutants > 0 || byte_fuzz::budget().is_zero());
    std::fs::remove_dir_all(dir).unwrap();
}

/// CRC-32 (ISO-HDLC, PNG's), bit by bit: test code, small inputs.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// The PNG with every chunk's CRC made right again. A mutated PNG fails
/// its CRC check in the first chunk touched, so without this almost no
/// mutant gets past the decoder's front door.
fn with_png_crcs_fixed(bytes: &[u8]) -> Vec<u8> {
    let mut fixed = bytes.to_vec();
    let mut at = 8;
    while at + 12 <= fixed.len() {
        let length = u32::from_be_bytes(fixed[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 8)
            .checked_add(length)
            .filter(|&e| e + 4 <= fixed.len())
        else {
            break;
        };
        let crc = crc32(&fixed[at + 4..end]);
        fixed[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
    fixed
}

#[test]
fn png_crcs_are_fixed_as_the_decoder_checks_them() {
    // The standard check value, and a seed whose CRCs are right already.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    let seed = &picture_seeds(".png")[0];
    assert_eq!(&with_png_crcs_fixed(seed), seed);
    let mut flipped = seed.clone();
    flipped[20] ^= 0x01; // in IHDR's width
    let error = picture::decode(&flipped).err().unwrap();
    assert!(error.to_lowercase().contains("crc"), "{error}");
    if let Some(error) = picture::decode(&with_png_crcs_fixed(&flipped)).err() {
        assert!(!error.to_lowercase().contains("crc"), "{error}");
    }
}

fn picture_check(bytes: &[u8]) -> Result<(), String> {
    prepare_picture(bytes)?;
    if bytes.starts_with(b"\x89PNG") {
        prepare_picture(&with_png_crcs_fixed(bytes))?;
    }
    Ok(())
}

fn prepare_picture(bytes: &[u8]) -> Result<(), String> {
    if let Ok(image) = picture::decode(bytes) {
        if let Ok(pixels) = picture::to_mnist(&image) {
            if pixels.len() != picture::SIDE * picture::SIDE {
                return Err(format!("{} pixels, not 28x28", pixels.len()));
            }
            if !pixels.iter().all(|p| (0.0..=1.0).contains(p)) {
                return Err("a pixel outside [0, 1]".into());
            }
        }
    }
    Ok(())
}

fn picture_seeds(ending: &str) -> Vec<Vec<u8>> {
    let dirs = [
        manifest_dir().join("tests/corpus/picture"),
        manifest_dir().join("tests/fixtures"),
    ];
    let seeds = seeds_in(&dirs, &[ending]);
    for seed in &seeds {
        picture::to_mnist(&picture::decode(seed).unwrap()).unwrap();
    }
    seeds
}

#[test]
fn fuzz_png_pictures() {
    let regressions = manifest_dir().join("tests/regressions/picture");
    let seeds = picture_seeds(".png");
    let report = byte_fuzz::run(
        "png",
        &seeds,
        &regressions,
        byte_fuzz::budget(),
        picture_check,
    );
    assert!(report.mutants > 0 || byte_fuzz::budget().is_zero());
}

#[test]
fn fuzz_jpeg_pictures() {
    let regressions = manifest_dir().join("tests/regressions/picture");
    let seeds = picture_seeds(".jpg");
    let report = byte_fuzz::run(
        "jpeg",
        &seeds,
        &regressions,
        byte_fuzz::budget(),
        picture_check,
    );
    assert!(report.mutants > 0 || byte_fuzz::budget().is_zero());
}

fn write_png(path: &Path, width: u32, height: u32, color: png::ColorType, depth: png::BitDepth) {
    let channels = match color {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        _ => 4,
    };
    let bytes_per_sample = if depth == png::BitDepth::Sixteen {
        2
    } else {
        1
    };
    let mut data = Vec::new();
    for y in 0..height {
        for x in 0..width {
            // A ring of ink on paper: something for the pipeline to find.
            let (dx, dy) = (
                x as f32 - width as f32 / 2.0,
                y as f32 - height as f32 / 2.0,
            );
            let r = (dx * dx + dy * dy).sqrt();
            let ink = (r - width as f32 / 4.0).abs() < 1.5;
            for channel in 0..channels * bytes_per_sample {
                let alpha = channels % 2 == 0 && channel / bytes_per_sample == channels - 1;
                data.push(if alpha || !ink { 255 } else { 20 });
            }
        }
    }
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&data).unwrap();
}

/// The seeds, written by our own writers (and the png crate's encoder):
/// `cargo test -p trainer --bin trainer -- --ignored write_seed_corpus`.
/// JPEG seeds are the fixtures in `tests/fixtures` (we have no encoder).
#[test]
#[ignore]
fn write_seed_corpus() {
    let pictures = manifest_dir().join("tests/corpus/picture");
    std::fs::create_dir_all(&pictures).unwrap();
    use png::{BitDepth, ColorType};
    let kinds = [
        ("grey", ColorType::Grayscale, BitDepth::Eight),
        ("grey-alpha", ColorType::GrayscaleAlpha, BitDepth::Eight),
        ("rgb", ColorType::Rgb, BitDepth::Eight),
        ("rgba", ColorType::Rgba, BitDepth::Eight),
        ("grey16", ColorType::Grayscale, BitDepth::Sixteen),
    ];
    for (name, color, depth) in kinds {
        write_png(&pictures.join(format!("{name}.png")), 24, 20, color, depth);
    }

    let checkpoints = manifest_dir().join("tests/corpus/checkpoint");
    std::fs::create_dir_all(&checkpoints).unwrap();
    let mut config = TrainConfig::from_preset(crate::presets::find("mlp").unwrap());
    for (name, network, optimizer) in [
        ("adam", "4-3-2", "adam"),
        ("momentum-dropout", "5-4-3 dropout=0.5", "momentum"),
        ("adadelta-conv", "1x5x5 c2k3bn p2 f3 2", "adadelta"),
    ] {
        config.layers = network.into();
        let spec = ModelSpec::parse(network).unwrap();
        let mut model = Sequential::new(&spec, Init::HeNormal, 3).unwrap();
        let mut optimizer = optimizer_by_name(optimizer, &CommonSettings::default()).unwrap();
        for step in 0..2 {
            let grads: Vec<Vec<f32>> = (model.params())
                .map(|(_, _, v)| {
                    (0..v.len())
                        .map(|i| ((i + step) as f32 * 0.3).sin())
                        .collect()
                })
                .collect();
            let mut params: Vec<Param> = (model.params_mut())
                .zip(&grads)
                .map(|((name, value, _), grad)| Param { name, value, grad })
                .collect();
            optimizer.step(&mut params).unwrap();
        }
        let mut run = RunState::start(config.clone(), model, optimizer);
        run.position = Position {
            epoch: 1,
            step_in_epoch: 1,
            global_step: 2,
        };
        run.history = crate::report::tests::sample_history()[..1].to_vec();
        let path = checkpoints.join(format!("{name}.checkpoint"));
        checkpoint::save(&path, &run).unwrap();
    }
}
