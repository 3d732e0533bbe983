//! Platform admin credentials and the store's key-value metadata, written once as generic
//! code over [`Backend`] (see [`crate::pools`]).

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::admin::AdminCredential;
use cognate_core::repo::{AdminCredentialRepo, MetaRepo};

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::write_err;
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn credential_from<B: Backend>(row: &B::Row) -> Result<AdminCredential> {
    Ok(AdminCredential {
        access_key_id: B::text_col(row, "access_key_id")?,
        secret_sealed: B::text_col(row, "secret_sealed")?,
        description: B::text_col(row, "description")?,
        created_at: B::int_col(row, "created_at")?,
        revoked_at: B::opt_int_col(row, "revoked_at")?,
    })
}

pub(crate) async fn create<B: Backend>(db: &Db<B>, c: &AdminCredential) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO admin_credentials (access_key_id, secret_sealed, description, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .text(&c.access_key_id)
    .text(&c.secret_sealed)
    .text(&c.description)
    .int(c.created_at)
    .opt_int(c.revoked_at);
    B::execute(q, db).await.map_err(|e| write_err(e, "admin_credential"))?;
    Ok(())
}

pub(crate) async fn get<B: Backend>(db: &Db<B>, id: &str) -> Result<Option<AdminCredential>> {
    let q = sqlx::query::<B>("SELECT * FROM admin_credentials WHERE access_key_id = $1").text(id);
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(credential_from::<B>).transpose()
}

pub(crate) async fn list<B: Backend>(db: &Db<B>) -> Result<Vec<AdminCredential>> {
    let q = sqlx::query::<B>("SELECT * FROM admin_credentials ORDER BY created_at, access_key_id");
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(credential_from::<B>).collect()
}

/// Revokes the credential at `at` (a revoked one keeps its first revocation time).
pub(crate) async fn revoke<B: Backend>(db: &Db<B>, id: &str, at: i64) -> Result<()> {
    let q =
        sqlx::query::<B>("UPDATE admin_credentials SET revoked_at = COALESCE(revoked_at, $1) WHERE access_key_id = $2")
            .int(at)
            .text(id);
    match B::execute(q, db).await.map_err(backend_err)? {
        0 => Err(StoreError::NotFound("admin_credential")),
        _ => Ok(()),
    }
}

pub(crate) async fn get_meta<B: Backend>(db: &Db<B>, key: &str) -> Result<Option<String>> {
    let q = sqlx::query::<B>("SELECT value FROM meta WHERE key = $1").text(key);
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(|r| B::text_col(r, "value")).transpose()
}

pub(crate) async fn set_meta<B: Backend>(db: &Db<B>, key: &str, value: &str) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .text(key)
    .text(value);
    B::execute(q, db).await.map_err(backend_err)?;
    Ok(())
}

/// Stores `value` under `key` unless a value is there; returns the value that is.
pub(crate) async fn put_meta_if_absent<B: Backend>(db: &Db<B>, key: &str, value: &str) -> Result<String> {
    let q = sqlx::query::<B>("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .text(key)
        .text(value);
    B::execute(q, db).await.map_err(backend_err)?;
    get_meta(db, key).await?.ok_or(StoreError::NotFound("meta"))
}

#[async_trait]
impl<B: Backend> AdminCredentialRepo for SqlStore<B> {
    async fn create_admin_credential(&self, c: &AdminCredential) -> Result<()> {
        create(&self.db, c).await
    }

    async fn get_admin_credential(&self, id: &str) -> Result<Option<AdminCredential>> {
        get(&self.db, id).await
    }

    async fn list_admin_credentials(&self) -> Result<Vec<AdminCredential>> {
        list(&self.db).await
    }

    async fn revoke_admin_credential(&self, id: &str, at: i64) -> Result<()> {
        revoke(&self.db, id, at).await
    }
}

#[async_trait]
impl<B: Backend> MetaRepo for SqlStore<B> {
    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        get_meta(&self.db, key).await
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        set_meta(&self.db, key, value).await
    }

    async fn put_meta_if_absent(&self, key: &str, value: &str) -> Result<String> {
        put_meta_if_absent(&self.db, key, value).await
    }
}
