//! Networks built from bytes known at compile time: `const fn` constructors
//! of `Linear` with inline storage, so that a `static` network embeds its
//! weights (`include_bytes!`) with no allocator, on `no_std`.
//!
//! The bytes are forma's flat format: every parameter in
//! [`Params::visit`](crate::Params::visit) order (per layer the weight,
//! `[out][in]` row-major, then the bias), as little-endian `f32` or `f64`
//! (`forma::io::to_flat_bytes` writes it). A `.safetensors` file needs a
//! JSON parser and an allocator to read, so the embedded path takes the flat
//! format instead.
//!
//! ```
//! use forma_layers::{Inline, Linear, Network, PerOutput, Sigmoid, embedded, seq};
//!
//! type L1 = Linear<2, 2, f32, PerOutput, Inline>;
//! type L2 = Linear<2, 1, f32, PerOutput, Inline>;
//! type Xor = seq!(@type L1, Sigmoid, L2, Sigmoid);
//!
//! // In a real program: include_bytes!("xor.bin").
//! const BYTES: &[u8] = &[0; 4 * 9];
//!
//! static NET: Xor = {
//!     let (l1, at) = embedded!(L1::from_le_bytes(BYTES, 0));
//!     let (l2, at) = embedded!(L2::from_le_bytes(BYTES, at));
//!     assert!(at == BYTES.len(), "the file holds more than this network");
//!     seq!(l1, Sigmoid, l2, Sigmoid)
//! };
//!
//! assert_eq!(NET.predict([1.0, 0.0]), [0.5]);
//! ```
//!
//! A short file or a NaN in it is a compile error that says so.

use crate::{Inline, Linear, NoBias, PerOutput, SharedBias};

/// The value of a `const fn` constructor's `Ok`, or, for its `Err`, a
/// compile-time panic with the message (in a `const` or `static`; used at
/// run time, a panic). A macro, so that it works for every layer type in a
/// constant context.
#[macro_export]
macro_rules! embedded {
    ($r:expr) => {
        match $r {
            Ok(value) => value,
            Err(message) => panic!("{}", message),
        }
    };
}

macro_rules! from_le_bytes {
    ($e:ty, $size:expr, $bias:ty, $bias_len:expr, $new_bias:expr) => {
        impl<const I: usize, const O: usize> Linear<I, O, $e, $bias, Inline> {
            #[doc = concat!(
                "The layer from its parameters at byte `at` of `bytes`, little-endian `",
                stringify!($e),
                "`s in forma's flat format (the weight `[out][in]` row-major, then the bias), ",
                "and the byte where the next layer starts. A `const fn`: in a `static` it runs ",
                "at compile time. `Err` if `bytes` is too short or a value is NaN or infinite."
            )]
            pub const fn from_le_bytes(
                bytes: &[u8],
                at: usize,
            ) -> Result<(Self, usize), &'static str> {
                const SIZE: usize = $size;
                let count = O * I + $bias_len;
                if bytes.len() < at || bytes.len() - at < count * SIZE {
                    return Err("embedded weights: too few bytes for this layer");
                }
                let mut weight = [[0.0 as $e; I]; O];
                let mut bias = $new_bias;
                let mut k = 0;
                while k < count {
                    let p = at + k * SIZE;
                    let mut b = [0u8; SIZE];
                    let mut j = 0;
                    while j < SIZE {
                        b[j] = bytes[p + j];
                        j += 1;
                    }
                    let v = <$e>::from_le_bytes(b);
                    if !v.is_finite() {
                        return Err("embedded weights: a value is NaN or infinite");
                    }
                    if k < O * I {
                        weight[k / I][k % I] = v;
                    } else {
                        bias[k - O * I] = v;
                    }
                    k += 1;
                }
                Ok((Linear::from_inline(weight, bias), at + count * SIZE))
            }
        }
    };
}

from_le_bytes!(f32, 4, PerOutput, O, [0.0f32; O]);
from_le_bytes!(f64, 8, PerOutput, O, [0.0f64; O]);
from_le_bytes!(f32, 4, SharedBias, 1, [0.0f32; 1]);
from_le_bytes!(f64, 8, SharedBias, 1, [0.0f64; 1]);
from_le_bytes!(f32, 4, NoBias, 0, [0.0f32; 0]);
from_le_bytes!(f64, 8, NoBias, 0, [0.0f64; 0]);
