//! Measuring a model on a dataset: mean loss, accuracy, and what it predicted
//! for each image (for the confusion matrix and the digit grid).

use crate::error::Error;
use mnist_data::{Batch, BatchOptions, Batches, Dataset, Pixels};
use nn::{softmax_cross_entropy, Sequential, Targets};
use serde::Serialize;
use tensor::Matrix;

/// How pixels become inputs, for training, evaluation and pictures alike
/// (`p / 255`: a model file then needs no dataset statistics).
pub const PIXELS: Pixels = Pixels::Scaled;

#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Mean softmax cross-entropy over the set.
    pub loss: f32,
    /// Fraction of images classified correctly.
    pub accuracy: f32,
    /// The predicted class of every image, in dataset order.
    pub predictions: Vec<usize>,
}

/// Runs `model` in evaluation mode (no dropout) over all of `set`.
pub fn evaluate(model: &mut Sequential, set: &Dataset) -> Result<Evaluation, Error> {
    let options = BatchOptions {
        // Chunks sized by what a row's activations take: a convolutional
        // network's 1000-row batches held 190 MB.
        batch_size: model.predict_rows(),
        pixels: PIXELS,
        ..BatchOptions::default()
    };
    let mut batches = Batches::new(set, options).map_err(|e| Error::Data(e.to_string()))?;
    let (mut batch, mut scratch_grad) = (Batch::new(), Matrix::zeros(0, 0));
    let mut predictions = vec![0usize; set.len()];
    let (mut loss_sum, mut correct, mut start) = (0.0f64, 0usize, 0usize);
    let was_training = model.is_training();
    model.set_training(false);
    let result = (|| -> Result<(), Error> {
        while batches.next_batch(&mut batch) {
            let logits = model.forward(batch.images().view())?;
            let rows = start..start + batch.len();
            tensor::ops::row_argmax(logits.view(), &mut predictions[rows.clone()])
                .map_err(nn::NnError::from)?;
            let targets = Targets::Classes(batch.labels());
            let loss = softmax_cross_entropy(logits.view(), targets, &mut scratch_grad)?;
            loss_sum += f64::from(loss) * batch.len() as f64;
            correct += predictions[rows]
                .iter()
                .zip(batch.labels())
                .filter(|(p, l)| p == l)
                .count();
            start += batch.len();
        }
        Ok(())
    })();
    model.set_training(was_training);
    result?;
    let count = set.len().max(1) as f64;
    Ok(Evaluation {
        loss: (loss_sum / count) as f32,
        accuracy: (correct as f64 / count) as f32,
        predictions,
    })
}

/// `confusion[true][predicted]` counts.
pub fn confusion_matrix(labels: &[u8], predictions: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut confusion = vec![vec![0; classes]; classes];
    for (&label, &predicted) in labels.iter().zip(predictions) {
        if usize::from(label) < classes && predicted < classes {
            confusion[usize::from(label)][predicted] += 1;
        }
    }
    confusion
}

/// Accuracy of each true class (the diagonal over the row sums); a class
/// with no images gets 0.
pub fn per_class_accuracy(confusion: &[Vec<usize>]) -> Vec<f32> {
    confusion
        .iter()
        .enumerate()
        .map(|(class, row)| {
            let total: usize = row.iter().sum();
            if total == 0 {
                0.0
            } else {
                row[class] as f32 / total as f32
            }
        })
        .collect()
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
        let confusion = confusion_matrix(set.labels(), &evaluation.predictions, set.classes());
        EvalReport {
            model,
            images: set.len(),
            accuracy: evaluation.accuracy,
            loss: evaluation.loss,
            per_class: per_class_accuracy(&confusion),
            confusion,
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

    #[test]
    fn confusion_and_per_class_accuracy_count_by_hand() {
        let labels = [0u8, 0, 1, 1, 1, 2];
        let predictions = [0usize, 1, 1, 1, 0, 2];
        let confusion = confusion_matrix(&labels, &predictions, 3);
        assert_eq!(confusion, vec![vec![1, 1, 0], vec![1, 2, 0], vec![0, 0, 1]]);
        let per_class = per_class_accuracy(&confusion);
        assert_eq!(per_class, vec![0.5, 2.0 / 3.0, 1.0]);
        assert_eq!(
            per_class_accuracy(&[vec![0, 0], vec![0, 3]]),
            vec![0.0, 1.0]
        );
    }

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
