//! The examples run as a user runs them, on a slice of MNIST so the suite
//! stays quick: each example's work is a function its `main` calls.

#[allow(dead_code)] // its `main` is for `cargo run --example mnist`
#[path = "../examples/mnist.rs"]
mod mnist;

#[test]
fn the_mnist_example_trains_evaluates_saves_loads_and_predicts() {
    let file = std::env::temp_dir().join(format!("nn-example-{}.safetensors", std::process::id()));
    let outcome = mnist::train_evaluate_save_load(2, Some(2000), &file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let test = &outcome.test;
    assert_eq!(test.count(), 2000);
    // 2000 images, 2 epochs: about 88% (and 10% by chance).
    assert!(test.accuracy > 0.8, "accuracy {}", test.accuracy);
    assert!(test.loss < 0.6, "loss {}", test.loss);
    // The model read back from the file predicts as the trained one did.
    assert_eq!(outcome.predicted, test.predictions[..10]);
    assert_eq!(outcome.labels, [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
}
