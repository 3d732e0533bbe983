//! Users' devices, written once as generic code over [`Backend`]. Verifiers arrive sealed;
//! this file never sees one in the clear.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::device::Device;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::repo::DeviceRepo;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::{pool_id, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn device_from<B: Backend>(row: &B::Row) -> Result<Device> {
    Ok(Device {
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        sub: B::text_col(row, "sub")?,
        key: B::text_col(row, "device_key")?,
        group_key: B::text_col(row, "group_key")?,
        name: B::opt_text_col(row, "name")?,
        verifier_sealed: B::opt_text_col(row, "verifier_sealed")?,
        remembered: B::flag_col(row, "remembered")?,
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
        last_authenticated_at: B::int_col(row, "last_authenticated_at")?,
        last_ip: B::opt_text_col(row, "last_ip")?,
    })
}

#[async_trait]
impl<B: Backend> DeviceRepo for SqlStore<B> {
    async fn create_device(&self, d: &Device) -> Result<()> {
        let q = sqlx::query::<B>(
            "INSERT INTO devices (device_key, pool_id, sub, group_key, name, verifier_sealed, remembered, \
             created_at, updated_at, last_authenticated_at, last_ip) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .text(&d.key)
        .text(d.pool_id.as_str())
        .text(&d.sub)
        .text(&d.group_key)
        .opt_text(d.name.as_deref())
        .opt_text(d.verifier_sealed.as_deref())
        .flag(d.remembered)
        .int(d.created_at)
        .int(d.updated_at)
        .int(d.last_authenticated_at)
        .opt_text(d.last_ip.as_deref());
        B::execute(q, &self.db).await.map_err(|e| write_err(e, "user"))?;
        Ok(())
    }

    async fn get_device(&self, pool: &PoolId, key: &str) -> Result<Option<Device>> {
        let q = sqlx::query::<B>("SELECT * FROM devices WHERE device_key = $1 AND pool_id = $2")
            .text(key)
            .text(pool.as_str());
        let row = B::fetch_optional(q, &self.db).await.map_err(backend_err)?;
        row.as_ref().map(device_from::<B>).transpose()
    }

    async fn list_devices(&self, pool: &PoolId, sub: &str, page: &PageRequest) -> Result<Vec<Device>> {
        let q = sqlx::query::<B>(
            "SELECT * FROM devices WHERE pool_id = $1 AND sub = $2 AND verifier_sealed IS NOT NULL \
             AND device_key > $3 ORDER BY device_key LIMIT $4",
        )
        .text(pool.as_str())
        .text(sub)
        .text(page.after.as_deref().unwrap_or(""))
        .int(page.fetch_limit());
        let rows = B::fetch_all(q, &self.db).await.map_err(backend_err)?;
        rows.iter().map(device_from::<B>).collect()
    }

    async fn update_device(&self, d: &Device) -> Result<()> {
        let q = sqlx::query::<B>(
            "UPDATE devices SET name = $1, verifier_sealed = $2, remembered = $3, updated_at = $4, \
             last_authenticated_at = $5, last_ip = $6 WHERE device_key = $7 AND pool_id = $8 AND sub = $9",
        )
        .opt_text(d.name.as_deref())
        .opt_text(d.verifier_sealed.as_deref())
        .flag(d.remembered)
        .int(d.updated_at)
        .int(d.last_authenticated_at)
        .opt_text(d.last_ip.as_deref())
        .text(&d.key)
        .text(d.pool_id.as_str())
        .text(&d.sub);
        if B::execute(q, &self.db).await.map_err(backend_err)? == 0 {
            return Err(StoreError::NotFound("device"));
        }
        Ok(())
    }

    async fn delete_device(&self, pool: &PoolId, sub: &str, key: &str) -> Result<bool> {
        let q = sqlx::query::<B>("DELETE FROM devices WHERE device_key = $1 AND pool_id = $2 AND sub = $3")
            .text(key)
            .text(pool.as_str())
            .text(sub);
        Ok(B::execute(q, &self.db).await.map_err(backend_err)? == 1)
    }
}
