//! Resource servers, written once as generic code over [`Backend`] (see [`crate::pools`]).

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::change::Change;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::repo::ResourceServerRepo;
use cognate_core::resource_server::ResourceServer;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::{json, to_json, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn resource_server_from<B: Backend>(row: &B::Row) -> Result<ResourceServer> {
    let pool = B::text_col(row, "pool_id")?;
    Ok(ResourceServer {
        pool_id: PoolId::parse(&pool).ok_or_else(|| StoreError::Corrupt(format!("pool id {pool}")))?,
        identifier: B::text_col(row, "identifier")?,
        name: B::text_col(row, "name")?,
        scopes: json(&B::text_col(row, "scopes")?, "resource server scopes")?,
    })
}

fn changed(rows: u64) -> Result<()> {
    if rows == 0 { Err(StoreError::NotFound("resource_server")) } else { Ok(()) }
}

pub(crate) async fn create<B: Backend>(db: &Db<B>, rs: &ResourceServer) -> Result<()> {
    let scopes = to_json(&rs.scopes)?;
    let q =
        sqlx::query::<B>("INSERT INTO resource_servers (pool_id, identifier, name, scopes) VALUES ($1, $2, $3, $4)")
            .text(rs.pool_id.as_str())
            .text(&rs.identifier)
            .text(&rs.name)
            .text(&scopes);
    B::execute(q, db).await.map_err(|e| write_err(e, "resource_server"))?;
    Ok(())
}

pub(crate) async fn get<B: Backend>(db: &Db<B>, pool: &PoolId, identifier: &str) -> Result<Option<ResourceServer>> {
    let q = sqlx::query::<B>("SELECT * FROM resource_servers WHERE pool_id = $1 AND identifier = $2")
        .text(pool.as_str())
        .text(identifier);
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(resource_server_from::<B>).transpose()
}

pub(crate) async fn list<B: Backend>(db: &Db<B>, pool: &PoolId, page: &PageRequest) -> Result<Vec<ResourceServer>> {
    let q = sqlx::query::<B>(
        "SELECT * FROM resource_servers WHERE pool_id = $1 AND identifier > $2 ORDER BY identifier LIMIT $3",
    )
    .text(pool.as_str())
    .text(page.after.as_deref().unwrap_or(""))
    .int(page.fetch_limit());
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(resource_server_from::<B>).collect()
}

/// Replaces the name and the whole scope list.
pub(crate) async fn update<B: Backend>(db: &Db<B>, rs: &ResourceServer) -> Result<()> {
    let scopes = to_json(&rs.scopes)?;
    let q =
        sqlx::query::<B>("UPDATE resource_servers SET name = $1, scopes = $2 WHERE pool_id = $3 AND identifier = $4")
            .text(&rs.name)
            .text(&scopes)
            .text(rs.pool_id.as_str())
            .text(&rs.identifier);
    changed(B::execute(q, db).await.map_err(backend_err)?)
}

pub(crate) async fn delete<B: Backend>(db: &Db<B>, pool: &PoolId, identifier: &str) -> Result<()> {
    let q = sqlx::query::<B>("DELETE FROM resource_servers WHERE pool_id = $1 AND identifier = $2")
        .text(pool.as_str())
        .text(identifier);
    changed(B::execute(q, db).await.map_err(backend_err)?)
}

#[async_trait]
impl<B: Backend> ResourceServerRepo for SqlStore<B> {
    async fn create_resource_server(&self, rs: &ResourceServer) -> Result<()> {
        create(&self.db, rs).await
    }

    async fn get_resource_server(&self, pool: &PoolId, identifier: &str) -> Result<Option<ResourceServer>> {
        get(&self.db, pool, identifier).await
    }

    async fn list_resource_servers(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<ResourceServer>> {
        list(&self.db, pool, page).await
    }

    // A resource server is part of its pool's configuration: its changes are the pool's.
    async fn update_resource_server(&self, rs: &ResourceServer) -> Result<()> {
        update(&self.db, rs).await?;
        self.committed(Change::Pool(rs.pool_id.clone())).await;
        Ok(())
    }

    async fn delete_resource_server(&self, pool: &PoolId, identifier: &str) -> Result<()> {
        delete(&self.db, pool, identifier).await?;
        self.committed(Change::Pool(pool.clone())).await;
        Ok(())
    }
}
