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
    /// `max(0, x)`; derivative 0 at 0, as in PyTorch. NaN stays NaN (as in
    /// PyTorch), so a NaN input reaches the loss instead of vanishing.
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
                // `x <= 0` is false for NaN: NaN propagates, as in PyTorch.
                if x <= E::ZERO { E::ZERO } else { x }
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
    /// Binary cross-entropy on probabilities (PyTorch's clamps), mean. A
    /// prediction outside [0, 1] gives NaN (the host loss refuses it first).
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
                // Not a probability: NaN on every device (the host loss names
                // the row first), never a clamped log that looks like a loss.
                if !(p >= E::ZERO && p <= E::ONE) {
                    let nan = E::from_f64(f64::NAN);
                    return (nan, nan);
                }
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
    /// One element without momentum: the new parameter.
    #[inline(always)]
    fn plain(&self, p: E, g: E) -> E {
        let g = if self.weight_decay == E::ZERO {
            g
        } else {
            g + self.weight_decay * p
        };
        p - self.lr * g
    }

    /// One element with momentum: the new parameter and velocity.
    #[inline(always)]
    fn with_momentum(&self, p: E, g: E, v: E) -> (E, E) {
        let mu = self.momentum;
        let g = if self.weight_decay == E::ZERO {
            g
        } else {
            g + self.weight_decay * p
        };
        let v = if self.first { g } else { mu * v + g };
        let step = if self.nesterov { g + mu * v } else { v };
        (p - self.lr * step, v)
    }

    /// Updates `p` from `g`; `v` is the velocity (required when momentum > 0).
    pub fn apply(&self, p: &mut [E], g: &[E], v: Option<&mut [E]>) {
        match v {
            Some(v) if self.momentum != E::ZERO => {
                for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                    (*p, *v) = self.with_momentum(*p, g, *v);
                }
            }
            _ => {
                for (p, &g) in p.iter_mut().zip(g) {
                    *p = self.plain(*p, g);
                }
            }
        }
    }

    /// What [`SgdStep::apply`] would do, without doing it: `None` if every
    /// new parameter (and velocity) would be finite, else the first element
    /// that would not be, with the value it would get. Vectorised on the
    /// happy path; the exact position is looked up only when one is found.
    pub fn first_nonfinite(&self, p: &[E], g: &[E], v: Option<&[E]>) -> Option<(usize, E)> {
        match v {
            Some(v) if self.momentum != E::ZERO => {
                let new = |i: usize| self.with_momentum(p[i], g[i], v[i]);
                let n = p.len().min(g.len()).min(v.len());
                let all = finite3(p, g, v, |p, g, v| {
                    let (p, v) = self.with_momentum(p, g, v);
                    p * E::ZERO + v * E::ZERO
                });
                if all {
                    return None;
                }
                (0..n).find_map(|i| {
                    let (p, v) = new(i);
                    (!p.is_finite())
                        .then_some((i, p))
                        .or((!v.is_finite()).then_some((i, v)))
                })
            }
            _ => {
                let all = finite2(p, g, |p, g| self.plain(p, g) * E::ZERO);
                if all {
                    return None;
                }
                p.iter()
                    .zip(g)
                    .map(|(&p, &g)| self.plain(p, g))
                    .enumerate()
                    .find(|(_, p)| !p.is_finite())
            }
        }
    }
}

// Whether `f` gives zero for every element (each term is `x · 0` for the
// values `x` it computes): `inf · 0` and `NaN · 0` are NaN, and so is any
// sum holding one, so a zero sum means every value was finite. Eight
// running sums over chunks of exactly eight let the compiler vectorise it
// (no bounds checks, independent lanes).

/// Eight lanes' sum, zero iff all were zero.
#[inline(always)]
fn lanes_zero<E: Float>(lanes: [E; 8], tail: E) -> bool {
    lanes.iter().fold(tail, |a, &b| a + b) == E::ZERO
}

#[inline(always)]
fn finite2<E: Float>(a: &[E], b: &[E], f: impl Fn(E, E) -> E) -> bool {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [E::ZERO; 8];
    for (a, b) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for l in 0..8 {
            lanes[l] += f(a[l], b[l]);
        }
    }
    let tail = n - n % 8;
    let rest = a[tail..].iter().zip(&b[tail..]);
    lanes_zero(lanes, rest.fold(E::ZERO, |t, (&a, &b)| t + f(a, b)))
}

#[inline(always)]
fn finite3<E: Float>(a: &[E], b: &[E], c: &[E], f: impl Fn(E, E, E) -> E) -> bool {
    let n = a.len().min(b.len()).min(c.len());
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    let mut lanes = [E::ZERO; 8];
    let chunks = a.chunks_exact(8).zip(b.chunks_exact(8)).zip(c.chunks_exact(8));
    for ((a, b), c) in chunks {
        for l in 0..8 {
            lanes[l] += f(a[l], b[l], c[l]);
        }
    }
    let tail = n - n % 8;
    let rest = a[tail..].iter().zip(&b[tail..]).zip(&c[tail..]);
    lanes_zero(lanes, rest.fold(E::ZERO, |t, ((&a, &b), &c)| t + f(a, b, c)))
}

#[inline(always)]
fn finite4<E: Float>(a: &[E], b: &[E], c: &[E], d: &[E], f: impl Fn(E, E, E, E) -> E) -> bool {
    let n = a.len().min(b.len()).min(c.len()).min(d.len());
    let (a, b, c, d) = (&a[..n], &b[..n], &c[..n], &d[..n]);
    let mut lanes = [E::ZERO; 8];
    let chunks = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .zip(c.chunks_exact(8))
        .zip(d.chunks_exact(8));
    for (((a, b), c), d) in chunks {
        for l in 0..8 {
            lanes[l] += f(a[l], b[l], c[l], d[l]);
        }
    }
    let tail = n - n % 8;
    let rest = a[tail..]
        .iter()
        .zip(&b[tail..])
        .zip(&c[tail..])
        .zip(&d[tail..]);
    lanes_zero(
        lanes,
        rest.fold(E::ZERO, |t, (((&a, &b), &c), &d)| t + f(a, b, c, d)),
    )
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

    /// One element: the new parameter and moments.
    #[inline(always)]
    fn element(&self, p: E, g: E, m: E, v: E) -> (E, E, E) {
        let s = self;
        let (p, g) = if s.decoupled {
            (p * (E::ONE - s.lr * s.weight_decay), g)
        } else {
            (p, g + s.weight_decay * p)
        };
        let m = s.beta1 * m + (E::ONE - s.beta1) * g;
        let v = s.beta2 * v + (E::ONE - s.beta2) * g * g;
        let denom = (v / s.bias2).sqrt() + s.eps;
        (p - s.lr * (m / s.bias1) / denom, m, v)
    }

    /// Updates `p` from `g` and the moments `m`, `v`.
    pub fn apply(&self, p: &mut [E], g: &[E], m: &mut [E], v: &mut [E]) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            (*p, *m, *v) = self.element(*p, g, *m, *v);
        }
    }

    /// What [`AdamStep::apply`] would do, without doing it: `None` if every
    /// new parameter and moment would be finite, else the first element that
    /// would not be, with the value it would get.
    pub fn first_nonfinite(&self, p: &[E], g: &[E], m: &[E], v: &[E]) -> Option<(usize, E)> {
        let zip = || {
            p.iter()
                .zip(g)
                .zip(m)
                .zip(v)
                .map(|(((&p, &g), &m), &v)| (p, g, m, v))
        };
        let all = finite4(p, g, m, v, |p, g, m, v| {
            let (p, m, v) = self.element(p, g, m, v);
            p * E::ZERO + m * E::ZERO + v * E::ZERO
        });
        if all {
            return None;
        }
        zip().enumerate().find_map(|(i, (p, g, m, v))| {
            let (p, m, v) = self.element(p, g, m, v);
            [p, m, v]
                .into_iter()
                .find(|x| !x.is_finite())
                .map(|x| (i, x))
        })
    }
}
