//! Cross-node propagation: several `cognate serve` nodes share one PostgreSQL, and each
//! caches a little of what is in it. The store announces every change another node may
//! have cached (`pg_notify('cognate', 'kind:id')`, sent on commit; see
//! `cognate_core::change`), and [`spawn_listener`] runs one task per node that hears them
//! on a connection of its own and drops the matching cache entries at once.
//!
//! What each node caches, and how long it trusts it:
//! - signing keys ([`crate::keys::KeyRing`]): reloaded after a `keys` change, else after
//!   [`Propagation::cache_ttl_ms`];
//! - verification keys (same ring): cached only while the listener is up;
//! - app clients and user pools ([`crate::directory::Directory`]): dropped on a `client` or
//!   `pool` change (this node's own synchronously, as the store commits them), else after
//!   [`Propagation::cache_ttl_ms`];
//! - which tenant a pool is dedicated to, and whether the shared pool exists yet (the same
//!   directory): dropped on any `tenant` change, else after [`Propagation::cache_ttl_ms`];
//! - ids that never change once written ([`crate::tenancy::IdCache`]): never reloaded;
//! - SAML metadata documents and OIDC discovery/JWKS: fetched from the providers, not from
//!   the database, so no node's change invalidates them (their own TTLs apply).
//!
//! Everything else — token families, refresh tokens, users (disabled, signed out),
//! memberships, tenant records (suspended) — is read from the database on each
//! request that needs it (the directory keeps only which tenant a pool is dedicated to and
//! whether the shared pool exists, dropped on any tenant change), so a change committed on one node is in effect on every node from
//! their next request. Those changes are still announced (and counted), so a cache added
//! later has its invalidation ready.
//!
//! Polling stays as the fallback: while the listener is down (and on SQLite, a single node,
//! where there is nobody to tell, and with `COGNATE_NOTIFY=off`), caches expire after the
//! configured refresh interval (`COGNATE_CACHE_REFRESH_SECS`, 5 s by default); while it is
//! up they are trusted for [`HEALTHY_TTL_MS`] or that interval, whichever is longer. Every
//! (re)connection drops all cached keys, since changes may have been missed meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cognate_core::change::Change;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;

/// How long cached state is trusted while the listener is up: a safety net against a
/// notification lost in a way the connection did not notice. 60 s.
pub const HEALTHY_TTL_MS: i64 = 60_000;
/// The first wait before reconnecting a lost listener; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Whether this node hears other nodes' changes, and how long caches live as a result.
#[derive(Debug)]
pub struct Propagation {
    up: AtomicBool,
    fallback_ms: i64,
}

impl Default for Propagation {
    fn default() -> Self {
        Self::new(crate::state::DEFAULT_CACHE_REFRESH_MS)
    }
}

impl Propagation {
    /// Caches expire after `fallback_ms` until a listener says it is up.
    pub fn new(fallback_ms: i64) -> Self {
        Self { up: AtomicBool::new(false), fallback_ms: fallback_ms.max(0) }
    }

    /// Whether the listener is connected now.
    pub fn listening(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// How long a cache entry loaded from the database is used before it is read again.
    pub fn cache_ttl_ms(&self) -> i64 {
        if self.listening() { self.fallback_ms.max(HEALTHY_TTL_MS) } else { self.fallback_ms }
    }

    fn set(&self, state: &AppState, up: bool) {
        self.up.store(up, Ordering::Release);
        state.metrics.listener_up(up);
    }
}

/// Drops what this node cached about `change`.
pub fn apply(state: &AppState, change: &Change) {
    state.directory.forget(change);
    match change {
        Change::Keys(pool) | Change::Pool(pool) => state.keys.forget(pool),
        // The directory's part is dropped above; the rest is read from the database per
        // request (see the module docs).
        Change::Revoked(_) | Change::Tenant(_) | Change::Client(..) | Change::User(_) => {}
    }
}

/// Starts this node's listener; it runs until `stop` turns true. Returns at once (and the
/// task ends) on a store that serves one node.
pub fn spawn_listener(state: AppState, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        loop {
            let feed = tokio::select! {
                feed = state.store.listen() => feed,
                _ = stop.changed() => return,
            };
            match feed {
                Ok(None) => {
                    tracing::debug!("single-node store: no change listener");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, retry_ms = backoff.as_millis(), "change listener cannot connect"),
                Ok(Some(mut feed)) => {
                    // Listening from here on; whatever changed before may not have been heard.
                    state.keys.clear();
                    state.directory.clear();
                    state.propagation.set(&state, true);
                    tracing::info!("change listener connected");
                    backoff = MIN_BACKOFF;
                    let lost = loop {
                        let next = tokio::select! {
                            next = feed.next() => next,
                            _ = stop.changed() => {
                                state.propagation.set(&state, false);
                                return;
                            }
                        };
                        match next {
                            Ok(Some(change)) => {
                                state.metrics.notification(change.kind());
                                apply(&state, &change);
                            }
                            Ok(None) => state.metrics.notification("unknown"),
                            Err(e) => break e,
                        }
                    };
                    state.propagation.set(&state, false);
                    tracing::warn!(error = %lost, retry_ms = backoff.as_millis(), "change listener lost; polling meanwhile");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}
