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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// A job: the lent closure and which parts are taken. The parts still
/// running and whether one panicked are atomics of the [`Pool`], so that
/// ending a part and watching for the end take no lock.
struct Job {
    /// The closure of the running call, its lifetime erased; `None` when idle.
    f: Option<SendPtr>,
    parts: usize,
    next: usize,
    /// Workers asleep on [`Pool::work`]: a job is announced to them only
    /// when there are some (a condvar's notify is a system call even with
    /// nobody waiting, about a microsecond on a virtual machine).
    sleepers: usize,
}

/// A value alone in its cache lines, so that threads watching one atomic do
/// not lose their copy when another, nearby, is written.
#[repr(align(128))]
struct Alone<T>(T);

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
    generation: Alone<AtomicUsize>,
    /// The parts of the running job taken and not yet finished, plus those
    /// not yet taken: 0 once every call of its closure has returned.
    remaining: Alone<AtomicUsize>,
    /// Whether a part of the running job panicked (set before its part is
    /// counted out of `remaining`).
    panicked: AtomicBool,
    /// Whether the caller sleeps on [`Pool::done`]: the last part wakes it
    /// only then (see [`Finish::wait`] for why no wake-up is lost).
    caller_sleeps: AtomicBool,
    job: Mutex<Job>,
    work: Condvar,
    done: Condvar,
    /// Held by the one caller using the pool.
    caller: Mutex<()>,
}

impl Pool {
    /// Counts a finished part out of the running job, and wakes the caller
    /// if it sleeps and this part was the last.
    fn part_done(&self, panicked: bool) {
        if panicked {
            self.panicked.store(true, Ordering::Relaxed);
        }
        if self.remaining.0.fetch_sub(1, Ordering::SeqCst) == 1
            && self.caller_sleeps.load(Ordering::SeqCst)
        {
            // See `Finish::wait`: the lock orders this notification after
            // the caller's last check of `remaining`.
            drop(lock(&self.job));
            self.done.notify_all();
        }
    }
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
            generation: Alone(AtomicUsize::new(0)),
            remaining: Alone(AtomicUsize::new(0)),
            panicked: AtomicBool::new(false),
            caller_sleeps: AtomicBool::new(false),
            job: Mutex::new(Job {
                f: None,
                parts: 0,
                next: 0,
                sleepers: 0,
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
    let mut seen = pool.generation.0.load(Ordering::Acquire);
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
                pool.part_done(panicked);
                job = lock(&pool.job);
            }
            _ => {
                // Idle: spin a while for the next job, then sleep.
                drop(job);
                let start = Instant::now();
                while pool.generation.0.load(Ordering::Acquire) == seen && start.elapsed() < SPIN {
                    std::hint::spin_loop();
                }
                job = lock(&pool.job);
                let now = pool.generation.0.load(Ordering::Acquire);
                if now == seen && !(job.f.is_some() && job.next < job.parts) {
                    job.sleepers += 1;
                    job = pool.work.wait(job).unwrap_or_else(|p| p.into_inner());
                    job.sleepers -= 1;
                }
                seen = pool.generation.0.load(Ordering::Acquire);
            }
        }
    }
}

/// Ends a published job when dropped, however `run` leaves: parts not yet
/// taken are withdrawn and the closure unpublished (no part can be taken
/// after), a part the caller holds but has not counted out (were `run`
/// unwound in between) is counted out, and the parts running are waited for.
/// Only then may the borrow of `f` end.
struct Finish<'p> {
    pool: &'p Pool,
    /// Parts the caller has taken and not yet counted out of `remaining`.
    in_hand: core::cell::Cell<usize>,
}

impl Finish<'_> {
    /// Waits as described above; whether a part panicked. Idempotent.
    fn wait(&self) -> bool {
        let pool = self.pool;
        {
            let mut job = lock(&pool.job);
            let untaken = job.parts - job.next;
            job.next = job.parts;
            // No part can be taken any more; the parts running called
            // through their own copy of the pointer, which stays valid until
            // `remaining` is 0 (below).
            job.f = None;
            let uncounted = untaken + self.in_hand.replace(0);
            if uncounted > 0 {
                pool.remaining.0.fetch_sub(uncounted, Ordering::AcqRel);
            }
        }
        // The parts are of a size, so the others end soon after this
        // thread's: watch for them a while before sleeping, as an idle
        // worker does (a sleeping caller takes a system call to wake).
        let start = Instant::now();
        let mut spins = 0_u32;
        while pool.remaining.0.load(Ordering::Acquire) > 0 {
            // The counter read at every turn, the clock at every 64th.
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || start.elapsed() < CALLER_SPIN {
                std::hint::spin_loop();
                continue;
            }
            // No lost wake-up: this thread sets `caller_sleeps` before it
            // reads `remaining` (under the lock), the last part lowers
            // `remaining` before it reads `caller_sleeps`, all SeqCst, so
            // one of the two sees the other's write. If the part sees it, it
            // takes the lock before notifying, so the notification comes
            // after this thread's check, while it waits.
            pool.caller_sleeps.store(true, Ordering::SeqCst);
            let mut job = lock(&pool.job);
            while pool.remaining.0.load(Ordering::SeqCst) > 0 {
                job = pool.done.wait(job).unwrap_or_else(|p| p.into_inner());
            }
            drop(job);
            pool.caller_sleeps.store(false, Ordering::SeqCst);
        }
        // Each part stored its panic before counting itself out (Release in
        // the RMW), and `remaining` was read as 0 with Acquire.
        pool.panicked.load(Ordering::Acquire)
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
    // SAFETY (lifetime erasure): `finish` (its `wait`, or its drop, however
    // this function is left) unpublishes the pointer under the lock, so that
    // no part is taken after, and then waits until `remaining` is 0: every
    // part taken (a worker copies the pointer only as it takes one) is
    // counted in `remaining` until its call of `f` has returned. `f`
    // outlives this function call, so it outlives them all.
    let erased: *const (dyn Fn(usize) + Sync + 'static) =
        unsafe { core::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), _>(f as *const _) };
    let sleepers = {
        let mut job = lock(&pool.job);
        job.f = Some(SendPtr(erased));
        job.parts = parts;
        // Part 0 is this thread's, taken here.
        job.next = 1;
        // Workers take parts under the lock, so they see these once they do.
        pool.remaining.0.store(parts, Ordering::Relaxed);
        pool.panicked.store(false, Ordering::Relaxed);
        job.sleepers
    };
    // Declared after `_caller`, so dropped before it: the job ends while this
    // caller still owns the pool.
    let finish = Finish {
        pool,
        in_hand: core::cell::Cell::new(1),
    };
    pool.generation.0.fetch_add(1, Ordering::Release);
    // A worker that reads no job (under the lock) before this one was
    // published counted itself in `sleepers` under that lock; one that reads
    // it later takes a part without being woken.
    if sleepers > 0 {
        pool.work.notify_all();
    }
    // Part 0, then any other part still untaken.
    let mut part = 0;
    loop {
        let panicked = call(f, part);
        finish.in_hand.set(0);
        pool.part_done(panicked);
        let mut job = lock(&pool.job);
        if job.next >= job.parts {
            break;
        }
        part = job.next;
        job.next += 1;
        finish.in_hand.set(1);
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
