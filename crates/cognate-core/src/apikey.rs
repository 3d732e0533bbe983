//! Tenant API keys: programmatic access beside JWTs (the seed's section 4).
//!
//! A key reads `cog_` + 40 base62 characters (238 random bits) + 6 base62 characters of
//! checksum (CRC-32 of everything before it), e.g. `cog_3kTq…Vb9x0aZ1Q`. The prefix makes a
//! leaked key recognisable (secret scanners, logs); the checksum lets any verifier refuse
//! a mistyped or made-up key without touching storage. Only the key's SHA-256 is stored;
//! the plaintext exists once, in the answer that created it. The first
//! [`DISPLAY_PREFIX_LEN`] characters are kept to tell keys apart in lists.

use crate::clock::{Rng, random_chars};
use crate::crypto::sha256;
use crate::tenant::TenantId;

/// What every key starts with.
pub const KEY_PREFIX: &str = "cog_";
/// Random characters after the prefix.
const BODY_LEN: usize = 40;
/// Checksum characters at the end.
const CHECK_LEN: usize = 6;
/// The full length of a key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + BODY_LEN + CHECK_LEN;
/// How much of a key is kept in clear to identify it (`cog_` + 8 characters).
pub const DISPLAY_PREFIX_LEN: usize = 12;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

fn checksum(head: &str) -> String {
    let mut n = CRC32.checksum(head.as_bytes());
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// A new key: the plaintext (shown once) and its stored hash.
pub fn generate_key(rng: &dyn Rng) -> (String, String) {
    let head = format!("{KEY_PREFIX}{}", random_chars(rng, BASE62, BODY_LEN));
    let key = format!("{head}{}", checksum(&head));
    let hash = key_hash(&key);
    (key, hash)
}

/// Whether `key` has the shape and checksum of a Cognate API key. Cheap: no storage, no
/// hashing beyond a CRC-32.
pub fn well_formed(key: &str) -> bool {
    key.len() == KEY_LEN
        && key.starts_with(KEY_PREFIX)
        && key.bytes().skip(KEY_PREFIX.len()).all(|b| b.is_ascii_alphanumeric())
        && {
            let (head, check) = key.split_at(KEY_LEN - CHECK_LEN);
            checksum(head) == check
        }
}

/// The stored form of a key: SHA-256, hex.
pub fn key_hash(key: &str) -> String {
    hex::encode(sha256(key.as_bytes()))
}

/// The part of a key shown in lists.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(DISPLAY_PREFIX_LEN).collect()
}

/// A per-key rate limit: at most `requests` per `per_seconds` window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub requests: u32,
    pub per_seconds: u32,
}

/// An API key as stored. Times are milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    /// Public id, `ak_` + 20 characters.
    pub id: String,
    pub tenant_id: TenantId,
    /// SHA-256 (hex) of the key.
    pub key_hash: String,
    /// The first characters of the key, to recognise it.
    pub display_prefix: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// A label for the program using the key (a service account), if any.
    pub service_account: Option<String>,
    /// The sub or admin credential that created the key.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    /// Updated at a bounded rate from aggregated usage, not on every request.
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The key this one replaced by rotation.
    pub rotated_from: Option<String>,
    /// Set on a key replaced by rotation: it keeps working until then.
    pub grace_until: Option<i64>,
    pub rate_limit: Option<RateLimit>,
}

/// A new key's public id.
pub fn generate_key_id(rng: &dyn Rng) -> String {
    format!("ak_{}", random_chars(rng, b"0123456789abcdefghijklmnopqrstuvwxyz", 20))
}

/// Why a key is not accepted. The codes are stable and shown to verifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    #[error("the key is malformed or its checksum is wrong")]
    Malformed,
    #[error("no such key")]
    Unknown,
    #[error("the key was revoked")]
    Revoked,
    #[error("the key has expired")]
    Expired,
    #[error("the key was rotated and its grace period is over")]
    Rotated,
    #[error("the key's tenant is suspended")]
    TenantSuspended,
}

impl KeyRefusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Unknown => "unknown_key",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Rotated => "rotated",
            Self::TenantSuspended => "tenant_suspended",
        }
    }
}

/// The state of a key as lists show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    /// Rotated, still accepted until `grace_until`.
    Rotating,
    Rotated,
    Revoked,
    Expired,
}

impl ApiKey {
    /// The key's own state at `now` (ms), the tenant aside.
    pub fn status(&self, now: i64) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| now >= at) {
            KeyStatus::Expired
        } else if let Some(until) = self.grace_until {
            if now < until { KeyStatus::Rotating } else { KeyStatus::Rotated }
        } else {
            KeyStatus::Active
        }
    }

    /// Whether the key itself may be used at `now` (ms).
    pub fn check(&self, now: i64) -> Result<(), KeyRefusal> {
        match self.status(now) {
            KeyStatus::Active | KeyStatus::Rotating => Ok(()),
            KeyStatus::Revoked => Err(KeyRefusal::Revoked),
            KeyStatus::Expired => Err(KeyRefusal::Expired),
            KeyStatus::Rotated => Err(KeyRefusal::Rotated),
        }
    }
}

/// Accepted requests of one key on one day, as aggregated before being stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageDelta {
    pub tenant_id: TenantId,
    pub key_id: String,
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub count: i64,
    /// The latest use in this batch (ms).
    pub last_used_at: i64,
}

/// A stored usage total.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub key_id: String,
    pub day: i64,
    pub count: i64,
}

/// The UTC day (days since the epoch) of a time in ms.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn keys_have_a_prefix_entropy_and_a_checksum() {
        let (key, hash) = generate_key(&SystemRng);
        assert_eq!(key.len(), KEY_LEN);
        assert!(key.starts_with("cog_"));
        assert!(well_formed(&key));
        assert_eq!(hash, key_hash(&key));
        assert_eq!(hash.len(), 64);
        assert_eq!(display_prefix(&key).len(), 12);
        assert_ne!(generate_key(&SystemRng).0, key);

        // Every single-character typo is caught by the checksum.
        for i in KEY_PREFIX.len()..key.len() {
            let mut bytes = key.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(!well_formed(&typo), "{typo}");
        }
        for bad in ["", "cog_", &key[..KEY_LEN - 1], &format!("{key}x"), &key.replace("cog_", "cgk_")] {
            assert!(!well_formed(bad), "{bad}");
        }
        let mut non_ascii = key.clone();
        non_ascii.replace_range(10..11, "é");
        assert!(!well_formed(&non_ascii));
    }

    fn key(now: i64) -> ApiKey {
        ApiKey {
            id: "ak_1".into(),
            tenant_id: TenantId::parse("acme").unwrap(),
            key_hash: "h".into(),
            display_prefix: "cog_abcdefgh".into(),
            name: "ci".into(),
            scopes: vec![],
            service_account: None,
            created_by: "admin".into(),
            created_at: now,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            rotated_from: None,
            grace_until: None,
            rate_limit: None,
        }
    }

    #[test]
    fn status_follows_revocation_expiry_and_grace() {
        let k = key(0);
        assert_eq!(k.check(10), Ok(()));
        let expiring = ApiKey { expires_at: Some(100), ..k.clone() };
        assert_eq!(expiring.check(99), Ok(()));
        assert_eq!(expiring.check(100), Err(KeyRefusal::Expired));
        let rotated = ApiKey { grace_until: Some(50), ..k.clone() };
        assert_eq!(rotated.status(49), KeyStatus::Rotating);
        assert_eq!(rotated.check(49), Ok(()));
        assert_eq!(rotated.check(50), Err(KeyRefusal::Rotated));
        let revoked = ApiKey { revoked_at: Some(5), grace_until: Some(50), ..k };
        assert_eq!(revoked.check(6), Err(KeyRefusal::Revoked));
        assert_eq!(day_of(86_400_000 * 3 + 5), 3);
        assert_eq!(day_of(-1), -1);
    }
}
