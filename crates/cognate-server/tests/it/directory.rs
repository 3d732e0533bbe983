//! This node's copies of app clients and pools (`cognate_server::directory`): its own
//! changes are seen at once, another node's after a notification or, without one, the
//! cache refresh interval — never later.

use std::sync::Arc;
use std::time::Duration;

use cognate_core::SystemClock;
use cognate_core::client::ClientSettings;
use cognate_core::pool::PoolSettings;
use cognate_server::propagation::spawn_listener;
use cognate_server::services::{clients, pools};
use cognate_server::state::DEFAULT_CACHE_REFRESH_MS;

use crate::support::{PgDb, TestApp, on_both};

#[tokio::test]
async fn a_nodes_own_changes_are_seen_at_once_and_another_nodes_within_the_refresh_interval() {
    on_both(1_700_000_000_000, |a, clock| async move {
        let b = a.restart().await;
        let pool = pools::create(&a.state, "directory".into(), PoolSettings::default()).await.unwrap();
        let client = clients::create(&a.state, &pool.id, "app".into(), ClientSettings::default(), true).await.unwrap();
        // Both nodes read (and keep) the client and the pool.
        for node in [&a, &b] {
            assert_eq!(clients::find(&node.state, &client.id).await.unwrap().name, "app");
            assert_eq!(pools::get(&node.state, &pool.id).await.unwrap().name, "directory");
        }

        // A renames the client: A sees it at once; B (no listener) keeps its copy until the
        // refresh interval has passed — which shows B's answer came from its cache.
        let mut renamed = clients::get(&a.state, &pool.id, &client.id).await.unwrap();
        renamed.name = "renamed".into();
        clients::update(&a.state, &renamed).await.unwrap();
        assert_eq!(clients::find(&a.state, &client.id).await.unwrap().name, "renamed");
        assert_eq!(clients::find(&b.state, &client.id).await.unwrap().name, "app");
        clock.advance(DEFAULT_CACHE_REFRESH_MS);
        assert_eq!(clients::find(&b.state, &client.id).await.unwrap().name, "renamed");

        // A new secret authenticates on A at once; the old one still does until deleted.
        let old = client.secrets[0].clone();
        assert!(clients::authenticate(&a.state, client.id.as_str(), None).await.is_err(), "it needs a secret");
        let added = clients::add_secret(&a.state, &pool.id, &client.id, None).await.unwrap();
        let ok = clients::authenticate(&a.state, client.id.as_str(), Some(&added.value)).await.unwrap();
        assert!(ok.confidential);
        clients::delete_secret(&a.state, &pool.id, &client.id, &old.id).await.unwrap();
        assert_eq!(clients::list_secrets(&a.state, &pool.id, &client.id).await.unwrap().len(), 1);

        // A pool change (through the same path UpdateUserPool takes) is seen at once on A.
        pools::tag(&a.state, &pool.id, &[("team".to_owned(), "blue".to_owned())].into()).await.unwrap();
        assert_eq!(pools::get(&a.state, &pool.id).await.unwrap().settings.tags().get("team").unwrap(), "blue");

        // Deleting the client, then the pool: gone on A at once, on B after the interval.
        clients::delete(&a.state, &pool.id, &client.id).await.unwrap();
        assert!(clients::lookup(&a.state, &client.id).await.unwrap().is_none());
        assert!(clients::lookup(&b.state, &client.id).await.unwrap().is_some(), "B's copy until the interval");
        pools::delete(&a.state, &pools::get(&a.state, &pool.id).await.unwrap()).await.unwrap();
        assert!(pools::get(&a.state, &pool.id).await.is_err());
        clock.advance(DEFAULT_CACHE_REFRESH_MS);
        assert!(clients::lookup(&b.state, &client.id).await.unwrap().is_none());
        assert!(pools::get(&b.state, &pool.id).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn resource_server_scopes_follow_their_changes() {
    use cognate_core::resource_server::{ResourceServer, ResourceServerScope};
    use cognate_server::services::resource_servers::{self, Scopes};
    on_both(1_700_000_000_000, |a, clock| async move {
        let b = a.restart().await;
        let pool = pools::create(&a.state, "scopes".into(), PoolSettings::default()).await.unwrap();
        let scope = |name: &str| ResourceServerScope { scope_name: name.into(), scope_description: name.into() };
        let mut rs = ResourceServer {
            pool_id: pool.id.clone(),
            identifier: "notes".into(),
            name: "Notes".into(),
            scopes: vec![scope("read")],
        };
        resource_servers::create(&a.state, &rs).await.unwrap();
        for node in [&a, &b] {
            assert!(Scopes::of(&node.state, &pool.id).defines("notes/read").await.unwrap());
        }
        rs.scopes = vec![scope("write")];
        resource_servers::update(&a.state, &rs).await.unwrap();
        assert!(!Scopes::of(&a.state, &pool.id).defines("notes/read").await.unwrap(), "A's own change, at once");
        assert!(Scopes::of(&a.state, &pool.id).defines("notes/write").await.unwrap());
        assert!(Scopes::of(&b.state, &pool.id).defines("notes/read").await.unwrap(), "B's copy until the interval");
        clock.advance(DEFAULT_CACHE_REFRESH_MS);
        assert!(!Scopes::of(&b.state, &pool.id).defines("notes/read").await.unwrap());
        resource_servers::delete(&a.state, &pool.id, "notes").await.unwrap();
        assert!(!Scopes::of(&a.state, &pool.id).defines("notes/write").await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_stale_copy_never_blocks_a_write_nor_lets_a_protected_pool_go() {
    on_both(1_700_000_000_000, |a, _clock| async move {
        let b = a.restart().await;
        let pool = pools::create(&a.state, "guarded".into(), PoolSettings::default()).await.unwrap();
        let stale = pools::get(&b.state, &pool.id).await.unwrap();
        // A protects the pool; B's copy still says unprotected, yet B refuses to delete it,
        // and B's own change starts from the stored pool (no endless version conflict).
        pools::change(&a.state, &pool.id, |p, _| {
            p.settings.deletion_protection = "ACTIVE".into();
            Ok::<(), pools::PoolError>(())
        })
        .await
        .unwrap();
        let copy = pools::get(&b.state, &pool.id).await.unwrap();
        assert_eq!(copy.settings.deletion_protection, stale.settings.deletion_protection, "B still has its copy");
        assert!(matches!(pools::delete(&b.state, &stale).await, Err(pools::PoolError::DeletionProtected)));
        let tagged = pools::tag(&b.state, &pool.id, &[("k".to_owned(), "v".to_owned())].into()).await.unwrap();
        assert_eq!(tagged.settings.deletion_protection, "ACTIVE");
    })
    .await;
}

#[tokio::test]
async fn another_nodes_change_reaches_a_listening_node_at_once() {
    let db = PgDb::create().await;
    let a = TestApp::on(Some(&db.url), Arc::new(SystemClock)).await;
    let b = a.restart().await;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let listener = spawn_listener(b.state.clone(), stop_rx);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !b.state.propagation.listening() {
        assert!(tokio::time::Instant::now() < deadline, "the listener did not connect");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pool = pools::create(&a.state, "listened".into(), PoolSettings::default()).await.unwrap();
    let client = clients::create(&a.state, &pool.id, "app".into(), ClientSettings::default(), false).await.unwrap();
    assert!(clients::lookup(&b.state, &client.id).await.unwrap().is_some());
    clients::delete(&a.state, &pool.id, &client.id).await.unwrap();
    // Trusted for a minute while listening, yet gone within two seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while clients::lookup(&b.state, &client.id).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the deletion did not reach B");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(true).unwrap();
    listener.await.unwrap();
    drop((a, b));
    db.drop_db().await;
}

#[tokio::test]
async fn a_pools_dedicated_tenant_follows_tenant_changes() {
    use cognate_core::tenant::{MfaRequirement, Tenant, TenantId, TenantStatus, Tier};
    use cognate_server::services::tenants;
    use cognate_server::tenancy::{Placement, placement};
    let dedicated_to = |found: Option<Placement>| match found {
        Some(Placement::Dedicated(t)) => Some(t.id.to_string()),
        _ => None,
    };
    on_both(1_700_000_000_000, |a, clock| async move {
        let b = a.restart().await;
        let pool = pools::create(&a.state, "dedicated".into(), PoolSettings::default()).await.unwrap();
        for node in [&a, &b] {
            assert!(placement(&node.state, &pool.id).await.unwrap().is_none());
        }

        // The pool becomes a platinum tenant's (provisioning makes the pool first): A knows
        // at once; B keeps its copy until the refresh interval — its answer was cached.
        let id = TenantId::parse("acme").unwrap();
        let tenant = Tenant {
            id: id.clone(),
            name: "Acme".into(),
            tier: Tier::Platinum,
            status: TenantStatus::Active,
            pool_id: pool.id.clone(),
            mfa: MfaRequirement::Off,
            created_at: 1,
            updated_at: 1,
            version: 1,
        };
        a.state.store.create_tenant_with(&tenant, &[], &[]).await.unwrap();
        assert_eq!(dedicated_to(placement(&a.state, &pool.id).await.unwrap()).as_deref(), Some("acme"));
        assert!(placement(&b.state, &pool.id).await.unwrap().is_none(), "B's copy until the interval");
        clock.advance(DEFAULT_CACHE_REFRESH_MS);
        assert_eq!(dedicated_to(placement(&b.state, &pool.id).await.unwrap()).as_deref(), Some("acme"));

        // The tenant's record is never the cached part: a suspension shows on both at once.
        tenants::suspend(&a.state, &id).await.unwrap();
        for node in [&a, &b] {
            match placement(&node.state, &pool.id).await.unwrap() {
                Some(Placement::Dedicated(t)) => assert_eq!(t.status, TenantStatus::Suspended),
                other => panic!("{other:?}"),
            }
        }

        // Leaving the pool (a move to the shared pool) shows on both at once: a dedicated
        // answer is always checked against the database.
        tenants::reactivate(&a.state, &id).await.unwrap();
        tenants::set_tier(&a.state, &id, Tier::Standard).await.unwrap();
        for node in [&a, &b] {
            assert!(placement(&node.state, &pool.id).await.unwrap().is_none());
        }
    })
    .await;
}

#[tokio::test]
async fn the_shared_pool_is_known_at_once_where_created_and_elsewhere_within_the_interval() {
    use cognate_core::tenant::Tier;
    use cognate_server::services::tenants::{self, NewTenant};
    use cognate_server::tenancy::{Placement, placement, shared_pool_id};
    on_both(1_700_000_000_000, |a, clock| async move {
        let b = a.restart().await;
        assert!(shared_pool_id(&b.state).await.unwrap().is_none(), "none yet (B keeps that answer)");
        let new = NewTenant { id: Some("acme"), name: "Acme", tier: Tier::Standard, domains: Vec::new() };
        tenants::create(&a.state, new).await.unwrap();
        let shared = shared_pool_id(&a.state).await.unwrap().expect("A created it");
        assert!(matches!(placement(&a.state, &shared).await.unwrap(), Some(Placement::Shared)));
        assert!(shared_pool_id(&b.state).await.unwrap().is_none(), "B's answer until the interval");
        clock.advance(DEFAULT_CACHE_REFRESH_MS);
        assert_eq!(shared_pool_id(&b.state).await.unwrap(), Some(shared.clone()));
        assert!(matches!(placement(&b.state, &shared).await.unwrap(), Some(Placement::Shared)));
    })
    .await;
}
