//! The elementwise formulas every backend shares: activations, loss terms and
//! optimizer updates.
//!
//! The CPU layers, losses and optimizers call these, and so does the [`Cpu`](crate::Cpu)
//! device; the CUDA kernels (`crates/forma-cuda/kernels/*.cu`) write the same
//! formulas in CUDA C. Keeping one Rust copy means the two CPU paths cannot drift.

use crate::Float;

/// An elementwise activation, as a value a device can dispatch on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `x`.
    Identity,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `max(0, x)`; derivative 0 at 0, as in PyTorch.
    ReLU,
    /// `tanh(x)`.
    Tanh,
    /// `x` for `x > 0`, else `slope · x`.
    LeakyReLU {
        /// The slope for negative inputs.
        slope: f64,
    },
}

impl Activation {
    /// `y = f(x)`. Sigmoid uses [`Float::exp_fast`].
    #[inline(always)]
    pub fn apply<E: Float>(self, x: E) -> E {
        match self {
            Activation::Identity => x,
            Activation::Sigmoid => E::ONE / (E::ONE + (-x).exp_fast()),
            Activation::ReLU => {
                if x > E::ZERO {
                    x
                } else {
                    E::ZERO
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::LeakyReLU { slope } => {
                if x > E::ZERO {
                    x
                } else {
                    E::from_f64(slope) * x
                }
            }
        }
    }

    /// Whether [`Activation::derivative`] can be computed from the output
    /// alone (`derivative(y, y) == derivative(x, y)`): true except for a leaky
    /// ReLU with a negative slope. Devices then need not keep the input, and a
    /// layer before the activation may apply it in its own output pass.
    pub fn derivative_from_output(self) -> bool {
        match self {
            Activation::LeakyReLU { slope } => slope >= 0.0,
            _ => true,
        }
    }

    /// `dy/dx` given the input `x` and the output `y = f(x)`.
    #[inline(always)]
    pub fn derivative<E: Float>(self, x: E, y: E) -> E {
        match self {
            Activation::Identity => E::ONE,
            Activation::Sigmoid => y * (E::ONE - y),
            Activation::ReLU => {
                if x > E::ZERO {
                    E::ONE
                } else {
                    E::ZERO
                }
            }
            Activation::Tanh => E::ONE - y * y,
            Activation::LeakyReLU { slope } => {
                if x > E::ZERO {
                    E::ONE
                } else {
                    E::from_f64(slope)
                }
            }
        }
    }
}

/// A loss as a value a device can dispatch on: its per-element term and the
/// reduction over `n` elements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossKind {
    /// `factor · Σ (p - t)²`, divided by `n` if `mean`.
    SquaredError {
        /// 0.5 for the "half" losses, else 1.
        factor: f64,
        /// Mean (true) or sum (false) over the elements.
        mean: bool,
    },
    /// Binary cross-entropy on probabilities (PyTorch's clamps), mean.
    Bce,
    /// Binary cross-entropy on logits, mean.
    BceWithLogits,
}

impl LossKind {
    /// The factor the summed terms and the per-element derivatives are scaled by.
    pub fn scale<E: Float>(self, n: usize) -> E {
        let mean = match self {
            LossKind::SquaredError { mean, .. } => mean,
            LossKind::Bce | LossKind::BceWithLogits => true,
        };
        if mean {
            E::ONE / E::from_f64(n as f64)
        } else {
            E::ONE
        }
    }

    /// One element: `(loss term, d term / d p)` before scaling.
    #[inline(always)]
    pub fn term<E: Float>(self, p: E, t: E) -> (E, E) {
        match self {
            LossKind::SquaredError { factor, .. } => {
                let f = E::from_f64(factor);
                let d = p - t;
                (f * (d * d), (f + f) * d)
            }
            LossKind::Bce => {
                let floor = E::from_f64(-100.0);
                let log_p = p.ln().max(floor);
                let log_q = (E::ONE - p).ln().max(floor);
                let loss = -(t * log_p + (E::ONE - t) * log_q);
                (loss, (p - t) / ((E::ONE - p) * p).max(E::from_f64(1e-12)))
            }
            LossKind::BceWithLogits => {
                let loss = p.max(E::ZERO) - p * t + (E::ONE + (-p.abs()).exp()).ln();
                let sig = if p >= E::ZERO {
                    E::ONE / (E::ONE + (-p).exp())
                } else {
                    let e = p.exp();
                    e / (E::ONE + e)
                };
                (loss, sig - t)
            }
        }
    }

    /// Writes `scale · d` for every element into `grad` and returns
    /// `scale · Σ terms`. The slices have equal lengths.
    pub fn value_and_grad<E: Float>(self, pred: &[E], target: &[E], grad: &mut [E]) -> E {
        let scale: E = self.scale(pred.len());
        let mut total = E::ZERO;
        for ((g, &p), &t) in grad.iter_mut().zip(pred).zip(target) {
            let (l, d) = self.term(p, t);
            total += l;
            *g = scale * d;
        }
        scale * total
    }
}

/// One SGD update's settings (`torch.optim.SGD`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep<E> {
    /// Learning rate.
    pub lr: E,
    /// Momentum (0: none, and no velocity buffer is used).
    pub momentum: E,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: E,
    /// The first step with momentum: the velocity starts as the gradient.
    pub first: bool,
}

impl<E: Float> SgdStep<E> {
    /// Updates `p` from `g`; `v` is the velocity (required when momentum > 0).
    pub fn apply(&self, p: &mut [E], g: &[E], v: Option<&mut [E]>) {
        let (lr, mu, wd) = (self.lr, self.momentum, self.weight_decay);
        let decay = |g: E, p: E| if wd == E::ZERO { g } else { g + wd * p };
        match v {
            Some(v) if mu != E::ZERO => {
                for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                    let g = decay(g, *p);
                    *v = if self.first { g } else { mu * *v + g };
                    let step = if self.nesterov { g + mu * *v } else { *v };
                    *p -= lr * step;
                }
            }
            _ => {
                for (p, &g) in p.iter_mut().zip(g) {
                    *p -= lr * decay(g, *p);
                }
            }
        }
    }
}

/// One Adam/AdamW update's settings (`torch.optim.Adam`, `AdamW`), with the
/// bias corrections of step `t` already computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep<E> {
    /// Learning rate.
    pub lr: E,
    /// First-moment decay.
    pub beta1: E,
    /// Second-moment decay.
    pub beta2: E,
    /// Added to the denominator.
    pub eps: E,
    /// Weight decay: an L2 penalty (Adam) or decoupled (AdamW).
    pub weight_decay: E,
    /// AdamW's decoupled weight decay.
    pub decoupled: bool,
    /// `1 - beta1^t`.
    pub bias1: E,
    /// `1 - beta2^t`.
    pub bias2: E,
}

impl<E: Float> AdamStep<E> {
    /// The settings of step `t` (1-based).
    #[allow(clippy::too_many_arguments)]
    pub fn at(t: i32, lr: E, beta1: E, beta2: E, eps: E, weight_decay: E, decoupled: bool) -> Self {
        AdamStep {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            bias1: E::ONE - E::from_f64(libm::pow(beta1.to_f64(), f64::from(t))),
            bias2: E::ONE - E::from_f64(libm::pow(beta2.to_f64(), f64::from(t))),
        }
    }

    /// Updates `p` from `g` and the moments `m`, `v`.
    pub fn apply(&self, p: &mut [E], g: &[E], m: &mut [E], v: &mut [E]) {
        let s = *self;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = if s.decoupled {
                *p *= E::ONE - s.lr * s.weight_decay;
                g
            } else {
                g + s.weight_decay * *p
            };
            *m = s.beta1 * *m + (E::ONE - s.beta1) * g;
            *v = s.beta2 * *v + (E::ONE - s.beta2) * g * g;
            let denom = (*v / s.bias2).sqrt() + s.eps;
            *p -= s.lr * (*m / s.bias1) / denom;
        }
    }
}
