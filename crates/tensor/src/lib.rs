//! `tensor`: row-major `f32` matrices and the numeric kernels a neural network
//! needs, above all a packed, cache-blocked GEMM with AVX2+FMA and AVX-512
//! microkernels (chosen at run time; a portable one elsewhere) and blocks
//! sized from the caches the CPU reports ([`describe_gemm`] names both).
//! It has no dependencies: the hot path is ours and readable top to bottom.
//! GEMM's worker threads also take other work through [`parallel`] (the
//! optimizer splits its update of a large weight across them), and
//! [`cpu::with_simd`] lets other crates' plain loops run with AVX-512 or AVX2 (the
//! optimizer's updates, the batch conversion of `mnist-data`).
//!
//! Shape legend used throughout the workspace:
//! - `m`, `k`, `n`: `C (m x n) = op(A) (m x k) * op(B) (k x n)`
//! - `B` batch size, `I` inputs of a layer, `O` outputs of a layer
//! - images `[B, C, H, W]` (NCHW): a `B x (C*H*W)` matrix, one image a row,
//!   channel after channel, each row after row ([`conv`], [`pool`])
//!
//! ```
//! use tensor::{gemm, Epilogue, Matrix};
//! let a = Matrix::from_vec(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
//! let b = Matrix::from_vec(2, 3, vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0]).unwrap();
//! let mut c = Matrix::zeros(2, 2);
//! // C = A * B^T, without materialising the transpose.
//! gemm(1.0, &a, b.t(), 0.0, c.view_mut(), Epilogue::None).unwrap();
//! assert_eq!(c.as_slice(), &[4.0, 2.0, 10.0, 5.0]);
//! ```

mod aligned;
pub mod conv;
pub mod cpu;
mod error;
mod gemm;
mod matrix;
pub mod ops;
pub mod parallel;
pub mod pool;
mod thread_pool;

pub use error::ShapeError;
pub use gemm::{
    describe_gemm, gemm, gemm_with, matmul, reference_gemm, Epilogue, GemmConfig, KernelChoice,
    Operand,
};
pub use matrix::{Matrix, MatrixMut, MatrixRef};
pub use thread_pool::{set_threads, threads};
