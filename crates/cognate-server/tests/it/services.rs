//! The application services, called directly (no surface) on both backends with a clock
//! the test moves: the sign-in state machine, refresh rotation and reuse, the last-admin
//! rule under concurrency, a tier move, and sessions revoked one by one. The wire formats are
//! the interop suite's.

use std::sync::Arc;

use cognate_core::claims::SDK_SCOPE;
use cognate_core::client::{AppClient, ClientSettings, RefreshTokenRotation};
use cognate_core::ids::generate_sub;
use cognate_core::pool::UserPool;
use cognate_core::tenant::{Role, Tenant, Tier};
use cognate_core::user::{User, UserStatus};
use cognate_core::{Clock as _, ManualClock};
use cognate_server::services::authorize::{self, Granted, Outcome, Reply, Resume};
use cognate_server::services::sign_in::{self, Attempt, Delivery, PasswordSignIn, SignInError, Step};
use cognate_server::services::tokens::{self, Rejection};
use cognate_server::services::{clients, members, pools, tenants};
use cognate_server::tenancy;
use serde_json::Value;

use super::support::{TestApp, on_both};

/// 2026-12-01T00:00:00Z.
pub(super) const START: i64 = 1_796_083_200_000;
pub(super) const PASSWORD: &str = "Correct-Horse-9";

pub(super) async fn tenant(t: &TestApp, id: &str, tier: Tier) -> (Tenant, UserPool, AppClient) {
    let new = tenants::NewTenant { id: Some(id), name: id, tier, domains: Vec::new() };
    let tenant = tenants::create(&t.state, new).await.unwrap();
    let pool = pools::get(&t.state, &tenant.pool_id).await.unwrap();
    let client_id = tenancy::default_client(&t.state, &pool.id).await.unwrap();
    let client = clients::find(&t.state, &client_id).await.unwrap();
    (tenant, pool, client)
}

/// A confirmed user of the tenant's pool, a member of it with `role`.
pub(super) async fn member(t: &TestApp, tenant: &Tenant, email: &str, role: Role) -> User {
    let now = t.state.clock.now_millis();
    let sub = generate_sub(t.state.rng.as_ref());
    let mut user = User {
        pool_id: tenant.pool_id.clone(),
        username: sub.clone(),
        sub,
        status: UserStatus::Confirmed,
        enabled: true,
        password_hash: Some(t.state.passwords.hash(PASSWORD.to_owned()).await.unwrap()),
        temp_password_expires_at: None,
        attributes: [("email", email), ("email_verified", "true")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        created_at: now,
        updated_at: now,
        srp_verifier: None,
        tokens_valid_after: 0,
    };
    let pool = pools::get(&t.state, &tenant.pool_id).await.unwrap();
    let keys = user.keys(&pool.settings);
    tenancy::create_user(&t.state, &mut user, &keys, Some(tenant)).await.unwrap();
    if role != Role::Member {
        members::add_member(&t.state, tenant, &user.sub, role).await.unwrap();
    }
    user
}

pub(super) async fn sign_in(
    t: &TestApp,
    pool: &UserPool,
    client: &AppClient,
    name: &str,
    password: &str,
) -> Result<Step, SignInError> {
    let req = PasswordSignIn {
        pool,
        client,
        username: name,
        password,
        secret_hash: None,
        tenant: None,
        delivery: Delivery::Tokens,
        device_key: None,
    };
    sign_in::password(&t.state, Attempt { ip: Some([192, 0, 2, 7].into()) }, req).await
}

fn claims(token: &str) -> Value {
    cognate_core::jwt::decode(token).unwrap().claims
}

#[tokio::test]
async fn the_sign_in_state_machine_locks_then_releases_and_picks_the_tenant() {
    on_both(START, |t: TestApp, clock: Arc<ManualClock>| async move {
        let (acme, pool, client) = tenant(&t, "acme", Tier::Basic).await;
        let ann = member(&t, &acme, "ann@acme.example", Role::Member).await;

        let Step::Tokens(issued) = sign_in(&t, &pool, &client, "ann@acme.example", PASSWORD).await.unwrap() else {
            panic!("a confirmed member without MFA gets tokens");
        };
        let access = claims(&issued.access_token);
        assert_eq!(access["sub"], ann.sub.as_str());
        assert_eq!(access["custom:tenantId"], "acme");

        // Five failures lock the user; then even the right password is refused.
        for _ in 0..5 {
            let wrong = sign_in(&t, &pool, &client, "ann@acme.example", "Wrong-Password-1").await;
            assert!(matches!(wrong, Err(SignInError::InvalidCredentials | SignInError::Locked)), "{wrong:?}");
        }
        let locked = sign_in(&t, &pool, &client, "ann@acme.example", PASSWORD).await;
        assert!(matches!(locked, Err(SignInError::Locked)), "{locked:?}");
        // The lock is a delay: once it has passed, the right password works again.
        clock.advance(16 * 60 * 1000);
        assert!(matches!(sign_in(&t, &pool, &client, "ann@acme.example", PASSWORD).await, Ok(Step::Tokens(_))));

        // Unknown users and wrong passwords are told apart only when the client allows it.
        let unknown = sign_in(&t, &pool, &client, "nobody@acme.example", PASSWORD).await;
        assert!(matches!(unknown, Err(SignInError::InvalidCredentials | SignInError::UserNotFound)), "{unknown:?}");
    })
    .await;
}

#[tokio::test]
async fn a_temporary_password_asks_for_a_new_one_and_expires() {
    on_both(START, |t: TestApp, clock: Arc<ManualClock>| async move {
        let (acme, pool, client) = tenant(&t, "acme", Tier::Basic).await;
        let mut bob = member(&t, &acme, "bob@acme.example", Role::Member).await;
        bob.status = UserStatus::ForceChangePassword;
        bob.temp_password_expires_at = Some(START + 24 * 3_600_000);
        cognate_server::services::users::save(&t.state, &pool, &bob).await.unwrap();

        let step = sign_in(&t, &pool, &client, "bob@acme.example", PASSWORD).await.unwrap();
        let Step::NewPasswordRequired { session, .. } = step else { panic!("{step:?}") };
        let answer = sign_in::Answer {
            pool: &pool,
            client: &client,
            session: &session,
            challenge: sign_in::NEW_PASSWORD_REQUIRED,
            username: "bob@acme.example",
            secret_hash: None,
            delivery: Delivery::Tokens,
        };
        let done =
            sign_in::new_password(&t.state, Attempt::default(), answer, Some("Brand-New-Pass-7"), Vec::new(), None)
                .await
                .unwrap();
        assert!(matches!(done, Step::Tokens(_)));
        assert!(matches!(
            sign_in(&t, &pool, &client, "bob@acme.example", "Brand-New-Pass-7").await,
            Ok(Step::Tokens(_))
        ));

        // A temporary password past its expiry is refused.
        bob.status = UserStatus::ForceChangePassword;
        cognate_server::services::users::save(&t.state, &pool, &bob).await.unwrap();
        clock.advance(25 * 3_600_000);
        let expired = sign_in(&t, &pool, &client, "bob@acme.example", PASSWORD).await;
        assert!(matches!(expired, Err(SignInError::TemporaryPasswordExpired)), "{expired:?}");
    })
    .await;
}

#[tokio::test]
async fn a_rotated_refresh_token_reused_after_its_grace_revokes_the_family() {
    on_both(START, |t: TestApp, clock: Arc<ManualClock>| async move {
        let (acme, pool, _) = tenant(&t, "acme", Tier::Basic).await;
        member(&t, &acme, "cy@acme.example", Role::Member).await;
        let settings = ClientSettings {
            refresh_token_rotation: Some(RefreshTokenRotation {
                feature: "ENABLED".into(),
                retry_grace_period_seconds: 10,
            }),
            explicit_auth_flows: vec!["ALLOW_USER_PASSWORD_AUTH".into(), "ALLOW_REFRESH_TOKEN_AUTH".into()],
            ..ClientSettings::default()
        };
        let client = clients::create(&t.state, &pool.id, "rotating".into(), settings, false).await.unwrap();
        let Ok(Step::Tokens(first)) = sign_in(&t, &pool, &client, "cy@acme.example", PASSWORD).await else {
            panic!("sign-in");
        };
        let old = first.refresh_token.clone().unwrap();

        let (_, second) = tokens::refresh(&t.state, &client, &old, SDK_SCOPE, None).await.unwrap();
        let new = second.refresh_token.clone().unwrap();
        assert_ne!(new, old, "rotation hands out a new refresh token");
        // Within the grace period the old token still refreshes (a retry after a lost answer).
        clock.advance(5_000);
        assert!(tokens::refresh(&t.state, &client, &old, SDK_SCOPE, None).await.is_ok());
        // After it, presenting the old token is reuse: refused, and the whole family ends.
        clock.advance(10_000);
        let reused = tokens::refresh(&t.state, &client, &old, SDK_SCOPE, None).await;
        assert!(matches!(reused, Err(Rejection::Reused)), "{reused:?}");
        let after = tokens::refresh(&t.state, &client, &new, SDK_SCOPE, None).await;
        assert!(matches!(after, Err(Rejection::Revoked)), "{after:?}");
        let verified = tokens::verify(&t.state, &second.access_token, Some("access")).await;
        assert!(matches!(verified, Err(Rejection::Revoked)), "{verified:?}");
    })
    .await;
}

#[tokio::test]
async fn of_two_admins_demoting_each_other_at_once_one_stays() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let (acme, _, _) = tenant(&t, "acme", Tier::Basic).await;
        let a = member(&t, &acme, "a@acme.example", Role::Admin).await;
        let b = member(&t, &acme, "b@acme.example", Role::Admin).await;
        for _ in 0..5 {
            let (ra, rb) = tokio::join!(
                members::change_role(&t.state, &acme, &a.sub, Role::Member),
                members::change_role(&t.state, &acme, &b.sub, Role::Member),
            );
            let refused = [&ra, &rb].iter().filter(|r| matches!(r, Err(members::MembershipError::LastAdmin))).count();
            assert_eq!(refused, 1, "exactly one demotion is refused: {ra:?} / {rb:?}");
            let page = cognate_core::page::PageRequest { after: None, limit: 10 };
            let admins = members::list_members(&t.state, &acme.id, &page)
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.role == Role::Admin)
                .count();
            assert_eq!(admins, 1);
            // Back to two admins for the next round.
            members::add_member(&t.state, &acme, &a.sub, Role::Admin).await.unwrap();
            members::add_member(&t.state, &acme, &b.sub, Role::Admin).await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn the_only_admin_can_be_neither_demoted_nor_removed_and_a_removal_races_a_demotion() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let (acme, _, _) = tenant(&t, "acme", Tier::Basic).await;
        let ann = member(&t, &acme, "ann@acme.example", Role::Admin).await;
        let bob = member(&t, &acme, "bob@acme.example", Role::Member).await;
        let demote = members::change_role(&t.state, &acme, &ann.sub, Role::Member).await;
        assert!(matches!(demote, Err(members::MembershipError::LastAdmin)), "{demote:?}");
        let remove = members::remove_member(&t.state, &acme, &ann.sub).await;
        assert!(matches!(remove, Err(members::MembershipError::LastAdmin)), "{remove:?}");
        members::remove_member(&t.state, &acme, &bob.sub).await.unwrap();
        let removed = members::get_member(&t.state, &acme.id, &bob.sub).await.unwrap();
        assert_eq!(removed.status, cognate_core::tenant::MembershipStatus::Removed);
        // Bob's home tenant is gone from his attributes with the membership.
        let bob_now = t.state.store.get_user_by_sub(&bob.pool_id, &bob.sub).await.unwrap().unwrap();
        assert!(!bob_now.attributes.contains_key("custom:tenantId"), "{:?}", bob_now.attributes);

        // Two admins: one removed, the other demoted, at the same moment: one of them stays.
        for round in 0..4 {
            let a = member(&t, &acme, &format!("a{round}@acme.example"), Role::Admin).await;
            let (ra, rb) = tokio::join!(
                members::remove_member(&t.state, &acme, &a.sub),
                members::change_role(&t.state, &acme, &ann.sub, Role::ReadOnly),
            );
            let refused = [ra.is_err(), rb.is_err()].iter().filter(|e| **e).count();
            assert_eq!(refused, 1, "round {round}: {ra:?} / {rb:?}");
            assert!(matches!(ra, Ok(()) | Err(members::MembershipError::LastAdmin)), "{ra:?}");
            assert!(matches!(rb, Ok(_) | Err(members::MembershipError::LastAdmin)), "{rb:?}");
            let page = cognate_core::page::PageRequest { after: None, limit: 50 };
            let admins = members::list_members(&t.state, &acme.id, &page)
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.role == Role::Admin && m.status == cognate_core::tenant::MembershipStatus::Active)
                .count();
            assert_eq!(admins, 1, "round {round}");
            // Ann is the admin for the next round.
            members::add_member(&t.state, &acme, &ann.sub, Role::Admin).await.unwrap();
            if rb.is_ok() {
                members::remove_member(&t.state, &acme, &a.sub).await.unwrap();
            }
        }
    })
    .await;
}

#[tokio::test]
async fn renaming_a_tenant_rewrites_its_users_tenant_attributes_in_the_same_write() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let (acme, pool, _) = tenant(&t, "acme", Tier::Basic).await;
        let (globex, _, _) = tenant(&t, "globex", Tier::Basic).await;
        let ann = member(&t, &acme, "ann@acme.example", Role::Admin).await;
        let gus = member(&t, &globex, "gus@globex.example", Role::Admin).await;
        tenants::update(&t.state, &acme.id, Some("Acme Corp"), None).await.unwrap();
        let get = |sub: String| {
            let store = t.state.store.clone();
            let pool = pool.id.clone();
            async move { store.get_user_by_sub(&pool, &sub).await.unwrap().unwrap().attributes }
        };
        let ann_attrs = get(ann.sub.clone()).await;
        assert_eq!(ann_attrs["custom:tenantName"], "Acme Corp");
        assert_eq!(ann_attrs["custom:tenantId"], "acme");
        assert_eq!(get(gus.sub.clone()).await["custom:tenantName"], "globex");
        // Tokens issued after the rename carry the new name.
        let client = tenancy_client(&t, &pool).await;
        let Ok(Step::Tokens(issued)) = sign_in(&t, &pool, &client, "ann@acme.example", PASSWORD).await else {
            panic!("sign-in");
        };
        assert_eq!(claims(&issued.id_token.unwrap())["custom:tenantName"], "Acme Corp");
    })
    .await;
}

#[tokio::test]
async fn a_tier_move_to_platinum_gives_a_dedicated_pool_and_keeps_the_members() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let (acme, shared, _) = tenant(&t, "acme", Tier::Basic).await;
        let dee = member(&t, &acme, "dee@acme.example", Role::Admin).await;

        let moved = tenants::set_tier(&t.state, &acme.id, Tier::Platinum).await.unwrap();
        assert_eq!(moved.tier, Tier::Platinum);
        assert_ne!(moved.pool_id, shared.id, "a dedicated pool");
        let page = cognate_core::page::PageRequest { after: None, limit: 10 };
        let after = members::list_members(&t.state, &acme.id, &page).await.unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].role, Role::Admin);
        assert_eq!(after[0].pool_id, moved.pool_id);

        // The member signs in through the new pool, as the same person with the same sub.
        let pool = pools::get(&t.state, &moved.pool_id).await.unwrap();
        let client =
            clients::find(&t.state, &tenancy::default_client(&t.state, &pool.id).await.unwrap()).await.unwrap();
        let Ok(Step::Tokens(issued)) = sign_in(&t, &pool, &client, "dee@acme.example", PASSWORD).await else {
            panic!("the moved member signs in to the dedicated pool");
        };
        let access = claims(&issued.access_token);
        assert_eq!(access["sub"], dee.sub.as_str());
        assert_eq!(access["custom:tenantId"], "acme");
        assert!(access["iss"].as_str().unwrap().ends_with(moved.pool_id.as_str()));
        // Nobody signs in as them in the shared pool any more.
        let gone = sign_in(&t, &shared, &tenancy_client(&t, &shared).await, "dee@acme.example", PASSWORD).await;
        assert!(gone.is_err(), "{gone:?}");
    })
    .await;
}

async fn tenancy_client(t: &TestApp, pool: &UserPool) -> AppClient {
    clients::find(&t.state, &tenancy::default_client(&t.state, &pool.id).await.unwrap()).await.unwrap()
}

const CALLBACK: &str = "https://app.example.com/callback";

#[tokio::test]
async fn a_browser_sign_in_picks_the_tenant_and_its_code_is_single_use_and_short_lived() {
    on_both(START, |t: TestApp, clock: Arc<ManualClock>| async move {
        let (acme, _, mut client) = tenant(&t, "acme", Tier::Basic).await;
        let (globex, _, _) = tenant(&t, "globex", Tier::Basic).await;
        let ann = member(&t, &acme, "ann@acme.example", Role::Member).await;
        members::add_member(&t.state, &globex, &ann.sub, Role::Member).await.unwrap();
        client.settings.callback_urls = vec![CALLBACK.into()];
        client.settings.allowed_oauth_flows = vec!["code".into()];
        client.settings.allowed_oauth_scopes = vec!["openid".into(), "email".into()];
        client.settings.allowed_oauth_flows_user_pool_client = true;
        clients::update(&t.state, &client).await.unwrap();

        let verifier = "v".repeat(50);
        let challenge = cognate_core::login::pkce_challenge(&verifier);
        let req = authorize::Request {
            response_type: Some("code"),
            client_id: Some(client.id.as_str()),
            redirect_uri: Some(CALLBACK),
            code_challenge: Some(&challenge),
            code_challenge_method: Some("S256"),
            nonce: Some("n-1"),
            ..Default::default()
        };
        let auth = authorize::check(&t.state, &req).await.unwrap();
        assert_eq!(auth.scope(), "openid email");

        // A member of two tenants is asked which one; the answer must be one of them.
        let step = authorize::password(&t.state, Attempt::default(), &auth, "ann@acme.example", PASSWORD).await;
        let Ok(Outcome::SelectTenant { session, username, tenants }) = step else { panic!("{step:?}") };
        let mut offered: Vec<_> = tenants.iter().map(|c| c.id.as_str()).collect();
        offered.sort_unstable();
        assert_eq!(offered, ["acme", "globex"]);
        let pick = |tenant| {
            authorize::answer(&t.state, Attempt::default(), &auth, sign_in::SELECT_TENANT, &session, &username, tenant)
        };
        assert!(pick(Reply::Tenant("initech")).await.is_err());
        let Ok(Outcome::Done { session_id, granted: Granted::Code(code) }) = pick(Reply::Tenant("globex")).await else {
            panic!("a tenant of the user completes the sign-in");
        };

        let exchange = |code: String| {
            let (state, client, verifier) = (t.state.clone(), client.clone(), verifier.clone());
            async move { authorize::exchange(&state, &client, &code, Some(CALLBACK), Some(&verifier)).await }
        };
        let issued = exchange(code.clone()).await.unwrap();
        let id = claims(issued.id_token.as_deref().unwrap());
        assert_eq!((id["custom:tenantId"].as_str(), id["nonce"].as_str()), (Some("globex"), Some("n-1")));
        assert_eq!(claims(&issued.access_token)["scope"], "openid email");
        // A replay is refused and revokes the family the first exchange started.
        assert!(matches!(exchange(code).await, Err(authorize::ExchangeError::InvalidCode)));
        let refresh = issued.refresh_token.clone().unwrap();
        let refreshed = tokens::refresh(&t.state, &client, &refresh, SDK_SCOPE, None).await;
        assert!(matches!(refreshed, Err(Rejection::Revoked)), "{refreshed:?}");

        // Two exchanges of one code at once: at most one gets tokens, and those are revoked.
        let Ok(Resume::Granted(Granted::Code(raced))) = authorize::resume(&t.state, &auth, Some(&session_id)).await
        else {
            panic!("a live browser session grants at once");
        };
        let (a, b) = tokio::join!(exchange(raced.clone()), exchange(raced));
        assert!(a.is_err() || b.is_err(), "{a:?} {b:?}");
        if let Some(won) = a.ok().or(b.ok()) {
            let refreshed = tokens::refresh(&t.state, &client, &won.refresh_token.unwrap(), SDK_SCOPE, None).await;
            assert!(matches!(refreshed, Err(Rejection::Revoked)), "{refreshed:?}");
        }

        // The session grants again without asking, in the same tenant; a code lives five minutes.
        let Ok(Resume::Granted(Granted::Code(late))) = authorize::resume(&t.state, &auth, Some(&session_id)).await
        else {
            panic!("a live browser session grants at once");
        };
        clock.advance(5 * 60 * 1000 + 1);
        let expired = exchange(late).await;
        assert!(matches!(expired, Err(authorize::ExchangeError::InvalidCode)), "{expired:?}");
        let Ok(Resume::Granted(Granted::Code(fresh))) = authorize::resume(&t.state, &auth, Some(&session_id)).await
        else {
            panic!("the session is still live");
        };
        let issued = exchange(fresh).await.unwrap();
        assert_eq!(claims(issued.id_token.as_deref().unwrap())["custom:tenantId"], "globex");

        // Removed from the session's tenant, the browser gets no code: it is asked again.
        members::remove_member(&t.state, &globex, &ann.sub).await.unwrap();
        assert!(matches!(authorize::resume(&t.state, &auth, Some(&session_id)).await, Ok(Resume::Login)));
        let none = authorize::Authorization { prompt: authorize::Prompt::None, ..auth.clone() };
        let resumed = authorize::resume(&t.state, &none, Some(&session_id)).await;
        assert!(matches!(resumed, Ok(Resume::LoginRequired)), "{resumed:?}");
        members::add_member(&t.state, &globex, &ann.sub, Role::Member).await.unwrap();
        assert!(matches!(authorize::resume(&t.state, &auth, Some(&session_id)).await, Ok(Resume::Granted(_))));

        // The browser session lasts an hour.
        clock.advance(60 * 60 * 1000);
        assert!(matches!(authorize::resume(&t.state, &auth, Some(&session_id)).await, Ok(Resume::Login)));
    })
    .await;
}

/// One SRP exchange as Cognito's clients run it: the challenge for `name`, then the signed
/// answer (its timestamp `signed_at` seconds).
async fn srp_answer(
    t: &TestApp,
    pool: &UserPool,
    client: &AppClient,
    name: &str,
    password: &str,
    signed_at: i64,
) -> Result<(String, String, String), SignInError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use cognate_core::srp;

    let hello = srp::client::hello(t.state.rng.as_ref());
    let req = sign_in::SrpSignIn {
        pool,
        client,
        username: name,
        srp_a: &srp::to_hex(&hello.big_a),
        secret_hash: None,
        tenant: None,
        device_key: None,
    };
    let step = sign_in::srp_start(&t.state, Attempt { ip: Some([192, 0, 2, 7].into()) }, req).await?;
    let Step::PasswordVerifier { user_id_for_srp, salt, srp_b, secret_block, .. } = step else { panic!("{step:?}") };
    let key = srp::client::key(&hello, pool.id.as_str(), &user_id_for_srp, password, &salt, &srp_b).unwrap();
    let timestamp = srp::format_timestamp(signed_at).unwrap();
    let block = B64.decode(&secret_block).unwrap();
    let signature = B64.encode(srp::claim(&key, pool.id.as_str(), &user_id_for_srp, &block, &timestamp));
    Ok((secret_block, signature, timestamp))
}

/// PASSWORD_VERIFIER answered with a signed answer from [`srp_answer`].
async fn srp_verify(
    t: &TestApp,
    pool: &UserPool,
    client: &AppClient,
    name: &str,
    (block, signature, timestamp): &(String, String, String),
) -> Result<Step, SignInError> {
    let answer = sign_in::SrpAnswer {
        pool,
        client,
        username: name,
        secret_block: block,
        signature,
        timestamp,
        secret_hash: None,
        device_key: None,
    };
    sign_in::srp_verify(&t.state, Attempt { ip: Some([192, 0, 2, 7].into()) }, answer).await
}

#[tokio::test]
async fn srp_answers_are_single_use_timely_and_counted_like_passwords() {
    on_both(START, |t: TestApp, clock: Arc<ManualClock>| async move {
        let (acme, pool, client) = tenant(&t, "acme", Tier::Basic).await;
        // A user whose password predates SRP: no verifier until a password sign-in.
        let dee = member(&t, &acme, "dee@acme.example", Role::Member).await;
        assert!(dee.srp_verifier.is_none());
        let early = srp_answer(&t, &pool, &client, "dee@acme.example", PASSWORD, clock.now_secs()).await;
        assert!(
            matches!(early, Err(SignInError::SrpUnavailable) | Ok(_)),
            "without a verifier: said plainly, or a decoy when users are hidden: {early:?}"
        );
        assert!(matches!(sign_in(&t, &pool, &client, "dee@acme.example", PASSWORD).await, Ok(Step::Tokens(_))));

        // Two concurrent answers with one secret block: exactly one signs in.
        let signed = srp_answer(&t, &pool, &client, "dee@acme.example", PASSWORD, clock.now_secs()).await.unwrap();
        let (a, b) = tokio::join!(
            srp_verify(&t, &pool, &client, "dee@acme.example", &signed),
            srp_verify(&t, &pool, &client, "dee@acme.example", &signed),
        );
        let tokens = [&a, &b].iter().filter(|r| matches!(r, Ok(Step::Tokens(_)))).count();
        assert_eq!(tokens, 1, "{a:?} / {b:?}");
        assert!([&a, &b].iter().any(|r| matches!(r, Err(SignInError::InvalidSession))), "{a:?} / {b:?}");

        // A timestamp ten minutes old is refused without counting as a wrong password.
        let signed =
            srp_answer(&t, &pool, &client, "dee@acme.example", PASSWORD, clock.now_secs() - 600).await.unwrap();
        let stale = srp_verify(&t, &pool, &client, "dee@acme.example", &signed).await;
        assert!(matches!(stale, Err(SignInError::SrpTimestamp)), "{stale:?}");

        // A challenge outlives the client's AuthSessionValidity by nothing.
        let signed = srp_answer(&t, &pool, &client, "dee@acme.example", PASSWORD, clock.now_secs()).await.unwrap();
        clock.advance(i64::from(client.settings.auth_session_validity) * 60_000 + 1_000);
        let late = srp_verify(&t, &pool, &client, "dee@acme.example", &signed).await;
        assert!(matches!(late, Err(SignInError::SessionExpired)), "{late:?}");

        // Wrong passwords count toward the same lock as the password flow (from the same
        // address, as `sign_in` signs in).
        for _ in 0..5 {
            let signed =
                srp_answer(&t, &pool, &client, "dee@acme.example", "Wrong-Password-1", clock.now_secs()).await.unwrap();
            let wrong = srp_verify(&t, &pool, &client, "dee@acme.example", &signed).await;
            assert!(matches!(wrong, Err(SignInError::InvalidCredentials)), "{wrong:?}");
        }
        let locked = sign_in(&t, &pool, &client, "dee@acme.example", PASSWORD).await;
        assert!(matches!(locked, Err(SignInError::Locked)), "{locked:?}");
        let locked = srp_answer(&t, &pool, &client, "dee@acme.example", PASSWORD, clock.now_secs()).await;
        assert!(matches!(locked, Err(SignInError::Locked)), "{locked:?}");
    })
    .await;
}

/// A user's sessions are their live token families: listed newest first, revoked one at a
/// time (never the caller's own), and gone once their refresh tokens expire.
#[tokio::test]
async fn sessions_are_live_families_revoked_one_at_a_time() {
    use cognate_server::services::sessions::{self, SessionError};
    on_both(START, |t: TestApp, clock: Arc<ManualClock>| async move {
        let (acme, pool, client) = tenant(&t, "acme", Tier::Basic).await;
        let user = member(&t, &acme, "di@acme.example", Role::Member).await;
        let Ok(Step::Tokens(first)) = sign_in(&t, &pool, &client, "di@acme.example", PASSWORD).await else {
            panic!("sign-in");
        };
        clock.advance(1_000);
        let Ok(Step::Tokens(second)) = sign_in(&t, &pool, &client, "di@acme.example", PASSWORD).await else {
            panic!("sign-in");
        };
        let origin = |token: &str| claims(token)["origin_jti"].as_str().unwrap().to_owned();
        let (mine, theirs) = (origin(&first.access_token), origin(&second.access_token));

        let listed = sessions::list(&t.state, &user).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].is(Some(&theirs)) && listed[1].is(Some(&mine)), "newest first");
        assert!(listed.iter().all(|s| s.id.starts_with("tkn") && s.id.len() == 28));

        let current = sessions::revoke(&t.state, &user, &listed[1].id, Some(&mine)).await;
        assert!(matches!(current, Err(SessionError::Current)), "{current:?}");
        sessions::revoke(&t.state, &user, &listed[0].id, Some(&mine)).await.unwrap();
        let gone = sessions::revoke(&t.state, &user, &listed[0].id, Some(&mine)).await;
        assert!(matches!(gone, Err(SessionError::NotFound)), "{gone:?}");
        let refreshed =
            tokens::refresh(&t.state, &client, second.refresh_token.as_deref().unwrap(), SDK_SCOPE, None).await;
        assert!(matches!(refreshed, Err(Rejection::Revoked)), "{refreshed:?}");
        assert!(tokens::verify(&t.state, &first.access_token, Some("access")).await.is_ok());
        let feed = tokens::revocations_after(&t.state, &pool.id, 0, 100).await.unwrap();
        assert!(feed.iter().any(|e| e.subject == theirs), "the revocation is published");

        // The refresh token's validity (30 days by default) ends the last session.
        clock.advance(31 * 86_400_000);
        assert!(sessions::list(&t.state, &user).await.unwrap().is_empty());
    })
    .await;
}

/// With session tracking on, a user never holds more than `MaxPerUser` live sessions, even
/// when sign-ins race: each sign-in counts and ends the user's least recently active
/// sessions in the transaction that starts its own, under the user's lock, so exactly the
/// cap survives and every ended session is on the revocation feed.
#[tokio::test]
async fn concurrent_sign_ins_keep_a_user_within_max_per_user() {
    use cognate_core::session_config::PoolSessionConfig;
    use cognate_server::services::{session_config, sessions};
    on_both(START, |t: TestApp, clock: Arc<ManualClock>| async move {
        let (acme, pool, client) = tenant(&t, "acme", Tier::Basic).await;
        let user = member(&t, &acme, "ed@acme.example", Role::Member).await;
        let config = PoolSessionConfig { tracking: true, max_per_user: 2 };
        session_config::set_pool_config(&t.state, &pool, config).await.unwrap();
        let mut tokens_seen = Vec::new();
        for round in 0..3 {
            clock.advance(1_000);
            let go = || sign_in(&t, &pool, &client, "ed@acme.example", PASSWORD);
            let results = tokio::join!(go(), go(), go(), go(), go());
            for r in [results.0, results.1, results.2, results.3, results.4] {
                let Ok(Step::Tokens(issued)) = r else { panic!("sign-in: {r:?}") };
                tokens_seen.push(issued);
            }
            let live = sessions::list(&t.state, &user).await.unwrap();
            assert_eq!(live.len(), 2, "round {round}: the cap holds");
        }
        let mut alive = 0;
        for issued in &tokens_seen {
            let presented = issued.refresh_token.as_deref().unwrap();
            match tokens::refresh(&t.state, &client, presented, SDK_SCOPE, None).await {
                Ok(_) => alive += 1,
                Err(Rejection::Revoked) => {}
                Err(other) => panic!("unexpected refusal: {other:?}"),
            }
        }
        assert_eq!(alive, 2, "only the two newest sessions still refresh");
        let feed = tokens::revocations_after(&t.state, &pool.id, 0, 100).await.unwrap();
        assert_eq!(feed.len(), tokens_seen.len() - 2, "every ended session is published");
    })
    .await;
}
