//! Storage: connecting, migrating, and the queries — one SQL text for both backends, every
//! statement filtered by `tenant_id = $1` through `TenantTx::tenant_query*` (on PostgreSQL
//! row-level security confines them a second time).

use std::future::Future;
use std::str::FromStr;

use anyhow::Context as _;
use cognate_guard::{TenantDatabase, TenantPool, TenantTx};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, PgPool, Postgres, Sqlite, SqlitePool};

/// The unprivileged role the PostgreSQL migrations create and requests run as.
pub const SERVICE_ROLE: &str = "notes_service";

const PG_MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/postgres/0001_init.sql"))];
const SQLITE_MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/sqlite/0001_init.sql"))];

/// Creates the service role if the cluster lacks it (roles are cluster-wide, so several
/// databases starting at once may race here, hence the handler).
const ENSURE_ROLE: &str = "DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'notes_service') THEN
        CREATE ROLE notes_service NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$";

/// Data access for the service role, no DDL, no ownership.
const GRANTS: &str = "GRANT USAGE ON SCHEMA public TO notes_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON projects, notes TO notes_service;
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'notes_service', 'MEMBER') THEN
        EXECUTE format('GRANT notes_service TO %I', current_user);
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot grant notes_service to %; use NOTES_SERVICE_DATABASE_URL', current_user;
END $$";

/// Migrates as the owner (`url`), then opens the serving pool: `service_url` if given, else
/// `url` switched to [`SERVICE_ROLE`] on every connection. The pool must pass
/// `cognate_guard::check_rls_role`.
pub async fn connect_postgres(url: &str, service_url: Option<&str>) -> anyhow::Result<TenantPool<Postgres>> {
    let options = |url: &str| -> anyhow::Result<PgConnectOptions> {
        Ok(PgConnectOptions::from_str(url)?.disable_statement_logging())
    };
    let mut owner = options(url)?.connect().await.context("connecting to NOTES_DATABASE_URL")?;
    owner.execute(ENSURE_ROLE).await.context("creating the notes_service role")?;
    let mut tx = owner.begin().await?;
    tx.execute("SELECT pg_advisory_xact_lock(7270618)").await?;
    tx.execute("CREATE TABLE IF NOT EXISTS notes_migrations (version BIGINT PRIMARY KEY)").await?;
    for (version, sql) in PG_MIGRATIONS {
        let done: Option<i64> = sqlx::query_scalar("SELECT version FROM notes_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_none() {
            sqlx::raw_sql(sql).execute(&mut *tx).await.with_context(|| format!("migration {version}"))?;
            sqlx::query("INSERT INTO notes_migrations (version) VALUES ($1)").bind(version).execute(&mut *tx).await?;
        }
    }
    tx.execute(GRANTS).await.context("granting to notes_service")?;
    tx.commit().await?;
    owner.close().await?;

    let pool_options = PgPoolOptions::new().max_connections(16);
    let pool: PgPool = match service_url {
        Some(service) => pool_options.connect_with(options(service)?).await.context("NOTES_SERVICE_DATABASE_URL")?,
        None => pool_options
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET ROLE notes_service").await?;
                    Ok(())
                })
            })
            .connect_with(options(url)?)
            .await
            .context("NOTES_DATABASE_URL")?,
    };
    TenantPool::new(pool).await.context("the serving role could bypass row-level security")
}

/// Opens (creating if missing) and migrates an SQLite database.
pub async fn connect_sqlite(url: &str) -> anyhow::Result<TenantPool<Sqlite>> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .disable_statement_logging();
    let pool: SqlitePool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
    let mut tx = pool.begin().await?;
    tx.execute("CREATE TABLE IF NOT EXISTS notes_migrations (version INTEGER PRIMARY KEY)").await?;
    for (version, sql) in SQLITE_MIGRATIONS {
        let done: Option<i64> = sqlx::query_scalar("SELECT version FROM notes_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_none() {
            sqlx::raw_sql(sql).execute(&mut *tx).await.with_context(|| format!("migration {version}"))?;
            sqlx::query("INSERT INTO notes_migrations (version) VALUES ($1)").bind(version).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(TenantPool::new(pool).await?)
}

/// A project. On the wire: camelCase, times in epoch seconds (as Cognate's `/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// Stored in milliseconds, shown in seconds.
    #[serde(serialize_with = "as_seconds")]
    pub created_at: i64,
}

/// A note. On the wire: camelCase, times in epoch seconds (as Cognate's `/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub id: String,
    pub tenant_id: String,
    pub project_id: String,
    pub title: String,
    pub body: String,
    /// Stored in milliseconds, shown in seconds.
    #[serde(serialize_with = "as_seconds")]
    pub created_at: i64,
}

fn as_seconds<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(ms.div_euclid(1000))
}

type ProjectRow = (String, String, String, i64);
type NoteRow = (String, String, String, String, String, i64);

impl From<ProjectRow> for Project {
    fn from((id, tenant_id, name, created_at): ProjectRow) -> Self {
        Self { id, tenant_id, name, created_at }
    }
}

impl From<NoteRow> for Note {
    fn from((id, tenant_id, project_id, title, body, created_at): NoteRow) -> Self {
        Self { id, tenant_id, project_id, title, body, created_at }
    }
}

type Tx<DB> = TenantTx<DB>;
type Res<T> = Result<T, sqlx::Error>;

/// The queries, for both backends. `None` / `false` mean "not in the caller's tenant".
pub trait Repo: TenantDatabase {
    fn list_projects(tx: &mut Tx<Self>) -> impl Future<Output = Res<Vec<Project>>> + Send;
    fn create_project(
        tx: &mut Tx<Self>,
        id: String,
        name: String,
        now: i64,
    ) -> impl Future<Output = Res<Project>> + Send;
    fn get_project(tx: &mut Tx<Self>, id: String) -> impl Future<Output = Res<Option<Project>>> + Send;
    fn rename_project(tx: &mut Tx<Self>, id: String, name: String)
    -> impl Future<Output = Res<Option<Project>>> + Send;
    fn delete_project(tx: &mut Tx<Self>, id: String) -> impl Future<Output = Res<bool>> + Send;
    fn list_notes(tx: &mut Tx<Self>, project_id: String) -> impl Future<Output = Res<Vec<Note>>> + Send;
    fn create_note(tx: &mut Tx<Self>, note: Note) -> impl Future<Output = Res<Note>> + Send;
    fn get_note(tx: &mut Tx<Self>, id: String) -> impl Future<Output = Res<Option<Note>>> + Send;
    fn update_note(
        tx: &mut Tx<Self>,
        id: String,
        title: Option<String>,
        body: Option<String>,
    ) -> impl Future<Output = Res<Option<Note>>> + Send;
    fn delete_note(tx: &mut Tx<Self>, id: String) -> impl Future<Output = Res<bool>> + Send;
    /// DELIBERATELY UNFILTERED: `SELECT … FROM notes` without a tenant condition, to show
    /// that row-level security confines it anyway. Never write a query like this.
    fn all_notes_unfiltered(tx: &mut Tx<Self>) -> impl Future<Output = Res<Vec<Note>>> + Send;
}

macro_rules! repo_impl {
    ($db:ty) => {
        impl Repo for $db {
            async fn list_projects(tx: &mut Tx<Self>) -> Res<Vec<Project>> {
                let sql =
                    "SELECT id, tenant_id, name, created_at FROM projects WHERE tenant_id = $1 ORDER BY created_at, id";
                let rows: Vec<ProjectRow> = tx.tenant_query_as(sql).fetch_all(tx.conn()).await?;
                Ok(rows.into_iter().map(Project::from).collect())
            }

            async fn create_project(tx: &mut Tx<Self>, id: String, name: String, now: i64) -> Res<Project> {
                let sql = "INSERT INTO projects (tenant_id, id, name, created_at) VALUES ($1, $2, $3, $4)
                           RETURNING id, tenant_id, name, created_at";
                let row: ProjectRow =
                    tx.tenant_query_as(sql).bind(id).bind(name).bind(now).fetch_one(tx.conn()).await?;
                Ok(row.into())
            }

            async fn get_project(tx: &mut Tx<Self>, id: String) -> Res<Option<Project>> {
                let sql = "SELECT id, tenant_id, name, created_at FROM projects WHERE tenant_id = $1 AND id = $2";
                let row: Option<ProjectRow> = tx.tenant_query_as(sql).bind(id).fetch_optional(tx.conn()).await?;
                Ok(row.map(Project::from))
            }

            async fn rename_project(tx: &mut Tx<Self>, id: String, name: String) -> Res<Option<Project>> {
                let sql = "UPDATE projects SET name = $3 WHERE tenant_id = $1 AND id = $2
                           RETURNING id, tenant_id, name, created_at";
                let row: Option<ProjectRow> =
                    tx.tenant_query_as(sql).bind(id).bind(name).fetch_optional(tx.conn()).await?;
                Ok(row.map(Project::from))
            }

            async fn delete_project(tx: &mut Tx<Self>, id: String) -> Res<bool> {
                let sql = "DELETE FROM projects WHERE tenant_id = $1 AND id = $2 RETURNING id";
                let row: Option<String> = tx.tenant_query_scalar(sql).bind(id).fetch_optional(tx.conn()).await?;
                Ok(row.is_some())
            }

            async fn list_notes(tx: &mut Tx<Self>, project_id: String) -> Res<Vec<Note>> {
                let sql = "SELECT id, tenant_id, project_id, title, body, created_at FROM notes
                           WHERE tenant_id = $1 AND project_id = $2 ORDER BY created_at, id";
                let rows: Vec<NoteRow> = tx.tenant_query_as(sql).bind(project_id).fetch_all(tx.conn()).await?;
                Ok(rows.into_iter().map(Note::from).collect())
            }

            async fn create_note(tx: &mut Tx<Self>, note: Note) -> Res<Note> {
                let sql = "INSERT INTO notes (tenant_id, id, project_id, title, body, created_at)
                           VALUES ($1, $2, $3, $4, $5, $6)
                           RETURNING id, tenant_id, project_id, title, body, created_at";
                let row: NoteRow = tx
                    .tenant_query_as(sql)
                    .bind(note.id)
                    .bind(note.project_id)
                    .bind(note.title)
                    .bind(note.body)
                    .bind(note.created_at)
                    .fetch_one(tx.conn())
                    .await?;
                Ok(row.into())
            }

            async fn get_note(tx: &mut Tx<Self>, id: String) -> Res<Option<Note>> {
                let sql = "SELECT id, tenant_id, project_id, title, body, created_at FROM notes
                           WHERE tenant_id = $1 AND id = $2";
                let row: Option<NoteRow> = tx.tenant_query_as(sql).bind(id).fetch_optional(tx.conn()).await?;
                Ok(row.map(Note::from))
            }

            async fn update_note(
                tx: &mut Tx<Self>,
                id: String,
                title: Option<String>,
                body: Option<String>,
            ) -> Res<Option<Note>> {
                let sql = "UPDATE notes SET title = COALESCE($3, title), body = COALESCE($4, body)
                           WHERE tenant_id = $1 AND id = $2
                           RETURNING id, tenant_id, project_id, title, body, created_at";
                let row: Option<NoteRow> =
                    tx.tenant_query_as(sql).bind(id).bind(title).bind(body).fetch_optional(tx.conn()).await?;
                Ok(row.map(Note::from))
            }

            async fn delete_note(tx: &mut Tx<Self>, id: String) -> Res<bool> {
                let sql = "DELETE FROM notes WHERE tenant_id = $1 AND id = $2 RETURNING id";
                let row: Option<String> = tx.tenant_query_scalar(sql).bind(id).fetch_optional(tx.conn()).await?;
                Ok(row.is_some())
            }

            async fn all_notes_unfiltered(tx: &mut Tx<Self>) -> Res<Vec<Note>> {
                // No tenant condition on purpose; see the trait docs.
                let sql =
                    "SELECT id, tenant_id, project_id, title, body, created_at FROM notes ORDER BY created_at, id";
                let rows: Vec<NoteRow> = sqlx::query_as(sql).fetch_all(tx.conn()).await?;
                Ok(rows.into_iter().map(Note::from).collect())
            }
        }
    };
}

repo_impl!(Postgres);
repo_impl!(Sqlite);
