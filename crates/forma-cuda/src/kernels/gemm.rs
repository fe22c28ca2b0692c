//! SGEMM in the three layouts, and a linear layer's fused forward (`gemm.cu`).

use super::*;

impl Kernels {
    /// `C[m×n] = op(A) · op(B)` in `layout` (see [`Layout`]), split along `k`
    /// when `m x n` gives too few blocks to fill the GPU.
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm(
        &self,
        layout: Layout,
        (m, k, n): (usize, usize, usize),
        a: &CudaBuffer,
        b: &CudaBuffer,
        c: &mut CudaBuffer,
        sms: u32,
    ) -> Result<()> {
        checks::matmul((m, k, n), (a.len(), b.len(), c.len()))?;
        // Fits (checked above), computed with checked_mul all the same.
        let mn = checks::elements("sgemm: C (m·n overflows usize)", (m, n), c.len())?;
        if mn == 0 {
            return Ok(());
        }
        let tiles = (m.div_ceil(128), n.div_ceil(128));
        let (gx, gy) = grid(tiles)?;
        // Saturating: a count beyond usize is "many tiles" to split_k.
        let splits = split_k(tiles.0.saturating_mul(tiles.1), k, sms);
        if k == 0 || splits > 1 {
            self.fill(mn, 0.0, c)?;
        }
        if k == 0 {
            return Ok(());
        }
        let f = match layout {
            Layout::Nt => self.sgemm_nt,
            Layout::Nn => self.sgemm_nn,
            Layout::Tn => self.sgemm_tn,
        };
        let (mut m32, mut n32, mut k32) =
            (int("sgemm m", m)?, int("sgemm n", n)?, int("sgemm k", k)?);
        let (mut pa, mut pb, mut pc) = (self.ptr(a)?, self.ptr(b)?, self.ptr(c)?);
        let mut args = [
            arg!(m32),
            arg!(n32),
            arg!(k32),
            arg!(pa),
            arg!(pb),
            arg!(pc),
        ];
        // SAFETY: forma_sgemm_*(int m, int n, int k, const float* A, const
        // float* B, float* C) reads m·k of A, k·n of B and writes m·n of C,
        // all checked above; the grid covers C in 128 x 128 tiles.
        unsafe { self.launch("forma_sgemm", f, (gx, gy, splits), (256, 1, 1), &mut args) }
    }

    /// `C = act(A · Bᵀ + bias)` (`C` is `m x n`): one kernel, the bias and
    /// activation applied as the product is written, unless `k` is split
    /// (then the product, and bias + activation after it).
    #[allow(clippy::too_many_arguments)]
    pub fn linear_forward(
        &self,
        (m, k, n): (usize, usize, usize),
        a: &CudaBuffer,
        b: &CudaBuffer,
        bias: Option<&CudaBuffer>,
        kind: BiasKind,
        act: Activation,
        c: &mut CudaBuffer,
        sms: u32,
    ) -> Result<()> {
        let bias_len = bias.map(CudaBuffer::len);
        checks::linear_forward((m, k, n), (a.len(), b.len(), c.len()), bias_len, kind)?;
        let tiles = (m.div_ceil(128), n.div_ceil(128));
        let many = tiles.0.saturating_mul(tiles.1);
        if m == 0 || n == 0 || k == 0 || split_k(many, k, sms) > 1 {
            self.sgemm(Layout::Nt, (m, k, n), a, b, c, sms)?;
            return self.bias_act((m, n), None, bias, kind, act, c);
        }
        let (gx, gy) = grid(tiles)?;
        let (mut m32, mut n32, mut k32) =
            (int("sgemm m", m)?, int("sgemm n", n)?, int("sgemm k", k)?);
        let (mut pa, mut pb, mut pc) = (self.ptr(a)?, self.ptr(b)?, self.ptr(c)?);
        let mut pbias = bias.map_or(Ok(0), |b| self.ptr(b))?;
        let mut bk = bias_code(kind);
        let (code, slope) = act_code(act);
        let (mut code, mut slope) = (code, slope);
        let mut args = [
            arg!(m32),
            arg!(n32),
            arg!(k32),
            arg!(pa),
            arg!(pb),
            arg!(pc),
            arg!(pbias),
            arg!(bk),
            arg!(code),
            arg!(slope),
        ];
        // SAFETY: forma_sgemm_nt_bias_act(int m, int n, int k, const float*
        // A, const float* B, float* C, const float* bias, int kind, int act,
        // float slope) reads m·k of A, n·k of B, kind.len(n) of bias and
        // writes m·n of C, all checked above; one split (grid z = 1).
        unsafe {
            self.launch(
                "forma_sgemm_nt_bias_act",
                self.sgemm_nt_bias_act,
                (gx, gy, 1),
                (256, 1, 1),
                &mut args,
            )
        }
    }
}

/// How many ways to split `k` so that a product of `tiles` 128 x 128 tiles
/// gives about two blocks per SM; 1 unless `k` is long and tiles are few.
/// Each split keeps at least 256 of `k`. There is no other cap: a weight
/// gradient of a 64-wide layer over a batch of 2^18 rows is one tile, and
/// capping it at 64 splits left half of an H200's 132 SMs idle (960 us per
/// product, measured with ncu; 2026-11-30).
pub fn split_k(tiles: usize, k: usize, sms: u32) -> u32 {
    let want = 2 * sms as usize;
    if tiles >= want || k < 1024 {
        return 1;
    }
    let by_blocks = want.div_ceil(tiles);
    let by_depth = k / 256;
    // At most 65535: the grid's z limit.
    by_blocks.min(by_depth).clamp(1, 65535) as u32
}

/// The launch grid for `(row tiles, column tiles)` of 128 x 128: rows on x
/// (up to 2^31 - 1 blocks), columns on y (at most 65535).
fn grid((rows, cols): (usize, usize)) -> Result<(u32, u32)> {
    let (gx, gy) = (int("sgemm rows", rows)?, int("sgemm columns", cols)?);
    if gy > 65535 {
        return Err(Error::Length {
            what: "sgemm columns / 128 (grid y limit)",
            expected: 65535,
            got: gy as usize,
        });
    }
    Ok((gx as u32, gy as u32))
}

#[cfg(test)]
mod tests {
    use super::split_k;

    #[test]
    fn split_k_fills_the_chip_only_when_tiles_are_few_and_k_is_long() {
        // Many tiles, or a short k: one split.
        assert_eq!(split_k(264, 1 << 20, 132), 1);
        assert_eq!(split_k(1, 1023, 132), 1);
        // One 64 x 64 tile over 2^18 rows: two blocks per SM.
        assert_eq!(split_k(1, 1 << 18, 132), 264);
        // Limited by depth: every split keeps at least 256 of k.
        assert_eq!(split_k(1, 4096, 132), 16);
        // Four tiles: 264 / 4 blocks each.
        assert_eq!(split_k(4, 1 << 18, 132), 66);
    }
}
