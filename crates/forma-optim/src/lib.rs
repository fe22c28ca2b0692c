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
mod checkpoint;
mod sgd;

pub use adam::Adam;
pub use checkpoint::Stateful;
pub use sgd::Sgd;

use forma_core::{Cpu, Device, Float, Result};
use forma_layers::Params;

/// Updates parameters `P`, held on device `D` (the [`Cpu`] unless named),
/// from their gradient (a value of the same type). State (momentum, Adam
/// moments) is a `P` too, made on the first step in the parameters' place.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot update `{P}` on device `{D}`",
    note = "optimizers: Sgd, Adam (with the model's type as their second parameter, usually inferred)"
)]
pub trait Optimizer<E: Float, P: Params<E, D::Slice>, D: Device<E> = Cpu> {
    /// Whether [`Optimizer::step`] with these arguments would leave every
    /// parameter and every piece of optimizer state finite, computed without
    /// writing anything (the trainer calls it before each update, so a
    /// refused step changes nothing). `Err(Error::Parameter)` names the
    /// parameter tensor and element: `what` is [`GRADIENT`](forma_core::GRADIENT) when a gradient
    /// is not finite (the first one in visiting order), else `"update"`.
    /// It may create zeroed state on the first call, as `step` would.
    ///
    /// It reads the parameters in place, so it checks only on a device the
    /// host can read ([`Device::host`]); elsewhere it returns `Ok` and the
    /// trainer counts non-finite values on the device after the update
    /// instead ([`Optimizer::count_state_nonfinite`]).
    fn check(&mut self, device: &D, params: &P, grads: &P) -> Result<()>;
    /// [`Optimizer::check`] for parameters known to be exactly what this
    /// optimizer's last [`Optimizer::step`] left: it may then decide from
    /// bounds kept by that step (the largest parameter and state) and the
    /// gradient's bound ([`Params::known_max`]
    /// where the backward measured it, else one pass over the gradient),
    /// instead of reading every parameter. The
    /// trainer calls it unless the model was handed out mutably since. The
    /// default is [`Optimizer::check`].
    fn check_after_step(&mut self, device: &D, params: &P, grads: &P) -> Result<()> {
        self.check(device, params, grads)
    }
    /// One update: `params -= f(grads, state)`.
    fn step(&mut self, device: &D, params: &mut P, grads: &P) -> Result<()>;
    /// The learning rate the next step uses.
    fn learning_rate(&self) -> f64;
    /// Sets the learning rate of the next steps (a schedule's), checked as
    /// the constructor checks it: finite and not negative in `E`.
    fn set_learning_rate(&mut self, lr: f64) -> Result<()>;
    /// The same settings with no state (as before the first step): the
    /// snapshot a trainer keeps, on a device the host cannot read, to
    /// restore a refused step.
    fn fresh(&self) -> Self
    where
        Self: Sized;
    /// Copies every piece of state from `from` (an optimizer for the same
    /// parameters): buffers and step counters.
    fn copy_state(&mut self, device: &D, from: &Self, like: &P) -> Result<()>
    where
        Self: Sized;
    /// Queues [`Device::count_nonfinite`] of every state buffer into
    /// `counts[slot]`.
    fn count_state_nonfinite(&self, device: &D, counts: &mut D::Slice, slot: usize) -> Result<()>;
}

/// Runs `find` over every parameter tensor with its gradient and two state
/// tensors, in host memory; on the first tensor where it reports an element,
/// names it as an [`Error::Parameter`](forma_core::Error::Parameter): the
/// first non-finite gradient of the whole model if there is one (the cause),
/// else the update. On a device the host cannot read it checks nothing.
fn locate<E: Float, D: Device<E>, P: Params<E, D::Slice>>(
    params: &P,
    grads: &P,
    s: &P,
    t: &P,
    mut find: impl FnMut(&[E], &[E], &[E], &[E]) -> Option<(usize, E)>,
) -> Result<()> {
    let (mut tensor, mut found) = (0, None);
    params.zip3(grads, s, t, &mut |p, g, s, t| {
        if found.is_none()
            && let (Some(p), Some(g), Some(s), Some(t)) =
                (D::host(p), D::host(g), D::host(s), D::host(t))
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
            && let Some(g) = D::host(g)
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
