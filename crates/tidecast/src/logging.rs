//! Logs via tracing: readable text by default, JSON lines for log pipelines.
//!
//! JSON lines carry an event's fields beside tracing's own keys (`timestamp`, `level`,
//! `target`, `message`, ...), so no field may take one of those names: a target's name is
//! `target_name`. Numbers are recorded as numbers, and optional values only when present.

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
