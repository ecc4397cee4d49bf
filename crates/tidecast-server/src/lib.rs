#![doc = include_str!("../README.md")]
// Functions read as named steps (clippy.toml sets the bound); tests may be longer.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

pub mod auth;
mod board;
mod identity;
pub mod limits;
mod live;
mod path;
mod policy;
mod quantity;
mod routes;
mod selector;
mod status;
mod store;
mod telemetry;

pub use board::{BoardSettings, IpNet, IpNetError, board_router};
pub use identity::{
    HeaderNames, HeaderNamesError, Identity, clear_identity_headers, parse_identity_headers,
};
pub use live::{LiveAnswer, LiveMetrics, LiveSeries};
pub use path::{MetricEndpoint, MetricPath, PathError, parse_metric_path};
pub use policy::{
    Accuracy, Freshness, Mode, Observation, Served, ServedForecast, Staleness, TargetView, Trail,
};
pub use quantity::milli_quantity;
pub use routes::router;
pub use selector::{LabelSelector, Matcher, SelectorError};
pub use status::ApiError;
pub use store::{MetricStore, Registry};
pub use telemetry::{
    ALL_SERIES_PER_TARGET, AUTO_SERIES_BUDGET, SERVED_SERIES_PER_TARGET, TargetMetrics, Telemetry,
};

use std::sync::Arc;

/// The API group served.
pub const GROUP: &str = "external.metrics.k8s.io";
/// The version served.
pub const VERSION: &str = "v1beta1";
/// `group/version`.
pub const GROUP_VERSION: &str = "external.metrics.k8s.io/v1beta1";

/// The time source of the request path (Unix seconds). The demo's accelerated clock and
/// tests' fixed clocks implement it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in Unix seconds.
    fn now(&self) -> f64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one reading of the wall clock outside tests and benches.
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    fn now(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default()
    }
}

/// Shared state of the router.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Targets' views.
    pub store: Arc<MetricStore>,
    /// Request-path clock.
    pub clock: Arc<dyn Clock>,
    /// /metrics.
    pub telemetry: Arc<Telemetry>,
    /// Version reported by /version.
    pub version: &'static str,
    /// Set when the process is asked to stop: `/readyz` then fails while requests are still
    /// answered, so the endpoints drop the replica before its listener closes.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// The authentication and authorization gate; `None` only where a test or benchmark
    /// asked for an open server.
    pub auth: Option<Arc<auth::Auth>>,
    /// Pass-through metrics answered by a query at request time, if any are configured.
    pub live: Option<Arc<dyn LiveMetrics>>,
}

impl AppState {
    /// [`AppState::new`] with `/metrics` carrying only the per-target families `targets`
    /// selects.
    pub fn with_target_metrics(
        store: Arc<MetricStore>,
        clock: Arc<dyn Clock>,
        version: &'static str,
        targets: TargetMetrics,
    ) -> Self {
        let telemetry = Arc::new(Telemetry::with_targets(
            store.clone(),
            clock.clone(),
            targets,
        ));
        Self {
            store,
            clock,
            telemetry,
            version,
            draining: Arc::default(),
            auth: None,
            live: None,
        }
    }

    /// Answer the pass-through metrics of `live` next to the predicted ones.
    pub fn with_live(mut self, live: Arc<dyn LiveMetrics>) -> Self {
        self.live = Some(live);
        self
    }

    /// Every request but the health paths through `auth`.
    pub fn with_auth(mut self, auth: Arc<auth::Auth>) -> Self {
        self.telemetry.set_auth_enabled(true);
        self.auth = Some(auth);
        self
    }

    /// State over a store and clock, with fresh telemetry.
    pub fn new(store: Arc<MetricStore>, clock: Arc<dyn Clock>, version: &'static str) -> Self {
        Self::with_target_metrics(store, clock, version, TargetMetrics::All)
    }
}
