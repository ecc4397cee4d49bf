//! Shared by `series_csv` and `series_parquet`: the readers take a path, so each input is
//! written to a file in a per-process scratch directory (under /dev/shm when there is one).

use std::path::PathBuf;
use std::sync::OnceLock;
use tidecast_io::{ReadOptions, read_samples, read_series};

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let root = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = root.join(format!("tidecast-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

/// Write `data` to `input.<ext>` and read it both ways; any error is a fine answer.
pub fn read_both(data: &[u8], ext: &str) {
    let path = scratch().join(format!("input.{ext}"));
    std::fs::write(&path, data).expect("write the input");
    let opts = ReadOptions::new();
    if let Ok(samples) = read_samples(&path, &opts) {
        assert!(!samples.is_empty(), "an empty file read as no samples");
    }
    if let Ok(series) = read_series(&path, &opts) {
        assert!(series.step() > 0);
    }
    // Only an empty directory per process stays behind.
    let _ = std::fs::remove_file(&path);
}
