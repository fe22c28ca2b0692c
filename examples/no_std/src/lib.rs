//! A `static` network on `no_std` without an allocator: the XOR net trained
//! by `examples/embed_train.rs`, its weights embedded with `include_bytes!`
//! in forma's flat format and read at compile time. CI builds this crate
//! for `thumbv7em-none-eabihf` (a Cortex-M4F); on the host its test checks
//! the predictions.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

use forma_layers::{Inline, Linear, Network, PerOutput, Sigmoid, embedded, seq};

type L1 = Linear<2, 2, f32, PerOutput, Inline>;
type L2 = Linear<2, 1, f32, PerOutput, Inline>;

/// The network's type: every weight inline.
pub type Xor = seq!(@type L1, Sigmoid, L2, Sigmoid);

const WEIGHTS: &[u8] = include_bytes!("../../data/xor.bin");

/// The trained network, built by the compiler.
pub static NET: Xor = {
    let (l1, at) = embedded!(L1::from_le_bytes(WEIGHTS, 0));
    let (l2, at) = embedded!(L2::from_le_bytes(WEIGHTS, at));
    assert!(at == WEIGHTS.len(), "xor.bin holds more than this network");
    seq!(l1, Sigmoid, l2, Sigmoid)
};

/// `a XOR b` for inputs in {0, 1}, by the network.
pub fn xor(a: f32, b: f32) -> bool {
    NET.predict([a, b])[0] > 0.5
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_network_computes_xor() {
        let got = [(0., 0.), (0., 1.), (1., 0.), (1., 1.)].map(|(a, b)| super::xor(a, b));
        assert_eq!(got, [false, true, true, false]);
    }
}
