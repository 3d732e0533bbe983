//! Analytics and cost allocation on both backends: monthly active users counted once per
//! user and month across two nodes on one database, the month boundary (the test clock),
//! tenant attribution, exact prices, the CSV and JSON statements, and who may read what.

use std::sync::Arc;

use axum::http::StatusCode;
use cognate_core::ManualClock;
use cognate_core::claims::SDK_SCOPE;
use cognate_core::tenant::{Role, TenantId, Tier};
use cognate_server::services::analytics;
use cognate_server::services::sign_in::Step;
use cognate_server::services::tokens;
use serde_json::{Value, json};

use super::services::{PASSWORD, START, member, sign_in, tenant};
use super::support::{TestApp, assert_error, on_both};

/// 2026-12 as the store keys months.
const DECEMBER: i32 = 202_612;
const JANUARY: i32 = 202_701;

fn id(raw: &str) -> TenantId {
    TenantId::parse(raw).unwrap()
}

/// Signs `name` in and answers the tokens.
async fn tokens_of(
    t: &TestApp,
    pool: &cognate_core::pool::UserPool,
    client: &cognate_core::client::AppClient,
    name: &str,
) -> tokens::Issued {
    match sign_in(t, pool, client, name, PASSWORD).await.unwrap() {
        Step::Tokens(issued) => *issued,
        _ => panic!("tokens expected"),
    }
}

/// A figure's total of a line over December and January.
async fn figure(t: &TestApp, tenant: Option<&TenantId>, name: &str) -> i64 {
    let (first, _) = cognate_core::analytics::month_days(DECEMBER);
    let (_, last) = cognate_core::analytics::month_days(JANUARY);
    t.state.store.figures(tenant, first, last).await.unwrap().iter().filter(|r| r.figure == name).map(|r| r.count).sum()
}

#[tokio::test]
async fn mau_counts_each_user_once_per_month_across_two_nodes_and_attributes_tenants() {
    on_both(START, |a: TestApp, clock: Arc<ManualClock>| async move {
        let b = a.restart().await;
        let (acme, pool, client) = tenant(&a, "acme", Tier::Basic).await;
        let (plat, plat_pool, plat_client) = tenant(&a, "plat", Tier::Platinum).await;
        member(&a, &acme, "ann@acme.example", Role::Member).await;
        member(&a, &acme, "bob@acme.example", Role::Member).await;
        member(&a, &plat, "cat@plat.example", Role::Member).await;

        // Ann signs in on both nodes, twice on the first; Bob once on the second.
        let first = tokens_of(&a, &pool, &client, "ann@acme.example").await;
        tokens_of(&a, &pool, &client, "ann@acme.example").await;
        tokens_of(&b, &pool, &client, "ann@acme.example").await;
        tokens_of(&b, &pool, &client, "bob@acme.example").await;
        tokens_of(&b, &plat_pool, &plat_client, "cat@plat.example").await;
        // A refresh on the second node is one more identity operation for Ann.
        let refresh = first.refresh_token.clone().unwrap();
        tokens::refresh(&b.state, &client, &refresh, SDK_SCOPE, None).await.unwrap();
        // A wrong password in the shared pool has no tenant yet: the platform line; in a
        // dedicated pool, its tenant.
        assert!(sign_in(&a, &pool, &client, "ann@acme.example", "Wrong-Password-1").await.is_err());
        assert!(sign_in(&b, &plat_pool, &plat_client, "cat@plat.example", "Wrong-Password-1").await.is_err());

        // Nothing is written per request; the flushes (every few seconds, and at shutdown)
        // add it up. Flushing both nodes at once must count each user once.
        let (fa, fb) = tokio::join!(analytics::flush(&a.state), analytics::flush(&b.state));
        fa.unwrap();
        fb.unwrap();

        let acme_id = id("acme");
        let mau = a.state.store.monthly_active(Some(&acme_id), DECEMBER).await.unwrap();
        assert_eq!((mau.users, mau.federated), (2, 0));
        assert_eq!(a.state.store.monthly_active(Some(&plat.id), DECEMBER).await.unwrap().users, 1);
        assert_eq!(a.state.store.monthly_active(None, DECEMBER).await.unwrap().users, 0);
        assert_eq!(figure(&a, Some(&acme_id), "sign_ins").await, 4);
        assert_eq!(figure(&a, Some(&acme_id), "tokens.password").await, 4);
        assert_eq!(figure(&a, Some(&acme_id), "tokens.refresh").await, 1);
        assert_eq!(figure(&a, Some(&acme_id), "sign_in_failures").await, 0);
        assert_eq!(figure(&a, None, "sign_in_failures").await, 1);
        assert_eq!(figure(&a, Some(&plat.id), "sign_in_failures").await, 1);
        assert_eq!(figure(&a, Some(&plat.id), "sign_ins").await, 1);

        // Flushing again (a node that saw them already, or a restart) adds nothing.
        analytics::flush(&a.state).await.unwrap();
        assert_eq!(figure(&a, Some(&acme_id), "sign_ins").await, 4);

        // A new calendar month (UTC): Ann counts again, in January only.
        clock.advance(31 * 24 * 3600 * 1000);
        tokens_of(&b, &pool, &client, "ann@acme.example").await;
        analytics::flush(&b.state).await.unwrap();
        assert_eq!(a.state.store.monthly_active(Some(&acme_id), JANUARY).await.unwrap().users, 1);
        assert_eq!(a.state.store.monthly_active(Some(&acme_id), DECEMBER).await.unwrap().users, 2);

        // The platform-wide report sums every line and keeps each apart.
        let report = a.admin("GET", "/v1/analytics?from=2026-12-01&to=2027-01-31", None).await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.body);
        assert_eq!(report.body["totals"]["sign_ins"], 6);
        assert_eq!(report.body["totals"]["sign_in_failures"], 2);
        assert_eq!(report.body["lines"]["acme"]["sign_ins"], 4 + 1);
        assert_eq!(report.body["lines"][""]["sign_in_failures"], 1);
        assert_eq!(report.body["months"][0], json!({"month": "2026-12", "mau": 3, "federatedMau": 0}));
        assert_eq!(report.body["months"][1], json!({"month": "2027-01", "mau": 1, "federatedMau": 0}));
        drop(b);
    })
    .await;
}

/// Sets the price model as the platform admin.
async fn set_prices(t: &TestApp, body: Value) -> Value {
    let r = t.admin("PUT", "/v1/analytics/price-model", Some(&body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

fn money(v: &Value) -> i64 {
    cognate_core::analytics::parse_money(v.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn costs_are_exact_and_the_csv_matches_the_json() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let (acme, pool, client) = tenant(&t, "acme", Tier::Basic).await;
        let (beta, beta_pool, beta_client) = tenant(&t, "beta", Tier::Standard).await;
        tenant(&t, "plat", Tier::Platinum).await;
        member(&t, &acme, "ann@acme.example", Role::Admin).await;
        member(&t, &acme, "bob@acme.example", Role::Member).await;
        member(&t, &beta, "cy@beta.example", Role::Admin).await;
        let ann = tokens_of(&t, &pool, &client, "ann@acme.example").await;
        tokens_of(&t, &pool, &client, "bob@acme.example").await;
        let cy = tokens_of(&t, &beta_pool, &beta_client, "cy@beta.example").await;

        // Prices are kept exactly; amounts come back with six decimals.
        let model = set_prices(
            &t,
            json!({"currency": "EUR", "perMau": "0.0055", "perFederatedMau": "0.015",
                   "perThousandApiCalls": "0.01", "perDedicatedPool": "100", "platformFixed": "1"}),
        )
        .await;
        assert_eq!(model["perMau"], "0.005500");
        assert_eq!(t.admin("GET", "/v1/analytics/price-model", None).await.body, model);
        for bad in [
            json!({"perMau": "-1"}),
            json!({"perMau": "0.0000001"}),
            json!({"perMau": 1}),
            json!({"currency": "usd"}),
            json!({"currency": "US\u{0}"}),
            json!({"unknown": "1"}),
        ] {
            let r = t.admin("PUT", "/v1/analytics/price-model", Some(&bad)).await;
            assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        }

        let statement = t.admin("GET", "/v1/analytics/costs?month=2026-12", None).await;
        assert_eq!(statement.status, StatusCode::OK, "{}", statement.body);
        let s = &statement.body;
        assert_eq!((s["month"].as_str(), s["currency"].as_str()), (Some("2026-12"), Some("EUR")));
        let lines = s["lines"].as_array().unwrap();
        let line = |tenant: Value| lines.iter().find(|l| l["tenantId"] == tenant).unwrap().clone();
        let acme_line = line(json!("acme"));
        assert_eq!((acme_line["mau"].as_i64(), acme_line["apiCalls"].as_i64()), (Some(2), Some(0)));
        assert_eq!(acme_line["mauCost"], "0.011000");
        // One unit of fixed cost over 3 MAU (acme 2, beta 1): 0.666667 and 0.333333.
        assert_eq!(acme_line["platformShare"], "0.666667");
        assert_eq!(line(json!("beta"))["platformShare"], "0.333333");
        assert_eq!(line(json!("plat"))["dedicatedPoolCost"], "100.000000");
        assert_eq!(line(Value::Null)["total"], "0.000000");
        let sum: i64 = lines.iter().map(|l| money(&l["total"])).sum();
        assert_eq!(sum, money(&s["total"]));
        assert_eq!(s["total"], "101.016500");

        // The same statement as CSV (by `format` or by `Accept`): a header, one row per
        // line, the same figures.
        let csv = t.csv("/v1/analytics/costs?month=2026-12&format=csv", &[]).await;
        assert_eq!(csv, t.csv("/v1/analytics/costs?month=2026-12", &[("accept", "text/csv")]).await);
        let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(rows[0].join(","), analytics::CSV_HEADER);
        assert_eq!(rows.len(), lines.len() + 1);
        let csv_total: i64 = rows[1..].iter().map(|r| cognate_core::analytics::parse_money(r[11]).unwrap()).sum();
        assert_eq!(csv_total, money(&s["total"]));
        let acme_row = rows.iter().find(|r| r[1] == "acme").unwrap();
        assert_eq!(acme_row[3], "2");
        assert_eq!(acme_row[7], "0.011000");
        assert!(rows[1..].iter().any(|r| r[1].is_empty()), "the platform line has an empty tenant");

        // A tenant admin sees their own line only, and nothing of another tenant.
        let ann_auth = format!("Bearer {}", ann.access_token);
        let own = t.send("GET", "/v1/tenants/acme/analytics/costs?month=2026-12", Some(&ann_auth), None).await;
        assert_eq!(own.status, StatusCode::OK, "{}", own.body);
        assert_eq!(own.body["lines"].as_array().unwrap().len(), 1);
        assert_eq!(own.body["lines"][0], acme_line);
        let report = t.send("GET", "/v1/tenants/acme/analytics", Some(&ann_auth), None).await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.body);
        assert_eq!(report.body["totals"]["sign_ins"], 2);
        assert_eq!(report.body["mfa"]["members"], 2);
        for uri in ["/v1/tenants/beta/analytics", "/v1/tenants/beta/analytics/costs?month=2026-12"] {
            assert_error(&t.send("GET", uri, Some(&ann_auth), None).await, StatusCode::FORBIDDEN, "forbidden");
        }
        for uri in ["/v1/analytics", "/v1/analytics/costs?month=2026-12", "/v1/analytics/price-model"] {
            assert_error(&t.send("GET", uri, Some(&ann_auth), None).await, StatusCode::FORBIDDEN, "forbidden");
        }
        let cy_auth = format!("Bearer {}", cy.access_token);
        assert_error(
            &t.send("GET", "/v1/tenants/acme/analytics", Some(&cy_auth), None).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        assert_error(&t.send("GET", "/v1/analytics", None, None).await, StatusCode::UNAUTHORIZED, "unauthorized");

        // Bad input is a 400 in the /v1 shape.
        for uri in [
            "/v1/analytics/costs",
            "/v1/analytics/costs?month=2026-13",
            "/v1/analytics/costs?month=2026-12&format=xml",
            "/v1/analytics?from=2026-12-31&to=2026-12-01",
            "/v1/analytics?from=yesterday",
            "/v1/analytics?from=2020-01-01&to=2026-01-01",
            "/v1/analytics?extra=1",
        ] {
            assert_error(&t.admin("GET", uri, None).await, StatusCode::BAD_REQUEST, "invalid_request");
        }
        assert_error(&t.admin("GET", "/v1/tenants/nope/analytics", None).await, StatusCode::NOT_FOUND, "not_found");
    })
    .await;
}

impl TestApp {
    /// The body of a CSV answer as the admin, with extra headers.
    async fn csv(&self, uri: &str, headers: &[(&str, &str)]) -> String {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let mut req = axum::http::Request::get(uri).header("authorization", self.admin_auth());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = self.app.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }
}

/// NUL bytes (and other control characters) reach no analytics handler nor the database:
/// in the tenant segment, `from`, `to`, `month`, `format`, a parameter's name, the price
/// model's fields and keys, or raw in the body, each is a 400 `invalid_request` in the
/// `/v1` shape on both backends; a client whose HTTP Basic id holds one is a 401.
#[tokio::test]
async fn nul_bytes_are_a_clear_4xx_on_every_analytics_endpoint() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        tenant(&t, "acme", Tier::Basic).await;
        for uri in [
            "/v1/tenants/ac%00me/analytics",
            "/v1/tenants/%00/analytics/costs?month=2026-12",
            "/v1/tenants/acme/analytics?from=2026-12-01%00",
            "/v1/tenants/acme/analytics?to=%00",
            "/v1/tenants/acme/analytics?fr%00om=2026-12-01",
            "/v1/tenants/acme/analytics/costs?month=2026-12%00",
            "/v1/tenants/acme/analytics/costs?month=%00",
            "/v1/tenants/acme/analytics/costs?month=2026-12&format=csv%00",
            "/v1/analytics?from=2026-12-01%00&to=2026-12-31",
            "/v1/analytics?to=2026-12-31%00",
            "/v1/analytics?from=%01",
            "/v1/analytics/costs?month=2026-12%00",
            "/v1/analytics/costs?month=%00&format=csv",
            "/v1/analytics/costs?month=2026-12&format=%00json",
            "/v1/analytics/price-model?x=%00",
            "/v1/analytics%00",
        ] {
            let a = t.admin("GET", uri, None).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.body);
            assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
        }
        for body in [
            json!({"currency": "US\u{0}"}),
            json!({"currency": "\u{0}"}),
            json!({"perMau": "0.1\u{0}"}),
            json!({"perFederatedMau": "\u{0}"}),
            json!({"perThousandApiCalls": "1\u{0}"}),
            json!({"perDedicatedPool": "\u{0}1"}),
            json!({"platformFixed": "2\u{0}"}),
            json!({"per\u{0}Mau": "1"}),
        ] {
            let a = t.admin("PUT", "/v1/analytics/price-model", Some(&body)).await;
            assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
        }
        let raw = "{\"perMau\": \"1\0\"}";
        let a = t.send("PUT", "/v1/analytics/price-model", Some(&t.admin_auth()), Some(raw)).await;
        assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
        let a = t.admin("PUT", "/v1/analytics/price-model?x=%00", Some(&json!({"perMau": "1"}))).await;
        assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
        // The price model is still the default one.
        let model = t.admin("GET", "/v1/analytics/price-model", None).await;
        assert_eq!(model.body["perMau"], "0.000000", "{}", model.body);

        // An app client's credentials holding a NUL: refused as credentials.
        use base64::Engine as _;
        for pair in ["acme\0:secret", "acme:sec\0ret", "acme%00:secret"] {
            let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
            let a = t.send("GET", "/v1/tenants/acme/analytics", Some(&basic), None).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{pair:?}: {}", a.body);
            assert!(a.body["error"]["code"].is_string(), "{}", a.body);
        }
    })
    .await;
}

const CALLBACK: &str = "https://app.example.com/callback";
const METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.test"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;

/// A sign-in through an external provider at the hosted login (here a tenant's SAML
/// connection, the identity as the ACS hands it over) counts in `sign_ins` as a password
/// sign-in does, on the tenant's line; its code exchange counts `tokens.code`, and its
/// users count as federated monthly active users.
#[tokio::test]
async fn federated_hosted_login_sign_ins_count_as_sign_ins() {
    use cognate_core::idp::ExternalIdentity;
    use cognate_core::tenant::DomainName;
    use cognate_server::services::authorize::{self, Granted, Outcome};
    use cognate_server::services::connections::{self, NewConnection, ProviderSettings, SamlSettings};
    use cognate_server::services::{clients, domains, federation};

    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let state = &t.state;
        let (acme, _pool, client) = tenant(&t, "acme", Tier::Basic).await;
        let domain = DomainName::parse("acme.example").unwrap();
        domains::claim(state, &acme.id, domain.clone(), false).await.unwrap();
        domains::attest(state, &acme.id, &domain, "it").await.unwrap();
        let made = connections::create(
            state,
            &acme.id,
            NewConnection {
                name: "Corp".into(),
                domains: vec![domain],
                provider: ProviderSettings::Saml(SamlSettings {
                    metadata_xml: Some(METADATA.into()),
                    ..SamlSettings::default()
                }),
                attribute_mapping: Default::default(),
                enabled: true,
                default_role: Role::Member,
                role_claim: None,
                role_mapping: Default::default(),
            },
        )
        .await
        .unwrap();
        let name = made.connection.provider_name.clone();
        let mut client = clients::find(state, &client.id).await.unwrap();
        if !client.settings.supported_identity_providers.contains(&name) {
            client.settings.supported_identity_providers.push(name.clone());
        }
        client.settings.callback_urls = vec![CALLBACK.into()];
        client.settings.allowed_oauth_flows = vec!["code".into()];
        client.settings.allowed_oauth_scopes = vec!["openid".into(), "email".into()];
        client.settings.allowed_oauth_flows_user_pool_client = true;
        clients::update(state, &client).await.unwrap();
        let verifier = "v".repeat(50);
        let challenge = cognate_core::login::pkce_challenge(&verifier);
        let req = authorize::Request {
            response_type: Some("code"),
            client_id: Some(client.id.as_str()),
            redirect_uri: Some(CALLBACK),
            code_challenge: Some(&challenge),
            code_challenge_method: Some("S256"),
            identity_provider: Some(&name),
            ..Default::default()
        };
        let auth = authorize::check(state, &req).await.unwrap();
        let provider = federation::provider_for(state, &auth, Some(&name), None).await.unwrap();

        for person in ["ann", "ann", "bob"] {
            let identity = ExternalIdentity {
                subject: format!("{person}-at-corp"),
                attributes: [(connections::SAML_EMAIL_CLAIM.to_owned(), vec![format!("{person}@acme.example")])].into(),
                session_index: None,
                name_id_format: None,
            };
            let outcome = federation::sign_in(state, &auth, &provider, identity).await.unwrap();
            let Outcome::Done { granted: Granted::Code(code), .. } = outcome else { panic!("a code expected") };
            authorize::exchange(state, &client, &code, Some(CALLBACK), Some(&verifier)).await.unwrap();
        }
        analytics::flush(state).await.unwrap();
        assert_eq!(figure(&t, Some(&acme.id), "sign_ins").await, 3);
        assert_eq!(figure(&t, Some(&acme.id), "tokens.code").await, 3);
        assert_eq!(figure(&t, None, "sign_ins").await, 0, "the tenant's line, not the platform's");
        let mau = state.store.monthly_active(Some(&acme.id), DECEMBER).await.unwrap();
        assert_eq!((mau.users, mau.federated), (2, 2));
        let report = t.admin("GET", "/v1/tenants/acme/analytics?from=2026-12-01&to=2026-12-31", None).await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.body);
        assert_eq!(report.body["totals"]["sign_ins"], 3, "{}", report.body);
    })
    .await;
}
