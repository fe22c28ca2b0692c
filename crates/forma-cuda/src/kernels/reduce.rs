//! Bias gradients: column sums or the total (`reduce.cu`).

use super::*;

impl Kernels {
    /// The bias gradient of a `rows x cols` output gradient into `out`.
    pub fn bias_grad(
        &self,
        (rows, cols): (usize, usize),
        dy: &CudaBuffer,
        kind: BiasKind,
        out: &mut CudaBuffer,
    ) -> Result<()> {
        let n = rows * cols;
        checks::bias_grad(rows, cols, dy.len(), kind, out.len())?;
        if kind == BiasKind::None {
            return Ok(());
        }
        self.fill(kind.len(cols), 0.0, out)?;
        if n == 0 {
            return Ok(());
        }
        let (mut pdy, mut pout) = (self.ptr(dy)?, self.ptr(out)?);
        if kind == BiasKind::Shared {
            let mut n32 = int("bias_grad", n)?;
            let mut args = [arg!(n32), arg!(pdy), arg!(pout)];
            // SAFETY: forma_sum(int n, const float* x, float* out) reads n of
            // dy and adds into out[0]; both checked.
            return unsafe { self.launch_1d("forma_sum", self.sum, n, &mut args) };
        }
        let chunk = rows.div_ceil(65535).max(256);
        let grid = (cols.div_ceil(32) as u32, rows.div_ceil(chunk) as u32, 1);
        let (mut r, mut c, mut ch) = (
            int("bias_grad rows", rows)?,
            int("bias_grad cols", cols)?,
            int("chunk", chunk)?,
        );
        let mut args = [arg!(r), arg!(c), arg!(ch), arg!(pdy), arg!(pout)];
        // SAFETY: forma_column_sums(int rows, int cols, int chunk, const float*
        // dy, float* out) reads rows·cols of dy and adds into out[0..cols).
        unsafe {
            self.launch(
                "forma_column_sums",
                self.column_sums,
                grid,
                (32, 8, 1),
                &mut args,
            )
        }
    }
}
