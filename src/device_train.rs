//! [`DeviceTrainer`]: [`Trainer`](crate::Trainer)'s counterpart on a [`Device`].

use alloc::vec::Vec;

use forma_core::{ConstDim, Device, DeviceTensor, Error, Float, Result, StepCause};
use forma_layers::{DeviceParams, FixedInput, OnDevice};
use forma_losses::DeviceLoss;
use forma_optim::DeviceOptimizer;

use crate::train::{loss_cause, loss_not_finite, refuse};

/// Trains a network on a device: the model's parameters, its gradient, the
/// forward cache, the output gradient and the optimizer state all live there.
///
/// Steps are checked as [`Trainer`](crate::Trainer)'s are, with the same
/// errors ([`Error::Step`]): the device counts non-finite values
/// ([`Device::count_nonfinite`]) in the input and target, the gradients, and
/// the updated parameters and optimizer state, all into one small buffer
/// read back once a step (with the loss: two transfers a step); the exact
/// row, column or element is looked up on the host only when a count is not
/// zero. The update is made after a snapshot of the parameters and
/// optimizer state on the device, which a refused step restores.
/// [`DeviceTrainer::with_checks`]`(false)` turns these checks off.
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
    steps: u64,
    checks: Option<Checks<E, D, O::State>>,
}

/// What the checks need, made once: a snapshot of the parameters and the
/// optimizer state, and the counts of non-finite values (device and host).
///
/// The counts of one step share one buffer, read back once after the update:
/// slot 0 the input, slot 1 the target, then one slot per gradient tensor,
/// one per updated parameter tensor, and one for the optimizer state.
struct Checks<E: Float, D: Device<E>, S> {
    params: DeviceParams<E, D>,
    state: S,
    counts: D::Buffer,
    host: Vec<E>,
}

/// Slots of [`Checks::counts`].
const INPUT: usize = 0;
const TARGET: usize = 1;
const GRADS: usize = 2;

impl<E: Float, D: Device<E>, S> Checks<E, D, S> {
    /// The snapshot buffers and counts for a model of `slots` tensors.
    fn new(device: &D, params: DeviceParams<E, D>, state: S, slots: usize) -> Result<Self> {
        let len = Self::len(slots);
        Ok(Checks {
            params,
            state,
            counts: device.alloc(len)?,
            host: alloc::vec![E::ZERO; len],
        })
    }

    /// Input, target, gradients, parameters, state.
    fn len(slots: usize) -> usize {
        GRADS + 2 * slots + 1
    }
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
        let checks = Some(Checks::new(
            &device,
            DeviceParams::zeros_like(&device, &model)?,
            optimizer.device_state(&device, params.buffers())?,
            M::SLOTS,
        )?);
        Ok(DeviceTrainer {
            device,
            model,
            params,
            grads,
            cache: None,
            loss,
            optimizer,
            state,
            steps: 0,
            checks,
        })
    }

    /// Turns the input, target, gradient and update checks on (the default)
    /// or off (an explicit choice for clean data: a step then makes no
    /// snapshot and reads back nothing but the loss).
    pub fn with_checks(mut self, on: bool) -> Result<Self> {
        if !on {
            self.checks = None;
        } else if self.checks.is_none() {
            let (device, model) = (&self.device, &self.model);
            self.checks = Some(Checks::new(
                device,
                DeviceParams::zeros_like(device, model)?,
                self.optimizer.device_state(device, self.params.buffers())?,
                M::SLOTS,
            )?);
        }
        Ok(self)
    }

    /// How many steps were asked for so far, refused ones included.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Forward, loss and backward on the device; the gradient stays there
    /// ([`DeviceTrainer::grads`] copies it back). Returns the loss. Runs the
    /// checks of a step up to the gradients; an error carries the number the
    /// next step would have.
    pub fn compute_gradients(
        &mut self,
        x: &DeviceTensor<E, D, M::Input>,
        target: &L::DeviceTarget,
    ) -> Result<E> {
        let step = self.steps + 1;
        let loss = self.gradients(x, target, step)?;
        let device = &self.device;
        if let Some(checks) = self.checks.as_mut() {
            let read = GRADS + M::SLOTS;
            device
                .read(&checks.counts, &mut checks.host[..read])
                .map_err(|e| refuse(step, StepCause::Device, e))?;
            if let Some(e) = self.refusal(x, target, step, false) {
                return Err(e);
            }
        }
        Ok(loss)
    }

    /// Forward, loss and backward; with checks, the input, target and
    /// gradient counts are queued (read back by the caller, with the
    /// update's: one transfer a step).
    fn gradients(
        &mut self,
        x: &DeviceTensor<E, D, M::Input>,
        target: &L::DeviceTarget,
        step: u64,
    ) -> Result<E> {
        let rows = x.rows();
        if rows == 0 {
            let source = Error::EmptyBatch {
                what: "DeviceTrainer::step input",
            };
            return Err(refuse(step, StepCause::EmptyBatch, source));
        }
        let device = &self.device;
        if let Some(checks) = self.checks.as_mut() {
            let queued = (|| {
                device.fill(
                    Checks::<E, D, O::State>::len(M::SLOTS),
                    E::ZERO,
                    &mut checks.counts,
                )?;
                let len = rows * M::Input::SIZE;
                device.count_nonfinite(len, x.buffer(), &mut checks.counts, INPUT)?;
                self.loss
                    .count_target_nonfinite(device, target, &mut checks.counts, TARGET)
            })();
            queued.map_err(|e| refuse(step, StepCause::Device, e))?;
        }
        self.ensure_cache(rows)
            .map_err(|e| refuse(step, StepCause::Device, e))?;
        let Some((cache, dy, _)) = self.cache.as_mut() else {
            unreachable!("ensure_cache built the cache")
        };
        let (device, params) = (&self.device, self.params.buffers());
        self.model
            .forward_on(device, params, x.buffer(), rows, cache)
            .map_err(|e| refuse(step, StepCause::Device, e))?;
        let loss = self
            .loss
            .value_and_grad_on(device, M::output_on(cache), rows, target, dy)
            .map_err(|e| refuse(step, loss_cause(&e), e))?;
        if !loss.is_finite() {
            // The input or target first (their counts are queued), then the
            // prediction (Bce outside [0, 1] names its row).
            if let Some(checks) = self.checks.as_mut() {
                device
                    .read(&checks.counts, &mut checks.host[..GRADS])
                    .map_err(|e| refuse(step, StepCause::Device, e))?;
                if checks.host[INPUT] != E::ZERO || checks.host[TARGET] != E::ZERO {
                    let e = self.refusal(x, target, step, false);
                    return Err(e.unwrap_or_else(|| loss_not_finite(step, loss.to_f64(), true)));
                }
            }
            let Some((cache, _, _)) = self.cache.as_ref() else {
                unreachable!("ensure_cache built the cache")
            };
            let mut pred = alloc::vec![E::ZERO; rows * M::Out::SIZE];
            device
                .read(M::output_on(cache), &mut pred)
                .map_err(|e| refuse(step, StepCause::Device, e))?;
            self.loss
                .check_prediction(&pred)
                .map_err(|e| refuse(step, StepCause::Loss, e))?;
            return Err(loss_not_finite(step, loss.to_f64(), self.checks.is_some()));
        }
        let Some((cache, dy, _)) = self.cache.as_mut() else {
            unreachable!("ensure_cache built the cache")
        };
        let grads = self.grads.buffers_mut();
        self.model
            .backward_on(device, params, x.buffer(), rows, cache, dy, grads, None)
            .map_err(|e| refuse(step, StepCause::Device, e))?;
        if let Some(checks) = self.checks.as_mut() {
            let queued = (|| {
                for (i, g) in self.grads.buffers().iter().enumerate() {
                    device.count_nonfinite(D::buffer_len(g), g, &mut checks.counts, GRADS + i)?;
                }
                Ok(())
            })();
            queued.map_err(|e| refuse(step, StepCause::Device, e))?;
        }
        Ok(loss)
    }

    /// The refusal the read-back counts call for, in the order a step checks
    /// (input, target, gradients, then, with `update`, the new parameters
    /// and state), with the place looked up on the host; `None` if all are
    /// zero.
    fn refusal(
        &self,
        x: &DeviceTensor<E, D, M::Input>,
        target: &L::DeviceTarget,
        step: u64,
        update: bool,
    ) -> Option<Error> {
        let checks = self.checks.as_ref()?;
        let (device, counts) = (&self.device, &checks.host);
        let lookup = |r: Result<Error>| r.unwrap_or_else(|e| e);
        if counts[INPUT] != E::ZERO {
            let len = x.rows() * M::Input::SIZE;
            let e = lookup((|| {
                let mut host = alloc::vec![E::ZERO; len];
                device.read(x.buffer(), &mut host)?;
                Ok(
                    forma_core::check_finite_rows("input", M::Input::SIZE, &host)
                        .err()
                        .unwrap_or(Error::Invalid {
                            what: "input: non-finite values counted on the device",
                            value: counts[INPUT].to_f64(),
                            expected: "0",
                        }),
                )
            })());
            return Some(refuse(step, StepCause::Input, e));
        }
        if counts[TARGET] != E::ZERO {
            let e = lookup((|| {
                let host = self.loss.download_target(device, target)?;
                Ok(host
                    .and_then(|t| forma_core::check_finite_rows("target", M::Out::SIZE, &t).err())
                    .unwrap_or(Error::Invalid {
                        what: "target: non-finite values counted on the device",
                        value: counts[TARGET].to_f64(),
                        expected: "0",
                    }))
            })());
            return Some(refuse(step, StepCause::Target, e));
        }
        let n = M::SLOTS;
        if let Some(t) = counts[GRADS..GRADS + n].iter().position(|c| *c != E::ZERO) {
            let e = first_nonfinite(device, forma_core::GRADIENT, t, &self.grads.buffers()[t]);
            return Some(refuse(step, StepCause::Gradient, e));
        }
        if !update {
            return None;
        }
        if let Some(t) = counts[GRADS + n..GRADS + 2 * n]
            .iter()
            .position(|c| *c != E::ZERO)
        {
            let e = first_nonfinite(
                device,
                "update (the new parameter)",
                t,
                &self.params.buffers()[t],
            );
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
    /// before the update, like PyTorch's `loss.item()` in the loop.
    /// `Err(Error::Step)` when a check refuses it; the parameters and the
    /// optimizer state on the device are then as before the step.
    ///
    /// With checks, the update is made after a snapshot, and the counts of
    /// the whole step (input, target, gradients, new parameters and state)
    /// come back in one read; any refusal restores the snapshot.
    pub fn step(
        &mut self,
        x: &DeviceTensor<E, D, M::Input>,
        target: &L::DeviceTarget,
    ) -> Result<E> {
        self.steps += 1;
        let step = self.steps;
        let loss = self.gradients(x, target, step)?;
        let device = &self.device;
        let Some(checks) = self.checks.as_mut() else {
            return self
                .optimizer
                .step_on(
                    device,
                    self.params.buffers_mut(),
                    self.grads.buffers(),
                    &mut self.state,
                )
                .map(|()| loss)
                .map_err(|e| refuse(step, StepCause::Device, e));
        };
        let snapshot = copy_model(
            device,
            &self.optimizer,
            (self.params.buffers(), &self.state),
            (checks.params.buffers_mut(), &mut checks.state),
        );
        snapshot.map_err(|e| refuse(step, StepCause::Device, e))?;
        let n = M::SLOTS;
        let verdict = self
            .optimizer
            .step_on(
                device,
                self.params.buffers_mut(),
                self.grads.buffers(),
                &mut self.state,
            )
            .and_then(|()| {
                for (i, p) in self.params.buffers().iter().enumerate() {
                    device.count_nonfinite(
                        D::buffer_len(p),
                        p,
                        &mut checks.counts,
                        GRADS + n + i,
                    )?;
                }
                self.optimizer.count_state_nonfinite(
                    device,
                    &self.state,
                    &mut checks.counts,
                    GRADS + 2 * n,
                )?;
                let len = checks.host.len();
                device.read(&checks.counts, &mut checks.host[..len])
            });
        let refusal = match verdict {
            Err(e) => Some(refuse(step, StepCause::Device, e)),
            Ok(()) => self.refusal(x, target, step, true),
        };
        if let Some(error) = refusal {
            let Some(checks) = self.checks.as_mut() else {
                unreachable!("checks are on in this branch")
            };
            let restore = copy_model(
                device,
                &self.optimizer,
                (checks.params.buffers(), &checks.state),
                (self.params.buffers_mut(), &mut self.state),
            );
            // A failed restore is the error to report: the state is unknown.
            restore.map_err(|e| refuse(step, StepCause::Device, e))?;
            return Err(error);
        }
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

/// Copies parameter buffers and optimizer state from one place to the other:
/// a checked step's snapshot, and its restore.
fn copy_model<E, D, M, O>(
    device: &D,
    optimizer: &O,
    (params, state): (&[D::Buffer], &O::State),
    (to_params, to_state): (&mut [D::Buffer], &mut O::State),
) -> Result<()>
where
    E: Float,
    D: Device<E>,
    M: forma_layers::Params<E>,
    O: DeviceOptimizer<E, D, M>,
{
    for (from, to) in params.iter().zip(to_params) {
        device.copy(D::buffer_len(from), from, to)?;
    }
    optimizer.copy_state(device, state, to_state)
}

/// [`Error::Parameter`] for the first non-finite element of `buffer`,
/// looked up on the host (only after a check found one).
fn first_nonfinite<E: Float, D: Device<E>>(
    device: &D,
    what: &'static str,
    tensor: usize,
    buffer: &D::Buffer,
) -> Error {
    let mut host = alloc::vec![E::ZERO; D::buffer_len(buffer)];
    if let Err(e) = device.read(buffer, &mut host) {
        return e;
    }
    let index = host.iter().position(|v| !v.is_finite()).unwrap_or(0);
    Error::Parameter {
        what,
        tensor,
        index,
        value: host.get(index).map_or(f64::NAN, |v| v.to_f64()),
    }
}
