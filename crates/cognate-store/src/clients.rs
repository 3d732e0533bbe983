//! App clients, written once as generic code over [`Backend`] (see [`crate::pools`]).

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::change::Change;
use cognate_core::client::{AppClient, ClientSecret};
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::page::PageRequest;
use cognate_core::repo::ClientRepo;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::{json, to_json, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn client_from<B: Backend>(row: &B::Row) -> Result<AppClient> {
    let (pool, id) = (B::text_col(row, "pool_id")?, B::text_col(row, "id")?);
    let id = ClientId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("client id {id}")))?;
    let secret_sealed = B::opt_text_col(row, "secret_sealed")?;
    let created_at = B::int_col(row, "created_at")?;
    // Clients from before secret rotation have their one secret only in `secret_sealed`.
    let secrets = match B::opt_text_col(row, "secrets")? {
        Some(text) => json::<Vec<ClientSecret>>(&text, "client secrets")?,
        None => secret_sealed
            .iter()
            .map(|sealed| ClientSecret { id: ClientSecret::initial_id(&id), sealed: sealed.clone(), created_at })
            .collect(),
    };
    Ok(AppClient {
        pool_id: PoolId::parse(&pool).ok_or_else(|| StoreError::Corrupt(format!("pool id {pool}")))?,
        id,
        name: B::text_col(row, "name")?,
        secret_sealed,
        secrets,
        secrets_version: B::int_col(row, "secrets_version")?,
        settings: json(&B::text_col(row, "settings")?, "client settings")?,
        created_at,
        updated_at: B::int_col(row, "updated_at")?,
    })
}

/// The secrets column: the list as JSON, or NULL for a client without any.
fn secrets_text(secrets: &[ClientSecret]) -> Result<Option<String>> {
    if secrets.is_empty() { Ok(None) } else { to_json(&secrets).map(Some) }
}

fn changed(rows: u64) -> Result<()> {
    if rows == 0 { Err(StoreError::NotFound("client")) } else { Ok(()) }
}

pub(crate) async fn create<B: Backend>(db: &Db<B>, c: &AppClient) -> Result<()> {
    let settings = to_json(&c.settings)?;
    let secrets = secrets_text(&c.secrets)?;
    let q = sqlx::query::<B>(
        "INSERT INTO clients (pool_id, id, name, secret_sealed, settings, created_at, updated_at, secrets) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .text(c.pool_id.as_str())
    .text(c.id.as_str())
    .text(&c.name)
    .opt_text(c.secret_sealed.as_deref())
    .text(&settings)
    .int(c.created_at)
    .int(c.updated_at)
    .opt_text(secrets.as_deref());
    B::execute(q, db).await.map_err(|e| write_err(e, "client"))?;
    Ok(())
}

/// Replaces the client's secrets if no other change of them came first (`secrets_version`
/// still `c.secrets_version`); the first of them becomes the one DescribeUserPoolClient
/// shows. False when another change won (the caller reads again and retries).
pub(crate) async fn replace_secrets<B: Backend>(db: &Db<B>, c: &AppClient, secrets: &[ClientSecret]) -> Result<bool> {
    let text = secrets_text(secrets)?;
    let q = sqlx::query::<B>(
        "UPDATE clients SET secrets = $1, secret_sealed = $2, secrets_version = secrets_version + 1 \
         WHERE pool_id = $3 AND id = $4 AND secrets_version = $5",
    )
    .opt_text(text.as_deref())
    .opt_text(secrets.first().map(|s| s.sealed.as_str()))
    .text(c.pool_id.as_str())
    .text(c.id.as_str())
    .int(c.secrets_version);
    Ok(B::execute(q, db).await.map_err(backend_err)? == 1)
}

pub(crate) async fn get<B: Backend>(db: &Db<B>, pool: &PoolId, id: &ClientId) -> Result<Option<AppClient>> {
    let q =
        sqlx::query::<B>("SELECT * FROM clients WHERE pool_id = $1 AND id = $2").text(pool.as_str()).text(id.as_str());
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(client_from::<B>).transpose()
}

/// The client `id` in whichever pool (client ids are unique across pools).
pub(crate) async fn find<B: Backend>(db: &Db<B>, id: &ClientId) -> Result<Option<AppClient>> {
    let q = sqlx::query::<B>("SELECT * FROM clients WHERE id = $1").text(id.as_str());
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(client_from::<B>).transpose()
}

pub(crate) async fn list<B: Backend>(db: &Db<B>, pool: &PoolId, page: &PageRequest) -> Result<Vec<AppClient>> {
    let q = sqlx::query::<B>("SELECT * FROM clients WHERE pool_id = $1 AND id > $2 ORDER BY id LIMIT $3")
        .text(pool.as_str())
        .text(page.after.as_deref().unwrap_or(""))
        .int(page.fetch_limit());
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(client_from::<B>).collect()
}

/// Replaces the name, settings and `updated_at` (the secret never changes).
pub(crate) async fn update<B: Backend>(db: &Db<B>, c: &AppClient) -> Result<()> {
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

pub(crate) async fn delete<B: Backend>(db: &Db<B>, pool: &PoolId, id: &ClientId) -> Result<()> {
    let q =
        sqlx::query::<B>("DELETE FROM clients WHERE pool_id = $1 AND id = $2").text(pool.as_str()).text(id.as_str());
    changed(B::execute(q, db).await.map_err(backend_err)?)
}

#[async_trait]
impl<B: Backend> ClientRepo for SqlStore<B> {
    async fn create_client(&self, c: &AppClient) -> Result<()> {
        create(&self.db, c).await
    }

    async fn replace_client_secrets(&self, c: &AppClient, secrets: &[ClientSecret]) -> Result<bool> {
        let replaced = replace_secrets(&self.db, c, secrets).await?;
        if replaced {
            self.committed(Change::Client(c.pool_id.clone(), c.id.clone())).await;
        }
        Ok(replaced)
    }

    async fn get_client(&self, pool: &PoolId, id: &ClientId) -> Result<Option<AppClient>> {
        get(&self.db, pool, id).await
    }

    async fn find_client(&self, id: &ClientId) -> Result<Option<AppClient>> {
        find(&self.db, id).await
    }

    async fn list_clients(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<AppClient>> {
        list(&self.db, pool, page).await
    }

    async fn update_client(&self, c: &AppClient) -> Result<()> {
        update(&self.db, c).await?;
        self.committed(Change::Client(c.pool_id.clone(), c.id.clone())).await;
        Ok(())
    }

    async fn delete_client(&self, pool: &PoolId, id: &ClientId) -> Result<()> {
        delete(&self.db, pool, id).await?;
        self.committed(Change::Client(pool.clone(), id.clone())).await;
        Ok(())
    }
}
