//! Per-key state that outlives cache entries: the rate-limit window and the usage counts
//! not yet sent to Cognate. One [`KeyUsage`] per (tenant, key id), shared by every cache
//! entry of that key, so a refetch after `cache_ttl` or an eviction neither resets the
//! window nor loses counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A key's rate limit as Cognate states it: at most `requests` per `per_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimit {
    pub requests: u32,
    /// At least 1 (a 0 from the wire is read as 1).
    pub per_seconds: u32,
}

/// One key's counters. Everything here is an atomic: the hot path never takes a lock.
pub(crate) struct KeyUsage {
    pub tenant_id: String,
    pub key_id: String,
    /// Accepted requests since the last successful flush.
    count: AtomicU64,
    /// The latest second the key was accepted in.
    last_used: AtomicI64,
    /// Fixed window: `(window index << 32) | requests accepted in it`.
    window: AtomicU64,
}

impl KeyUsage {
    fn new(tenant_id: String, key_id: String) -> Self {
        Self { tenant_id, key_id, count: AtomicU64::new(0), last_used: AtomicI64::new(0), window: AtomicU64::new(0) }
    }

    /// Admits one request at `now` under `limit` and counts it, or says how many seconds
    /// until the current window ends.
    ///
    /// Fixed windows aligned on multiples of `per_seconds` since the Unix epoch: cheap (one
    /// compare-and-swap) and the same boundaries in every process, at the price of allowing
    /// up to twice the limit across a window boundary.
    pub(crate) fn admit(&self, limit: Option<RateLimit>, now: i64) -> Result<(), u32> {
        if let Some(limit) = limit {
            let per = i64::from(limit.per_seconds.max(1));
            // Truncation to 32 bits only matters for comparing with the previous window.
            let index = now.div_euclid(per) as u64 & 0xFFFF_FFFF;
            let mut current = self.window.load(Ordering::Relaxed);
            loop {
                let used = if current >> 32 == index { current & 0xFFFF_FFFF } else { 0 };
                if used >= u64::from(limit.requests) {
                    let window_end = (now.div_euclid(per) + 1) * per;
                    return Err(u32::try_from(window_end - now).unwrap_or(u32::MAX).max(1));
                }
                let next = index << 32 | (used + 1);
                match self.window.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(seen) => current = seen,
                }
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        if self.last_used.load(Ordering::Relaxed) < now {
            self.last_used.fetch_max(now, Ordering::Relaxed);
        }
        Ok(())
    }

    pub(crate) fn last_used(&self) -> i64 {
        self.last_used.load(Ordering::Relaxed)
    }

    /// Gives back counts taken by [`UsageBook::take`] whose flush failed.
    pub(crate) fn restore(&self, count: u64) {
        self.count.fetch_add(count, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn pending(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Every key's [`KeyUsage`]; written only on cache misses and flushes.
#[derive(Default)]
pub(crate) struct UsageBook {
    keys: Mutex<HashMap<(String, String), Arc<KeyUsage>>>,
}

impl UsageBook {
    /// The usage record of (`tenant_id`, `key_id`), created on first sight.
    pub(crate) fn key(&self, tenant_id: &str, key_id: &str) -> Arc<KeyUsage> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = keys
            .entry((tenant_id.to_owned(), key_id.to_owned()))
            .or_insert_with(|| Arc::new(KeyUsage::new(tenant_id.to_owned(), key_id.to_owned())));
        Arc::clone(entry)
    }

    /// Takes every non-zero count (resetting it to zero) and forgets records nothing else
    /// refers to and that have nothing to send. Counts taken must be sent or given back.
    pub(crate) fn take(&self) -> Vec<(Arc<KeyUsage>, u64)> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let mut taken = Vec::new();
        keys.retain(|_, usage| {
            let count = usage.count.swap(0, Ordering::Relaxed);
            if count > 0 {
                taken.push((Arc::clone(usage), count));
                return true;
            }
            // Only the book holds it: no cache entry can count on it any more (a new one
            // would get it from the book, which we hold locked).
            Arc::strong_count(usage) > 1
        });
        taken
    }

    /// Records held (for tests and metrics).
    pub(crate) fn len(&self) -> usize {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_admits_the_limit_then_names_the_window_end() {
        let usage = KeyUsage::new("acme".into(), "ak_1".into());
        let limit = Some(RateLimit { requests: 2, per_seconds: 60 });
        assert_eq!(usage.admit(limit, 120), Ok(()));
        assert_eq!(usage.admit(limit, 150), Ok(()));
        assert_eq!(usage.admit(limit, 170), Err(10));
        assert_eq!(usage.admit(limit, 179), Err(1));
        assert_eq!(usage.admit(limit, 180), Ok(()), "a new window");
        assert_eq!(usage.pending(), 3, "refused requests are not usage");
        assert_eq!(usage.last_used(), 180);
        let zero = Some(RateLimit { requests: 0, per_seconds: 0 });
        assert_eq!(usage.admit(zero, 200), Err(1));
        assert_eq!(usage.admit(None, 100), Ok(()));
        assert_eq!(usage.last_used(), 180, "last use never goes back");
    }

    #[test]
    fn take_resets_counts_and_forgets_idle_records() {
        let book = UsageBook::default();
        let held = book.key("acme", "ak_1");
        let _ = book.key("acme", "ak_2");
        held.admit(None, 5).unwrap_or_default();
        held.admit(None, 6).unwrap_or_default();
        let taken = book.take();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].1, 2);
        assert_eq!(book.len(), 1, "ak_2 had nothing to send and no holder");
        taken[0].0.restore(2);
        drop(taken);
        assert_eq!(book.take()[0].1, 2, "restored counts are sent next time");
        drop(held);
        assert!(book.take().is_empty());
        assert_eq!(book.len(), 0);
    }
}
