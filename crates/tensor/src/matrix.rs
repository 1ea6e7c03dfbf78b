//! `Matrix` owns row-major `f32` storage; `MatrixRef` and `MatrixMut` are
//! cheap borrowed views of it (or of any contiguous slice), such as a range of
//! rows for a mini-batch.

use crate::aligned::AlignedVec;
use crate::ShapeError;
use std::ops::{Index, IndexMut, Range};

/// A row-major `rows x cols` matrix of `f32`, contiguous, starting on a
/// cache line.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    /// Starts on a cache line (see `aligned.rs`).
    data: AlignedVec,
}

/// A borrowed, read-only row-major matrix (contiguous, row stride = `cols`).
#[derive(Clone, Copy, Debug)]
pub struct MatrixRef<'a> {
    rows: usize,
    cols: usize,
    data: &'a [f32],
}

/// A borrowed, writable row-major matrix (contiguous, row stride = `cols`).
#[derive(Debug)]
pub struct MatrixMut<'a> {
    rows: usize,
    cols: usize,
    data: &'a mut [f32],
}

fn checked_len(rows: usize, cols: usize) -> Result<usize, ShapeError> {
    rows.checked_mul(cols)
        .ok_or(ShapeError::Overflow { rows, cols })
}

fn check_data(rows: usize, cols: usize, len: usize) -> Result<(), ShapeError> {
    if checked_len(rows, cols)? == len {
        Ok(())
    } else {
        Err(ShapeError::DataLength { rows, cols, len })
    }
}

impl Matrix {
    /// A `rows x cols` matrix of zeros.
    ///
    /// Panics only if `rows * cols` overflows `usize` (as `vec!` would).
    pub fn zeros(rows: usize, cols: usize) -> Matrix {
        Matrix::filled(rows, cols, 0.0)
    }

    /// A `rows x cols` matrix with every element `value`.
    pub fn filled(rows: usize, cols: usize, value: f32) -> Matrix {
        let len = checked_len(rows, cols).expect("matrix size overflows usize");
        Matrix {
            rows,
            cols,
            data: AlignedVec::filled(len, value),
        }
    }

    /// Wraps row-major `data`; an error unless `data.len() == rows * cols`.
    /// The elements are copied unless they start on a cache line.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Result<Matrix, ShapeError> {
        check_data(rows, cols, data.len())?;
        let data = AlignedVec::from_vec(data);
        Ok(Matrix { rows, cols, data })
    }

    /// A matrix whose element `(r, c)` is `f(r, c)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f32) -> Matrix {
        let mut m = Matrix::zeros(rows, cols);
        for r in 0..rows {
            for (c, x) in m.row_mut(r).iter_mut().enumerate() {
                *x = f(r, c);
            }
        }
        m
    }

    /// The identity matrix of size `n`.
    pub fn identity(n: usize) -> Matrix {
        Matrix::from_fn(n, n, |r, c| if r == c { 1.0 } else { 0.0 })
    }

    /// Number of rows (`B` for a batch, one sample a row).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns (features of each row).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    /// True when a side is 0 (no elements).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every element, row after row: `(r, c)` is at `r * cols + c`.
    pub fn as_slice(&self) -> &[f32] {
        self.data.as_slice()
    }
    /// Every element, row after row, to write in place.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        self.data.as_mut_slice()
    }
    /// The elements, row after row (copied unless they start their
    /// storage, as those of [`Matrix::from_vec`] on a line do).
    pub fn into_vec(self) -> Vec<f32> {
        self.data.into_vec()
    }
    /// Row `r`, `cols` elements. Panics if `r >= rows`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.as_slice()[r * self.cols..(r + 1) * self.cols]
    }
    /// Row `r`, to write in place. Panics if `r >= rows`.
    pub fn row_mut(&mut self, r: usize) -> &mut [f32] {
        let cols = self.cols;
        &mut self.as_mut_slice()[r * cols..(r + 1) * cols]
    }

    /// Reshapes in place to `rows x cols`, reusing the allocation when it is
    /// large enough. Contents are unspecified afterwards (callers overwrite
    /// them); this is how layers keep one buffer while the batch size varies.
    pub fn resize(&mut self, rows: usize, cols: usize) {
        let len = checked_len(rows, cols).expect("matrix size overflows usize");
        self.data.resize(len);
        self.rows = rows;
        self.cols = cols;
    }

    /// Sets every element to `value`.
    pub fn fill(&mut self, value: f32) {
        self.as_mut_slice().fill(value);
    }

    /// A read-only view of the whole matrix.
    pub fn view(&self) -> MatrixRef<'_> {
        MatrixRef {
            rows: self.rows,
            cols: self.cols,
            data: self.data.as_slice(),
        }
    }

    /// A writable view of the whole matrix.
    pub fn view_mut(&mut self) -> MatrixMut<'_> {
        MatrixMut {
            rows: self.rows,
            cols: self.cols,
            data: self.data.as_mut_slice(),
        }
    }

    /// A view of rows `range` (a mini-batch), without copying.
    pub fn rows_range(&self, range: Range<usize>) -> MatrixRef<'_> {
        self.view().rows_range(range)
    }

    /// The transpose of this matrix as an operand of [`crate::gemm`]; no copy.
    pub fn t(&self) -> crate::Operand<'_> {
        self.view().t()
    }

    /// A new matrix holding the transpose (a copy; GEMM never needs one).
    pub fn transposed(&self) -> Matrix {
        self.view().transposed()
    }
}

impl Index<(usize, usize)> for Matrix {
    type Output = f32;
    fn index(&self, (r, c): (usize, usize)) -> &f32 {
        assert!(
            c < self.cols,
            "column {c} out of range for {} columns",
            self.cols
        );
        &self.as_slice()[r * self.cols + c]
    }
}

impl IndexMut<(usize, usize)> for Matrix {
    fn index_mut(&mut self, (r, c): (usize, usize)) -> &mut f32 {
        assert!(
            c < self.cols,
            "column {c} out of range for {} columns",
            self.cols
        );
        let cols = self.cols;
        &mut self.as_mut_slice()[r * cols + c]
    }
}

impl<'a> MatrixRef<'a> {
    /// Views row-major `data` as `rows x cols`; an error unless the length fits.
    pub fn new(rows: usize, cols: usize, data: &'a [f32]) -> Result<Self, ShapeError> {
        check_data(rows, cols, data.len())?;
        Ok(MatrixRef { rows, cols, data })
    }
    /// Number of rows (`B` for a batch, one sample a row).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns (features of each row).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// Every element, row after row: `(r, c)` is at `r * cols + c`; it
    /// borrows the data, not the view.
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }
    /// Row `r`, `cols` elements, borrowing the data, not the view.
    /// Panics if `r >= rows`.
    pub fn row(&self, r: usize) -> &'a [f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
    /// Element `(r, c)`. Panics if `r >= rows` or `c >= cols`.
    pub fn get(&self, r: usize, c: usize) -> f32 {
        assert!(
            c < self.cols,
            "column {c} out of range for {} columns",
            self.cols
        );
        self.data[r * self.cols + c]
    }
    /// A view of rows `range`, without copying. Panics if out of range.
    pub fn rows_range(&self, range: Range<usize>) -> MatrixRef<'a> {
        assert!(
            range.start <= range.end && range.end <= self.rows,
            "rows {range:?} out of range for {} rows",
            self.rows
        );
        MatrixRef {
            rows: range.end - range.start,
            cols: self.cols,
            data: &self.data[range.start * self.cols..range.end * self.cols],
        }
    }
    /// This view transposed, as a GEMM operand; no copy.
    pub fn t(self) -> crate::Operand<'a> {
        crate::Operand::transposed(self)
    }
    /// A new matrix holding a copy of the elements.
    pub fn to_matrix(&self) -> Matrix {
        Matrix {
            rows: self.rows,
            cols: self.cols,
            data: AlignedVec::from_slice(self.data),
        }
    }
    /// A new matrix holding the transpose.
    pub fn transposed(&self) -> Matrix {
        Matrix::from_fn(self.cols, self.rows, |r, c| self.get(c, r))
    }
}

impl<'a> MatrixMut<'a> {
    /// Views row-major `data` as `rows x cols`; an error unless the length fits.
    pub fn new(rows: usize, cols: usize, data: &'a mut [f32]) -> Result<Self, ShapeError> {
        check_data(rows, cols, data.len())?;
        Ok(MatrixMut { rows, cols, data })
    }
    /// Number of rows (`B` for a batch, one sample a row).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns (features of each row).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// Every element, row after row: `(r, c)` is at `r * cols + c`.
    pub fn as_slice(&self) -> &[f32] {
        self.data
    }
    /// Every element, row after row, to write in place.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        self.data
    }
    /// Every element, row after row, for as long as the data is
    /// borrowed (the view itself is given up).
    pub fn into_mut_slice(self) -> &'a mut [f32] {
        self.data
    }
    /// Row `r`, `cols` elements. Panics if `r >= rows`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.as_slice()[r * self.cols..(r + 1) * self.cols]
    }
    /// Row `r`, to write in place. Panics if `r >= rows`.
    pub fn row_mut(&mut self, r: usize) -> &mut [f32] {
        let cols = self.cols;
        &mut self.as_mut_slice()[r * cols..(r + 1) * cols]
    }
    /// A read-only view of the same elements.
    pub fn view(&self) -> MatrixRef<'_> {
        MatrixRef {
            rows: self.rows,
            cols: self.cols,
            data: self.data,
        }
    }
    /// A shorter-lived writable view, so one `MatrixMut` can be used twice.
    pub fn reborrow(&mut self) -> MatrixMut<'_> {
        MatrixMut {
            rows: self.rows,
            cols: self.cols,
            data: self.data,
        }
    }
    /// A writable view of rows `range`, without copying. Panics if out of range.
    pub fn rows_range_mut(self, range: Range<usize>) -> MatrixMut<'a> {
        assert!(
            range.start <= range.end && range.end <= self.rows,
            "rows {range:?} out of range for {} rows",
            self.rows
        );
        MatrixMut {
            rows: range.end - range.start,
            cols: self.cols,
            data: &mut self.data[range.start * self.cols..range.end * self.cols],
        }
    }
}

impl<'a> From<&'a Matrix> for MatrixRef<'a> {
    fn from(m: &'a Matrix) -> Self {
        m.view()
    }
}

impl<'a> From<&'a mut Matrix> for MatrixMut<'a> {
    fn from(m: &'a mut Matrix) -> Self {
        m.view_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_checks_length() {
        assert_eq!(
            Matrix::from_vec(2, 3, vec![0.0; 5]),
            Err(ShapeError::DataLength {
                rows: 2,
                cols: 3,
                len: 5
            })
        );
        assert!(Matrix::from_vec(usize::MAX, 2, vec![]).is_err());
    }

    #[test]
    fn rows_range_views_the_right_rows() {
        let m = Matrix::from_fn(4, 3, |r, c| (r * 10 + c) as f32);
        let v = m.rows_range(1..3);
        assert_eq!(v.shape(), (2, 3));
        assert_eq!(v.row(0), &[10.0, 11.0, 12.0]);
        assert_eq!(v.get(1, 2), 22.0);
        assert_eq!(m.rows_range(4..4).shape(), (0, 3));
    }

    #[test]
    fn transposed_swaps_indices() {
        let m = Matrix::from_fn(2, 3, |r, c| (r * 3 + c) as f32);
        let t = m.transposed();
        assert_eq!(t.shape(), (3, 2));
        assert_eq!(t.as_slice(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn resize_keeps_capacity_and_sets_shape() {
        let mut m = Matrix::zeros(8, 4);
        let ptr = m.as_slice().as_ptr();
        m.resize(3, 4);
        assert_eq!(m.shape(), (3, 4));
        m.resize(8, 4);
        assert_eq!(m.as_slice().as_ptr(), ptr);
    }
}
