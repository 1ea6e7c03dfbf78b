//! The fast GEMM against the naive reference (`reference_gemm`, f64
//! accumulation) over random and exhaustive small shapes, every transpose,
//! alpha/beta, both epilogues, every kernel the CPU has (AVX-512, AVX2,
//! portable) and several thread counts.

use proptest::prelude::*;
use tensor::{
    gemm, gemm_with, reference_gemm, Epilogue, GemmConfig, KernelChoice, Matrix, Operand,
    ShapeError,
};

/// Deterministic pseudo-random values in [-1, 1) from a seed (SplitMix64).
fn values(seed: u64, len: usize) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
    beta: f32,
    /// 0: none, 1: bias, 2: bias + ReLU.
    epilogue: u8,
    kernel: KernelChoice,
    threads: usize,
    seed: u64,
}

/// Stored operands for `case`: A is `m x k` (stored `k x m` when transposed).
fn operands(case: &Case) -> (Matrix, Matrix, Matrix, Vec<f32>) {
    let (a_rows, a_cols) = if case.trans_a {
        (case.k, case.m)
    } else {
        (case.m, case.k)
    };
    let (b_rows, b_cols) = if case.trans_b {
        (case.n, case.k)
    } else {
        (case.k, case.n)
    };
    let a = Matrix::from_vec(a_rows, a_cols, values(case.seed, a_rows * a_cols)).unwrap();
    let b = Matrix::from_vec(b_rows, b_cols, values(case.seed ^ 1, b_rows * b_cols)).unwrap();
    let c = if case.beta == 0.0 {
        // beta = 0 means C is never read: NaN here must not reach the output.
        Matrix::filled(case.m, case.n, f32::NAN)
    } else {
        Matrix::from_vec(case.m, case.n, values(case.seed ^ 2, case.m * case.n)).unwrap()
    };
    (a, b, c, values(case.seed ^ 3, case.n))
}

fn operand(m: &Matrix, transposed: bool) -> Operand<'_> {
    Operand {
        matrix: m.view(),
        transposed,
    }
}

fn epilogue<'a>(case: &Case, bias: &'a [f32]) -> Epilogue<'a> {
    match case.epilogue {
        0 => Epilogue::None,
        1 => Epilogue::Bias(bias),
        _ => Epilogue::BiasRelu(bias),
    }
}

/// Runs the fast GEMM for `case`.
fn fast(case: &Case) -> Matrix {
    let (a, b, mut c, bias) = operands(case);
    let config = GemmConfig {
        threads: Some(case.threads),
        kernel: case.kernel,
    };
    gemm_with(
        &config,
        case.alpha,
        operand(&a, case.trans_a),
        operand(&b, case.trans_b),
        case.beta,
        c.view_mut(),
        epilogue(case, &bias),
    )
    .unwrap();
    c
}

/// Checks the fast GEMM against the reference, element by element, with a
/// tolerance relative to the sum of the magnitudes that went into each one.
fn check(case: &Case) {
    let (a, b, mut want, bias) = operands(case);
    let c_before = want.clone();
    let (op_a, op_b) = (operand(&a, case.trans_a), operand(&b, case.trans_b));
    reference_gemm(
        case.alpha,
        op_a,
        op_b,
        case.beta,
        want.view_mut(),
        epilogue(case, &bias),
    )
    .unwrap();
    let got = fast(case);
    for i in 0..case.m {
        for j in 0..case.n {
            let magnitude: f64 = (0..case.k)
                .map(|p| (op_a.get(i, p) as f64 * op_b.get(p, j) as f64).abs())
                .sum::<f64>()
                * case.alpha.abs() as f64
                + if case.beta == 0.0 {
                    0.0
                } else {
                    (case.beta * c_before[(i, j)]).abs() as f64
                }
                + if case.epilogue == 0 {
                    0.0
                } else {
                    bias[j].abs() as f64
                };
            let tolerance = (case.k as f64 + 4.0) * f32::EPSILON as f64 * magnitude + 1e-30;
            let (g, w) = (got[(i, j)], want[(i, j)]);
            assert!(
                g.is_finite() && (g as f64 - w as f64).abs() <= tolerance,
                "{case:?}: C[{i}][{j}] = {g}, reference {w} (tolerance {tolerance:e})"
            );
        }
    }
}

fn kernel_choice() -> impl Strategy<Value = KernelChoice> {
    prop_oneof![
        Just(KernelChoice::Auto),
        Just(KernelChoice::Avx2),
        Just(KernelChoice::Portable)
    ]
}

fn case_strategy(max_mn: usize, max_k: usize) -> impl Strategy<Value = Case> {
    (
        (0..=max_mn, 0..=max_k, 0..=max_mn),
        (any::<bool>(), any::<bool>()),
        prop::sample::select(vec![1.0f32, -0.5, 2.5, 0.0]),
        prop::sample::select(vec![0.0f32, 1.0, -1.5, 0.5]),
        (
            0u8..3,
            kernel_choice(),
            prop::sample::select(vec![1usize, 2, 3]),
            any::<u64>(),
        ),
    )
        .prop_map(
            |((m, k, n), (trans_a, trans_b), alpha, beta, (epilogue, kernel, threads, seed))| {
                Case {
                    m,
                    k,
                    n,
                    trans_a,
                    trans_b,
                    alpha,
                    beta,
                    epilogue,
                    kernel,
                    threads,
                    seed,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Small shapes: 1x1, k = 0, empty C, odd and prime sizes, every tile edge.
    #[test]
    fn small_shapes_match_the_reference(case in case_strategy(40, 40)) {
        check(&case);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Shapes that cross the blocking (k > KC, m > MC) and are large enough
    /// to be split over threads.
    #[test]
    fn blocked_and_threaded_shapes_match_the_reference(
        case in case_strategy(200, 600),
        big in (150usize..320, 257usize..600, 60usize..200),
    ) {
        let (m, k, n) = big;
        check(&Case { m, k, n, ..case });
    }
}

#[test]
fn every_small_shape_and_layout_matches_the_reference() {
    let mut seed = 0;
    for m in 0..=13 {
        // n reaches past NR = 32 so full-width tiles, and each kind of
        // edge strip (at most 8, 16, 32 columns), are swept too.
        for n in 0..=33 {
            for k in [0, 1, 2, 5, 16, 17] {
                for layout in 0..4 {
                    for kernel in [
                        KernelChoice::Auto,
                        KernelChoice::Avx2,
                        KernelChoice::Portable,
                    ] {
                        seed += 1;
                        check(&Case {
                            m,
                            k,
                            n,
                            trans_a: layout & 1 == 1,
                            trans_b: layout & 2 == 2,
                            alpha: if seed % 3 == 0 { -0.5 } else { 1.0 },
                            beta: [0.0, 1.0, 0.5][seed as usize % 3],
                            epilogue: (seed % 3) as u8,
                            kernel,
                            threads: 1,
                            seed,
                        });
                    }
                }
            }
        }
    }
}

/// A plain B is packed eight 32-column strips at a time, and a transposed
/// A eight 6-row strips at a time (`pack.rs`, `pack_adjacent_lanes`):
/// sides just short of a group, at its end, one past it (a ragged strip
/// alone in the next group), and a ragged strip inside a later group.
#[test]
fn packing_by_groups_of_strips_matches_the_reference() {
    for (m, n) in [
        (47, 255),
        (48, 256),
        (49, 257),
        (97, 517),
        (101, 31),
        (59, 300),
    ] {
        for layout in 0..4 {
            check(&Case {
                m,
                k: 37,
                n,
                trans_a: layout & 1 == 1,
                trans_b: layout & 2 == 2,
                alpha: 1.0,
                beta: 0.5,
                epilogue: 2,
                kernel: KernelChoice::Auto,
                threads: 1,
                seed: 11,
            });
        }
    }
}

/// Tall-skinny and wide-flat extremes, and a C wider than one NC block.
#[test]
fn extreme_aspect_ratios_match_the_reference() {
    let base = Case {
        m: 0,
        k: 0,
        n: 0,
        trans_a: false,
        trans_b: false,
        alpha: 1.0,
        beta: 0.5,
        epilogue: 2,
        kernel: KernelChoice::Auto,
        threads: 2,
        seed: 7,
    };
    for (m, k, n) in [
        (2000, 3, 1),
        (1, 3, 5000),
        (4200, 1, 7),
        (3, 700, 16388),
        (1, 1000, 1),
        (601, 300, 1),
        // Several NC blocks (NC is at most 16384) shared out between the
        // threads, split by columns and by rows.
        (20, 90, 33000),
        (180, 12, 16388),
    ] {
        for layout in 0..4 {
            check(&Case {
                m,
                k,
                n,
                trans_a: layout & 1 == 1,
                trans_b: layout & 2 == 2,
                ..base
            });
        }
    }
}

/// Also across the two SIMD kernels (AVX-512 and AVX2, where the CPU has
/// both): they do the same operations in the same order. (Not for the
/// products that AVX-512 runs as dot products, `dots::fits`: see the next
/// test. None of these shapes is one.)
#[test]
fn results_are_bit_identical_for_any_thread_count_simd_kernel_and_repeat() {
    // The last column strips have 7, 0, 28, 4, 16 and 14 columns, which run
    // every narrower kernel variant; n = 16388 crosses a column block (NC,
    // derived from the caches, is at most 16384). (The first case is A * B^T
    // too shallow for the dot-product path, which rounds differently: the
    // packed kernels must agree with each other.)
    for (m, k, n, trans_a, trans_b, beta) in [
        (300, 200, 263, false, true, 0.25),
        (128, 784, 256, true, false, 0.25),
        (97, 300, 700, false, false, 0.0),
        (180, 12, 16388, true, true, 0.25),
        (128, 512, 784, false, false, 0.0),
        (70, 33, 270, true, false, 0.25),
    ] {
        let case = Case {
            m,
            k,
            n,
            trans_a,
            trans_b,
            alpha: 0.75,
            beta,
            epilogue: 2,
            kernel: KernelChoice::Auto,
            threads: 1,
            seed: 42,
        };
        let one = fast(&case);
        for kernel in [KernelChoice::Auto, KernelChoice::Avx2] {
            for threads in [1, 2, 3, 4] {
                let again = fast(&Case {
                    threads,
                    kernel,
                    ..case
                });
                assert!(
                    same_bits(&one, &again),
                    "{m}x{k}x{n} with {threads} threads and {kernel:?} differs from 1 thread"
                );
            }
        }
    }
}

/// Threads work through their shares of C in chunks, packing the operand all
/// chunks share once, and take chunks from each other (`gemm/chunks.rs`).
/// Shapes that reach each case: column chunks whose kept A has several row
/// blocks and a short last depth block (160 x 790 x 400); row chunks of a
/// weight gradient whose kept B ends in a short depth block (600 x 800 x
/// 64); a split where part 0's share is empty at 3 threads, so its first
/// chunk is taken from another part (12 x 300 x 300); chunks wider than a
/// column block (4 x 32 x 20000). Each matches the reference and gives the
/// same bits at 1 to 4 threads (more threads than this machine's cores).
#[test]
fn chunked_splits_match_the_reference_and_one_thread_bit_for_bit() {
    for (m, k, n, trans_a) in [
        (160, 790, 400, false),
        (600, 800, 64, true),
        (12, 300, 300, false),
        (4, 32, 20000, false),
    ] {
        let case = Case {
            m,
            k,
            n,
            trans_a,
            trans_b: false,
            alpha: 0.75,
            beta: 0.25,
            epilogue: 2,
            kernel: KernelChoice::Auto,
            threads: 1,
            seed: 11,
        };
        let one = fast(&case);
        for threads in [2, 3, 4] {
            let threaded = Case { threads, ..case };
            check(&threaded);
            assert!(
                same_bits(&one, &fast(&threaded)),
                "{m}x{k}x{n} with {threads} threads differs from 1 thread"
            );
        }
    }
}

/// `A * B^T` with a B of at most 2 MiB (any size for an A of under 48 rows:
/// 5 x 700 x 1001 has 2.8 MB) and 256 <= k < 1024 (or n < 32) runs
/// as dot products of rows on an AVX-512 CPU (`dots.rs`), and so does `A *
/// B` with n < 128 after each thread copies its columns of B as rows,
/// summing in another order than the packed path; its results too are the
/// same for any thread count. Row and column counts that leave partial
/// blocks of 4 (1, 2 and 3 rows left over: a batch of 2, 3 or 6 images),
/// and `k` not a multiple of 16; each big enough to be split over threads
/// but 2 x 784 x 100, which is checked against the reference only. (With a
/// plain B, 300 x 130 x 30 is too shallow, 41 x 784 x 600 and 5 x 700 x
/// 1001 too wide: those run the packed path. Which path each shape takes
/// is `dots.rs`'s own test; here the bits must agree either way.)
#[test]
fn dot_product_path_is_bit_identical_for_any_thread_count() {
    for (m, k, n) in [
        (100, 784, 100),
        (203, 600, 41),
        (260, 784, 10),
        (300, 130, 30),
        (75, 300, 77),
        (41, 784, 600),
        (2, 784, 100),
        (6, 784, 256),
        (3, 784, 600),
        (5, 700, 1001),
    ] {
        for trans_b in [true, false] {
            let case = Case {
                m,
                k,
                n,
                trans_a: false,
                trans_b,
                alpha: 0.75,
                beta: 0.25,
                epilogue: 2,
                kernel: KernelChoice::Auto,
                threads: 1,
                seed: 7,
            };
            check(&case);
            let one = fast(&case);
            for threads in [2, 3, 4] {
                let again = fast(&Case { threads, ..case });
                assert!(
                    same_bits(&one, &again),
                    "{m}x{k}x{n} (B transposed: {trans_b}) with {threads} threads differs from 1 thread"
                );
            }
        }
    }
}

/// Whether two results are equal bit for bit (so -0.0 differs from 0.0).
fn same_bits(a: &Matrix, b: &Matrix) -> bool {
    let bits = |m: &Matrix| m.as_slice().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    bits(a) == bits(b)
}

#[test]
fn identity_and_hand_computed_products_are_exact() {
    let a = Matrix::from_fn(9, 9, |r, c| (r * 9 + c) as f32);
    let product = tensor::matmul(&a, &Matrix::identity(9)).unwrap();
    assert_eq!(product, a);
    // [1 2; 3 4]^T * [5 6; 7 8] = [26 30; 38 44]
    let x = Matrix::from_vec(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let y = Matrix::from_vec(2, 2, vec![5.0, 6.0, 7.0, 8.0]).unwrap();
    let mut c = Matrix::zeros(2, 2);
    gemm(
        1.0,
        x.t(),
        &y,
        0.0,
        c.view_mut(),
        Epilogue::BiasRelu(&[-30.0, 0.0]),
    )
    .unwrap();
    assert_eq!(c.as_slice(), &[0.0, 30.0, 8.0, 44.0]);
}

#[test]
fn mismatched_shapes_are_errors_not_panics() {
    let a = Matrix::zeros(2, 3);
    let mut c = Matrix::zeros(2, 2);
    let err = gemm(1.0, &a, &a, 0.0, c.view_mut(), Epilogue::None).unwrap_err();
    assert!(
        matches!(
            err,
            ShapeError::Mismatch {
                left: (2, 3),
                right: (2, 3),
                ..
            }
        ),
        "{err}"
    );
    let mut wrong_c = Matrix::zeros(3, 2);
    assert!(gemm(1.0, &a, a.t(), 0.0, wrong_c.view_mut(), Epilogue::None).is_err());
    let err = gemm(1.0, &a, a.t(), 0.0, c.view_mut(), Epilogue::Bias(&[1.0])).unwrap_err();
    assert_eq!(
        err,
        ShapeError::VectorLength {
            op: "gemm bias",
            expected: 2,
            len: 1
        }
    );
}
