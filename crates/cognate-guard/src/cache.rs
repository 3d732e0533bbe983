//! Verdicts on tokens already verified, so a repeated token costs a SHA-256 of its
//! signature, a map lookup and a comparison instead of an RSA verification.
//!
//! Keyed by SHA-256 of the token's signature part; the entry keeps the header and payload
//! the signature was verified over, and a hit requires the presented ones to be equal byte
//! for byte. A hit is therefore only ever the very token verified before — finding another
//! token with the same key would take a SHA-256 preimage of a signature, and a signature
//! glued to another payload misses and is verified (and refused) in full — while the token
//! itself is never kept: the header and payload are no credential without the signature,
//! and the signature is kept only as its digest. Hashing the signature alone (342
//! characters for RS256) rather than the whole token (often 800 or more) is what keeps a
//! hit well under a microsecond.
//!
//! Sharded `Mutex<HashMap>`s, each held only for a lookup or insert; when a shard is full
//! its expired entries go first, then an arbitrary one (random eviction is within a few
//! percent of LRU for this workload and needs no bookkeeping on hits). An entry is never
//! returned at or past its token's `exp`; the caller still checks revocation and key epoch
//! on hits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::context::TenantContext;

const SHARDS: usize = 16;

/// A verified token as remembered.
pub(crate) struct Entry {
    pub ctx: Arc<TenantContext>,
    /// `header.payload` of the token, compared on every hit.
    pub signing_input: Box<str>,
    pub exp: i64,
    pub issuer: usize,
    /// The issuer's key epoch when verified; a later key removal invalidates the entry.
    pub epoch: u64,
    pub sub: Option<String>,
    pub origin_jti: Option<String>,
    pub iat: Option<i64>,
}

pub(crate) type Digest = [u8; 32];

pub(crate) struct TokenCache {
    shards: Vec<Mutex<HashMap<Digest, Arc<Entry>>>>,
    per_shard: usize,
}

impl TokenCache {
    /// A cache of about `capacity` entries; 0 disables it.
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), per_shard }
    }

    /// The key of `token` (SHA-256 of the part after its last `.`) and the part before,
    /// which a hit must equal; `None` for a token without a `.` (never cached).
    pub(crate) fn key(token: &[u8]) -> Option<(Digest, &[u8])> {
        let dot = memchr::memrchr(b'.', token)?;
        let (signing_input, signature) = (&token[..dot], &token[dot + 1..]);
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, signature);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Some((out, signing_input))
    }

    fn shard(&self, key: &Digest) -> &Mutex<HashMap<Digest, Arc<Entry>>> {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    /// The entry for `key` if it was made for `signing_input` and its token has not
    /// reached `exp` at `now`.
    pub(crate) fn get(&self, key: &Digest, signing_input: &[u8], now: i64) -> Option<Arc<Entry>> {
        if self.per_shard == 0 {
            return None;
        }
        let mut shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        let entry = shard.get(key)?;
        if now >= entry.exp {
            shard.remove(key);
            return None;
        }
        (entry.signing_input.as_bytes() == signing_input).then(|| Arc::clone(entry))
    }

    pub(crate) fn insert(&self, key: Digest, entry: Entry, now: i64) {
        if self.per_shard == 0 || now >= entry.exp {
            return;
        }
        let mut shard = self.shard(&key).lock().unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.retain(|_, e| now < e.exp);
            if shard.len() >= self.per_shard {
                // The digest's second byte is as random as the token; use it to pick a victim.
                let victim = shard.keys().nth(usize::from(key[1]) % shard.len()).copied();
                if let Some(victim) = victim {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(key, Arc::new(entry));
    }

    /// Entries currently held (for tests and metrics).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }
}
