//! Tenant API keys and their usage totals, written once as generic code over [`Backend`]
//! (see [`crate::pools`]). Only hashes of keys are stored.
//!
//! Both tables are tenant-owned: every statement runs in a tenant scope and filters by
//! tenant itself, except the lookup by hash, which runs in the platform (read) scope.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::apikey::{ApiKey, UsageDelta, UsageRow};
use cognate_core::page::PageRequest;
use cognate_core::repo::ApiKeyRepo;
use cognate_core::tenant::TenantId;
use cognate_core::webhook::WebhookEvent;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::{affected, json, tenant_id, to_json};
use crate::store::SqlStore;
use crate::tenancy::{refused, tenancy_err};

type Result<T> = std::result::Result<T, StoreError>;

fn api_key_from<B: Backend>(row: &B::Row) -> Result<ApiKey> {
    let rate_limit = B::opt_text_col(row, "rate_limit")?;
    Ok(ApiKey {
        id: B::text_col(row, "id")?,
        tenant_id: tenant_id(&B::text_col(row, "tenant_id")?)?,
        key_hash: B::text_col(row, "key_hash")?,
        display_prefix: B::text_col(row, "display_prefix")?,
        name: B::text_col(row, "name")?,
        scopes: json(&B::text_col(row, "scopes")?, "api key scopes")?,
        service_account: B::opt_text_col(row, "service_account")?,
        created_by: B::text_col(row, "created_by")?,
        created_at: B::int_col(row, "created_at")?,
        expires_at: B::opt_int_col(row, "expires_at")?,
        last_used_at: B::opt_int_col(row, "last_used_at")?,
        revoked_at: B::opt_int_col(row, "revoked_at")?,
        rotated_from: B::opt_text_col(row, "rotated_from")?,
        grace_until: B::opt_int_col(row, "grace_until")?,
        rate_limit: rate_limit.as_deref().map(|text| json(text, "api key rate limit")).transpose()?,
    })
}

fn usage_from<B: Backend>(row: &B::Row) -> Result<UsageRow> {
    Ok(UsageRow { key_id: B::text_col(row, "key_id")?, day: B::int_col(row, "day")?, count: B::int_col(row, "count")? })
}

/// A usage batch merged per (tenant, key) — the latest use and the count of each day — in
/// a fixed order (see `add_api_key_usage`).
type MergedUsage<'a> = BTreeMap<(&'a str, &'a str), (i64, BTreeMap<i64, i64>)>;

fn merge_usage(deltas: &[UsageDelta]) -> MergedUsage<'_> {
    let mut merged = MergedUsage::new();
    for d in deltas {
        let (last_used_at, days) = merged
            .entry((d.tenant_id.as_str(), d.key_id.as_str()))
            .or_insert_with(|| (d.last_used_at, Default::default()));
        *last_used_at = (*last_used_at).max(d.last_used_at);
        let count = days.entry(d.day).or_insert(0);
        *count = count.saturating_add(d.count);
    }
    merged
}

/// Inserts `k` on `conn` (a scope of `k.tenant_id`).
async fn insert_api_key<B: Backend>(conn: &mut B::Connection, k: &ApiKey) -> Result<()> {
    let scopes = to_json(&k.scopes)?;
    let rate_limit = k.rate_limit.as_ref().map(to_json).transpose()?;
    let q = sqlx::query::<B>(
        "INSERT INTO api_keys (id, tenant_id, key_hash, display_prefix, name, scopes, service_account, \
         created_by, created_at, expires_at, last_used_at, revoked_at, rotated_from, grace_until, \
         rate_limit) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .text(&k.id)
    .text(k.tenant_id.as_str())
    .text(&k.key_hash)
    .text(&k.display_prefix)
    .text(&k.name)
    .text(&scopes)
    .opt_text(k.service_account.as_deref())
    .text(&k.created_by)
    .int(k.created_at)
    .opt_int(k.expires_at)
    .opt_int(k.last_used_at)
    .opt_int(k.revoked_at)
    .opt_text(k.rotated_from.as_deref())
    .opt_int(k.grace_until)
    .opt_text(rate_limit.as_deref());
    B::execute_on(q, conn).await.map_err(|e| tenancy_err(e, "api key", "tenant"))?;
    Ok(())
}

/// Whether the tenant's key `id` exists, on `conn` (a scope of `tenant`).
async fn api_key_exists<B: Backend>(conn: &mut B::Connection, tenant: &TenantId, id: &str) -> Result<bool> {
    let q = sqlx::query::<B>("SELECT id FROM api_keys WHERE tenant_id = $1 AND id = $2").text(tenant.as_str()).text(id);
    Ok(B::fetch_optional_on(q, conn).await.map_err(backend_err)?.is_some())
}

/// Confines the transaction on `conn` to `tenant` from now on (a transaction may switch
/// tenants: `set_config(…, true)` only lasts until its end), and on PostgreSQL holds the
/// tenant row against deletion until then. That hold is taken before any of the tenant's
/// rows, in the order a deletion takes them (tenant, then its keys and usage through the
/// cascades): a concurrent deletion waits for this transaction or, having committed first,
/// leaves no key for it to write to — instead of a deadlock, or a foreign-key failure that
/// would lose the batch.
async fn enter_tenant<B: Backend>(conn: &mut B::Connection, tenant: &str) -> Result<()> {
    B::execute_on(sqlx::query::<B>(B::SET_TENANT).text(tenant), conn).await.map_err(backend_err)?;
    B::execute_on(sqlx::query::<B>(B::HOLD_TENANT).text(tenant), conn).await.map_err(backend_err)?;
    Ok(())
}

#[async_trait]
impl<B: Backend> ApiKeyRepo for SqlStore<B> {
    async fn create_api_key_with(&self, key: &ApiKey, events: &[WebhookEvent]) -> Result<()> {
        let mut tx = self.tenant_scope(&key.tenant_id).await?;
        insert_api_key::<B>(&mut tx, key).await?;
        crate::webhooks::insert_events::<B>(&mut tx, events).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn get_api_key(&self, tenant: &TenantId, id: &str) -> Result<Option<ApiKey>> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q =
            sqlx::query::<B>("SELECT * FROM api_keys WHERE tenant_id = $1 AND id = $2").text(tenant.as_str()).text(id);
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(api_key_from::<B>).transpose()
    }

    async fn get_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        // Cross-tenant: the verifier learns the tenant from the key it finds.
        let mut tx = self.platform_scope().await?;
        let q = sqlx::query::<B>("SELECT * FROM api_keys WHERE key_hash = $1").text(key_hash);
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(api_key_from::<B>).transpose()
    }

    async fn list_api_keys(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<ApiKey>> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("SELECT * FROM api_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .text(tenant.as_str())
            .text(page.after.as_deref().unwrap_or(""))
            .int(page.fetch_limit());
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(api_key_from::<B>).collect()
    }

    async fn update_api_key(&self, key: &ApiKey) -> Result<()> {
        let mut tx = self.tenant_scope(&key.tenant_id).await?;
        let scopes = to_json(&key.scopes)?;
        let rate_limit = key.rate_limit.as_ref().map(to_json).transpose()?;
        let q = sqlx::query::<B>(
            "UPDATE api_keys SET name = $1, scopes = $2, service_account = $3, rate_limit = $4 \
             WHERE tenant_id = $5 AND id = $6",
        )
        .text(&key.name)
        .text(&scopes)
        .opt_text(key.service_account.as_deref())
        .opt_text(rate_limit.as_deref())
        .text(key.tenant_id.as_str())
        .text(&key.id);
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "api key")?;
        tx.commit().await.map_err(backend_err)
    }

    async fn revoke_api_key_with(&self, tenant: &TenantId, id: &str, at: i64, events: &[WebhookEvent]) -> Result<bool> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>(
            "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .int(at)
        .text(tenant.as_str())
        .text(id);
        if B::execute_on(q, &mut tx).await.map_err(backend_err)? == 1 {
            crate::webhooks::insert_events::<B>(&mut tx, events).await?;
            tx.commit().await.map_err(backend_err)?;
            return Ok(true);
        }
        let exists = api_key_exists::<B>(&mut tx, tenant, id).await?;
        tx.commit().await.map_err(backend_err)?;
        if exists { Ok(false) } else { Err(StoreError::NotFound("api key")) }
    }

    async fn rotate_api_key_with(
        &self,
        tenant: &TenantId,
        old_id: &str,
        grace_until: i64,
        new: &ApiKey,
        events: &[WebhookEvent],
    ) -> Result<bool> {
        // SQLite has no policy to stop a write to another tenant: refuse it here.
        if &new.tenant_id != tenant {
            return Err(refused("rotation to a key of another tenant"));
        }
        if new.rotated_from.as_deref() != Some(old_id) {
            return Err(refused("rotated key whose rotated_from is not the old key"));
        }
        let mut tx = self.tenant_scope(tenant).await?;
        // One conditional UPDATE: concurrent rotations (or a rotation racing a revocation)
        // serialise on the row and only the first still finds it active.
        let q = sqlx::query::<B>(
            "UPDATE api_keys SET grace_until = $1 WHERE tenant_id = $2 AND id = $3 \
             AND revoked_at IS NULL AND grace_until IS NULL",
        )
        .int(grace_until)
        .text(tenant.as_str())
        .text(old_id);
        if B::execute_on(q, &mut tx).await.map_err(backend_err)? != 1 {
            let exists = api_key_exists::<B>(&mut tx, tenant, old_id).await?;
            tx.rollback().await.map_err(backend_err)?;
            return if exists { Ok(false) } else { Err(StoreError::NotFound("api key")) };
        }
        insert_api_key::<B>(&mut tx, new).await?;
        crate::webhooks::insert_events::<B>(&mut tx, events).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(true)
    }

    async fn add_api_key_usage(&self, deltas: &[UsageDelta]) -> Result<()> {
        // Merged first, so each row is written once per batch, and walked in (tenant, key,
        // day) order: every batch takes its row locks in that one order (a key's row, then
        // its usage rows), so concurrent batches wait for each other but never deadlock.
        let merged = merge_usage(deltas);
        if merged.is_empty() {
            return Ok(());
        }
        // One transaction for the whole batch (all of it or none), switching the tenant
        // scope per tenant: the policies accept each tenant's rows only while its id is the
        // transaction's app.tenant_id.
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        let mut scope: Option<&str> = None;
        for ((tenant, key_id), (last_used_at, days)) in &merged {
            if scope != Some(*tenant) {
                enter_tenant::<B>(&mut tx, tenant).await?;
                scope = Some(*tenant);
            }
            // Only forward: a batch flushed late cannot move it back.
            let q = sqlx::query::<B>(
                "UPDATE api_keys SET last_used_at = $1 WHERE tenant_id = $2 AND id = $3 \
                 AND (last_used_at IS NULL OR last_used_at < $1)",
            )
            .int(*last_used_at)
            .text(tenant)
            .text(key_id);
            B::execute_on(q, &mut tx).await.map_err(backend_err)?;
            for (day, count) in days {
                // Selecting from api_keys drops a delta whose key does not exist (never a
                // foreign-key failure that would abort the batch); the upsert adds
                // atomically, so concurrent batches lose nothing.
                let q = sqlx::query::<B>(
                    "INSERT INTO api_key_usage (tenant_id, key_id, day, count) \
                     SELECT tenant_id, id, $1, $2 FROM api_keys WHERE tenant_id = $3 AND id = $4 \
                     ON CONFLICT (tenant_id, day, key_id) \
                     DO UPDATE SET count = api_key_usage.count + excluded.count",
                )
                .int(*day)
                .int(*count)
                .text(tenant)
                .text(key_id);
                B::execute_on(q, &mut tx).await.map_err(backend_err)?;
            }
        }
        tx.commit().await.map_err(backend_err)
    }

    async fn api_key_usage(&self, tenant: &TenantId, from_day: i64, to_day: i64) -> Result<Vec<UsageRow>> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>(
            "SELECT key_id, day, count FROM api_key_usage WHERE tenant_id = $1 AND day >= $2 AND day <= $3 \
             ORDER BY day, key_id",
        )
        .text(tenant.as_str())
        .int(from_day)
        .int(to_day);
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(usage_from::<B>).collect()
    }
}
