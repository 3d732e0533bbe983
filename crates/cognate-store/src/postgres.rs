//! The PostgreSQL backend.
//!
//! Migrations run as the URL's user (the owner). Requests are served by a role that is
//! neither owner, superuser nor BYPASSRLS, so row-level security binds it: either a second
//! login given as `service_url`, or — the usual development case of one privileged URL —
//! the same login switched to [`SERVICE_ROLE`] with `SET ROLE` on every pooled connection.
//! Start-up refuses a serving role that could bypass row-level security.

use sqlx::ConnectOptions as _;
use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;

use crate::ConnectError;
use crate::db::CHECK_IDLE_AFTER;
use crate::migrate::{POSTGRES, run_migrations};

/// The unprivileged role the migrations create and requests run as.
pub const SERVICE_ROLE: &str = "cognate_service";

/// How a PostgreSQL store serves requests.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// A separate, unprivileged login for serving (production). When absent, the
    /// migration login serves through `SET ROLE cognate_service`.
    pub service_url: Option<String>,
    /// Pool size. Defaults to 16.
    pub max_connections: Option<u32>,
}

pub(crate) type PgStore = crate::store::SqlStore<sqlx::Postgres>;

fn options(url: &str) -> Result<PgConnectOptions, ConnectError> {
    Ok(PgConnectOptions::from_str(url).map_err(|e| ConnectError::Connect(e.to_string()))?.disable_statement_logging())
}

/// Creates the service role if the cluster lacks it (roles are cluster-wide; several
/// databases, or several nodes starting at once, may race here, hence the handler).
const ENSURE_ROLE: &str = "DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cognate_service') THEN
        CREATE ROLE cognate_service NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$";

/// Gives the service role what it needs and nothing more: data access, no DDL, no
/// ownership. Re-run after every migration so new tables are covered. The audit trail is
/// append-only for it (`0008_audit.sql`): the blanket grant is taken back there, in the same
/// implicit transaction, so there is no moment it could rewrite history. It may sign an
/// anchor (`mac`, `0009_hardening.sql`), which only a holder of the master key can do
/// validly.
const GRANTS: &str = "GRANT USAGE ON SCHEMA public TO cognate_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO cognate_service;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM cognate_service;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_anchors FROM cognate_service;
GRANT UPDATE (mac) ON audit_anchors TO cognate_service;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO cognate_service;
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'cognate_service', 'MEMBER') THEN
        EXECUTE format('GRANT cognate_service TO %I', current_user);
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot grant cognate_service to %; use a separate service URL', current_user;
END $$";

pub(crate) async fn migrate_only(url: &str) -> Result<Vec<i64>, ConnectError> {
    let mut conn = options(url)?.connect().await.map_err(|e| ConnectError::Connect(e.to_string()))?;
    conn.execute(ENSURE_ROLE).await.map_err(|e| ConnectError::Connect(format!("creating {SERVICE_ROLE}: {e}")))?;
    let applied = run_migrations!(&mut conn, POSTGRES, Some("SELECT pg_advisory_xact_lock(7270616)"))?;
    conn.execute(GRANTS).await.map_err(|e| ConnectError::Connect(format!("granting to {SERVICE_ROLE}: {e}")))?;
    Ok(applied)
}

impl PgStore {
    pub(crate) async fn connect(url: &str, opts: &PgOptions) -> Result<Self, ConnectError> {
        migrate_only(url).await?;
        let pool_opts = PgPoolOptions::new()
            .max_connections(opts.max_connections.unwrap_or(16))
            // sqlx checks a connection as it goes back to the pool; checking it again before
            // every use cost each query a second round trip. A connection idle for longer
            // (through a database restart, say) is still checked, and replaced if dead.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for < CHECK_IDLE_AFTER {
                        return Ok(true);
                    }
                    Ok(sqlx::Connection::ping(conn).await.is_ok())
                })
            });
        let pool = match &opts.service_url {
            Some(service) => pool_opts.connect_with(options(service)?).await,
            None => {
                pool_opts
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute("SET ROLE cognate_service").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options(url)?)
                    .await
            }
        }
        .map_err(|e| ConnectError::Connect(e.to_string()))?;
        check_role(&pool).await?;
        Ok(Self::new(pool))
    }
}

/// Refuses a serving role that is a superuser, has BYPASSRLS, or owns tables (owners are
/// exempt from non-forced policies).
async fn check_role(pool: &PgPool) -> Result<(), ConnectError> {
    let (role, superuser, bypass): (String, bool, bool) =
        sqlx::query_as("SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(pool)
            .await
            .map_err(|e| ConnectError::Connect(e.to_string()))?;
    if superuser || bypass {
        return Err(ConnectError::UnsafeRole(format!(
            "role {role} is a superuser or has BYPASSRLS; serve with an unprivileged role"
        )));
    }
    let owned: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")
            .fetch_one(pool)
            .await
            .map_err(|e| ConnectError::Connect(e.to_string()))?;
    if owned > 0 {
        return Err(ConnectError::UnsafeRole(format!(
            "role {role} owns {owned} tables; serve with a role that does not own the schema"
        )));
    }
    Ok(())
}
