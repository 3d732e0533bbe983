//! Managed login branding styles and their assets, written once as generic code over
//! [`Backend`] (see [`crate::pools`]). A style and its assets are written in one
//! transaction; a client's style is deleted with the client, a style's assets with the
//! style (foreign keys).

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cognate_core::StoreError;
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::managed_login::{Asset, Category, ColorMode, Extension, ManagedLogin};
use cognate_core::repo::ManagedLoginRepo;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::{affected, json, pool_id, to_json, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

const STYLE: &str = "managed login branding";
const COLUMNS: &str = "category, color_mode, extension, resource_id";

fn style_from<B: Backend>(row: &B::Row) -> Result<ManagedLogin> {
    let client = B::text_col(row, "client_id")?;
    Ok(ManagedLogin {
        id: B::text_col(row, "id")?,
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        client_id: ClientId::parse(&client).ok_or_else(|| StoreError::Corrupt(format!("client id {client}")))?,
        use_cognito_provided_values: B::flag_col(row, "use_cognito_provided_values")?,
        settings: B::opt_text_col(row, "settings")?.map(|s| json(&s, "branding settings")).transpose()?,
        assets: Vec::new(),
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
    })
}

fn asset_from<B: Backend>(row: &B::Row, with_bytes: bool) -> Result<Asset> {
    let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("asset {what} {v}"));
    let (category, mode, ext) =
        (B::text_col(row, "category")?, B::text_col(row, "color_mode")?, B::text_col(row, "extension")?);
    let bytes = if with_bytes {
        B64.decode(B::text_col(row, "bytes")?).map_err(|e| StoreError::Corrupt(format!("asset bytes: {e}")))?
    } else {
        Vec::new()
    };
    Ok(Asset {
        category: Category::parse(&category).ok_or_else(|| corrupt("category", &category))?,
        color_mode: ColorMode::parse(&mode).ok_or_else(|| corrupt("color mode", &mode))?,
        extension: Extension::parse(&ext).ok_or_else(|| corrupt("extension", &ext))?,
        bytes,
        resource_id: B::opt_text_col(row, "resource_id")?,
    })
}

async fn insert_assets<B: Backend>(conn: &mut B::Connection, style: &ManagedLogin) -> Result<()> {
    for a in &style.assets {
        let bytes = B64.encode(&a.bytes);
        let q = sqlx::query::<B>(
            "INSERT INTO managed_login_assets (branding_id, category, color_mode, extension, bytes, resource_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .text(&style.id)
        .text(a.category.as_str())
        .text(a.color_mode.as_str())
        .text(a.extension.as_str())
        .text(&bytes)
        .opt_text(a.resource_id.as_deref());
        B::execute_on(q, conn).await.map_err(|e| write_err(e, "asset"))?;
    }
    Ok(())
}

async fn assets<B: Backend>(db: &Db<B>, id: &str, with_bytes: bool) -> Result<Vec<Asset>> {
    let sql = if with_bytes {
        format!(
            "SELECT {COLUMNS}, bytes FROM managed_login_assets WHERE branding_id = $1 ORDER BY category, color_mode"
        )
    } else {
        format!("SELECT {COLUMNS} FROM managed_login_assets WHERE branding_id = $1 ORDER BY category, color_mode")
    };
    let q = sqlx::query::<B>(&sql).text(id);
    B::fetch_all(q, db).await.map_err(backend_err)?.iter().map(|r| asset_from::<B>(r, with_bytes)).collect()
}

async fn create<B: Backend>(db: &Db<B>, style: &ManagedLogin) -> Result<()> {
    let settings = style.settings.as_ref().map(to_json).transpose()?;
    let mut tx = db.begin().await.map_err(backend_err)?;
    let q = sqlx::query::<B>(
        "INSERT INTO managed_login_brandings (id, pool_id, client_id, use_cognito_provided_values, settings, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .text(&style.id)
    .text(style.pool_id.as_str())
    .text(style.client_id.as_str())
    .flag(style.use_cognito_provided_values)
    .opt_text(settings.as_deref())
    .int(style.created_at)
    .int(style.updated_at);
    match B::execute_on(q, &mut tx).await.map_err(|e| write_err(e, STYLE)) {
        // The only foreign key: the client.
        Err(StoreError::NotFound(_)) => return Err(StoreError::NotFound("client")),
        other => other?,
    };
    insert_assets::<B>(&mut tx, style).await?;
    tx.commit().await.map_err(backend_err)
}

async fn get<B: Backend>(db: &Db<B>, pool: &PoolId, id: &str) -> Result<Option<ManagedLogin>> {
    let q = sqlx::query::<B>("SELECT * FROM managed_login_brandings WHERE pool_id = $1 AND id = $2")
        .text(pool.as_str())
        .text(id);
    let Some(row) = B::fetch_optional(q, db).await.map_err(backend_err)? else { return Ok(None) };
    let mut style = style_from::<B>(&row)?;
    style.assets = assets(db, &style.id, true).await?;
    Ok(Some(style))
}

async fn for_client<B: Backend>(
    db: &Db<B>,
    pool: &PoolId,
    client: &ClientId,
    bytes: bool,
) -> Result<Option<ManagedLogin>> {
    let q = sqlx::query::<B>("SELECT * FROM managed_login_brandings WHERE pool_id = $1 AND client_id = $2")
        .text(pool.as_str())
        .text(client.as_str());
    let Some(row) = B::fetch_optional(q, db).await.map_err(backend_err)? else { return Ok(None) };
    let mut style = style_from::<B>(&row)?;
    style.assets = assets(db, &style.id, bytes).await?;
    Ok(Some(style))
}

async fn asset<B: Backend>(
    db: &Db<B>,
    pool: &PoolId,
    id: &str,
    category: Category,
    mode: ColorMode,
) -> Result<Option<Asset>> {
    let q = sqlx::query::<B>(
        "SELECT a.category, a.color_mode, a.extension, a.resource_id, a.bytes FROM managed_login_assets a \
         JOIN managed_login_brandings b ON b.id = a.branding_id \
         WHERE b.pool_id = $1 AND b.id = $2 AND a.category = $3 AND a.color_mode = $4",
    )
    .text(pool.as_str())
    .text(id)
    .text(category.as_str())
    .text(mode.as_str());
    B::fetch_optional(q, db).await.map_err(backend_err)?.as_ref().map(|r| asset_from::<B>(r, true)).transpose()
}

async fn update<B: Backend>(db: &Db<B>, style: &ManagedLogin, replace_assets: bool) -> Result<()> {
    let settings = style.settings.as_ref().map(to_json).transpose()?;
    let mut tx = db.begin().await.map_err(backend_err)?;
    let q = sqlx::query::<B>(
        "UPDATE managed_login_brandings SET use_cognito_provided_values = $1, settings = $2, updated_at = $3 \
         WHERE pool_id = $4 AND id = $5",
    )
    .flag(style.use_cognito_provided_values)
    .opt_text(settings.as_deref())
    .int(style.updated_at)
    .text(style.pool_id.as_str())
    .text(&style.id);
    affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, STYLE)?;
    if replace_assets {
        let q = sqlx::query::<B>("DELETE FROM managed_login_assets WHERE branding_id = $1").text(&style.id);
        B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        insert_assets::<B>(&mut tx, style).await?;
    }
    tx.commit().await.map_err(backend_err)
}

#[async_trait]
impl<B: Backend> ManagedLoginRepo for SqlStore<B> {
    async fn create_managed_login(&self, style: &ManagedLogin) -> Result<()> {
        create(&self.db, style).await
    }

    async fn get_managed_login(&self, pool: &PoolId, id: &str) -> Result<Option<ManagedLogin>> {
        get(&self.db, pool, id).await
    }

    async fn managed_login_for_client(
        &self,
        pool: &PoolId,
        client: &ClientId,
        bytes: bool,
    ) -> Result<Option<ManagedLogin>> {
        for_client(&self.db, pool, client, bytes).await
    }

    async fn get_managed_login_asset(
        &self,
        pool: &PoolId,
        id: &str,
        category: Category,
        mode: ColorMode,
    ) -> Result<Option<Asset>> {
        asset(&self.db, pool, id, category, mode).await
    }

    async fn update_managed_login(&self, style: &ManagedLogin, replace_assets: bool) -> Result<()> {
        update(&self.db, style, replace_assets).await
    }

    async fn delete_managed_login(&self, pool: &PoolId, id: &str) -> Result<()> {
        let q = sqlx::query::<B>("DELETE FROM managed_login_brandings WHERE pool_id = $1 AND id = $2")
            .text(pool.as_str())
            .text(id);
        affected(B::execute(q, &self.db).await.map_err(backend_err)?, STYLE)
    }
}
