//! `Linear<I, O>`: `y = x·Wᵀ + b`.

use core::ops::{Add, Mul};

use forma_core::generic_array::ArrayLength;
use forma_core::typenum::generic_const_mappings::Const as TConst;
use forma_core::typenum::{Prod, Sum, ToUInt, U};
use forma_core::{Const, ConstDim, Error, Float, Init, Result, Rng, SameWidth};

use crate::Layer;
use crate::bias::{Bias, PerOutput};
use crate::params::{FlatParams, Params};
use crate::storage::{DefaultStorage, HostStorage, Storage};

/// A fully connected layer from `I` to `O` features: `y = x·Wᵀ + b`.
///
/// The weight is `O x I` (out x in), PyTorch's `nn.Linear.weight` layout. The
/// bias layout is a type: [`PerOutput`] (default), [`SharedBias`](crate::SharedBias)
/// (one scalar for every output) or [`NoBias`](crate::NoBias). `S` says where
/// the parameters live: on the heap ([`Heap`](crate::Heap), the default),
/// inline ([`Inline`](crate::Inline)), or in a device's memory (`Cuda`).
///
/// ```
/// use forma_layers::{Linear, Network, SharedBias};
/// // Seed 000's first layer: W1 as PyTorch would store it, one shared bias 0.3.
/// let l = Linear::<2, 2, f64, SharedBias>::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3]).unwrap();
/// let y = l.predict([0.2, 0.1]);
/// assert!((y[0] - 0.35).abs() < 1e-15 && (y[1] - 0.395).abs() < 1e-15);
/// ```
pub struct Linear<
    const I: usize,
    const O: usize,
    E: Float = f32,
    B: Bias = PerOutput,
    S: Storage<E> = DefaultStorage,
> {
    weight: S::Mat<O, I>,
    bias: S::Bias<B, O>,
    /// [`Params::known_max`]: set by a backward that measured the gradient
    /// it wrote here, forgotten by every mutable access.
    known_max: Option<E>,
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: HostStorage<E>> Clone
    for Linear<I, O, E, B, S>
where
    S::Mat<O, I>: Clone,
{
    fn clone(&self) -> Self {
        Linear {
            weight: self.weight.clone(),
            bias: S::bias_from(*S::bias_param(&self.bias)),
            known_max: self.known_max,
        }
    }
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: HostStorage<E>> core::fmt::Debug
    for Linear<I, O, E, B, S>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Linear")
            .field("weight", S::rows(&self.weight))
            .field("bias", S::bias_param(&self.bias))
            .finish()
    }
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: HostStorage<E>> PartialEq
    for Linear<I, O, E, B, S>
{
    fn eq(&self, other: &Self) -> bool {
        S::rows(&self.weight) == S::rows(&other.weight)
            && S::bias_param(&self.bias) == S::bias_param(&other.bias)
    }
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage<E>> Linear<I, O, E, B, S> {
    /// A layer from its parameter buffers (a device's storage builds its
    /// layers this way when a model moves to it). `Err` unless the weight
    /// holds `O · I` elements and the bias what its layout needs: a device
    /// buffer's length is not in its type. For [`Heap`](crate::Heap) the
    /// weight is a `Box<Aligned<[[E; I]; O]>>` (see there).
    pub fn from_parts(weight: S::Mat<O, I>, bias: S::Bias<B, O>) -> Result<Self> {
        let bias_len = O * B::LEN_PER_OUTPUT + B::LEN_FIXED;
        forma_core::check_len("Linear::from_parts weight", O * I, S::len(S::mat(&weight)))?;
        forma_core::check_len("Linear::from_parts bias", bias_len, S::len(S::bias(&bias)))?;
        Ok(Linear {
            weight,
            bias,
            known_max: None,
        })
    }

    /// The parameter buffers: the weight (`O x I`, row-major) and the bias.
    pub fn parts(&self) -> (&S::Mat<O, I>, &S::Bias<B, O>) {
        (&self.weight, &self.bias)
    }
}

impl<const I: usize, const O: usize, E: Float, B: Bias> Linear<I, O, E, B, crate::Inline> {
    /// The layer from its inline parameters, in a `const` context (see
    /// [`crate::embed`]).
    pub(crate) const fn from_inline(weight: [[E; I]; O], bias: B::Param<E, O>) -> Self {
        Linear {
            weight,
            bias,
            known_max: None,
        }
    }
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: HostStorage<E>> Linear<I, O, E, B, S> {
    /// All parameters zero.
    pub fn zeros() -> Self {
        Linear {
            weight: S::zeros(),
            bias: S::bias_from(B::zeros()),
            known_max: None,
        }
    }

    /// Weight drawn by `weight` and bias by `bias` (in that order), with fan-in `I`
    /// and fan-out `O`. `Err` if a setting of either is not finite (or gives
    /// values that are not finite in `E`).
    pub fn init(weight: Init, bias: Init, rng: &mut Rng) -> Result<Self> {
        let mut l = Self::zeros();
        weight.fill(I, O, rng, S::mat_mut(&mut l.weight))?;
        bias.fill(I, O, rng, S::bias_mut(&mut l.bias))?;
        Ok(l)
    }

    /// PyTorch's `nn.Linear` default: weight and bias ~ U(-1/√I, 1/√I).
    pub fn pytorch_default(rng: &mut Rng) -> Self {
        match Self::init(Init::PyTorchLinear, Init::PyTorchLinear, rng) {
            Ok(l) => l,
            Err(_) => unreachable!("PyTorchLinear has no settings to get wrong"),
        }
    }

    /// Exact values: the weight as `[out][in]` and the bias; `Err` naming
    /// the element if one is NaN or infinite.
    pub fn from_weights(weight: [[E; I]; O], bias: B::Param<E, O>) -> Result<Self> {
        forma_core::check_finite("Linear::from_weights weight", weight.as_flattened())?;
        forma_core::check_finite("Linear::from_weights bias", bias.as_ref())?;
        let mut l = Self::zeros();
        *S::rows_mut(&mut l.weight) = weight;
        l.bias = S::bias_from(bias);
        Ok(l)
    }

    /// Exact values from slices: `weight` row-major `[out][in]` (length `O*I`) and
    /// `bias` (length `O`, 1 or 0 by bias layout); finite values only.
    pub fn from_slices(weight: &[E], bias: &[E]) -> Result<Self> {
        let mut l = Self::zeros();
        let bias_len = S::bias(&l.bias).len();
        if weight.len() != O * I {
            return Err(Error::Length {
                what: "Linear::from_slices weight",
                expected: O * I,
                got: weight.len(),
            });
        }
        if bias.len() != bias_len {
            return Err(Error::Length {
                what: "Linear::from_slices bias",
                expected: bias_len,
                got: bias.len(),
            });
        }
        forma_core::check_finite("Linear::from_slices weight", weight)?;
        forma_core::check_finite("Linear::from_slices bias", bias)?;
        S::mat_mut(&mut l.weight).copy_from_slice(weight);
        S::bias_mut(&mut l.bias).copy_from_slice(bias);
        Ok(l)
    }

    /// The weight, `[out][in]`.
    pub fn weight(&self) -> &[[E; I]; O] {
        S::rows(&self.weight)
    }

    /// The weight, mutable.
    pub fn weight_mut(&mut self) -> &mut [[E; I]; O] {
        self.known_max = None;
        S::rows_mut(&mut self.weight)
    }

    /// The bias parameters (`O`, 1 or 0 of them).
    pub fn bias(&self) -> &[E] {
        S::bias(&self.bias)
    }

    /// The bias parameters, mutable.
    pub fn bias_mut(&mut self) -> &mut [E] {
        self.known_max = None;
        S::bias_mut(&mut self.bias)
    }
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage<E>> Params<E, S::Slice>
    for Linear<I, O, E, B, S>
{
    const COUNT: usize = O * I + O * B::LEN_PER_OUTPUT + B::LEN_FIXED;

    fn zeros_like(&self) -> Result<Self> {
        Ok(Linear {
            weight: S::mat_zeros_like(&self.weight)?,
            bias: S::bias_zeros_like(&self.bias)?,
            known_max: None,
        })
    }
    #[inline]
    fn visit(&self, f: &mut impl FnMut(&S::Slice)) {
        f(S::mat(&self.weight));
        f(S::bias(&self.bias));
    }
    #[inline]
    fn visit_mut(&mut self, f: &mut impl FnMut(&mut S::Slice)) {
        self.known_max = None;
        f(S::mat_mut(&mut self.weight));
        f(S::bias_mut(&mut self.bias));
    }
    #[inline]
    fn zip_mut(&mut self, g: &Self, f: &mut impl FnMut(&mut S::Slice, &S::Slice)) {
        self.known_max = None;
        f(S::mat_mut(&mut self.weight), S::mat(&g.weight));
        f(S::bias_mut(&mut self.bias), S::bias(&g.bias));
    }
    fn zip2_mut(
        &mut self,
        g: &Self,
        s: &mut Self,
        f: &mut impl FnMut(&mut S::Slice, &S::Slice, &mut S::Slice),
    ) {
        (self.known_max, s.known_max) = (None, None);
        f(
            S::mat_mut(&mut self.weight),
            S::mat(&g.weight),
            S::mat_mut(&mut s.weight),
        );
        f(
            S::bias_mut(&mut self.bias),
            S::bias(&g.bias),
            S::bias_mut(&mut s.bias),
        );
    }
    fn zip3_mut(
        &mut self,
        g: &Self,
        s: &mut Self,
        t: &mut Self,
        f: &mut impl FnMut(&mut S::Slice, &S::Slice, &mut S::Slice, &mut S::Slice),
    ) {
        (self.known_max, s.known_max, t.known_max) = (None, None, None);
        f(
            S::mat_mut(&mut self.weight),
            S::mat(&g.weight),
            S::mat_mut(&mut s.weight),
            S::mat_mut(&mut t.weight),
        );
        f(
            S::bias_mut(&mut self.bias),
            S::bias(&g.bias),
            S::bias_mut(&mut s.bias),
            S::bias_mut(&mut t.bias),
        );
    }
    fn zip3(
        &self,
        g: &Self,
        s: &Self,
        t: &Self,
        f: &mut impl FnMut(&S::Slice, &S::Slice, &S::Slice, &S::Slice),
    ) {
        f(
            S::mat(&self.weight),
            S::mat(&g.weight),
            S::mat(&s.weight),
            S::mat(&t.weight),
        );
        f(
            S::bias(&self.bias),
            S::bias(&g.bias),
            S::bias(&s.bias),
            S::bias(&t.bias),
        );
    }
    fn known_max(&self) -> Option<E> {
        self.known_max
    }
}

/// `Count = O*I + O*(per-output bias) + (shared bias)`, computed by typenum.
impl<const I: usize, const O: usize, E: Float, B: Bias, S: HostStorage<E>> FlatParams<E>
    for Linear<I, O, E, B, S>
where
    TConst<I>: ToUInt,
    TConst<O>: ToUInt,
    U<O>: Mul<U<I>> + Mul<B::PerOutputCount>,
    Prod<U<O>, U<I>>: Add<Prod<U<O>, B::PerOutputCount>>,
    Sum<Prod<U<O>, U<I>>, Prod<U<O>, B::PerOutputCount>>: Add<B::FixedCount>,
    Sum<Sum<Prod<U<O>, U<I>>, Prod<U<O>, B::PerOutputCount>>, B::FixedCount>: ArrayLength,
{
    type Count = Sum<Sum<Prod<U<O>, U<I>>, Prod<U<O>, B::PerOutputCount>>, B::FixedCount>;
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage<E>> crate::FixedInput
    for Linear<I, O, E, B, S>
{
    type Input = Const<I>;
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage<E>, In> crate::Takes<In>
    for Linear<I, O, E, B, S>
where
    In: SameWidth<Const<I>>,
{
    type Out = Const<O>;
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: HostStorage<E>, In> Layer<E, In>
    for Linear<I, O, E, B, S>
where
    In: SameWidth<Const<I>>,
{
    fn infer(&self, x: In::Array<E>) -> [E; O] {
        let x: [E; I] = In::cast_array(x);
        let w = S::rows(&self.weight);
        let bias = S::bias_param(&self.bias);
        core::array::from_fn(|j| {
            let mut acc = E::ZERO;
            for (a, b) in x.iter().zip(&w[j]) {
                acc += *a * *b;
            }
            acc + B::of(bias, j)
        })
    }
}

/// `weight` `[out, in]` and `bias` (`[out]`, `[1]` shared, `[0]` none).
#[cfg(feature = "alloc")]
impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage<E>> crate::Named
    for Linear<I, O, E, B, S>
{
    fn names_at(&self, prefix: &mut alloc::string::String, f: &mut dyn FnMut(&str, &[usize])) {
        crate::named::tensor(prefix, "weight", &[O, I], f);
        let bias = O * B::LEN_PER_OUTPUT + B::LEN_FIXED;
        crate::named::tensor(prefix, "bias", &[bias], f);
    }
}

#[cfg(feature = "alloc")]
mod train {
    use super::*;
    use crate::Module;
    use forma_core::{Activation, Device, Dim, Tensor};

    /// Written once for every device: the device's `linear_forward_fixed` and
    /// `linear_backward_fixed` get the widths as constants (the CPU picks its
    /// unrolled kernels from them), and the parameters are passed from the
    /// layer's own storage.
    impl<const I: usize, const O: usize, E, B, S, D, In> Module<E, In, D> for Linear<I, O, E, B, S>
    where
        E: Float,
        B: Bias,
        S: Storage<E>,
        D: Device<E, Slice = S::Slice>,
        In: SameWidth<Const<I>>,
    {
        /// The output.
        type Cache<Bt: Dim> = Tensor<E, Bt, Const<O>, D>;

        fn new_cache<Bt: Dim>(&self, device: &D, batch: Bt) -> Result<Self::Cache<Bt>> {
            Tensor::zeros_on(device, batch, Const)
        }

        #[inline]
        fn forward<'c, Bt: Dim>(
            &self,
            device: &D,
            x: &Tensor<E, Bt, In, D>,
            y: &'c mut Self::Cache<Bt>,
        ) -> Result<&'c Tensor<E, Bt, Const<O>, D>> {
            linear_forward(self, device, x, Activation::Identity, y)?;
            Ok(y)
        }

        fn output<Bt: Dim>(y: &Self::Cache<Bt>) -> &Tensor<E, Bt, Const<O>, D> {
            y
        }

        const FUSES_ACTIVATION: bool = true;

        #[inline]
        fn forward_fused<Bt: Dim>(
            &self,
            device: &D,
            x: &Tensor<E, Bt, In, D>,
            _y: &mut Self::Cache<Bt>,
            act: Activation,
            out: &mut Tensor<E, Bt, Const<O>, D>,
        ) -> Result<()> {
            linear_forward(self, device, x, act, out)
        }

        #[inline]
        fn backward<Bt: Dim>(
            &self,
            device: &D,
            x: &Tensor<E, Bt, In, D>,
            _y: &mut Self::Cache<Bt>,
            dy: &Tensor<E, Bt, Const<O>, D>,
            grads: &mut Self,
            dx: Option<&mut Tensor<E, Bt, In, D>>,
        ) -> Result<()> {
            linear_backward(self, device, x, dy, grads, dx, Activation::Identity)
        }

        const FUSES_INPUT_DERIVATIVE: bool = true;

        #[inline]
        fn backward_through<Bt: Dim>(
            &self,
            device: &D,
            x: &Tensor<E, Bt, In, D>,
            _y: &mut Self::Cache<Bt>,
            dy: &Tensor<E, Bt, Const<O>, D>,
            grads: &mut Self,
            act: Activation,
            dx: &mut Tensor<E, Bt, In, D>,
        ) -> Result<()> {
            linear_backward(self, device, x, dy, grads, Some(dx), act)
        }
    }

    /// The weight and bias gradients into `grads` and, if asked, the input
    /// gradient into `dx`, carried on through `x_act` (the activation whose
    /// output `x` is; `Identity` for none).
    #[inline]
    fn linear_backward<const I: usize, const O: usize, E, B, S, D, In, Bt>(
        layer: &Linear<I, O, E, B, S>,
        device: &D,
        x: &Tensor<E, Bt, In, D>,
        dy: &Tensor<E, Bt, Const<O>, D>,
        grads: &mut Linear<I, O, E, B, S>,
        dx: Option<&mut Tensor<E, Bt, In, D>>,
        x_act: Activation,
    ) -> Result<()>
    where
        E: Float,
        B: Bias,
        S: Storage<E>,
        D: Device<E, Slice = S::Slice>,
        In: ConstDim,
        Bt: Dim,
    {
        let dx = match dx {
            Some(dx) => {
                dx.resize_rows(device, x.row_dim())?;
                Some(dx.buffer_mut())
            }
            None => None,
        };
        let Linear {
            weight,
            bias,
            known_max,
        } = grads;
        // Unknown until the device says, also if it fails half-way.
        *known_max = None;
        *known_max = device.linear_backward_fixed::<I, O>(
            x.rows(),
            x.buffer(),
            S::mat(&layer.weight),
            dy.buffer(),
            (S::mat_mut(weight), S::bias_mut(bias)),
            B::KIND,
            dx,
            x_act,
        )?;
        Ok(())
    }

    /// `out = act(x · Wᵀ + b)`: the forward pass, plain or fused.
    #[inline]
    fn linear_forward<const I: usize, const O: usize, E, B, S, D, In, Bt>(
        layer: &Linear<I, O, E, B, S>,
        device: &D,
        x: &Tensor<E, Bt, In, D>,
        act: Activation,
        out: &mut Tensor<E, Bt, Const<O>, D>,
    ) -> Result<()>
    where
        E: Float,
        B: Bias,
        S: Storage<E>,
        D: Device<E, Slice = S::Slice>,
        In: ConstDim,
        Bt: Dim,
    {
        out.resize_rows(device, x.row_dim())?;
        device.linear_forward_fixed::<I, O>(
            x.rows(),
            x.buffer(),
            S::mat(&layer.weight),
            S::bias(&layer.bias),
            B::KIND,
            act,
            out.buffer_mut(),
        )
    }
}

// `ConstDim` is used in the `Layer` impl's signature through `In::Array`.
#[allow(unused_imports)]
use ConstDim as _;
