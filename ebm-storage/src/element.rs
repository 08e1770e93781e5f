//! The element types a store holds, with their zarr dtype and little-endian encoding.

use ebm_core::Real;

/// A floating-point type whose draws a store can hold: `f32` (zarr dtype `"<f4"`) or `f64`
/// (`"<f8"`).
pub trait StoreElement: Real {
    /// The zarr (NumPy) dtype: `"<f4"` or `"<f8"`.
    const DTYPE: &'static str;
    /// Bytes per element.
    const SIZE: usize;
    /// Writes the little-endian bytes into `out` (`SIZE` bytes).
    fn put(self, out: &mut [u8]);
    /// Reads from little-endian bytes (`SIZE` bytes).
    fn get(bytes: &[u8]) -> Self;
}

impl StoreElement for f32 {
    const DTYPE: &'static str = "<f4";
    const SIZE: usize = 4;
    fn put(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
    fn get(bytes: &[u8]) -> Self {
        f32::from_le_bytes(bytes.try_into().expect("4 bytes"))
    }
}

impl StoreElement for f64 {
    const DTYPE: &'static str = "<f8";
    const SIZE: usize = 8;
    fn put(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
    fn get(bytes: &[u8]) -> Self {
        f64::from_le_bytes(bytes.try_into().expect("8 bytes"))
    }
}
