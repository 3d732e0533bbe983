//! Webhooks: Standard Webhooks signatures, the SSRF guard (classification, connect-time
//! checks against DNS rebinding), fan-out with filters and owners, the retry schedule, 410
//! Gone, the transactional outbox (a failed change leaves no event), and the `/v1`
//! endpoints — the store-backed parts on both backends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use cognate_core::tenant::{Tenant, Tier};
use cognate_core::webhook::{self, DeliveryStatus, PLATFORM_OWNER, WebhookEvent};
use cognate_server::AppState;
use cognate_server::outbound::{HostLookup, OutboundError, OutboundPolicy, classify, guarded_builder};
use cognate_server::services::{api_keys, tenants, webhooks as wh};
use cognate_server::webhook_delivery;
use serde_json::{Value, json};

use super::support::{TestApp, assert_error, on_both};

const START: i64 = 1_800_000_000_000;

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: String,
}

/// A local HTTP receiver answering the statuses of `script` in turn (then 204), recording
/// every request.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: Vec<u16>) -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(Mutex::new(script.into_iter()));
        let (g, s) = (got.clone(), script.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    g.lock().unwrap().push(Received { headers, body });
                    let code = s.lock().unwrap().next().unwrap_or(204);
                    StatusCode::from_u16(code).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url: format!("http://{addr}/hook"), got }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn types(&self) -> Vec<String> {
        self.got()
            .iter()
            .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["type"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Verifies a delivery as a Standard Webhooks receiver does, with `secret`.
fn verify(r: &Received, secret: &str) -> bool {
    let key = webhook::secret_key(secret).unwrap();
    let id = r.headers["webhook-id"].to_str().unwrap();
    let ts: i64 = r.headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    let expected = webhook::sign(&key, id, ts, &r.body);
    r.headers["webhook-signature"].to_str().unwrap().split(' ').any(|s| s == expected)
}

/// Host names from a table (a DNS that answers what the test says).
struct Table(HashMap<String, Vec<IpAddr>>);

#[async_trait::async_trait]
impl HostLookup for Table {
    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        self.0.get(host).cloned().ok_or_else(|| "no such host".to_owned())
    }
}

async fn tenant(state: &AppState, id: &str) -> Tenant {
    let new = tenants::NewTenant { id: Some(id), name: id, tier: Tier::Standard, domains: Vec::new() };
    tenants::create(state, new).await.unwrap()
}

fn new_key(name: &str) -> api_keys::NewKey {
    api_keys::NewKey {
        name: name.into(),
        scopes: vec!["read".into()],
        expires_in_seconds: None,
        rate_limit: None,
        service_account: None,
    }
}

async fn endpoint(state: &AppState, owner: &str, url: &str, types: &[&str]) -> (String, String) {
    let new = wh::NewEndpoint {
        url: url.into(),
        description: "test".into(),
        event_types: types.iter().map(|s| (*s).to_owned()).collect(),
        enabled: true,
    };
    let (e, secret) = wh::create(state, owner, new).await.unwrap();
    (e.id, secret)
}

#[test]
fn signs_like_the_reference_libraries() {
    // The example of the Standard Webhooks reference libraries' tests.
    let key = webhook::secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let header = webhook::signature_header(
        &[key.clone(), key],
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        r#"{"test": 2432232314}"#,
    );
    let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(header, format!("{sig} {sig}"));
    let secret = webhook::generate_secret(&cognate_core::SystemRng);
    assert!(secret.starts_with("whsec_") && webhook::secret_key(&secret).unwrap().len() == 32);
}

#[test]
fn ssrf_classification_table() {
    let refused = [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.0.0.1", "private (RFC 1918)"),
        ("172.16.5.4", "private (RFC 1918)"),
        ("172.31.255.255", "private (RFC 1918)"),
        ("192.168.1.1", "private (RFC 1918)"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("0.0.0.0", "unspecified (0.0.0.0/8)"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "reserved or broadcast"),
        ("192.0.2.10", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fd00::1", "unique local (ULA)"),
        ("fc12::1", "unique local (ULA)"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private (RFC 1918)"),
        ("::ffff:169.254.169.254", "link-local"),
    ];
    for (ip, range) in refused {
        assert_eq!(classify(ip.parse().unwrap()), Some(range), "{ip}");
    }
    for ip in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
        assert_eq!(classify(ip.parse().unwrap()), None, "{ip}");
    }
    let strict = OutboundPolicy::default();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://[::1]:8080/hook",
        "http://localhost/hook",
        "http://[::ffff:7f00:1]/hook",
    ] {
        assert!(matches!(strict.check_url(url), Err(OutboundError::Refused { .. })), "{url}");
    }
    assert_eq!(strict.check_url("ftp://example.com/x").unwrap_err(), OutboundError::Scheme);
    assert_eq!(strict.check_url("https://user:pw@example.com/x").unwrap_err(), OutboundError::UserInfo);
    assert!(strict.check_url("https://hooks.example.com/x").is_ok());
    let loopback = OutboundPolicy::allowing_loopback();
    assert!(loopback.check_url("http://127.0.0.1:9/hook").is_ok());
    assert!(loopback.check_url("http://[::1]:9/hook").is_ok());
    assert!(loopback.check_url("http://169.254.169.254/").is_err(), "only what is listed is allowed");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
    let receiver = Receiver::start(vec![]).await;
    let port = receiver.url.split(':').nth(2).unwrap().split('/').next().unwrap().to_owned();
    // A public-looking name whose DNS answers 127.0.0.1 (rebinding): the URL check passes
    // (no literal IP), the connection must not.
    let table: Arc<dyn HostLookup> =
        Arc::new(Table([("hooks.rebind.test".to_owned(), vec!["127.0.0.1".parse().unwrap()])].into()));
    let url = format!("http://hooks.rebind.test:{port}/hook");
    let strict = Arc::new(OutboundPolicy::default());
    assert!(strict.check_url(&url).is_ok());
    let refused = strict.check_url_resolving(&url, table.as_ref()).await.unwrap_err();
    assert!(matches!(refused, OutboundError::Refused { .. }), "{refused:?}");
    let client = guarded_builder(strict, table.clone()).build().unwrap();
    let err = client.post(&url).body("{}").send().await.unwrap_err();
    assert!(format!("{err:?}").contains("loopback"), "{err:?}");
    assert!(receiver.got().is_empty(), "nothing reached the receiver");
    // Allowed by configuration, the same name connects.
    let client = guarded_builder(Arc::new(OutboundPolicy::allowing_loopback()), table).build().unwrap();
    let resp = client.post(&url).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(receiver.got().len(), 1);
}

#[test]
fn the_retry_schedule_backs_off_for_about_three_days() {
    let waits: Vec<i64> = (1..webhook::MAX_ATTEMPTS).map(|a| webhook::retry_delay_ms(a, 5_000).unwrap()).collect();
    assert_eq!(waits[..5], [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000]);
    let total: i64 = waits.iter().sum();
    assert!((3 * 86_400_000..4 * 86_400_000).contains(&total), "total {total} ms");
    assert_eq!(webhook::retry_delay_ms(webhook::MAX_ATTEMPTS, 5_000), None);
    // The base scales the whole schedule (tests retry in milliseconds).
    assert_eq!(webhook::retry_delay_ms(2, 10), Some(600));
    for _ in 0..100 {
        let j = webhook::jittered(&cognate_core::SystemRng, 100_000);
        assert!((90_000..=110_000).contains(&j), "{j}");
    }
}

#[tokio::test]
async fn events_fan_out_to_their_tenant_and_the_platform_signed_and_filtered() {
    on_both(START, |t, clock| async move {
        let state = &t.state;
        let acme = tenant(state, "acme").await;
        let globex = tenant(state, "globex").await;
        clock.advance(1_000);
        let (all, filtered, platform) =
            (Receiver::start(vec![]).await, Receiver::start(vec![]).await, Receiver::start(vec![]).await);
        let (_, all_secret) = endpoint(state, "acme", &all.url, &[]).await;
        let (_, filtered_secret) = endpoint(state, "acme", &filtered.url, &["api_key.created"]).await;
        let (_, platform_secret) = endpoint(state, PLATFORM_OWNER, &platform.url, &[]).await;
        let (_, plaintext) = api_keys::create(state, &acme.id, "admin:it", new_key("a")).await.unwrap();
        api_keys::create(state, &globex.id, "admin:it", new_key("g")).await.unwrap();
        let client = webhook_delivery::client(state).unwrap();
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        // The tenants were created before the endpoints: only the keys are heard.
        assert_eq!(all.types(), ["api_key.created"]);
        assert_eq!(filtered.types(), ["api_key.created"]);
        let body: Value = serde_json::from_str(&all.got()[0].body).unwrap();
        assert_eq!(body["data"]["tenantId"], "acme", "acme's endpoint never hears globex");
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(!all.got()[0].body.contains(&plaintext), "never the key itself");
        assert_eq!(platform.types(), ["api_key.created", "api_key.created"]);
        assert!(all.got().iter().all(|r| verify(r, &all_secret)));
        assert!(filtered.got().iter().all(|r| verify(r, &filtered_secret)));
        assert!(platform.got().iter().all(|r| verify(r, &platform_secret)));
        assert!(!verify(&all.got()[0], &platform_secret));
        // Each event is fanned out once: another pass sends nothing more.
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        assert_eq!(platform.got().len(), 2);
        let backlog = state.store.webhook_backlog().await.unwrap();
        assert_eq!((backlog.events_pending, backlog.deliveries_pending), (0, 0));
        // Suspension writes its event with the change.
        tenants::suspend(state, &acme.id).await.unwrap();
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        assert_eq!(all.types().last().map(String::as_str), Some("tenant.suspended"));
        assert_eq!(filtered.got().len(), 1, "the filter keeps it out");
    })
    .await;
}

#[tokio::test]
async fn retries_keep_the_webhook_id_and_410_disables() {
    on_both(START, |t, clock| async move {
        let state = &t.state;
        tenant(state, "acme").await;
        let flaky = Receiver::start(vec![500, 503]).await;
        let (id, secret) = endpoint(state, "acme", &flaky.url, &["user.created"]).await;
        wh::send_test(state, "acme", &id).await.unwrap();
        let client = webhook_delivery::client(state).unwrap();
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        let page = cognate_core::page::PageRequest { after: None, limit: 10 };
        let d = &state.store.list_webhook_deliveries("acme", &id, None, &page).await.unwrap()[0];
        assert_eq!((d.status, d.attempts, d.last_status_code), (DeliveryStatus::Pending, 1, Some(500)));
        // Not due yet: nothing is sent.
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        assert_eq!(flaky.got().len(), 1);
        clock.advance(6_000); // past 5 s + 10% jitter
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        clock.advance(331_000); // past 5 min + 10%
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        let got = flaky.got();
        assert_eq!(got.len(), 3);
        let ids: Vec<_> = got.iter().map(|r| r.headers["webhook-id"].clone()).collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "same webhook-id on every retry: {ids:?}");
        assert!(got.iter().all(|r| verify(r, &secret)));
        let d = state.store.get_webhook_delivery("acme", &id, &d.id).await.unwrap().unwrap();
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Delivered, 3));
        let log = state.store.webhook_attempts("acme", &d.id).await.unwrap();
        assert_eq!(log.iter().map(|a| a.status_code).collect::<Vec<_>>(), [Some(500), Some(503), Some(204)]);

        let gone = Receiver::start(vec![410]).await;
        let (gone_id, _) = endpoint(state, "acme", &gone.url, &[]).await;
        wh::send_test(state, "acme", &gone_id).await.unwrap();
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        let e = wh::get(state, "acme", &gone_id).await.unwrap();
        assert!(!e.enabled);
        assert!(e.disabled_reason.unwrap().contains("410"));
        assert!(matches!(wh::send_test(state, "acme", &gone_id).await, Err(wh::WebhookError::Disabled)));
    })
    .await;
}

#[tokio::test]
async fn a_failed_change_leaves_no_event() {
    on_both(START, |t, _clock| async move {
        let state = &t.state;
        let acme = tenant(state, "acme").await;
        let pending = |s: AppState| async move { s.store.webhook_backlog().await.unwrap().events_pending };
        let before = pending(state.clone()).await;
        // A unit of work that emits and rolls back writes nothing.
        let mut work = state.store.begin_tenant(&acme.id).await.unwrap();
        let ev = wh::event(state, "acme", "tenant.suspended", json!({}));
        work.emit_events(&[ev]).await.unwrap();
        work.rollback().await.unwrap();
        assert_eq!(pending(state.clone()).await, before);
        // A unit of work refuses another owner's event.
        let mut work = state.store.begin_tenant(&acme.id).await.unwrap();
        assert!(work.emit_events(&[wh::event(state, "globex", "user.created", json!({}))]).await.is_err());
        work.rollback().await.unwrap();
        // A write that fails (the key id is taken) leaves its event out too.
        let (key, _) = api_keys::create(state, &acme.id, "admin:it", new_key("a")).await.unwrap();
        let after_create = pending(state.clone()).await;
        assert_eq!(after_create, before + 1, "the committed change has its event");
        let ev: WebhookEvent = wh::event(state, "acme", "api_key.created", json!({}));
        assert!(state.store.create_api_key_with(&key, &[ev]).await.is_err());
        assert_eq!(pending(state.clone()).await, after_create);
        // Revoking twice: the second revokes nothing and reports nothing.
        api_keys::revoke(state, &acme.id, &key.id, "admin:it").await.unwrap();
        api_keys::revoke(state, &acme.id, &key.id, "admin:it").await.unwrap();
        assert_eq!(pending(state.clone()).await, after_create + 1);
    })
    .await;
}

#[tokio::test]
async fn the_v1_endpoints_refuse_private_targets_and_isolate_tenants() {
    let mut t = TestApp::new().await;
    // This app refuses loopback, as `cognate serve` does by default.
    let table: Arc<dyn HostLookup> =
        Arc::new(Table([("internal.test".to_owned(), vec!["10.1.2.3".parse().unwrap()])].into()));
    t.state = t.state.clone().with_outbound(OutboundPolicy::default(), table);
    t.app = cognate_server::build_router(t.state.clone());
    tenant(&t.state, "acme").await;
    tenant(&t.state, "globex").await;
    for url in [
        "http://169.254.169.254/latest",
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://localhost/hook",
        "http://internal.test/hook",
        "ftp://example.com/",
        "http://user:pw@example.com/",
        "not a url",
    ] {
        let a = t.admin("POST", "/v1/tenants/acme/webhooks", Some(&json!({"url": url}))).await;
        assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let a = t.admin("POST", "/v1/tenants/acme/webhooks", Some(&json!({"url": "https://x.example/\u{0}"}))).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
    let a = t
        .admin("POST", "/v1/tenants/acme/webhooks", Some(&json!({"url": "https://8.8.8.8/h", "eventTypes": ["nope"]})))
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
    let made = t
        .admin(
            "POST",
            "/v1/tenants/acme/webhooks",
            Some(&json!({"url": "https://8.8.8.8/hook", "eventTypes": ["user.created"]})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_owned();
    assert!(made.body["secret"].as_str().unwrap().starts_with("whsec_"));
    let got = t.admin("GET", &format!("/v1/tenants/acme/webhooks/{id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body.get("secret").is_none(), "the secret is shown once");
    let other = t.admin("GET", &format!("/v1/tenants/globex/webhooks/{id}"), None).await;
    assert_error(&other, StatusCode::NOT_FOUND, "not_found");
    let other = t.admin("GET", &format!("/v1/webhooks/{id}"), None).await;
    assert_error(&other, StatusCode::NOT_FOUND, "not_found");
    let rotated = t.admin("POST", &format!("/v1/tenants/acme/webhooks/{id}/rotate-secret"), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_ne!(rotated.body["secret"], made.body["secret"]);
    assert!(rotated.body["previousSecretUntil"].as_i64().is_some());
    let list = t.admin("GET", "/v1/tenants/acme/webhooks?limit=1", None).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let bad = t.admin("GET", &format!("/v1/tenants/acme/webhooks/{id}/deliveries?status=maybe"), None).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_request");
    let none = t.admin("POST", &format!("/v1/tenants/acme/webhooks/{id}/deliveries/msg_nope/replay"), None).await;
    assert_error(&none, StatusCode::NOT_FOUND, "not_found");
    let gone = t.admin("DELETE", &format!("/v1/tenants/acme/webhooks/{id}"), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let unauth = t.send("GET", "/v1/webhooks", None, None).await;
    assert_eq!(unauth.status, StatusCode::UNAUTHORIZED);
}

/// NUL bytes (and other control characters) reach no webhook endpoint's handler nor the
/// database: in a path segment, a query parameter, a JSON string or key, or raw in the
/// body, each is a 400 `invalid_request` in the `/v1` shape on both backends.
#[tokio::test]
async fn nul_bytes_are_a_clear_400_on_every_webhook_endpoint() {
    on_both(START, |t, _clock| async move {
        tenant(&t.state, "acme").await;
        let receiver = Receiver::start(vec![]).await;
        let (id, _) = endpoint(&t.state, "acme", &receiver.url, &[]).await;
        let (pid, _) = endpoint(&t.state, PLATFORM_OWNER, &receiver.url, &[]).await;
        let d = wh::send_test(&t.state, "acme", &id).await.unwrap();
        let pd = wh::send_test(&t.state, PLATFORM_OWNER, &pid).await.unwrap();
        let (acme, plat) = ("/v1/tenants/acme/webhooks".to_owned(), "/v1/webhooks".to_owned());
        let mut requests: Vec<(&str, String)> = Vec::new();
        for (base, id, delivery) in [(&acme, &id, &d.id), (&plat, &pid, &pd.id)] {
            let one = format!("{base}/{id}");
            requests.extend([
                ("POST", format!("{base}?x=%00")),
                ("GET", format!("{base}?cursor=%00")),
                ("GET", format!("{base}?limit=1%00")),
                ("GET", format!("{base}/%00")),
                ("GET", format!("{one}%00")),
                ("PATCH", format!("{one}%00")),
                ("DELETE", format!("{one}%00")),
                ("POST", format!("{one}%00/rotate-secret")),
                ("POST", format!("{one}%00/test")),
                ("GET", format!("{one}%00/deliveries")),
                ("GET", format!("{one}/deliveries?status=pending%00")),
                ("GET", format!("{one}/deliveries?cursor=%00")),
                ("GET", format!("{one}/deliveries?st%00atus=pending")),
                ("POST", format!("{one}/deliveries/{delivery}%00/replay")),
                ("POST", format!("{one}/deliveries/%00/replay")),
            ]);
        }
        requests.extend([
            ("GET", "/v1/tenants/ac%00me/webhooks".to_owned()),
            ("POST", "/v1/tenants/acme%00/webhooks".to_owned()),
            ("GET", format!("/v1/tenants/%00/webhooks/{id}/deliveries")),
            ("GET", "/v1/webhooks?cursor=abc%01".to_owned()),
        ]);
        for (method, uri) in &requests {
            let body = (*method == "POST" || *method == "PATCH").then(|| json!({"url": receiver.url}));
            let a = t.admin(method, uri, body.as_ref()).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{method} {uri}: {}", a.body);
            assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
        }

        // In the JSON body: every field of a creation and of a change, a key, and a raw
        // (unescaped) NUL, which is not JSON at all.
        let bodies = [
            json!({"url": format!("{}\u{0}", receiver.url)}),
            json!({"url": "\u{0}"}),
            json!({"url": receiver.url, "description": "a\u{0}b"}),
            json!({"url": receiver.url, "eventTypes": ["user.created\u{0}"]}),
            json!({"url": receiver.url, "eventTypes": ["\u{0}"]}),
            json!({"url": receiver.url, "ena\u{0}bled": true}),
            json!({"url": receiver.url, "description": "\u{1b}[31m"}),
        ];
        for base in [&acme, &plat] {
            for body in &bodies {
                let a = t.admin("POST", base, Some(body)).await;
                assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
            }
            let raw = format!(r#"{{"url": "{}{}"}}"#, receiver.url, '\0');
            let a = t.send("POST", base, Some(&t.admin_auth()), Some(&raw)).await;
            assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
        }
        for one in [format!("{acme}/{id}"), format!("{plat}/{pid}")] {
            for body in [
                json!({"url": format!("{}\u{0}", receiver.url)}),
                json!({"description": "\u{0}"}),
                json!({"eventTypes": ["user.created", "\u{0}user.deleted"]}),
                json!({"\u{0}": true}),
            ] {
                let a = t.admin("PATCH", &one, Some(&body)).await;
                assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
            }
            let a = t.send("PATCH", &one, Some(&t.admin_auth()), Some("{\"description\": \"a\0\"}")).await;
            assert_error(&a, StatusCode::BAD_REQUEST, "invalid_request");
        }

        // Nothing was changed or created by any of them.
        for (owner, id) in [("acme", &id), (PLATFORM_OWNER, &pid)] {
            let e = wh::get(&t.state, owner, id).await.unwrap();
            assert_eq!((e.url.as_str(), e.description.as_str(), e.enabled), (receiver.url.as_str(), "test", true));
            let page = cognate_core::page::PageRequest { after: None, limit: 10 };
            assert_eq!(t.state.store.list_webhook_endpoints(owner, &page).await.unwrap().len(), 1);
        }
    })
    .await;
}

/// `tenant.created` is written in the transaction that creates the tenant and claims its
/// domains: a creation whose claim is lost (to a tenant that holds the domain, or to a
/// concurrent creation) leaves no tenant, no claim and no event, on both backends.
#[tokio::test]
async fn a_tenant_whose_domain_claim_is_lost_announces_nothing() {
    on_both(START, |t, _clock| async move {
        let state = &t.state;
        let pending = |s: AppState| async move { s.store.webhook_backlog().await.unwrap().events_pending };
        let new = |id: &'static str, domain: &str| tenants::NewTenant {
            id: Some(id),
            name: id,
            tier: Tier::Standard,
            domains: vec![domain.to_owned()],
        };
        let first = tenants::create(state, new("first", "shared.example")).await.unwrap();
        let before = pending(state.clone()).await;

        // The store's write: a claim another tenant holds undoes the tenant and its event.
        let mut second = first.clone();
        second.id = cognate_core::tenant::TenantId::parse("second").unwrap();
        let claim = |domain: &str| cognate_core::tenant::EmailDomain {
            domain: cognate_core::tenant::DomainName::parse(domain).unwrap(),
            tenant_id: second.id.clone(),
            verified: false,
            auto_join: false,
            verification_token_hash: None,
            created_at: START,
        };
        let event = wh::tenant_event(state, "tenant.created", &second);
        let claims = [claim("free.example"), claim("shared.example")];
        let lost = state.store.create_tenant_with(&second, &claims, std::slice::from_ref(&event)).await;
        assert!(matches!(lost, Err(cognate_core::StoreError::Conflict("domain"))), "{lost:?}");
        assert!(state.store.get_tenant(&second.id).await.unwrap().is_none());
        let free = cognate_core::tenant::DomainName::parse("free.example").unwrap();
        assert!(state.store.get_domain(&free).await.unwrap().is_none(), "the other claim went too");
        assert_eq!(pending(state.clone()).await, before, "no tenant.created for a tenant that is not");

        // Through the service, two creations racing for one domain: one tenant, one event.
        let mut created = 0;
        for (a, b, domain) in [("race-a1", "race-b1", "race1.example"), ("race-a2", "race-b2", "race2.example")] {
            let (ra, rb) = tokio::join!(tenants::create(state, new(a, domain)), tenants::create(state, new(b, domain)));
            assert!(ra.is_ok() ^ rb.is_ok(), "{ra:?} {rb:?}");
            let loser = if ra.is_ok() { b } else { a };
            let refused = ra.and(rb).unwrap_err();
            assert!(matches!(&refused, tenants::TenantError::DomainTaken(d) if d.as_str() == domain), "{refused:?}");
            assert!(state.store.get_tenant(&tid(loser)).await.unwrap().is_none());
            created += 1;
        }
        assert_eq!(pending(state.clone()).await, before + created);
    })
    .await;
}

fn tid(raw: &str) -> cognate_core::tenant::TenantId {
    cognate_core::tenant::TenantId::parse(raw).unwrap()
}

/// Deleting a tenant deletes its webhook endpoints with their pending deliveries and their
/// delivery log, in the deletion's transaction: the worker sends nothing for them after,
/// on both backends. Platform endpoints are not the tenant's and stay.
#[tokio::test]
async fn deleting_a_tenant_deletes_its_endpoints_and_pending_deliveries() {
    on_both(START, |t, clock| async move {
        let state = &t.state;
        let acme = tenant(state, "acme").await;
        tenant(state, "globex").await;
        clock.advance(1_000);
        let (failing, kept) = (Receiver::start(vec![500]).await, Receiver::start(vec![]).await);
        let (id, _) = endpoint(state, "acme", &failing.url, &[]).await;
        let (other, _) = endpoint(state, "globex", &kept.url, &[]).await;
        let (platform, _) = endpoint(state, PLATFORM_OWNER, &kept.url, &[]).await;
        // A delivery with an attempt in its log and a retry pending, and a second one
        // pending, not tried yet.
        let tried = wh::send_test(state, "acme", &id).await.unwrap();
        let client = webhook_delivery::client(state).unwrap();
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        assert_eq!(failing.got().len(), 1);
        let waiting = wh::send_test(state, "acme", &id).await.unwrap();
        let page = cognate_core::page::PageRequest { after: None, limit: 10 };
        let listed = state.store.list_webhook_deliveries("acme", &id, None, &page).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|d| d.status == DeliveryStatus::Pending));
        assert_eq!(state.store.webhook_attempts("acme", &tried.id).await.unwrap().len(), 1);

        tenants::delete(state, &acme.id).await.unwrap();
        assert!(state.store.get_webhook_endpoint("acme", &id).await.unwrap().is_none());
        assert!(state.store.list_webhook_endpoints("acme", &page).await.unwrap().is_empty());
        assert!(state.store.list_webhook_deliveries("acme", &id, None, &page).await.unwrap().is_empty());
        for d in [&tried.id, &waiting.id] {
            assert!(state.store.get_webhook_delivery("acme", &id, d).await.unwrap().is_none());
            assert!(state.store.webhook_attempts("acme", d).await.unwrap().is_empty());
        }
        // Past every retry's time: nothing is attempted for the deleted tenant.
        clock.advance(86_400_000);
        wh::send_test(state, "globex", &other).await.unwrap();
        wh::send_test(state, PLATFORM_OWNER, &platform).await.unwrap();
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        assert_eq!(failing.got().len(), 1, "no delivery attempted after the deletion");
        assert_eq!(kept.types(), ["webhook.test", "webhook.test"], "other owners' endpoints are untouched");
        let backlog = state.store.webhook_backlog().await.unwrap();
        assert_eq!(backlog.deliveries_pending, 0);
        // The admin's view agrees.
        let a = t.admin("GET", &format!("/v1/tenants/acme/webhooks/{id}"), None).await;
        assert_error(&a, StatusCode::NOT_FOUND, "not_found");
    })
    .await;
}

/// The "every attempt failed for 5 days" window scales with the retry base as the retry
/// schedule does: with a base of 10 ms it is 864 s, so an endpoint failing that long is
/// disabled (its pending deliveries fail), and not a moment before, on both backends.
#[tokio::test]
async fn sustained_failure_disables_within_a_window_scaled_by_the_retry_base() {
    on_both(START, |mut t, clock| async move {
        let base = 10;
        t.state.settings =
            Arc::new(cognate_server::ServerSettings { webhook_retry_base_ms: base, ..(*t.state.settings).clone() });
        let state = &t.state;
        let window = webhook::sustained_failure_ms(base);
        assert_eq!(window, 864_000);
        tenant(state, "acme").await;
        let down = Receiver::start(vec![500; 200]).await;
        let (id, _) = endpoint(state, "acme", &down.url, &[]).await;
        let client = webhook_delivery::client(state).unwrap();
        wh::send_test(state, "acme", &id).await.unwrap();
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        assert_eq!(wh::get(state, "acme", &id).await.unwrap().failing_since, Some(START));

        // Failing for just under the window: still enabled.
        clock.advance(window - 1_000);
        wh::send_test(state, "acme", &id).await.unwrap();
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        let e = wh::get(state, "acme", &id).await.unwrap();
        assert!(e.enabled && e.disabled_reason.is_none(), "{e:?}");

        // A failure once the window has passed disables it, saying for how long.
        clock.advance(1_000);
        let last = wh::send_test(state, "acme", &id).await.unwrap();
        webhook_delivery::deliver_due(state, &client).await.unwrap();
        let e = wh::get(state, "acme", &id).await.unwrap();
        assert!(!e.enabled);
        assert_eq!(e.disabled_reason.as_deref(), Some("every attempt failed for 864 seconds"));
        let d = state.store.get_webhook_delivery("acme", &id, &last.id).await.unwrap().unwrap();
        assert_eq!(d.status, DeliveryStatus::Failed);
        let page = cognate_core::page::PageRequest { after: None, limit: 10 };
        let pending = state.store.list_webhook_deliveries("acme", &id, Some(DeliveryStatus::Pending), &page).await;
        assert!(pending.unwrap().is_empty(), "the endpoint's pending deliveries failed with it");
        // Enabling it again starts a new streak.
        let a = t.admin("PATCH", &format!("/v1/tenants/acme/webhooks/{id}"), Some(&json!({"enabled": true}))).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body["disabledReason"].is_null());
    })
    .await;
}
