use std::collections::BTreeMap;

use cognate_core::StoreError;
use cognate_core::group::Group;
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;
use cognate_core::user::{User, UserFilter, UserStatus};

use crate::harness::on_both;
use crate::pools::pool;

pub fn user(p: &UserPool, name: &str, attrs: &[(&str, &str)]) -> User {
    User {
        pool_id: p.id.clone(),
        sub: uuid::Uuid::new_v4().to_string(),
        username: name.into(),
        status: UserStatus::Confirmed,
        enabled: true,
        password_hash: Some("$argon2id$stub".into()),
        temp_password_expires_at: None,
        attributes: attrs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
        created_at: 1,
        updated_at: 1,
        srp_verifier: None,
        tokens_valid_after: 0,
    }
}

fn all() -> PageRequest {
    PageRequest { after: None, limit: 100 }
}

async fn names(store: &dyn cognate_core::repo::Store, p: &UserPool, filter: &str) -> Vec<String> {
    let f = UserFilter::parse(filter, &p.settings).unwrap();
    store.list_users(&p.id, Some(&f), &all()).await.unwrap().into_iter().map(|u| u.username).collect()
}

#[tokio::test]
async fn usernames_and_verified_email_aliases_are_unique_per_pool() {
    on_both(|store| async move {
        let mut p = pool("aliases");
        p.settings.alias_attributes = vec!["email".into()];
        store.create_pool(&p).await.unwrap();
        let other = pool("other");
        store.create_pool(&other).await.unwrap();

        let alice = user(&p, "Alice", &[("email", "A@x.io"), ("email_verified", "true")]);
        store.create_user(&alice, &alice.keys(&p.settings)).await.unwrap();
        // Case-insensitive pool: "alice" is the same username.
        let dup = user(&p, "alice", &[]);
        assert!(matches!(store.create_user(&dup, &dup.keys(&p.settings)).await, Err(StoreError::Conflict("username"))));
        let same_mail = user(&p, "bob", &[("email", "a@x.io"), ("email_verified", "true")]);
        assert!(matches!(
            store.create_user(&same_mail, &same_mail.keys(&p.settings)).await,
            Err(StoreError::Conflict("email"))
        ));
        // An unverified email is not an alias, so it does not collide.
        let unverified = user(&p, "carol", &[("email", "a@x.io")]);
        store.create_user(&unverified, &unverified.keys(&p.settings)).await.unwrap();
        // Another pool is another namespace.
        let elsewhere = user(&other, "alice", &[]);
        store.create_user(&elsewhere, &elsewhere.keys(&other.settings)).await.unwrap();

        let found = store.get_user_by_alias(&p.id, "email", "a@x.io").await.unwrap().unwrap();
        assert_eq!(found.sub, alice.sub);
        assert_eq!(store.get_user(&p.id, "alice").await.unwrap().unwrap().sub, alice.sub);
        assert_eq!(store.get_user_by_sub(&p.id, &alice.sub).await.unwrap().unwrap().username, "Alice");
        assert_eq!(store.count_users(&p.id).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn filters_use_the_attribute_index_and_follow_updates() {
    on_both(|store| async move {
        let mut p = pool("filters");
        p.settings.schema = cognate_core::attributes::build_schema(&[serde_json::from_value(
            serde_json::json!({"Name": "dept", "AttributeDataType": "String"}),
        )
        .unwrap()])
        .unwrap();
        store.create_pool(&p).await.unwrap();
        let mut ann = user(&p, "ann", &[("email", "ann@acme.io"), ("given_name", "Ann"), ("custom:dept", "eng")]);
        let bo = user(&p, "bo", &[("email", "bo@acme.io"), ("given_name", "Bo"), ("custom:dept", "ops")]);
        let mut cy = user(&p, "cy", &[("email", "cy@globex.io"), ("given_name", "Cy"), ("custom:dept", "eng")]);
        cy.enabled = false;
        cy.status = UserStatus::ForceChangePassword;
        for u in [&ann, &bo, &cy] {
            store.create_user(u, &u.keys(&p.settings)).await.unwrap();
        }
        assert_eq!(names(store.as_ref(), &p, r#"email = "ANN@acme.io""#).await, ["ann"]);
        assert_eq!(names(store.as_ref(), &p, r#"email ^= "bo""#).await, ["bo"]);
        assert_eq!(names(store.as_ref(), &p, r#"given_name ^= "C""#).await, ["cy"]);
        assert_eq!(names(store.as_ref(), &p, r#"custom:dept = "eng""#).await, ["ann", "cy"]);
        assert_eq!(names(store.as_ref(), &p, r#"status = "Disabled""#).await, ["cy"]);
        assert_eq!(names(store.as_ref(), &p, r#"status = "Enabled""#).await, ["ann", "bo"]);
        assert_eq!(names(store.as_ref(), &p, r#"cognito:user_status = "FORCE_CHANGE_PASSWORD""#).await, ["cy"]);
        assert_eq!(names(store.as_ref(), &p, r#"username ^= "B""#).await, ["bo"]);
        assert_eq!(names(store.as_ref(), &p, &format!(r#"sub = "{}""#, bo.sub)).await, ["bo"]);

        ann.attributes.insert("custom:dept".into(), "ops".into());
        store.update_user(&ann, &ann.keys(&p.settings)).await.unwrap();
        assert_eq!(names(store.as_ref(), &p, r#"custom:dept = "eng""#).await, ["cy"]);
        assert_eq!(names(store.as_ref(), &p, r#"custom:dept = "ops""#).await, ["ann", "bo"]);

        store.delete_user(&p.id, &bo.sub, 1).await.unwrap();
        assert_eq!(names(store.as_ref(), &p, r#"custom:dept = "ops""#).await, ["ann"]);
        assert!(matches!(store.delete_user(&p.id, &bo.sub, 1).await, Err(StoreError::NotFound("user"))));
    })
    .await;
}

#[tokio::test]
async fn group_membership_follows_users_and_groups() {
    on_both(|store| async move {
        let p = pool("groups");
        store.create_pool(&p).await.unwrap();
        let u = user(&p, "dana", &[]);
        store.create_user(&u, &u.keys(&p.settings)).await.unwrap();
        for name in ["acme-admin", "acme-member"] {
            store
                .create_group(&Group {
                    pool_id: p.id.clone(),
                    name: name.into(),
                    description: Some("d".into()),
                    role_arn: None,
                    precedence: None,
                    created_at: 1,
                    updated_at: 1,
                })
                .await
                .unwrap();
        }
        store.add_user_to_group(&p.id, "acme-admin", &u.sub).await.unwrap();
        store.add_user_to_group(&p.id, "acme-admin", &u.sub).await.unwrap(); // idempotent
        store.add_user_to_group(&p.id, "acme-member", &u.sub).await.unwrap();
        assert!(matches!(store.add_user_to_group(&p.id, "missing", &u.sub).await, Err(StoreError::NotFound(_))));
        let groups = store.list_groups_for_user(&p.id, &u.sub, &all()).await.unwrap();
        assert_eq!(groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["acme-admin", "acme-member"]);
        let members = store.list_users_in_group(&p.id, "acme-admin", &all()).await.unwrap();
        assert_eq!(members.len(), 1);

        store.remove_user_from_group(&p.id, "acme-admin", &u.sub).await.unwrap();
        assert!(store.list_users_in_group(&p.id, "acme-admin", &all()).await.unwrap().is_empty());
        store.delete_group(&p.id, "acme-member").await.unwrap();
        assert!(store.list_groups_for_user(&p.id, &u.sub, &all()).await.unwrap().is_empty());
        store.add_user_to_group(&p.id, "acme-admin", &u.sub).await.unwrap();
        store.delete_user(&p.id, &u.sub, 1).await.unwrap();
        assert!(store.list_users_in_group(&p.id, "acme-admin", &all()).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn import_is_all_or_nothing() {
    on_both(|store| async move {
        let p = pool("import");
        store.create_pool(&p).await.unwrap();
        let existing = user(&p, "taken", &[]);
        store.create_user(&existing, &existing.keys(&p.settings)).await.unwrap();
        let batch: Vec<_> = ["u1", "u2", "TAKEN"]
            .iter()
            .map(|n| {
                let u = user(&p, n, &[("given_name", "x")]);
                let k = u.keys(&p.settings);
                (u, k)
            })
            .collect();
        assert!(matches!(store.import_users(&batch).await, Err(StoreError::Conflict("username"))));
        assert_eq!(store.count_users(&p.id).await.unwrap(), 1);
        assert!(names(store.as_ref(), &p, r#"given_name = "x""#).await.is_empty());
        store.import_users(&batch[..2]).await.unwrap();
        assert_eq!(names(store.as_ref(), &p, r#"given_name = "x""#).await, ["u1", "u2"]);
    })
    .await;
}
