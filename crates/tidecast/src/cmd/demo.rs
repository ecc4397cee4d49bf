use crate::cli::{DemoArgs, LogFormat};
use crate::cmd::serve::Serving;
use crate::config::{Config, Target};
use crate::history::usage;
use crate::runtime::{SeriesSource, SyntheticSource, TargetRuntime};
use crate::tls::DemoPki;
use anyhow::{Context, Result};
use chrono::TimeZone;
use chrono_tz::Asia::Shanghai;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tidecast_core::synth::TidalGenerator;
use tidecast_server::{Clock, MetricStore, SystemClock};

/// A clock that starts at `sim0` and runs `speed` times faster than real time.
#[derive(Debug)]
struct SimClock {
    real0: f64,
    sim0: f64,
    speed: f64,
}

impl Clock for SimClock {
    fn now(&self) -> f64 {
        self.sim0 + (SystemClock.now() - self.real0) * self.speed
    }
}

/// The demo's services: name, idle and peak connections.
const SERVICES: [(&str, f64, f64); 3] = [
    ("tv-api", 2000.0, 40000.0),
    ("epg", 300.0, 6000.0),
    ("login", 100.0, 2500.0),
];

/// `n` services: the named three, then generated ones with varied sizes.
fn services(n: usize) -> Vec<(String, f64, f64)> {
    (0..n)
        .map(|i| match SERVICES.get(i) {
            Some((name, idle, peak)) => (name.to_string(), *idle, *peak),
            None => {
                let peak = 500.0 + (i * 7919 % 20_000) as f64;
                (format!("svc-{i:05}"), peak / 20.0, peak)
            }
        })
        .collect()
}
/// The external metric the demo serves.
const METRIC: &str = "lb_connections_predicted";

fn start_time(spec: &str) -> Result<f64> {
    let now = SystemClock.now();
    if spec == "now" {
        return Ok(now);
    }
    if !spec.contains(':') || spec.contains('T') {
        return tidecast_core::parse_timestamp(spec)
            .map_err(|e| usage(format!("--start: {e} (or HH:MM, or now)")));
    }
    let (h, m) = spec
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
        .filter(|(h, m)| *h < 24 && *m < 60)
        .ok_or_else(|| usage(format!("--start {spec:?}: expected HH:MM or now")))?;
    let today = chrono::DateTime::from_timestamp(now as i64, 0)
        .unwrap_or_default()
        .with_timezone(&Shanghai)
        .date_naive();
    let local = today.and_hms_opt(h, m, 0).expect("valid time");
    Ok(Shanghai
        .from_local_datetime(&local)
        .single()
        .map_or(now, |t| t.timestamp() as f64))
}

pub(crate) fn run(args: &DemoArgs) -> Result<()> {
    if !(args.speed >= 0.0 && args.speed <= 3600.0) {
        return Err(usage(format!(
            "--speed {} must be in [0, 3600]",
            args.speed
        )));
    }
    if args.services == 0 {
        return Err(usage("--services must be at least 1"));
    }
    crate::logging::init(matches!(args.log_format, LogFormat::Json));
    // Without `--dir`, the keys go to a fresh private directory (mode 0700, a name no other
    // user can claim first), removed when `own` drops as the demo returns: on success, error
    // or a signal's graceful stop. A `--dir` of the user's stays.
    let own;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            own = tempfile::Builder::new()
                .prefix("tidecast-demo-")
                .tempdir()
                .context("creating the demo's temporary directory")?;
            own.path().to_path_buf()
        }
    };
    let pki = crate::tls::demo_pki(&dir)?;
    let services = services(args.services);
    let cfg = config(args, &pki, &services, &dir)?;
    let sim0 = start_time(&args.start)?;
    let clock: Arc<dyn Clock> = Arc::new(SimClock {
        real0: SystemClock.now(),
        sim0,
        speed: args.speed,
    });
    if let Some(out) = &args.write_history {
        write_histories(out, &cfg, &services, sim0)?;
    }
    if let Some(url) = &args.write_models {
        return write_models(url, &cfg, &services, sim0);
    }
    let mut runtimes = runtimes(&cfg, &services, sim0, &clock);
    if let Some(url) = &args.models {
        let models = Arc::new(crate::runtime::StoredModels {
            store: tidecast_store::open(url).map_err(|e| usage(format!("--models: {e}")))?,
            fit_locally: true,
        });
        runtimes = runtimes
            .into_iter()
            .map(|r| r.with_models(models.clone()))
            .collect();
    }
    let tls = crate::tls::server_config(&pki.server_cert, &pki.server_key)?;
    let intro = Intro {
        pki,
        start_local: chrono::DateTime::from_timestamp(sim0 as i64, 0)
            .unwrap_or_default()
            .with_timezone(&Shanghai),
        speed: args.speed,
        services: services.len(),
    };
    let status_clock = clock.clone();
    let on_listening = move |at: crate::cmd::serve::Listening, store: Arc<MetricStore>| {
        intro.print(at.api, at.board);
        let _ = std::thread::Builder::new()
            .name("demo-status".into())
            .spawn(move || status_lines(store, status_clock));
    };
    crate::cmd::serve::serve(
        Serving {
            cfg: &cfg,
            tls,
            runtimes,
            live: None,
            clock,
            speed: args.speed,
            stop_after: args.duration.map(Duration::from_secs_f64),
        },
        on_listening,
    )
}

/// The serve config of the demo: one target per service on 127.0.0.1 with the demo's
/// certificates, validated as a user's file would be.
fn config(
    args: &DemoArgs,
    pki: &DemoPki,
    services: &[(String, f64, f64)],
    dir: &std::path::Path,
) -> Result<Config> {
    let mut yaml = format!(
        "listen: 127.0.0.1:{}\nshutdown_delay: 0s\ntls: {{cert_file: {:?}, key_file: {:?}}}\n",
        args.port, pki.server_cert, pki.server_key
    );
    if !args.no_board {
        yaml.push_str(&format!(
            "board: {{listen: 127.0.0.1:{}, reload: 5s}}\n",
            args.board_port
        ));
    }
    // By default no cluster: the demo CA's client certificates authenticate, and every
    // authenticated caller may read (anonymous ones get a 401).
    yaml.push_str(&match (&args.kubeconfig, args.insecure_no_auth) {
        (_, true) => "auth: {insecure_disable: true}\n".to_string(),
        (Some(kc), false) => format!(
            "auth: {{source: files, client_ca_file: {:?}, kubeconfig: {:?}, tokens: true, authorization: subject_access_review}}\n",
            pki.ca,
            std::path::absolute(kc).unwrap_or_else(|_| kc.clone())
        ),
        (None, false) => format!(
            "auth: {{source: files, client_ca_file: {:?}, authorization: allow_authenticated}}\n",
            pki.ca
        ),
    });
    yaml.push_str(&format!(
        "defaults: {{metric: {METRIC}, timezone: Asia/Shanghai, lead: 15m, quantile: 0.9, refresh: 1m, step: {:?}, window: {:?}, namespaces: [\"*\"]}}\ntargets:\n",
        args.step, args.window
    ));
    for (name, ..) in services {
        yaml.push_str(&format!("  - {{name: {name}, labels: {{service: {name}}}, query: 'sum(lb_active_connections{{service=\"{name}\"}})'}}\n"));
    }
    Config::parse(&yaml, dir)
}

/// One refresh loop per service, each reading its own synthetic tide.
fn runtimes(
    cfg: &Config,
    services: &[(String, f64, f64)],
    sim0: f64,
    clock: &Arc<dyn Clock>,
) -> Vec<TargetRuntime> {
    synthetic_sources(cfg, services, sim0, clock)
        .enumerate()
        .map(|(i, (t, src))| TargetRuntime::new(i, t, src))
        .collect()
}

/// Each target with its service's synthetic tide (seeded by its position, growing slowly
/// from four weeks before the start), read on `clock`.
fn synthetic_sources<'a>(
    cfg: &'a Config,
    services: &'a [(String, f64, f64)],
    sim0: f64,
    clock: &'a Arc<dyn Clock>,
) -> impl Iterator<Item = (Arc<Target>, Arc<dyn SeriesSource>)> + 'a {
    cfg.targets
        .iter()
        .zip(services)
        .enumerate()
        .map(move |(i, (t, (_, idle, peak)))| {
            let src: Arc<dyn SeriesSource> = Arc::new(SyntheticSource {
                generator: generator(i, *idle, *peak, sim0),
                clock: clock.clone(),
            });
            (t.clone(), src)
        })
}

/// The synthetic tide of service `i`: seeded by its position, growing slowly from four weeks
/// before the start.
fn generator(i: usize, idle: f64, peak: f64, sim0: f64) -> TidalGenerator {
    TidalGenerator::new(Shanghai, idle, peak, i as u64 + 7)
        .growth(0.004, sim0 as i64 - 28 * tidecast_core::SECS_PER_DAY)
}

/// Each service's history at `sim0` as its first refresh sees it (the window before the last
/// refit point, then every step up to the start), as `DIR/NAME.csv`.
fn write_histories(
    dir: &std::path::Path,
    cfg: &Config,
    services: &[(String, f64, f64)],
    sim0: f64,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (i, (t, (name, idle, peak))) in cfg.targets.iter().zip(services).enumerate() {
        let g = generator(i, *idle, *peak, sim0);
        let now = (sim0 as i64).div_euclid(t.step) * t.step;
        let refit = now.div_euclid(t.refit_every) * t.refit_every;
        let mut text = String::from("timestamp,value\n");
        let mut at = refit - t.window + t.step;
        while at <= now {
            text.push_str(&format!(
                "{},{}\n",
                tidecast_core::format_timestamp(at),
                g.value(at)
            ));
            at += t.step;
        }
        let path = dir.join(format!("{name}.csv"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Train each service as `tidecast train` does, on its synthetic tide as of `sim0` (the
/// window and a holdout day before the refit point), and publish the models to the store at
/// `url`, stamped with the refit point so the files are the same on every run.
fn write_models(url: &str, cfg: &Config, services: &[(String, f64, f64)], sim0: f64) -> Result<()> {
    let store = tidecast_store::open(url).map_err(|e| usage(format!("--write-models: {e}")))?;
    let clock: Arc<dyn Clock> = Arc::new(SimClock {
        real0: 0.0,
        sim0,
        speed: 0.0,
    });
    let targets = synthetic_sources(cfg, services, sim0, &clock).collect();
    let settings = crate::cmd::train::Settings {
        now: sim0 as i64,
        force: true,
        margin: 0.0,
        keep: usize::MAX,
        stamp_at_refit_point: true,
    };
    let jobs = crate::cmd::train::default_jobs();
    let outcomes = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(crate::cmd::train::train_all(
            targets,
            Arc::from(store),
            settings,
            jobs,
        ));
    crate::cmd::train::summarize(&outcomes, 0, 1)
}

/// What the demo prints once it listens: where, and commands that work as printed.
struct Intro {
    pki: DemoPki,
    start_local: chrono::DateTime<chrono_tz::Tz>,
    speed: f64,
    services: usize,
}

impl Intro {
    fn print(&self, addr: std::net::SocketAddr, board: Option<std::net::SocketAddr>) {
        let (pki, url) = (&self.pki, format!("https://{addr}"));
        let k = format!(
            "kubectl --server {url} --certificate-authority {} --client-certificate {} --client-key {}",
            pki.ca.display(),
            pki.client_cert.display(),
            pki.client_key.display()
        );
        // Best effort: a closed stdout must not stop the server.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "tidecast demo: serving {url} with a simulated clock from {} Asia/Shanghai at {}x",
            self.start_local.format("%Y-%m-%d %H:%M"),
            self.speed
        );
        let _ = writeln!(
            out,
            "Predicted load of {} services, {METRIC}{{service=...}}, 15 minutes ahead. Try:\n",
            self.services
        );
        let _ = writeln!(
            out,
            "  {k} get --raw '/apis/external.metrics.k8s.io/v1beta1/namespaces/default/{METRIC}?labelSelector=service%3Dtv-api'"
        );
        let _ = writeln!(out, "  {k} get --raw /apis/external.metrics.k8s.io/v1beta1");
        let _ = writeln!(
            out,
            "  {k} api-resources --api-group=external.metrics.k8s.io"
        );
        let c = format!(
            "curl -s --cacert {} --cert {} --key {}",
            pki.ca.display(),
            pki.client_cert.display(),
            pki.client_key.display()
        );
        let _ = writeln!(out, "  {c} {url}/values/namespaces/default/{METRIC}");
        let _ = writeln!(
            out,
            "  {c} {url}/metrics | grep tidecast_target_served_value\n"
        );
        if let Some(board) = board {
            let _ = writeln!(
                out,
                "The live board (every service, its band and state; reloads every 5 s): http://{board}/\n"
            );
        }
        let _ = writeln!(
            out,
            "Without the client certificate the server refuses (401 Unauthorized):\n"
        );
        let _ = writeln!(
            out,
            "  curl -s --cacert {} {url}/apis/external.metrics.k8s.io/v1beta1\n",
            pki.ca.display()
        );
        let _ = out.flush();
    }
}

/// Print one line per simulated 5 minutes: local time, then each service's live and
/// served value and state, so the rise ahead of the peak is visible as it happens.
fn status_lines(store: Arc<MetricStore>, clock: Arc<dyn Clock>) {
    let mut last_slot = i64::MIN;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = clock.now() as i64;
        let slot = now / 300;
        if slot == last_slot {
            continue;
        }
        last_slot = slot;
        let local = chrono::DateTime::from_timestamp(now, 0)
            .unwrap_or_default()
            .with_timezone(&Shanghai);
        let reg = store.registry();
        let shown = reg.len().min(SERVICES.len());
        // Start reporting once every shown service has data (their first refreshes are
        // spread over one refresh interval).
        if (0..shown).any(|i| reg.get(i).live.is_none()) {
            last_slot = i64::MIN;
            continue;
        }
        let mut line = format!("{} Shanghai", local.format("%H:%M"));
        for i in 0..shown {
            let v = reg.get(i);
            let s = v.serve(now);
            let live = v
                .live
                .map_or("-".to_string(), |l| format!("{:.0}", l.value));
            let served = s
                .value
                .map_or_else(|e| format!("error ({e})"), |x| format!("{x:.0}"));
            line.push_str(&format!(
                " | {}: live {live}, served {served} [{}]",
                v.name,
                s.state.as_str()
            ));
        }
        println!("{line}");
    }
}
