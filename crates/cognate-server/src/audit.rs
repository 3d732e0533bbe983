//! Recording the audit trail without slowing the requests that cause it.
//!
//! Handlers and middleware call [`AuditLog::record`], which only appends to an in-memory
//! buffer. [`flush_audit`] writes the buffer with one store call (each event placed at the
//! end of its tenant's hash chain, in recording order): every [`AUDIT_FLUSH_INTERVAL`] by
//! the task [`spawn_audit_writer`] starts, at graceful shutdown, and before any read of the
//! trail. A failed write keeps the events for the next attempt, in order. Events recorded
//! in the last interval before a crash (kill -9) are lost; nothing else is.

use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use cognate_core::StoreError;
use cognate_core::audit::{NewEvent, PLATFORM_CHAIN};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;
use crate::facts::Facts;

/// How often recorded events are written.
pub const AUDIT_FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// Buffered events beyond which every record logs a warning (the database is not keeping
/// up or is down); events are still kept, never dropped.
const BACKLOG_WARNING: usize = 100_000;

/// Default retention of a chain's events, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// The meta key holding a chain's retention in days.
pub fn retention_key(chain: &str) -> String {
    format!("audit_retention_days:{chain}")
}

/// A chain's retention in days: the tenant's setting, else [`DEFAULT_RETENTION_DAYS`].
pub async fn retention_days(state: &AppState, chain: &str) -> Result<u32, StoreError> {
    Ok(state
        .store
        .get_meta(&retention_key(chain))
        .await?
        .and_then(|d| d.parse().ok())
        .unwrap_or(DEFAULT_RETENTION_DAYS))
}

/// Sets a chain's retention in days.
pub async fn set_retention_days(state: &AppState, chain: &str, days: u32) -> Result<(), StoreError> {
    state.store.set_meta(&retention_key(chain), &days.to_string()).await
}

/// Events of `chain` matching `q`, newest first, including those recorded on this node
/// and not yet written.
pub async fn events(
    state: &AppState,
    chain: &str,
    q: &cognate_core::audit::AuditQuery,
) -> Result<Vec<cognate_core::audit::AuditEvent>, StoreError> {
    flush_audit(state).await?;
    state.store.audit_events(chain, q).await
}

/// Events of `chain` after `seq`, oldest first, with their hashes (for export); call
/// [`flush_audit`] before the first page.
pub async fn chain_page(
    state: &AppState,
    chain: &str,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<cognate_core::audit::AuditEvent>, StoreError> {
    state.store.audit_chain_page(chain, after_seq, limit).await
}

/// Purges every chain's events older than its retention, keeping each chain verifiable
/// from its anchor. Returns (chain, events deleted) for chains that lost events.
pub async fn purge_expired(state: &AppState) -> Result<Vec<(String, u64)>, StoreError> {
    flush_audit(state).await?;
    let now = state.clock.now_millis();
    let anchor_key = state.master_key.mac_key(cognate_core::audit::ANCHOR_KEY_LABEL);
    let mut out = Vec::new();
    for chain in state.store.audit_chains().await? {
        let days = i64::from(retention_days(state, &chain).await?);
        let deleted = state.store.purge_audit(&chain, now - days * 86_400_000, now, &anchor_key).await?;
        if deleted > 0 {
            out.push((chain, deleted));
        }
    }
    Ok(out)
}

/// Who caused an event, as recorded: never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(String),
    Admin(String),
    ApiKey(String),
    Client(String),
    Anonymous,
    /// Cognate itself: a background worker finishing work an operator started (a user
    /// import job).
    System,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(sub) => write!(f, "user:{sub}"),
            Self::Admin(key) => write!(f, "admin:{key}"),
            Self::ApiKey(id) => write!(f, "apikey:{id}"),
            Self::Client(id) => write!(f, "client:{id}"),
            Self::Anonymous => f.write_str("anonymous"),
            Self::System => f.write_str("system"),
        }
    }
}

/// Facts about the request behind an event.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// The longest user agent kept.
const MAX_USER_AGENT: usize = 256;

impl Origin {
    pub fn from_request(ip: Option<std::net::IpAddr>, headers: &HeaderMap, request_id: &str) -> Self {
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        Self { source_ip: ip.map(|ip| ip.to_string()), user_agent, request_id: Some(request_id.to_owned()) }
    }
}

/// The longest text kept in one field of an event (characters).
const MAX_FIELD_CHARS: usize = 512;

/// A value as recorded: control characters (which PostgreSQL cannot store, and which no
/// log reader wants) become U+FFFD and the length is capped, so a hostile input that was
/// refused can still be recorded and can never stop the trail from being written.
fn clean(value: &str) -> String {
    value
        .chars()
        .take(MAX_FIELD_CHARS)
        .map(|c| if cognate_core::text::is_forbidden_control(c) { '\u{fffd}' } else { c })
        .collect()
}

/// One event to record; [`AuditLog::record`] adds id and time.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The tenant the event belongs to; `None` for the platform chain.
    pub tenant: Option<&'a str>,
    pub pool_id: Option<&'a str>,
    pub actor: &'a Actor,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub success: bool,
    pub reason: Option<&'a str>,
    pub origin: &'a Origin,
}

/// The buffer of events waiting to be written.
#[derive(Debug, Default)]
pub struct AuditLog {
    /// Set only by [`AuditLog::disabled`] (benchmarks measuring the trail's cost).
    off: bool,
    pending: Mutex<Vec<NewEvent>>,
    /// Serialises flushes on this node, so events are written in recording order.
    flushing: tokio::sync::Mutex<()>,
}

impl AuditLog {
    /// A log that records nothing: only for measuring what the trail costs.
    pub fn disabled() -> Self {
        Self { off: true, ..Self::default() }
    }

    /// Records an event (cheap: a buffer append).
    pub fn record(&self, state: &AppState, e: Entry<'_>) {
        if self.off {
            return;
        }
        // Only a real tenant id names a chain; anything else (a mistyped or hostile path,
        // an unverified claim) is recorded in the platform chain, so it can never poison a
        // batch or a tenant's trail.
        let chain = match e.tenant {
            Some(t) if cognate_core::tenant::TenantId::parse(t).is_some() => t,
            _ => PLATFORM_CHAIN,
        };
        let event = NewEvent {
            chain: chain.to_owned(),
            id: cognate_core::ids::generate_sub(state.rng.as_ref()),
            at: state.clock.now_millis(),
            pool_id: e.pool_id.map(clean),
            actor: clean(&e.actor.to_string()),
            action: clean(e.action),
            target: e.target.map(clean),
            outcome: if e.success { "success" } else { "failure" }.to_owned(),
            reason: e.reason.map(clean),
            source_ip: e.origin.source_ip.as_deref().map(clean),
            user_agent: e.origin.user_agent.as_deref().map(clean),
            request_id: e.origin.request_id.as_deref().map(clean),
        };
        let Ok(mut pending) = self.pending.lock() else { return };
        pending.push(event);
        if pending.len() > BACKLOG_WARNING {
            tracing::warn!(backlog = pending.len(), "audit events are not being written fast enough");
        }
    }

    /// How many events wait to be written, and when the oldest was recorded (ms).
    pub fn backlog(&self) -> (usize, Option<i64>) {
        self.pending.lock().map(|p| (p.len(), p.first().map(|e| e.at))).unwrap_or((0, None))
    }

    fn take(&self) -> Vec<NewEvent> {
        self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default()
    }

    /// Puts back events a failed write could not store, ahead of newer ones.
    fn restore(&self, mut events: Vec<NewEvent>) {
        if let Ok(mut pending) = self.pending.lock() {
            events.append(&mut pending);
            *pending = events;
        }
    }
}

/// Writes the buffered events; on failure they stay buffered. Returns how many were written.
pub async fn flush_audit(state: &AppState) -> Result<usize, StoreError> {
    let _one_at_a_time = state.audit.flushing.lock().await;
    let events = state.audit.take();
    if events.is_empty() {
        return Ok(0);
    }
    match state.store.append_audit(&events).await {
        Ok(()) => Ok(events.len()),
        Err(e) => {
            state.audit.restore(events);
            Err(e)
        }
    }
}

/// Writes the trail every `interval` until `stop` turns true, then once more.
pub fn spawn_audit_writer(state: AppState, interval: Duration, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    crate::periodic::spawn(interval, stop, move || {
        let state = state.clone();
        async move {
            if let Err(e) = flush_audit(&state).await {
                tracing::error!(error = %e, "could not write the audit trail; keeping the events for the next attempt");
            }
        }
    })
}

/// Records a call of the OAuth endpoints that concerns a refresh token (the refresh_token
/// grant, `/oauth2/revoke`) from the facts its code noted: in the chain of the token
/// family's tenant, by its user when the call succeeded, else by the authenticated client.
pub fn record_token_use(state: &AppState, origin: &Origin, action: &str, facts: Facts, outcome: Result<(), &str>) {
    let actor = match (&facts.user, outcome) {
        (Some(sub), Ok(())) => Actor::User(sub.clone()),
        _ => facts.actor.clone().unwrap_or(Actor::Anonymous),
    };
    state.audit.record(
        state,
        Entry {
            tenant: facts.tenant.clone().flatten().as_deref(),
            pool_id: facts.pool.as_deref(),
            actor: &actor,
            action,
            target: facts.user.as_deref(),
            success: outcome.is_ok(),
            reason: outcome.err(),
            origin,
        },
    );
}
