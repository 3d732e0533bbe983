//! PostgreSQL role separation: requests are served by a role that row-level security
//! binds, and start-up refuses one that it would not.

use cognate_store::{ConnectError, PgOptions};

use crate::harness::{PgDb, admin_url};

#[tokio::test]
async fn serving_role_is_unprivileged_and_a_privileged_one_is_refused() {
    let db = PgDb::create().await;
    let store = cognate_store::connect(&db.url, &PgOptions::default()).await.unwrap();
    store.ping().await.unwrap();
    drop(store);

    // Serving as the superuser (the admin URL as the "service" login) must be refused.
    let opts = PgOptions { service_url: Some(db.url.clone()), max_connections: Some(2) };
    match cognate_store::connect(&db.url, &opts).await {
        Err(ConnectError::UnsafeRole(msg)) => assert!(msg.contains("superuser"), "{msg}"),
        Err(e) => panic!("expected UnsafeRole, got {e}"),
        Ok(_) => panic!("a superuser serving role was accepted"),
    }

    // The role the store serves as cannot bypass RLS and owns nothing.
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
            .bind(cognate_store::SERVICE_ROLE)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!superuser && !bypass);
    let owned: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tableowner = $1")
        .bind(cognate_store::SERVICE_ROLE)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(owned, 0);
    conn.close().await.unwrap();
    let _ = admin_url();
    db.drop_db().await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let db = PgDb::create().await;
    assert_eq!(
        cognate_store::migrate(&db.url).await.unwrap(),
        (1..=17).chain([19, 20, 21, 22, 23]).collect::<Vec<i64>>()
    );
    assert!(cognate_store::migrate(&db.url).await.unwrap().is_empty());
    db.drop_db().await;
    let dir = std::env::temp_dir().join(format!("cognate_it_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/m.db", dir.display());
    assert_eq!(cognate_store::migrate(&url).await.unwrap(), (1..=17).chain([19, 20, 21, 22, 23]).collect::<Vec<i64>>());
    assert!(cognate_store::migrate(&url).await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
