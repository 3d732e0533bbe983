//! The repository implementations, written once and expanded for each backend. Every
//! statement uses `$n` parameters in first-use order, which both SQLite and PostgreSQL
//! accept, and only types both map the same way (TEXT, BIGINT/INTEGER, BOOLEAN).

use cognate_core::StoreError;

/// Maps a unique-constraint violation to `Conflict(label)`, naming the user key that
/// collided when the table is `users`.
pub(crate) fn write_err(e: sqlx::Error, label: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            let text = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
            for (needle, what) in [
                ("email_key", "email"),
                ("phone_key", "phone_number"),
                ("preferred_key", "preferred_username"),
                ("username_key", "username"),
            ] {
                if text.contains(needle) {
                    return StoreError::Conflict(what);
                }
            }
            return StoreError::Conflict(label);
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound(label);
        }
    }
    crate::backend_err(e)
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The upper bound of a prefix range: every string starting with `prefix` sorts at or
/// below it (codepoint order; PostgreSQL columns use the "C" collation).
pub(crate) fn prefix_upper(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

macro_rules! repos {
    ($store:ident, $row:ty, $backend:literal) => {
        use async_trait::async_trait;
        use cognate_core::StoreError;
        use cognate_core::ids::PoolId;
        use cognate_core::page::PageRequest;
        use cognate_core::repo::*;
        use cognate_core::tenant::{
            DomainName, EmailDomain, Invitation, Membership, MembershipStatus, Role, Tenant, TenantId, Tier,
        };
        use cognate_core::token::{RefreshToken, RevocationEvent, RevocationKind, TokenFamily};
        use cognate_core::user::{User, UserFilter, UserKeys, index_value};
        use sqlx::Row as _;
        use $crate::backend_err;
        use $crate::repos::{json, to_json, write_err};

        type Result<T> = std::result::Result<T, StoreError>;
        type Db = <$row as sqlx::Row>::Database;

        fn col<'r, T>(row: &'r $row, name: &str) -> Result<T>
        where
            T: sqlx::Decode<'r, <$row as sqlx::Row>::Database> + sqlx::Type<<$row as sqlx::Row>::Database>,
        {
            row.try_get(name).map_err(backend_err)
        }

        fn pool_id(text: &str) -> Result<PoolId> {
            PoolId::parse(text).ok_or_else(|| StoreError::Corrupt(format!("pool id {text}")))
        }

        use $crate::users::USER_COLS;

        fn user_from(row: &$row) -> Result<User> {
            $crate::users::user_from::<Db>(row)
        }



        fn after(page: &PageRequest) -> &str {
            page.after.as_deref().unwrap_or("")
        }

        fn affected(rows: u64, what: &'static str) -> Result<()> {
            if rows == 0 { Err(StoreError::NotFound(what)) } else { Ok(()) }
        }



        #[async_trait]
        impl UserRepo for $store {
            async fn create_user(&self, u: &User, k: &UserKeys) -> Result<()> {
                $crate::users::create(&self.pool, u, k).await
            }

            async fn import_users(&self, users: &[(User, UserKeys)]) -> Result<()> {
                $crate::users::import(&self.pool, users).await
            }

            async fn get_user(&self, pool: &PoolId, username_key: &str) -> Result<Option<User>> {
                $crate::users::get(&self.pool, pool, username_key).await
            }

            async fn get_user_by_sub(&self, pool: &PoolId, sub: &str) -> Result<Option<User>> {
                $crate::users::get_by_sub(&self.pool, pool, sub).await
            }

            async fn get_user_by_alias(&self, pool: &PoolId, alias: &str, key: &str) -> Result<Option<User>> {
                $crate::users::get_by_alias(&self.pool, pool, alias, key).await
            }

            async fn update_user(&self, u: &User, k: &UserKeys) -> Result<()> {
                $crate::users::update(&self.pool, u, k).await
            }

            async fn update_user_signed_out(&self, u: &User, k: &UserKeys, at: i64) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                $crate::users::replace::<Db>(&mut tx, u, k).await?;
                Self::sign_out_in(&mut tx, &u.pool_id, &u.sub, at).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn set_user_enabled(&self, pool: &PoolId, sub: &str, enabled: bool, at: i64) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                $crate::users::set_enabled::<Db>(&mut tx, pool, sub, enabled, at).await?;
                if !enabled {
                    Self::sign_out_in(&mut tx, pool, sub, at).await?;
                }
                tx.commit().await.map_err(backend_err)
            }

            async fn delete_user(&self, pool: &PoolId, sub: &str, at: i64) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                $crate::users::remove::<Db>(&mut tx, pool, sub).await?;
                Self::publish_revocation(&mut tx, pool, RevocationKind::User, sub, at).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn list_users(&self, pool: &PoolId, filter: Option<&UserFilter>, page: &PageRequest) -> Result<Vec<User>> {
                $crate::users::list(&self.pool, pool, filter, page).await
            }

            async fn count_users(&self, pool: &PoolId) -> Result<i64> {
                $crate::users::count(&self.pool, pool).await
            }
        }








        fn family_from(row: &$row) -> Result<TokenFamily> {
            Ok(TokenFamily {
                id: col(row, "id")?,
                pool_id: pool_id(&col::<String>(row, "pool_id")?)?,
                client_id: col(row, "client_id")?,
                sub: col(row, "sub")?,
                tenant_id: col::<Option<String>>(row, "tenant_id")?.as_deref().map(tenant_id).transpose()?,
                auth_time: col(row, "auth_time")?,
                mfa: col(row, "mfa")?,
                scope: col(row, "scope")?,
                created_at: col(row, "created_at")?,
                revoked_at: col(row, "revoked_at")?,
            })
        }



        impl $store {
            async fn insert_refresh_token(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                t: &RefreshToken,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, rotated_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&t.hash)
                .bind(&t.family_id)
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(t.rotated_at)
                .execute(&mut **tx)
                .await
                .map_err(|e| write_err(e, "refresh_token"))?;
                Ok(())
            }

            async fn publish_revocation(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                pool: &PoolId,
                kind: RevocationKind,
                subject: &str,
                at: i64,
            ) -> Result<()> {
                // Serialise publishers so feed sequence numbers commit in order; otherwise a
                // reader's cursor could pass a number whose transaction commits later.
                sqlx::query(super::FEED_LOCK).execute(&mut **tx).await.map_err(backend_err)?;
                sqlx::query("INSERT INTO revocation_events (pool_id, kind, subject, at) VALUES ($1, $2, $3, $4)")
                    .bind(pool.as_str())
                    .bind(kind.as_str())
                    .bind(subject)
                    .bind(at)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }

            /// Global sign-out inside `tx`: the user's tokens issued before `at` stop
            /// working, every family is revoked, and the feed says so (when the user ever
            /// held a token).
            async fn sign_out_in(tx: &mut sqlx::Transaction<'_, Db>, pool: &PoolId, sub: &str, at: i64) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE users SET tokens_valid_after = $1 WHERE pool_id = $2 AND sub = $3 AND tokens_valid_after < $1",
                )
                .bind(at)
                .bind(pool.as_str())
                .bind(sub)
                .execute(&mut **tx)
                .await
                .map_err(backend_err)?;
                sqlx::query(
                    "UPDATE token_families SET revoked_at = $1 WHERE pool_id = $2 AND sub = $3 AND revoked_at IS NULL",
                )
                .bind(at)
                .bind(pool.as_str())
                .bind(sub)
                .execute(&mut **tx)
                .await
                .map_err(backend_err)?;
                // Signing a user out everywhere ends their hosted-login browser sessions too.
                sqlx::query(
                    "UPDATE login_sessions SET ended_at = $1 WHERE pool_id = $2 AND sub = $3 AND ended_at IS NULL",
                )
                .bind(at)
                .bind(pool.as_str())
                .bind(sub)
                .execute(&mut **tx)
                .await
                .map_err(backend_err)?;
                // A user who never held a token has nothing for resource servers to refuse:
                // the feed stays quiet (setting a new user's first password publishes nothing).
                let had_tokens: Option<String> =
                    sqlx::query_scalar("SELECT id FROM token_families WHERE pool_id = $1 AND sub = $2 LIMIT 1")
                        .bind(pool.as_str())
                        .bind(sub)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(backend_err)?;
                if done.rows_affected() > 0 && had_tokens.is_some() {
                    Self::publish_revocation(tx, pool, RevocationKind::User, sub, at).await?;
                }
                Ok(())
            }

            /// Revokes every unrevoked family bound to `tenant` (only `sub`'s when given)
            /// inside `tx` and publishes each, as `revoke_family` does; returns how many.
            async fn revoke_tenant_families_in(
                tx: &mut sqlx::Transaction<'_, Db>,
                tenant: &TenantId,
                sub: Option<&str>,
                at: i64,
            ) -> Result<u64> {
                let rows = sqlx::query(
                    "UPDATE token_families SET revoked_at = $1 \
                     WHERE tenant_id = $2 AND ($3 = '' OR sub = $3) AND revoked_at IS NULL RETURNING id, pool_id",
                )
                .bind(at)
                .bind(tenant.as_str())
                .bind(sub.unwrap_or(""))
                .fetch_all(&mut **tx)
                .await
                .map_err(backend_err)?;
                let mut revoked = rows
                    .iter()
                    .map(|row| Ok((col::<String>(row, "id")?, pool_id(&col::<String>(row, "pool_id")?)?)))
                    .collect::<Result<Vec<_>>>()?;
                // RETURNING has no order; publish in a stable one.
                revoked.sort_by(|a, b| a.0.cmp(&b.0));
                for (family, pool) in &revoked {
                    Self::publish_revocation(tx, pool, RevocationKind::Token, family, at).await?;
                }
                Ok(revoked.len() as u64)
            }
        }

        #[async_trait]
        impl TokenRepo for $store {
            async fn create_family(&self, f: &TokenFamily, token: Option<&RefreshToken>) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                sqlx::query(
                    "INSERT INTO token_families (id, pool_id, client_id, sub, tenant_id, auth_time, mfa, created_at, \
                     revoked_at, scope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&f.id)
                .bind(f.pool_id.as_str())
                .bind(&f.client_id)
                .bind(&f.sub)
                .bind(f.tenant_id.as_ref().map(TenantId::as_str))
                .bind(f.auth_time)
                .bind(f.mfa)
                .bind(f.created_at)
                .bind(f.revoked_at)
                .bind(f.scope.as_deref())
                .execute(&mut *tx)
                .await
                .map_err(|e| write_err(e, "token_family"))?;
                if let Some(t) = token {
                    Self::insert_refresh_token(&mut tx, t).await?;
                }
                tx.commit().await.map_err(backend_err)
            }

            async fn get_family(&self, id: &str) -> Result<Option<TokenFamily>> {
                let row = sqlx::query("SELECT * FROM token_families WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(family_from).transpose()
            }

            async fn get_refresh_token(&self, hash: &str) -> Result<Option<(RefreshToken, TokenFamily)>> {
                let row = sqlx::query(
                    "SELECT t.hash, t.family_id, t.created_at AS t_created_at, t.expires_at, t.rotated_at, f.* \
                     FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.hash = $1",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend_err)?;
                let Some(row) = row else { return Ok(None) };
                let token = RefreshToken {
                    hash: col(&row, "hash")?,
                    family_id: col(&row, "family_id")?,
                    created_at: col(&row, "t_created_at")?,
                    expires_at: col(&row, "expires_at")?,
                    rotated_at: col(&row, "rotated_at")?,
                };
                Ok(Some((token, family_from(&row)?)))
            }

            async fn rotate_refresh_token(&self, old_hash: &str, new: &RefreshToken, at: i64) -> Result<bool> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                let done = sqlx::query("UPDATE refresh_tokens SET rotated_at = $1 WHERE hash = $2 AND rotated_at IS NULL")
                    .bind(at)
                    .bind(old_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                if done.rows_affected() != 1 {
                    tx.rollback().await.map_err(backend_err)?;
                    return Ok(false);
                }
                Self::insert_refresh_token(&mut tx, new).await?;
                tx.commit().await.map_err(backend_err)?;
                Ok(true)
            }

            async fn add_refresh_token(&self, token: &RefreshToken) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                Self::insert_refresh_token(&mut tx, token).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn revoke_family(&self, pool: &PoolId, family_id: &str, at: i64) -> Result<bool> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                let done = sqlx::query(
                    "UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND pool_id = $3 AND revoked_at IS NULL",
                )
                .bind(at)
                .bind(family_id)
                .bind(pool.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
                if done.rows_affected() == 0 {
                    tx.rollback().await.map_err(backend_err)?;
                    return Ok(false);
                }
                Self::publish_revocation(&mut tx, pool, RevocationKind::Token, family_id, at).await?;
                tx.commit().await.map_err(backend_err)?;
                Ok(true)
            }

            async fn sign_out_user(&self, pool: &PoolId, sub: &str, at: i64) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                Self::sign_out_in(&mut tx, pool, sub, at).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn revoke_tenant_families(&self, tenant: &TenantId, sub: Option<&str>, at: i64) -> Result<u64> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                let revoked = Self::revoke_tenant_families_in(&mut tx, tenant, sub, at).await?;
                tx.commit().await.map_err(backend_err)?;
                Ok(revoked)
            }

            async fn revocations_after(&self, pool: &PoolId, after_seq: i64, limit: u32) -> Result<Vec<RevocationEvent>> {
                let rows = sqlx::query(
                    "SELECT seq, pool_id, kind, subject, at FROM revocation_events \
                     WHERE pool_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(pool.as_str())
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(backend_err)?;
                rows.iter()
                    .map(|row| {
                        let kind: String = col(row, "kind")?;
                        Ok(RevocationEvent {
                            seq: col(row, "seq")?,
                            pool_id: pool_id(&col::<String>(row, "pool_id")?)?,
                            kind: RevocationKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("revocation kind {kind}")))?,
                            subject: col(row, "subject")?,
                            at: col(row, "at")?,
                        })
                    })
                    .collect()
            }
        }


        $crate::repos_tenancy::tenancy_repos!($store, $row);
        $crate::repos_apikeys::api_key_repos!($store, $row);
        $crate::repos_audit::audit_repos!($store, $row);

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn begin_tenant(&self, tenant: &TenantId) -> Result<Box<dyn TenantWork>> {
                let mut tx = self.pool.begin_with(super::WRITE_BEGIN).await.map_err(backend_err)?;
                sqlx::query(super::SET_TENANT).bind(tenant.as_str()).execute(&mut *tx).await.map_err(backend_err)?;
                sqlx::query(super::MEMBERS_LOCK).bind(tenant.as_str()).execute(&mut *tx).await.map_err(backend_err)?;
                Ok(Box::new(TenantTx { tx, tenant: tenant.clone() }))
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(backend_err)?;
                Ok(())
            }
        }
    };
}
pub(crate) use repos;
