//! Users' MFA records, written once as generic code over [`Backend`] (see
//! [`crate::pools`]). TOTP secrets arrive sealed; this file never sees one in the clear.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::mfa::UserMfa;
use cognate_core::repo::MfaRepo;
use cognate_core::webhook::WebhookEvent;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::write_err;
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

const COLS: &str = "totp_secret_sealed, totp_verified, totp_enabled, preferred, last_step, \
     pending_secret_sealed, pending_at, friendly_device_name, created_at, updated_at";

fn mfa_from<B: Backend>(row: &B::Row) -> Result<UserMfa> {
    let pool = B::text_col(row, "pool_id")?;
    Ok(UserMfa {
        pool_id: PoolId::parse(&pool).ok_or_else(|| StoreError::Corrupt(format!("pool id {pool}")))?,
        sub: B::text_col(row, "sub")?,
        totp_secret_sealed: B::opt_text_col(row, "totp_secret_sealed")?,
        totp_verified: B::flag_col(row, "totp_verified")?,
        totp_enabled: B::flag_col(row, "totp_enabled")?,
        preferred: B::flag_col(row, "preferred")?,
        last_step: B::int_col(row, "last_step")?,
        pending_secret_sealed: B::opt_text_col(row, "pending_secret_sealed")?,
        pending_at: B::opt_int_col(row, "pending_at")?,
        friendly_device_name: B::opt_text_col(row, "friendly_device_name")?,
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
    })
}

pub(crate) async fn get<B: Backend>(db: &Db<B>, pool: &PoolId, sub: &str) -> Result<Option<UserMfa>> {
    let q = sqlx::query::<B>("SELECT * FROM user_mfa WHERE pool_id = $1 AND sub = $2").text(pool.as_str()).text(sub);
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(mfa_from::<B>).transpose()
}

/// Creates or replaces the record; `last_step` never goes back (a code used meanwhile stays
/// used).
pub(crate) async fn put<B: Backend>(db: &Db<B>, m: &UserMfa, events: &[WebhookEvent]) -> Result<()> {
    let sql = format!(
        "INSERT INTO user_mfa (pool_id, sub, {COLS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (pool_id, sub) DO UPDATE SET totp_secret_sealed = excluded.totp_secret_sealed, \
         totp_verified = excluded.totp_verified, totp_enabled = excluded.totp_enabled, \
         preferred = excluded.preferred, \
         last_step = CASE WHEN user_mfa.last_step > excluded.last_step THEN user_mfa.last_step \
         ELSE excluded.last_step END, \
         pending_secret_sealed = excluded.pending_secret_sealed, pending_at = excluded.pending_at, \
         friendly_device_name = excluded.friendly_device_name, updated_at = excluded.updated_at"
    );
    let q = sqlx::query::<B>(&sql)
        .text(m.pool_id.as_str())
        .text(&m.sub)
        .opt_text(m.totp_secret_sealed.as_deref())
        .flag(m.totp_verified)
        .flag(m.totp_enabled)
        .flag(m.preferred)
        .int(m.last_step)
        .opt_text(m.pending_secret_sealed.as_deref())
        .opt_int(m.pending_at)
        .opt_text(m.friendly_device_name.as_deref())
        .int(m.created_at)
        .int(m.updated_at);
    let mut tx = db.begin().await.map_err(crate::backend_err)?;
    B::execute_on(q, &mut tx).await.map_err(|e| write_err(e, "user"))?;
    crate::webhooks::insert_events::<B>(&mut tx, events).await?;
    tx.commit().await.map_err(crate::backend_err)
}

pub(crate) async fn delete<B: Backend>(db: &Db<B>, pool: &PoolId, sub: &str) -> Result<()> {
    let q = sqlx::query::<B>("DELETE FROM user_mfa WHERE pool_id = $1 AND sub = $2").text(pool.as_str()).text(sub);
    B::execute(q, db).await.map_err(backend_err)?;
    Ok(())
}

/// Records `step` as used if it is newer than the last one, in one conditional UPDATE:
/// concurrent callers serialise on the row, and only the first still finds `last_step`
/// below `step` (PostgreSQL re-checks the condition on the updated row; SQLite runs one
/// writer at a time).
pub(crate) async fn use_step<B: Backend>(db: &Db<B>, pool: &PoolId, sub: &str, step: i64) -> Result<bool> {
    let q = sqlx::query::<B>("UPDATE user_mfa SET last_step = $1 WHERE pool_id = $2 AND sub = $3 AND last_step < $1")
        .int(step)
        .text(pool.as_str())
        .text(sub);
    Ok(B::execute(q, db).await.map_err(backend_err)? == 1)
}

/// Copies the MFA record of `sub` from pool `from` to pool `to` on `conn` (inside a tenant
/// move's transaction); nothing when there is none. The user must exist in `to`.
pub(crate) async fn copy<B: Backend>(conn: &mut B::Connection, from: &PoolId, to: &PoolId, sub: &str) -> Result<()> {
    let sql = format!(
        "INSERT INTO user_mfa (pool_id, sub, {COLS}) SELECT $1, sub, {COLS} FROM user_mfa \
         WHERE pool_id = $2 AND sub = $3"
    );
    let q = sqlx::query::<B>(&sql).text(to.as_str()).text(from.as_str()).text(sub);
    B::execute_on(q, conn).await.map_err(|e| write_err(e, "user"))?;
    Ok(())
}

#[async_trait]
impl<B: Backend> MfaRepo for SqlStore<B> {
    async fn get_mfa(&self, pool: &PoolId, sub: &str) -> Result<Option<UserMfa>> {
        get(&self.db, pool, sub).await
    }

    async fn put_mfa_with(&self, m: &UserMfa, events: &[WebhookEvent]) -> Result<()> {
        put(&self.db, m, events).await
    }

    async fn delete_mfa(&self, pool: &PoolId, sub: &str) -> Result<()> {
        delete(&self.db, pool, sub).await
    }

    async fn use_totp_step(&self, pool: &PoolId, sub: &str, step: i64) -> Result<bool> {
        use_step(&self.db, pool, sub, step).await
    }
}
