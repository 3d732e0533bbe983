//! Terms documents, session tracking settings, and capped token issues, on both backends.

use std::collections::BTreeMap;

use cognate_core::client::{AppClient, ClientSettings};
use cognate_core::ids::ClientId;
use cognate_core::page::PageRequest;
use cognate_core::session_config::{ClientSessionConfig, PoolSessionConfig};
use cognate_core::terms::{Terms, TermsName};
use cognate_core::token::{RefreshToken, new_refresh_token};
use cognate_core::{StoreError, SystemRng};

use crate::harness::on_both;
use crate::pools::pool;
use crate::tokens::family;

pub(crate) fn client(p: &cognate_core::pool::UserPool) -> AppClient {
    AppClient {
        pool_id: p.id.clone(),
        id: ClientId::generate(&SystemRng),
        name: "web".into(),
        secret_sealed: None,
        secrets: Vec::new(),
        secrets_version: 0,
        settings: ClientSettings::default(),
        created_at: 1,
        updated_at: 1,
    }
}

fn terms(c: &AppClient, id: &str, name: TermsName) -> Terms {
    Terms {
        id: id.into(),
        pool_id: c.pool_id.clone(),
        client_id: c.id.clone(),
        name,
        links: BTreeMap::from([("cognito:default".to_owned(), "https://example.com/t".to_owned())]),
        created_at: 5,
        updated_at: 5,
    }
}

#[tokio::test]
async fn terms_are_one_of_each_name_per_client_and_go_with_the_client() {
    on_both(|store| async move {
        let p = pool("terms");
        store.create_pool(&p).await.unwrap();
        let c = client(&p);
        store.create_client(&c).await.unwrap();
        let tou = terms(&c, "00000000-0000-4000-8000-000000000001", TermsName::TermsOfUse);
        store.create_terms(&tou).await.unwrap();
        let again = terms(&c, "00000000-0000-4000-8000-000000000002", TermsName::TermsOfUse);
        assert!(matches!(store.create_terms(&again).await, Err(StoreError::Conflict("terms"))));
        let pp = terms(&c, "00000000-0000-4000-8000-000000000003", TermsName::PrivacyPolicy);
        store.create_terms(&pp).await.unwrap();
        let mut stranger = client(&p);
        stranger.id = ClientId::generate(&SystemRng);
        let orphan = terms(&stranger, "00000000-0000-4000-8000-000000000004", TermsName::TermsOfUse);
        assert!(matches!(store.create_terms(&orphan).await, Err(StoreError::NotFound("client"))));

        assert_eq!(store.get_terms(&p.id, &tou.id).await.unwrap().as_ref(), Some(&tou));
        let by_name = store.get_terms_by_client(&p.id, &c.id, TermsName::PrivacyPolicy).await.unwrap();
        assert_eq!(by_name.as_ref(), Some(&pp));
        assert_eq!(store.list_client_terms(&p.id, &c.id).await.unwrap().len(), 2);
        let page = store.list_terms(&p.id, &PageRequest { after: Some(tou.id.clone()), limit: 10 }).await.unwrap();
        assert_eq!(page, vec![pp.clone()]);

        let mut renamed = tou.clone();
        renamed.name = TermsName::PrivacyPolicy;
        assert!(matches!(store.update_terms(&renamed).await, Err(StoreError::Conflict("terms"))));
        store.delete_terms(&p.id, &pp.id).await.unwrap();
        assert!(matches!(store.delete_terms(&p.id, &pp.id).await, Err(StoreError::NotFound("terms"))));
        store.update_terms(&renamed).await.unwrap();
        assert_eq!(store.get_terms(&p.id, &tou.id).await.unwrap().unwrap().name, TermsName::PrivacyPolicy);

        store
            .put_client_session_config(&p.id, &c.id, &ClientSessionConfig { max_validity_minutes: 0 }, 9)
            .await
            .unwrap();
        store.delete_client(&p.id, &c.id).await.unwrap();
        assert!(store.list_client_terms(&p.id, &c.id).await.unwrap().is_empty());
        assert!(store.get_client_session_config(&p.id, &c.id).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn session_configs_are_replaced_whole_and_deleted_with_the_pool() {
    on_both(|store| async move {
        let p = pool("sesscfg");
        store.create_pool(&p).await.unwrap();
        let c = client(&p);
        store.create_client(&c).await.unwrap();
        assert!(store.get_pool_session_config(&p.id).await.unwrap().is_none());
        let on = PoolSessionConfig { tracking: true, max_per_user: 100 };
        store.put_pool_session_config(&p.id, &on, 1).await.unwrap();
        assert_eq!(store.get_pool_session_config(&p.id).await.unwrap(), Some(on));
        let off = PoolSessionConfig { tracking: false, max_per_user: 1 };
        store.put_pool_session_config(&p.id, &off, 2).await.unwrap();
        assert_eq!(store.get_pool_session_config(&p.id).await.unwrap(), Some(off));
        let long = ClientSessionConfig { max_validity_minutes: 129_600 };
        store.put_client_session_config(&p.id, &c.id, &long, 3).await.unwrap();
        assert_eq!(store.get_client_session_config(&p.id, &c.id).await.unwrap(), Some(long));
        let missing = ClientId::generate(&SystemRng);
        let refused = store.put_client_session_config(&p.id, &missing, &long, 4).await;
        assert!(matches!(refused, Err(StoreError::NotFound(_))), "{refused:?}");
        store.delete_pool(&p.id).await.unwrap();
        assert!(store.get_pool_session_config(&p.id).await.unwrap().is_none());
    })
    .await;
}

fn token(family: &str, at: i64) -> RefreshToken {
    let (_, hash) = new_refresh_token(&SystemRng);
    RefreshToken { hash, family_id: family.into(), created_at: at, expires_at: at + 1000, rotated_at: None }
}

/// A capped issue ends the least recently active live families (by their newest refresh
/// token), never revoked or expired ones, and publishes each.
#[tokio::test]
async fn a_capped_issue_ends_the_least_recently_active_families() {
    on_both(|store| async move {
        let p = pool("capped");
        store.create_pool(&p).await.unwrap();
        store.create_family(&family(&p, "a", "sub", 10), Some(&token("a", 10))).await.unwrap();
        store.create_family(&family(&p, "b", "sub", 20), Some(&token("b", 20))).await.unwrap();
        store.create_family(&family(&p, "c", "sub", 30), Some(&token("c", 30))).await.unwrap();
        store.add_refresh_token(&token("a", 40)).await.unwrap(); // "a" was refreshed: now the newest
        store.create_family(&family(&p, "x", "other", 30), Some(&token("x", 30))).await.unwrap();

        let evicted = store.create_family_within(&family(&p, "d", "sub", 50), &token("d", 50), 2).await.unwrap();
        assert_eq!(evicted, vec!["b".to_owned(), "c".to_owned()]);
        let live: Vec<String> =
            store.live_families(&p.id, "sub", 60, 125).await.unwrap().into_iter().map(|l| l.family.id).collect();
        assert_eq!(live, vec!["d".to_owned(), "a".to_owned()]);
        assert_eq!(store.live_families(&p.id, "other", 60, 125).await.unwrap().len(), 1);
        let feed = store.revocations_after(&p.id, 0, 10).await.unwrap();
        assert_eq!(feed.iter().map(|e| e.subject.as_str()).collect::<Vec<_>>(), vec!["b", "c"]);
        // Within the cap nothing ends; an expired family does not count.
        let none = store.create_family_within(&family(&p, "e", "sub", 2000), &token("e", 2000), 2).await.unwrap();
        assert!(none.is_empty(), "a and d expired at 1040 and 1050: {none:?}");
    })
    .await;
}
