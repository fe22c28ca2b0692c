//! Shared by both peers (included with `#[path]`): the timing method and the
//! JSON output of benches/reference/pytorch_reference.py, reproduced exactly.

use std::hint::black_box;
use std::time::Instant;

/// Timed runs per workload, as `REPEATS` in the Python script.
const REPEATS: usize = 7;

/// Median seconds per call of `step` over `REPEATS` timed runs, after warm-up:
/// calls `step` until 0.2 s have passed, counting the calls `n`, then times
/// `REPEATS` runs of `max(1, int(n / 0.2 * 0.25))` calls each (about 0.25 s a run).
pub fn median_seconds<R>(mut step: impl FnMut() -> R) -> f64 {
    let t0 = Instant::now();
    let mut n = 0usize;
    while t0.elapsed().as_secs_f64() < 0.2 {
        black_box(step());
        n += 1;
    }
    let per_run = ((n as f64 / 0.2 * 0.25) as usize).max(1);
    let mut samples: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_run {
                black_box(step());
            }
            t.elapsed().as_secs_f64() / per_run as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[REPEATS / 2]
}

/// `--threads N` from the command line (default 1, as the Python script).
pub fn threads_arg() -> usize {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--threads") {
        Some(i) => args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .expect("--threads N"),
        None => 1,
    }
}

/// The OS threads of this process now (Linux), to check that the thread knob was honoured.
pub fn os_threads() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Threads:"))
                .map(|l| l[8..].trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// Runs each workload (a function of the device that builds it and returns its
/// `median_seconds`) and prints
/// `{"library": ..., "threads": N, "seconds_per_step": {id: seconds}}`,
/// the Python script's JSON with `"library"` in place of `"torch"`.
pub fn run_and_print<D>(
    library: &str,
    threads: usize,
    dev: &D,
    workloads: &[(&str, fn(&D) -> f64)],
) {
    let mut rows = Vec::new();
    for (id, bench) in workloads {
        let s = bench(dev);
        eprintln!("{id}: {s:.3e} s");
        rows.push(format!("  \"{id}\": {s:e}"));
    }
    eprintln!(
        "{library}: {} OS threads in the process at the end",
        os_threads()
    );
    println!(
        "{{\n \"library\": \"{library}\",\n \"threads\": {threads},\n \"seconds_per_step\": {{\n{}\n }}\n}}",
        rows.join(",\n")
    );
}
