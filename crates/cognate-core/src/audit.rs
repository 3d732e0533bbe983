//! The audit trail: an append-only, hash-chained record of who did what, per tenant.
//!
//! Every event belongs to one chain: its tenant's, or the platform chain ([`PLATFORM_CHAIN`])
//! for events outside any tenant. Within a chain events are numbered 1, 2, 3… (`seq`) and
//! each carries `hash = SHA-256(prev_hash || canonical JSON of the event)`, where
//! `prev_hash` is the previous event's hash (or, for the first event, 64 zeros — or the
//! anchor left by a retention purge). Editing, deleting or reordering any event breaks the
//! chain at that event, which [`verify_chain`] reports by its `seq` and id.
//!
//! Events never contain a secret, password or token: callers record ids, names and
//! outcomes only.

use serde::Serialize;

use crate::crypto::sha256;

/// The chain of events that belong to no tenant (platform admin actions, sign-ins of users
/// outside tenancy). `~` cannot start a tenant id, so it never collides with one.
pub const PLATFORM_CHAIN: &str = "~platform";

/// The `prev_hash` of a chain's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before the writer places it in its chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEvent {
    /// A tenant id, or [`PLATFORM_CHAIN`].
    pub chain: String,
    /// Unique id (UUID).
    pub id: String,
    /// When it happened (ms).
    pub at: i64,
    pub pool_id: Option<String>,
    /// `user:{sub}`, `admin:{accessKeyId}`, `apikey:{id}`, `client:{id}` or `anonymous`.
    pub actor: String,
    /// Dotted name, e.g. `auth.sign_in`, `member.remove`, `api_key.rotate`.
    pub action: String,
    /// What it was done to (a user's sub or username, a key id…).
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Why it failed (e.g. `wrong_password`), or a detail of a success.
    pub reason: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// An event as stored, in its chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub event: NewEvent,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an event placed after `prev_hash` at `seq`.
pub fn event_hash(event: &NewEvent, seq: i64, prev_hash: &str) -> String {
    // Field order is fixed by the struct, so the JSON is canonical.
    #[derive(Serialize)]
    struct Canonical<'a> {
        seq: i64,
        #[serde(flatten)]
        event: &'a NewEvent,
    }
    let body = serde_json::to_string(&Canonical { seq, event }).unwrap_or_default();
    let mut input = Vec::with_capacity(prev_hash.len() + body.len());
    input.extend_from_slice(prev_hash.as_bytes());
    input.extend_from_slice(body.as_bytes());
    hex::encode(sha256(&input))
}

/// Places `event` after `(prev_seq, prev_hash)` in its chain.
pub fn chain(event: NewEvent, prev_seq: i64, prev_hash: &str) -> AuditEvent {
    let seq = prev_seq + 1;
    let hash = event_hash(&event, seq, prev_hash);
    AuditEvent { event, seq, prev_hash: prev_hash.to_owned(), hash }
}

/// Where a purge cut a chain: events up to `seq` were deleted; the next one must link to
/// `hash`. `mac` authenticates the anchor ([`Anchor::mac_for`]): anyone able to write the
/// database could otherwise delete a chain's oldest events and insert an anchor that makes
/// the rest verify.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchor {
    pub chain: String,
    pub seq: i64,
    pub hash: String,
    pub purged_at: i64,
    /// HMAC-SHA256 (hex) with the [`ANCHOR_KEY_LABEL`] key; `None` for anchors written
    /// before anchors were signed (or inserted by someone without the master key).
    pub mac: Option<String>,
}

/// The master-key derivation label of the key that signs anchors
/// ([`crate::crypto::MasterKey::mac_key`]).
pub const ANCHOR_KEY_LABEL: &str = "audit-anchor-v1";

/// How an anchor checks out against the anchor key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorCheck {
    /// Signed with the anchor key: a purge made by Cognate.
    Valid,
    /// No signature: written before anchors were signed, or forged.
    Unsigned,
    /// A signature that does not match: forged or edited.
    Invalid,
}

impl Anchor {
    /// The MAC of this anchor's chain, seq, hash and purge time under `key`.
    pub fn mac_for(&self, key: &[u8; 32]) -> String {
        let input = format!("cognate-audit-anchor\n{}\n{}\n{}\n{}", self.chain, self.seq, self.hash, self.purged_at);
        hex::encode(crate::crypto::hmac_sha256(key, input.as_bytes()))
    }

    pub fn check(&self, key: &[u8; 32]) -> AnchorCheck {
        match &self.mac {
            None => AnchorCheck::Unsigned,
            Some(mac) if crate::crypto::constant_time_eq(mac.as_bytes(), self.mac_for(key).as_bytes()) => {
                AnchorCheck::Valid
            }
            Some(_) => AnchorCheck::Invalid,
        }
    }
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event {id} (seq {seq}) was altered: its hash does not match its content")]
    Altered { seq: i64, id: String },
    #[error("event {id} (seq {seq}) does not follow the event before it (an event was removed or reordered)")]
    Unlinked { seq: i64, id: String },
    #[error("events are missing before seq {seq} (event {id})")]
    Gap { seq: i64, id: String },
}

/// Checks a chain's events, in `seq` order, starting after `anchor` (or at the genesis).
/// Returns how many events verified.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
    anchor: Option<&Anchor>,
) -> Result<u64, ChainBreak> {
    let (mut seq, mut hash) = match anchor {
        Some(a) => (a.seq, a.hash.clone()),
        None => (0, GENESIS.to_owned()),
    };
    let mut count = 0;
    for e in events {
        let id = e.event.id.clone();
        if e.seq != seq + 1 {
            return Err(if e.seq > seq + 1 {
                ChainBreak::Gap { seq: e.seq, id }
            } else {
                ChainBreak::Unlinked { seq: e.seq, id }
            });
        }
        if e.prev_hash != hash {
            return Err(ChainBreak::Unlinked { seq: e.seq, id });
        }
        if event_hash(&e.event, e.seq, &e.prev_hash) != e.hash {
            return Err(ChainBreak::Altered { seq: e.seq, id });
        }
        seq = e.seq;
        hash = e.hash.clone();
        count += 1;
    }
    Ok(count)
}

/// Filters for reading a chain.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub outcome: Option<String>,
    /// Events at or after this time (ms).
    pub from: Option<i64>,
    /// Events before this time (ms).
    pub to: Option<i64>,
    /// Events with `seq` below this (newest-first paging).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> NewEvent {
        NewEvent {
            chain: "acme".into(),
            id: format!("e{n}"),
            at: n,
            pool_id: None,
            actor: "user:s".into(),
            action: "auth.sign_in".into(),
            target: Some("s".into()),
            outcome: "success".into(),
            reason: None,
            source_ip: Some("127.0.0.1".into()),
            user_agent: None,
            request_id: None,
        }
    }

    fn build(n: i64) -> Vec<AuditEvent> {
        let mut out: Vec<AuditEvent> = Vec::new();
        for i in 1..=n {
            let (seq, hash) = out.last().map_or((0, GENESIS.to_owned()), |e| (e.seq, e.hash.clone()));
            out.push(chain(event(i), seq, &hash));
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies_and_any_change_is_named() {
        let events = build(5);
        assert_eq!(verify_chain(&events, None), Ok(5));

        let mut edited = events.clone();
        edited[2].event.outcome = "failure".into();
        assert_eq!(verify_chain(&edited, None), Err(ChainBreak::Altered { seq: 3, id: "e3".into() }));

        let mut deleted = events.clone();
        deleted.remove(1);
        assert_eq!(verify_chain(&deleted, None), Err(ChainBreak::Gap { seq: 3, id: "e3".into() }));

        let mut reordered = events.clone();
        reordered.swap(1, 2);
        assert!(verify_chain(&reordered, None).is_err());

        // A recomputed hash still breaks the link to the next event.
        let mut forged = events.clone();
        forged[2].event.outcome = "failure".into();
        forged[2].hash = event_hash(&forged[2].event, 3, &forged[2].prev_hash);
        assert_eq!(verify_chain(&forged, None), Err(ChainBreak::Unlinked { seq: 4, id: "e4".into() }));

        // After a purge, the rest verifies from the anchor.
        let mut anchor = Anchor { chain: "acme".into(), seq: 2, hash: events[1].hash.clone(), purged_at: 9, mac: None };
        let key = [7u8; 32];
        assert_eq!(anchor.check(&key), AnchorCheck::Unsigned);
        anchor.mac = Some(anchor.mac_for(&key));
        assert_eq!(anchor.check(&key), AnchorCheck::Valid);
        assert_eq!(anchor.check(&[8u8; 32]), AnchorCheck::Invalid);
        let mut moved = anchor.clone();
        moved.seq = 3;
        assert_eq!(moved.check(&key), AnchorCheck::Invalid);
        assert_eq!(verify_chain(&events[2..], Some(&anchor)), Ok(3));
        assert!(verify_chain(&events[3..], Some(&anchor)).is_err());
    }
}
