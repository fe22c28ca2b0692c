//! Expressions in the training API: as a loss ([`RowLoss`]) and as a layer ([`RowFn`]).

use forma_core::{Const, Cpu, Dim, Float, Result, Tensor};
use forma_layers::{Layer, Params};
use forma_losses::Loss;

use crate::expr::{Ex, Expr, Node};
use crate::leaf::{Constant, Var, constant, var};
use crate::shape::{Mat, Scalar};

/// The prediction row as the loss expression's variable (id 0).
pub type PredRow<E, const C: usize> = Ex<Var<0, Mat<1, C>, E>>;
/// The target row as a constant.
pub type TargetRow<E, const C: usize> = Ex<Constant<Mat<1, C>, E>>;

/// A loss written as an expression of one prediction row and its target row,
/// summed (or averaged) over the batch; its gradient comes from the expression.
///
/// It runs on the [`Cpu`] device only: the expression is evaluated row by
/// row on the host. On another device `Loss` is not implemented for it, and
/// the trainer's construction does not compile.
///
/// ```
/// use forma_expr::RowLoss;
/// // Seed 000's loss, 0.5·Σ(t - o)², written by hand.
/// let half_sse = RowLoss::sum(|o: forma_expr::PredRow<f64, 2>, t: forma_expr::TargetRow<f64, 2>| {
///     ((t - o).powi(2) * 0.5).sum()
/// });
/// # let _ = half_sse;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RowLoss<F> {
    f: F,
    mean: bool,
}

impl<F> RowLoss<F> {
    /// The sum of the per-row losses.
    pub fn sum(f: F) -> Self {
        RowLoss { f, mean: false }
    }
    /// The mean of the per-row losses.
    pub fn mean(f: F) -> Self {
        RowLoss { f, mean: true }
    }
}

impl<E: Float, const C: usize, F, X> Loss<E, Const<C>, Cpu> for RowLoss<F>
where
    F: Fn(PredRow<E, C>, TargetRow<E, C>) -> Ex<X>,
    X: Expr<E> + Node<Shape = Scalar>,
{
    type Target<B: Dim> = Tensor<E, B, Const<C>>;

    fn value_and_grad<B: Dim>(
        &self,
        _device: &Cpu,
        pred: &Tensor<E, B, Const<C>>,
        target: &Tensor<E, B, Const<C>>,
        grad: &mut Tensor<E, B, Const<C>>,
    ) -> Result<E> {
        forma_core::check_len("RowLoss target rows", pred.rows(), target.rows())?;
        grad.resize_rows(&Cpu, pred.row_dim())?;
        let scale = if self.mean {
            E::ONE / E::from_f64(pred.rows() as f64)
        } else {
            E::ONE
        };
        let mut total = E::ZERO;
        for ((p, t), g) in pred
            .as_rows()
            .iter()
            .zip(target.as_rows())
            .zip(grad.as_rows_mut())
        {
            let x = var::<0, Mat<1, C>, E>([*p]);
            let (value, [dx]) = (self.f)(x, constant([*t])).vjp(&scale, x)?;
            total += value;
            *g = dx;
        }
        Ok(total * scale)
    }
}

/// A parameter-free layer written as an expression of one input row.
///
/// It trains on the [`Cpu`] device only (the expression runs row by row on
/// the host); on another device `Module` is not implemented for it, so a
/// network holding one does not compile there.
///
/// ```
/// use forma_expr::{Mat, RowFn, Var, Ex};
/// use forma_layers::Network;
/// // Swish, x·σ(x), as a layer of width 3.
/// let swish = RowFn::<_, 3, 3>::new(|x: Ex<Var<0, Mat<1, 3>, f64>>| x * x.sigmoid());
/// # let _ = swish;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RowFn<F, const I: usize, const O: usize> {
    f: F,
}

impl<F, const I: usize, const O: usize> RowFn<F, I, O> {
    /// The layer `x ↦ f(x)` from `I` to `O` features.
    pub fn new(f: F) -> Self {
        RowFn { f }
    }
}

impl<E: Float, P: ?Sized, F: Clone, const I: usize, const O: usize> Params<E, P>
    for RowFn<F, I, O>
{
    const COUNT: usize = 0;
    fn zeros_like(&self) -> Result<Self> {
        Ok(self.clone())
    }
    fn visit(&self, _f: &mut impl FnMut(&P)) {}
    fn visit_mut(&mut self, _f: &mut impl FnMut(&mut P)) {}
    fn zip_mut(&mut self, _g: &Self, _f: &mut impl FnMut(&mut P, &P)) {}
    fn zip2_mut(&mut self, _g: &Self, _s: &mut Self, _f: &mut impl FnMut(&mut P, &P, &mut P)) {}
    fn zip3_mut(
        &mut self,
        _g: &Self,
        _s: &mut Self,
        _t: &mut Self,
        _f: &mut impl FnMut(&mut P, &P, &mut P, &mut P),
    ) {
    }
    fn zip3(&self, _g: &Self, _s: &Self, _t: &Self, _f: &mut impl FnMut(&P, &P, &P, &P)) {}
}

/// No parameters: a number in a sequence, no tensors.
impl<F, const I: usize, const O: usize> forma_layers::Named for RowFn<F, I, O> {
    fn names_at(&self, _prefix: &mut String, _f: &mut dyn FnMut(&str, &[usize])) {}
}

impl<F, const I: usize, const O: usize> forma_layers::Takes<Const<I>> for RowFn<F, I, O> {
    type Out = Const<O>;
}

impl<E: Float, F: Clone, X, const I: usize, const O: usize> Layer<E, Const<I>> for RowFn<F, I, O>
where
    F: Fn(Ex<Var<0, Mat<1, I>, E>>) -> Ex<X>,
    X: Expr<E> + Node<Shape = Mat<1, O>>,
{
    fn infer(&self, x: [E; I]) -> [E; O] {
        let [y] = (self.f)(var([x])).value();
        y
    }
}

impl<E: Float, F: Clone, X, const I: usize, const O: usize> forma_layers::Module<E, Const<I>, Cpu>
    for RowFn<F, I, O>
where
    F: Fn(Ex<Var<0, Mat<1, I>, E>>) -> Ex<X>,
    X: Expr<E> + Node<Shape = Mat<1, O>>,
{
    type Cache<B: Dim> = Tensor<E, B, Const<O>>;

    fn new_cache<B: Dim>(&self, _device: &Cpu, batch: B) -> Result<Self::Cache<B>> {
        Tensor::try_zeros(batch, Const)
    }

    fn forward<'c, B: Dim>(
        &self,
        _device: &Cpu,
        x: &Tensor<E, B, Const<I>>,
        y: &'c mut Self::Cache<B>,
    ) -> Result<&'c Tensor<E, B, Const<O>>> {
        y.resize_rows(&Cpu, x.row_dim())?;
        for (xr, yr) in x.as_rows().iter().zip(y.as_rows_mut()) {
            *yr = self.infer(*xr);
        }
        Ok(y)
    }

    fn output<B: Dim>(y: &Self::Cache<B>) -> &Tensor<E, B, Const<O>> {
        y
    }

    fn backward<B: Dim>(
        &self,
        _device: &Cpu,
        x: &Tensor<E, B, Const<I>>,
        _y: &mut Self::Cache<B>,
        dy: &Tensor<E, B, Const<O>>,
        _grads: &mut Self,
        dx: Option<&mut Tensor<E, B, Const<I>>>,
    ) -> Result<()> {
        if let Some(dx) = dx {
            dx.resize_rows(&Cpu, x.row_dim())?;
            for ((xr, gr), dr) in x.as_rows().iter().zip(dy.as_rows()).zip(dx.as_rows_mut()) {
                let v = var::<0, Mat<1, I>, E>([*xr]);
                // Fails only if `f` builds its own variable 0 of another shape.
                let (_, [d]) = (self.f)(v).vjp(&[*gr], v)?;
                *dr = d;
            }
        }
        Ok(())
    }
}
