//! One GEMM call as every path takes it (the blocked nest, the dot
//! products), and whether it is worth more than one thread.

use super::kernel::Kernel;
use super::Operand;

/// Below this many multiply-adds (`m * n * k`) a GEMM stays on the calling
/// thread: handing half of it to the pool costs a microsecond or two of
/// hand-over (tens if the worker has parked) plus duplicated packing, which
/// would eat most of the gain. 2^20 is about 10 us of one core.
const PARALLEL_MIN_MULTIPLY_ADDS: usize = 1 << 20;

/// Everything one GEMM call needs, shared read-only by its threads.
pub(crate) struct Problem<'a> {
    pub a: Operand<'a>,
    pub b: Operand<'a>,
    pub c: OutputMatrix,
    pub alpha: f32,
    pub beta: f32,
    pub bias: Option<&'a [f32]>,
    pub relu: bool,
    pub kernel: Kernel,
}

/// C as a raw pointer and row stride, so threads can write disjoint column
/// ranges of it (which `&mut` slices of a row-major matrix cannot express).
#[derive(Clone, Copy)]
pub(crate) struct OutputMatrix {
    pub ptr: *mut f32,
    pub rows: usize,
    pub cols: usize,
}

// SAFETY: threads only ever write disjoint tiles of C (the chunks each
// claimed), and
// the `&mut` borrow C came from outlives the call, so sharing the pointer is
// sound.
unsafe impl Sync for OutputMatrix {}

/// The threads `problem` is worth: `threads`, or 1 for a small one.
pub(crate) fn threads_for(problem: &Problem, threads: usize) -> usize {
    let (m, n, k) = (problem.c.rows, problem.c.cols, problem.a.cols());
    if m * n * k < PARALLEL_MIN_MULTIPLY_ADDS {
        1
    } else {
        threads
    }
}
