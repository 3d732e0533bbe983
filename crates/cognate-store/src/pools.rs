//! User pools, written once as plain generic code over [`Backend`]: functions on a
//! connection pool of either backend, and [`SqlStore`]'s [`PoolRepo`] calling them. Every
//! aggregate's file has this shape.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::change::Change;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;
use cognate_core::repo::PoolRepo;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::{json, to_json, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn pool_from<B: Backend>(row: &B::Row) -> Result<UserPool> {
    let id = B::text_col(row, "id")?;
    Ok(UserPool {
        id: PoolId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("pool id {id}")))?,
        name: B::text_col(row, "name")?,
        settings: json(&B::text_col(row, "settings")?, "pool settings")?,
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
        version: B::int_col(row, "version")?,
    })
}

pub(crate) async fn create<B: Backend>(db: &Db<B>, p: &UserPool) -> Result<()> {
    let settings = to_json(&p.settings)?;
    let q = sqlx::query::<B>(
        "INSERT INTO pools (id, name, settings, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .text(p.id.as_str())
    .text(&p.name)
    .text(&settings)
    .int(p.created_at)
    .int(p.updated_at)
    .int(p.version);
    B::execute(q, db).await.map_err(|e| write_err(e, "pool"))?;
    Ok(())
}

pub(crate) async fn get<B: Backend>(db: &Db<B>, id: &PoolId) -> Result<Option<UserPool>> {
    let q = sqlx::query::<B>("SELECT * FROM pools WHERE id = $1").text(id.as_str());
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(pool_from::<B>).transpose()
}

pub(crate) async fn list<B: Backend>(db: &Db<B>, page: &PageRequest) -> Result<Vec<UserPool>> {
    let q = sqlx::query::<B>("SELECT * FROM pools WHERE id > $1 ORDER BY id LIMIT $2")
        .text(page.after.as_deref().unwrap_or(""))
        .int(page.fetch_limit());
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(pool_from::<B>).collect()
}

/// Replaces name and settings if the version is still the stored one, bumping it.
pub(crate) async fn update<B: Backend>(db: &Db<B>, p: &UserPool) -> Result<()> {
    let settings = to_json(&p.settings)?;
    let q = sqlx::query::<B>(
        "UPDATE pools SET name = $1, settings = $2, updated_at = $3, version = version + 1 \
         WHERE id = $4 AND version = $5",
    )
    .text(&p.name)
    .text(&settings)
    .int(p.updated_at)
    .text(p.id.as_str())
    .int(p.version);
    if B::execute(q, db).await.map_err(backend_err)? == 1 {
        return Ok(());
    }
    match get(db, &p.id).await? {
        Some(_) => Err(StoreError::Conflict("version")),
        None => Err(StoreError::NotFound("pool")),
    }
}

pub(crate) async fn delete<B: Backend>(db: &Db<B>, id: &PoolId) -> Result<()> {
    let q = sqlx::query::<B>("DELETE FROM pools WHERE id = $1").text(id.as_str());
    match B::execute(q, db).await.map_err(backend_err)? {
        0 => Err(StoreError::NotFound("pool")),
        _ => Ok(()),
    }
}

#[async_trait]
impl<B: Backend> PoolRepo for SqlStore<B> {
    async fn create_pool(&self, p: &UserPool) -> Result<()> {
        create(&self.db, p).await
    }

    async fn get_pool(&self, id: &PoolId) -> Result<Option<UserPool>> {
        get(&self.db, id).await
    }

    async fn list_pools(&self, page: &PageRequest) -> Result<Vec<UserPool>> {
        list(&self.db, page).await
    }

    async fn count_pools(&self) -> Result<i64> {
        let q = sqlx::query::<B>("SELECT COUNT(*) AS n FROM pools");
        let row = B::fetch_optional(q, &self.db).await.map_err(backend_err)?.ok_or(StoreError::NotFound("pool"))?;
        B::int_col(&row, "n")
    }

    async fn update_pool(&self, p: &UserPool) -> Result<()> {
        update(&self.db, p).await?;
        self.committed(Change::Pool(p.id.clone())).await;
        Ok(())
    }

    async fn delete_pool(&self, id: &PoolId) -> Result<()> {
        delete(&self.db, id).await?;
        self.committed(Change::Pool(id.clone())).await;
        Ok(())
    }
}
