//! Stochastic gradient descent, as `torch.optim.SGD`.

use forma_core::{Float, Result};
use forma_layers::Params;

use crate::{Optimizer, check_rate};

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
}

impl<E: Float, P: Params<E>> Sgd<E, P> {
    /// Plain SGD with learning rate `lr` (finite, not negative).
    pub fn new(lr: f64) -> Result<Self> {
        let lr = check_rate("SGD learning rate must be finite and >= 0", lr, None)?;
        Ok(Sgd {
            lr: E::from_f64(lr),
            momentum: E::ZERO,
            nesterov: false,
            weight_decay: E::ZERO,
            velocity: None,
        })
    }

    /// Momentum in [0, 1).
    pub fn with_momentum(mut self, momentum: f64) -> Result<Self> {
        self.momentum = E::from_f64(check_rate(
            "SGD momentum must be in [0, 1)",
            momentum,
            Some(1.0),
        )?);
        Ok(self)
    }

    /// Nesterov momentum (needs a momentum above 0).
    pub fn with_nesterov(mut self) -> Result<Self> {
        if self.momentum == E::ZERO {
            return Err(forma_core::Error::Config {
                what: "Nesterov SGD needs a momentum above 0",
            });
        }
        self.nesterov = true;
        Ok(self)
    }

    /// L2 weight decay (finite, not negative).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Result<Self> {
        self.weight_decay = E::from_f64(check_rate(
            "SGD weight decay must be finite and >= 0",
            weight_decay,
            None,
        )?);
        Ok(self)
    }
}

impl<E: Float, P: Params<E>> Optimizer<E, P> for Sgd<E, P> {
    fn step(&mut self, params: &mut P, grads: &P) {
        let (lr, mu, wd, nesterov) = (self.lr, self.momentum, self.weight_decay, self.nesterov);
        if mu == E::ZERO {
            params.zip_mut(grads, &mut |p, g| {
                for (p, &g) in p.iter_mut().zip(g) {
                    let g = if wd == E::ZERO { g } else { g + wd * *p };
                    *p -= lr * g;
                }
            });
            return;
        }
        let first = self.velocity.is_none();
        let velocity = self.velocity.get_or_insert_with(|| params.zeros_like());
        params.zip2_mut(grads, velocity, &mut |p, g, v| {
            for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                let g = if wd == E::ZERO { g } else { g + wd * *p };
                *v = if first { g } else { mu * *v + g };
                let step = if nesterov { g + mu * *v } else { *v };
                *p -= lr * step;
            }
        });
    }
}
