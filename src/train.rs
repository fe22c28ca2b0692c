//! [`Trainer`]: a model, its gradient, its cache, a loss and an optimizer.

use core::marker::PhantomData;

use forma_core::{ConstDim, Dim, Error, Float, Result, StepCause, Tensor};
use forma_layers::Module;
use forma_losses::Loss;
use forma_optim::Optimizer;

/// Owns everything one training step touches, so that after the first step no
/// step allocates: the model, a gradient of the model's own type, the forward
/// cache, the output-gradient buffer, the loss and the optimizer.
///
/// `In` is the input width and `B` the batch's row type (`usize` or
/// `Const<N>`); both are inferred from the first call.
///
/// # Checked steps
///
/// An `Ok` step never leaves a NaN or an infinity in the model or the
/// optimizer state. Before it changes anything, each step checks, in order:
/// that the batch has rows; that the input and the target are finite; that
/// the loss accepts the prediction (a `Bce` prediction in [0, 1]) and is
/// finite; that every gradient is finite; and that the update would leave
/// every parameter and optimizer state finite (computed without writing).
/// A failed check is [`Error::Step`]: the step's number (counted by the
/// trainer from 1, refused steps included), the [`StepCause`], and the
/// details (row and column, or parameter tensor and element), with the
/// model and optimizer state bit for bit as before the step.
///
/// The input, target and update checks read every input value and every
/// parameter once more per step (measured in `benches/training_step.rs`,
/// group `checks/`); [`Trainer::with_checks`]`(false)` turns them off, an
/// explicit choice for data known to be clean. The empty-batch and loss
/// checks cost nothing and stay on.
pub struct Trainer<E: Float, In: ConstDim, B: Dim, M: Module<E, In>, L, O> {
    model: M,
    grads: M,
    cache: Option<M::Cache<B>>,
    dy: Option<Tensor<E, B, M::Out>>,
    loss: L,
    optimizer: O,
    steps: u64,
    checks: bool,
    /// Whether the model may differ from what the optimizer's last step left
    /// (before the first step, and after `model_mut`): then the update check
    /// reads every parameter.
    touched: bool,
    _input: PhantomData<In>,
}

/// [`Error::Step`] for step `step`.
pub(crate) fn refuse(step: u64, cause: StepCause, source: Error) -> Error {
    Error::Step {
        step,
        cause,
        source: alloc::boxed::Box::new(source),
    }
}

/// The refusal of step `step` whose loss came out as `loss` (not finite);
/// `checked`: whether its input and target were checked finite.
pub(crate) fn loss_not_finite(step: u64, loss: f64, checked: bool) -> Error {
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
pub(crate) fn update_cause(e: &Error) -> StepCause {
    match e {
        Error::Parameter { what, .. } if *what == forma_core::GRADIENT => StepCause::Gradient,
        _ => StepCause::Update,
    }
}

/// The cause of a loss's refusal: a batch-length mismatch is the target's.
pub(crate) fn loss_cause(e: &Error) -> StepCause {
    match e {
        Error::Length { .. } => StepCause::Target,
        Error::EmptyBatch { .. } => StepCause::EmptyBatch,
        _ => StepCause::Loss,
    }
}

impl<E, In, B, M, L, O> Trainer<E, In, B, M, L, O>
where
    E: Float,
    In: ConstDim,
    B: Dim,
    M: Module<E, In>,
    L: Loss<E, M::Out>,
    O: Optimizer<E, M>,
{
    /// A trainer for `model`.
    pub fn new(model: M, loss: L, optimizer: O) -> Self {
        let grads = model.zeros_like();
        Trainer {
            model,
            grads,
            cache: None,
            dy: None,
            loss,
            optimizer,
            steps: 0,
            checks: true,
            touched: true,
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
    /// the type's docs) up to the loss; an error carries the number the next
    /// step would have.
    pub fn compute_gradients(&mut self, x: &Tensor<E, B, In>, target: &L::Target<B>) -> Result<E> {
        self.gradients(x, target, self.steps + 1)
    }

    fn gradients(&mut self, x: &Tensor<E, B, In>, target: &L::Target<B>, step: u64) -> Result<E> {
        if x.rows() == 0 {
            let source = Error::EmptyBatch {
                what: "Trainer::step input",
            };
            return Err(refuse(step, StepCause::EmptyBatch, source));
        }
        if self.checks {
            forma_core::check_finite_rows("input", In::SIZE, x.as_slice())
                .map_err(|e| refuse(step, StepCause::Input, e))?;
            self.loss
                .check_target(target)
                .map_err(|e| refuse(step, StepCause::Target, e))?;
        }
        let cache = self
            .cache
            .get_or_insert_with(|| self.model.new_cache(x.row_dim()));
        let dy = self
            .dy
            .get_or_insert_with(|| Tensor::zeros(x.row_dim(), Default::default()));
        self.model.forward(x, cache);
        let loss = self
            .loss
            .value_and_grad(M::output(cache), target, dy)
            .map_err(|e| refuse(step, loss_cause(&e), e))?;
        if !loss.is_finite() {
            return Err(loss_not_finite(step, loss.to_f64(), self.checks));
        }
        self.model.backward(x, cache, dy, &mut self.grads, None);
        Ok(loss)
    }

    /// One training step: forward, loss, backward, update. Returns the loss
    /// computed before the update (PyTorch's usual `loss.item()` in the loop).
    /// `Err(Error::Step)` when a check refuses it (see the type's docs); the
    /// model and optimizer state are then unchanged.
    pub fn step(&mut self, x: &Tensor<E, B, In>, target: &L::Target<B>) -> Result<E> {
        self.steps += 1;
        let step = self.steps;
        let loss = self.gradients(x, target, step)?;
        if self.checks {
            let checked = if self.touched {
                self.optimizer.check(&self.model, &self.grads)
            } else {
                self.optimizer.check_after_step(&self.model, &self.grads)
            };
            checked.map_err(|e| refuse(step, update_cause(&e), e))?;
        }
        self.optimizer.step(&mut self.model, &self.grads);
        // An unchecked step may have written anything: the next checked one
        // reads every parameter.
        self.touched = !self.checks;
        Ok(loss)
    }

    /// The loss of the current model on a batch, without touching gradients.
    /// `Err` for an empty batch or a loss that is not finite: never `Ok(NaN)`.
    pub fn evaluate(&mut self, x: &Tensor<E, B, In>, target: &L::Target<B>) -> Result<E> {
        if x.rows() == 0 {
            return Err(Error::EmptyBatch {
                what: "Trainer::evaluate input",
            });
        }
        let cache = self
            .cache
            .get_or_insert_with(|| self.model.new_cache(x.row_dim()));
        let y = self.model.forward(x, cache);
        let loss = self.loss.value(y, target)?;
        if !loss.is_finite() {
            return Err(Error::Invalid {
                what: "evaluation loss",
                value: loss.to_f64(),
                expected: "a finite value",
            });
        }
        Ok(loss)
    }

    /// The model's output for a batch (kept in the trainer's cache).
    pub fn predict(&mut self, x: &Tensor<E, B, In>) -> &Tensor<E, B, M::Out> {
        let cache = self
            .cache
            .get_or_insert_with(|| self.model.new_cache(x.row_dim()));
        self.model.forward(x, cache)
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, mutable (to set exact weights between steps). The next
    /// step's update check then reads every parameter again.
    pub fn model_mut(&mut self) -> &mut M {
        self.touched = true;
        &mut self.model
    }

    /// The gradient of the last [`Trainer::step`] or [`Trainer::compute_gradients`].
    pub fn grads(&self) -> &M {
        &self.grads
    }

    /// The trained model.
    pub fn into_model(self) -> M {
        self.model
    }
}
