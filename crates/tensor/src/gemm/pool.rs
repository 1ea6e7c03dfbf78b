//! A small persistent pool of worker threads for GEMM (and, through
//! [`crate::parallel`], for other work of a training step).
//!
//! Why not `std::thread::scope` per call: the MLP's GEMMs take 0.1 to 1 ms
//! and run thousands of times a second, while spawning and joining a thread
//! costs 20 to 50 us, which would eat most of what a second core gains. The
//! workers here are created lazily on first use and then wait for work:
//! spinning briefly (a training loop calls again within microseconds), then
//! parking on a condition variable so an idle pool costs nothing.
//!
//! One caller at a time owns the pool; a concurrent caller (tests run in
//! parallel, say) falls back to scoped threads, which is correct, only slower.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, TryLockError};
use std::time::{Duration, Instant};

/// How long an idle worker spins before parking: long enough to catch the
/// next GEMM of a training step (the layers in between take microseconds),
/// short enough that an idle pool gives its core back almost at once.
const SPIN_BEFORE_PARKING: Duration = Duration::from_micros(200);

/// Runs `task(0)`, ..., `task(parts - 1)`, each on its own thread (part 0 on
/// the caller's), and returns when all have finished.
pub(crate) fn run_parts(parts: usize, task: &(dyn Fn(usize) + Sync)) {
    if parts <= 1 {
        task(0);
        return;
    }
    let pool = POOL.get_or_init(|| Mutex::new(Pool::default()));
    let mut pool = match pool.try_lock() {
        Ok(pool) => pool,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => {
            std::thread::scope(|scope| {
                for part in 1..parts {
                    scope.spawn(move || task(part));
                }
                task(0);
            });
            return;
        }
    };
    pool.run(parts, task);
}

static POOL: std::sync::OnceLock<Mutex<Pool>> = std::sync::OnceLock::new();

#[derive(Default)]
struct Pool {
    shared: Arc<Shared>,
    workers: usize,
}

/// The type-erased task the workers run. A raw pointer because its lifetime
/// is the caller's stack frame, which the type system cannot see across the
/// pool's long-lived threads; `Pool::run` waits for every worker before it
/// returns, which is what makes dereferencing it sound.
#[derive(Clone, Copy)]
struct TaskPointer(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync`, so sharing a pointer to it between threads
// is fine; validity is guaranteed by `Pool::run` waiting (see `TaskPointer`).
unsafe impl Send for TaskPointer {}

#[derive(Default)]
struct Shared {
    /// Bumped (under `job`'s lock) each time a new task is published.
    generation: AtomicUsize,
    /// The current task and how many parts it has.
    job: Mutex<Option<(TaskPointer, usize)>>,
    wake: Condvar,
    /// Workers parked on `wake` (changed under `job`'s lock), so a caller
    /// whose workers are all spinning skips the wake-up system call.
    parked: AtomicUsize,
    /// Workers that have not yet finished the current generation.
    unfinished: AtomicUsize,
    panicked: AtomicBool,
}

impl Pool {
    fn run(&mut self, parts: usize, task: &(dyn Fn(usize) + Sync)) {
        while self.workers < parts - 1 {
            let shared = Arc::clone(&self.shared);
            let index = self.workers;
            let seen = shared.generation.load(Ordering::Acquire);
            std::thread::Builder::new()
                .name(format!("pool-worker-{index}"))
                .spawn(move || worker_loop(&shared, index + 1, seen))
                .expect("spawning a pool worker thread");
            self.workers += 1;
        }
        let shared = &*self.shared;
        shared.panicked.store(false, Ordering::Relaxed);
        shared.unfinished.store(self.workers, Ordering::Release);
        {
            // SAFETY: erasing the lifetime only; `_wait` below (also on
            // unwinding) keeps this frame alive until no worker holds the pointer.
            let task: *const (dyn Fn(usize) + Sync + 'static) =
                unsafe { std::mem::transmute(task) };
            let mut job = shared.job.lock().unwrap_or_else(|e| e.into_inner());
            *job = Some((TaskPointer(task), parts));
            shared.generation.fetch_add(1, Ordering::AcqRel);
            if shared.parked.load(Ordering::Relaxed) > 0 {
                shared.wake.notify_all();
            }
        }
        /// Waits for the workers when dropped, so even a panicking part 0
        /// cannot free the task while a worker still runs it.
        struct WaitForWorkers<'a>(&'a Shared);
        impl Drop for WaitForWorkers<'_> {
            fn drop(&mut self) {
                // The clock is read every 64 spins, not every spin: reading
                // it (`clock_gettime`) costs more than a spin, and on every
                // spin it took 2% of a training run's time.
                let started = Instant::now();
                let mut spins = 0u32;
                let mut spinning = true;
                while self.0.unfinished.load(Ordering::Acquire) != 0 {
                    if spinning {
                        spins = spins.wrapping_add(1);
                        if spins % 64 == 0 && started.elapsed() >= SPIN_BEFORE_PARKING {
                            spinning = false;
                        }
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
        let wait = WaitForWorkers(shared);
        task(0);
        drop(wait);
        if shared.panicked.load(Ordering::Relaxed) {
            panic!("a pool worker thread panicked");
        }
    }
}

fn worker_loop(shared: &Shared, part: usize, mut seen: usize) {
    loop {
        // Spin for a while, then park until the generation moves on.
        let started = Instant::now();
        let mut spins = 0u32;
        while shared.generation.load(Ordering::Acquire) == seen {
            spins = spins.wrapping_add(1);
            if spins % 64 == 0 && started.elapsed() > SPIN_BEFORE_PARKING {
                let mut job = shared.job.lock().unwrap_or_else(|e| e.into_inner());
                shared.parked.fetch_add(1, Ordering::Relaxed);
                while shared.generation.load(Ordering::Acquire) == seen {
                    job = shared.wake.wait(job).unwrap_or_else(|e| e.into_inner());
                }
                shared.parked.fetch_sub(1, Ordering::Relaxed);
                break;
            }
            std::hint::spin_loop();
        }
        let (task, parts) = {
            let job = shared.job.lock().unwrap_or_else(|e| e.into_inner());
            seen = shared.generation.load(Ordering::Acquire);
            job.expect("a generation is only published with its job")
        };
        if part < parts {
            // SAFETY: the publishing `Pool::run` does not return (or unwind)
            // until `unfinished` reaches 0, which this worker only allows
            // after its last use of `task` just below.
            let task = unsafe { &*task.0 };
            if catch_unwind(AssertUnwindSafe(|| task(part))).is_err() {
                shared.panicked.store(true, Ordering::Relaxed);
            }
        }
        shared.unfinished.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_exactly_once_across_repeated_calls() {
        for parts in [1, 2, 3, 2, 5, 1, 2] {
            let counts: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            run_parts(parts, &|part| {
                counts[part].fetch_add(1, Ordering::Relaxed);
            });
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn a_panicking_worker_is_reported_to_the_caller() {
        let result = std::panic::catch_unwind(|| {
            run_parts(2, &|part| assert_eq!(part, 0, "part 1 fails on purpose"));
        });
        assert!(result.is_err());
        // The pool still works afterwards.
        let ran = AtomicUsize::new(0);
        run_parts(2, &|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 2);
    }
}
