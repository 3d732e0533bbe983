//! [`TenantTx`]: a database transaction scoped to the caller's tenant before the handler
//! sees it (feature `sqlx`).
//!
//! On **PostgreSQL** the extractor begins a transaction and runs
//! `SELECT set_config('app.tenant_id', <tenant>, true)` in it, so row-level security
//! policies of the form
//! `USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))` confine every
//! statement of the handler — even one that forgets its `WHERE tenant_id = …` — to the
//! caller's tenant. That only holds if the serving role is subject to the policies, so
//! [`TenantPool::new`] runs [`check_rls_role`] and refuses a pool whose role is a superuser,
//! has `BYPASSRLS`, owns tables, or can read a `tenant_id` table without forced RLS.
//!
//! On **SQLite** ([`TenantScope`]) there is no row-level security: the handler gets the
//! tenant id and a transaction, and **every query must filter by tenant in code**. The
//! [`TenantTx::tenant_query`] family makes that hard to forget: it binds the caller's tenant
//! as `$1`, so the SQL only has to say `WHERE tenant_id = $1`. Use the same helpers on
//! PostgreSQL and the filter is there twice (in code and in the policy).
//!
//! The handler commits explicitly (`tx.commit().await`); a transaction dropped without a
//! commit — an early return, an error, a panic — is rolled back.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use sqlx::postgres::PgPool;
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Database, Encode, FromRow, Pool, Postgres, Sqlite, Transaction, Type};

use crate::context::TenantContext;
use crate::layer::AuthRejection;

mod sealed {
    pub trait Sealed {}
    impl Sealed for sqlx::Postgres {}
    impl Sealed for sqlx::Sqlite {}
}

/// A database [`TenantTx`] works with: PostgreSQL (row-level security) or SQLite (filter in
/// code). Sealed.
pub trait TenantDatabase: Database + sealed::Sealed {
    /// Whether the database itself confines queries to the tenant (row-level security).
    /// `true` for PostgreSQL, `false` for SQLite.
    const ENFORCES_TENANT_ISOLATION: bool;

    #[doc(hidden)]
    fn check_pool(pool: &Pool<Self>) -> impl Future<Output = Result<(), RlsCheckError>> + Send;

    #[doc(hidden)]
    fn begin_scoped(
        pool: &Pool<Self>,
        tenant: &str,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;
}

impl TenantDatabase for Postgres {
    const ENFORCES_TENANT_ISOLATION: bool = true;

    async fn check_pool(pool: &Pool<Self>) -> Result<(), RlsCheckError> {
        check_rls_role(pool).await
    }

    async fn begin_scoped(pool: &Pool<Self>, tenant: &str) -> Result<Transaction<'static, Self>, sqlx::Error> {
        let mut tx = pool.begin().await?;
        // `true`: local to this transaction, so a pooled connection never carries a tenant
        // into the next request.
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)").bind(tenant).execute(&mut *tx).await?;
        Ok(tx)
    }
}

impl TenantDatabase for Sqlite {
    const ENFORCES_TENANT_ISOLATION: bool = false;

    async fn check_pool(_: &Pool<Self>) -> Result<(), RlsCheckError> {
        Ok(())
    }

    async fn begin_scoped(pool: &Pool<Self>, _tenant: &str) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin().await
    }
}

/// Why [`TenantPool::new`] refused a PostgreSQL pool. Each variant names the role or table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RlsCheckError {
    #[error("role {0} is a superuser, which bypasses row-level security; serve with an unprivileged role")]
    Superuser(String),
    #[error("role {0} has BYPASSRLS; serve with a role that has NOBYPASSRLS")]
    BypassRls(String),
    #[error(
        "role {role} owns {tables:?}; table owners can disable row-level security, serve with a role that owns nothing"
    )]
    OwnsTables { role: String, tables: Vec<String> },
    #[error("role {role} can read {tables:?}, which have a tenant_id column but no ENABLE + FORCE ROW LEVEL SECURITY")]
    RlsNotForced { role: String, tables: Vec<String> },
    #[error("checking the serving role: {0}")]
    Database(#[from] sqlx::Error),
}

/// Refuses a pool whose role could see other tenants' rows: a superuser, a `BYPASSRLS`
/// role, an owner of tables (owners may turn policies off), or a role that can read a table
/// with a `tenant_id` column on which row-level security is not both enabled and forced.
/// [`TenantPool::new`] calls it; call it directly to check a pool used elsewhere.
pub async fn check_rls_role(pool: &PgPool) -> Result<(), RlsCheckError> {
    let mut conn = pool.acquire().await?;
    let (role, superuser, bypass): (String, bool, bool) =
        sqlx::query_as("SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut *conn)
            .await?;
    if superuser {
        return Err(RlsCheckError::Superuser(role));
    }
    if bypass {
        return Err(RlsCheckError::BypassRls(role));
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT schemaname::text || '.' || tablename::text FROM pg_tables
         WHERE tableowner = current_user AND schemaname NOT IN ('pg_catalog', 'information_schema')
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    if !tables.is_empty() {
        return Err(RlsCheckError::OwnsTables { role, tables });
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT n.nspname::text || '.' || c.relname::text
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND has_table_privilege(c.oid, 'SELECT')
           AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    if !tables.is_empty() {
        return Err(RlsCheckError::RlsNotForced { role, tables });
    }
    Ok(())
}

/// A connection pool that passed the start-up check; put it in the router state (reachable
/// through [`FromRef`]) for [`TenantTx`] to draw from.
#[derive(Debug)]
pub struct TenantPool<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> Clone for TenantPool<DB> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone() }
    }
}

impl<DB: TenantDatabase> TenantPool<DB> {
    /// Wraps `pool` after checking it. PostgreSQL: [`check_rls_role`] must pass. SQLite:
    /// nothing to check — isolation rests on every query filtering by tenant.
    pub async fn new(pool: Pool<DB>) -> Result<Self, RlsCheckError> {
        DB::check_pool(&pool).await?;
        Ok(Self { pool })
    }

    /// The underlying pool, for work that is not tenant-scoped (health checks).
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

/// The caller's tenant and an open transaction scoped to it. An axum extractor: needs the
/// [`crate::GuardLayer`]'s context (401 without one), a tenant in it (403 without one) and a
/// [`TenantPool`] in the state.
///
/// On PostgreSQL `app.tenant_id` is already set, so row-level security confines every query.
/// On SQLite (see [`TenantScope`]) nothing does: use [`TenantTx::tenant_query`] and friends,
/// which bind the tenant as `$1`.
///
/// Commit with [`TenantTx::commit`]; dropping it rolls back.
pub struct TenantTx<DB: Database = Postgres> {
    tenant_id: String,
    context: Arc<TenantContext>,
    tx: Transaction<'static, DB>,
}

/// The SQLite form of [`TenantTx`]. SQLite has no row-level security: **every query must
/// filter by tenant in code** — write them with [`TenantTx::tenant_query`],
/// [`TenantTx::tenant_query_as`] or [`TenantTx::tenant_query_scalar`] and
/// `WHERE tenant_id = $1`.
pub type TenantScope = TenantTx<Sqlite>;

impl<DB: Database> std::fmt::Debug for TenantTx<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx").field("tenant_id", &self.tenant_id).finish_non_exhaustive()
    }
}

impl<DB: Database> TenantTx<DB> {
    /// The caller's tenant (`custom:tenantId`), never empty.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The caller's verified context (principal, role, scopes).
    pub fn context(&self) -> &TenantContext {
        &self.context
    }

    /// The connection, to run queries on: `query.fetch_all(tx.conn())`. On PostgreSQL
    /// row-level security confines what it sees; on SQLite nothing does, so pass it only
    /// queries built with the `tenant_query` helpers.
    pub fn conn(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }

    /// Commits the handler's work.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls back explicitly (dropping does the same, later).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }

    /// `sql` with the caller's tenant bound as `$1`; bind the other parameters (`$2`, …)
    /// in order. Write the filter as `WHERE tenant_id = $1` (or `VALUES ($1, …)`).
    pub fn tenant_query<'q>(&self, sql: &'q str) -> Query<'q, DB, DB::Arguments<'q>>
    where
        String: Encode<'q, DB> + Type<DB>,
    {
        sqlx::query(sql).bind(self.tenant_id.clone())
    }

    /// [`TenantTx::tenant_query`] mapping rows to `O`.
    pub fn tenant_query_as<'q, O>(&self, sql: &'q str) -> QueryAs<'q, DB, O, DB::Arguments<'q>>
    where
        String: Encode<'q, DB> + Type<DB>,
        O: for<'r> FromRow<'r, DB::Row>,
    {
        sqlx::query_as(sql).bind(self.tenant_id.clone())
    }

    /// [`TenantTx::tenant_query`] returning the first column.
    pub fn tenant_query_scalar<'q, O>(&self, sql: &'q str) -> QueryScalar<'q, DB, O, DB::Arguments<'q>>
    where
        String: Encode<'q, DB> + Type<DB>,
        (O,): for<'r> FromRow<'r, DB::Row>,
    {
        sqlx::query_scalar(sql).bind(self.tenant_id.clone())
    }
}

/// Why [`TenantTx`] could not be extracted.
#[derive(Debug)]
#[non_exhaustive]
pub enum TenantTxRejection {
    /// No verified context on the request: 401 `invalid_token`.
    Unauthenticated,
    /// The caller belongs to no tenant: 403 `{"error":"tenant_required"}`.
    NoTenant,
    /// The transaction could not be begun or scoped: 500 `{"error":"internal_error"}`
    /// (the cause is logged, never sent).
    Database(sqlx::Error),
}

impl IntoResponse for TenantTxRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthenticated => AuthRejection::InvalidToken.into_response(),
            Self::NoTenant => {
                (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({"error": "tenant_required"}))).into_response()
            }
            Self::Database(e) => {
                tracing::error!(error = %e, "cannot begin a tenant transaction");
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(serde_json::json!({"error": "internal_error"})))
                    .into_response()
            }
        }
    }
}

impl<S, DB> FromRequestParts<S> for TenantTx<DB>
where
    S: Send + Sync,
    DB: TenantDatabase,
    TenantPool<DB>: FromRef<S>,
{
    type Rejection = TenantTxRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, TenantTxRejection> {
        let context =
            parts.extensions.get::<Arc<TenantContext>>().cloned().ok_or(TenantTxRejection::Unauthenticated)?;
        let tenant_id = context.tenant_id.clone().filter(|t| !t.is_empty()).ok_or(TenantTxRejection::NoTenant)?;
        let pool = TenantPool::<DB>::from_ref(state);
        let tx = DB::begin_scoped(&pool.pool, &tenant_id).await.map_err(TenantTxRejection::Database)?;
        Ok(Self { tenant_id, context, tx })
    }
}
