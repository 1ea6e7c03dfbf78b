use std::fmt;

/// The one error type of this crate: a shape that does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// `rows * cols` elements were promised but `len` were given.
    DataLength {
        /// Rows of the matrix asked for.
        rows: usize,
        /// Columns of the matrix asked for.
        cols: usize,
        /// Elements actually given.
        len: usize,
    },
    /// `rows * cols` does not fit in `usize`.
    Overflow {
        /// Rows of the matrix asked for.
        rows: usize,
        /// Columns of the matrix asked for.
        cols: usize,
    },
    /// Two operands of `op` have shapes that do not combine.
    Mismatch {
        /// What was being done, for the message (`"gemm op(A) * op(B)"`).
        op: &'static str,
        /// `(rows, cols)` of the first operand after any transpose, or for
        /// an output, the shape the inputs call for.
        left: (usize, usize),
        /// `(rows, cols)` of the second operand, or of the output given.
        right: (usize, usize),
    },
    /// A vector operand (bias, output buffer) has the wrong length.
    VectorLength {
        /// What was being done, for the message (`"gemm bias"`).
        op: &'static str,
        /// The length the other operands' shapes call for.
        expected: usize,
        /// The length given.
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
