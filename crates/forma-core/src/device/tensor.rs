//! [`DeviceTensor`]: a batch on a device, its feature width in the type.

use alloc::vec;
use core::marker::PhantomData;

use super::{Device, checks};
use crate::{Const, ConstDim, Dim, Error, Float, Result, Tensor};

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

    /// `rows` rows of zeros ([`Error::Length`] if `rows · width` overflows
    /// `usize`).
    pub fn zeros(device: &D, rows: usize) -> Result<Self> {
        // Overflow needs a width of at least 2, so the division is fine.
        let len = rows.checked_mul(C::SIZE).ok_or(Error::Length {
            what: "DeviceTensor::zeros: rows, at most usize::MAX / width",
            expected: usize::MAX / C::SIZE.max(1),
            got: rows,
        })?;
        Ok(DeviceTensor {
            buffer: device.alloc(len)?,
            rows,
            capacity: rows,
            _width: PhantomData,
        })
    }

    /// Replaces the contents with another host batch of at most the rows this
    /// tensor was built with; no allocation. A larger batch is an
    /// [`Error::Length`] with `expected` those rows and `got` the batch's.
    pub fn write<R: Dim>(&mut self, device: &D, host: &Tensor<E, R, C>) -> Result<()> {
        checks::at_most(
            "DeviceTensor::write: rows, at most the tensor's capacity",
            self.capacity,
            host.rows(),
        )?;
        device.write(host.as_slice(), &mut self.buffer)?;
        self.rows = host.rows();
        Ok(())
    }

    /// Copies the batch back to the host.
    pub fn download(&self, device: &D) -> Result<Tensor<E, usize, C>> {
        // Fits: the buffer holds at least these rows (checked when built).
        let len = checks::elements("DeviceTensor::download", (self.rows, C::SIZE), self.rows)?;
        let mut host = vec![E::ZERO; len];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, Cpu};

    #[test]
    fn writing_more_rows_than_the_capacity_says_capacity_expected_and_rows_got() {
        let mut t = DeviceTensor::<f32, Cpu, Const<2>>::zeros(&Cpu, 32).unwrap();
        let big = Batch::<f32, 2>::zeros(64, Const);
        let e = t.write(&Cpu, &big).unwrap_err();
        assert_eq!(
            e,
            Error::Length {
                what: "DeviceTensor::write: rows, at most the tensor's capacity",
                expected: 32,
                got: 64
            }
        );
        assert_eq!(
            alloc::format!("{e}"),
            "DeviceTensor::write: rows, at most the tensor's capacity: expected length 32, got 64"
        );
        // Up to the capacity is fine, and the rows follow the batch.
        t.write(&Cpu, &Batch::<f32, 2>::zeros(20, Const)).unwrap();
        assert_eq!(t.rows(), 20);
        assert_eq!(t.download(&Cpu).unwrap().rows(), 20);
    }

    #[test]
    fn zeros_with_rows_whose_size_overflows_is_an_error() {
        let e = DeviceTensor::<f32, Cpu, Const<4>>::zeros(&Cpu, (1 << 62) + 1).err();
        assert_eq!(
            e,
            Some(Error::Length {
                what: "DeviceTensor::zeros: rows, at most usize::MAX / width",
                expected: (1 << 62) - 1,
                got: (1 << 62) + 1
            })
        );
    }
}
