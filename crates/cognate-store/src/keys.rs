//! Signing keys of each pool, written once as generic code over [`Backend`] (see
//! [`crate::pools`]). Private keys are stored sealed with the master key.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::change::Change;
use cognate_core::ids::PoolId;
use cognate_core::jwt::SigningKeyRecord;
use cognate_core::repo::KeyRepo;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::write_err;
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn key_from<B: Backend>(row: &B::Row) -> Result<SigningKeyRecord> {
    let pool = B::text_col(row, "pool_id")?;
    Ok(SigningKeyRecord {
        pool_id: PoolId::parse(&pool).ok_or_else(|| StoreError::Corrupt(format!("pool id {pool}")))?,
        kid: B::text_col(row, "kid")?,
        private_sealed: B::text_col(row, "private_sealed")?,
        n: B::text_col(row, "n")?,
        e: B::text_col(row, "e")?,
        created_at: B::int_col(row, "created_at")?,
        retired_at: B::opt_int_col(row, "retired_at")?,
    })
}

pub(crate) async fn create<B: Backend>(db: &Db<B>, k: &SigningKeyRecord) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO signing_keys (pool_id, kid, private_sealed, n, e, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .text(k.pool_id.as_str())
    .text(&k.kid)
    .text(&k.private_sealed)
    .text(&k.n)
    .text(&k.e)
    .int(k.created_at)
    .opt_int(k.retired_at);
    B::execute(q, db).await.map_err(|e| write_err(e, "signing_key"))?;
    Ok(())
}

/// Every key of the pool, retired ones included, oldest first.
pub(crate) async fn list<B: Backend>(db: &Db<B>, pool: &PoolId) -> Result<Vec<SigningKeyRecord>> {
    let q =
        sqlx::query::<B>("SELECT * FROM signing_keys WHERE pool_id = $1 ORDER BY created_at, kid").text(pool.as_str());
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(key_from::<B>).collect()
}

/// Retires the key at `at` (a retired key keeps its first retirement time).
pub(crate) async fn retire<B: Backend>(db: &Db<B>, pool: &PoolId, kid: &str, at: i64) -> Result<()> {
    let q = sqlx::query::<B>(
        "UPDATE signing_keys SET retired_at = COALESCE(retired_at, $1) WHERE pool_id = $2 AND kid = $3",
    )
    .int(at)
    .text(pool.as_str())
    .text(kid);
    match B::execute(q, db).await.map_err(backend_err)? {
        0 => Err(StoreError::NotFound("signing_key")),
        _ => Ok(()),
    }
}

#[async_trait]
impl<B: Backend> KeyRepo for SqlStore<B> {
    async fn create_signing_key(&self, k: &SigningKeyRecord) -> Result<()> {
        create(&self.db, k).await?;
        self.committed(Change::Keys(k.pool_id.clone())).await;
        Ok(())
    }

    async fn list_signing_keys(&self, pool: &PoolId) -> Result<Vec<SigningKeyRecord>> {
        list(&self.db, pool).await
    }

    async fn retire_signing_key(&self, pool: &PoolId, kid: &str, at: i64) -> Result<()> {
        retire(&self.db, pool, kid, at).await?;
        self.committed(Change::Keys(pool.clone())).await;
        Ok(())
    }
}
