//! Fill, copy, bias + activation, activation backward (`elementwise.cu`).

use super::*;

impl Kernels {
    /// `y[..n] = value`.
    pub fn fill(&self, n: usize, value: f32, y: &mut CudaBuffer) -> Result<()> {
        checks::fill(n, y.len())?;
        if n == 0 {
            return Ok(());
        }
        let (mut n32, mut v, mut py) = (int("fill", n)?, value, self.ptr(y)?);
        let mut args = [arg!(n32), arg!(v), arg!(py)];
        // SAFETY: forma_fill(int, float, float*) writes y[0..n), and y holds n.
        unsafe { self.launch_1d("forma_fill", self.fill, n, &mut args) }
    }

    /// `y[..n] = x[..n]`.
    pub fn copy(&self, n: usize, x: &CudaBuffer, y: &mut CudaBuffer) -> Result<()> {
        checks::copy(n, x.len(), y.len())?;
        if n == 0 {
            return Ok(());
        }
        let (mut n32, mut px, mut py) = (int("copy", n)?, self.ptr(x)?, self.ptr(y)?);
        let mut args = [arg!(n32), arg!(px), arg!(py)];
        // SAFETY: forma_copy(int, const float*, float*) reads x[0..n) and
        // writes y[0..n); both hold n.
        unsafe { self.launch_1d("forma_copy", self.copy, n, &mut args) }
    }

    /// `y = act(x + bias)`; `x = None` is in place on `y`.
    #[allow(clippy::too_many_arguments)]
    pub fn bias_act(
        &self,
        (rows, cols): (usize, usize),
        x: Option<&CudaBuffer>,
        bias: Option<&CudaBuffer>,
        kind: BiasKind,
        act: Activation,
        y: &mut CudaBuffer,
    ) -> Result<()> {
        let (x_len, bias_len) = (x.map(CudaBuffer::len), bias.map(CudaBuffer::len));
        checks::bias_act((rows, cols), x_len, bias_len, kind, y.len())?;
        let n = checks::elements(
            "bias_act: y (rows·cols overflows usize)",
            (rows, cols),
            y.len(),
        )?;
        if n == 0 {
            return Ok(());
        }
        int("bias_act elements", n)?;
        let (mut r, mut c) = (int("bias_act rows", rows)?, int("bias_act cols", cols)?);
        let mut px = x.map_or(Ok(self.ptr(y)?), |x| self.ptr(x))?;
        let mut pb = bias.map_or(Ok(0), |b| self.ptr(b))?;
        let mut bk = bias_code(kind);
        let (code, slope) = act_code(act);
        let (mut code, mut slope, mut py) = (code, slope, self.ptr(y)?);
        let mut args = [
            arg!(r),
            arg!(c),
            arg!(px),
            arg!(pb),
            arg!(bk),
            arg!(code),
            arg!(slope),
            arg!(py),
        ];
        // SAFETY: forma_bias_act(int rows, int cols, const float* x, const
        // float* bias, int kind, int act, float slope, float* y) touches
        // rows·cols elements of x and y and kind.len(cols) of bias, checked above.
        unsafe { self.launch_1d("forma_bias_act", self.bias_act, n, &mut args) }
    }

    /// `dx = dy · act'(x, y)` over `n` elements.
    #[allow(clippy::too_many_arguments)]
    pub fn act_backward(
        &self,
        n: usize,
        act: Activation,
        x: &CudaBuffer,
        y: &CudaBuffer,
        dy: &CudaBuffer,
        dx: &mut CudaBuffer,
    ) -> Result<()> {
        checks::act_backward(n, x.len(), y.len(), dy.len(), dx.len())?;
        if n == 0 {
            return Ok(());
        }
        let (code, slope) = act_code(act);
        let (mut n32, mut code, mut slope) = (int("act_backward", n)?, code, slope);
        let (mut px, mut py, mut pdy, mut pdx) =
            (self.ptr(x)?, self.ptr(y)?, self.ptr(dy)?, self.ptr(dx)?);
        let mut args = [
            arg!(n32),
            arg!(code),
            arg!(slope),
            arg!(px),
            arg!(py),
            arg!(pdy),
            arg!(pdx),
        ];
        // SAFETY: forma_act_backward(int n, int act, float slope, const float*
        // x, const float* y, const float* dy, float* dx) touches n of each.
        unsafe { self.launch_1d("forma_act_backward", self.act_backward, n, &mut args) }
    }
}

impl Kernels {
    /// `out[..n] = a op b`.
    pub fn binary(
        &self,
        op: Binary,
        n: usize,
        a: &CudaBuffer,
        b: &CudaBuffer,
        out: &mut CudaBuffer,
    ) -> Result<()> {
        checks::binary(n, a.len(), b.len(), out.len())?;
        if n == 0 {
            return Ok(());
        }
        let code: i32 = match op {
            Binary::Add => 0,
            Binary::Sub => 1,
            Binary::Mul => 2,
        };
        let (mut n32, mut c, mut pa, mut pb, mut po) = (
            int("binary", n)?,
            code,
            self.ptr(a)?,
            self.ptr(b)?,
            self.ptr(out)?,
        );
        let mut args = [arg!(n32), arg!(c), arg!(pa), arg!(pb), arg!(po)];
        // SAFETY: forma_binary(int n, int op, const float* a, const float* b,
        // float* out) reads a[0..n), b[0..n) and writes out[0..n); all checked.
        unsafe { self.launch_1d("forma_binary", self.binary, n, &mut args) }
    }

    /// `y[..n] = alpha · x + beta · y`.
    pub fn axpby(
        &self,
        n: usize,
        alpha: f32,
        x: &CudaBuffer,
        beta: f32,
        y: &mut CudaBuffer,
    ) -> Result<()> {
        checks::axpby(n, x.len(), y.len())?;
        if n == 0 {
            return Ok(());
        }
        let (mut n32, mut al, mut px, mut be, mut py) =
            (int("axpby", n)?, alpha, self.ptr(x)?, beta, self.ptr(y)?);
        let mut args = [arg!(n32), arg!(al), arg!(px), arg!(be), arg!(py)];
        // SAFETY: forma_axpby(int n, float alpha, const float* x, float beta,
        // float* y) reads x[0..n) and reads and writes y[0..n); both checked.
        unsafe { self.launch_1d("forma_axpby", self.axpby, n, &mut args) }
    }
}
