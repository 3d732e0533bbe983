//! Users and their attribute index, written once as generic code over [`Backend`] (see
//! [`crate::pools`]). The writes that also revoke tokens (a password change that ends every
//! session, disabling, deleting) run in one transaction with the sign-out or revocation of
//! [`crate::tokens`]; the tenancy's unit of work runs these inside its own.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::repo::UserRepo;
use cognate_core::token::RevocationKind;
use cognate_core::user::{FilterField, FilterOp, User, UserFilter, UserKeys, index_value};
use cognate_core::webhook::WebhookEvent;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::{json, prefix_upper, to_json, write_err};
use crate::store::SqlStore;
use crate::tokens;

type Result<T> = std::result::Result<T, StoreError>;

/// The user columns, for statements that join other tables (aliased `u`).
pub(crate) const USER_COLS: &str = "u.pool_id, u.sub, u.username, u.status, u.enabled, u.password_hash, \
     u.srp_verifier, u.temp_password_expires_at, u.attributes, u.created_at, u.updated_at, u.tokens_valid_after";

pub(crate) fn user_from<B: Backend>(row: &B::Row) -> Result<User> {
    let pool = B::text_col(row, "pool_id")?;
    Ok(User {
        pool_id: PoolId::parse(&pool).ok_or_else(|| StoreError::Corrupt(format!("pool id {pool}")))?,
        sub: B::text_col(row, "sub")?,
        username: B::text_col(row, "username")?,
        status: B::text_col(row, "status")?.parse().map_err(StoreError::Corrupt)?,
        enabled: B::flag_col(row, "enabled")?,
        password_hash: B::opt_text_col(row, "password_hash")?,
        srp_verifier: B::opt_text_col(row, "srp_verifier")?,
        temp_password_expires_at: B::opt_int_col(row, "temp_password_expires_at")?,
        attributes: json(&B::text_col(row, "attributes")?, "user attributes")?,
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
        tokens_valid_after: B::int_col(row, "tokens_valid_after")?,
    })
}

/// The columns a new user row is written with, in [`bind_row`]'s order.
const INSERT_COLS: &str = "pool_id, sub, username, username_key, email_key, phone_key, preferred_key, \
     status, enabled, password_hash, srp_verifier, temp_password_expires_at, attributes, created_at, updated_at";

/// Binds one new user row (`attributes` is their attributes as JSON), in [`INSERT_COLS`]'s order.
fn bind_row<'q, B: Backend>(
    q: crate::backend::Query<'q, B>,
    u: &'q User,
    k: &'q UserKeys,
    attributes: &'q str,
) -> crate::backend::Query<'q, B> {
    q.text(u.pool_id.as_str())
        .text(&u.sub)
        .text(&u.username)
        .text(&k.username)
        .opt_text(k.email.as_deref())
        .opt_text(k.phone.as_deref())
        .opt_text(k.preferred_username.as_deref())
        .text(u.status.as_str())
        .flag(u.enabled)
        .opt_text(u.password_hash.as_deref())
        .opt_text(u.srp_verifier.as_deref())
        .opt_int(u.temp_password_expires_at)
        .text(attributes)
        .int(u.created_at)
        .int(u.updated_at)
}

/// Inserts a user and indexes their attributes, on `conn` (inside a transaction).
pub(crate) async fn insert<B: Backend>(conn: &mut B::Connection, u: &User, k: &UserKeys) -> Result<()> {
    let attributes = to_json(&u.attributes)?;
    let sql = format!("INSERT INTO users ({INSERT_COLS}) VALUES {}", values(1, 15));
    let q = bind_row::<B>(sqlx::query::<B>(&sql), u, k, &attributes);
    B::execute_on(q, conn).await.map_err(|e| write_err(e, "user"))?;
    index_attributes::<B>(conn, u, &k.username).await
}

/// Replaces a user's keys, status, password and attributes on `conn` (re-indexing the
/// attributes); `NotFound("user")`. `enabled` and `tokens_valid_after` are never written
/// from a copy read earlier (a concurrent write could undo a disable): only
/// `set_user_enabled` and sign-outs change them.
pub(crate) async fn replace<B: Backend>(conn: &mut B::Connection, u: &User, k: &UserKeys) -> Result<()> {
    let attributes = to_json(&u.attributes)?;
    let q = sqlx::query::<B>(
        "UPDATE users SET email_key = $1, phone_key = $2, preferred_key = $3, status = $4, \
         password_hash = $5, srp_verifier = $6, temp_password_expires_at = $7, attributes = $8, updated_at = $9 \
         WHERE pool_id = $10 AND sub = $11",
    )
    .opt_text(k.email.as_deref())
    .opt_text(k.phone.as_deref())
    .opt_text(k.preferred_username.as_deref())
    .text(u.status.as_str())
    .opt_text(u.password_hash.as_deref())
    .opt_text(u.srp_verifier.as_deref())
    .opt_int(u.temp_password_expires_at)
    .text(&attributes)
    .int(u.updated_at)
    .text(u.pool_id.as_str())
    .text(&u.sub);
    if B::execute_on(q, conn).await.map_err(|e| write_err(e, "user"))? == 0 {
        return Err(StoreError::NotFound("user"));
    }
    index_attributes::<B>(conn, u, &k.username).await?;
    // `identities` is the links' to say, never a copy read before a concurrent link.
    crate::idps::sync_identities::<B>(conn, &u.pool_id, &u.sub, u.attributes.contains_key("identities")).await
}

/// Stores the SRP verifier of a user who has none, while their password hash is unchanged.
pub(crate) async fn add_srp_verifier<B: Backend>(
    db: &Db<B>,
    pool: &PoolId,
    sub: &str,
    password_hash: &str,
    sealed: &str,
) -> Result<bool> {
    let q = sqlx::query::<B>(
        "UPDATE users SET srp_verifier = $1 \
         WHERE pool_id = $2 AND sub = $3 AND password_hash = $4 AND srp_verifier IS NULL",
    )
    .text(sealed)
    .text(pool.as_str())
    .text(sub)
    .text(password_hash);
    Ok(B::execute(q, db).await.map_err(backend_err)? == 1)
}

/// Rewrites a user's attribute search index on `conn`.
pub(crate) async fn index_attributes<B: Backend>(conn: &mut B::Connection, u: &User, username_key: &str) -> Result<()> {
    let q = sqlx::query::<B>("DELETE FROM user_attributes WHERE pool_id = $1 AND sub = $2")
        .text(u.pool_id.as_str())
        .text(&u.sub);
    B::execute_on(q, conn).await.map_err(backend_err)?;
    for (name, value) in &u.attributes {
        let indexed = index_value(name, value);
        let q = sqlx::query::<B>(
            "INSERT INTO user_attributes (pool_id, sub, name, value, username_key) VALUES ($1, $2, $3, $4, $5)",
        )
        .text(u.pool_id.as_str())
        .text(&u.sub)
        .text(name)
        .text(&indexed)
        .text(username_key);
        B::execute_on(q, conn).await.map_err(backend_err)?;
    }
    Ok(())
}

/// `VALUES` with `rows` groups of `width` numbered parameters: `($1, $2), ($3, $4)`.
pub(crate) fn values(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates many users in one transaction with multi-row statements (see [`insert_many`]).
pub(crate) async fn import<B: Backend>(db: &Db<B>, users: &[(User, UserKeys)]) -> Result<()> {
    let mut tx = db.begin().await.map_err(backend_err)?;
    insert_many::<B>(&mut tx, users).await?;
    tx.commit().await.map_err(backend_err)
}

/// Rows per multi-row statement: [`MULTI_ROW_PARAMS`] bound parameters at most.
pub(crate) const fn rows_per_statement(width: usize) -> usize {
    MULTI_ROW_PARAMS / width
}

/// Bound parameters per multi-row statement. SQLite looks each `$n` up in a list of the
/// statement's parameters and plans every row of a VALUES list as its own SELECT, so a
/// statement's cost grows with the square of its size: 1,000 users (15,000 parameters) in
/// one statement took over a second, 20 statements of 50 users take 50 ms. PostgreSQL is
/// indifferent at this size.
pub(crate) const MULTI_ROW_PARAMS: usize = 750;

/// Inserts many users and their attribute index on `conn` (inside a transaction) with
/// multi-row statements; a key conflict is `Conflict(…)` as for one user.
pub(crate) async fn insert_many<B: Backend>(conn: &mut B::Connection, users: &[(User, UserKeys)]) -> Result<()> {
    for chunk in users.chunks(rows_per_statement(15)) {
        let attributes: Vec<String> = chunk.iter().map(|(u, _)| to_json(&u.attributes)).collect::<Result<_>>()?;
        let sql = format!("INSERT INTO users ({INSERT_COLS}) VALUES {}", values(chunk.len(), 15));
        let mut q = sqlx::query::<B>(&sql);
        for ((u, k), attrs) in chunk.iter().zip(&attributes) {
            q = bind_row::<B>(q, u, k, attrs);
        }
        B::execute_on(q, &mut *conn).await.map_err(|e| write_err(e, "user"))?;
        let rows: Vec<(&User, &str, &str, String)> = chunk
            .iter()
            .flat_map(|(u, k)| {
                u.attributes.iter().map(move |(n, v)| (u, k.username.as_str(), n.as_str(), index_value(n, v)))
            })
            .collect();
        for part in rows.chunks(rows_per_statement(5)) {
            let sql = format!(
                "INSERT INTO user_attributes (pool_id, sub, name, value, username_key) VALUES {}",
                values(part.len(), 5)
            );
            let mut q = sqlx::query::<B>(&sql);
            for (u, key, name, value) in part {
                q = q.text(u.pool_id.as_str()).text(&u.sub).text(name).text(value).text(key);
            }
            B::execute_on(q, &mut *conn).await.map_err(backend_err)?;
        }
    }
    Ok(())
}

async fn one<B: Backend>(db: &Db<B>, condition: &str, pool: &PoolId, value: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.pool_id = $1 AND {condition} = $2");
    let q = sqlx::query::<B>(&sql).text(pool.as_str()).text(value);
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(user_from::<B>).transpose()
}

pub(crate) async fn get<B: Backend>(db: &Db<B>, pool: &PoolId, username_key: &str) -> Result<Option<User>> {
    one(db, "u.username_key", pool, username_key).await
}

pub(crate) async fn get_by_sub<B: Backend>(db: &Db<B>, pool: &PoolId, sub: &str) -> Result<Option<User>> {
    one(db, "u.sub", pool, sub).await
}

/// The user holding the verified alias `alias` (`email`, `phone_number`,
/// `preferred_username`) with key `key`.
pub(crate) async fn get_by_alias<B: Backend>(
    db: &Db<B>,
    pool: &PoolId,
    alias: &str,
    key: &str,
) -> Result<Option<User>> {
    let column = match alias {
        "email" => "u.email_key",
        "phone_number" => "u.phone_key",
        "preferred_username" => "u.preferred_key",
        _ => return Ok(None),
    };
    one(db, column, pool, key).await
}

/// A page of the pool's users matching `filter`, in username order.
pub(crate) async fn list<B: Backend>(
    db: &Db<B>,
    pool: &PoolId,
    filter: Option<&UserFilter>,
    page: &PageRequest,
) -> Result<Vec<User>> {
    // Parameters: $1 pool, $2 cursor, $3 limit, then the filter's. Equality uses `=` so the
    // index also yields username order; a prefix is a range.
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
        // CROSS JOIN fixes the join order on SQLite (attribute index first, then users by
        // key); without it SQLite may walk every user in username order. PostgreSQL plans it
        // as an ordinary join.
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
            (
                format!("SELECT {USER_COLS} FROM users u WHERE u.pool_id = $1 AND {} {tail}", value_cond(column, 4)),
                None,
                None,
            )
        }
    };
    let mut q =
        sqlx::query::<B>(&sql).text(pool.as_str()).text(page.after.as_deref().unwrap_or("")).int(page.fetch_limit());
    if let Some(name) = name {
        q = q.text(name);
    }
    if let Some(enabled) = enabled {
        q = q.flag(enabled);
    }
    for v in &values {
        q = q.text(v);
    }
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(user_from::<B>).collect()
}

pub(crate) async fn count<B: Backend>(db: &Db<B>, pool: &PoolId) -> Result<i64> {
    let q = sqlx::query::<B>("SELECT count(*) AS n FROM users WHERE pool_id = $1").text(pool.as_str());
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?.ok_or(StoreError::NotFound("user"))?;
    B::int_col(&row, "n")
}

/// Sets `enabled` on `conn`; `NotFound("user")`.
pub(crate) async fn set_enabled<B: Backend>(
    conn: &mut B::Connection,
    pool: &PoolId,
    sub: &str,
    enabled: bool,
    at: i64,
) -> Result<()> {
    let q = sqlx::query::<B>("UPDATE users SET enabled = $1, updated_at = $2 WHERE pool_id = $3 AND sub = $4")
        .flag(enabled)
        .int(at)
        .text(pool.as_str())
        .text(sub);
    match B::execute_on(q, conn).await.map_err(backend_err)? {
        0 => Err(StoreError::NotFound("user")),
        _ => Ok(()),
    }
}

/// Deletes the user's row on `conn` (their index, codes, MFA and memberships by cascade);
/// `NotFound("user")`.
pub(crate) async fn remove<B: Backend>(conn: &mut B::Connection, pool: &PoolId, sub: &str) -> Result<()> {
    let q = sqlx::query::<B>("DELETE FROM users WHERE pool_id = $1 AND sub = $2").text(pool.as_str()).text(sub);
    match B::execute_on(q, conn).await.map_err(backend_err)? {
        0 => Err(StoreError::NotFound("user")),
        _ => Ok(()),
    }
}

#[async_trait]
impl<B: Backend> UserRepo for SqlStore<B> {
    async fn create_user_with(&self, u: &User, k: &UserKeys, events: &[WebhookEvent]) -> Result<()> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        insert::<B>(&mut tx, u, k).await?;
        crate::webhooks::insert_events::<B>(&mut tx, events).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn import_users(&self, users: &[(User, UserKeys)]) -> Result<()> {
        import(&self.db, users).await
    }

    async fn get_user(&self, pool: &PoolId, username_key: &str) -> Result<Option<User>> {
        get(&self.db, pool, username_key).await
    }

    async fn get_user_by_sub(&self, pool: &PoolId, sub: &str) -> Result<Option<User>> {
        get_by_sub(&self.db, pool, sub).await
    }

    async fn get_user_by_alias(&self, pool: &PoolId, alias: &str, key: &str) -> Result<Option<User>> {
        get_by_alias(&self.db, pool, alias, key).await
    }

    async fn update_user_with(&self, u: &User, k: &UserKeys, events: &[WebhookEvent]) -> Result<()> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        replace::<B>(&mut tx, u, k).await?;
        crate::webhooks::insert_events::<B>(&mut tx, events).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn add_srp_verifier(&self, pool: &PoolId, sub: &str, password_hash: &str, sealed: &str) -> Result<bool> {
        add_srp_verifier(&self.db, pool, sub, password_hash, sealed).await
    }

    async fn update_user_signed_out(&self, u: &User, k: &UserKeys, at: i64) -> Result<()> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        replace::<B>(&mut tx, u, k).await?;
        tokens::sign_out_in::<B>(&mut tx, &u.pool_id, &u.sub, at).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn set_user_enabled_with(
        &self,
        pool: &PoolId,
        sub: &str,
        enabled: bool,
        at: i64,
        events: &[WebhookEvent],
    ) -> Result<()> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        set_enabled::<B>(&mut tx, pool, sub, enabled, at).await?;
        crate::changes::announce_in::<B>(&mut tx, &cognate_core::change::Change::User(pool.clone())).await?;
        if !enabled {
            tokens::sign_out_in::<B>(&mut tx, pool, sub, at).await?;
        }
        crate::webhooks::insert_events::<B>(&mut tx, events).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn delete_user_with(&self, pool: &PoolId, sub: &str, at: i64, events: &[WebhookEvent]) -> Result<()> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        remove::<B>(&mut tx, pool, sub).await?;
        tokens::publish_revocation::<B>(&mut tx, pool, RevocationKind::User, sub, at).await?;
        crate::webhooks::insert_events::<B>(&mut tx, events).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn list_users(&self, pool: &PoolId, filter: Option<&UserFilter>, page: &PageRequest) -> Result<Vec<User>> {
        list(&self.db, pool, filter, page).await
    }

    async fn count_users(&self, pool: &PoolId) -> Result<i64> {
        count(&self.db, pool).await
    }
}
