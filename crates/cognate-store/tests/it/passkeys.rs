//! Passkeys and pending registrations: a registration is taken once under concurrency, a
//! use is recorded only when the counter moves forward (once per counter value), and both
//! go with the user.

use std::sync::Arc;

use cognate_core::StoreError;
use cognate_core::passkey::{PasskeyCredential, PendingRegistration};
use cognate_core::pool::UserPool;

use crate::harness::on_both;
use crate::pools::pool;
use crate::users::user;

fn passkey(p: &UserPool, sub: &str, id: &str, counter: i64) -> PasskeyCredential {
    PasskeyCredential {
        pool_id: p.id.clone(),
        sub: sub.into(),
        credential_id: id.into(),
        credential: "{}".into(),
        friendly_name: format!("Passkey {id}"),
        relying_party_id: "localhost".into(),
        attachment: Some("platform".into()),
        transports: vec!["internal".into()],
        counter,
        created_at: 10,
        last_used_at: None,
    }
}

#[tokio::test]
async fn registrations_are_taken_once_and_counters_only_move_forward() {
    on_both(|store| async move {
        let p = pool("passkeys");
        store.create_pool(&p).await.unwrap();
        let u = user(&p, "ann", &[]);
        store.create_user(&u, &u.keys(&p.settings)).await.unwrap();
        let pending = |client: &str| PendingRegistration {
            pool_id: p.id.clone(),
            sub: u.sub.clone(),
            client_id: client.into(),
            state: "{\"state\":1}".into(),
            expires_at: 99,
        };
        store.put_registration(&pending("a")).await.unwrap();
        store.put_registration(&pending("b")).await.unwrap(); // the newest wins
        let takes: Vec<_> = futures_join(&store, &p, &u.sub).await;
        let taken: Vec<_> = takes.into_iter().flatten().collect();
        assert_eq!(taken, vec![pending("b")], "exactly one concurrent completion gets it");
        let ghost = PendingRegistration { sub: "no-such-sub".into(), ..pending("a") };
        assert!(matches!(store.put_registration(&ghost).await, Err(StoreError::NotFound("user"))));

        store.add_passkey(&passkey(&p, &u.sub, "k1", 5)).await.unwrap();
        store.add_passkey(&passkey(&p, &u.sub, "k0", 0)).await.unwrap();
        assert!(matches!(store.add_passkey(&passkey(&p, &u.sub, "k1", 0)).await, Err(StoreError::Conflict(_))));
        let ids: Vec<_> =
            store.list_passkeys(&p.id, &u.sub).await.unwrap().into_iter().map(|c| c.credential_id).collect();
        assert_eq!(ids, ["k0", "k1"]);

        // Counter 6 once, by exactly one of two concurrent uses; never back, never equal.
        let (a, b) = tokio::join!(
            store.use_passkey(&p.id, &u.sub, "k1", 6, "{\"n\":6}", 20),
            store.use_passkey(&p.id, &u.sub, "k1", 6, "{\"n\":6}", 20)
        );
        assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|x| **x).count(), 1);
        assert!(!store.use_passkey(&p.id, &u.sub, "k1", 4, "{}", 21).await.unwrap());
        let k1 = store.list_passkeys(&p.id, &u.sub).await.unwrap().into_iter().find(|c| c.credential_id == "k1");
        assert_eq!(k1.map(|c| (c.counter, c.credential, c.last_used_at)), Some((6, "{\"n\":6}".into(), Some(20))));
        // An authenticator without a counter (0) may be used again.
        assert!(store.use_passkey(&p.id, &u.sub, "k0", 0, "{}", 22).await.unwrap());
        assert!(store.use_passkey(&p.id, &u.sub, "k0", 0, "{}", 23).await.unwrap());

        assert!(store.delete_passkey(&p.id, &u.sub, "k0").await.unwrap());
        assert!(!store.delete_passkey(&p.id, &u.sub, "k0").await.unwrap());
        assert!(!store.use_passkey(&p.id, &u.sub, "k0", 9, "{}", 24).await.unwrap());

        // Deleting the user deletes their passkeys and pending registration.
        store.put_registration(&pending("a")).await.unwrap();
        store.delete_user(&p.id, &u.sub, 1).await.unwrap();
        assert!(store.list_passkeys(&p.id, &u.sub).await.unwrap().is_empty());
        assert!(store.take_registration(&p.id, &u.sub).await.unwrap().is_none());
    })
    .await;
}

async fn futures_join(
    store: &Arc<dyn cognate_core::repo::Store>,
    p: &UserPool,
    sub: &str,
) -> Vec<Option<PendingRegistration>> {
    let (a, b) = tokio::join!(store.take_registration(&p.id, sub), store.take_registration(&p.id, sub));
    vec![a.unwrap(), b.unwrap()]
}
