//! Two layers a user writes, once, for every device: SiLU and a residual
//! block. They are made of the `Device` primitives only, so they train on
//! the CPU and on a GPU with the same code (see `docs/guide.md`).

use forma::core::{BiasKind, Binary};
use forma::layers::{Resident, Takes};
use forma::prelude::*;

/// SiLU (swish): `y = x · sigmoid(x)`, at any width.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SiLU;

// No parameters: the walkers, `Initialize` and the moves between devices.
forma::layers::params!(SiLU);

/// The shape rule: SiLU keeps the width.
impl<const N: usize> Takes<Const<N>> for SiLU {
    type Out = Const<N>;
}

/// What SiLU keeps between its forward and backward passes.
pub struct SiLUCache<E: Float, B: Dim, D: Device<E>, const N: usize> {
    /// `sigmoid(x)`.
    s: Tensor<E, B, Const<N>, D>,
    /// The output.
    y: Tensor<E, B, Const<N>, D>,
    /// Scratch for the backward pass.
    t: Tensor<E, B, Const<N>, D>,
}

impl<E: Float, D: Device<E>, const N: usize> Module<E, Const<N>, D> for SiLU {
    type Cache<B: Dim> = SiLUCache<E, B, D, N>;

    fn new_cache<B: Dim>(&self, device: &D, batch: B) -> Result<Self::Cache<B>> {
        Ok(SiLUCache {
            s: Tensor::zeros_on(device, batch, Const)?,
            y: Tensor::zeros_on(device, batch, Const)?,
            t: Tensor::zeros_on(device, batch, Const)?,
        })
    }

    fn forward<'c, B: Dim>(
        &self,
        device: &D,
        x: &Tensor<E, B, Const<N>, D>,
        c: &'c mut Self::Cache<B>,
    ) -> Result<&'c Tensor<E, B, Const<N>, D>> {
        c.s.resize_rows(device, x.row_dim())?;
        c.y.resize_rows(device, x.row_dim())?;
        let (rows, kind) = (x.rows(), BiasKind::None);
        // s = sigmoid(x); y = x ⊙ s
        device.bias_act(
            rows,
            N,
            Some(x.buffer()),
            None,
            kind,
            Activation::Sigmoid,
            c.s.buffer_mut(),
        )?;
        device.binary(
            Binary::Mul,
            x.len(),
            x.buffer(),
            c.s.buffer(),
            c.y.buffer_mut(),
        )?;
        Ok(&c.y)
    }

    fn output<B: Dim>(c: &Self::Cache<B>) -> &Tensor<E, B, Const<N>, D> {
        &c.y
    }

    fn backward<B: Dim>(
        &self,
        device: &D,
        x: &Tensor<E, B, Const<N>, D>,
        c: &mut Self::Cache<B>,
        dy: &Tensor<E, B, Const<N>, D>,
        _grads: &mut Self,
        dx: Option<&mut Tensor<E, B, Const<N>, D>>,
    ) -> Result<()> {
        let Some(dx) = dx else { return Ok(()) };
        // dy/dx = s + x · s(1 - s)
        let n = dy.len();
        c.t.resize_rows(device, dy.row_dim())?;
        dx.resize_rows(device, dy.row_dim())?;
        let (s, t) = (c.s.buffer(), c.t.buffer_mut());
        device.act_backward(n, Activation::Sigmoid, x.buffer(), s, dy.buffer(), t)?; // t = dy·s(1-s)
        device.binary(Binary::Mul, n, x.buffer(), c.t.buffer(), dx.buffer_mut())?; // dx = x·t
        device.binary(Binary::Mul, n, dy.buffer(), c.s.buffer(), c.t.buffer_mut())?; // t = dy·s
        device.axpby(n, E::ONE, c.t.buffer(), E::ONE, dx.buffer_mut()) // dx += t
    }
}

/// A residual block: `y = x + f(x)`, for any `f` that keeps the width.
#[derive(Clone, Debug, PartialEq)]
pub struct Residual<F> {
    /// The branch.
    pub f: F,
}

// The parameters are the branch's.
forma::layers::params!([F] Residual<F> { f: F });

impl<F: Initialize> Initialize for Residual<F> {
    fn initialize(rng: &mut Rng) -> Self {
        Residual {
            f: F::initialize(rng),
        }
    }
}

/// The shape rule: the block keeps the width, so its branch must too.
impl<F: Takes<Const<N>, Out = Const<N>>, const N: usize> Takes<Const<N>> for Residual<F> {
    type Out = Const<N>;
}

/// The branch's cache and the block's output.
pub struct ResidualCache<C, Y> {
    f: C,
    y: Y,
}

impl<E, D, F, const N: usize> Module<E, Const<N>, D> for Residual<F>
where
    E: Float,
    D: Device<E>,
    F: Module<E, Const<N>, D> + Takes<Const<N>, Out = Const<N>>,
{
    type Cache<B: Dim> = ResidualCache<F::Cache<B>, Tensor<E, B, Const<N>, D>>;

    fn new_cache<B: Dim>(&self, device: &D, batch: B) -> Result<Self::Cache<B>> {
        Ok(ResidualCache {
            f: self.f.new_cache(device, batch)?,
            y: Tensor::zeros_on(device, batch, Const)?,
        })
    }

    fn forward<'c, B: Dim>(
        &self,
        device: &D,
        x: &Tensor<E, B, Const<N>, D>,
        c: &'c mut Self::Cache<B>,
    ) -> Result<&'c Tensor<E, B, Const<N>, D>> {
        let h = self.f.forward(device, x, &mut c.f)?;
        c.y.resize_rows(device, x.row_dim())?;
        device.binary(
            Binary::Add,
            x.len(),
            x.buffer(),
            h.buffer(),
            c.y.buffer_mut(),
        )?;
        Ok(&c.y)
    }

    fn output<B: Dim>(c: &Self::Cache<B>) -> &Tensor<E, B, Const<N>, D> {
        &c.y
    }

    fn backward<B: Dim>(
        &self,
        device: &D,
        x: &Tensor<E, B, Const<N>, D>,
        c: &mut Self::Cache<B>,
        dy: &Tensor<E, B, Const<N>, D>,
        grads: &mut Self,
        mut dx: Option<&mut Tensor<E, B, Const<N>, D>>,
    ) -> Result<()> {
        // The branch's gradients, and its dx; then dx += dy (the skip).
        self.f
            .backward(device, x, &mut c.f, dy, &mut grads.f, dx.as_deref_mut())?;
        match dx {
            Some(dx) => device.axpby(dy.len(), E::ONE, dy.buffer(), E::ONE, dx.buffer_mut()),
            None => Ok(()),
        }
    }
}

/// Moving the block to a device moves its branch.
impl<E: Float, D: Resident<E>, F: ToDevice<E, D>> ToDevice<E, D> for Residual<F> {
    type On = Residual<F::On>;
    fn to_device(&self, device: &D) -> Result<Self::On> {
        Ok(Residual {
            f: self.f.to_device(device)?,
        })
    }
}

/// And back.
impl<E: Float, D: Resident<E>, F: ToHost<E, D>> ToHost<E, D> for Residual<F> {
    type Host = Residual<F::Host>;
    fn to_host(&self, device: &D) -> Result<Self::Host> {
        Ok(Residual {
            f: self.f.to_host(device)?,
        })
    }
}
