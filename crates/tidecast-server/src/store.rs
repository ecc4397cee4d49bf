//! The in-memory snapshot the request path reads. Each target has its own slot, swapped
//! atomically by the refresh loop; readers never wait on writers.

use crate::policy::TargetView;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Arc;

/// Discovery lists the real metric names up to this many; beyond, one placeholder
/// resource (as KEDA does) keeps discovery small and fast.
const MAX_DISCOVERY_NAMES: usize = 256;

/// The fixed layout of targets for one configuration.
#[derive(Debug)]
pub struct Registry {
    slots: Vec<ArcSwap<TargetView>>,
    by_metric: HashMap<String, Vec<usize>>,
    /// metric -> label key -> label value -> slots: selectors that pin a label resolve
    /// without scanning every target of a metric. Labels come from the configuration and
    /// never change between layouts.
    by_label: HashMap<String, HashMap<String, HashMap<String, Vec<usize>>>>,
    resources: Vec<String>,
}

impl Registry {
    fn new(views: Vec<TargetView>) -> Self {
        let mut by_metric: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_label: HashMap<String, HashMap<String, HashMap<String, Vec<usize>>>> =
            HashMap::new();
        for (i, v) in views.iter().enumerate() {
            let metric = v.metric.to_ascii_lowercase();
            for (k, val) in v.labels.iter() {
                by_label
                    .entry(metric.clone())
                    .or_default()
                    .entry(k.clone())
                    .or_default()
                    .entry(val.clone())
                    .or_default()
                    .push(i);
            }
            by_metric.entry(metric).or_default().push(i);
        }
        let mut resources: Vec<String> = by_metric.keys().cloned().collect();
        resources.sort();
        if resources.is_empty() || resources.len() > MAX_DISCOVERY_NAMES {
            resources = vec!["externalmetrics".into()];
        }
        Self {
            slots: views.into_iter().map(ArcSwap::from_pointee).collect(),
            by_metric,
            by_label,
            resources,
        }
    }

    /// Slot indices of the targets exposing `metric` (case-insensitive).
    pub fn lookup(&self, metric: &str) -> Option<&[usize]> {
        self.by_metric
            .get(&metric.to_ascii_lowercase())
            .map(Vec::as_slice)
    }

    /// Slots of `metric` that can match `selector`: narrowed through the label index by
    /// the most selective pinned requirement, else every slot of the metric. Callers still
    /// apply the full selector. `None` for an unknown metric.
    pub fn candidates(&self, metric: &str, selector: &crate::LabelSelector) -> Option<Vec<usize>> {
        let metric = metric.to_ascii_lowercase();
        let all = self.by_metric.get(&metric)?;
        let mut best: Option<Vec<usize>> = None;
        let labels = self.by_label.get(&metric);
        for (key, values) in selector.pinned() {
            let by_value = labels.and_then(|l| l.get(key));
            let mut c: Vec<usize> = values
                .iter()
                .flat_map(|v| {
                    by_value
                        .and_then(|m| m.get(*v))
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                })
                .copied()
                .collect();
            if best.as_ref().is_none_or(|b| c.len() < b.len()) {
                c.sort_unstable();
                c.dedup();
                best = Some(c);
            }
        }
        Some(best.unwrap_or_else(|| all.clone()))
    }

    /// The current view of slot `i`.
    pub fn get(&self, i: usize) -> Arc<TargetView> {
        self.slots[i].load_full()
    }

    /// Resource names for the discovery document (never empty).
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True with no targets.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// All targets' views; cheap to share.
#[derive(Debug)]
pub struct MetricStore {
    registry: ArcSwap<Registry>,
}

impl MetricStore {
    /// A store holding these targets (their order defines slot indices).
    pub fn new(views: Vec<TargetView>) -> Self {
        Self {
            registry: ArcSwap::from_pointee(Registry::new(views)),
        }
    }

    /// Replace slot `i`'s view (the refresh loop's only write).
    pub fn update(&self, i: usize, view: TargetView) {
        self.registry.load().slots[i].store(Arc::new(view));
    }

    /// Replace the whole layout (a new configuration).
    pub fn replace(&self, views: Vec<TargetView>) {
        self.registry.store(Arc::new(Registry::new(views)));
    }

    /// The current layout.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.load_full()
    }
}
