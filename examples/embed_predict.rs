//! The second half of embedded inference: the XOR net trained by
//! `examples/embed_train.rs`, its weights embedded with `include_bytes!` and
//! read at compile time into a `static` network with inline storage. No
//! allocator is needed (the same code builds on `no_std`); a counting global
//! allocator shows that the predictions allocate nothing.
//!
//! Run: `cargo run --release --example embed_predict`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use forma::layers::{Inline, Network, embedded};
use forma::prelude::*;

type L1 = Linear<2, 2, f32, PerOutput, Inline>;
type L2 = Linear<2, 1, f32, PerOutput, Inline>;
type Xor = seq!(@type L1, Sigmoid, L2, Sigmoid);

/// The weights, in forma's flat format (written by `embed_train`).
const WEIGHTS: &[u8] = include_bytes!("data/xor.bin");

/// Built at compile time: a short or non-finite file fails the build.
static NET: Xor = {
    let (l1, at) = embedded!(L1::from_le_bytes(WEIGHTS, 0));
    let (l2, at) = embedded!(L2::from_le_bytes(WEIGHTS, at));
    assert!(at == WEIGHTS.len(), "xor.bin holds more than this network");
    seq!(l1, Sigmoid, l2, Sigmoid)
};

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator, which
// upholds GlobalAlloc's contract; the counter is an atomic side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's layout is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let inputs = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    let mut outputs = [0.0f32; 4];
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for (out, x) in outputs.iter_mut().zip(inputs) {
        *out = NET.predict(x)[0];
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let classes: Vec<u8> = outputs.iter().map(|&p| u8::from(p > 0.5)).collect();
    println!(
        "outputs {outputs:.4?}, classes {classes:?}, allocations during the 4 predictions: {allocations}"
    );
}
