use crate::cli::{LogFormat, ServeArgs};
use crate::config::{AuthSource, Config};
use crate::runtime::{PrometheusSource, SeriesSource, StoredModels, TargetRuntime, spawn_all};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use tidecast_server::{AppState, Clock, MetricStore, SystemClock, router};

pub(crate) fn run(args: &ServeArgs) -> Result<()> {
    let cfg = Config::load(&args.config)?;
    if !args.check {
        crate::logging::init(matches!(args.log_format, LogFormat::Json));
    }
    let prom = cfg.prometheus.as_ref().ok_or_else(|| {
        crate::history::usage("prometheus: required for serve (url of the Prometheus HTTP API)")
    })?;
    // Reads the token, password and CA files, so `--check` finds a missing one.
    let client = prom.client().context("prometheus")?;
    let tls = crate::tls::server_config(&cfg.tls.cert_file, &cfg.tls.key_file)
        .map_err(|e| crate::history::usage(format!("tls: {e:#}")))?;
    if args.check {
        // Everything a start would read is read: the file, holidays, tokens, CA bundles and
        // the serving certificate and key (parsed and matched); nothing is contacted.
        if let Some(auth) = cfg.auth.as_ref().filter(|a| a.source == AuthSource::Files) {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .context("starting a runtime")?
                .block_on(crate::cluster::files_settings(auth))
                .map_err(|e| crate::history::usage(format!("{e:#}")))?;
        }
        let n = cfg.targets.len() + cfg.live.len();
        let live = match cfg.live.len() {
            0 => String::new(),
            l => format!(" ({l} live)"),
        };
        println!(
            "{}: ok, {n} target{}{live}",
            args.config.display(),
            if n == 1 { "" } else { "s" }
        );
        return Ok(());
    }
    let models = cfg
        .models
        .as_ref()
        .map(|m| -> Result<_> {
            Ok(Arc::new(StoredModels {
                store: tidecast_store::open(&m.store).context("models.store")?,
                fit_locally: m.fit_locally,
            }))
        })
        .transpose()?;
    let runtimes: Vec<TargetRuntime> = cfg
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let src: Arc<dyn SeriesSource> = Arc::new(PrometheusSource {
                client: client.clone(),
                query: t.query.clone(),
            });
            let rt = TargetRuntime::new(i, t.clone(), src);
            match &models {
                Some(m) => rt.with_models(m.clone()),
                None => rt,
            }
        })
        .collect();
    let live = (!cfg.live.is_empty()).then(|| {
        Arc::new(crate::live::PrometheusLive::new(client.clone(), &cfg.live))
            as Arc<dyn tidecast_server::LiveMetrics>
    });
    serve(
        Serving {
            cfg: &cfg,
            tls,
            runtimes,
            live,
            clock: Arc::new(SystemClock),
            speed: 1.0,
            stop_after: None,
        },
        |_, _| {},
    )
}

/// What [`serve`] runs.
pub(crate) struct Serving<'a> {
    /// The validated configuration (listener, timeouts, TLS files, targets).
    pub(crate) cfg: &'a Config,
    /// The serving certificate, loaded (the files are watched for renewals).
    pub(crate) tls: Arc<rustls::ServerConfig>,
    /// One refresh loop per target, in the config's order.
    pub(crate) runtimes: Vec<TargetRuntime>,
    /// The pass-through metrics, if the config has live targets.
    pub(crate) live: Option<Arc<dyn tidecast_server::LiveMetrics>>,
    /// The clock of the request path and the refresh loops.
    pub(crate) clock: Arc<dyn Clock>,
    /// Clock seconds per real second: 1, or the demo's accelerated speed.
    pub(crate) speed: f64,
    /// Stop after this long, as if signalled (the demo's `--duration`).
    pub(crate) stop_after: Option<Duration>,
}

/// Where a started server listens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Listening {
    /// The external metrics API (TLS).
    pub(crate) api: std::net::SocketAddr,
    /// The live board (plain HTTP), when configured.
    pub(crate) board: Option<std::net::SocketAddr>,
}

/// Build the store, start the refresh loops and serve until SIGTERM/SIGINT (or `stop_after`);
/// `on_listening` is called with the bound addresses once the listeners are up.
pub(crate) fn serve(
    s: Serving<'_>,
    on_listening: impl FnOnce(Listening, Arc<MetricStore>) + Send + 'static,
) -> Result<()> {
    let (rt, models) = runtimes()?;
    let cfg = s.cfg;
    let views = cfg
        .targets
        .iter()
        .map(|t| TargetRuntime::initial_view(t))
        .collect();
    let store = Arc::new(MetricStore::new(views));
    let runtimes = s.runtimes.into_iter().map(|r| match &cfg.board {
        Some(b) => r.with_board(b.span),
        None => r,
    });
    let _loops = {
        let _in_models = models.enter();
        spawn_all(runtimes.collect(), store.clone(), s.clock.clone(), s.speed)
    };
    let board_clock = s.clock.clone();
    let state = app_state(cfg, store.clone(), s.clock);
    let served = rt.block_on(async move {
        let state = gated(cfg, state, s.live).await?;
        let board = match &cfg.board {
            Some(b) => Some(start_board(b, store.clone(), board_clock).await?),
            None => None,
        };
        let handle = axum_server::Handle::new();
        tokio::spawn(drain_on_signal(
            handle.clone(),
            state.draining.clone(),
            cfg.shutdown_delay,
            s.stop_after,
        ));
        let h = handle.clone();
        tokio::spawn(async move {
            if let Some(api) = h.listening().await {
                tracing::info!(addr = %api, "serving external.metrics.k8s.io/v1beta1 over TLS");
                on_listening(Listening { api, board }, store);
            }
        });
        let rustls_config = axum_server::tls_rustls::RustlsConfig::from_config(s.tls);
        tokio::spawn(crate::tls::reload_on_change(
            cfg.tls.clone(),
            rustls_config.clone(),
            state.telemetry.clone(),
        ));
        listener(cfg, rustls_config, handle)
            .serve(router(state).into_make_service())
            .await
            .with_context(|| format!("serving on {}", cfg.listen))
    });
    // In-flight refits are abandoned, not awaited: nothing they produce outlives the process.
    models.shutdown_background();
    served
}

/// The router's state: the store, the clock and the `/metrics` families the config asks for.
fn app_state(
    cfg: &Config,
    store: Arc<MetricStore>,
    clock: Arc<dyn tidecast_server::Clock>,
) -> AppState {
    let families = cfg.target_metrics.resolve(cfg.targets.len());
    tracing::info!(
        configured = cfg.target_metrics.as_str(),
        exported = families.as_str(),
        targets = cfg.targets.len(),
        "per-target families on /metrics"
    );
    AppState::with_target_metrics(store, clock, env!("CARGO_PKG_VERSION"), cfg.target_metrics)
}

/// `state` behind the authentication gate (unless the config turns it off) and with the
/// pass-through metrics, if any. Fail closed: settings that do not load stop the start.
async fn gated(
    cfg: &Config,
    state: AppState,
    live: Option<Arc<dyn tidecast_server::LiveMetrics>>,
) -> Result<AppState> {
    let state = match &cfg.auth {
        Some(auth) => {
            let gate = crate::cluster::gate(auth, state.telemetry.clone())
                .await
                .context("authentication settings")?;
            state.with_auth(gate)
        }
        None => {
            tracing::warn!(
                "auth.insecure_disable is set: every caller is served, unauthenticated and unauthorized"
            );
            state
        }
    };
    Ok(match live {
        Some(live) => state.with_live(live),
        None => state,
    })
}

/// The live board on its own plain-HTTP listener: a read-only page, with its own access
/// rule (board.allow, board.token_file), apart from the API's authentication.
async fn start_board(
    b: &crate::config::Board,
    store: Arc<MetricStore>,
    clock: Arc<dyn tidecast_server::Clock>,
) -> Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(b.listen)
        .await
        .with_context(|| format!("board.listen: binding {}", b.listen))?;
    let addr = listener.local_addr().context("board.listen")?;
    let settings = tidecast_server::BoardSettings {
        allow: b.allow.clone(),
        token: b.token.clone(),
        reload_secs: b.reload.as_secs().max(1),
        max_targets: b.max_targets,
    };
    let app = tidecast_server::board_router(store, clock, settings)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tracing::info!(%addr, "serving the live board over HTTP");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the live board stopped");
        }
    });
    Ok(addr)
}

/// Two runtimes, so model work never queues in front of a request: the serving runtime only
/// runs TLS, HTTP and the handlers (which read a snapshot); the model runtime runs every
/// refresh loop (history pulls, state updates, forecasts) and, in its blocking pool, the
/// refits, on background threads (nice +5, SCHED_IDLE: see `sys::background_thread`).
fn runtimes() -> Result<(tokio::runtime::Runtime, tokio::runtime::Runtime)> {
    let serving = tokio::runtime::Builder::new_multi_thread()
        .thread_name("tidecast-serve")
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .context("starting the serving runtime")?;
    // One worker: refresh loops mostly wait; the CPU-heavy refits run in the blocking pool,
    // bounded by a semaphore, so few blocking threads are needed either.
    let models = tokio::runtime::Builder::new_multi_thread()
        .thread_name("tidecast-model")
        .worker_threads(1)
        .max_blocking_threads(16)
        .on_thread_start(|| crate::sys::background_thread(MODEL_NICE))
        .enable_all()
        .build()
        .context("starting the model runtime")?;
    Ok((serving, models))
}

/// On SIGTERM/SIGINT: fail readiness first and keep answering for the drain delay, so the
/// endpoints drop this replica before its listener closes (the aggregator would otherwise
/// send requests to a closed port); a second signal cuts it short.
async fn drain_on_signal(
    handle: axum_server::Handle<std::net::SocketAddr>,
    draining: Arc<std::sync::atomic::AtomicBool>,
    delay: Duration,
    stop_after: Option<Duration>,
) {
    if shutdown_signal(stop_after).await && !delay.is_zero() {
        draining.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            delay_s = delay.as_secs_f64(),
            "draining: /readyz fails, requests are still answered"
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {},
            _ = shutdown_signal(None) => {},
        }
    }
    tracing::info!("shutting down");
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
}

/// The TLS listener on the configured address. A connection that does not finish its headers
/// in time is closed (axum-server turns hyper's default off), so slow or stuck clients cannot
/// pile up connections. HTTP/2 connections (the aggregator may use one for every request)
/// are pinged when idle, so a peer that vanished without closing is noticed.
fn listener(
    cfg: &Config,
    tls: axum_server::tls_rustls::RustlsConfig,
    handle: axum_server::Handle<std::net::SocketAddr>,
) -> axum_server::Server<
    std::net::SocketAddr,
    crate::tls::PeerCertAcceptor<axum_server::accept::TcpConfigAcceptor>,
> {
    let acceptor = crate::tls::PeerCertAcceptor::new(
        axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(tcp_acceptor()),
    );
    let mut server = axum_server::bind(cfg.listen)
        .acceptor(acceptor)
        .handle(handle);
    // hyper's hard limits sit above the router's (tidecast_server::limits), so a request over
    // the router's gets a Status; past hyper's, hyper answers an empty 431/414 by itself.
    use tidecast_server::limits::{
        HYPER_MAX_BUF_BYTES, HYPER_MAX_HEADER_LIST_BYTES, HYPER_MAX_HEADERS,
    };
    server
        .http_builder()
        .http1()
        .header_read_timeout(cfg.header_read_timeout)
        .max_buf_size(HYPER_MAX_BUF_BYTES)
        .max_headers(HYPER_MAX_HEADERS);
    server
        .http_builder()
        .http2()
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_header_list_size(HYPER_MAX_HEADER_LIST_BYTES);
    server
}

/// Socket options for accepted connections. TCP_NODELAY: without it (axum-server's default)
/// Nagle's algorithm holds a response written behind a still unacknowledged segment (the TLS
/// session tickets after a handshake, or an earlier HTTP/2 stream's frames) until the
/// client's delayed ACK, which delays the first request on a new connection. Keepalive
/// probes find peers that vanished without closing.
fn tcp_acceptor() -> axum_server::accept::TcpConfigAcceptor {
    use axum_server::accept::{TcpConfigAcceptor, TcpKeepaliveConfig, TcpSocketConfig};
    TcpConfigAcceptor::new(
        TcpSocketConfig::new().nodelay(true).keepalive(
            TcpKeepaliveConfig::new()
                .time(Duration::from_secs(60))
                .interval(Duration::from_secs(10)),
        ),
    )
}

/// How much lower the model threads' priority is (nice increment).
const MODEL_NICE: i32 = 5;

/// Wait for SIGTERM, SIGINT or `stop_after`; true for a signal.
async fn shutdown_signal(stop_after: Option<Duration>) -> bool {
    let term = async {
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    };
    let timer = async {
        match stop_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => true,
        _ = term => true,
        _ = timer => false,
    }
}

#[cfg(test)]
mod tests {
    use axum_server::accept::Accept;

    #[tokio::test]
    async fn accepted_connections_get_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let _client = client.unwrap();
        let (stream, _) = accepted.unwrap();
        assert!(
            !stream.nodelay().unwrap(),
            "the kernel's default is Nagle on"
        );
        let (stream, ()) = super::tcp_acceptor().accept(stream, ()).await.unwrap();
        assert!(stream.nodelay().unwrap());
    }
}
