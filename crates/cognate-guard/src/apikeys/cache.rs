//! Verdicts on API keys, keyed by the key's SHA-256 (the plaintext is never kept).
//!
//! Sharded `RwLock<HashMap>`: the hot path takes one shard's read lock, and everything it
//! changes under it (rate-limit window, usage count) is an atomic. Writers (a miss being
//! answered) take the write lock only to insert. When a shard is full, entries past their
//! freshness go first, then refusals (cheap to learn again, and what a flood of made-up keys
//! would fill the cache with), then the valid entry that would have gone stale soonest.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::format::Digest;
use super::usage::{KeyUsage, RateLimit};
use crate::context::TenantContext;
use crate::error::ApiKeyRefusal;

/// Most shards; small caches get fewer so their bound stays close to exact.
const MAX_SHARDS: usize = 32;
/// Entries per shard below which a cache is not split further.
const MIN_PER_SHARD: usize = 256;

/// A key Cognate said is valid.
pub(crate) struct ValidKey {
    pub ctx: Arc<TenantContext>,
    /// `min(fetched + cache_ttl, expiresAt)`: asked again from then on.
    pub fresh_until: i64,
    /// Refused locally from then on, without asking.
    pub expires_at: Option<i64>,
    pub rate_limit: Option<RateLimit>,
    pub usage: Arc<KeyUsage>,
}

/// What the cache remembers about one key.
#[derive(Clone)]
pub(crate) enum Verdict {
    Valid(Arc<ValidKey>),
    /// Refused by Cognate; remembered until `until` (`negative_ttl`).
    Refused {
        code: ApiKeyRefusal,
        until: i64,
    },
}

impl Verdict {
    /// Whether the verdict must be asked again at `now`. An expired valid key is stale too:
    /// dropping it costs one verify call that answers `expired`.
    fn stale(&self, now: i64) -> bool {
        match self {
            Self::Valid(v) => now >= v.fresh_until,
            Self::Refused { until, .. } => now >= *until,
        }
    }
}

type Shard = RwLock<HashMap<Digest, Verdict>>;

pub(crate) struct KeyCache {
    shards: Box<[Shard]>,
    per_shard: usize,
}

impl KeyCache {
    /// A cache of about `max_entries` verdicts; 0 disables it.
    pub(crate) fn new(max_entries: usize) -> Self {
        let shards = (max_entries / MIN_PER_SHARD).clamp(1, MAX_SHARDS);
        Self {
            shards: (0..shards).map(|_| RwLock::new(HashMap::new())).collect(),
            per_shard: max_entries.div_ceil(shards),
        }
    }

    fn shard(&self, key: &Digest) -> &Shard {
        // The digest is uniformly distributed; its first byte picks the shard.
        &self.shards[usize::from(key[0]) % self.shards.len()]
    }

    /// Runs `f` on the verdict for `key` under the shard's read lock.
    pub(crate) fn with<R>(&self, key: &Digest, f: impl FnOnce(&Verdict) -> R) -> Option<R> {
        let shard = self.shard(key).read().unwrap_or_else(PoisonError::into_inner);
        shard.get(key).map(f)
    }

    pub(crate) fn insert(&self, key: Digest, verdict: Verdict, now: i64) {
        if self.per_shard == 0 || verdict.stale(now) {
            return;
        }
        let mut shard = self.shard(&key).write().unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.retain(|_, v| !v.stale(now));
            if shard.len() >= self.per_shard {
                let victim = shard
                    .iter()
                    .min_by_key(|(_, v)| match v {
                        Verdict::Refused { until, .. } => (0, *until),
                        Verdict::Valid(valid) => (1, valid.fresh_until),
                    })
                    .map(|(k, _)| *k);
                if let Some(victim) = victim {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(key, verdict);
    }

    /// Verdicts currently held.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }
}
