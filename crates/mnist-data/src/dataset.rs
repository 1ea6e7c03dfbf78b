//! `Dataset`: labelled images kept compact as `u8`, one contiguous buffer of
//! `N x P` pixels (P = rows x cols), plus their labels.

use crate::error::{DataError, Result};
use crate::idx::read_u8_items;
use std::path::Path;

/// `N` images of `rows x cols` `u8` pixels, row-major, one after another,
/// and one label per image.
///
/// ```
/// use mnist_data::Dataset;
/// // Two 1x2 images: [0, 255] labelled 1 and [51, 102] labelled 0.
/// let set = Dataset::new(vec![0, 255, 51, 102], vec![1, 0], (1, 2), None).unwrap();
/// assert_eq!(set.len(), 2);
/// assert_eq!(set.classes(), 2); // max label + 1
/// assert_eq!(set.image(1), &[51, 102]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<u8>,
    image_shape: (usize, usize),
    classes: usize,
}

/// Which part of a set becomes the validation set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Split {
    /// The last `n` items (MNIST tutorials hold out the last 5,000).
    Last(usize),
    /// The last `fraction` of the items, rounded down (0.0 ..= 1.0).
    Fraction(f64),
}

/// Mean and standard deviation of the pixels scaled to [0, 1] (population
/// std, as the tutorials' 0.1307 / 0.3081 for MNIST).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelStats {
    /// Mean of `p / 255` over every pixel.
    pub mean: f64,
    /// Population standard deviation of `p / 255`.
    pub std: f64,
}

impl Dataset {
    /// A dataset from pixels (`labels.len() x rows x cols`) and labels.
    /// `classes` defaults to the largest label + 1; if given, every label
    /// must be below it.
    pub fn new(
        images: Vec<u8>,
        labels: Vec<u8>,
        image_shape: (usize, usize),
        classes: Option<usize>,
    ) -> Result<Dataset> {
        let pixels = image_shape
            .0
            .checked_mul(image_shape.1)
            .and_then(|p| p.checked_mul(labels.len()));
        if pixels != Some(images.len()) {
            return Err(DataError::InvalidRequest(format!(
                "{} pixels do not make {} images of {}x{}",
                images.len(),
                labels.len(),
                image_shape.0,
                image_shape.1
            )));
        }
        let mut set = Dataset {
            images,
            labels,
            image_shape,
            classes: 0,
        };
        let classes = classes.unwrap_or_else(|| set.max_label_plus_one());
        if let Some((index, label)) = set.first_label_at_or_above(classes) {
            return Err(DataError::InvalidRequest(format!(
                "label {label} of item {index} is outside the classes 0..{classes}"
            )));
        }
        set.classes = classes;
        Ok(set)
    }

    /// Reads an images IDX file (u8, 3 dimensions: count, rows, cols) and a
    /// labels IDX file (u8, 1 dimension), gzipped or not.
    pub fn from_idx_files(
        images_path: impl AsRef<Path>,
        labels_path: impl AsRef<Path>,
        classes: Option<usize>,
    ) -> Result<Dataset> {
        Dataset::from_idx_files_limited(images_path, labels_path, classes, None)
    }

    /// [`Dataset::from_idx_files`] keeping only the first `limit` items:
    /// only their bytes are read into memory (the rest of each file is
    /// checked for length, not kept), so a limit bounds the memory whatever
    /// the files hold.
    pub fn from_idx_files_limited(
        images_path: impl AsRef<Path>,
        labels_path: impl AsRef<Path>,
        classes: Option<usize>,
        limit: Option<usize>,
    ) -> Result<Dataset> {
        let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());
        let (image_dims, images) = read_u8_items(images_path, "images", 3, limit)?;
        let (label_dims, labels) = read_u8_items(labels_path, "labels", 1, limit)?;
        // The headers' counts: the files must agree even when cut short.
        if image_dims[0] != label_dims[0] {
            return Err(DataError::CountMismatch {
                images_path: images_path.to_path_buf(),
                labels_path: labels_path.to_path_buf(),
                images: image_dims[0],
                labels: label_dims[0],
            });
        }
        let mut set = Dataset {
            images,
            labels,
            image_shape: (image_dims[1], image_dims[2]),
            classes: 0,
        };
        set.set_classes(
            classes.unwrap_or_else(|| set.max_label_plus_one()),
            labels_path,
        )?;
        Ok(set)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// No images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `(rows, cols)` of every image.
    pub fn image_shape(&self) -> (usize, usize) {
        self.image_shape
    }

    /// Pixels per image, `P = rows x cols` (784 for MNIST).
    pub fn pixels_per_image(&self) -> usize {
        self.image_shape.0 * self.image_shape.1
    }

    /// Number of classes: labels lie in `0..classes`.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// All pixels, `N x P`, row-major.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// Every label, in image order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of image `index`, row-major. Panics if out of range.
    pub fn image(&self, index: usize) -> &[u8] {
        let p = self.pixels_per_image();
        &self.images[index * p..(index + 1) * p]
    }

    /// The label of image `index` (which must be below [`Dataset::len`]).
    pub fn label(&self, index: usize) -> u8 {
        self.labels[index]
    }

    /// Splits off a validation set from the end; returns `(train, validation)`.
    ///
    /// ```
    /// use mnist_data::{Dataset, Split};
    /// let set = Dataset::new(vec![0, 1, 2, 3, 4], vec![0, 1, 0, 1, 2], (1, 1), None).unwrap();
    /// let (train, validation) = set.split(Split::Last(2)).unwrap();
    /// assert_eq!((train.labels(), validation.labels()), (&[0, 1, 0][..], &[1, 2][..]));
    /// assert_eq!(validation.images(), &[3, 4]);
    /// assert_eq!(train.classes(), 3); // both halves keep the set's classes
    /// ```
    pub fn split(mut self, split: Split) -> Result<(Dataset, Dataset)> {
        let validation_len = match split {
            Split::Last(n) => n,
            Split::Fraction(f) if (0.0..=1.0).contains(&f) => (self.len() as f64 * f) as usize,
            Split::Fraction(f) => {
                return Err(DataError::InvalidRequest(format!(
                    "validation fraction {f} is outside 0..=1"
                )))
            }
        };
        if validation_len > self.len() {
            return Err(DataError::InvalidRequest(format!(
                "cannot hold out {validation_len} items from a set of {}",
                self.len()
            )));
        }
        let keep = self.len() - validation_len;
        let validation = Dataset {
            images: self.images.split_off(keep * self.pixels_per_image()),
            labels: self.labels.split_off(keep),
            image_shape: self.image_shape,
            classes: self.classes,
        };
        self.images.shrink_to_fit();
        self.labels.shrink_to_fit();
        Ok((self, validation))
    }

    /// How many items carry each label, indexed by class.
    pub fn class_histogram(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.classes];
        for &label in &self.labels {
            counts[label as usize] += 1;
        }
        counts
    }

    /// Mean and std of all pixels scaled to [0, 1], from an exact 256-bin
    /// histogram (so no rounding drift over 47 million pixels).
    pub fn pixel_stats(&self) -> PixelStats {
        let mut counts = [0u64; 256];
        for &p in &self.images {
            counts[p as usize] += 1;
        }
        let n = self.images.len() as f64;
        if n == 0.0 {
            return PixelStats {
                mean: 0.0,
                std: 0.0,
            };
        }
        let value = |p: usize| p as f64 / 255.0;
        let mean = counts
            .iter()
            .enumerate()
            .map(|(p, &c)| value(p) * c as f64)
            .sum::<f64>()
            / n;
        let variance = counts
            .iter()
            .enumerate()
            .map(|(p, &c)| (value(p) - mean).powi(2) * c as f64)
            .sum::<f64>()
            / n;
        PixelStats {
            mean,
            std: variance.sqrt(),
        }
    }

    /// Sets the class count, checking every label against it; `labels_path`
    /// names the file in the error.
    pub(crate) fn set_classes(&mut self, classes: usize, labels_path: &Path) -> Result<()> {
        if let Some((index, label)) = self.first_label_at_or_above(classes) {
            return Err(DataError::LabelOutOfRange {
                path: labels_path.to_path_buf(),
                index,
                label,
                classes,
            });
        }
        self.classes = classes;
        Ok(())
    }

    pub(crate) fn from_parts_unchecked(
        images: Vec<u8>,
        labels: Vec<u8>,
        image_shape: (usize, usize),
    ) -> Dataset {
        debug_assert_eq!(images.len(), labels.len() * image_shape.0 * image_shape.1);
        let mut set = Dataset {
            images,
            labels,
            image_shape,
            classes: 0,
        };
        set.classes = set.max_label_plus_one();
        set
    }

    fn max_label_plus_one(&self) -> usize {
        self.labels.iter().max().map_or(0, |&m| m as usize + 1)
    }

    fn first_label_at_or_above(&self, classes: usize) -> Option<(usize, u8)> {
        self.labels
            .iter()
            .enumerate()
            .find(|&(_, &label)| label as usize >= classes)
            .map(|(i, &label)| (i, label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_stats_match_a_naive_two_pass_computation() {
        let pixels: Vec<u8> = (0..600u32).map(|i| (i * 37 % 256) as u8).collect();
        let set = Dataset::new(pixels.clone(), vec![0; 6], (10, 10), None).unwrap();
        let values: Vec<f64> = pixels.iter().map(|&p| p as f64 / 255.0).collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        let stats = set.pixel_stats();
        assert!((stats.mean - mean).abs() < 1e-12);
        assert!((stats.std - var.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn split_by_fraction_rounds_down_and_rejects_bad_requests() {
        let set = Dataset::new(vec![0; 10], (0..10).collect(), (1, 1), None).unwrap();
        let (train, validation) = set.clone().split(Split::Fraction(0.25)).unwrap();
        assert_eq!(train.len(), 8);
        assert_eq!(validation.labels(), &[8, 9]);
        assert!(set.clone().split(Split::Last(11)).is_err());
        assert!(set.clone().split(Split::Fraction(1.5)).is_err());
        assert!(set.split(Split::Fraction(f64::NAN)).is_err());
    }

    #[test]
    fn new_checks_sizes_and_given_classes() {
        assert!(Dataset::new(vec![0; 5], vec![0, 1], (1, 2), None).is_err());
        assert!(Dataset::new(vec![0; 4], vec![0, 3], (1, 2), Some(3)).is_err());
        let set = Dataset::new(vec![0; 4], vec![0, 3], (1, 2), Some(10)).unwrap();
        assert_eq!(set.class_histogram(), vec![1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
}
