//! Outbox delivery state: claiming with a lease, delivery, failures and giving up.

use std::sync::Arc;

use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::repo::{OUTBOX_NEVER, OutboxMessage, Store};

use crate::harness::on_both;
use crate::pools::pool;

fn message(pool: &PoolId, id: &str, medium: &str, created_at: i64) -> OutboxMessage {
    OutboxMessage {
        id: id.into(),
        pool_id: pool.clone(),
        username: "u".into(),
        medium: medium.into(),
        destination: "u@example.com".into(),
        subject: "s".into(),
        body: format!("body of {id}"),
        created_at,
        // Ignored by enqueue: a new message is always pending.
        delivered_at: Some(1),
        attempts: 7,
        last_error: Some("x".into()),
        next_attempt_at: 99_999,
        secret_expires_at: Some(created_at + 100),
    }
}

async fn setup(store: &Arc<dyn Store>) -> PoolId {
    let p = pool("outbox");
    store.create_pool(&p).await.unwrap();
    for (id, medium, at) in [("m2", "EMAIL", 20), ("m1", "EMAIL", 10), ("s1", "SMS", 5), ("m3", "EMAIL", 30)] {
        store.enqueue_message(&message(&p.id, id, medium, at)).await.unwrap();
    }
    p.id
}

fn ids(msgs: &[OutboxMessage]) -> Vec<&str> {
    msgs.iter().map(|m| m.id.as_str()).collect()
}

#[tokio::test]
async fn claim_leases_oldest_first_and_only_once() {
    on_both(|store| async move {
        let p = setup(&store).await;
        let fresh = store.list_messages(Some(&p), 10).await.unwrap();
        assert!(fresh.iter().all(|m| m.delivered_at.is_none() && m.attempts == 0 && m.last_error.is_none()));
        assert!(fresh.iter().all(|m| m.next_attempt_at == 0));

        let first = store.claim_pending("EMAIL", 1_000, 61_000, 2).await.unwrap();
        assert_eq!(ids(&first), ["m1", "m2"]);
        assert!(first.iter().all(|m| m.next_attempt_at == 61_000));
        assert_eq!(first[0].body, "body of m1");

        // Leased messages are not claimed again before the lease ends; the rest are.
        let second = store.claim_pending("EMAIL", 1_000, 61_000, 10).await.unwrap();
        assert_eq!(ids(&second), ["m3"]);
        assert!(store.claim_pending("EMAIL", 60_999, 120_000, 10).await.unwrap().is_empty());

        // Other media are left for their own sender.
        assert_eq!(ids(&store.claim_pending("SMS", 1_000, 61_000, 10).await.unwrap()), ["s1"]);

        // A lease that ran out (the worker died) makes the message due again.
        let again = store.claim_pending("EMAIL", 61_000, 121_000, 10).await.unwrap();
        assert_eq!(ids(&again), ["m1", "m2", "m3"]);
    })
    .await;
}

#[tokio::test]
async fn concurrent_claims_never_share_a_message() {
    on_both(|store| async move {
        let p = setup(&store).await;
        let (a, b) = tokio::join!(
            store.claim_pending("EMAIL", 1_000, 61_000, 10),
            store.claim_pending("EMAIL", 1_000, 61_000, 10),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut all: Vec<&str> = ids(&a).into_iter().chain(ids(&b)).collect();
        all.sort_unstable();
        assert_eq!(all, ["m1", "m2", "m3"], "each message claimed exactly once: {a:?} / {b:?}");
        assert_eq!(store.list_messages(Some(&p), 10).await.unwrap().len(), 4);
    })
    .await;
}

#[tokio::test]
async fn delivery_and_failures_are_recorded() {
    on_both(|store| async move {
        let p = setup(&store).await;
        store.claim_pending("EMAIL", 1_000, 61_000, 10).await.unwrap();

        store.mark_delivered("m1", 2_000).await.unwrap();
        store.mark_failed("m2", "connection refused", 3_000).await.unwrap();
        store.mark_failed("m3", "first", 3_000).await.unwrap();
        store.mark_failed("m3", "gave up", OUTBOX_NEVER).await.unwrap();
        assert!(matches!(store.mark_delivered("nope", 1).await, Err(StoreError::NotFound(_))));
        assert!(matches!(store.mark_failed("nope", "e", 1).await, Err(StoreError::NotFound(_))));

        // Everything is still listed, with its delivery state.
        let all = store.list_messages(Some(&p), 10).await.unwrap();
        let get = |id: &str| all.iter().find(|m| m.id == id).unwrap().clone();
        assert_eq!(all.len(), 4);
        assert_eq!(get("m1").delivered_at, Some(2_000));
        assert_eq!(get("m1").attempts, 0);
        let m2 = get("m2");
        assert_eq!(
            (m2.delivered_at, m2.attempts, m2.last_error.as_deref(), m2.next_attempt_at),
            (None, 1, Some("connection refused"), 3_000)
        );
        let m3 = get("m3");
        assert_eq!((m3.attempts, m3.last_error.as_deref(), m3.next_attempt_at), (2, Some("gave up"), OUTBOX_NEVER));

        // Delivered and given-up messages are never claimed; a failed one is, when due.
        assert!(store.claim_pending("EMAIL", 2_999, 70_000, 10).await.unwrap().is_empty());
        let due = store.claim_pending("EMAIL", i64::MAX - 1, i64::MAX - 1, 10).await.unwrap();
        assert_eq!(ids(&due), ["m2"]);
        assert_eq!(due[0].attempts, 1);

        // Delivering twice keeps the first time.
        store.mark_delivered("m1", 9_000).await.unwrap();
        assert_eq!(
            store.list_messages(Some(&p), 10).await.unwrap().iter().find(|m| m.id == "m1").unwrap().delivered_at,
            Some(2_000)
        );
    })
    .await;
}

#[tokio::test]
async fn bodies_are_blanked_once_delivered_given_up_or_expired() {
    on_both(|store| async move {
        let p = setup(&store).await;
        // m1 expires at 110, m2 at 120, m3 at 130, s1 at 105.
        store.mark_delivered("m1", 50).await.unwrap();
        store.mark_failed("s1", "no route", OUTBOX_NEVER).await.unwrap();
        store.mark_failed("m3", "try again", 60).await.unwrap();
        let body = |msgs: &[OutboxMessage], id: &str| msgs.iter().find(|m| m.id == id).unwrap().body.clone();
        let all = store.list_messages(Some(&p), 10).await.unwrap();
        assert_eq!(body(&all, "m1"), "", "delivered");
        assert_eq!(body(&all, "s1"), "", "given up");
        assert_eq!(body(&all, "m3"), "body of m3", "a retry keeps the body");
        assert_eq!(body(&all, "m2"), "body of m2");

        assert_eq!(store.redact_expired_messages(119).await.unwrap(), 0);
        assert_eq!(store.redact_expired_messages(120).await.unwrap(), 1);
        let all = store.list_messages(Some(&p), 10).await.unwrap();
        assert_eq!(body(&all, "m2"), "");
        assert_eq!(body(&all, "m3"), "body of m3");

        // Legacy plaintext bodies are found and replaced only if unchanged.
        let unsealed = store.unsealed_messages("sealed:", 10).await.unwrap();
        assert_eq!(unsealed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m3"]);
        assert!(!store.replace_message_body("m3", "stale", "sealed:x").await.unwrap());
        assert!(store.replace_message_body("m3", "body of m3", "sealed:x").await.unwrap());
        assert!(store.unsealed_messages("sealed:", 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn backlog_counts_pending_and_given_up_per_medium() {
    on_both(|store| async move {
        assert!(store.outbox_backlog().await.unwrap().is_empty());
        setup(&store).await;
        store.mark_delivered("m1", 100).await.unwrap();
        store.mark_failed("m2", "refused", OUTBOX_NEVER).await.unwrap();
        // A failure that will be retried is still pending.
        store.mark_failed("m3", "timeout", 5_000).await.unwrap();
        let backlog = store.outbox_backlog().await.unwrap();
        let of = |medium: &str| backlog.iter().find(|b| b.medium == medium).map(|b| (b.pending, b.given_up));
        assert_eq!(of("EMAIL"), Some((1, 1)));
        assert_eq!(of("SMS"), Some((1, 0)));
        assert_eq!(backlog.len(), 2);
        let usage = store.pool_usage();
        assert!(usage.max >= 1 && usage.idle <= usage.size && usage.size <= usage.max, "{usage:?}");
    })
    .await;
}
