//! What every repository's SQL shares: error mapping, id and JSON columns, prefix ranges.
//! Every statement uses `$n` parameters in first-use order, which both SQLite and
//! PostgreSQL accept, and only types both map the same way (TEXT, BIGINT/INTEGER, BOOLEAN).

use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::tenant::TenantId;

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

pub(crate) fn pool_id(text: &str) -> Result<PoolId, StoreError> {
    PoolId::parse(text).ok_or_else(|| StoreError::Corrupt(format!("pool id {text}")))
}

pub(crate) fn tenant_id(text: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(text).ok_or_else(|| StoreError::Corrupt(format!("tenant id {text}")))
}

/// `NotFound(what)` when a write changed no row.
pub(crate) fn affected(rows: u64, what: &'static str) -> Result<(), StoreError> {
    if rows == 0 { Err(StoreError::NotFound(what)) } else { Ok(()) }
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
