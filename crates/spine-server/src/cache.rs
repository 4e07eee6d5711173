//! A small time-bounded cache of records read on every request (API keys, ingest channels), so
//! a busy endpoint does not read the same row each time. Only records that exist are cached (so
//! random ids cannot fill it), entries live for the configured TTL (a change made through
//! another node takes effect within it), and a change made through this node evicts at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// More entries than this and the cache starts over; records are few, this only bounds abuse.
const MAX_ENTRIES: usize = 10_000;

/// Records by id, each trusted for `ttl` after it was read.
pub struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache whose entries live for `ttl` (zero: nothing is cached).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The record under `id`, if it was read within the TTL.
    pub fn get(&self, id: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(id).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    /// Remembers a record just read.
    pub fn put(&self, id: String, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id, (Instant::now(), value));
    }

    /// Forgets a record, e.g. after it was changed through this node.
    pub fn evict(&self, id: &str) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_are_evicted_and_zero_caches_nothing() {
        let cache = TtlCache::new(Duration::from_secs(60));
        cache.put("a".into(), 1);
        assert_eq!(cache.get("a"), Some(1));
        cache.evict("a");
        assert_eq!(cache.get("a"), None);
        let off = TtlCache::new(Duration::ZERO);
        off.put("a".into(), 1);
        assert_eq!(off.get("a"), None);
        let short = TtlCache::new(Duration::from_millis(1));
        short.put("a".into(), 1);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(short.get("a"), None);
    }
}
