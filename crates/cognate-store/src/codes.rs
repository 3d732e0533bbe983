//! One-time codes (confirmation, recovery, attribute verification), written once as
//! generic code over [`Backend`] (see [`crate::pools`]). Only code hashes are stored.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::repo::CodeRepo;
use cognate_core::token::OneTimeCode;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::write_err;
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn code_from<B: Backend>(row: &B::Row) -> Result<OneTimeCode> {
    let pool = B::text_col(row, "pool_id")?;
    Ok(OneTimeCode {
        pool_id: PoolId::parse(&pool).ok_or_else(|| StoreError::Corrupt(format!("pool id {pool}")))?,
        sub: B::text_col(row, "sub")?,
        purpose: B::text_col(row, "purpose")?,
        code_hash: B::text_col(row, "code_hash")?,
        expires_at: B::int_col(row, "expires_at")?,
        attempts: B::int_col(row, "attempts")?,
        created_at: B::int_col(row, "created_at")?,
    })
}

/// Stores a code, replacing any earlier one for the same user and purpose.
pub(crate) async fn put<B: Backend>(db: &Db<B>, c: &OneTimeCode) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO one_time_codes (pool_id, sub, purpose, code_hash, expires_at, attempts, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (pool_id, sub, purpose) DO UPDATE SET code_hash = excluded.code_hash, \
         expires_at = excluded.expires_at, attempts = excluded.attempts, created_at = excluded.created_at",
    )
    .text(c.pool_id.as_str())
    .text(&c.sub)
    .text(&c.purpose)
    .text(&c.code_hash)
    .int(c.expires_at)
    .int(c.attempts)
    .int(c.created_at);
    B::execute(q, db).await.map_err(|e| write_err(e, "user"))?;
    Ok(())
}

pub(crate) async fn get<B: Backend>(
    db: &Db<B>,
    pool: &PoolId,
    sub: &str,
    purpose: &str,
) -> Result<Option<OneTimeCode>> {
    let q = sqlx::query::<B>("SELECT * FROM one_time_codes WHERE pool_id = $1 AND sub = $2 AND purpose = $3")
        .text(pool.as_str())
        .text(sub)
        .text(purpose);
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(code_from::<B>).transpose()
}

/// Counts a wrong guess in one statement; returns the attempts so far.
pub(crate) async fn count_attempt<B: Backend>(db: &Db<B>, pool: &PoolId, sub: &str, purpose: &str) -> Result<i64> {
    let q = sqlx::query::<B>(
        "UPDATE one_time_codes SET attempts = attempts + 1 WHERE pool_id = $1 AND sub = $2 AND purpose = $3 \
         RETURNING attempts",
    )
    .text(pool.as_str())
    .text(sub)
    .text(purpose);
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?.ok_or(StoreError::NotFound("code"))?;
    B::int_col(&row, "attempts")
}

pub(crate) async fn delete<B: Backend>(db: &Db<B>, pool: &PoolId, sub: &str, purpose: &str) -> Result<()> {
    let q = sqlx::query::<B>("DELETE FROM one_time_codes WHERE pool_id = $1 AND sub = $2 AND purpose = $3")
        .text(pool.as_str())
        .text(sub)
        .text(purpose);
    B::execute(q, db).await.map_err(backend_err)?;
    Ok(())
}

#[async_trait]
impl<B: Backend> CodeRepo for SqlStore<B> {
    async fn put_code(&self, c: &OneTimeCode) -> Result<()> {
        put(&self.db, c).await
    }

    async fn get_code(&self, pool: &PoolId, sub: &str, purpose: &str) -> Result<Option<OneTimeCode>> {
        get(&self.db, pool, sub, purpose).await
    }

    async fn count_code_attempt(&self, pool: &PoolId, sub: &str, purpose: &str) -> Result<i64> {
        count_attempt(&self.db, pool, sub, purpose).await
    }

    async fn delete_code(&self, pool: &PoolId, sub: &str, purpose: &str) -> Result<()> {
        delete(&self.db, pool, sub, purpose).await
    }
}
