// Weights embedded at compile time are checked at compile time: a file too
// short for the network is a build error that says so.
use forma::layers::{Inline, embedded};
use forma::prelude::*;

type L1 = Linear<2, 2, f32, PerOutput, Inline>;

const WEIGHTS: &[u8] = &[0; 10]; // 6 values need 24 bytes

static LAYER: L1 = embedded!(L1::from_le_bytes(WEIGHTS, 0)).0;

fn main() {
    let _ = &LAYER;
}
