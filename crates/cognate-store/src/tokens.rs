//! Token families, refresh tokens and the revocation feed, written once as generic code over
//! [`Backend`] (see [`crate::pools`]). Only hashes of refresh tokens are stored.
//!
//! Every revocation is published on its pool's feed in the transaction that revokes, under
//! the backend's `FEED_LOCK`; the user writes that also revoke (see [`crate::users`]) and
//! the tenancy's unit of work run [`sign_out_in`] and [`revoke_tenant_families_in`] inside
//! their own transactions.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::repo::TokenRepo;
use cognate_core::tenant::TenantId;
use cognate_core::token::{
    LiveFamily, REFRESH_GROUPS_MAX, RefreshSession, RefreshToken, RevocationEvent, RevocationKind, TokenFamily,
};

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::{json, pool_id, tenant_id, write_err};
use crate::store::SqlStore;
use crate::users::user_from;

type Result<T> = std::result::Result<T, StoreError>;

fn family_from<B: Backend>(row: &B::Row) -> Result<TokenFamily> {
    family_with_created::<B>(row, "created_at")
}

/// [`family_from`] from a row whose family creation time is column `created_at`.
fn family_with_created<B: Backend>(row: &B::Row, created_at: &str) -> Result<TokenFamily> {
    Ok(TokenFamily {
        id: B::text_col(row, "id")?,
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        client_id: B::text_col(row, "client_id")?,
        sub: B::text_col(row, "sub")?,
        tenant_id: B::opt_text_col(row, "tenant_id")?.as_deref().map(tenant_id).transpose()?,
        auth_time: B::int_col(row, "auth_time")?,
        mfa: B::flag_col(row, "mfa")?,
        scope: B::opt_text_col(row, "scope")?,
        device_key: B::opt_text_col(row, "device_key")?,
        created_at: B::int_col(row, created_at)?,
        revoked_at: B::opt_int_col(row, "revoked_at")?,
    })
}

async fn insert_refresh_token<B: Backend>(conn: &mut B::Connection, t: &RefreshToken) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, rotated_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .text(&t.hash)
    .text(&t.family_id)
    .int(t.created_at)
    .int(t.expires_at)
    .opt_int(t.rotated_at);
    B::execute_on(q, conn).await.map_err(|e| write_err(e, "refresh_token"))?;
    Ok(())
}

/// Publishes a revocation on the pool's feed, on `conn` (inside the revoking transaction).
pub(crate) async fn publish_revocation<B: Backend>(
    conn: &mut B::Connection,
    pool: &PoolId,
    kind: RevocationKind,
    subject: &str,
    at: i64,
) -> Result<()> {
    // Serialise publishers so feed sequence numbers commit in order; otherwise a reader's
    // cursor could pass a number whose transaction commits later.
    B::execute_on(sqlx::query::<B>(B::FEED_LOCK), conn).await.map_err(backend_err)?;
    let q = sqlx::query::<B>("INSERT INTO revocation_events (pool_id, kind, subject, at) VALUES ($1, $2, $3, $4)")
        .text(pool.as_str())
        .text(kind.as_str())
        .text(subject)
        .int(at);
    B::execute_on(q, conn).await.map_err(backend_err)?;
    crate::changes::announce_in::<B>(conn, &cognate_core::change::Change::Revoked(pool.clone())).await
}

/// Global sign-out on `conn` (inside a transaction): the user's tokens issued before `at`
/// stop working, every family is revoked, and the feed says so (when the user ever held a
/// token).
pub(crate) async fn sign_out_in<B: Backend>(conn: &mut B::Connection, pool: &PoolId, sub: &str, at: i64) -> Result<()> {
    let q = sqlx::query::<B>(
        "UPDATE users SET tokens_valid_after = $1 WHERE pool_id = $2 AND sub = $3 AND tokens_valid_after < $1",
    )
    .int(at)
    .text(pool.as_str())
    .text(sub);
    let done = B::execute_on(q, conn).await.map_err(backend_err)?;
    let q = sqlx::query::<B>(
        "UPDATE token_families SET revoked_at = $1 WHERE pool_id = $2 AND sub = $3 AND revoked_at IS NULL",
    )
    .int(at)
    .text(pool.as_str())
    .text(sub);
    B::execute_on(q, conn).await.map_err(backend_err)?;
    // Signing a user out everywhere ends their hosted-login browser sessions too.
    let q = sqlx::query::<B>(
        "UPDATE login_sessions SET ended_at = $1 WHERE pool_id = $2 AND sub = $3 AND ended_at IS NULL",
    )
    .int(at)
    .text(pool.as_str())
    .text(sub);
    B::execute_on(q, conn).await.map_err(backend_err)?;
    // A user who never held a token has nothing for resource servers to refuse: the feed
    // stays quiet (setting a new user's first password publishes nothing).
    let q = sqlx::query::<B>("SELECT id FROM token_families WHERE pool_id = $1 AND sub = $2 LIMIT 1")
        .text(pool.as_str())
        .text(sub);
    let had_tokens = B::fetch_optional_on(q, conn).await.map_err(backend_err)?.is_some();
    if done > 0 && had_tokens {
        publish_revocation::<B>(conn, pool, RevocationKind::User, sub, at).await?;
    }
    Ok(())
}

/// Revokes every unrevoked family bound to `tenant` (only `sub`'s when given) on `conn`
/// (inside a transaction) and publishes each, as `revoke_family` does; returns how many.
pub(crate) async fn revoke_tenant_families_in<B: Backend>(
    conn: &mut B::Connection,
    tenant: &TenantId,
    sub: Option<&str>,
    at: i64,
) -> Result<u64> {
    let q = sqlx::query::<B>(
        "UPDATE token_families SET revoked_at = $1 \
         WHERE tenant_id = $2 AND ($3 = '' OR sub = $3) AND revoked_at IS NULL RETURNING id, pool_id",
    )
    .int(at)
    .text(tenant.as_str())
    .text(sub.unwrap_or(""));
    let rows = B::fetch_all_on(q, conn).await.map_err(backend_err)?;
    let mut revoked = rows
        .iter()
        .map(|row| Ok((B::text_col(row, "id")?, pool_id(&B::text_col(row, "pool_id")?)?)))
        .collect::<Result<Vec<_>>>()?;
    // RETURNING has no order; publish in a stable one.
    revoked.sort_by(|a, b| a.0.cmp(&b.0));
    for (family, pool) in &revoked {
        publish_revocation::<B>(conn, pool, RevocationKind::Token, family, at).await?;
    }
    Ok(revoked.len() as u64)
}

/// Inserts a family (and its first refresh token) on `conn`, inside a transaction.
async fn insert_family<B: Backend>(
    conn: &mut B::Connection,
    f: &TokenFamily,
    token: Option<&RefreshToken>,
) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO token_families (id, pool_id, client_id, sub, tenant_id, auth_time, mfa, created_at, \
             revoked_at, scope, device_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .text(&f.id)
    .text(f.pool_id.as_str())
    .text(&f.client_id)
    .text(&f.sub)
    .opt_text(f.tenant_id.as_ref().map(TenantId::as_str))
    .int(f.auth_time)
    .flag(f.mfa)
    .int(f.created_at)
    .opt_int(f.revoked_at)
    .opt_text(f.scope.as_deref())
    .opt_text(f.device_key.as_deref());
    B::execute_on(q, conn).await.map_err(|e| write_err(e, "token_family"))?;
    if let Some(t) = token {
        insert_refresh_token::<B>(conn, t).await?;
    }
    Ok(())
}

/// The user's live families on `conn`, least recently active first (the last refresh
/// token issued in the family, then the family's start): not revoked, not ended by a global
/// sign-out, with a refresh token unexpired at `now`.
async fn live_ids_in<B: Backend>(conn: &mut B::Connection, pool: &PoolId, sub: &str, now: i64) -> Result<Vec<String>> {
    let q = sqlx::query::<B>(
        "SELECT f.id, (SELECT MAX(t.created_at) FROM refresh_tokens t WHERE t.family_id = f.id) AS last_active_at \
         FROM token_families f WHERE f.pool_id = $1 AND f.sub = $2 AND f.revoked_at IS NULL \
         AND f.created_at >= COALESCE((SELECT u.tokens_valid_after FROM users u WHERE u.pool_id = $1 AND u.sub = $2), 0) \
         AND EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id AND t.expires_at > $3) \
         ORDER BY last_active_at, f.created_at, f.id",
    )
    .text(pool.as_str())
    .text(sub)
    .int(now);
    let rows = B::fetch_all_on(q, conn).await.map_err(backend_err)?;
    rows.iter().map(|row| B::text_col(row, "id")).collect()
}

#[async_trait]
impl<B: Backend> TokenRepo for SqlStore<B> {
    async fn create_family(&self, f: &TokenFamily, token: Option<&RefreshToken>) -> Result<()> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        insert_family::<B>(&mut tx, f, token).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn create_family_within(&self, f: &TokenFamily, token: &RefreshToken, max_live: u32) -> Result<Vec<String>> {
        // A transaction that reads before it writes: on SQLite it takes the write lock
        // first; on PostgreSQL the user's lock orders concurrent issues.
        let mut tx = self.db.begin_with(B::WRITE_BEGIN).await.map_err(backend_err)?;
        let user_key = format!("{}/{}", f.pool_id, f.sub);
        B::execute_on(sqlx::query::<B>(B::SESSIONS_LOCK).text(&user_key), &mut tx).await.map_err(backend_err)?;
        let live = live_ids_in::<B>(&mut tx, &f.pool_id, &f.sub, f.created_at).await?;
        let keep = usize::try_from(max_live.max(1) - 1).unwrap_or(usize::MAX);
        let evicted: Vec<String> = live.iter().take(live.len().saturating_sub(keep)).cloned().collect();
        for id in &evicted {
            let q = sqlx::query::<B>("UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .int(f.created_at)
                .text(id);
            B::execute_on(q, &mut tx).await.map_err(backend_err)?;
            publish_revocation::<B>(&mut tx, &f.pool_id, RevocationKind::Token, id, f.created_at).await?;
        }
        insert_family::<B>(&mut tx, f, Some(token)).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(evicted)
    }

    async fn get_family(&self, id: &str) -> Result<Option<TokenFamily>> {
        let q = sqlx::query::<B>("SELECT * FROM token_families WHERE id = $1").text(id);
        let row = B::fetch_optional(q, &self.db).await.map_err(backend_err)?;
        row.as_ref().map(family_from::<B>).transpose()
    }

    async fn get_refresh_token(&self, hash: &str) -> Result<Option<(RefreshToken, TokenFamily)>> {
        let mut conn = self.db.acquire().await.map_err(backend_err)?;
        refresh_token_on::<B>(&mut conn, hash).await
    }

    async fn get_refresh_session(&self, hash: &str) -> Result<Option<RefreshSession>> {
        // One statement: a refresh's reads are on the hot path. The family's and the user's
        // `pool_id` and `sub` are the same by the join, so they are selected once; each
        // `created_at` has its own name; `holder` is NULL when the user is gone.
        let groups = B::GROUP_NAMES.replace("$LIMIT", &REFRESH_GROUPS_MAX.to_string());
        let sql = format!(
            "SELECT t.hash, t.family_id, t.created_at AS t_created_at, t.expires_at, t.rotated_at, \
             f.id, f.pool_id, f.sub, f.client_id, f.tenant_id, f.auth_time, f.mfa, f.scope, f.device_key, \
             f.created_at AS f_created_at, f.revoked_at, \
             u.sub AS holder, u.username, u.status, u.enabled, u.password_hash, u.srp_verifier, \
             u.temp_password_expires_at, u.attributes, u.created_at, u.updated_at, u.tokens_valid_after, \
             {groups} AS group_names \
             FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id \
             LEFT JOIN users u ON u.pool_id = f.pool_id AND u.sub = f.sub WHERE t.hash = $1"
        );
        let q = sqlx::query::<B>(&sql).text(hash);
        let Some(row) = B::fetch_optional(q, &self.db).await.map_err(backend_err)? else { return Ok(None) };
        let token = token_from::<B>(&row)?;
        let family = family_with_created::<B>(&row, "f_created_at")?;
        if B::opt_text_col(&row, "holder")?.is_none() {
            return Ok(Some(RefreshSession { token, family, user: None, groups: Vec::new() }));
        }
        let mut groups: Vec<String> = json(&B::text_col(&row, "group_names")?, "group names")?;
        // JSON aggregates keep the subquery's order in practice, not by promise.
        groups.sort_unstable();
        Ok(Some(RefreshSession { token, family, user: Some(user_from::<B>(&row)?), groups }))
    }

    async fn rotate_refresh_token(&self, old_hash: &str, new: &RefreshToken, at: i64) -> Result<bool> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        let q = sqlx::query::<B>("UPDATE refresh_tokens SET rotated_at = $1 WHERE hash = $2 AND rotated_at IS NULL")
            .int(at)
            .text(old_hash);
        if B::execute_on(q, &mut tx).await.map_err(backend_err)? != 1 {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(false);
        }
        insert_refresh_token::<B>(&mut tx, new).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(true)
    }

    async fn add_refresh_token(&self, token: &RefreshToken) -> Result<()> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        insert_refresh_token::<B>(&mut tx, token).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn revoke_family(&self, pool: &PoolId, family_id: &str, at: i64) -> Result<bool> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        let q = sqlx::query::<B>(
            "UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND pool_id = $3 AND revoked_at IS NULL",
        )
        .int(at)
        .text(family_id)
        .text(pool.as_str());
        if B::execute_on(q, &mut tx).await.map_err(backend_err)? == 0 {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(false);
        }
        publish_revocation::<B>(&mut tx, pool, RevocationKind::Token, family_id, at).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(true)
    }

    async fn live_families(&self, pool: &PoolId, sub: &str, now: i64, limit: u32) -> Result<Vec<LiveFamily>> {
        let q = sqlx::query::<B>(
            "SELECT f.*, (SELECT MAX(t.created_at) FROM refresh_tokens t WHERE t.family_id = f.id) AS last_active_at \
             FROM token_families f WHERE f.pool_id = $1 AND f.sub = $2 AND f.revoked_at IS NULL \
             AND EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id AND t.expires_at > $3) \
             ORDER BY f.created_at DESC, f.id LIMIT $4",
        )
        .text(pool.as_str())
        .text(sub)
        .int(now)
        .int(i64::from(limit));
        let rows = B::fetch_all(q, &self.db).await.map_err(backend_err)?;
        rows.iter()
            .map(|row| {
                let family = family_from::<B>(row)?;
                let last_active_at = B::opt_int_col(row, "last_active_at")?.unwrap_or(family.created_at);
                Ok(LiveFamily { family, last_active_at })
            })
            .collect()
    }

    async fn sign_out_user(&self, pool: &PoolId, sub: &str, at: i64) -> Result<()> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        sign_out_in::<B>(&mut tx, pool, sub, at).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn revoke_tenant_families(&self, tenant: &TenantId, sub: Option<&str>, at: i64) -> Result<u64> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        let revoked = revoke_tenant_families_in::<B>(&mut tx, tenant, sub, at).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(revoked)
    }

    async fn revocations_after(&self, pool: &PoolId, after_seq: i64, limit: u32) -> Result<Vec<RevocationEvent>> {
        let q = sqlx::query::<B>(
            "SELECT seq, pool_id, kind, subject, at FROM revocation_events \
             WHERE pool_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .text(pool.as_str())
        .int(after_seq)
        .int(i64::from(limit));
        let rows = B::fetch_all(q, &self.db).await.map_err(backend_err)?;
        rows.iter()
            .map(|row| {
                let kind = B::text_col(row, "kind")?;
                Ok(RevocationEvent {
                    seq: B::int_col(row, "seq")?,
                    pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
                    kind: RevocationKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("revocation kind {kind}")))?,
                    subject: B::text_col(row, "subject")?,
                    at: B::int_col(row, "at")?,
                })
            })
            .collect()
    }
}

/// The refresh token with this hash and its family, on `conn`.
async fn refresh_token_on<B: Backend>(
    conn: &mut B::Connection,
    hash: &str,
) -> Result<Option<(RefreshToken, TokenFamily)>> {
    let q = sqlx::query::<B>(
        "SELECT t.hash, t.family_id, t.created_at AS t_created_at, t.expires_at, t.rotated_at, f.* \
         FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.hash = $1",
    )
    .text(hash);
    let Some(row) = B::fetch_optional_on(q, conn).await.map_err(backend_err)? else { return Ok(None) };
    Ok(Some((token_from::<B>(&row)?, family_from::<B>(&row)?)))
}

/// The refresh token of a row selecting `t.created_at AS t_created_at`.
fn token_from<B: Backend>(row: &B::Row) -> Result<RefreshToken> {
    Ok(RefreshToken {
        hash: B::text_col(row, "hash")?,
        family_id: B::text_col(row, "family_id")?,
        created_at: B::int_col(row, "t_created_at")?,
        expires_at: B::int_col(row, "expires_at")?,
        rotated_at: B::opt_int_col(row, "rotated_at")?,
    })
}
