//! SGD and Adam updates (`optim.cu`).

use super::*;

impl Kernels {
    /// One SGD update of `n` parameters.
    pub fn sgd(
        &self,
        n: usize,
        step: &SgdStep<f32>,
        p: &mut CudaBuffer,
        g: &CudaBuffer,
        v: Option<&mut CudaBuffer>,
    ) -> Result<()> {
        let v_len = v.as_ref().map(|v| v.len());
        checks::sgd(n, p.len(), g.len(), step.momentum != 0.0, v_len)?;
        let momentum = if step.momentum != 0.0 {
            step.momentum
        } else {
            0.0
        };
        if n == 0 {
            return Ok(());
        }
        let mut pv = v.map_or(Ok(0), |v| self.ptr(v))?;
        let (mut n32, mut lr, mut mu, mut wd) =
            (int("sgd", n)?, step.lr, momentum, step.weight_decay);
        let (mut nesterov, mut first) = (step.nesterov as i32, step.first as i32);
        let (mut pp, mut pg) = (self.ptr(p)?, self.ptr(g)?);
        let mut args = [
            arg!(n32),
            arg!(lr),
            arg!(mu),
            arg!(wd),
            arg!(nesterov),
            arg!(first),
            arg!(pp),
            arg!(pg),
            arg!(pv),
        ];
        // SAFETY: forma_sgd(int n, float lr, float momentum, float wd, int
        // nesterov, int first, float* p, const float* g, float* v) touches n of
        // p and g, and n of v only when momentum != 0 (then v holds n, checked).
        unsafe { self.launch_1d("forma_sgd", self.sgd, n, &mut args) }
    }

    /// One Adam update of `n` parameters.
    #[allow(clippy::too_many_arguments)]
    pub fn adam(
        &self,
        n: usize,
        step: &AdamStep<f32>,
        p: &mut CudaBuffer,
        g: &CudaBuffer,
        m: &mut CudaBuffer,
        v: &mut CudaBuffer,
    ) -> Result<()> {
        checks::adam(n, p.len(), g.len(), m.len(), v.len())?;
        if n == 0 {
            return Ok(());
        }
        let s = *step;
        let (mut n32, mut lr, mut b1, mut b2, mut eps, mut wd) = (
            int("adam", n)?,
            s.lr,
            s.beta1,
            s.beta2,
            s.eps,
            s.weight_decay,
        );
        let (mut dec, mut bias1, mut bias2) = (s.decoupled as i32, s.bias1, s.bias2);
        let (mut pp, mut pg, mut pm, mut pv) =
            (self.ptr(p)?, self.ptr(g)?, self.ptr(m)?, self.ptr(v)?);
        let mut args = [
            arg!(n32),
            arg!(lr),
            arg!(b1),
            arg!(b2),
            arg!(eps),
            arg!(wd),
            arg!(dec),
            arg!(bias1),
            arg!(bias2),
            arg!(pp),
            arg!(pg),
            arg!(pm),
            arg!(pv),
        ];
        // SAFETY: forma_adam(int n, float lr, float b1, float b2, float eps,
        // float wd, int decoupled, float bias1, float bias2, float* p, const
        // float* g, float* m, float* v) touches n of p, g, m, v; all checked.
        unsafe { self.launch_1d("forma_adam", self.adam, n, &mut args) }
    }
}
