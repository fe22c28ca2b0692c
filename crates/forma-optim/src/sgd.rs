//! Stochastic gradient descent, as `torch.optim.SGD`.

use alloc::vec::Vec;

use forma_core::{Device, Float, Result, SgdStep};
use forma_layers::Params;

use crate::{DeviceOptimizer, Optimizer, check_rate, copy_all, count_all, zeros_like};

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

impl<E: Float, P: Params<E>> Sgd<E, P> {
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

impl<E: Float, P: Params<E>> Optimizer<E, P> for Sgd<E, P> {
    fn check(&mut self, params: &P, grads: &P) -> Result<()> {
        if self.momentum == E::ZERO {
            let step = self.settings(false);
            return crate::locate(params, grads, params, params, |p, g, _, _| {
                step.first_nonfinite(p, g, None)
            });
        }
        // Before the first step the velocity is not read (it starts as the
        // gradient): the parameters stand in for it.
        let step = self.settings(self.velocity.is_none());
        let velocity = self.velocity.as_ref().unwrap_or(params);
        crate::locate(params, grads, velocity, params, |p, g, v, _| {
            step.first_nonfinite(p, g, Some(v))
        })
    }

    fn check_after_step(&mut self, params: &P, grads: &P) -> Result<()> {
        let Some((p_max, v_max)) = self.bounds else {
            return self.check(params, grads);
        };
        let (mut finite, mut g_max) = (true, E::ZERO);
        grads.visit(&mut |g| {
            let (f, m) = forma_core::math::pointwise::scan_finite_max(g);
            finite &= f;
            g_max = g_max.max(m);
        });
        let step = self.settings(self.velocity.is_none());
        if finite && step.bounded(p_max, v_max, g_max) {
            return Ok(());
        }
        // A non-finite gradient to name, or an update that may overflow.
        self.check(params, grads)
    }

    fn step(&mut self, params: &mut P, grads: &P) {
        let (mut p_max, mut v_max) = (E::ZERO, E::ZERO);
        let mut keep = |(p, v): (E, E)| {
            p_max = p_max.max(p);
            v_max = v_max.max(v);
        };
        if self.momentum == E::ZERO {
            let step = self.settings(false);
            params.zip_mut(grads, &mut |p, g| keep(step.apply(p, g, None)));
        } else {
            let step = self.settings(self.velocity.is_none());
            let velocity = self.velocity.get_or_insert_with(|| params.zeros_like());
            params.zip2_mut(grads, velocity, &mut |p, g, v| {
                keep(step.apply(p, g, Some(v)))
            });
        }
        self.bounds = Some((p_max, v_max));
    }
}

/// SGD's state on a device: one velocity buffer per parameter buffer (none
/// without momentum).
pub struct SgdState<B> {
    velocity: Vec<B>,
    started: bool,
}

impl<E: Float, D: Device<E>, P: Params<E>> DeviceOptimizer<E, D, P> for Sgd<E, P> {
    type State = SgdState<D::Buffer>;

    fn device_state(&self, device: &D, params: &[D::Buffer]) -> Result<Self::State> {
        let velocity = if self.momentum == E::ZERO {
            Vec::new()
        } else {
            zeros_like(device, params)?
        };
        Ok(SgdState {
            velocity,
            started: false,
        })
    }

    fn step_on(
        &mut self,
        device: &D,
        params: &mut [D::Buffer],
        grads: &[D::Buffer],
        state: &mut Self::State,
    ) -> Result<()> {
        let step = self.settings(!state.started);
        state.started = true;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let len = D::buffer_len(p);
            device.sgd(len, &step, p, g, state.velocity.get_mut(i))?;
        }
        Ok(())
    }

    fn copy_state(&self, device: &D, from: &Self::State, to: &mut Self::State) -> Result<()> {
        to.started = from.started;
        copy_all(device, &from.velocity, &mut to.velocity)
    }

    fn count_state_nonfinite(
        &self,
        device: &D,
        state: &Self::State,
        counts: &mut D::Buffer,
        slot: usize,
    ) -> Result<()> {
        count_all(device, &state.velocity, counts, slot)
    }
}
