//! SQLite and PostgreSQL implementations of Cognate's repository traits.
//!
//! [`connect`] picks the backend once from the URL; business code only sees
//! `Arc<dyn Store>`. Both backends share one set of SQL statements (written with `$n`
//! parameters, which SQLite also understands), so behaviour cannot drift between them;
//! only connection set-up, migrations and a few locking and scoping statements differ
//! (the associated constants of the sealed `backend::Backend` trait). Every repository is
//! plain generic code over `B: Backend`, one file per aggregate, implemented once for the
//! one store type `store::SqlStore<B>`.

mod admins;
mod analytics;
mod api_keys;
mod audit;
mod auth_events;
mod backend;
mod changes;
mod clients;
mod codes;
mod connections;
mod db;
mod devices;
mod groups;
mod idps;
mod keys;
mod login;
mod managed_login;
mod mfa;
mod migrate;
mod outbox;
mod passkeys;
mod pools;
mod postgres;
mod resource_servers;
mod sql;
mod sqlite;
mod store;
mod tenancy;
mod tenant_work;
mod terms;
mod tokens;
mod user_imports;
mod users;
mod webhooks;

use std::sync::Arc;

use cognate_core::StoreError;
use cognate_core::repo::Store;

pub use postgres::{PgOptions, SERVICE_ROLE};

/// Why the store could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported database URL (expected sqlite:… or postgres://…): {0}")]
    UnsupportedUrl(String),
    #[error("could not connect to the database: {0}")]
    Connect(String),
    #[error("migration {version} ({name}) failed: {message}")]
    Migration { version: i64, name: &'static str, message: String },
    #[error("the serving database role is unsafe: {0}")]
    UnsafeRole(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Connects to the database named by `url`, applies pending migrations, and returns the
/// store. For PostgreSQL, `pg` says how requests are served (see [`PgOptions`]).
pub async fn connect(url: &str, pg: &PgOptions) -> Result<Arc<dyn Store>, ConnectError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url, pg).await?))
    } else {
        Err(ConnectError::UnsupportedUrl(redact(url)))
    }
}

/// Applies pending migrations without starting a store; returns the versions applied.
pub async fn migrate(url: &str) -> Result<Vec<i64>, ConnectError> {
    if url.starts_with("sqlite:") {
        sqlite::migrate_only(url).await
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        postgres::migrate_only(url).await
    } else {
        Err(ConnectError::UnsupportedUrl(redact(url)))
    }
}

/// A URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub(crate) fn backend_err(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(super::redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}
