//! Outgoing messages (codes, temporary passwords, invitation links) at rest.
//!
//! Every message body is sealed with the master key before it is stored, and each message
//! records when its secret stops being useful (`secret_expires_at`: the code's or the
//! invitation's expiry). The body is blanked once a sender delivered the message, once a
//! worker gave up on it, and — by [`redact_expired`], every minute — once its secret
//! expired. So neither a copy of the SQLite file nor a PostgreSQL backup lets anyone accept
//! an invitation or reset a password. Bodies written by earlier versions in plaintext are
//! sealed at start-up ([`seal_legacy`]).

use cognate_core::StoreError;
use cognate_core::crypto::{MasterKey, MasterKeyError};
use cognate_core::ids::{PoolId, generate_sub};
use cognate_core::repo::OutboxMessage;

use crate::AppState;

/// The master-key label of message bodies; each body is bound to its message's id and
/// destination too, so a sealed secret copied into another row (to another address) does
/// not open.
const BODY_LABEL: &str = "outbox-body";

fn label(id: &str, destination: &str) -> String {
    format!("{BODY_LABEL}\n{id}\n{destination}")
}
/// Stored sealed bodies start with this; anything else non-empty is a legacy plaintext body.
const SEALED_PREFIX: &str = "sealed:";
/// How often expired secrets are blanked.
pub const REDACT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// A message to queue.
pub struct Outgoing<'a> {
    pub pool_id: &'a PoolId,
    pub username: &'a str,
    /// `EMAIL` or `SMS`.
    pub medium: &'a str,
    pub destination: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// When the secret the body carries stops working (ms); `None` when it carries none.
    pub secret_expires_at: Option<i64>,
}

/// Queues a message with its body sealed.
pub async fn enqueue(state: &AppState, m: Outgoing<'_>) -> Result<(), StoreError> {
    let id = generate_sub(state.rng.as_ref());
    let body = seal(&state.master_key, state.rng.as_ref(), &id, m.destination, m.body);
    let msg = OutboxMessage {
        id,
        pool_id: m.pool_id.clone(),
        username: m.username.to_owned(),
        medium: m.medium.to_owned(),
        destination: m.destination.to_owned(),
        subject: m.subject.to_owned(),
        body,
        created_at: state.clock.now_millis(),
        delivered_at: None,
        attempts: 0,
        last_error: None,
        next_attempt_at: 0,
        secret_expires_at: m.secret_expires_at,
    };
    state.store.enqueue_message(&msg).await
}

fn seal(key: &MasterKey, rng: &dyn cognate_core::Rng, id: &str, destination: &str, body: &str) -> String {
    format!("{SEALED_PREFIX}{}", key.seal(rng, &label(id, destination), body.as_bytes()))
}

/// The readable body of a stored message; `None` once it was blanked (delivered, given
/// up, or its secret expired).
pub fn open(key: &MasterKey, m: &OutboxMessage) -> Result<Option<String>, MasterKeyError> {
    let stored = m.body.as_str();
    if stored.is_empty() {
        return Ok(None);
    }
    let Some(sealed) = stored.strip_prefix(SEALED_PREFIX) else {
        return Ok(Some(stored.to_owned())); // written by a version that did not seal
    };
    let plain = key.open(&label(&m.id, &m.destination), sealed)?;
    String::from_utf8(plain).map(Some).map_err(|_| MasterKeyError::Decrypt)
}

/// Blanks the bodies whose secret expired; returns how many.
pub async fn redact_expired(state: &AppState) -> Result<u64, StoreError> {
    let n = state.store.redact_expired_messages(state.clock.now_millis()).await?;
    if n > 0 {
        tracing::info!(messages = n, "blanked outbox messages whose secret expired");
    }
    Ok(n)
}

/// Seals the plaintext bodies an earlier version left (pending messages only: the
/// migration blanked delivered and given-up ones).
pub async fn seal_legacy(state: &AppState) -> Result<u64, StoreError> {
    const BATCH: u32 = 1000;
    let mut sealed = 0;
    loop {
        let batch = state.store.unsealed_messages(SEALED_PREFIX, BATCH).await?;
        let mut changed = 0;
        for m in &batch {
            let body = seal(&state.master_key, state.rng.as_ref(), &m.id, &m.destination, &m.body);
            if state.store.replace_message_body(&m.id, &m.body, &body).await? {
                changed += 1;
            }
        }
        sealed += changed;
        // A short batch was the last; a batch where nothing changed would repeat forever.
        if batch.len() < BATCH as usize || changed == 0 {
            break;
        }
    }
    if sealed > 0 {
        tracing::info!(messages = sealed, "sealed plaintext outbox bodies left by an earlier version");
    }
    Ok(sealed)
}

/// Blanks expired secrets every [`REDACT_INTERVAL`] until `stop` turns true.
pub fn spawn_redactor(state: AppState, stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    crate::periodic::spawn(REDACT_INTERVAL, stop, move || {
        let state = state.clone();
        async move {
            if let Err(e) = redact_expired(&state).await {
                tracing::error!(error = %e, "could not blank expired outbox secrets; trying again later");
            }
        }
    })
}
