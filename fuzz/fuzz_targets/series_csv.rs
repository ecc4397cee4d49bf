//! The CSV series reader (`tidecast_io::read_samples` and `read_series` on a `.csv`
//! file): never panics, aborts or hangs on any file content; an `Err` is the expected
//! answer to most inputs, and what reads has samples and a positive step.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "series_file.rs"]
mod series_file;

fuzz_target!(|data: &[u8]| {
    series_file::read_both(data, "csv");
});
