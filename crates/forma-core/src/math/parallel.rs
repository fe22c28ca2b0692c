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
//! Panics: every part runs inside `catch_unwind`, so a panicking part does not
//! stop the others; once all parts have finished, [`run`] raises one panic of
//! its own. A caught payload is dropped inside `catch_unwind` too, and leaked
//! if its `Drop` panics again, so neither a worker nor `run` can be unwound by
//! it: workers never die, and `run` cannot leave while `f` is lent (a guard
//! waits for the parts even if `run` itself were unwound).
//!
//! The number of threads is `std::thread::available_parallelism()`, at most
//! [`MAX_THREADS`]; the environment variable `FORMA_THREADS` overrides it
//! (`FORMA_THREADS=1` turns the pool off). [`threads`] counts the workers
//! actually running, plus the caller.

use std::any::Any;
use std::boxed::Box;
use std::convert::Infallible;
use std::format;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// How long an idle worker spins, watching for the next job, before sleeping.
/// A training step's products come less than 1 ms apart: with 200 µs the
/// worker fell asleep between them and the MNIST-size step was ~10% slower
/// (README, Design notes).
const SPIN: Duration = Duration::from_micros(1000);

/// How long the caller of a split product, its own part done, watches for
/// the other parts to end before sleeping until they have.
const CALLER_SPIN: Duration = Duration::from_micros(200);

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
    /// Workers asleep on [`Pool::work`]: a job is announced to them only
    /// when there are some (a condvar's notify is a system call even with
    /// nobody waiting, about a microsecond on a virtual machine).
    sleepers: usize,
    /// Whether the caller sleeps on [`Pool::done`] (the same reason).
    caller_sleeps: bool,
}

/// `*const dyn Fn(usize)` that may cross threads (see the SAFETY note in `run`).
#[derive(Clone, Copy)]
struct SendPtr(*const (dyn Fn(usize) + Sync));
// SAFETY: the pointee is `Sync`, and `run` keeps it alive until every worker
// that read the pointer has finished calling it.
unsafe impl Send for SendPtr {}

struct Pool {
    /// The threads asked for (`FORMA_THREADS` or the hardware), the caller included.
    threads: usize,
    /// Workers running: spawned successfully and not ended (they do not end,
    /// see [`worker`]); [`threads`] is this plus the caller.
    workers: AtomicUsize,
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
    // Parts run outside the lock and inside `catch_unwind`, so the job's state
    // stays consistent; a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many threads products are split over (1: the pool is off): the
/// workers running, plus the caller.
pub fn threads() -> usize {
    pool().map_or(1, |p| 1 + p.workers.load(Ordering::Acquire))
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
            workers: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            job: Mutex::new(Job {
                f: None,
                parts: 0,
                next: 0,
                remaining: 0,
                panicked: false,
                sleepers: 0,
                caller_sleeps: false,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            caller: Mutex::new(()),
        }));
        for i in 1..pool.threads {
            // Counted before it starts, so that it can count itself out.
            pool.workers.fetch_add(1, Ordering::AcqRel);
            let spawned = std::thread::Builder::new()
                .name(format!("forma-worker-{i}"))
                .spawn(move || worker(pool));
            if spawned.is_err() {
                // Fewer workers: the caller takes the parts nobody takes.
                pool.workers.fetch_sub(1, Ordering::AcqRel);
                break;
            }
        }
        Some(pool)
    })
}

/// Drops a caught panic payload without unwinding: a payload whose `Drop`
/// panics has that second panic caught, and its payload leaked.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        core::mem::forget(again);
    }
}

/// Calls `f(part)`; whether it panicked. Never unwinds.
fn call(f: &(dyn Fn(usize) + Sync), part: usize) -> bool {
    match catch_unwind(AssertUnwindSafe(|| f(part))) {
        Ok(()) => false,
        Err(payload) => {
            drop_payload(payload);
            true
        }
    }
}

/// A worker thread: serves jobs for as long as the process runs.
fn worker(pool: &'static Pool) {
    /// Counts the worker out of [`Pool::workers`] if its thread ever ends.
    struct Running(&'static Pool);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.workers.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let _running = Running(pool);
    loop {
        // `serve` does not unwind: parts and their payloads are caught in
        // `call`, and locks ignore poisoning. Should it unwind all the same,
        // the worker starts serving again instead of leaving the pool short
        // of a thread (nothing between taking a part and counting it done
        // can unwind, so no job is left waiting for it).
        match catch_unwind(AssertUnwindSafe(|| serve(pool))) {
            Ok(never) => match never {},
            Err(payload) => drop_payload(payload),
        }
    }
}

fn serve(pool: &'static Pool) -> Infallible {
    let mut seen = pool.generation.load(Ordering::Acquire);
    let mut job = lock(&pool.job);
    loop {
        match job.f {
            Some(f) if job.next < job.parts => {
                let part = job.next;
                job.next += 1;
                drop(job);
                // SAFETY: `run` published `f` and, through its `Finish` guard,
                // does not return or unwind before `remaining` reaches 0, which
                // happens only after this call has returned (or unwound, caught
                // by `call`) and is counted below.
                let panicked = call(unsafe { &*f.0 }, part);
                job = lock(&pool.job);
                job.panicked |= panicked;
                job.remaining -= 1;
                if job.remaining == 0 && job.caller_sleeps {
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
                    job.sleepers += 1;
                    job = pool.work.wait(job).unwrap_or_else(|p| p.into_inner());
                    job.sleepers -= 1;
                }
                seen = pool.generation.load(Ordering::Acquire);
            }
        }
    }
}

/// Ends a published job when dropped, however `run` leaves: parts not yet
/// taken are withdrawn, the ones running are waited for, and the closure is
/// unpublished. Only then may the borrow of `f` end.
struct Finish<'p> {
    pool: &'p Pool,
}

impl Finish<'_> {
    /// Waits as described above; whether a part panicked. Idempotent.
    fn wait(&self) -> bool {
        let mut job = lock(&self.pool.job);
        let untaken = job.parts - job.next;
        job.next = job.parts;
        job.remaining -= untaken;
        // The parts are of a size, so the others end soon after this
        // thread's: watch for them a while before sleeping, as an idle
        // worker does (a sleeping caller takes a system call to wake).
        let start = Instant::now();
        while job.remaining > 0 {
            if start.elapsed() < CALLER_SPIN {
                drop(job);
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                job = lock(&self.pool.job);
            } else {
                job.caller_sleeps = true;
                job = self.pool.done.wait(job).unwrap_or_else(|p| p.into_inner());
                job.caller_sleeps = false;
            }
        }
        job.f = None;
        job.panicked
    }
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.wait();
    }
}

/// The panic [`run`] raises when a part panicked.
fn raise() -> ! {
    resume_unwind(Box::new("a part of a parallel product panicked"))
}

/// Runs `f(part, piece)` on each of the (at most [`MAX_THREADS`]) `pieces`,
/// one per part of [`run`]: each part takes its piece out of a slot, so
/// disjoint `&mut` borrows (bands of an output) cross threads without
/// allocation. `parts` is the number of pieces.
pub(crate) fn run_pieces<T: Send>(
    pieces: impl Iterator<Item = T>,
    parts: usize,
    f: &(dyn Fn(usize, T) + Sync),
) {
    let mut pieces = pieces;
    let slots: [Mutex<Option<T>>; MAX_THREADS] =
        core::array::from_fn(|_| Mutex::new(pieces.next()));
    run(parts, &|part| {
        let piece = lock(&slots[part]).take();
        match piece {
            Some(piece) => f(part, piece),
            None => unreachable!("each part runs once and has a piece"),
        }
    });
}

/// Calls `f(0)`, ..., `f(parts - 1)`, spread over the pool's threads, and
/// returns when all have returned. Without a pool, or while another caller
/// uses it, the calls run here, in order.
///
/// # Panics
/// If a part panics, the other parts still run; when all have finished, `run`
/// panics (with its own payload: the part's is dropped where it was caught).
pub fn run(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let Some(pool) = pool().filter(|_| parts > 1) else {
        return serially(parts, f);
    };
    let _caller = match pool.caller.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return serially(parts, f),
    };
    // SAFETY (lifetime erasure): the pointer is unpublished by `finish` (its
    // `wait`, or its drop, however this function is left), after `remaining`
    // has reached 0, i.e. after every call of `f` by any thread has returned;
    // `f` outlives this function call, so it outlives them all.
    let erased: *const (dyn Fn(usize) + Sync + 'static) =
        unsafe { core::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), _>(f as *const _) };
    let sleepers = {
        let mut job = lock(&pool.job);
        *job = Job {
            f: Some(SendPtr(erased)),
            parts,
            next: 0,
            remaining: parts,
            panicked: false,
            caller_sleeps: false,
            ..*job
        };
        job.sleepers
    };
    // Declared after `_caller`, so dropped before it: the job ends while this
    // caller still owns the pool.
    let finish = Finish { pool };
    pool.generation.fetch_add(1, Ordering::Release);
    // A worker that reads no job (under the lock) before this one was
    // published counted itself in `sleepers` under that lock; one that reads
    // it later takes a part without being woken.
    if sleepers > 0 {
        pool.work.notify_all();
    }
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
        let panicked = call(f, part);
        let mut job = lock(&pool.job);
        job.panicked |= panicked;
        job.remaining -= 1;
    }
    let panicked = finish.wait();
    drop(finish);
    if panicked {
        raise();
    }
}

/// [`run`] on this thread alone, with the same panic behaviour.
fn serially(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let mut panicked = false;
    for part in 0..parts {
        panicked |= call(f, part);
    }
    if panicked {
        raise();
    }
}
