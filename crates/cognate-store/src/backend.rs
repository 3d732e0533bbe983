//! What repository code needs from a database, as one small sealed trait implemented for
//! SQLite and PostgreSQL, so a repository is written once as ordinary generic code over
//! `B: Backend` (see [`crate::pools`]). sqlx's own bounds for generic code (executors on
//! connections, encodable and decodable types) cannot be carried by a trait, so the trait
//! offers typed binds, column reads and executions instead; each backend implements them
//! with the same one-line bodies.
//!
//! Repositories still being moved out of the `repos!` macro use the macro's helpers; the
//! statements are the same SQL for both backends either way.

use std::future::Future;

use cognate_core::StoreError;
use sqlx::{Database, Pool, Postgres, Sqlite};

mod sealed {
    pub trait Sealed {}
    impl Sealed for sqlx::Sqlite {}
    impl Sealed for sqlx::Postgres {}
}

/// A statement with its arguments, for backend `B`.
pub(crate) type Query<'q, B> = sqlx::query::Query<'q, B, <B as Database>::Arguments<'q>>;

/// The operations repository code runs on a backend.
pub(crate) trait Backend: Database + sealed::Sealed {
    fn text<'q>(q: Query<'q, Self>, v: &'q str) -> Query<'q, Self>;
    fn int<'q>(q: Query<'q, Self>, v: i64) -> Query<'q, Self>;
    fn opt_text<'q>(q: Query<'q, Self>, v: Option<&'q str>) -> Query<'q, Self>;
    fn opt_int<'q>(q: Query<'q, Self>, v: Option<i64>) -> Query<'q, Self>;
    fn flag<'q>(q: Query<'q, Self>, v: bool) -> Query<'q, Self>;
    /// Reads a column, mapping a failure to [`StoreError::Backend`].
    fn text_col(row: &Self::Row, col: &str) -> Result<String, StoreError>;
    fn int_col(row: &Self::Row, col: &str) -> Result<i64, StoreError>;
    fn opt_text_col(row: &Self::Row, col: &str) -> Result<Option<String>, StoreError>;
    fn opt_int_col(row: &Self::Row, col: &str) -> Result<Option<i64>, StoreError>;
    fn flag_col(row: &Self::Row, col: &str) -> Result<bool, StoreError>;
    /// Runs the statement on a connection (inside a transaction: `&mut *tx`); how many
    /// rows it changed.
    fn execute_on<'q, 'c>(
        q: Query<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + use<'q, 'c, Self>;
    fn fetch_optional<'q, 'p>(
        q: Query<'q, Self>,
        pool: &'p Pool<Self>,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + use<'q, 'p, Self>;
    fn fetch_all<'q, 'p>(
        q: Query<'q, Self>,
        pool: &'p Pool<Self>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + use<'q, 'p, Self>;
    /// Runs the statement; how many rows it changed.
    fn execute<'q, 'p>(
        q: Query<'q, Self>,
        pool: &'p Pool<Self>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + use<'q, 'p, Self>;
}

/// Typed binds in statement order: `sqlx::query::<B>(sql).text(id).int(at)`.
pub(crate) trait Bind<'q> {
    fn text(self, v: &'q str) -> Self;
    fn int(self, v: i64) -> Self;
    fn opt_text(self, v: Option<&'q str>) -> Self;
    fn opt_int(self, v: Option<i64>) -> Self;
    fn flag(self, v: bool) -> Self;
}

impl<'q, B: Backend> Bind<'q> for Query<'q, B> {
    fn text(self, v: &'q str) -> Self {
        B::text(self, v)
    }

    fn int(self, v: i64) -> Self {
        B::int(self, v)
    }

    fn opt_text(self, v: Option<&'q str>) -> Self {
        B::opt_text(self, v)
    }

    fn opt_int(self, v: Option<i64>) -> Self {
        B::opt_int(self, v)
    }

    fn flag(self, v: bool) -> Self {
        B::flag(self, v)
    }
}

macro_rules! backend {
    ($db:ty) => {
        impl Backend for $db {
            fn text<'q>(q: Query<'q, Self>, v: &'q str) -> Query<'q, Self> {
                q.bind(v)
            }

            fn int<'q>(q: Query<'q, Self>, v: i64) -> Query<'q, Self> {
                q.bind(v)
            }

            fn opt_text<'q>(q: Query<'q, Self>, v: Option<&'q str>) -> Query<'q, Self> {
                q.bind(v)
            }

            fn opt_int<'q>(q: Query<'q, Self>, v: Option<i64>) -> Query<'q, Self> {
                q.bind(v)
            }

            fn flag<'q>(q: Query<'q, Self>, v: bool) -> Query<'q, Self> {
                q.bind(v)
            }

            fn text_col(row: &Self::Row, col: &str) -> Result<String, StoreError> {
                sqlx::Row::try_get(row, col).map_err(crate::backend_err)
            }

            fn int_col(row: &Self::Row, col: &str) -> Result<i64, StoreError> {
                sqlx::Row::try_get(row, col).map_err(crate::backend_err)
            }

            fn opt_text_col(row: &Self::Row, col: &str) -> Result<Option<String>, StoreError> {
                sqlx::Row::try_get(row, col).map_err(crate::backend_err)
            }

            fn opt_int_col(row: &Self::Row, col: &str) -> Result<Option<i64>, StoreError> {
                sqlx::Row::try_get(row, col).map_err(crate::backend_err)
            }

            fn flag_col(row: &Self::Row, col: &str) -> Result<bool, StoreError> {
                sqlx::Row::try_get(row, col).map_err(crate::backend_err)
            }

            fn execute_on<'q, 'c>(
                q: Query<'q, Self>,
                conn: &'c mut Self::Connection,
            ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + use<'q, 'c> {
                async move { Ok(q.execute(conn).await?.rows_affected()) }
            }

            fn fetch_optional<'q, 'p>(
                q: Query<'q, Self>,
                pool: &'p Pool<Self>,
            ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + use<'q, 'p> {
                q.fetch_optional(pool)
            }

            fn fetch_all<'q, 'p>(
                q: Query<'q, Self>,
                pool: &'p Pool<Self>,
            ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + use<'q, 'p> {
                q.fetch_all(pool)
            }

            fn execute<'q, 'p>(
                q: Query<'q, Self>,
                pool: &'p Pool<Self>,
            ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + use<'q, 'p> {
                async move { Ok(q.execute(pool).await?.rows_affected()) }
            }
        }
    };
}

backend!(Sqlite);
backend!(Postgres);
