//! Analytics aggregates (migration 0023), written once as generic code over [`Backend`].
//!
//! Tenant lines live in tenant-owned tables (`analytics_daily`, `analytics_mau`): every
//! write runs in its tenant's scope, and cross-tenant reads in the platform read scope. The
//! platform line ("no tenant") lives in `analytics_platform_*`, which belong to no tenant.
//! Counts are added (`count = count + n`) and active users inserted once (`ON CONFLICT DO
//! NOTHING`), so several nodes writing at once never lose or double anything.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::analytics::{ActiveUser, FigureDelta, FigureRow, KeyCalls, MauCount, MfaAdoption};
use cognate_core::repo::AnalyticsRepo;
use cognate_core::tenant::TenantId;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::tenant_id;
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

/// Confines the transaction on `conn` to `tenant` from now on and holds the tenant row
/// against deletion until its end (as the API key usage flush does).
async fn enter_tenant<B: Backend>(conn: &mut B::Connection, tenant: &str) -> Result<()> {
    B::execute_on(sqlx::query::<B>(B::SET_TENANT).text(tenant), conn).await.map_err(backend_err)?;
    B::execute_on(sqlx::query::<B>(B::HOLD_TENANT).text(tenant), conn).await.map_err(backend_err)?;
    Ok(())
}

fn opt_tenant(raw: &str) -> Result<Option<TenantId>> {
    if raw.is_empty() { Ok(None) } else { tenant_id(raw).map(Some) }
}

fn figure_from<B: Backend>(row: &B::Row) -> Result<FigureRow> {
    Ok(FigureRow {
        tenant: opt_tenant(&B::text_col(row, "tenant_id")?)?,
        day: B::int_col(row, "day")?,
        figure: B::text_col(row, "figure")?,
        count: B::int_col(row, "count")?,
    })
}

fn mau_from<B: Backend>(row: &B::Row) -> Result<MauCount> {
    Ok(MauCount { users: B::int_col(row, "users")?, federated: B::int_col(row, "federated")? })
}

#[async_trait]
impl<B: Backend> AnalyticsRepo for SqlStore<B> {
    async fn add_figures(&self, deltas: &[FigureDelta]) -> Result<()> {
        // Merged and walked in (tenant, day, figure) order, so each row is written once per
        // batch and every batch takes its row locks in one order: concurrent batches wait
        // for each other but never deadlock. The platform line ("") sorts first.
        let mut merged: BTreeMap<(&str, i64, &str), i64> = BTreeMap::new();
        for d in deltas {
            let tenant = d.tenant.as_ref().map_or("", TenantId::as_str);
            let count = merged.entry((tenant, d.day, d.figure.as_str())).or_insert(0);
            *count = count.saturating_add(d.count);
        }
        if merged.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        let mut scope: Option<&str> = None;
        for ((tenant, day, figure), count) in &merged {
            let q = if tenant.is_empty() {
                sqlx::query::<B>(
                    "INSERT INTO analytics_platform_daily (day, figure, count) VALUES ($1, $2, $3) \
                     ON CONFLICT (day, figure) DO UPDATE SET count = analytics_platform_daily.count + excluded.count",
                )
                .int(*day)
                .text(figure)
                .int(*count)
            } else {
                if scope != Some(*tenant) {
                    enter_tenant::<B>(&mut tx, tenant).await?;
                    scope = Some(*tenant);
                }
                // Selecting from tenants drops the count of a tenant deleted since it was
                // taken, instead of a foreign-key failure that would lose the whole batch.
                sqlx::query::<B>(
                    "INSERT INTO analytics_daily (tenant_id, day, figure, count) \
                     SELECT id, $1, $2, $3 FROM tenants WHERE id = $4 \
                     ON CONFLICT (tenant_id, day, figure) DO UPDATE SET count = analytics_daily.count + excluded.count",
                )
                .int(*day)
                .text(figure)
                .int(*count)
                .text(tenant)
            };
            B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)
    }

    async fn add_active_users(&self, users: &[ActiveUser]) -> Result<u64> {
        let mut sorted: Vec<&ActiveUser> = users.iter().collect();
        sorted.sort_by(|a, b| {
            (a.tenant.as_ref().map(TenantId::as_str), a.month, &a.user).cmp(&(
                b.tenant.as_ref().map(TenantId::as_str),
                b.month,
                &b.user,
            ))
        });
        if sorted.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        let mut scope: Option<&str> = None;
        let mut added = 0;
        for u in sorted {
            let q = match &u.tenant {
                None => sqlx::query::<B>(
                    "INSERT INTO analytics_platform_mau (month, user_key, federated, first_seen) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (month, user_key) DO NOTHING",
                )
                .int(i64::from(u.month))
                .text(&u.user)
                .flag(u.federated)
                .int(u.at),
                Some(tenant) => {
                    if scope != Some(tenant.as_str()) {
                        enter_tenant::<B>(&mut tx, tenant.as_str()).await?;
                        scope = Some(tenant.as_str());
                    }
                    sqlx::query::<B>(
                        "INSERT INTO analytics_mau (tenant_id, month, user_key, federated, first_seen) \
                         SELECT id, $1, $2, $3, $4 FROM tenants WHERE id = $5 \
                         ON CONFLICT (tenant_id, month, user_key) DO NOTHING",
                    )
                    .int(i64::from(u.month))
                    .text(&u.user)
                    .flag(u.federated)
                    .int(u.at)
                    .text(tenant.as_str())
                }
            };
            added += B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)?;
        Ok(added)
    }

    async fn figures(&self, tenant: Option<&TenantId>, from_day: i64, to_day: i64) -> Result<Vec<FigureRow>> {
        let rows = match tenant {
            Some(tenant) => {
                let mut tx = self.tenant_scope(tenant).await?;
                let q = sqlx::query::<B>(
                    "SELECT tenant_id, day, figure, count FROM analytics_daily \
                     WHERE tenant_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, figure",
                )
                .text(tenant.as_str())
                .int(from_day)
                .int(to_day);
                let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                rows
            }
            None => {
                let q = sqlx::query::<B>(
                    "SELECT '' AS tenant_id, day, figure, count FROM analytics_platform_daily \
                     WHERE day >= $1 AND day <= $2 ORDER BY day, figure",
                )
                .int(from_day)
                .int(to_day);
                B::fetch_all(q, &self.db).await.map_err(backend_err)?
            }
        };
        rows.iter().map(figure_from::<B>).collect()
    }

    async fn all_figures(&self, from_day: i64, to_day: i64) -> Result<Vec<FigureRow>> {
        let mut tx = self.platform_scope().await?;
        let q = sqlx::query::<B>(
            "SELECT tenant_id, day, figure, count FROM analytics_daily WHERE day >= $1 AND day <= $2 \
             UNION ALL \
             SELECT '' AS tenant_id, day, figure, count FROM analytics_platform_daily WHERE day >= $1 AND day <= $2 \
             ORDER BY tenant_id, day, figure",
        )
        .int(from_day)
        .int(to_day);
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(figure_from::<B>).collect()
    }

    async fn monthly_active(&self, tenant: Option<&TenantId>, month: i32) -> Result<MauCount> {
        // `federated` is a boolean on PostgreSQL and 0/1 on SQLite: CASE counts both alike.
        let row = match tenant {
            Some(tenant) => {
                let mut tx = self.tenant_scope(tenant).await?;
                let q = sqlx::query::<B>(
                    "SELECT count(*) AS users, coalesce(sum(CASE WHEN federated THEN 1 ELSE 0 END), 0) AS federated \
                     FROM analytics_mau WHERE tenant_id = $1 AND month = $2",
                )
                .text(tenant.as_str())
                .int(i64::from(month));
                let row = B::fetch_one_on(q, &mut tx).await.map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                row
            }
            None => {
                let q = sqlx::query::<B>(
                    "SELECT count(*) AS users, coalesce(sum(CASE WHEN federated THEN 1 ELSE 0 END), 0) AS federated \
                     FROM analytics_platform_mau WHERE month = $1",
                )
                .int(i64::from(month));
                let mut conn = self.db.acquire().await.map_err(backend_err)?;
                B::fetch_one_on(q, &mut conn).await.map_err(backend_err)?
            }
        };
        mau_from::<B>(&row)
    }

    async fn all_monthly_active(&self, month: i32) -> Result<Vec<(Option<TenantId>, MauCount)>> {
        let mut tx = self.platform_scope().await?;
        let q = sqlx::query::<B>(
            "SELECT tenant_id, count(*) AS users, coalesce(sum(CASE WHEN federated THEN 1 ELSE 0 END), 0) AS federated \
             FROM analytics_mau WHERE month = $1 GROUP BY tenant_id \
             UNION ALL \
             SELECT '' AS tenant_id, count(*) AS users, coalesce(sum(CASE WHEN federated THEN 1 ELSE 0 END), 0) AS federated \
             FROM analytics_platform_mau WHERE month = $1 \
             ORDER BY tenant_id",
        )
        .int(i64::from(month));
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let count = mau_from::<B>(row)?;
            let tenant = opt_tenant(&B::text_col(row, "tenant_id")?)?;
            // The platform part always answers one row; an empty one says nothing.
            if tenant.is_some() || count.users > 0 {
                out.push((tenant, count));
            }
        }
        Ok(out)
    }

    async fn key_calls(&self, tenant: Option<&TenantId>, from_day: i64, to_day: i64) -> Result<Vec<KeyCalls>> {
        let (mut tx, q) = match tenant {
            Some(tenant) => (
                self.tenant_scope(tenant).await?,
                sqlx::query::<B>(
                    "SELECT tenant_id, key_id, day, count FROM api_key_usage \
                     WHERE tenant_id = $1 AND day >= $2 AND day <= $3 ORDER BY tenant_id, day, key_id",
                )
                .text(tenant.as_str()),
            ),
            None => (
                self.platform_scope().await?,
                sqlx::query::<B>(
                    "SELECT tenant_id, key_id, day, count FROM api_key_usage \
                     WHERE $1 = '' AND day >= $2 AND day <= $3 ORDER BY tenant_id, day, key_id",
                )
                .text(""),
            ),
        };
        let rows = B::fetch_all_on(q.int(from_day).int(to_day), &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter()
            .map(|row| {
                Ok(KeyCalls {
                    tenant: tenant_id(&B::text_col(row, "tenant_id")?)?,
                    key_id: B::text_col(row, "key_id")?,
                    day: B::int_col(row, "day")?,
                    count: B::int_col(row, "count")?,
                })
            })
            .collect()
    }

    async fn mfa_adoption(&self, tenant: Option<&TenantId>) -> Result<Vec<MfaAdoption>> {
        // MFA enabled: a verified software token (what `UserMfa::has_totp` means).
        let sql = "SELECT m.tenant_id AS tenant_id, count(*) AS members, \
             coalesce(sum(CASE WHEN f.totp_verified AND f.totp_secret_sealed IS NOT NULL THEN 1 ELSE 0 END), 0) AS with_mfa \
             FROM memberships m LEFT JOIN user_mfa f ON f.pool_id = m.pool_id AND f.sub = m.sub \
             WHERE m.status = 'active' AND ($1 = '' OR m.tenant_id = $1) GROUP BY m.tenant_id ORDER BY m.tenant_id";
        let mut tx = match tenant {
            Some(tenant) => self.tenant_scope(tenant).await?,
            None => self.platform_scope().await?,
        };
        let q = sqlx::query::<B>(sql).text(tenant.map_or("", TenantId::as_str));
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter()
            .map(|row| {
                Ok(MfaAdoption {
                    tenant: tenant_id(&B::text_col(row, "tenant_id")?)?,
                    members: B::int_col(row, "members")?,
                    with_mfa: B::int_col(row, "with_mfa")?,
                })
            })
            .collect()
    }
}
