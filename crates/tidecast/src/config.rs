//! `tidecast serve` configuration: parsed raw from YAML, then validated into typed values.
//! Every error names the field it is about.

use crate::cli::UsageError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tidecast_core::{Calendar, DEFAULT_WINDOW_SECS, format_duration, parse_duration};
use tidecast_prometheus::ClientSettings;
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
    #[serde(default)]
    auth: RawAuth,
    prometheus: Option<RawPrometheus>,
    models: Option<RawModels>,
    board: Option<RawBoard>,
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
    /// Moved to `auth.client_ca_file`: accepted by the parser only to say so.
    client_ca_file: Option<serde::de::IgnoredAny>,
    reload_interval: Option<String>,
}

/// `models:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModels {
    store: String,
    keep: Option<usize>,
    fit_locally: Option<bool>,
    margin: Option<f64>,
}

/// Validated `models:`: the model store servers read and `train` publishes to.
#[derive(Debug, Clone)]
pub(crate) struct Models {
    /// `file:///path` or a path.
    pub(crate) store: String,
    /// Versions kept per target (the current one is never removed).
    pub(crate) keep: usize,
    /// Whether a server fits a target itself when the store has no usable model for it.
    pub(crate) fit_locally: bool,
    /// `train` publishes a new model only if its holdout MASE is at most (1 + margin) x the
    /// current model's.
    pub(crate) margin: f64,
}

impl RawModels {
    fn validate(self, base: &Base) -> anyhow::Result<Models> {
        let store = if self.store.contains("://") {
            self.store
        } else {
            base.resolve(Path::new(&self.store)).display().to_string()
        };
        tidecast_store::open(&store).map_err(|e| err("models.store", e))?;
        let keep = self.keep.unwrap_or(5);
        if keep == 0 {
            return Err(err("models.keep", "must be at least 1"));
        }
        let margin = self.margin.unwrap_or(0.05);
        if !(0.0..=1.0).contains(&margin) {
            return Err(err("models.margin", format!("{margin} is outside [0, 1]")));
        }
        Ok(Models {
            store,
            keep,
            fit_locally: self.fit_locally.unwrap_or(true),
            margin,
        })
    }
}

/// `board:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    listen: String,
    allow: Option<Vec<String>>,
    token_file: Option<PathBuf>,
    reload: Option<String>,
    max_targets: Option<usize>,
    span: Option<String>,
}

/// Validated `board:`: the read-only live page, on its own listener.
#[derive(Debug, Clone)]
pub(crate) struct Board {
    pub(crate) listen: std::net::SocketAddr,
    /// Source networks served; loopback only unless the config says otherwise.
    pub(crate) allow: Vec<tidecast_server::IpNet>,
    /// A file holding the token a request must carry, if any (read at start).
    pub(crate) token: Option<String>,
    pub(crate) reload: std::time::Duration,
    pub(crate) max_targets: usize,
    /// Actuals drawn behind now and the band ahead, in seconds.
    pub(crate) span: i64,
}

impl RawBoard {
    fn validate(self, base: &Base) -> anyhow::Result<Board> {
        let listen = self
            .listen
            .parse()
            .map_err(|e| err("board.listen", format!("{:?}: {e}", self.listen)))?;
        let allow = self
            .allow
            .unwrap_or_else(|| vec!["127.0.0.1/32".into(), "::1/128".into()])
            .iter()
            .map(|n| n.parse().map_err(|e| err("board.allow", e)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let token = match &self.token_file {
            Some(f) => {
                let path = base.resolve(f);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| err("board.token_file", format!("{}: {e}", path.display())))?;
                let token = text.trim().to_string();
                if token.is_empty() {
                    return Err(err(
                        "board.token_file",
                        format!("{} is empty", path.display()),
                    ));
                }
                Some(token)
            }
            None => None,
        };
        let max_targets = self.max_targets.unwrap_or(1000);
        if max_targets == 0 {
            return Err(err("board.max_targets", "must be at least 1"));
        }
        Ok(Board {
            listen,
            allow,
            token,
            reload: duration("board.reload", self.reload.as_deref(), "15s")?,
            max_targets,
            span: dur("board.span", self.span.as_deref(), "2h")?,
        })
    }
}

/// `auth:` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    source: Option<AuthSource>,
    kubeconfig: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    requestheader: Option<RawRequestHeader>,
    tokens: Option<bool>,
    authorization: Option<Authorization>,
    allowed_ttl: Option<String>,
    denied_ttl: Option<String>,
    review_timeout: Option<String>,
    /// Turns the gate off: every caller is served (benchmarks only).
    #[serde(default)]
    insecure_disable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequestHeader {
    client_ca_file: PathBuf,
    #[serde(default)]
    allowed_names: Vec<String>,
    #[serde(default = "default_username_headers")]
    username_headers: Vec<String>,
    #[serde(default)]
    uid_headers: Vec<String>,
    #[serde(default = "default_group_headers")]
    group_headers: Vec<String>,
    #[serde(default = "default_extra_prefixes")]
    extra_headers_prefix: Vec<String>,
}

fn default_username_headers() -> Vec<String> {
    vec!["X-Remote-User".into()]
}
fn default_group_headers() -> Vec<String> {
    vec!["X-Remote-Group".into()]
}
fn default_extra_prefixes() -> Vec<String> {
    vec!["X-Remote-Extra-".into()]
}

/// Where the authentication settings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthSource {
    /// `kube-system/extension-apiserver-authentication`, read at start and watched.
    Cluster,
    /// `auth.client_ca_file` and `auth.requestheader`, re-read when they change.
    Files,
}

/// How callers are authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Authorization {
    /// SubjectAccessReview against the cluster.
    SubjectAccessReview,
    /// Every authenticated caller (no cluster: the demo, standalone use).
    AllowAuthenticated,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrometheus {
    url: String,
    timeout: Option<String>,
    bearer_token_file: Option<PathBuf>,
    basic_auth: Option<RawBasicAuth>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasicAuth {
    username: String,
    password_file: PathBuf,
}

/// One target as written; every field may also come from `defaults`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Option<String>,
    /// `predicted` (the default) or `live`: a pass-through metric.
    kind: Option<TargetKind>,
    metric: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    query: Option<String>,
    step: Option<String>,
    window: Option<String>,
    /// The old name of `window`: accepted by the parser only to say so.
    history: Option<serde::de::IgnoredAny>,
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
    /// `live` only: the label that carries the request's namespace in the query.
    namespace_label: Option<String>,
    /// `live` only: how long a request may wait for the query.
    timeout: Option<String>,
}

/// What a target serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum TargetKind {
    /// The forecast, from a model fitted on the query's history.
    #[default]
    Predicted,
    /// The query's value now, passed through (prometheus-adapter's `externalRules`).
    Live,
}

impl RawTarget {
    fn or(self, d: &RawTarget) -> RawTarget {
        RawTarget {
            name: self.name,
            // Not inherited: a default kind would turn every target into it unseen.
            kind: self.kind,
            namespace_label: self.namespace_label.or_else(|| d.namespace_label.clone()),
            timeout: self.timeout.or_else(|| d.timeout.clone()),
            metric: self.metric.or_else(|| d.metric.clone()),
            labels: self.labels.or_else(|| d.labels.clone()),
            query: self.query.or_else(|| d.query.clone()),
            step: self.step.or_else(|| d.step.clone()),
            window: self.window.or_else(|| d.window.clone()),
            // Not inherited: `defaults.history` is reported as itself.
            history: self.history,
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
    /// Authentication and authorization; `None` when `auth.insecure_disable` is set.
    pub(crate) auth: Option<Auth>,
    /// How to reach Prometheus; files it names are read when the client is built.
    pub(crate) prometheus: Option<ClientSettings>,
    /// The model store, if any.
    pub(crate) models: Option<Models>,
    /// The live board, if on.
    pub(crate) board: Option<Board>,
    /// Predicted targets, in the file's order.
    /// Shared with the refresh loops (each holds its target's settings, not a copy).
    pub(crate) targets: Vec<Arc<Target>>,
    /// Pass-through (`kind: live`) targets, in the file's order.
    pub(crate) live: Vec<LiveTarget>,
}

#[derive(Debug, Clone)]
pub(crate) struct Tls {
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
    /// How often the files are checked for a new certificate (rotation by cert-manager).
    pub(crate) reload_interval: std::time::Duration,
}

/// Validated `auth:`.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    pub(crate) source: AuthSource,
    /// The cluster connection's kubeconfig; `None`: in-cluster, else `$KUBECONFIG`.
    pub(crate) kubeconfig: Option<PathBuf>,
    pub(crate) client_ca_file: Option<PathBuf>,
    pub(crate) requestheader: Option<RequestHeaderFiles>,
    /// Bearer tokens through TokenReview.
    pub(crate) tokens: bool,
    pub(crate) authorization: Authorization,
    pub(crate) allowed_ttl: std::time::Duration,
    pub(crate) denied_ttl: std::time::Duration,
    pub(crate) review_timeout: std::time::Duration,
}

impl Auth {
    /// Whether a cluster connection is needed (the ConfigMap, tokens or access reviews).
    pub(crate) fn needs_cluster(&self) -> bool {
        self.source == AuthSource::Cluster
            || self.tokens
            || self.authorization == Authorization::SubjectAccessReview
    }
}

/// `auth.requestheader`, validated.
#[derive(Debug, Clone)]
pub(crate) struct RequestHeaderFiles {
    pub(crate) client_ca_file: PathBuf,
    pub(crate) allowed_names: Vec<String>,
    pub(crate) username_headers: Vec<String>,
    pub(crate) uid_headers: Vec<String>,
    pub(crate) group_headers: Vec<String>,
    pub(crate) extra_headers_prefix: Vec<String>,
}

impl RawAuth {
    fn validate(self, base: &Base) -> anyhow::Result<Option<Auth>> {
        if self.insecure_disable {
            let set = self.source.is_some()
                || self.kubeconfig.is_some()
                || self.client_ca_file.is_some()
                || self.requestheader.is_some()
                || self.tokens.is_some()
                || self.authorization.is_some();
            if set {
                return Err(err(
                    "auth.insecure_disable",
                    "turns authentication off: no other auth field may be set with it",
                ));
            }
            return Ok(None);
        }
        let source = self.source.unwrap_or(AuthSource::Cluster);
        let has_files = self.client_ca_file.is_some() || self.requestheader.is_some();
        match source {
            AuthSource::Cluster if has_files => {
                return Err(err(
                    "auth.client_ca_file",
                    "the CAs come from the cluster's extension-apiserver-authentication ConfigMap with source: cluster; set source: files to use files",
                ));
            }
            AuthSource::Files if !has_files => {
                return Err(err(
                    "auth.source",
                    "files needs auth.client_ca_file or auth.requestheader.client_ca_file",
                ));
            }
            _ => {}
        }
        let requestheader = self.requestheader.map(|r| RequestHeaderFiles {
            client_ca_file: base.resolve(&r.client_ca_file),
            allowed_names: r.allowed_names,
            username_headers: r.username_headers,
            uid_headers: r.uid_headers,
            group_headers: r.group_headers,
            extra_headers_prefix: r.extra_headers_prefix,
        });
        Ok(Some(Auth {
            source,
            kubeconfig: self.kubeconfig.as_deref().map(|p| base.resolve(p)),
            client_ca_file: self.client_ca_file.as_deref().map(|p| base.resolve(p)),
            requestheader,
            tokens: self.tokens.unwrap_or(source == AuthSource::Cluster),
            authorization: self
                .authorization
                .unwrap_or(Authorization::SubjectAccessReview),
            allowed_ttl: duration_or_zero("auth.allowed_ttl", self.allowed_ttl.as_deref(), "10s")?,
            denied_ttl: duration_or_zero("auth.denied_ttl", self.denied_ttl.as_deref(), "10s")?,
            review_timeout: duration("auth.review_timeout", self.review_timeout.as_deref(), "5s")?,
        }))
    }
}

/// [`duration`] that also accepts 0 (off).
fn duration_or_zero(
    field: &str,
    v: Option<&str>,
    default: &str,
) -> anyhow::Result<std::time::Duration> {
    match v.map(str::trim) {
        Some("0" | "0s") => Ok(std::time::Duration::ZERO),
        other => duration(field, other, default),
    }
}

/// One validated target. Durations are in seconds.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) metric: String,
    /// Shared with every view of the target.
    pub(crate) labels: Arc<BTreeMap<String, String>>,
    pub(crate) query: String,
    pub(crate) step: i64,
    /// History each fit learns from (the newest part).
    pub(crate) window: i64,
    pub(crate) calendar: Arc<Calendar>,
    pub(crate) lead: i64,
    pub(crate) quantile: f64,
    pub(crate) refresh: i64,
    pub(crate) refit_every: i64,
    pub(crate) namespaces: Option<Vec<String>>,
    pub(crate) mode: Mode,
    pub(crate) staleness: Staleness,
    /// Every setting the fitted model depends on, canonically written: its SHA-256 is a
    /// model artifact's `config_hash`.
    pub(crate) model_key: String,
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

    /// Validate a config's text; relative paths in it are resolved against `base`.
    pub(crate) fn parse(text: &str, base: &Path) -> anyhow::Result<Config> {
        let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| UsageError(e.to_string()))?;
        let base = Base(base);
        let listen = raw
            .listen
            .parse()
            .map_err(|e| err("listen", format!("{:?} is not host:port ({e})", raw.listen)))?;
        let prometheus = raw.prometheus.map(|p| p.validate(&base)).transpose()?;
        let (targets, live) = validate_targets(raw.targets, &raw.defaults, &base)?;
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
        Ok(Config {
            listen,
            header_read_timeout,
            shutdown_delay,
            target_metrics: raw.target_metrics,
            tls: raw.tls.validate(&base)?,
            auth: raw.auth.validate(&base)?,
            models: raw.models.map(|m| m.validate(&base)).transpose()?,
            board: raw.board.map(|b| b.validate(&base)).transpose()?,
            prometheus,
            targets: targets.into_iter().map(Arc::new).collect(),
            live,
        })
    }
}

/// The directory relative paths in the config are resolved against (the file's own).
struct Base<'a>(&'a Path);

impl Base<'_> {
    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.0.join(p)
        }
    }
}

impl RawTls {
    fn validate(self, base: &Base) -> anyhow::Result<Tls> {
        if self.client_ca_file.is_some() {
            return Err(err(
                "tls.client_ca_file",
                "moved to auth.client_ca_file (with auth.source: files); client certificates are now verified by the authenticator",
            ));
        }
        Ok(Tls {
            cert_file: base.resolve(&self.cert_file),
            key_file: base.resolve(&self.key_file),
            reload_interval: duration(
                "tls.reload_interval",
                self.reload_interval.as_deref(),
                "1m",
            )?,
        })
    }
}

impl RawPrometheus {
    fn validate(self, base: &Base) -> anyhow::Result<ClientSettings> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(err(
                "prometheus.url",
                format!("{:?} must start with http:// or https://", self.url),
            ));
        }
        let timeout = duration("prometheus.timeout", self.timeout.as_deref(), "30s")?;
        let mut settings = ClientSettings::new(self.url).with_timeout(timeout);
        match (self.bearer_token_file, self.basic_auth) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "prometheus.basic_auth",
                    "set either bearer_token_file or basic_auth, not both",
                ));
            }
            (Some(token), None) => {
                settings = settings.with_bearer_token_file(base.resolve(&token));
            }
            (None, Some(auth)) => {
                settings = settings.with_basic_auth_password_file(
                    auth.username,
                    base.resolve(&auth.password_file),
                );
            }
            (None, None) => {}
        }
        if let Some(ca) = &self.ca_file {
            settings = settings.with_ca_file(base.resolve(ca));
        }
        for (name, value) in self.headers {
            settings = settings.with_header(name, value);
        }
        Ok(settings)
    }
}

/// Every target with `defaults` applied; names and (metric, labels) pairs must be unique,
/// or two targets would answer the same request.
fn validate_targets(
    raw: Vec<RawTarget>,
    defaults: &RawTarget,
    base: &Base,
) -> anyhow::Result<(Vec<Target>, Vec<LiveTarget>)> {
    if raw.is_empty() {
        return Err(err("targets", "at least one target is required"));
    }
    if defaults.history.is_some() {
        return Err(renamed_history("defaults.history"));
    }
    if defaults.kind.is_some() {
        return Err(err("defaults.kind", "set kind on each target"));
    }
    let mut targets = Vec::with_capacity(raw.len());
    let mut live: Vec<LiveTarget> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut series = std::collections::HashSet::new();
    for (i, t) in raw.into_iter().enumerate() {
        let at = At(i);
        let t = t.or(defaults);
        if t.kind == Some(TargetKind::Live) {
            let l = t.validate_live(&at)?;
            if !names.insert(l.name.clone()) {
                return Err(err(
                    &at.field("name"),
                    format!("{:?} is used by two targets", l.name),
                ));
            }
            live.push(l);
            continue;
        }
        let t = t.validate(&at, base)?;
        if !names.insert(t.name.clone()) {
            return Err(err(
                &at.field("name"),
                format!("{:?} is used by two targets", t.name),
            ));
        }
        if !series.insert((t.metric.clone(), t.labels.clone())) {
            return Err(err(
                &at.field("labels"),
                format!(
                    "another target already serves {} with these labels; give each a distinct label set",
                    t.metric
                ),
            ));
        }
        targets.push(t);
    }
    // A metric is either passed through or predicted: one request cannot be both.
    let mut live_metrics = std::collections::HashSet::new();
    for l in &live {
        if !live_metrics.insert(l.metric.as_str()) || targets.iter().any(|t| t.metric == l.metric) {
            return Err(err(
                &format!("targets[{}].metric", l.index),
                format!(
                    "{} is served by another target; a live metric has one target of its own",
                    l.metric
                ),
            ));
        }
    }
    Ok((targets, live))
}

/// A validated `kind: live` target: an instant query with the request's selector in it.
#[derive(Debug, Clone)]
pub(crate) struct LiveTarget {
    /// Its position in `targets`, for messages.
    pub(crate) index: usize,
    pub(crate) name: String,
    pub(crate) metric: String,
    /// PromQL, with `<<.LabelMatchers>>` where the selector's matchers go.
    pub(crate) query: String,
    /// The label the request's namespace is matched on, if any.
    pub(crate) namespace_label: Option<String>,
    pub(crate) namespaces: Option<Vec<String>>,
    /// How long an answer is reused, seconds.
    pub(crate) refresh: i64,
    /// How long a request may wait for Prometheus.
    pub(crate) timeout: std::time::Duration,
}

/// The placeholders of prometheus-adapter's `metricsQuery` that a live target's query has
/// no use for, each with what to write instead.
const ADAPTER_PLACEHOLDERS: [(&str, &str); 4] = [
    ("<<.Series>>", "write the metric name"),
    ("<<.GroupBy>>", "write the labels to group by"),
    ("<<.GroupBySlice>>", "write the labels to group by"),
    (
        "<<.LabelValuesByName>>",
        "match the labels with <<.LabelMatchers>>",
    ),
];

impl RawTarget {
    fn validate_live(self, at: &At) -> anyhow::Result<LiveTarget> {
        let f = |name: &str| at.field(name);
        let name = self
            .name
            .clone()
            .ok_or_else(|| err(&f("name"), "required"))?;
        let metric = self
            .metric
            .clone()
            .ok_or_else(|| err(&f("metric"), "required"))?;
        validate_metric_name(&metric).map_err(|e| err(&f("metric"), e))?;
        let query = self.query.clone().ok_or_else(|| {
            err(
                &f("query"),
                "required (PromQL, with <<.LabelMatchers>> where the selector goes)",
            )
        })?;
        if let Some((p, instead)) = ADAPTER_PLACEHOLDERS.iter().find(|(p, _)| query.contains(p)) {
            return Err(err(
                &f("query"),
                format!(
                    "{p} is prometheus-adapter's, not supported here: {instead} (docs/install.md, migrating from prometheus-adapter)"
                ),
            ));
        }
        if self.labels.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(err(
                &f("labels"),
                "a live target's series carry the labels its query returns",
            ));
        }
        if let Some(l) = &self.namespace_label {
            let ok = l
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(err(
                    &f("namespace_label"),
                    format!("{l:?} is not a Prometheus label name"),
                ));
            }
        }
        Ok(LiveTarget {
            index: at.0,
            name,
            metric: metric.to_ascii_lowercase(),
            query,
            namespace_label: self.namespace_label.clone(),
            namespaces: self.namespaces(at)?,
            refresh: dur(&f("refresh"), self.refresh.as_deref(), "15s")?,
            timeout: duration(&f("timeout"), self.timeout.as_deref(), "5s")?,
        })
    }
}

/// The position of a target in the file, for the field names in errors.
struct At(usize);

impl At {
    fn field(&self, name: &str) -> String {
        format!("targets[{}].{name}", self.0)
    }
}

impl RawTarget {
    /// One target with defaults already applied.
    fn validate(self, at: &At, base: &Base) -> anyhow::Result<Target> {
        let f = |name: &str| at.field(name);
        let name = self
            .name
            .clone()
            .ok_or_else(|| err(&f("name"), "required"))?;
        let metric = self
            .metric
            .clone()
            .ok_or_else(|| err(&f("metric"), "required"))?;
        validate_metric_name(&metric).map_err(|e| err(&f("metric"), e))?;
        let query = self
            .query
            .clone()
            .ok_or_else(|| err(&f("query"), "required (PromQL returning one series)"))?;
        if self.history.is_some() {
            return Err(renamed_history(&f("history")));
        }
        let window = match self.window.as_deref() {
            Some(w) => parse_duration(w).map_err(|e| err(&f("window"), e))?,
            None => DEFAULT_WINDOW_SECS,
        };
        if window < tidecast_core::SECS_PER_DAY {
            return Err(err(
                &f("window"),
                "must be at least 1d: the model learns a daily tide",
            ));
        }
        let step = dur(&f("step"), self.step.as_deref(), "1m")?;
        let refresh = dur(&f("refresh"), self.refresh.as_deref(), "1m")?;
        let quantile = self.quantile.unwrap_or(0.9);
        if !(quantile > 0.0 && quantile < 1.0) {
            return Err(err(&f("quantile"), format!("{quantile} is outside (0, 1)")));
        }
        let (calendar, holidays_hash) = self.calendar(at, base)?;
        let lead = dur(&f("lead"), self.lead.as_deref(), "15m")?;
        let refit_every = dur(&f("refit_every"), self.refit_every.as_deref(), "1d")?;
        let staleness = self.staleness(at, step, refresh)?;
        let model_key = format!(
            "query={query}\nstep={step}\nwindow={window}\ntimezone={}\nholidays={holidays_hash}\nrefit_every={refit_every}\nlead={lead}\nhard_limit={}\nquantiles={quantile},0.1,0.9\nmodel=auto\n",
            calendar.zone().name(),
            staleness.hard_limit
        );
        Ok(Target {
            name,
            metric: metric.to_ascii_lowercase(),
            labels: Arc::new(self.labels.clone().unwrap_or_default()),
            query,
            step,
            window,
            calendar: Arc::new(calendar),
            lead,
            quantile,
            refresh,
            refit_every,
            namespaces: self.namespaces(at)?,
            mode: self.mode.unwrap_or(Mode::Scale),
            staleness,
            model_key,
        })
    }

    /// The time zone with the holiday file's entries, read now so a bad file fails the
    /// start, and the file's SHA-256 (`none` without one).
    fn calendar(&self, at: &At, base: &Base) -> anyhow::Result<(Calendar, String)> {
        let tz = Calendar::parse_zone(self.timezone.as_deref().unwrap_or("UTC"))
            .map_err(|e| err(&at.field("timezone"), e))?;
        let calendar = Calendar::new(tz);
        let Some(h) = &self.holidays else {
            return Ok((calendar, "none".into()));
        };
        let p = base.resolve(h);
        let holidays =
            |e: &dyn std::fmt::Display| err(&at.field("holidays"), format!("{}: {e}", p.display()));
        let text = std::fs::read_to_string(&p).map_err(|e| holidays(&e))?;
        let hash = tidecast_store::sha256_hex(text.as_bytes());
        Ok((
            calendar.with_holidays(&text).map_err(|e| holidays(&e))?,
            hash,
        ))
    }

    /// `None` for all namespaces (`["*"]` or the field left out).
    fn namespaces(&self, at: &At) -> anyhow::Result<Option<Vec<String>>> {
        match self.namespaces.clone() {
            None => Ok(None),
            Some(v) if v.iter().any(|n| n == "*") => Ok(None),
            Some(v) if v.is_empty() => Err(err(
                &at.field("namespaces"),
                "empty: use [\"*\"] for all namespaces",
            )),
            Some(v) => Ok(Some(v)),
        }
    }

    /// The age limits, which must grow along the chain fresh -> last_good -> model_only, the
    /// first sound for the step and refresh (see [`sound_stale_after`]); left out, it is
    /// 5m or the sound minimum if that is more.
    fn staleness(&self, at: &At, step: i64, refresh: i64) -> anyhow::Result<Staleness> {
        let f = |name: &str| at.field(name);
        let sound = sound_stale_after(step, refresh);
        let stale_after = match self.stale_after.as_deref() {
            Some(v) => parse_duration(v).map_err(|e| err(&f("stale_after"), e))?,
            None => sound.max(300),
        };
        if stale_after < sound {
            return Err(err(
                &f("stale_after"),
                format!(
                    "{} is below step + 2 x refresh = {} + 2 x {}: data is up to a step old when                      it is read, and one missed refresh must not take the target out of fresh;                      the smallest sound value is {}",
                    format_duration(stale_after),
                    format_duration(step),
                    format_duration(refresh),
                    format_duration(sound)
                ),
            ));
        }
        let staleness = Staleness {
            stale_after,
            forecast_ttl: dur(&f("forecast_ttl"), self.forecast_ttl.as_deref(), "30m")?,
            hard_limit: dur(&f("hard_limit"), self.hard_limit.as_deref(), "2h")?,
        };
        if !(staleness.stale_after <= staleness.forecast_ttl
            && staleness.forecast_ttl <= staleness.hard_limit)
        {
            return Err(err(
                &f("stale_after"),
                "need stale_after <= forecast_ttl <= hard_limit",
            ));
        }
        Ok(staleness)
    }
}

/// The smallest `stale_after` that keeps a healthy target fresh: the newest sample is up to
/// one `step` old when read, and it must survive one missed refresh (two intervals).
fn sound_stale_after(step: i64, refresh: i64) -> i64 {
    step + 2 * refresh
}

/// The error for a config that still uses the training window's old name.
fn renamed_history(field: &str) -> anyhow::Error {
    err(
        field,
        "`history` was renamed to `window` (the same setting as `--window` of forecast and backtest)",
    )
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

    const LIVE: &str = "  - {name: lag, kind: live, metric: kafka_lag, query: 'sum by (topic) (lag{<<.LabelMatchers>>})', namespace_label: namespace}\n";

    #[test]
    fn live_targets_validate_apart_from_the_predicted_ones() {
        let c = Config::parse(&format!("{GOOD}{LIVE}"), Path::new(".")).unwrap();
        assert_eq!((c.targets.len(), c.live.len()), (2, 1));
        let l = &c.live[0];
        assert_eq!(
            (l.metric.as_str(), l.refresh, l.timeout.as_secs()),
            ("kafka_lag", 15, 5)
        );
        assert_eq!(l.namespace_label.as_deref(), Some("namespace"));
        // The defaults' namespaces apply to live targets too.
        assert_eq!(l.namespaces, Some(vec!["tv".to_string()]));
        for (bad, field, says) in [
            (
                LIVE.replace("(lag{", "(<<.Series>>{"),
                "targets[2].query",
                "<<.Series>>",
            ),
            (
                LIVE.replace("namespace_label: namespace", "labels: {a: b}"),
                "targets[2].labels",
                "labels its query returns",
            ),
            (
                LIVE.replace("kafka_lag", "lb_connections_predicted"),
                "targets[2].metric",
                "served by another target",
            ),
            (
                LIVE.replace("namespace_label: namespace", "namespace_label: 'kube-ns'"),
                "targets[2].namespace_label",
                "not a Prometheus label name",
            ),
        ] {
            let e = Config::parse(&format!("{GOOD}{bad}"), Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(field) && e.contains(says), "{field}: {e}");
        }
    }

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
        assert_eq!(c.targets[0].window, DEFAULT_WINDOW_SECS);
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
        assert_eq!(c.target_metrics, TargetMetrics::Auto);
        let served = Config::parse(
            &GOOD.replace("listen:", "target_metrics: served\nlisten:"),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(served.target_metrics, TargetMetrics::Served);
    }

    #[test]
    fn prometheus_basic_auth_parses_with_the_password_file_beside_the_config() {
        let c = Config::parse(
            &GOOD.replace(
                "headers: {X-Scope-OrgID: tenant-a}}",
                "basic_auth: {username: alice, password_file: secrets/password}}",
            ),
            Path::new("/etc/tidecast"),
        )
        .unwrap();
        let p = c.prometheus.expect("a prometheus section");
        assert_eq!(p.url(), "http://prometheus:9090");
        let shown = format!("{p:?}");
        assert!(
            shown.contains("\"alice\"") && shown.contains("/etc/tidecast/secrets/password"),
            "{shown}"
        );
        let both = GOOD.replace(
            "headers: {X-Scope-OrgID: tenant-a}}",
            "bearer_token_file: t, basic_auth: {username: a, password_file: p}}",
        );
        let e = Config::parse(&both, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("prometheus.basic_auth: "), "{e}");
        let no_file = GOOD.replace(
            "headers: {X-Scope-OrgID: tenant-a}}",
            "basic_auth: {username: a}}",
        );
        let e = Config::parse(&no_file, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `password_file`"), "{e}");
    }

    #[test]
    fn the_old_history_key_is_a_clear_error_where_it_is_written() {
        let window = Config::parse(
            &GOOD.replace("lead: 10m,", "lead: 10m, window: 14d,"),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(window.targets[1].window, 14 * 86_400);
        for (bad, field) in [
            (
                GOOD.replace("lead: 10m,", "lead: 10m, history: 28d,"),
                "defaults.history",
            ),
            (
                GOOD.replace("    lead: 20m\n", "    history: 28d\n"),
                "targets[1].history",
            ),
        ] {
            let e = Config::parse(&bad, Path::new(".")).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("{field}: `history` was renamed to `window`")),
                "{e}"
            );
        }
    }

    #[test]
    fn a_stale_after_that_one_missed_refresh_would_break_is_refused() {
        // With these, a healthy target leaves `fresh` between two refreshes.
        let tight = GOOD.replace(
            "lead: 10m,",
            "lead: 10m, step: 1m, refresh: 15s, stale_after: 1m,",
        );
        let e = Config::parse(&tight, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("targets[0].stale_after: 1m is below"), "{e}");
        assert!(
            e.contains("step + 2 x refresh = 1m + 2 x 15s") && e.ends_with("is 90s"),
            "{e}"
        );
        let sound = tight.replace("stale_after: 1m,", "stale_after: 90s,");
        let c = Config::parse(&sound, Path::new(".")).unwrap();
        assert_eq!(c.targets[0].staleness.stale_after, 90);
        // Left out, it grows with a long step instead of failing the config.
        let long_step = GOOD.replace("lead: 10m,", "lead: 10m, step: 5m,");
        let c = Config::parse(&long_step, Path::new(".")).unwrap();
        assert_eq!(c.targets[0].staleness.stale_after, 5 * 60 + 2 * 60);
        assert_eq!(c.targets[1].staleness.stale_after, 7 * 60);
        let c = Config::parse(GOOD, Path::new(".")).unwrap();
        assert_eq!(c.targets[0].staleness.stale_after, 300, "the default");
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
