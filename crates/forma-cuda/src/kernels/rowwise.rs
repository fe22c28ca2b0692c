//! Softmax, its backward and softmax cross-entropy (`rowwise.cu`).

use super::*;

impl Kernels {
    /// `y = softmax(x)` per row of a `rows x cols` matrix.
    pub fn softmax(
        &self,
        (rows, cols): (usize, usize),
        x: &CudaBuffer,
        y: &mut CudaBuffer,
    ) -> Result<()> {
        checks::softmax(rows, cols, x.len(), y.len())?;
        let n = checks::elements(
            "softmax: x (rows·cols overflows usize)",
            (rows, cols),
            x.len(),
        )?;
        if n == 0 {
            return Ok(());
        }
        int("softmax elements", n)?;
        let (mut r, mut c) = (int("softmax rows", rows)?, int("softmax cols", cols)?);
        let (mut px, mut py) = (self.ptr(x)?, self.ptr(y)?);
        let mut args = [arg!(r), arg!(c), arg!(px), arg!(py)];
        // SAFETY: forma_softmax(int rows, int cols, const float* x, float* y)
        // touches rows·cols of x and y, both checked.
        unsafe { self.launch_1d("forma_softmax", self.softmax, rows, &mut args) }
    }

    /// `dx = y ⊙ (dy - rowsum(dy ⊙ y))` per row.
    pub fn softmax_backward(
        &self,
        (rows, cols): (usize, usize),
        y: &CudaBuffer,
        dy: &CudaBuffer,
        dx: &mut CudaBuffer,
    ) -> Result<()> {
        checks::softmax_backward(rows, cols, y.len(), dy.len(), dx.len())?;
        let n = checks::elements(
            "softmax_backward: y (rows·cols overflows usize)",
            (rows, cols),
            y.len(),
        )?;
        if n == 0 {
            return Ok(());
        }
        int("softmax_backward elements", n)?;
        let (mut r, mut c) = (
            int("softmax_backward rows", rows)?,
            int("softmax_backward cols", cols)?,
        );
        let (mut py, mut pdy, mut pdx) = (self.ptr(y)?, self.ptr(dy)?, self.ptr(dx)?);
        let mut args = [arg!(r), arg!(c), arg!(py), arg!(pdy), arg!(pdx)];
        // SAFETY: forma_softmax_backward(int rows, int cols, const float* y,
        // const float* dy, float* dx) touches rows·cols of each, all checked.
        unsafe {
            self.launch_1d(
                "forma_softmax_backward",
                self.softmax_backward,
                rows,
                &mut args,
            )
        }
    }

    /// Softmax cross-entropy over `rows` rows of `classes` logits: gradient
    /// into `grad`, the mean loss added into `total[0]` (zeroed here first).
    #[allow(clippy::too_many_arguments)]
    pub fn cross_entropy(
        &self,
        (rows, classes): (usize, usize),
        logits: &CudaBuffer,
        labels: &CudaBuffer,
        grad: &mut CudaBuffer,
        total: &mut CudaBuffer,
    ) -> Result<()> {
        checks::cross_entropy(rows, classes, logits.len(), labels.len(), grad.len())?;
        let n = checks::elements(
            "cross_entropy: logits (rows·classes overflows usize)",
            (rows, classes),
            logits.len(),
        )?;
        checks::fits("cross_entropy: total", 1, total.len())?;
        self.fill(1, 0.0, total)?;
        if n == 0 {
            return Ok(());
        }
        int("cross_entropy elements", n)?;
        let (mut r, mut c) = (
            int("cross_entropy rows", rows)?,
            int("cross_entropy classes", classes)?,
        );
        let mut scale = 1.0f32 / rows as f32;
        let (mut px, mut pl, mut pg, mut pt) = (
            self.ptr(logits)?,
            self.ptr(labels)?,
            self.ptr(grad)?,
            self.ptr(total)?,
        );
        let mut args = [
            arg!(r),
            arg!(c),
            arg!(scale),
            arg!(px),
            arg!(pl),
            arg!(pg),
            arg!(pt),
        ];
        // SAFETY: forma_cross_entropy(int rows, int classes, float scale, const
        // float* x, const float* labels, float* grad, float* total) touches
        // rows·classes of x and grad, rows of labels and total[0]; all checked,
        // and a label outside [0, classes) is not used as an index.
        unsafe { self.launch_1d("forma_cross_entropy", self.cross_entropy, rows, &mut args) }
    }
}
