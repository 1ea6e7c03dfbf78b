//! How many threads the crate uses ([`threads`], [`set_threads`]), and the
//! small persistent pool of worker threads that runs them, for GEMM and,
//! through [`crate::parallel`], for other work of a training step (the
//! optimizer's update, the batch gather of `mnist-data`).
//!
//! Why not `std::thread::scope` per call: the MLP's GEMMs take 0.1 to 1 ms
//! and run thousands of times a second, while spawning and joining a thread
//! costs 20 to 50 us, which would eat most of what a second core gains. The
//! workers here are created lazily on first use and then wait for work:
//! spinning briefly (a training loop calls again within microseconds), then
//! parking on a condition variable so an idle pool costs nothing.
//!
//! Parts are claimed, not assigned: the caller and the workers take the next
//! unclaimed part until none is left, so a worker that is late (parked, or
//! its core busy with another program) costs nothing: the caller runs its
//! part. With parts assigned to threads, and one core kept busy by another
//! program, two threads trained slower than one, the caller spinning while
//! the worker waited for a core (figures in BENCHMARKS.md, "Measurements
//! behind the code"). The caller always takes part 0 first, so a split
//! gives each thread the same share from one call to the next.
//!
//! One caller at a time owns the pool; a concurrent caller (tests run in
//! parallel, say) falls back to scoped threads, which is correct, only slower.
//!
//! Work split again inside a part (a layer's GEMM inside one chunk of a
//! prediction that runs whole chunks on each thread) stays on that part's
//! thread: [`threads`] is 1 there, and a nested [`run_parts`] runs its parts
//! one after another, where it would otherwise spawn scoped threads for
//! the cores the outer split already keeps busy.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, TryLockError};
use std::time::{Duration, Instant};

/// 0 means "not set": use the machine's available parallelism.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the number of threads GEMM may use (at least 1).
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The number of threads GEMM uses by default: the value given to
/// [`set_threads`], or else the machine's available parallelism; 1 inside
/// a part of work already split over the threads.
pub fn threads() -> usize {
    if IN_PART.get() {
        return 1;
    }
    match THREADS.load(Ordering::Relaxed) {
        0 => machine_parallelism(),
        n => n,
    }
}

/// `available_parallelism` reads cgroup files (about 50 us and several
/// allocations here), far too slow to ask on every GEMM call of a training
/// step, so it is asked once.
pub(crate) fn machine_parallelism() -> usize {
    static CACHED: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CACHED.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// How long an idle worker spins before parking: long enough to catch the
/// next GEMM of a training step (the layers in between take microseconds),
/// short enough that an idle pool gives its core back almost at once.
const SPIN_BEFORE_PARKING: Duration = Duration::from_micros(200);

thread_local! {
    /// Whether this thread is running a part of a split (see the module's
    /// documentation).
    static IN_PART: Cell<bool> = const { Cell::new(false) };
}

/// `task(part)` with [`IN_PART`] set, as it was afterwards (also when the
/// task panics: the flag is reset by a guard).
fn as_part(task: &(dyn Fn(usize) + Sync), part: usize) {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_PART.set(self.0);
        }
    }
    let _restore = Restore(IN_PART.replace(true));
    task(part);
}

/// Runs `task(0)`, ..., `task(parts - 1)` on the caller's thread and the
/// pool's (each part once, on whichever thread claims it first), and returns
/// when all have finished. Inside a part of another split, on the caller's
/// thread alone, one part after another.
pub(crate) fn run_parts(parts: usize, task: &(dyn Fn(usize) + Sync)) {
    if IN_PART.get() {
        (0..parts).for_each(task);
        return;
    }
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
                    scope.spawn(move || as_part(task, part));
                }
                as_part(task, 0);
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
    /// The generation (high 32 bits) and the next unclaimed part (low 32):
    /// one word, so a late worker's claim on an older task always fails.
    claims: AtomicU64,
    /// Parts of the current task not yet finished.
    unfinished: AtomicUsize,
    /// Workers whose thread has started running `worker_loop`.
    started: AtomicUsize,
    panicked: AtomicBool,
}

impl Shared {
    /// Runs one part of the current task, records a panic instead of
    /// unwinding, and counts the part finished.
    ///
    /// # Safety
    /// `part` was claimed (by this thread) from the generation `task` belongs
    /// to, so `unfinished` stays above 0 until this function's last line and
    /// the publishing `Pool::run` keeps the task alive until then.
    unsafe fn run_part(&self, task: TaskPointer, part: usize) {
        // SAFETY: alive, by this function's contract.
        let task = unsafe { &*task.0 };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| as_part(task, part))) {
            self.panicked.store(true, Ordering::Relaxed);
            // Not dropped: a payload whose `drop` panics would unwind out of
            // here before the part is counted, killing a worker and leaving
            // the caller waiting forever. The caller re-raises a panic of
            // its own; leaking the payload's box is the price.
            std::mem::forget(payload);
        }
        self.unfinished.fetch_sub(1, Ordering::AcqRel);
    }

    /// Claims and runs parts of generation `generation`'s task until none is
    /// left unclaimed.
    ///
    /// # Safety
    /// `task` must be that generation's task, alive until its `unfinished`
    /// count reaches 0 (the publishing `Pool::run` waits for that).
    unsafe fn run_claimed_parts(&self, generation: usize, task: TaskPointer, parts: usize) {
        let tag = (generation as u64 & 0xffff_ffff) << 32;
        let mut claims = self.claims.load(Ordering::Acquire);
        loop {
            let part = (claims & 0xffff_ffff) as usize;
            if claims & !0xffff_ffff != tag || part >= parts {
                return;
            }
            match self.claims.compare_exchange_weak(
                claims,
                claims + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: just claimed, from `task`'s generation (the
                    // tag matched).
                    unsafe { self.run_part(task, part) };
                    claims = self.claims.load(Ordering::Acquire);
                }
                Err(now) => claims = now,
            }
        }
    }
}

impl Pool {
    fn run(&mut self, parts: usize, task: &(dyn Fn(usize) + Sync)) {
        assert!(
            parts <= 0xffff_ffff,
            "{parts} parts do not fit the claim word"
        );
        // More threads than cores only take turns on them (and spin while
        // they wait): extra parts are claimed by the threads there are.
        let helpers = (parts - 1).min(machine_parallelism().saturating_sub(1));
        while self.workers < helpers {
            let shared = Arc::clone(&self.shared);
            let index = self.workers;
            let seen = shared.generation.load(Ordering::Acquire);
            std::thread::Builder::new()
                .name(format!("pool-worker-{index}"))
                .spawn(move || worker_loop(&shared, seen))
                .expect("spawning a pool worker thread");
            self.workers += 1;
        }
        // New workers first finish starting (the thread's own set-up
        // allocates), so everything a pool does once is done within the
        // call that grew it: with claimed parts the caller may otherwise
        // finish before a new worker has even run.
        while self.shared.started.load(Ordering::Acquire) < self.workers {
            std::thread::yield_now();
        }
        let shared = &*self.shared;
        shared.panicked.store(false, Ordering::Relaxed);
        shared.unfinished.store(parts, Ordering::Release);
        // SAFETY: erasing the lifetime only: this function does not return
        // before `unfinished` is 0, after which no thread uses the pointer.
        let task = TaskPointer(unsafe {
            std::mem::transmute::<&(dyn Fn(usize) + Sync), *const (dyn Fn(usize) + Sync + 'static)>(
                task,
            )
        });
        let generation = {
            let mut job = shared.job.lock().unwrap_or_else(|e| e.into_inner());
            *job = Some((task, parts));
            let generation = shared.generation.load(Ordering::Relaxed).wrapping_add(1);
            // Part 0 is claimed for the caller before anyone can race it:
            // the same thread then does the same share of every split (a
            // GEMM's first rows, an optimizer's first chunk), which keeps
            // that data in its cache from one step to the next.
            shared.claims.store(
                ((generation as u64 & 0xffff_ffff) << 32) | 1,
                Ordering::Release,
            );
            shared.generation.store(generation, Ordering::Release);
            if shared.parked.load(Ordering::Relaxed) > 0 {
                shared.wake.notify_all();
            }
            generation
        };
        // SAFETY: part 0 was claimed for this thread when publishing.
        unsafe { shared.run_part(task, 0) };
        // SAFETY: `task` is this generation's, and we wait for it just below.
        unsafe { shared.run_claimed_parts(generation, task, parts) };
        // Only parts other threads claimed and are still running are left.
        // The clock is read every 64 spins: reading it (`clock_gettime`) on
        // every spin showed up in profiles of whole training runs (figures
        // in BENCHMARKS.md, "Measurements behind the code").
        let started = Instant::now();
        let mut spins = 0u32;
        while shared.unfinished.load(Ordering::Acquire) != 0 {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && started.elapsed() >= SPIN_BEFORE_PARKING {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        if shared.panicked.load(Ordering::Relaxed) {
            panic!("a part run by the thread pool panicked");
        }
    }
}

fn worker_loop(shared: &Shared, mut seen: usize) {
    shared.started.fetch_add(1, Ordering::Release);
    loop {
        // Spin for a while, then park until the generation moves on.
        let started = Instant::now();
        let mut spins = 0u32;
        while shared.generation.load(Ordering::Acquire) == seen {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && started.elapsed() > SPIN_BEFORE_PARKING {
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
        // SAFETY: read under the lock together with its generation.
        unsafe { shared.run_claimed_parts(seen, task, parts) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inside a part, the thread count is 1 and a nested split runs all its
    /// parts on that part's own thread, in order; outside, as set.
    #[test]
    fn work_split_inside_a_part_stays_on_its_thread() {
        let outside = threads();
        let seen: Vec<Mutex<Vec<(usize, std::thread::ThreadId)>>> =
            (0..2).map(|_| Mutex::new(Vec::new())).collect();
        run_parts(2, &|part| {
            assert_eq!(threads(), 1);
            let outer = std::thread::current().id();
            run_parts(3, &|inner| {
                seen[part]
                    .lock()
                    .unwrap()
                    .push((inner, std::thread::current().id()));
            });
            let seen = seen[part].lock().unwrap();
            let inner: Vec<_> = seen.iter().map(|&(inner, _)| inner).collect();
            assert_eq!(inner, [0, 1, 2]);
            assert!(seen.iter().all(|&(_, thread)| thread == outer));
        });
        assert_eq!(threads(), outside);
    }

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
    fn the_caller_runs_every_part_a_worker_does_not_claim() {
        // A pool that believes it has two workers but whose threads never
        // come (as if their cores were busy elsewhere): the caller must not
        // wait for them, it claims and runs all three parts itself.
        let shared = Arc::new(Shared::default());
        shared.started.store(2, Ordering::Relaxed);
        let mut pool = Pool { shared, workers: 2 };
        let caller = std::thread::current().id();
        let ran_here: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        pool.run(3, &|part| {
            if std::thread::current().id() == caller {
                ran_here[part].fetch_add(1, Ordering::Relaxed);
            }
        });
        assert!(ran_here.iter().all(|c| c.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn thousands_of_tiny_calls_run_every_part_once_with_late_workers() {
        // A private pool with real workers: calls this short often end
        // before a worker wakes, so workers arrive late, from an older
        // generation, all the time; none may run a part twice or miss one.
        let mut pool = Pool::default();
        for call in 0..3000 {
            let parts = 2 + call % 3;
            let counts: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            pool.run(parts, &|part| {
                counts[part].fetch_add(1, Ordering::Relaxed);
            });
            assert!(
                counts.iter().all(|c| c.load(Ordering::Relaxed) == 1),
                "call {call}"
            );
        }
    }

    #[test]
    fn the_caller_always_runs_part_0() {
        let caller = std::thread::current().id();
        for _ in 0..50 {
            let first_on_caller = AtomicBool::new(false);
            run_parts(3, &|part| {
                if part == 0 {
                    first_on_caller.store(std::thread::current().id() == caller, Ordering::Relaxed);
                }
            });
            assert!(first_on_caller.load(Ordering::Relaxed));
        }
    }

    #[test]
    fn a_panic_whose_payload_panics_when_dropped_still_ends_the_call() {
        struct PanicsWhenDropped;
        impl Drop for PanicsWhenDropped {
            fn drop(&mut self) {
                panic!("the payload's drop panics");
            }
        }
        // A private pool with a real worker, in a thread of its own, so a
        // hang fails the test instead of stalling it.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut pool = Pool::default();
            for _ in 0..20 {
                let result = catch_unwind(AssertUnwindSafe(|| {
                    pool.run(2, &|part| {
                        if part == 0 {
                            // Long enough for the worker to claim part 1.
                            std::thread::sleep(Duration::from_millis(2));
                        } else {
                            std::panic::panic_any(PanicsWhenDropped);
                        }
                    })
                }));
                assert!(result.is_err());
            }
            done.send(()).unwrap();
        });
        finished
            .recv_timeout(Duration::from_secs(20))
            .expect("a part's panic left the pool waiting");
    }

    #[test]
    fn a_panic_in_any_part_is_reported_to_the_caller() {
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
