//! MNIST with the library crates alone: `mnist-data` reads the bundled
//! digits and cuts batches, `nn` is the network, `optim` moves its weights.
//! Trains a 784-100-10 perceptron, evaluates it on the test set, saves it,
//! loads it back and predicts a few digits.
//!
//!     cargo run --release -p nn --example mnist [-- EPOCHS [TRAIN_IMAGES]]
//!
//! One epoch on all 60 000 images reaches about 96%. `tests/examples.rs`
//! runs [`train_evaluate_save_load`] on a slice of the data.

use mnist_data::{Batch, BatchOptions, Batches, MnistSet, Pixels};
use nn::{softmax_cross_entropy, Evaluation, Init, ModelSpec, Sequential, Targets};
use optim::{Adam, AdamConfig, Optimizer, Param};
use std::error::Error;
use std::path::Path;
use tensor::Matrix;

/// What a run measured, before and after the model went through a file.
pub struct Outcome {
    /// Accuracy, mean loss and confusion matrix of the trained model on the
    /// test images, before it was saved.
    pub test: Evaluation,
    /// The reloaded model's classes for the first ten test images.
    pub predicted: Vec<usize>,
    /// The true labels of those ten images.
    pub labels: Vec<u8>,
}

/// Trains for `epochs` on the first `train_images` (all when `None`),
/// evaluates on as many test images, saves to and loads from `model_file`.
pub fn train_evaluate_save_load(
    epochs: u64,
    train_images: Option<usize>,
    model_file: &Path,
) -> Result<Outcome, Box<dyn Error>> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let set = MnistSet::load_dir_limited(data, None, train_images)?;
    let mut model = Sequential::new(&ModelSpec::parse("784-100-10")?, Init::HeNormal, 42)?;
    let mut adam = Adam::new(AdamConfig {
        lr: 2e-3,
        ..Default::default()
    })?;

    let shuffled = BatchOptions {
        batch_size: 64,
        shuffle_seed: Some(42),
        ..Default::default()
    };
    let mut batches = Batches::new(&set.train, shuffled)?;
    let (mut batch, mut dlogits) = (Batch::new(), Matrix::zeros(0, 0));
    for epoch in 0..epochs {
        batches.start_epoch(epoch);
        while batches.next_batch(&mut batch) {
            let logits = model.forward(batch.images())?;
            softmax_cross_entropy(
                logits.view(),
                Targets::Classes(batch.labels()),
                &mut dlogits,
            )?;
            model.backward(batch.images(), &dlogits)?;
            adam.step_iter(&mut model.params_mut().map(Param::from))?;
        }
    }

    // The test set in order, a chunk at a time (pixels scaled as in training).
    let in_order = BatchOptions {
        batch_size: model.predict_rows(),
        ..Default::default()
    };
    let mut test_batches = Batches::new(&set.test, in_order)?;
    let mut test = Evaluation::new(10);
    while test_batches.next_batch(&mut batch) {
        model.evaluate_more(batch.images(), Targets::Classes(batch.labels()), &mut test)?;
    }

    // The file says how its inputs were made, so whoever loads it (this
    // function, `trainer eval`) makes them the same way.
    let pixels = [(
        Pixels::METADATA_KEY.to_string(),
        Pixels::Scaled.to_metadata(),
    )];
    model.save_with(model_file, &pixels.into())?;
    let mut loaded = Sequential::load(model_file)?;
    let scaled = Pixels::Scaled.table();
    let first_ten = Matrix::from_fn(10, 784, |r, c| scaled[usize::from(set.test.image(r)[c])]);
    Ok(Outcome {
        test,
        predicted: loaded.predict(&first_ten)?,
        labels: set.test.labels()[..10].to_vec(),
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let epochs = args.first().map_or(Ok(1), |s| s.parse())?;
    let train_images = args.get(1).map(|s| s.parse()).transpose()?;
    let model_file = std::env::temp_dir().join("nn-example-mnist.safetensors");
    let outcome = train_evaluate_save_load(epochs, train_images, &model_file)?;
    let test = &outcome.test;
    println!(
        "test accuracy {:.2}%, loss {:.4} on {} images; saved and reloaded {}",
        100.0 * test.accuracy,
        test.loss,
        test.count(),
        model_file.display()
    );
    println!(
        "first ten test digits {:?}, predicted {:?}",
        outcome.labels, outcome.predicted
    );
    Ok(())
}
