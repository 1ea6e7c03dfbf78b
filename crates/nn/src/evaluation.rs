//! Measuring a classifier on a dataset: accuracy, mean loss, the confusion
//! matrix and every prediction, in evaluation mode (no dropout, batch norm
//! on its running statistics), a chunk of rows at a time
//! ([`Sequential::predict_rows`]) so that a whole test set needs no
//! whole-set activation buffers, each chunk's GEMMs on every thread.

use crate::activation::same_shape;
use crate::{Activation, Result, Sequential, Targets};
use tensor::{Matrix, MatrixRef};

/// What [`Sequential::evaluate`] measured. Its fields always describe every
/// row seen so far: [`Sequential::evaluate_more`] adds rows to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy `-ln p(true class)` over the rows, `p` as
    /// [`Sequential::predict_proba`] gives it (the softmax of the logits
    /// when the output activation is the identity).
    pub loss: f32,
    /// Fraction of rows whose most likely class is the true one.
    pub accuracy: f32,
    /// The predicted class of every row, in the order the rows came.
    pub predictions: Vec<usize>,
    /// `confusion[true class][predicted class]`: how many rows.
    pub confusion: Vec<Vec<usize>>,
    /// The loss summed over rows, in f64 so that a long set loses nothing.
    loss_sum: f64,
    correct: usize,
}

impl Evaluation {
    /// Nothing seen yet, for a model with `classes` outputs.
    pub fn new(classes: usize) -> Evaluation {
        Evaluation {
            loss: 0.0,
            accuracy: 0.0,
            predictions: Vec::new(),
            confusion: vec![vec![0; classes]; classes],
            loss_sum: 0.0,
            correct: 0,
        }
    }

    /// Rows seen.
    pub fn count(&self) -> usize {
        self.predictions.len()
    }

    /// The accuracy on each true class (the confusion matrix's diagonal over
    /// its row sums); 0 for a class with no rows.
    pub fn per_class_accuracy(&self) -> Vec<f32> {
        (self.confusion.iter().enumerate())
            .map(|(class, row)| match row.iter().sum::<usize>() {
                0 => 0.0,
                total => row[class] as f32 / total as f32,
            })
            .collect()
    }

    /// Adds one chunk: the model's `outputs` `[rows, classes]` for rows whose
    /// targets are `targets` (already checked against `outputs`).
    fn add(
        &mut self,
        outputs: MatrixRef<'_>,
        targets: Targets<'_>,
        output: Activation,
        scratch_grad: &mut Matrix,
    ) -> Result<()> {
        let rows = outputs.rows();
        let start = self.predictions.len();
        self.predictions.resize(start + rows, 0);
        tensor::ops::row_argmax(outputs, &mut self.predictions[start..])?;
        self.loss_sum += if output == Activation::Identity {
            // Logits: the stable fused loss (its gradient is not needed).
            f64::from(crate::softmax_cross_entropy(
                outputs,
                targets,
                scratch_grad,
            )?) * rows as f64
        } else {
            // Already probabilities; floored so a confident mistake costs
            // about 87, not infinity.
            (0..rows)
                .map(|r| -f64::from(outputs.row(r)[targets.class(r)].max(f32::MIN_POSITIVE)).ln())
                .sum()
        };
        for (row, &predicted) in self.predictions[start..].iter().enumerate() {
            let truth = targets.class(row);
            self.confusion[truth][predicted] += 1;
            self.correct += usize::from(truth == predicted);
        }
        let count = self.count().max(1) as f64;
        self.loss = (self.loss_sum / count) as f32;
        self.accuracy = (self.correct as f64 / count) as f32;
        Ok(())
    }
}

impl Sequential {
    /// Accuracy, mean loss, confusion matrix and predictions of the model on
    /// `inputs` `[N, I]` with their `targets` (class labels, or probability
    /// rows whose most likely class counts as the true one), in evaluation
    /// mode, [`predict_rows`](Sequential::predict_rows) rows at a time; the
    /// mode is restored afterwards. For a set that arrives in pieces (the
    /// batches of `mnist_data::Batches`), start from [`Evaluation::new`] and
    /// call [`evaluate_more`](Sequential::evaluate_more) for each.
    ///
    /// ```
    /// use nn::{Init, ModelSpec, Sequential, Targets};
    /// use tensor::Matrix;
    /// let mut model = Sequential::new(&ModelSpec::parse("2-3").unwrap(), Init::HeNormal, 1).unwrap();
    /// // Zero weights: every class equally likely, argmax picks class 0.
    /// model.dense_mut(0).unwrap().weight_mut().as_mut_slice().fill(0.0);
    /// let inputs = Matrix::zeros(4, 2);
    /// let result = model.evaluate(inputs.view(), Targets::Classes(&[0, 1, 2, 0])).unwrap();
    /// assert_eq!(result.accuracy, 0.5);
    /// assert!((result.loss - 3f32.ln()).abs() < 1e-6);
    /// assert_eq!(result.confusion, [[2, 0, 0], [1, 0, 0], [1, 0, 0]]);
    /// assert_eq!(result.per_class_accuracy(), [1.0, 0.0, 0.0]);
    /// ```
    pub fn evaluate<'x>(
        &mut self,
        inputs: impl Into<MatrixRef<'x>>,
        targets: Targets<'_>,
    ) -> Result<Evaluation> {
        let mut evaluation = Evaluation::new(self.spec().outputs());
        self.evaluate_more(inputs, targets, &mut evaluation)?;
        Ok(evaluation)
    }

    /// [`evaluate`](Sequential::evaluate) for more rows, added to
    /// `evaluation`. On error `evaluation` may hold part of the rows.
    pub fn evaluate_more<'x>(
        &mut self,
        inputs: impl Into<MatrixRef<'x>>,
        targets: Targets<'_>,
        evaluation: &mut Evaluation,
    ) -> Result<()> {
        let inputs = inputs.into();
        let classes = self.spec().outputs();
        // An evaluation started for another model's classes.
        let confusion_shape = (evaluation.confusion.len(), evaluation.confusion.len());
        same_shape(
            "evaluation's confusion matrix",
            (classes, classes),
            confusion_shape,
        )?;
        targets.check(inputs.rows(), classes)?;
        let output = self.spec().output;
        let mut scratch_grad = Matrix::zeros(0, 0);
        self.in_eval_mode(inputs, |start, outputs| {
            let rows = start..start + outputs.rows();
            evaluation.add(
                outputs.view(),
                targets.rows(rows),
                output,
                &mut scratch_grad,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Init, ModelSpec, NnError, PREDICT_BATCH};

    /// Loss, prediction and confusion one row at a time, softmax in f64.
    fn naive(model: &mut Sequential, x: &Matrix, labels: &[usize]) -> (f64, Vec<usize>, usize) {
        let (mut loss, mut predictions, mut correct) = (0.0, Vec::new(), 0);
        model.set_training(false);
        for (r, &label) in labels.iter().enumerate() {
            let out: Vec<f64> = (model.forward(x.rows_range(r..r + 1)).unwrap().as_slice())
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let probabilities: Vec<f64> = if model.spec().output == Activation::Identity {
                let max = out.iter().cloned().fold(f64::MIN, f64::max);
                let sum: f64 = out.iter().map(|z| (z - max).exp()).sum();
                out.iter().map(|z| (z - max).exp() / sum).collect()
            } else {
                out
            };
            loss -= probabilities[label].ln();
            let best = (0..probabilities.len())
                .max_by(|&a, &b| {
                    probabilities[a]
                        .total_cmp(&probabilities[b])
                        .then(b.cmp(&a))
                })
                .unwrap();
            correct += usize::from(best == label);
            predictions.push(best);
        }
        model.set_training(true);
        (loss / labels.len() as f64, predictions, correct)
    }

    #[test]
    fn a_chunked_evaluation_agrees_with_a_naive_loop() {
        for spec in ["6-9-4 hidden=tanh dropout=0.3", "6-5-4 output=softmax"] {
            let mut model =
                Sequential::new(&ModelSpec::parse(spec).unwrap(), Init::HeNormal, 7).unwrap();
            // More rows than one chunk, and a last chunk that is not full.
            let rows = PREDICT_BATCH + 321;
            let x = Matrix::from_fn(rows, 6, |r, c| ((r * 6 + c) as f32 * 0.37).sin());
            let labels: Vec<usize> = (0..rows).map(|r| (r * 7 / 3) % 4).collect();
            let result = model.evaluate(x.view(), Targets::Classes(&labels)).unwrap();
            assert!(model.is_training(), "{spec}: the mode is restored");

            let (loss, predictions, correct) = naive(&mut model, &x, &labels);
            assert!(
                (f64::from(result.loss) - loss).abs() < 1e-5,
                "{spec}: {} vs {loss}",
                result.loss
            );
            assert_eq!(result.predictions, predictions, "{spec}");
            assert_eq!(
                result.accuracy,
                (correct as f64 / rows as f64) as f32,
                "{spec}"
            );
            assert_eq!(result.count(), rows);
            for (truth, row) in result.confusion.iter().enumerate() {
                for (predicted, &count) in row.iter().enumerate() {
                    let want = (0..rows)
                        .filter(|&r| labels[r] == truth && predictions[r] == predicted)
                        .count();
                    assert_eq!(count, want, "{spec}: confusion[{truth}][{predicted}]");
                }
            }

            // The same rows in three uneven pieces, labels as bytes.
            let bytes: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
            let mut pieces = Evaluation::new(4);
            for range in [0..5, 5..900, 900..rows] {
                let targets = Targets::Labels(&bytes[range.clone()]);
                (model.evaluate_more(x.rows_range(range), targets, &mut pieces)).unwrap();
            }
            assert_eq!(pieces.predictions, result.predictions, "{spec}");
            assert_eq!(pieces.confusion, result.confusion, "{spec}");
            assert_eq!(pieces.accuracy, result.accuracy, "{spec}");
            assert!((pieces.loss - result.loss).abs() < 1e-6, "{spec}");
        }
    }

    #[test]
    fn bad_targets_and_a_foreign_evaluation_are_errors() {
        let mut model =
            Sequential::new(&ModelSpec::parse("3-2").unwrap(), Init::HeNormal, 1).unwrap();
        let x = Matrix::zeros(3, 3);
        assert!(matches!(
            model.evaluate(x.view(), Targets::Classes(&[0, 2, 1])),
            Err(NnError::LabelOutOfRange {
                row: 1,
                label: 2,
                classes: 2
            })
        ));
        assert!(matches!(
            model.evaluate(x.view(), Targets::Classes(&[0, 1])),
            Err(NnError::TargetCount {
                rows: 3,
                targets: 2
            })
        ));
        let mut for_ten_classes = Evaluation::new(10);
        let result =
            model.evaluate_more(x.view(), Targets::Classes(&[0, 1, 1]), &mut for_ten_classes);
        assert!(matches!(result, Err(NnError::Shape(_))), "{result:?}");
        assert_eq!(for_ten_classes, Evaluation::new(10), "nothing was added");
        assert!(model.is_training());
    }
}
