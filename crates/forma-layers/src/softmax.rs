//! Softmax over the features of each row.

use forma_core::math::rowwise;
use forma_core::{Const, Float};

use crate::activation::no_params;
use crate::{Layer, Params};

/// `y_i = e^(x_i) / Σ_j e^(x_j)` over each row, computed with the row maximum
/// subtracted so that large inputs do not overflow.
///
/// For training a classifier prefer a linear output with
/// `SoftmaxCrossEntropy` (forma-losses), which fuses both stably.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Softmax;

no_params!(Softmax);

impl<const N: usize> crate::Takes<Const<N>> for Softmax {
    type Out = Const<N>;
}

impl<E: Float, const N: usize> Layer<E, Const<N>> for Softmax {
    fn infer(&self, x: [E; N]) -> [E; N] {
        let mut y = [E::ZERO; N];
        rowwise::softmax(&x, &mut y);
        y
    }
}

/// Softmax over each row, on every device: `y = softmax(x)`,
/// `dx = y ⊙ (dy - rowsum(dy ⊙ y))`.
#[cfg(feature = "alloc")]
impl<E: Float, D: forma_core::Device<E>, const N: usize> crate::Module<E, Const<N>, D> for Softmax {
    /// The output.
    type Cache<B: forma_core::Dim> = forma_core::Tensor<E, B, Const<N>, D>;

    fn new_cache<B: forma_core::Dim>(
        &self,
        device: &D,
        batch: B,
    ) -> forma_core::Result<Self::Cache<B>> {
        forma_core::Tensor::zeros_on(device, batch, Const)
    }

    fn forward<'c, B: forma_core::Dim>(
        &self,
        device: &D,
        x: &forma_core::Tensor<E, B, Const<N>, D>,
        y: &'c mut Self::Cache<B>,
    ) -> forma_core::Result<&'c forma_core::Tensor<E, B, Const<N>, D>> {
        y.resize_rows(device, x.row_dim())?;
        device.softmax(x.rows(), N, x.buffer(), y.buffer_mut())?;
        Ok(y)
    }

    fn output<B: forma_core::Dim>(y: &Self::Cache<B>) -> &forma_core::Tensor<E, B, Const<N>, D> {
        y
    }

    fn backward<B: forma_core::Dim>(
        &self,
        device: &D,
        _x: &forma_core::Tensor<E, B, Const<N>, D>,
        y: &mut Self::Cache<B>,
        dy: &forma_core::Tensor<E, B, Const<N>, D>,
        _grads: &mut Self,
        dx: Option<&mut forma_core::Tensor<E, B, Const<N>, D>>,
    ) -> forma_core::Result<()> {
        let Some(dx) = dx else { return Ok(()) };
        dx.resize_rows(device, dy.row_dim())?;
        device.softmax_backward(dy.rows(), N, y.buffer(), dy.buffer(), dx.buffer_mut())
    }
}
