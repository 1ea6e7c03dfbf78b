//! Steady-state GEMM allocates nothing: packing buffers are kept per part
//! and the worker pool lives on. Counted by a global allocator over every
//! thread, so this file is one program without libtest (see `main`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use tensor::{gemm_with, Epilogue, GemmConfig, KernelChoice, Matrix};

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is the only addition.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Run without libtest (`harness = false` in Cargo.toml): its main thread
/// allocates when it gets round to it (seen under load, inside the counting
/// window), and the counter sees every thread.
fn main() {
    repeated_gemms_allocate_nothing_after_the_first();
    println!("test repeated_gemms_allocate_nothing_after_the_first ... ok");
}

fn repeated_gemms_allocate_nothing_after_the_first() {
    // Big enough to use two threads and several KC blocks; transposed A so
    // both packing directions run.
    let (m, k, n) = (200, 900, 300);
    let a = Matrix::from_fn(k, m, |r, c| ((r + 2 * c) % 7) as f32);
    let b = Matrix::from_fn(k, n, |r, c| ((3 * r + c) % 5) as f32);
    let mut c = Matrix::zeros(m, n);
    // A narrow plain B, which AVX-512 copies as rows into the packing
    // buffers for its dot products.
    let x = Matrix::from_fn(100, 784, |r, c| ((r + 2 * c) % 7) as f32);
    let w = Matrix::from_fn(784, 100, |r, c| ((3 * r + c) % 5) as f32);
    let mut y = Matrix::zeros(100, 100);
    let bias = vec![0.5; n];
    for kernel in [
        KernelChoice::Auto,
        KernelChoice::Avx2,
        KernelChoice::Portable,
    ] {
        // 3 and 4 threads: more parts than this machine's cores, so parts
        // often find their chunks taken and run none.
        for threads in [1, 2, 3, 4] {
            let config = GemmConfig {
                threads: Some(threads),
                kernel,
            };
            let run = |c: &mut Matrix, y: &mut Matrix| {
                let blocked = Epilogue::BiasRelu(&bias);
                gemm_with(&config, 1.0, a.t(), &b, 0.5, c.view_mut(), blocked).unwrap();
                let narrow = Epilogue::BiasRelu(&bias[..100]);
                gemm_with(&config, 1.0, &x, &w, 0.0, y.view_mut(), narrow).unwrap();
            };
            run(&mut c, &mut y); // first call: buffers and workers are created
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            for _ in 0..5 {
                run(&mut c, &mut y);
            }
            let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
            assert_eq!(
                allocated, 0,
                "{kernel:?}, {threads} threads: {allocated} allocations"
            );
        }
    }
}
