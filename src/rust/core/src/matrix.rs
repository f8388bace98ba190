//! Crossing the boundary: R stores a matrix column by column in `f64`, the
//! engine wants row-major batches (one sample per row) in its own scalar type.
//! These conversions are the only copies made of user data.
//!
//! Images come from R as arrays `n x channels x height x width` (samples
//! first), also column-major; the engine reads each sample as one row in
//! (channel, row, column) order with the column fastest (see [`Shape`]), so
//! converting an image array is a gather with the offsets of
//! [`ColMajor::column_offsets`], done in the same single copy.

use crate::error::{shape_err, Result};
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use crate::shape::Shape;
use ndarray::{
    Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, CowArray, Ix1,
};

/// A borrowed column-major `f64` matrix or image array, as R hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ColMajor<'a> {
    pub data: &'a [f64],
    pub nrow: usize,
    /// Values per sample.
    pub ncol: usize,
    /// For an image array, the shape of one sample.
    pub image: Option<Shape>,
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
        Ok(ColMajor {
            data,
            nrow,
            ncol,
            image: None,
        })
    }

    /// An R array `nrow x channels x height x width` holding `data`.
    pub fn image(data: &'a [f64], nrow: usize, shape: Shape) -> Result<Self> {
        let m = ColMajor::new(data, nrow, shape.size()).map_err(|_| {
            shape_err!(
                "an array of {nrow} images of {shape} needs {} values, but {} were given",
                nrow.saturating_mul(shape.size()),
                data.len()
            )
        })?;
        Ok(ColMajor {
            image: Some(shape),
            ..m
        })
    }

    /// For each engine column `j` (a sample's value in channel, row, column
    /// order), the offset of its first value in R's data; sample `i`'s value
    /// is at `offset + i`.
    pub fn column_offsets(&self) -> Vec<usize> {
        match self.image {
            None => (0..self.ncol).map(|j| j * self.nrow).collect(),
            Some(s) => {
                // R's index of (c, y, x) within a sample is c + C * (y + H * x).
                let mut offsets = Vec::with_capacity(s.size());
                for c in 0..s.channels {
                    for y in 0..s.height {
                        for x in 0..s.width {
                            offsets.push((c + s.channels * (y + s.height * x)) * self.nrow);
                        }
                    }
                }
                offsets
            }
        }
    }

    /// Copies rows `start..start + out.nrows()` into `out` (already
    /// `rows x ncol`).
    pub fn fill_rows<T: Scalar>(
        &self,
        offsets: &[usize],
        start: usize,
        out: &mut ArrayViewMut2<T>,
    ) {
        // A transpose, tile by tile: a tile's column reads are contiguous
        // runs in R's data (a few pages, not one page per value) and its row
        // writes stay in the cache until the tile is done.
        const TILE_ROWS: usize = 256;
        const TILE_COLS: usize = 32;
        let (rows, cols) = out.dim();
        for r0 in (0..rows).step_by(TILE_ROWS) {
            let r1 = (r0 + TILE_ROWS).min(rows);
            for c0 in (0..cols).step_by(TILE_COLS) {
                let c1 = (c0 + TILE_COLS).min(cols);
                let mut tile = out.slice_mut(ndarray::s![r0..r1, c0..c1]);
                for (mut column, &o) in tile.columns_mut().into_iter().zip(&offsets[c0..c1]) {
                    let src = &self.data[o + start + r0..o + start + r1];
                    for (v, &x) in column.iter_mut().zip(src) {
                        *v = T::of(x);
                    }
                }
            }
        }
    }

    /// A row-major copy in the engine's scalar type.
    pub fn to_array<T: Scalar>(&self) -> Array2<T> {
        let mut out = Array2::<T>::zeros((self.nrow, self.ncol));
        self.fill_rows(&self.column_offsets(), 0, &mut out.view_mut());
        out
    }

    /// [`ColMajor::to_array`] for a whole data set, on `par`'s threads
    /// (converting is bound by memory, and two cores read faster than one);
    /// a copy that does not fit in memory is an error.
    pub fn to_array_with<T: Scalar>(&self, par: &Parallel) -> Result<Array2<T>> {
        const PIECE: usize = 2048;
        let mut out = zeros_with(self.nrow, self.ncol, par)?;
        let offsets = self.column_offsets();
        let pieces: Vec<(usize, ArrayViewMut2<T>)> = out
            .axis_chunks_iter_mut(Axis(0), PIECE)
            .enumerate()
            .map(|(i, rows)| (i * PIECE, rows))
            .collect();
        par.for_each(pieces, |(start, mut rows)| {
            self.fill_rows(&offsets, start, &mut rows)
        });
        Ok(out)
    }
}

/// An `nrow x ncol` matrix of zeros written on `par`'s threads: a fresh
/// data-set-sized buffer costs more in page faults (the first write to
/// each page) than in copying, and two threads take them side by side.
/// Memory that cannot be had is an error, not an abort of the host.
fn zeros_with<T: Scalar>(nrow: usize, ncol: usize, par: &Parallel) -> Result<Array2<T>> {
    const PIECE: usize = 1 << 16;
    let too_big = || {
        shape_err!(
            "a {nrow} x {ncol} buffer ({:.1} GB) does not fit in memory; use fewer rows or smaller layers",
            nrow as f64 * ncol as f64 * std::mem::size_of::<T>() as f64 / 1e9
        )
    };
    let len = nrow.checked_mul(ncol).ok_or_else(too_big)?;
    let mut data: Vec<T> = Vec::new();
    data.try_reserve_exact(len).map_err(|_| too_big())?;
    let pieces: Vec<_> = data.spare_capacity_mut()[..len].chunks_mut(PIECE).collect();
    par.for_each(pieces, |piece| {
        for v in piece {
            v.write(T::zero());
        }
    });
    // SAFETY: the capacity is at least `len` (reserved above), and the
    // pieces, which cover its first `len` values, were all written.
    unsafe { data.set_len(len) };
    Array2::from_shape_vec((nrow, ncol), data).map_err(|_| too_big())
}

/// An `nrow x ncol` matrix of zeros for a layer's parameters or working
/// buffers, whose sizes come from the host: more than [`Shape::MAX_SIZE`]
/// values, or memory the system refuses, is an error, not an abort.
pub fn try_zeros<T: Scalar>(nrow: usize, ncol: usize) -> Result<Array2<T>> {
    match nrow.checked_mul(ncol) {
        Some(n) if n <= Shape::MAX_SIZE => zeros_with(nrow, ncol, &Parallel::default()),
        _ => Err(shape_err!(
            "a layer of {nrow} x {ncol} values is more than the {} the engine takes",
            Shape::MAX_SIZE
        )),
    }
}

/// [`try_zeros`] for a vector of `len` values.
pub fn try_zeros1<T: Scalar>(len: usize) -> Result<Array1<T>> {
    let (data, _) = try_zeros::<T>(1, len)?.into_raw_vec_and_offset();
    Ok(Array1::from(data))
}

/// For each position of a row-major tensor of `shape`, in order, the
/// position of the same element in column-major (R's) order.
pub fn col_major_offsets(shape: &[usize]) -> Vec<usize> {
    let size: usize = shape.iter().product();
    let mut strides = vec![1usize; shape.len()];
    for k in 1..shape.len() {
        strides[k] = strides[k - 1] * shape[k - 1];
    }
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(size);
    for _ in 0..size {
        out.push(index.iter().zip(&strides).map(|(i, s)| i * s).sum());
        // Advance the row-major multi-index: the last axis fastest.
        for k in (0..shape.len()).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
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

/// Runs `f` on plain slices of the rows `inputs` and `output`, for loops
/// that index by hand. Rows of the network's buffers are contiguous, so
/// this borrows them without allocating; any other row is copied (and
/// written back).
#[inline(always)]
pub fn with_slices<T: Scalar, const N: usize>(
    inputs: [ArrayView1<T>; N],
    output: &mut ArrayViewMut1<T>,
    f: impl FnOnce([&[T]; N], &mut [T]),
) {
    let owned: [CowArray<T, Ix1>; N] = std::array::from_fn(|i| inputs[i].as_standard_layout());
    let slices: [&[T]; N] = std::array::from_fn(|i| owned[i].as_slice().unwrap_or(&[]));
    match output.as_slice_mut() {
        Some(out) => f(slices, out),
        None => {
            let mut out = output.to_vec();
            f(slices, &mut out);
            output.assign(&ArrayView1::from(&out[..]));
        }
    }
}

/// Whether no value is NA, NaN or infinite: the fast check of user data
/// before training (about 30 times faster than R's `sum()`, which adds in
/// long double).
pub fn all_finite(data: &[f64]) -> bool {
    // Blocks folded without an early exit vectorize; the exit between
    // blocks stops at the first bad block.
    data.chunks(4096)
        .all(|block| block.iter().fold(true, |ok, v| ok & v.is_finite()))
}

/// Copies rows `rows` of `from` into the rows of `to` (a mini-batch).
/// Large batches are copied on `par`'s threads: the rows come from all over
/// a data set larger than the cache, and two cores wait for memory in
/// parallel.
pub fn gather_rows<T: Scalar>(
    from: ArrayView2<T>,
    rows: &[usize],
    mut to: ArrayViewMut2<T>,
    par: &Parallel,
) {
    const PIECE: usize = 16;
    let copy = |(rows, mut to): (&[usize], ArrayViewMut2<T>)| {
        for (mut dst, &r) in to.rows_mut().into_iter().zip(rows) {
            let src = from.row(r);
            match (dst.as_slice_mut(), src.as_slice()) {
                (Some(d), Some(s)) => d.copy_from_slice(s),
                _ => dst.assign(&src),
            }
        }
    };
    let pieces: Vec<_> = rows
        .chunks(PIECE)
        .zip(to.axis_chunks_iter_mut(Axis(0), PIECE))
        .collect();
    if rows.len() * from.ncols() >= PARALLEL_GATHER_MIN {
        par.for_each(pieces, copy);
    } else {
        pieces.into_iter().for_each(copy);
    }
}

/// Batches of fewer values than this are gathered on the calling thread.
const PARALLEL_GATHER_MIN: usize = 1 << 15;

/// Makes `buf` an `nrow x ncol` matrix, reallocating only when the shape
/// changes (the last, smaller batch of an epoch), so hot loops reuse memory.
/// Memory that cannot be had is an error, not an abort of the host.
pub fn ensure_shape<T: Scalar>(buf: &mut Array2<T>, nrow: usize, ncol: usize) -> Result<()> {
    if buf.dim() == (nrow, ncol) {
        return Ok(());
    }
    // Free the old buffer first: it is about to be replaced anyway.
    *buf = Array2::zeros((0, 0));
    *buf = zeros_with(nrow, ncol, &Parallel::default())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_finite_finds_any_bad_value() {
        let mut v = vec![1.0; 10_000];
        assert!(all_finite(&v));
        assert!(all_finite(&[]));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            for at in [0, 4095, 4096, 9_999] {
                v[at] = bad;
                assert!(!all_finite(&v));
                v[at] = 1.0;
            }
        }
    }

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
    fn image_arrays_are_read_channel_row_column() {
        // R: x <- array(1:24, c(2, 3, 2, 2)) holds 2 samples of 3 x 2 x 2;
        // x[i, c, y, x] is at i + 2 * (c + 3 * (y + 2 * x)) (0-based).
        let data: Vec<f64> = (1..=24).map(f64::from).collect();
        let m = ColMajor::image(&data, 2, Shape::image(3, 2, 2)).unwrap();
        let a: Array2<f64> = m.to_array();
        assert_eq!(a.dim(), (2, 12));
        let r_value = |i: usize, c: usize, y: usize, x: usize| data[i + 2 * (c + 3 * (y + 2 * x))];
        for i in 0..2 {
            for c in 0..3 {
                for y in 0..2 {
                    for x in 0..2 {
                        assert_eq!(a[[i, (c * 2 + y) * 2 + x]], r_value(i, c, y, x));
                    }
                }
            }
        }
        assert!(ColMajor::image(&data, 3, Shape::image(3, 2, 2)).is_err());
    }

    #[test]
    fn col_major_offsets_of_a_4d_tensor() {
        // Row-major (2, 3) -> R matrix: element (i, j) goes to i + 2 * j.
        assert_eq!(col_major_offsets(&[2, 3]), vec![0, 2, 4, 1, 3, 5]);
        assert_eq!(col_major_offsets(&[4]), vec![0, 1, 2, 3]);
        let offs = col_major_offsets(&[2, 3, 4, 5]);
        // Element (1, 2, 3, 4) is row-major position 119, R position
        // 1 + 2 * (2 + 3 * (3 + 4 * 4)).
        assert_eq!(offs[119], 1 + 2 * (2 + 3 * (3 + 4 * 4)));
        let mut sorted = offs.clone();
        sorted.sort();
        assert_eq!(sorted, (0..120).collect::<Vec<_>>());
    }

    #[test]
    fn wrong_length_is_an_error() {
        let err = ColMajor::new(&[1.0, 2.0, 3.0], 2, 2).unwrap_err();
        assert!(err.to_string().contains("needs 4 values, but 3"));
    }

    #[test]
    fn ensure_shape_reuses_same_shape() {
        let mut a = Array2::<f32>::ones((2, 3));
        ensure_shape(&mut a, 2, 3).unwrap();
        assert_eq!(a[[1, 2]], 1.0);
        ensure_shape(&mut a, 1, 3).unwrap();
        assert_eq!(a.dim(), (1, 3));
        let err = ensure_shape(&mut a, usize::MAX / 2, 3).unwrap_err();
        assert!(err.to_string().contains("does not fit in memory"));
        let err = ensure_shape(&mut a, 1 << 40, 1 << 10).unwrap_err();
        assert!(err.to_string().contains("does not fit in memory"));
    }
}
