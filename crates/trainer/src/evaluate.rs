//! Measuring a model on a dataset: mean loss, accuracy, and what it predicted
//! for each image (for the confusion matrix and the digit grid).

use crate::error::Error;
use mnist_data::{Batch, BatchOptions, Batches, Dataset, Pixels};
use nn::{Sequential, Targets};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// How pixels become inputs, for training, evaluation and pictures alike
/// (`p / 255`: a model file then needs no dataset statistics).
pub const PIXELS: Pixels = Pixels::Scaled;

/// What a model scored on a set (accuracy, mean loss, predictions,
/// confusion matrix): `nn`'s, so the trainer counts nothing itself.
pub use nn::Evaluation;

/// How the inputs of the model saved with `metadata` (read from `path`)
/// are made: as the file records ([`Pixels::METADATA_KEY`]), or [`PIXELS`]
/// for a file that does not say (the trainer's own before it did).
pub fn model_pixels(metadata: &BTreeMap<String, String>, path: &Path) -> Result<Pixels, Error> {
    match metadata.get(Pixels::METADATA_KEY) {
        None => Ok(PIXELS),
        Some(text) => Pixels::from_metadata(text).map_err(|problem| {
            Error::model(
                path,
                format!("its metadata '{}': {problem}", Pixels::METADATA_KEY),
            )
        }),
    }
}

/// [`evaluate_with`] the trainer's own pixels, [`PIXELS`].
pub fn evaluate(model: &mut Sequential, set: &Dataset) -> Result<Evaluation, Error> {
    evaluate_with(model, set, PIXELS)
}

/// Runs `model` in evaluation mode (no dropout) over all of `set`, its
/// pixels made into inputs as `pixels` says, in batches of
/// [`Sequential::predict_rows`] (a convolutional network's 1000-row batches
/// held 190 MB).
pub fn evaluate_with(
    model: &mut Sequential,
    set: &Dataset,
    pixels: Pixels,
) -> Result<Evaluation, Error> {
    let options = BatchOptions {
        batch_size: model.predict_rows(),
        pixels,
        ..BatchOptions::default()
    };
    let mut batches = Batches::new(set, options).map_err(|e| Error::Data(e.to_string()))?;
    let mut batch = Batch::new();
    let mut evaluation = Evaluation::new(model.spec().outputs());
    while batches.next_batch(&mut batch) {
        let targets = Targets::Classes(batch.labels());
        model.evaluate_more(batch.images().view(), targets, &mut evaluation)?;
    }
    Ok(evaluation)
}

/// What `eval --json` prints and `eval` shows.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub model: String,
    pub images: usize,
    pub accuracy: f32,
    pub loss: f32,
    pub per_class: Vec<f32>,
    pub confusion: Vec<Vec<usize>>,
}

impl EvalReport {
    pub fn new(model: String, set: &Dataset, evaluation: &Evaluation) -> EvalReport {
        EvalReport {
            model,
            images: set.len(),
            accuracy: evaluation.accuracy,
            loss: evaluation.loss,
            per_class: evaluation.per_class_accuracy(),
            confusion: evaluation.confusion.clone(),
        }
    }

    /// A few lines for a person: accuracy, per class, confusion matrix.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}: accuracy {:.2}% on {} test images (loss {:.4})\nper class:",
            self.model,
            100.0 * self.accuracy,
            self.images,
            self.loss
        );
        for (class, accuracy) in self.per_class.iter().enumerate() {
            text.push_str(&format!(" {class}:{:.1}%", 100.0 * accuracy));
        }
        text.push_str("\nconfusion matrix (rows: true digit, columns: predicted):\n     ");
        for class in 0..self.confusion.len() {
            text.push_str(&format!("{class:>6}"));
        }
        for (class, row) in self.confusion.iter().enumerate() {
            text.push_str(&format!("\n  {class:>2} "));
            for count in row {
                text.push_str(&format!("{count:>6}"));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn::{Init, ModelSpec};
    use tensor::Matrix;

    #[test]
    fn evaluation_agrees_with_a_naive_loop() {
        // 7 random 1x784 images with labels 0..7, a small random model.
        let images: Vec<u8> = (0..7 * 784)
            .map(|i| ((i * 37 + i / 784 * 11) % 256) as u8)
            .collect();
        let labels: Vec<u8> = (0..7).collect();
        let set = Dataset::new(images, labels.clone(), (28, 28), Some(10)).unwrap();
        let spec = ModelSpec::parse("784-16-10").unwrap();
        let mut model = Sequential::new(&spec, Init::HeNormal, 3).unwrap();
        let evaluation = evaluate(&mut model, &set).unwrap();

        // Naive: each image alone, softmax and log in f64.
        let (mut loss, mut correct) = (0.0f64, 0);
        for (i, &label) in labels.iter().enumerate() {
            let x = Matrix::from_fn(1, 784, |_, c| f32::from(set.image(i)[c]) / 255.0);
            let logits: Vec<f64> = model
                .forward(x.view())
                .unwrap()
                .as_slice()
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let max = logits.iter().cloned().fold(f64::MIN, f64::max);
            let log_sum: f64 = logits.iter().map(|z| (z - max).exp()).sum::<f64>().ln() + max;
            loss += log_sum - logits[usize::from(label)];
            let best = (0..10)
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .unwrap();
            assert_eq!(evaluation.predictions[i], best);
            correct += usize::from(best == usize::from(label));
        }
        assert!((f64::from(evaluation.loss) - loss / 7.0).abs() < 1e-4);
        assert_eq!(evaluation.accuracy, correct as f32 / 7.0);
    }
}
