//! Terms documents and session tracking settings, written once as generic code over
//! [`Backend`] (see [`crate::pools`]). A client's documents and session setting are deleted
//! with the client (foreign keys), a pool's setting with the pool.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::page::PageRequest;
use cognate_core::repo::{SessionConfigRepo, TermsRepo};
use cognate_core::session_config::{ClientSessionConfig, PoolSessionConfig};
use cognate_core::terms::{Terms, TermsName};

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::{affected, json, pool_id, to_json, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn terms_from<B: Backend>(row: &B::Row) -> Result<Terms> {
    let client = B::text_col(row, "client_id")?;
    let name = B::text_col(row, "name")?;
    Ok(Terms {
        id: B::text_col(row, "id")?,
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        client_id: ClientId::parse(&client).ok_or_else(|| StoreError::Corrupt(format!("client id {client}")))?,
        name: TermsName::parse(&name).ok_or_else(|| StoreError::Corrupt(format!("terms name {name}")))?,
        links: json(&B::text_col(row, "links")?, "terms links")?,
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
    })
}

fn count<B: Backend>(row: &B::Row, col: &str) -> Result<u32> {
    let n = B::int_col(row, col)?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{col} {n}")))
}

#[async_trait]
impl<B: Backend> TermsRepo for SqlStore<B> {
    async fn create_terms(&self, t: &Terms) -> Result<()> {
        let links = to_json(&t.links)?;
        let q = sqlx::query::<B>(
            "INSERT INTO terms (id, pool_id, client_id, name, links, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .text(&t.id)
        .text(t.pool_id.as_str())
        .text(t.client_id.as_str())
        .text(t.name.as_str())
        .text(&links)
        .int(t.created_at)
        .int(t.updated_at);
        match B::execute(q, &self.db).await.map_err(|e| write_err(e, "terms")) {
            // The only foreign key: the client.
            Err(StoreError::NotFound(_)) => Err(StoreError::NotFound("client")),
            other => other.map(|_| ()),
        }
    }

    async fn get_terms(&self, pool: &PoolId, id: &str) -> Result<Option<Terms>> {
        let q = sqlx::query::<B>("SELECT * FROM terms WHERE pool_id = $1 AND id = $2").text(pool.as_str()).text(id);
        B::fetch_optional(q, &self.db).await.map_err(backend_err)?.as_ref().map(terms_from::<B>).transpose()
    }

    async fn get_terms_by_client(&self, pool: &PoolId, client: &ClientId, name: TermsName) -> Result<Option<Terms>> {
        let q = sqlx::query::<B>("SELECT * FROM terms WHERE pool_id = $1 AND client_id = $2 AND name = $3")
            .text(pool.as_str())
            .text(client.as_str())
            .text(name.as_str());
        B::fetch_optional(q, &self.db).await.map_err(backend_err)?.as_ref().map(terms_from::<B>).transpose()
    }

    async fn list_client_terms(&self, pool: &PoolId, client: &ClientId) -> Result<Vec<Terms>> {
        let q = sqlx::query::<B>("SELECT * FROM terms WHERE pool_id = $1 AND client_id = $2 ORDER BY name")
            .text(pool.as_str())
            .text(client.as_str());
        B::fetch_all(q, &self.db).await.map_err(backend_err)?.iter().map(terms_from::<B>).collect()
    }

    async fn list_terms(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<Terms>> {
        let q = sqlx::query::<B>("SELECT * FROM terms WHERE pool_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .text(pool.as_str())
            .text(page.after.as_deref().unwrap_or(""))
            .int(page.fetch_limit());
        B::fetch_all(q, &self.db).await.map_err(backend_err)?.iter().map(terms_from::<B>).collect()
    }

    async fn update_terms(&self, t: &Terms) -> Result<()> {
        let links = to_json(&t.links)?;
        let q =
            sqlx::query::<B>("UPDATE terms SET name = $1, links = $2, updated_at = $3 WHERE pool_id = $4 AND id = $5")
                .text(t.name.as_str())
                .text(&links)
                .int(t.updated_at)
                .text(t.pool_id.as_str())
                .text(&t.id);
        affected(B::execute(q, &self.db).await.map_err(|e| write_err(e, "terms"))?, "terms")
    }

    async fn delete_terms(&self, pool: &PoolId, id: &str) -> Result<()> {
        let q = sqlx::query::<B>("DELETE FROM terms WHERE pool_id = $1 AND id = $2").text(pool.as_str()).text(id);
        affected(B::execute(q, &self.db).await.map_err(backend_err)?, "terms")
    }
}

#[async_trait]
impl<B: Backend> SessionConfigRepo for SqlStore<B> {
    async fn get_pool_session_config(&self, pool: &PoolId) -> Result<Option<PoolSessionConfig>> {
        let q = sqlx::query::<B>("SELECT tracking, max_per_user FROM pool_session_configs WHERE pool_id = $1")
            .text(pool.as_str());
        let Some(row) = B::fetch_optional(q, &self.db).await.map_err(backend_err)? else { return Ok(None) };
        Ok(Some(PoolSessionConfig {
            tracking: B::flag_col(&row, "tracking")?,
            max_per_user: count::<B>(&row, "max_per_user")?,
        }))
    }

    async fn put_pool_session_config(&self, pool: &PoolId, c: &PoolSessionConfig, at: i64) -> Result<()> {
        let q = sqlx::query::<B>(
            "INSERT INTO pool_session_configs (pool_id, tracking, max_per_user, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (pool_id) DO UPDATE SET tracking = excluded.tracking, max_per_user = excluded.max_per_user, \
             updated_at = excluded.updated_at",
        )
        .text(pool.as_str())
        .flag(c.tracking)
        .int(i64::from(c.max_per_user))
        .int(at);
        B::execute(q, &self.db).await.map_err(|e| write_err(e, "pool"))?;
        Ok(())
    }

    async fn get_client_session_config(&self, pool: &PoolId, client: &ClientId) -> Result<Option<ClientSessionConfig>> {
        let q = sqlx::query::<B>(
            "SELECT max_validity_minutes FROM client_session_configs WHERE pool_id = $1 AND client_id = $2",
        )
        .text(pool.as_str())
        .text(client.as_str());
        let Some(row) = B::fetch_optional(q, &self.db).await.map_err(backend_err)? else { return Ok(None) };
        Ok(Some(ClientSessionConfig { max_validity_minutes: count::<B>(&row, "max_validity_minutes")? }))
    }

    async fn put_client_session_config(
        &self,
        pool: &PoolId,
        client: &ClientId,
        c: &ClientSessionConfig,
        at: i64,
    ) -> Result<()> {
        let q = sqlx::query::<B>(
            "INSERT INTO client_session_configs (pool_id, client_id, max_validity_minutes, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (pool_id, client_id) DO UPDATE SET \
             max_validity_minutes = excluded.max_validity_minutes, updated_at = excluded.updated_at",
        )
        .text(pool.as_str())
        .text(client.as_str())
        .int(i64::from(c.max_validity_minutes))
        .int(at);
        B::execute(q, &self.db).await.map_err(|e| write_err(e, "client"))?;
        Ok(())
    }
}
