//! Cross-node propagation in-process: two applications on one PostgreSQL database, the
//! second listening for changes. A rotation on the first reaches the second's cached key
//! ring and verification keys at once, although both would be trusted for a minute while
//! the listener is up; on SQLite (one node) there is nothing to listen to.

use std::sync::Arc;
use std::time::Duration;

use cognate_core::SystemClock;
use cognate_server::propagation::spawn_listener;
use cognate_server::services::signing_keys;
use cognate_server::{AppState, bootstrap};

use crate::support::{PgDb, TestApp};

/// Waits up to two seconds for `done`, asking every 5 ms.
async fn within_two_seconds<F, Fut>(mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "no effect within 2 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn signing_kid(state: &AppState, pool: &cognate_core::ids::PoolId) -> String {
    state.keys.get(state, pool).await.unwrap().signer.kid.clone()
}

#[tokio::test]
async fn a_rotation_on_one_node_reaches_the_others_caches_at_once() {
    let db = PgDb::create().await;
    let a = TestApp::on(Some(&db.url), Arc::new(SystemClock)).await;
    let b = a.restart().await;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let listener = spawn_listener(b.state.clone(), stop_rx);
    within_two_seconds(|| async { b.state.propagation.listening() }).await;
    assert!(b.state.propagation.cache_ttl_ms() >= 60_000, "caches are trusted longer while listening");

    let pool = bootstrap::ensure_shared_pool(&a.state).await.unwrap();
    let old = signing_kid(&b.state, &pool).await;
    let cached = b.state.keys.verification_keys(&b.state, &pool, &old).await.unwrap();
    assert!(cached.iter().any(|k| k.kid == old));

    let new = signing_keys::rotate_here(&a.state, &pool).await.unwrap();
    within_two_seconds(|| async { signing_kid(&b.state, &pool).await == new }).await;
    // Retiring the old key elsewhere: B's verification keys show it retired at once.
    signing_keys::retire_here(&a.state, &pool, &old).await.unwrap();
    within_two_seconds(|| async {
        let keys = b.state.keys.verification_keys(&b.state, &pool, &old).await.unwrap();
        keys.iter().any(|k| k.kid == old && k.retired_at.is_some())
    })
    .await;

    stop.send(true).unwrap();
    listener.await.unwrap();
    assert!(!b.state.propagation.listening());
    drop((a, b));
    db.drop_db().await;
}

#[tokio::test]
async fn a_single_node_store_has_no_listener() {
    let app = TestApp::new().await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::time::timeout(Duration::from_secs(5), spawn_listener(app.state.clone(), stop_rx))
        .await
        .expect("the listener ends at once on SQLite")
        .unwrap();
    assert!(!app.state.propagation.listening());
    assert_eq!(app.state.propagation.cache_ttl_ms(), cognate_server::state::DEFAULT_CACHE_REFRESH_MS);
}
