//! [`DeviceTensor`]: a batch on a device, its feature width in the type.

use alloc::vec;
use core::marker::PhantomData;

use super::{Device, checks};
use crate::{Const, ConstDim, Dim, Float, Result, Tensor};

/// A batch of `rows` rows of `C` features in a buffer on device `D`
/// (`C` is `Const<N>`; [`DeviceBatch<E, D, N>`] names it with a number).
///
/// Built by an explicit upload; [`DeviceTensor::write`] refills it with a new
/// batch without allocating (up to the rows it was built for), and
/// [`DeviceTensor::download`] copies it back.
pub struct DeviceTensor<E: Float, D: Device<E>, C: ConstDim> {
    buffer: D::Buffer,
    rows: usize,
    capacity: usize,
    _width: PhantomData<C>,
}

/// A batch of `N` features on device `D`.
pub type DeviceBatch<E, D, const N: usize> = DeviceTensor<E, D, Const<N>>;

impl<E: Float, D: Device<E>, C: ConstDim> DeviceTensor<E, D, C> {
    /// Copies a host batch to the device.
    pub fn upload<R: Dim>(device: &D, host: &Tensor<E, R, C>) -> Result<Self> {
        let mut buffer = device.alloc(host.as_slice().len())?;
        device.write(host.as_slice(), &mut buffer)?;
        Ok(DeviceTensor {
            buffer,
            rows: host.rows(),
            capacity: host.rows(),
            _width: PhantomData,
        })
    }

    /// `rows` rows of zeros.
    pub fn zeros(device: &D, rows: usize) -> Result<Self> {
        Ok(DeviceTensor {
            buffer: device.alloc(rows * C::SIZE)?,
            rows,
            capacity: rows,
            _width: PhantomData,
        })
    }

    /// Replaces the contents with another host batch of at most the rows this
    /// tensor was built with; no allocation.
    pub fn write<R: Dim>(&mut self, device: &D, host: &Tensor<E, R, C>) -> Result<()> {
        checks::fits("DeviceTensor::write rows", host.rows(), self.capacity)?;
        device.write(host.as_slice(), &mut self.buffer)?;
        self.rows = host.rows();
        Ok(())
    }

    /// Copies the batch back to the host.
    pub fn download(&self, device: &D) -> Result<Tensor<E, usize, C>> {
        let mut host = vec![E::ZERO; self.rows * C::SIZE];
        device.read(&self.buffer, &mut host)?;
        Tensor::from_vec(self.rows, C::default(), host)
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The device buffer (its first `rows * C::SIZE` elements are the batch).
    pub fn buffer(&self) -> &D::Buffer {
        &self.buffer
    }

    /// The device buffer, mutable.
    pub fn buffer_mut(&mut self) -> &mut D::Buffer {
        &mut self.buffer
    }
}
