//! Authorization codes, hosted-login browser sessions and user pool domains, written once as generic code
//! over [`Backend`] (see [`crate::pools`]). Only hashes of codes and session ids are
//! stored.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::login::{
    AuthorizationCode, FederationRequest, LoginSession, PoolDomain, Redemption, UiCustomization,
};
use cognate_core::repo::LoginRepo;
use cognate_core::tenant::TenantId;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::write_err;
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn pool_of(id: &str) -> Result<PoolId> {
    PoolId::parse(id).ok_or_else(|| StoreError::Corrupt(format!("pool id {id}")))
}

fn tenant_of(id: Option<String>) -> Result<Option<TenantId>> {
    id.map(|t| TenantId::parse(&t).ok_or_else(|| StoreError::Corrupt(format!("tenant id {t}")))).transpose()
}

fn code_from<B: Backend>(row: &B::Row) -> Result<AuthorizationCode> {
    Ok(AuthorizationCode {
        code_hash: B::text_col(row, "code_hash")?,
        pool_id: pool_of(&B::text_col(row, "pool_id")?)?,
        client_id: B::text_col(row, "client_id")?,
        sub: B::text_col(row, "sub")?,
        tenant_id: tenant_of(B::opt_text_col(row, "tenant_id")?)?,
        redirect_uri: B::text_col(row, "redirect_uri")?,
        scope: B::text_col(row, "scope")?,
        nonce: B::opt_text_col(row, "nonce")?,
        code_challenge: B::opt_text_col(row, "code_challenge")?,
        family_id: B::text_col(row, "family_id")?,
        auth_time: B::int_col(row, "auth_time")?,
        mfa: B::flag_col(row, "mfa")?,
        created_at: B::int_col(row, "created_at")?,
        expires_at: B::int_col(row, "expires_at")?,
        used_at: B::opt_int_col(row, "used_at")?,
    })
}

fn session_from<B: Backend>(row: &B::Row) -> Result<LoginSession> {
    Ok(LoginSession {
        id_hash: B::text_col(row, "id_hash")?,
        pool_id: pool_of(&B::text_col(row, "pool_id")?)?,
        sub: B::text_col(row, "sub")?,
        tenant_id: tenant_of(B::opt_text_col(row, "tenant_id")?)?,
        auth_time: B::int_col(row, "auth_time")?,
        mfa: B::flag_col(row, "mfa")?,
        created_at: B::int_col(row, "created_at")?,
        expires_at: B::int_col(row, "expires_at")?,
        ended_at: B::opt_int_col(row, "ended_at")?,
        federation: B::opt_text_col(row, "federation")?,
    })
}

pub(crate) async fn save_code<B: Backend>(db: &Db<B>, c: &AuthorizationCode) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO authorization_codes (code_hash, pool_id, client_id, sub, tenant_id, redirect_uri, scope, nonce, \
         code_challenge, family_id, auth_time, mfa, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .text(&c.code_hash)
    .text(c.pool_id.as_str())
    .text(&c.client_id)
    .text(&c.sub)
    .opt_text(c.tenant_id.as_ref().map(TenantId::as_str))
    .text(&c.redirect_uri)
    .text(&c.scope)
    .opt_text(c.nonce.as_deref())
    .opt_text(c.code_challenge.as_deref())
    .text(&c.family_id)
    .int(c.auth_time)
    .flag(c.mfa)
    .int(c.created_at)
    .int(c.expires_at)
    .opt_int(c.used_at);
    B::execute(q, db).await.map_err(|e| write_err(e, "authorization_code"))?;
    Ok(())
}

pub(crate) async fn redeem_code<B: Backend>(db: &Db<B>, code_hash: &str, at: i64) -> Result<Redemption> {
    let q = sqlx::query::<B>(
        "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL RETURNING *",
    )
    .int(at)
    .text(code_hash);
    if let Some(row) = B::fetch_optional(q, db).await.map_err(backend_err)? {
        return Ok(Redemption::Fresh(code_from::<B>(&row)?));
    }
    let q = sqlx::query::<B>("SELECT * FROM authorization_codes WHERE code_hash = $1").text(code_hash);
    Ok(match B::fetch_optional(q, db).await.map_err(backend_err)? {
        Some(row) => Redemption::Replayed(code_from::<B>(&row)?),
        None => Redemption::Unknown,
    })
}

pub(crate) async fn create_session<B: Backend>(db: &Db<B>, s: &LoginSession) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO login_sessions (id_hash, pool_id, sub, tenant_id, auth_time, mfa, created_at, expires_at, \
         ended_at, federation) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .text(&s.id_hash)
    .text(s.pool_id.as_str())
    .text(&s.sub)
    .opt_text(s.tenant_id.as_ref().map(TenantId::as_str))
    .int(s.auth_time)
    .flag(s.mfa)
    .int(s.created_at)
    .int(s.expires_at)
    .opt_int(s.ended_at)
    .opt_text(s.federation.as_deref());
    B::execute(q, db).await.map_err(|e| write_err(e, "login_session"))?;
    Ok(())
}

pub(crate) async fn get_session<B: Backend>(db: &Db<B>, id_hash: &str) -> Result<Option<LoginSession>> {
    let q = sqlx::query::<B>("SELECT * FROM login_sessions WHERE id_hash = $1").text(id_hash);
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(session_from::<B>).transpose()
}

pub(crate) async fn end_session<B: Backend>(db: &Db<B>, id_hash: &str, at: i64) -> Result<bool> {
    let q = sqlx::query::<B>("UPDATE login_sessions SET ended_at = $1 WHERE id_hash = $2 AND ended_at IS NULL")
        .int(at)
        .text(id_hash);
    Ok(B::execute(q, db).await.map_err(backend_err)? > 0)
}

pub(crate) async fn purge<B: Backend>(db: &Db<B>, before: i64) -> Result<u64> {
    let codes = sqlx::query::<B>("DELETE FROM authorization_codes WHERE expires_at < $1").int(before);
    let sessions = sqlx::query::<B>("DELETE FROM login_sessions WHERE expires_at < $1").int(before);
    let spent = sqlx::query::<B>("DELETE FROM spent_values WHERE expires_at < $1").int(before);
    let federation = sqlx::query::<B>("DELETE FROM federation_requests WHERE expires_at < $1").int(before);
    // Device keys handed to sign-ins and never confirmed (no token that could confirm one
    // outlives a day).
    let devices = sqlx::query::<B>("DELETE FROM devices WHERE verifier_sealed IS NULL AND created_at < $1").int(before);
    Ok(B::execute(codes, db).await.map_err(backend_err)?
        + B::execute(sessions, db).await.map_err(backend_err)?
        + B::execute(spent, db).await.map_err(backend_err)?
        + B::execute(federation, db).await.map_err(backend_err)?
        + B::execute(devices, db).await.map_err(backend_err)?)
}

/// Records a one-time value (its hash) as spent until `expires_at`; false when it already
/// was. One insert that the primary key refuses a second time, so of two concurrent uses
/// exactly one gets `true`.
pub(crate) async fn spend<B: Backend>(db: &Db<B>, value_hash: &str, expires_at: i64) -> Result<bool> {
    let q =
        sqlx::query::<B>("INSERT INTO spent_values (value_hash, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .text(value_hash)
            .int(expires_at);
    Ok(B::execute(q, db).await.map_err(backend_err)? == 1)
}

fn federation_from<B: Backend>(row: &B::Row) -> Result<FederationRequest> {
    Ok(FederationRequest {
        state_hash: B::text_col(row, "state_hash")?,
        pool_id: pool_of(&B::text_col(row, "pool_id")?)?,
        provider: B::text_col(row, "provider")?,
        binding_hash: B::text_col(row, "binding_hash")?,
        request_id: B::opt_text_col(row, "request_id")?,
        payload: B::text_col(row, "payload")?,
        result: B::opt_text_col(row, "result")?,
        created_at: B::int_col(row, "created_at")?,
        expires_at: B::int_col(row, "expires_at")?,
        used_at: B::opt_int_col(row, "used_at")?,
    })
}

pub(crate) async fn save_federation<B: Backend>(db: &Db<B>, r: &FederationRequest) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO federation_requests (state_hash, pool_id, provider, binding_hash, request_id, payload, result, \
         created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .text(&r.state_hash)
    .text(r.pool_id.as_str())
    .text(&r.provider)
    .text(&r.binding_hash)
    .opt_text(r.request_id.as_deref())
    .text(&r.payload)
    .opt_text(r.result.as_deref())
    .int(r.created_at)
    .int(r.expires_at)
    .opt_int(r.used_at);
    B::execute(q, db).await.map_err(|e| write_err(e, "federation_request"))?;
    Ok(())
}

pub(crate) async fn attach_federation<B: Backend>(
    db: &Db<B>,
    state_hash: &str,
    result: &str,
    now: i64,
) -> Result<bool> {
    let q = sqlx::query::<B>(
        "UPDATE federation_requests SET result = $1 WHERE state_hash = $2 AND result IS NULL AND used_at IS NULL \
         AND expires_at > $3",
    )
    .text(result)
    .text(state_hash)
    .int(now);
    Ok(B::execute(q, db).await.map_err(backend_err)? == 1)
}

pub(crate) async fn take_federation<B: Backend>(
    db: &Db<B>,
    state_hash: &str,
    now: i64,
) -> Result<Option<FederationRequest>> {
    let q = sqlx::query::<B>(
        "UPDATE federation_requests SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL AND expires_at > $1 \
         RETURNING *",
    )
    .int(now)
    .text(state_hash);
    B::fetch_optional(q, db).await.map_err(backend_err)?.map(|row| federation_from::<B>(&row)).transpose()
}

pub(crate) async fn federation_by_id<B: Backend>(db: &Db<B>, request_id: &str) -> Result<Option<FederationRequest>> {
    let q = sqlx::query::<B>("SELECT * FROM federation_requests WHERE request_id = $1").text(request_id);
    B::fetch_optional(q, db).await.map_err(backend_err)?.map(|row| federation_from::<B>(&row)).transpose()
}

fn domain_from<B: Backend>(row: &B::Row) -> Result<PoolDomain> {
    Ok(PoolDomain {
        domain: B::text_col(row, "domain")?,
        pool_id: pool_of(&B::text_col(row, "pool_id")?)?,
        custom: B::flag_col(row, "custom")?,
        certificate_arn: B::opt_text_col(row, "certificate_arn")?,
        managed_login_version: B::int_col(row, "managed_login_version")?,
        created_at: B::int_col(row, "created_at")?,
    })
}

pub(crate) async fn create_domain<B: Backend>(db: &Db<B>, d: &PoolDomain) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO user_pool_domains (domain, pool_id, custom, certificate_arn, managed_login_version, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .text(&d.domain)
    .text(d.pool_id.as_str())
    .flag(d.custom)
    .opt_text(d.certificate_arn.as_deref())
    .int(d.managed_login_version)
    .int(d.created_at);
    B::execute(q, db).await.map_err(|e| match &e {
        // The pool's one domain of this kind (the unique index on pool_id, custom), or the
        // domain itself (the primary key).
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let text = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
            if text.contains("one_per_kind") || text.contains("user_pool_domains.pool_id") {
                StoreError::Conflict("pool_domain")
            } else {
                StoreError::Conflict("domain")
            }
        }
        _ => write_err(e, "domain"),
    })?;
    Ok(())
}

pub(crate) async fn get_domain<B: Backend>(db: &Db<B>, domain: &str) -> Result<Option<PoolDomain>> {
    let q = sqlx::query::<B>("SELECT * FROM user_pool_domains WHERE domain = $1").text(domain);
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(domain_from::<B>).transpose()
}

pub(crate) async fn list_domains<B: Backend>(db: &Db<B>, pool: &PoolId) -> Result<Vec<PoolDomain>> {
    let q = sqlx::query::<B>("SELECT * FROM user_pool_domains WHERE pool_id = $1 ORDER BY custom, domain")
        .text(pool.as_str());
    B::fetch_all(q, db).await.map_err(backend_err)?.iter().map(domain_from::<B>).collect()
}

pub(crate) async fn update_domain<B: Backend>(db: &Db<B>, d: &PoolDomain) -> Result<()> {
    let q = sqlx::query::<B>(
        "UPDATE user_pool_domains SET certificate_arn = $1, managed_login_version = $2 \
         WHERE domain = $3 AND pool_id = $4",
    )
    .opt_text(d.certificate_arn.as_deref())
    .int(d.managed_login_version)
    .text(&d.domain)
    .text(d.pool_id.as_str());
    match B::execute(q, db).await.map_err(backend_err)? {
        0 => Err(StoreError::NotFound("domain")),
        _ => Ok(()),
    }
}

pub(crate) async fn delete_domain<B: Backend>(db: &Db<B>, pool: &PoolId, domain: &str) -> Result<bool> {
    let q = sqlx::query::<B>("DELETE FROM user_pool_domains WHERE domain = $1 AND pool_id = $2")
        .text(domain)
        .text(pool.as_str());
    Ok(B::execute(q, db).await.map_err(backend_err)? > 0)
}

pub(crate) async fn put_ui<B: Backend>(db: &Db<B>, ui: &UiCustomization) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO ui_customizations (pool_id, client_id, css, image, image_type, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (pool_id, client_id) DO UPDATE SET css = excluded.css, image = excluded.image, \
         image_type = excluded.image_type, updated_at = excluded.updated_at",
    )
    .text(ui.pool_id.as_str())
    .text(&ui.client_id)
    .opt_text(ui.css.as_deref())
    .opt_text(ui.image.as_deref())
    .opt_text(ui.image_type.as_deref())
    .int(ui.created_at)
    .int(ui.updated_at);
    B::execute(q, db).await.map_err(|e| write_err(e, "ui_customization"))?;
    Ok(())
}

pub(crate) async fn get_ui<B: Backend>(db: &Db<B>, pool: &PoolId, client: &str) -> Result<Option<UiCustomization>> {
    let q = sqlx::query::<B>("SELECT * FROM ui_customizations WHERE pool_id = $1 AND client_id = $2")
        .text(pool.as_str())
        .text(client);
    let Some(row) = B::fetch_optional(q, db).await.map_err(backend_err)? else { return Ok(None) };
    Ok(Some(UiCustomization {
        pool_id: pool_of(&B::text_col(&row, "pool_id")?)?,
        client_id: B::text_col(&row, "client_id")?,
        css: B::opt_text_col(&row, "css")?,
        image: B::opt_text_col(&row, "image")?,
        image_type: B::opt_text_col(&row, "image_type")?,
        created_at: B::int_col(&row, "created_at")?,
        updated_at: B::int_col(&row, "updated_at")?,
    }))
}

#[async_trait]
impl<B: Backend> LoginRepo for SqlStore<B> {
    async fn save_authorization_code(&self, code: &AuthorizationCode) -> Result<()> {
        save_code(&self.db, code).await
    }

    async fn redeem_authorization_code(&self, code_hash: &str, at: i64) -> Result<Redemption> {
        redeem_code(&self.db, code_hash, at).await
    }

    async fn create_login_session(&self, session: &LoginSession) -> Result<()> {
        create_session(&self.db, session).await
    }

    async fn get_login_session(&self, id_hash: &str) -> Result<Option<LoginSession>> {
        get_session(&self.db, id_hash).await
    }

    async fn end_login_session(&self, id_hash: &str, at: i64) -> Result<bool> {
        end_session(&self.db, id_hash, at).await
    }

    async fn purge_login(&self, before: i64) -> Result<u64> {
        purge(&self.db, before).await
    }

    async fn spend(&self, value_hash: &str, expires_at: i64) -> Result<bool> {
        spend(&self.db, value_hash, expires_at).await
    }

    async fn save_federation_request(&self, request: &FederationRequest) -> Result<()> {
        save_federation(&self.db, request).await
    }

    async fn attach_federation_result(&self, state_hash: &str, result: &str, now: i64) -> Result<bool> {
        attach_federation(&self.db, state_hash, result, now).await
    }

    async fn take_federation_request(&self, state_hash: &str, now: i64) -> Result<Option<FederationRequest>> {
        take_federation(&self.db, state_hash, now).await
    }

    async fn federation_request_by_id(&self, request_id: &str) -> Result<Option<FederationRequest>> {
        federation_by_id(&self.db, request_id).await
    }

    async fn create_pool_domain(&self, domain: &PoolDomain) -> Result<()> {
        create_domain(&self.db, domain).await
    }

    async fn get_pool_domain(&self, domain: &str) -> Result<Option<PoolDomain>> {
        get_domain(&self.db, domain).await
    }

    async fn list_pool_domains(&self, pool: &PoolId) -> Result<Vec<PoolDomain>> {
        list_domains(&self.db, pool).await
    }

    async fn update_pool_domain(&self, domain: &PoolDomain) -> Result<()> {
        update_domain(&self.db, domain).await
    }

    async fn delete_pool_domain(&self, pool: &PoolId, domain: &str) -> Result<bool> {
        delete_domain(&self.db, pool, domain).await
    }

    async fn put_ui_customization(&self, ui: &UiCustomization) -> Result<()> {
        put_ui(&self.db, ui).await
    }

    async fn get_ui_customization(&self, pool: &PoolId, client_id: &str) -> Result<Option<UiCustomization>> {
        get_ui(&self.db, pool, client_id).await
    }
}
