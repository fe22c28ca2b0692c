//! # forma-core
//!
//! The foundation of forma: dimensions that live in types, tensors whose
//! feature widths are compile-time constants, the CPU math a layer needs,
//! seeded initialisation and the error type.
//!
//! * [`dim`]: [`Const<N>`](dim::Const) and runtime `usize` behind one [`Dim`]
//!   trait, and the named shape rules ([`SameWidth`],
//!   [`AreMultipliable`]) whose compile errors name the widths.
//! * [`Float`]: the element types, `f32` and `f64`.
//! * [`Tensor`] (feature `alloc`): a row-major matrix `rows x cols` on a device.
//! * [`math`]: slice-level kernels. Generic code stays thin; the work happens
//!   in functions over slices and lengths, so each new shape costs little
//!   compile time.
//! * [`device`] (feature `alloc`): the [`Device`] trait that layers, losses
//!   and optimizers are generic over, and the [`Cpu`] device. A [`Tensor`]
//!   names the device its elements live on (the `Cpu` by default).
//! * [`init`]: PyTorch's `nn.Linear` default, Xavier/Glorot, He/Kaiming,
//!   normal and exact values, from a seeded ChaCha8 generator.
//!
//! The crate is `no_std`; without the `alloc` feature it still offers the
//! dimension types, the element trait and the fixed-size kernels, which is
//! what allocation-free inference needs.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
pub mod device;
pub mod dim;
mod element;
mod error;
pub mod init;
pub mod math;
mod slot;
#[cfg(feature = "alloc")]
mod tensor;

#[cfg(feature = "alloc")]
pub use device::{BiasKind, Cpu, Device, LabelStore, Layout};
pub use dim::{AreMultipliable, Const, ConstDim, Dim, SameWidth};
pub use element::Float;
#[cfg(feature = "alloc")]
#[doc(hidden)]
pub use element::Workspace;
pub use error::{Error, GRADIENT, Result, StepCause, check_finite, check_finite_rows, check_len};
pub use init::{Init, Rng, rng};
pub use math::pointwise::{Activation, AdamStep, Axis, Binary, LossKind, SgdStep};
pub use slot::get_or_try_insert;
#[cfg(feature = "alloc")]
pub use tensor::{Batch, Tensor};

/// Re-exported so that users can name type-level sizes without a direct dependency.
pub use generic_array;
/// Re-exported so that users can name type-level sizes without a direct dependency.
pub use typenum;
/// Re-exported: the random-number crates forma uses, so that user code
/// draws from [`Rng`] with the same `rand` version (no pinning by hand).
pub use {rand, rand_chacha};
