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

impl<E: Float, const N: usize> Layer<E, Const<N>> for Softmax {
    type Out = Const<N>;
    fn infer(&self, x: [E; N]) -> [E; N] {
        let mut y = [E::ZERO; N];
        rowwise::softmax(&x, &mut y);
        y
    }
}

#[cfg(feature = "alloc")]
impl<E: Float, const N: usize> crate::Module<E, Const<N>> for Softmax {
    type Cache<B: forma_core::Dim> = forma_core::Tensor<E, B, Const<N>>;

    fn new_cache<B: forma_core::Dim>(&self, batch: B) -> Self::Cache<B> {
        forma_core::Tensor::zeros(batch, Const)
    }

    fn forward<'c, B: forma_core::Dim>(
        &self,
        x: &forma_core::Tensor<E, B, Const<N>>,
        y: &'c mut Self::Cache<B>,
    ) -> &'c forma_core::Tensor<E, B, Const<N>> {
        y.set_rows(x.row_dim());
        for (xr, yr) in x.as_rows().iter().zip(y.as_rows_mut()) {
            rowwise::softmax(xr, yr);
        }
        y
    }

    fn output<B: forma_core::Dim>(y: &Self::Cache<B>) -> &forma_core::Tensor<E, B, Const<N>> {
        y
    }

    /// `dx_i = y_i (dy_i - Σ_j dy_j y_j)`.
    fn backward<B: forma_core::Dim>(
        &self,
        x: &forma_core::Tensor<E, B, Const<N>>,
        y: &mut Self::Cache<B>,
        dy: &forma_core::Tensor<E, B, Const<N>>,
        _grads: &mut Self,
        dx: Option<&mut forma_core::Tensor<E, B, Const<N>>>,
    ) {
        if let Some(dx) = dx {
            dx.set_rows(x.row_dim());
            for ((yr, gr), dr) in y.as_rows().iter().zip(dy.as_rows()).zip(dx.as_rows_mut()) {
                rowwise::softmax_backward(yr, gr, dr);
            }
        }
    }
}
