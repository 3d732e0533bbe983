//! The platform admin portal (`/console/admin/…`) driven in-process like a browser (cookies,
//! CSRF tokens from the pages) on both backends: tenants created, suspended, reactivated,
//! renamed and moved between tiers through the forms; credentials whose secret is shown
//! once; signing keys rotated and retired; users refused on every page; forms without a
//! CSRF token refused; bad input a 4xx with the reason in the page, never a 5xx.

use std::sync::Arc;

use super::console_keys::{Browser, Page, between, enc, unescape};
use super::services::{PASSWORD, START, member, sign_in, tenant};
use super::support::{TestApp, on_both};
use axum::http::{StatusCode, header};
use cognate_core::ManualClock;
use cognate_core::tenant::{Role, TenantId, TenantStatus, Tier};
use cognate_server::services::console::Seat;
use cognate_server::services::sign_in::Step;
use cognate_server::services::tenants;

/// What a test asserts of a portal page.
trait Seen {
    fn location(&self) -> &str;
    fn assert(&self, status: StatusCode, text: &str);
}

impl Seen for Page {
    fn location(&self) -> &str {
        self.location.as_deref().unwrap_or("")
    }

    #[track_caller]
    fn assert(&self, status: StatusCode, text: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(self.body.contains(text), "{text:?} not in {}", self.body);
    }
}

/// A browser signed in with another admin credential.
async fn signed_in_as<'a>(t: &'a TestApp, key_id: &str, secret: &str) -> Browser<'a> {
    let mut b = Browser::new(t);
    b.get("/console").await;
    let form = format!("_csrf={}&accessKeyId={}&secretAccessKey={}", enc(&b.csrf.clone()), enc(key_id), enc(secret));
    let p = b.post_raw("/console/admin/signin", &form).await;
    assert_eq!(p.location(), "/console/admin", "{}", p.body);
    b
}

/// The newest actions of `chain` (after a flush), newest first.
async fn actions(t: &TestApp, chain: &str) -> Vec<(String, bool)> {
    cognate_server::audit::flush_audit(&t.state).await.unwrap();
    let q = cognate_core::audit::AuditQuery { limit: 50, ..Default::default() };
    let events = t.state.store.audit_events(chain, &q).await.unwrap();
    events.into_iter().map(|e| (e.event.action, e.event.outcome == "success")).collect()
}

async fn stored(t: &TestApp, id: &str) -> cognate_core::tenant::Tenant {
    tenants::get(&t.state, &TenantId::parse(id).unwrap()).await.unwrap()
}

#[tokio::test]
async fn a_platform_admin_runs_tenants_from_the_portal() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let mut b = Browser::platform_admin(&t).await;
        let home = b.get("/console/admin").await;
        home.assert(StatusCode::OK, "reachable");
        assert!(home.body.contains(env!("CARGO_PKG_VERSION")), "{}", home.body);

        // Created through the form, the id derived from the name.
        let made = b.post("/console/admin/tenants", &[("name", "Acme Corp"), ("id", ""), ("tier", "standard")]).await;
        assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
        assert_eq!(made.location(), "/console/admin/tenants/acme-corp?done=created");
        b.get(made.location()).await.assert(StatusCode::OK, "Tenant created.");
        b.get("/console/admin/tenants").await.assert(StatusCode::OK, "/console/admin/tenants/acme-corp");
        let acme = stored(&t, "acme-corp").await;
        assert_eq!((acme.tier, acme.status), (Tier::Standard, TenantStatus::Active));

        // Refusals are 4xx pages that say why, and the form keeps what was typed.
        let dup = b.post("/console/admin/tenants", &[("name", "Again"), ("id", "acme-corp"), ("tier", "basic")]).await;
        dup.assert(StatusCode::CONFLICT, "The tenant id acme-corp is taken.");
        assert!(dup.body.contains("value=\"Again\""), "{}", dup.body);
        let bad_id = b.post("/console/admin/tenants", &[("name", "X"), ("id", "Bad_Id"), ("tier", "basic")]).await;
        bad_id.assert(StatusCode::BAD_REQUEST, "Invalid tenant id");
        b.post("/console/admin/tenants", &[("name", "Gold"), ("tier", "gold")])
            .await
            .assert(StatusCode::BAD_REQUEST, "Choose a tier");
        b.post("/console/admin/tenants", &[("name", "Nul\0"), ("tier", "basic")])
            .await
            .assert(StatusCode::BAD_REQUEST, "The form");
        b.post("/console/admin/tenants", &[("name", " "), ("tier", "basic")])
            .await
            .assert(StatusCode::BAD_REQUEST, "The name must be");
        b.get("/console/admin/tenants?after=%00").await.assert(StatusCode::BAD_REQUEST, "page link");
        b.get("/console/admin/tenants/nobody-here").await.assert(StatusCode::NOT_FOUND, "does not exist");
        b.get("/console/admin/tenants/%00").await.assert(StatusCode::NOT_FOUND, "No such tenant");

        // Suspend, reactivate, rename: each audited in the tenant's chain.
        let s = b.post("/console/admin/tenants/acme-corp/suspend", &[]).await;
        assert_eq!(
            (s.status, s.location()),
            (StatusCode::SEE_OTHER, "/console/admin/tenants/acme-corp?done=suspended")
        );
        assert_eq!(stored(&t, "acme-corp").await.status, TenantStatus::Suspended);
        b.get(s.location()).await.assert(StatusCode::OK, "Reactivate");
        b.post("/console/admin/tenants/acme-corp/reactivate", &[]).await;
        assert_eq!(stored(&t, "acme-corp").await.status, TenantStatus::Active);
        b.post("/console/admin/tenants/acme-corp/rename", &[("name", "")])
            .await
            .assert(StatusCode::BAD_REQUEST, "The name must be");
        b.post("/console/admin/tenants/acme-corp/rename", &[("name", "Acme Two")]).await;
        assert_eq!(stored(&t, "acme-corp").await.name, "Acme Two");
        let done = actions(&t, "acme-corp").await;
        for action in ["tenant.create", "tenant.suspend", "tenant.reactivate", "tenant.update"] {
            assert!(done.iter().any(|(a, ok)| a == action && *ok), "{action} in {done:?}");
        }

        // A tier move: a confirmation page naming what moves, then the move itself.
        let acme = stored(&t, "acme-corp").await;
        let ann = member(&t, &acme, "ann@acme.example", Role::Admin).await;
        let confirm = b.post("/console/admin/tenants/acme-corp/tier", &[("tier", "platinum")]).await;
        confirm.assert(StatusCode::OK, "1 active member");
        assert!(confirm.body.contains("dedicated pool provisioned now"), "{}", confirm.body);
        assert!(confirm.body.contains("<progress"), "{}", confirm.body);
        assert_eq!(stored(&t, "acme-corp").await.tier, Tier::Standard, "confirming changes nothing yet");
        b.post("/console/admin/tenants/acme-corp/tier", &[("tier", "standard")])
            .await
            .assert(StatusCode::BAD_REQUEST, "already on the standard tier");
        let moved = b.post("/console/admin/tenants/acme-corp/tier/confirm", &[("tier", "platinum")]).await;
        assert_eq!(moved.location(), "/console/admin/tenants/acme-corp?done=tier", "{}", moved.body);
        let after = stored(&t, "acme-corp").await;
        assert_eq!(after.tier, Tier::Platinum);
        assert_ne!(after.pool_id, acme.pool_id);
        let again = t.state.store.get_user_by_sub(&after.pool_id, &ann.sub).await.unwrap();
        assert!(again.is_some(), "the member moved with the same sub");
        b.get("/console/admin/tenants/acme-corp").await.assert(StatusCode::OK, after.pool_id.as_str());
        assert!(actions(&t, "acme-corp").await.iter().any(|(a, ok)| a == "tenant.tier" && *ok));

        // The pools page shows the dedicated pool as the tenant's, with its clients.
        let pools = b.get("/console/admin/pools").await;
        pools.assert(StatusCode::OK, after.pool_id.as_str());
        assert!(pools.body.contains("dedicated to <a href=\"/console/admin/tenants/acme-corp\">"), "{}", pools.body);
        b.get("/console/admin/pools?after=nope").await.assert(StatusCode::BAD_REQUEST, "page link");
        // The overview counts it.
        b.get("/console/admin").await.assert(StatusCode::OK, "platinum tenants");
        // A platform admin may open the tenant's own console.
        b.get("/console/t/acme-corp").await.assert(StatusCode::OK, "Acme Two");
    })
    .await;
}

#[tokio::test]
async fn a_new_credentials_secret_is_shown_once_and_revocation_bites_at_once() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let mut b = Browser::platform_admin(&t).await;
        let made = b.post("/console/admin/credentials", &[("description", "ci runner")]).await;
        made.assert(StatusCode::OK, "shown only on this page");
        assert_eq!(made.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        let id = between(&made.body, "id=\"new-key-id\">", "<").unwrap();
        let secret = unescape(&between(&made.body, "id=\"new-secret\">", "<").unwrap());
        assert_eq!(secret.len(), 40, "{secret}");
        // It works, and from now on only its id is shown.
        let auth = format!("Bearer {id}:{secret}");
        assert_eq!(t.send("GET", "/v1/tenants", Some(&auth), None).await.status, StatusCode::OK);
        let list = b.get("/console/admin/credentials").await;
        list.assert(StatusCode::OK, &id);
        assert!(list.body.contains("ci runner"), "{}", list.body);
        assert!(!list.body.contains(&secret), "the secret is never shown again");

        let revoked = b.post(&format!("/console/admin/credentials/{id}/revoke"), &[]).await;
        assert_eq!(revoked.location(), "/console/admin/credentials?done=revoked", "{}", revoked.body);
        assert_eq!(t.send("GET", "/v1/tenants", Some(&auth), None).await.status, StatusCode::UNAUTHORIZED);
        b.get("/console/admin/credentials").await.assert(StatusCode::OK, "revoked ");

        // Not the one this session uses; not one that does not exist; NUL is a 404 too.
        let own = b.post(&format!("/console/admin/credentials/{}/revoke", t.key_id), &[]).await;
        own.assert(StatusCode::CONFLICT, "sign in with another credential to revoke this one");
        assert_eq!(t.admin("GET", "/v1/tenants", None).await.status, StatusCode::OK);
        b.post("/console/admin/credentials/CGNNOSUCHKEY/revoke", &[])
            .await
            .assert(StatusCode::NOT_FOUND, "There is no admin credential");
        b.post("/console/admin/credentials/%00/revoke", &[]).await.assert(StatusCode::NOT_FOUND, "no admin credential");
        let long = "x".repeat(300);
        b.post("/console/admin/credentials", &[("description", &long)])
            .await
            .assert(StatusCode::BAD_REQUEST, "at most 256 characters");

        let done = actions(&t, cognate_core::audit::PLATFORM_CHAIN).await;
        assert!(done.iter().any(|(a, ok)| a == "admin_credential.create" && *ok), "{done:?}");
        assert!(done.iter().any(|(a, ok)| a == "admin_credential.revoke" && *ok), "{done:?}");
        assert!(done.iter().any(|(a, ok)| a == "admin_credential.revoke" && !*ok), "{done:?}");

        // A session of a revoked credential ends.
        let second = cognate_server::bootstrap::create_admin_credential(&t.state, "second").await.unwrap();
        let mut other = signed_in_as(&t, &second.access_key_id, &second.secret_access_key).await;
        b.post(&format!("/console/admin/credentials/{}/revoke", second.access_key_id), &[]).await;
        let gone = other.get("/console/admin").await;
        assert_eq!(gone.status, StatusCode::SEE_OTHER);
    })
    .await;
}

#[tokio::test]
async fn signing_keys_rotate_and_retire_but_never_the_last() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let (_, pool, _) = tenant(&t, "keyed", Tier::Platinum).await;
        let first = cognate_server::keys::published(&t.state, &pool.id).await.unwrap()[0].kid.clone();
        let mut b = Browser::platform_admin(&t).await;
        let page = b.get("/console/admin/keys").await;
        page.assert(StatusCode::OK, &first);
        assert!(page.body.contains("rotate first to retire it"), "{}", page.body);

        let last = b.post(&format!("/console/admin/keys/{}/{first}/retire", pool.id), &[]).await;
        last.assert(StatusCode::CONFLICT, "is the only active key");

        let rotated = b.post(&format!("/console/admin/keys/{}/rotate", pool.id), &[]).await;
        assert_eq!(rotated.location(), "/console/admin/keys?done=rotated", "{}", rotated.body);
        let published = cognate_server::keys::published(&t.state, &pool.id).await.unwrap();
        assert_eq!(published.len(), 2);
        let page = b.get("/console/admin/keys?done=rotated").await;
        page.assert(StatusCode::OK, "retiring");

        let retired = b.post(&format!("/console/admin/keys/{}/{first}/retire", pool.id), &[]).await;
        assert_eq!(retired.location(), "/console/admin/keys?done=retired", "{}", retired.body);
        let published = cognate_server::keys::published(&t.state, &pool.id).await.unwrap();
        assert_eq!(published.len(), 1);
        assert_ne!(published[0].kid, first);
        let jwks = t.send("GET", &format!("/{}/.well-known/jwks.json", pool.id), None, None).await;
        assert!(!jwks.body.to_string().contains(&first), "{}", jwks.body);

        b.post(&format!("/console/admin/keys/{}/nokid/retire", pool.id), &[])
            .await
            .assert(StatusCode::NOT_FOUND, "has no signing key");
        b.post("/console/admin/keys/not-a-pool/rotate", &[]).await.assert(StatusCode::NOT_FOUND, "no user pool");
        b.post("/console/admin/keys/local_NoSuchPool/rotate", &[]).await.assert(StatusCode::NOT_FOUND, "no user pool");
        b.post(&format!("/console/admin/keys/{}/%00/retire", pool.id), &[])
            .await
            .assert(StatusCode::NOT_FOUND, "has no signing key");

        let done = actions(&t, cognate_core::audit::PLATFORM_CHAIN).await;
        assert!(done.iter().any(|(a, ok)| a == "signing_key.rotate" && *ok), "{done:?}");
        assert!(done.iter().any(|(a, ok)| a == "signing_key.retire" && *ok), "{done:?}");
        assert!(done.iter().any(|(a, ok)| a == "signing_key.retire" && !*ok), "{done:?}");
    })
    .await;
}

/// Every page and form of the portal.
const GETS: &[&str] = &[
    "/console/admin",
    "/console/admin/tenants",
    "/console/admin/tenants/acme",
    "/console/admin/pools",
    "/console/admin/credentials",
    "/console/admin/keys",
];

fn posts(t: &TestApp, pool: &str) -> Vec<String> {
    vec![
        "/console/admin/tenants".into(),
        "/console/admin/tenants/acme/rename".into(),
        "/console/admin/tenants/acme/suspend".into(),
        "/console/admin/tenants/acme/reactivate".into(),
        "/console/admin/tenants/acme/tier".into(),
        "/console/admin/tenants/acme/tier/confirm".into(),
        "/console/admin/credentials".into(),
        format!("/console/admin/credentials/{}/revoke", t.key_id),
        format!("/console/admin/keys/{pool}/rotate"),
        format!("/console/admin/keys/{pool}/somekid/retire"),
    ]
}

#[tokio::test]
async fn users_are_refused_on_every_portal_page_and_forms_need_their_csrf_token() {
    let t = TestApp::new().await;
    let (acme, pool, client) = tenant(&t, "acme", Tier::Basic).await;
    member(&t, &acme, "ann@acme.example", Role::Admin).await;
    let Step::Tokens(issued) = sign_in(&t, &pool, &client, "ann@acme.example", PASSWORD).await.unwrap() else {
        panic!("tokens");
    };
    let seat = Seat::User {
        pool: pool.id.to_string(),
        access: issued.access_token.clone(),
        refresh: issued.refresh_token.clone().unwrap(),
    };
    let mut user = Browser::new(&t);
    user.seat(seat.seal(&t.state));
    // The user is signed in (their tenant console opens)…
    user.get("/console/t/acme").await.assert(StatusCode::OK, "acme");
    // …but every portal page and form is refused, with a valid CSRF token or without.
    for path in GETS {
        user.get(path).await.assert(StatusCode::FORBIDDEN, "Only platform administrators");
    }
    for path in posts(&t, pool.id.as_str()) {
        user.post(&path, &[("name", "X"), ("tier", "platinum")]).await.assert(StatusCode::FORBIDDEN, "Only platform");
        user.post_raw(&path, "name=X").await.assert(StatusCode::FORBIDDEN, "Only platform");
    }
    assert_eq!(stored(&t, "acme").await.tier, Tier::Basic);
    assert_eq!(stored(&t, "acme").await.status, TenantStatus::Active);

    // A platform admin without the token (a cross-site form) is refused too; nothing changes.
    let mut admin = Browser::platform_admin(&t).await;
    for path in posts(&t, pool.id.as_str()) {
        admin.post_raw(&path, "name=X&tier=platinum").await.assert(StatusCode::FORBIDDEN, "expired or was not sent");
        admin.post_raw(&path, "_csrf=forged&name=X").await.assert(StatusCode::FORBIDDEN, "expired or was not sent");
    }
    assert_eq!(stored(&t, "acme").await.tier, Tier::Basic);
    assert_eq!(stored(&t, "acme").await.status, TenantStatus::Active);
    // Anonymous visitors are sent to sign in.
    let anon = Browser::new(&t).get("/console/admin/keys").await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert!(anon.location().starts_with("/console?next="), "{}", anon.location());
}
