//! The connections a store keeps aside between single statements (`db.rs`): a statement
//! abandoned part-way leaves no answer behind for the next, kept connections count as
//! idle, and they yield to transactions when the pool runs dry.

use std::time::Duration;

use cognate_core::tenant::TenantId;
use cognate_store::PgOptions;

use crate::harness::{PgDb, on_both};
use crate::pools::pool;

#[tokio::test]
async fn statements_abandoned_part_way_leave_no_answer_for_the_next() {
    let db = PgDb::create().await;
    let store = cognate_store::connect(&db.url, &PgOptions::default()).await.unwrap();
    let (p, q) = (pool("p"), pool("q"));
    store.create_pool(&p).await.unwrap();
    store.create_pool(&q).await.unwrap();
    // Reads of the pools' table wait behind a lock held elsewhere, and their callers give
    // up (a client went away): each connection is left with a statement in flight.
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    let mut holder = sqlx::Connection::begin(&mut admin).await.unwrap();
    sqlx::Executor::execute(&mut *holder, "LOCK TABLE pools IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let abandoned = tokio::join!(
        tokio::time::timeout(Duration::from_millis(300), store.get_pool(&p.id)),
        tokio::time::timeout(Duration::from_millis(300), store.get_pool(&p.id)),
        tokio::time::timeout(Duration::from_millis(300), store.get_pool(&p.id)),
    );
    assert!(abandoned.0.is_err() && abandoned.1.is_err() && abandoned.2.is_err());
    // The lock goes: the abandoned statements finish on the server and their rows arrive
    // on connections nobody is reading. Every later read still gets its own answer.
    holder.commit().await.unwrap();
    for i in 0..24 {
        let want = if i % 2 == 0 { &p } else { &q };
        let got = store.get_pool(&want.id).await.unwrap().unwrap();
        assert_eq!(got.id, want.id, "read {i}");
    }
    let both = tokio::join!(store.get_pool(&p.id), store.get_pool(&q.id), store.get_pool(&p.id));
    assert_eq!(both.0.unwrap().unwrap().id, p.id);
    assert_eq!(both.1.unwrap().unwrap().id, q.id);
    assert_eq!(both.2.unwrap().unwrap().id, p.id);
    drop((store, admin));
    db.drop_db().await;
}

#[tokio::test]
async fn kept_connections_count_as_idle() {
    on_both(|store| async move {
        let p = pool("idle");
        store.create_pool(&p).await.unwrap();
        let found = tokio::join!(
            store.get_pool(&p.id),
            store.get_pool(&p.id),
            store.get_pool(&p.id),
            store.get_pool(&p.id),
            store.get_pool(&p.id),
        );
        for found in [found.0, found.1, found.2, found.3, found.4] {
            assert!(found.unwrap().is_some());
        }
        // Nothing is in use now. sqlx gives a connection back to its pool from a task of its
        // own: wait for those to land, but not as long as the second after which the kept
        // ones go back to sqlx too (they must count as idle while kept).
        let mut usage = store.pool_usage();
        for _ in 0..10 {
            if usage.idle == usage.size {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            usage = store.pool_usage();
        }
        assert!(usage.size >= 1 && usage.idle == usage.size && usage.size <= usage.max, "{usage:?}");
    })
    .await;
}

#[tokio::test]
async fn kept_connections_yield_to_transactions_when_the_pool_runs_dry() {
    let db = PgDb::create().await;
    // Four connections at most, one of which may be kept aside.
    let store =
        cognate_store::connect(&db.url, &PgOptions { max_connections: Some(4), ..PgOptions::default() }).await.unwrap();
    let p = pool("dry");
    store.create_pool(&p).await.unwrap();
    let found =
        tokio::join!(store.get_pool(&p.id), store.get_pool(&p.id), store.get_pool(&p.id), store.get_pool(&p.id));
    for found in [found.0, found.1, found.2, found.3] {
        assert!(found.unwrap().is_some());
    }
    // Four units of work at once need every connection, the kept one too; were it never
    // given back (at once, or by the sweep a second later), the fourth would wait for
    // sqlx's acquire timeout (30 s).
    let tenant = |i: u32| TenantId::parse(&format!("dry-{i}")).unwrap();
    let (t0, t1, t2, t3) = (tenant(0), tenant(1), tenant(2), tenant(3));
    let works = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(store.begin_tenant(&t0), store.begin_tenant(&t1), store.begin_tenant(&t2), store.begin_tenant(&t3))
    })
    .await
    .expect("four transactions on a pool of four");
    let works = [works.0.unwrap(), works.1.unwrap(), works.2.unwrap(), works.3.unwrap()];
    assert_eq!(store.pool_usage().size, 4);
    drop(works);
    // Single statements go on as before.
    assert!(store.get_pool(&p.id).await.unwrap().is_some());
    drop(store);
    db.drop_db().await;
}
