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
        path: PathBuf,
        source: std::io::Error,
    },

    /// The path is a directory, device, FIFO or socket: reading it could
    /// block forever (a FIFO) or never end (`/dev/zero`).
    #[error("{}: not a regular file (a directory, device, FIFO or socket); a data file is needed", path.display())]
    NotARegularFile { path: PathBuf },

    /// A dataset directory lacks one of the files it needs.
    #[error(
        "{}: no {what} file; expected one of: {}",
        dir.display(),
        expected.join(", ")
    )]
    MissingFile {
        dir: PathBuf,
        what: &'static str,
        expected: Vec<String>,
    },

    /// The file (or its decompressed content) has no bytes at all.
    #[error("{}: the file is empty", path.display())]
    Empty { path: PathBuf },

    /// The file is well formed but holds no images: one half of a file
    /// set, where there must be something to train on or to measure.
    #[error("{}: the file holds no images", path.display())]
    NoImages { path: PathBuf },

    /// The file ends inside the IDX header.
    #[error("{}: the file ends inside the IDX header ({found} bytes, the header needs {needed})", path.display())]
    TruncatedHeader {
        path: PathBuf,
        found: usize,
        needed: usize,
    },

    /// The first two bytes of an IDX file must be zero.
    #[error(
        "{}: not an IDX file: the magic number starts {:#04x} {:#04x}, IDX files start 0x00 0x00",
        path.display(), found[0], found[1]
    )]
    WrongMagic { path: PathBuf, found: [u8; 2] },

    /// The third header byte names no IDX element type.
    #[error(
        "{}: unsupported IDX type code {code:#04x} (known: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)",
        path.display()
    )]
    UnsupportedTypeCode { path: PathBuf, code: u8 },

    /// The IDX file is valid but its element type is not the one this use needs.
    #[error("{}: {what} must be IDX type u8 (0x08), the file holds {found}", path.display())]
    WrongElementType {
        path: PathBuf,
        what: &'static str,
        found: &'static str,
    },

    /// Images need 3 dimensions (count, rows, columns), labels 1.
    #[error("{}: {what} need {expected} IDX dimensions, the file has {found}", path.display())]
    WrongDimensionCount {
        path: PathBuf,
        what: &'static str,
        expected: usize,
        found: usize,
    },

    /// The product of the header's dimensions (times the element size) does
    /// not fit in memory addresses.
    #[error("{}: the dimensions {dims:?} multiply to more bytes than this machine can address", path.display())]
    DimensionOverflow { path: PathBuf, dims: Vec<u32> },

    /// The header claims a count or size no real dataset has: the file is
    /// damaged or hostile, and believing it would cost gigabytes.
    #[error("{}: {problem}", path.display())]
    Implausible { path: PathBuf, problem: String },

    /// The payload ends before the header's dimensions are filled.
    #[error(
        "{}: payload shorter than the header says: {expected} bytes of data expected, {found} present",
        path.display()
    )]
    ShortPayload {
        path: PathBuf,
        expected: u64,
        found: u64,
    },

    /// The memory for the data could not be had.
    #[error("{}: cannot allocate {bytes} bytes for the data", path.display())]
    OutOfMemory { path: PathBuf, bytes: u64 },

    /// Bytes remain after the data the header describes.
    #[error(
        "{}: payload longer than the header says: extra bytes after the {expected} bytes of data",
        path.display()
    )]
    LongPayload { path: PathBuf, expected: u64 },

    /// The gzip stream is corrupt (bad header, bad deflate data, bad checksum
    /// or cut short).
    #[error("{}: damaged gzip stream: {detail}", path.display())]
    DamagedGzip { path: PathBuf, detail: String },

    /// Images and labels files disagree on the number of items.
    #[error(
        "{} holds {images} images but {} holds {labels} labels",
        images_path.display(), labels_path.display()
    )]
    CountMismatch {
        images_path: PathBuf,
        labels_path: PathBuf,
        images: usize,
        labels: usize,
    },

    /// A label is not below the number of classes of the file set.
    #[error(
        "{}: label {label} of item {index} is outside the classes 0..{classes}",
        path.display()
    )]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u8,
        classes: usize,
    },

    /// Two parts of one file set (train and test) have different image sizes.
    #[error(
        "{}: images are {}x{} but the rest of the file set has {}x{}",
        path.display(), found.0, found.1, expected.0, expected.1
    )]
    ImageShapeMismatch {
        path: PathBuf,
        expected: (usize, usize),
        found: (usize, usize),
    },

    /// A line of a CSV file is malformed.
    #[error("{}: line {line}: {problem}", path.display())]
    Csv {
        path: PathBuf,
        line: usize,
        problem: String,
    },

    /// A request that does not fit the data (a split larger than the set,
    /// a batch size of zero, images whose size does not match).
    #[error("{0}")]
    InvalidRequest(String),
}

/// Shorthand used throughout the crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
