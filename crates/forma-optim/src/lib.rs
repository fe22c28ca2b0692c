//! # forma-optim
//!
//! Optimizers update every parameter of any [`Params`]
//! type in place, walking the network and its gradient (a value of the same
//! type) in lockstep. State (momentum, Adam moments) is a value of the network's
//! type too, created at the first step: later steps allocate nothing.
//!
//! The update rules are PyTorch's (`torch.optim.SGD`, `Adam`, `AdamW`), so
//! runs can be compared number for number.
#![deny(missing_docs)]

extern crate alloc;

mod adam;
mod sgd;

pub use adam::{Adam, AdamState};
pub use sgd::{Sgd, SgdState};

use alloc::vec::Vec;

use forma_core::{Device, Float, Result};
use forma_layers::Params;

/// Updates parameters `P` from their gradient.
pub trait Optimizer<E: Float, P: Params<E>> {
    /// One update: `params -= f(grads, state)`.
    fn step(&mut self, params: &mut P, grads: &P);
}

/// Updates the parameters of a `P` held on a [`Device`], as one buffer per
/// parameter tensor (the order of [`Params::visit`]), with state kept on the
/// device too.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot update parameters on a device",
    note = "device optimizers: Sgd, Adam"
)]
pub trait DeviceOptimizer<E: Float, D: Device<E>, P: Params<E>> {
    /// Velocity, moments: whatever persists between steps, on the device.
    type State;
    /// Zeroed state for these parameter buffers.
    fn device_state(&self, device: &D, params: &[D::Buffer]) -> Result<Self::State>;
    /// One update of every buffer in `params` from `grads`.
    fn step_on(
        &mut self,
        device: &D,
        params: &mut [D::Buffer],
        grads: &[D::Buffer],
        state: &mut Self::State,
    ) -> Result<()>;
}

/// A zeroed buffer of the same length for each of `buffers`.
fn zeros_like<E: Float, D: Device<E>>(device: &D, buffers: &[D::Buffer]) -> Result<Vec<D::Buffer>> {
    buffers
        .iter()
        .map(|b| device.alloc(D::buffer_len(b)))
        .collect()
}

fn check_rate(what: &'static str, v: f64, max_exclusive: Option<f64>) -> forma_core::Result<f64> {
    let ok = v.is_finite() && v >= 0.0 && max_exclusive.is_none_or(|m| v < m);
    if ok {
        Ok(v)
    } else {
        Err(forma_core::Error::Config { what, got: v })
    }
}
