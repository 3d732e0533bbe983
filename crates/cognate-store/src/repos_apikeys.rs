//! The API key repository, written once for both backends like the rest of
//! [`crate::repos`]. `api_key_repos!` is expanded inside `repos!` after `tenancy_repos!`,
//! in the same module, so it uses their helpers (`col`, `tenant_scope`, `platform_scope`,
//! `tenancy_err`, `refused`, …).
//!
//! Both tables are tenant-owned: every statement runs in a tenant scope and filters by
//! tenant itself, except the lookup by hash, which runs in the platform (read) scope.

macro_rules! api_key_repos {
    ($store:ident, $row:ty) => {
        use cognate_core::apikey::{ApiKey, UsageDelta, UsageRow};

        fn api_key_from(row: &$row) -> Result<ApiKey> {
            let rate_limit: Option<String> = col(row, "rate_limit")?;
            Ok(ApiKey {
                id: col(row, "id")?,
                tenant_id: tenant_id(&col::<String>(row, "tenant_id")?)?,
                key_hash: col(row, "key_hash")?,
                display_prefix: col(row, "display_prefix")?,
                name: col(row, "name")?,
                scopes: json(&col::<String>(row, "scopes")?, "api key scopes")?,
                service_account: col(row, "service_account")?,
                created_by: col(row, "created_by")?,
                created_at: col(row, "created_at")?,
                expires_at: col(row, "expires_at")?,
                last_used_at: col(row, "last_used_at")?,
                revoked_at: col(row, "revoked_at")?,
                rotated_from: col(row, "rotated_from")?,
                grace_until: col(row, "grace_until")?,
                rate_limit: rate_limit.as_deref().map(|text| json(text, "api key rate limit")).transpose()?,
            })
        }

        fn usage_from(row: &$row) -> Result<UsageRow> {
            Ok(UsageRow { key_id: col(row, "key_id")?, day: col(row, "day")?, count: col(row, "count")? })
        }

        /// A usage batch merged per (tenant, key) — the latest use and the count of each
        /// day — in a fixed order (see `add_api_key_usage`).
        type MergedUsage<'a> =
            std::collections::BTreeMap<(&'a str, &'a str), (i64, std::collections::BTreeMap<i64, i64>)>;

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

        impl $store {
            /// Inserts `k` inside `tx` (a scope of `k.tenant_id`).
            async fn insert_api_key(tx: &mut sqlx::Transaction<'_, Db>, k: &ApiKey) -> Result<()> {
                sqlx::query(
                    "INSERT INTO api_keys (id, tenant_id, key_hash, display_prefix, name, scopes, service_account, \
                     created_by, created_at, expires_at, last_used_at, revoked_at, rotated_from, grace_until, \
                     rate_limit) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(&k.id)
                .bind(k.tenant_id.as_str())
                .bind(&k.key_hash)
                .bind(&k.display_prefix)
                .bind(&k.name)
                .bind(to_json(&k.scopes)?)
                .bind(&k.service_account)
                .bind(&k.created_by)
                .bind(k.created_at)
                .bind(k.expires_at)
                .bind(k.last_used_at)
                .bind(k.revoked_at)
                .bind(&k.rotated_from)
                .bind(k.grace_until)
                .bind(k.rate_limit.as_ref().map(to_json).transpose()?)
                .execute(&mut **tx)
                .await
                .map_err(|e| tenancy_err(e, "api key", "tenant"))?;
                Ok(())
            }

            /// Whether the tenant's key `id` exists, inside `tx` (a scope of `tenant`).
            async fn api_key_exists(tx: &mut sqlx::Transaction<'_, Db>, tenant: &TenantId, id: &str) -> Result<bool> {
                let found: Option<String> =
                    sqlx::query_scalar("SELECT id FROM api_keys WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.as_str())
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(backend_err)?;
                Ok(found.is_some())
            }

            /// Confines `tx` to `tenant` from now on (a transaction may switch tenants:
            /// `set_config(…, true)` only lasts until its end), and on PostgreSQL holds the
            /// tenant row against deletion until then. That hold is taken before any of the
            /// tenant's rows, in the order a deletion takes them (tenant, then its keys and
            /// usage through the cascades): a concurrent deletion waits for this
            /// transaction or, having committed first, leaves no key for it to write to —
            /// instead of a deadlock, or a foreign-key failure that would lose the batch.
            async fn enter_tenant(tx: &mut sqlx::Transaction<'_, Db>, tenant: &str) -> Result<()> {
                sqlx::query(<Db as $crate::backend::Backend>::SET_TENANT)
                    .bind(tenant)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                sqlx::query(<Db as $crate::backend::Backend>::HOLD_TENANT)
                    .bind(tenant)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }
        }

        #[async_trait]
        impl ApiKeyRepo for $store {
            async fn create_api_key(&self, key: &ApiKey) -> Result<()> {
                let mut tx = self.tenant_scope(&key.tenant_id).await?;
                Self::insert_api_key(&mut tx, key).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn get_api_key(&self, tenant: &TenantId, id: &str) -> Result<Option<ApiKey>> {
                let mut tx = self.tenant_scope(tenant).await?;
                let row = sqlx::query("SELECT * FROM api_keys WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                row.as_ref().map(api_key_from).transpose()
            }

            async fn get_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
                // Cross-tenant: the verifier learns the tenant from the key it finds.
                let mut tx = self.platform_scope().await?;
                let row = sqlx::query("SELECT * FROM api_keys WHERE key_hash = $1")
                    .bind(key_hash)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                row.as_ref().map(api_key_from).transpose()
            }

            async fn list_api_keys(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<ApiKey>> {
                let mut tx = self.tenant_scope(tenant).await?;
                let rows = sqlx::query("SELECT * FROM api_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(tenant.as_str())
                    .bind(after(page))
                    .bind(page.fetch_limit())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                rows.iter().map(api_key_from).collect()
            }

            async fn update_api_key(&self, key: &ApiKey) -> Result<()> {
                let mut tx = self.tenant_scope(&key.tenant_id).await?;
                let done = sqlx::query(
                    "UPDATE api_keys SET name = $1, scopes = $2, service_account = $3, rate_limit = $4 \
                     WHERE tenant_id = $5 AND id = $6",
                )
                .bind(&key.name)
                .bind(to_json(&key.scopes)?)
                .bind(&key.service_account)
                .bind(key.rate_limit.as_ref().map(to_json).transpose()?)
                .bind(key.tenant_id.as_str())
                .bind(&key.id)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
                affected(done.rows_affected(), "api key")?;
                tx.commit().await.map_err(backend_err)
            }

            async fn revoke_api_key(&self, tenant: &TenantId, id: &str, at: i64) -> Result<bool> {
                let mut tx = self.tenant_scope(tenant).await?;
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
                )
                .bind(at)
                .bind(tenant.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
                if done.rows_affected() == 1 {
                    tx.commit().await.map_err(backend_err)?;
                    return Ok(true);
                }
                let exists = Self::api_key_exists(&mut tx, tenant, id).await?;
                tx.commit().await.map_err(backend_err)?;
                if exists { Ok(false) } else { Err(StoreError::NotFound("api key")) }
            }

            async fn rotate_api_key(
                &self,
                tenant: &TenantId,
                old_id: &str,
                grace_until: i64,
                new: &ApiKey,
            ) -> Result<bool> {
                // SQLite has no policy to stop a write to another tenant: refuse it here.
                if &new.tenant_id != tenant {
                    return Err(refused("rotation to a key of another tenant"));
                }
                if new.rotated_from.as_deref() != Some(old_id) {
                    return Err(refused("rotated key whose rotated_from is not the old key"));
                }
                let mut tx = self.tenant_scope(tenant).await?;
                // One conditional UPDATE: concurrent rotations (or a rotation racing a
                // revocation) serialise on the row and only the first still finds it active.
                let done = sqlx::query(
                    "UPDATE api_keys SET grace_until = $1 WHERE tenant_id = $2 AND id = $3 \
                     AND revoked_at IS NULL AND grace_until IS NULL",
                )
                .bind(grace_until)
                .bind(tenant.as_str())
                .bind(old_id)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
                if done.rows_affected() != 1 {
                    let exists = Self::api_key_exists(&mut tx, tenant, old_id).await?;
                    tx.rollback().await.map_err(backend_err)?;
                    return if exists { Ok(false) } else { Err(StoreError::NotFound("api key")) };
                }
                Self::insert_api_key(&mut tx, new).await?;
                tx.commit().await.map_err(backend_err)?;
                Ok(true)
            }

            async fn add_api_key_usage(&self, deltas: &[UsageDelta]) -> Result<()> {
                // Merged first, so each row is written once per batch, and walked in
                // (tenant, key, day) order: every batch takes its row locks in that one
                // order (a key's row, then its usage rows), so concurrent batches wait for
                // each other but never deadlock.
                let merged = merge_usage(deltas);
                if merged.is_empty() {
                    return Ok(());
                }
                // One transaction for the whole batch (all of it or none), switching the
                // tenant scope per tenant: the policies accept each tenant's rows only
                // while its id is the transaction's app.tenant_id.
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                let mut scope: Option<&str> = None;
                for ((tenant, key_id), (last_used_at, days)) in &merged {
                    if scope != Some(*tenant) {
                        Self::enter_tenant(&mut tx, tenant).await?;
                        scope = Some(*tenant);
                    }
                    // Only forward: a batch flushed late cannot move it back.
                    sqlx::query(
                        "UPDATE api_keys SET last_used_at = $1 WHERE tenant_id = $2 AND id = $3 \
                         AND (last_used_at IS NULL OR last_used_at < $1)",
                    )
                    .bind(*last_used_at)
                    .bind(*tenant)
                    .bind(*key_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                    for (day, count) in days {
                        // Selecting from api_keys drops a delta whose key does not exist
                        // (never a foreign-key failure that would abort the batch); the
                        // upsert adds atomically, so concurrent batches lose nothing.
                        sqlx::query(
                            "INSERT INTO api_key_usage (tenant_id, key_id, day, count) \
                             SELECT tenant_id, id, $1, $2 FROM api_keys WHERE tenant_id = $3 AND id = $4 \
                             ON CONFLICT (tenant_id, day, key_id) \
                             DO UPDATE SET count = api_key_usage.count + excluded.count",
                        )
                        .bind(*day)
                        .bind(*count)
                        .bind(*tenant)
                        .bind(*key_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                    }
                }
                tx.commit().await.map_err(backend_err)
            }

            async fn api_key_usage(&self, tenant: &TenantId, from_day: i64, to_day: i64) -> Result<Vec<UsageRow>> {
                let mut tx = self.tenant_scope(tenant).await?;
                let rows = sqlx::query(
                    "SELECT key_id, day, count FROM api_key_usage WHERE tenant_id = $1 AND day >= $2 AND day <= $3 \
                     ORDER BY day, key_id",
                )
                .bind(tenant.as_str())
                .bind(from_day)
                .bind(to_day)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                rows.iter().map(usage_from).collect()
            }
        }
    };
}
pub(crate) use api_key_repos;
