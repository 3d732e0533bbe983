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
        use cognate_core::group::Group;
        use cognate_core::ids::PoolId;
        use cognate_core::page::PageRequest;
        use cognate_core::repo::*;
        use cognate_core::tenant::{
            DomainName, EmailDomain, Invitation, Membership, MembershipStatus, Role, Tenant, TenantId, Tier,
        };
        use cognate_core::token::{RefreshToken, RevocationEvent, RevocationKind, TokenFamily};
        use cognate_core::user::{FilterField, FilterOp, User, UserFilter, UserKeys, index_value};
        use sqlx::Row as _;
        use $crate::backend_err;
        use $crate::repos::{json, prefix_upper, to_json, write_err};

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

        const USER_COLS: &str = "u.pool_id, u.sub, u.username, u.status, u.enabled, u.password_hash, \
             u.temp_password_expires_at, u.attributes, u.created_at, u.updated_at, u.tokens_valid_after";

        fn user_from(row: &$row) -> Result<User> {
            let status: String = col(row, "status")?;
            Ok(User {
                pool_id: pool_id(&col::<String>(row, "pool_id")?)?,
                sub: col(row, "sub")?,
                username: col(row, "username")?,
                status: status.parse().map_err(StoreError::Corrupt)?,
                enabled: col(row, "enabled")?,
                password_hash: col(row, "password_hash")?,
                temp_password_expires_at: col(row, "temp_password_expires_at")?,
                attributes: json(&col::<String>(row, "attributes")?, "user attributes")?,
                created_at: col(row, "created_at")?,
                updated_at: col(row, "updated_at")?,
                tokens_valid_after: col(row, "tokens_valid_after")?,
            })
        }

        fn group_from(row: &$row) -> Result<Group> {
            Ok(Group {
                pool_id: pool_id(&col::<String>(row, "pool_id")?)?,
                name: col(row, "name")?,
                description: col(row, "description")?,
                role_arn: col(row, "role_arn")?,
                precedence: col(row, "precedence")?,
                created_at: col(row, "created_at")?,
                updated_at: col(row, "updated_at")?,
            })
        }


        fn after(page: &PageRequest) -> &str {
            page.after.as_deref().unwrap_or("")
        }

        fn affected(rows: u64, what: &'static str) -> Result<()> {
            if rows == 0 { Err(StoreError::NotFound(what)) } else { Ok(()) }
        }

        $crate::pools::impl_pool_repo!($store);

        $crate::clients::impl_client_repo!($store);

        impl $store {
            async fn insert_user(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                u: &User,
                k: &UserKeys,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO users (pool_id, sub, username, username_key, email_key, phone_key, preferred_key, \
                     status, enabled, password_hash, temp_password_expires_at, attributes, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(u.pool_id.as_str())
                .bind(&u.sub)
                .bind(&u.username)
                .bind(&k.username)
                .bind(&k.email)
                .bind(&k.phone)
                .bind(&k.preferred_username)
                .bind(u.status.as_str())
                .bind(u.enabled)
                .bind(&u.password_hash)
                .bind(u.temp_password_expires_at)
                .bind(to_json(&u.attributes)?)
                .bind(u.created_at)
                .bind(u.updated_at)
                .execute(&mut **tx)
                .await
                .map_err(|e| write_err(e, "user"))?;
                Self::index_attributes(tx, u, &k.username).await
            }

            /// Replaces a user's keys, status, password and attributes inside `tx` (re-indexing
            /// the attributes); `NotFound("user")` when there is no such user. `enabled` and
            /// `tokens_valid_after` are never written from a copy read earlier (a concurrent
            /// write could undo a disable): only `set_user_enabled` and sign-outs change them.
            async fn replace_user(tx: &mut sqlx::Transaction<'_, Db>, u: &User, k: &UserKeys) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE users SET email_key = $1, phone_key = $2, preferred_key = $3, status = $4, \
                     password_hash = $5, temp_password_expires_at = $6, attributes = $7, updated_at = $8 \
                     WHERE pool_id = $9 AND sub = $10",
                )
                .bind(&k.email)
                .bind(&k.phone)
                .bind(&k.preferred_username)
                .bind(u.status.as_str())
                .bind(&u.password_hash)
                .bind(u.temp_password_expires_at)
                .bind(to_json(&u.attributes)?)
                .bind(u.updated_at)
                .bind(u.pool_id.as_str())
                .bind(&u.sub)
                .execute(&mut **tx)
                .await
                .map_err(|e| write_err(e, "user"))?;
                affected(done.rows_affected(), "user")?;
                Self::index_attributes(tx, u, &k.username).await
            }

            /// Rewrites a user's attribute search index inside `tx`.
            async fn index_attributes(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                u: &User,
                username_key: &str,
            ) -> Result<()> {
                sqlx::query("DELETE FROM user_attributes WHERE pool_id = $1 AND sub = $2")
                    .bind(u.pool_id.as_str())
                    .bind(&u.sub)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                for (name, value) in &u.attributes {
                    sqlx::query("INSERT INTO user_attributes (pool_id, sub, name, value, username_key) VALUES ($1, $2, $3, $4, $5)",
                    )
                        .bind(u.pool_id.as_str())
                        .bind(&u.sub)
                        .bind(name)
                        .bind(index_value(name, value))
                        .bind(username_key)
                        .execute(&mut **tx)
                        .await
                        .map_err(backend_err)?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl UserRepo for $store {
            async fn create_user(&self, u: &User, k: &UserKeys) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                Self::insert_user(&mut tx, u, k).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn import_users(&self, users: &[(User, UserKeys)]) -> Result<()> {
                type Db = <$row as sqlx::Row>::Database;
                // Multi-row statements keep a large import to a few round trips; chunk sizes
                // stay under SQLite's 32,766 bound parameters.
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                for chunk in users.chunks(1_000) {
                    let attributes: Vec<String> =
                        chunk.iter().map(|(u, _)| to_json(&u.attributes)).collect::<Result<_>>()?;
                    let mut insert = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO users (pool_id, sub, username, username_key, email_key, phone_key, preferred_key, \
                         status, enabled, password_hash, temp_password_expires_at, attributes, created_at, updated_at) ",
                    );
                    insert.push_values(chunk.iter().zip(&attributes), |mut row, ((u, k), attrs)| {
                        row.push_bind(u.pool_id.as_str())
                            .push_bind(&u.sub)
                            .push_bind(&u.username)
                            .push_bind(&k.username)
                            .push_bind(&k.email)
                            .push_bind(&k.phone)
                            .push_bind(&k.preferred_username)
                            .push_bind(u.status.as_str())
                            .push_bind(u.enabled)
                            .push_bind(&u.password_hash)
                            .push_bind(u.temp_password_expires_at)
                            .push_bind(attrs)
                            .push_bind(u.created_at)
                            .push_bind(u.updated_at);
                    });
                    insert.build().execute(&mut *tx).await.map_err(|e| write_err(e, "user"))?;
                    let rows: Vec<(&User, &str, &str, String)> = chunk
                        .iter()
                        .flat_map(|(u, k)| {
                            u.attributes.iter().map(move |(n, v)| (u, k.username.as_str(), n.as_str(), index_value(n, v)))
                        })
                        .collect();
                    for part in rows.chunks(5_000) {
                        let mut index = sqlx::QueryBuilder::<Db>::new(
                            "INSERT INTO user_attributes (pool_id, sub, name, value, username_key) ",
                        );
                        index.push_values(part, |mut row, (u, key, name, value)| {
                            row.push_bind(u.pool_id.as_str())
                                .push_bind(&u.sub)
                                .push_bind(*name)
                                .push_bind(value)
                                .push_bind(*key);
                        });
                        index.build().execute(&mut *tx).await.map_err(backend_err)?;
                    }
                }
                tx.commit().await.map_err(backend_err)
            }

            async fn get_user(&self, pool: &PoolId, username_key: &str) -> Result<Option<User>> {
                let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.pool_id = $1 AND u.username_key = $2");
                let row = sqlx::query(&sql)
                    .bind(pool.as_str())
                    .bind(username_key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(user_from).transpose()
            }

            async fn get_user_by_sub(&self, pool: &PoolId, sub: &str) -> Result<Option<User>> {
                let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.pool_id = $1 AND u.sub = $2");
                let row = sqlx::query(&sql)
                    .bind(pool.as_str())
                    .bind(sub)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(user_from).transpose()
            }

            async fn get_user_by_alias(&self, pool: &PoolId, alias: &str, key: &str) -> Result<Option<User>> {
                let column = match alias {
                    "email" => "email_key",
                    "phone_number" => "phone_key",
                    "preferred_username" => "preferred_key",
                    _ => return Ok(None),
                };
                let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.pool_id = $1 AND u.{column} = $2");
                let row = sqlx::query(&sql)
                    .bind(pool.as_str())
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(user_from).transpose()
            }

            async fn update_user(&self, u: &User, k: &UserKeys) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                Self::replace_user(&mut tx, u, k).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn update_user_signed_out(&self, u: &User, k: &UserKeys, at: i64) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                Self::replace_user(&mut tx, u, k).await?;
                Self::sign_out_in(&mut tx, &u.pool_id, &u.sub, at).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn set_user_enabled(&self, pool: &PoolId, sub: &str, enabled: bool, at: i64) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                let done = sqlx::query("UPDATE users SET enabled = $1, updated_at = $2 WHERE pool_id = $3 AND sub = $4")
                    .bind(enabled)
                    .bind(at)
                    .bind(pool.as_str())
                    .bind(sub)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                affected(done.rows_affected(), "user")?;
                if !enabled {
                    Self::sign_out_in(&mut tx, pool, sub, at).await?;
                }
                tx.commit().await.map_err(backend_err)
            }

            async fn delete_user(&self, pool: &PoolId, sub: &str, at: i64) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                let done = sqlx::query("DELETE FROM users WHERE pool_id = $1 AND sub = $2")
                    .bind(pool.as_str())
                    .bind(sub)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                affected(done.rows_affected(), "user")?;
                Self::publish_revocation(&mut tx, pool, RevocationKind::User, sub, at).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn list_users(&self, pool: &PoolId, filter: Option<&UserFilter>, page: &PageRequest) -> Result<Vec<User>> {
                // Parameters: $1 pool, $2 cursor, $3 limit, then the filter's. Equality uses
                // `=` so the index also yields username order; a prefix is a range.
                let value_cond = |column: &str, first: usize| match filter.map(|f| f.op) {
                    Some(FilterOp::StartsWith) => format!("{column} >= ${first} AND {column} <= ${}", first + 1),
                    _ => format!("{column} = ${first}"),
                };
                let mut values: Vec<String> = Vec::new();
                if let Some(f) = filter {
                    values.push(f.value.clone());
                    if f.op == FilterOp::StartsWith {
                        values.push(prefix_upper(&f.value));
                    }
                }
                let tail = "AND u.username_key > $2 ORDER BY u.username_key LIMIT $3";
                let (sql, name, enabled) = match filter.map(|f| &f.field) {
                    None => (format!("SELECT {USER_COLS} FROM users u WHERE u.pool_id = $1 {tail}"), None, None),
                    Some(FilterField::Enabled) => {
                        let enabled = values.first().is_some_and(|v| v == "Enabled");
                        values.clear();
                        let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.pool_id = $1 AND u.enabled = $4 {tail}");
                        (sql, None, Some(enabled))
                    }
                    // CROSS JOIN fixes the join order on SQLite (attribute index first, then
                    // users by key); without it SQLite may walk every user in username order.
                    // PostgreSQL plans it as an ordinary join.
                    Some(FilterField::Attribute(name)) => (
                        format!(
                            "SELECT {USER_COLS} FROM user_attributes a CROSS JOIN users u \
                             WHERE u.pool_id = a.pool_id AND u.sub = a.sub AND a.pool_id = $1 AND a.name = $4 AND {} \
                             AND a.username_key > $2 ORDER BY a.username_key LIMIT $3",
                            value_cond("a.value", 5)
                        ),
                        Some(name.as_str()),
                        None,
                    ),
                    Some(field) => {
                        let column = match field {
                            FilterField::Username => "u.username_key",
                            FilterField::Sub => "u.sub",
                            _ => "u.status",
                        };
                        let sql = format!(
                            "SELECT {USER_COLS} FROM users u WHERE u.pool_id = $1 AND {} {tail}",
                            value_cond(column, 4)
                        );
                        (sql, None, None)
                    }
                };
                let mut query = sqlx::query(&sql).bind(pool.as_str()).bind(after(page)).bind(page.fetch_limit());
                if let Some(name) = name {
                    query = query.bind(name);
                }
                if let Some(enabled) = enabled {
                    query = query.bind(enabled);
                }
                for v in &values {
                    query = query.bind(v.as_str());
                }
                let rows = query.fetch_all(&self.pool).await.map_err(backend_err)?;
                rows.iter().map(user_from).collect()
            }

            async fn count_users(&self, pool: &PoolId) -> Result<i64> {
                sqlx::query_scalar("SELECT count(*) FROM users WHERE pool_id = $1")
                    .bind(pool.as_str())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(backend_err)
            }
        }

        #[async_trait]
        impl GroupRepo for $store {
            async fn create_group(&self, g: &Group) -> Result<()> {
                sqlx::query(
                    "INSERT INTO groups (pool_id, name, description, role_arn, precedence, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(g.pool_id.as_str())
                .bind(&g.name)
                .bind(&g.description)
                .bind(&g.role_arn)
                .bind(g.precedence)
                .bind(g.created_at)
                .bind(g.updated_at)
                .execute(&self.pool)
                .await
                .map_err(|e| write_err(e, "group"))?;
                Ok(())
            }

            async fn get_group(&self, pool: &PoolId, name: &str) -> Result<Option<Group>> {
                let row = sqlx::query("SELECT * FROM groups WHERE pool_id = $1 AND name = $2")
                    .bind(pool.as_str())
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(group_from).transpose()
            }

            async fn list_groups(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<Group>> {
                let rows = sqlx::query("SELECT * FROM groups WHERE pool_id = $1 AND name > $2 ORDER BY name LIMIT $3")
                    .bind(pool.as_str())
                    .bind(after(page))
                    .bind(page.fetch_limit())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend_err)?;
                rows.iter().map(group_from).collect()
            }

            async fn update_group(&self, g: &Group) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE groups SET description = $1, role_arn = $2, precedence = $3, updated_at = $4 \
                     WHERE pool_id = $5 AND name = $6",
                )
                .bind(&g.description)
                .bind(&g.role_arn)
                .bind(g.precedence)
                .bind(g.updated_at)
                .bind(g.pool_id.as_str())
                .bind(&g.name)
                .execute(&self.pool)
                .await
                .map_err(backend_err)?;
                affected(done.rows_affected(), "group")
            }

            async fn delete_group(&self, pool: &PoolId, name: &str) -> Result<()> {
                let done = sqlx::query("DELETE FROM groups WHERE pool_id = $1 AND name = $2")
                    .bind(pool.as_str())
                    .bind(name)
                    .execute(&self.pool)
                    .await
                    .map_err(backend_err)?;
                affected(done.rows_affected(), "group")
            }

            async fn add_user_to_group(&self, pool: &PoolId, group: &str, sub: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO group_members (pool_id, group_name, sub) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(pool.as_str())
                .bind(group)
                .bind(sub)
                .execute(&self.pool)
                .await
                .map_err(|e| write_err(e, "group"))?;
                Ok(())
            }

            async fn remove_user_from_group(&self, pool: &PoolId, group: &str, sub: &str) -> Result<()> {
                sqlx::query("DELETE FROM group_members WHERE pool_id = $1 AND group_name = $2 AND sub = $3")
                    .bind(pool.as_str())
                    .bind(group)
                    .bind(sub)
                    .execute(&self.pool)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }

            async fn list_groups_for_user(&self, pool: &PoolId, sub: &str, page: &PageRequest) -> Result<Vec<Group>> {
                let rows = sqlx::query(
                    "SELECT g.* FROM group_members m JOIN groups g ON g.pool_id = m.pool_id AND g.name = m.group_name \
                     WHERE m.pool_id = $1 AND m.sub = $2 AND m.group_name > $3 ORDER BY m.group_name LIMIT $4",
                )
                .bind(pool.as_str())
                .bind(sub)
                .bind(after(page))
                .bind(page.fetch_limit())
                .fetch_all(&self.pool)
                .await
                .map_err(backend_err)?;
                rows.iter().map(group_from).collect()
            }

            async fn list_users_in_group(&self, pool: &PoolId, group: &str, page: &PageRequest) -> Result<Vec<User>> {
                let sql = format!(
                    "SELECT {USER_COLS} FROM group_members m JOIN users u ON u.pool_id = m.pool_id AND u.sub = m.sub \
                     WHERE m.pool_id = $1 AND m.group_name = $2 AND u.username_key > $3 ORDER BY u.username_key LIMIT $4"
                );
                let rows = sqlx::query(&sql)
                    .bind(pool.as_str())
                    .bind(group)
                    .bind(after(page))
                    .bind(page.fetch_limit())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend_err)?;
                rows.iter().map(user_from).collect()
            }
        }

        $crate::resource_servers::impl_resource_server_repo!($store);

        $crate::admins::impl_admin_repos!($store);

        $crate::outbox::impl_outbox_repo!($store);





        fn family_from(row: &$row) -> Result<TokenFamily> {
            Ok(TokenFamily {
                id: col(row, "id")?,
                pool_id: pool_id(&col::<String>(row, "pool_id")?)?,
                client_id: col(row, "client_id")?,
                sub: col(row, "sub")?,
                tenant_id: col::<Option<String>>(row, "tenant_id")?.as_deref().map(tenant_id).transpose()?,
                auth_time: col(row, "auth_time")?,
                mfa: col(row, "mfa")?,
                created_at: col(row, "created_at")?,
                revoked_at: col(row, "revoked_at")?,
            })
        }


        $crate::keys::impl_key_repo!($store);

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
                     revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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

        $crate::codes::impl_code_repo!($store);

        $crate::repos_tenancy::tenancy_repos!($store, $row);
        $crate::repos_apikeys::api_key_repos!($store, $row);
        $crate::repos_mfa::mfa_repos!($store, $row);
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
