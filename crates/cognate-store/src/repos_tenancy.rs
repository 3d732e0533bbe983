//! The tenancy repositories (tenants, domains, memberships, invitations), written once
//! for both backends like the rest of [`crate::repos`]. `tenancy_repos!` is expanded inside
//! `repos!`, in the same module, so it uses that macro's imports and helpers (`col`,
//! `Result`, `Db`, `publish_revocation`, …) rather than its own.

macro_rules! tenancy_repos {
    ($store:ident, $row:ty) => {
        use $crate::repos::tenant_id;

        fn word<T: std::str::FromStr<Err = String>>(row: &$row, name: &str) -> Result<T> {
            col::<String>(row, name)?.parse().map_err(StoreError::Corrupt)
        }

        /// `write_err`, naming `missing` when a foreign key points nowhere.
        fn tenancy_err(e: sqlx::Error, unique: &'static str, missing: &'static str) -> StoreError {
            match write_err(e, unique) {
                StoreError::NotFound(_) => StoreError::NotFound(missing),
                other => other,
            }
        }

        fn tenant_from(row: &$row) -> Result<Tenant> {
            Ok(Tenant {
                id: tenant_id(&col::<String>(row, "id")?)?,
                name: col(row, "name")?,
                tier: word(row, "tier")?,
                status: word(row, "status")?,
                pool_id: pool_id(&col::<String>(row, "pool_id")?)?,
                mfa: word(row, "mfa")?,
                created_at: col(row, "created_at")?,
                updated_at: col(row, "updated_at")?,
                version: col(row, "version")?,
            })
        }

        fn domain_from(row: &$row) -> Result<EmailDomain> {
            let domain: String = col(row, "domain")?;
            Ok(EmailDomain {
                tenant_id: tenant_id(&col::<String>(row, "tenant_id")?)?,
                domain: DomainName::parse(&domain).ok_or_else(|| StoreError::Corrupt(format!("domain {domain}")))?,
                verified: col(row, "verified")?,
                auto_join: col(row, "auto_join")?,
                verification_token_hash: col(row, "verification_token_hash")?,
                created_at: col(row, "created_at")?,
            })
        }

        fn membership_from(row: &$row) -> Result<Membership> {
            Ok(Membership {
                tenant_id: tenant_id(&col::<String>(row, "tenant_id")?)?,
                pool_id: pool_id(&col::<String>(row, "pool_id")?)?,
                sub: col(row, "sub")?,
                role: word(row, "role")?,
                status: word(row, "status")?,
                created_at: col(row, "created_at")?,
                last_used_at: col(row, "last_used_at")?,
            })
        }

        fn invitation_from(row: &$row) -> Result<Invitation> {
            Ok(Invitation {
                id: col(row, "id")?,
                tenant_id: tenant_id(&col::<String>(row, "tenant_id")?)?,
                email: col(row, "email")?,
                role: word(row, "role")?,
                token_hash: col(row, "token_hash")?,
                invited_by: col(row, "invited_by")?,
                created_at: col(row, "created_at")?,
                expires_at: col(row, "expires_at")?,
                accepted_at: col(row, "accepted_at")?,
                revoked_at: col(row, "revoked_at")?,
                accepted_sub: col(row, "accepted_sub")?,
            })
        }

        impl $store {
            /// Begins a transaction confined to `tenant`. On PostgreSQL the tenant-owned
            /// tables' policies then show and accept only that tenant's rows; the SQL run in
            /// it still filters by tenant, which is what isolates tenants on SQLite.
            async fn tenant_scope(&self, tenant: &TenantId) -> Result<sqlx::Transaction<'static, Db>> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                sqlx::query(<Db as $crate::backend::Backend>::SET_TENANT).bind(tenant.as_str()).execute(&mut *tx).await.map_err(backend_err)?;
                Ok(tx)
            }

            /// Begins a transaction that may READ every tenant's rows of tenant-owned
            /// tables (PostgreSQL's `platform_read` policies); writes in it are refused by
            /// the policies. The one way to look across tenants: keep its callers few
            /// (discovery by domain, a user's memberships, an invitation by token).
            async fn platform_scope(&self) -> Result<sqlx::Transaction<'static, Db>> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                sqlx::query(<Db as $crate::backend::Backend>::PLATFORM_SCOPE).execute(&mut *tx).await.map_err(backend_err)?;
                Ok(tx)
            }
        }

        /// The tenant attributes a tenant's users carry (see `cognate_core::claims`).
        const TENANT_ID_ATTR: &str = "custom:tenantId";

        /// Every role, each mirrored as a group `{tenant}-{role}`.
        const ROLES: [Role; 3] = [Role::Admin, Role::Member, Role::ReadOnly];

        /// The names of a tenant's role groups, in `ROLES` order.
        fn role_groups(tenant: &TenantId) -> [String; 3] {
            ROLES.map(|r| r.group_name(tenant))
        }

        /// Inconsistent arguments (a caller's bug), refused before anything is written.
        fn refused(what: &str) -> StoreError {
            StoreError::Corrupt(format!("refused inconsistent input: {what}"))
        }

        impl $store {
            /// Writes `t` inside `tx` if its version is still the stored one, bumping it;
            /// `Conflict("version")` or `NotFound("tenant")` otherwise.
            async fn write_tenant(tx: &mut sqlx::Transaction<'_, Db>, t: &Tenant) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE tenants SET name = $1, tier = $2, status = $3, pool_id = $4, mfa = $5, updated_at = $6, \
                     version = version + 1 WHERE id = $7 AND version = $8",
                )
                .bind(&t.name)
                .bind(t.tier.as_str())
                .bind(t.status.as_str())
                .bind(t.pool_id.as_str())
                .bind(t.mfa.as_str())
                .bind(t.updated_at)
                .bind(t.id.as_str())
                .bind(t.version)
                .execute(&mut **tx)
                .await
                .map_err(backend_err)?;
                if done.rows_affected() == 1 {
                    return Ok(());
                }
                let exists: Option<i64> = sqlx::query_scalar("SELECT version FROM tenants WHERE id = $1")
                    .bind(t.id.as_str())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                match exists {
                    Some(_) => Err(StoreError::Conflict("version")),
                    None => Err(StoreError::NotFound("tenant")),
                }
            }

            /// Creates the membership or replaces its pool, role and status, inside `tx`.
            async fn write_membership(tx: &mut sqlx::Transaction<'_, Db>, m: &Membership) -> Result<()> {
                sqlx::query(
                    "INSERT INTO memberships (tenant_id, pool_id, sub, role, status, created_at, last_used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (tenant_id, sub) DO UPDATE SET pool_id = excluded.pool_id, role = excluded.role, \
                     status = excluded.status",
                )
                .bind(m.tenant_id.as_str())
                .bind(m.pool_id.as_str())
                .bind(&m.sub)
                .bind(m.role.as_str())
                .bind(m.status.as_str())
                .bind(m.created_at)
                .bind(m.last_used_at)
                .execute(&mut **tx)
                .await
                .map_err(|e| tenancy_err(e, "membership", "tenant or user"))?;
                Ok(())
            }

            /// Creates the group mirroring `role` of `tenant` in `pool` unless it exists.
            async fn ensure_role_group(
                tx: &mut sqlx::Transaction<'_, Db>,
                pool: &PoolId,
                tenant: &TenantId,
                role: Role,
                at: i64,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO groups (pool_id, name, description, role_arn, precedence, created_at, updated_at) \
                     VALUES ($1, $2, $3, NULL, NULL, $4, $4) ON CONFLICT (pool_id, name) DO NOTHING",
                )
                .bind(pool.as_str())
                .bind(role.group_name(tenant))
                .bind(format!("Role {role} of tenant {tenant}"))
                .bind(at)
                .execute(&mut **tx)
                .await
                .map_err(|e| write_err(e, "group"))?;
                Ok(())
            }

            /// Puts `sub` in the role group of `role` and in no other role group of
            /// `tenant` in `pool` (in none for `None`). The group must exist.
            async fn set_role_group(
                tx: &mut sqlx::Transaction<'_, Db>,
                pool: &PoolId,
                tenant: &TenantId,
                sub: &str,
                role: Option<Role>,
            ) -> Result<()> {
                let groups = role_groups(tenant);
                sqlx::query("DELETE FROM group_members WHERE pool_id = $1 AND sub = $2 AND group_name IN ($3, $4, $5)")
                    .bind(pool.as_str())
                    .bind(sub)
                    .bind(&groups[0])
                    .bind(&groups[1])
                    .bind(&groups[2])
                    .execute(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                if let Some(role) = role {
                    sqlx::query("INSERT INTO group_members (pool_id, group_name, sub) VALUES ($1, $2, $3)")
                        .bind(pool.as_str())
                        .bind(role.group_name(tenant))
                        .bind(sub)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| write_err(e, "group"))?;
                }
                Ok(())
            }

            /// Marks the invitation accepted by `sub` at `now` inside `tx` if it is still
            /// pending; whether this call accepted it.
            async fn accept_in(
                tx: &mut sqlx::Transaction<'_, Db>,
                tenant: &TenantId,
                id: &str,
                sub: &str,
                now: i64,
            ) -> Result<bool> {
                // One conditional UPDATE: concurrent acceptances serialise on the row and
                // only the first still finds accepted_at NULL.
                let done = sqlx::query(
                    "UPDATE invitations SET accepted_at = $1, accepted_sub = $2 WHERE tenant_id = $3 AND id = $4 \
                     AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
                )
                .bind(now)
                .bind(sub)
                .bind(tenant.as_str())
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(backend_err)?;
                Ok(done.rows_affected() == 1)
            }
        }

        /// [`TenantWork`] over one transaction of the backend.
        struct TenantTx {
            tx: sqlx::Transaction<'static, Db>,
            tenant: TenantId,
        }

        #[async_trait]
        impl TenantWork for TenantTx {
            async fn tenant(&mut self) -> Result<Option<Tenant>> {
                let row = sqlx::query("SELECT * FROM tenants WHERE id = $1")
                    .bind(self.tenant.as_str())
                    .fetch_optional(&mut *self.tx)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(tenant_from).transpose()
            }

            async fn write_tenant(&mut self, t: &Tenant) -> Result<()> {
                if t.id != self.tenant {
                    return Err(refused("a tenant outside the unit of work"));
                }
                $store::write_tenant(&mut self.tx, t).await
            }

            async fn home_users(&mut self, pool: &PoolId) -> Result<Vec<User>> {
                let sql = format!(
                    "SELECT {USER_COLS} FROM user_attributes a CROSS JOIN users u \
                     WHERE u.pool_id = a.pool_id AND u.sub = a.sub AND a.pool_id = $1 AND a.name = $2 AND a.value = $3 \
                     ORDER BY u.sub"
                );
                let rows = sqlx::query(&sql)
                    .bind(pool.as_str())
                    .bind(TENANT_ID_ATTR)
                    .bind(index_value(TENANT_ID_ATTR, self.tenant.as_str()))
                    .fetch_all(&mut *self.tx)
                    .await
                    .map_err(backend_err)?;
                rows.iter().map(user_from).collect()
            }

            async fn get_user(&mut self, pool: &PoolId, sub: &str) -> Result<Option<User>> {
                let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.pool_id = $1 AND u.sub = $2");
                let row = sqlx::query(&sql)
                    .bind(pool.as_str())
                    .bind(sub)
                    .fetch_optional(&mut *self.tx)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(user_from).transpose()
            }

            async fn create_user(&mut self, u: &User, k: &UserKeys) -> Result<()> {
                $crate::users::insert::<Db>(&mut self.tx, u, k).await
            }

            async fn update_user(&mut self, u: &User, k: &UserKeys) -> Result<()> {
                $crate::users::replace::<Db>(&mut self.tx, u, k).await
            }

            async fn membership(&mut self, sub: &str) -> Result<Option<Membership>> {
                let row = sqlx::query("SELECT * FROM memberships WHERE tenant_id = $1 AND sub = $2")
                    .bind(self.tenant.as_str())
                    .bind(sub)
                    .fetch_optional(&mut *self.tx)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(membership_from).transpose()
            }

            async fn other_admins(&mut self, sub: &str) -> Result<i64> {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM memberships WHERE tenant_id = $1 AND sub <> $2 AND role = $3 AND status = $4",
                )
                .bind(self.tenant.as_str())
                .bind(sub)
                .bind(Role::Admin.as_str())
                .bind(MembershipStatus::Active.as_str())
                .fetch_one(&mut *self.tx)
                .await
                .map_err(backend_err)
            }

            async fn put_membership(&mut self, m: &Membership) -> Result<()> {
                if m.tenant_id != self.tenant {
                    return Err(refused("a membership outside the unit of work"));
                }
                $store::write_membership(&mut self.tx, m).await
            }

            async fn mirror_role(&mut self, pool: &PoolId, sub: &str, role: Option<Role>, at: i64) -> Result<()> {
                if let Some(role) = role {
                    $store::ensure_role_group(&mut self.tx, pool, &self.tenant, role, at).await?;
                }
                $store::set_role_group(&mut self.tx, pool, &self.tenant, sub, role).await
            }

            async fn accept_invitation(&mut self, id: &str, sub: &str, now: i64) -> Result<bool> {
                $store::accept_in(&mut self.tx, &self.tenant, id, sub, now).await
            }

            async fn revoke_families(&mut self, sub: Option<&str>, at: i64) -> Result<u64> {
                $crate::tokens::revoke_tenant_families_in::<Db>(&mut self.tx, &self.tenant, sub, at).await
            }

            async fn copy_mfa(&mut self, from: &PoolId, to: &PoolId, sub: &str) -> Result<()> {
                $crate::mfa::copy::<Db>(&mut self.tx, from, to, sub).await
            }

            async fn ensure_role_groups(&mut self, pool: &PoolId, at: i64) -> Result<()> {
                for role in ROLES {
                    $store::ensure_role_group(&mut self.tx, pool, &self.tenant, role, at).await?;
                }
                Ok(())
            }

            async fn repoint_memberships(&mut self, pool: &PoolId) -> Result<()> {
                sqlx::query("UPDATE memberships SET pool_id = $1 WHERE tenant_id = $2 AND status = $3")
                    .bind(pool.as_str())
                    .bind(self.tenant.as_str())
                    .bind(MembershipStatus::Active.as_str())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(|e| tenancy_err(e, "membership", "user"))?;
                sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND status = $2")
                    .bind(self.tenant.as_str())
                    .bind(MembershipStatus::Removed.as_str())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }

            async fn drop_role_groups(&mut self, pool: &PoolId) -> Result<()> {
                let groups = role_groups(&self.tenant);
                sqlx::query("DELETE FROM groups WHERE pool_id = $1 AND name IN ($2, $3, $4)")
                    .bind(pool.as_str())
                    .bind(&groups[0])
                    .bind(&groups[1])
                    .bind(&groups[2])
                    .execute(&mut *self.tx)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }

            async fn drop_user(&mut self, pool: &PoolId, sub: &str) -> Result<()> {
                sqlx::query("DELETE FROM users WHERE pool_id = $1 AND sub = $2")
                    .bind(pool.as_str())
                    .bind(sub)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }

            async fn commit(self: Box<Self>) -> Result<()> {
                self.tx.commit().await.map_err(backend_err)
            }

            async fn rollback(self: Box<Self>) -> Result<()> {
                self.tx.rollback().await.map_err(backend_err)
            }

            async fn set_attributes(&mut self, u: &User) -> Result<()> {
                let key: Option<String> =
                    sqlx::query_scalar("SELECT username_key FROM users WHERE pool_id = $1 AND sub = $2")
                        .bind(u.pool_id.as_str())
                        .bind(&u.sub)
                        .fetch_optional(&mut *self.tx)
                        .await
                        .map_err(backend_err)?;
                let key = key.ok_or(StoreError::NotFound("user"))?;
                sqlx::query("UPDATE users SET attributes = $1, updated_at = $2 WHERE pool_id = $3 AND sub = $4")
                    .bind(to_json(&u.attributes)?)
                    .bind(u.updated_at)
                    .bind(u.pool_id.as_str())
                    .bind(&u.sub)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(backend_err)?;
                $crate::users::index_attributes::<Db>(&mut self.tx, u, &key).await
            }
        }

        #[async_trait]
        impl TenantRepo for $store {
            async fn create_tenant(&self, t: &Tenant) -> Result<()> {
                sqlx::query(
                    "INSERT INTO tenants (id, name, tier, status, pool_id, mfa, created_at, updated_at, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(t.id.as_str())
                .bind(&t.name)
                .bind(t.tier.as_str())
                .bind(t.status.as_str())
                .bind(t.pool_id.as_str())
                .bind(t.mfa.as_str())
                .bind(t.created_at)
                .bind(t.updated_at)
                .bind(t.version)
                .execute(&self.pool)
                .await
                .map_err(|e| write_err(e, "tenant"))?;
                Ok(())
            }

            async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
                let row = sqlx::query("SELECT * FROM tenants WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(tenant_from).transpose()
            }

            async fn list_tenants(&self, page: &PageRequest) -> Result<Vec<Tenant>> {
                let rows = sqlx::query("SELECT * FROM tenants WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after(page))
                    .bind(page.fetch_limit())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend_err)?;
                rows.iter().map(tenant_from).collect()
            }

            async fn get_tenant_by_pool(&self, pool: &PoolId) -> Result<Option<Tenant>> {
                let row = sqlx::query("SELECT * FROM tenants WHERE pool_id = $1 AND tier = $2 ORDER BY id LIMIT 1")
                    .bind(pool.as_str())
                    .bind(Tier::Platinum.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(tenant_from).transpose()
            }

            async fn delete_tenant(&self, id: &TenantId) -> Result<()> {
                // Foreign-key cascades remove the tenant-owned rows; policies do not filter them.
                let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(backend_err)?;
                affected(done.rows_affected(), "tenant")
            }
        }

        #[async_trait]
        impl DomainRepo for $store {
            async fn add_domain(&self, d: &EmailDomain) -> Result<()> {
                let mut tx = self.tenant_scope(&d.tenant_id).await?;
                sqlx::query(
                    "INSERT INTO tenant_domains (domain, tenant_id, verified, auto_join, verification_token_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(d.domain.as_str())
                .bind(d.tenant_id.as_str())
                .bind(d.verified)
                .bind(d.auto_join)
                .bind(&d.verification_token_hash)
                .bind(d.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| tenancy_err(e, "domain", "tenant"))?;
                tx.commit().await.map_err(backend_err)
            }

            async fn list_domains(&self, tenant: &TenantId) -> Result<Vec<EmailDomain>> {
                let mut tx = self.tenant_scope(tenant).await?;
                let rows = sqlx::query("SELECT * FROM tenant_domains WHERE tenant_id = $1 ORDER BY domain")
                    .bind(tenant.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                rows.iter().map(domain_from).collect()
            }

            async fn get_domain(&self, domain: &DomainName) -> Result<Option<EmailDomain>> {
                let mut tx = self.platform_scope().await?;
                let row = sqlx::query("SELECT * FROM tenant_domains WHERE domain = $1")
                    .bind(domain.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                row.as_ref().map(domain_from).transpose()
            }

            async fn set_domain_verified(&self, tenant: &TenantId, domain: &DomainName, verified: bool) -> Result<()> {
                let mut tx = self.tenant_scope(tenant).await?;
                let done = sqlx::query(
                    "UPDATE tenant_domains SET verified = $1, \
                     verification_token_hash = CASE WHEN $1 THEN NULL ELSE verification_token_hash END \
                     WHERE tenant_id = $2 AND domain = $3",
                )
                .bind(verified)
                .bind(tenant.as_str())
                .bind(domain.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
                affected(done.rows_affected(), "domain")?;
                tx.commit().await.map_err(backend_err)
            }

            async fn set_domain_auto_join(&self, tenant: &TenantId, domain: &DomainName, auto_join: bool) -> Result<()> {
                let mut tx = self.tenant_scope(tenant).await?;
                let done =
                    sqlx::query("UPDATE tenant_domains SET auto_join = $1 WHERE tenant_id = $2 AND domain = $3")
                        .bind(auto_join)
                        .bind(tenant.as_str())
                        .bind(domain.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                affected(done.rows_affected(), "domain")?;
                tx.commit().await.map_err(backend_err)
            }

            async fn remove_domain(&self, tenant: &TenantId, domain: &DomainName) -> Result<()> {
                let mut tx = self.tenant_scope(tenant).await?;
                let done = sqlx::query("DELETE FROM tenant_domains WHERE tenant_id = $1 AND domain = $2")
                    .bind(tenant.as_str())
                    .bind(domain.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                affected(done.rows_affected(), "domain")?;
                tx.commit().await.map_err(backend_err)
            }
        }

        #[async_trait]
        impl MembershipRepo for $store {
            async fn upsert_membership(&self, m: &Membership) -> Result<()> {
                let mut tx = self.tenant_scope(&m.tenant_id).await?;
                Self::write_membership(&mut tx, m).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn get_membership(&self, tenant: &TenantId, sub: &str) -> Result<Option<Membership>> {
                let mut tx = self.tenant_scope(tenant).await?;
                let row = sqlx::query("SELECT * FROM memberships WHERE tenant_id = $1 AND sub = $2")
                    .bind(tenant.as_str())
                    .bind(sub)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                row.as_ref().map(membership_from).transpose()
            }

            async fn list_memberships(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<Membership>> {
                let mut tx = self.tenant_scope(tenant).await?;
                let rows =
                    sqlx::query("SELECT * FROM memberships WHERE tenant_id = $1 AND sub > $2 ORDER BY sub LIMIT $3")
                        .bind(tenant.as_str())
                        .bind(after(page))
                        .bind(page.fetch_limit())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                rows.iter().map(membership_from).collect()
            }

            async fn list_memberships_for_user(&self, pool: &PoolId, sub: &str) -> Result<Vec<Membership>> {
                let mut tx = self.platform_scope().await?;
                let rows = sqlx::query(
                    "SELECT * FROM memberships WHERE pool_id = $1 AND sub = $2 AND status = 'active' ORDER BY tenant_id",
                )
                .bind(pool.as_str())
                .bind(sub)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                rows.iter().map(membership_from).collect()
            }

            async fn set_membership_role(&self, tenant: &TenantId, sub: &str, role: Role) -> Result<()> {
                let mut tx = self.tenant_scope(tenant).await?;
                let done = sqlx::query("UPDATE memberships SET role = $1 WHERE tenant_id = $2 AND sub = $3")
                    .bind(role.as_str())
                    .bind(tenant.as_str())
                    .bind(sub)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                affected(done.rows_affected(), "membership")?;
                tx.commit().await.map_err(backend_err)
            }

            async fn remove_membership(&self, tenant: &TenantId, sub: &str) -> Result<()> {
                let mut tx = self.tenant_scope(tenant).await?;
                let done = sqlx::query("UPDATE memberships SET status = $1 WHERE tenant_id = $2 AND sub = $3")
                    .bind(MembershipStatus::Removed.as_str())
                    .bind(tenant.as_str())
                    .bind(sub)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                affected(done.rows_affected(), "membership")?;
                tx.commit().await.map_err(backend_err)
            }

            async fn touch_membership(&self, tenant: &TenantId, sub: &str, at: i64) -> Result<()> {
                let mut tx = self.tenant_scope(tenant).await?;
                let done = sqlx::query("UPDATE memberships SET last_used_at = $1 WHERE tenant_id = $2 AND sub = $3")
                    .bind(at)
                    .bind(tenant.as_str())
                    .bind(sub)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                affected(done.rows_affected(), "membership")?;
                tx.commit().await.map_err(backend_err)
            }
        }

        #[async_trait]
        impl InvitationRepo for $store {
            async fn create_invitation(&self, i: &Invitation) -> Result<()> {
                let mut tx = self.tenant_scope(&i.tenant_id).await?;
                sqlx::query(
                    "INSERT INTO invitations (id, tenant_id, email, role, token_hash, invited_by, created_at, expires_at, \
                     accepted_at, revoked_at, accepted_sub) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&i.id)
                .bind(i.tenant_id.as_str())
                .bind(&i.email)
                .bind(i.role.as_str())
                .bind(&i.token_hash)
                .bind(&i.invited_by)
                .bind(i.created_at)
                .bind(i.expires_at)
                .bind(i.accepted_at)
                .bind(i.revoked_at)
                .bind(&i.accepted_sub)
                .execute(&mut *tx)
                .await
                .map_err(|e| tenancy_err(e, "invitation", "tenant"))?;
                tx.commit().await.map_err(backend_err)
            }

            async fn get_invitation(&self, tenant: &TenantId, id: &str) -> Result<Option<Invitation>> {
                let mut tx = self.tenant_scope(tenant).await?;
                let row = sqlx::query("SELECT * FROM invitations WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                row.as_ref().map(invitation_from).transpose()
            }

            async fn get_invitation_by_token_hash(&self, token_hash: &str) -> Result<Option<Invitation>> {
                let mut tx = self.platform_scope().await?;
                let row = sqlx::query("SELECT * FROM invitations WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                row.as_ref().map(invitation_from).transpose()
            }

            async fn list_invitations(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<Invitation>> {
                let mut tx = self.tenant_scope(tenant).await?;
                let rows =
                    sqlx::query("SELECT * FROM invitations WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                        .bind(tenant.as_str())
                        .bind(after(page))
                        .bind(page.fetch_limit())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                rows.iter().map(invitation_from).collect()
            }

            async fn accept_invitation(&self, tenant: &TenantId, id: &str, sub: &str, now: i64) -> Result<bool> {
                let mut tx = self.tenant_scope(tenant).await?;
                let accepted = Self::accept_in(&mut tx, tenant, id, sub, now).await?;
                tx.commit().await.map_err(backend_err)?;
                Ok(accepted)
            }

            async fn revoke_invitation(&self, tenant: &TenantId, id: &str, at: i64) -> Result<bool> {
                let mut tx = self.tenant_scope(tenant).await?;
                let done = sqlx::query(
                    "UPDATE invitations SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 \
                     AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
                )
                .bind(at)
                .bind(tenant.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
                if done.rows_affected() == 1 {
                    tx.commit().await.map_err(backend_err)?;
                    return Ok(true);
                }
                let exists: Option<String> =
                    sqlx::query_scalar("SELECT id FROM invitations WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.as_str())
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                match exists {
                    Some(_) => Ok(false),
                    None => Err(StoreError::NotFound("invitation")),
                }
            }
        }
    };
}
pub(crate) use tenancy_repos;
