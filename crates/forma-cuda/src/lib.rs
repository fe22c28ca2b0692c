//! # forma-cuda
//!
//! The CUDA backend of forma: cust driving PTX kernels. It is empty for now:
//! the CUDA issue fills it behind a `cuda` feature, so that this crate builds
//! everywhere, with or without a GPU or the CUDA driver.
#![no_std]
#![deny(missing_docs)]

/// Whether this build of forma-cuda contains GPU support (not yet).
pub const ENABLED: bool = false;
