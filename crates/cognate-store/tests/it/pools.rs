use cognate_core::StoreError;
use cognate_core::SystemRng;
use cognate_core::admin::AdminCredential;
use cognate_core::client::{AppClient, ClientSettings};
use cognate_core::group::Group;
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::page::PageRequest;
use cognate_core::pool::{PoolSettings, UserPool};
use cognate_core::repo::OutboxMessage;
use cognate_core::resource_server::{ResourceServer, ResourceServerScope};

use crate::harness::on_both;

pub fn pool(name: &str) -> UserPool {
    UserPool {
        id: PoolId::generate("test", &SystemRng),
        name: name.into(),
        settings: PoolSettings::default(),
        created_at: 1,
        updated_at: 1,
        version: 1,
    }
}

fn page(after: Option<&str>, limit: u32) -> PageRequest {
    PageRequest { after: after.map(str::to_owned), limit }
}

#[tokio::test]
async fn pools_round_trip_update_with_version_and_cascade() {
    on_both(|store| async move {
        let mut p = pool("one");
        p.settings.alias_attributes = vec!["email".into()];
        p.settings.extra.insert("LambdaConfig".into(), serde_json::json!({"PreSignUp": "arn"}));
        store.create_pool(&p).await.unwrap();
        assert_eq!(store.get_pool(&p.id).await.unwrap().as_ref(), Some(&p));
        assert!(matches!(store.create_pool(&p).await, Err(StoreError::Conflict("pool"))));

        let mut changed = p.clone();
        changed.name = "renamed".into();
        store.update_pool(&changed).await.unwrap();
        let stored = store.get_pool(&p.id).await.unwrap().unwrap();
        assert_eq!((stored.name.as_str(), stored.version), ("renamed", 2));
        // A second writer holding the old version loses instead of overwriting.
        assert!(matches!(store.update_pool(&changed).await, Err(StoreError::Conflict("version"))));

        let client = AppClient {
            pool_id: p.id.clone(),
            id: ClientId::generate(&SystemRng),
            name: "web".into(),
            secret_sealed: None,
            secrets: Vec::new(),
            secrets_version: 0,
            settings: ClientSettings::default(),
            created_at: 1,
            updated_at: 1,
        };
        store.create_client(&client).await.unwrap();
        assert_eq!(store.get_client(&p.id, &client.id).await.unwrap().as_ref(), Some(&client));
        store
            .create_resource_server(&ResourceServer {
                pool_id: p.id.clone(),
                identifier: "https://api".into(),
                name: "api".into(),
                scopes: vec![ResourceServerScope { scope_name: "read".into(), scope_description: "r".into() }],
            })
            .await
            .unwrap();
        store.delete_pool(&p.id).await.unwrap();
        assert!(store.get_pool(&p.id).await.unwrap().is_none());
        assert!(store.get_client(&p.id, &client.id).await.unwrap().is_none());
        assert!(store.get_resource_server(&p.id, "https://api").await.unwrap().is_none());
        assert!(matches!(store.delete_pool(&p.id).await, Err(StoreError::NotFound("pool"))));
    })
    .await;
}

#[tokio::test]
async fn lists_page_in_key_order_without_gaps() {
    on_both(|store| async move {
        let p = pool("paged");
        store.create_pool(&p).await.unwrap();
        for i in 0..7 {
            store
                .create_group(&Group {
                    pool_id: p.id.clone(),
                    name: format!("g{i}"),
                    description: None,
                    role_arn: None,
                    precedence: Some(i),
                    created_at: 1,
                    updated_at: 1,
                })
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let req = page(after.as_deref(), 3);
            let rows = store.list_groups(&p.id, &req).await.unwrap();
            let (rows, next) = cognate_core::page::finish(rows, &req, |g| g.name.clone());
            seen.extend(rows.into_iter().map(|g| g.name));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, (0..7).map(|i| format!("g{i}")).collect::<Vec<_>>());
    })
    .await;
}

#[tokio::test]
async fn admin_credentials_meta_and_outbox() {
    on_both(|store| async move {
        let cred = AdminCredential {
            access_key_id: "CGNTEST".into(),
            secret_sealed: "sealed".into(),
            description: "d".into(),
            created_at: 5,
            revoked_at: None,
        };
        store.create_admin_credential(&cred).await.unwrap();
        assert_eq!(store.get_admin_credential("CGNTEST").await.unwrap().as_ref(), Some(&cred));
        store.revoke_admin_credential("CGNTEST", 9).await.unwrap();
        assert_eq!(store.get_admin_credential("CGNTEST").await.unwrap().unwrap().revoked_at, Some(9));
        assert!(matches!(store.revoke_admin_credential("nope", 9).await, Err(StoreError::NotFound(_))));
        assert_eq!(store.list_admin_credentials().await.unwrap().len(), 1);

        assert_eq!(store.get_meta("k").await.unwrap(), None);
        assert_eq!(store.put_meta_if_absent("k", "first").await.unwrap(), "first");
        assert_eq!(store.put_meta_if_absent("k", "second").await.unwrap(), "first");

        let p = pool("mail");
        store.create_pool(&p).await.unwrap();
        for i in 0..3 {
            store
                .enqueue_message(&OutboxMessage {
                    id: format!("m{i}"),
                    pool_id: p.id.clone(),
                    username: "u".into(),
                    medium: "EMAIL".into(),
                    destination: "u@example.com".into(),
                    subject: "s".into(),
                    body: format!("b{i}"),
                    created_at: i,
                    delivered_at: None,
                    attempts: 0,
                    last_error: None,
                    next_attempt_at: 0,
                    secret_expires_at: None,
                })
                .await
                .unwrap();
        }
        let msgs = store.list_messages(Some(&p.id), 2).await.unwrap();
        assert_eq!(msgs.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["b2", "b1"]);
        assert_eq!(store.list_messages(None, 10).await.unwrap().len(), 3);
        assert!(store.list_messages(Some(&PoolId::generate("x", &SystemRng)), 10).await.unwrap().is_empty());
    })
    .await;
}
