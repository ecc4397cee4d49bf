//! `tidecast serve` configuration: parsed raw from YAML, then validated into typed values.
//! Every error names the field it is about.

use crate::cli::UsageError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tidecast_core::{Calendar, parse_duration};
use tidecast_server::{Mode, Staleness, TargetMetrics};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_listen")]
    listen: String,
    /// How long a client may take to send a request's headers.
    header_read_timeout: Option<String>,
    /// How long readiness fails before the listener closes on SIGTERM.
    shutdown_delay: Option<String>,
    /// Which per-target families /metrics carries.
    #[serde(default)]
    target_metrics: TargetMetrics,
    tls: RawTls,
    prometheus: Option<RawPrometheus>,
    #[serde(default)]
    defaults: RawTarget,
    targets: Vec<RawTarget>,
}

fn default_listen() -> String {
    "0.0.0.0:6443".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
    reload_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrometheus {
    url: String,
    timeout: Option<String>,
    bearer_token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// One target as written; every field may also come from `defaults`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Option<String>,
    metric: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    query: Option<String>,
    step: Option<String>,
    history: Option<String>,
    timezone: Option<String>,
    holidays: Option<PathBuf>,
    lead: Option<String>,
    quantile: Option<f64>,
    refresh: Option<String>,
    refit_every: Option<String>,
    namespaces: Option<Vec<String>>,
    mode: Option<Mode>,
    stale_after: Option<String>,
    forecast_ttl: Option<String>,
    hard_limit: Option<String>,
}

impl RawTarget {
    fn or(self, d: &RawTarget) -> RawTarget {
        RawTarget {
            name: self.name,
            metric: self.metric.or_else(|| d.metric.clone()),
            labels: self.labels.or_else(|| d.labels.clone()),
            query: self.query.or_else(|| d.query.clone()),
            step: self.step.or_else(|| d.step.clone()),
            history: self.history.or_else(|| d.history.clone()),
            timezone: self.timezone.or_else(|| d.timezone.clone()),
            holidays: self.holidays.or_else(|| d.holidays.clone()),
            lead: self.lead.or_else(|| d.lead.clone()),
            quantile: self.quantile.or(d.quantile),
            refresh: self.refresh.or_else(|| d.refresh.clone()),
            refit_every: self.refit_every.or_else(|| d.refit_every.clone()),
            namespaces: self.namespaces.or_else(|| d.namespaces.clone()),
            mode: self.mode.or(d.mode),
            stale_after: self.stale_after.or_else(|| d.stale_after.clone()),
            forecast_ttl: self.forecast_ttl.or_else(|| d.forecast_ttl.clone()),
            hard_limit: self.hard_limit.or_else(|| d.hard_limit.clone()),
        }
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) listen: std::net::SocketAddr,
    /// How long a connection may take to send a request's headers before it is closed.
    pub(crate) header_read_timeout: std::time::Duration,
    /// On SIGTERM, how long `/readyz` fails while requests are still answered.
    pub(crate) shutdown_delay: std::time::Duration,
    /// Which per-target families `/metrics` carries.
    pub(crate) target_metrics: TargetMetrics,
    pub(crate) tls: Tls,
    pub(crate) prometheus: Option<PrometheusConfig>,
    pub(crate) targets: Vec<Target>,
}

#[derive(Debug, Clone)]
pub(crate) struct Tls {
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
    pub(crate) client_ca_file: Option<PathBuf>,
    /// How often the files are checked for a new certificate (rotation by cert-manager).
    pub(crate) reload_interval: std::time::Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct PrometheusConfig {
    pub(crate) url: String,
    pub(crate) timeout: i64,
    pub(crate) bearer_token_file: Option<PathBuf>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) headers: BTreeMap<String, String>,
}

/// One validated target. Durations are in seconds.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) metric: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) query: String,
    pub(crate) step: i64,
    pub(crate) history: i64,
    pub(crate) calendar: Arc<Calendar>,
    pub(crate) lead: i64,
    pub(crate) quantile: f64,
    pub(crate) refresh: i64,
    pub(crate) refit_every: i64,
    pub(crate) namespaces: Option<Vec<String>>,
    pub(crate) mode: Mode,
    pub(crate) staleness: Staleness,
}

fn err(field: &str, msg: impl std::fmt::Display) -> anyhow::Error {
    UsageError(format!("{field}: {msg}")).into()
}

impl Config {
    /// Read and validate a config file; paths inside are relative to the file.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| UsageError(format!("{}: {e}", path.display())).into())
    }

    pub(crate) fn parse(text: &str, base: &Path) -> anyhow::Result<Config> {
        let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| UsageError(e.to_string()))?;
        let rel = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let listen = raw
            .listen
            .parse()
            .map_err(|e| err("listen", format!("{:?} is not host:port ({e})", raw.listen)))?;
        let prometheus = match raw.prometheus {
            None => None,
            Some(p) => {
                if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
                    return Err(err(
                        "prometheus.url",
                        format!("{:?} must start with http:// or https://", p.url),
                    ));
                }
                Some(PrometheusConfig {
                    url: p.url,
                    timeout: dur("prometheus.timeout", p.timeout.as_deref(), "30s")?,
                    bearer_token_file: p.bearer_token_file.as_deref().map(rel),
                    ca_file: p.ca_file.as_deref().map(rel),
                    headers: p.headers,
                })
            }
        };
        if raw.targets.is_empty() {
            return Err(err("targets", "at least one target is required"));
        }
        let mut targets = Vec::with_capacity(raw.targets.len());
        let mut names = std::collections::HashSet::new();
        let mut series = std::collections::HashSet::new();
        for (i, t) in raw.targets.into_iter().enumerate() {
            let t = t.or(&raw.defaults);
            let f = |name: &str| format!("targets[{i}].{name}");
            let name = t.name.clone().ok_or_else(|| err(&f("name"), "required"))?;
            if !names.insert(name.clone()) {
                return Err(err(&f("name"), format!("{name:?} is used by two targets")));
            }
            let metric = t
                .metric
                .clone()
                .ok_or_else(|| err(&f("metric"), "required"))?;
            validate_metric_name(&metric).map_err(|e| err(&f("metric"), e))?;
            let labels = t.labels.clone().unwrap_or_default();
            if !series.insert((metric.clone(), labels.clone())) {
                return Err(err(
                    &f("labels"),
                    format!(
                        "another target already serves {metric} with these labels; give each a distinct label set"
                    ),
                ));
            }
            let query = t
                .query
                .clone()
                .ok_or_else(|| err(&f("query"), "required (PromQL returning one series)"))?;
            let step = dur(&f("step"), t.step.as_deref(), "1m")?;
            let history = dur(&f("history"), t.history.as_deref(), "28d")?;
            if history < 86_400 {
                return Err(err(
                    &f("history"),
                    "must be at least 1d: the model learns a daily tide",
                ));
            }
            let tz = Calendar::parse_zone(t.timezone.as_deref().unwrap_or("UTC"))
                .map_err(|e| err(&f("timezone"), e))?;
            let mut calendar = Calendar::new(tz);
            if let Some(h) = &t.holidays {
                let p = rel(h);
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| err(&f("holidays"), format!("{}: {e}", p.display())))?;
                calendar = calendar
                    .with_holidays(&text)
                    .map_err(|e| err(&f("holidays"), format!("{}: {e}", p.display())))?;
            }
            let quantile = t.quantile.unwrap_or(0.9);
            if !(quantile > 0.0 && quantile < 1.0) {
                return Err(err(&f("quantile"), format!("{quantile} is outside (0, 1)")));
            }
            let namespaces = match t.namespaces.clone() {
                None => None,
                Some(v) if v.iter().any(|n| n == "*") => None,
                Some(v) if v.is_empty() => {
                    return Err(err(
                        &f("namespaces"),
                        "empty: use [\"*\"] for all namespaces",
                    ));
                }
                Some(v) => Some(v),
            };
            let staleness = Staleness {
                stale_after: dur(&f("stale_after"), t.stale_after.as_deref(), "5m")?,
                forecast_ttl: dur(&f("forecast_ttl"), t.forecast_ttl.as_deref(), "30m")?,
                hard_limit: dur(&f("hard_limit"), t.hard_limit.as_deref(), "2h")?,
            };
            if !(staleness.stale_after <= staleness.forecast_ttl
                && staleness.forecast_ttl <= staleness.hard_limit)
            {
                return Err(err(
                    &f("stale_after"),
                    "need stale_after <= forecast_ttl <= hard_limit",
                ));
            }
            let refresh = dur(&f("refresh"), t.refresh.as_deref(), "1m")?;
            targets.push(Target {
                name,
                metric: metric.to_ascii_lowercase(),
                labels,
                query,
                step,
                history,
                calendar: Arc::new(calendar),
                lead: dur(&f("lead"), t.lead.as_deref(), "15m")?,
                quantile,
                refresh,
                refit_every: dur(&f("refit_every"), t.refit_every.as_deref(), "1d")?,
                namespaces,
                mode: t.mode.unwrap_or(Mode::Scale),
                staleness,
            });
        }
        let header_read_timeout = duration(
            "header_read_timeout",
            raw.header_read_timeout.as_deref(),
            "10s",
        )?;
        // 0 turns the drain off (durations are otherwise positive).
        let shutdown_delay = match raw.shutdown_delay.as_deref().map(str::trim) {
            Some("0" | "0s") => std::time::Duration::ZERO,
            other => duration("shutdown_delay", other, "5s")?,
        };
        let reload_interval = duration(
            "tls.reload_interval",
            raw.tls.reload_interval.as_deref(),
            "1m",
        )?;
        Ok(Config {
            listen,
            header_read_timeout,
            shutdown_delay,
            target_metrics: raw.target_metrics,
            tls: Tls {
                cert_file: rel(&raw.tls.cert_file),
                key_file: rel(&raw.tls.key_file),
                client_ca_file: raw.tls.client_ca_file.as_deref().map(rel),
                reload_interval,
            },
            prometheus,
            targets,
        })
    }
}

fn dur(field: &str, v: Option<&str>, default: &str) -> anyhow::Result<i64> {
    parse_duration(v.unwrap_or(default)).map_err(|e| err(field, e))
}

/// [`dur`] as a `Duration` (parsed durations are positive).
fn duration(field: &str, v: Option<&str>, default: &str) -> anyhow::Result<std::time::Duration> {
    Ok(std::time::Duration::from_secs(
        dur(field, v, default)? as u64
    ))
}

/// A metric name must be a valid, lowercase path segment that the apiserver will not read
/// as a subresource.
fn validate_metric_name(m: &str) -> Result<(), String> {
    if m.is_empty() || m == "." || m == ".." || m.contains(['/', '%']) {
        return Err(format!("{m:?} is not a valid path segment"));
    }
    if m == "status" || m == "finalize" {
        return Err(format!(
            "{m:?} is parsed as a namespace subresource by kube-apiserver; pick another name"
        ));
    }
    if m.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "{m:?} has capitals; the HPA lowercases metric names, so write it lowercase"
        ));
    }
    if !m
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err(format!("{m:?}: use letters, digits, '_', '-', '.', ':'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
listen: 127.0.0.1:6443
tls: {cert_file: tls.crt, key_file: tls.key}
prometheus: {url: "http://prometheus:9090", headers: {X-Scope-OrgID: tenant-a}}
defaults: {timezone: Asia/Shanghai, lead: 10m, namespaces: [tv]}
targets:
  - name: tv-api
    metric: lb_connections_predicted
    labels: {service: tv-api}
    query: sum(lb_active_connections{service="tv-api"})
  - name: epg
    metric: lb_connections_predicted
    labels: {service: epg}
    query: sum(lb_active_connections{service="epg"})
    lead: 20m
    mode: observe
    namespaces: ["*"]
"#;

    #[test]
    fn a_good_config_validates_with_defaults_applied() {
        let c = Config::parse(GOOD, Path::new("/etc/tidecast")).unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.targets[0].lead, 600);
        assert_eq!(c.targets[1].lead, 1200);
        assert_eq!(c.targets[0].namespaces, Some(vec!["tv".to_string()]));
        assert_eq!(c.targets[1].namespaces, None);
        assert_eq!(c.targets[1].mode, Mode::Observe);
        assert_eq!(c.targets[0].step, 60);
        assert_eq!(c.tls.cert_file, Path::new("/etc/tidecast/tls.crt"));
        assert_eq!(c.header_read_timeout, std::time::Duration::from_secs(10));
        assert_eq!(c.tls.reload_interval, std::time::Duration::from_secs(60));
        assert_eq!(c.shutdown_delay, std::time::Duration::from_secs(5));
        let off = Config::parse(
            &GOOD.replace("listen:", "shutdown_delay: 0s\nlisten:"),
            Path::new("."),
        )
        .unwrap();
        assert!(off.shutdown_delay.is_zero());
        assert_eq!(c.target_metrics, TargetMetrics::All);
        let served = Config::parse(
            &GOOD.replace("listen:", "target_metrics: served\nlisten:"),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(served.target_metrics, TargetMetrics::Served);
    }

    #[test]
    fn errors_name_the_field() {
        for (bad, field) in [
            (GOOD.replace("lead: 20m", "lead: 20x"), "targets[1].lead"),
            (GOOD.replace("name: epg", "name: tv-api"), "targets[1].name"),
            (
                GOOD.replace("timezone: Asia/Shanghai", "timezone: Mars/Base"),
                "targets[0].timezone",
            ),
            (
                GOOD.replace("    mode: observe\n", "    quantile: 1.5\n"),
                "targets[1].quantile",
            ),
            (
                GOOD.replace(
                    "metric: lb_connections_predicted\n    labels: {service: epg}",
                    "metric: Bad/Name\n    labels: {service: epg}",
                ),
                "targets[1].metric",
            ),
            (
                GOOD.replace("labels: {service: epg}", "labels: {service: tv-api}"),
                "targets[1].labels",
            ),
            (
                GOOD.replace("http://prometheus:9090", "prometheus:9090"),
                "prometheus.url",
            ),
            (
                GOOD.replace("listen:", "header_read_timeout: 0s\nlisten:"),
                "header_read_timeout",
            ),
            (
                GOOD.replace(
                    "key_file: tls.key}",
                    "key_file: tls.key, reload_interval: 0s}",
                ),
                "tls.reload_interval",
            ),
            (
                GOOD.replace("listen:", "header_read_timeout: soon\nlisten:"),
                "header_read_timeout",
            ),
            (
                GOOD.replace("listen:", "shutdown_delay: -5s\nlisten:"),
                "shutdown_delay",
            ),
        ] {
            let e = Config::parse(&bad, Path::new(".")).unwrap_err().to_string();
            assert!(e.starts_with(field), "expected {field}: got {e}");
        }
        let e = Config::parse(
            &GOOD.replace("    lead: 20m\n", "    leed: 20m\n"),
            Path::new("."),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `leed`"), "{e}");
    }
}
