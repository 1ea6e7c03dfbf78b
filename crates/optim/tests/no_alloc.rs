//! After the first step creates its buffers, a step allocates nothing: a
//! counting allocator watches the whole process (the large weight's chunks
//! run on the pool's threads too) while every optimizer steps with clipping
//! and weight decay on (the paths that use the scratch gradient) and a
//! schedule sets the learning rate, parameters reaching it through
//! `Optimizer::step_iter` as a model's `(name, value, gradient)` tuples. The large weight is split between
//! threads, the bias is not. This file is one program without libtest (see
//! `main`), so nothing else allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use optim::{
    optimizer_by_name, optimizer_from_state, CommonSettings, Optimizer, Param, Progress, Schedule,
    OPTIMIZER_NAMES,
};

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; we only
// count, in an atomic that itself never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: our caller's layout contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from System (every allocation is forwarded).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: ptr came from System with layout; our caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Run without libtest (`harness = false` in Cargo.toml): its main thread
/// allocates when it gets round to it (seen under load, inside the counting
/// window), and the counter sees every thread.
fn main() {
    steady_state_steps_do_not_allocate();
    println!("test steady_state_steps_do_not_allocate ... ok");
}

fn steady_state_steps_do_not_allocate() {
    let settings = CommonSettings {
        lr: Some(0.01),
        weight_decay: Some(0.01),
        clip_norm: Some(0.5),
        momentum: None,
    };
    let schedule: Schedule = "warmup:3+cosine".parse().unwrap();
    tensor::set_threads(3);
    // A pool worker allocates once, early in its life (when it first runs a
    // part, as far as this test can tell), and with claimed parts a new
    // worker may run its first one only after the first step: make every
    // worker run a part now (the pool has one worker per thread beyond the
    // caller's, at most one per core beyond the first).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(3);
    let all_started = std::sync::Barrier::new(threads);
    tensor::parallel::for_each_part(&mut vec![(); threads], &|_| {
        all_started.wait();
    });
    let (mut weight, mut bias) = (vec![0.5_f32; 100_000], vec![0.1_f32; 10]);
    let (weight_grad, bias_grad) = (vec![0.3_f32; 100_000], vec![-0.2_f32; 10]);
    // One step on a split weight and an unsplit bias, handed over as a
    // model hands them: `(name, value, gradient)` tuples from an iterator
    // (`step_iter`, which calls `step`), so the glue is counted too.
    let mut step_both = |optimizer: &mut dyn Optimizer| {
        let tuples: [(&str, &mut [f32], &[f32]); 2] = [
            ("layers.0.weight", &mut weight, &weight_grad),
            ("layers.0.bias", &mut bias, &bias_grad),
        ];
        (optimizer.step_iter(&mut tuples.into_iter().map(Param::from))).unwrap();
    };
    for name in OPTIMIZER_NAMES {
        let mut optimizer = optimizer_by_name(name, &settings).unwrap();
        let mut before_steady_state = 0;
        for step in 0..20_u64 {
            if step == 1 {
                before_steady_state = allocations();
            }
            let progress = Progress {
                step,
                steps_per_epoch: 5,
                total_steps: 20,
            };
            optimizer.set_learning_rate(schedule.lr_at(0.01, progress));
            step_both(&mut *optimizer);
        }
        let steady = allocations() - before_steady_state;
        assert_eq!(steady, 0, "{name}: {steady} allocations in 19 steps");

        // A resumed optimizer settles the same way: its first step orders
        // the loaded buffers, later ones allocate nothing.
        let mut resumed = optimizer_from_state(&optimizer.state()).unwrap();
        let mut before_steady_state = 0;
        for step in 0..10 {
            if step == 1 {
                before_steady_state = allocations();
            }
            step_both(&mut *resumed);
        }
        let steady = allocations() - before_steady_state;
        assert_eq!(steady, 0, "resumed {name}: {steady} allocations in 9 steps");
    }
    // The counter does see allocations (so the zero above means something).
    let before = allocations();
    let v = std::hint::black_box(vec![1_u8; 10]);
    assert!(allocations() > before && v.len() == 10);
}
