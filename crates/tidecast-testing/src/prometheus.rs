use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tidecast_core::synth::TidalGenerator;
use tidecast_prometheus::{Client, ClientConfig};

/// A client config for tests: three attempts with backoff from 10 ms to 40 ms, so retried
/// faults fail fast.
pub fn prometheus_client_config(url: &str) -> ClientConfig {
    ClientConfig::new(url)
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(40))
}

/// A client built from [`prometheus_client_config`].
#[track_caller]
pub fn prometheus_client(url: &str) -> Client {
    Client::new(prometheus_client_config(url)).expect("a valid client config")
}

/// One series to backfill: its labels and a generator evaluated on the grid.
#[derive(Debug, Clone)]
pub struct FixtureSeries {
    /// Label pairs (the metric name is the fixture's).
    pub labels: Vec<(String, String)>,
    /// Values at every grid point.
    pub generator: TidalGenerator,
}

impl FixtureSeries {
    /// A tidal service `service` (Asia/Shanghai), scaled by `peak`.
    pub fn service(service: &str, peak: f64, seed: u64) -> Self {
        Self {
            labels: vec![
                ("service".into(), service.into()),
                ("lb".into(), "slb-1".into()),
            ],
            generator: TidalGenerator::new(chrono_tz::Tz::Asia__Shanghai, peak / 20.0, peak, seed),
        }
    }
}

/// A real Prometheus with backfilled history, stopped by PID when dropped.
#[derive(Debug)]
pub struct PrometheusFixture {
    child: Option<Child>,
    port: u16,
    /// First and last backfilled timestamps and the step (Unix seconds).
    pub start: i64,
    /// Last backfilled timestamp.
    pub end: i64,
    /// Grid step of the backfilled data.
    pub step: i64,
    /// Metric name.
    pub metric: String,
    /// The series backfilled.
    pub series: Vec<FixtureSeries>,
    dir: tempfile::TempDir,
}

impl PrometheusFixture {
    /// Backfill `days` of `series` at `step` seconds ending one step before now, then start
    /// Prometheus. `scrape` adds a scrape job for a `host:port` exporter (live samples on
    /// top of the history, with `job`/`instance` dropped so they join the same series).
    pub fn start(
        series: Vec<FixtureSeries>,
        days: i64,
        step: i64,
        scrape: Option<String>,
    ) -> std::io::Result<Self> {
        let now = crate::unix_now() as i64;
        let end = (now / step) * step - step;
        let start = end - days * tidecast_core::SECS_PER_DAY + step;
        let dir = tempfile::tempdir()?;
        let metric = "lb_active_connections".to_string();
        let om = dir.path().join("history.om");
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&om)?);
            writeln!(f, "# HELP {metric} Active load-balancer connections.")?;
            writeln!(f, "# TYPE {metric} gauge")?;
            for s in &series {
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect();
                let labels = labels.join(",");
                let mut t = start;
                while t <= end {
                    writeln!(f, "{metric}{{{labels}}} {} {t}", s.generator.value(t))?;
                    t += step;
                }
            }
            writeln!(f, "# EOF")?;
        }
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let out = Command::new("promtool")
            .args([
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--max-block-duration=840h",
            ])
            .arg(&om)
            .arg(&data)
            .output()
            .map_err(|e| not_installed("promtool", e))?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "promtool failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let config = dir.path().join("prometheus.yml");
        let mut cfg = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 15s\n");
        if let Some(target) = scrape {
            cfg.push_str(&format!(
                "scrape_configs:\n  - job_name: live\n    static_configs:\n      - targets: [\"{target}\"]\n    metric_relabel_configs:\n      - action: labeldrop\n        regex: (job|instance)\n"
            ));
        }
        std::fs::write(&config, cfg)?;
        let port = crate::free_port();
        let child = spawn(&config, &data, port, dir.path())?;
        let fixture = Self {
            child: Some(child),
            port,
            start,
            end,
            step,
            metric,
            series,
            dir,
        };
        fixture.wait_ready(Duration::from_secs(60))?;
        Ok(fixture)
    }

    fn wait_ready(&self, limit: Duration) -> std::io::Result<()> {
        let ready = crate::poll(limit, Duration::from_millis(100), || {
            matches!(crate::http_get(self.port, "/-/ready"), Some((200, _))).then_some(())
        });
        if ready.is_some() {
            return Ok(());
        }
        let log =
            std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
        Err(std::io::Error::other(format!(
            "prometheus not ready after {limit:?}; log tail:\n{}",
            &log[log.len().saturating_sub(2000)..]
        )))
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port Prometheus listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process ID, for tests that stop Prometheus themselves.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stop Prometheus now (SIGTERM, then SIGKILL after 10 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let exited = crate::poll(Duration::from_secs(10), Duration::from_millis(50), || {
                c.try_wait().ok().flatten()
            });
            if exited.is_some() {
                return;
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrometheusFixture {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(config: &Path, data: &Path, port: u16, dir: &Path) -> std::io::Result<Child> {
    let log = std::fs::File::create(dir.join("prometheus.log"))?;
    Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=3650d")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| not_installed("prometheus", e))
}

fn not_installed(what: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::other(format!(
        "cannot run {what} ({e}); install it with `apt-get install -y prometheus` (.ci/run does)"
    ))
}
