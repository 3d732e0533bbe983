//! Errors that repositories report.

/// What went wrong in a repository call. "Not found" is not an error: reads return
/// `Ok(None)`, and writes that need a row return [`StoreError::NotFound`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the payload names the rule (e.g. `username`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The change would leave a tenant without an active admin; nothing was written.
    #[error("the tenant would be left without an active admin")]
    LastAdmin,
    /// The row the write needed does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A stored value could not be decoded (corruption or a bug), with context.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database failed; the message is for logs, never for clients.
    #[error("database error: {0}")]
    Backend(String),
}
