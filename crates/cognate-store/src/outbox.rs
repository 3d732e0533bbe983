//! The outbox of outgoing messages (codes, invitations), written once as generic code over
//! [`Backend`] (see [`crate::pools`]). Bodies arrive sealed; delivery blanks them.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::repo::{OUTBOX_NEVER, OutboxBacklog, OutboxMessage, OutboxRepo};

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::write_err;
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn message_from<B: Backend>(row: &B::Row) -> Result<OutboxMessage> {
    let pool = B::text_col(row, "pool_id")?;
    Ok(OutboxMessage {
        id: B::text_col(row, "id")?,
        pool_id: PoolId::parse(&pool).ok_or_else(|| StoreError::Corrupt(format!("pool id {pool}")))?,
        username: B::text_col(row, "username")?,
        medium: B::text_col(row, "medium")?,
        destination: B::text_col(row, "destination")?,
        subject: B::text_col(row, "subject")?,
        body: B::text_col(row, "body")?,
        created_at: B::int_col(row, "created_at")?,
        delivered_at: B::opt_int_col(row, "delivered_at")?,
        attempts: B::int_col(row, "attempts")?,
        last_error: B::opt_text_col(row, "last_error")?,
        next_attempt_at: B::int_col(row, "next_attempt_at")?,
        secret_expires_at: B::opt_int_col(row, "secret_expires_at")?,
    })
}

fn changed(rows: u64) -> Result<()> {
    if rows == 0 { Err(StoreError::NotFound("message")) } else { Ok(()) }
}

pub(crate) async fn enqueue<B: Backend>(db: &Db<B>, m: &OutboxMessage) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO outbox (id, pool_id, username, medium, destination, subject, body, created_at, \
         secret_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .text(&m.id)
    .text(m.pool_id.as_str())
    .text(&m.username)
    .text(&m.medium)
    .text(&m.destination)
    .text(&m.subject)
    .text(&m.body)
    .int(m.created_at)
    .opt_int(m.secret_expires_at);
    B::execute(q, db).await.map_err(|e| write_err(e, "message"))?;
    Ok(())
}

pub(crate) async fn list<B: Backend>(db: &Db<B>, pool: Option<&PoolId>, limit: u32) -> Result<Vec<OutboxMessage>> {
    let q = sqlx::query::<B>(
        "SELECT * FROM outbox WHERE ($1 = '' OR pool_id = $1) ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .text(pool.map_or("", PoolId::as_str))
    .int(i64::from(limit));
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(message_from::<B>).collect()
}

/// Claims up to `limit` due messages of `medium` until `lease_until`.
pub(crate) async fn claim_pending<B: Backend>(
    db: &Db<B>,
    medium: &str,
    now: i64,
    lease_until: i64,
    limit: u32,
) -> Result<Vec<OutboxMessage>> {
    let q = sqlx::query::<B>(
        "SELECT * FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 AND medium = $2 \
         ORDER BY created_at, id LIMIT $3",
    )
    .int(now)
    .text(medium)
    .int(i64::from(limit));
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut m = message_from::<B>(row)?;
        // Compare-and-set on the value just read: if another worker claimed the message in
        // between, its lease changed next_attempt_at and this update matches nothing (even if
        // the two nodes' clocks disagree).
        let q = sqlx::query::<B>(
            "UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND delivered_at IS NULL AND next_attempt_at = $3",
        )
        .int(lease_until)
        .text(&m.id)
        .int(m.next_attempt_at);
        if B::execute(q, db).await.map_err(backend_err)? == 1 {
            m.next_attempt_at = lease_until;
            claimed.push(m);
        }
    }
    Ok(claimed)
}

/// Marks a message delivered (the first time counts) and blanks its body.
pub(crate) async fn mark_delivered<B: Backend>(db: &Db<B>, id: &str, at: i64) -> Result<()> {
    let q = sqlx::query::<B>("UPDATE outbox SET delivered_at = COALESCE(delivered_at, $1), body = '' WHERE id = $2")
        .int(at)
        .text(id);
    changed(B::execute(q, db).await.map_err(backend_err)?)
}

/// Counts a failed attempt; giving up (`OUTBOX_NEVER`) blanks the body.
pub(crate) async fn mark_failed<B: Backend>(db: &Db<B>, id: &str, error: &str, next_attempt_at: i64) -> Result<()> {
    let q = sqlx::query::<B>(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
         body = CASE WHEN $2 = $4 THEN '' ELSE body END WHERE id = $3",
    )
    .text(error)
    .int(next_attempt_at)
    .text(id)
    .int(OUTBOX_NEVER);
    changed(B::execute(q, db).await.map_err(backend_err)?)
}

/// Blanks the bodies whose secret has expired; how many.
pub(crate) async fn redact_expired<B: Backend>(db: &Db<B>, now: i64) -> Result<u64> {
    let q = sqlx::query::<B>(
        "UPDATE outbox SET body = '' WHERE body <> '' AND secret_expires_at IS NOT NULL AND secret_expires_at <= $1",
    )
    .int(now);
    B::execute(q, db).await.map_err(backend_err)
}

/// Messages whose body is not blank and not sealed (does not start with `sealed_prefix`).
pub(crate) async fn unsealed<B: Backend>(db: &Db<B>, sealed_prefix: &str, limit: u32) -> Result<Vec<OutboxMessage>> {
    let q = sqlx::query::<B>(
        "SELECT * FROM outbox WHERE body <> '' AND substr(body, 1, CAST($1 AS INTEGER)) <> $2 \
         ORDER BY created_at, id LIMIT $3",
    )
    .int(i64::try_from(sealed_prefix.chars().count()).unwrap_or(i64::MAX))
    .text(sealed_prefix)
    .int(i64::from(limit));
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(message_from::<B>).collect()
}

/// Replaces the body if it is still `old`; whether it was.
pub(crate) async fn replace_body<B: Backend>(db: &Db<B>, id: &str, old: &str, new: &str) -> Result<bool> {
    let q = sqlx::query::<B>("UPDATE outbox SET body = $1 WHERE id = $2 AND body = $3").text(new).text(id).text(old);
    Ok(B::execute(q, db).await.map_err(backend_err)? == 1)
}

/// Undelivered messages per medium: pending, and given up.
pub(crate) async fn backlog<B: Backend>(db: &Db<B>) -> Result<Vec<OutboxBacklog>> {
    let q = sqlx::query::<B>(
        "SELECT medium, COUNT(CASE WHEN next_attempt_at <> $1 THEN 1 END) AS pending, \
         COUNT(CASE WHEN next_attempt_at = $1 THEN 1 END) AS given_up \
         FROM outbox WHERE delivered_at IS NULL GROUP BY medium ORDER BY medium",
    )
    .int(OUTBOX_NEVER);
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter()
        .map(|row| {
            Ok(OutboxBacklog {
                medium: B::text_col(row, "medium")?,
                pending: B::int_col(row, "pending")?,
                given_up: B::int_col(row, "given_up")?,
            })
        })
        .collect()
}

#[async_trait]
impl<B: Backend> OutboxRepo for SqlStore<B> {
    async fn enqueue_message(&self, m: &OutboxMessage) -> Result<()> {
        enqueue(&self.db, m).await
    }

    async fn list_messages(&self, pool: Option<&PoolId>, limit: u32) -> Result<Vec<OutboxMessage>> {
        list(&self.db, pool, limit).await
    }

    async fn claim_pending(&self, medium: &str, now: i64, lease_until: i64, limit: u32) -> Result<Vec<OutboxMessage>> {
        claim_pending(&self.db, medium, now, lease_until, limit).await
    }

    async fn mark_delivered(&self, id: &str, at: i64) -> Result<()> {
        mark_delivered(&self.db, id, at).await
    }

    async fn mark_failed(&self, id: &str, error: &str, next_attempt_at: i64) -> Result<()> {
        mark_failed(&self.db, id, error, next_attempt_at).await
    }

    async fn redact_expired_messages(&self, now: i64) -> Result<u64> {
        redact_expired(&self.db, now).await
    }

    async fn unsealed_messages(&self, sealed_prefix: &str, limit: u32) -> Result<Vec<OutboxMessage>> {
        unsealed(&self.db, sealed_prefix, limit).await
    }

    async fn replace_message_body(&self, id: &str, old: &str, new: &str) -> Result<bool> {
        replace_body(&self.db, id, old, new).await
    }

    async fn outbox_backlog(&self) -> Result<Vec<OutboxBacklog>> {
        backlog(&self.db).await
    }
}
