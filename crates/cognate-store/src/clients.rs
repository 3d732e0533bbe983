//! App clients, written once as generic code over [`Backend`] (see [`crate::pools`]).

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::client::AppClient;
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::page::PageRequest;
use cognate_core::repo::ClientRepo;
use sqlx::Pool;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::{json, to_json, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn client_from<B: Backend>(row: &B::Row) -> Result<AppClient> {
    let (pool, id) = (B::text_col(row, "pool_id")?, B::text_col(row, "id")?);
    Ok(AppClient {
        pool_id: PoolId::parse(&pool).ok_or_else(|| StoreError::Corrupt(format!("pool id {pool}")))?,
        id: ClientId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("client id {id}")))?,
        name: B::text_col(row, "name")?,
        secret_sealed: B::opt_text_col(row, "secret_sealed")?,
        settings: json(&B::text_col(row, "settings")?, "client settings")?,
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
    })
}

fn changed(rows: u64) -> Result<()> {
    if rows == 0 { Err(StoreError::NotFound("client")) } else { Ok(()) }
}

pub(crate) async fn create<B: Backend>(db: &Pool<B>, c: &AppClient) -> Result<()> {
    let settings = to_json(&c.settings)?;
    let q = sqlx::query::<B>(
        "INSERT INTO clients (pool_id, id, name, secret_sealed, settings, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .text(c.pool_id.as_str())
    .text(c.id.as_str())
    .text(&c.name)
    .opt_text(c.secret_sealed.as_deref())
    .text(&settings)
    .int(c.created_at)
    .int(c.updated_at);
    B::execute(q, db).await.map_err(|e| write_err(e, "client"))?;
    Ok(())
}

pub(crate) async fn get<B: Backend>(db: &Pool<B>, pool: &PoolId, id: &ClientId) -> Result<Option<AppClient>> {
    let q =
        sqlx::query::<B>("SELECT * FROM clients WHERE pool_id = $1 AND id = $2").text(pool.as_str()).text(id.as_str());
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(client_from::<B>).transpose()
}

/// The client `id` in whichever pool (client ids are unique across pools).
pub(crate) async fn find<B: Backend>(db: &Pool<B>, id: &ClientId) -> Result<Option<AppClient>> {
    let q = sqlx::query::<B>("SELECT * FROM clients WHERE id = $1").text(id.as_str());
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(client_from::<B>).transpose()
}

pub(crate) async fn list<B: Backend>(db: &Pool<B>, pool: &PoolId, page: &PageRequest) -> Result<Vec<AppClient>> {
    let q = sqlx::query::<B>("SELECT * FROM clients WHERE pool_id = $1 AND id > $2 ORDER BY id LIMIT $3")
        .text(pool.as_str())
        .text(page.after.as_deref().unwrap_or(""))
        .int(page.fetch_limit());
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(client_from::<B>).collect()
}

/// Replaces the name, settings and `updated_at` (the secret never changes).
pub(crate) async fn update<B: Backend>(db: &Pool<B>, c: &AppClient) -> Result<()> {
    let settings = to_json(&c.settings)?;
    let q =
        sqlx::query::<B>("UPDATE clients SET name = $1, settings = $2, updated_at = $3 WHERE pool_id = $4 AND id = $5")
            .text(&c.name)
            .text(&settings)
            .int(c.updated_at)
            .text(c.pool_id.as_str())
            .text(c.id.as_str());
    changed(B::execute(q, db).await.map_err(backend_err)?)
}

pub(crate) async fn delete<B: Backend>(db: &Pool<B>, pool: &PoolId, id: &ClientId) -> Result<()> {
    let q =
        sqlx::query::<B>("DELETE FROM clients WHERE pool_id = $1 AND id = $2").text(pool.as_str()).text(id.as_str());
    changed(B::execute(q, db).await.map_err(backend_err)?)
}

#[async_trait]
impl<B: Backend> ClientRepo for SqlStore<B> {
    async fn create_client(&self, c: &AppClient) -> Result<()> {
        create(&self.pool, c).await
    }

    async fn get_client(&self, pool: &PoolId, id: &ClientId) -> Result<Option<AppClient>> {
        get(&self.pool, pool, id).await
    }

    async fn find_client(&self, id: &ClientId) -> Result<Option<AppClient>> {
        find(&self.pool, id).await
    }

    async fn list_clients(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<AppClient>> {
        list(&self.pool, pool, page).await
    }

    async fn update_client(&self, c: &AppClient) -> Result<()> {
        update(&self.pool, c).await
    }

    async fn delete_client(&self, pool: &PoolId, id: &ClientId) -> Result<()> {
        delete(&self.pool, pool, id).await
    }
}
