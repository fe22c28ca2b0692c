//! Training on a [`Device`]: the same layer types, their parameters mirrored
//! into device buffers.
//!
//! [`OnDevice`] is [`Module`](crate::Module)'s twin over device buffers. It is
//! written once per layer, generic over the device, in terms of the
//! [`Device`] primitives; so `Mlp<2, 32, 1>` trains on the [`Cpu`](forma_core::Cpu)
//! device and on a GPU with the same model code. [`DeviceParams`] holds a
//! network's parameters (or gradient) on a device, one buffer per slice that
//! [`Params::visit`] yields.
//!
//! The CPU path ([`Module`](crate::Module)) stays separate on purpose: it uses
//! fixed-width kernels, inline storage and `no_std`, which a buffer-level
//! interface cannot express.

use alloc::vec::Vec;

use forma_core::{Activation, ConstDim, Device, Error, Float, Layout, Result};

use crate::{Bias, Elementwise, Layer, Linear, Params, Softmax, Storage};

/// A layer (or sequence) that runs forward and backward on device `D`, taking
/// `In`-wide inputs. Buffers hold `rows x width` row-major batches.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot run on a device with `{In}`-wide inputs",
    note = "on a device: Linear, Sigmoid, ReLU, Tanh, LeakyReLU, Identity, Softmax, and sequences of them"
)]
pub trait OnDevice<E: Float, D: Device<E>, In: ConstDim>: Layer<E, In> + Params<E> {
    /// How many parameter buffers the layer has (the slices [`Params::visit`] yields).
    const SLOTS: usize;
    /// The device buffers of one forward and backward pass.
    type DeviceCache;
    /// Buffers for batches of up to `rows` rows.
    fn cache_on(&self, device: &D, rows: usize) -> Result<Self::DeviceCache>;
    /// The output of `rows` rows of `x`, computed into `cache`, with the
    /// parameters in `params` (this layer's [`OnDevice::SLOTS`] buffers).
    fn forward_on(
        &self,
        device: &D,
        params: &[D::Buffer],
        x: &D::Buffer,
        rows: usize,
        cache: &mut Self::DeviceCache,
    ) -> Result<()>;
    /// The output of the last [`OnDevice::forward_on`] on this cache.
    fn output_on(cache: &Self::DeviceCache) -> &D::Buffer;
    /// Parameter gradients into `grads` (overwritten) and, if asked, the input
    /// gradient into `dx`, from the output gradient `dy`.
    #[allow(clippy::too_many_arguments)]
    fn backward_on(
        &self,
        device: &D,
        params: &[D::Buffer],
        x: &D::Buffer,
        rows: usize,
        cache: &mut Self::DeviceCache,
        dy: &D::Buffer,
        grads: &mut [D::Buffer],
        dx: Option<&mut D::Buffer>,
    ) -> Result<()>;

    // Fusion: in `(A, B)`, when `A` can apply an activation in its own output
    // pass (`Linear`: product, bias and activation in one kernel) and `B`
    // starts with an activation whose derivative needs only its output, `A`
    // writes straight into that activation's output buffer and `B` goes on
    // from there. Backward is unchanged: such an activation never reads its input.

    /// Whether [`OnDevice::forward_fused`] is implemented.
    const FUSES_ACTIVATION: bool = false;

    /// The activation this layer (or sequence) starts with, if its derivative
    /// needs only its output (see [`Activation::derivative_from_output`]).
    fn head_activation(&self) -> Option<Activation> {
        None
    }

    /// The output buffer of that first activation.
    fn head_output(_cache: &mut Self::DeviceCache) -> Option<&mut D::Buffer> {
        None
    }

    /// The forward pass after the first activation's output was written by
    /// the layer before it.
    fn forward_after_head(
        &self,
        _device: &D,
        _params: &[D::Buffer],
        _rows: usize,
        _cache: &mut Self::DeviceCache,
    ) -> Result<()> {
        unreachable!("forward_after_head is called only when head_activation is Some")
    }

    /// The forward pass with `act` applied to the output, written to `out`
    /// instead of this layer's cache.
    #[allow(clippy::too_many_arguments)]
    fn forward_fused(
        &self,
        _device: &D,
        _params: &[D::Buffer],
        _x: &D::Buffer,
        _rows: usize,
        _cache: &mut Self::DeviceCache,
        _act: Activation,
        _out: &mut D::Buffer,
    ) -> Result<()> {
        unreachable!("forward_fused is called only when FUSES_ACTIVATION is true")
    }
}

/// A network's parameters (or its gradient) on a device: one buffer per slice
/// of [`Params::visit`], in that order.
pub struct DeviceParams<E: Float, D: Device<E>> {
    buffers: Vec<D::Buffer>,
}

impl<E: Float, D: Device<E>> DeviceParams<E, D> {
    /// Copies every parameter of `params` to the device.
    pub fn upload<P: Params<E>>(device: &D, params: &P) -> Result<Self> {
        let mut buffers = Vec::new();
        let mut failed = None;
        params.visit(&mut |slice| {
            if failed.is_some() {
                return;
            }
            match device.alloc(slice.len()).and_then(|mut b| {
                device.write(slice, &mut b)?;
                Ok(b)
            }) {
                Ok(b) => buffers.push(b),
                Err(e) => failed = Some(e),
            }
        });
        failed.map_or(Ok(DeviceParams { buffers }), Err)
    }

    /// Zeroed buffers shaped like `params` (a gradient).
    pub fn zeros_like<P: Params<E>>(device: &D, params: &P) -> Result<Self> {
        let mut lens = Vec::new();
        params.visit(&mut |slice| lens.push(slice.len()));
        let buffers = lens
            .into_iter()
            .map(|n| device.alloc(n))
            .collect::<Result<_>>()?;
        Ok(DeviceParams { buffers })
    }

    /// Copies the buffers back into `params`, which must have the structure
    /// they were uploaded from.
    pub fn download_into<P: Params<E>>(&self, device: &D, params: &mut P) -> Result<()> {
        let mut at = 0;
        let mut result = Ok(());
        params.visit_mut(&mut |slice| {
            if result.is_err() {
                return;
            }
            result = match self.buffers.get(at) {
                Some(b) => device.read(b, slice),
                None => Err(Error::Length {
                    what: "DeviceParams::download_into parameter buffers",
                    expected: at + 1,
                    got: self.buffers.len(),
                }),
            };
            at += 1;
        });
        result?;
        forma_core::check_len(
            "DeviceParams::download_into parameter buffers",
            self.buffers.len(),
            at,
        )
    }

    /// The buffers, in visiting order.
    pub fn buffers(&self) -> &[D::Buffer] {
        &self.buffers
    }

    /// The buffers, mutable.
    pub fn buffers_mut(&mut self) -> &mut [D::Buffer] {
        &mut self.buffers
    }
}

impl<const I: usize, const O: usize, E, B, S, D> OnDevice<E, D, forma_core::Const<I>>
    for Linear<I, O, E, B, S>
where
    E: Float,
    B: Bias,
    S: Storage,
    D: Device<E>,
{
    /// The weight, then the bias (possibly empty).
    const SLOTS: usize = 2;
    /// The output.
    type DeviceCache = D::Buffer;

    fn cache_on(&self, device: &D, rows: usize) -> Result<D::Buffer> {
        device.alloc(rows * O)
    }

    fn forward_on(
        &self,
        device: &D,
        params: &[D::Buffer],
        x: &D::Buffer,
        rows: usize,
        y: &mut D::Buffer,
    ) -> Result<()> {
        let [w, b] = params else {
            unreachable!("Linear has exactly 2 parameter buffers")
        };
        device.linear_forward(
            (rows, I, O),
            x,
            w,
            Some(b),
            B::KIND,
            Activation::Identity,
            y,
        )
    }

    const FUSES_ACTIVATION: bool = true;

    fn forward_fused(
        &self,
        device: &D,
        params: &[D::Buffer],
        x: &D::Buffer,
        rows: usize,
        _y: &mut D::Buffer,
        act: Activation,
        out: &mut D::Buffer,
    ) -> Result<()> {
        let [w, b] = params else {
            unreachable!("Linear has exactly 2 parameter buffers")
        };
        device.linear_forward((rows, I, O), x, w, Some(b), B::KIND, act, out)
    }

    fn output_on(y: &D::Buffer) -> &D::Buffer {
        y
    }

    fn backward_on(
        &self,
        device: &D,
        params: &[D::Buffer],
        x: &D::Buffer,
        rows: usize,
        _y: &mut D::Buffer,
        dy: &D::Buffer,
        grads: &mut [D::Buffer],
        dx: Option<&mut D::Buffer>,
    ) -> Result<()> {
        let [gw, gb] = grads else {
            unreachable!("Linear has exactly 2 gradient buffers")
        };
        device.matmul(Layout::Tn, O, rows, I, dy, x, gw)?;
        device.bias_grad(rows, O, dy, B::KIND, gb)?;
        if let Some(dx) = dx {
            device.matmul(Layout::Nn, rows, O, I, dy, &params[0], dx)?;
        }
        Ok(())
    }
}

/// Every activation, at every width: `y = act(x)`, `dx = dy · act'(x, y)`.
impl<E, D, A, const N: usize> OnDevice<E, D, forma_core::Const<N>> for A
where
    E: Float,
    D: Device<E>,
    A: Elementwise + Layer<E, forma_core::Const<N>>,
{
    const SLOTS: usize = 0;
    /// The output.
    type DeviceCache = D::Buffer;

    fn cache_on(&self, device: &D, rows: usize) -> Result<D::Buffer> {
        device.alloc(rows * N)
    }

    fn forward_on(
        &self,
        device: &D,
        _params: &[D::Buffer],
        x: &D::Buffer,
        rows: usize,
        y: &mut D::Buffer,
    ) -> Result<()> {
        let act = self.activation();
        device.bias_act(rows, N, Some(x), None, forma_core::BiasKind::None, act, y)
    }

    fn output_on(y: &D::Buffer) -> &D::Buffer {
        y
    }

    fn backward_on(
        &self,
        device: &D,
        _params: &[D::Buffer],
        x: &D::Buffer,
        rows: usize,
        y: &mut D::Buffer,
        dy: &D::Buffer,
        _grads: &mut [D::Buffer],
        dx: Option<&mut D::Buffer>,
    ) -> Result<()> {
        let act = self.activation();
        // With a derivative from the output alone, the input is not read: it
        // may not exist when the layer before applied this activation (fusion).
        let x = if act.derivative_from_output() { &*y } else { x };
        match dx {
            Some(dx) => device.act_backward(rows * N, act, x, y, dy, dx),
            None => Ok(()),
        }
    }

    fn head_activation(&self) -> Option<Activation> {
        Some(self.activation()).filter(|a| a.derivative_from_output())
    }

    fn head_output(y: &mut D::Buffer) -> Option<&mut D::Buffer> {
        Some(y)
    }

    fn forward_after_head(
        &self,
        _device: &D,
        _params: &[D::Buffer],
        _rows: usize,
        _y: &mut D::Buffer,
    ) -> Result<()> {
        Ok(())
    }
}

/// Softmax over each row: `y = softmax(x)`, `dx = y ⊙ (dy - rowsum(dy ⊙ y))`.
impl<E: Float, D: Device<E>, const N: usize> OnDevice<E, D, forma_core::Const<N>> for Softmax {
    const SLOTS: usize = 0;
    /// The output.
    type DeviceCache = D::Buffer;

    fn cache_on(&self, device: &D, rows: usize) -> Result<D::Buffer> {
        device.alloc(rows * N)
    }

    fn forward_on(
        &self,
        device: &D,
        _params: &[D::Buffer],
        x: &D::Buffer,
        rows: usize,
        y: &mut D::Buffer,
    ) -> Result<()> {
        device.softmax(rows, N, x, y)
    }

    fn output_on(y: &D::Buffer) -> &D::Buffer {
        y
    }

    fn backward_on(
        &self,
        device: &D,
        _params: &[D::Buffer],
        _x: &D::Buffer,
        rows: usize,
        y: &mut D::Buffer,
        dy: &D::Buffer,
        _grads: &mut [D::Buffer],
        dx: Option<&mut D::Buffer>,
    ) -> Result<()> {
        match dx {
            Some(dx) => device.softmax_backward(rows, N, y, dy, dx),
            None => Ok(()),
        }
    }
}

/// The device cache of `(A, B)`: both caches and the gradient between them.
pub struct PairDeviceCache<CA, CB, H> {
    a: CA,
    b: CB,
    dh: H,
}

/// The activation `A` applies for `B` in a fused forward of `(A, B)`, if any.
fn fused_activation<E, D, In, A, B>(pair: &(A, B)) -> Option<Activation>
where
    E: Float,
    D: Device<E>,
    In: ConstDim,
    A: OnDevice<E, D, In>,
    B: OnDevice<E, D, A::Out>,
{
    if A::FUSES_ACTIVATION {
        pair.1.head_activation()
    } else {
        None
    }
}

/// `(A, B)`: A's buffers first, then B's, as [`Params::visit`] orders them.
impl<E, D, In, A, B> OnDevice<E, D, In> for (A, B)
where
    E: Float,
    D: Device<E>,
    In: ConstDim,
    A: OnDevice<E, D, In>,
    B: OnDevice<E, D, A::Out>,
{
    const SLOTS: usize = A::SLOTS + B::SLOTS;
    type DeviceCache = PairDeviceCache<A::DeviceCache, B::DeviceCache, D::Buffer>;

    fn cache_on(&self, device: &D, rows: usize) -> Result<Self::DeviceCache> {
        Ok(PairDeviceCache {
            a: self.0.cache_on(device, rows)?,
            b: self.1.cache_on(device, rows)?,
            dh: device.alloc(rows * A::Out::SIZE)?,
        })
    }

    fn forward_on(
        &self,
        device: &D,
        params: &[D::Buffer],
        x: &D::Buffer,
        rows: usize,
        cache: &mut Self::DeviceCache,
    ) -> Result<()> {
        let (pa, pb) = params.split_at(A::SLOTS);
        if let Some(act) = fused_activation::<E, D, In, A, B>(self) {
            let Some(out) = B::head_output(&mut cache.b) else {
                unreachable!("a layer with a head activation has its output buffer")
            };
            self.0
                .forward_fused(device, pa, x, rows, &mut cache.a, act, out)?;
            return self.1.forward_after_head(device, pb, rows, &mut cache.b);
        }
        self.0.forward_on(device, pa, x, rows, &mut cache.a)?;
        self.1
            .forward_on(device, pb, A::output_on(&cache.a), rows, &mut cache.b)
    }

    fn head_activation(&self) -> Option<Activation> {
        self.0.head_activation()
    }

    fn head_output(cache: &mut Self::DeviceCache) -> Option<&mut D::Buffer> {
        A::head_output(&mut cache.a)
    }

    fn forward_after_head(
        &self,
        device: &D,
        params: &[D::Buffer],
        rows: usize,
        cache: &mut Self::DeviceCache,
    ) -> Result<()> {
        let (pa, pb) = params.split_at(A::SLOTS);
        self.0.forward_after_head(device, pa, rows, &mut cache.a)?;
        self.1
            .forward_on(device, pb, A::output_on(&cache.a), rows, &mut cache.b)
    }

    fn output_on(cache: &Self::DeviceCache) -> &D::Buffer {
        B::output_on(&cache.b)
    }

    fn backward_on(
        &self,
        device: &D,
        params: &[D::Buffer],
        x: &D::Buffer,
        rows: usize,
        cache: &mut Self::DeviceCache,
        dy: &D::Buffer,
        grads: &mut [D::Buffer],
        dx: Option<&mut D::Buffer>,
    ) -> Result<()> {
        let (pa, pb) = params.split_at(A::SLOTS);
        let (ga, gb) = grads.split_at_mut(A::SLOTS);
        let PairDeviceCache { a, b, dh } = cache;
        let h = A::output_on(a);
        self.1
            .backward_on(device, pb, h, rows, b, dy, gb, Some(dh))?;
        self.0.backward_on(device, pa, x, rows, a, dh, ga, dx)
    }
}
