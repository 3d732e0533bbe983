//! The tenant console's setup and audit pages, driven in-process as a browser would (cookies,
//! CSRF tokens from the pages, urlencoded forms): domains with DNS verification against a
//! scripted resolver, SSO connections, settings, the audit log and its downloads, and the
//! attacks — another tenant's ids through one's own pages, another tenant's pages, a
//! member on admin pages, a missing CSRF token, bad input — on both backends.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::{StatusCode, header};
use cognate_core::ids::generate_sub;
use cognate_core::tenant::{DomainName, MfaRequirement, Role, Tenant, Tier};
use cognate_core::user::{User, UserStatus};
use cognate_server::AppState;
use cognate_server::dns::{TxtError, TxtResolver};
use cognate_server::services::console::{self, Seat};
use cognate_server::services::{connections, domains, pools, tenants, tokens};
use cognate_server::tenancy;

use super::console_keys::{Browser, Page, enc};
use super::support::{TestApp, on_both};

const START: i64 = 1_796_083_200_000;
const SECRET: &str = "s3cret-Client-VALUE-7781";
const METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.test"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;

/// A resolver answering the TXT values the test sets (none: NXDOMAIN; `None`: a timeout).
#[derive(Default)]
struct Scripted(Mutex<Option<Option<Vec<String>>>>);

impl Scripted {
    fn answer(&self, values: Option<Vec<String>>) {
        *self.0.lock().unwrap() = Some(values);
    }
}

#[async_trait]
impl TxtResolver for Scripted {
    async fn txt(&self, _name: &str) -> Result<Vec<Vec<u8>>, TxtError> {
        match self.0.lock().unwrap().clone() {
            None => Err(TxtError::NotFound),
            Some(None) => Err(TxtError::Timeout),
            Some(Some(values)) => Ok(values.into_iter().map(String::into_bytes).collect()),
        }
    }
}

/// What a console answer should be.
trait Expect {
    fn redirected_to(&self, prefix: &str);
    fn refused(&self, status: StatusCode, words: &str);
}

impl Expect for Page {
    #[track_caller]
    fn redirected_to(&self, prefix: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "{}", self.body);
        let to = self.location.as_deref().unwrap_or_default();
        assert!(to.starts_with(prefix), "{to}");
    }

    #[track_caller]
    fn refused(&self, status: StatusCode, words: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(self.body.contains(words), "{words:?} not in {}", self.body);
    }
}

/// A user of `tenant` with `role`, signed in to the console (a seat as the hosted login's
/// sign-in leaves it).
async fn member<'a>(t: &'a TestApp, tenant: &Tenant, name: &str, role: Role) -> Browser<'a> {
    let state = &t.state;
    let now = state.clock.now_millis();
    let mut user = User {
        pool_id: tenant.pool_id.clone(),
        username: generate_sub(state.rng.as_ref()),
        sub: generate_sub(state.rng.as_ref()),
        status: UserStatus::Confirmed,
        enabled: true,
        password_hash: None,
        temp_password_expires_at: None,
        attributes: [("email".to_owned(), format!("{name}@{}.example", tenant.id))].into(),
        created_at: now,
        updated_at: now,
        srp_verifier: None,
        tokens_valid_after: 0,
    };
    let pool = pools::get(state, &tenant.pool_id).await.unwrap();
    let keys = user.keys(&pool.settings);
    tenancy::create_user(state, &mut user, &keys, None).await.unwrap();
    tenancy::join(state, tenant, &mut user, role, false).await.unwrap();
    let selection = tenancy::choose(state, &user, Some(tenant.id.as_str())).await.unwrap();
    let client = console::client_for(state, &tenant.pool_id).await.unwrap();
    let issued = tokens::sign_in(state, &client, &user, &selection, "openid email profile").await.unwrap();
    let seat = Seat::User {
        pool: tenant.pool_id.to_string(),
        access: issued.access_token,
        refresh: issued.refresh_token.unwrap(),
    };
    let mut b = Browser::new(t);
    b.seat(seat.seal(state));
    assert_eq!(b.get(&format!("/console/t/{}", tenant.id)).await.status, StatusCode::OK);
    b
}

async fn tenant(state: &AppState, id: &str) -> Tenant {
    tenants::create(state, tenants::NewTenant { id: Some(id), name: id, tier: Tier::Standard, domains: Vec::new() })
        .await
        .unwrap()
}

/// The app, with a scripted DNS resolver.
fn with_dns(mut t: TestApp) -> (TestApp, Arc<Scripted>) {
    let dns = Arc::new(Scripted::default());
    t.state.dns = dns.clone();
    t.app = cognate_server::build_router(t.state.clone());
    (t, dns)
}

#[tokio::test]
async fn domains_show_the_record_verify_by_dns_and_stay_within_the_tenant() {
    on_both(START, |t, _clock| async move {
        let (t, dns) = with_dns(t);
        let state = t.state.clone();
        let acme = tenant(&state, "acme").await;
        let evil = tenant(&state, "evil").await;
        let mut ann = member(&t, &acme, "ann", Role::Admin).await;
        let mut eve = member(&t, &evil, "eve", Role::Admin).await;
        let mut mo = member(&t, &acme, "mo", Role::Member).await;

        ann.get("/console/t/acme/domains").await;
        ann.post("/console/t/acme/domains", &[("domain", "Acme.Example"), ("auto_join", "on")])
            .await
            .redirected_to("/console/t/acme/domains?done=domain-added");
        let claim = domains::get(&state, &acme.id, &DomainName::parse("acme.example").unwrap()).await.unwrap();
        assert!(claim.auto_join && !claim.verified);
        let record = domains::challenge_record(&state, &claim);
        let page = ann.get("/console/t/acme/domains?done=domain-added").await;
        for shown in [record.name.as_str(), record.value.as_str(), "dig +short TXT _cognate.acme.example", "data-copy="]
        {
            assert!(page.body.contains(shown), "{shown} not on the page");
        }
        // A tenant admin is not offered (nor allowed) the platform's attestation.
        assert!(!page.body.contains("Attest without DNS"));

        // Bad input: the service's words, 4xx, the form offered again.
        ann.post("/console/t/acme/domains", &[("domain", "not a domain")])
            .await
            .refused(StatusCode::BAD_REQUEST, "is not a valid domain name");
        ann.post("/console/t/acme/domains", &[("domain", "mail.gmail.com")])
            .await
            .refused(StatusCode::UNPROCESSABLE_ENTITY, "consumer mail domain");
        let nul = format!(
            "_csrf={}&domain=acme%00.example",
            url::form_urlencoded::byte_serialize(ann.csrf.as_bytes()).collect::<String>()
        );
        ann.post_raw("/console/t/acme/domains", &nul).await.refused(StatusCode::BAD_REQUEST, "The form is malformed.");
        // No CSRF token, or another browser's: refused before anything happens.
        ann.post_raw("/console/t/acme/domains", "domain=csrf.example")
            .await
            .refused(StatusCode::FORBIDDEN, "Reload the page");
        let foreign = eve.csrf.clone();
        ann.post_raw("/console/t/acme/domains", &format!("_csrf={}&domain=csrf.example", enc(&foreign)))
            .await
            .refused(StatusCode::FORBIDDEN, "Reload the page");
        assert!(domains::get(&state, &acme.id, &DomainName::parse("csrf.example").unwrap()).await.is_err());

        // DNS outcomes in words; the right record verifies.
        ann.post("/console/t/acme/domains/acme.example/verify", &[])
            .await
            .refused(StatusCode::UNPROCESSABLE_ENTITY, "Record missing");
        dns.answer(Some(vec!["cognate-verification=someone-elses".into()]));
        ann.post("/console/t/acme/domains/acme.example/verify", &[])
            .await
            .refused(StatusCode::UNPROCESSABLE_ENTITY, "Record mismatch");
        dns.answer(None);
        ann.post("/console/t/acme/domains/acme.example/verify", &[])
            .await
            .refused(StatusCode::SERVICE_UNAVAILABLE, "DNS unavailable");
        dns.answer(Some(vec!["v=spf1 -all".into(), record.value.clone()]));
        ann.post("/console/t/acme/domains/acme.example/verify", &[])
            .await
            .redirected_to("/console/t/acme/domains?done=verified");
        assert!(domains::get(&state, &acme.id, &claim.domain).await.unwrap().verified);
        ann.post("/console/t/acme/domains/acme.example/auto-join", &[("auto_join", "off")])
            .await
            .redirected_to("/console/t/acme/domains?done=domain-updated");
        assert!(!domains::get(&state, &acme.id, &claim.domain).await.unwrap().auto_join);

        // Another tenant's domain through one's own pages: not found, untouched.
        eve.post("/console/t/evil/domains", &[("domain", "evil.example")])
            .await
            .redirected_to("/console/t/evil/domains");
        for action in ["remove", "verify", "auto-join"] {
            let page =
                ann.post(&format!("/console/t/acme/domains/evil.example/{action}"), &[("auto_join", "on")]).await;
            page.refused(StatusCode::NOT_FOUND, "The domain does not exist.");
        }
        let evils = domains::get(&state, &evil.id, &DomainName::parse("evil.example").unwrap()).await.unwrap();
        assert!(!evils.verified && !evils.auto_join);
        assert!(!ann.get("/console/t/acme/domains").await.body.contains("evil.example"));
        // Another tenant's pages: forbidden.
        ann.get("/console/t/evil/domains").await.refused(StatusCode::FORBIDDEN, "cannot act in this tenant");
        ann.post("/console/t/evil/domains/evil.example/remove", &[])
            .await
            .refused(StatusCode::FORBIDDEN, "cannot act in this tenant");
        assert!(domains::get(&state, &evil.id, &evils.domain).await.is_ok());
        // A member: forbidden on every admin page.
        for page in ["domains", "connections", "settings", "audit", "audit/export?format=csv"] {
            assert_eq!(mo.get(&format!("/console/t/acme/{page}")).await.status, StatusCode::FORBIDDEN, "{page}");
        }
        mo.post("/console/t/acme/domains", &[("domain", "mo.example")]).await.refused(StatusCode::FORBIDDEN, "");

        // Attestation: platform admins only.
        ann.post("/console/t/evil/domains/evil.example/attest", &[]).await.refused(StatusCode::FORBIDDEN, "");
        ann.post("/console/t/acme/domains/acme.example/attest", &[]).await.refused(StatusCode::FORBIDDEN, "");
        let mut admin = Browser::platform_admin(&t).await;
        assert!(admin.get("/console/t/evil/domains").await.body.contains("Attest without DNS"));
        admin
            .post("/console/t/evil/domains/evil.example/attest", &[])
            .await
            .redirected_to("/console/t/evil/domains?done=attested");
        assert!(domains::get(&state, &evil.id, &evils.domain).await.unwrap().verified);

        ann.post("/console/t/acme/domains/acme.example/remove", &[])
            .await
            .redirected_to("/console/t/acme/domains?done=domain-removed");
        assert!(domains::get(&state, &acme.id, &claim.domain).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn connections_settings_and_audit_stay_within_the_tenant_and_never_show_secrets() {
    on_both(START, |t, _clock| async move {
        let state = t.state.clone();
        let acme = tenant(&state, "acme").await;
        let evil = tenant(&state, "evil").await;
        for (tenant, domain) in [(&acme, "acme.example"), (&evil, "evil.example")] {
            let claim = domains::add(&state, &tenant.id, domain, false).await.unwrap();
            domains::attest(&state, &tenant.id, &claim.domain, "it").await.unwrap();
        }
        let mut ann = member(&t, &acme, "ann", Role::Admin).await;
        let mut eve = member(&t, &evil, "eve", Role::Admin).await;

        // Create: OIDC with a secret, SAML from metadata XML; refusals in the service's words.
        ann.get("/console/t/acme/connections").await;
        let oidc = [
            ("name", "Okta"),
            ("type", "oidc"),
            ("issuer", "http://127.0.0.1:9"),
            ("client_id", "cognate"),
            ("client_secret", SECRET),
            ("domains", "acme.example"),
            ("enabled", "on"),
        ];
        ann.post("/console/t/acme/connections", &oidc)
            .await
            .redirected_to("/console/t/acme/connections?done=connection-created");
        let page = ann
            .post(
                "/console/t/acme/connections",
                &[
                    ("name", "X"),
                    ("type", "oidc"),
                    ("domains", "evil.example"),
                    ("issuer", "http://127.0.0.1:9"),
                    ("client_id", "c"),
                    ("client_secret", SECRET),
                ],
            )
            .await;
        page.refused(StatusCode::UNPROCESSABLE_ENTITY, "evil.example is not a verified domain of this tenant");
        assert!(!page.body.contains(SECRET), "a refused form offers the secret again");
        ann.post("/console/t/acme/connections", &[("name", "X"), ("type", "oidc")])
            .await
            .refused(StatusCode::BAD_REQUEST, "needs oidc.issuer and oidc.clientId");
        ann.post(
            "/console/t/acme/connections",
            &[("name", "X"), ("type", "saml"), ("metadata_url", "https://idp.example/md"), ("metadata_xml", METADATA)],
        )
        .await
        .refused(StatusCode::BAD_REQUEST, "not both");
        ann.post("/console/t/acme/connections", &[("name", "X"), ("type", "ldap")])
            .await
            .refused(StatusCode::BAD_REQUEST, "Choose OIDC or SAML.");
        ann.post(
            "/console/t/acme/connections",
            &[("name", "ADFS"), ("type", "saml"), ("metadata_xml", METADATA), ("enabled", "on")],
        )
        .await
        .redirected_to("/console/t/acme/connections?done=connection-created");
        let page = ann.get("/console/t/acme/connections").await;
        assert!(
            page.body.contains("set (never shown)")
                && page.body.contains("/oauth2/idpresponse")
                && page.body.contains("/saml2/idpresponse")
        );
        assert!(!page.body.contains(SECRET));
        let listed = connections::list(&state, &acme.id, &cognate_core::page::PageRequest { after: None, limit: 10 })
            .await
            .unwrap();
        let okta = listed.iter().find(|c| c.connection.name == "Okta").unwrap().connection.id.clone();
        let adfs = listed.iter().find(|c| c.connection.name == "ADFS").unwrap().connection.id.clone();

        // Test: the service's probe, as the page shows it.
        let page = ann.post(&format!("/console/t/acme/connections/{adfs}/test"), &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Test of ADFS") && page.body.contains("no signing certificate"), "{}", page.body);
        let page = ann.post(&format!("/console/t/acme/connections/{okta}/test"), &[]).await;
        assert!(page.body.contains("could not be read"), "{}", page.body);

        // Another tenant's connection through one's own pages: not found, untouched.
        for action in ["test", "disable", "delete"] {
            eve.post(&format!("/console/t/evil/connections/{okta}/{action}"), &[])
                .await
                .refused(StatusCode::NOT_FOUND, "The connection does not exist.");
        }
        eve.get("/console/t/acme/connections").await.refused(StatusCode::FORBIDDEN, "");
        eve.post(&format!("/console/t/acme/connections/{okta}/delete"), &[]).await.refused(StatusCode::FORBIDDEN, "");
        assert!(connections::get(&state, &acme.id, &okta).await.unwrap().connection.enabled);

        ann.post(&format!("/console/t/acme/connections/{okta}/disable"), &[])
            .await
            .redirected_to("/console/t/acme/connections?done=connection-updated");
        assert!(!connections::get(&state, &acme.id, &okta).await.unwrap().connection.enabled);
        ann.post(&format!("/console/t/acme/connections/{adfs}/delete"), &[])
            .await
            .redirected_to("/console/t/acme/connections?done=connection-deleted");
        assert!(connections::get(&state, &acme.id, &adfs).await.is_err());

        // Settings: name and MFA; the retention is the platform's.
        ann.get("/console/t/acme/settings").await;
        ann.post("/console/t/acme/settings", &[("name", "Acme Corp"), ("mfa", "admins")])
            .await
            .redirected_to("/console/t/acme/settings?done=saved");
        let now = tenants::get(&state, &acme.id).await.unwrap();
        assert_eq!((now.name.as_str(), now.mfa), ("Acme Corp", MfaRequirement::Admins));
        ann.post("/console/t/acme/settings", &[("name", "Acme"), ("mfa", "sometimes")])
            .await
            .refused(StatusCode::BAD_REQUEST, "Choose off, admins or all");
        ann.post("/console/t/acme/settings", &[("name", "  "), ("mfa", "off")])
            .await
            .refused(StatusCode::BAD_REQUEST, "name");
        eve.post("/console/t/acme/settings", &[("name", "Pwned")]).await.refused(StatusCode::FORBIDDEN, "");
        ann.post("/console/t/acme/settings/retention", &[("days", "30")]).await.refused(StatusCode::FORBIDDEN, "");
        let mut admin = Browser::platform_admin(&t).await;
        admin.get("/console/t/acme/settings").await;
        admin
            .post("/console/t/acme/settings/retention", &[("days", "0")])
            .await
            .refused(StatusCode::BAD_REQUEST, "days must be 1 to 3650");
        admin
            .post("/console/t/acme/settings/retention", &[("days", "30")])
            .await
            .redirected_to("/console/t/acme/settings?done=retention");
        assert_eq!(cognate_server::audit::retention_days(&state, "acme").await.unwrap(), 30);
        assert_eq!(tenants::get(&state, &acme.id).await.unwrap().name, "Acme Corp");

        // The audit log: the console's changes under the /v1 action names, filtered.
        let page = ann.get("/console/t/acme/audit").await;
        for action in [
            "connection.create",
            "connection.test",
            "connection.update",
            "connection.delete",
            "tenant.update",
            "audit.retention",
        ] {
            assert!(page.body.contains(action), "{action} not in the log");
        }
        let page = ann.get("/console/t/acme/audit?action=connection.create&outcome=failure").await;
        assert!(page.body.contains("domain_not_verified") && !page.body.contains("connection.delete"), "{}", page.body);
        ann.get("/console/t/acme/audit?from=yesterday")
            .await
            .refused(StatusCode::BAD_REQUEST, "From must be a date and time");
        ann.get("/console/t/acme/audit?cursor=bogus")
            .await
            .refused(StatusCode::BAD_REQUEST, "The cursor is not valid.");
        eve.get("/console/t/acme/audit").await.refused(StatusCode::FORBIDDEN, "");
        eve.get("/console/t/acme/audit/export?format=json").await.refused(StatusCode::FORBIDDEN, "");

        // Downloads: only this tenant's events, no secret; JSON is /v1's export.
        let csv = ann.get("/console/t/acme/audit/export?format=csv").await;
        assert_eq!(csv.status, StatusCode::OK);
        assert_eq!(csv.headers[header::CONTENT_DISPOSITION], "attachment; filename=\"audit-acme.csv\"");
        assert!(csv.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
        let mut lines = csv.body.lines();
        assert!(lines.next().unwrap().starts_with("seq,id,tenantId,at,"));
        let rows: Vec<&str> = lines.collect();
        assert!(rows.len() >= 8, "{}", csv.body);
        assert!(rows.iter().all(|r| r.split(',').nth(2) == Some("acme")), "{}", csv.body);
        let json = ann.get("/console/t/acme/audit/export?format=json").await;
        assert_eq!(json.headers[header::CONTENT_DISPOSITION], "attachment; filename=\"audit-acme.ndjson\"");
        let v1 = t.admin("GET", "/v1/tenants/acme/audit/export", None).await;
        assert_eq!(serde_json::Value::String(json.body.clone()), v1.body);
        for line in json.body.lines() {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(e["tenantId"], "acme");
        }
        for body in [&csv.body, &json.body] {
            assert!(!body.contains(SECRET) && !body.contains("evil.example") && !body.contains(&t.secret));
        }
        let filtered = ann.get("/console/t/acme/audit/export?format=json&action=tenant.update").await;
        assert!(
            filtered.body.lines().count() >= 2
                && filtered.body.lines().all(|l| l.contains("\"action\":\"tenant.update\""))
        );
        ann.get("/console/t/acme/audit/export?format=xml").await.refused(StatusCode::BAD_REQUEST, "csv or json");
    })
    .await;
}
