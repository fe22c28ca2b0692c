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
        checks::bias_grad(rows, cols, dy.len(), kind, out.len())?;
        let n = checks::elements(
            "bias_grad: dy (rows·cols overflows usize)",
            (rows, cols),
            dy.len(),
        )?;
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

impl Kernels {
    /// `counts[slot] += ` the number of NaN or infinite values in `x[..n]`.
    pub fn count_nonfinite(
        &self,
        n: usize,
        x: &CudaBuffer,
        counts: &mut CudaBuffer,
        slot: usize,
    ) -> Result<()> {
        checks::count_nonfinite(n, x.len(), counts.len(), slot)?;
        if n == 0 {
            return Ok(());
        }
        let (mut n32, mut px, mut pc, mut s32) = (
            int("count_nonfinite", n)?,
            self.ptr(x)?,
            self.ptr(counts)?,
            int("count_nonfinite slot", slot)?,
        );
        let mut args = [arg!(n32), arg!(px), arg!(pc), arg!(s32)];
        // SAFETY: forma_count_nonfinite(int n, const float* x, float* out,
        // int slot) reads x[0..n) and adds into out[slot]; both checked.
        unsafe { self.launch_1d("forma_count_nonfinite", self.count_nonfinite, n, &mut args) }
    }
}

impl Kernels {
    /// Sums of a `rows x cols` matrix along `axis` into `out`.
    pub fn sum_axis(
        &self,
        (rows, cols): (usize, usize),
        x: &CudaBuffer,
        axis: Axis,
        out: &mut CudaBuffer,
    ) -> Result<()> {
        checks::sum_axis(rows, cols, x.len(), axis, out.len())?;
        match axis {
            // Column sums: a bias gradient's kernel.
            Axis::Rows => self.bias_grad((rows, cols), x, BiasKind::PerColumn, out),
            Axis::Columns => {
                if rows == 0 {
                    return Ok(());
                }
                if cols == 0 {
                    return self.fill(rows, 0.0, out);
                }
                let (mut r, mut c, mut px, mut po) = (
                    int("sum_axis rows", rows)?,
                    int("sum_axis cols", cols)?,
                    self.ptr(x)?,
                    self.ptr(out)?,
                );
                let mut args = [arg!(r), arg!(c), arg!(px), arg!(po)];
                // One block per row (up to the grid limit; the kernel strides).
                let grid = (rows.min(MAX_BLOCKS) as u32, 1, 1);
                // SAFETY: forma_row_sums(int rows, int cols, const float* x,
                // float* out) reads x[0..rows·cols) and writes out[0..rows);
                // both checked.
                unsafe {
                    self.launch(
                        "forma_row_sums",
                        self.row_sums,
                        grid,
                        (THREADS, 1, 1),
                        &mut args,
                    )
                }
            }
        }
    }
}
