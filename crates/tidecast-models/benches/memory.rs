//! The memory a served 5-minute combination model holds (issue: 10,000 targets per process).
//!
//! `cargo bench -p tidecast-models --bench memory` fits 200 models of 42-day 5-minute tides
//! one after another (each history dropped after its fit) and keeps them, then encodes each
//! as an artifact does (CBOR) and decodes it, as a server loading a store does. For both it
//! prints the heap bytes the models hold (counted by this bench's allocator: exact, with no
//! fragmentation in it), their allocations, and the growth of resident memory.
//!
//! No assertion: numbers go to docs/benchmarks.md.

// The counting allocator forwards to the system's: the bench's only unsafe code.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tidecast_core::{Calendar, Fit, Series};
use tidecast_models::{Auto, AutoSpec};
use tidecast_testing::status_mib;

/// The system allocator, counting the bytes and allocations live.
struct Counting;
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        LIVE_ALLOCS.fetch_sub(1, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Live heap bytes, live allocations and resident MiB now.
fn now() -> (f64, f64, f64) {
    (
        LIVE_BYTES.load(Ordering::Relaxed) as f64,
        LIVE_ALLOCS.load(Ordering::Relaxed) as f64,
        status_mib("VmRSS:"),
    )
}

fn report(what: &str, n: usize, before: (f64, f64, f64), after: (f64, f64, f64)) {
    let per = |a: f64, b: f64| (b - a) / n as f64;
    println!(
        "{what}: {:.1} KiB of heap per model in {:.0} allocations; resident memory grew {:.1} KiB per model",
        per(before.0, after.0) / 1024.0,
        per(before.1, after.1),
        per(before.2, after.2) * 1024.0,
    );
}

fn tide(seed: u64, days: i64, end: i64, step: i64) -> Series {
    tidecast_testing::tide_series(seed, days, end, step)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs a tiny version.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 2 } else { 200 };
    let end = 1_792_540_800; // 2026-10-21T00:00:00Z: a refit point
    let cal = Arc::new(Calendar::new(chrono_tz::Tz::Asia__Shanghai));
    let spec = AutoSpec::new().max_horizon(12);
    // One fit first, so allocator arenas and lazily built tables are in place.
    drop(
        spec.fit(&tide(999, 42, end, 300), cal.clone())
            .expect("fits"),
    );
    let before = now();
    let mut models: Vec<Auto> = Vec::with_capacity(n);
    for i in 0..n {
        let series = tide(i as u64 + 1, 42, end, 300);
        models.push(spec.fit(&series, cal.clone()).expect("fits"));
    }
    let fitted = now();
    let combined = models
        .iter()
        .filter(|m| tidecast_core::Predict::name(*m).starts_with("auto("))
        .count();
    println!("{n} fitted 5-minute models, {combined} of them combinations");
    report("fitted", n, before, fitted);
    let encoded: Vec<Vec<u8>> = models
        .iter()
        .map(|m| {
            let mut bytes = Vec::new();
            ciborium::into_writer(m, &mut bytes).expect("encodes");
            bytes
        })
        .collect();
    drop(models);
    let size: usize = encoded.iter().map(Vec::len).sum();
    println!(
        "encoded: {:.1} KB per model",
        size as f64 / 1000.0 / n as f64
    );
    let before = now();
    let restored: Vec<Auto> = encoded
        .iter()
        .map(|b| ciborium::from_reader(&b[..]).expect("decodes"))
        .collect();
    // Resident growth here is a floor: decoded models reuse the pages the fitted ones freed.
    report("decoded", restored.len(), before, now());
}
