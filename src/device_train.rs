//! [`DeviceTrainer`]: [`Trainer`](crate::Trainer)'s counterpart on a [`Device`].

use forma_core::{ConstDim, Device, DeviceTensor, Error, Float, Result};
use forma_layers::{DeviceParams, FixedInput, OnDevice};
use forma_losses::DeviceLoss;
use forma_optim::DeviceOptimizer;

/// Trains a network on a device: the model's parameters, its gradient, the
/// forward cache, the output gradient and the optimizer state all live there.
///
/// The model is uploaded once by [`DeviceTrainer::new`] and copied back by
/// [`DeviceTrainer::model`]; batches are uploaded by the caller as
/// [`DeviceTensor`]s. A step moves one scalar (the loss) to the host and
/// allocates nothing on either side once the cache exists (it is rebuilt only
/// for a batch larger than any before).
///
/// ```
/// use forma::prelude::*;
/// use forma::core::{Cpu, DeviceTensor};
/// use forma::DeviceTrainer;
///
/// let device = Cpu; // or forma::cuda::Cuda::new(0)? with the `cuda` feature
/// let net = Mlp::<2, 8, 1>::initialize(&mut rng(0));
/// let mut trainer = DeviceTrainer::new(device, net, Mse, Sgd::new(0.5)?)?;
/// let x = Batch::<f32, 2>::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
/// let y = Batch::<f32, 1>::from_rows(&[[0.0], [1.0], [1.0], [0.0]]);
/// let (x, y) = (DeviceTensor::upload(&device, &x)?, DeviceTensor::upload(&device, &y)?);
/// let first = trainer.step(&x, &y)?;
/// for _ in 0..50 {
///     trainer.step(&x, &y)?;
/// }
/// assert!(trainer.step(&x, &y)? < first);
/// let trained: Mlp<2, 8, 1> = trainer.model()?; // back on the host
/// # let _ = trained;
/// # Ok::<(), forma::Error>(())
/// ```
pub struct DeviceTrainer<E, D, M, L, O>
where
    E: Float,
    D: Device<E>,
    M: FixedInput + OnDevice<E, D, <M as FixedInput>::Input>,
    O: DeviceOptimizer<E, D, M>,
{
    device: D,
    model: M,
    params: DeviceParams<E, D>,
    grads: DeviceParams<E, D>,
    cache: Option<(M::DeviceCache, D::Buffer, usize)>,
    loss: L,
    optimizer: O,
    state: O::State,
}

impl<E, D, M, L, O> DeviceTrainer<E, D, M, L, O>
where
    E: Float,
    D: Device<E>,
    M: FixedInput + OnDevice<E, D, <M as FixedInput>::Input>,
    L: DeviceLoss<E, D, M::Out>,
    O: DeviceOptimizer<E, D, M>,
{
    /// Uploads `model` to `device` and prepares its gradient and optimizer state there.
    pub fn new(device: D, model: M, loss: L, optimizer: O) -> Result<Self> {
        let params = DeviceParams::upload(&device, &model)?;
        forma_core::check_len(
            "DeviceTrainer: parameter buffers of the model",
            M::SLOTS,
            params.buffers().len(),
        )?;
        let grads = DeviceParams::zeros_like(&device, &model)?;
        let state = optimizer.device_state(&device, params.buffers())?;
        Ok(DeviceTrainer {
            device,
            model,
            params,
            grads,
            cache: None,
            loss,
            optimizer,
            state,
        })
    }

    /// Forward, loss and backward on the device; the gradient stays there
    /// ([`DeviceTrainer::grads`] copies it back). Returns the loss; `Err` on a
    /// batch mismatch, a device failure or a NaN/infinite loss.
    pub fn compute_gradients(
        &mut self,
        x: &DeviceTensor<E, D, M::Input>,
        target: &L::DeviceTarget,
    ) -> Result<E> {
        let rows = x.rows();
        self.ensure_cache(rows)?;
        let Some((cache, dy, _)) = self.cache.as_mut() else {
            unreachable!("ensure_cache built the cache")
        };
        let (device, params) = (&self.device, self.params.buffers());
        self.model
            .forward_on(device, params, x.buffer(), rows, cache)?;
        let loss = self
            .loss
            .value_and_grad_on(device, M::output_on(cache), rows, target, dy)?;
        if !loss.is_finite() {
            return Err(Error::NonFinite {
                what: "training loss",
                index: 0,
            });
        }
        let grads = self.grads.buffers_mut();
        self.model
            .backward_on(device, params, x.buffer(), rows, cache, dy, grads, None)?;
        Ok(loss)
    }

    /// One training step: forward, loss, backward, update. Returns the loss
    /// before the update, like PyTorch's `loss.item()` in the loop.
    pub fn step(
        &mut self,
        x: &DeviceTensor<E, D, M::Input>,
        target: &L::DeviceTarget,
    ) -> Result<E> {
        let loss = self.compute_gradients(x, target)?;
        self.optimizer.step_on(
            &self.device,
            self.params.buffers_mut(),
            self.grads.buffers(),
            &mut self.state,
        )?;
        Ok(loss)
    }

    /// The model's output for a batch, copied to the host.
    pub fn predict(
        &mut self,
        x: &DeviceTensor<E, D, M::Input>,
    ) -> Result<forma_core::Tensor<E, usize, M::Out>> {
        let rows = x.rows();
        self.ensure_cache(rows)?;
        let Some((cache, _, _)) = self.cache.as_mut() else {
            unreachable!("ensure_cache built the cache")
        };
        let params = self.params.buffers();
        self.model
            .forward_on(&self.device, params, x.buffer(), rows, cache)?;
        let mut out = alloc::vec![E::ZERO; rows * M::Out::SIZE];
        self.device.read(M::output_on(cache), &mut out)?;
        forma_core::Tensor::from_vec(rows, Default::default(), out)
    }

    /// The trained model, copied back from the device.
    pub fn model(&self) -> Result<M>
    where
        M: Clone,
    {
        let mut model = self.model.clone();
        self.params.download_into(&self.device, &mut model)?;
        Ok(model)
    }

    /// The gradient of the last step, copied back from the device.
    pub fn grads(&self) -> Result<M> {
        let mut grads = self.model.zeros_like();
        self.grads.download_into(&self.device, &mut grads)?;
        Ok(grads)
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    fn ensure_cache(&mut self, rows: usize) -> Result<()> {
        if self.cache.as_ref().is_none_or(|(_, _, cap)| *cap < rows) {
            let cache = self.model.cache_on(&self.device, rows)?;
            let dy = self.device.alloc(rows * M::Out::SIZE)?;
            self.cache = Some((cache, dy, rows));
        }
        Ok(())
    }
}
