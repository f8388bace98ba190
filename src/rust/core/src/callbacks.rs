//! What the training loop decides at the end of an epoch from the figures it
//! just computed: early stopping and learning-rate schedules.
//!
//! Both watch one figure of the epoch's log ("loss", "val_loss",
//! "val_accuracy", ...) through a [`Tracker`], which knows whether that
//! figure should go down or up and how long it has not improved.

use crate::error::{arg_err, check_non_negative, check_positive, Result};
use crate::metrics::Metric;

/// Stop when `monitor` has not improved by more than `min_delta` for
/// `patience` epochs; optionally put back the weights of the best epoch
/// when training ends.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyStopping {
    pub monitor: String,
    pub patience: usize,
    pub min_delta: f64,
    pub restore_best: bool,
}

/// The learning rate of each epoch. `Step`, `Exponential` and `Cosine`
/// depend on the epoch number only (epoch 1 uses the optimizer's own rate);
/// `Plateau` multiplies the rate by `factor` whenever `monitor` has not
/// improved for `patience` epochs (Keras's ReduceLROnPlateau, without cooldown).
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Step {
        step_size: usize,
        gamma: f64,
    },
    Exponential {
        gamma: f64,
    },
    Cosine {
        t_max: usize,
        lr_min: f64,
    },
    Plateau {
        monitor: String,
        factor: f64,
        patience: usize,
        min_delta: f64,
        lr_min: f64,
    },
}

impl EarlyStopping {
    pub fn validate(&self) -> Result<()> {
        check_non_negative("min_delta", self.min_delta)
    }
}

impl Schedule {
    /// The schedules, by the name the host uses.
    pub const NAMES: [&'static str; 4] = ["step", "exponential", "cosine", "plateau"];

    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Step { .. } => "step",
            Schedule::Exponential { .. } => "exponential",
            Schedule::Cosine { .. } => "cosine",
            Schedule::Plateau { .. } => "plateau",
        }
    }

    pub fn validate(&self) -> Result<()> {
        match *self {
            Schedule::Step { step_size, gamma } => {
                if step_size == 0 {
                    return Err(arg_err!("step_size must be at least 1"));
                }
                check_positive("gamma", gamma)
            }
            Schedule::Exponential { gamma } => check_positive("gamma", gamma),
            Schedule::Cosine { t_max, lr_min } => {
                if t_max == 0 {
                    return Err(arg_err!("t_max must be at least 1"));
                }
                check_non_negative("lr_min", lr_min)
            }
            Schedule::Plateau {
                factor,
                min_delta,
                lr_min,
                ..
            } => {
                if !(factor > 0.0 && factor < 1.0) {
                    return Err(arg_err!("factor must be in (0, 1), not {factor}"));
                }
                check_non_negative("min_delta", min_delta)?;
                check_non_negative("lr_min", lr_min)
            }
        }
    }

    /// Rate for `epoch` (1-based) when it depends on the epoch alone.
    pub fn rate_at(&self, base: f64, epoch: usize) -> Option<f64> {
        let done = (epoch - 1) as f64;
        match *self {
            Schedule::Step { step_size, gamma } => {
                Some(base * gamma.powi(((epoch - 1) / step_size) as i32))
            }
            Schedule::Exponential { gamma } => Some(base * gamma.powf(done)),
            Schedule::Cosine { t_max, lr_min } => {
                let t = done.min(t_max as f64);
                let cos = (std::f64::consts::PI * t / t_max as f64).cos();
                Some(lr_min + (base - lr_min) * (1.0 + cos) / 2.0)
            }
            Schedule::Plateau { .. } => None,
        }
    }
}

/// Follows one column of the epoch log: its best value so far and for how
/// many epochs it has not improved.
#[derive(Debug, Clone)]
pub struct Tracker {
    pub column: usize,
    higher_is_better: bool,
    min_delta: f64,
    pub best: f64,
    pub best_epoch: usize,
    pub wait: usize,
}

impl Tracker {
    /// Finds `monitor` among `columns` (the names of the log's figures).
    pub fn new(monitor: &str, columns: &[String], min_delta: f64) -> Result<Self> {
        let column = columns.iter().position(|c| c == monitor).ok_or_else(|| {
            let hint = if monitor.starts_with("val_") {
                " (validation figures need validation data)"
            } else {
                ""
            };
            arg_err!(
                "cannot monitor \"{monitor}\": this fit() reports {}{hint}",
                columns.join(", ")
            )
        })?;
        let base = monitor.strip_prefix("val_").unwrap_or(monitor);
        let higher_is_better = Metric::from_name(base)
            .map(Metric::higher_is_better)
            .unwrap_or(false);
        Ok(Tracker {
            column,
            higher_is_better,
            min_delta,
            best: if higher_is_better {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            },
            best_epoch: 0,
            wait: 0,
        })
    }

    /// Records the epoch's figures; true if the monitored one improved.
    pub fn update(&mut self, figures: &[f64], epoch: usize) -> bool {
        let value = figures[self.column];
        let improved = if self.higher_is_better {
            value > self.best + self.min_delta
        } else {
            value < self.best - self.min_delta
        };
        if improved {
            self.best = value;
            self.best_epoch = epoch;
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        improved
    }
}

/// What the end of an epoch decided (see [`EpochRules::after_epoch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterEpoch {
    /// Early stopping's patience ran out: training ends here.
    pub stop: bool,
    /// Early stopping will want these weights back (the epoch is the best
    /// so far and the weights are to be restored).
    pub keep_as_best: bool,
}

/// A fit's callbacks in one place: the learning rate each epoch starts
/// with (schedules, plateau) and what each epoch's figures decide (early
/// stopping). The training loop asks [`EpochRules::lr_for`] before an
/// epoch and [`EpochRules::after_epoch`] after it, nothing else.
#[derive(Debug, Clone)]
pub struct EpochRules {
    early: Option<(EarlyStopping, Tracker)>,
    schedule: Option<Schedule>,
    plateau: Option<Tracker>,
    base_lr: f64,
    lr: f64,
}

impl EpochRules {
    /// Rules for a fit whose epoch log has `columns` and whose optimizer
    /// starts at `base_lr`.
    pub fn new(
        early_stopping: Option<&EarlyStopping>,
        schedule: Option<&Schedule>,
        columns: &[String],
        base_lr: f64,
    ) -> Result<Self> {
        let early = match early_stopping {
            Some(es) => {
                es.validate()?;
                Some((
                    es.clone(),
                    Tracker::new(&es.monitor, columns, es.min_delta)?,
                ))
            }
            None => None,
        };
        if let Some(s) = schedule {
            s.validate()?;
        }
        let plateau = match schedule {
            Some(Schedule::Plateau {
                monitor, min_delta, ..
            }) => Some(Tracker::new(monitor, columns, *min_delta)?),
            _ => None,
        };
        Ok(EpochRules {
            early,
            schedule: schedule.cloned(),
            plateau,
            base_lr,
            lr: base_lr,
        })
    }

    /// The learning rate of `epoch` (1-based).
    pub fn lr_for(&mut self, epoch: usize) -> f64 {
        if let Some(rate) = self
            .schedule
            .as_ref()
            .and_then(|s| s.rate_at(self.base_lr, epoch))
        {
            self.lr = rate;
        }
        self.lr
    }

    /// Reads the epoch's figures: updates the plateau's rate for the next
    /// epoch and says whether to stop and whether to keep these weights.
    pub fn after_epoch(&mut self, figures: &[f64], epoch: usize) -> AfterEpoch {
        let mut decision = AfterEpoch {
            stop: false,
            keep_as_best: false,
        };
        if let Some((es, tracker)) = &mut self.early {
            decision.keep_as_best = tracker.update(figures, epoch) && es.restore_best;
            decision.stop = tracker.wait >= es.patience;
        }
        if let (
            Some(Schedule::Plateau {
                factor,
                patience,
                lr_min,
                ..
            }),
            Some(tracker),
        ) = (&self.schedule, &mut self.plateau)
        {
            if !tracker.update(figures, epoch) && tracker.wait >= *patience {
                self.lr = (self.lr * *factor).max(*lr_min);
                tracker.wait = 0;
            }
        }
        decision
    }

    /// The best epoch, whose weights are to be put back when training ended
    /// after `last` epochs, if early stopping says so.
    pub fn epoch_to_restore(&self, last: usize) -> Option<usize> {
        match &self.early {
            Some((es, t)) if es.restore_best && t.best_epoch > 0 && t.best_epoch != last => {
                Some(t.best_epoch)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<String> {
        ["loss", "accuracy", "val_loss", "val_accuracy"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn trackers_know_their_direction() {
        let mut loss = Tracker::new("val_loss", &cols(), 0.1).unwrap();
        assert!(loss.update(&[0.0, 0.0, 1.0, 0.0], 1));
        assert!(!loss.update(&[0.0, 0.0, 0.95, 0.0], 2)); // within min_delta
        assert!(loss.update(&[0.0, 0.0, 0.5, 0.0], 3));
        assert_eq!((loss.best_epoch, loss.wait), (3, 0));
        assert!(!loss.update(&[0.0, 0.0, f64::NAN, 0.0], 4));
        assert_eq!(loss.wait, 1);
        let mut acc = Tracker::new("val_accuracy", &cols(), 0.0).unwrap();
        assert!(acc.update(&[0.0, 0.0, 0.0, 0.5], 1));
        assert!(!acc.update(&[0.0, 0.0, 0.0, 0.4], 2));
        let err = Tracker::new("val_auc", &cols(), 0.0).unwrap_err();
        assert!(err.to_string().contains("need validation data"));
    }

    #[test]
    fn schedules() {
        let step = Schedule::Step {
            step_size: 2,
            gamma: 0.5,
        };
        let rates: Vec<f64> = (1..=5).map(|e| step.rate_at(1.0, e).unwrap()).collect();
        assert_eq!(rates, vec![1.0, 1.0, 0.5, 0.5, 0.25]);
        let exp = Schedule::Exponential { gamma: 0.9 };
        assert!((exp.rate_at(2.0, 3).unwrap() - 2.0 * 0.81).abs() < 1e-15);
        let cos = Schedule::Cosine {
            t_max: 4,
            lr_min: 0.1,
        };
        assert_eq!(cos.rate_at(1.0, 1), Some(1.0));
        assert!((cos.rate_at(1.0, 3).unwrap() - 0.55).abs() < 1e-15);
        assert!((cos.rate_at(1.0, 9).unwrap() - 0.1).abs() < 1e-15);
        assert!(Schedule::Step {
            step_size: 0,
            gamma: 0.5
        }
        .validate()
        .is_err());
        assert!(Schedule::Plateau {
            monitor: "loss".into(),
            factor: 1.0,
            patience: 1,
            min_delta: 0.0,
            lr_min: 0.0
        }
        .validate()
        .is_err());
    }
}
