//! `trainer predict`: the digits in a person's pictures, read by a model.
//!
//! [`read_picture`] is the whole pipeline for one picture's bytes (decode,
//! find the digits, prepare each as MNIST was, classify, judge confidence)
//! and [`PictureReport`] is what `predict --json` says about it: one path
//! for the command line and for anything else that reads pictures.

use crate::cli::PredictArgs;
use crate::config::INPUTS;
use crate::error::Error;
use crate::picture::{self, PictureDigits, PieceReading, PixelBox, SIDE};
use mnist_data::Pixels;
use nn::Sequential;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A digit whose most likely class has a lower probability than this is
/// reported as uncertain ("not sure", `"confident": false`), never as a
/// plain answer. On MNIST's own test set the default model is this sure of
/// 99% of its answers; on realistic photos, see crates/trainer/README.md.
pub const CONFIDENT_PROBABILITY: f32 = 0.8;

/// One digit of a picture as the model read it.
#[derive(Clone, Debug)]
pub struct DigitReading {
    pub digit: usize,
    pub probabilities: Vec<f32>,
    /// Where it is, in the picture's pixels.
    pub bounds: PixelBox,
    /// The 28x28 input the model saw (0 background, 1 ink).
    pub input: Vec<f32>,
}

impl DigitReading {
    /// The input as 8-bit grey levels, 0 background to 255 ink (for
    /// `--show`, `--save-inputs` and the page).
    pub fn input_levels(&self) -> Vec<u8> {
        (self.input.iter())
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect()
    }

    pub fn confident(&self) -> bool {
        self.probabilities[self.digit] >= CONFIDENT_PROBABILITY
    }

    /// The `count` most likely digits, most likely first.
    fn ranked(&self, count: usize) -> Vec<usize> {
        let mut ranked: Vec<usize> = (0..self.probabilities.len()).collect();
        ranked.sort_by(|&a, &b| self.probabilities[b].total_cmp(&self.probabilities[a]));
        ranked.truncate(count);
        ranked
    }

    /// "7: 99.1%, 1: 0.5%, 2: 0.1%"
    fn top_three(&self) -> String {
        let top: Vec<String> = self
            .ranked(3)
            .iter()
            .map(|&d| format!("{d}: {:.1}%", 100.0 * self.probabilities[d]))
            .collect();
        top.join(", ")
    }
}

/// The digits of one picture, left to right.
#[derive(Clone, Debug)]
pub struct Reading {
    pub found: PictureDigits,
    pub digits: Vec<DigitReading>,
}

impl Reading {
    /// The number as text: each digit's most likely class.
    pub fn text(&self) -> String {
        self.digits.iter().map(|d| d.digit.to_string()).collect()
    }

    pub fn confident(&self) -> bool {
        self.digits.iter().all(DigitReading::confident)
    }
}

/// Reads the digits in a picture's bytes (PNG or JPEG): the pipeline of
/// `trainer predict` for one picture, and of `serve`'s API. The model's
/// inputs are made as `pixels` says (the model file's `input_pixels`). The
/// error says why there is no answer: "no digit found: ..." for a picture
/// without one (see [`is_no_digit`]), or what is wrong with the bytes.
pub fn read_picture(
    model: &mut Sequential,
    pixels: Pixels,
    bytes: &[u8],
) -> Result<Reading, String> {
    let found = picture::read_digits(bytes)?;
    let mut digits = Vec::new();
    for mark in &found.marks {
        let pieces: Vec<&picture::PreparedDigit> = mark.pieces.iter().map(|p| &p.digit).collect();
        let readings = classify(model, pixels, &pieces)?;
        let chosen = mark.best_reading(|i| PieceReading::of(&readings[i].probabilities));
        digits.extend(chosen.into_iter().map(|i| readings[i].clone()));
    }
    Ok(Reading { found, digits })
}

/// The model's reading of each prepared digit.
fn classify(
    model: &mut Sequential,
    pixels: Pixels,
    digits: &[&picture::PreparedDigit],
) -> Result<Vec<DigitReading>, String> {
    // Pictures come out scaled to [0, 1]; the model may want them standardized.
    let inputs: Vec<f32> = digits
        .iter()
        .flat_map(|d| d.input.iter().map(|&v| pixels.from_scaled(f64::from(v))))
        .collect();
    let batch = tensor::Matrix::from_vec(digits.len(), INPUTS, inputs)
        .map_err(|e| format!("cannot classify: {e}"))?;
    let probabilities = model
        .predict_proba(batch.view())
        .map_err(|e| format!("cannot classify: {e}"))?;
    Ok(digits
        .iter()
        .zip(probabilities.as_slice().chunks_exact(probabilities.cols()))
        .map(|(prepared, probabilities)| DigitReading {
            digit: tensor::ops::argmax(probabilities),
            probabilities: probabilities.to_vec(),
            bounds: prepared.bounds,
            input: prepared.input.clone(),
        })
        .collect())
}

/// Whether an error of [`read_picture`] means the picture was read but
/// holds no digit (a blank page, only lines or specks).
pub fn is_no_digit(error: &str) -> bool {
    error.starts_with("no digit found")
}

/// What `predict --json` says about one picture (without its file name).
#[derive(Serialize)]
#[serde(untagged)]
pub enum PictureReport {
    Read {
        /// The digits, left to right, each its most likely class.
        text: String,
        /// Every digit at least `CONFIDENT_PROBABILITY` sure.
        confident: bool,
        /// For a single digit, as before numbers were read: the digit and
        /// its ten probabilities.
        #[serde(skip_serializing_if = "Option::is_none")]
        digit: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        probabilities: Option<Vec<f32>>,
        digits: Vec<DigitReport>,
    },
    Failed {
        error: String,
        /// True when the picture was read and holds no digit.
        no_digit: bool,
    },
}

#[derive(Serialize)]
pub struct DigitReport {
    digit: usize,
    probabilities: Vec<f32>,
    /// `[x, y, width, height]` in the picture's pixels.
    #[serde(rename = "box")]
    bounds: [usize; 4],
    confident: bool,
}

impl PictureReport {
    pub fn new(result: &Result<Reading, String>) -> PictureReport {
        match result {
            Err(error) => PictureReport::Failed {
                error: crate::one_line(error),
                no_digit: is_no_digit(error),
            },
            Ok(reading) => {
                let single = (reading.digits.len() == 1).then(|| &reading.digits[0]);
                PictureReport::Read {
                    text: reading.text(),
                    confident: reading.confident(),
                    digit: single.map(|d| d.digit),
                    probabilities: single.map(|d| d.probabilities.clone()),
                    digits: reading
                        .digits
                        .iter()
                        .map(|d| DigitReport {
                            digit: d.digit,
                            probabilities: d.probabilities.clone(),
                            bounds: [d.bounds.x, d.bounds.y, d.bounds.width, d.bounds.height],
                            confident: d.confident(),
                        })
                        .collect(),
                }
            }
        }
    }
}

/// One picture's entry in `predict --json`.
#[derive(Serialize)]
struct Prediction {
    file: PathBuf,
    #[serde(flatten)]
    report: PictureReport,
}

pub fn predict_command(args: &PredictArgs) -> Result<(), Error> {
    let loaded = crate::model_file::load(&args.model, args.arch.as_deref())?;
    let pixels = crate::evaluate::model_pixels(&loaded.metadata, &loaded.file)?;
    let mut model = loaded.model;
    if let Some(dir) = &args.save_inputs {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Usage(format!(
                "--save-inputs {}: not a folder (a file is there)",
                dir.display()
            )));
        }
        crate::files::create_dir(dir)?;
    }
    let mut predictions = Vec::new();
    let mut failed = 0;
    for path in &args.images {
        let bytes = crate::files::read_bounded(path, crate::files::MAX_PICTURE_BYTES, "a picture");
        let result = match bytes {
            Ok(bytes) => read_picture(&mut model, pixels, &bytes),
            Err(e) if args.json => Err(e.to_string()),
            Err(e) => return Err(e),
        };
        let reading = match &result {
            Ok(reading) => reading,
            Err(problem) if !args.json => {
                return Err(Error::Picture {
                    path: path.clone(),
                    problem: problem.clone(),
                })
            }
            Err(_) => {
                failed += 1;
                predictions.push(Prediction {
                    file: path.clone(),
                    report: PictureReport::new(&result),
                });
                continue;
            }
        };
        if !args.json {
            crate::write_stdout(format_args!("{}\n", describe(path, reading)))?;
        }
        if args.show {
            let drawing = show(reading);
            // With --json, stdout holds only the JSON object.
            if args.json {
                use std::io::Write;
                let _ = write!(std::io::stderr(), "{drawing}");
            } else {
                crate::write_stdout(format_args!("{drawing}"))?;
            }
        }
        if let Some(dir) = &args.save_inputs {
            save_inputs(dir, path, reading)?;
        }
        predictions.push(Prediction {
            file: path.clone(),
            report: PictureReport::new(&result),
        });
    }
    if args.json {
        #[derive(Serialize)]
        struct Predictions {
            predictions: Vec<Prediction>,
        }
        crate::print_json(&Predictions { predictions })?;
    }
    if failed > 0 {
        return Err(Error::PicturesFailed {
            failed,
            total: args.images.len(),
        });
    }
    Ok(())
}

/// `seven.png: 7  (7: 99.1%, 1: 0.5%, 2: 0.1%)` for a digit; for a number,
/// the number and a line per digit; "?" and "not sure" where the model is.
fn describe(path: &Path, reading: &Reading) -> String {
    let file = path.display();
    let mark = |d: &DigitReading| if d.confident() { "" } else { "?" };
    let doubt = |d: &DigitReading| if d.confident() { "" } else { "not sure: " };
    if let [digit] = &reading.digits[..] {
        return format!(
            "{file}: {}{}  ({}{})",
            digit.digit,
            mark(digit),
            doubt(digit),
            digit.top_three()
        );
    }
    let unsure = reading.digits.iter().filter(|d| !d.confident()).count();
    let mut text = format!(
        "{file}: {}  ({} digits",
        reading.text(),
        reading.digits.len()
    );
    if unsure > 0 {
        text += &format!(", not sure of {unsure}");
    }
    text += ")";
    for (i, d) in reading.digits.iter().enumerate() {
        let b = d.bounds;
        text += &format!(
            "\n  digit {}: {}{}  ({}{})  at x {}, y {}, {}x{}",
            i + 1,
            d.digit,
            mark(d),
            doubt(d),
            d.top_three(),
            b.x,
            b.y,
            b.width,
            b.height
        );
    }
    text
}

/// Columns of the small version of the picture `--show` draws.
const SHOW_COLUMNS: usize = 64;

/// The picture, small, with a box around each digit found and its reading
/// at the box's corner; then each 28x28 input side by side.
fn show(reading: &Reading) -> String {
    let searched = &reading.found.searched;
    let columns = SHOW_COLUMNS.min(searched.width);
    // Terminal cells are about twice as tall as wide.
    let rows = ((searched.height * columns) as f64 / (2.0 * searched.width as f64))
        .round()
        .max(1.0) as usize;
    let small = picture::resize(searched, columns, rows);
    // Drawn as darker than the typical pixel (paper) up to the darkest:
    // paper is blank however it is lit.
    let mut sorted = small.pixels.clone();
    sorted.sort_by(f32::total_cmp);
    let (darkest, paper) = (sorted[sorted.len() / 100], sorted[sorted.len() / 2]);
    let range = (paper - darkest).max(1e-3);
    let darkness: Vec<u8> = small
        .pixels
        .iter()
        .map(|v| ((paper - v) / range * 255.0).round().clamp(0.0, 255.0) as u8)
        .collect();
    let drawing = mnist_data::render_ascii(&darkness, columns);
    let mut cells: Vec<Vec<char>> = drawing.lines().map(|l| l.chars().collect()).collect();
    let (scale_x, scale_y) = (
        reading.found.width as f64 / columns as f64,
        reading.found.height as f64 / rows as f64,
    );
    for d in &reading.digits {
        let b = d.bounds;
        let column = |x: usize| ((x as f64 / scale_x) as usize).min(columns - 1);
        let row = |y: usize| ((y as f64 / scale_y) as usize).min(rows - 1);
        let (x0, x1) = (column(b.x), column(b.x + b.width));
        let (y0, y1) = (row(b.y), row(b.y + b.height));
        for row in [y0, y1] {
            cells[row][x0..=x1].fill('-');
        }
        for line in &mut cells[y0..=y1] {
            line[x0] = '|';
            line[x1] = '|';
        }
        cells[y0][x0] = char::from_digit(d.digit as u32, 10).unwrap_or('?');
    }
    let mut text = String::new();
    for line in cells {
        text.extend(line);
        text.push('\n');
    }
    // The inputs, side by side.
    let inputs: Vec<String> = reading
        .digits
        .iter()
        .map(|d| mnist_data::render_ascii(&d.input_levels(), SIDE))
        .collect();
    let drawn: Vec<Vec<&str>> = inputs.iter().map(|i| i.lines().collect()).collect();
    for row in 0..SIDE {
        let line: Vec<&str> = drawn.iter().map(|d| d[row]).collect();
        text += &line.join("  ");
        text.push('\n');
    }
    text
}

/// Writes each digit's 28x28 input as `<picture name>-<n>.png` in `dir`.
fn save_inputs(dir: &Path, picture_path: &Path, reading: &Reading) -> Result<(), Error> {
    let stem = picture_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "picture".into());
    for (i, d) in reading.digits.iter().enumerate() {
        let png = picture::encode_grey_png(SIDE, SIDE, &d.input_levels());
        crate::files::write_atomic(&dir.join(format!("{stem}-{}.png", i + 1)), &png)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading_of(probabilities: &[Vec<f32>]) -> Reading {
        let blank = picture::GreyImage {
            width: 1,
            height: 1,
            pixels: vec![1.0],
        };
        let digits = probabilities
            .iter()
            .enumerate()
            .map(|(i, p)| DigitReading {
                digit: tensor::ops::argmax(p),
                probabilities: p.clone(),
                bounds: PixelBox {
                    x: 10 * i,
                    y: 0,
                    width: 8,
                    height: 9,
                },
                input: vec![0.0; SIDE * SIDE],
            })
            .collect();
        let found = PictureDigits {
            width: 1,
            height: 1,
            searched: blank,
            marks: Vec::new(),
        };
        Reading { found, digits }
    }

    fn one_hot_ish(digit: usize, p: f32) -> Vec<f32> {
        let mut probabilities = vec![(1.0 - p) / 9.0; 10];
        probabilities[digit] = p;
        probabilities
    }

    #[test]
    fn a_digit_below_the_confidence_threshold_is_marked_not_sure() {
        let path = Path::new("seven.png");
        let sure = reading_of(&[one_hot_ish(7, 0.95)]);
        assert_eq!(
            describe(path, &sure),
            "seven.png: 7  (7: 95.0%, 0: 0.6%, 1: 0.6%)"
        );
        let unsure = reading_of(&[one_hot_ish(7, CONFIDENT_PROBABILITY - 0.01)]);
        assert!(!unsure.confident());
        assert!(
            describe(path, &unsure).starts_with("seven.png: 7?  (not sure: 7: 79.0%"),
            "{}",
            describe(path, &unsure)
        );
        let number = reading_of(&[one_hot_ish(4, 0.99), one_hot_ish(2, 0.5)]);
        assert_eq!(number.text(), "42");
        let text = describe(Path::new("n.png"), &number);
        assert!(
            text.starts_with("n.png: 42  (2 digits, not sure of 1)"),
            "{text}"
        );
        assert!(text.contains("digit 2: 2?  (not sure: 2: 50.0%"), "{text}");
        let json = serde_json::to_value(PictureReport::new(&Ok(number))).unwrap();
        assert_eq!(json["confident"], false);
        assert_eq!(json["digits"][0]["confident"], true);
        assert_eq!(json["digits"][1]["box"], serde_json::json!([10, 0, 8, 9]));
        assert!(json.get("digit").is_none());
    }
}
