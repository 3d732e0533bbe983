//! Fresh databases for tests.

use std::future::Future;
use std::sync::Arc;

use cognate_core::repo::Store;
use cognate_store::PgOptions;
use sqlx::Connection as _;
use sqlx::Executor as _;

pub fn admin_url() -> String {
    std::env::var("COGNATE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A URL for a new, empty PostgreSQL database, and a guard that drops it.
pub struct PgDb {
    pub url: String,
    name: String,
}

impl PgDb {
    pub async fn create() -> Self {
        let admin = admin_url();
        let name = unique("cognate_it");
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is unreachable (set COGNATE_TEST_DATABASE_URL): {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        Self { url: format!("{base}/{name}"), name }
    }

    pub async fn drop_db(self) {
        let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
        conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await.unwrap();
    }
}

/// Runs `test` against a fresh SQLite store and a fresh PostgreSQL store.
pub async fn on_both<F, Fut>(test: F)
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = std::env::temp_dir().join(unique("cognate_it"));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite =
        cognate_store::connect(&format!("sqlite://{}/t.db", dir.display()), &PgOptions::default()).await.unwrap();
    assert_eq!(sqlite.backend(), "sqlite");
    test(sqlite).await;
    let _ = std::fs::remove_dir_all(&dir);

    let db = PgDb::create().await;
    let pg = cognate_store::connect(&db.url, &PgOptions::default()).await.unwrap();
    assert_eq!(pg.backend(), "postgres");
    test(pg.clone()).await;
    drop(pg);
    db.drop_db().await;
}
