//! The store: one type, generic over the [`Backend`] chosen at start-up, that implements
//! every repository trait (each in its aggregate's file) and [`cognate_core::repo::Store`].

use sqlx::Pool;

use crate::backend::Backend;

/// A connection pool of backend `B`; `SqliteStore` and `PgStore` name its two forms.
pub(crate) struct SqlStore<B: Backend> {
    pub(crate) pool: Pool<B>,
}
