//! `Linear<I, O>`: `y = x·Wᵀ + b`.

use core::borrow::{Borrow, BorrowMut};
use core::ops::{Add, Mul};

use forma_core::generic_array::ArrayLength;
use forma_core::typenum::generic_const_mappings::Const as TConst;
use forma_core::typenum::{Prod, Sum, ToUInt, U};
use forma_core::{Const, ConstDim, Error, Float, Init, Result, Rng, SameWidth};

use crate::Layer;
use crate::bias::{Bias, PerOutput};
use crate::params::{FlatParams, Params};
use crate::storage::{DefaultStorage, Storage};

/// A fully connected layer from `I` to `O` features: `y = x·Wᵀ + b`.
///
/// The weight is `O x I` (out x in), PyTorch's `nn.Linear.weight` layout. The
/// bias layout is a type: [`PerOutput`] (default), [`SharedBias`](crate::SharedBias)
/// (one scalar for every output) or [`NoBias`](crate::NoBias). `S` chooses heap
/// or inline storage of the weight.
///
/// ```
/// use forma_layers::{Linear, Network, SharedBias};
/// // Seed 000's first layer: W1 as PyTorch would store it, one shared bias 0.3.
/// let l = Linear::<2, 2, f64, SharedBias>::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3]).unwrap();
/// let y = l.predict([0.2, 0.1]);
/// assert!((y[0] - 0.35).abs() < 1e-15 && (y[1] - 0.395).abs() < 1e-15);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Linear<
    const I: usize,
    const O: usize,
    E: Float = f32,
    B: Bias = PerOutput,
    S: Storage = DefaultStorage,
> {
    weight: S::Mat<E, O, I>,
    bias: B::Param<E, O>,
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage> Linear<I, O, E, B, S> {
    /// All parameters zero.
    pub fn zeros() -> Self {
        Linear {
            weight: S::zeros(),
            bias: B::zeros(),
        }
    }

    /// Weight drawn by `weight` and bias by `bias` (in that order), with fan-in `I`
    /// and fan-out `O`. `Err` if a setting of either is not finite (or gives
    /// values that are not finite in `E`).
    pub fn init(weight: Init, bias: Init, rng: &mut Rng) -> Result<Self> {
        let mut l = Self::zeros();
        weight.fill(I, O, rng, l.weight.borrow_mut().as_flattened_mut())?;
        bias.fill(I, O, rng, l.bias.as_mut())?;
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
        *l.weight.borrow_mut() = weight;
        l.bias = bias;
        Ok(l)
    }

    /// Exact values from slices: `weight` row-major `[out][in]` (length `O*I`) and
    /// `bias` (length `O`, 1 or 0 by bias layout); finite values only.
    pub fn from_slices(weight: &[E], bias: &[E]) -> Result<Self> {
        let mut l = Self::zeros();
        if weight.len() != O * I {
            return Err(Error::Length {
                what: "Linear::from_slices weight",
                expected: O * I,
                got: weight.len(),
            });
        }
        if bias.len() != l.bias.as_ref().len() {
            return Err(Error::Length {
                what: "Linear::from_slices bias",
                expected: l.bias.as_ref().len(),
                got: bias.len(),
            });
        }
        forma_core::check_finite("Linear::from_slices weight", weight)?;
        forma_core::check_finite("Linear::from_slices bias", bias)?;
        l.weight
            .borrow_mut()
            .as_flattened_mut()
            .copy_from_slice(weight);
        l.bias.as_mut().copy_from_slice(bias);
        Ok(l)
    }

    /// The weight, `[out][in]`.
    pub fn weight(&self) -> &[[E; I]; O] {
        self.weight.borrow()
    }

    /// The weight, mutable.
    pub fn weight_mut(&mut self) -> &mut [[E; I]; O] {
        self.weight.borrow_mut()
    }

    /// The bias parameters (`O`, 1 or 0 of them).
    pub fn bias(&self) -> &[E] {
        self.bias.as_ref()
    }

    /// The bias parameters, mutable.
    pub fn bias_mut(&mut self) -> &mut [E] {
        self.bias.as_mut()
    }
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage> Params<E>
    for Linear<I, O, E, B, S>
{
    const COUNT: usize = O * I + O * B::LEN_PER_OUTPUT + B::LEN_FIXED;

    fn zeros_like(&self) -> Self {
        Self::zeros()
    }
    fn visit(&self, f: &mut impl FnMut(&[E])) {
        f(self.weight.borrow().as_flattened());
        f(self.bias.as_ref());
    }
    fn visit_mut(&mut self, f: &mut impl FnMut(&mut [E])) {
        f(self.weight.borrow_mut().as_flattened_mut());
        f(self.bias.as_mut());
    }
    fn zip_mut(&mut self, g: &Self, f: &mut impl FnMut(&mut [E], &[E])) {
        f(
            self.weight.borrow_mut().as_flattened_mut(),
            g.weight.borrow().as_flattened(),
        );
        f(self.bias.as_mut(), g.bias.as_ref());
    }
    fn zip2_mut(&mut self, g: &Self, s: &mut Self, f: &mut impl FnMut(&mut [E], &[E], &mut [E])) {
        f(
            self.weight.borrow_mut().as_flattened_mut(),
            g.weight.borrow().as_flattened(),
            s.weight.borrow_mut().as_flattened_mut(),
        );
        f(self.bias.as_mut(), g.bias.as_ref(), s.bias.as_mut());
    }
    fn zip3_mut(
        &mut self,
        g: &Self,
        s: &mut Self,
        t: &mut Self,
        f: &mut impl FnMut(&mut [E], &[E], &mut [E], &mut [E]),
    ) {
        f(
            self.weight.borrow_mut().as_flattened_mut(),
            g.weight.borrow().as_flattened(),
            s.weight.borrow_mut().as_flattened_mut(),
            t.weight.borrow_mut().as_flattened_mut(),
        );
        f(
            self.bias.as_mut(),
            g.bias.as_ref(),
            s.bias.as_mut(),
            t.bias.as_mut(),
        );
    }
    fn zip3(&self, g: &Self, s: &Self, t: &Self, f: &mut impl FnMut(&[E], &[E], &[E], &[E])) {
        f(
            self.weight.borrow().as_flattened(),
            g.weight.borrow().as_flattened(),
            s.weight.borrow().as_flattened(),
            t.weight.borrow().as_flattened(),
        );
        f(
            self.bias.as_ref(),
            g.bias.as_ref(),
            s.bias.as_ref(),
            t.bias.as_ref(),
        );
    }
}

/// `Count = O*I + O*(per-output bias) + (shared bias)`, computed by typenum.
impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage> FlatParams<E>
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

impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage> crate::FixedInput
    for Linear<I, O, E, B, S>
{
    type Input = Const<I>;
}

impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage, In> Layer<E, In>
    for Linear<I, O, E, B, S>
where
    In: SameWidth<Const<I>>,
{
    type Out = Const<O>;

    fn infer(&self, x: In::Array<E>) -> [E; O] {
        let x: [E; I] = In::cast_array(x);
        let w = self.weight.borrow();
        core::array::from_fn(|j| {
            let mut acc = E::ZERO;
            for (a, b) in x.iter().zip(&w[j]) {
                acc += *a * *b;
            }
            acc + B::of(&self.bias, j)
        })
    }
}

#[cfg(feature = "alloc")]
mod train {
    use super::*;
    use crate::Module;
    use forma_core::math::{fixed, gemm, reduce};
    use forma_core::{Dim, Tensor};

    impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage, In> Module<E, In>
        for Linear<I, O, E, B, S>
    where
        In: SameWidth<Const<I>>,
    {
        /// The output.
        type Cache<Bt: Dim> = Tensor<E, Bt, Const<O>>;

        fn new_cache<Bt: Dim>(&self, batch: Bt) -> Self::Cache<Bt> {
            Tensor::zeros(batch, Const)
        }

        fn forward<'c, Bt: Dim>(
            &self,
            x: &Tensor<E, Bt, In>,
            y: &'c mut Self::Cache<Bt>,
        ) -> &'c Tensor<E, Bt, Const<O>> {
            let x = In::cast_ref(x);
            y.set_rows(x.row_dim());
            let w = self.weight.borrow();
            if fixed::is_small(I, O) {
                fixed::matmul_nt(x.as_rows(), w, E::ZERO, y.as_rows_mut());
            } else {
                gemm::sizes_from_types(gemm::matmul_nt(
                    x.rows(),
                    I,
                    O,
                    x.as_slice(),
                    w.as_flattened(),
                    E::ZERO,
                    y.as_mut_slice(),
                ));
            }
            if B::LEN_PER_OUTPUT + B::LEN_FIXED > 0 {
                for row in y.as_rows_mut() {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v += B::of(&self.bias, j);
                    }
                }
            }
            y
        }

        fn output<Bt: Dim>(y: &Self::Cache<Bt>) -> &Tensor<E, Bt, Const<O>> {
            y
        }

        fn backward<Bt: Dim>(
            &self,
            x: &Tensor<E, Bt, In>,
            _y: &mut Self::Cache<Bt>,
            dy: &Tensor<E, Bt, Const<O>>,
            grads: &mut Self,
            dx: Option<&mut Tensor<E, Bt, In>>,
        ) {
            let x = In::cast_ref(x);
            let m = x.rows();
            let w = self.weight.borrow();
            if fixed::is_small(I, O) {
                fixed::matmul_tn(
                    dy.as_rows(),
                    x.as_rows(),
                    E::ZERO,
                    grads.weight.borrow_mut(),
                );
            } else {
                let gw = grads.weight.borrow_mut().as_flattened_mut();
                gemm::sizes_from_types(gemm::matmul_tn(
                    O,
                    m,
                    I,
                    dy.as_slice(),
                    x.as_slice(),
                    E::ZERO,
                    gw,
                ));
            }
            if B::LEN_PER_OUTPUT + B::LEN_FIXED > 0 {
                let mut sums = [E::ZERO; O];
                reduce::sum_over_rows(m, O, dy.as_slice(), E::ZERO, &mut sums);
                B::grad_from_column_sums(&sums, &mut grads.bias);
            }
            if let Some(dx) = dx {
                let dx = In::cast_mut(dx);
                dx.set_rows(x.row_dim());
                if fixed::is_small(I, O) {
                    fixed::matmul_nn(dy.as_rows(), w, E::ZERO, dx.as_rows_mut());
                } else {
                    gemm::sizes_from_types(gemm::matmul_nn(
                        m,
                        O,
                        I,
                        dy.as_slice(),
                        w.as_flattened(),
                        E::ZERO,
                        dx.as_mut_slice(),
                    ));
                }
            }
        }
    }
}

// `ConstDim` is used in the `Layer` impl's signature through `In::Array`.
#[allow(unused_imports)]
use ConstDim as _;
