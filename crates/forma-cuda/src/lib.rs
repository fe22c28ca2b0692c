//! # forma-cuda
//!
//! forma's CUDA backend: `Cuda`, a `Device<f32>` on an
//! NVIDIA GPU, so the same network types train there with the same model code
//! (`Trainer::on(cuda, net.to_device(&cuda)?, loss, optimizer)`): a layer
//! whose storage is `Cuda` (`Linear<I, O, f32, B, Cuda>`) keeps its
//! parameters in GPU memory, and class labels live there too.
//!
//! * cust manages the driver, the context, the stream and device memory.
//! * The kernels are CUDA C in `kernels/*.cu`, one concern per file; the PTX
//!   beside them is committed (`.version 7.8`, `.target sm_75`, from nvcc 11.8
//!   with `-arch=compute_75`), so it JIT-compiles on Turing through Hopper and
//!   the build never needs nvcc. `scripts/gen-ptx.sh` regenerates it.
//! * Each kernel has one typed Rust wrapper (module `kernels`), because a raw launch
//!   does not check arguments against the kernel's signature; modules and
//!   functions are loaded once per `Cuda`.
//! * Every CUDA failure is a `forma_core::Error` keeping the CUDA error code;
//!   a PTX that fails to load keeps the JIT compiler's log; no GPU is
//!   `Error::NoDevice`, never a crash.
//!
//! All of it sits behind the `cuda` feature: without it this crate is empty and
//! builds anywhere, with no CUDA installed.
#![deny(missing_docs)]
#![cfg_attr(not(feature = "cuda"), no_std)]

/// Whether this build contains GPU support (the `cuda` feature).
pub const ENABLED: bool = cfg!(feature = "cuda");

#[cfg(feature = "cuda")]
mod buffer;
#[cfg(feature = "cuda")]
mod device;
#[cfg(feature = "cuda")]
mod error;
#[cfg(feature = "cuda")]
pub mod kernels;
#[cfg(feature = "cuda")]
mod storage;

#[cfg(feature = "cuda")]
pub use buffer::CudaBuffer;
#[cfg(feature = "cuda")]
pub use device::Cuda;
