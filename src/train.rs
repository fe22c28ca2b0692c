//! [`Trainer`]: a model, its gradient, its cache, a loss and an optimizer,
//! on one device.

use alloc::vec::Vec;
use core::borrow::{Borrow, BorrowMut};
use core::marker::PhantomData;

use forma_core::{
    ConstDim, Cpu, Device, Dim, Error, Float, Result, StepCause, Tensor, get_or_try_insert,
};
use forma_layers::{Module, Params, copy_on, count_nonfinite_on};
use forma_losses::Loss;
use forma_optim::Optimizer;

/// Owns everything one training step touches, so that after the first step
/// no step allocates: the model, a gradient of the model's own type, the
/// forward cache, the output-gradient buffer, the loss and the optimizer,
/// all on device `D` (the [`Cpu`] unless [`Trainer::on`] names another).
///
/// `In` is the input width and `B` the batch's row type (`usize` or
/// `Const<N>`); both are inferred from the first call.
///
/// The trainer updates the model's own parameters in place: on the CPU
/// [`Trainer::model`] is the trained model, with no copy. On another device
/// the model's type says its parameters live there (a `Linear<.., Cuda>`,
/// made by `to_device`), batches are tensors on that device
/// ([`Tensor::upload`]), and the model comes back with `to_host`:
///
/// ```
/// use forma::prelude::*;
///
/// # fn main() -> forma::Result<()> {
/// let device = Cpu; // or forma::cuda::Cuda::new(0)? with the `cuda` feature
/// let net = Mlp::<2, 8, 1>::initialize(&mut rng(0)).to_device(&device)?;
/// let mut trainer = Trainer::on(device, net, Mse, Sgd::new(0.5)?);
/// let x = Batch::<f32, 2>::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
/// let y = Batch::<f32, 1>::from_rows(&[[0.0], [1.0], [1.0], [0.0]]);
/// let (x, y) = (Tensor::upload(&device, &x)?, Tensor::upload(&device, &y)?);
/// let first = trainer.step(&x, &y)?;
/// for _ in 0..50 {
///     trainer.step(&x, &y)?;
/// }
/// assert!(trainer.step(&x, &y)? < first);
/// let trained: Mlp<2, 8, 1> = trainer.model().to_host(&device)?;
/// # let _ = trained;
/// # Ok(()) }
/// ```
///
/// # Checked steps
///
/// An `Ok` step never leaves a NaN or an infinity in the model or the
/// optimizer state. Before it changes anything, each step checks, in order:
/// that the batch has rows; that the input and the target are finite; that
/// the loss accepts the prediction (a `Bce` prediction in [0, 1]) and is
/// finite; that every gradient is finite; and that the update would leave
/// every parameter and optimizer state finite. A failed check is
/// [`Error::Step`]: the step's number (counted by the trainer from 1,
/// refused steps included), the [`StepCause`], and the details (row and
/// column, or parameter tensor and element), with the model and optimizer
/// state bit for bit as before the step.
///
/// Where the host can read the device's memory (the CPU), the checks read
/// the data in place and the update is checked before it is made (computed
/// without writing). Elsewhere (a GPU) the device counts non-finite values
/// ([`Device::count_nonfinite`]) in the input, target, gradients, new
/// parameters and optimizer state into one small buffer read back once a
/// step, the update is made after a snapshot of the parameters and
/// optimizer state, and a refused step restores it; the exact row, column
/// or element is looked up on the host only when a count is not zero.
///
/// The checks cost a read of the input and of the parameters per step
/// (measured in `benches/training_step.rs`, group `checks/`);
/// [`Trainer::with_checks`]`(false)` turns them off, an explicit choice for
/// data known to be clean. The empty-batch and loss checks cost nothing and
/// stay on.
pub struct Trainer<E, In, B, M, L, O, D = Cpu>
where
    E: Float,
    In: ConstDim,
    B: Dim,
    D: Device<E>,
    M: Module<E, In, D>,
{
    device: D,
    model: M,
    /// Made by the first step (in the model's place, which may fail on a device).
    grads: Option<M>,
    cache: Option<M::Cache<B>>,
    dy: Option<Tensor<E, B, M::Out, D>>,
    loss: L,
    optimizer: O,
    steps: u64,
    checks: bool,
    /// Whether the model may differ from what the optimizer's last step left
    /// (before the first step, and after `model_mut`): then the update check
    /// reads every parameter.
    touched: bool,
    /// On a device the host cannot read: the snapshot and the counts.
    guard: Option<Guard<E, D, M, O>>,
    _input: PhantomData<In>,
}

/// What a checked step on a device the host cannot read needs, made by the
/// first such step: a snapshot of the parameters and the optimizer, and
/// the counts of non-finite values (on the device and on the host).
///
/// The counts of one step share one buffer: slot [`INPUT`], slot
/// [`TARGET`], then one slot per gradient tensor, one per updated
/// parameter tensor, and one for the optimizer state.
struct Guard<E: Float, D: Device<E>, M, O> {
    params: M,
    optimizer: O,
    counts: D::Buffer,
    host: Vec<E>,
    tensors: usize,
    /// Whether the snapshot optimizer has buffers for the state (made by a
    /// copy after the first update that creates it, so that later
    /// snapshots allocate nothing).
    warm: bool,
}

const INPUT: usize = 0;
const TARGET: usize = 1;
const GRADS: usize = 2;

/// [`Error::Step`] for step `step`.
fn refuse(step: u64, cause: StepCause, source: Error) -> Error {
    Error::Step {
        step,
        cause,
        source: alloc::boxed::Box::new(source),
    }
}

/// The refusal of step `step` whose loss came out as `loss` (not finite);
/// `checked`: whether its input and target were checked finite.
fn loss_not_finite(step: u64, loss: f64, checked: bool) -> Error {
    let expected = if checked {
        "a finite value (the input and target were finite: look at the weights, or lower the \
         learning rate)"
    } else {
        "a finite value (checks are off: the input or target may hold NaN or infinity)"
    };
    let source = Error::Invalid {
        what: "loss",
        value: loss,
        expected,
    };
    refuse(step, StepCause::Loss, source)
}

/// The cause of an optimizer's refusal ([`Error::Parameter`]'s `what`).
fn update_cause(e: &Error) -> StepCause {
    match e {
        Error::Parameter { what, .. } if *what == forma_core::GRADIENT => StepCause::Gradient,
        _ => StepCause::Update,
    }
}

/// The cause of a loss's refusal: a batch-length mismatch is the target's.
fn loss_cause(e: &Error) -> StepCause {
    match e {
        Error::Length { .. } => StepCause::Target,
        Error::EmptyBatch { .. } => StepCause::EmptyBatch,
        _ => StepCause::Loss,
    }
}

impl<E, In, B, M, L, O> Trainer<E, In, B, M, L, O, Cpu>
where
    E: Float,
    In: ConstDim,
    B: Dim,
    M: Module<E, In, Cpu>,
    L: Loss<E, M::Out, Cpu>,
    O: Optimizer<E, M, Cpu>,
{
    /// A trainer for `model` on the CPU.
    pub fn new(model: M, loss: L, optimizer: O) -> Self {
        Self::on(Cpu, model, loss, optimizer)
    }
}

impl<E, In, B, M, L, O, D> Trainer<E, In, B, M, L, O, D>
where
    E: Float,
    In: ConstDim,
    B: Dim,
    D: Device<E>,
    M: Module<E, In, D>,
    L: Loss<E, M::Out, D>,
    O: Optimizer<E, M, D>,
{
    /// A trainer for `model`, whose parameters live on `device`. Buffers
    /// are made by the first step.
    pub fn on(device: D, model: M, loss: L, optimizer: O) -> Self {
        Trainer {
            device,
            model,
            grads: None,
            cache: None,
            dy: None,
            loss,
            optimizer,
            steps: 0,
            checks: true,
            touched: true,
            guard: None,
            _input: PhantomData,
        }
    }

    /// Turns the per-step input, target and update checks on (the default)
    /// or off. Off, a NaN in the data can reach the weights unreported, as in
    /// PyTorch; the empty-batch and loss checks stay on.
    pub fn with_checks(mut self, on: bool) -> Self {
        self.checks = on;
        self
    }

    /// How many steps were asked for so far, refused ones included: the
    /// number the next step's error would carry, less one.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Forward, loss, backward: leaves the gradient in [`Trainer::grads`] and
    /// returns the loss, without updating. Runs the checks of a step (see
    /// the type's docs) up to the gradients; an error carries the number the
    /// next step would have.
    pub fn compute_gradients(
        &mut self,
        x: &Tensor<E, B, In, D>,
        target: &L::Target<B>,
    ) -> Result<E> {
        let step = self.steps + 1;
        let loss = self.gradients(x, target, step)?;
        if self.guarded(x) {
            let tensors = self.guard.as_ref().map_or(0, |g| g.tensors);
            self.read_counts(step, GRADS + tensors)?;
            if let Some(e) = self.refusal(x, target, step, false) {
                return Err(e);
            }
        }
        Ok(loss)
    }

    /// Whether this step's checks run on the device (counts and a
    /// snapshot), because the host cannot read its memory.
    fn guarded(&self, x: &Tensor<E, B, In, D>) -> bool {
        self.checks && D::host(x.buffer()).is_none()
    }

    /// On a guarded device, makes the snapshot and counts if the first
    /// guarded step has not.
    fn prepare(&mut self, guarded: bool) -> Result<()> {
        if guarded {
            let (model, optimizer, device) = (&self.model, &self.optimizer, &self.device);
            get_or_try_insert(&mut self.guard, || {
                let mut tensors = 0;
                model.visit(&mut |_| tensors += 1);
                let len = GRADS + 2 * tensors + 1;
                Ok(Guard {
                    params: model.zeros_like()?,
                    optimizer: optimizer.fresh(),
                    counts: device.alloc(len)?,
                    host: alloc::vec![E::ZERO; len],
                    tensors,
                    warm: false,
                })
            })?;
        }
        Ok(())
    }

    #[inline]
    fn gradients(
        &mut self,
        x: &Tensor<E, B, In, D>,
        target: &L::Target<B>,
        step: u64,
    ) -> Result<E> {
        if x.rows() == 0 {
            let source = Error::EmptyBatch {
                what: "Trainer::step input",
            };
            return Err(refuse(step, StepCause::EmptyBatch, source));
        }
        let guarded = self.guarded(x);
        self.prepare(guarded)
            .map_err(|e| refuse(step, StepCause::Device, e))?;
        let device = &self.device;
        if let Some(guard) = self.guard.as_mut().filter(|_| guarded) {
            let counts = guard.counts.borrow_mut();
            let queued = (|| {
                device.fill(guard.host.len(), E::ZERO, counts)?;
                device.count_nonfinite(x.len(), x.buffer(), counts, INPUT)?;
                self.loss
                    .count_target_nonfinite(device, target, counts, TARGET)
            })();
            queued.map_err(|e| refuse(step, StepCause::Device, e))?;
        } else if self.checks {
            if let Some(input) = D::host(x.buffer()) {
                forma_core::check_finite_rows("input", In::SIZE, &input[..x.len()])
                    .map_err(|e| refuse(step, StepCause::Input, e))?;
            }
            self.loss
                .check_target(device, target)
                .map_err(|e| refuse(step, StepCause::Target, e))?;
        }
        self.forward_and_loss(x, target, step)
    }

    /// The forward pass, the loss (refused if not finite) and the backward
    /// pass; on a guarded device the gradients' counts are queued.
    #[inline]
    fn forward_and_loss(
        &mut self,
        x: &Tensor<E, B, In, D>,
        target: &L::Target<B>,
        step: u64,
    ) -> Result<E> {
        let (device, model, guarded) = (&self.device, &self.model, self.guarded(x));
        let as_device = |e| refuse(step, StepCause::Device, e);
        let cache = get_or_try_insert(&mut self.cache, || model.new_cache(device, x.row_dim()))
            .map_err(as_device)?;
        let dy = get_or_try_insert(&mut self.dy, || {
            Tensor::zeros_on(device, x.row_dim(), Default::default())
        })
        .map_err(as_device)?;
        let grads = get_or_try_insert(&mut self.grads, || model.zeros_like()).map_err(as_device)?;
        let y = self.model.forward(device, x, cache).map_err(as_device)?;
        let loss = self
            .loss
            .value_and_grad(device, y, target, dy)
            .map_err(|e| refuse(step, loss_cause(&e), e))?;
        if !loss.is_finite() {
            return Err(self.loss_refusal(x, target, step, loss));
        }
        self.model
            .backward(device, x, cache, dy, grads, None)
            .map_err(as_device)?;
        if let Some(guard) = self.guard.as_mut().filter(|_| guarded) {
            let counts = guard.counts.borrow_mut();
            count_nonfinite_on(device, grads, counts, |i| GRADS + i).map_err(as_device)?;
        }
        Ok(loss)
    }

    /// Why the loss of step `step` was not finite: the input or target
    /// (counted on a guarded device), a prediction the loss refuses, or
    /// else the loss itself.
    fn loss_refusal(
        &mut self,
        x: &Tensor<E, B, In, D>,
        target: &L::Target<B>,
        step: u64,
        loss: E,
    ) -> Error {
        if self.guarded(x) {
            if let Err(e) = self.read_counts(step, GRADS) {
                return e;
            }
            let counts = self.guard.as_ref().map(|g| (g.host[INPUT], g.host[TARGET]));
            if counts.is_some_and(|(i, t)| i != E::ZERO || t != E::ZERO) {
                let e = self.refusal(x, target, step, false);
                return e.unwrap_or_else(|| loss_not_finite(step, loss.to_f64(), true));
            }
        }
        if D::host(x.buffer()).is_none()
            && let Some(cache) = self.cache.as_ref()
        {
            match M::output(cache).download(&self.device) {
                Ok(pred) => {
                    if let Err(e) = self.loss.check_prediction(pred.as_slice()) {
                        return refuse(step, StepCause::Loss, e);
                    }
                }
                Err(e) => return refuse(step, StepCause::Device, e),
            }
        }
        loss_not_finite(step, loss.to_f64(), self.checks)
    }

    /// Reads the first `len` counts of a guarded step back to the host.
    fn read_counts(&mut self, step: u64, len: usize) -> Result<()> {
        let Some(guard) = self.guard.as_mut() else {
            unreachable!("a guarded step made its guard")
        };
        self.device
            .read(guard.counts.borrow(), &mut guard.host[..len])
            .map_err(|e| refuse(step, StepCause::Device, e))
    }

    /// The refusal the read-back counts call for, in the order a step checks
    /// (input, target, gradients, then, with `update`, the new parameters
    /// and state), with the place looked up on the host; `None` if all are
    /// zero.
    fn refusal(
        &self,
        x: &Tensor<E, B, In, D>,
        target: &L::Target<B>,
        step: u64,
        update: bool,
    ) -> Option<Error> {
        let guard = self.guard.as_ref()?;
        let (device, counts, n) = (&self.device, &guard.host, guard.tensors);
        if counts[INPUT] != E::ZERO {
            let e = match x.download(device) {
                Ok(host) => forma_core::check_finite_rows("input", In::SIZE, host.as_slice())
                    .err()
                    .unwrap_or_else(|| Error::Invalid {
                        what: "input: non-finite values counted on the device",
                        value: counts[INPUT].to_f64(),
                        expected: "0",
                    }),
                Err(e) => e,
            };
            return Some(refuse(step, StepCause::Input, e));
        }
        if counts[TARGET] != E::ZERO {
            let e = self
                .loss
                .check_target(device, target)
                .err()
                .unwrap_or(Error::Invalid {
                    what: "target: non-finite values counted on the device",
                    value: counts[TARGET].to_f64(),
                    expected: "0",
                });
            return Some(refuse(step, StepCause::Target, e));
        }
        let grads = self.grads.as_ref()?;
        if let Some(t) = counts[GRADS..GRADS + n].iter().position(|c| *c != E::ZERO) {
            let e = first_nonfinite(device, forma_core::GRADIENT, t, grads);
            return Some(refuse(step, StepCause::Gradient, e));
        }
        if !update {
            return None;
        }
        let new = &counts[GRADS + n..GRADS + 2 * n];
        if let Some(t) = new.iter().position(|c| *c != E::ZERO) {
            let what = "update (the new parameter or optimizer state)";
            let e = first_nonfinite(device, what, t, &self.model);
            return Some(refuse(step, StepCause::Update, e));
        }
        if counts[GRADS + 2 * n] != E::ZERO {
            let e = Error::Invalid {
                what: "update: non-finite optimizer state values (momentum or moments)",
                value: counts[GRADS + 2 * n].to_f64(),
                expected: "0",
            };
            return Some(refuse(step, StepCause::Update, e));
        }
        None
    }

    /// One training step: forward, loss, backward, update. Returns the loss
    /// computed before the update (PyTorch's usual `loss.item()` in the loop).
    /// `Err(Error::Step)` when a check refuses it (see the type's docs); the
    /// model and optimizer state are then unchanged.
    #[inline]
    pub fn step(&mut self, x: &Tensor<E, B, In, D>, target: &L::Target<B>) -> Result<E> {
        self.steps += 1;
        let step = self.steps;
        let loss = self.gradients(x, target, step)?;
        if self.guarded(x) {
            self.guarded_update(x, target, step)?;
            return Ok(loss);
        }
        let Some(grads) = self.grads.as_ref() else {
            unreachable!("made by the gradients")
        };
        let device = &self.device;
        if self.checks {
            let checked = if self.touched {
                self.optimizer.check(device, &self.model, grads)
            } else {
                self.optimizer.check_after_step(device, &self.model, grads)
            };
            checked.map_err(|e| refuse(step, update_cause(&e), e))?;
        }
        self.optimizer
            .step(device, &mut self.model, grads)
            .map_err(|e| refuse(step, StepCause::Device, e))?;
        // An unchecked step may have written anything: the next checked one
        // reads every parameter.
        self.touched = !self.checks;
        Ok(loss)
    }

    /// The update of a guarded step: snapshot, update, count, and restore
    /// the snapshot if any count is not zero.
    fn guarded_update(
        &mut self,
        x: &Tensor<E, B, In, D>,
        target: &L::Target<B>,
        step: u64,
    ) -> Result<()> {
        let (Some(guard), Some(grads)) = (self.guard.as_mut(), self.grads.as_ref()) else {
            unreachable!("made by the gradients")
        };
        let device = &self.device;
        let snapshot = copy_on(device, &self.model, &mut guard.params).and_then(|()| {
            guard
                .optimizer
                .copy_state(device, &self.optimizer, &self.model)
        });
        snapshot.map_err(|e| refuse(step, StepCause::Device, e))?;
        let n = guard.tensors;
        let verdict = self
            .optimizer
            .step(device, &mut self.model, grads)
            .and_then(|()| {
                let counts = guard.counts.borrow_mut();
                count_nonfinite_on(device, &self.model, counts, |i| GRADS + n + i)?;
                self.optimizer
                    .count_state_nonfinite(device, counts, GRADS + 2 * n)?;
                let len = guard.host.len();
                device.read(guard.counts.borrow(), &mut guard.host[..len])
            });
        let refusal = match verdict {
            Err(e) => Some(refuse(step, StepCause::Device, e)),
            Ok(()) => self.refusal(x, target, step, true),
        };
        if let Some(error) = refusal {
            let Some(guard) = self.guard.as_ref() else {
                unreachable!("made by the gradients")
            };
            let device = &self.device;
            let restore = copy_on(device, &guard.params, &mut self.model).and_then(|()| {
                self.optimizer
                    .copy_state(device, &guard.optimizer, &guard.params)
            });
            // A failed restore is the error to report: the state is unknown.
            restore.map_err(|e| refuse(step, StepCause::Device, e))?;
            return Err(error);
        }
        if let Some(guard) = self.guard.as_mut().filter(|g| !g.warm) {
            // The step is made: a failed warm-up copy must not turn it into
            // an error (the next snapshot then allocates instead).
            let warm = guard
                .optimizer
                .copy_state(&self.device, &self.optimizer, &self.model);
            guard.warm = warm.is_ok();
        }
        Ok(())
    }

    /// The loss of the current model on a batch, without touching
    /// gradients and without allocating once the trainer has buffers for
    /// the batch. `Err` for an empty batch or a loss that is not finite:
    /// never `Ok(NaN)`.
    pub fn evaluate(&mut self, x: &Tensor<E, B, In, D>, target: &L::Target<B>) -> Result<E> {
        if x.rows() == 0 {
            return Err(Error::EmptyBatch {
                what: "Trainer::evaluate input",
            });
        }
        let device = &self.device;
        let dy = get_or_try_insert(&mut self.dy, || {
            Tensor::zeros_on(device, x.row_dim(), Default::default())
        })?;
        let y = forward(&self.model, device, &mut self.cache, x)?;
        let loss = self.loss.value_and_grad(device, y, target, dy)?;
        if !loss.is_finite() {
            return Err(Error::Invalid {
                what: "evaluation loss",
                value: loss.to_f64(),
                expected: "a finite value",
            });
        }
        Ok(loss)
    }

    /// The model's output for a batch (kept in the trainer's cache, on the
    /// device: [`Tensor::download`] copies it to the host).
    pub fn predict(&mut self, x: &Tensor<E, B, In, D>) -> Result<&Tensor<E, B, M::Out, D>> {
        forward(&self.model, &self.device, &mut self.cache, x)
    }

    /// The output of the last forward pass ([`Trainer::step`],
    /// [`Trainer::evaluate`] or [`Trainer::predict`]); `None` before any.
    pub fn last_output(&self) -> Option<&Tensor<E, B, M::Out, D>> {
        self.cache.as_ref().map(M::output)
    }

    /// The model, with its parameters where they train (on the CPU: the
    /// trained model itself, no copy).
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, mutable (to set exact weights between steps). The next
    /// step's update check then reads every parameter again.
    pub fn model_mut(&mut self) -> &mut M {
        self.touched = true;
        &mut self.model
    }

    /// The gradient of the last [`Trainer::step`] or
    /// [`Trainer::compute_gradients`]; `None` before the first.
    pub fn grads(&self) -> Option<&M> {
        self.grads.as_ref()
    }

    /// The optimizer (its settings and state).
    pub fn optimizer(&self) -> &O {
        &self.optimizer
    }

    /// The learning rate the next step uses.
    pub fn learning_rate(&self) -> f64 {
        self.optimizer.learning_rate()
    }

    /// Sets the learning rate of the next steps (from a
    /// [`Schedule`](crate::schedule::Schedule), say); `Err` if it is not
    /// finite and not negative in the element type.
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.optimizer.set_learning_rate(lr)
    }

    /// The optimizer, for a checkpoint's restore: the next step's update
    /// check reads every parameter.
    pub(crate) fn optimizer_mut_for_restore(&mut self) -> &mut O {
        self.touched = true;
        &mut self.optimizer
    }

    /// Sets the step count (a checkpoint's).
    pub(crate) fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The trained model.
    pub fn into_model(self) -> M {
        self.model
    }
}

/// `model`'s forward pass into `cache` (made on first use).
fn forward<'c, E, In, B, M, D>(
    model: &M,
    device: &D,
    cache: &'c mut Option<M::Cache<B>>,
    x: &Tensor<E, B, In, D>,
) -> Result<&'c Tensor<E, B, M::Out, D>>
where
    E: Float,
    In: ConstDim,
    B: Dim,
    D: Device<E>,
    M: Module<E, In, D>,
{
    let cache = get_or_try_insert(cache, || model.new_cache(device, x.row_dim()))?;
    model.forward(device, x, cache)
}

/// [`Error::Parameter`] for the first non-finite element of tensor `tensor`
/// of `p`, looked up on the host (only after a count found one).
fn first_nonfinite<E: Float, D: Device<E>, P: Params<E, D::Slice>>(
    device: &D,
    what: &'static str,
    tensor: usize,
    p: &P,
) -> Error {
    let mut at = 0;
    let mut found = None;
    p.visit(&mut |b| {
        if at == tensor {
            let mut host = alloc::vec![E::ZERO; D::len(b)];
            found = Some(device.read(b, &mut host).map(|()| host));
        }
        at += 1;
    });
    let host = match found {
        Some(Ok(host)) => host,
        Some(Err(e)) => return e,
        None => Vec::new(),
    };
    let index = host.iter().position(|v| !v.is_finite()).unwrap_or(0);
    Error::Parameter {
        what,
        tensor,
        index,
        value: host.get(index).map_or(f64::NAN, |v| v.to_f64()),
    }
}
