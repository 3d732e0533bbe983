use cognate_core::SystemRng;
use cognate_core::crypto::MasterKey;
use cognate_core::token::{OneTimeCode, RefreshToken, RevocationKind, TokenFamily, new_refresh_token};

use crate::harness::on_both;
use crate::pools::pool;

pub fn family(p: &cognate_core::pool::UserPool, id: &str, sub: &str, at: i64) -> TokenFamily {
    TokenFamily {
        id: id.into(),
        pool_id: p.id.clone(),
        client_id: "client".into(),
        sub: sub.into(),
        tenant_id: None,
        auth_time: at / 1000,
        mfa: false,
        scope: None,
        device_key: None,
        created_at: at,
        revoked_at: None,
    }
}

fn token(family: &str, at: i64) -> RefreshToken {
    let (_, hash) = new_refresh_token(&SystemRng);
    RefreshToken { hash, family_id: family.into(), created_at: at, expires_at: at + 1000, rotated_at: None }
}

#[tokio::test]
async fn rotation_happens_once_and_revocations_reach_the_feed() {
    on_both(|store| async move {
        let p = pool("tokens");
        store.create_pool(&p).await.unwrap();
        let first = token("fam1", 10);
        store.create_family(&family(&p, "fam1", "sub-a", 10), Some(&first)).await.unwrap();
        let (found, fam) = store.get_refresh_token(&first.hash).await.unwrap().unwrap();
        assert_eq!((found.rotated_at, fam.sub.as_str()), (None, "sub-a"));

        let second = token("fam1", 20);
        assert!(store.rotate_refresh_token(&first.hash, &second, 20).await.unwrap());
        // A concurrent second rotation of the same token loses and stores nothing.
        let third = token("fam1", 21);
        assert!(!store.rotate_refresh_token(&first.hash, &third, 21).await.unwrap());
        assert!(store.get_refresh_token(&third.hash).await.unwrap().is_none());
        assert_eq!(store.get_refresh_token(&first.hash).await.unwrap().unwrap().0.rotated_at, Some(20));

        assert!(store.revoke_family(&p.id, "fam1", 30).await.unwrap());
        assert!(!store.revoke_family(&p.id, "fam1", 31).await.unwrap());
        assert_eq!(store.get_family("fam1").await.unwrap().unwrap().revoked_at, Some(30));

        // Global sign-out revokes the user's other families and publishes the user.
        let user = crate::users::user(&p, "signout", &[]);
        store.create_user(&user, &user.keys(&p.settings)).await.unwrap();
        store.create_family(&family(&p, "fam2", &user.sub, 40), None).await.unwrap();
        store.sign_out_user(&p.id, &user.sub, 50).await.unwrap();
        assert_eq!(store.get_family("fam2").await.unwrap().unwrap().revoked_at, Some(50));
        assert_eq!(store.get_user_by_sub(&p.id, &user.sub).await.unwrap().unwrap().tokens_valid_after, 50);

        let feed = store.revocations_after(&p.id, 0, 10).await.unwrap();
        let kinds: Vec<_> = feed.iter().map(|e| (e.kind, e.subject.clone())).collect();
        assert_eq!(kinds, vec![(RevocationKind::Token, "fam1".into()), (RevocationKind::User, user.sub.clone())]);
        let later = store.revocations_after(&p.id, feed[0].seq, 10).await.unwrap();
        assert_eq!(later.len(), 1);
        assert!(store.revocations_after(&p.id, feed[1].seq, 10).await.unwrap().is_empty());

        // A user who never held a token is signed out quietly; disabling (saved together
        // with the sign-out) and deleting a user who did are published.
        let fresh = crate::users::user(&p, "fresh", &[]);
        store.create_user(&fresh, &fresh.keys(&p.settings)).await.unwrap();
        store.update_user_signed_out(&fresh, &fresh.keys(&p.settings), 60).await.unwrap();
        assert_eq!(store.revocations_after(&p.id, feed[1].seq, 10).await.unwrap().len(), 0);
        store.create_family(&family(&p, "fam3", &fresh.sub, 61), None).await.unwrap();
        store.set_user_enabled(&p.id, &fresh.sub, false, 70).await.unwrap();
        assert_eq!(store.get_family("fam3").await.unwrap().unwrap().revoked_at, Some(70));
        let disabled = store.get_user_by_sub(&p.id, &fresh.sub).await.unwrap().unwrap();
        assert!(!disabled.enabled);
        // A write from a copy read before the disable (an attribute change) cannot undo it.
        let mut stale = disabled.clone();
        stale.enabled = true;
        store.update_user(&stale, &stale.keys(&p.settings)).await.unwrap();
        assert!(!store.get_user_by_sub(&p.id, &fresh.sub).await.unwrap().unwrap().enabled);
        let missing = store.set_user_enabled(&p.id, "nobody", true, 71).await;
        assert!(matches!(missing, Err(cognate_core::StoreError::NotFound("user"))), "{missing:?}");
        store.delete_user(&p.id, &fresh.sub, 80).await.unwrap();
        let tail = store.revocations_after(&p.id, feed[1].seq, 10).await.unwrap();
        let tail: Vec<_> = tail.iter().map(|e| (e.kind, e.subject.clone(), e.at)).collect();
        assert_eq!(
            tail,
            vec![(RevocationKind::User, fresh.sub.clone(), 70), (RevocationKind::User, fresh.sub.clone(), 80)]
        );
    })
    .await;
}

#[tokio::test]
async fn codes_are_replaced_counted_and_deleted() {
    on_both(|store| async move {
        let p = pool("codes");
        store.create_pool(&p).await.unwrap();
        let user = crate::users::user(&p, "coder", &[]);
        store.create_user(&user, &user.keys(&p.settings)).await.unwrap();
        let code = |hash: &str| OneTimeCode {
            pool_id: p.id.clone(),
            sub: user.sub.clone(),
            purpose: "sign_up".into(),
            code_hash: hash.into(),
            expires_at: 100,
            attempts: 0,
            created_at: 1,
        };
        store.put_code(&code("h1")).await.unwrap();
        assert_eq!(store.count_code_attempt(&p.id, &user.sub, "sign_up").await.unwrap(), 1);
        assert_eq!(store.count_code_attempt(&p.id, &user.sub, "sign_up").await.unwrap(), 2);
        store.put_code(&code("h2")).await.unwrap();
        let stored = store.get_code(&p.id, &user.sub, "sign_up").await.unwrap().unwrap();
        assert_eq!((stored.code_hash.as_str(), stored.attempts), ("h2", 0));
        store.delete_code(&p.id, &user.sub, "sign_up").await.unwrap();
        assert!(store.get_code(&p.id, &user.sub, "sign_up").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn signing_keys_round_trip_and_retire() {
    on_both(|store| async move {
        let p = pool("keys");
        store.create_pool(&p).await.unwrap();
        let master = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
        let (rec, _) = cognate_core::jwt::generate_key(&p.id, &SystemRng, &master, 5).unwrap();
        store.create_signing_key(&rec).await.unwrap();
        assert_eq!(store.list_signing_keys(&p.id).await.unwrap(), vec![rec.clone()]);
        store.retire_signing_key(&p.id, &rec.kid, 9).await.unwrap();
        assert_eq!(store.list_signing_keys(&p.id).await.unwrap()[0].retired_at, Some(9));
        assert!(store.retire_signing_key(&p.id, "nope", 9).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn authorization_codes_redeem_once_and_login_sessions_end() {
    use cognate_core::login::{AuthorizationCode, LoginSession, Redemption, new_secret};
    on_both(|store| async move {
        let p = pool("login");
        store.create_pool(&p).await.unwrap();
        let (_, code_hash) = new_secret(&SystemRng);
        let code = AuthorizationCode {
            code_hash: code_hash.clone(),
            pool_id: p.id.clone(),
            client_id: "client".into(),
            sub: "sub-a".into(),
            tenant_id: None,
            redirect_uri: "https://app.example.com/cb".into(),
            scope: "openid email".into(),
            nonce: Some("n\u{e9}".into()),
            code_challenge: Some("c".repeat(43)),
            family_id: "fam-code".into(),
            auth_time: 1,
            mfa: true,
            created_at: 1_000,
            expires_at: 301_000,
            used_at: None,
        };
        store.save_authorization_code(&code).await.unwrap();
        let Redemption::Fresh(fresh) = store.redeem_authorization_code(&code_hash, 2_000).await.unwrap() else {
            panic!("the first redemption is fresh");
        };
        assert_eq!(fresh, AuthorizationCode { used_at: Some(2_000), ..code.clone() });
        let Redemption::Replayed(again) = store.redeem_authorization_code(&code_hash, 3_000).await.unwrap() else {
            panic!("the second is a replay");
        };
        assert_eq!(again.used_at, Some(2_000));
        assert_eq!(store.redeem_authorization_code("nope", 3_000).await.unwrap(), Redemption::Unknown);

        let session = LoginSession {
            id_hash: "s1".into(),
            pool_id: p.id.clone(),
            sub: "sub-a".into(),
            tenant_id: None,
            auth_time: 1,
            mfa: false,
            created_at: 1_000,
            expires_at: 3_601_000,
            ended_at: None,
            federation: Some(r#"{"provider":"Corp"}"#.into()),
        };
        store.create_login_session(&session).await.unwrap();
        assert_eq!(store.get_login_session("s1").await.unwrap(), Some(session.clone()));
        assert!(store.end_login_session("s1", 5_000).await.unwrap());
        assert!(!store.end_login_session("s1", 6_000).await.unwrap());
        assert_eq!(store.get_login_session("s1").await.unwrap().unwrap().ended_at, Some(5_000));

        // Global sign-out ends the user's live sessions.
        let user = crate::users::user(&p, "browser", &[]);
        store.create_user(&user, &user.keys(&p.settings)).await.unwrap();
        let live = LoginSession { id_hash: "s2".into(), sub: user.sub.clone(), ..session.clone() };
        store.create_login_session(&live).await.unwrap();
        store.sign_out_user(&p.id, &user.sub, 7_000).await.unwrap();
        assert_eq!(store.get_login_session("s2").await.unwrap().unwrap().ended_at, Some(7_000));

        // Purging deletes what expired before the cut-off, codes and sessions alike.
        assert_eq!(store.purge_login(302_000).await.unwrap(), 1);
        assert_eq!(store.redeem_authorization_code(&code_hash, 9_000).await.unwrap(), Redemption::Unknown);
        assert_eq!(store.purge_login(4_000_000).await.unwrap(), 2);
        assert!(store.get_login_session("s1").await.unwrap().is_none());
    })
    .await;
}

/// A user's live families (ListUserSessions): unrevoked, with a refresh token not expired,
/// newest first, active as of their newest refresh token; other users' never.
#[tokio::test]
async fn live_families_are_the_users_working_sessions() {
    on_both(|store| async move {
        let p = pool("sessions");
        store.create_pool(&p).await.unwrap();
        store.create_family(&family(&p, "old", "sub-a", 10), Some(&token("old", 10))).await.unwrap();
        store.create_family(&family(&p, "new", "sub-a", 20), Some(&token("new", 20))).await.unwrap();
        store.add_refresh_token(&token("new", 500)).await.unwrap();
        store.create_family(&family(&p, "gone", "sub-a", 30), Some(&token("gone", 30))).await.unwrap();
        store.revoke_family(&p.id, "gone", 40).await.unwrap();
        store.create_family(&family(&p, "other", "sub-b", 30), Some(&token("other", 30))).await.unwrap();

        let live = store.live_families(&p.id, "sub-a", 900, 125).await.unwrap();
        let seen: Vec<(&str, i64)> = live.iter().map(|l| (l.family.id.as_str(), l.last_active_at)).collect();
        assert_eq!(seen, vec![("new", 500), ("old", 10)]);
        assert_eq!(store.live_families(&p.id, "sub-a", 900, 1).await.unwrap().len(), 1);
        // "old"'s only token expires at 1010, "new"'s newest at 1500.
        let later = store.live_families(&p.id, "sub-a", 1100, 125).await.unwrap();
        assert_eq!(later.iter().map(|l| l.family.id.as_str()).collect::<Vec<_>>(), vec!["new"]);
        assert!(store.live_families(&p.id, "nobody", 900, 125).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_refresh_session_is_the_token_its_family_their_user_and_groups() {
    on_both(|store| async move {
        let p = pool("sessions");
        store.create_pool(&p).await.unwrap();
        let user = crate::users::user(&p, "holder", &[]);
        store.create_user(&user, &user.keys(&p.settings)).await.unwrap();
        let t = token("fam-s", 10);
        store.create_family(&family(&p, "fam-s", &user.sub, 10), Some(&t)).await.unwrap();
        let session = store.get_refresh_session(&t.hash).await.unwrap().unwrap();
        assert_eq!((session.token.hash.as_str(), session.family.id.as_str()), (t.hash.as_str(), "fam-s"));
        let holder = session.user.expect("the family's user");
        assert_eq!((holder.sub.as_str(), holder.username.as_str()), (user.sub.as_str(), "holder"));
        assert_eq!(Some(holder), store.get_user_by_sub(&p.id, &user.sub).await.unwrap(), "the whole user");
        assert_eq!(session.token, t);
        // The family's creation time, not the user's, stays the family's.
        assert_eq!(session.family.created_at, 10);
        assert!(session.groups.is_empty(), "{:?}", session.groups);

        // The user's groups come with them, in name order; another user's stay out.
        let other = crate::users::user(&p, "other", &[]);
        store.create_user(&other, &other.keys(&p.settings)).await.unwrap();
        for name in ["zeta", "Alpha", "mid-\"quoted\" ünï", "alpha"] {
            let group = cognate_core::group::Group {
                pool_id: p.id.clone(),
                name: name.into(),
                description: None,
                role_arn: None,
                precedence: None,
                created_at: 1,
                updated_at: 1,
            };
            store.create_group(&group).await.unwrap();
            store.add_user_to_group(&p.id, name, &user.sub).await.unwrap();
        }
        store.add_user_to_group(&p.id, "zeta", &other.sub).await.unwrap();
        let session = store.get_refresh_session(&t.hash).await.unwrap().unwrap();
        assert_eq!(session.groups, ["Alpha", "alpha", "mid-\"quoted\" ünï", "zeta"]);

        // A family whose user is gone: the session without a user; an unknown hash: none.
        let orphan = token("fam-o", 20);
        store.create_family(&family(&p, "fam-o", "no-such-sub", 20), Some(&orphan)).await.unwrap();
        let orphaned = store.get_refresh_session(&orphan.hash).await.unwrap().unwrap();
        assert!(orphaned.user.is_none() && orphaned.groups.is_empty());
        assert_eq!((orphaned.family.id.as_str(), orphaned.family.created_at), ("fam-o", 20));
        assert!(store.get_refresh_session("0".repeat(64).as_str()).await.unwrap().is_none());
    })
    .await;
}
