//! # forma-layers
//!
//! A network is a type. `(Linear<2, 32>, (Sigmoid, (Linear<32, 1>, Sigmoid)))`,
//! spelled with [`seq!`], is a value whose forward and backward passes the
//! compiler generates from the [`Module`] impls of its parts: no tape, no
//! `dyn`, no allocation per step once its cache exists, on any device.
//!
//! * [`Takes`]: a layer's shape rule (the width it takes, as a type
//!   parameter, and the width it gives); width errors are compile errors
//!   that name both widths.
//! * [`Module`] (feature `alloc`): training, generic over the device (the
//!   [`Cpu`](forma_core::Cpu) by default): a batched forward into a reusable
//!   typed cache, and a backward into a gradient of the layer's own type.
//! * [`Layer`]: allocation-free single-row inference on the stack, for
//!   parameters in host memory (`no_std`, without `alloc` too).
//! * [`Params`]: visiting every parameter (optimizers, counting, saving);
//!   [`params!`] writes it for a user's layer.
//! * [`Storage`]: where a layer's parameters live ([`Heap`], [`Inline`], or a
//!   device's memory); [`ToDevice`] and [`ToHost`] move a model (feature `alloc`).
//! * [`Linear`] with per-output, shared scalar or no bias; activations
//!   [`Sigmoid`], [`ReLU`], [`Tanh`], [`LeakyReLU`], [`Identity`], [`Softmax`].
//! * Sequences: pairs `(A, B)` nest to any length; [`seq!`] builds them.
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod activation;
mod bias;
pub mod embed;
mod layer;
mod linear;
mod mlp;
#[cfg(feature = "alloc")]
mod module;
#[cfg(feature = "alloc")]
mod named;
mod params;
mod params_macro;
#[cfg(feature = "alloc")]
mod place;
mod seq;
mod softmax;
mod storage;

pub use activation::{Elementwise, Identity, LeakyReLU, ReLU, Sigmoid, Tanh};
pub use bias::{Bias, NoBias, PerOutput, SharedBias};
pub use layer::{FixedInput, Layer, Network, Takes};
pub use linear::Linear;
pub use mlp::{Mlp, Mlp3};
#[cfg(feature = "alloc")]
pub use module::{Model, Module};
#[cfg(feature = "alloc")]
pub use named::Named;
pub use params::{FlatParams, Params};
#[cfg(feature = "alloc")]
pub use place::{Resident, ToDevice, ToHost, copy_on, count_nonfinite_on};

#[doc(hidden)]
pub use forma_core as __core;
#[cfg(feature = "alloc")]
#[doc(hidden)]
pub extern crate alloc as __alloc;
#[cfg(feature = "alloc")]
pub use seq::PairCache;
pub use seq::{Initialize, chain};
pub use softmax::Softmax;
#[cfg(feature = "alloc")]
pub use storage::Heap;
pub use storage::{Aligned, DefaultStorage, HostStorage, Inline, Storage};
