//! A file set: the training and test halves of an MNIST-format dataset,
//! from a directory of the four usual IDX files or from a pair of CSVs.

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use std::path::{Path, PathBuf};

/// The four files of an MNIST-format directory (MNIST, Fashion-MNIST,
/// KMNIST and EMNIST all use these names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetFiles {
    /// `train-images-idx3-ubyte` (or `.gz`).
    pub train_images: PathBuf,
    /// `train-labels-idx1-ubyte` (or `.gz`).
    pub train_labels: PathBuf,
    /// `t10k-images-idx3-ubyte` (or `.gz`).
    pub test_images: PathBuf,
    /// `t10k-labels-idx1-ubyte` (or `.gz`).
    pub test_labels: PathBuf,
}

/// Each file's accepted base names, the usual spelling first; each may also
/// carry a `.gz` suffix.
const FILE_NAMES: [(&str, [&str; 2]); 4] = [
    (
        "training images",
        ["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
    ),
    (
        "training labels",
        ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
    ),
    (
        "test images",
        ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"],
    ),
    (
        "test labels",
        ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"],
    ),
];

impl DatasetFiles {
    /// Finds the four files in `dir`; an error naming the missing file's
    /// accepted names and the directory searched.
    pub fn find(dir: impl AsRef<Path>) -> Result<DatasetFiles> {
        let dir = dir.as_ref();
        let mut found = FILE_NAMES.iter().map(|&(what, names)| {
            let candidates: Vec<String> = names
                .iter()
                .flat_map(|name| [name.to_string(), format!("{name}.gz")])
                .collect();
            candidates
                .iter()
                .map(|name| dir.join(name))
                .find(|path| path.is_file())
                .ok_or_else(|| DataError::MissingFile {
                    dir: dir.to_path_buf(),
                    what,
                    expected: candidates.clone(),
                })
        });
        let mut next = || found.next().expect("four names");
        Ok(DatasetFiles {
            train_images: next()?,
            train_labels: next()?,
            test_images: next()?,
            test_labels: next()?,
        })
    }
}

/// The training and test sets of one file set, sharing image shape and
/// class count.
#[derive(Clone, Debug, PartialEq)]
pub struct MnistSet {
    /// What to learn from (and to hold validation out of).
    pub train: Dataset,
    /// What to measure on.
    pub test: Dataset,
}

impl MnistSet {
    /// Loads an MNIST-format directory. `classes` defaults to the largest
    /// label in either half + 1; if given, a label at or above it is an error.
    pub fn load_dir(dir: impl AsRef<Path>, classes: Option<usize>) -> Result<MnistSet> {
        MnistSet::load_dir_limited(dir, classes, None)
    }

    /// [`MnistSet::load_dir`] keeping only the first `limit` items of each
    /// half, and reading no more than those into memory.
    pub fn load_dir_limited(
        dir: impl AsRef<Path>,
        classes: Option<usize>,
        limit: Option<usize>,
    ) -> Result<MnistSet> {
        let files = DatasetFiles::find(dir)?;
        MnistSet::load_files_limited(&files, classes, limit)
    }

    /// Loads the four files named in `files`.
    pub fn load_files(files: &DatasetFiles, classes: Option<usize>) -> Result<MnistSet> {
        MnistSet::load_files_limited(files, classes, None)
    }

    /// [`MnistSet::load_files`] keeping only the first `limit` items of each half.
    pub fn load_files_limited(
        files: &DatasetFiles,
        classes: Option<usize>,
        limit: Option<usize>,
    ) -> Result<MnistSet> {
        let (train_images, train_labels) = (&files.train_images, &files.train_labels);
        let train = Dataset::from_idx_files_limited(train_images, train_labels, classes, limit)?;
        let (test_images, test_labels) = (&files.test_images, &files.test_labels);
        let test = Dataset::from_idx_files_limited(test_images, test_labels, classes, limit)?;
        MnistSet::join(
            train,
            test,
            classes,
            [&files.train_labels, &files.test_labels],
            [&files.train_images, &files.test_images],
        )
    }

    /// Loads a pair of CSV files (see [`Dataset::from_csv`]).
    pub fn load_csv(
        train_csv: impl AsRef<Path>,
        test_csv: impl AsRef<Path>,
        image_shape: Option<(usize, usize)>,
        classes: Option<usize>,
    ) -> Result<MnistSet> {
        MnistSet::load_csv_limited(train_csv, test_csv, image_shape, classes, None)
    }

    /// [`MnistSet::load_csv`] keeping only the first `limit` images of each
    /// file, and reading no further.
    pub fn load_csv_limited(
        train_csv: impl AsRef<Path>,
        test_csv: impl AsRef<Path>,
        image_shape: Option<(usize, usize)>,
        classes: Option<usize>,
        limit: Option<usize>,
    ) -> Result<MnistSet> {
        let (train_csv, test_csv) = (train_csv.as_ref(), test_csv.as_ref());
        let train = Dataset::from_csv_limited(train_csv, image_shape, classes, limit)?;
        let shape = image_shape.or(Some(train.image_shape()));
        let test = Dataset::from_csv_limited(test_csv, shape, classes, limit)?;
        let paths = [train_csv, test_csv];
        MnistSet::join(train, test, classes, paths, paths)
    }

    /// Checks that neither half is empty (nothing to train on, or an
    /// accuracy of 0% measured on nothing) and that both agree on image
    /// shape, and gives both one class count.
    fn join(
        mut train: Dataset,
        mut test: Dataset,
        classes: Option<usize>,
        label_paths: [&Path; 2],
        image_paths: [&Path; 2],
    ) -> Result<MnistSet> {
        for (set, path) in [(&train, image_paths[0]), (&test, image_paths[1])] {
            if set.is_empty() {
                return Err(DataError::NoImages {
                    path: path.to_path_buf(),
                });
            }
        }
        if train.image_shape() != test.image_shape() {
            return Err(DataError::ImageShapeMismatch {
                path: image_paths[1].to_path_buf(),
                expected: train.image_shape(),
                found: test.image_shape(),
            });
        }
        let classes = classes.unwrap_or(train.classes().max(test.classes()));
        train.set_classes(classes, label_paths[0])?;
        test.set_classes(classes, label_paths[1])?;
        Ok(MnistSet { train, test })
    }
}
