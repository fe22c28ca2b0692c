//! A small persistent thread pool for large products: a training step hands
//! it a borrowed closure, and nothing is allocated per call.
//!
//! Workers are spawned once, at the first product large enough to share;
//! each keeps its own packing workspace. A call publishes `f` and a part
//! count, runs part 0 itself, helps with the rest, and returns only when every
//! part has finished, which is what makes lending `f` to other threads sound.
//! A second caller arriving while the pool is busy (parallel tests, user
//! threads) simply runs its parts itself.
//!
//! The number of threads is `std::thread::available_parallelism()`, at most
//! [`MAX_THREADS`]; the environment variable `FORMA_THREADS` overrides it
//! (`FORMA_THREADS=1` turns the pool off).

use std::boxed::Box;
use std::format;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// How long an idle worker spins, watching for the next job, before sleeping.
const SPIN: Duration = Duration::from_micros(200);

/// The most threads (the caller included) a product is split over.
pub const MAX_THREADS: usize = 8;

/// A job: the lent closure and which parts are taken and done.
struct Job {
    /// The closure of the running call, its lifetime erased; `None` when idle.
    f: Option<SendPtr>,
    parts: usize,
    next: usize,
    remaining: usize,
    panicked: bool,
}

/// `*const dyn Fn(usize)` that may cross threads (see the SAFETY note in `run`).
#[derive(Clone, Copy)]
struct SendPtr(*const (dyn Fn(usize) + Sync));
// SAFETY: the pointee is `Sync`, and `run` keeps it alive until every worker
// that read the pointer has finished calling it.
unsafe impl Send for SendPtr {}

struct Pool {
    threads: usize,
    /// Bumped at every published job: idle workers spin on it for a while
    /// before sleeping, because waking a sleeping thread can take longer
    /// than a product (tens of microseconds on a virtual machine).
    generation: AtomicUsize,
    job: Mutex<Job>,
    work: Condvar,
    done: Condvar,
    /// Held by the one caller using the pool.
    caller: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a part is caught and re-raised by `run`; the job's
    // state stays consistent, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many threads products are split over (1: the pool is off).
pub fn threads() -> usize {
    pool().map_or(1, |p| p.threads)
}

fn configured_threads() -> usize {
    let env = std::env::var("FORMA_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    let hw = std::thread::available_parallelism().map_or(1, |n| n.get());
    env.unwrap_or(hw).clamp(1, MAX_THREADS)
}

fn pool() -> Option<&'static Pool> {
    static POOL: OnceLock<Option<&'static Pool>> = OnceLock::new();
    *POOL.get_or_init(|| {
        let threads = configured_threads();
        if threads < 2 {
            return None;
        }
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            threads,
            generation: AtomicUsize::new(0),
            job: Mutex::new(Job {
                f: None,
                parts: 0,
                next: 0,
                remaining: 0,
                panicked: false,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            caller: Mutex::new(()),
        }));
        for i in 1..threads {
            let spawned = std::thread::Builder::new()
                .name(format!("forma-worker-{i}"))
                .spawn(move || worker(pool));
            if spawned.is_err() {
                // Fewer workers: the caller takes the parts nobody takes.
                break;
            }
        }
        Some(pool)
    })
}

fn worker(pool: &'static Pool) {
    let mut seen = pool.generation.load(Ordering::Acquire);
    let mut job = lock(&pool.job);
    loop {
        match job.f {
            Some(f) if job.next < job.parts => {
                let part = job.next;
                job.next += 1;
                drop(job);
                // SAFETY: `run` published `f` and waits, holding the borrow,
                // until `remaining` reaches 0, which happens only after this
                // call returns (or unwinds) and is counted below.
                let result = catch_unwind(AssertUnwindSafe(|| unsafe { (*f.0)(part) }));
                job = lock(&pool.job);
                job.panicked |= result.is_err();
                job.remaining -= 1;
                if job.remaining == 0 {
                    pool.done.notify_all();
                }
            }
            _ => {
                // Idle: spin a while for the next job, then sleep.
                drop(job);
                let start = Instant::now();
                while pool.generation.load(Ordering::Acquire) == seen && start.elapsed() < SPIN {
                    std::hint::spin_loop();
                }
                job = lock(&pool.job);
                let now = pool.generation.load(Ordering::Acquire);
                if now == seen && !(job.f.is_some() && job.next < job.parts) {
                    job = pool.work.wait(job).unwrap_or_else(|p| p.into_inner());
                }
                seen = pool.generation.load(Ordering::Acquire);
            }
        }
    }
}

/// Calls `f(0)`, ..., `f(parts - 1)`, spread over the pool's threads, and
/// returns when all have returned. Without a pool, or while another caller
/// uses it, the calls run here, in order.
pub fn run(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let Some(pool) = pool().filter(|_| parts > 1) else {
        (0..parts).for_each(f);
        return;
    };
    let _caller = match pool.caller.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => {
            (0..parts).for_each(f);
            return;
        }
    };
    // SAFETY (lifetime erasure): the pointer is cleared below, after
    // `remaining` has reached 0, i.e. after every call of `f` by any thread
    // has returned; `f` outlives this function call, so it outlives them all.
    let erased: *const (dyn Fn(usize) + Sync + 'static) =
        unsafe { core::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), _>(f as *const _) };
    {
        let mut job = lock(&pool.job);
        *job = Job {
            f: Some(SendPtr(erased)),
            parts,
            next: 0,
            remaining: parts,
            panicked: false,
        };
    }
    pool.generation.fetch_add(1, Ordering::Release);
    pool.work.notify_all();
    // Take parts too, until none is left to start.
    loop {
        let part = {
            let mut job = lock(&pool.job);
            if job.next >= job.parts {
                break;
            }
            job.next += 1;
            job.next - 1
        };
        let result = catch_unwind(AssertUnwindSafe(|| f(part)));
        let mut job = lock(&pool.job);
        job.panicked |= result.is_err();
        job.remaining -= 1;
    }
    let mut job = lock(&pool.job);
    while job.remaining > 0 {
        job = pool.done.wait(job).unwrap_or_else(|p| p.into_inner());
    }
    job.f = None;
    let panicked = job.panicked;
    drop(job);
    if panicked {
        resume_unwind(Box::new("a part of a parallel product panicked"));
    }
}
