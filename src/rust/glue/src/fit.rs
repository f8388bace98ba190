//! `fit()` from R: a training session that the R side starts, runs until
//! it pauses (an epoch's end where R callbacks run, or time to redraw the
//! progress display), runs again, and finishes. Between runs no Rust frame
//! holds the network, so R code in callbacks runs in R's own context: its
//! conditions reach the handlers around `fit()`, and it may read or change
//! the model's weights.

use crate::convert::{col_major, core_err, count, input_of, optional_matrix, to_r};
use crate::custom::objective_from;
use crate::dataset::dataset_of;
use crate::interrupt;
use crate::network::{engine_mut, state_list};
use crate::settings::{optimizer_from, train_config_from};
use extendr_api::prelude::*;
use extendr_api::{Error, Result};
use rustnn_core::any::{AnyFitSession, FitJob, HostSamples};
use rustnn_core::track::{Kind, TensorRecord};
use rustnn_core::{AnyNetwork, Control, Event, FitReport, FitStatus};
use std::time::{Duration, Instant};

/// A session as R holds it: taken out when it finishes.
pub struct FitHandle {
    session: Option<AnyFitSession>,
    interrupted: bool,
    /// `fit(track = "weights")`: the history gets its records, even none.
    tracking: bool,
}

/// The network and the session training it, from their pointers.
fn network_and_session<'a>(
    ptr: &'a mut ExternalPtr<AnyNetwork>,
    handle: &'a mut ExternalPtr<FitHandle>,
) -> Result<(&'a mut AnyNetwork, &'a mut FitHandle)> {
    Ok((engine_mut(ptr)?, handle.try_addr_mut()?))
}

fn running(handle: &mut FitHandle) -> Result<&mut AnyFitSession> {
    handle
        .session
        .as_mut()
        .ok_or_else(|| Error::Other("this fit() has already finished".into()))
}

/// TRUE while `handle` is a session of this R process that has not
/// finished (a handle read back by readRDS() is NULL).
/// @noRd
#[extendr]
fn rn_fit_live(handle: Robj) -> bool {
    <ExternalPtr<FitHandle>>::try_from(&handle)
        .ok()
        .and_then(|h| h.try_addr().ok().map(|h| h.session.is_some()))
        .unwrap_or(false)
}

/// Starts a fit: checks and converts the data once (x, y and the optional
/// weights and validation data), reads the loss, optimizer and settings.
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rn_fit_start(
    mut ptr: ExternalPtr<AnyNetwork>,
    x: Robj,
    y: RMatrix<f64>,
    weights: Robj,
    val_x: Robj,
    val_y: Robj,
    loss: Robj,
    optimizer: Robj,
    control: Robj,
    threads: i32,
) -> Robj {
    to_r(|| {
        let (optimizer, state) = optimizer_from(&optimizer)?;
        let val_y = optional_matrix(&val_y)?;
        let validation = match (samples_of(&val_x)?, &val_y) {
            (Some(vx), Some(vy)) => Some((vx, col_major(vy)?)),
            _ => None,
        };
        let config = train_config_from(&control)?;
        let tracking = config.track.is_some();
        let job = FitJob {
            x: samples_of(&x)?.ok_or_else(|| Error::Other("x is missing".into()))?,
            y: col_major(&y)?,
            weights: weights.as_real_slice(),
            validation,
            loss: objective_from(&loss)?,
            optimizer,
            state,
            config,
        };
        let net = engine_mut(&mut ptr)?;
        net.set_threads(count(threads, "threads")?)
            .map_err(core_err)?;
        let session = net.start_fit(job).map_err(core_err)?;
        Ok(ExternalPtr::new(FitHandle {
            session: Some(session),
            interrupted: false,
            tracking,
        }))
    })
}

/// A matrix, an image array or a data set's handle; `None` for `NULL`.
fn samples_of(x: &Robj) -> Result<Option<HostSamples<'_>>> {
    if x.is_null() {
        return Ok(None);
    }
    Ok(Some(match dataset_of(x) {
        Some(d) => HostSamples::Dataset(d),
        None => HostSamples::Matrix(input_of(x)?),
    }))
}

/// Trains until the fit ends or pauses: at every epoch's end with
/// `pause_each_epoch`, and at a batch's or epoch's end once `pause_ms`
/// milliseconds have passed since the run began (0: never). Returns
/// `list(finished, epoch_end, epoch, batch, batches, loss, rows)`: where
/// it stopped (`epoch_end`: at the end of epoch `epoch`, else after batch
/// `batch` of `batches` with the epoch's loss so far), and the history's
/// rows from row `from + 1` on, as a matrix with a column per figure.
/// @noRd
#[extendr]
fn rn_fit_run(
    mut ptr: ExternalPtr<AnyNetwork>,
    mut handle: ExternalPtr<FitHandle>,
    pause_each_epoch: bool,
    pause_ms: f64,
    from: i32,
) -> Robj {
    to_r(|| {
        let (net, handle) = network_and_session(&mut ptr, &mut handle)?;
        let started = Instant::now();
        let pause_after = (pause_ms > 0.0).then(|| Duration::from_secs_f64(pause_ms / 1000.0));
        let mut interrupts = interrupt::Throttled::new();
        let mut interrupted = false;
        let mut at = (false, 0usize, 0usize, 0usize, f64::NAN);
        let mut observer = |event: Event| -> Control {
            if interrupts.pending() {
                interrupted = true;
                return Control::Stop;
            }
            let epoch_end = match event {
                Event::EpochEnd { epoch, .. } => {
                    at = (true, epoch, 0, 0, f64::NAN);
                    true
                }
                Event::BatchEnd {
                    epoch,
                    batch,
                    batches,
                    loss,
                } => {
                    at = (false, epoch, batch, batches, loss);
                    false
                }
            };
            let timed_out = pause_after.is_some_and(|d| started.elapsed() >= d);
            if (epoch_end && pause_each_epoch) || timed_out {
                Control::Pause
            } else {
                Control::Continue
            }
        };
        let session = running(handle)?;
        session.run(net, &mut observer).map_err(core_err)?;
        handle.interrupted |= interrupted;
        let session = running(handle)?;
        let report = session.report();
        let from = count(from, "from")?.min(report.history.len());
        let new_rows = &report.history[from..];
        let ncol = report.columns.len();
        let mut rows = RMatrix::new_matrix(new_rows.len(), ncol, |r, c| new_rows[r][c]);
        let names: Vec<&str> = report.columns.iter().map(String::as_str).collect();
        rows.set_attrib("dimnames", list!((), names))?;
        let (epoch_end, epoch, batch, batches, loss) = at;
        Ok(list!(
            finished = session.is_finished(),
            epoch_end = epoch_end,
            epoch = epoch as i32,
            batch = batch as i32,
            batches = batches as i32,
            loss = loss,
            rows = rows
        ))
    })
}

/// The history so far as a list of columns, one per figure.
fn history_list(report: &FitReport) -> Result<List> {
    List::from_names_and_values(
        report.columns.iter().map(String::as_str),
        report
            .columns
            .iter()
            .map(|c| report.column(c).unwrap_or_default()),
    )
}

/// The fit as it stands at a pause: `list(history, optimizer_state)`, the
/// epochs done and the optimizer's state now, for the model's R state
/// while R callbacks run.
/// @noRd
#[extendr]
fn rn_fit_snapshot(mut handle: ExternalPtr<FitHandle>) -> Robj {
    to_r(|| {
        let session = running(handle.try_addr_mut()?)?;
        Ok(list!(
            history = history_list(session.report())?,
            optimizer_state = state_list(session.optimizer_state())
        ))
    })
}

/// Ends a fit (with `stop`, where it paused: a callback asked to stop) and
/// returns `list(history, status, stopped_epoch, stopped_batch,
/// restored_epoch, optimizer_state, tracked)`.
/// @noRd
#[extendr]
fn rn_fit_finish(
    mut ptr: ExternalPtr<AnyNetwork>,
    mut handle: ExternalPtr<FitHandle>,
    stop: bool,
    interrupted: bool,
) -> Robj {
    to_r(|| {
        let (net, handle) = network_and_session(&mut ptr, &mut handle)?;
        let mut session = handle
            .session
            .take()
            .ok_or_else(|| Error::Other("this fit() has already finished".into()))?;
        if stop && !session.is_finished() {
            session.stop();
        }
        let tracking = handle.tracking;
        let (report, state) = session.finish(net).map_err(core_err)?;
        let interrupted = interrupted || handle.interrupted;
        let (status, epoch, batch) = match report.status {
            FitStatus::Completed => ("completed", 0, 0),
            FitStatus::Stopped { epoch, batch } if interrupted => ("interrupted", epoch, batch),
            FitStatus::Stopped { epoch, batch } => ("stopped", epoch, batch),
            FitStatus::EarlyStopped { epoch } => ("early_stopped", epoch, 0),
            FitStatus::NonFinite { epoch, batch } => ("non_finite", epoch, batch),
        };
        let history = history_list(&report)?;
        let tracked: Robj = if tracking {
            tracked_list(&report.tracked)?.into()
        } else {
            ().into()
        };
        Ok(list!(
            history = history,
            status = status,
            stopped_epoch = epoch as i32,
            stopped_batch = batch as i32,
            restored_epoch = report.restored_epoch.map(|e| e as i32).unwrap_or(0),
            optimizer_state = state_list(state),
            tracked = tracked
        ))
    })
}

/// The records of a tracked fit as two lists of columns: `summary` (epoch,
/// layer, param, kind, mean, sd, mean_abs, min, max: one row per record)
/// and `histogram` (epoch, layer, param, kind, lower, upper, count: one row
/// per bin), then `params` and `kinds`, the names that the `param` and
/// `kind` codes index. Codes and layers count from 1; an sd of NaN (one
/// value) becomes NA, as R's `sd()` gives.
///
/// Why codes: a string column costs a lookup in R's string cache per row,
/// and the histogram has a row per bin; R makes the names by indexing.
fn tracked_list(records: &[TensorRecord]) -> Result<List> {
    let mut params: Vec<&'static str> = Vec::new();
    let mut keys: [Vec<i32>; 4] = Default::default();
    let mut bin_keys: [Vec<i32>; 4] = Default::default();
    let mut figures: [Vec<f64>; 5] = Default::default();
    let (mut lower, mut upper, mut count) = (vec![], vec![], vec![]);
    for r in records {
        let param = match params.iter().position(|&p| p == r.param) {
            Some(i) => i,
            None => {
                params.push(r.param);
                params.len() - 1
            }
        };
        let key = [r.epoch, r.layer + 1, param + 1, r.kind.index() + 1].map(|v| v as i32);
        for (column, v) in keys.iter_mut().zip(key) {
            column.push(v);
        }
        let s = &r.summary;
        for (column, v) in figures
            .iter_mut()
            .zip([s.mean, s.sd, s.mean_abs, s.min, s.max])
        {
            column.push(v);
        }
        for (lo, up, n) in r.histogram.bins() {
            for (column, v) in bin_keys.iter_mut().zip(key) {
                column.push(v);
            }
            lower.push(lo);
            upper.push(up);
            // Tensors are smaller than R's integers: the R side bounds them.
            count.push(i32::try_from(n).map_err(|_| {
                Error::Other(format!("a histogram bin holds {n} values, too many for R"))
            })?);
        }
    }
    let sd: Doubles = figures[1]
        .iter()
        .map(|&v| if v.is_nan() { Rfloat::na() } else { v.into() })
        .collect();
    let [epoch, layer, param, kind] = keys;
    let [mean, _, mean_abs, min, max] = figures;
    let summary = list!(
        epoch = epoch,
        layer = layer,
        param = param,
        kind = kind,
        mean = mean,
        sd = sd,
        mean_abs = mean_abs,
        min = min,
        max = max
    );
    let [epoch, layer, param, kind] = bin_keys;
    let histogram = list!(
        epoch = epoch,
        layer = layer,
        param = param,
        kind = kind,
        lower = lower,
        upper = upper,
        count = count
    );
    Ok(list!(
        summary = summary,
        histogram = histogram,
        params = params,
        kinds = Kind::ALL.map(Kind::name).to_vec()
    ))
}

extendr_module! {
    mod fit;
    fn rn_fit_live;
    fn rn_fit_start;
    fn rn_fit_run;
    fn rn_fit_snapshot;
    fn rn_fit_finish;
}
