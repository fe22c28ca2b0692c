//! [`Trainer`]: a model, its gradient, its cache, a loss and an optimizer.

use core::marker::PhantomData;

use forma_core::{ConstDim, Dim, Error, Float, Result, Tensor};
use forma_layers::Module;
use forma_losses::Loss;
use forma_optim::Optimizer;

/// Owns everything one training step touches, so that after the first step no
/// step allocates: the model, a gradient of the model's own type, the forward
/// cache, the output-gradient buffer, the loss and the optimizer.
///
/// `In` is the input width and `B` the batch's row type (`usize` or
/// `Const<N>`); both are inferred from the first call.
pub struct Trainer<E: Float, In: ConstDim, B: Dim, M: Module<E, In>, L, O> {
    model: M,
    grads: M,
    cache: Option<M::Cache<B>>,
    dy: Option<Tensor<E, B, M::Out>>,
    loss: L,
    optimizer: O,
    _input: PhantomData<In>,
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
            _input: PhantomData,
        }
    }

    /// Forward, loss, backward: leaves the gradient in [`Trainer::grads`] and
    /// returns the loss, without updating. `Err` on a batch-length mismatch or
    /// a NaN/infinite loss.
    pub fn compute_gradients(&mut self, x: &Tensor<E, B, In>, target: &L::Target<B>) -> Result<E> {
        let cache = self
            .cache
            .get_or_insert_with(|| self.model.new_cache(x.row_dim()));
        let dy = self
            .dy
            .get_or_insert_with(|| Tensor::zeros(x.row_dim(), Default::default()));
        self.model.forward(x, cache);
        let loss = self.loss.value_and_grad(M::output(cache), target, dy)?;
        if !loss.is_finite() {
            return Err(Error::NonFinite {
                what: "training loss",
                index: 0,
            });
        }
        self.model.backward(x, cache, dy, &mut self.grads, None);
        Ok(loss)
    }

    /// One training step: forward, loss, backward, update. Returns the loss
    /// computed before the update (PyTorch's usual `loss.item()` in the loop).
    pub fn step(&mut self, x: &Tensor<E, B, In>, target: &L::Target<B>) -> Result<E> {
        let loss = self.compute_gradients(x, target)?;
        self.optimizer.step(&mut self.model, &self.grads);
        Ok(loss)
    }

    /// The loss of the current model on a batch, without touching gradients.
    pub fn evaluate(&mut self, x: &Tensor<E, B, In>, target: &L::Target<B>) -> Result<E> {
        let cache = self
            .cache
            .get_or_insert_with(|| self.model.new_cache(x.row_dim()));
        let y = self.model.forward(x, cache);
        self.loss.value(y, target)
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

    /// The model, mutable (to set exact weights between steps).
    pub fn model_mut(&mut self) -> &mut M {
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
