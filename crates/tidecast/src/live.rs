//! Pass-through metrics (`kind: live` targets): the request's selector turned into PromQL
//! label matchers in the target's query (prometheus-adapter's `<<.LabelMatchers>>`), an
//! instant query bounded by the target's timeout, its answer reused for the target's
//! refresh interval, and one query in flight per distinct query however many HPAs ask.

use crate::config::LiveTarget;
use crate::report::Causes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tidecast_server::{LabelSelector, LiveAnswer, LiveMetrics, LiveSeries, Matcher};
use tokio::time::Instant;

/// The placeholder of the selector's matchers in a live target's query.
pub(crate) const LABEL_MATCHERS: &str = "<<.LabelMatchers>>";
/// Distinct queries remembered at most; past it, expired answers are dropped.
const MAX_CACHED: usize = 4096;

type Answer = Result<Arc<Vec<LiveSeries>>, String>;

/// An answer, or the query that will give it, and when it was asked.
struct Entry {
    asked: Instant,
    answer: Shared<BoxFuture<'static, Answer>>,
}

/// The live targets of a config, answered from Prometheus.
pub(crate) struct PrometheusLive {
    client: tidecast_prometheus::Client,
    targets: HashMap<String, LiveTarget>,
    cache: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for PrometheusLive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusLive")
            .field("targets", &self.targets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl PrometheusLive {
    pub(crate) fn new(client: tidecast_prometheus::Client, targets: &[LiveTarget]) -> Self {
        Self {
            client,
            targets: targets
                .iter()
                .map(|t| (t.metric.clone(), t.clone()))
                .collect(),
            cache: Mutex::default(),
        }
    }

    /// The cached answer to `promql` if it is younger than `t.refresh`, else a new query.
    fn answer(&self, t: &LiveTarget, promql: String) -> Shared<BoxFuture<'static, Answer>> {
        let now = Instant::now();
        let fresh = |e: &Entry| now.duration_since(e.asked).as_secs() < t.refresh as u64;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = cache.get(&promql).filter(|e| fresh(e)) {
            return e.answer.clone();
        }
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, e| fresh(e));
        }
        let (client, timeout, q) = (self.client.clone(), t.timeout, promql.clone());
        let answer = async move {
            match tokio::time::timeout(timeout, client.query(&q, None)).await {
                Err(_) => Err(format!(
                    "Prometheus did not answer {q} within {}",
                    tidecast_core::format_duration(timeout.as_secs() as i64)
                )),
                Ok(Err(e)) => Err(Causes(&e).to_string()),
                Ok(Ok(series)) => series_now(&q, series).map(Arc::new),
            }
        }
        .boxed()
        .shared();
        cache.insert(
            promql,
            Entry {
                asked: now,
                answer: answer.clone(),
            },
        );
        answer
    }
}

impl LiveMetrics for PrometheusLive {
    fn namespaces(&self, metric: &str) -> Option<Option<&[String]>> {
        self.targets.get(metric).map(|t| t.namespaces.as_deref())
    }

    fn names(&self) -> Vec<String> {
        self.targets.keys().cloned().collect()
    }

    fn query<'a>(
        &'a self,
        metric: &'a str,
        namespace: &'a str,
        selector: &'a LabelSelector,
    ) -> LiveAnswer<'a> {
        Box::pin(async move {
            let t = self
                .targets
                .get(metric)
                .ok_or_else(|| format!("{metric} is not a live metric"))?;
            let promql = promql(t, namespace, selector)?;
            let series = self.answer(t, promql).await?;
            Ok(series.as_ref().clone())
        })
    }
}

/// The target's query with the selector (and the namespace, when the target names its
/// label) as PromQL label matchers.
pub(crate) fn promql(
    t: &LiveTarget,
    namespace: &str,
    selector: &LabelSelector,
) -> Result<String, String> {
    let mut matchers: Vec<String> = Vec::new();
    if let Some(label) = &t.namespace_label {
        matchers.push(format!("{label}={}", quoted(namespace)));
    }
    let requirements = selector
        .matchers()
        .map_err(|r| format!("the selector's {r} has no PromQL label matcher"))?;
    for m in requirements {
        let key = match &m {
            Matcher::Equal(k, _)
            | Matcher::NotEqual(k, _)
            | Matcher::In(k, _)
            | Matcher::NotIn(k, _)
            | Matcher::Exists(k)
            | Matcher::NotExists(k) => *k,
        };
        let name_ok = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(format!(
                "the selector's key {key:?} is not a Prometheus label name"
            ));
        }
        matchers.push(match m {
            Matcher::Equal(k, v) => format!("{k}={}", quoted(v)),
            Matcher::NotEqual(k, v) => format!("{k}!={}", quoted(v)),
            Matcher::In(k, vs) => format!("{k}=~{}", quoted(&alternatives(&vs))),
            Matcher::NotIn(k, vs) => format!("{k}!~{}", quoted(&alternatives(&vs))),
            Matcher::Exists(k) => format!("{k}!=\"\""),
            Matcher::NotExists(k) => format!("{k}=\"\""),
        });
    }
    Ok(t.query.replace(LABEL_MATCHERS, &matchers.join(",")))
}

/// `a|b` with each value's regex metacharacters escaped.
fn alternatives(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| {
            v.chars()
                .map(|c| {
                    if ".+*?()|[]{}^$\\".contains(c) {
                        format!("\\{c}")
                    } else {
                        c.to_string()
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// A PromQL string literal.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The newest sample of each series (without `__name__`): a NaN is an error, as the HPA
/// cannot scale on it and must not read it as zero.
fn series_now(
    query: &str,
    series: Vec<tidecast_prometheus::LabeledSeries>,
) -> Result<Vec<LiveSeries>, String> {
    let mut out = Vec::with_capacity(series.len());
    for mut s in series {
        let Some(last) = s.samples.last() else {
            continue;
        };
        s.labels.remove("__name__");
        if !last.value.is_finite() {
            return Err(format!(
                "{query} returned NaN or an infinity for {}",
                tidecast_prometheus::format_labels(&s.labels)
            ));
        }
        out.push(LiveSeries {
            labels: s.labels.into_iter().collect(),
            value: last.value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(query: &str, namespace_label: Option<&str>) -> LiveTarget {
        LiveTarget {
            index: 0,
            name: "t".into(),
            metric: "m".into(),
            query: query.into(),
            namespace_label: namespace_label.map(String::from),
            namespaces: None,
            refresh: 15,
            timeout: std::time::Duration::from_secs(5),
        }
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap()
    }

    #[test]
    fn selectors_become_promql_matchers_in_the_query() {
        let t = target(
            "sum by (topic) (kafka_lag{<<.LabelMatchers>>})",
            Some("namespace"),
        );
        assert_eq!(
            promql(&t, "shop", &sel("topic=orders,env!=dev")).unwrap(),
            r#"sum by (topic) (kafka_lag{namespace="shop",topic="orders",env!="dev"})"#
        );
        assert_eq!(
            promql(&t, "shop", &sel("topic in (a.b,c),x notin (y),z,!w")).unwrap(),
            r#"sum by (topic) (kafka_lag{namespace="shop",topic=~"a\\.b|c",x!~"y",z!="",w=""})"#
        );
        let plain = target("sum(up{<<.LabelMatchers>>})", None);
        assert_eq!(promql(&plain, "ns", &sel("")).unwrap(), "sum(up{})");
    }

    #[test]
    fn what_promql_cannot_match_is_an_error_naming_it() {
        let t = target("m{<<.LabelMatchers>>}", None);
        let e = promql(&t, "ns", &sel("replicas>3")).unwrap_err();
        assert!(e.contains("replicas>3"), "{e}");
        let e = promql(&t, "ns", &sel("example.com/tier=web")).unwrap_err();
        assert!(e.contains("example.com/tier"), "{e}");
    }
}
