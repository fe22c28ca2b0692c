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
    /// Whether [`Optimizer::step`] with these arguments would leave every
    /// parameter and every piece of optimizer state finite, computed without
    /// writing anything (the trainer calls it before each update, so a
    /// refused step changes nothing). `Err(Error::Parameter)` names the
    /// parameter tensor and element: `what` is [`GRADIENT`](forma_core::GRADIENT) when a gradient
    /// is not finite (the first one in visiting order), else `"update"`.
    /// It may create zeroed state on the first call, as `step` would.
    fn check(&mut self, params: &P, grads: &P) -> Result<()>;
    /// [`Optimizer::check`] for parameters known to be exactly what this
    /// optimizer's last [`Optimizer::step`] left: it may then decide from
    /// bounds kept by that step (the largest parameter and state) and one
    /// pass over the gradient, instead of reading every parameter. The
    /// trainer calls it unless the model was handed out mutably since. The
    /// default is [`Optimizer::check`].
    fn check_after_step(&mut self, params: &P, grads: &P) -> Result<()> {
        self.check(params, grads)
    }
    /// One update: `params -= f(grads, state)`.
    fn step(&mut self, params: &mut P, grads: &P);
}

/// Runs `find` over every parameter tensor with its gradient and two state
/// tensors; on the first tensor where it reports an element, names it as an
/// [`Error::Parameter`](forma_core::Error::Parameter): the first non-finite
/// gradient of the whole model if there is one (the cause), else the update.
fn locate<E: Float, P: Params<E>>(
    params: &P,
    grads: &P,
    s: &P,
    t: &P,
    mut find: impl FnMut(&[E], &[E], &[E], &[E]) -> Option<(usize, E)>,
) -> Result<()> {
    let (mut tensor, mut found) = (0, None);
    params.zip3(grads, s, t, &mut |p, g, s, t| {
        if found.is_none()
            && let Some((i, v)) = find(p, g, s, t)
        {
            found = Some((tensor, i, v));
        }
        tensor += 1;
    });
    let Some((tensor, index, value)) = found else {
        return Ok(());
    };
    let (mut at, mut bad_grad) = (0, None);
    grads.visit(&mut |g| {
        if bad_grad.is_none()
            && let Some(i) = g.iter().position(|x| !x.is_finite())
        {
            bad_grad = Some((at, i, g[i]));
        }
        at += 1;
    });
    Err(match bad_grad {
        Some((tensor, index, value)) => forma_core::Error::Parameter {
            what: forma_core::GRADIENT,
            tensor,
            index,
            value: value.to_f64(),
        },
        None => forma_core::Error::Parameter {
            what: "update (the new parameter or optimizer state)",
            tensor,
            index,
            value: value.to_f64(),
        },
    })
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
    /// Copies `from` into `to` (made by [`DeviceOptimizer::device_state`] for
    /// the same parameters): every buffer and every counter. The trainer
    /// keeps such a snapshot to restore when a step is refused.
    fn copy_state(&self, device: &D, from: &Self::State, to: &mut Self::State) -> Result<()>;
    /// Queues [`Device::count_nonfinite`] of every state buffer into
    /// `counts[slot]`.
    fn count_state_nonfinite(
        &self,
        device: &D,
        state: &Self::State,
        counts: &mut D::Buffer,
        slot: usize,
    ) -> Result<()>;
}

/// Copies each buffer of `from` into the same one of `to`.
fn copy_all<E: Float, D: Device<E>>(
    device: &D,
    from: &[D::Buffer],
    to: &mut [D::Buffer],
) -> Result<()> {
    for (f, t) in from.iter().zip(to.iter_mut()) {
        device.copy(D::buffer_len(f), f, t)?;
    }
    Ok(())
}

/// Counts the non-finite values of all `buffers` into `counts[slot]`.
fn count_all<E: Float, D: Device<E>>(
    device: &D,
    buffers: &[D::Buffer],
    counts: &mut D::Buffer,
    slot: usize,
) -> Result<()> {
    for b in buffers {
        device.count_nonfinite(D::buffer_len(b), b, counts, slot)?;
    }
    Ok(())
}

/// A zeroed buffer of the same length for each of `buffers`.
fn zeros_like<E: Float, D: Device<E>>(device: &D, buffers: &[D::Buffer]) -> Result<Vec<D::Buffer>> {
    buffers
        .iter()
        .map(|b| device.alloc(D::buffer_len(b)))
        .collect()
}

/// `v` as an `E`, if it is finite and not negative in `E` (so `1e39` is
/// refused for `f32`, where it is infinite) and below `max_exclusive`.
fn check_rate<E: Float>(
    what: &'static str,
    v: f64,
    max_exclusive: Option<f64>,
) -> forma_core::Result<E> {
    let e = E::from_f64(v);
    let ok = e.is_finite() && v >= 0.0 && max_exclusive.is_none_or(|m| e.to_f64() < m);
    if ok {
        Ok(e)
    } else {
        Err(forma_core::Error::Config {
            what,
            got: e.to_f64(),
        })
    }
}
