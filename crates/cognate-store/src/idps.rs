//! External identity providers and provider links, written once as generic code over
//! [`Backend`] (see [`crate::pools`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::idp::{IdentityProvider, ProviderLink, ProviderType, identities};
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::repo::IdentityProviderRepo;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::{affected, json, pool_id, to_json, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn provider_from<B: Backend>(row: &B::Row) -> Result<IdentityProvider> {
    let kind = B::text_col(row, "provider_type")?;
    Ok(IdentityProvider {
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        name: B::text_col(row, "name")?,
        kind: ProviderType::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("provider type {kind}")))?,
        details: json(&B::text_col(row, "details")?, "provider details")?,
        attribute_mapping: json(&B::text_col(row, "attribute_mapping")?, "attribute mapping")?,
        identifiers: json(&B::text_col(row, "identifiers")?, "provider identifiers")?,
        acr_mapping: json(&B::text_col(row, "acr_mapping")?, "acr mapping")?,
        created: B::int_col(row, "created_at")?,
        modified: B::int_col(row, "updated_at")?,
    })
}

fn link_from<B: Backend>(row: &B::Row) -> Result<ProviderLink> {
    Ok(ProviderLink {
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        provider: B::text_col(row, "provider")?,
        attribute: B::text_col(row, "attribute")?,
        value: B::text_col(row, "value")?,
        provider_type: B::text_col(row, "provider_type")?,
        user_sub: B::text_col(row, "sub")?,
        created: B::int_col(row, "created_at")?,
    })
}

/// Writes the provider's identifier rows (after its old ones were removed); a taken
/// identifier is `Conflict("identifier")`.
async fn insert_identifiers<B: Backend>(conn: &mut B::Connection, idp: &IdentityProvider) -> Result<()> {
    for id in &idp.identifiers {
        let key = id.to_lowercase();
        let q = sqlx::query::<B>("INSERT INTO idp_identifiers (pool_id, identifier_key, provider) VALUES ($1, $2, $3)")
            .text(idp.pool_id.as_str())
            .text(&key)
            .text(&idp.name);
        B::execute_on(q, conn).await.map_err(|e| write_err(e, "identifier"))?;
    }
    Ok(())
}

/// The JSON columns of a provider: details, attribute mapping, identifiers, ACR mapping.
fn json_columns(idp: &IdentityProvider) -> Result<[String; 4]> {
    Ok([
        to_json(&idp.details)?,
        to_json(&idp.attribute_mapping)?,
        to_json(&idp.identifiers)?,
        to_json(&idp.acr_mapping)?,
    ])
}

async fn create<B: Backend>(db: &Db<B>, idp: &IdentityProvider) -> Result<()> {
    let [details, mapping, identifiers, acr] = json_columns(idp)?;
    let mut tx = db.begin().await.map_err(backend_err)?;
    let q = sqlx::query::<B>(
        "INSERT INTO identity_providers (pool_id, name, provider_type, details, attribute_mapping, identifiers, \
         acr_mapping, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .text(idp.pool_id.as_str())
    .text(&idp.name)
    .text(idp.kind.as_str())
    .text(&details)
    .text(&mapping)
    .text(&identifiers)
    .text(&acr)
    .int(idp.created)
    .int(idp.modified);
    B::execute_on(q, &mut tx).await.map_err(|e| write_err(e, "provider"))?;
    insert_identifiers::<B>(&mut tx, idp).await?;
    tx.commit().await.map_err(backend_err)
}

async fn get<B: Backend>(db: &Db<B>, pool: &PoolId, name: &str) -> Result<Option<IdentityProvider>> {
    let q = sqlx::query::<B>("SELECT * FROM identity_providers WHERE pool_id = $1 AND name = $2")
        .text(pool.as_str())
        .text(name);
    B::fetch_optional(q, db).await.map_err(backend_err)?.as_ref().map(provider_from::<B>).transpose()
}

async fn find<B: Backend>(db: &Db<B>, pool: &PoolId, identifier: &str) -> Result<Option<IdentityProvider>> {
    let key = identifier.to_lowercase();
    let q = sqlx::query::<B>(
        "SELECT p.* FROM idp_identifiers i JOIN identity_providers p ON p.pool_id = i.pool_id AND p.name = i.provider \
         WHERE i.pool_id = $1 AND i.identifier_key = $2",
    )
    .text(pool.as_str())
    .text(&key);
    B::fetch_optional(q, db).await.map_err(backend_err)?.as_ref().map(provider_from::<B>).transpose()
}

async fn list<B: Backend>(db: &Db<B>, pool: &PoolId, page: &PageRequest) -> Result<Vec<IdentityProvider>> {
    let q =
        sqlx::query::<B>("SELECT * FROM identity_providers WHERE pool_id = $1 AND name > $2 ORDER BY name LIMIT $3")
            .text(pool.as_str())
            .text(page.after.as_deref().unwrap_or(""))
            .int(page.fetch_limit());
    B::fetch_all(q, db).await.map_err(backend_err)?.iter().map(provider_from::<B>).collect()
}

async fn update<B: Backend>(db: &Db<B>, idp: &IdentityProvider) -> Result<()> {
    let [details, mapping, identifiers, acr] = json_columns(idp)?;
    let mut tx = db.begin().await.map_err(backend_err)?;
    let q = sqlx::query::<B>(
        "UPDATE identity_providers SET details = $1, attribute_mapping = $2, identifiers = $3, acr_mapping = $4, \
         updated_at = $5 WHERE pool_id = $6 AND name = $7",
    )
    .text(&details)
    .text(&mapping)
    .text(&identifiers)
    .text(&acr)
    .int(idp.modified)
    .text(idp.pool_id.as_str())
    .text(&idp.name);
    affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "provider")?;
    let q = sqlx::query::<B>("DELETE FROM idp_identifiers WHERE pool_id = $1 AND provider = $2")
        .text(idp.pool_id.as_str())
        .text(&idp.name);
    B::execute_on(q, &mut tx).await.map_err(backend_err)?;
    insert_identifiers::<B>(&mut tx, idp).await?;
    tx.commit().await.map_err(backend_err)
}

async fn delete<B: Backend>(db: &Db<B>, pool: &PoolId, name: &str) -> Result<()> {
    let mut tx = db.begin().await.map_err(backend_err)?;
    let q = sqlx::query::<B>("DELETE FROM idp_identifiers WHERE pool_id = $1 AND provider = $2")
        .text(pool.as_str())
        .text(name);
    B::execute_on(q, &mut tx).await.map_err(backend_err)?;
    let q = sqlx::query::<B>("DELETE FROM identity_providers WHERE pool_id = $1 AND name = $2")
        .text(pool.as_str())
        .text(name);
    affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "provider")?;
    tx.commit().await.map_err(backend_err)
}

/// Takes the user's row lock (PostgreSQL; SQLite's `WRITE_BEGIN` already serialises
/// writers), so concurrent link changes of one user apply one after the other.
async fn hold_user<B: Backend>(conn: &mut B::Connection, pool: &PoolId, sub: &str) -> Result<()> {
    let q = sqlx::query::<B>("UPDATE users SET updated_at = updated_at WHERE pool_id = $1 AND sub = $2")
        .text(pool.as_str())
        .text(sub);
    affected(B::execute_on(q, conn).await.map_err(backend_err)?, "user")
}

async fn links_of<B: Backend>(conn: &mut B::Connection, pool: &PoolId, sub: &str) -> Result<Vec<ProviderLink>> {
    let q =
        sqlx::query::<B>("SELECT * FROM provider_links WHERE pool_id = $1 AND sub = $2 ORDER BY created_at, provider")
            .text(pool.as_str())
            .text(sub);
    B::fetch_all_on(q, conn).await.map_err(backend_err)?.iter().map(link_from::<B>).collect()
}

/// The `identities` attribute of a user with `links`.
fn render_identities(links: &[ProviderLink], username: &str) -> Result<String> {
    to_json(&identities(links, username))
}

/// Rewrites the user's `identities` attribute from their links (and its search index row).
async fn write_identities<B: Backend>(conn: &mut B::Connection, pool: &PoolId, sub: &str) -> Result<()> {
    let links = links_of::<B>(conn, pool, sub).await?;
    let q = sqlx::query::<B>("SELECT attributes, username FROM users WHERE pool_id = $1 AND sub = $2")
        .text(pool.as_str())
        .text(sub);
    let row = B::fetch_one_on(q, conn).await.map_err(backend_err)?;
    let mut attributes: BTreeMap<String, String> = json(&B::text_col(&row, "attributes")?, "user attributes")?;
    let username = B::text_col(&row, "username")?;
    let q = sqlx::query::<B>("DELETE FROM user_attributes WHERE pool_id = $1 AND sub = $2 AND name = 'identities'")
        .text(pool.as_str())
        .text(sub);
    B::execute_on(q, conn).await.map_err(backend_err)?;
    if links.is_empty() {
        attributes.remove("identities");
    } else {
        let rendered = render_identities(&links, &username)?;
        attributes.insert("identities".into(), rendered.clone());
        let q = sqlx::query::<B>(
            "INSERT INTO user_attributes (pool_id, sub, name, value, username_key) \
             SELECT pool_id, sub, 'identities', $1, username_key FROM users WHERE pool_id = $2 AND sub = $3",
        )
        .text(&rendered)
        .text(pool.as_str())
        .text(sub);
        B::execute_on(q, conn).await.map_err(backend_err)?;
    }
    let attributes = to_json(&attributes)?;
    let q = sqlx::query::<B>("UPDATE users SET attributes = $1 WHERE pool_id = $2 AND sub = $3")
        .text(&attributes)
        .text(pool.as_str())
        .text(sub);
    affected(B::execute_on(q, conn).await.map_err(backend_err)?, "user")
}

/// After a user was written whole from a copy (`replace`), puts back the `identities`
/// attribute their links make, when they have links or the copy carried the attribute.
pub(crate) async fn sync_identities<B: Backend>(
    conn: &mut B::Connection,
    pool: &PoolId,
    sub: &str,
    copy_has: bool,
) -> Result<()> {
    if !copy_has && links_of::<B>(conn, pool, sub).await?.is_empty() {
        return Ok(());
    }
    write_identities::<B>(conn, pool, sub).await
}

async fn link<B: Backend>(db: &Db<B>, link: &ProviderLink, max: usize) -> Result<()> {
    let mut tx = db.begin_with(B::WRITE_BEGIN).await.map_err(backend_err)?;
    hold_user::<B>(&mut tx, &link.pool_id, &link.user_sub).await?;
    if links_of::<B>(&mut tx, &link.pool_id, &link.user_sub).await?.len() >= max {
        return Err(StoreError::Conflict("link limit"));
    }
    let q = sqlx::query::<B>(
        "INSERT INTO provider_links (pool_id, provider, provider_type, attribute, value, sub, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .text(link.pool_id.as_str())
    .text(&link.provider)
    .text(&link.provider_type)
    .text(&link.attribute)
    .text(&link.value)
    .text(&link.user_sub)
    .int(link.created);
    B::execute_on(q, &mut tx).await.map_err(|e| write_err(e, "link"))?;
    write_identities::<B>(&mut tx, &link.pool_id, &link.user_sub).await?;
    tx.commit().await.map_err(backend_err)
}

async fn linked<B: Backend>(
    conn: &mut B::Connection,
    pool: &PoolId,
    provider: &str,
    attribute: &str,
    value: &str,
) -> Result<Option<String>> {
    let q = sqlx::query::<B>(
        "SELECT sub FROM provider_links WHERE pool_id = $1 AND provider = $2 AND attribute = $3 AND value = $4",
    )
    .text(pool.as_str())
    .text(provider)
    .text(attribute)
    .text(value);
    B::fetch_optional_on(q, conn).await.map_err(backend_err)?.map(|row| B::text_col(&row, "sub")).transpose()
}

async fn unlink<B: Backend>(
    db: &Db<B>,
    pool: &PoolId,
    provider: &str,
    attribute: &str,
    value: &str,
) -> Result<Option<String>> {
    let mut tx = db.begin_with(B::WRITE_BEGIN).await.map_err(backend_err)?;
    let Some(sub) = linked::<B>(&mut tx, pool, provider, attribute, value).await? else {
        return Ok(None);
    };
    hold_user::<B>(&mut tx, pool, &sub).await?;
    let q = sqlx::query::<B>(
        "DELETE FROM provider_links WHERE pool_id = $1 AND provider = $2 AND attribute = $3 AND value = $4 AND sub = $5",
    )
    .text(pool.as_str())
    .text(provider)
    .text(attribute)
    .text(value)
    .text(&sub);
    if B::execute_on(q, &mut tx).await.map_err(backend_err)? == 0 {
        // Removed by a concurrent call between the read and the lock.
        return Ok(None);
    }
    write_identities::<B>(&mut tx, pool, &sub).await?;
    tx.commit().await.map_err(backend_err)?;
    Ok(Some(sub))
}

#[async_trait]
impl<B: Backend> IdentityProviderRepo for SqlStore<B> {
    async fn create_identity_provider(&self, idp: &IdentityProvider) -> Result<()> {
        create(&self.db, idp).await
    }

    async fn get_identity_provider(&self, pool: &PoolId, name: &str) -> Result<Option<IdentityProvider>> {
        get(&self.db, pool, name).await
    }

    async fn find_identity_provider(&self, pool: &PoolId, identifier: &str) -> Result<Option<IdentityProvider>> {
        find(&self.db, pool, identifier).await
    }

    async fn list_identity_providers(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<IdentityProvider>> {
        list(&self.db, pool, page).await
    }

    async fn update_identity_provider(&self, idp: &IdentityProvider) -> Result<()> {
        update(&self.db, idp).await
    }

    async fn delete_identity_provider(&self, pool: &PoolId, name: &str) -> Result<()> {
        delete(&self.db, pool, name).await
    }

    async fn link_provider(&self, link_: &ProviderLink, max: usize) -> Result<()> {
        link(&self.db, link_, max).await
    }

    async fn unlink_provider(
        &self,
        pool: &PoolId,
        provider: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Option<String>> {
        unlink(&self.db, pool, provider, attribute, value).await
    }

    async fn signing_certificate(&self, pool: &PoolId) -> Result<Option<(String, String)>> {
        let q = sqlx::query::<B>("SELECT certificate, key_sealed FROM saml_signing_keys WHERE pool_id = $1")
            .text(pool.as_str());
        let row = B::fetch_optional(q, &self.db).await.map_err(backend_err)?;
        row.map(|r| Ok((B::text_col(&r, "certificate")?, B::text_col(&r, "key_sealed")?))).transpose()
    }

    async fn add_signing_certificate(&self, pool: &PoolId, certificate: &str, key_sealed: &str, at: i64) -> Result<()> {
        let q = sqlx::query::<B>(
            "INSERT INTO saml_signing_keys (pool_id, certificate, key_sealed, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (pool_id) DO NOTHING",
        )
        .text(pool.as_str())
        .text(certificate)
        .text(key_sealed)
        .int(at);
        B::execute(q, &self.db).await.map_err(|e| write_err(e, "pool"))?;
        Ok(())
    }

    async fn linked_user(&self, pool: &PoolId, provider: &str, attribute: &str, value: &str) -> Result<Option<String>> {
        let mut conn = self.db.acquire().await.map_err(backend_err)?;
        linked::<B>(&mut *conn, pool, provider, attribute, value).await
    }
}
