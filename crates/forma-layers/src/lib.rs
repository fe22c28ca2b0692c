//! # forma-layers
//!
//! A network is a type. `(Linear<2, 32>, (Sigmoid, (Linear<32, 1>, Sigmoid)))`,
//! spelled [`Mlp<2, 32, 1>`](Mlp), is a value whose forward and backward passes
//! the compiler generates from the [`Module`] impls of its parts: no tape, no
//! `dyn`, no allocation per step once its cache exists.
//!
//! * [`Layer`]: the shape of a layer (input width as a type parameter, output
//!   width as an associated type) and allocation-free single-row inference.
//! * [`Module`] (feature `alloc`): batched forward into a reusable typed cache,
//!   and backward into a gradient value of the same type as the layer.
//! * [`Params`]: visiting every parameter (optimizers, counting, saving).
//! * [`Linear`] with per-output, shared scalar or no bias; activations
//!   [`Sigmoid`], [`ReLU`], [`Tanh`], [`LeakyReLU`], [`Identity`], [`Softmax`].
//! * [`OnDevice`] (feature `alloc`): the same layers trained on any
//!   [`Device`](forma_core::Device), their parameters in [`DeviceParams`].
//! * Sequences: pairs `(A, B)` nest to any length; [`seq!`] builds them.
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod activation;
mod bias;
mod layer;
mod linear;
mod mlp;
#[cfg(feature = "alloc")]
mod module;
#[cfg(feature = "alloc")]
mod place;
mod params;
mod params_macro;
mod seq;
mod softmax;
mod storage;

pub use activation::{Elementwise, Identity, LeakyReLU, ReLU, Sigmoid, Tanh};
pub use bias::{Bias, NoBias, PerOutput, SharedBias};
pub use layer::{FixedInput, Layer, Network, Takes};
#[cfg(feature = "alloc")]
pub use module::{Model, Module};
#[cfg(feature = "alloc")]
pub use place::{Resident, ToDevice, ToHost};
pub use linear::Linear;
pub use mlp::{Mlp, Mlp3};
pub use params::{FlatParams, Params};

#[doc(hidden)]
pub use forma_core as __core;
#[cfg(feature = "alloc")]
pub use seq::PairCache;
pub use seq::{Initialize, chain};
pub use softmax::Softmax;
#[cfg(feature = "alloc")]
pub use storage::Heap;
pub use storage::{DefaultStorage, HostStorage, Inline, Storage};
