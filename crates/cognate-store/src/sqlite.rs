//! The embedded SQLite backend (the default): one file in the data directory, WAL
//! journal, `synchronous = FULL` so a committed write survives a crash of the process or
//! the machine.

use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::ConnectError;
use crate::migrate::{SQLITE, run_migrations};

pub(crate) type SqliteStore = crate::store::SqlStore<sqlx::Sqlite>;

fn options(url: &str) -> Result<SqliteConnectOptions, ConnectError> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| ConnectError::Connect(e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .disable_statement_logging())
}

pub(crate) async fn migrate_only(url: &str) -> Result<Vec<i64>, ConnectError> {
    use sqlx::ConnectOptions as _;
    let options = options(url)?;
    restrict_files(&options)?;
    let mut conn = options.connect().await.map_err(|e| ConnectError::Connect(e.to_string()))?;
    run_migrations!(&mut conn, SQLITE, None::<&str>)
}

/// The database file and its `-wal` / `-shm` companions hold password hashes and sealed
/// secrets: they are readable by their owner only. The file is created 0600 before SQLite
/// opens it (SQLite gives the WAL and shared-memory files the database file's mode), and
/// existing files with looser modes are tightened with a warning.
fn restrict_files(options: &SqliteConnectOptions) -> Result<(), ConnectError> {
    let path = options.get_filename();
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let io = |what: &str, e: std::io::Error| ConnectError::Connect(format!("{what} {}: {e}", path.display()));
        if !path.exists() {
            let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
            match created {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("creating", e)),
            }
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = std::path::Path::new(&name);
            let Ok(meta) = std::fs::metadata(file) else { continue };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %file.display(),
                    mode = format!("{mode:o}"),
                    "database file readable by others; restricting it to its owner (0600)"
                );
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| io("restricting", e))?;
            }
        }
    }
    Ok(())
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str) -> Result<Self, ConnectError> {
        migrate_only(url).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A connection to a file in this process cannot drop the way a network one can;
            // sqlx's check before each use is a round trip to the connection's worker thread
            // that doubled the thread hand-offs of every query.
            .test_before_acquire(false)
            .connect_with(options(url)?)
            .await
            .map_err(|e| ConnectError::Connect(e.to_string()))?;
        Ok(Self::new(pool))
    }
}
