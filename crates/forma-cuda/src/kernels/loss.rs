//! Elementwise losses with their gradients (`loss.cu`).

use super::*;

impl Kernels {
    /// The loss over `n` elements: gradient into `grad`, the scaled sum added
    /// into `total[0]` (which this zeroes first).
    #[allow(clippy::too_many_arguments)]
    pub fn loss(
        &self,
        kind: LossKind,
        n: usize,
        pred: &CudaBuffer,
        target: &CudaBuffer,
        grad: &mut CudaBuffer,
        total: &mut CudaBuffer,
    ) -> Result<()> {
        checks::loss(n, pred.len(), target.len(), grad.len())?;
        self.fill(1, 0.0, total)?;
        if n == 0 {
            return Ok(());
        }
        let (mut code, mut factor): (i32, f32) = match kind {
            LossKind::SquaredError { factor, .. } => (0, factor as f32),
            LossKind::Bce => (1, 1.0),
            LossKind::BceWithLogits => (2, 1.0),
        };
        let (mut n32, mut scale) = (int("loss", n)?, kind.scale::<f32>(n));
        let (mut pp, mut pt, mut pg, mut ptot) = (
            self.ptr(pred)?,
            self.ptr(target)?,
            self.ptr(grad)?,
            self.ptr(total)?,
        );
        let mut args = [
            arg!(code),
            arg!(n32),
            arg!(factor),
            arg!(scale),
            arg!(pp),
            arg!(pt),
            arg!(pg),
            arg!(ptot),
        ];
        // SAFETY: forma_loss(int kind, int n, float factor, float scale, const
        // float* pred, const float* target, float* grad, float* total) touches
        // n of pred, target and grad, and total[0]; all checked.
        unsafe { self.launch_1d("forma_loss", self.loss, n, &mut args) }
    }
}
