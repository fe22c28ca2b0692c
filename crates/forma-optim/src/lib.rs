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

mod adam;
mod sgd;

pub use adam::Adam;
pub use sgd::Sgd;

use forma_core::Float;
use forma_layers::Params;

/// Updates parameters `P` from their gradient.
pub trait Optimizer<E: Float, P: Params<E>> {
    /// One update: `params -= f(grads, state)`.
    fn step(&mut self, params: &mut P, grads: &P);
}

fn check_rate(what: &'static str, v: f64, max_exclusive: Option<f64>) -> forma_core::Result<f64> {
    let ok = v.is_finite() && v >= 0.0 && max_exclusive.is_none_or(|m| v < m);
    if ok {
        Ok(v)
    } else {
        Err(forma_core::Error::Config { what })
    }
}
