//! Reliability under a failing Prometheus, on tokio's paused clock: the real refresh loops
//! (`spawn_all`) behind the real router, asked as an HPA asks, every 15 s.

use crate::runtime::{SeriesSource, SourceError, SyntheticSource, TargetRuntime, spawn_all};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tidecast_core::Sample;
use tidecast_server::{AppState, Clock, Freshness, MetricStore, router};
use tower::ServiceExt;

/// What the stand-in Prometheus does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Behaviour {
    Up,
    Down,
    /// Answers, 10 s late.
    Slow,
    /// Answers with a body that is not the API's JSON.
    Garbage,
}

#[derive(Debug)]
struct Prometheus {
    inner: SyntheticSource,
    behaviour: Mutex<Behaviour>,
}

impl Prometheus {
    fn set(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap() = b;
    }
}

impl SeriesSource for Prometheus {
    fn range(
        &self,
        start: i64,
        end: i64,
        step: i64,
    ) -> BoxFuture<'_, Result<Vec<Sample>, SourceError>> {
        let url = "http://prometheus:9090/api/v1/query_range".to_string();
        match *self.behaviour.lock().unwrap() {
            Behaviour::Up => self.inner.range(start, end, step),
            Behaviour::Down => Box::pin(async move {
                Err(tidecast_prometheus::Error::Connect {
                    url,
                    source: Box::new(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        "connection refused",
                    )),
                }
                .into())
            }),
            Behaviour::Slow => Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                self.inner.range(start, end, step).await
            }),
            Behaviour::Garbage => Box::pin(async move {
                Err(tidecast_prometheus::Error::Decode {
                    url,
                    message: "expected value at line 1 column 1".into(),
                }
                .into())
            }),
        }
    }
}

/// Unix time that follows tokio's (paused) clock.
#[derive(Debug)]
struct TokioClock {
    base: f64,
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> f64 {
        self.base + self.start.elapsed().as_secs_f64()
    }
}

/// One tidal target behind the router, its refresh loop running; the stand-in Prometheus to
/// steer.
struct Bench {
    app: AppState,
    prometheus: Arc<Prometheus>,
    _loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Bench {
    fn start() -> Self {
        // 2026-10-20T08:30:00Z: 16:30 in Shanghai, before the evening peak.
        let clock: Arc<dyn Clock> = Arc::new(TokioClock {
            base: 1_792_485_000.0,
            start: tokio::time::Instant::now(),
        });
        let prometheus = Arc::new(Prometheus {
            inner: SyntheticSource {
                generator: tidecast_core::synth::TidalGenerator::new(
                    chrono_tz::Tz::Asia__Shanghai,
                    200.0,
                    4000.0,
                    1,
                ),
                clock: clock.clone(),
            },
            behaviour: Mutex::new(Behaviour::Up),
        });
        let yaml = "tls: {cert_file: a, key_file: b}\ntargets:\n  - {name: tv, metric: lb_connections_predicted, labels: {service: tv}, query: x, timezone: Asia/Shanghai, window: 8d}\n";
        let cfg = crate::config::Config::parse(yaml, std::path::Path::new("."))
            .unwrap()
            .targets
            .remove(0);
        let store = Arc::new(MetricStore::new(vec![TargetRuntime::initial_view(&cfg)]));
        let rt = TargetRuntime::new(0, cfg, prometheus.clone());
        let loops = spawn_all(vec![rt], store.clone(), clock.clone(), 1.0);
        Self {
            app: AppState::new(store, clock, "test"),
            prometheus,
            _loops: loops,
        }
    }

    /// Status and body of a GET, and how much (paused) time it took.
    async fn get(&self, path: &str) -> (StatusCode, String, Duration) {
        let t0 = tokio::time::Instant::now();
        let res = router(self.app.clone())
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into(), t0.elapsed())
    }

    /// The HPA's request: its status and how long it waited.
    async fn hpa(&self) -> (StatusCode, Duration) {
        let (s, _, took) = self
            .get("/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted?labelSelector=service%3Dtv")
            .await;
        (s, took)
    }

    /// The state `/metrics` shows for the target.
    async fn state(&self) -> Freshness {
        let (_, body, _) = self.get("/metrics").await;
        Freshness::ALL
            .into_iter()
            .find(|s| {
                body.contains(&format!(
                    "tidecast_target_state{{target=\"tv\",state=\"{}\"}} 1",
                    s.as_str()
                ))
            })
            .unwrap_or_else(|| panic!("no state in /metrics:\n{body}"))
    }

    /// Every 15 s for `span`: the HPA's answers and the states seen, in order.
    async fn sync_for(&self, span: Duration) -> (Vec<StatusCode>, Vec<Freshness>, Duration) {
        let (mut codes, mut states, mut longest) = (Vec::new(), Vec::new(), Duration::ZERO);
        let end = tokio::time::Instant::now() + span;
        while tokio::time::Instant::now() < end {
            tokio::time::sleep(Duration::from_secs(15)).await;
            let (code, took) = self.hpa().await;
            codes.push(code);
            longest = longest.max(took);
            let state = self.state().await;
            if states.last() != Some(&state) {
                states.push(state);
            }
        }
        (codes, states, longest)
    }

    /// Until the target is fresh and ready (its first fit done).
    async fn ready(&self) {
        for _ in 0..80 {
            tokio::time::sleep(Duration::from_secs(15)).await;
            if self.get("/readyz").await.0 == StatusCode::OK {
                return;
            }
        }
        panic!("never ready");
    }
}

/// An hour without Prometheus (under `hard_limit`, 2 h): every HPA sync is answered 200,
/// through fresh, last_good and model_only, each visible in `/metrics`; fresh again once
/// Prometheus is back.
#[tokio::test(start_paused = true)]
async fn an_hour_without_prometheus_is_answered_without_a_5xx_through_every_state() {
    let bench = Bench::start();
    bench.ready().await;
    bench.prometheus.set(Behaviour::Down);
    let (codes, states, _) = bench.sync_for(Duration::from_secs(3600)).await;
    assert_eq!(codes.len(), 240);
    assert!(codes.iter().all(|c| *c == StatusCode::OK), "{codes:?}");
    assert_eq!(
        states,
        [Freshness::Fresh, Freshness::LastGood, Freshness::ModelOnly]
    );
    let (_, body, _) = bench.get("/readyz").await;
    assert!(body.contains("model_only"), "{body}");
    bench.prometheus.set(Behaviour::Up);
    let (codes, states, _) = bench.sync_for(Duration::from_secs(180)).await;
    assert!(codes.iter().all(|c| *c == StatusCode::OK));
    assert_eq!(states.last(), Some(&Freshness::Fresh), "{states:?}");
}

/// A Prometheus answering 10 s late, or with garbage: no request waits on it (on the paused
/// clock a request that awaited the refresh would take its 10 s), each is answered 200, and
/// the garbage is counted as failed refreshes.
#[tokio::test(start_paused = true)]
async fn a_slow_or_garbage_prometheus_never_holds_a_request() {
    let bench = Bench::start();
    bench.ready().await;
    bench.prometheus.set(Behaviour::Slow);
    let (codes, _, longest) = bench.sync_for(Duration::from_secs(600)).await;
    assert!(codes.iter().all(|c| *c == StatusCode::OK), "{codes:?}");
    assert_eq!(
        longest,
        Duration::ZERO,
        "a request waited on the slow refresh"
    );
    bench.prometheus.set(Behaviour::Garbage);
    let (codes, states, longest) = bench.sync_for(Duration::from_secs(600)).await;
    assert!(codes.iter().all(|c| *c == StatusCode::OK), "{codes:?}");
    assert_eq!(longest, Duration::ZERO);
    assert_eq!(states, [Freshness::Fresh, Freshness::LastGood]);
    let (_, metrics, _) = bench.get("/metrics").await;
    let failures = metrics
        .lines()
        .find(|l| {
            l.starts_with("tidecast_target_refreshes_total{target=\"tv\",result=\"failure\"}")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(failures >= 9, "a failed refresh a minute: {failures}");
}
