//! Change announcements: a PostgreSQL store's listener hears what another store on the same
//! database committed (signing keys, revocations), never what was rolled back; a SQLite
//! store, serving one node, has no listener.

use std::time::Duration;

use cognate_core::SystemRng;
use cognate_core::change::Change;
use cognate_core::crypto::MasterKey;
use cognate_core::repo::ChangeFeed;
use cognate_store::PgOptions;

use crate::harness::on_both;
use crate::pools::pool;
use crate::tokens::family;

/// The next change heard within two seconds (PostgreSQL delivers in milliseconds).
async fn heard(feed: &mut Box<dyn ChangeFeed>) -> Option<Change> {
    tokio::time::timeout(Duration::from_secs(2), feed.next()).await.ok().map(|c| c.unwrap().unwrap())
}

#[tokio::test]
async fn committed_changes_reach_another_stores_listener() {
    on_both(|store| async move {
        let Some(mut feed) = store.listen().await.unwrap() else {
            assert_eq!(store.backend(), "sqlite", "only a single-node store may have no listener");
            return;
        };
        let p = pool("changes");
        store.create_pool(&p).await.unwrap();
        let master = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
        let (rec, _) = cognate_core::jwt::generate_key(&p.id, &SystemRng, &master, 5).unwrap();
        store.create_signing_key(&rec).await.unwrap();
        assert_eq!(heard(&mut feed).await, Some(Change::Keys(p.id.clone())));
        store.retire_signing_key(&p.id, &rec.kid, 9).await.unwrap();
        assert_eq!(heard(&mut feed).await, Some(Change::Keys(p.id.clone())));

        // A revocation is announced once its transaction commits; a refused one (nothing
        // to revoke: rolled back) is not.
        store.create_family(&family(&p, "fam-1", "sub-1", 10), None).await.unwrap();
        assert!(!store.revoke_family(&p.id, "no-such-family", 11).await.unwrap());
        assert!(store.revoke_family(&p.id, "fam-1", 12).await.unwrap());
        assert_eq!(heard(&mut feed).await, Some(Change::Revoked(p.id.clone())));
        assert_eq!(tokio::time::timeout(Duration::from_millis(200), feed.next()).await.ok().map(|c| c.unwrap()), None);
    })
    .await;
}

#[tokio::test]
async fn a_listener_hears_other_connections_and_reports_a_lost_connection() {
    let db = crate::harness::PgDb::create().await;
    let (a, b) = (
        cognate_store::connect(&db.url, &PgOptions::default()).await.unwrap(),
        cognate_store::connect(&db.url, &PgOptions::default()).await.unwrap(),
    );
    let mut feed = b.listen().await.unwrap().unwrap();
    let p = pool("nodes");
    a.create_pool(&p).await.unwrap();
    let master = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
    let (rec, _) = cognate_core::jwt::generate_key(&p.id, &SystemRng, &master, 5).unwrap();
    a.create_signing_key(&rec).await.unwrap();
    assert_eq!(heard(&mut feed).await, Some(Change::Keys(p.id.clone())));
    // The connection dies (a failover, an idle-session reaper): the feed says so instead of
    // reconnecting quietly, so the node knows it may have missed changes.
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'")
        .execute(&mut admin)
        .await
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(5), feed.next()).await.expect("the loss is reported");
    assert!(lost.is_err(), "{lost:?}");
    drop((feed, a, b));
    db.drop_db().await;
}

#[tokio::test]
async fn pooled_connections_killed_while_idle_are_replaced_before_use() {
    let db = crate::harness::PgDb::create().await;
    let store = cognate_store::connect(&db.url, &PgOptions::default()).await.unwrap();
    // Several connections in use at once, then idle in the pool.
    let p = pool("idle");
    store.create_pool(&p).await.unwrap();
    let found =
        tokio::join!(store.get_pool(&p.id), store.get_pool(&p.id), store.get_pool(&p.id), store.get_pool(&p.id));
    for found in [found.0, found.1, found.2, found.3] {
        assert!(found.unwrap().is_some());
    }
    // Every one of them dies (a database restart, an idle-session reaper) while idle...
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!killed.is_empty() && killed.iter().all(|k| *k), "{killed:?}");
    // ...and the next uses, a second later, get live ones: each was checked before use.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for _ in 0..8 {
        assert!(store.get_pool(&p.id).await.unwrap().is_some());
    }
    drop((store, admin));
    db.drop_db().await;
}
