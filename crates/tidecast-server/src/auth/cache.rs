//! A small TTL cache for review answers, bounded in entries.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Entries live `ttl`; past `capacity` expired entries are dropped, and if none had
/// expired, everything (a flood of distinct keys must not grow memory; the cost is a
/// round of reviews).
#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((expires, v)) if Instant::now() < *expires => Some(v.clone()),
            _ => None,
        }
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, (expires, _)| now < *expires);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (now + self.ttl, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_the_ttl() {
        let c = TtlCache::new(Duration::from_secs(10), 8);
        c.insert(1, "a");
        assert_eq!(c.get(&1), Some("a"));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(c.get(&1), Some("a"));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(c.get(&1), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_cache_stays_within_capacity() {
        let c = TtlCache::new(Duration::from_secs(10), 4);
        for i in 0..100 {
            c.insert(i, i);
            assert!(c.entries.lock().unwrap().len() <= 4);
        }
        assert_eq!(c.get(&99), Some(99));
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ttl_caches_nothing() {
        let c = TtlCache::new(Duration::ZERO, 4);
        c.insert(1, 1);
        assert_eq!(c.get(&1), None);
    }
}
