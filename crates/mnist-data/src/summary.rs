//! What a person wants to see of a dataset in a terminal: its counts and
//! statistics, and an image drawn in characters. Returned as text; the
//! caller decides where it goes.

use crate::dataset::{Dataset, PixelStats};
use std::fmt;

/// Counts, image shape, class histogram and pixel statistics of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Number of images.
    pub count: usize,
    /// `(rows, columns)` of every image.
    pub image_shape: (usize, usize),
    /// Number of classes.
    pub classes: usize,
    /// Items per class, indexed by label.
    pub class_counts: Vec<usize>,
    /// Mean and standard deviation of the scaled pixels.
    pub pixels: PixelStats,
}

impl Dataset {
    /// The dataset's [`Summary`]; `to_string()` gives a few readable lines.
    pub fn summary(&self) -> Summary {
        Summary {
            count: self.len(),
            image_shape: self.image_shape(),
            classes: self.classes(),
            class_counts: self.class_histogram(),
            pixels: self.pixel_stats(),
        }
    }

    /// Image `index` drawn with [`render_ascii`]. Panics if out of range.
    pub fn render_ascii(&self, index: usize) -> String {
        render_ascii(self.image(index), self.image_shape().1)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rows, cols) = self.image_shape;
        writeln!(
            f,
            "{} images of {rows}x{cols} pixels, {} classes",
            self.count, self.classes
        )?;
        writeln!(
            f,
            "pixel mean {:.4}, std {:.4} (scaled to [0, 1])",
            self.pixels.mean, self.pixels.std
        )?;
        write!(f, "per class:")?;
        for (class, count) in self.class_counts.iter().enumerate() {
            write!(f, " {class}:{count}")?;
        }
        Ok(())
    }
}

/// Dark to bright: each character covers an equal share of 0..=255.
const RAMP: &[u8] = b" .:-=+*#%@";

/// Draws a row-major `u8` image `cols` pixels wide, two characters per pixel
/// (a terminal's cell is about twice as tall as it is wide, so a pixel
/// drawn as two cells is square and a digit keeps its shape) and one line
/// per row (ending in `\n`), darker characters for brighter ink.
///
/// ```
/// let image = [0, 128, 255, 30, 200, 90];
/// assert_eq!(mnist_data::render_ascii(&image, 3), "  ++@@\n..##--\n");
/// ```
pub fn render_ascii(image: &[u8], cols: usize) -> String {
    if cols == 0 {
        return String::new();
    }
    let mut text = String::with_capacity(2 * image.len() + image.len() / cols);
    for row in image.chunks(cols) {
        for &p in row {
            let shade = RAMP[p as usize * RAMP.len() / 256] as char;
            text.push(shade);
            text.push(shade);
        }
        text.push('\n');
    }
    text
}
