//! Moving a model to a device and back: [`ToDevice`], [`ToHost`], and
//! [`Resident`], a device that keeps layer parameters.

use forma_core::{Cpu, Device, Float, Result};

use crate::{Bias, Heap, HostStorage, Linear, Storage};

/// A device whose memory holds layer parameters: the [`Storage`] its
/// layers are built with, and the uploads that build them.
pub trait Resident<E: Float>: Device<E> {
    /// The storage of a layer whose parameters live on this device.
    type Storage: Storage<E, Slice = Self::Slice>;
    /// An `R x C` matrix on this device, copied from the host.
    fn upload_mat<const R: usize, const C: usize>(
        &self,
        host: &[[E; C]; R],
    ) -> Result<<Self::Storage as Storage<E>>::Mat<R, C>>;
    /// A bias on this device, copied from the host.
    fn upload_bias<B: Bias, const O: usize>(
        &self,
        host: &B::Param<E, O>,
    ) -> Result<<Self::Storage as Storage<E>>::Bias<B, O>>;
}

/// The CPU keeps parameters on the heap: moving a model "to" it is a copy.
impl<E: Float> Resident<E> for Cpu {
    type Storage = Heap;
    fn upload_mat<const R: usize, const C: usize>(
        &self,
        host: &[[E; C]; R],
    ) -> Result<<Heap as Storage<E>>::Mat<R, C>> {
        let mut m = <Heap as HostStorage<E>>::zeros::<R, C>();
        *<Heap as HostStorage<E>>::rows_mut(&mut m) = *host;
        Ok(m)
    }
    fn upload_bias<B: Bias, const O: usize>(
        &self,
        host: &B::Param<E, O>,
    ) -> Result<B::Param<E, O>> {
        Ok(*host)
    }
}

/// A model whose parameters can move to device `D`: one call,
/// `net.to_device(&device)?`, gives the same network with its parameters in
/// `D`'s memory (its type says so: `Linear<.., Cuda>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot move to device `{D}`",
    note = "a model moves from host storage (Heap, Inline) to a device; layers, activations and sequences of them can"
)]
pub trait ToDevice<E: Float, D: Resident<E>> {
    /// The same model on `D`.
    type On;
    /// Copies every parameter to `device`.
    fn to_device(&self, device: &D) -> Result<Self::On>;
}

/// A model on device `D` that can come back to the host: one call,
/// `net.to_host(&device)?`, the inverse of [`ToDevice::to_device`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot come back to the host from device `{D}`",
    note = "a model on a device comes back to heap storage"
)]
pub trait ToHost<E: Float, D: Resident<E>> {
    /// The same model on the host (heap storage).
    type Host;
    /// Copies every parameter back from `device`.
    fn to_host(&self, device: &D) -> Result<Self::Host>;
}

impl<const I: usize, const O: usize, E, B, S, D> ToDevice<E, D> for Linear<I, O, E, B, S>
where
    E: Float,
    B: Bias,
    S: HostStorage<E>,
    D: Resident<E>,
{
    type On = Linear<I, O, E, B, D::Storage>;
    fn to_device(&self, device: &D) -> Result<Self::On> {
        let (w, b) = self.parts();
        let weight = device.upload_mat(S::rows(w))?;
        let bias = device.upload_bias::<B, O>(S::bias_param(b))?;
        Linear::from_parts(weight, bias)
    }
}

impl<const I: usize, const O: usize, E, B, D> ToHost<E, D> for Linear<I, O, E, B, D::Storage>
where
    E: Float,
    B: Bias,
    D: Resident<E>,
{
    type Host = Linear<I, O, E, B, Heap>;
    fn to_host(&self, device: &D) -> Result<Self::Host> {
        let (w, b) = self.parts();
        let mut host = Linear::<I, O, E, B, Heap>::zeros();
        device.read(
            <D::Storage as Storage<E>>::mat(w),
            host.weight_mut().as_flattened_mut(),
        )?;
        device.read(<D::Storage as Storage<E>>::bias(b), host.bias_mut())?;
        forma_core::check_finite("ToHost: a weight read back", host.weight().as_flattened())?;
        forma_core::check_finite("ToHost: a bias read back", host.bias())?;
        Ok(host)
    }
}

/// Layers without parameters are the same value everywhere.
macro_rules! same_everywhere {
    ($($t:ty),*) => {$(
        impl<E: Float, D: Resident<E>> ToDevice<E, D> for $t {
            type On = $t;
            fn to_device(&self, _device: &D) -> Result<$t> {
                Ok(*self)
            }
        }
        impl<E: Float, D: Resident<E>> ToHost<E, D> for $t {
            type Host = $t;
            fn to_host(&self, _device: &D) -> Result<$t> {
                Ok(*self)
            }
        }
    )*};
}

same_everywhere!(
    crate::Sigmoid,
    crate::ReLU,
    crate::Tanh,
    crate::LeakyReLU,
    crate::Identity,
    crate::Softmax
);

impl<E: Float, D: Resident<E>, A: ToDevice<E, D>, B: ToDevice<E, D>> ToDevice<E, D> for (A, B) {
    type On = (A::On, B::On);
    fn to_device(&self, device: &D) -> Result<Self::On> {
        Ok((self.0.to_device(device)?, self.1.to_device(device)?))
    }
}

impl<E: Float, D: Resident<E>, A: ToHost<E, D>, B: ToHost<E, D>> ToHost<E, D> for (A, B) {
    type Host = (A::Host, B::Host);
    fn to_host(&self, device: &D) -> Result<Self::Host> {
        Ok((self.0.to_host(device)?, self.1.to_host(device)?))
    }
}

/// Copies every parameter buffer of `from` into `to` (the same structure)
/// on `device`: a trainer's snapshot and its restore, an optimizer's state.
pub fn copy_on<E: Float, D: Device<E>, P: crate::Params<E, D::Slice>>(
    device: &D,
    from: &P,
    to: &mut P,
) -> Result<()> {
    let mut result = Ok(());
    to.zip_mut(from, &mut |t, f| {
        if result.is_ok() {
            result = device.copy(D::len(f), f, t);
        }
    });
    result
}

/// Queues [`Device::count_nonfinite`] of every parameter buffer of `p`
/// into `counts`: tensor `i` (in visiting order) into slot `slot(i)`.
pub fn count_nonfinite_on<E: Float, D: Device<E>, P: crate::Params<E, D::Slice>>(
    device: &D,
    p: &P,
    counts: &mut D::Slice,
    slot: impl Fn(usize) -> usize,
) -> Result<()> {
    let (mut result, mut i) = (Ok(()), 0);
    p.visit(&mut |b| {
        if result.is_ok() {
            result = device.count_nonfinite(D::len(b), b, counts, slot(i));
        }
        i += 1;
    });
    result
}
