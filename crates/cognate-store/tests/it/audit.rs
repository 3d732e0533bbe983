//! The audit trail: hash chains written under a per-chain lock, read back with filters,
//! purged down to an anchor, confined to their tenant and append-only for the serving role.

use std::sync::Arc;

use cognate_core::StoreError;
use cognate_core::audit::{
    Anchor, AuditEvent, AuditQuery, ChainBreak, GENESIS, NewEvent, PLATFORM_CHAIN, chain, verify_chain,
};
use cognate_core::repo::Store;
use sqlx::Connection as _;
use sqlx::Executor as _;

use crate::harness::{PgDb, admin_url, on_both};

/// The anchor key purges sign with (a server derives it from its master key).
const KEY: [u8; 32] = [42; 32];
use crate::tenancy::tenants_seen;

/// A sign-in of `user:a` to `chain`, at `at`, with id `id`.
fn event(chain: &str, id: &str, at: i64) -> NewEvent {
    NewEvent {
        chain: chain.into(),
        id: id.into(),
        at,
        pool_id: Some("eu-west-1_shared".into()),
        actor: "user:a".into(),
        action: "auth.sign_in".into(),
        target: Some("a".into()),
        outcome: "success".into(),
        reason: None,
        source_ip: Some("192.0.2.1".into()),
        user_agent: Some("curl/8".into()),
        request_id: Some(format!("req-{id}")),
    }
}

fn query(limit: u32) -> AuditQuery {
    AuditQuery { limit, ..AuditQuery::default() }
}

/// The whole chain in `seq` order.
async fn all(store: &dyn Store, chain: &str) -> Vec<AuditEvent> {
    store.audit_chain_page(chain, 0, 100_000).await.unwrap()
}

/// Verifies the whole chain from its anchor (if it was purged).
async fn verify(store: &dyn Store, chain: &str) -> Result<u64, ChainBreak> {
    let anchor = store.audit_anchor(chain).await.unwrap();
    verify_chain(&all(store, chain).await, anchor.as_ref())
}

fn seqs(events: &[AuditEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

/// What the store must have written for `events` appended to an empty chain.
fn expected_chain(events: &[NewEvent]) -> Vec<AuditEvent> {
    let mut out: Vec<AuditEvent> = Vec::new();
    for e in events {
        let (seq, hash) = out.last().map_or((0, GENESIS.to_owned()), |last| (last.seq, last.hash.clone()));
        out.push(chain(e.clone(), seq, &hash));
    }
    out
}

#[tokio::test]
async fn appended_events_are_chained_read_back_and_verify() {
    on_both(|store| async move {
        assert!(all(&*store, "acme").await.is_empty());
        assert!(store.audit_chains().await.unwrap().is_empty());
        store.append_audit(&[]).await.unwrap();

        let minimal = NewEvent {
            pool_id: None,
            target: None,
            reason: None,
            source_ip: None,
            user_agent: None,
            request_id: None,
            actor: "anonymous".into(),
            outcome: "failure".into(),
            ..event("acme", "a2", 20)
        };
        let acme = [event("acme", "a1", 10), minimal, event("acme", "a3", 30), event("acme", "a4", 40)];
        // One batch across chains, interleaved: each chain keeps the given order.
        store
            .append_audit(&[
                acme[0].clone(),
                event("globex", "g1", 11),
                acme[1].clone(),
                event(PLATFORM_CHAIN, "p1", 12),
            ])
            .await
            .unwrap();
        store.append_audit(&acme[2..]).await.unwrap();

        let stored = all(&*store, "acme").await;
        assert_eq!(stored, expected_chain(&acme));
        assert_eq!(seqs(&stored), [1, 2, 3, 4]);
        assert_eq!(stored[0].prev_hash, GENESIS);
        assert_eq!(verify_chain(&stored, None), Ok(4));
        assert_eq!(all(&*store, "globex").await, expected_chain(&[event("globex", "g1", 11)]));
        assert_eq!(verify(&*store, PLATFORM_CHAIN).await, Ok(1));

        // Newest first, and in pages of the chain in seq order.
        let newest = store.audit_events("acme", &query(10)).await.unwrap();
        assert_eq!(seqs(&newest), [4, 3, 2, 1]);
        assert_eq!(newest[2], stored[1]);
        assert_eq!(seqs(&store.audit_chain_page("acme", 1, 2).await.unwrap()), [2, 3]);
        assert_eq!(seqs(&store.audit_chain_page("acme", 3, 2).await.unwrap()), [4]);
        assert!(store.audit_chain_page("acme", 4, 2).await.unwrap().is_empty());

        assert_eq!(store.audit_chains().await.unwrap(), ["acme", "globex", PLATFORM_CHAIN]);
        assert_eq!(store.audit_anchor("acme").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_large_batch_is_written_whole_and_in_order() {
    on_both(|store| async move {
        // 75 events of one chain (written as 64 + 8 + 1 + 1 + 1 rows) and 9 of another,
        // interleaved, with and without their optional fields.
        let mut acme = Vec::new();
        let mut batch = Vec::new();
        for i in 0..84 {
            let e = if i % 9 == 4 {
                event("globex", &format!("g{i}"), i)
            } else if i % 2 == 0 {
                NewEvent { target: None, reason: None, request_id: None, ..event("acme", &format!("a{i}"), i) }
            } else {
                event("acme", &format!("a{i}"), i)
            };
            if e.chain == "acme" {
                acme.push(e.clone());
            }
            batch.push(e);
        }
        assert_eq!(acme.len(), 75);
        store.append_audit(&batch).await.unwrap();
        let stored = all(&*store, "acme").await;
        assert_eq!(stored, expected_chain(&acme));
        assert_eq!(verify(&*store, "acme").await, Ok(75));
        assert_eq!(verify(&*store, "globex").await, Ok(9));
        // A duplicate id in the last statement of a batch takes the whole batch back.
        let mut again = vec![event("acme", "b1", 100); 9];
        for (i, e) in again.iter_mut().enumerate() {
            e.id = format!("b{i}");
        }
        again.push(event("acme", "a1", 101));
        assert!(store.append_audit(&again).await.is_err());
        assert_eq!(verify(&*store, "acme").await, Ok(75));
    })
    .await;
}

#[tokio::test]
async fn an_append_is_all_or_nothing_and_only_to_real_chains() {
    on_both(|store| async move {
        store.append_audit(&[event("acme", "a1", 1)]).await.unwrap();
        // A taken id fails the whole batch, the other chain's events included.
        let batch = [event("globex", "g1", 2), event("acme", "a2", 2), event("acme", "a1", 2)];
        assert!(matches!(store.append_audit(&batch).await, Err(StoreError::Conflict("audit event"))));
        assert_eq!(seqs(&all(&*store, "acme").await), [1]);
        assert!(all(&*store, "globex").await.is_empty());
        assert_eq!(store.audit_chains().await.unwrap(), ["acme"]);

        for bad in ["", "*", "Acme", "~other", "a"] {
            let err = store.append_audit(&[event("acme", "a9", 3), event(bad, "x1", 3)]).await.unwrap_err();
            assert!(matches!(err, StoreError::Corrupt(_)), "{bad}: {err}");
            assert!(store.purge_audit(bad, 100, 100, &KEY).await.is_err(), "{bad}");
        }
        assert_eq!(seqs(&all(&*store, "acme").await), [1]);
        assert!(all(&*store, "").await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_keep_each_chain_unbroken() {
    on_both(|store| async move {
        const TASKS: usize = 8;
        const CALLS: usize = 25;
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for call in 0..CALLS {
                        // Two chains per batch, in opposite orders on alternate tasks: no
                        // fork, no lost event, no deadlock.
                        let mut batch = vec![
                            event("acme", &format!("a-{task}-{call}"), 1),
                            event("globex", &format!("g-{task}-{call}"), 1),
                        ];
                        if task % 2 == 1 {
                            batch.reverse();
                        }
                        store.append_audit(&batch).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let total = (TASKS * CALLS) as u64;
        for c in ["acme", "globex"] {
            let events = all(&*store, c).await;
            assert_eq!(verify_chain(&events, None), Ok(total), "{c}");
            // Each task's events are in its order within the chain.
            for task in 0..TASKS {
                let mine: Vec<&str> = events
                    .iter()
                    .map(|e| e.event.id.as_str())
                    .filter(|id| id[2..].starts_with(&format!("{task}-")))
                    .collect();
                let wanted: Vec<String> = (0..CALLS).map(|call| format!("{}-{task}-{call}", &c[..1])).collect();
                assert_eq!(mine, wanted, "{c}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn events_filter_and_page_newest_first() {
    on_both(|store| async move {
        let e = |id: &str, at: i64, action: &str, actor: &str, outcome: &str| NewEvent {
            action: action.into(),
            actor: actor.into(),
            outcome: outcome.into(),
            ..event("acme", id, at)
        };
        store
            .append_audit(&[
                e("e1", 100, "auth.sign_in", "user:a", "success"),
                e("e2", 200, "auth.sign_in", "user:b", "failure"),
                e("e3", 300, "member.remove", "admin:k", "success"),
                e("e4", 400, "auth.sign_in", "user:a", "failure"),
                e("e5", 500, "api_key.rotate", "apikey:x", "success"),
                e("e6", 600, "auth.sign_in", "user:a", "success"),
            ])
            .await
            .unwrap();
        store.append_audit(&[event("globex", "g1", 100)]).await.unwrap();

        let found = |q: AuditQuery| {
            let store = Arc::clone(&store);
            async move { seqs(&store.audit_events("acme", &q).await.unwrap()) }
        };
        let text = |s: &str| Some(s.to_owned());
        assert_eq!(found(query(10)).await, [6, 5, 4, 3, 2, 1]);
        assert!(found(query(0)).await.is_empty());
        // Newest-first paging.
        assert_eq!(found(query(2)).await, [6, 5]);
        assert_eq!(found(AuditQuery { before_seq: Some(5), ..query(2) }).await, [4, 3]);
        assert_eq!(found(AuditQuery { before_seq: Some(3), ..query(2) }).await, [2, 1]);
        assert!(found(AuditQuery { before_seq: Some(1), ..query(2) }).await.is_empty());
        // Exact matches.
        let sign_ins = AuditQuery { action: text("auth.sign_in"), ..query(10) };
        assert_eq!(found(sign_ins.clone()).await, [6, 4, 2, 1]);
        assert_eq!(found(AuditQuery { before_seq: Some(4), ..sign_ins.clone() }).await, [2, 1]);
        assert!(found(AuditQuery { action: text("auth"), ..query(10) }).await.is_empty());
        assert_eq!(found(AuditQuery { actor: text("user:a"), ..query(10) }).await, [6, 4, 1]);
        assert_eq!(found(AuditQuery { outcome: text("failure"), ..query(10) }).await, [4, 2]);
        assert_eq!(found(AuditQuery { actor: text("user:a"), outcome: text("failure"), ..query(10) }).await, [4]);
        // Times: from inclusive, to exclusive.
        assert_eq!(found(AuditQuery { from: Some(200), to: Some(500), ..query(10) }).await, [4, 3, 2]);
        assert_eq!(found(AuditQuery { from: Some(500), ..query(10) }).await, [6, 5]);
        assert_eq!(found(AuditQuery { to: Some(200), ..query(10) }).await, [1]);
        let everything = AuditQuery {
            action: text("auth.sign_in"),
            actor: text("user:a"),
            outcome: text("success"),
            from: Some(100),
            to: Some(600),
            before_seq: Some(6),
            limit: 10,
        };
        assert_eq!(found(everything).await, [1]);
        // Only the chain asked for.
        assert_eq!(seqs(&store.audit_events("globex", &query(10)).await.unwrap()), [1]);
        assert!(store.audit_events("initech", &query(10)).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_purge_keeps_the_newest_event_and_leaves_an_anchor_to_verify_from() {
    on_both(|store| async move {
        let events: Vec<NewEvent> = (1..=10).map(|n| event("acme", &format!("a{n}"), n * 10)).collect();
        store.append_audit(&events).await.unwrap();
        store.append_audit(&[event("globex", "g1", 10), event("globex", "g2", 20)]).await.unwrap();
        let original = all(&*store, "acme").await;
        let anchor_at = |seq: usize, purged_at: i64| {
            let mut a = Anchor {
                chain: "acme".into(),
                seq: seq as i64,
                hash: original[seq - 1].hash.clone(),
                purged_at,
                mac: None,
            };
            // Every purge signs its anchor with the key it was given.
            a.mac = Some(a.mac_for(&KEY));
            a
        };

        // Older than 35: seq 1..3.
        assert_eq!(store.purge_audit("acme", 35, 1_000, &KEY).await.unwrap(), 3);
        assert_eq!(store.audit_anchor("acme").await.unwrap(), Some(anchor_at(3, 1_000)));
        assert_eq!(seqs(&all(&*store, "acme").await), (4..=10).collect::<Vec<_>>());
        assert_eq!(verify(&*store, "acme").await, Ok(7));
        // Without its anchor the rest does not verify: nothing can be cut unnoticed.
        assert!(verify_chain(&all(&*store, "acme").await, None).is_err());

        // A purge that deletes nothing changes nothing (not even the anchor's time).
        assert_eq!(store.purge_audit("acme", 35, 2_000, &KEY).await.unwrap(), 0);
        assert_eq!(store.purge_audit("acme", 0, 2_000, &KEY).await.unwrap(), 0);
        assert_eq!(store.audit_anchor("acme").await.unwrap(), Some(anchor_at(3, 1_000)));

        // A second purge advances the anchor.
        assert_eq!(store.purge_audit("acme", 75, 2_000, &KEY).await.unwrap(), 4);
        assert_eq!(store.audit_anchor("acme").await.unwrap(), Some(anchor_at(7, 2_000)));
        assert_eq!(verify(&*store, "acme").await, Ok(3));

        // Everything is old: all but the newest event go.
        assert_eq!(store.purge_audit("acme", i64::MAX, 3_000, &KEY).await.unwrap(), 2);
        assert_eq!(store.audit_anchor("acme").await.unwrap(), Some(anchor_at(9, 3_000)));
        assert_eq!(all(&*store, "acme").await, original[9..]);
        assert_eq!(store.purge_audit("acme", i64::MAX, 4_000, &KEY).await.unwrap(), 0);

        // Appending continues the chain after its head.
        store.append_audit(&[event("acme", "a11", 110), event("acme", "a12", 120)]).await.unwrap();
        let rest = all(&*store, "acme").await;
        assert_eq!(seqs(&rest), [10, 11, 12]);
        assert_eq!(rest[1].prev_hash, original[9].hash);
        assert_eq!(verify(&*store, "acme").await, Ok(3));

        // Other chains are untouched; unknown or empty chains purge nothing.
        assert_eq!(seqs(&all(&*store, "globex").await), [1, 2]);
        assert_eq!(store.audit_anchor("globex").await.unwrap(), None);
        assert_eq!(store.purge_audit("initech", i64::MAX, 1, &KEY).await.unwrap(), 0);
        assert_eq!(store.audit_anchor("initech").await.unwrap(), None);
        assert_eq!(store.audit_chains().await.unwrap(), ["acme", "globex"]);
    })
    .await;
}

#[tokio::test]
async fn a_purge_cuts_only_a_prefix_when_times_are_out_of_order() {
    on_both(|store| async move {
        // Clocks of several nodes: seq 3 happened "before" seq 2.
        let events = [10, 50, 20, 60, 70].map(|at| event(PLATFORM_CHAIN, &format!("p{at}"), at));
        store.append_audit(&events).await.unwrap();
        // Seq 3 is older than 30 but follows seq 2, which is not: only seq 1 goes, so what
        // remains is still one unbroken chain from the anchor.
        assert_eq!(store.purge_audit(PLATFORM_CHAIN, 30, 100, &KEY).await.unwrap(), 1);
        assert_eq!(seqs(&all(&*store, PLATFORM_CHAIN).await), [2, 3, 4, 5]);
        assert_eq!(verify(&*store, PLATFORM_CHAIN).await, Ok(4));
        assert_eq!(store.purge_audit(PLATFORM_CHAIN, 65, 200, &KEY).await.unwrap(), 3);
        assert_eq!(seqs(&all(&*store, PLATFORM_CHAIN).await), [5]);
        assert_eq!(verify(&*store, PLATFORM_CHAIN).await, Ok(1));
        assert_eq!(store.audit_chains().await.unwrap(), [PLATFORM_CHAIN]);
    })
    .await;
}

/// `sql` run as the service role in acme's scope; the error it fails with.
async fn refused_for_service(conn: &mut sqlx::PgConnection, sql: &str) -> String {
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', 'acme', true)").execute(&mut *tx).await.unwrap();
    let err = sqlx::query(sql).execute(&mut *tx).await.map(|done| done.rows_affected());
    tx.rollback().await.unwrap();
    match err {
        Ok(rows) => panic!("{sql} was accepted ({rows} rows)"),
        Err(e) => e.to_string(),
    }
}

/// Row-level security and privileges on their own, below the store: a raw connection
/// acting as the service role sees only the chain its transaction names, and cannot
/// rewrite even that one; it can only purge through the function.
#[tokio::test]
async fn postgres_service_role_reads_only_its_chain_and_cannot_rewrite_it() {
    let db = PgDb::create().await;
    {
        let store = cognate_store::connect(&db.url, &cognate_store::PgOptions::default()).await.unwrap();
        store
            .append_audit(&[
                event("acme", "a1", 10),
                event("acme", "a2", 20),
                event("acme", "a3", 30),
                event("globex", "g1", 10),
                event(PLATFORM_CHAIN, "p1", 10),
            ])
            .await
            .unwrap();
        // Re-running migrations re-runs the grants: they must not reopen the trail.
        assert!(cognate_store::migrate(&db.url).await.unwrap().is_empty());

        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        conn.execute("SET ROLE cognate_service").await.unwrap();
        let ids = "SELECT id FROM audit_events ORDER BY chain, seq";
        assert_eq!(tenants_seen(&mut conn, ids, Some(("app.tenant_id", "acme"))).await, ["a1", "a2", "a3"]);
        assert_eq!(tenants_seen(&mut conn, ids, Some(("app.tenant_id", "globex"))).await, ["g1"]);
        assert_eq!(tenants_seen(&mut conn, ids, Some(("app.tenant_id", PLATFORM_CHAIN))).await, ["p1"]);
        assert!(tenants_seen(&mut conn, ids, None).await.is_empty());
        assert!(tenants_seen(&mut conn, ids, Some(("app.tenant_id", "*"))).await.is_empty());
        assert_eq!(tenants_seen(&mut conn, ids, Some(("app.platform", "on"))).await, ["a1", "a2", "a3", "g1", "p1"]);

        // No rewriting, not even of its own tenant's chain.
        for sql in [
            "UPDATE audit_events SET outcome = 'failure' WHERE chain = 'acme'",
            "DELETE FROM audit_events WHERE chain = 'acme'",
            "TRUNCATE audit_events",
            "INSERT INTO audit_anchors (chain, seq, hash, purged_at) VALUES ('acme', 1, 'x', 1)",
            "UPDATE audit_anchors SET seq = 0",
            "DELETE FROM audit_anchors",
        ] {
            let err = refused_for_service(&mut conn, sql).await;
            assert!(err.contains("permission denied"), "{sql}: {err}");
        }
        // Appending to another tenant's chain is refused by the policies.
        let insert = "INSERT INTO audit_events (chain, seq, id, at, actor, action, outcome, prev_hash, hash) \
                      VALUES ('globex', 2, 'forged', 1, 'x', 'x', 'success', 'x', 'x')";
        let err = refused_for_service(&mut conn, insert).await;
        assert!(err.contains("row-level security"), "{err}");

        // The purge function works for it, whatever scope it is called in, and gives the
        // caller's scope back.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.tenant_id', 'globex', true)").execute(&mut *tx).await.unwrap();
        let deleted: i64 =
            sqlx::query_scalar("SELECT cognate_purge_audit('acme', 25, 99)").fetch_one(&mut *tx).await.unwrap();
        assert_eq!(deleted, 2);
        let scope: String =
            sqlx::query_scalar("SELECT current_setting('app.tenant_id')").fetch_one(&mut *tx).await.unwrap();
        assert_eq!(scope, "globex");
        tx.commit().await.unwrap();
        let anchors = "SELECT chain FROM audit_anchors";
        assert_eq!(tenants_seen(&mut conn, anchors, Some(("app.tenant_id", "acme"))).await, ["acme"]);
        assert!(tenants_seen(&mut conn, anchors, Some(("app.tenant_id", "globex"))).await.is_empty());
        assert_eq!(tenants_seen(&mut conn, anchors, Some(("app.platform", "on"))).await, ["acme"]);
        conn.close().await.unwrap();

        let anchor = store.audit_anchor("acme").await.unwrap().unwrap();
        assert_eq!((anchor.seq, anchor.purged_at), (2, 99));
        assert_eq!(verify(&*store, "acme").await, Ok(1));
        assert_eq!(verify(&*store, "globex").await, Ok(1));
    }
    db.drop_db().await;
}

/// FORCE ROW LEVEL SECURITY binds a table owner that is not a superuser (the production
/// set-up: a dedicated migration login). The purge function runs as that owner and must
/// enter the chain's scope itself.
#[tokio::test]
async fn postgres_purge_works_for_an_owner_bound_by_row_level_security() {
    let db = PgDb::create().await;
    let owner = format!("cognate_it_owner_{}", uuid::Uuid::new_v4().simple());
    {
        let store = cognate_store::connect(&db.url, &cognate_store::PgOptions::default()).await.unwrap();
        let events: Vec<NewEvent> = (1..=4).map(|n| event("acme", &format!("a{n}"), n * 10)).collect();
        store.append_audit(&events).await.unwrap();

        let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
        admin
            .execute(
                format!(
                    "CREATE ROLE {owner} NOLOGIN NOSUPERUSER NOBYPASSRLS; \
                     ALTER TABLE audit_events OWNER TO {owner}; \
                     ALTER TABLE audit_anchors OWNER TO {owner}; \
                     ALTER FUNCTION cognate_purge_audit(TEXT, BIGINT, BIGINT) OWNER TO {owner}"
                )
                .as_str(),
            )
            .await
            .unwrap();
        // The owner sees nothing outside a chain's scope.
        admin.execute(format!("SET ROLE {owner}").as_str()).await.unwrap();
        let ids = "SELECT id FROM audit_events ORDER BY seq";
        assert!(tenants_seen(&mut admin, ids, None).await.is_empty());
        assert_eq!(tenants_seen(&mut admin, ids, Some(("app.tenant_id", "acme"))).await.len(), 4);
        admin.execute("RESET ROLE").await.unwrap();

        // The store (serving as cognate_service) purges through the function.
        assert_eq!(store.purge_audit("acme", 35, 500, &KEY).await.unwrap(), 3);
        assert_eq!(store.audit_anchor("acme").await.unwrap().map(|a| a.seq), Some(3));
        assert_eq!(verify(&*store, "acme").await, Ok(1));
        // And called with no scope at all.
        store.append_audit(&[event("acme", "a5", 50)]).await.unwrap();
        admin.execute("SET ROLE cognate_service").await.unwrap();
        let deleted: i64 =
            sqlx::query_scalar("SELECT cognate_purge_audit('acme', 100, 600)").fetch_one(&mut admin).await.unwrap();
        assert_eq!(deleted, 1);
        admin.close().await.unwrap();
        assert_eq!(store.audit_anchor("acme").await.unwrap().map(|a| (a.seq, a.purged_at)), Some((4, 600)));
        assert_eq!(verify(&*store, "acme").await, Ok(1));
    }
    db.drop_db().await;
    let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
    conn.execute(format!("DROP ROLE {owner}").as_str()).await.unwrap();
}

/// Tampering below the store, by a superuser who gets around the trigger: verification
/// names the event.
#[tokio::test]
async fn postgres_tampering_by_a_superuser_is_named_by_verification() {
    let db = PgDb::create().await;
    {
        let store = cognate_store::connect(&db.url, &cognate_store::PgOptions::default()).await.unwrap();
        let events: Vec<NewEvent> = (1..=5).map(|n| event("acme", &format!("a{n}"), n)).collect();
        store.append_audit(&events).await.unwrap();
        let globex: Vec<NewEvent> = (1..=3).map(|n| event("globex", &format!("g{n}"), n)).collect();
        store.append_audit(&globex).await.unwrap();

        let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let edit = "UPDATE audit_events SET outcome = 'failure' WHERE chain = 'acme' AND seq = 3";
        // The trigger refuses updates from every role, the owner included...
        let err = admin.execute(edit).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        assert_eq!(verify(&*store, "acme").await, Ok(5));
        // ...but a superuser can switch triggers off.
        admin.execute("SET session_replication_role = replica").await.unwrap();
        assert_eq!(admin.execute(edit).await.unwrap().rows_affected(), 1);
        admin.execute("DELETE FROM audit_events WHERE chain = 'globex' AND seq = 2").await.unwrap();
        admin.close().await.unwrap();

        assert_eq!(verify(&*store, "acme").await, Err(ChainBreak::Altered { seq: 3, id: "a3".into() }));
        assert_eq!(verify(&*store, "globex").await, Err(ChainBreak::Gap { seq: 3, id: "g3".into() }));
    }
    db.drop_db().await;
}

/// SQLite: the trigger refuses updates; tampering with it dropped is named by verification;
/// a chain whose events are all gone continues from its anchor.
#[tokio::test]
async fn sqlite_refuses_updates_and_tampering_is_named() {
    let dir = std::env::temp_dir().join(format!("cognate_it_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/audit.db", dir.display());
    let store = cognate_store::connect(&url, &cognate_store::PgOptions::default()).await.unwrap();
    let events: Vec<NewEvent> = (1..=5).map(|n| event("acme", &format!("a{n}"), n)).collect();
    store.append_audit(&events).await.unwrap();

    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let edit = "UPDATE audit_events SET outcome = 'failure' WHERE chain = 'acme' AND seq = 3";
    let err = raw.execute(edit).await.unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(verify(&*store, "acme").await, Ok(5));

    // Drop the trigger, edit, put it back: all in one transaction.
    let mut tx = raw.begin().await.unwrap();
    let trigger: String = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_events_append_only'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.execute("DROP TRIGGER audit_events_append_only").await.unwrap();
    assert_eq!(tx.execute(edit).await.unwrap().rows_affected(), 1);
    tx.execute(trigger.as_str()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(verify(&*store, "acme").await, Err(ChainBreak::Altered { seq: 3, id: "a3".into() }));
    assert!(raw.execute(edit).await.unwrap_err().to_string().contains("append-only"));

    // A chain whose remaining events were removed continues from its anchor.
    store.append_audit(&[event("globex", "g1", 1), event("globex", "g2", 2)]).await.unwrap();
    assert_eq!(store.purge_audit("globex", 100, 7, &KEY).await.unwrap(), 1);
    raw.execute("DELETE FROM audit_events WHERE chain = 'globex'").await.unwrap();
    store.append_audit(&[event("globex", "g3", 3)]).await.unwrap();
    let anchor = store.audit_anchor("globex").await.unwrap().unwrap();
    let rest = all(&*store, "globex").await;
    assert_eq!((rest[0].seq, rest[0].prev_hash.as_str()), (2, anchor.hash.as_str()));
    assert_eq!(verify(&*store, "globex").await, Ok(1));
    raw.close().await.unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Someone with write access to the database deletes a chain's oldest events (and dates
/// the first survivor back so a purge would cut up to it): the next purge refuses instead
/// of signing an anchor past the tampering. An anchor signed with another key (or none)
/// stops purges too.
#[tokio::test]
async fn a_purge_refuses_to_anchor_past_tampering() {
    let tamper = [
        "DELETE FROM audit_events WHERE chain = 'acme' AND seq <= 2",
        "UPDATE audit_events SET at = 0 WHERE chain = 'acme' AND seq = 3",
    ];
    // SQLite: the file, with its append-only triggers dropped.
    let dir = std::env::temp_dir().join(crate::harness::unique("cognate_tamper"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/t.db", dir.display());
    let sqlite = cognate_store::connect(&url, &cognate_store::PgOptions::default()).await.unwrap();
    // PostgreSQL: its owner, past the triggers.
    let db = PgDb::create().await;
    let pg = cognate_store::connect(&db.url, &cognate_store::PgOptions::default()).await.unwrap();
    for (store, backend) in [(sqlite, "sqlite"), (pg, "postgres")] {
        let events: Vec<NewEvent> = (1..=6).map(|n| event("acme", &format!("{backend}{n}"), n * 10)).collect();
        store.append_audit(&events).await.unwrap();
        // A legitimate purge signs its anchor; another key's purge refuses to build on it.
        assert_eq!(store.purge_audit("acme", 15, 100, &KEY).await.unwrap(), 1);
        let other = store.purge_audit("acme", 25, 101, &[7; 32]).await;
        assert!(matches!(other, Err(StoreError::Corrupt(_))), "{backend}: {other:?}");
        if backend == "sqlite" {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            for sql in ["DROP TRIGGER IF EXISTS audit_events_append_only"].iter().chain(tamper.iter()) {
                conn.execute(*sql).await.unwrap();
            }
            conn.close().await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            conn.execute("SET session_replication_role = replica").await.unwrap();
            for sql in tamper {
                conn.execute(sql).await.unwrap();
            }
            conn.close().await.unwrap();
        }
        let refused = store.purge_audit("acme", 35, 200, &KEY).await;
        assert!(matches!(&refused, Err(StoreError::Corrupt(m)) if m.contains("acme")), "{backend}: {refused:?}");
        let anchor = store.audit_anchor("acme").await.unwrap().unwrap();
        assert_eq!((anchor.seq, anchor.purged_at), (1, 100), "{backend}: the anchor did not move");
    }
    db.drop_db().await;
    let _ = std::fs::remove_dir_all(&dir);
}
