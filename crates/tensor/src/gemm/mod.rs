//! General matrix multiply: `C = act(alpha * op(A) * op(B) + beta * C + bias)`.
//!
//! `op` is the identity or the transpose; transposes are never materialised.
//! Contract: when `beta == 0`, C is not read (it may hold NaN or garbage).
//!
//! - `blocked.rs`: the five-loop BLIS/GotoBLAS nest, compiled once per
//!   microkernel, and its blocking, derived from the CPU's cache sizes
//! - `pack.rs`: copying blocks of op(A) and op(B) into the kernel's strip layout
//!   (`pack_avx2.rs`: the same as 8 x 8 register transposes where it is one)
//! - `kernel/`: the `MR x NR` microkernels (AVX-512, AVX2+FMA, portable)
//!   behind one trait, the choice among them (once per call), the SIMD
//!   vector trait the SIMD ones are written over, and the C store
//! - `problem.rs`: one call's operands and settings as every path takes
//!   them, and when a call is worth more than one thread
//! - `buffers.rs`: the packing buffers each part of a split keeps between calls
//! - `chunks.rs`: a split of C over threads, taken a chunk at a time, so a
//!   thread done early takes over from one that was slowed
//! - `dots.rs`: `A * B^T` with a B of at most 2 MiB (any size for an A of
//!   under 48 rows, at most L2 for one of 64 rows or more on a core with
//!   two 512-bit FMA pipes) and 256 <= k < 1024 (or
//!   n < 32), as dot products of rows without packing, and likewise `A * B`
//!   with n < 128 and 256 <= k < 1024 after copying B's columns as rows
//!   (AVX-512 only)
//! - `gemv.rs`: a C of one row (batch 1), straight from B without packing
//! - `reference.rs`: the naive triple loop every path is tested against

mod blocked;
mod buffers;
mod chunks;
#[cfg(target_arch = "x86_64")]
mod dots;
mod gemv;
mod kernel;
mod pack;
#[cfg(target_arch = "x86_64")]
mod pack_avx2;
mod problem;
mod reference;

pub use reference::reference_gemm;

use crate::{Matrix, MatrixMut, MatrixRef, ShapeError};

/// One GEMM operand: a row-major matrix, read as itself or as its transpose.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    /// The matrix as stored, row-major.
    pub matrix: MatrixRef<'a>,
    /// Read as `matrix^T`: the packing routines read its columns as rows,
    /// so no transposed copy is ever made.
    pub transposed: bool,
}

impl<'a> Operand<'a> {
    /// `matrix` as it is: `op(M) = M`.
    pub fn plain(matrix: MatrixRef<'a>) -> Self {
        Operand {
            matrix,
            transposed: false,
        }
    }
    /// `matrix` read transposed: `op(M) = M^T` (e.g. `W^T` in `X * W^T`).
    pub fn transposed(matrix: MatrixRef<'a>) -> Self {
        Operand {
            matrix,
            transposed: true,
        }
    }
    /// Rows of `op(M)`.
    pub fn rows(&self) -> usize {
        if self.transposed {
            self.matrix.cols()
        } else {
            self.matrix.rows()
        }
    }
    /// Columns of `op(M)`.
    pub fn cols(&self) -> usize {
        if self.transposed {
            self.matrix.rows()
        } else {
            self.matrix.cols()
        }
    }
    /// Element `(r, c)` of `op(M)`.
    pub fn get(&self, r: usize, c: usize) -> f32 {
        if self.transposed {
            self.matrix.get(c, r)
        } else {
            self.matrix.get(r, c)
        }
    }
}

impl<'a> From<MatrixRef<'a>> for Operand<'a> {
    fn from(m: MatrixRef<'a>) -> Self {
        Operand::plain(m)
    }
}

impl<'a> From<&'a Matrix> for Operand<'a> {
    fn from(m: &'a Matrix) -> Self {
        Operand::plain(m.view())
    }
}

/// What is applied to each element of C as it is written, after
/// `alpha * op(A) * op(B) + beta * C`. Fusing saves a pass over C.
#[derive(Clone, Copy, Debug, Default)]
pub enum Epilogue<'a> {
    /// C is left as the product wrote it.
    #[default]
    None,
    /// `C[i][j] += bias[j]` (bias has length n).
    Bias(&'a [f32]),
    /// `C[i][j] = max(0, C[i][j] + bias[j])`.
    BiasRelu(&'a [f32]),
}

/// Which microkernel to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelChoice {
    /// The fastest one this CPU supports, detected at run time: AVX-512,
    /// else AVX2+FMA, else portable.
    #[default]
    Auto,
    /// AVX2+FMA even where AVX-512 is available (the portable kernel where
    /// AVX2 is not): tests run both SIMD kernels on the same machine.
    Avx2,
    /// The portable kernel, whatever the CPU (tests use it as a second path).
    Portable,
}

/// Per-call settings; `Default` means "global thread count, best kernel".
#[derive(Clone, Copy, Debug, Default)]
pub struct GemmConfig {
    /// Threads to use; `None` uses [`threads()`](crate::threads).
    pub threads: Option<usize>,
    /// Which microkernel runs; [`KernelChoice::Auto`] outside tests.
    pub kernel: KernelChoice,
}

/// `C = act(alpha * op(A) * op(B) + beta * C + bias)` with default settings.
pub fn gemm<'a>(
    alpha: f32,
    a: impl Into<Operand<'a>>,
    b: impl Into<Operand<'a>>,
    beta: f32,
    c: MatrixMut<'_>,
    epilogue: Epilogue<'_>,
) -> Result<(), ShapeError> {
    gemm_with(&GemmConfig::default(), alpha, a, b, beta, c, epilogue)
}

/// [`gemm`] with explicit thread count and kernel choice.
pub fn gemm_with<'a>(
    config: &GemmConfig,
    alpha: f32,
    a: impl Into<Operand<'a>>,
    b: impl Into<Operand<'a>>,
    beta: f32,
    mut c: MatrixMut<'_>,
    epilogue: Epilogue<'_>,
) -> Result<(), ShapeError> {
    let (a, b) = (a.into(), b.into());
    check_shapes(&a, &b, &c, &epilogue)?;
    let (bias, relu) = match epilogue {
        Epilogue::None => (None, false),
        Epilogue::Bias(bias) => (Some(bias), false),
        Epilogue::BiasRelu(bias) => (Some(bias), true),
    };
    let (rows, cols) = c.shape();
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    // How C is written (the blocked path builds one per tile, with the
    // same arithmetic).
    let store = kernel::TileStore {
        alpha,
        beta,
        bias,
        relu,
    };
    if a.cols() == 0 {
        // No products: C = act(beta * C + bias), with the same per-element
        // arithmetic as a tile store.
        for r in 0..rows {
            for (j, x) in c.row_mut(r).iter_mut().enumerate() {
                *x = store.apply(0.0, (beta != 0.0).then_some(*x), j);
            }
        }
        return Ok(());
    }
    if rows == 1 {
        // Batch 1: packing all of B for one row of a tile costs ten times the
        // arithmetic (see gemv.rs). A and B are contiguous, so A's one row
        // (or one column, transposed) is `k` consecutive floats.
        let (x, b_storage) = (a.matrix.as_slice(), b.matrix.as_slice());
        let kernel = kernel::Kernel::select(config.kernel);
        gemv::row_times_matrix(x, b_storage, b.transposed, c.row_mut(0), &store, kernel);
        return Ok(());
    }
    let problem = problem::Problem {
        a,
        b,
        c: problem::OutputMatrix {
            ptr: c.as_mut_slice().as_mut_ptr(),
            rows,
            cols,
        },
        alpha,
        beta,
        bias,
        relu,
        kernel: kernel::Kernel::select(config.kernel),
    };
    let threads = config.threads.unwrap_or_else(crate::threads).max(1);
    #[cfg(target_arch = "x86_64")]
    if dots::fits(&problem) {
        dots::gemm_dots(&problem, problem::threads_for(&problem, threads));
        return Ok(());
    }
    blocked::gemm_blocked(&problem, threads);
    Ok(())
}

/// What a GEMM runs on this CPU for `choice`, for reports: the kernel and
/// its tile, the blocking and the caches it was derived from, as in
/// "kernel avx512 6x32, KC=372 MC=348 NC=5632 (L1d 32 KiB, L2 1024 KiB,
/// L3 32768 KiB, from CPUID)". (Small or narrow products take the
/// dot-product or one-row paths instead: see the module's documentation.)
pub fn describe_gemm(choice: KernelChoice) -> String {
    let blocked::Blocking { kc, mc, nc } = blocked::Blocking::of_this_cpu();
    let caches = crate::cpu::cache_sizes();
    format!(
        "kernel {}, KC={kc} MC={mc} NC={nc} (L1d {} KiB, L2 {} KiB, L3 {} KiB, {})",
        kernel::Kernel::select(choice).describe(),
        caches.l1d >> 10,
        caches.l2 >> 10,
        caches.l3 >> 10,
        if caches.reported {
            "from CPUID"
        } else {
            "not all reported: fallback sizes"
        },
    )
}

/// `op(A) * op(B)` as a new matrix.
pub fn matmul<'a>(
    a: impl Into<Operand<'a>>,
    b: impl Into<Operand<'a>>,
) -> Result<Matrix, ShapeError> {
    let (a, b) = (a.into(), b.into());
    let mut c = Matrix::zeros(a.rows(), b.cols());
    gemm(1.0, a, b, 0.0, c.view_mut(), Epilogue::None)?;
    Ok(c)
}

fn check_shapes(
    a: &Operand,
    b: &Operand,
    c: &MatrixMut,
    epilogue: &Epilogue,
) -> Result<(), ShapeError> {
    if a.cols() != b.rows() {
        return Err(ShapeError::Mismatch {
            op: "gemm op(A) * op(B)",
            left: (a.rows(), a.cols()),
            right: (b.rows(), b.cols()),
        });
    }
    if c.shape() != (a.rows(), b.cols()) {
        return Err(ShapeError::Mismatch {
            op: "gemm output C",
            left: (a.rows(), b.cols()),
            right: c.shape(),
        });
    }
    if let Epilogue::Bias(bias) | Epilogue::BiasRelu(bias) = epilogue {
        if bias.len() != c.cols() {
            return Err(ShapeError::VectorLength {
                op: "gemm bias",
                expected: c.cols(),
                len: bias.len(),
            });
        }
    }
    Ok(())
}
