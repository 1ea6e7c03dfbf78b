//! Finding and loading the dataset a command asked for: the bundled MNIST by
//! default, another IDX folder, or CSV files; cut to `--limit` and split
//! into training and validation sets. The reading itself is `mnist-data`'s.

use crate::cli::DataSourceArgs;
use crate::config::{DataSource, CLASSES, INPUTS};
use crate::error::Error;
use mnist_data::{DataError, Dataset, DatasetFiles, MnistSet, Split};
use std::path::{Path, PathBuf};

/// The bundled MNIST, found from the source tree (works wherever the binary
/// is run from, as long as the checkout exists).
fn bundled_in_source_tree() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    // Messages name this folder: show it without the `crates/trainer/../..` detour.
    dir.canonicalize().unwrap_or(dir)
}

/// The bundled MNIST relative to the current folder (a copied binary run
/// from a checkout's root).
const BUNDLED_RELATIVE: &str = "data/mnist";

/// The IDX folder: `--data`'s, else the bundled MNIST.
fn idx_dir(dir: &Option<PathBuf>) -> PathBuf {
    match dir {
        Some(dir) => dir.clone(),
        None if bundled_in_source_tree().is_dir() => bundled_in_source_tree(),
        None => PathBuf::from(BUNDLED_RELATIVE),
    }
}

impl DataSource {
    /// The source `--data` or `--csv-train`/`--csv-test` name, or `None`
    /// when no flag names one (then a resumed run keeps its own).
    pub fn given(args: &DataSourceArgs) -> Option<DataSource> {
        match (&args.csv_train, &args.csv_test, &args.data) {
            (Some(train), Some(test), _) => Some(DataSource::Csv {
                train: train.clone(),
                test: test.clone(),
            }),
            (_, _, Some(dir)) => Some(DataSource::Idx {
                dir: Some(dir.clone()),
            }),
            _ => None,
        }
    }

    /// The source the flags name, else the bundled MNIST.
    pub fn from_args(args: &DataSourceArgs) -> DataSource {
        DataSource::given(args).unwrap_or(DataSource::Idx { dir: None })
    }

    /// Where the images come from, for a person.
    pub fn describe(&self) -> String {
        match self {
            DataSource::Idx { dir } => idx_dir(dir).display().to_string(),
            DataSource::Csv { train, test } => {
                format!("{} and {}", train.display(), test.display())
            }
        }
    }

    /// Loads training and test sets, each cut to the first `limit` items
    /// (only those are read into memory).
    pub fn load(&self, limit: Option<usize>) -> Result<MnistSet, Error> {
        let (set, train_images) = match self {
            DataSource::Idx { dir } => {
                let files = DatasetFiles::find(idx_dir(dir)).map_err(explain_data_error)?;
                let set = MnistSet::load_files_limited(&files, Some(CLASSES), limit)
                    .map_err(explain_data_error)?;
                (set, files.train_images)
            }
            DataSource::Csv { train, test } => {
                let set =
                    MnistSet::load_csv_limited(train, test, Some((28, 28)), Some(CLASSES), limit)
                        .map_err(explain_data_error)?;
                (set, train.clone())
            }
        };
        if set.train.pixels_per_image() != INPUTS {
            let (rows, cols) = set.train.image_shape();
            return Err(Error::Data(format!(
                "{}: the images are {rows}x{cols} pixels; these networks take 28x28 (784 inputs)",
                train_images.display()
            )));
        }
        Ok(set)
    }
}

impl DataSource {
    /// What identifies the data a model was trained on, whatever `--limit`
    /// read of it: the CRC-32 (IEEE, as gzip, zip and Python's `zlib.crc32`
    /// compute it; fast, and enough to tell datasets apart, though not a
    /// defence against tampering) of each of the source's files as stored,
    /// e.g. `crc32 train-images-idx3-ubyte.gz 0a1b2c3d, ...`.
    pub fn checksum(&self) -> Result<String, Error> {
        let files = match self {
            DataSource::Idx { dir } => {
                let f = DatasetFiles::find(idx_dir(dir)).map_err(explain_data_error)?;
                vec![f.train_images, f.train_labels, f.test_images, f.test_labels]
            }
            DataSource::Csv { train, test } => vec![train.clone(), test.clone()],
        };
        let sums = files
            .iter()
            .map(|path| {
                let name = path.file_name().unwrap_or(path.as_os_str());
                Ok(format!(
                    "{} {:08x}",
                    name.to_string_lossy(),
                    crc32_of(path)?
                ))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(format!("crc32 {}", sums.join(", ")))
    }
}

/// The CRC-32 of a file's bytes, read in blocks (memory stays bounded).
fn crc32_of(path: &Path) -> Result<u32, Error> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let (mut hasher, mut block) = (crc32fast::Hasher::new(), vec![0u8; 1 << 16]);
    loop {
        match file.read(&mut block) {
            Ok(0) => return Ok(hasher.finalize()),
            Ok(n) => hasher.update(&block[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
}

/// Adds what a person needs to fix a missing dataset: where the bundled one is.
fn explain_data_error(error: DataError) -> Error {
    match error {
        DataError::MissingFile { .. } => Error::Data(format!(
            "{error} (the bundled MNIST is in {}; pass --data DIR for another folder)",
            bundled_in_source_tree().display()
        )),
        other => Error::Data(other.to_string()),
    }
}

/// `(train, validation)`: the last `fraction` of the training set is held
/// out (MNIST's training set is ordered by writer, not by digit, so the tail
/// is a fair sample).
pub fn split_validation(train: Dataset, fraction: f32) -> Result<(Dataset, Dataset), Error> {
    train
        .split(Split::Fraction(f64::from(fraction)))
        .map_err(|e| Error::Data(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::tests::temp_dir;

    #[test]
    fn the_bundled_data_is_found_and_limits_cut_both_halves() {
        let set = DataSource::Idx { dir: None }.load(Some(100)).unwrap();
        assert_eq!((set.train.len(), set.test.len()), (100, 100));
        // The first MNIST training labels are 5 0 4 1 9 2 1 3 1 4.
        assert_eq!(&set.train.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        let (train, validation) = split_validation(set.train, 0.1).unwrap();
        assert_eq!((train.len(), validation.len()), (90, 10));
    }

    #[test]
    fn the_checksum_is_each_files_crc32() {
        let dir = temp_dir("checksum");
        let (train, test) = (dir.join("train.csv"), dir.join("test.csv"));
        // CRC-32's check value: "123456789" gives cbf43926 (and nothing, 0).
        std::fs::write(&train, b"123456789").unwrap();
        std::fs::write(&test, b"").unwrap();
        let source = DataSource::Csv { train, test };
        assert_eq!(
            source.checksum().unwrap(),
            "crc32 train.csv cbf43926, test.csv 00000000"
        );
        let bundled = DataSource::Idx { dir: None }.checksum().unwrap();
        assert!(
            bundled.starts_with("crc32 train-images-idx3-ubyte.gz "),
            "{bundled}"
        );
        assert_eq!(bundled.matches(", ").count(), 3, "{bundled}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_dataset_names_the_files_and_the_bundled_folder() {
        let dir = temp_dir("no-data");
        let error = DataSource::Idx {
            dir: Some(dir.clone()),
        }
        .load(None)
        .unwrap_err()
        .to_string();
        assert!(error.contains("train-images-idx3-ubyte"), "{error}");
        assert!(error.contains(&dir.display().to_string()), "{error}");
        assert!(
            error.contains("bundled MNIST is in") && error.contains("data/mnist"),
            "{error}"
        );
        assert!(
            !error.contains("/../"),
            "the bundled path is shown resolved: {error}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
