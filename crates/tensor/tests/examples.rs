//! The example runs as a user runs it: its check is a function its `main` calls.

#[allow(dead_code)] // its `main` is for `cargo run --example dense_layer`
#[path = "../examples/dense_layer.rs"]
mod dense_layer;

#[test]
fn the_dense_layer_example_agrees_with_the_naive_loop() {
    // The example's own sizes, and odd ones that leave partial tiles.
    for (batch, inputs, outputs) in [(128, 784, 256), (1, 784, 10), (17, 257, 33), (5, 3, 7)] {
        let (difference, largest) = dense_layer::largest_difference(batch, inputs, outputs);
        assert!(
            largest > 1.0,
            "{batch}x{inputs}->{outputs}: the layer computes something"
        );
        // f32 sums of up to 784 products against the f64 loop.
        assert!(
            difference <= 1e-5 * largest * inputs as f32,
            "{batch}x{inputs}->{outputs}: {difference}"
        );
    }
}
