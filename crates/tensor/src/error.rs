use std::fmt;

/// The one error type of this crate: a shape that does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// `rows * cols` elements were promised but `len` were given.
    DataLength {
        rows: usize,
        cols: usize,
        len: usize,
    },
    /// `rows * cols` does not fit in `usize`.
    Overflow { rows: usize, cols: usize },
    /// Two operands of `op` have shapes that do not combine.
    Mismatch {
        op: &'static str,
        left: (usize, usize),
        right: (usize, usize),
    },
    /// A vector operand (bias, output buffer) has the wrong length.
    VectorLength {
        op: &'static str,
        expected: usize,
        len: usize,
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::DataLength { rows, cols, len } => write!(
                f,
                "a {rows}x{cols} matrix needs {} values, got {len}",
                rows * cols
            ),
            ShapeError::Overflow { rows, cols } => {
                write!(
                    f,
                    "a {rows}x{cols} matrix has more elements than memory can address"
                )
            }
            ShapeError::Mismatch { op, left, right } => write!(
                f,
                "{op}: shapes {}x{} and {}x{} do not fit together",
                left.0, left.1, right.0, right.1
            ),
            ShapeError::VectorLength { op, expected, len } => {
                write!(f, "{op}: expected a vector of length {expected}, got {len}")
            }
        }
    }
}

impl std::error::Error for ShapeError {}
