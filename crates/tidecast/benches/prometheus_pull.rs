//! Pull 28 days x 1 minute x 100 series from a real Prometheus with tidecast's client, and
//! with `curl` issuing the same chunked queries (same chunks, same parallelism) in the same
//! run. `cargo bench -p tidecast --bench prometheus_pull` prints the wall times (median of
//! 3 runs each), the ratio, and memory against the data size. No assertion: numbers go to
//! docs/benchmarks.md.

// A benchmark measures real elapsed time.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::process::Command;
use std::time::{Duration, Instant};
use tidecast_prometheus::{Client, ClientConfig, RangeQuery};
use tidecast_testing::{FixtureSeries, PrometheusFixture, status_mib};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test" || a == "--quick");
    let (n_series, days) = if quick { (3, 2) } else { (100, 28) };
    let parallel = 4;
    let series: Vec<FixtureSeries> = (0..n_series)
        .map(|i| {
            FixtureSeries::service(
                &format!("svc-{i:03}"),
                500.0 + 40.0 * i as f64,
                i as u64 + 1,
            )
        })
        .collect();
    let t = Instant::now();
    let p = PrometheusFixture::start(series, days, 60, None)
        .expect("prometheus fixture (apt-get install -y prometheus)");
    println!(
        "fixture: {n_series} series x {days} d x 1 min backfilled and started in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let q = RangeQuery {
        query: p.metric.clone(),
        start: p.start,
        end: p.end,
        step: 60,
    };
    let chunks = q.chunks();
    let urls: Vec<String> = chunks
        .iter()
        .map(|(s, e)| {
            format!(
                "{}/api/v1/query_range?query={}&start={s}&end={e}&step=60",
                p.url(),
                p.metric
            )
        })
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(
        ClientConfig::new(p.url())
            .with_max_parallel(parallel)
            .with_timeout(Duration::from_secs(300)),
    )
    .unwrap();
    // Warm Prometheus' caches once so both contestants see the same server.
    let warm = rt.block_on(client.query_range(&q, &|_, _| {})).unwrap();
    let samples: usize = warm.iter().map(|s| s.samples.len()).sum();
    drop(warm);
    let rss_before = status_mib("VmRSS:");

    let mut curl_t = Vec::new();
    let mut ours_t = Vec::new();
    let mut bytes = 0u64;
    for _ in 0..3 {
        // curl: the same chunks, `parallel` at a time, bodies discarded.
        let t = Instant::now();
        for batch in urls.chunks(parallel) {
            let kids: Vec<_> = batch
                .iter()
                .map(|u| {
                    Command::new("curl")
                        .args(["-s", "-o", "/dev/null", "-w", "%{size_download}", u])
                        .output()
                })
                .collect();
            for k in kids {
                let out = k.expect("curl runs");
                bytes = bytes.max(String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0));
            }
        }
        curl_t.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let r = rt.block_on(client.query_range(&q, &|_, _| {})).unwrap();
        ours_t.push(t.elapsed().as_secs_f64());
        assert_eq!(r.iter().map(|s| s.samples.len()).sum::<usize>(), samples);
    }
    let (c, o) = (median(curl_t), median(ours_t));
    println!(
        "{} chunks, {samples} samples; largest chunk body {:.1} MB",
        chunks.len(),
        bytes as f64 / 1e6
    );
    println!("curl (same chunks, {parallel} in parallel, bodies discarded): {c:.2} s");
    println!(
        "tidecast client (fetch + parse into samples):           {o:.2} s  ({:.2}x curl)",
        o / c
    );
    println!(
        "memory: samples held {:.0} MiB (16 B each); process RSS before a pull {rss_before:.0} MiB, peak {:.0} MiB",
        samples as f64 * 16.0 / 1048576.0,
        status_mib("VmHWM:")
    );
}
