//! The server's own /metrics: HTTP requests by route and code with latency histograms,
//! and per-target gauges read from the snapshot at scrape time.

use crate::policy::{Accuracy, Freshness, Served, TargetView};
use crate::{Clock, MetricStore};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    path: String,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabels {
    path: String,
}

/// Which per-target families `/metrics` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetMetrics {
    /// `all` while every target's series fit in [`AUTO_SERIES_BUDGET`], else `served` while
    /// those fit, else `none`: a scrape an operator's sample limit accepts at any scale.
    #[default]
    Auto,
    /// Everything: values, state, refreshes, forecasts and accuracy by horizon.
    All,
    /// Served, predicted and live values, data age, state and refreshes (no per-horizon
    /// families: 11 series per target instead of up to 27).
    Served,
    /// No per-target families.
    None,
}

/// Per-target series `auto` allows in one scrape: Prometheus Operator users commonly cap a
/// scrape at tens of thousands of samples, and a scrape this size stays near 2 MB.
pub const AUTO_SERIES_BUDGET: usize = 50_000;
/// Series one target adds at most with `all`: 5 values, 5 states, 2 refresh counters, 4
/// forecasts and 3 accuracy families at 4 horizons.
pub const ALL_SERIES_PER_TARGET: usize = 28;
/// Series one target adds with `served`.
pub const SERVED_SERIES_PER_TARGET: usize = 12;

impl TargetMetrics {
    /// The families exported for `targets` targets: `auto` resolved, the others as they are.
    pub fn resolve(self, targets: usize) -> TargetMetrics {
        match self {
            TargetMetrics::Auto if targets * ALL_SERIES_PER_TARGET <= AUTO_SERIES_BUDGET => {
                TargetMetrics::All
            }
            TargetMetrics::Auto if targets * SERVED_SERIES_PER_TARGET <= AUTO_SERIES_BUDGET => {
                TargetMetrics::Served
            }
            TargetMetrics::Auto => TargetMetrics::None,
            other => other,
        }
    }

    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetMetrics::Auto => "auto",
            TargetMetrics::All => "all",
            TargetMetrics::Served => "served",
            TargetMetrics::None => "none",
        }
    }
}

/// Request metrics plus the registry that encodes everything.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<PathLabels, Histogram, fn() -> Histogram>,
    certificate_expiry: Gauge<f64, std::sync::atomic::AtomicU64>,
    auth_requests: Family<OutcomeLabels, Counter>,
    auth_enabled: Gauge,
    auth_source_failing: Gauge,
    auth_settings_loads: Counter,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5,
    ])
}

impl Telemetry {
    /// Metrics for a store, with served values computed at scrape time by `clock`.
    pub fn new(store: Arc<MetricStore>, clock: Arc<dyn Clock>) -> Self {
        Self::with_targets(store, clock, TargetMetrics::All)
    }

    /// [`Telemetry::new`] with only the per-target families `targets` selects.
    pub fn with_targets(
        store: Arc<MetricStore>,
        clock: Arc<dyn Clock>,
        targets: TargetMetrics,
    ) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<PathLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "tidecast_http_requests",
            "HTTP requests by route and status code",
            requests.clone(),
        );
        registry.register(
            "tidecast_http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let certificate_expiry = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "tidecast_tls_certificate_expiry_timestamp_seconds",
            "Expiry (notAfter, Unix seconds) of the serving certificate in use",
            certificate_expiry.clone(),
        );
        let auth_requests = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "tidecast_auth_requests",
            "Requests through authentication and authorization, by outcome (allowed, anonymous, unauthenticated, forbidden, authorization_error)",
            auth_requests.clone(),
        );
        let auth_enabled = Gauge::default();
        registry.register(
            "tidecast_auth_enabled",
            "1 when every request but the health paths is authenticated and authorized",
            auth_enabled.clone(),
        );
        let auth_source_failing = Gauge::default();
        registry.register(
            "tidecast_auth_settings_source_failing",
            "1 while the authentication settings' source (the ConfigMap watch) fails; the last good settings stay in use",
            auth_source_failing.clone(),
        );
        let auth_settings_loads = Counter::default();
        registry.register(
            "tidecast_auth_settings_loads",
            "Authentication settings versions loaded (the first and each CA rotation)",
            auth_settings_loads.clone(),
        );
        registry.register_collector(Box::new(TargetCollector {
            store,
            clock,
            families: targets,
        }));
        Self {
            registry,
            requests,
            latency,
            certificate_expiry,
            auth_requests,
            auth_enabled,
            auth_source_failing,
            auth_settings_loads,
        }
    }

    /// Count one request's outcome at the gate.
    pub fn auth_outcome(&self, outcome: crate::auth::Outcome) {
        self.auth_requests
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// Whether the gate is on.
    pub fn set_auth_enabled(&self, on: bool) {
        self.auth_enabled.set(i64::from(on));
    }

    /// Whether the settings' source is failing.
    pub fn set_auth_source_failing(&self, failing: bool) {
        self.auth_source_failing.set(i64::from(failing));
    }

    /// One more settings version loaded.
    pub fn auth_settings_loaded(&self) {
        self.auth_settings_loads.inc();
    }

    /// The serving certificate in use expires at `unix` seconds.
    pub fn set_certificate_expiry(&self, unix: i64) {
        self.certificate_expiry.set(unix as f64);
    }

    /// Record one request.
    pub fn observe(&self, path: &str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                path: path.to_string(),
                code,
            })
            .inc();
        self.latency
            .get_or_create(&PathLabels {
                path: path.to_string(),
            })
            .observe(seconds);
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[derive(Debug)]
struct TargetCollector {
    store: Arc<MetricStore>,
    clock: Arc<dyn Clock>,
    /// The per-target families, resolved against the layout at each scrape.
    families: TargetMetrics,
}

type Labels = Vec<(&'static str, String)>;

/// The label set of one target, to which a family adds its own labels.
fn target_labels(name: &str) -> Labels {
    vec![("target", name.to_string())]
}

/// One gauge family with its rows.
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        m.encode_family(&labels)?.encode_gauge(&v)?;
    }
    Ok(())
}

/// Every target's view at scrape time, with what it would serve now.
struct Snapshot {
    views: Vec<Arc<TargetView>>,
    served: Vec<Served>,
}

impl Collector for TargetCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let reg = self.store.registry();
        let now = self.clock.now() as i64;
        let views: Vec<_> = (0..reg.len()).map(|i| reg.get(i)).collect();
        let served = views.iter().map(|v| v.serve(now)).collect();
        let snap = Snapshot { views, served };
        encode_fleet(&mut encoder, &snap)?;
        let families = self.families.resolve(snap.views.len());
        if families == TargetMetrics::None {
            return Ok(());
        }
        encode_values(&mut encoder, &snap)?;
        encode_state(&mut encoder, &snap)?;
        if families == TargetMetrics::All {
            encode_horizons(&mut encoder, &snap.views)?;
        }
        encode_refreshes(&mut encoder, &snap.views)
    }
}

/// Served, predicted and live values and the data age: the families a dashboard of the
/// autoscaler reads first.
fn encode_values(encoder: &mut DescriptorEncoder, snap: &Snapshot) -> Result<(), std::fmt::Error> {
    let both = || snap.views.iter().zip(&snap.served);
    gauge(
        encoder,
        "tidecast_target_served_value",
        "Value served to the HPA now (absent when the target cannot be served)",
        both()
            .filter_map(|(v, s)| s.value.as_ref().ok().map(|x| (target_labels(&v.name), *x)))
            .collect(),
    )?;
    gauge(
        encoder,
        "tidecast_target_predicted_value",
        "Predicted value (what scale mode serves; in observe mode, what it would serve)",
        both()
            .filter_map(|(v, s)| s.predicted.map(|x| (target_labels(&v.name), x)))
            .collect(),
    )?;
    gauge(
        encoder,
        "tidecast_target_live_value",
        "Newest observed value",
        snap.views
            .iter()
            .filter_map(|v| v.live.map(|l| (target_labels(&v.name), l.value)))
            .collect(),
    )?;
    gauge(
        encoder,
        "tidecast_target_data_age_seconds",
        "Age of the newest observation",
        both()
            .filter_map(|(v, s)| s.age.map(|a| (target_labels(&v.name), a as f64)))
            .collect(),
    )
}

/// Targets by state and the oldest data: five series whatever the number of targets, so
/// the fleet is watched where the per-target families are off.
fn encode_fleet(encoder: &mut DescriptorEncoder, snap: &Snapshot) -> Result<(), std::fmt::Error> {
    gauge(
        encoder,
        "tidecast_targets",
        "Targets in each staleness state",
        Freshness::ALL
            .iter()
            .map(|st| {
                let n = snap.served.iter().filter(|s| s.state == *st).count();
                (vec![("state", st.as_str().to_string())], n as f64)
            })
            .collect(),
    )?;
    let oldest = snap.served.iter().filter_map(|s| s.age).max();
    gauge(
        encoder,
        "tidecast_targets_data_age_max_seconds",
        "The oldest data any target is served from, in seconds",
        oldest.map(|a| (Vec::new(), a as f64)).into_iter().collect(),
    )
}

/// One row per target and state, 1 for the current one, so an alert can match on a state.
fn encode_state(encoder: &mut DescriptorEncoder, snap: &Snapshot) -> Result<(), std::fmt::Error> {
    gauge(
        encoder,
        "tidecast_target_state",
        "Staleness state of each target (1 for the current state)",
        snap.views
            .iter()
            .zip(&snap.served)
            .flat_map(|(v, s)| {
                Freshness::ALL.iter().map(move |st| {
                    let mut l = target_labels(&v.name);
                    l.push(("state", st.as_str().to_string()));
                    (l, if *st == s.state { 1.0 } else { 0.0 })
                })
            })
            .collect(),
    )
}

/// Forecasts and rolling accuracy by horizon: up to 16 series per target, hence optional.
fn encode_horizons(
    encoder: &mut DescriptorEncoder,
    views: &[Arc<TargetView>],
) -> Result<(), std::fmt::Error> {
    gauge(
        encoder,
        "tidecast_target_forecast",
        "Point forecast made at the last refresh, by horizon",
        views
            .iter()
            .flat_map(|v| {
                v.horizons.iter().map(move |(h, x)| {
                    let mut l = target_labels(&v.name);
                    l.push(("horizon", format!("{}m", h / 60)));
                    (l, *x)
                })
            })
            .collect(),
    )?;
    let acc = |f: fn(&Accuracy) -> f64| {
        views
            .iter()
            .flat_map(move |v| {
                v.accuracy.iter().filter(|a| a.n > 0).map(move |a| {
                    let mut l = target_labels(&v.name);
                    l.push(("horizon", format!("{}m", a.horizon / 60)));
                    (l, f(a))
                })
            })
            .collect::<Vec<_>>()
    };
    gauge(
        encoder,
        "tidecast_target_mae",
        "Rolling mean absolute error of past forecasts, by horizon",
        acc(|a| a.mae),
    )?;
    gauge(
        encoder,
        "tidecast_target_mape",
        "Rolling mean absolute percentage error of past forecasts (%), by horizon",
        acc(|a| a.mape),
    )?;
    gauge(
        encoder,
        "tidecast_target_interval_coverage",
        "Share of actuals inside past 80% intervals, by horizon",
        acc(|a| a.coverage),
    )
}

/// Refresh counters by result.
fn encode_refreshes(
    encoder: &mut DescriptorEncoder,
    views: &[Arc<TargetView>],
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(
        "tidecast_target_refreshes",
        "Refreshes of each target by result",
        None,
        MetricType::Counter,
    )?;
    for v in views {
        for (result, n) in [("success", v.refresh_ok), ("failure", v.refresh_failed)] {
            let mut l = target_labels(&v.name);
            l.push(("result", result.to_string()));
            m.encode_family(&l)?
                .encode_counter::<Labels, _, u64>(&n, None)?;
        }
    }
    gauge(
        encoder,
        "tidecast_target_model_refit_point_timestamp_seconds",
        "Refit point (data end, Unix seconds) of the model each target serves: daily refits keep it within a day",
        views
            .iter()
            .filter_map(|v| {
                v.model_refit_point
                    .map(|t| (target_labels(&v.name), t as f64))
            })
            .collect(),
    )
}
