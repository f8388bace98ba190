//! Data sets the engine holds (`rustnn_dataset()` on the R side): made from
//! R's matrices and image arrays once, read from IDX files straight into
//! `f32`, written to and opened from data set files.

use crate::convert::{core_err, input_of, r_matrix, to_r};
use extendr_api::prelude::*;
use extendr_api::{Error, Result};
use rustnn_core::any::ColMajorOwned;
use rustnn_core::dataset::Dataset;
use rustnn_core::ndarray;
use rustnn_core::parallel::Parallel;
use std::path::Path;
use std::sync::Arc;

/// The handle R keeps: shared with the fits that train on it.
pub type DatasetHandle = Arc<Dataset>;

/// The data set behind `x`, if `x` is one's handle.
pub fn dataset_of(x: &Robj) -> Option<DatasetHandle> {
    <&ExternalPtr<DatasetHandle>>::try_from(x)
        .ok()
        .and_then(|p| p.try_addr().ok().cloned())
}

fn handle(d: Dataset) -> Robj {
    ExternalPtr::new(Arc::new(d)).into()
}

fn of(ptr: &ExternalPtr<DatasetHandle>) -> Result<&Dataset> {
    Ok(ptr.try_addr()?.as_ref())
}

fn threads(n: i32) -> Result<Parallel> {
    let mut par = Parallel::default();
    par.set_threads(usize::try_from(n).unwrap_or(1).max(1))
        .map_err(core_err)?;
    Ok(par)
}

/// A data set of the rows of a matrix or image array, converted once.
/// @noRd
#[extendr]
fn rn_dataset_new(x: Robj, threads_: i32) -> Robj {
    to_r(|| {
        Ok(handle(
            Dataset::from_host(input_of(&x)?, &threads(threads_)?).map_err(core_err)?,
        ))
    })
}

/// Appends the rows of `x` to a data set in memory (reading in chunks).
/// @noRd
#[extendr]
fn rn_dataset_append(mut ptr: ExternalPtr<DatasetHandle>, x: Robj, threads_: i32) -> Robj {
    to_r(|| {
        let par = threads(threads_)?;
        let d = Arc::get_mut(ptr.try_addr_mut()?).ok_or_else(|| {
            Error::Other("the data set is in use by a fit: append to it before or after".into())
        })?;
        d.append(input_of(&x)?, &par).map_err(core_err)?;
        Ok(true)
    })
}

/// Reads an IDX file (gzipped or not), each value divided by `divide`.
/// @noRd
#[extendr]
fn rn_dataset_read_idx(path: &str, divide: f64) -> Robj {
    to_r(|| {
        Ok(handle(
            Dataset::read_idx(Path::new(path), divide).map_err(core_err)?,
        ))
    })
}

/// Writes a data set to a file, or appends its rows to one.
/// @noRd
#[extendr]
fn rn_dataset_write(ptr: ExternalPtr<DatasetHandle>, path: &str, append: bool) -> Robj {
    to_r(|| {
        of(&ptr)?.write(Path::new(path), append).map_err(core_err)?;
        Ok(true)
    })
}

/// A data set file, read block by block when needed, or whole into memory.
/// @noRd
#[extendr]
fn rn_dataset_open(path: &str, in_memory: bool) -> Robj {
    to_r(|| {
        let d = Dataset::open(Path::new(path)).map_err(core_err)?;
        Ok(handle(if in_memory {
            d.to_memory().map_err(core_err)?
        } else {
            d
        }))
    })
}

/// `list(rows, shape = c(channels, height, width), image, on_disk)`.
/// @noRd
#[extendr]
fn rn_dataset_info(ptr: ExternalPtr<DatasetHandle>) -> Robj {
    to_r(|| {
        let d = of(&ptr)?;
        let s = d.shape();
        Ok(list!(
            rows = d.nrow() as f64,
            shape = [s.channels as f64, s.height as f64, s.width as f64],
            image = d.image().is_some(),
            on_disk = d.on_disk()
        ))
    })
}

/// R's 1-based row numbers as the engine's 0-based ones, each a whole
/// number within the data set.
fn row_indices(rows: &[f64], d: &Dataset) -> Result<Vec<usize>> {
    rows.iter()
        .map(|&r| {
            if r >= 1.0 && r <= d.nrow() as f64 && r.fract() == 0.0 {
                Ok(r as usize - 1)
            } else {
                Err(Error::Other(format!(
                    "row {r} is not a row of the data set's {}",
                    d.nrow()
                )))
            }
        })
        .collect()
}

/// Rows `rows` (1-based) as a double matrix, one sample per row (images
/// flattened in channel, row, column order).
/// @noRd
#[extendr]
fn rn_dataset_rows(ptr: ExternalPtr<DatasetHandle>, rows: &[f64]) -> Robj {
    to_r(|| {
        let d = of(&ptr)?;
        let idx = row_indices(rows, d)?;
        let mut out = ndarray::Array2::<f64>::zeros((idx.len(), d.ncol()));
        d.gather(&idx, out.view_mut()).map_err(core_err)?;
        Ok(r_matrix(ColMajorOwned::from_view(out.view())))
    })
}

/// A view of rows `rows` (1-based) of `ptr`'s: the rows are shared.
/// @noRd
#[extendr]
fn rn_dataset_subset(ptr: ExternalPtr<DatasetHandle>, rows: &[f64]) -> Robj {
    to_r(|| {
        let d = of(&ptr)?;
        Ok(handle(d.view(&row_indices(rows, d)?).map_err(core_err)?))
    })
}

extendr_module! {
    mod dataset;
    fn rn_dataset_new;
    fn rn_dataset_append;
    fn rn_dataset_read_idx;
    fn rn_dataset_write;
    fn rn_dataset_open;
    fn rn_dataset_info;
    fn rn_dataset_rows;
    fn rn_dataset_subset;
}
