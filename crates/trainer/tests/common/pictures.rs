//! Pictures as the page sends them, for the tests of `trainer serve` and
//! the latency tool (`examples/serve_latency.rs`).

use std::path::Path;

/// MNIST test digit `index` as the page's canvas sends it: a 280x280
/// grey PNG, black ink on white, each MNIST pixel a 10x10 square. Also
/// the digit's label.
pub fn canvas_png(index: usize) -> (Vec<u8>, u8) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let set = mnist_data::MnistSet::load_dir_limited(data, Some(10), Some(index + 1))
        .expect("the bundled MNIST loads");
    let digit = set.test.image(index);
    let side = 280;
    let pixels: Vec<u8> = (0..side * side)
        .map(|i| 255 - digit[(i / side / 10) * 28 + (i % side) / 10])
        .collect();
    (grey_png(&pixels, side as u32), set.test.label(index))
}

/// An 8-bit grey PNG of `side` x `side` pixels.
pub fn grey_png(pixels: &[u8], side: u32) -> Vec<u8> {
    png(
        side as usize,
        side as usize,
        png::ColorType::Grayscale,
        pixels,
    )
}

/// An 8-bit PNG of `width` x `height` pixels of `colour` (grey, RGB, RGBA...).
pub fn png(width: usize, height: usize, colour: png::ColorType, data: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width as u32, height as u32);
        encoder.set_color(colour);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("a PNG header");
        writer.write_image_data(data).expect("PNG data");
    }
    bytes
}
