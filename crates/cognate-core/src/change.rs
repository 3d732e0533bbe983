//! Changes one node announces to the others that share its database, so they drop what
//! they cached at once instead of at their next poll (see `cognate-server`'s
//! `propagation`). A change names what changed — a kind and an id — and never carries
//! the new value or anything secret: a node that hears it re-reads the database.
//!
//! On PostgreSQL the store sends each change with `pg_notify('cognate', payload)` inside
//! (or right after) the transaction that made it, so it is heard only once committed; a
//! SQLite store serves one node and announces nothing.

use std::fmt;

use crate::ids::{ClientId, PoolId};
use crate::tenant::TenantId;

/// Called by a store with each change it makes, synchronously, right after the change
/// commits: how a node's own caches drop what it has just changed (other nodes hear it
/// through the store's `listen`).
pub type LocalHook = std::sync::Arc<dyn Fn(&Change) + Send + Sync>;

/// The PostgreSQL channel every change is sent on.
pub const CHANNEL: &str = "cognate";

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A signing key of the pool was added or retired.
    Keys(PoolId),
    /// Something of the pool was revoked (a token family, every token of a user); the
    /// revocation feed has the details.
    Revoked(PoolId),
    /// A tenant's record changed (status, tier, placement, name).
    Tenant(TenantId),
    /// A pool's settings or resource servers changed, or the pool was deleted.
    Pool(PoolId),
    /// An app client changed or was deleted.
    Client(PoolId, ClientId),
    /// A user was enabled or disabled.
    User(PoolId),
}

impl Change {
    /// The kind, as metrics label it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Keys(_) => "keys",
            Self::Revoked(_) => "revoked",
            Self::Tenant(_) => "tenant",
            Self::Pool(_) => "pool",
            Self::Client(..) => "client",
            Self::User(_) => "user",
        }
    }

    /// Every kind, for metrics that start each series at zero.
    pub const KINDS: [&'static str; 6] = ["keys", "revoked", "tenant", "pool", "client", "user"];

    /// Reads a payload written by [`Change`]'s `Display` (`kind:id`, a client as
    /// `client:pool/client`); `None` for anything else (a newer node's kind, say).
    pub fn parse(payload: &str) -> Option<Self> {
        let (kind, id) = payload.split_once(':')?;
        Some(match kind {
            "keys" => Self::Keys(PoolId::parse(id)?),
            "revoked" => Self::Revoked(PoolId::parse(id)?),
            "tenant" => Self::Tenant(TenantId::parse(id)?),
            "pool" => Self::Pool(PoolId::parse(id)?),
            "user" => Self::User(PoolId::parse(id)?),
            "client" => {
                let (pool, client) = id.split_once('/')?;
                Self::Client(PoolId::parse(pool)?, ClientId::parse(client)?)
            }
            _ => return None,
        })
    }
}

/// The payload sent: `kind:id` (at most a few dozen bytes, far below PostgreSQL's 8000).
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keys(p) | Self::Revoked(p) | Self::Pool(p) | Self::User(p) => write!(f, "{}:{p}", self.kind()),
            Self::Tenant(t) => write!(f, "tenant:{t}"),
            Self::Client(p, c) => write!(f, "client:{p}/{c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_strangers_are_ignored() {
        let pool = PoolId::parse("eu-west-1_abc123XYZ").unwrap();
        let changes = [
            Change::Keys(pool.clone()),
            Change::Revoked(pool.clone()),
            Change::Tenant(TenantId::parse("acme").unwrap()),
            Change::Pool(pool.clone()),
            Change::Client(pool.clone(), ClientId::parse("abcdefghijklmnopqrstuvwxyz").unwrap()),
            Change::User(pool),
        ];
        for change in changes {
            let payload = change.to_string();
            assert!(payload.starts_with(change.kind()), "{payload}");
            assert_eq!(Change::parse(&payload), Some(change));
        }
        for odd in ["", "keys", "keys:", "keys:no pool", "client:eu_x", "later:eu_x", "tenant:A B"] {
            assert_eq!(Change::parse(odd), None, "{odd}");
        }
    }
}
