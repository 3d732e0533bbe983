//! The MFA records of users: round trip, replay protection under concurrency, cascades and
//! tenant moves.

use cognate_core::StoreError;
use cognate_core::mfa::UserMfa;
use cognate_core::pool::UserPool;
use cognate_core::repo::Store;

use crate::harness::on_both;
use crate::pools::pool;
use crate::users::user;

fn enrolled(p: &UserPool, sub: &str, last_step: i64) -> UserMfa {
    UserMfa {
        totp_secret_sealed: Some(format!("sealed-{sub}")),
        totp_verified: true,
        totp_enabled: true,
        preferred: true,
        last_step,
        friendly_device_name: Some("phone".into()),
        ..UserMfa::new(p.id.clone(), sub, 10)
    }
}

async fn new_user(store: &dyn Store, p: &UserPool, name: &str) -> String {
    let u = user(p, name, &[]);
    store.create_user(&u, &u.keys(&p.settings)).await.unwrap();
    u.sub
}

#[tokio::test]
async fn records_round_trip_and_go_with_the_user() {
    on_both(|store| async move {
        let p = pool("mfa");
        store.create_pool(&p).await.unwrap();
        let sub = new_user(&*store, &p, "ann").await;
        assert!(store.get_mfa(&p.id, &sub).await.unwrap().is_none());

        let pending = UserMfa {
            pending_secret_sealed: Some("pending".into()),
            pending_at: Some(5),
            ..UserMfa::new(p.id.clone(), &sub, 5)
        };
        store.put_mfa(&pending).await.unwrap();
        assert_eq!(store.get_mfa(&p.id, &sub).await.unwrap().as_ref(), Some(&pending));

        // Replacing keeps created_at and stores everything else.
        let mut full = enrolled(&p, &sub, 100);
        full.created_at = 99;
        full.updated_at = 20;
        store.put_mfa(&full).await.unwrap();
        let stored = store.get_mfa(&p.id, &sub).await.unwrap().unwrap();
        assert_eq!(stored, UserMfa { created_at: 5, ..full.clone() });

        // last_step never moves back through a replace.
        store.put_mfa(&UserMfa { last_step: 7, preferred: false, ..full.clone() }).await.unwrap();
        let stored = store.get_mfa(&p.id, &sub).await.unwrap().unwrap();
        assert_eq!((stored.last_step, stored.preferred), (100, false));

        // No record for a user who does not exist.
        let ghost = UserMfa::new(p.id.clone(), "no-such-sub", 1);
        assert!(matches!(store.put_mfa(&ghost).await, Err(StoreError::NotFound("user"))));

        store.delete_mfa(&p.id, &sub).await.unwrap();
        assert!(store.get_mfa(&p.id, &sub).await.unwrap().is_none());
        store.delete_mfa(&p.id, &sub).await.unwrap();

        // Deleting the user deletes the record.
        store.put_mfa(&enrolled(&p, &sub, 1)).await.unwrap();
        store.delete_user(&p.id, &sub, 1).await.unwrap();
        assert!(store.get_mfa(&p.id, &sub).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn each_step_is_accepted_once_even_concurrently() {
    on_both(|store| async move {
        let p = pool("replay");
        store.create_pool(&p).await.unwrap();
        let sub = new_user(&*store, &p, "bob").await;
        assert!(!store.use_totp_step(&p.id, &sub, 1).await.unwrap(), "no record, nothing accepted");
        store.put_mfa(&enrolled(&p, &sub, 50)).await.unwrap();

        assert!(!store.use_totp_step(&p.id, &sub, 50).await.unwrap(), "the last accepted step again");
        assert!(!store.use_totp_step(&p.id, &sub, 49).await.unwrap(), "an earlier step");
        assert!(store.use_totp_step(&p.id, &sub, 51).await.unwrap());
        assert!(!store.use_totp_step(&p.id, &sub, 51).await.unwrap(), "a replay");
        assert_eq!(store.get_mfa(&p.id, &sub).await.unwrap().unwrap().last_step, 51);

        // Many sign-ins racing with the same code: exactly one wins.
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (store, pool, sub) = (store.clone(), p.id.clone(), sub.clone());
                tokio::spawn(async move { store.use_totp_step(&pool, &sub, 52).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1);
        assert_eq!(store.get_mfa(&p.id, &sub).await.unwrap().unwrap().last_step, 52);

        // Another user's steps are their own.
        let other = new_user(&*store, &p, "cat").await;
        store.put_mfa(&enrolled(&p, &other, 0)).await.unwrap();
        assert!(store.use_totp_step(&p.id, &other, 52).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_tenant_move_carries_the_moved_users_mfa() {
    on_both(|store| async move {
        let (shared, dedicated, [ann, bob, cat], plan) = crate::tenancy::move_setup(&*store).await;
        for (u, step) in [(&ann, 11), (&bob, 22), (&cat, 33)] {
            store.put_mfa(&enrolled(&shared, &u.sub, step)).await.unwrap();
        }
        crate::tenancy::move_tenant(&*store, &plan).await.unwrap();

        // ann and bob moved: their records are in the dedicated pool, as they were.
        for (u, step) in [(&ann, 11), (&bob, 22)] {
            let moved = store.get_mfa(&dedicated.id, &u.sub).await.unwrap().unwrap();
            assert_eq!(moved, UserMfa { pool_id: dedicated.id.clone(), ..enrolled(&shared, &u.sub, step) });
        }
        // ann's old row went (and its record with it); bob keeps his shared-pool account
        // (he is still in globex) and its record; cat was not moved.
        assert!(store.get_mfa(&shared.id, &ann.sub).await.unwrap().is_none());
        assert_eq!(store.get_mfa(&shared.id, &bob.sub).await.unwrap().unwrap().last_step, 22);
        assert_eq!(store.get_mfa(&shared.id, &cat.sub).await.unwrap().unwrap().last_step, 33);
        assert!(store.get_mfa(&dedicated.id, &cat.sub).await.unwrap().is_none());
    })
    .await;
}
