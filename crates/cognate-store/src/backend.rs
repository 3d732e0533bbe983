//! What repository code needs from a database, as one small sealed trait implemented for
//! SQLite and PostgreSQL, so a repository is written once as ordinary generic code over
//! `B: Backend` (see [`crate::pools`]). sqlx's own bounds for generic code (executors on
//! connections, encodable and decodable types) cannot be carried by a trait, so the trait
//! offers typed binds, column reads and executions instead; each backend implements them
//! with the same one-line bodies. Every statement is the same SQL for both backends except
//! the few the trait's constants name (locks, row-level security scopes, how a writing
//! transaction begins, the audit purge), whose values say why each backend differs.
//!
//! The futures the trait returns are `Send` by signature, and sqlx's own `Database` bounds
//! make connections, rows and arguments `Send`, so generic code over `B` runs under
//! `async_trait` without further bounds.

use std::future::Future;

use cognate_core::StoreError;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{ColumnIndex, Database, Pool, Postgres, Sqlite};

use crate::db::Db;

mod sealed {
    pub trait Sealed {}
    impl Sealed for sqlx::Sqlite {}
    impl Sealed for sqlx::Postgres {}
}

/// A column of a row of either backend: its name, or its position (for an unnamed
/// aggregate such as `count(*)`, which each backend names its own way).
pub(crate) trait Column: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> {}

impl Column for &str {}

impl Column for usize {}

/// A statement with its arguments, for backend `B`.
pub(crate) type Query<'q, B> = sqlx::query::Query<'q, B, <B as Database>::Arguments<'q>>;

/// The operations repository code runs on a backend, and the few statements that differ
/// between backends (each implementation says why its own is what it is).
pub(crate) trait Backend: Database + sealed::Sealed {
    /// The backend's name, `sqlite` or `postgres` (`Store::backend`). Not sqlx's
    /// `Database::NAME` (`SQLite`, `PostgreSQL`), so name the trait: `<B as Backend>::NAME`.
    const NAME: &'static str;
    /// Taken by a publisher of revocation events before it inserts one, until the end of
    /// its transaction, so the feed's sequence numbers commit in order.
    const FEED_LOCK: &'static str;
    /// Confines the current transaction to the tenant (or audit chain) `$1`.
    const SET_TENANT: &'static str;
    /// Opens the current transaction to cross-tenant reads of tenant-owned tables.
    const PLATFORM_SCOPE: &'static str;
    /// Holds the tenant `$1` against deletion until the end of the transaction.
    const HOLD_TENANT: &'static str;
    /// Begins a transaction that reads before it writes and decides on what it read.
    const WRITE_BEGIN: &'static str;
    /// Serialises, until the end of the transaction, changes that could take the last admin
    /// of tenant `$1` away.
    const MEMBERS_LOCK: &'static str;
    /// Serialises, until the end of the transaction, the appenders and purges of the audit
    /// chain `$1`.
    const AUDIT_LOCK: &'static str;
    /// Serialises, until the end of the transaction, the token issues of user `$1` (a pool
    /// id and sub) that count the user's live sessions against a cap.
    const SESSIONS_LOCK: &'static str;
    /// The retention purge of audit chain `$1` before `$2` at `$3`, returning how many events
    /// it deleted, when the serving role may not delete events itself; `None` when the store
    /// purges with its own statements.
    const PURGE_AUDIT: Option<&'static str>;
    /// Announces the change `$1` to every node sharing the database (see
    /// [`crate::changes`]); `None` when the backend serves one node only.
    const NOTIFY: Option<&'static str>;
    /// An expression, in a query over `users u`, for the names of the groups of `u` as a
    /// JSON array of text, in name order, at most `$LIMIT` of them (`[]` for none).
    const GROUP_NAMES: &'static str;

    /// Starts hearing the changes other nodes announce; `Ok(None)` without [`Self::NOTIFY`].
    fn listen(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Option<Box<dyn cognate_core::repo::ChangeFeed>>, StoreError>> + Send;

    fn text<'q>(q: Query<'q, Self>, v: &'q str) -> Query<'q, Self>;
    fn int<'q>(q: Query<'q, Self>, v: i64) -> Query<'q, Self>;
    fn opt_text<'q>(q: Query<'q, Self>, v: Option<&'q str>) -> Query<'q, Self>;
    fn opt_int<'q>(q: Query<'q, Self>, v: Option<i64>) -> Query<'q, Self>;
    fn flag<'q>(q: Query<'q, Self>, v: bool) -> Query<'q, Self>;
    /// Reads a column by name (or by position, for an unnamed aggregate such as
    /// `count(*)`), mapping a failure to [`StoreError::Backend`].
    fn text_col(row: &Self::Row, col: impl Column) -> Result<String, StoreError>;
    fn int_col(row: &Self::Row, col: impl Column) -> Result<i64, StoreError>;
    fn opt_text_col(row: &Self::Row, col: impl Column) -> Result<Option<String>, StoreError>;
    fn opt_int_col(row: &Self::Row, col: impl Column) -> Result<Option<i64>, StoreError>;
    fn flag_col(row: &Self::Row, col: impl Column) -> Result<bool, StoreError>;
    /// Runs the statement on a connection (inside a transaction: `&mut *tx`); how many
    /// rows it changed.
    fn execute_on<'q, 'c>(
        q: Query<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + use<'q, 'c, Self>;
    /// Runs the statement on a connection; its first row, if any.
    fn fetch_optional_on<'q, 'c>(
        q: Query<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + use<'q, 'c, Self>;
    /// Runs the statement on a connection; its first row (`RowNotFound` without one).
    fn fetch_one_on<'q, 'c>(
        q: Query<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> impl Future<Output = Result<Self::Row, sqlx::Error>> + Send + use<'q, 'c, Self>;
    fn fetch_all_on<'q, 'c>(
        q: Query<'q, Self>,
        conn: &'c mut Self::Connection,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + use<'q, 'c, Self>;
    /// Runs the statement on its own (on a connection lent by `db`: see [`Db::lend`]);
    /// its first row, if any.
    fn fetch_optional<'q, 'p>(
        q: Query<'q, Self>,
        db: &'p Db<Self>,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + use<'q, 'p, Self>;
    fn fetch_all<'q, 'p>(
        q: Query<'q, Self>,
        db: &'p Db<Self>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + use<'q, 'p, Self>;
    /// Runs the statement on its own; how many rows it changed.
    fn execute<'q, 'p>(
        q: Query<'q, Self>,
        db: &'p Db<Self>,
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

/// Implements [`Backend`] for `$db` with its own constants; the methods' bodies are the same
/// for both backends, but only compile against a concrete one.
macro_rules! backend {
    ($db:ty { $($constants:tt)* }) => {
        impl Backend for $db {
            $($constants)*

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

            fn text_col(row: &Self::Row, col: impl Column) -> Result<String, StoreError> {
                sqlx::Row::try_get(row, col).map_err(crate::backend_err)
            }

            fn int_col(row: &Self::Row, col: impl Column) -> Result<i64, StoreError> {
                sqlx::Row::try_get(row, col).map_err(crate::backend_err)
            }

            fn opt_text_col(row: &Self::Row, col: impl Column) -> Result<Option<String>, StoreError> {
                sqlx::Row::try_get(row, col).map_err(crate::backend_err)
            }

            fn opt_int_col(row: &Self::Row, col: impl Column) -> Result<Option<i64>, StoreError> {
                sqlx::Row::try_get(row, col).map_err(crate::backend_err)
            }

            fn flag_col(row: &Self::Row, col: impl Column) -> Result<bool, StoreError> {
                sqlx::Row::try_get(row, col).map_err(crate::backend_err)
            }

            fn execute_on<'q, 'c>(
                q: Query<'q, Self>,
                conn: &'c mut Self::Connection,
            ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + use<'q, 'c> {
                async move { Ok(q.execute(conn).await?.rows_affected()) }
            }

            fn fetch_optional_on<'q, 'c>(
                q: Query<'q, Self>,
                conn: &'c mut Self::Connection,
            ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + use<'q, 'c> {
                async move { q.fetch_optional(conn).await }
            }

            fn fetch_one_on<'q, 'c>(
                q: Query<'q, Self>,
                conn: &'c mut Self::Connection,
            ) -> impl Future<Output = Result<Self::Row, sqlx::Error>> + Send + use<'q, 'c> {
                async move { q.fetch_one(conn).await }
            }

            fn fetch_all_on<'q, 'c>(
                q: Query<'q, Self>,
                conn: &'c mut Self::Connection,
            ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + use<'q, 'c> {
                async move { q.fetch_all(conn).await }
            }

            fn fetch_optional<'q, 'p>(
                q: Query<'q, Self>,
                db: &'p Db<Self>,
            ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + use<'q, 'p> {
                async move {
                    let mut loan = db.lend().await?;
                    let row = q.fetch_optional(&mut *loan).await?;
                    loan.finished();
                    Ok(row)
                }
            }

            fn fetch_all<'q, 'p>(
                q: Query<'q, Self>,
                db: &'p Db<Self>,
            ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + use<'q, 'p> {
                async move {
                    let mut loan = db.lend().await?;
                    let rows = q.fetch_all(&mut *loan).await?;
                    loan.finished();
                    Ok(rows)
                }
            }

            fn execute<'q, 'p>(
                q: Query<'q, Self>,
                db: &'p Db<Self>,
            ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + use<'q, 'p> {
                async move {
                    let mut loan = db.lend().await?;
                    let done = q.execute(&mut *loan).await?;
                    loan.finished();
                    Ok(done.rows_affected())
                }
            }
        }
    };
}

backend!(Sqlite {
    const NAME: &'static str = "sqlite";

    /// SQLite runs one writer at a time, so feed numbers already commit in order.
    const FEED_LOCK: &'static str = "SELECT 1";

    /// SQLite has no row-level security; the shared SQL filters by tenant itself, so setting
    /// the tenant is a no-op that still takes the tenant parameter.
    const SET_TENANT: &'static str = "SELECT $1";

    /// No-op: SQLite has no policies to open for cross-tenant reads.
    const PLATFORM_SCOPE: &'static str = "SELECT 1";

    /// No-op that still takes the tenant parameter: SQLite runs one writer at a time, so no
    /// deletion can interleave. (It must not read a table either: a read before the first write
    /// would pin a snapshot that a concurrent writer could make stale, failing the upgrade.)
    const HOLD_TENANT: &'static str = "SELECT $1";

    /// Transactions that read before they write and must decide on what they read (audit
    /// appends and purges read a chain's head; membership changes count a tenant's admins):
    /// `BEGIN IMMEDIATE` takes the write lock first (waiting out other writers), so that read
    /// never pins a snapshot a concurrent writer could make stale (see `HOLD_TENANT`).
    const WRITE_BEGIN: &'static str = "BEGIN IMMEDIATE";

    /// No-op that still takes the tenant parameter: `WRITE_BEGIN` already serialises writers.
    const MEMBERS_LOCK: &'static str = "SELECT $1";

    /// No-op that still takes the chain parameter: `WRITE_BEGIN` already serialises writers.
    const AUDIT_LOCK: &'static str = "SELECT $1";

    /// No-op that still takes the user parameter: `WRITE_BEGIN` already serialises writers.
    const SESSIONS_LOCK: &'static str = "SELECT $1";

    /// SQLite has no privileges to keep the serving code from deleting events: the store purges
    /// inline.
    const PURGE_AUDIT: Option<&'static str> = None;

    /// A SQLite database serves one node: nobody else caches what it changes.
    const NOTIFY: Option<&'static str> = None;

    const GROUP_NAMES: &'static str = "(SELECT json_group_array(g.group_name) FROM (SELECT group_name \
        FROM group_members WHERE pool_id = u.pool_id AND sub = u.sub ORDER BY group_name LIMIT $LIMIT) g)";

    fn listen(
        _pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Option<Box<dyn cognate_core::repo::ChangeFeed>>, StoreError>> + Send {
        std::future::ready(Ok(None))
    }
});

backend!(Postgres {
    const NAME: &'static str = "postgres";

    /// Publishers of revocation events take this transaction-scoped lock so their sequence
    /// numbers commit in order (revocations are rare; one lock for all pools is enough).
    const FEED_LOCK: &'static str = "SELECT pg_advisory_xact_lock(7270617)";

    /// Confines the current transaction to one tenant: the row-level security policies of
    /// tenant-owned tables read this transaction-local setting (see `0004_tenancy.sql`).
    const SET_TENANT: &'static str = "SELECT set_config('app.tenant_id', $1, true)";

    /// Opens the current transaction to cross-tenant **reads** of tenant-owned tables (the
    /// `platform_read` policies). Used only by the store's `platform_scope` helper.
    const PLATFORM_SCOPE: &'static str = "SELECT set_config('app.platform', 'on', true)";

    /// Holds a tenant row against deletion until the end of the transaction (the lock a foreign
    /// key check takes; it does not block other writers of the tenant). Used before writing
    /// rows that reference the tenant when a concurrent deletion must not fail the write.
    const HOLD_TENANT: &'static str = "SELECT 1 FROM tenants WHERE id = $1 FOR KEY SHARE";

    /// Audit writes and guarded membership changes start as any transaction does;
    /// `AUDIT_LOCK` and `MEMBERS_LOCK` order them.
    const WRITE_BEGIN: &'static str = "BEGIN";

    /// Changes that could take a tenant's last admin away take this transaction-scoped lock on
    /// the tenant before counting its admins, so two concurrent demotions or removals run one
    /// after the other and the second sees the first's result (its own namespace: the seed).
    const MEMBERS_LOCK: &'static str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 7270619))";

    /// Appenders (and purges) of one audit chain take this transaction-scoped lock on the
    /// chain, so each reads the head the previous one committed and no two fork the chain.
    /// Keyed by the chain name in a namespace of its own (the seed); `cognate_purge_audit`
    /// takes the same lock.
    const AUDIT_LOCK: &'static str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 7270618))";

    /// Capped token issues of one user take this transaction-scoped lock on the user, so two
    /// concurrent sign-ins each count the sessions the other committed and the cap holds
    /// (its own namespace: the seed).
    const SESSIONS_LOCK: &'static str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 7270620))";

    /// The retention purge: a function that may delete events, which the serving role may not
    /// (see `0008_audit.sql`).
    const PURGE_AUDIT: Option<&'static str> = Some("SELECT cognate_purge_audit($1, $2, $3)");

    /// Sent on commit of the transaction it runs in (or at once outside one); one payload per
    /// transaction however often it is sent there. The serving role needs no privilege for it.
    const NOTIFY: Option<&'static str> = Some("SELECT pg_notify('cognate', $1)");

    const GROUP_NAMES: &'static str = "(SELECT COALESCE(json_agg(g.group_name ORDER BY g.group_name), '[]')::text \
        FROM (SELECT group_name FROM group_members WHERE pool_id = u.pool_id AND sub = u.sub \
        ORDER BY group_name LIMIT $LIMIT) g)";

    fn listen(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Option<Box<dyn cognate_core::repo::ChangeFeed>>, StoreError>> + Send {
        crate::changes::listen(pool)
    }
});
