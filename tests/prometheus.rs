//! End-to-end tests against a real Prometheus (Debian's `prometheus` package, installed by
//! `.ci/run`) started on 127.0.0.1 with backfilled tidal history.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tidecast_prometheus::{Client, Error, RangeQuery};
use tidecast_testing::{
    Binary, FakeHttp, FixtureSeries, PrometheusFixture, Reply, prometheus_client as client,
    prometheus_client_config, unix_now,
};

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));

fn services() -> Vec<FixtureSeries> {
    vec![
        FixtureSeries::service("tv-api", 4000.0, 1),
        FixtureSeries::service("epg", 900.0, 2),
        FixtureSeries::service("login", 2500.0, 3),
    ]
}

fn tidecast(args: &[&str]) -> std::process::Output {
    TIDECAST.run(args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_from_a_real_prometheus() {
    let p = PrometheusFixture::start(services(), 28, 60, None).expect("prometheus fixture");
    let c = client(&p.url());

    // The full 28-day pull spans 4 chunks and equals the generated data sample for sample.
    let q = RangeQuery {
        query: p.metric.clone(),
        start: p.start,
        end: p.end,
        step: p.step,
    };
    assert_eq!(q.chunks().len(), 4);
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let got = c
        .query_range(&q, &move |_, _| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .await
        .unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);
    assert_eq!(got.len(), 3, "one series per label set");
    for fs in &p.series {
        let s = got
            .iter()
            .find(|s| s.labels.get("service") == Some(&fs.labels[0].1))
            .expect("series present");
        assert_eq!(s.labels.get("lb").map(String::as_str), Some("slb-1"));
        assert_eq!(
            s.samples.len() as i64,
            (p.end - p.start) / p.step + 1,
            "no gaps or duplicates at chunk edges"
        );
        for (k, x) in s.samples.iter().enumerate() {
            let t = p.start + k as i64 * p.step;
            assert_eq!(x.timestamp, t as f64);
            assert_eq!(x.value, fs.generator.value(t), "{} at {t}", fs.labels[0].1);
        }
    }

    // Exactly 11,000 steps is one call.
    let edge = RangeQuery {
        query: format!("{}{{service=\"epg\"}}", p.metric),
        start: p.start,
        end: p.start + 11_000 * 60,
        step: 60,
    };
    assert_eq!(edge.chunks().len(), 1);
    assert_eq!(
        c.query_range(&edge, &|_, _| {}).await.unwrap()[0]
            .samples
            .len(),
        11_001
    );

    // Aggregation by label keeps one series per service.
    let agg = RangeQuery {
        query: format!("sum by (service) ({})", p.metric),
        start: p.end - 3600,
        end: p.end,
        step: 60,
    };
    assert_eq!(c.query_range(&agg, &|_, _| {}).await.unwrap().len(), 3);

    // A PromQL error is Prometheus' own words, not retried.
    let bad = RangeQuery {
        query: "sum(".into(),
        ..agg.clone()
    };
    match c.query_range(&bad, &|_, _| {}).await.unwrap_err() {
        Error::Query {
            status,
            error_type,
            error,
            ..
        } => {
            assert_eq!((status, error_type.as_str()), (400, "bad_data"));
            assert!(error.contains("parse error"), "{error}");
        }
        other => panic!("{other}"),
    }

    // An empty result is an empty list.
    let none = RangeQuery {
        query: "no_such_metric".into(),
        ..agg.clone()
    };
    assert!(c.query_range(&none, &|_, _| {}).await.unwrap().is_empty());

    // Incremental refresh: the first pull fills the window, later ones fetch only what is
    // new plus a small overlap for late samples, and the window stays bounded.
    let mut store = tidecast_prometheus::SeriesStore::new(
        format!("{}{{service=\"epg\"}}", p.metric),
        60,
        3600,
        120,
    );
    let first = store.refresh(&c, p.end - 1800).await.unwrap();
    assert_eq!(
        (first.from, first.to),
        (p.end - 1800 - 3600 + 60, p.end - 1800)
    );
    assert_eq!(first.samples, 60);
    let second = store.refresh(&c, p.end).await.unwrap();
    assert_eq!(
        second.from,
        p.end - 1800 - 120,
        "only the new half hour plus the overlap"
    );
    assert_eq!(second.samples, 33);
    let held = store.series().values().next().unwrap();
    assert_eq!(held.len(), 60, "the window stays one hour");
    let epg = p.series.iter().find(|s| s.labels[0].1 == "epg").unwrap();
    for x in held {
        assert_eq!(x.value, epg.generator.value(x.timestamp as i64));
    }
    assert_eq!(held.last().unwrap().timestamp, p.end as f64);

    // The instant query with a range selector returns raw samples.
    let raw = c
        .query(
            &format!("{}{{service=\"tv-api\"}}[1h]", p.metric),
            Some(p.end as f64),
        )
        .await
        .unwrap();
    assert_eq!(raw[0].samples.len(), 61, "a closed hour at a 1-minute step");

    // `tidecast fetch` writes long format with one column per label.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pull.csv");
    let end = p.end.to_string();
    let o = tidecast(&[
        "fetch",
        "--prometheus",
        &p.url(),
        "--query",
        &p.metric,
        "--range",
        "2d",
        "--end",
        &end,
        "--step",
        "1m",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,value,__name__,lb,service"));
    assert_eq!(lines.count(), 3 * 2 * 1440);

    // Parquet too.
    let pq = dir.path().join("pull.parquet");
    let o = tidecast(&[
        "fetch",
        "--prometheus",
        &p.url(),
        "--query",
        &p.metric,
        "--range",
        "1d",
        "--end",
        &end,
        "--out",
        pq.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::metadata(&pq).unwrap().len() > 1000);

    // `forecast --prometheus` on one aggregated series.
    let o = tidecast(&[
        "forecast",
        "--prometheus",
        &p.url(),
        "--query",
        &format!("sum({}{{service=\"tv-api\"}})", p.metric),
        "--range",
        "21d",
        "--end",
        &end,
        "--horizon",
        "1h",
        "--timezone",
        "Asia/Shanghai",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), 61);

    // ...and a clear error when the query returns several series.
    let o = tidecast(&[
        "forecast",
        "--prometheus",
        &p.url(),
        "--query",
        &p.metric,
        "--range",
        "3d",
        "--end",
        &end,
        "--horizon",
        "1h",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("returned 3 series") && err.contains(&p.url()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stopped_mid_pull_is_an_error_not_a_partial_result() {
    // 15-second steps over 28 days: 15 chunks fetched one at a time.
    let p = PrometheusFixture::start(
        vec![FixtureSeries::service("tv-api", 4000.0, 1)],
        28,
        15,
        None,
    )
    .expect("prometheus fixture");
    let url = p.url();
    let pid = p.pid().unwrap();
    let c = Client::new(prometheus_client_config(&url).with_max_parallel(1)).unwrap();
    let q = RangeQuery {
        query: p.metric.clone(),
        start: p.start,
        end: p.end,
        step: 15,
    };
    assert!(q.chunks().len() >= 10);
    let killed = std::sync::atomic::AtomicBool::new(false);
    let r = c
        .query_range(&q, &|done, _| {
            if done == 1 && !killed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        })
        .await;
    let e = r.expect_err("a pull interrupted by a dead server must fail");
    assert!(e.to_string().contains(&url), "{e}");
    assert!(
        matches!(e, Error::Connect { .. } | Error::Transport { .. }),
        "{e}"
    );
    drop(p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_scrapes_continue_the_backfilled_series() {
    let exporter = FakeHttp::start(vec![Reply::Status(
        200,
        "lb_active_connections{service=\"tv-api\",lb=\"slb-1\"} 4242\n".into(),
    )]);
    let target = exporter.url().trim_start_matches("http://").to_string();
    let p = PrometheusFixture::start(
        vec![FixtureSeries::service("tv-api", 4000.0, 1)],
        2,
        60,
        Some(target),
    )
    .expect("prometheus fixture");
    let c = client(&p.url());
    // Wait for live samples (the first scrape lands a few seconds after ready).
    let mut live = false;
    for _ in 0..100 {
        let now = unix_now();
        let r = c
            .query("lb_active_connections[30s]", Some(now))
            .await
            .unwrap();
        if r.iter()
            .any(|s| s.samples.iter().any(|x| x.value == 4242.0))
        {
            live = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(live, "live samples arrived");
    // Let a couple more scrapes land so the range (whole seconds) ends after one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let now = unix_now() as i64;
    let r = c
        .query_range(
            &RangeQuery {
                query: "lb_active_connections".into(),
                start: p.end - 600,
                end: now,
                step: 1,
            },
            &|_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(
        r.len(),
        1,
        "live and backfilled samples are one series: {:?}",
        r.iter().map(|s| &s.labels).collect::<Vec<_>>()
    );
    let s = &r[0].samples;
    assert_eq!(s[0].value, p.series[0].generator.value(p.end - 600));
    let tail: Vec<(f64, f64)> = s
        .iter()
        .rev()
        .take(5)
        .map(|x| (x.timestamp, x.value))
        .collect();
    assert_eq!(
        s.last().unwrap().value,
        4242.0,
        "tail {tail:?}, end {}, now {now}",
        p.end
    );
}
