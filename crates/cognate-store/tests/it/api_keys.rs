use std::sync::Arc;

use cognate_core::StoreError;
use cognate_core::SystemRng;
use cognate_core::apikey::{ApiKey, RateLimit, UsageDelta, UsageRow, generate_key, key_hash};
use cognate_core::repo::Store;
use sqlx::Connection as _;
use sqlx::Executor as _;

use crate::harness::{PgDb, on_both};
use crate::tenancy::{page, setup, tenants_seen, tid};

/// A key of `tenant` with a hash derived from its id.
fn api_key(tenant: &str, id: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        tenant_id: tid(tenant),
        key_hash: key_hash(&format!("key of {id}")),
        display_prefix: "cog_abcdefgh".into(),
        name: format!("{id} key"),
        scopes: vec!["users:read".into(), "users:write".into()],
        service_account: Some("ci".into()),
        created_by: "admin-sub".into(),
        created_at: 10,
        expires_at: Some(1_000_000),
        last_used_at: None,
        revoked_at: None,
        rotated_from: None,
        grace_until: None,
        rate_limit: Some(RateLimit { requests: 100, per_seconds: 60 }),
    }
}

fn delta(tenant: &str, key_id: &str, day: i64, count: i64, last_used_at: i64) -> UsageDelta {
    UsageDelta { tenant_id: tid(tenant), key_id: key_id.into(), day, count, last_used_at }
}

fn usage(key_id: &str, day: i64, count: i64) -> UsageRow {
    UsageRow { key_id: key_id.into(), day, count }
}

async fn last_used(store: &dyn Store, tenant: &str, id: &str) -> Option<i64> {
    store.get_api_key(&tid(tenant), id).await.unwrap().unwrap().last_used_at
}

#[tokio::test]
async fn api_keys_round_trip_page_and_stay_in_their_tenant() {
    on_both(|store| async move {
        setup(&*store, &["acme", "globex"]).await;
        let (plaintext, hash) = generate_key(&SystemRng);
        let minimal = ApiKey {
            key_hash: hash.clone(),
            display_prefix: plaintext[..12].into(),
            scopes: vec![],
            service_account: None,
            expires_at: None,
            rate_limit: None,
            ..api_key("acme", "ak_b")
        };
        let keys = [api_key("acme", "ak_a"), minimal.clone(), api_key("acme", "ak_c"), api_key("globex", "ak_g")];
        for k in &keys {
            store.create_api_key(k).await.unwrap();
        }
        let acme = tid("acme");
        assert_eq!(store.get_api_key(&acme, "ak_a").await.unwrap().as_ref(), Some(&keys[0]));
        assert_eq!(store.get_api_key(&acme, "ak_b").await.unwrap().as_ref(), Some(&minimal));
        assert!(store.get_api_key(&acme, "ak_missing").await.unwrap().is_none());
        // Another tenant's key is not found by id...
        assert!(store.get_api_key(&tid("globex"), "ak_a").await.unwrap().is_none());
        assert!(store.get_api_key(&acme, "ak_g").await.unwrap().is_none());
        // ...but the lookup by hash finds any tenant's key.
        assert_eq!(store.get_api_key_by_hash(&hash).await.unwrap().as_ref(), Some(&minimal));
        assert_eq!(store.get_api_key_by_hash(&keys[3].key_hash).await.unwrap().as_ref(), Some(&keys[3]));
        assert!(store.get_api_key_by_hash(&key_hash("unknown")).await.unwrap().is_none());

        // The id and the hash are each unique, across tenants too.
        let same_id = ApiKey { key_hash: key_hash("other"), ..keys[0].clone() };
        assert!(matches!(store.create_api_key(&same_id).await, Err(StoreError::Conflict("api key"))));
        let same_hash = ApiKey { id: "ak_z".into(), tenant_id: tid("globex"), ..keys[0].clone() };
        assert!(matches!(store.create_api_key(&same_hash).await, Err(StoreError::Conflict("api key"))));
        let orphan = api_key("nobody", "ak_o");
        assert!(matches!(store.create_api_key(&orphan).await, Err(StoreError::NotFound("tenant"))));

        // limit + 1 rows: the store over-fetches one to show that another page follows.
        let ids = |ks: Vec<ApiKey>| ks.into_iter().map(|k| k.id).collect::<Vec<_>>();
        assert_eq!(ids(store.list_api_keys(&acme, &page(None, 2)).await.unwrap()), ["ak_a", "ak_b", "ak_c"]);
        assert_eq!(ids(store.list_api_keys(&acme, &page(Some("ak_b"), 2)).await.unwrap()), ["ak_c"]);
        assert!(store.list_api_keys(&acme, &page(Some("ak_c"), 2)).await.unwrap().is_empty());
        assert_eq!(ids(store.list_api_keys(&tid("globex"), &page(None, 10)).await.unwrap()), ["ak_g"]);

        // Update replaces name, scopes, service account and rate limit, nothing else.
        let changed = ApiKey {
            name: "renamed".into(),
            scopes: vec!["tenants:read".into()],
            service_account: None,
            rate_limit: Some(RateLimit { requests: 5, per_seconds: 1 }),
            key_hash: key_hash("not stored"),
            created_at: 99,
            revoked_at: Some(99),
            ..keys[0].clone()
        };
        store.update_api_key(&changed).await.unwrap();
        let stored = store.get_api_key(&acme, "ak_a").await.unwrap().unwrap();
        assert_eq!(
            stored,
            ApiKey {
                name: "renamed".into(),
                scopes: vec!["tenants:read".into()],
                service_account: None,
                rate_limit: Some(RateLimit { requests: 5, per_seconds: 1 }),
                ..keys[0].clone()
            }
        );
        let cleared = ApiKey { rate_limit: None, scopes: vec![], ..stored.clone() };
        store.update_api_key(&cleared).await.unwrap();
        assert_eq!(store.get_api_key(&acme, "ak_a").await.unwrap().as_ref(), Some(&cleared));
        let missing = api_key("acme", "ak_missing");
        assert!(matches!(store.update_api_key(&missing).await, Err(StoreError::NotFound("api key"))));
        // Globex cannot update Acme's key by naming it.
        let intruding = ApiKey { tenant_id: tid("globex"), name: "pwned".into(), ..keys[0].clone() };
        assert!(matches!(store.update_api_key(&intruding).await, Err(StoreError::NotFound("api key"))));

        // Revocation: once.
        assert!(matches!(store.revoke_api_key(&tid("globex"), "ak_a", 50).await, Err(StoreError::NotFound("api key"))));
        assert!(store.revoke_api_key(&acme, "ak_a", 50).await.unwrap());
        assert!(!store.revoke_api_key(&acme, "ak_a", 60).await.unwrap());
        assert_eq!(store.get_api_key(&acme, "ak_a").await.unwrap().unwrap().revoked_at, Some(50));
        assert!(matches!(store.revoke_api_key(&acme, "ak_missing", 50).await, Err(StoreError::NotFound("api key"))));
        // Revoked keys are still listed and found by hash (the verifier tells why they fail).
        assert_eq!(store.get_api_key_by_hash(&keys[0].key_hash).await.unwrap().unwrap().revoked_at, Some(50));
        assert_eq!(store.list_api_keys(&acme, &page(None, 10)).await.unwrap().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn rotation_marks_the_old_key_and_stores_the_new_one_once() {
    on_both(|store| async move {
        setup(&*store, &["acme", "globex"]).await;
        let acme = tid("acme");
        let old = api_key("acme", "ak_old");
        store.create_api_key(&old).await.unwrap();
        let successor =
            |id: &str, from: &str| ApiKey { rotated_from: Some(from.into()), created_at: 20, ..api_key("acme", id) };

        let new = successor("ak_new", "ak_old");
        assert!(store.rotate_api_key(&acme, "ak_old", 5_000, &new).await.unwrap());
        assert_eq!(
            store.get_api_key(&acme, "ak_old").await.unwrap().unwrap(),
            ApiKey { grace_until: Some(5_000), ..old.clone() }
        );
        assert_eq!(store.get_api_key(&acme, "ak_new").await.unwrap().as_ref(), Some(&new));
        assert_eq!(store.get_api_key_by_hash(&new.key_hash).await.unwrap().as_ref(), Some(&new));

        // Already rotated: false, and the would-be successor is not stored.
        let again = successor("ak_again", "ak_old");
        assert!(!store.rotate_api_key(&acme, "ak_old", 9_000, &again).await.unwrap());
        assert_eq!(store.get_api_key(&acme, "ak_old").await.unwrap().unwrap().grace_until, Some(5_000));
        assert!(store.get_api_key(&acme, "ak_again").await.unwrap().is_none());
        assert!(store.get_api_key_by_hash(&again.key_hash).await.unwrap().is_none());

        // Revoked: false, nothing stored.
        let revoked = api_key("acme", "ak_revoked");
        store.create_api_key(&revoked).await.unwrap();
        assert!(store.revoke_api_key(&acme, "ak_revoked", 30).await.unwrap());
        let after_revoked = successor("ak_after_revoked", "ak_revoked");
        assert!(!store.rotate_api_key(&acme, "ak_revoked", 9_000, &after_revoked).await.unwrap());
        assert_eq!(store.get_api_key(&acme, "ak_revoked").await.unwrap().unwrap().grace_until, None);
        assert!(store.get_api_key(&acme, "ak_after_revoked").await.unwrap().is_none());

        // Missing, or another tenant's: not found.
        let ghost = successor("ak_ghost_next", "ak_ghost");
        assert!(matches!(
            store.rotate_api_key(&acme, "ak_ghost", 9_000, &ghost).await,
            Err(StoreError::NotFound("api key"))
        ));
        store.create_api_key(&api_key("globex", "ak_g")).await.unwrap();
        let stolen = successor("ak_stolen", "ak_g");
        assert!(matches!(
            store.rotate_api_key(&acme, "ak_g", 9_000, &stolen).await,
            Err(StoreError::NotFound("api key"))
        ));
        assert_eq!(store.get_api_key(&tid("globex"), "ak_g").await.unwrap().unwrap().grace_until, None);

        // A successor that cannot be stored leaves the old key untouched (one transaction).
        let chain = successor("ak_chain", "ak_new");
        let clash = ApiKey { key_hash: old.key_hash.clone(), ..chain.clone() };
        assert!(matches!(
            store.rotate_api_key(&acme, "ak_new", 9_000, &clash).await,
            Err(StoreError::Conflict("api key"))
        ));
        assert_eq!(store.get_api_key(&acme, "ak_new").await.unwrap().unwrap().grace_until, None);
        // Inconsistent input is refused before anything is written.
        let elsewhere = ApiKey { tenant_id: tid("globex"), ..chain.clone() };
        assert!(store.rotate_api_key(&acme, "ak_new", 9_000, &elsewhere).await.is_err());
        let unlinked = ApiKey { rotated_from: None, ..chain.clone() };
        assert!(store.rotate_api_key(&acme, "ak_new", 9_000, &unlinked).await.is_err());
        assert_eq!(store.get_api_key(&acme, "ak_new").await.unwrap().unwrap().grace_until, None);
        // The successor can itself be rotated.
        assert!(store.rotate_api_key(&acme, "ak_new", 9_000, &chain).await.unwrap());
        assert_eq!(
            store.get_api_key(&acme, "ak_chain").await.unwrap().unwrap().rotated_from.as_deref(),
            Some("ak_new")
        );
    })
    .await;
}

#[tokio::test]
async fn usage_adds_up_per_tenant_key_and_day_and_drops_unknown_keys() {
    on_both(|store| async move {
        setup(&*store, &["acme", "globex"]).await;
        for (t, id) in [("acme", "ak_1"), ("acme", "ak_2"), ("globex", "ak_g")] {
            store.create_api_key(&api_key(t, id)).await.unwrap();
        }
        let (acme, globex) = (tid("acme"), tid("globex"));
        store.add_api_key_usage(&[]).await.unwrap();

        store
            .add_api_key_usage(&[
                delta("acme", "ak_1", 10, 3, 1_000),
                delta("globex", "ak_g", 10, 5, 2_000),
                // The same (tenant, key, day) twice in one batch, the later use first.
                delta("acme", "ak_1", 10, 2, 500),
                delta("acme", "ak_1", 11, 1, 3_000),
                delta("acme", "ak_2", 10, 4, 100),
                // Unknown keys — including another tenant's key named under the wrong
                // tenant, and a tenant that does not exist — are dropped, not fatal.
                delta("acme", "ak_missing", 10, 7, 9_000),
                delta("globex", "ak_1", 10, 7, 9_000),
                delta("nobody", "ak_1", 10, 7, 9_000),
            ])
            .await
            .unwrap();
        assert_eq!(
            store.api_key_usage(&acme, 0, 100).await.unwrap(),
            [usage("ak_1", 10, 5), usage("ak_2", 10, 4), usage("ak_1", 11, 1)]
        );
        assert_eq!(store.api_key_usage(&globex, 0, 100).await.unwrap(), [usage("ak_g", 10, 5)]);
        assert_eq!(last_used(&*store, "acme", "ak_1").await, Some(3_000));
        assert_eq!(last_used(&*store, "acme", "ak_2").await, Some(100));
        assert_eq!(last_used(&*store, "globex", "ak_g").await, Some(2_000));

        // Across batches the totals add up; last_used_at only moves forward.
        store.add_api_key_usage(&[delta("acme", "ak_1", 10, 4, 1_500)]).await.unwrap();
        assert_eq!(last_used(&*store, "acme", "ak_1").await, Some(3_000));
        store
            .add_api_key_usage(&[delta("acme", "ak_1", 10, 1, 4_000), delta("acme", "ak_2", 12, 2, 50)])
            .await
            .unwrap();
        assert_eq!(last_used(&*store, "acme", "ak_1").await, Some(4_000));
        assert_eq!(last_used(&*store, "acme", "ak_2").await, Some(100));
        assert_eq!(
            store.api_key_usage(&acme, 0, 100).await.unwrap(),
            [usage("ak_1", 10, 10), usage("ak_2", 10, 4), usage("ak_1", 11, 1), usage("ak_2", 12, 2)]
        );

        // The day range is inclusive at both ends.
        assert_eq!(store.api_key_usage(&acme, 11, 12).await.unwrap(), [usage("ak_1", 11, 1), usage("ak_2", 12, 2)]);
        assert_eq!(store.api_key_usage(&acme, 10, 10).await.unwrap(), [usage("ak_1", 10, 10), usage("ak_2", 10, 4)]);
        assert!(store.api_key_usage(&acme, 13, 100).await.unwrap().is_empty());
        assert!(store.api_key_usage(&acme, 12, 11).await.unwrap().is_empty());
        assert!(store.api_key_usage(&tid("nobody"), 0, 100).await.unwrap().is_empty());
        assert_eq!(store.api_key_usage(&globex, 0, 100).await.unwrap(), [usage("ak_g", 10, 5)]);
        // A batch of only unknown keys writes nothing and succeeds.
        store.add_api_key_usage(&[delta("globex", "ak_missing", 10, 1, 1)]).await.unwrap();
        assert_eq!(store.api_key_usage(&globex, 0, 100).await.unwrap(), [usage("ak_g", 10, 5)]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_usage_batches_lose_no_update() {
    on_both(|store| async move {
        setup(&*store, &["acme", "globex"]).await;
        store.create_api_key(&api_key("acme", "ak_1")).await.unwrap();
        store.create_api_key(&api_key("globex", "ak_g")).await.unwrap();
        const TASKS: i64 = 8;
        const CALLS: i64 = 50;
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for call in 0..CALLS {
                        let at = task * 1_000 + call;
                        // Both tenants in every batch, in opposite orders on alternate tasks:
                        // the store must neither lose an addition nor deadlock.
                        let mut batch = vec![delta("acme", "ak_1", 7, 1, at), delta("globex", "ak_g", 7, 1, at)];
                        if task % 2 == 1 {
                            batch.reverse();
                        }
                        store.add_api_key_usage(&batch).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.api_key_usage(&tid("acme"), 7, 7).await.unwrap(), [usage("ak_1", 7, TASKS * CALLS)]);
        assert_eq!(store.api_key_usage(&tid("globex"), 7, 7).await.unwrap(), [usage("ak_g", 7, TASKS * CALLS)]);
        let latest = (TASKS - 1) * 1_000 + CALLS - 1;
        assert_eq!(last_used(&*store, "acme", "ak_1").await, Some(latest));
        assert_eq!(last_used(&*store, "globex", "ak_g").await, Some(latest));
    })
    .await;
}

#[tokio::test]
async fn deleting_a_tenant_removes_its_keys_and_usage() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme", "globex"]).await;
        let (a, g) = (api_key("acme", "ak_a"), api_key("globex", "ak_g"));
        store.create_api_key(&a).await.unwrap();
        store.create_api_key(&g).await.unwrap();
        store.add_api_key_usage(&[delta("acme", "ak_a", 1, 3, 10), delta("globex", "ak_g", 1, 4, 10)]).await.unwrap();

        store.delete_tenant(&tid("acme")).await.unwrap();
        assert!(store.get_api_key_by_hash(&a.key_hash).await.unwrap().is_none());
        // A tenant of the same id starts with nothing left over.
        store.create_tenant(&crate::tenancy::tenant("acme", &p)).await.unwrap();
        assert!(store.list_api_keys(&tid("acme"), &page(None, 10)).await.unwrap().is_empty());
        assert!(store.api_key_usage(&tid("acme"), 0, 100).await.unwrap().is_empty());
        // The usage of a key that went with its tenant is dropped.
        store.add_api_key_usage(&[delta("acme", "ak_a", 1, 3, 10)]).await.unwrap();
        assert!(store.api_key_usage(&tid("acme"), 0, 100).await.unwrap().is_empty());

        assert_eq!(
            store.get_api_key_by_hash(&g.key_hash).await.unwrap().as_ref(),
            Some(&ApiKey { last_used_at: Some(10), ..g.clone() })
        );
        assert_eq!(store.api_key_usage(&tid("globex"), 0, 100).await.unwrap(), [usage("ak_g", 1, 4)]);
    })
    .await;
}

/// Row-level security on its own, below the store: a raw connection acting as the service
/// role sees and writes only the API keys and usage of the tenant its transaction names.
#[tokio::test]
async fn postgres_policies_confine_api_keys_to_their_tenant() {
    let db = PgDb::create().await;
    {
        let store = cognate_store::connect(&db.url, &cognate_store::PgOptions::default()).await.unwrap();
        setup(&*store, &["acme", "globex"]).await;
        for (t, id) in [("acme", "ak_a1"), ("acme", "ak_a2"), ("globex", "ak_g")] {
            store.create_api_key(&api_key(t, id)).await.unwrap();
        }
        store.add_api_key_usage(&[delta("acme", "ak_a1", 1, 1, 1), delta("globex", "ak_g", 1, 1, 1)]).await.unwrap();

        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        conn.execute("SET ROLE cognate_service").await.unwrap();
        let keys = "SELECT tenant_id FROM api_keys ORDER BY tenant_id";
        assert_eq!(tenants_seen(&mut conn, keys, Some(("app.tenant_id", "acme"))).await, ["acme", "acme"]);
        assert_eq!(tenants_seen(&mut conn, keys, Some(("app.tenant_id", "globex"))).await, ["globex"]);
        assert!(tenants_seen(&mut conn, keys, Some(("app.tenant_id", "nobody"))).await.is_empty());
        assert!(tenants_seen(&mut conn, keys, None).await.is_empty());
        assert_eq!(tenants_seen(&mut conn, keys, Some(("app.platform", "on"))).await, ["acme", "acme", "globex"]);
        let used = "SELECT tenant_id FROM api_key_usage ORDER BY tenant_id";
        assert_eq!(tenants_seen(&mut conn, used, Some(("app.tenant_id", "globex"))).await, ["globex"]);
        assert!(tenants_seen(&mut conn, used, None).await.is_empty());
        assert_eq!(tenants_seen(&mut conn, used, Some(("app.platform", "on"))).await, ["acme", "globex"]);

        // Acme's scope cannot touch Globex's keys or usage, nor write into Globex.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.tenant_id', 'acme', true)").execute(&mut *tx).await.unwrap();
        let revoked = sqlx::query("UPDATE api_keys SET revoked_at = 1").execute(&mut *tx).await.unwrap();
        assert_eq!(revoked.rows_affected(), 2);
        let deleted = sqlx::query("DELETE FROM api_key_usage WHERE tenant_id = 'globex'").execute(&mut *tx).await;
        assert_eq!(deleted.unwrap().rows_affected(), 0);
        let err =
            sqlx::query("INSERT INTO api_key_usage (tenant_id, key_id, day, count) VALUES ('globex', 'ak_g', 2, 1)")
                .execute(&mut *tx)
                .await
                .unwrap_err();
        assert!(err.to_string().contains("row-level security"), "{err}");
        tx.rollback().await.unwrap();

        // The platform scope is read-only.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.platform', 'on', true)").execute(&mut *tx).await.unwrap();
        let changed = sqlx::query("UPDATE api_keys SET revoked_at = 1").execute(&mut *tx).await.unwrap();
        assert_eq!(changed.rows_affected(), 0);
        tx.rollback().await.unwrap();
        conn.close().await.unwrap();
        assert_eq!(store.get_api_key(&tid("globex"), "ak_g").await.unwrap().unwrap().revoked_at, None);
    }
    db.drop_db().await;
}
