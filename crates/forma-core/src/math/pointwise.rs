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
    /// `tanh(x)` ([`Float::tanh_fast`]).
    Tanh,
    /// `x` for `x > 0`, else `slope · x`.
    LeakyReLU {
        /// The slope for negative inputs.
        slope: f64,
    },
}

impl Activation {
    /// `y = f(x)`. Sigmoid uses [`Float::exp_fast`] and tanh
    /// [`Float::tanh_fast`]: in `f32` both vectorise (with libm's `tanhf`,
    /// a call per element, a training step of iris's shape with a tanh
    /// hidden layer took 17.5 µs, with `tanh_fast` 1.69 µs; Zen 5,
    /// 2026-12-03), in `f64` both are libm's.
    #[inline(always)]
    pub fn apply<E: Float>(self, x: E) -> E {
        match self {
            Activation::Identity => x,
            Activation::Sigmoid => E::ONE / (E::ONE + (-x).exp_fast()),
            Activation::ReLU => {
                // `x <= 0` is false for NaN: NaN propagates, as in PyTorch.
                if x <= E::ZERO { E::ZERO } else { x }
            }
            Activation::Tanh => x.tanh_fast(),
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

/// Elementwise arithmetic on two tensors, as a value a device can dispatch
/// on: the small algebra that layers beyond the built-in ones are made of
/// (a residual block adds, a gate multiplies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a · b`.
    Mul,
}

impl Binary {
    /// `a op b`.
    #[inline(always)]
    pub fn apply<E: Float>(self, a: E, b: E) -> E {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
        }
    }
}

/// Which way a reduction of a `rows x cols` matrix runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Over the rows: one sum per column (`cols` values; a bias gradient).
    Rows,
    /// Over the columns: one sum per row (`rows` values).
    Columns,
}

impl Axis {
    /// The number of sums for a `rows x cols` matrix.
    pub fn len(self, rows: usize, cols: usize) -> usize {
        match self {
            Axis::Rows => cols,
            Axis::Columns => rows,
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
    /// prediction outside [0, 1] (or NaN) gives NaN, on every device: the
    /// loss then looks for it, to name its row and column.
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
                let log_p = p.ln_fast().max(floor);
                let log_q = (E::ONE - p).ln_fast().max(floor);
                let loss = -(t * log_p + (E::ONE - t) * log_q);
                let d = (p - t) / ((E::ONE - p) * p).max(E::from_f64(1e-12));
                // Not a probability: NaN on every device (the host loss names
                // the row first), never a clamped log that looks like a loss.
                // A select, not an early return, so the loop vectorises.
                if p >= E::ZERO && p <= E::ONE {
                    (loss, d)
                } else {
                    let nan = E::from_f64(f64::NAN);
                    (nan, nan)
                }
            }
            LossKind::BceWithLogits => {
                let e = (-p.abs()).exp_fast();
                let loss = p.max(E::ZERO) - p * t + (E::ONE + e).ln_fast();
                // σ(p) from e^-|p|, which cannot overflow.
                let sig = if p >= E::ZERO {
                    E::ONE / (E::ONE + e)
                } else {
                    e / (E::ONE + e)
                };
                (loss, sig - t)
            }
        }
    }

    /// Writes `scale · d` for every element into `grad` and returns
    /// `scale · Σ terms`. The slices have equal lengths.
    ///
    /// The terms are summed in eight interleaved partial sums (element `i`
    /// into sum `i mod 8`, the tail too), totalled by
    /// [`sum_lanes`](super::reduce::sum_lanes): the order is fixed, so the result is the same at every
    /// instruction-set level, and the loop vectorises.
    #[inline(always)]
    pub fn value_and_grad<E: Float>(self, pred: &[E], target: &[E], grad: &mut [E]) -> E {
        match self {
            LossKind::SquaredError { .. } => self.sum_terms(pred, target, grad),
            LossKind::Bce => LossKind::Bce.sum_terms(pred, target, grad),
            LossKind::BceWithLogits => LossKind::BceWithLogits.sum_terms(pred, target, grad),
        }
    }

    /// [`LossKind::value_and_grad`] for one kind: called with a constant
    /// `self`, so the match in [`LossKind::term`] leaves the loop.
    #[inline(always)]
    fn sum_terms<E: Float>(self, pred: &[E], target: &[E], grad: &mut [E]) -> E {
        let n = pred.len().min(target.len()).min(grad.len());
        let scale: E = self.scale(n);
        let (pred, target, grad) = (&pred[..n], &target[..n], &mut grad[..n]);
        let mut sums = [E::ZERO; 8];
        // Sixteen at a time, each sum taking its element of the first eight
        // and then of the second: the order of the eight-wide loop below,
        // with the terms computed sixteen wide (one AVX-512 vector of f32).
        let wide = n - n % 16;
        let chunks = grad[..wide]
            .chunks_exact_mut(16)
            .zip(pred[..wide].chunks_exact(16))
            .zip(target[..wide].chunks_exact(16));
        for ((g, p), t) in chunks {
            let mut v = [E::ZERO; 16];
            for l in 0..16 {
                let d;
                (v[l], d) = self.term(p[l], t[l]);
                g[l] = scale * d;
            }
            for l in 0..8 {
                sums[l] = sums[l] + v[l] + v[l + 8];
            }
        }
        let chunks = grad[wide..]
            .chunks_exact_mut(8)
            .zip(pred[wide..].chunks_exact(8))
            .zip(target[wide..].chunks_exact(8));
        for ((g, p), t) in chunks {
            for l in 0..8 {
                let (v, d) = self.term(p[l], t[l]);
                sums[l] += v;
                g[l] = scale * d;
            }
        }
        // The tail (fewer than 8 elements) goes into the same lanes. For
        // BCE in f32 it runs through all 8, padded with 0.5 (a valid
        // prediction and target) and the padding masked out of the sums: a
        // tiny batch (XOR's 4 rows) then costs one vector pass instead of a
        // scalar chain of logarithms each. A squared error's term is three
        // operations, cheaper than the padding (Mazur's 2-output step was
        // 5% slower padded), and f64's logarithms are libm calls, which
        // padding would only multiply.
        let tail = n - n % 8;
        let rest = n - tail;
        if matches!(self, LossKind::SquaredError { .. }) || !E::VECTOR_TRANSCENDENTALS {
            let rows = grad[tail..]
                .iter_mut()
                .zip(&pred[tail..])
                .zip(&target[tail..]);
            for (l, ((g, &p), &t)) in rows.enumerate() {
                let (v, d) = self.term(p, t);
                sums[l] += v;
                *g = scale * d;
            }
        } else if rest > 0 {
            let half = E::from_f64(0.5);
            let (mut p, mut t, mut g) = ([half; 8], [half; 8], [E::ZERO; 8]);
            // Element loops, not `copy_from_slice`: with a length known only
            // at run time those were `memcpy` calls, three a step for XOR.
            for l in 0..rest {
                (p[l], t[l]) = (pred[tail + l], target[tail + l]);
            }
            for l in 0..8 {
                let (v, d) = self.term(p[l], t[l]);
                sums[l] += if l < rest { v } else { E::ZERO };
                g[l] = scale * d;
            }
            for (d, &v) in grad[tail..].iter_mut().zip(&g) {
                *d = v;
            }
        }
        scale * super::reduce::sum_lanes(sums)
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
    /// Returns the largest `|p|` and `|v|` it wrote (0 for `v` without
    /// momentum; NaN if it wrote one): a bound from which the next step's check can tell that its
    /// update cannot overflow without reading every parameter again.
    ///
    /// Vectorised for the best instruction set present, and split over the
    /// thread pool above [`PARALLEL_MIN_BYTES`] (each element is computed
    /// alone, so the result does not depend on the split).
    #[inline]
    pub fn apply(&self, p: &mut [E], g: &[E], v: Option<&mut [E]>) -> (E, E) {
        #[cfg(feature = "std")]
        if let Some(parts) = parts_for::<E>(p.len()) {
            use std::sync::Mutex;
            let size = p.len().div_ceil(parts);
            let count = p.len().div_ceil(size);
            let mut vs = v.map(|v| v.chunks_mut(size));
            let pieces = p
                .chunks_mut(size)
                .zip(g.chunks(size))
                .map(|(p, g)| (p, g, vs.as_mut().and_then(|v| v.next())));
            let top = Mutex::new((E::AbsBits::default(), E::AbsBits::default()));
            super::parallel::run_pieces(pieces, count, &|_, (p, g, v)| {
                let (pm, vm) = sgd_apply(self, p, g, v);
                let mut top = top.lock().unwrap_or_else(|e| e.into_inner());
                *top = (top.0.max(pm.abs_bits()), top.1.max(vm.abs_bits()));
            });
            let (pm, vm) = top.into_inner().unwrap_or_else(|e| e.into_inner());
            return (E::from_abs_bits(pm), E::from_abs_bits(vm));
        }
        sgd_apply(self, p, g, v)
    }

    /// [`SgdStep::apply`] on this thread (inlined into each instruction-set
    /// copy of `sgd_apply`).
    #[inline(always)]
    fn apply_here(&self, p: &mut [E], g: &[E], v: Option<&mut [E]>) -> (E, E) {
        // Integer maxima of the bits of |x|: a NaN counts as the largest
        // (a float comparison would skip it), so a bound is never too small.
        // An integer maximum is associative, so the plain loops vectorise as
        // they are. (Eight explicit lanes made LLVM vectorise across them
        // with gathers: three times slower.)
        let (mut pm, mut vm) = (E::AbsBits::default(), E::AbsBits::default());
        match v {
            Some(v) if self.momentum != E::ZERO => {
                for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                    (*p, *v) = self.with_momentum(*p, g, *v);
                    pm = pm.max(p.abs_bits());
                    vm = vm.max(v.abs_bits());
                }
            }
            _ => {
                for (p, &g) in p.iter_mut().zip(g) {
                    *p = self.plain(*p, g);
                    pm = pm.max(p.abs_bits());
                }
            }
        }
        (E::from_abs_bits(pm), E::from_abs_bits(vm))
    }

    /// Whether an update from parameters and velocities no larger than
    /// `p_max` and `v_max` (in absolute value), with gradients no larger
    /// than `g_max`, certainly stays finite, with a margin of 4 for
    /// rounding (`|p'| <= p_max + lr·(g_max + wd·p_max + momentum terms)`).
    /// False means "check every element".
    pub fn bounded(&self, p_max: E, v_max: E, g_max: E) -> bool {
        let g = g_max + self.weight_decay * p_max;
        let (step, v) = if self.momentum == E::ZERO {
            (g, E::ZERO)
        } else {
            let v = if self.first {
                g
            } else {
                self.momentum * v_max + g
            };
            let step = if self.nesterov {
                g + self.momentum * v
            } else {
                v
            };
            (step, v)
        };
        let margin = E::from_f64(4.0);
        ((p_max + self.lr * step) * margin).is_finite() && (v * margin).is_finite()
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
                // `x · 0` is 0 for a finite x and NaN otherwise.
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
                let all = finite2(p, g, |p, g| self.plain(p, g));
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

super::isa::multiversion! {
    fn sgd_apply<E: Float>(step: &SgdStep<E>, p: &mut [E], g: &[E], v: Option<&mut [E]>) -> (E, E) = sgd_apply_in,
        small if p.len();
}

#[inline(always)]
fn sgd_apply_in<E: Float>(step: &SgdStep<E>, p: &mut [E], g: &[E], v: Option<&mut [E]>) -> (E, E) {
    step.apply_here(p, g, v)
}

super::isa::multiversion! {
    fn adam_apply<E: Float>(step: &AdamStep<E>, p: &mut [E], g: &[E], m: &mut [E], v: &mut [E]) -> () = adam_apply_in,
        small if p.len();
}

#[inline(always)]
fn adam_apply_in<E: Float>(step: &AdamStep<E>, p: &mut [E], g: &[E], m: &mut [E], v: &mut [E]) {
    step.apply_here(p, g, m, v)
}

/// From this many bytes of parameters an optimizer update is split over
/// the thread pool. An update reads the gradient the backward has just
/// written: when one core wrote it and it fits that core's L2, a second
/// core must first fetch its half across, which cost more than it saved;
/// a larger gradient was written by a split product, half in each core's
/// cache, and there the split pays. Measured 2026-12-01 (2-vCPU Xeon, 2 MB
/// of L2 per core), alternating: at 128 KB the 64x1000 f32 step (a 400 KB
/// update) was 15% slower than without a split; at 512 KB it is not split,
/// while the 800 KB updates of the MNIST-size step and of the 64x1000 f64
/// one are, each about 6% faster than unsplit.
pub const PARALLEL_MIN_BYTES: usize = 512 << 10;

/// How many parts to split an update of `len` elements of `E` into, if any.
#[cfg(feature = "std")]
fn parts_for<E>(len: usize) -> Option<usize> {
    let min = PARALLEL_MIN_BYTES / core::mem::size_of::<E>().max(1);
    if len < min {
        return None;
    }
    let parts = super::parallel::threads().min(len / (min / 2));
    (parts >= 2).then_some(parts)
}

super::isa::multiversion! {
    /// One pass over `values`: whether all are finite, and the largest `|x|`
    /// (meaningful only when all are). Vectorised for the best instruction
    /// set present.
    pub fn scan_finite_max<E: Float>(values: &[E]) -> (bool, E) = scan_finite_max_in,
        small if values.len();
}

#[inline(always)]
fn scan_finite_max_in<E: Float>(values: &[E]) -> (bool, E) {
    // An integer maximum of |x|'s bits: the loop vectoriser reduces it
    // (a float maximum with NaN rules it does not), and infinity and NaN
    // land at or above INF_BITS.
    let top = values
        .iter()
        .fold(E::AbsBits::default(), |m, &x| m.max(x.abs_bits()));
    (top < E::INF_BITS, E::from_abs_bits(top))
}

// Whether every value `f` computes is finite, in one vectorised pass: the
// largest `abs_bits` of the values is below `INF_BITS` iff none is infinite
// or NaN (see `Float::AbsBits`).

super::isa::multiversion! {
    fn finite2<E: Float, F: Fn(E, E) -> E>(a: &[E], b: &[E], f: F) -> bool = finite2_in,
        small if a.len();
}

#[inline(always)]
fn finite2_in<E: Float>(a: &[E], b: &[E], f: impl Fn(E, E) -> E) -> bool {
    let top = a.iter().zip(b).fold(E::AbsBits::default(), |m, (&a, &b)| {
        m.max(f(a, b).abs_bits())
    });
    top < E::INF_BITS
}

super::isa::multiversion! {
    fn finite3<E: Float, F: Fn(E, E, E) -> E>(a: &[E], b: &[E], c: &[E], f: F) -> bool = finite3_in,
        small if a.len();
}

#[inline(always)]
fn finite3_in<E: Float>(a: &[E], b: &[E], c: &[E], f: impl Fn(E, E, E) -> E) -> bool {
    let top = a
        .iter()
        .zip(b)
        .zip(c)
        .fold(E::AbsBits::default(), |m, ((&a, &b), &c)| {
            m.max(f(a, b, c).abs_bits())
        });
    top < E::INF_BITS
}

super::isa::multiversion! {
    fn finite4<E: Float, F: Fn(E, E, E, E) -> E>(
        a: &[E],
        b: &[E],
        c: &[E],
        d: &[E],
        f: F,
    ) -> bool = finite4_in, small if a.len();
}

#[inline(always)]
fn finite4_in<E: Float>(a: &[E], b: &[E], c: &[E], d: &[E], f: impl Fn(E, E, E, E) -> E) -> bool {
    let top = a
        .iter()
        .zip(b)
        .zip(c)
        .zip(d)
        .fold(E::AbsBits::default(), |m, (((&a, &b), &c), &d)| {
            m.max(f(a, b, c, d).abs_bits())
        });
    top < E::INF_BITS
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
    pub(crate) fn element(&self, p: E, g: E, m: E, v: E) -> (E, E, E) {
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

    /// Updates `p` from `g` and the moments `m`, `v`: vectorised for the
    /// best instruction set present, and split over the thread pool above
    /// [`PARALLEL_MIN_BYTES`] (the result does not depend on the split).
    #[inline]
    pub fn apply(&self, p: &mut [E], g: &[E], m: &mut [E], v: &mut [E]) {
        #[cfg(feature = "std")]
        if let Some(parts) = parts_for::<E>(p.len()) {
            let size = p.len().div_ceil(parts);
            let count = p.len().div_ceil(size);
            let pieces = p
                .chunks_mut(size)
                .zip(g.chunks(size))
                .zip(m.chunks_mut(size).zip(v.chunks_mut(size)));
            super::parallel::run_pieces(pieces, count, &|_, ((p, g), (m, v))| {
                adam_apply(self, p, g, m, v)
            });
            return;
        }
        adam_apply(self, p, g, m, v)
    }

    /// [`AdamStep::apply`] on this thread (inlined into each instruction-set
    /// copy of `adam_apply`).
    #[inline(always)]
    fn apply_here(&self, p: &mut [E], g: &[E], m: &mut [E], v: &mut [E]) {
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

#[cfg(test)]
mod finiteness_tests {
    use super::*;

    /// The scans agree with a scalar reference on both sides of the inline
    /// threshold (the dispatched AVX-512/AVX2 copies run above it), with a
    /// NaN, an infinity or nothing planted anywhere, in f32 and f64.
    fn agree<E: Float>() {
        for n in [0usize, 1, 15, 17, 255, 256, 257, 1000, 4099, 100_003] {
            let base: alloc::vec::Vec<E> = (0..n)
                .map(|i| E::from_f64(((i * 37 % 101) as f64 - 50.0) * 0.37))
                .collect();
            let want_max = base.iter().fold(0.0f64, |m, x| m.max(x.to_f64().abs()));
            let (ok, max) = scan_finite_max(&base);
            assert!(ok, "{n} clean values");
            assert_eq!(max.to_f64(), want_max, "max of {n}");
            for at in [0, n / 2, n.saturating_sub(1)] {
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    if n == 0 {
                        continue;
                    }
                    let mut v = base.clone();
                    v[at] = E::from_f64(bad);
                    assert!(!scan_finite_max(&v).0, "{bad} at {at} of {n}");
                    let zeros = alloc::vec![E::ZERO; n];
                    assert!(
                        !finite2(&v, &zeros, |a, b| a + b),
                        "finite2: {bad} at {at} of {n}"
                    );
                    assert!(finite2(&base, &zeros, |a, b| a + b));
                }
            }
        }
    }

    #[test]
    fn every_activation_propagates_nan() {
        // Issue 11: relu(NaN) was 0, which let one NaN input poison the
        // weights while the loss stayed finite. As in PyTorch, the forward
        // keeps NaN, so it reaches the loss (the derivatives follow
        // PyTorch too: ReLU's is 0 where `x > 0` is false, NaN included).
        for act in [
            Activation::Identity,
            Activation::Sigmoid,
            Activation::ReLU,
            Activation::Tanh,
            Activation::LeakyReLU { slope: 0.01 },
        ] {
            assert!(act.apply(f32::NAN).is_nan(), "{act:?}(NaN)");
            assert!(act.apply(f64::NAN).is_nan(), "{act:?}(NaN) in f64");
        }
    }

    #[test]
    fn scans_agree_with_a_scalar_reference_on_every_path() {
        // Run at every level with FORMA_ISA=avx2 and FORMA_ISA=portable too
        // (.ci/run does): one process tests one level.
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        std::eprintln!("finiteness scans at {:?}", crate::math::isa::level());
        agree::<f32>();
        agree::<f64>();
    }
}

#[cfg(test)]
mod loss_reference_tests {
    //! The f32 losses (vectorisable `ln_fast` and `exp_fast`, eight partial
    //! sums) against the textbook formulas evaluated in f64 with libm.
    use super::*;
    use alloc::format;
    use alloc::vec::Vec;

    fn close(what: &str, got: f32, want: f64) {
        let tol = 2e-6 * want.abs().max(1e-3);
        assert!(
            (got as f64 - want).abs() <= tol,
            "{what}: got {got:e}, want {want:e}"
        );
    }

    #[test]
    fn f32_bce_losses_match_the_f64_formulas() {
        for n in [3usize, 8, 100, 257] {
            let mut p: Vec<f32> = (0..n).map(|i| ((i * 7919) % 997) as f32 / 996.0).collect();
            p[0] = 0.0;
            p[n - 1] = 1.0;
            let t: Vec<f32> = (0..n)
                .map(|i| ((i * 104_729) % 101) as f32 / 100.0)
                .collect();
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 31) % 203) as f32 / 10.0 - 10.1)
                .collect();
            let mut grad = alloc::vec![0.0f32; n];

            let got = LossKind::Bce.value_and_grad(&p, &t, &mut grad);
            let mut want = 0.0f64;
            for i in 0..n {
                let (p, t) = (p[i] as f64, t[i] as f64);
                let lp = libm::log(p).max(-100.0);
                let lq = libm::log(1.0 - p).max(-100.0);
                want += -(t * lp + (1.0 - t) * lq);
                let d = (p - t) / ((1.0 - p) * p).max(1e-12) / n as f64;
                close(&format!("bce gradient {i} of {n}"), grad[i], d);
            }
            close(&format!("bce value, {n}"), got, want / n as f64);

            let got = LossKind::BceWithLogits.value_and_grad(&x, &t, &mut grad);
            let mut want = 0.0f64;
            for i in 0..n {
                let (x, t) = (x[i] as f64, t[i] as f64);
                want += x.max(0.0) - x * t + libm::log(1.0 + libm::exp(-x.abs()));
                let d = (1.0 / (1.0 + libm::exp(-x)) - t) / n as f64;
                close(&format!("bce-with-logits gradient {i} of {n}"), grad[i], d);
            }
            close(&format!("bce-with-logits value, {n}"), got, want / n as f64);
        }
    }
}
