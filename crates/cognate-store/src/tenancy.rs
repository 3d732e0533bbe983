//! The tenancy repositories (tenants, domains, memberships, invitations), written once as
//! generic code over [`Backend`] (see [`crate::pools`]); the unit of work confined to one
//! tenant is in [`crate::tenant_work`].
//!
//! Tenants themselves are platform-owned; every other table here is tenant-owned: its
//! statements run in a tenant scope ([`SqlStore::tenant_scope`]) and filter by tenant
//! themselves, except the few cross-tenant lookups, which run in the platform read scope
//! ([`SqlStore::platform_scope`]). The API key and audit repositories use the same scopes.

use std::str::FromStr;

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::change::Change;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::repo::{DomainRepo, InvitationRepo, MembershipRepo, TenantCount, TenantRepo};
use cognate_core::tenant::{
    DomainName, EmailDomain, Invitation, Membership, MembershipStatus, Role, Tenant, TenantId, Tier,
};
use cognate_core::webhook::WebhookEvent;
use sqlx::Transaction;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::{affected, pool_id, tenant_id, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn word<B: Backend, T: FromStr<Err = String>>(row: &B::Row, name: &str) -> Result<T> {
    B::text_col(row, name)?.parse().map_err(StoreError::Corrupt)
}

/// `write_err`, naming `missing` when a foreign key points nowhere.
pub(crate) fn tenancy_err(e: sqlx::Error, unique: &'static str, missing: &'static str) -> StoreError {
    match write_err(e, unique) {
        StoreError::NotFound(_) => StoreError::NotFound(missing),
        other => other,
    }
}

/// Inconsistent arguments (a caller's bug), refused before anything is written.
pub(crate) fn refused(what: &str) -> StoreError {
    StoreError::Corrupt(format!("refused inconsistent input: {what}"))
}

pub(crate) fn tenant_from<B: Backend>(row: &B::Row) -> Result<Tenant> {
    Ok(Tenant {
        id: tenant_id(&B::text_col(row, "id")?)?,
        name: B::text_col(row, "name")?,
        tier: word::<B, _>(row, "tier")?,
        status: word::<B, _>(row, "status")?,
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        mfa: word::<B, _>(row, "mfa")?,
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
        version: B::int_col(row, "version")?,
    })
}

fn domain_from<B: Backend>(row: &B::Row) -> Result<EmailDomain> {
    let domain = B::text_col(row, "domain")?;
    Ok(EmailDomain {
        tenant_id: tenant_id(&B::text_col(row, "tenant_id")?)?,
        domain: DomainName::parse(&domain).ok_or_else(|| StoreError::Corrupt(format!("domain {domain}")))?,
        verified: B::flag_col(row, "verified")?,
        auto_join: B::flag_col(row, "auto_join")?,
        verification_token_hash: B::opt_text_col(row, "verification_token_hash")?,
        created_at: B::int_col(row, "created_at")?,
    })
}

pub(crate) fn membership_from<B: Backend>(row: &B::Row) -> Result<Membership> {
    Ok(Membership {
        tenant_id: tenant_id(&B::text_col(row, "tenant_id")?)?,
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        sub: B::text_col(row, "sub")?,
        role: word::<B, _>(row, "role")?,
        status: word::<B, _>(row, "status")?,
        created_at: B::int_col(row, "created_at")?,
        last_used_at: B::opt_int_col(row, "last_used_at")?,
    })
}

fn invitation_from<B: Backend>(row: &B::Row) -> Result<Invitation> {
    Ok(Invitation {
        id: B::text_col(row, "id")?,
        tenant_id: tenant_id(&B::text_col(row, "tenant_id")?)?,
        email: B::text_col(row, "email")?,
        role: word::<B, _>(row, "role")?,
        token_hash: B::text_col(row, "token_hash")?,
        invited_by: B::text_col(row, "invited_by")?,
        created_at: B::int_col(row, "created_at")?,
        expires_at: B::int_col(row, "expires_at")?,
        accepted_at: B::opt_int_col(row, "accepted_at")?,
        revoked_at: B::opt_int_col(row, "revoked_at")?,
        accepted_sub: B::opt_text_col(row, "accepted_sub")?,
    })
}

impl<B: Backend> SqlStore<B> {
    /// Begins a transaction confined to `tenant`. On PostgreSQL the tenant-owned tables'
    /// policies then show and accept only that tenant's rows; the SQL run in it still
    /// filters by tenant, which is what isolates tenants on SQLite.
    pub(crate) async fn tenant_scope(&self, tenant: &TenantId) -> Result<Transaction<'static, B>> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        let q = sqlx::query::<B>(B::SET_TENANT).text(tenant.as_str());
        B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        Ok(tx)
    }

    /// Begins a transaction that may READ every tenant's rows of tenant-owned tables
    /// (PostgreSQL's `platform_read` policies); writes in it are refused by the policies.
    /// The one way to look across tenants: keep its callers few (discovery by domain, a
    /// user's memberships, an invitation by token, an API key by hash, the audit chains).
    pub(crate) async fn platform_scope(&self) -> Result<Transaction<'static, B>> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        B::execute_on(sqlx::query::<B>(B::PLATFORM_SCOPE), &mut tx).await.map_err(backend_err)?;
        Ok(tx)
    }
}

/// Creates the membership or replaces its pool, role and status, on `conn`.
pub(crate) async fn write_membership<B: Backend>(conn: &mut B::Connection, m: &Membership) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO memberships (tenant_id, pool_id, sub, role, status, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (tenant_id, sub) DO UPDATE SET pool_id = excluded.pool_id, role = excluded.role, \
         status = excluded.status",
    )
    .text(m.tenant_id.as_str())
    .text(m.pool_id.as_str())
    .text(&m.sub)
    .text(m.role.as_str())
    .text(m.status.as_str())
    .int(m.created_at)
    .opt_int(m.last_used_at);
    B::execute_on(q, conn).await.map_err(|e| tenancy_err(e, "membership", "tenant or user"))?;
    Ok(())
}

/// Marks the invitation accepted by `sub` at `now` on `conn` if it is still pending;
/// whether this call accepted it.
pub(crate) async fn accept_in<B: Backend>(
    conn: &mut B::Connection,
    tenant: &TenantId,
    id: &str,
    sub: &str,
    now: i64,
) -> Result<bool> {
    // One conditional UPDATE: concurrent acceptances serialise on the row and only the
    // first still finds accepted_at NULL.
    let q = sqlx::query::<B>(
        "UPDATE invitations SET accepted_at = $1, accepted_sub = $2 WHERE tenant_id = $3 AND id = $4 \
         AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
    )
    .int(now)
    .text(sub)
    .text(tenant.as_str())
    .text(id);
    Ok(B::execute_on(q, conn).await.map_err(backend_err)? == 1)
}

/// Claims `d` for its tenant on `conn` (in that tenant's scope): `Conflict("domain")` when
/// any tenant has it already, `NotFound("tenant")` when the tenant does not exist.
async fn insert_domain<B: Backend>(conn: &mut B::Connection, d: &EmailDomain) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO tenant_domains (domain, tenant_id, verified, auto_join, verification_token_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .text(d.domain.as_str())
    .text(d.tenant_id.as_str())
    .flag(d.verified)
    .flag(d.auto_join)
    .opt_text(d.verification_token_hash.as_deref())
    .int(d.created_at);
    B::execute_on(q, conn).await.map_err(|e| tenancy_err(e, "domain", "tenant"))?;
    Ok(())
}

#[async_trait]
impl<B: Backend> TenantRepo for SqlStore<B> {
    async fn create_tenant_with(&self, t: &Tenant, domains: &[EmailDomain], events: &[WebhookEvent]) -> Result<()> {
        if domains.iter().any(|d| d.tenant_id != t.id) {
            return Err(refused("a new tenant's domain claimed for another tenant"));
        }
        // The new tenant's scope, so its domains pass the policies on PostgreSQL.
        let mut tx = self.tenant_scope(&t.id).await?;
        let q = sqlx::query::<B>(
            "INSERT INTO tenants (id, name, tier, status, pool_id, mfa, created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .text(t.id.as_str())
        .text(&t.name)
        .text(t.tier.as_str())
        .text(t.status.as_str())
        .text(t.pool_id.as_str())
        .text(t.mfa.as_str())
        .int(t.created_at)
        .int(t.updated_at)
        .int(t.version);
        B::execute_on(q, &mut tx).await.map_err(|e| write_err(e, "tenant"))?;
        for d in domains {
            insert_domain::<B>(&mut tx, d).await?;
        }
        crate::webhooks::insert_events::<B>(&mut tx, events).await?;
        let change = Change::Tenant(t.id.clone());
        crate::changes::announce_in::<B>(&mut tx, &change).await?;
        tx.commit().await.map_err(backend_err)?;
        self.told(&change);
        Ok(())
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        let q = sqlx::query::<B>("SELECT * FROM tenants WHERE id = $1").text(id.as_str());
        let row = B::fetch_optional(q, &self.db).await.map_err(backend_err)?;
        row.as_ref().map(tenant_from::<B>).transpose()
    }

    async fn list_tenants(&self, page: &PageRequest) -> Result<Vec<Tenant>> {
        let q = sqlx::query::<B>("SELECT * FROM tenants WHERE id > $1 ORDER BY id LIMIT $2")
            .text(page.after.as_deref().unwrap_or(""))
            .int(page.fetch_limit());
        let rows = B::fetch_all(q, &self.db).await.map_err(backend_err)?;
        rows.iter().map(tenant_from::<B>).collect()
    }

    async fn count_tenants(&self) -> Result<Vec<TenantCount>> {
        let q = sqlx::query::<B>(
            "SELECT tier, status, COUNT(*) AS n FROM tenants GROUP BY tier, status ORDER BY tier, status",
        );
        let rows = B::fetch_all(q, &self.db).await.map_err(backend_err)?;
        rows.iter()
            .map(|row| {
                Ok(TenantCount {
                    tier: word::<B, _>(row, "tier")?,
                    status: word::<B, _>(row, "status")?,
                    count: B::int_col(row, "n")?,
                })
            })
            .collect()
    }

    async fn get_tenant_by_pool(&self, pool: &PoolId) -> Result<Option<Tenant>> {
        let q = sqlx::query::<B>("SELECT * FROM tenants WHERE pool_id = $1 AND tier = $2 ORDER BY id LIMIT 1")
            .text(pool.as_str())
            .text(Tier::Platinum.as_str());
        let row = B::fetch_optional(q, &self.db).await.map_err(backend_err)?;
        row.as_ref().map(tenant_from::<B>).transpose()
    }

    async fn delete_tenant(&self, id: &TenantId) -> Result<()> {
        let mut tx = self.tenant_scope(id).await?;
        // The tenant's webhook endpoints (owned by its id, without a foreign key) go with
        // it, their deliveries and the delivery log first: nothing is sent for it after.
        crate::webhooks::delete_owner_endpoints::<B>(&mut tx, id.as_str()).await?;
        // Foreign-key cascades remove the tenant-owned rows; policies do not filter them.
        let q = sqlx::query::<B>("DELETE FROM tenants WHERE id = $1").text(id.as_str());
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "tenant")?;
        let change = Change::Tenant(id.clone());
        crate::changes::announce_in::<B>(&mut tx, &change).await?;
        tx.commit().await.map_err(backend_err)?;
        self.told(&change);
        Ok(())
    }
}

#[async_trait]
impl<B: Backend> DomainRepo for SqlStore<B> {
    async fn add_domain(&self, d: &EmailDomain) -> Result<()> {
        let mut tx = self.tenant_scope(&d.tenant_id).await?;
        insert_domain::<B>(&mut tx, d).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn list_domains(&self, tenant: &TenantId) -> Result<Vec<EmailDomain>> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q =
            sqlx::query::<B>("SELECT * FROM tenant_domains WHERE tenant_id = $1 ORDER BY domain").text(tenant.as_str());
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(domain_from::<B>).collect()
    }

    async fn get_domain(&self, domain: &DomainName) -> Result<Option<EmailDomain>> {
        let mut tx = self.platform_scope().await?;
        let q = sqlx::query::<B>("SELECT * FROM tenant_domains WHERE domain = $1").text(domain.as_str());
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(domain_from::<B>).transpose()
    }

    async fn set_domain_verified(&self, tenant: &TenantId, domain: &DomainName, verified: bool) -> Result<()> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>(
            "UPDATE tenant_domains SET verified = $1, \
             verification_token_hash = CASE WHEN $1 THEN NULL ELSE verification_token_hash END \
             WHERE tenant_id = $2 AND domain = $3",
        )
        .flag(verified)
        .text(tenant.as_str())
        .text(domain.as_str());
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "domain")?;
        tx.commit().await.map_err(backend_err)
    }

    async fn set_domain_auto_join(&self, tenant: &TenantId, domain: &DomainName, auto_join: bool) -> Result<()> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("UPDATE tenant_domains SET auto_join = $1 WHERE tenant_id = $2 AND domain = $3")
            .flag(auto_join)
            .text(tenant.as_str())
            .text(domain.as_str());
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "domain")?;
        tx.commit().await.map_err(backend_err)
    }

    async fn remove_domain(&self, tenant: &TenantId, domain: &DomainName) -> Result<()> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("DELETE FROM tenant_domains WHERE tenant_id = $1 AND domain = $2")
            .text(tenant.as_str())
            .text(domain.as_str());
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "domain")?;
        tx.commit().await.map_err(backend_err)
    }
}

#[async_trait]
impl<B: Backend> MembershipRepo for SqlStore<B> {
    async fn upsert_membership(&self, m: &Membership) -> Result<()> {
        let mut tx = self.tenant_scope(&m.tenant_id).await?;
        write_membership::<B>(&mut tx, m).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn get_membership(&self, tenant: &TenantId, sub: &str) -> Result<Option<Membership>> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("SELECT * FROM memberships WHERE tenant_id = $1 AND sub = $2")
            .text(tenant.as_str())
            .text(sub);
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(membership_from::<B>).transpose()
    }

    async fn list_memberships(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<Membership>> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("SELECT * FROM memberships WHERE tenant_id = $1 AND sub > $2 ORDER BY sub LIMIT $3")
            .text(tenant.as_str())
            .text(page.after.as_deref().unwrap_or(""))
            .int(page.fetch_limit());
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(membership_from::<B>).collect()
    }

    async fn list_memberships_for_user(&self, pool: &PoolId, sub: &str) -> Result<Vec<Membership>> {
        let mut tx = self.platform_scope().await?;
        let q = sqlx::query::<B>(
            "SELECT * FROM memberships WHERE pool_id = $1 AND sub = $2 AND status = 'active' ORDER BY tenant_id",
        )
        .text(pool.as_str())
        .text(sub);
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(membership_from::<B>).collect()
    }

    async fn set_membership_role(&self, tenant: &TenantId, sub: &str, role: Role) -> Result<()> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("UPDATE memberships SET role = $1 WHERE tenant_id = $2 AND sub = $3")
            .text(role.as_str())
            .text(tenant.as_str())
            .text(sub);
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "membership")?;
        tx.commit().await.map_err(backend_err)
    }

    async fn remove_membership(&self, tenant: &TenantId, sub: &str) -> Result<()> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("UPDATE memberships SET status = $1 WHERE tenant_id = $2 AND sub = $3")
            .text(MembershipStatus::Removed.as_str())
            .text(tenant.as_str())
            .text(sub);
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "membership")?;
        tx.commit().await.map_err(backend_err)
    }

    async fn touch_membership(&self, tenant: &TenantId, sub: &str, at: i64) -> Result<()> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("UPDATE memberships SET last_used_at = $1 WHERE tenant_id = $2 AND sub = $3")
            .int(at)
            .text(tenant.as_str())
            .text(sub);
        affected(B::execute_on(q, &mut tx).await.map_err(backend_err)?, "membership")?;
        tx.commit().await.map_err(backend_err)
    }
}

#[async_trait]
impl<B: Backend> InvitationRepo for SqlStore<B> {
    async fn create_invitation_with(&self, i: &Invitation, events: &[WebhookEvent]) -> Result<()> {
        let mut tx = self.tenant_scope(&i.tenant_id).await?;
        let q = sqlx::query::<B>(
            "INSERT INTO invitations (id, tenant_id, email, role, token_hash, invited_by, created_at, expires_at, \
             accepted_at, revoked_at, accepted_sub) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .text(&i.id)
        .text(i.tenant_id.as_str())
        .text(&i.email)
        .text(i.role.as_str())
        .text(&i.token_hash)
        .text(&i.invited_by)
        .int(i.created_at)
        .int(i.expires_at)
        .opt_int(i.accepted_at)
        .opt_int(i.revoked_at)
        .opt_text(i.accepted_sub.as_deref());
        B::execute_on(q, &mut tx).await.map_err(|e| tenancy_err(e, "invitation", "tenant"))?;
        crate::webhooks::insert_events::<B>(&mut tx, events).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn get_invitation(&self, tenant: &TenantId, id: &str) -> Result<Option<Invitation>> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("SELECT * FROM invitations WHERE tenant_id = $1 AND id = $2")
            .text(tenant.as_str())
            .text(id);
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(invitation_from::<B>).transpose()
    }

    async fn get_invitation_by_token_hash(&self, token_hash: &str) -> Result<Option<Invitation>> {
        let mut tx = self.platform_scope().await?;
        let q = sqlx::query::<B>("SELECT * FROM invitations WHERE token_hash = $1").text(token_hash);
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(invitation_from::<B>).transpose()
    }

    async fn list_invitations(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<Invitation>> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>("SELECT * FROM invitations WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .text(tenant.as_str())
            .text(page.after.as_deref().unwrap_or(""))
            .int(page.fetch_limit());
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(invitation_from::<B>).collect()
    }

    async fn accept_invitation(&self, tenant: &TenantId, id: &str, sub: &str, now: i64) -> Result<bool> {
        let mut tx = self.tenant_scope(tenant).await?;
        let accepted = accept_in::<B>(&mut tx, tenant, id, sub, now).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(accepted)
    }

    async fn revoke_invitation_with(
        &self,
        tenant: &TenantId,
        id: &str,
        at: i64,
        events: &[WebhookEvent],
    ) -> Result<bool> {
        let mut tx = self.tenant_scope(tenant).await?;
        let q = sqlx::query::<B>(
            "UPDATE invitations SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 \
             AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
        )
        .int(at)
        .text(tenant.as_str())
        .text(id);
        if B::execute_on(q, &mut tx).await.map_err(backend_err)? == 1 {
            crate::webhooks::insert_events::<B>(&mut tx, events).await?;
            tx.commit().await.map_err(backend_err)?;
            return Ok(true);
        }
        let q = sqlx::query::<B>("SELECT id FROM invitations WHERE tenant_id = $1 AND id = $2")
            .text(tenant.as_str())
            .text(id);
        let exists = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?.is_some();
        tx.commit().await.map_err(backend_err)?;
        if exists { Ok(false) } else { Err(StoreError::NotFound("invitation")) }
    }
}
