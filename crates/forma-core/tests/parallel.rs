//! The thread pool: parts all run exactly once, concurrent callers do not
//! interfere, a panicking part reaches the caller only after every part has
//! finished and leaves the pool usable (with all its threads, even when the
//! panic's payload panics again when dropped), and a product split over
//! threads equals the same blocks computed alone, bit for bit.
//!
//! The tests share one pool (one per process), so each takes [`exclusive`]
//! first: a test that finds the pool busy would run its parts serially.

use std::cell::Cell;
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::Duration;

use forma_core::math::gemm;
use forma_core::math::gemm::Backend;
use forma_core::math::parallel;

/// The pool to this test alone (among the tests of this file).
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A panic payload whose `Drop` panics too.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the payload's drop panics as well");
    }
}

/// Drops a caught payload, leaking it if its `Drop` panics (as `run` must).
fn discard(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(again);
    }
}

thread_local! {
    /// True on the thread that calls `run` in the test.
    static CALLER: Cell<bool> = const { Cell::new(false) };
}

fn on_caller() -> bool {
    CALLER.with(Cell::get)
}

/// The counters a test's parts update. Statics, not the test's stack: on a
/// pool that returned early, the late calls must not write into a dead frame.
struct Counters {
    finished: AtomicUsize,
    late: AtomicUsize,
    returned: AtomicBool,
    panicked: AtomicBool,
}

impl Counters {
    const fn new() -> Self {
        Counters {
            finished: AtomicUsize::new(0),
            late: AtomicUsize::new(0),
            returned: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
        }
    }

    fn reset(&self) {
        self.finished.store(0, Ordering::SeqCst);
        self.late.store(0, Ordering::SeqCst);
        self.returned.store(false, Ordering::SeqCst);
        self.panicked.store(false, Ordering::SeqCst);
    }

    /// One part: counts a call made after `run` returned, then either panics
    /// with [`PanicsOnDrop`] (the first part for which `bad` holds) or sleeps.
    fn part(&self, bad: bool) {
        if self.returned.load(Ordering::SeqCst) {
            self.late.fetch_add(1, Ordering::SeqCst);
        }
        if bad && !self.panicked.swap(true, Ordering::SeqCst) {
            self.finished.fetch_add(1, Ordering::SeqCst);
            std::panic::panic_any(PanicsOnDrop);
        }
        thread::sleep(Duration::from_millis(2));
        self.finished.fetch_add(1, Ordering::SeqCst);
    }

    /// Runs `parts` parts, the first one for which `bad()` holds panicking.
    /// Returns whether that one ran; checks that `run` re-raised the panic
    /// only after every part had finished, and that no part ran afterwards.
    fn run_with_bad_part(&'static self, parts: usize, bad: fn() -> bool) -> bool {
        self.reset();
        let result = catch_unwind(|| parallel::run(parts, &|_| self.part(bad())));
        let finished = self.finished.load(Ordering::SeqCst);
        self.returned.store(true, Ordering::SeqCst);
        let raised = result.is_err();
        if let Err(payload) = result {
            discard(payload);
        }
        assert_eq!(
            finished, parts,
            "run returned or unwound before every part finished"
        );
        // A pool that returned early would still be running parts now.
        thread::sleep(Duration::from_millis(50));
        assert_eq!(
            self.late.load(Ordering::SeqCst),
            0,
            "a part ran after run returned"
        );
        assert_eq!(self.finished.load(Ordering::SeqCst), parts);
        let ran = self.panicked.load(Ordering::SeqCst);
        assert_eq!(raised, ran, "the panic of a part reaches the caller");
        ran
    }
}

/// The threads that ran parts of a few calls of 16 parts of 1 ms each.
fn threads_used() -> HashSet<ThreadId> {
    let ids = Mutex::new(HashSet::new());
    for _ in 0..8 {
        parallel::run(16, &|_| {
            thread::sleep(Duration::from_millis(1));
            ids.lock().unwrap().insert(thread::current().id());
        });
    }
    ids.into_inner().unwrap()
}

#[test]
fn every_part_runs_exactly_once() {
    let _pool = exclusive();
    for parts in [0, 1, 2, 3, 7, 64] {
        let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
        parallel::run(parts, &|p| {
            hits[p].fetch_add(1, Ordering::Relaxed);
        });
        assert!(
            hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
            "{parts} parts"
        );
    }
}

/// After a pause longer than their spin (1 ms) the workers sleep; a job is
/// announced to sleeping workers only (the pool counts them), so this checks
/// that they are counted and woken: a worker takes parts of the next call.
/// The parts last longer than the caller's own spin (200 µs), so the caller
/// sleeps too and must be woken by the worker that finishes last.
#[test]
fn workers_asleep_after_a_pause_are_woken_for_the_next_call() {
    let _pool = exclusive();
    if parallel::threads() < 2 {
        return;
    }
    for round in 0..5 {
        thread::sleep(Duration::from_millis(30));
        let ids = Mutex::new(HashSet::new());
        let done = AtomicUsize::new(0);
        parallel::run(8, &|_| {
            thread::sleep(Duration::from_millis(3));
            ids.lock().unwrap().insert(thread::current().id());
            done.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(done.load(Ordering::SeqCst), 8, "round {round}");
        assert!(
            ids.into_inner().unwrap().len() >= 2,
            "round {round}: the sleeping workers took no part"
        );
    }
}

#[test]
fn concurrent_callers_each_get_all_their_parts() {
    let _pool = exclusive();
    thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for round in 0..200 {
                    let sum = AtomicUsize::new(0);
                    parallel::run(5, &|p| {
                        sum.fetch_add(p + t + round, Ordering::Relaxed);
                    });
                    assert_eq!(sum.load(Ordering::Relaxed), 10 + 5 * (t + round));
                }
            });
        }
    });
}

#[test]
fn a_panicking_part_reaches_the_caller_and_the_pool_still_works() {
    let _pool = exclusive();
    let ran = AtomicUsize::new(0);
    let result = catch_unwind(|| {
        parallel::run(4, &|p| {
            ran.fetch_add(1, Ordering::Relaxed);
            if p == 0 {
                panic!("part 0 fails");
            }
        })
    });
    assert!(result.is_err());
    // The other parts ran all the same, with or without the pool.
    assert_eq!(ran.load(Ordering::Relaxed), 4);
    let count = AtomicUsize::new(0);
    parallel::run(4, &|_| {
        count.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(count.load(Ordering::Relaxed), 4);
}

#[test]
fn a_payload_whose_drop_panics_on_the_callers_part_waits_for_every_part() {
    static COUNTERS: Counters = Counters::new();
    let _pool = exclusive();
    CALLER.with(|c| c.set(true));
    // The caller takes parts as the workers do, so the bad part runs at once;
    // retried in case a loaded machine left the caller none of a call's parts.
    let hit = (0..50).any(|_| COUNTERS.run_with_bad_part(16, on_caller));
    assert!(hit, "no part ran on the caller in 50 calls");
    // And the pool is whole: a call after it still works, on every thread.
    assert!(!COUNTERS.run_with_bad_part(16, || false));
    if parallel::threads() >= 2 {
        assert!(threads_used().len() >= 2, "the pool lost its workers");
    }
}

#[test]
fn a_payload_whose_drop_panics_on_a_worker_keeps_the_worker() {
    static COUNTERS: Counters = Counters::new();
    let _pool = exclusive();
    CALLER.with(|c| c.set(true));
    let threads = parallel::threads();
    if threads < 2 {
        // No worker to lose (FORMA_THREADS=1 or one core): parts run here.
        assert!(!COUNTERS.run_with_bad_part(16, || !on_caller()));
        return;
    }
    // Retried, in case the caller happened to run all parts of a call.
    let hit = (0..50).any(|_| COUNTERS.run_with_bad_part(16, || !on_caller()));
    assert!(hit, "no part ran on a worker in 50 calls");
    assert!(
        threads_used().len() >= 2,
        "the worker died with the payload"
    );
    assert_eq!(parallel::threads(), threads);
}

#[test]
fn a_split_product_equals_its_blocks_computed_alone() {
    let _pool = exclusive();
    // 300 x 512 x 256 (39M multiply-adds) is split over the pool (with more
    // than one thread) by bands of rows, its parts sharing one packing of
    // B; a block of 40 rows and at most 64 columns is small enough to run
    // on one thread, packing B itself. The second shape has two NC-wide
    // blocks of B's columns, a last panel of 12 columns and a last KC-deep
    // slice of 88: every edge of the shared packing's layout.
    // The third has one panel of B in all, fewer than the parts (CI runs
    // this test with FORMA_THREADS=3 too). With the AVX-512 kernels, which
    // share at most 512 KB of packed B, the first shape's f32 B (512 KB)
    // and the third's are shared and the others each part packs for itself,
    // so both paths are tested there as well.
    // The second and fourth (the MNIST-size first layer's forward product)
    // have fewer rows than columns: they are split by bands of columns, each
    // part packing all of A (with three threads the second's bands are 384,
    // 384 and 332 columns wide, the last one ending in a partial panel).
    // The blocks compared sit at the corners, in the middle and across the
    // bands' borders.
    for (m, k, n) in [
        (300, 512, 256),
        (200, 600, 1100),
        (4096, 200, 10),
        (128, 784, 256),
    ] {
        split_equals_blocks::<f32>(m, k, n);
        split_equals_blocks::<f64>(m, k, n);
    }
    if parallel::threads() < 2 {
        eprintln!("one thread: products are not split, the split path went untested");
    }
    eprintln!("pool threads: {}", parallel::threads());
}

fn split_equals_blocks<E: forma_core::Float>(m: usize, k: usize, n: usize) {
    let a: Vec<E> = (0..m * k)
        .map(|i| E::from_f64(((i * 7919) % 1000) as f64 / 997.0 - 0.5))
        .collect();
    // B as `n x k` (W, for `nt`) or `k x n` (for `nn` and `tn`).
    let b: Vec<E> = (0..k * n)
        .map(|i| E::from_f64(((i * 104_729) % 1000) as f64 / 991.0 - 0.5))
        .collect();
    let w = n.min(64);
    for layout in ["nt", "nn", "tn measured"] {
        // C = A·B for `rows` rows of A and B's columns `j0..j0 + cols`.
        let product = |rows: usize, a: &[E], j0: usize, cols: usize, c: &mut [E]| {
            let b: Vec<E> = match layout {
                "nt" => b[j0 * k..(j0 + cols) * k].to_vec(),
                _ => (0..k)
                    .flat_map(|p| b[p * n + j0..p * n + j0 + cols].iter().copied())
                    .collect(),
            };
            match layout {
                "nt" => gemm::matmul_nt(rows, k, cols, a, &b, E::ZERO, c).unwrap(),
                "nn" => gemm::matmul_nn(rows, k, cols, a, &b, E::ZERO, c).unwrap(),
                _ => {
                    // Aᵀ stored: A's rows as columns.
                    let at: Vec<E> = (0..k * rows)
                        .map(|i| a[(i % rows) * k + i / rows])
                        .collect();
                    let (finite, top) =
                        gemm::matmul_tn_measured(rows, k, cols, &at, &b, E::ZERO, c).unwrap();
                    let want = c.iter().fold(E::ZERO, |t, v| t.max(v.abs()));
                    assert!(finite && top == want, "{layout}: the measured maximum");
                }
            }
        };
        let mut full = vec![E::ZERO; m * n];
        product(m, &a, 0, n, &mut full);
        for i0 in [0, 40, m / 2, m - 40] {
            for j0 in [0, (n / 2).saturating_sub(w / 2), n / 3, n - w].map(|j| j.min(n - w)) {
                let mut block = vec![E::ZERO; 40 * w];
                product(40, &a[i0 * k..(i0 + 40) * k], j0, w, &mut block);
                for r in 0..40 {
                    let (at, want) = ((i0 + r) * n + j0, &block[r * w..(r + 1) * w]);
                    assert!(
                        &full[at..at + w] == want,
                        "{layout} {} {m}x{k}x{n}: row {}, columns {j0}..{} differ from the \
                         split product",
                        E::NAME,
                        i0 + r,
                        j0 + w
                    );
                }
            }
        }
    }
}

/// Values in [-1, 1), one NaN-free pattern per seed.
fn pattern(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i + seed) * 7919) % 2000) as f32 / 1000.0 - 1.0)
        .collect()
}

#[test]
fn a_split_optimizer_update_equals_the_update_piece_by_piece() {
    use forma_core::math::pointwise::{AdamStep, PARALLEL_MIN_BYTES, SgdStep};
    let _pool = exclusive();
    // Large enough to be split over the pool (where it has two threads);
    // the reference runs in pieces of 1000, each below the split size.
    let n = 3 * PARALLEL_MIN_BYTES / 4 + 7; // f32
    let g = pattern(n, 2);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for momentum in [0.0f32, 0.9] {
        let step = SgdStep {
            lr: 0.1,
            momentum,
            nesterov: momentum > 0.0,
            weight_decay: 0.01,
            first: false,
        };
        let (mut p, mut v) = (pattern(n, 0), pattern(n, 1));
        let (mut p_ref, mut v_ref) = (p.clone(), v.clone());
        let (pm, vm) = step.apply(&mut p, &g, Some(&mut v));
        let (mut pm_ref, mut vm_ref) = (0.0f32, 0.0f32);
        for ((p, g), v) in p_ref
            .chunks_mut(1000)
            .zip(g.chunks(1000))
            .zip(v_ref.chunks_mut(1000))
        {
            let (a, b) = step.apply(p, g, Some(v));
            (pm_ref, vm_ref) = (pm_ref.max(a), vm_ref.max(b));
        }
        assert_eq!(bits(&p), bits(&p_ref), "momentum {momentum}: parameters");
        assert_eq!(bits(&v), bits(&v_ref), "momentum {momentum}: velocity");
        assert_eq!((pm, vm), (pm_ref, vm_ref), "momentum {momentum}: bounds");
        assert!(pm > 0.5, "the bound is the largest parameter: {pm}");
    }
    // A NaN written in the last piece makes the bound NaN, not a number.
    let step = SgdStep {
        lr: 0.1,
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.0,
        first: false,
    };
    let (mut p, mut bad) = (pattern(n, 0), g.clone());
    bad[n - 3] = f32::NAN;
    assert!(step.apply(&mut p, &bad, None).0.is_nan());

    let adam = AdamStep::at(3, 1e-3f32, 0.9, 0.999, 1e-8, 0.01, true);
    let (mut p, mut m, mut v) = (pattern(n, 0), pattern(n, 3), pattern(n, 4));
    v.iter_mut().for_each(|x| *x = x.abs());
    let (mut p_ref, mut m_ref, mut v_ref) = (p.clone(), m.clone(), v.clone());
    adam.apply(&mut p, &g, &mut m, &mut v);
    for (((p, g), m), v) in p_ref
        .chunks_mut(1000)
        .zip(g.chunks(1000))
        .zip(m_ref.chunks_mut(1000))
        .zip(v_ref.chunks_mut(1000))
    {
        adam.apply(p, g, m, v);
    }
    assert_eq!(bits(&p), bits(&p_ref), "adam: parameters");
    assert_eq!(bits(&m), bits(&m_ref), "adam: first moment");
    assert_eq!(bits(&v), bits(&v_ref), "adam: second moment");
    eprintln!("pool threads: {}", parallel::threads());
}

#[test]
fn a_split_one_row_product_equals_its_columns_computed_alone() {
    let _pool = exclusive();
    // 1 x 784 x 256 (batch-1 inference through a 784-256 layer) is split by
    // columns over the pool; 48 columns at a time are below the split size.
    let (k, n) = (784, 256);
    let x = pattern(k, 5);
    let w = pattern(n * k, 6); // n x k: the layer's weight, for X·Wᵀ
    let wt = pattern(k * n, 7); // k x n, for X·B
    // Each of forma's kernels: the few-row products have their own code per
    // instruction set (the dot-product kernels on AVX-512 and AVX2).
    for be in [Backend::Forma, Backend::FormaAvx2, Backend::FormaPortable] {
        let mut full = vec![0.0f32; n];
        be.matmul_nt(1, k, n, &x, &w, 0.0, &mut full).unwrap();
        let mut full_nn = vec![0.0f32; n];
        be.matmul_nn(1, k, n, &x, &wt, 0.0, &mut full_nn).unwrap();
        for j0 in (0..n).step_by(48) {
            let cols = 48.min(n - j0);
            let mut part = vec![0.0f32; cols];
            let w_part = &w[j0 * k..(j0 + cols) * k];
            be.matmul_nt(1, k, cols, &x, w_part, 0.0, &mut part)
                .unwrap();
            assert!(
                part == full[j0..j0 + cols],
                "{be:?} nt: columns {j0}.. differ"
            );
            // X·B on B's columns j0..j0+cols, gathered into their own matrix.
            let b: Vec<f32> = (0..k)
                .flat_map(|p| wt[p * n + j0..p * n + j0 + cols].to_vec())
                .collect();
            be.matmul_nn(1, k, cols, &x, &b, 0.0, &mut part).unwrap();
            assert!(
                part == full_nn[j0..j0 + cols],
                "{be:?} nn: columns {j0}.. differ"
            );
        }
    }
    eprintln!("pool threads: {}", parallel::threads());
}
