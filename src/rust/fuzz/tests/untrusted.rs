//! Model files are untrusted: the core's reader of their payload
//! (`rustnn_core::untrusted`) must return `Err`, never panic, hang or
//! allocate without bound, whatever the bytes. Cases are valid payloads
//! (written by R's `serialize()`, in `tests/seeds/`: lists, attributes, a
//! factor, a data frame, compact vectors, formula terms with predvars)
//! with random bytes overwritten, inserted or cut, and random bytes.
//!
//! `RUSTNN_FUZZ_CASES` sets the number of cases per property (default 4000).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rustnn_core::untrusted::{call_text, inflate, read_serialized, Item, Value};
use rustnn_fuzz::gen::{edit, edited};

fn hex(text: &str) -> Vec<u8> {
    let t = text.trim();
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&t[i..i + 2], 16).unwrap())
        .collect()
}

fn seeds() -> Vec<Vec<u8>> {
    vec![
        hex(include_str!("seeds/payload-v3.hex")),
        hex(include_str!("seeds/payload-v2.hex")),
    ]
}

fn cases() -> u32 {
    std::env::var("RUSTNN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4000)
}

/// Every call in the tree written as text, as the glue does.
fn visit(item: &Item) {
    match &item.value {
        Value::Call(_) => {
            let _ = call_text(item);
        }
        Value::List(items) => items.iter().for_each(visit),
        _ => {}
    }
    item.attributes.iter().for_each(|(_, a)| visit(a));
}

#[test]
fn the_seeds_read() {
    for seed in seeds() {
        let item = read_serialized(&seed).unwrap();
        visit(&item);
    }
    let z = hex(include_str!("seeds/payload-v2.zlib.hex"));
    let bytes = inflate(&z, 1 << 20, false).unwrap();
    read_serialized(&bytes).unwrap();
}

#[test]
fn damaged_payloads_are_errors_not_panics() {
    let seeds = seeds();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..seeds.len(), prop::collection::vec(edit(), 1..6));
    runner
        .run(&strategy, |(i, edits)| {
            if let Ok(item) = read_serialized(&edited(seeds[i].clone(), &edits)) {
                visit(&item);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn damaged_zlib_streams_are_errors_not_panics() {
    let z = hex(include_str!("seeds/payload-v2.zlib.hex"));
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(edit(), 1..4),
        0usize..100_000,
        any::<bool>(),
    );
    runner
        .run(&strategy, |(edits, limit, exact)| {
            let _ = inflate(&edited(z.clone(), &edits), limit, exact);
            Ok(())
        })
        .unwrap();
}

#[test]
fn random_bytes_are_errors_not_panics() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
            let mut payload = b"X\n\0\0\0\x02\0\0\0\0\0\0\0\0".to_vec();
            payload.extend_from_slice(&bytes);
            let _ = read_serialized(&payload);
            let _ = read_serialized(&bytes);
            let _ = inflate(&bytes, 4096, false);
            Ok(())
        })
        .unwrap();
}
