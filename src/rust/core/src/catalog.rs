//! The closed sets of names the engine knows, in one place for the host:
//! layer types, activations, losses, metrics (and which of them compare
//! classes, and which improve by going up), optimizers, schedules, and the
//! tensors that are buffers (moved by training, not trained).
//! Each set is declared once, by the type it names (`LayerSpec::TYPES`,
//! `Activation::NAMES`, ...); the R side reads them from here instead of
//! writing its own lists, and its tests check that every name has its R
//! class or argument.

use crate::activation::Activation;
use crate::callbacks::Schedule;
use crate::layer::LayerSpec;
use crate::loss::Loss;
use crate::metrics::Metric;
use crate::optim::OptimizerConfig;

/// One named set: what it lists, and the names.
pub type NameSet = (&'static str, Vec<&'static str>);

/// Every set, in a fixed order.
pub fn catalog() -> Vec<NameSet> {
    vec![
        ("layers", LayerSpec::all_types().collect()),
        ("activations", Activation::NAMES.to_vec()),
        ("losses", Loss::NAMES.to_vec()),
        ("metrics", Metric::NAMES.to_vec()),
        ("class_metrics", Metric::names_where(Metric::needs_classes)),
        (
            "metrics_higher_is_better",
            Metric::names_where(Metric::higher_is_better),
        ),
        ("optimizers", OptimizerConfig::NAMES.to_vec()),
        ("schedules", Schedule::NAMES.to_vec()),
        ("buffers", crate::batchnorm::BUFFERS.to_vec()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerOptions;

    /// Every name builds what it names, and names it back.
    #[test]
    fn every_name_builds_its_own_kind() {
        let options = LayerOptions {
            kernel: [2, 2],
            ..Default::default()
        };
        for kind in LayerSpec::all_types() {
            let spec = LayerSpec::new(kind, 2, 2, &options).unwrap();
            assert_eq!(spec.kind(), kind);
        }
        for name in Loss::NAMES {
            assert_eq!(Loss::from_name(name).unwrap().name(), name);
        }
        for name in Metric::NAMES {
            assert_eq!(Metric::from_name(name).unwrap().name(), name);
        }
        let sets = catalog();
        assert_eq!(sets.len(), 9);
        assert!(sets.iter().all(|(_, names)| !names.is_empty()));
    }
}
