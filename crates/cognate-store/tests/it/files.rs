//! The SQLite files hold password hashes and sealed secrets: owner-only, whatever the umask.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use cognate_store::PgOptions;

use crate::harness::unique;
use crate::pools::pool;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn database_files_are_created_and_kept_owner_only() {
    let dir = std::env::temp_dir().join(unique("cognate_files"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("cognate.db");
    let url = format!("sqlite://{}", db.display());

    let store = cognate_store::connect(&url, &PgOptions::default()).await.unwrap();
    // A write, so the WAL and shared-memory files exist while the store is open.
    store.create_pool(&pool("files")).await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.join(format!("cognate.db{suffix}"));
        assert!(file.exists(), "{} missing", file.display());
        assert_eq!(mode(&file), 0o600, "{} is {:o}", file.display(), mode(&file));
    }
    drop(store);

    // Files left world-readable (by an older version, a copy, a restore) are tightened.
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.join(format!("cognate.db{suffix}"));
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let store = cognate_store::connect(&url, &PgOptions::default()).await.unwrap();
    store.create_pool(&pool("again")).await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.join(format!("cognate.db{suffix}"));
        if file.exists() {
            assert_eq!(mode(&file), 0o600, "{} is {:o}", file.display(), mode(&file));
        }
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
