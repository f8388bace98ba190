//! Data sets the engine holds: samples converted to `f32` once (from the
//! host's matrices, or read straight from IDX files), kept in memory or in a
//! file of their own that training reads block by block.
//!
//! Why a file read by blocks rather than a memory map: pages of a map that
//! training has touched count in the process's resident memory until the
//! kernel needs them back, so a map of a data set larger than memory looks
//! (and, for the limits a scheduler enforces, is) as large as the file. Reads
//! of one block at a time keep resident memory at a few blocks whatever the
//! file's size; the file's pages stay in the kernel's cache, where they cost
//! nothing to the process.
//!
//! Rows are samples, in the layout of every batch (see [`Shape`]). On disk:
//! a 48-byte header (`RUSTNNDS`, format version, whether samples are plain
//! features, rows, channels, height, width; little-endian) then the rows,
//! `f32` little-endian.

use crate::error::{arg_err, Result};
use crate::matrix::{gather_rows, ColMajor};
use crate::parallel::Parallel;
use crate::scalar::Scalar;
use crate::shape::Shape;
use ndarray::{ArrayView2, ArrayViewMut2, CowArray, Ix2};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

const MAGIC: &[u8; 8] = b"RUSTNNDS";
const VERSION: u32 = 1;
const HEADER_BYTES: u64 = 48;
/// Bytes of rows a file-backed data set reads at once, and the unit its
/// rows are shuffled in.
const BLOCK_BYTES: usize = 4 << 20;
/// Blocks kept in memory: a batch that straddles two blocks reads each once.
const CACHED_BLOCKS: usize = 2;

/// Samples in `f32`, one per row.
#[derive(Debug)]
pub struct Dataset {
    nrow: usize,
    shape: Shape,
    /// The rows themselves, shared by the views of a data set.
    store: Arc<Store>,
    /// Rows in the store, and for a view, which of them it holds.
    base_rows: usize,
    index: Option<Vec<u32>>,
}

#[derive(Debug)]
enum Store {
    Memory(Vec<f32>),
    File(FileRows),
}

#[derive(Debug)]
struct FileRows {
    file: File,
    /// Rows per block.
    block_rows: usize,
    /// The most recently read blocks: (block index, its values).
    cache: Mutex<Vec<(usize, Vec<f32>)>>,
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> crate::error::NnError {
    arg_err!("cannot {what} {}: {e}", path.display())
}

impl Dataset {
    /// Converts the host's matrix or image array (see [`ColMajor`]) once.
    pub fn from_host(m: ColMajor<'_>, par: &Parallel) -> Result<Self> {
        let shape = m.image.unwrap_or(Shape::flat(m.ncol));
        let values = m.to_array_with::<f32>(par)?.into_raw_vec_and_offset().0;
        Ok(Dataset::whole(m.nrow, shape, Store::Memory(values)))
    }

    /// Rows from values already laid out as rows (`nrow * shape.size()`).
    pub fn from_rows(values: Vec<f32>, shape: Shape) -> Result<Self> {
        let size = shape
            .checked_size()
            .filter(|&s| s > 0)
            .ok_or_else(|| arg_err!("a sample of {shape} is not a size a data set can hold"))?;
        if !values.len().is_multiple_of(size) {
            return Err(arg_err!(
                "{} values are not a whole number of samples of {size}",
                values.len()
            ));
        }
        Ok(Dataset::whole(
            values.len() / size,
            shape,
            Store::Memory(values),
        ))
    }

    /// Appends the host's rows (a data set read in chunks); the shape must
    /// be the data set's.
    pub fn append(&mut self, m: ColMajor<'_>, par: &Parallel) -> Result<()> {
        let shape = m.image.unwrap_or(Shape::flat(m.ncol));
        if shape.size() != self.shape.size() {
            return Err(arg_err!(
                "the data set's samples have {} values, but the rows to append have {}",
                self.shape.size(),
                shape.size()
            ));
        }
        let shared = || arg_err!("a data set with views (its rows taken with x[i]) cannot grow");
        if self.index.is_some() {
            return Err(shared());
        }
        let Store::Memory(values) = Arc::get_mut(&mut self.store).ok_or_else(shared)? else {
            return Err(arg_err!(
                "a data set on disk grows by writing to its file, not in memory"
            ));
        };
        let more = m.to_array_with::<f32>(par)?.into_raw_vec_and_offset().0;
        values
            .try_reserve(more.len())
            .map_err(|_| arg_err!("the data set does not fit in memory"))?;
        values.extend_from_slice(&more);
        self.nrow += m.nrow;
        self.base_rows += m.nrow;
        Ok(())
    }

    pub fn nrow(&self) -> usize {
        self.nrow
    }

    pub fn ncol(&self) -> usize {
        self.shape.size()
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The image shape of a sample, or `None` for plain features.
    pub fn image(&self) -> Option<Shape> {
        (!self.shape.is_flat()).then_some(self.shape)
    }

    pub fn on_disk(&self) -> bool {
        matches!(*self.store, Store::File(_))
    }

    /// Rows per block of a data set on disk (the unit training shuffles).
    pub fn block_rows(&self) -> Option<usize> {
        match &*self.store {
            Store::File(f) => Some(f.block_rows),
            Store::Memory(_) => None,
        }
    }

    /// Writes rows `rows` into `out` (one per row of `out`), in `T`.
    pub fn gather<T: Scalar>(&self, rows: &[usize], mut out: ArrayViewMut2<T>) -> Result<()> {
        let k = self.ncol();
        if out.dim() != (rows.len(), k) {
            return Err(arg_err!(
                "internal: a gather of {} rows into {:?}",
                rows.len(),
                out.dim()
            ));
        }
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.nrow) {
            return Err(arg_err!(
                "row {} is beyond the data set's {} rows",
                bad + 1,
                self.nrow
            ));
        }
        let base = |r: usize| self.index.as_ref().map_or(r, |ix| ix[r] as usize);
        match &*self.store {
            Store::Memory(values) => {
                for (mut dst, &r) in out.rows_mut().into_iter().zip(rows) {
                    let r = base(r);
                    copy_row(&values[r * k..(r + 1) * k], &mut dst);
                }
                Ok(())
            }
            Store::File(f) => {
                // In the file's order, so that each block is read once
                // however the rows are asked for.
                let mut wanted: Vec<(usize, usize)> = rows
                    .iter()
                    .enumerate()
                    .map(|(i, &r)| (base(r), i))
                    .collect();
                wanted.sort_unstable();
                let mut cache = f.cache.lock().unwrap_or_else(|e| e.into_inner());
                for (r, i) in wanted {
                    let (block, within) = (r / f.block_rows, r % f.block_rows);
                    let values = f.block(&mut cache, block, self.base_rows, k)?;
                    copy_row(&values[within * k..(within + 1) * k], &mut out.row_mut(i));
                }
                Ok(())
            }
        }
    }

    /// A copy of the rows in memory (a data set file read whole).
    pub fn to_memory(&self) -> Result<Self> {
        let k = self.ncol();
        let mut values: Vec<f32> = Vec::new();
        values
            .try_reserve_exact(self.nrow.saturating_mul(k))
            .map_err(|_| arg_err!("the data set's {} rows do not fit in memory", self.nrow))?;
        values.resize(self.nrow * k, 0.0);
        let step = (BLOCK_BYTES / 4 / k).max(1);
        for start in (0..self.nrow).step_by(step) {
            let end = (start + step).min(self.nrow);
            let out = ndarray::ArrayViewMut2::from_shape(
                (end - start, k),
                &mut values[start * k..end * k],
            )
            .map_err(|_| arg_err!("internal: rows {start} to {end}"))?;
            self.read_range(start, end, out)?;
        }
        Ok(Dataset::whole(self.nrow, self.shape, Store::Memory(values)))
    }

    /// A view of rows `rows` (0-based, in that order): it shares this data
    /// set's rows, in memory or on disk, and copies only their numbers.
    pub fn view(&self, rows: &[usize]) -> Result<Self> {
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.nrow) {
            return Err(arg_err!(
                "row {} is beyond the data set's {} rows",
                bad + 1,
                self.nrow
            ));
        }
        if u32::try_from(self.base_rows).is_err() {
            return Err(arg_err!(
                "views of data sets of more than {} rows are not supported",
                u32::MAX
            ));
        }
        let index = rows
            .iter()
            .map(|&r| self.index.as_ref().map_or(r as u32, |ix| ix[r]))
            .collect();
        Ok(Dataset {
            nrow: rows.len(),
            shape: self.shape,
            store: Arc::clone(&self.store),
            base_rows: self.base_rows,
            index: Some(index),
        })
    }

    fn whole(nrow: usize, shape: Shape, store: Store) -> Self {
        Dataset {
            nrow,
            shape,
            store: Arc::new(store),
            base_rows: nrow,
            index: None,
        }
    }

    /// Rows `start..end` in order (prediction, validation).
    pub fn read_range<T: Scalar>(
        &self,
        start: usize,
        end: usize,
        out: ArrayViewMut2<T>,
    ) -> Result<()> {
        let rows: Vec<usize> = (start..end).collect();
        self.gather(&rows, out)
    }

    /// Shuffles the order of the rows for the next epoch: in memory (or
    /// within one block), the way a matrix's are (the same seed gives the
    /// same batches); on disk, the blocks in a new order and the rows
    /// within each block, so that an epoch reads every block once.
    pub fn shuffled_order(&self, order: &mut [u32], rng: &mut StdRng) {
        match (self.block_rows(), &self.index) {
            // Rows that fit in one block are shuffled as a matrix's are.
            (Some(b), None) if b < self.nrow => shuffle_blocks(order, b, rng),
            (Some(b), Some(index)) if b < self.base_rows => {
                shuffle_view_blocks(order, index, b, rng)
            }
            _ => order.shuffle(rng),
        }
    }

    /// Writes the data set to `path` (replacing it), or with `append`, adds
    /// its rows to the data set file there, whose samples must have the same
    /// shape.
    pub fn write(&self, path: &Path, append: bool) -> Result<()> {
        if append {
            return self.append_to(path);
        }
        // Into a new file beside the target, renamed over it at the end: the
        // old file stays whole until then (it may be where the rows come
        // from), and data sets open on it keep reading the old rows.
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let temp = path.with_file_name(format!(
            ".{}.{}.tmp",
            name.unwrap_or_default(),
            std::process::id()
        ));
        let written = File::create(&temp)
            .map_err(|e| io_err(&temp, "create", e))
            .and_then(|mut f| {
                f.write_all(&header(0, self.shape))
                    .map_err(|e| io_err(path, "write", e))?;
                self.write_rows(&mut f, 0, path)
            })
            .and_then(|()| std::fs::rename(&temp, path).map_err(|e| io_err(path, "write", e)));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    }

    /// Adds the rows to the data set file at `path`, whose samples must
    /// have this data set's shape.
    fn append_to(&self, path: &Path) -> Result<()> {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io_err(path, "open", e))?;
        let (rows, shape) = read_whole_header(&mut f, path)?;
        if shape != self.shape {
            return Err(arg_err!(
                "{} holds samples of {shape}, not {}",
                path.display(),
                self.shape
            ));
        }
        f.seek(SeekFrom::End(0))
            .map_err(|e| io_err(path, "write", e))?;
        self.write_rows(&mut f, rows, path)
    }

    /// Writes the rows at the file's position, then the header that counts
    /// them with the `before` already there.
    fn write_rows(&self, f: &mut File, before: usize, path: &Path) -> Result<()> {
        let k = self.ncol();
        let step = (BLOCK_BYTES / 4 / k).max(1);
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut *f);
        for start in (0..self.nrow).step_by(step) {
            let end = (start + step).min(self.nrow);
            let mut rows = ndarray::Array2::<f32>::zeros((end - start, k));
            self.read_range(start, end, rows.view_mut())?;
            let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
            out.write_all(&bytes)
                .map_err(|e| io_err(path, "write", e))?;
        }
        out.flush().map_err(|e| io_err(path, "write", e))?;
        drop(out);
        f.seek(SeekFrom::Start(0))
            .map_err(|e| io_err(path, "write", e))?;
        f.write_all(&header(before + self.nrow, self.shape))
            .map_err(|e| io_err(path, "write", e))?;
        f.sync_all().map_err(|e| io_err(path, "write", e))
    }

    /// A data set file written by [`Dataset::write`], read block by block
    /// when training needs its rows. The file is data: its header is checked
    /// against its size before anything is read.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| io_err(path, "open", e))?;
        let (nrow, shape) = read_whole_header(&mut file, path)?;
        let block_rows = (BLOCK_BYTES / 4 / shape.size()).max(1);
        let store = Store::File(FileRows {
            file,
            block_rows,
            cache: Mutex::new(Vec::with_capacity(CACHED_BLOCKS)),
        });
        Ok(Dataset::whole(nrow, shape, store))
    }

    /// Reads an IDX file (MNIST's format), gzipped or not, straight into
    /// `f32`, each value divided by `divide` (as `x / divide` in `f64`, then
    /// rounded once, the same as converting the host's `x / divide`). One
    /// dimension gives one value per row; two, rows of features; three,
    /// one-channel images; four, `n x channels x height x width` images.
    pub fn read_idx(path: &Path, divide: f64) -> Result<Self> {
        if !(divide.is_finite() && divide > 0.0) {
            return Err(arg_err!("divide must be a positive number, not {divide}"));
        }
        let bytes = std::fs::read(path).map_err(|e| io_err(path, "read", e))?;
        let mut parser = IdxParser::new(path, divide);
        if bytes.starts_with(&[0x1f, 0x8b]) {
            gunzip(&bytes, path, |chunk| parser.feed(chunk))?;
        } else {
            parser.feed(&bytes)?;
        }
        parser.finish()
    }
}

/// Where a network reads samples from: a matrix in its own type, or a
/// data set the engine holds.
#[derive(Debug, Clone, Copy)]
pub enum SampleView<'a, T> {
    Matrix(ArrayView2<'a, T>),
    Dataset(&'a Dataset),
}

impl<'a, T> From<ArrayView2<'a, T>> for SampleView<'a, T> {
    fn from(m: ArrayView2<'a, T>) -> Self {
        SampleView::Matrix(m)
    }
}

impl<T: Scalar> SampleView<'_, T> {
    pub fn nrows(&self) -> usize {
        match self {
            SampleView::Matrix(m) => m.nrows(),
            SampleView::Dataset(d) => d.nrow(),
        }
    }

    pub fn ncols(&self) -> usize {
        match self {
            SampleView::Matrix(m) => m.ncols(),
            SampleView::Dataset(d) => d.ncol(),
        }
    }

    /// Rows `rows` into `out`, one per row.
    pub fn gather(&self, rows: &[usize], out: ArrayViewMut2<T>, par: &Parallel) -> Result<()> {
        match self {
            SampleView::Matrix(m) => {
                gather_rows(*m, rows, out, par);
                Ok(())
            }
            SampleView::Dataset(d) => d.gather(rows, out),
        }
    }

    /// Rows `start..end` into `out`.
    pub fn read_range(&self, start: usize, end: usize, mut out: ArrayViewMut2<T>) -> Result<()> {
        match self {
            SampleView::Matrix(m) => {
                out.assign(&m.slice(ndarray::s![start..end, ..]));
                Ok(())
            }
            SampleView::Dataset(d) => d.read_range(start, end, out),
        }
    }

    /// This epoch's order of the rows (see [`Dataset::shuffled_order`]).
    pub fn shuffled_order(&self, order: &mut [u32], rng: &mut StdRng) {
        match self {
            SampleView::Matrix(_) => order.shuffle(rng),
            SampleView::Dataset(d) => d.shuffled_order(order, rng),
        }
    }
}

/// [`SampleView`]'s owning form, for a session the host keeps between calls.
#[derive(Debug, Clone)]
pub enum Samples<'a, T> {
    Matrix(CowArray<'a, T, Ix2>),
    Dataset(Arc<Dataset>),
    Borrowed(&'a Dataset),
}

impl<'a, T> From<SampleView<'a, T>> for Samples<'a, T> {
    fn from(v: SampleView<'a, T>) -> Self {
        match v {
            SampleView::Matrix(m) => Samples::Matrix(m.into()),
            SampleView::Dataset(d) => Samples::Borrowed(d),
        }
    }
}

impl<'a, T> From<ArrayView2<'a, T>> for Samples<'a, T> {
    fn from(m: ArrayView2<'a, T>) -> Self {
        Samples::Matrix(m.into())
    }
}

impl<T: Scalar> Samples<'_, T> {
    pub fn view(&self) -> SampleView<'_, T> {
        match self {
            Samples::Matrix(m) => SampleView::Matrix(m.view()),
            Samples::Dataset(d) => SampleView::Dataset(d),
            Samples::Borrowed(d) => SampleView::Dataset(d),
        }
    }
}

fn copy_row<T: Scalar>(src: &[f32], dst: &mut ndarray::ArrayViewMut1<T>) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = T::of(f64::from(s));
    }
}

impl FileRows {
    /// Block `block`'s values, read into the cache if it is not there.
    fn block<'c>(
        &self,
        cache: &'c mut Vec<(usize, Vec<f32>)>,
        block: usize,
        nrow: usize,
        k: usize,
    ) -> Result<&'c [f32]> {
        if let Some(i) = cache.iter().position(|(b, _)| *b == block) {
            return Ok(&cache[i].1);
        }
        let first = block * self.block_rows;
        let rows = self.block_rows.min(nrow - first);
        let mut bytes = vec![0u8; rows * k * 4];
        read_exact_at(
            &self.file,
            &mut bytes,
            HEADER_BYTES + (first * k * 4) as u64,
        )
        .map_err(|e| arg_err!("cannot read the data set's file: {e}"))?;
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        // The file is data from outside: a NaN would train silently.
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(arg_err!(
                "the data set's file holds a value that is not finite (row {}, value {})",
                first + at / k + 1,
                at % k + 1
            ));
        }
        if cache.len() == CACHED_BLOCKS {
            cache.remove(0);
        }
        cache.push((block, values));
        Ok(&cache.last().expect("just pushed").1)
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Shuffles the order of the blocks of `block_rows` rows, then the rows
/// within each block: every epoch reads each block once, in a new order.
fn shuffle_blocks(order: &mut [u32], block_rows: usize, rng: &mut StdRng) {
    let blocks = order.len().div_ceil(block_rows);
    let mut block_order: Vec<usize> = (0..blocks).collect();
    block_order.shuffle(rng);
    let n = order.len();
    let mut at = 0;
    for b in block_order {
        let (first, last) = (b * block_rows, ((b + 1) * block_rows).min(n));
        let piece = &mut order[at..at + (last - first)];
        for (slot, r) in piece.iter_mut().zip(first..last) {
            *slot = r as u32;
        }
        piece.shuffle(rng);
        at += last - first;
    }
}

/// [`shuffle_blocks`] for a view: its rows grouped by the block of the
/// file they are in (a view's rows may come in any order).
fn shuffle_view_blocks(order: &mut [u32], index: &[u32], block_rows: usize, rng: &mut StdRng) {
    let blocks = index
        .iter()
        .map(|&r| r as usize / block_rows)
        .max()
        .map_or(0, |b| b + 1);
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); blocks];
    for (pos, &r) in index.iter().enumerate() {
        members[r as usize / block_rows].push(pos as u32);
    }
    let mut block_order: Vec<usize> = (0..blocks).collect();
    block_order.shuffle(rng);
    let mut at = 0;
    for b in block_order {
        let piece = &mut members[b];
        piece.shuffle(rng);
        order[at..at + piece.len()].copy_from_slice(piece);
        at += piece.len();
    }
}

fn header(nrow: usize, shape: Shape) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_BYTES as usize);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&u32::from(shape.is_flat()).to_le_bytes());
    for v in [nrow, shape.channels, shape.height, shape.width] {
        h.extend_from_slice(&(v as u64).to_le_bytes());
    }
    h
}

/// A data set file's rows and sample shape, from a header that agrees with
/// the file's size.
fn read_whole_header(file: &mut File, path: &Path) -> Result<(usize, Shape)> {
    let (nrow, shape) = read_header(file, path)?;
    let len = file.metadata().map_err(|e| io_err(path, "read", e))?.len();
    let want = (nrow as u64)
        .checked_mul(shape.size() as u64)
        .and_then(|v| v.checked_mul(4))
        .and_then(|v| v.checked_add(HEADER_BYTES));
    if want != Some(len) {
        return Err(arg_err!(
            "{} is not a whole data set file: its header announces {nrow} rows of {} values, but the file has {len} bytes",
            path.display(),
            shape.size()
        ));
    }
    Ok((nrow, shape))
}

fn read_header(file: &mut File, path: &Path) -> Result<(usize, Shape)> {
    let mut h = [0u8; HEADER_BYTES as usize];
    file.read_exact(&mut h).map_err(|_| {
        arg_err!(
            "{} is not a data set file: it is shorter than a header",
            path.display()
        )
    })?;
    if &h[..8] != MAGIC {
        return Err(arg_err!(
            "{} is not a data set file (written by dataset_write())",
            path.display()
        ));
    }
    let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let long = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[i..i + 8]);
        u64::from_le_bytes(b)
    };
    if word(8) != VERSION {
        return Err(arg_err!(
            "{} is a data set file of format {}, which this version cannot read",
            path.display(),
            word(8)
        ));
    }
    let dims: Vec<usize> = (0..4)
        .map(|i| usize::try_from(long(16 + 8 * i)).unwrap_or(usize::MAX))
        .collect();
    let shape = match word(12) {
        1 if dims[2] == 1 && dims[3] == 1 => Shape::flat(dims[1]),
        0 => Shape::image(dims[1], dims[2], dims[3]),
        _ => return Err(arg_err!("{} has a malformed header", path.display())),
    };
    if shape.checked_size().is_none_or(|s| s == 0) {
        return Err(arg_err!("{} has a malformed header", path.display()));
    }
    Ok((dims[0], shape))
}

/// Inflates a gzip file's members, handing the output to `sink` a piece at
/// a time (nothing the size of the whole output is held).
fn gunzip(bytes: &[u8], path: &Path, mut sink: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    use miniz_oxide::inflate::stream::{inflate, InflateState};
    use miniz_oxide::{DataFormat, MZFlush, MZStatus};
    let bad = |why: &str| arg_err!("{} is not a valid gzip file: {why}", path.display());
    let mut rest = bytes;
    let mut out = vec![0u8; 1 << 16];
    while !rest.is_empty() {
        rest = &rest[gzip_header_len(rest).ok_or_else(|| bad("bad header"))?..];
        let mut state = InflateState::new_boxed(DataFormat::Raw);
        loop {
            let r = inflate(&mut state, rest, &mut out, MZFlush::None);
            rest = &rest[r.bytes_consumed..];
            sink(&out[..r.bytes_written])?;
            match r.status {
                Ok(MZStatus::StreamEnd) => break,
                Ok(_) if r.bytes_consumed == 0 && r.bytes_written == 0 => {
                    return Err(bad("it is truncated"))
                }
                Ok(_) => {}
                Err(_) => return Err(bad("its data do not decompress")),
            }
        }
        // The trailer: CRC-32 and size (not checked: the IDX header fixes
        // the size, and a corrupt stream fails to inflate).
        rest = rest.get(8..).ok_or_else(|| bad("it is truncated"))?;
    }
    Ok(())
}

/// The length of a gzip member's header (RFC 1952), if it is one.
fn gzip_header_len(b: &[u8]) -> Option<usize> {
    if b.len() < 10 || b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 {
        return None;
    }
    let flags = b[3];
    let mut at = 10;
    if flags & 4 != 0 {
        let extra = usize::from(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]));
        at += 2 + extra;
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            at += b.get(at..)?.iter().position(|&c| c == 0)? + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    (at <= b.len()).then_some(at)
}

/// Bytes per value, and how to read one (big-endian).
type ValueReader = (usize, fn(&[u8]) -> f64);

/// Reads an IDX stream a piece at a time: the header, then values converted
/// as they come.
struct IdxParser<'p> {
    path: &'p Path,
    divide: f64,
    header: Vec<u8>,
    /// Bytes per value and how to read one, once the header is known.
    value: Option<ValueReader>,
    dims: Vec<usize>,
    expected: usize,
    values: Vec<f32>,
    carry: Vec<u8>,
}

impl<'p> IdxParser<'p> {
    fn new(path: &'p Path, divide: f64) -> Self {
        IdxParser {
            path,
            divide,
            header: Vec::new(),
            value: None,
            dims: Vec::new(),
            expected: 0,
            values: Vec::new(),
            carry: Vec::new(),
        }
    }

    fn bad(&self, why: String) -> crate::error::NnError {
        arg_err!("{} is not a valid IDX file: {why}", self.path.display())
    }

    fn feed(&mut self, mut chunk: &[u8]) -> Result<()> {
        // The header: the magic's 4 bytes, then 4 per dimension.
        while self.value.is_none() && !chunk.is_empty() {
            let need = if self.header.len() < 4 {
                4
            } else {
                4 + 4 * usize::from(self.header[3])
            };
            let take = (need - self.header.len()).min(chunk.len());
            self.header.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.header.len() == 4 && take > 0 {
                self.check_magic()?;
            }
            if self.header.len() == need && need > 4 {
                self.start()?;
            }
        }
        let Some((size, read)) = self.value else {
            return Ok(());
        };
        if !self.carry.is_empty() {
            let take = (size - self.carry.len()).min(chunk.len());
            self.carry.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.carry.len() < size {
                return Ok(());
            }
            let v = read(&self.carry);
            self.carry.clear();
            self.push(v)?;
        }
        let whole = chunk.len() / size * size;
        if self.values.len() + whole / size > self.expected {
            return Err(self.bad(format!(
                "it holds more values than the {} its header declares",
                self.expected
            )));
        }
        for b in chunk[..whole].chunks_exact(size) {
            self.push(read(b))?;
        }
        self.carry.extend_from_slice(&chunk[whole..]);
        Ok(())
    }

    fn check_magic(&self) -> Result<()> {
        let h = &self.header;
        if h[0] != 0 || h[1] != 0 {
            return Err(self.bad("it does not start with two zero bytes".into()));
        }
        if h[3] == 0 || h[3] > 4 {
            return Err(self.bad(format!("{} dimensions (1 to 4 are read)", h[3])));
        }
        Ok(())
    }

    fn push(&mut self, v: f64) -> Result<()> {
        if self.values.len() == self.expected {
            return Err(self.bad(format!(
                "it holds more values than the {} its header declares",
                self.expected
            )));
        }
        let v = (v / self.divide) as f32;
        if !v.is_finite() {
            return Err(self.bad(format!(
                "value {} is not a finite float32 number",
                self.values.len() + 1
            )));
        }
        self.values.push(v);
        Ok(())
    }

    fn start(&mut self) -> Result<()> {
        let read: ValueReader = match self.header[2] {
            0x08 => (1, |b| f64::from(b[0])),
            0x09 => (1, |b| f64::from(b[0] as i8)),
            0x0B => (2, |b| f64::from(i16::from_be_bytes([b[0], b[1]]))),
            0x0C => (4, |b| {
                f64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }),
            0x0D => (4, |b| {
                f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }),
            0x0E => (8, |b| {
                f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }),
            t => return Err(self.bad(format!("unknown value type 0x{t:02X}"))),
        };
        self.dims = self.header[4..]
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .collect();
        let total = self
            .dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&t| t <= isize::MAX as usize / 8)
            .ok_or_else(|| self.bad("its dimensions are too large".into()))?;
        self.values
            .try_reserve_exact(total)
            .map_err(|_| self.bad(format!("its {total} values do not fit in memory")))?;
        self.expected = total;
        self.value = Some(read);
        Ok(())
    }

    fn finish(self) -> Result<Dataset> {
        if self.value.is_none() || self.values.len() < self.expected || !self.carry.is_empty() {
            return Err(self.bad(format!(
                "it is truncated: {} of {} values",
                self.values.len(),
                self.expected.max(1)
            )));
        }
        let d = &self.dims;
        let shape = match d.len() {
            1 => Shape::flat(1),
            2 => Shape::flat(d[1]),
            3 => Shape::image(1, d[1], d[2]),
            _ => Shape::image(d[1], d[2], d[3]),
        };
        if shape.checked_size().is_none_or(|size| size == 0) {
            return Err(self.bad("its samples are empty or too large".into()));
        }
        Ok(Dataset::whole(d[0], shape, Store::Memory(self.values)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;

    fn host(nrow: usize, ncol: usize) -> Vec<f64> {
        (0..nrow * ncol).map(|i| (i as f64).sin() * 3.0).collect()
    }

    fn all_rows(d: &Dataset) -> Array2<f32> {
        let mut out = Array2::zeros((d.nrow(), d.ncol()));
        d.read_range(0, d.nrow(), out.view_mut()).unwrap();
        out
    }

    #[test]
    fn a_data_set_holds_the_hosts_rows_in_f32() {
        let x = host(7, 3);
        let m = ColMajor::new(&x, 7, 3).unwrap();
        let d = Dataset::from_host(m, &Parallel::default()).unwrap();
        assert_eq!(all_rows(&d), m.to_array::<f32>());
    }

    #[test]
    fn a_file_gives_back_the_same_rows_in_any_order() {
        let x = host(1000, 5);
        let m = ColMajor::new(&x, 1000, 5).unwrap();
        let d = Dataset::from_host(m, &Parallel::default()).unwrap();
        let path = std::env::temp_dir().join(format!("rustnn-ds-{}.bin", std::process::id()));
        d.write(&path, false).unwrap();
        d.write(&path, true).unwrap();
        let mut on_disk = Dataset::open(&path).unwrap();
        assert_eq!(on_disk.nrow(), 2000);
        // Small blocks, so that a gather crosses several.
        if let Some(Store::File(f)) = Arc::get_mut(&mut on_disk.store) {
            f.block_rows = 64;
        }
        let rows: Vec<usize> = vec![1999, 3, 64, 63, 1000, 999, 0];
        let mut a = Array2::<f64>::zeros((rows.len(), 5));
        let mut b = Array2::<f64>::zeros((rows.len(), 5));
        on_disk.gather(&rows, a.view_mut()).unwrap();
        let wrapped: Vec<usize> = rows.iter().map(|r| r % 1000).collect();
        d.gather(&wrapped, b.view_mut()).unwrap();
        assert_eq!(a, b);
        // A view of a view reads the same rows, from the file.
        let v = on_disk.view(&[5, 1500, 70]).unwrap().view(&[2, 0]).unwrap();
        let mut c = Array2::<f64>::zeros((2, 5));
        v.gather(&[0, 1], c.view_mut()).unwrap();
        let mut e = Array2::<f64>::zeros((2, 5));
        d.gather(&[70, 5], e.view_mut()).unwrap();
        assert_eq!(c, e);
        assert!(v.on_disk() && v.view(&[2]).is_err());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn block_shuffling_visits_every_row_once_block_by_block() {
        let mut order = vec![0u32; 1000];
        shuffle_blocks(&mut order, 64, &mut StdRng::seed_from_u64(3));
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
        // Each run of 64 (or the short last block) comes from one block.
        let mut at = 0;
        while at < 1000 {
            let block = order[at] / 64;
            let len = if block == 1000 / 64 { 1000 % 64 } else { 64 };
            assert!(order[at..at + len].iter().all(|r| r / 64 == block));
            at += len;
        }
        assert_ne!(order, (0..1000).collect::<Vec<u32>>());
    }

    #[test]
    fn idx_files_are_read_plain_or_gzipped_and_checked() {
        let mut idx = vec![0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        idx.extend(0u8..12);
        let dir = std::env::temp_dir();
        let plain = dir.join(format!("rustnn-idx-{}", std::process::id()));
        std::fs::write(&plain, &idx).unwrap();
        let d = Dataset::read_idx(&plain, 255.0).unwrap();
        assert_eq!((d.nrow(), d.shape()), (2, Shape::image(1, 2, 3)));
        assert_eq!(all_rows(&d)[[1, 2]], (8.0f64 / 255.0) as f32);
        // The same bytes gzipped (a stored block: no compressor needed).
        let gz = dir.join(format!("rustnn-idx-{}.gz", std::process::id()));
        let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1];
        let n = idx.len() as u16;
        g.extend(n.to_le_bytes());
        g.extend((!n).to_le_bytes());
        g.extend(&idx);
        g.extend([0u8; 8]);
        std::fs::write(&gz, &g).unwrap();
        assert_eq!(
            all_rows(&Dataset::read_idx(&gz, 255.0).unwrap()),
            all_rows(&d)
        );
        // Truncated, and too long.
        std::fs::write(&plain, &idx[..20]).unwrap();
        assert!(Dataset::read_idx(&plain, 1.0).is_err());
        let mut long = idx.clone();
        long.push(1);
        std::fs::write(&plain, &long).unwrap();
        assert!(Dataset::read_idx(&plain, 1.0).is_err());
        std::fs::write(&plain, b"not an idx file").unwrap();
        assert!(Dataset::read_idx(&plain, 1.0).is_err());
        std::fs::remove_file(&plain).unwrap();
        std::fs::remove_file(&gz).unwrap();
    }

    #[test]
    fn idx_headers_that_end_early_or_lie_are_refused() {
        let path = std::env::temp_dir().join(format!("rustnn-idx4-{}", std::process::id()));
        for bytes in [
            vec![0u8, 0, 8, 1],
            vec![0, 0, 8, 2, 0, 0, 0, 0, 0xB2, 0xD0, 0x5E, 0],
            vec![0, 0, 0x0D, 1, 0, 0, 0, 1, 0x7F, 0xC0, 0, 0],
        ] {
            std::fs::write(&path, &bytes).unwrap();
            assert!(Dataset::read_idx(&path, 1.0).is_err(), "{bytes:?}");
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_file_is_rewritten_from_its_own_view_and_appends_keep_its_shape() {
        let x = host(50, 4);
        let d =
            Dataset::from_host(ColMajor::new(&x, 50, 4).unwrap(), &Parallel::default()).unwrap();
        let path = std::env::temp_dir().join(format!("rustnn-self-{}.bin", std::process::id()));
        d.write(&path, false).unwrap();
        let on_disk = Dataset::open(&path).unwrap();
        // Rows out of the file's order, written over the file they come from.
        let rows: Vec<usize> = (0..50).rev().collect();
        on_disk.view(&rows).unwrap().write(&path, false).unwrap();
        let mut a = Array2::<f64>::zeros((50, 4));
        Dataset::open(&path)
            .unwrap()
            .read_range(0, 50, a.view_mut())
            .unwrap();
        let mut b = Array2::<f64>::zeros((50, 4));
        d.gather(&rows, b.view_mut()).unwrap();
        assert_eq!(a, b);
        // Samples of another shape, even of the same size, are refused.
        let img = Dataset::from_rows(vec![0.5; 8], Shape::image(1, 2, 2)).unwrap();
        assert!(img.write(&path, true).is_err());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_file_that_is_not_whole_is_refused() {
        let path = std::env::temp_dir().join(format!("rustnn-bad-{}.bin", std::process::id()));
        let mut h = header(10, Shape::flat(3));
        h.extend([0u8; 12]);
        std::fs::write(&path, &h).unwrap();
        assert!(Dataset::open(&path).is_err());
        std::fs::write(&path, b"RUSTNNDS").unwrap();
        assert!(Dataset::open(&path).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
