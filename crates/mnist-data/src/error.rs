//! The crate's one error type. Every variant that comes from a file carries
//! its path, so the trainer can print the error as one line that says which
//! file is wrong and how.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing or slicing a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system refused to open, read or write the file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// The path is a directory, device, FIFO or socket: reading it could
    /// block forever (a FIFO) or never end (`/dev/zero`).
    #[error("{}: not a regular file (a directory, device, FIFO or socket); a data file is needed", path.display())]
    NotARegularFile {
        /// The path given.
        path: PathBuf,
    },

    /// A dataset directory lacks one of the files it needs.
    #[error(
        "{}: no {what} file; expected one of: {}",
        dir.display(),
        expected.join(", ")
    )]
    MissingFile {
        /// The folder searched.
        dir: PathBuf,
        /// The file wanted (`"training images"`, ...).
        what: &'static str,
        /// The names that would do.
        expected: Vec<String>,
    },

    /// The file (or its decompressed content) has no bytes at all.
    #[error("{}: the file is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },

    /// The file is well formed but holds no images: one half of a file
    /// set, where there must be something to train on or to measure.
    #[error("{}: the file holds no images", path.display())]
    NoImages {
        /// The file.
        path: PathBuf,
    },

    /// The file ends inside the IDX header.
    #[error("{}: the file ends inside the IDX header ({found} bytes, the header needs {needed})", path.display())]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// Bytes present.
        found: usize,
        /// Bytes the header takes.
        needed: usize,
    },

    /// The first two bytes of an IDX file must be zero.
    #[error(
        "{}: not an IDX file: the magic number starts {:#04x} {:#04x}, IDX files start 0x00 0x00",
        path.display(), found[0], found[1]
    )]
    WrongMagic {
        /// The file.
        path: PathBuf,
        /// Its first two bytes.
        found: [u8; 2],
    },

    /// The third header byte names no IDX element type.
    #[error(
        "{}: unsupported IDX type code {code:#04x} (known: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)",
        path.display()
    )]
    UnsupportedTypeCode {
        /// The file.
        path: PathBuf,
        /// The type code found.
        code: u8,
    },

    /// The IDX file is valid but its element type is not the one this use needs.
    #[error("{}: {what} must be IDX type u8 (0x08), the file holds {found}", path.display())]
    WrongElementType {
        /// The file.
        path: PathBuf,
        /// What the file was read as (`"images"`, `"labels"`).
        what: &'static str,
        /// The element type it holds.
        found: &'static str,
    },

    /// Images need 3 dimensions (count, rows, columns), labels 1.
    #[error("{}: {what} need {expected} IDX dimensions, the file has {found}", path.display())]
    WrongDimensionCount {
        /// The file.
        path: PathBuf,
        /// What the file was read as.
        what: &'static str,
        /// Dimensions needed.
        expected: usize,
        /// Dimensions the file has.
        found: usize,
    },

    /// The product of the header's dimensions (times the element size) does
    /// not fit in memory addresses.
    #[error("{}: the dimensions {dims:?} multiply to more bytes than this machine can address", path.display())]
    DimensionOverflow {
        /// The file.
        path: PathBuf,
        /// The header's dimensions.
        dims: Vec<u32>,
    },

    /// The header claims a count or size no real dataset has: the file is
    /// damaged or hostile, and believing it would cost gigabytes.
    #[error("{}: {problem}", path.display())]
    Implausible {
        /// The file.
        path: PathBuf,
        /// What is implausible, in words.
        problem: String,
    },

    /// The payload ends before the header's dimensions are filled.
    #[error(
        "{}: payload shorter than the header says: {expected} bytes of data expected, {found} present",
        path.display()
    )]
    ShortPayload {
        /// The file.
        path: PathBuf,
        /// Bytes of data the header promises.
        expected: u64,
        /// Bytes of data present.
        found: u64,
    },

    /// The memory for the data could not be had.
    #[error("{}: cannot allocate {bytes} bytes for the data", path.display())]
    OutOfMemory {
        /// The file.
        path: PathBuf,
        /// Bytes asked for.
        bytes: u64,
    },

    /// Bytes remain after the data the header describes.
    #[error(
        "{}: payload longer than the header says: extra bytes after the {expected} bytes of data",
        path.display()
    )]
    LongPayload {
        /// The file.
        path: PathBuf,
        /// Bytes of data the header promises.
        expected: u64,
    },

    /// The gzip stream is corrupt (bad header, bad deflate data, bad checksum
    /// or cut short).
    #[error("{}: damaged gzip stream: {detail}", path.display())]
    DamagedGzip {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        detail: String,
    },

    /// Images and labels files disagree on the number of items.
    #[error(
        "{} holds {images} images but {} holds {labels} labels",
        images_path.display(), labels_path.display()
    )]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// The labels file.
        labels_path: PathBuf,
        /// Images in the images file.
        images: usize,
        /// Labels in the labels file.
        labels: usize,
    },

    /// A label is not below the number of classes of the file set.
    #[error(
        "{}: label {label} of item {index} is outside the classes 0..{classes}",
        path.display()
    )]
    LabelOutOfRange {
        /// The labels file.
        path: PathBuf,
        /// The item, from 0.
        index: usize,
        /// Its label.
        label: u8,
        /// The number of classes.
        classes: usize,
    },

    /// Two parts of one file set (train and test) have different image sizes.
    #[error(
        "{}: images are {}x{} but the rest of the file set has {}x{}",
        path.display(), found.0, found.1, expected.0, expected.1
    )]
    ImageShapeMismatch {
        /// The file whose images differ.
        path: PathBuf,
        /// `(rows, columns)` of the rest of the set.
        expected: (usize, usize),
        /// `(rows, columns)` of this file's images.
        found: (usize, usize),
    },

    /// A line of a CSV file is malformed.
    #[error("{}: line {line}: {problem}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },

    /// A request that does not fit the data (a split larger than the set,
    /// a batch size of zero, images whose size does not match).
    #[error("{0}")]
    InvalidRequest(String),
}

/// Shorthand used throughout the crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
