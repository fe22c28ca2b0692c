//! Adam and AdamW, as `torch.optim.Adam` / `torch.optim.AdamW`.

use forma_core::{AdamStep, Device, Float, Result};
use forma_layers::Params;

use crate::{Optimizer, check_rate};
use forma_layers::{copy_on, count_nonfinite_on};

/// Adam (`decoupled = false`, weight decay added to the gradient) or AdamW
/// (`decoupled = true`, `p *= 1 - lr·wd` before the step):
///
/// ```text
/// m = β1·m + (1-β1)·g      v = β2·v + (1-β2)·g²
/// p -= lr · (m / (1-β1^t)) / (√(v / (1-β2^t)) + ε)
/// ```
#[derive(Clone, Debug)]
pub struct Adam<E, P> {
    lr: E,
    beta1: E,
    beta2: E,
    eps: E,
    weight_decay: E,
    decoupled: bool,
    t: i32,
    moments: Option<(P, P)>,
}

impl<E: Float, P> Adam<E, P> {
    /// Adam with PyTorch's defaults: β = (0.9, 0.999), ε = 1e-8, no weight decay.
    pub fn new(lr: f64) -> Result<Self> {
        let lr = check_rate("Adam learning rate must be finite and >= 0", lr, None)?;
        Ok(Adam {
            lr,
            beta1: E::from_f64(0.9),
            beta2: E::from_f64(0.999),
            eps: E::from_f64(1e-8),
            weight_decay: E::ZERO,
            decoupled: false,
            t: 0,
            moments: None,
        })
    }

    /// AdamW with PyTorch's defaults (weight decay 0.01).
    pub fn adamw(lr: f64) -> Result<Self> {
        let mut a = Self::new(lr)?;
        a.decoupled = true;
        a.weight_decay = E::from_f64(0.01);
        Ok(a)
    }

    /// β1 and β2, each in [0, 1).
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Result<Self> {
        self.beta1 = check_rate("Adam beta1 must be in [0, 1)", beta1, Some(1.0))?;
        self.beta2 = check_rate("Adam beta2 must be in [0, 1)", beta2, Some(1.0))?;
        Ok(self)
    }

    /// ε (finite, not negative).
    pub fn with_eps(mut self, eps: f64) -> Result<Self> {
        // eps = 0 would make the first step 0 / 0 for a zero gradient.
        let e: E = check_rate("Adam eps must be finite and > 0", eps, None)?;
        if e <= E::ZERO {
            return Err(forma_core::Error::Config {
                what: "Adam eps must be finite and > 0 (in the element type)",
                got: e.to_f64(),
            });
        }
        self.eps = e;
        Ok(self)
    }

    /// Weight decay: L2 for Adam, decoupled for AdamW.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Result<Self> {
        self.weight_decay = check_rate(
            "Adam weight decay must be finite and >= 0",
            weight_decay,
            None,
        )?;
        Ok(self)
    }
}

impl<E: Float, P> Adam<E, P> {
    /// The moments, if a step made them.
    pub(crate) fn moments_ref(&self) -> Option<&(P, P)> {
        self.moments.as_ref()
    }

    /// The steps taken (PyTorch's `state['step']`).
    pub(crate) fn steps_taken(&self) -> u64 {
        u64::try_from(self.t).unwrap_or(0)
    }

    /// Sets the moments and the step count (a checkpoint's).
    pub(crate) fn restore_state(&mut self, moments: Option<(P, P)>, t: u64) -> Result<()> {
        self.t = i32::try_from(t).map_err(|_| forma_core::Error::Invalid {
            what: "Adam state: step count t",
            value: t as f64,
            expected: "at most 2^31 - 1",
        })?;
        self.moments = moments;
        Ok(())
    }

    /// Advances the step count and returns that step's settings.
    fn next_step(&mut self) -> AdamStep<E> {
        let step = self.settings(self.t);
        self.t = self.t.saturating_add(1);
        step
    }

    /// The settings of the step after step `t` (`t + 1`), without counting it.
    fn settings(&self, t: i32) -> AdamStep<E> {
        AdamStep::at(
            t.saturating_add(1),
            self.lr,
            self.beta1,
            self.beta2,
            self.eps,
            self.weight_decay,
            self.decoupled,
        )
    }
}

impl<E: Float, P> Adam<E, P> {
    /// The moments, made zero like `params` on first use.
    fn moments<S: ?Sized>(&mut self, params: &P) -> Result<&mut (P, P)>
    where
        P: Params<E, S>,
    {
        forma_core::get_or_try_insert(&mut self.moments, || {
            Ok((params.zeros_like()?, params.zeros_like()?))
        })
    }
}

impl<E: Float, D: Device<E>, P: Params<E, D::Slice>> Optimizer<E, P, D> for Adam<E, P> {
    fn check(&mut self, _device: &D, params: &P, grads: &P) -> Result<()> {
        let step = self.settings(self.t);
        let (m, v) = self.moments(params)?;
        crate::locate::<E, D, P>(params, grads, m, v, |p, g, m, v| {
            step.first_nonfinite(p, g, m, v)
        })
    }

    /// In place in host memory, else by [`Device::adam`].
    fn step(&mut self, device: &D, params: &mut P, grads: &P) -> Result<()> {
        // The moments first: if making them fails, the step count is unchanged.
        self.moments(params)?;
        let step = self.next_step();
        let (m, v) = self.moments(params)?;
        let mut result = Ok(());
        params.zip3_mut(grads, m, v, &mut |p, g, m, v| {
            if result.is_err() {
                return;
            }
            match (D::host_mut(p), D::host(g), D::host_mut(m), D::host_mut(v)) {
                (Some(p), Some(g), Some(m), Some(v)) => step.apply(p, g, m, v),
                _ => result = device.adam(D::len(p), &step, p, g, m, v),
            }
        });
        result
    }

    fn learning_rate(&self) -> f64 {
        self.lr.to_f64()
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.lr = check_rate("Adam learning rate must be finite and >= 0", lr, None)?;
        Ok(())
    }

    fn fresh(&self) -> Self {
        Adam {
            t: 0,
            moments: None,
            ..*self
        }
    }

    fn copy_state(&mut self, device: &D, from: &Self, like: &P) -> Result<()> {
        self.t = from.t;
        match &from.moments {
            None => self.moments = None,
            Some((fm, fv)) => {
                let (m, v) = self.moments(like)?;
                copy_on::<E, D, P>(device, fm, m)?;
                copy_on::<E, D, P>(device, fv, v)?;
            }
        }
        Ok(())
    }

    fn count_state_nonfinite(&self, device: &D, counts: &mut D::Slice, slot: usize) -> Result<()> {
        match &self.moments {
            Some((m, v)) => {
                count_nonfinite_on::<E, D, P>(device, m, counts, |_| slot)?;
                count_nonfinite_on::<E, D, P>(device, v, counts, |_| slot)
            }
            None => Ok(()),
        }
    }
}
