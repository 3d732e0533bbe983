//! Tenants' SSO connections, written once as generic code over [`Backend`] (see
//! [`crate::pools`]). Tenant-owned: every statement runs in the tenant's scope and filters
//! by tenant itself, except the lookup by pool provider, which runs in the platform (read)
//! scope.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::connection::Connection;
use cognate_core::idp::ProviderType;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::repo::ConnectionRepo;
use cognate_core::tenant::TenantId;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::{affected, json, pool_id, tenant_id, to_json};
use crate::store::SqlStore;
use crate::tenancy::tenancy_err;

type Result<T> = std::result::Result<T, StoreError>;

fn connection_from<B: Backend>(row: &B::Row) -> Result<Connection> {
    let kind = B::text_col(row, "provider_type")?;
    Ok(Connection {
        id: B::text_col(row, "id")?,
        tenant_id: tenant_id(&B::text_col(row, "tenant_id")?)?,
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        provider_name: B::text_col(row, "provider_name")?,
        kind: ProviderType::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("connection type {kind}")))?,
        name: B::text_col(row, "name")?,
        enabled: B::flag_col(row, "enabled")?,
        default_role: B::text_col(row, "default_role")?.parse().map_err(StoreError::Corrupt)?,
        role_claim: B::opt_text_col(row, "role_claim")?,
        role_mapping: json(&B::text_col(row, "role_mapping")?, "connection role mapping")?,
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
    })
}

#[async_trait]
impl<B: Backend> ConnectionRepo for SqlStore<B> {
    async fn create_connection(&self, c: &Connection) -> Result<()> {
        let mapping = to_json(&c.role_mapping)?;
        let mut tx = self.tenant_scope(&c.tenant_id).await?;
        let q = sqlx::query::<B>(
            "INSERT INTO tenant_connections (id, tenant_id, pool_id, provider_name, provider_type, name, enabled, \
             default_role, role_claim, role_mapping, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .text(&c.id)
        .text(c.tenant_id.as_str())
        .text(c.pool_id.as_str())
        .text(&c.provider_name)
        .text(c.kind.as_str())
        .text(&c.name)
        .flag(c.enabled)
        .text(c.default_role.as_str())
        .opt_text(c.role_claim.as_deref())
        .text(&mapping)
        .int(c.created_at)
        .int(c.updated_at);
        B::execute_on(q, &mut tx).await.map_err(|e| tenancy_err(e, "connection", "tenant"))?;
        tx.commit().await.map_err(backend_err)
    }

    async fn get_connection(&self, tenant: &TenantId, id: &str) -> Result<Option<Connection>> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("SELECT * FROM tenant_connections WHERE tenant_id = $1 AND id = $2")
            .text(tenant.as_str())
            .text(id);
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(connection_from::<B>).transpose()
    }

    async fn connection_for_provider(&self, pool: &PoolId, provider: &str) -> Result<Option<Connection>> {
        // Cross-tenant: a federated sign-in learns the tenant from the connection it finds.
        let mut tx = self.platform_scope().await?;
        let q = sqlx::query::<B>("SELECT * FROM tenant_connections WHERE pool_id = $1 AND provider_name = $2")
            .text(pool.as_str())
            .text(provider);
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(connection_from::<B>).transpose()
    }

    async fn list_connections(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<Connection>> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q =
            sqlx::query::<B>("SELECT * FROM tenant_connections WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                .text(tenant.as_str())
                .text(page.after.as_deref().unwrap_or(""))
                .int(page.fetch_limit());
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(connection_from::<B>).collect()
    }

    async fn update_connection(&self, c: &Connection) -> Result<()> {
        let mapping = to_json(&c.role_mapping)?;
        let mut tx = self.tenant_scope(&c.tenant_id).await?;
        let q = sqlx::query::<B>(
            "UPDATE tenant_connections SET name = $1, enabled = $2, default_role = $3, role_claim = $4, \
             role_mapping = $5, updated_at = $6 WHERE tenant_id = $7 AND id = $8",
        )
        .text(&c.name)
        .flag(c.enabled)
        .text(c.default_role.as_str())
        .opt_text(c.role_claim.as_deref())
        .text(&mapping)
        .int(c.updated_at)
        .text(c.tenant_id.as_str())
        .text(&c.id);
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "connection")?;
        tx.commit().await.map_err(backend_err)
    }

    async fn delete_connection(&self, tenant: &TenantId, id: &str) -> Result<()> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("DELETE FROM tenant_connections WHERE tenant_id = $1 AND id = $2")
            .text(tenant.as_str())
            .text(id);
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "connection")?;
        tx.commit().await.map_err(backend_err)
    }
}
