//! The serve config loader (`tidecast serve --config`: YAML parse and validation): never
//! panics or hangs on any text; an error is the expected answer to most inputs.
//!
//! Paths in the config resolve against an empty per-process directory (under the temp
//! dir, not /dev/shm, so that `../../zero` cannot reach /dev/zero), so every file it names
//! is missing unless it is absolute. Inputs that mention `/dev/` or `/proc/` are skipped:
//! validation reads the files a config names, and reading /dev/zero (or a pipe under
//! /proc/self/fd) would never end. So are inputs with a backslash, since a YAML escape
//! (`"\x2Fdev\x2Fzero"`, an escaped line break) can spell those paths too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn empty_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir()
            .join(format!("tidecast-fuzz-config-{}", std::process::id()))
            .join("empty");
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("/dev/") || text.contains("/proc/") || text.contains('\\') {
        return;
    }
    let _ = tidecast::fuzzing::config(text, empty_dir());
});
