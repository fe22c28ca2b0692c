//! CPU math over slices.
//!
//! Everything here takes plain slices and lengths, so that a new network shape
//! monomorphises only a thin typed shell around these functions (dfdx's
//! compile times grew with every shape; see the design notes in the README).
//!
//! * [`gemm`]: the three matrix-product layouts a layer needs, for runtime
//!   shapes: matrixmultiply for large products, a direct loop for tiny ones.
//! * [`fixed`]: the same three layouts when the feature widths are compile-time
//!   constants, fully unrolled; chosen by [`fixed::is_small`].
//! * [`reduce`]: sums over rows and columns.
//! * `parallel` (feature `std`): the thread pool large products are split over.
//! * [`pointwise`]: activations, loss terms and optimizer updates, shared by
//!   the CPU layers and every device.
//! * [`rowwise`]: softmax, its backward and softmax cross-entropy, per row.

#[cfg(feature = "alloc")]
mod band;
mod dot_rows;
pub mod fixed;
pub mod gemm;
pub mod isa;
#[cfg(feature = "alloc")]
mod kernels;
#[cfg(feature = "alloc")]
mod packed;
#[cfg(feature = "std")]
pub mod parallel;
pub mod pointwise;
pub mod reduce;
pub mod rowwise;
#[cfg(feature = "alloc")]
pub(crate) mod sigmoid;
