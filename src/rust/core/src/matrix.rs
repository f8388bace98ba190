//! Crossing the boundary: R stores a matrix column by column in `f64`, the
//! engine wants row-major batches (one sample per row) in its own scalar type.
//! These conversions are the only copies made of user data.

use crate::error::{shape_err, Result};
use crate::scalar::Scalar;
use ndarray::{Array2, ArrayView2};

/// A borrowed column-major `f64` matrix, as R hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ColMajor<'a> {
    pub data: &'a [f64],
    pub nrow: usize,
    pub ncol: usize,
}

impl<'a> ColMajor<'a> {
    /// Checks that `data` holds exactly `nrow * ncol` values.
    pub fn new(data: &'a [f64], nrow: usize, ncol: usize) -> Result<Self> {
        if nrow.checked_mul(ncol) != Some(data.len()) {
            return Err(shape_err!(
                "a {nrow} x {ncol} matrix needs {} values, but {} were given",
                nrow.saturating_mul(ncol),
                data.len()
            ));
        }
        Ok(ColMajor { data, nrow, ncol })
    }

    /// A row-major copy in the engine's scalar type.
    pub fn to_array<T: Scalar>(&self) -> Array2<T> {
        let mut out = Array2::<T>::zeros((self.nrow, self.ncol));
        // Walk the destination row by row so writes are sequential; the reads
        // stride through the columns.
        for (i, mut row) in out.rows_mut().into_iter().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = T::of(self.data[i + j * self.nrow]);
            }
        }
        out
    }
}

/// Column-major `f64` copy of a matrix, ready to become an R matrix.
pub fn to_col_major<T: Scalar>(a: ArrayView2<T>) -> Vec<f64> {
    let (nrow, ncol) = a.dim();
    let mut out = vec![0.0; nrow * ncol];
    for ((i, j), v) in a.indexed_iter() {
        out[i + j * nrow] = v.as_f64();
    }
    out
}

/// Makes `buf` an `nrow x ncol` matrix, reallocating only when the shape
/// changes (the last, smaller batch of an epoch), so hot loops reuse memory.
pub fn ensure_shape<T: Scalar>(buf: &mut Array2<T>, nrow: usize, ncol: usize) {
    if buf.dim() != (nrow, ncol) {
        *buf = Array2::zeros((nrow, ncol));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_major_round_trip() {
        // R's matrix(1:6, 2, 3): columns (1,2), (3,4), (5,6).
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let m = ColMajor::new(&data, 2, 3).unwrap();
        let a: Array2<f64> = m.to_array();
        assert_eq!(a[[0, 0]], 1.0);
        assert_eq!(a[[1, 0]], 2.0);
        assert_eq!(a[[0, 2]], 5.0);
        assert_eq!(to_col_major(a.view()), data.to_vec());
    }

    #[test]
    fn wrong_length_is_an_error() {
        let err = ColMajor::new(&[1.0, 2.0, 3.0], 2, 2).unwrap_err();
        assert!(err.to_string().contains("needs 4 values, but 3"));
    }

    #[test]
    fn ensure_shape_reuses_same_shape() {
        let mut a = Array2::<f32>::ones((2, 3));
        ensure_shape(&mut a, 2, 3);
        assert_eq!(a[[1, 2]], 1.0);
        ensure_shape(&mut a, 1, 3);
        assert_eq!(a.dim(), (1, 3));
    }
}
