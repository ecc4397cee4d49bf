//! Logs via tracing: readable text by default, JSON lines for log pipelines.

use tracing_subscriber::EnvFilter;

/// Install the subscriber. `RUST_LOG` overrides the default `info` level.
pub(crate) fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().flatten_event(true).try_init()
    } else {
        b.try_init()
    };
}
