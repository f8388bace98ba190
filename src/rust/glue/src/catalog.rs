//! The engine's closed sets of names (see `rustnn_core::catalog`), for the
//! R side to read once instead of keeping lists of its own.

use extendr_api::prelude::*;

/// `list(layers, activations, losses, metrics, optimizers, schedules,
/// buffers)`, each a character vector.
/// @noRd
#[extendr]
fn rn_catalog() -> List {
    let sets = rustnn_core::catalog::catalog();
    let names: Vec<&str> = sets.iter().map(|(name, _)| *name).collect();
    let values: Vec<Robj> = sets.into_iter().map(|(_, v)| Robj::from(v)).collect();
    List::from_names_and_values(names, values).unwrap_or_default()
}

extendr_module! {
    mod catalog;
    fn rn_catalog;
}
