//! A training step allocates nothing once the batch size is steady: a
//! counting global allocator watches steps 2..N of forward, loss, backward
//! and the optimizer's update for several architectures. The update goes
//! through the glue a user writes, `optim`'s `step_iter` over
//! `params_mut()`, so that costs nothing either.
//!
//! The counter is global to the process, so this file is one program
//! without libtest (see `main`): a second test, or the harness's own thread,
//! would be counted too.

use nn::{softmax_cross_entropy, Init, ModelSpec, Sequential, Targets};
use optim::{optimizer_by_name, CommonSettings, Param};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use tensor::Matrix;

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator, which
// upholds GlobalAlloc's contract; we only count.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: ptr was allocated by System with layout (we forward every alloc).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by System with layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by `steps` training steps after `warm_up` steps.
fn allocations_in_steady_state(
    spec_text: &str,
    batch: usize,
    warm_up: usize,
    steps: usize,
) -> usize {
    let spec = ModelSpec::parse(spec_text).unwrap();
    let mut model = Sequential::new(&spec, Init::HeNormal, 1).unwrap();
    let x = Matrix::from_fn(batch, spec.inputs(), |r, c| {
        ((r * 31 + c) % 17) as f32 / 17.0
    });
    let labels: Vec<u8> = (0..batch).map(|r| (r % spec.outputs()) as u8).collect();
    let mut dlogits = Matrix::zeros(0, 0);
    // Clipping on: the optimizer's scratch-gradient path is counted too.
    let settings = CommonSettings {
        clip_norm: Some(1.0),
        ..Default::default()
    };
    let mut optimizer = optimizer_by_name("adam", &settings).unwrap();
    let mut step = |model: &mut Sequential, dlogits: &mut Matrix| {
        let logits = model.forward(x.view()).unwrap();
        let loss = softmax_cross_entropy(logits.view(), Targets::Labels(&labels), dlogits).unwrap();
        assert!(loss.is_finite());
        model.backward(x.view(), dlogits.view()).unwrap();
        (optimizer.step_iter(&mut model.params_mut().map(Param::from))).unwrap();
    };
    for _ in 0..warm_up {
        step(&mut model, &mut dlogits);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..steps {
        step(&mut model, &mut dlogits);
    }
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Run without libtest (`harness = false` in Cargo.toml): its main thread
/// allocates when it gets round to it (seen under load, inside the counting
/// window), and the counter sees every thread.
fn main() {
    training_steps_allocate_nothing_once_warm();
    println!("test training_steps_allocate_nothing_once_warm ... ok");
}

fn training_steps_allocate_nothing_once_warm() {
    // A GEMM pool worker allocates once, early in its life, and with
    // claimed parts a new worker may run its first part only after the
    // warm-up steps: make every worker run a part first (one worker per
    // core beyond the first).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(tensor::threads());
    let all_started = std::sync::Barrier::new(threads);
    tensor::parallel::for_each_part(&mut vec![(); threads], &|_| {
        all_started.wait();
    });

    // The counter must see allocations at all, or the check proves nothing.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let probe = vec![1u8; 10];
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > before);
    drop(probe);

    for spec in [
        "784-100-10 hidden=relu",
        "784-64-32-10 hidden=sigmoid",
        "50-40-30-10 hidden=tanh output=softmax",
        "50-40-30-10 hidden=leaky_relu dropout=0.5",
        "1x12x12 c4k3p1 p2 c6k3bn d0.1 a2 f16bn d0.2 10",
        "2x9x9 c3k3s2p1 gap 5 hidden=tanh",
    ] {
        assert_eq!(allocations_in_steady_state(spec, 32, 1, 5), 0, "{spec}");
    }
    // A smaller last batch (the end of an epoch), then the full size again:
    // buffers shrink and regrow within their capacity.
    let spec = ModelSpec::parse("30-20-10 dropout=0.2").unwrap();
    let mut model = Sequential::new(&spec, Init::HeNormal, 1).unwrap();
    let mut dlogits = Matrix::zeros(0, 0);
    let full = Matrix::filled(16, 30, 0.5);
    let labels = [3u8; 16];
    let step = |model: &mut Sequential, rows: usize, dlogits: &mut Matrix| {
        let x = full.rows_range(0..rows);
        let logits = model.forward(x).unwrap();
        softmax_cross_entropy(logits.view(), Targets::Labels(&labels[..rows]), dlogits).unwrap();
        model.backward(x, dlogits.view()).unwrap();
    };
    step(&mut model, 16, &mut dlogits);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    step(&mut model, 5, &mut dlogits);
    step(&mut model, 16, &mut dlogits);
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed) - before, 0);
}
