//! Provider links and auth events: a user written whole from a copy read before a link
//! keeps the `identities` attribute the links make; events are listed newest first, marked,
//! purged by age and go with the user.

use cognate_core::auth_event::{AuthEvent, Feedback};
use cognate_core::idp::ProviderLink;
use cognate_core::page::PageRequest;

use crate::harness::on_both;
use crate::pools::pool;
use crate::users::user;

#[tokio::test]
async fn identities_follow_the_links_not_a_stale_copy() {
    on_both(|store| async move {
        let p = pool("links");
        store.create_pool(&p).await.unwrap();
        let u = user(&p, "ann", &[]);
        let keys = u.keys(&p.settings);
        store.create_user(&u, &keys).await.unwrap();
        let stale = store.get_user_by_sub(&p.id, &u.sub).await.unwrap().unwrap();
        let link = ProviderLink {
            pool_id: p.id.clone(),
            provider: "Acme".into(),
            provider_type: "OIDC".into(),
            attribute: "Cognito_Subject".into(),
            value: "idp-1".into(),
            user_sub: u.sub.clone(),
            created: 1_800_000_000,
        };
        store.link_provider(&link, 5).await.unwrap();
        // An update from a copy read before the link keeps the link's attribute...
        store.update_user(&stale, &keys).await.unwrap();
        let now = store.get_user_by_sub(&p.id, &u.sub).await.unwrap().unwrap();
        assert!(now.attributes["identities"].contains("idp-1"), "{:?}", now.attributes);
        // ...and a copy that still carries it after the unlink does not bring it back.
        store.unlink_provider(&p.id, "Acme", "Cognito_Subject", "idp-1").await.unwrap();
        store.update_user(&now, &keys).await.unwrap();
        let after = store.get_user_by_sub(&p.id, &u.sub).await.unwrap().unwrap();
        assert!(!after.attributes.contains_key("identities"), "{:?}", after.attributes);
    })
    .await;
}

#[tokio::test]
async fn auth_events_page_newest_first_and_are_purged_by_age() {
    on_both(|store| async move {
        let p = pool("events");
        store.create_pool(&p).await.unwrap();
        let u = user(&p, "bob", &[]);
        store.create_user(&u, &u.keys(&p.settings)).await.unwrap();
        for (i, at) in [100, 200, 200, 300].into_iter().enumerate() {
            let event = AuthEvent {
                pool_id: p.id.clone(),
                sub: u.sub.clone(),
                id: format!("e{i}"),
                at,
                kind: "SignIn".into(),
                response: "Pass".into(),
                challenges: Vec::new(),
                ip: None,
                device: None,
                feedback: None,
            };
            store.add_auth_event(&event).await.unwrap();
        }
        let first = store.list_auth_events(&p.id, &u.sub, &PageRequest { after: None, limit: 2 }).await.unwrap();
        let ids: Vec<_> = first.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["e3", "e2", "e1"], "two and the one telling another page follows");
        let after = cognate_core::auth_event::cursor(&first[1]);
        let rest = store.list_auth_events(&p.id, &u.sub, &PageRequest { after: Some(after), limit: 2 }).await.unwrap();
        assert_eq!(rest.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e1", "e0"]);

        let feedback = Feedback { value: "Invalid".into(), provider: "Admin".into(), at: 400 };
        store.set_auth_event_feedback(&p.id, &u.sub, "e0", &feedback).await.unwrap();
        assert!(store.set_auth_event_feedback(&p.id, "other-sub", "e0", &feedback).await.is_err());

        assert_eq!(store.purge_auth_events(200).await.unwrap(), 1);
        let left = store.list_auth_events(&p.id, &u.sub, &PageRequest { after: None, limit: 10 }).await.unwrap();
        assert_eq!(left.len(), 3);
        store.delete_user(&p.id, &u.sub, 500).await.unwrap();
        assert!(
            store.list_auth_events(&p.id, &u.sub, &PageRequest { after: None, limit: 10 }).await.unwrap().is_empty()
        );
    })
    .await;
}
