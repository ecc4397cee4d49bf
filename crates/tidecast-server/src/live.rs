//! Pass-through metrics: answered at request time by a query the binary runs (an instant
//! PromQL query with the request's selector in it, as prometheus-adapter's `externalRules`
//! do), served next to the predicted ones so a cluster moving off the adapter keeps its HPAs.

use crate::LabelSelector;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// One series of a pass-through answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSeries {
    /// The series' labels as the query returned them.
    pub labels: BTreeMap<String, String>,
    /// Its value now.
    pub value: f64,
}

/// The answer to one pass-through request: the series, or why there are none to serve.
pub type LiveAnswer<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<LiveSeries>, String>> + Send + 'a>>;

/// The pass-through metrics a server answers, and how.
pub trait LiveMetrics: Send + Sync + std::fmt::Debug {
    /// `Some(namespaces)` when `metric` (lowercase) is a pass-through metric: the namespaces
    /// that may read it (`None`: every namespace). `None` for any other metric.
    fn namespaces(&self, metric: &str) -> Option<Option<&[String]>>;
    /// Every pass-through metric's name, for discovery.
    fn names(&self) -> Vec<String>;
    /// The series of `metric` matching `selector`, as read for a request from `namespace`.
    fn query<'a>(
        &'a self,
        metric: &'a str,
        namespace: &'a str,
        selector: &'a LabelSelector,
    ) -> LiveAnswer<'a>;
}
