//! A bounded window of samples per series, refreshed incrementally.

use crate::{Client, LabeledSeries, Labels, RangeQuery, Result};
use std::collections::BTreeMap;
use tidecast_core::Sample;

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RefreshStats {
    /// First evaluation time fetched.
    pub from: i64,
    /// Last evaluation time fetched.
    pub to: i64,
    /// Samples received.
    pub samples: usize,
    /// Series now held.
    pub series: usize,
}

/// Samples of one query's series over a sliding window. The first refresh pulls the whole
/// window; later ones pull only from the last evaluation time minus an overlap (late
/// samples), replace that tail and drop what fell out of the window.
#[derive(Debug, Clone)]
pub struct SeriesStore {
    query: String,
    step: i64,
    window: i64,
    overlap: i64,
    last_end: Option<i64>,
    series: BTreeMap<Labels, Vec<Sample>>,
}

impl SeriesStore {
    /// A store for `query` at `step` seconds keeping `window` seconds; refreshes re-read
    /// `overlap` seconds before the last evaluation time.
    pub fn new(query: impl Into<String>, step: i64, window: i64, overlap: i64) -> Self {
        Self {
            query: query.into(),
            step: step.max(1),
            window,
            overlap: overlap.max(0),
            last_end: None,
            series: BTreeMap::new(),
        }
    }

    /// Bring the store up to `now` (Unix seconds). On error the store is unchanged.
    pub async fn refresh(&mut self, client: &Client, now: i64) -> Result<RefreshStats> {
        // Evaluation times are multiples of the step, so every refresh lands on one grid.
        let end = now.div_euclid(self.step) * self.step;
        let window_start = end - self.window + self.step;
        let start = match self.last_end {
            Some(last) => (last - self.overlap).div_euclid(self.step) * self.step,
            None => window_start,
        }
        .max(window_start);
        let fetched = client
            .query_range(
                &RangeQuery {
                    query: self.query.clone(),
                    start,
                    end,
                    step: self.step,
                },
                &|_, _| {},
            )
            .await?;
        let samples = fetched.iter().map(|s| s.samples.len()).sum();
        self.merge(fetched, start as f64, window_start as f64);
        self.last_end = Some(end);
        Ok(RefreshStats {
            from: start,
            to: end,
            samples,
            series: self.series.len(),
        })
    }

    /// Replace everything at or after `from` with the fetched data, drop samples before
    /// `keep_from`, and drop series left empty.
    fn merge(&mut self, fetched: Vec<LabeledSeries>, from: f64, keep_from: f64) {
        for s in self.series.values_mut() {
            s.retain(|x| x.timestamp < from);
        }
        for f in fetched {
            self.series.entry(f.labels).or_default().extend(f.samples);
        }
        for s in self.series.values_mut() {
            let cut = s.partition_point(|x| x.timestamp < keep_from);
            s.drain(..cut);
        }
        self.series.retain(|_, s| !s.is_empty());
    }

    /// The series held, by label set.
    pub fn series(&self) -> &BTreeMap<Labels, Vec<Sample>> {
        &self.series
    }

    /// The last evaluation time fetched.
    pub fn last_end(&self) -> Option<i64> {
        self.last_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: f64, v: f64) -> Sample {
        Sample {
            timestamp: t,
            value: v,
        }
    }

    #[test]
    fn merging_replaces_the_overlap_and_trims_the_window() {
        let mut st = SeriesStore::new("m", 60, 300, 120);
        let l: Labels = [("a".to_string(), "1".to_string())].into();
        st.series
            .insert(l.clone(), (0..5).map(|i| s(i as f64 * 60.0, 1.0)).collect());
        let fresh = LabeledSeries {
            labels: l.clone(),
            samples: (3..8).map(|i| s(i as f64 * 60.0, 2.0)).collect(),
        };
        st.merge(vec![fresh], 180.0, 180.0);
        let got: Vec<(f64, f64)> = st.series[&l]
            .iter()
            .map(|x| (x.timestamp, x.value))
            .collect();
        assert_eq!(
            got,
            (3..8).map(|i| (i as f64 * 60.0, 2.0)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn series_that_fall_out_of_the_window_are_dropped() {
        let mut st = SeriesStore::new("m", 60, 300, 0);
        let l: Labels = [("a".to_string(), "1".to_string())].into();
        st.series.insert(l, vec![s(0.0, 1.0)]);
        st.merge(vec![], 600.0, 400.0);
        assert!(st.series.is_empty());
    }
}
