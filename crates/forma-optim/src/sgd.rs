//! Stochastic gradient descent, as `torch.optim.SGD`.

use forma_core::{Device, Float, Result, SgdStep};
use forma_layers::Params;

use crate::{Optimizer, check_rate};
use forma_layers::{copy_on, count_nonfinite_on};

/// `p -= lr · g`, with optional momentum (`dampening` 0), Nesterov and L2
/// weight decay, following `torch.optim.SGD` exactly:
///
/// ```text
/// g = g + weight_decay · p
/// buf = g (first step) | momentum · buf + g
/// g = g + momentum · buf (nesterov) | buf
/// p = p - lr · g
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<E, P> {
    lr: E,
    momentum: E,
    nesterov: bool,
    weight_decay: E,
    velocity: Option<P>,
    /// The largest `|p|` and `|v|` the last host step wrote.
    bounds: Option<(E, E)>,
}

impl<E: Float, P> Sgd<E, P> {
    /// Plain SGD with learning rate `lr` (finite, not negative).
    pub fn new(lr: f64) -> Result<Self> {
        let lr = check_rate("SGD learning rate must be finite and >= 0", lr, None)?;
        Ok(Sgd {
            lr,
            momentum: E::ZERO,
            nesterov: false,
            weight_decay: E::ZERO,
            velocity: None,
            bounds: None,
        })
    }

    /// Momentum in [0, 1).
    pub fn with_momentum(mut self, momentum: f64) -> Result<Self> {
        self.momentum = check_rate("SGD momentum must be in [0, 1)", momentum, Some(1.0))?;
        Ok(self)
    }

    /// Nesterov momentum (needs a momentum above 0).
    pub fn with_nesterov(mut self) -> Result<Self> {
        if self.momentum == E::ZERO {
            return Err(forma_core::Error::Config {
                what: "Nesterov SGD needs a momentum above 0",
                got: self.momentum.to_f64(),
            });
        }
        self.nesterov = true;
        Ok(self)
    }

    /// L2 weight decay (finite, not negative).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Result<Self> {
        self.weight_decay = check_rate(
            "SGD weight decay must be finite and >= 0",
            weight_decay,
            None,
        )?;
        Ok(self)
    }
}

impl<E: Float, P> Sgd<E, P> {
    /// The momentum buffer, if a step with momentum made it.
    pub(crate) fn velocity(&self) -> Option<&P> {
        self.velocity.as_ref()
    }

    /// Sets the momentum buffer (a checkpoint's); the next check reads every
    /// parameter.
    pub(crate) fn restore_velocity(&mut self, velocity: Option<P>) {
        self.velocity = velocity;
        self.bounds = None;
    }

    /// The settings of the next step.
    fn settings(&self, first: bool) -> SgdStep<E> {
        SgdStep {
            lr: self.lr,
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            first,
        }
    }
}

impl<E: Float, D: Device<E>, P: Params<E, D::Slice>> Optimizer<E, P, D> for Sgd<E, P> {
    fn check(&mut self, _device: &D, params: &P, grads: &P) -> Result<()> {
        if self.momentum == E::ZERO {
            let step = self.settings(false);
            return crate::locate::<E, D, P>(params, grads, params, params, |p, g, _, _| {
                step.first_nonfinite(p, g, None)
            });
        }
        let step = self.settings(self.velocity.is_none());
        let velocity = self.velocity.as_ref().unwrap_or(params);
        crate::locate::<E, D, P>(params, grads, velocity, params, |p, g, v, _| {
            step.first_nonfinite(p, g, Some(v))
        })
    }

    #[inline]
    fn check_after_step(&mut self, device: &D, params: &P, grads: &P) -> Result<()> {
        let Some((p_max, v_max)) = self.bounds else {
            return self.check(device, params, grads);
        };
        // The gradients' bound as the backward measured it, else one pass.
        let (finite, g_max) = match grads.known_max() {
            Some(g_max) => (true, g_max),
            None => {
                let (mut finite, mut g_max) = (true, E::ZERO);
                grads.visit(&mut |g| match D::host(g) {
                    Some(g) => {
                        let (f, m) = forma_core::math::pointwise::scan_finite_max(g);
                        finite &= f;
                        g_max = g_max.max(m);
                    }
                    None => finite = false,
                });
                (finite, g_max)
            }
        };
        let step = self.settings(self.velocity.is_none());
        if finite && step.bounded(p_max, v_max, g_max) {
            return Ok(());
        }
        self.check(device, params, grads)
    }

    /// In place in host memory (keeping the bounds
    /// [`Optimizer::check_after_step`] uses), else by [`Device::sgd`].
    #[inline]
    fn step(&mut self, device: &D, params: &mut P, grads: &P) -> Result<()> {
        let (mut p_max, mut v_max, mut host) = (E::ZERO, E::ZERO, true);
        let mut result = Ok(());
        let step = self.settings(self.momentum != E::ZERO && self.velocity.is_none());
        let mut update = |p: &mut D::Slice, g: &D::Slice, v: Option<&mut D::Slice>| {
            if result.is_err() {
                return;
            }
            match (D::host_mut(p), D::host(g)) {
                (Some(p), Some(g)) => {
                    let (pm, vm) = step.apply(p, g, v.and_then(|v| D::host_mut(v)));
                    p_max = p_max.max(pm);
                    v_max = v_max.max(vm);
                }
                _ => {
                    host = false;
                    result = device.sgd(D::len(p), &step, p, g, v);
                }
            }
        };
        if self.momentum == E::ZERO {
            params.zip_mut(grads, &mut |p, g| update(p, g, None));
        } else {
            let velocity =
                forma_core::get_or_try_insert(&mut self.velocity, || params.zeros_like())?;
            params.zip2_mut(grads, velocity, &mut |p, g, v| update(p, g, Some(v)));
        }
        result?;
        self.bounds = host.then_some((p_max, v_max));
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr.to_f64()
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.lr = check_rate("SGD learning rate must be finite and >= 0", lr, None)?;
        Ok(())
    }

    fn fresh(&self) -> Self {
        Sgd {
            velocity: None,
            bounds: None,
            ..*self
        }
    }

    fn copy_state(&mut self, device: &D, from: &Self, like: &P) -> Result<()> {
        self.bounds = from.bounds;
        match &from.velocity {
            None => self.velocity = None,
            Some(v) => {
                let to = forma_core::get_or_try_insert(&mut self.velocity, || like.zeros_like())?;
                copy_on::<E, D, P>(device, v, to)?;
            }
        }
        Ok(())
    }

    fn count_state_nonfinite(&self, device: &D, counts: &mut D::Slice, slot: usize) -> Result<()> {
        match &self.velocity {
            Some(v) => count_nonfinite_on::<E, D, P>(device, v, counts, |_| slot),
            None => Ok(()),
        }
    }
}
