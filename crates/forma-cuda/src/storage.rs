//! Layers whose parameters live on the GPU: `Cuda` as a layer [`Storage`]
//! and a [`Resident`] device, and class labels in GPU memory.

use forma_core::device::check_labels;
use forma_core::{Device, Error, LabelStore, Result};
use forma_layers::{Bias, Resident, Storage};

use crate::{Cuda, CudaBuffer};

/// `Linear<I, O, f32, B, Cuda>`: the weight and the bias are GPU buffers.
impl Storage<f32> for Cuda {
    type Slice = CudaBuffer;
    type Mat<const R: usize, const C: usize> = CudaBuffer;
    type Bias<B: Bias, const O: usize> = CudaBuffer;
    fn len(slice: &CudaBuffer) -> usize {
        slice.len()
    }
    fn mat<const R: usize, const C: usize>(m: &CudaBuffer) -> &CudaBuffer {
        m
    }
    fn mat_mut<const R: usize, const C: usize>(m: &mut CudaBuffer) -> &mut CudaBuffer {
        m
    }
    fn bias<B: Bias, const O: usize>(b: &CudaBuffer) -> &CudaBuffer {
        b
    }
    fn bias_mut<B: Bias, const O: usize>(b: &mut CudaBuffer) -> &mut CudaBuffer {
        b
    }
    fn mat_zeros_like<const R: usize, const C: usize>(like: &CudaBuffer) -> Result<CudaBuffer> {
        like.zeros_beside(like.len())
    }
    fn bias_zeros_like<B: Bias, const O: usize>(like: &CudaBuffer) -> Result<CudaBuffer> {
        like.zeros_beside(like.len())
    }
}

impl Resident<f32> for Cuda {
    type Storage = Cuda;
    fn upload_mat<const R: usize, const C: usize>(
        &self,
        host: &[[f32; C]; R],
    ) -> Result<CudaBuffer> {
        upload(self, host.as_flattened())
    }
    fn upload_bias<B: Bias, const O: usize>(&self, host: &B::Param<f32, O>) -> Result<CudaBuffer> {
        upload(self, host.as_ref())
    }
}

fn upload(cuda: &Cuda, host: &[f32]) -> Result<CudaBuffer> {
    let mut buffer = cuda.alloc(host.len())?;
    cuda.write(host, &mut buffer)?;
    Ok(buffer)
}

/// Labels are coded as `f32` (the kernel's element type); every class index
/// below 2^24 is exact there.
impl LabelStore for Cuda {
    type Labels = CudaBuffer;

    fn upload_labels(&self, labels: &[usize], classes: usize) -> Result<CudaBuffer> {
        check_labels(labels, classes)?;
        const EXACT: usize = 1 << 24;
        if let Some((row, &label)) = labels.iter().enumerate().find(|(_, l)| **l >= EXACT) {
            return Err(Error::ClassOutOfRange {
                row,
                label: label as f64,
                classes: classes.min(EXACT),
            });
        }
        let coded: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
        upload(self, &coded)
    }

    fn labels_len(labels: &CudaBuffer) -> usize {
        labels.len()
    }
}
