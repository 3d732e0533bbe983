//! The unit of work confined to one tenant ([`TenantTx`], cognate-core's [`TenantWork`]),
//! written once as generic code over [`Backend`]: one transaction through which a service
//! reads and writes tenants, users, memberships, role groups, invitations, MFA records and
//! token families, so a rule spanning them (the last admin, a tier move) holds atomically.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::change::Change;
use cognate_core::ids::PoolId;
use cognate_core::repo::TenantWork;
use cognate_core::tenant::{Membership, MembershipStatus, Role, Tenant, TenantId};
use cognate_core::user::{User, UserKeys, index_value};
use sqlx::Transaction;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::{to_json, write_err};
use crate::store::Hooks;
use crate::tenancy::{accept_in, membership_from, refused, tenancy_err, tenant_from, write_membership};
use crate::users::{USER_COLS, user_from};
use crate::{mfa, tokens, users};

type Result<T> = std::result::Result<T, StoreError>;

/// The tenant attributes a tenant's users carry (see `cognate_core::claims`).
const TENANT_ID_ATTR: &str = "custom:tenantId";

/// Every role, each mirrored as a group `{tenant}-{role}`.
const ROLES: [Role; 3] = [Role::Admin, Role::Member, Role::ReadOnly];

/// The names of a tenant's role groups, in `ROLES` order.
fn role_groups(tenant: &TenantId) -> [String; 3] {
    ROLES.map(|r| r.group_name(tenant))
}

/// Writes `t` on `conn` (inside a transaction) if its version is still the stored one,
/// bumping it; `Conflict("version")` or `NotFound("tenant")` otherwise.
async fn write_tenant<B: Backend>(conn: &mut B::Connection, t: &Tenant) -> Result<()> {
    let q = sqlx::query::<B>(
        "UPDATE tenants SET name = $1, tier = $2, status = $3, pool_id = $4, mfa = $5, updated_at = $6, \
         version = version + 1 WHERE id = $7 AND version = $8",
    )
    .text(&t.name)
    .text(t.tier.as_str())
    .text(t.status.as_str())
    .text(t.pool_id.as_str())
    .text(t.mfa.as_str())
    .int(t.updated_at)
    .text(t.id.as_str())
    .int(t.version);
    if B::execute_on(q, conn).await.map_err(backend_err)? == 1 {
        return crate::changes::announce_in::<B>(conn, &Change::Tenant(t.id.clone())).await;
    }
    let q = sqlx::query::<B>("SELECT version FROM tenants WHERE id = $1").text(t.id.as_str());
    match B::fetch_optional_on(q, conn).await.map_err(backend_err)? {
        Some(_) => Err(StoreError::Conflict("version")),
        None => Err(StoreError::NotFound("tenant")),
    }
}

/// Creates the group mirroring `role` of `tenant` in `pool` unless it exists, on `conn`.
async fn ensure_role_group<B: Backend>(
    conn: &mut B::Connection,
    pool: &PoolId,
    tenant: &TenantId,
    role: Role,
    at: i64,
) -> Result<()> {
    let (name, description) = (role.group_name(tenant), format!("Role {role} of tenant {tenant}"));
    let q = sqlx::query::<B>(
        "INSERT INTO groups (pool_id, name, description, role_arn, precedence, created_at, updated_at) \
         VALUES ($1, $2, $3, NULL, NULL, $4, $4) ON CONFLICT (pool_id, name) DO NOTHING",
    )
    .text(pool.as_str())
    .text(&name)
    .text(&description)
    .int(at);
    B::execute_on(q, conn).await.map_err(|e| write_err(e, "group"))?;
    Ok(())
}

/// Puts `sub` in the role group of `role` and in no other role group of `tenant` in `pool`
/// (in none for `None`), on `conn`. The group must exist.
async fn set_role_group<B: Backend>(
    conn: &mut B::Connection,
    pool: &PoolId,
    tenant: &TenantId,
    sub: &str,
    role: Option<Role>,
) -> Result<()> {
    let groups = role_groups(tenant);
    let q =
        sqlx::query::<B>("DELETE FROM group_members WHERE pool_id = $1 AND sub = $2 AND group_name IN ($3, $4, $5)")
            .text(pool.as_str())
            .text(sub)
            .text(&groups[0])
            .text(&groups[1])
            .text(&groups[2]);
    B::execute_on(q, conn).await.map_err(backend_err)?;
    if let Some(role) = role {
        let group = role.group_name(tenant);
        let q = sqlx::query::<B>("INSERT INTO group_members (pool_id, group_name, sub) VALUES ($1, $2, $3)")
            .text(pool.as_str())
            .text(&group)
            .text(sub);
        B::execute_on(q, conn).await.map_err(|e| write_err(e, "group"))?;
    }
    Ok(())
}

/// [`TenantWork`] over one transaction of backend `B`.
pub(crate) struct TenantTx<B: Backend> {
    tx: Transaction<'static, B>,
    tenant: TenantId,
    /// The store's local hooks, told at commit if the tenant's record was written.
    hooks: Hooks,
    wrote_tenant: bool,
}

impl<B: Backend> TenantTx<B> {
    /// Begins the unit of work: a transaction that reads before it writes (`WRITE_BEGIN`),
    /// confined to `tenant`, holding the tenant's membership lock to its end.
    pub(crate) async fn begin(pool: &Db<B>, tenant: &TenantId, hooks: Hooks) -> Result<Self> {
        let mut tx = pool.begin_with(B::WRITE_BEGIN).await.map_err(backend_err)?;
        B::execute_on(sqlx::query::<B>(B::SET_TENANT).text(tenant.as_str()), &mut tx).await.map_err(backend_err)?;
        B::execute_on(sqlx::query::<B>(B::MEMBERS_LOCK).text(tenant.as_str()), &mut tx).await.map_err(backend_err)?;
        Ok(Self { tx, tenant: tenant.clone(), hooks, wrote_tenant: false })
    }
}

#[async_trait]
impl<B: Backend> TenantWork for TenantTx<B> {
    async fn tenant(&mut self) -> Result<Option<Tenant>> {
        let q = sqlx::query::<B>("SELECT * FROM tenants WHERE id = $1").text(self.tenant.as_str());
        let row = B::fetch_optional_on(q, &mut self.tx).await.map_err(backend_err)?;
        row.as_ref().map(tenant_from::<B>).transpose()
    }

    async fn write_tenant(&mut self, t: &Tenant) -> Result<()> {
        if t.id != self.tenant {
            return Err(refused("a tenant outside the unit of work"));
        }
        write_tenant::<B>(&mut self.tx, t).await?;
        self.wrote_tenant = true;
        Ok(())
    }

    async fn home_users(&mut self, pool: &PoolId) -> Result<Vec<User>> {
        let sql = format!(
            "SELECT {USER_COLS} FROM user_attributes a CROSS JOIN users u \
             WHERE u.pool_id = a.pool_id AND u.sub = a.sub AND a.pool_id = $1 AND a.name = $2 AND a.value = $3 \
             ORDER BY u.sub"
        );
        let value = index_value(TENANT_ID_ATTR, self.tenant.as_str());
        let q = sqlx::query::<B>(&sql).text(pool.as_str()).text(TENANT_ID_ATTR).text(&value);
        let rows = B::fetch_all_on(q, &mut self.tx).await.map_err(backend_err)?;
        rows.iter().map(user_from::<B>).collect()
    }

    async fn get_user(&mut self, pool: &PoolId, sub: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.pool_id = $1 AND u.sub = $2");
        let q = sqlx::query::<B>(&sql).text(pool.as_str()).text(sub);
        let row = B::fetch_optional_on(q, &mut self.tx).await.map_err(backend_err)?;
        row.as_ref().map(user_from::<B>).transpose()
    }

    async fn create_user(&mut self, u: &User, k: &UserKeys) -> Result<()> {
        users::insert::<B>(&mut self.tx, u, k).await
    }

    async fn update_user(&mut self, u: &User, k: &UserKeys) -> Result<()> {
        users::replace::<B>(&mut self.tx, u, k).await
    }

    async fn membership(&mut self, sub: &str) -> Result<Option<Membership>> {
        let q = sqlx::query::<B>("SELECT * FROM memberships WHERE tenant_id = $1 AND sub = $2")
            .text(self.tenant.as_str())
            .text(sub);
        let row = B::fetch_optional_on(q, &mut self.tx).await.map_err(backend_err)?;
        row.as_ref().map(membership_from::<B>).transpose()
    }

    async fn other_admins(&mut self, sub: &str) -> Result<i64> {
        let q = sqlx::query::<B>(
            "SELECT COUNT(*) FROM memberships WHERE tenant_id = $1 AND sub <> $2 AND role = $3 AND status = $4",
        )
        .text(self.tenant.as_str())
        .text(sub)
        .text(Role::Admin.as_str())
        .text(MembershipStatus::Active.as_str());
        let row = B::fetch_one_on(q, &mut self.tx).await.map_err(backend_err)?;
        B::int_col(&row, 0)
    }

    async fn put_membership(&mut self, m: &Membership) -> Result<()> {
        if m.tenant_id != self.tenant {
            return Err(refused("a membership outside the unit of work"));
        }
        write_membership::<B>(&mut self.tx, m).await
    }

    async fn mirror_role(&mut self, pool: &PoolId, sub: &str, role: Option<Role>, at: i64) -> Result<()> {
        if let Some(role) = role {
            ensure_role_group::<B>(&mut self.tx, pool, &self.tenant, role, at).await?;
        }
        set_role_group::<B>(&mut self.tx, pool, &self.tenant, sub, role).await
    }

    async fn accept_invitation(&mut self, id: &str, sub: &str, now: i64) -> Result<bool> {
        accept_in::<B>(&mut self.tx, &self.tenant, id, sub, now).await
    }

    async fn revoke_families(&mut self, sub: Option<&str>, at: i64) -> Result<u64> {
        tokens::revoke_tenant_families_in::<B>(&mut self.tx, &self.tenant, sub, at).await
    }

    async fn copy_mfa(&mut self, from: &PoolId, to: &PoolId, sub: &str) -> Result<()> {
        mfa::copy::<B>(&mut self.tx, from, to, sub).await
    }

    async fn ensure_role_groups(&mut self, pool: &PoolId, at: i64) -> Result<()> {
        for role in ROLES {
            ensure_role_group::<B>(&mut self.tx, pool, &self.tenant, role, at).await?;
        }
        Ok(())
    }

    async fn repoint_memberships(&mut self, pool: &PoolId) -> Result<()> {
        let q = sqlx::query::<B>("UPDATE memberships SET pool_id = $1 WHERE tenant_id = $2 AND status = $3")
            .text(pool.as_str())
            .text(self.tenant.as_str())
            .text(MembershipStatus::Active.as_str());
        B::execute_on(q, &mut self.tx).await.map_err(|e| tenancy_err(e, "membership", "user"))?;
        let q = sqlx::query::<B>("DELETE FROM memberships WHERE tenant_id = $1 AND status = $2")
            .text(self.tenant.as_str())
            .text(MembershipStatus::Removed.as_str());
        B::execute_on(q, &mut self.tx).await.map_err(backend_err)?;
        Ok(())
    }

    async fn drop_role_groups(&mut self, pool: &PoolId) -> Result<()> {
        let groups = role_groups(&self.tenant);
        let q = sqlx::query::<B>("DELETE FROM groups WHERE pool_id = $1 AND name IN ($2, $3, $4)")
            .text(pool.as_str())
            .text(&groups[0])
            .text(&groups[1])
            .text(&groups[2]);
        B::execute_on(q, &mut self.tx).await.map_err(backend_err)?;
        Ok(())
    }

    async fn drop_user(&mut self, pool: &PoolId, sub: &str) -> Result<()> {
        let q = sqlx::query::<B>("DELETE FROM users WHERE pool_id = $1 AND sub = $2").text(pool.as_str()).text(sub);
        B::execute_on(q, &mut self.tx).await.map_err(backend_err)?;
        Ok(())
    }

    async fn emit_events(&mut self, events: &[cognate_core::webhook::WebhookEvent]) -> Result<()> {
        if events.iter().any(|e| e.owner != self.tenant.as_str()) {
            return Err(refused("a webhook event outside the unit of work"));
        }
        crate::webhooks::insert_events::<B>(&mut self.tx, events).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await.map_err(backend_err)?;
        // Other nodes heard of it from inside the transaction (`write_tenant`).
        if self.wrote_tenant {
            self.hooks.tell(&Change::Tenant(self.tenant));
        }
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.tx.rollback().await.map_err(backend_err)
    }

    async fn set_attributes(&mut self, u: &User) -> Result<()> {
        let q = sqlx::query::<B>("SELECT username_key FROM users WHERE pool_id = $1 AND sub = $2")
            .text(u.pool_id.as_str())
            .text(&u.sub);
        let row = B::fetch_optional_on(q, &mut self.tx).await.map_err(backend_err)?;
        let key = B::text_col(&row.ok_or(StoreError::NotFound("user"))?, "username_key")?;
        let attributes = to_json(&u.attributes)?;
        let q = sqlx::query::<B>("UPDATE users SET attributes = $1, updated_at = $2 WHERE pool_id = $3 AND sub = $4")
            .text(&attributes)
            .int(u.updated_at)
            .text(u.pool_id.as_str())
            .text(&u.sub);
        B::execute_on(q, &mut self.tx).await.map_err(backend_err)?;
        users::index_attributes::<B>(&mut self.tx, u, &key).await
    }
}
