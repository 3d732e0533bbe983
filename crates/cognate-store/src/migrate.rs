//! Embedded, forward-only migrations. Each backend lists its files in order; a migration
//! runs in one transaction together with the row that records it, so a crash leaves either
//! all of it or none.

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../migrations/sqlite/0001_init.sql") },
    Migration { version: 2, name: "tokens", sql: include_str!("../migrations/sqlite/0002_tokens.sql") },
    Migration {
        version: 3,
        name: "outbox_delivery",
        sql: include_str!("../migrations/sqlite/0003_outbox_delivery.sql"),
    },
    Migration { version: 4, name: "tenancy", sql: include_str!("../migrations/sqlite/0004_tenancy.sql") },
    Migration { version: 5, name: "family_tenant", sql: include_str!("../migrations/sqlite/0005_family_tenant.sql") },
    Migration { version: 6, name: "api_keys", sql: include_str!("../migrations/sqlite/0006_api_keys.sql") },
    Migration { version: 7, name: "mfa", sql: include_str!("../migrations/sqlite/0007_mfa.sql") },
    Migration { version: 8, name: "audit", sql: include_str!("../migrations/sqlite/0008_audit.sql") },
    Migration { version: 9, name: "hardening", sql: include_str!("../migrations/sqlite/0009_hardening.sql") },
    Migration { version: 10, name: "hosted_login", sql: include_str!("../migrations/sqlite/0010_hosted_login.sql") },
    Migration { version: 11, name: "srp", sql: include_str!("../migrations/sqlite/0011_srp.sql") },
    Migration { version: 12, name: "devices", sql: include_str!("../migrations/sqlite/0012_devices.sql") },
    Migration {
        version: 13,
        name: "client_secrets",
        sql: include_str!("../migrations/sqlite/0013_client_secrets.sql"),
    },
    Migration { version: 14, name: "user_imports", sql: include_str!("../migrations/sqlite/0014_user_imports.sql") },
    Migration { version: 15, name: "passkeys", sql: include_str!("../migrations/sqlite/0015_passkeys.sql") },
    Migration {
        version: 16,
        name: "terms_sessions",
        sql: include_str!("../migrations/sqlite/0016_terms_sessions.sql"),
    },
    Migration {
        version: 17,
        name: "identity_providers",
        sql: include_str!("../migrations/sqlite/0017_identity_providers.sql"),
    },
    Migration { version: 19, name: "managed_login", sql: include_str!("../migrations/sqlite/0019_managed_login.sql") },
    Migration { version: 20, name: "federation", sql: include_str!("../migrations/sqlite/0020_federation.sql") },
    Migration {
        version: 21,
        name: "tenant_connections",
        sql: include_str!("../migrations/sqlite/0021_tenant_connections.sql"),
    },
    Migration { version: 22, name: "webhooks", sql: include_str!("../migrations/sqlite/0022_webhooks.sql") },
    Migration { version: 23, name: "analytics", sql: include_str!("../migrations/sqlite/0023_analytics.sql") },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../migrations/postgres/0001_init.sql") },
    Migration { version: 2, name: "tokens", sql: include_str!("../migrations/postgres/0002_tokens.sql") },
    Migration {
        version: 3,
        name: "outbox_delivery",
        sql: include_str!("../migrations/postgres/0003_outbox_delivery.sql"),
    },
    Migration { version: 4, name: "tenancy", sql: include_str!("../migrations/postgres/0004_tenancy.sql") },
    Migration { version: 5, name: "family_tenant", sql: include_str!("../migrations/postgres/0005_family_tenant.sql") },
    Migration { version: 6, name: "api_keys", sql: include_str!("../migrations/postgres/0006_api_keys.sql") },
    Migration { version: 7, name: "mfa", sql: include_str!("../migrations/postgres/0007_mfa.sql") },
    Migration { version: 8, name: "audit", sql: include_str!("../migrations/postgres/0008_audit.sql") },
    Migration { version: 9, name: "hardening", sql: include_str!("../migrations/postgres/0009_hardening.sql") },
    Migration { version: 10, name: "hosted_login", sql: include_str!("../migrations/postgres/0010_hosted_login.sql") },
    Migration { version: 11, name: "srp", sql: include_str!("../migrations/postgres/0011_srp.sql") },
    Migration { version: 12, name: "devices", sql: include_str!("../migrations/postgres/0012_devices.sql") },
    Migration {
        version: 13,
        name: "client_secrets",
        sql: include_str!("../migrations/postgres/0013_client_secrets.sql"),
    },
    Migration { version: 14, name: "user_imports", sql: include_str!("../migrations/postgres/0014_user_imports.sql") },
    Migration { version: 15, name: "passkeys", sql: include_str!("../migrations/postgres/0015_passkeys.sql") },
    Migration {
        version: 16,
        name: "terms_sessions",
        sql: include_str!("../migrations/postgres/0016_terms_sessions.sql"),
    },
    Migration {
        version: 17,
        name: "identity_providers",
        sql: include_str!("../migrations/postgres/0017_identity_providers.sql"),
    },
    Migration {
        version: 19,
        name: "managed_login",
        sql: include_str!("../migrations/postgres/0019_managed_login.sql"),
    },
    Migration { version: 20, name: "federation", sql: include_str!("../migrations/postgres/0020_federation.sql") },
    Migration {
        version: 21,
        name: "tenant_connections",
        sql: include_str!("../migrations/postgres/0021_tenant_connections.sql"),
    },
    Migration { version: 22, name: "webhooks", sql: include_str!("../migrations/postgres/0022_webhooks.sql") },
    Migration { version: 23, name: "analytics", sql: include_str!("../migrations/postgres/0023_analytics.sql") },
];

pub(crate) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS cognate_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// Runs every migration in `list` that the database has not applied yet.
macro_rules! run_migrations {
    ($conn:expr, $list:expr, $lock:expr) => {{
        use sqlx::Connection as _;
        let conn = $conn;
        sqlx::raw_sql($crate::migrate::CREATE_TABLE)
            .execute(&mut *conn)
            .await
            .map_err(|e| $crate::ConnectError::Connect(e.to_string()))?;
        let mut applied_now = Vec::new();
        for m in $list {
            let fail = |e: sqlx::Error| $crate::ConnectError::Migration {
                version: m.version,
                name: m.name,
                message: e.to_string(),
            };
            let mut tx = conn.begin().await.map_err(fail)?;
            if let Some(lock) = $lock {
                sqlx::raw_sql(lock).execute(&mut *tx).await.map_err(fail)?;
            }
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM cognate_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(fail)?;
            if done.is_some() {
                tx.rollback().await.map_err(fail)?;
                continue;
            }
            sqlx::raw_sql(m.sql).execute(&mut *tx).await.map_err(fail)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            sqlx::query("INSERT INTO cognate_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(m.version)
                .bind(m.name)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            tx.commit().await.map_err(fail)?;
            applied_now.push(m.version);
        }
        Ok::<Vec<i64>, $crate::ConnectError>(applied_now)
    }};
}
pub(crate) use run_migrations;
