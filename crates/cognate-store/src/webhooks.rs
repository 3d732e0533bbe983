//! Webhooks: endpoints, the event outbox, deliveries and their attempts, written once as
//! generic code over [`Backend`] (see [`crate::pools`]).
//!
//! Every row has an owner (a tenant id or `~platform`) and is tenant-owned on PostgreSQL
//! (`0022_webhooks.sql`): an owner's statements run in its scope ([`owner_scope`]) and
//! filter by owner themselves, which is what isolates owners on SQLite. The delivery
//! worker's cross-owner reads (events to fan out, due deliveries, the backlog) run in the
//! platform read scope, and each of its writes in the scope of the row's owner — inside
//! one transaction where it must be atomic, by moving the transaction-local tenant setting
//! from statement to statement.
//!
//! Events reach the outbox through [`insert_events`], called by the store writes that
//! report a change (inside their own transaction) and by [`WebhookRepo::emit_webhook_events`]
//! for events that report no table change.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::page::PageRequest;
use cognate_core::repo::{WebhookBacklog, WebhookRepo};
use cognate_core::webhook::{
    AttemptOutcome, DeliveryAttempt, DeliveryStatus, PLATFORM_OWNER, WebhookDelivery, WebhookEndpoint, WebhookEvent,
    filter_matches,
};
use sqlx::Transaction;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::{affected, json, to_json, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

/// Begins a transaction confined to `owner` (a tenant id or `~platform`): on PostgreSQL
/// the policies then show and accept only that owner's rows.
async fn owner_scope<B: Backend>(pool: &Db<B>, owner: &str) -> Result<Transaction<'static, B>> {
    let mut tx = pool.begin().await.map_err(backend_err)?;
    set_owner::<B>(&mut tx, owner).await?;
    Ok(tx)
}

/// Moves the transaction's scope to `owner` for the statements that follow.
async fn set_owner<B: Backend>(conn: &mut B::Connection, owner: &str) -> Result<()> {
    B::execute_on(sqlx::query::<B>(B::SET_TENANT).text(owner), conn).await.map_err(backend_err)?;
    Ok(())
}

/// Begins a transaction that may read every owner's rows (and write, after [`set_owner`],
/// one owner's at a time), reading before it writes.
async fn platform_write_scope<B: Backend>(pool: &Db<B>) -> Result<Transaction<'static, B>> {
    let mut tx = pool.begin_with(B::WRITE_BEGIN).await.map_err(backend_err)?;
    B::execute_on(sqlx::query::<B>(B::PLATFORM_SCOPE), &mut tx).await.map_err(backend_err)?;
    Ok(tx)
}

/// A read-only transaction over every owner's rows.
async fn platform_read<B: Backend>(pool: &Db<B>) -> Result<Transaction<'static, B>> {
    let mut tx = pool.begin().await.map_err(backend_err)?;
    B::execute_on(sqlx::query::<B>(B::PLATFORM_SCOPE), &mut tx).await.map_err(backend_err)?;
    Ok(tx)
}

/// Inserts `events` on `conn`, each in its owner's scope; the caller's transaction decides
/// whether they commit (with the change they report) or not. The scope is left at the
/// last event's owner: callers insert events last, or set their scope again.
pub(crate) async fn insert_events<B: Backend>(conn: &mut B::Connection, events: &[WebhookEvent]) -> Result<()> {
    for e in events {
        set_owner::<B>(conn, &e.owner).await?;
        let q = sqlx::query::<B>(
            "INSERT INTO webhook_events (id, owner, event_type, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .text(&e.id)
        .text(&e.owner)
        .text(&e.event_type)
        .text(&e.body)
        .int(e.created_at);
        B::execute_on(q, conn).await.map_err(|e| write_err(e, "webhook event"))?;
    }
    Ok(())
}

/// Deletes every endpoint of `owner` with its deliveries and their attempts, on `conn`
/// (in `owner`'s scope): a deleted tenant's. Its events stay in the outbox: platform
/// endpoints still hear what happened before the deletion.
pub(crate) async fn delete_owner_endpoints<B: Backend>(conn: &mut B::Connection, owner: &str) -> Result<()> {
    // Children first: not every SQLite connection enforces cascades.
    for sql in [
        "DELETE FROM webhook_attempts WHERE owner = $1",
        "DELETE FROM webhook_deliveries WHERE owner = $1",
        "DELETE FROM webhook_endpoints WHERE owner = $1",
    ] {
        B::execute_on(sqlx::query::<B>(sql).text(owner), conn).await.map_err(backend_err)?;
    }
    Ok(())
}

fn endpoint_from<B: Backend>(row: &B::Row) -> Result<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: B::text_col(row, "id")?,
        owner: B::text_col(row, "owner")?,
        url: B::text_col(row, "url")?,
        description: B::text_col(row, "description")?,
        event_types: json(&B::text_col(row, "event_types")?, "webhook event types")?,
        enabled: B::flag_col(row, "enabled")?,
        disabled_reason: B::opt_text_col(row, "disabled_reason")?,
        secret_sealed: B::text_col(row, "secret_sealed")?,
        previous_secret_sealed: B::opt_text_col(row, "previous_secret_sealed")?,
        previous_until: B::opt_int_col(row, "previous_until")?,
        failing_since: B::opt_int_col(row, "failing_since")?,
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
    })
}

fn delivery_from<B: Backend>(row: &B::Row) -> Result<WebhookDelivery> {
    let status = B::text_col(row, "status")?;
    Ok(WebhookDelivery {
        id: B::text_col(row, "id")?,
        owner: B::text_col(row, "owner")?,
        endpoint_id: B::text_col(row, "endpoint_id")?,
        event_id: B::text_col(row, "event_id")?,
        event_type: B::text_col(row, "event_type")?,
        body: B::text_col(row, "body")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery status {status}")))?,
        attempts: B::int_col(row, "attempts")?,
        next_attempt_at: B::int_col(row, "next_attempt_at")?,
        last_status_code: B::opt_int_col(row, "last_status_code")?,
        last_error: B::opt_text_col(row, "last_error")?,
        created_at: B::int_col(row, "created_at")?,
        delivered_at: B::opt_int_col(row, "delivered_at")?,
    })
}

fn attempt_from<B: Backend>(row: &B::Row) -> Result<DeliveryAttempt> {
    Ok(DeliveryAttempt {
        delivery_id: B::text_col(row, "delivery_id")?,
        owner: B::text_col(row, "owner")?,
        at: B::int_col(row, "at")?,
        status_code: B::opt_int_col(row, "status_code")?,
        error: B::opt_text_col(row, "error")?,
        excerpt: B::opt_text_col(row, "excerpt")?,
        latency_ms: B::int_col(row, "latency_ms")?,
    })
}

async fn insert_delivery<B: Backend>(conn: &mut B::Connection, d: &WebhookDelivery) -> Result<u64> {
    let q = sqlx::query::<B>(
        "INSERT INTO webhook_deliveries (id, owner, endpoint_id, event_id, event_type, body, status, attempts, \
         next_attempt_at, last_status_code, last_error, created_at, delivered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (endpoint_id, event_id) DO NOTHING",
    )
    .text(&d.id)
    .text(&d.owner)
    .text(&d.endpoint_id)
    .text(&d.event_id)
    .text(&d.event_type)
    .text(&d.body)
    .text(d.status.as_str())
    .int(d.attempts)
    .int(d.next_attempt_at)
    .opt_int(d.last_status_code)
    .opt_text(d.last_error.as_deref())
    .int(d.created_at)
    .opt_int(d.delivered_at);
    B::execute_on(q, conn).await.map_err(|e| write_err(e, "delivery"))
}

#[async_trait]
impl<B: Backend> WebhookRepo for SqlStore<B> {
    async fn create_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<()> {
        let mut tx = owner_scope(&self.db, &e.owner).await?;
        let types = to_json(&e.event_types)?;
        let q = sqlx::query::<B>(
            "INSERT INTO webhook_endpoints (id, owner, url, description, event_types, enabled, disabled_reason, \
             secret_sealed, previous_secret_sealed, previous_until, failing_since, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .text(&e.id)
        .text(&e.owner)
        .text(&e.url)
        .text(&e.description)
        .text(&types)
        .flag(e.enabled)
        .opt_text(e.disabled_reason.as_deref())
        .text(&e.secret_sealed)
        .opt_text(e.previous_secret_sealed.as_deref())
        .opt_int(e.previous_until)
        .opt_int(e.failing_since)
        .int(e.created_at)
        .int(e.updated_at);
        B::execute_on(q, &mut tx).await.map_err(|e| write_err(e, "webhook"))?;
        tx.commit().await.map_err(backend_err)
    }

    async fn get_webhook_endpoint(&self, owner: &str, id: &str) -> Result<Option<WebhookEndpoint>> {
        let mut tx = owner_scope(&self.db, owner).await?;
        let q = sqlx::query::<B>("SELECT * FROM webhook_endpoints WHERE owner = $1 AND id = $2").text(owner).text(id);
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(endpoint_from::<B>).transpose()
    }

    async fn list_webhook_endpoints(&self, owner: &str, page: &PageRequest) -> Result<Vec<WebhookEndpoint>> {
        let mut tx = owner_scope(&self.db, owner).await?;
        let q = sqlx::query::<B>("SELECT * FROM webhook_endpoints WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3")
            .text(owner)
            .text(page.after.as_deref().unwrap_or(""))
            .int(page.fetch_limit());
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(endpoint_from::<B>).collect()
    }

    async fn update_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<()> {
        let mut tx = owner_scope(&self.db, &e.owner).await?;
        let types = to_json(&e.event_types)?;
        let q = sqlx::query::<B>(
            "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, enabled = $4, \
             disabled_reason = $5, secret_sealed = $6, previous_secret_sealed = $7, previous_until = $8, \
             failing_since = $9, updated_at = $10 WHERE owner = $11 AND id = $12",
        )
        .text(&e.url)
        .text(&e.description)
        .text(&types)
        .flag(e.enabled)
        .opt_text(e.disabled_reason.as_deref())
        .text(&e.secret_sealed)
        .opt_text(e.previous_secret_sealed.as_deref())
        .opt_int(e.previous_until)
        .opt_int(e.failing_since)
        .int(e.updated_at)
        .text(&e.owner)
        .text(&e.id);
        let rows = B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        affected(rows, "webhook")?;
        tx.commit().await.map_err(backend_err)
    }

    async fn delete_webhook_endpoint(&self, owner: &str, id: &str) -> Result<()> {
        let mut tx = owner_scope(&self.db, owner).await?;
        // Attempts and deliveries first: not every SQLite connection enforces cascades.
        let q = sqlx::query::<B>(
            "DELETE FROM webhook_attempts WHERE owner = $1 AND delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE owner = $1 AND endpoint_id = $2)",
        )
        .text(owner)
        .text(id);
        B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        let q = sqlx::query::<B>("DELETE FROM webhook_deliveries WHERE owner = $1 AND endpoint_id = $2")
            .text(owner)
            .text(id);
        B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        let q = sqlx::query::<B>("DELETE FROM webhook_endpoints WHERE owner = $1 AND id = $2").text(owner).text(id);
        let rows = B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        affected(rows, "webhook")?;
        tx.commit().await.map_err(backend_err)
    }

    async fn emit_webhook_events(&self, events: &[WebhookEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        insert_events::<B>(&mut tx, events).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn fan_out_webhook_events(
        &self,
        now: i64,
        limit: u32,
        new_id: &(dyn Fn() -> String + Send + Sync),
    ) -> Result<u64> {
        let mut tx = platform_write_scope(&self.db).await?;
        let q = sqlx::query::<B>(
            "SELECT * FROM webhook_events WHERE fanned_out_at IS NULL ORDER BY created_at, id LIMIT $1",
        )
        .int(i64::from(limit));
        let events = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        let mut created = 0;
        for row in &events {
            let (id, owner) = (B::text_col(row, "id")?, B::text_col(row, "owner")?);
            set_owner::<B>(&mut tx, &owner).await?;
            // The claim: of two nodes fanning out at once, the second finds it done (on
            // PostgreSQL it waits for the first's row lock, then re-reads the condition).
            let q = sqlx::query::<B>(
                "UPDATE webhook_events SET fanned_out_at = $1 WHERE owner = $2 AND id = $3 AND fanned_out_at IS NULL",
            )
            .int(now)
            .text(&owner)
            .text(&id);
            if B::execute_on(q, &mut tx).await.map_err(backend_err)? != 1 {
                continue;
            }
            let (event_type, body) = (B::text_col(row, "event_type")?, B::text_col(row, "body")?);
            // Endpoints that existed when the event happened: one created later (before the
            // worker came round) does not hear of the past.
            let q = sqlx::query::<B>(
                "SELECT * FROM webhook_endpoints WHERE (owner = $1 OR owner = $2) AND enabled = $3                  AND created_at <= $4 ORDER BY id",
            )
            .text(&owner)
            .text(PLATFORM_OWNER)
            .flag(true)
            .int(B::int_col(row, "created_at")?);
            let endpoints = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
            for ep in endpoints.iter().map(endpoint_from::<B>) {
                let ep = ep?;
                if !filter_matches(&ep.event_types, &event_type) {
                    continue;
                }
                let delivery = WebhookDelivery {
                    id: new_id(),
                    owner: ep.owner.clone(),
                    endpoint_id: ep.id.clone(),
                    event_id: id.clone(),
                    event_type: event_type.clone(),
                    body: body.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_attempt_at: now,
                    last_status_code: None,
                    last_error: None,
                    created_at: now,
                    delivered_at: None,
                };
                set_owner::<B>(&mut tx, &ep.owner).await?;
                created += insert_delivery::<B>(&mut tx, &delivery).await?;
            }
        }
        tx.commit().await.map_err(backend_err)?;
        Ok(created)
    }

    async fn create_webhook_delivery(&self, d: &WebhookDelivery) -> Result<()> {
        let mut tx = owner_scope(&self.db, &d.owner).await?;
        insert_delivery::<B>(&mut tx, d).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn claim_webhook_deliveries(&self, now: i64, lease_until: i64, limit: u32) -> Result<Vec<WebhookDelivery>> {
        let mut tx = platform_read(&self.db).await?;
        let q = sqlx::query::<B>(
            "SELECT * FROM webhook_deliveries WHERE status = $1 AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at, id LIMIT $3",
        )
        .text(DeliveryStatus::Pending.as_str())
        .int(now)
        .int(i64::from(limit));
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut d = delivery_from::<B>(row)?;
            // Compare-and-set on the value just read, as the email outbox does: a worker
            // that claimed it in between moved next_attempt_at, and this matches nothing.
            let mut tx = owner_scope(&self.db, &d.owner).await?;
            let q = sqlx::query::<B>(
                "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE owner = $2 AND id = $3 \
                 AND status = $4 AND next_attempt_at = $5",
            )
            .int(lease_until)
            .text(&d.owner)
            .text(&d.id)
            .text(DeliveryStatus::Pending.as_str())
            .int(d.next_attempt_at);
            let won = B::execute_on(q, &mut tx).await.map_err(backend_err)? == 1;
            tx.commit().await.map_err(backend_err)?;
            if won {
                d.next_attempt_at = lease_until;
                claimed.push(d);
            }
        }
        Ok(claimed)
    }

    async fn record_webhook_attempt(&self, o: &AttemptOutcome) -> Result<()> {
        let a = &o.attempt;
        let mut tx = owner_scope(&self.db, &a.owner).await?;
        let q = sqlx::query::<B>(
            "INSERT INTO webhook_attempts (delivery_id, owner, at, status_code, error, excerpt, latency_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .text(&a.delivery_id)
        .text(&a.owner)
        .int(a.at)
        .opt_int(a.status_code)
        .opt_text(a.error.as_deref())
        .opt_text(a.excerpt.as_deref())
        .int(a.latency_ms);
        B::execute_on(q, &mut tx).await.map_err(|e| write_err(e, "delivery"))?;
        let delivered = o.status == DeliveryStatus::Delivered;
        let q = sqlx::query::<B>(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, \
             last_status_code = $3, last_error = $4, delivered_at = $5 WHERE owner = $6 AND id = $7",
        )
        .text(o.status.as_str())
        .int(o.next_attempt_at)
        .opt_int(a.status_code)
        .opt_text(a.error.as_deref())
        .opt_int(delivered.then_some(a.at))
        .text(&a.owner)
        .text(&a.delivery_id);
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "delivery")?;
        // The endpoint's failure streak: a delivery ends it, a failure starts it (once).
        let q = sqlx::query::<B>(
            "UPDATE webhook_endpoints SET failing_since = CASE WHEN $1 THEN NULL ELSE COALESCE(failing_since, $2) END \
             WHERE owner = $3 AND id = $4",
        )
        .flag(delivered)
        .int(a.at)
        .text(&a.owner)
        .text(&o.endpoint_id);
        B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        if let Some(reason) = &o.disable_endpoint {
            let q = sqlx::query::<B>(
                "UPDATE webhook_endpoints SET enabled = $1, disabled_reason = $2, updated_at = $3 \
                 WHERE owner = $4 AND id = $5",
            )
            .flag(false)
            .text(reason)
            .int(a.at)
            .text(&a.owner)
            .text(&o.endpoint_id);
            B::execute_on(q, &mut tx).await.map_err(backend_err)?;
            let q = sqlx::query::<B>(
                "UPDATE webhook_deliveries SET status = $1, last_error = $2 \
                 WHERE owner = $3 AND endpoint_id = $4 AND status = $5",
            )
            .text(DeliveryStatus::Failed.as_str())
            .text(reason)
            .text(&a.owner)
            .text(&o.endpoint_id)
            .text(DeliveryStatus::Pending.as_str());
            B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)
    }

    async fn list_webhook_deliveries(
        &self,
        owner: &str,
        endpoint_id: &str,
        status: Option<DeliveryStatus>,
        page: &PageRequest,
    ) -> Result<Vec<WebhookDelivery>> {
        let mut tx = owner_scope(&self.db, owner).await?;
        // Ids start with their creation time, so descending ids are newest first; the
        // cursor is the last id shown.
        let q = sqlx::query::<B>(
            "SELECT * FROM webhook_deliveries WHERE owner = $1 AND endpoint_id = $2 AND ($3 = '' OR status = $3) \
             AND ($4 = '' OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .text(owner)
        .text(endpoint_id)
        .text(status.map_or("", DeliveryStatus::as_str))
        .text(page.after.as_deref().unwrap_or(""))
        .int(page.fetch_limit());
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(delivery_from::<B>).collect()
    }

    async fn get_webhook_delivery(&self, owner: &str, endpoint_id: &str, id: &str) -> Result<Option<WebhookDelivery>> {
        let mut tx = owner_scope(&self.db, owner).await?;
        let q = sqlx::query::<B>("SELECT * FROM webhook_deliveries WHERE owner = $1 AND endpoint_id = $2 AND id = $3")
            .text(owner)
            .text(endpoint_id)
            .text(id);
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(delivery_from::<B>).transpose()
    }

    async fn webhook_attempts(&self, owner: &str, delivery_id: &str) -> Result<Vec<DeliveryAttempt>> {
        let mut tx = owner_scope(&self.db, owner).await?;
        let q = sqlx::query::<B>("SELECT * FROM webhook_attempts WHERE owner = $1 AND delivery_id = $2 ORDER BY at")
            .text(owner)
            .text(delivery_id);
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(attempt_from::<B>).collect()
    }

    async fn replay_webhook_delivery(&self, owner: &str, endpoint_id: &str, id: &str, now: i64) -> Result<()> {
        let mut tx = owner_scope(&self.db, owner).await?;
        let q = sqlx::query::<B>(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2 \
             WHERE owner = $3 AND endpoint_id = $4 AND id = $5",
        )
        .text(DeliveryStatus::Pending.as_str())
        .int(now)
        .text(owner)
        .text(endpoint_id)
        .text(id);
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "delivery")?;
        tx.commit().await.map_err(backend_err)
    }

    async fn prune_webhooks(&self, before: i64) -> Result<u64> {
        let mut tx = platform_read(&self.db).await?;
        let q = sqlx::query::<B>(
            "SELECT DISTINCT owner FROM webhook_deliveries WHERE created_at < $1 \
             UNION SELECT DISTINCT owner FROM webhook_events WHERE created_at < $1",
        )
        .int(before);
        let owners = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        let mut gone = 0;
        for row in &owners {
            let owner = B::text_col(row, 0)?;
            let mut tx = owner_scope(&self.db, &owner).await?;
            let q = sqlx::query::<B>(
                "DELETE FROM webhook_attempts WHERE owner = $1 AND delivery_id IN (SELECT id FROM webhook_deliveries \
                 WHERE owner = $1 AND created_at < $2 AND status <> $3)",
            )
            .text(&owner)
            .int(before)
            .text(DeliveryStatus::Pending.as_str());
            gone += B::execute_on(q, &mut tx).await.map_err(backend_err)?;
            let q = sqlx::query::<B>(
                "DELETE FROM webhook_deliveries WHERE owner = $1 AND created_at < $2 AND status <> $3",
            )
            .text(&owner)
            .int(before)
            .text(DeliveryStatus::Pending.as_str());
            gone += B::execute_on(q, &mut tx).await.map_err(backend_err)?;
            let q = sqlx::query::<B>(
                "DELETE FROM webhook_events WHERE owner = $1 AND created_at < $2 AND fanned_out_at IS NOT NULL",
            )
            .text(&owner)
            .int(before);
            gone += B::execute_on(q, &mut tx).await.map_err(backend_err)?;
            tx.commit().await.map_err(backend_err)?;
        }
        Ok(gone)
    }

    async fn webhook_backlog(&self) -> Result<WebhookBacklog> {
        let mut tx = platform_read(&self.db).await?;
        let q = sqlx::query::<B>("SELECT COUNT(*) FROM webhook_events WHERE fanned_out_at IS NULL");
        let events_pending = B::int_col(&B::fetch_one_on(q, &mut tx).await.map_err(backend_err)?, 0)?;
        let q = sqlx::query::<B>(
            "SELECT COUNT(CASE WHEN status = $1 THEN 1 END), COUNT(CASE WHEN status = $2 THEN 1 END) \
             FROM webhook_deliveries",
        )
        .text(DeliveryStatus::Pending.as_str())
        .text(DeliveryStatus::Failed.as_str());
        let row = B::fetch_one_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        Ok(WebhookBacklog {
            events_pending,
            deliveries_pending: B::int_col(&row, 0)?,
            deliveries_failed: B::int_col(&row, 1)?,
        })
    }
}
