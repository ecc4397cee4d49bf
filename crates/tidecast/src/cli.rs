//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::LazyLock;
use tidecast_core::{DEFAULT_WINDOW_SECS, SECS_PER_DAY, format_duration};

/// `--window`'s default: the serve config's default too, in days as users write it.
static DEFAULT_WINDOW: LazyLock<String> = LazyLock::new(|| {
    if DEFAULT_WINDOW_SECS % SECS_PER_DAY == 0 {
        format!("{}d", DEFAULT_WINDOW_SECS / SECS_PER_DAY)
    } else {
        format_duration(DEFAULT_WINDOW_SECS)
    }
});

/// An argument or configuration value that makes no sense (exit code 64).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// tidecast: predictive autoscaling for tidal load.
///
/// Learns each service's daily and weekly tide from its history and forecasts it with
/// calibrated intervals. Durations are written like 90s, 15m, 1h, 7d; timestamps as RFC 3339
/// (2026-10-01T06:00:00Z) or Unix seconds.
#[derive(Debug, Parser)]
#[command(name = "tidecast", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Fit on a history and forecast the steps after its last timestamp.
    ///
    /// Writes CSV `timestamp,forecast,lower,upper` (plus one `q<level>` column per extra
    /// quantile) to stdout or --out. `lower`/`upper` bound the --interval (80 % by default).
    /// Prints `model: ...` to stderr: what the fit chose (profile, level decays per tuning
    /// horizon, the combination's members and weights).
    Forecast(ForecastArgs),
    /// Replay history: forecast from rolling origins using only data up to each origin.
    ///
    /// Writes CSV `origin,timestamp,forecast,lower,upper,actual` and prints MASE, sMAPE,
    /// peak under-forecast and interval coverage by horizon. The rows for an origin equal
    /// what `forecast` writes on the history cut at that origin.
    Backtest(BacktestArgs),
    /// Pull a range of history from Prometheus into a file for analysis.
    ///
    /// Writes long format: `timestamp,value` plus one column per label, one row per
    /// sample, as CSV or Parquet (by extension). Long ranges are split under Prometheus'
    /// 11,000-points limit and fetched in parallel.
    Fetch(FetchArgs),
    /// Serve predicted load through the Kubernetes external metrics API over TLS.
    ///
    /// Reads the YAML config (schema in the README, example in deploy/), refreshes every
    /// target from Prometheus on its own loop, refits on schedule and answers
    /// external.metrics.k8s.io/v1beta1 from memory. Invalid config exits with code 64 and a
    /// message naming the field.
    Serve(ServeArgs),
    /// Replay the HPA on a history: reactive, predictive (what serve would have served) and
    /// an oracle.
    ///
    /// Runs the honest backtest over --from..--to (a forecast every step, as serve refreshes),
    /// then replays the user's autoscaling/v2 HPA manifest sync by sync three times: on the
    /// live metric, on max(live, forecast at --quantile over --lead), and on the true peak
    /// over --lead. Prints breach minutes (load above the ready pods' capacity), unserved
    /// load, pod-hours and scale events of each; --json writes them as JSON.
    Simulate(SimulateArgs),
    /// Write an HTML report for analysts: forecast against actual, errors by hour and
    /// horizon, coverage and, with --hpa, the replays and the frontier.
    ///
    /// Backtests each history over --from..--to (an origin every --every, --horizon ahead)
    /// and, with --hpa and --pod-capacity, replays the HPA as simulate does (and sweeps with
    /// --sweep-leads/--sweep-quantiles). Writes one self-contained HTML file (inline SVG,
    /// nothing fetched), with an overview table when there are several histories, and with
    /// --parquet the forecasts and replay steps for notebooks.
    Report(ReportArgs),
    /// Refit every target of a serve config from Prometheus and publish the models to the
    /// model store (the scheduled retraining job).
    ///
    /// For each target (of this shard): pulls the training window plus a holdout day, fits
    /// the candidate on the window ending a day earlier and scores it on that day against
    /// the store's current model (same origins, every step); if it is not worse by more
    /// than models.margin (or --force), fits at the refit point and publishes. Prints a
    /// JSON line per target (a progress bar on a terminal) and a summary. Exit codes: 0
    /// every target published or kept, 3 some failed, 64 bad config, 1 anything else.
    Train(TrainArgs),
    /// Inspect and manage the model store: list, show, diff, rollback.
    Models(ModelsArgs),
    /// Run the whole product locally with no Prometheus and no cluster.
    ///
    /// Generates a tidal history for three services (Asia/Shanghai peaks), fits, and serves
    /// the external metrics API on 127.0.0.1 with a self-signed certificate, printing kubectl
    /// commands that work as printed. The clock starts at 16:30 Shanghai time and runs 30x
    /// faster, so the served value rises ahead of the 17:00 peak within a minute.
    Demo(DemoArgs),
    /// Write a CA and a serving certificate for the in-cluster Service (self-signed install).
    ///
    /// Writes the `tidecast-tls` Secret manifest and the APIService caBundle patch that
    /// deploy/overlays/self-signed applies. A CA already in --out is reused.
    Certs(crate::cmd::certs::CertsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// The serve configuration (its targets, prometheus and models sections; the server's
    /// fields are parsed but not used).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
    /// The model store (default: the config's models.store): file:///path or a path.
    #[arg(long, value_name = "URL")]
    pub(crate) store: Option<String>,
    /// Publish even when the candidate scores worse than the current model, or the current
    /// one is already for this refit point.
    #[arg(long)]
    pub(crate) force: bool,
    /// Train only shard I of N (0-based): targets are assigned by a hash of their name.
    /// Default: $JOB_COMPLETION_INDEX of N=--shards (a Kubernetes Indexed Job).
    #[arg(long, value_name = "I/N")]
    pub(crate) shard: Option<String>,
    /// The shard count when the index comes from $JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "N", env = "TIDECAST_SHARDS")]
    pub(crate) shards: Option<usize>,
    /// Train as of this instant instead of now (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "TIME")]
    pub(crate) at: Option<String>,
    /// Targets trained at once (default: two per core, at most 8, so pulls overlap fits
    /// without crowding Prometheus).
    #[arg(long, value_name = "N")]
    pub(crate) jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {
    #[command(subcommand)]
    pub(crate) command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// One line per target: name, current version, trained at, data end, model.
    List {
        /// The model store: file:///path or a path.
        #[arg(long, value_name = "URL")]
        store: String,
    },
    /// Print an artifact as JSON: a file, or a target's current (or --version) in a store.
    Show {
        /// A target name (with --store) or an artifact file.
        what: String,
        /// The model store.
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// A version instead of the current one.
        #[arg(long)]
        version: Option<String>,
    },
    /// Compare two versions of a target (default: the current one and the one before).
    Diff {
        /// The target.
        target: String,
        /// The model store.
        #[arg(long, value_name = "URL")]
        store: String,
        /// The older version.
        #[arg(long)]
        from: Option<String>,
        /// The newer version.
        #[arg(long)]
        to: Option<String>,
    },
    /// Make an earlier version current (default: the one before the current one).
    Rollback {
        /// The target.
        target: String,
        /// The model store.
        #[arg(long, value_name = "URL")]
        store: String,
        /// The version to make current.
        #[arg(long)]
        version: Option<String>,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for Elasticsearch/Loki/... pipelines).
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// YAML configuration file.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) log_format: LogFormat,
    /// Validate the configuration and every file it names (holidays, tokens, CA bundles, the
    /// serving certificate and key), then exit; nothing is contacted.
    #[arg(long)]
    pub(crate) check: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8443)]
    pub(crate) port: u16,
    /// Clock speed: simulated seconds per real second (1 = real time; 0 = the clock stands
    /// still at --start, every refresh sees the same instant).
    #[arg(long, default_value_t = 30.0)]
    pub(crate) speed: f64,
    /// Simulated start: local Shanghai time of day today (HH:MM), `now`, or an instant
    /// (RFC 3339 or Unix seconds).
    #[arg(long, default_value = "16:30")]
    pub(crate) start: String,
    /// Write each service's history at the start, as the server fits on it, to DIR/NAME.csv
    /// (for `tidecast forecast` and `backtest` on the same data).
    #[arg(long, value_name = "DIR")]
    pub(crate) write_history: Option<PathBuf>,
    /// Directory for the generated certificates (default: a temporary directory, removed
    /// when the demo exits).
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Number of services (the first three are tv-api, epg and login; more are generated,
    /// e.g. 10000 for a load test).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub(crate) services: usize,
    /// Every service's sampling step (e.g. 5m, where `auto` is the whole combination).
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    pub(crate) step: String,
    /// Every service's training window.
    #[arg(long, default_value = "28d", value_name = "DURATION")]
    pub(crate) window: String,
    /// Stop after this many real seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub(crate) duration: Option<f64>,
    /// Authenticate bearer tokens and authorize every request through this cluster's
    /// TokenReview and SubjectAccessReview (client certificates stay the demo CA's).
    #[arg(long, value_name = "FILE", conflicts_with = "insecure_no_auth")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Serve the models of this model store (e.g. models/demo, trained for
    /// --start 2026-12-07T16:30:00+08:00) instead of fitting where they apply.
    #[arg(long, value_name = "URL")]
    pub(crate) models: Option<String>,
    /// Train each service as `tidecast train` does (scored on the holdout day before the
    /// start's refit point), publish the models to this store and exit (how models/demo is
    /// made).
    #[arg(long, value_name = "URL", conflicts_with = "models")]
    pub(crate) write_models: Option<String>,
    /// The live board's port on 127.0.0.1 (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub(crate) board_port: u16,
    /// No live board (benchmarks: it keeps each target's last two hours).
    #[arg(long, conflicts_with = "board_port")]
    pub(crate) no_board: bool,
    /// Serve every caller without authentication or authorization (benchmarks of the
    /// gate's cost; never on a reachable address).
    #[arg(long)]
    pub(crate) insecure_no_auth: bool,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) log_format: LogFormat,
}

/// How to reach Prometheus (or Thanos, Mimir, VictoriaMetrics).
#[derive(Debug, Args)]
pub(crate) struct PrometheusArgs {
    /// Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090.
    #[arg(long, value_name = "URL")]
    pub(crate) prometheus: Option<String>,
    /// PromQL to evaluate, e.g. 'sum by (service) (lb_active_connections)'.
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub(crate) query: Option<String>,
    /// How much history to pull, ending at --end (by default the training window's default,
    /// so `forecast` and `backtest` on Prometheus fit on what `serve` fits on).
    #[arg(long, default_value = DEFAULT_WINDOW.as_str(), value_name = "DURATION")]
    pub(crate) range: String,
    /// End of the pulled range (RFC 3339 or Unix seconds); default: now.
    #[arg(long, value_name = "TIME")]
    pub(crate) end: Option<String>,
    /// File holding a bearer token sent as `Authorization: Bearer ...`.
    #[arg(long, value_name = "FILE")]
    pub(crate) bearer_token_file: Option<PathBuf>,
    /// HTTP basic auth user; the password comes from --basic-auth-password-file or
    /// $TIDECAST_PROMETHEUS_PASSWORD.
    #[arg(long, value_name = "USER", conflicts_with = "bearer_token_file")]
    pub(crate) basic_auth_user: Option<String>,
    /// File holding the basic auth password (surrounding whitespace is trimmed).
    #[arg(long, value_name = "FILE", requires = "basic_auth_user")]
    pub(crate) basic_auth_password_file: Option<PathBuf>,
    /// PEM CA bundle to trust for https:// (in addition to the system roots).
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Extra request header, repeatable, e.g. 'X-Scope-OrgID: tenant-a'.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
    /// Timeout of each HTTP request (whole answer).
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub(crate) timeout: String,
    /// Attempts per request; connection errors, 5xx and 429 are retried with backoff.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub(crate) attempts: u32,
    /// Chunks fetched concurrently.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub(crate) parallel: usize,
    /// Largest answer accepted per request, in MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub(crate) max_response_mib: usize,
}

/// Where the history comes from and how to read it.
#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Series file: CSV or Parquet (by extension) with timestamp and value columns.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "prometheus",
        conflicts_with = "prometheus"
    )]
    pub(crate) history: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) source: PrometheusArgs,
    /// Name of the timestamp column.
    #[arg(long, default_value = "timestamp", value_name = "NAME")]
    pub(crate) timestamp_column: String,
    /// Name of the value column.
    #[arg(long, default_value = "value", value_name = "NAME")]
    pub(crate) value_column: String,
    /// Grid step; inferred from a file as the most common spacing when omitted, 1m for
    /// Prometheus.
    #[arg(long, value_name = "DURATION")]
    pub(crate) step: Option<String>,
}

/// How to model.
#[derive(Debug, Args)]
pub(crate) struct ModelArgs {
    /// IANA time zone of the tidal calendar (hour of day, weekday, holidays).
    #[arg(long, default_value = "UTC", value_name = "TZ")]
    pub(crate) timezone: String,
    /// Holiday/event calendar file (lines `YYYY-MM-DD[..YYYY-MM-DD],holiday|workday|event[,name]`).
    #[arg(long, value_name = "FILE")]
    pub(crate) holidays: Option<PathBuf>,
    /// Model: auto (tidal, a lag regression, an MSTL forecast and a persistent-level variant,
    /// weighted per horizon by an inner backtest), tidal (profile by local time and day type x a level that follows the
    /// latest observations), snaive-day or snaive-week.
    #[arg(long, default_value = "auto", value_name = "NAME")]
    pub(crate) model: String,
    /// Central coverage of the lower/upper interval (0.8 = 10th and 90th percentiles).
    #[arg(long, default_value_t = 0.8, value_name = "P")]
    pub(crate) interval: f64,
    /// Extra quantile levels to forecast, comma-separated (e.g. 0.5,0.95).
    #[arg(long, value_delimiter = ',', value_name = "Q,...")]
    pub(crate) quantiles: Vec<f64>,
    /// Refit the model at every multiple of this duration since the Unix epoch; between
    /// refits it only updates its state with each new observation.
    #[arg(long, default_value = "1d", value_name = "DURATION")]
    pub(crate) refit_every: String,
    /// History each fit uses (the newest part).
    #[arg(long, default_value = DEFAULT_WINDOW.as_str(), value_name = "DURATION")]
    pub(crate) window: String,
    /// Fit on means over buckets of this duration when the series is finer, reading the
    /// forecast back per step (`none`: fit the series as it is).
    #[arg(long, default_value = "none", value_name = "DURATION")]
    pub(crate) aggregate: String,
}

#[derive(Debug, Args)]
pub(crate) struct ForecastArgs {
    #[command(flatten)]
    pub(crate) history: HistoryArgs,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// How far ahead to forecast.
    #[arg(long, value_name = "DURATION")]
    pub(crate) horizon: String,
    /// Output file (.csv or .parquet); stdout (CSV) when omitted.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct BacktestArgs {
    #[command(flatten)]
    pub(crate) history: HistoryArgs,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// First origin (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "TIME")]
    pub(crate) from: String,
    /// Last origin; default: the last timestamp minus the horizon.
    #[arg(long, value_name = "TIME")]
    pub(crate) to: Option<String>,
    /// Time between origins.
    #[arg(long, value_name = "DURATION")]
    pub(crate) every: String,
    /// How far ahead each origin forecasts.
    #[arg(long, value_name = "DURATION")]
    pub(crate) horizon: String,
    /// Output file (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Do not print the accuracy summary.
    #[arg(long)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    #[command(flatten)]
    pub(crate) history: HistoryArgs,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    #[command(flatten)]
    pub(crate) replay: ReplayArgs,
    /// Write the results as JSON to this file (`-`: stdout).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Write the timeline, one row per sync, as CSV or Parquet (by extension), for notebooks:
    /// timestamp, load, and replicas, ready pods and capacity of each of reactive, predictive
    /// and oracle.
    #[arg(long, value_name = "FILE", conflicts_with = "sweep_leads")]
    pub(crate) out: Option<PathBuf>,
}

/// The HPA replay: the manifest, the cluster's timing, what is served, and the sweep.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// The HorizontalPodAutoscaler manifest (autoscaling/v2 YAML) to replay (required by
    /// simulate; report replays only when it is given).
    #[arg(long, value_name = "FILE", requires = "pod_capacity")]
    pub(crate) hpa: Option<PathBuf>,
    /// The External metric of the manifest to drive (needed when it has several).
    #[arg(long, value_name = "NAME")]
    pub(crate) metric: Option<String>,
    /// Load one ready pod serves; load above ready pods x this is a breach (required with
    /// --hpa).
    #[arg(long, value_name = "N", requires = "hpa")]
    pub(crate) pod_capacity: Option<f64>,
    /// Start of the replayed stretch; default: the first sample plus 14 days of training.
    #[arg(long, value_name = "TIME")]
    pub(crate) from: Option<String>,
    /// End of the replayed stretch; default: the last sample.
    #[arg(long, value_name = "TIME")]
    pub(crate) to: Option<String>,
    /// Serve the forecast's max over (now, now + lead], as the serve config's `lead`.
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    pub(crate) lead: String,
    /// Forecast quantile served, as the serve config's `quantile`.
    #[arg(long, default_value_t = 0.9, value_name = "Q")]
    pub(crate) quantile: f64,
    /// From pod creation to Ready.
    #[arg(long, default_value = "180s", value_name = "DURATION")]
    pub(crate) startup: String,
    /// Pods per node and node provisioning time, e.g. `10,3m`: pods beyond the nodes wait
    /// for a new one (the cluster autoscaler adds nodes only for pending pods).
    #[arg(long, value_name = "PODS,DURATION")]
    pub(crate) nodes: Option<String>,
    /// The HPA controller's sync period.
    #[arg(long, default_value = "15s", value_name = "DURATION")]
    pub(crate) sync: String,
    /// Sweep these leads (with --sweep-quantiles): the cost/safety frontier and a
    /// recommendation chosen on the first half of the stretch, shown on the second.
    #[arg(long, value_delimiter = ',', value_name = "DURATION,...")]
    pub(crate) sweep_leads: Vec<String>,
    /// Quantiles of the sweep.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "Q,...",
        requires = "sweep_leads"
    )]
    pub(crate) sweep_quantiles: Vec<f64>,
    /// The sweep's budget: the recommendation has the fewest breach minutes at no more than
    /// this many times the oracle's pod-hours (same lead, same half).
    #[arg(long, default_value_t = 1.10, value_name = "RATIO")]
    pub(crate) budget: f64,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Series files (CSV or Parquet, by extension), one target each; repeat the flag or list
    /// several. The target is named after the file.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub(crate) history: Vec<PathBuf>,
    /// Name of the timestamp column.
    #[arg(long, default_value = "timestamp", value_name = "NAME")]
    pub(crate) timestamp_column: String,
    /// Name of the value column.
    #[arg(long, default_value = "value", value_name = "NAME")]
    pub(crate) value_column: String,
    /// Grid step; inferred from each file as the most common spacing when omitted.
    #[arg(long, value_name = "DURATION")]
    pub(crate) step: Option<String>,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    #[command(flatten)]
    pub(crate) replay: ReplayArgs,
    /// Time between the backtest's origins over --from..--to.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub(crate) every: String,
    /// How far ahead each origin forecasts (errors by horizon go this far).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub(crate) horizon: String,
    /// The HTML file to write.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Also write forecasts.parquet and, with --hpa, replay.parquet into this directory
    /// (columns in docs/cli.md), one row per forecast step or sync, every target in one file.
    #[arg(long, value_name = "DIR")]
    pub(crate) parquet: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    #[command(flatten)]
    pub(crate) source: PrometheusArgs,
    /// Resolution of the pulled series.
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    pub(crate) step: String,
    /// Output file (.csv or .parquet).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
}
