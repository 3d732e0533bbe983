//! The tenant console's API key and usage pages, driven in-process as a browser would
//! (cookies, CSRF tokens from the forms): the key is shown once, the same refusals as
//! `/v1` in the same words, and the attacks (another tenant's key id, a missing CSRF token,
//! NUL bytes) change nothing.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::json;
use tower::ServiceExt as _;

use crate::support::TestApp;

/// A browser: its cookies, and the last page's CSRF token.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    cookies: HashMap<String, String>,
    pub csrf: String,
}

/// A page: status, `Location`, headers and body.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, cookies: HashMap::new(), csrf: String::new() }
    }

    /// A browser signed in to the console as the platform admin.
    pub async fn platform_admin(app: &'a TestApp) -> Self {
        let mut b = Self::new(app);
        b.get("/console").await;
        let form = format!(
            "_csrf={}&accessKeyId={}&secretAccessKey={}",
            enc(&b.csrf.clone()),
            enc(&app.key_id),
            enc(&app.secret)
        );
        let p = b.post_raw("/console/admin/signin", &form).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
        assert!(b.cookies.contains_key("cognate-console"));
        b
    }

    /// Sets the console session cookie by hand (a sealed seat).
    pub fn seat(&mut self, sealed: String) {
        self.cookies.insert("cognate-console".into(), sealed);
    }

    async fn send(&mut self, method: &str, uri: &str, form: Option<&str>) -> Page {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let mut req = Request::builder().method(method).uri(uri).header("cookie", cookie);
        if form.is_some() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let req = req.body(form.map_or_else(Body::empty, |f| Body::from(f.to_owned()))).unwrap();
        let resp = self.app.app.clone().oneshot(req).await.unwrap();
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = resp.status();
        let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        let headers = resp.headers().clone();
        let body = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        if let Some(token) = between(&body, "name=\"_csrf\" value=\"", "\"") {
            self.csrf = token;
        }
        Page { status, location, headers, body }
    }

    pub async fn get(&mut self, uri: &str) -> Page {
        self.send("GET", uri, None).await
    }

    /// Posts `fields` with the page's CSRF token.
    pub async fn post(&mut self, uri: &str, fields: &[(&str, &str)]) -> Page {
        let mut form = format!("_csrf={}", enc(&self.csrf.clone()));
        for (k, v) in fields {
            form.push_str(&format!("&{k}={}", enc(v)));
        }
        self.post_raw(uri, &form).await
    }

    pub async fn post_raw(&mut self, uri: &str, form: &str) -> Page {
        self.send("POST", uri, Some(form)).await
    }
}

pub fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The text between `start` and the next `end`.
pub fn between(body: &str, start: &str, end: &str) -> Option<String> {
    let at = body.find(start)? + start.len();
    Some(body[at..at + body[at..].find(end)?].to_owned())
}

/// HTML text back to plain text (the entities askama writes).
pub fn unescape(s: &str) -> String {
    [("&#34;", "\""), ("&quot;", "\""), ("&#39;", "'"), ("&lt;", "<"), ("&#60;", "<"), ("&gt;", ">"), ("&#62;", ">")]
        .iter()
        .fold(s.to_owned(), |s, (from, to)| s.replace(from, to))
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

async fn app() -> TestApp {
    let t = TestApp::new().await;
    for (id, tier) in [("acme", "standard"), ("globex", "standard")] {
        let r = t.admin("POST", "/v1/tenants", Some(&json!({"id": id, "name": id, "tier": tier}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    t
}

/// The keys of `tenant` as /v1 lists them.
async fn keys(t: &TestApp, tenant: &str) -> Vec<serde_json::Value> {
    t.admin("GET", &format!("/v1/tenants/{tenant}/api-keys"), None).await.body["items"].as_array().unwrap().clone()
}

/// The /v1 message for creating a key with `body` in acme.
async fn v1_refusal(t: &TestApp, body: serde_json::Value) -> String {
    let r = t.admin("POST", "/v1/tenants/acme/api-keys", Some(&body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    r.body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_key_is_shown_once_and_works() {
    let t = app().await;
    let mut b = Browser::platform_admin(&t).await;
    let list = b.get("/console/t/acme/keys").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains("No API keys yet."));

    let made = b
        .post(
            "/console/t/acme/keys",
            &[
                ("name", "ci <deploy>"),
                ("scopes", "notes:read notes:write notes:read"),
                ("expires_in_seconds", "2592000"),
                ("rate_requests", "10"),
                ("rate_per_seconds", "60"),
                ("service_account", "deploy-bot"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let secret = between(&made.body, "<code id=\"new-key\">", "<").unwrap();
    assert!(secret.starts_with("cog_"), "{secret}");
    assert_eq!(made.body.matches(&secret).count(), 1, "the key appears exactly once");
    assert!(made.body.contains("data-copy=\"new-key\""));
    assert!(unescape(&made.body).contains("ci <deploy>"), "the name is shown");
    assert!(!made.body.contains("ci <deploy>"));

    // The key is what /v1 would have made, and it verifies.
    let listed = keys(&t, "acme").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["scopes"], json!(["notes:read", "notes:write"]));
    assert_eq!(listed[0]["rateLimit"], json!({"requests": 10, "perSeconds": 60}));
    assert_eq!(listed[0]["serviceAccount"], "deploy-bot");
    assert_eq!(listed[0]["createdBy"].as_str().unwrap(), format!("admin:{}", t.key_id));
    let v = t.admin("POST", "/v1/api-keys/verify", Some(&json!({"key": secret}))).await;
    assert_eq!(v.body["valid"], true, "{}", v.body);

    // The list never shows it again.
    let list = b.get("/console/t/acme/keys").await;
    assert!(!list.body.contains(&secret));
    assert!(list.body.contains(&secret[..12]), "the prefix is shown");
    assert!(list.body.contains("10 per 60 s"));
    assert!(list.body.contains(">active<"));

    // Usage: the verification above counted one request.
    let usage = b.get("/console/t/acme/usage").await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    assert!(usage.body.contains("<svg class=\"chart\" role=\"img\""));
    assert!(usage.body.contains("<strong>1</strong> requests in 30 days"), "{}", usage.body);
    assert!(!usage.body.contains(&secret));

    // Rotation: a new key shown once, the old one in its grace period.
    let id = listed[0]["id"].as_str().unwrap();
    let rotated = b.post(&format!("/console/t/acme/keys/{id}/rotate"), &[("grace_period_seconds", "3600")]).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let second = between(&rotated.body, "<code id=\"new-key\">", "<").unwrap();
    assert_ne!(second, secret);
    assert!(rotated.body.contains("The previous key works until"));
    let list = b.get("/console/t/acme/keys").await;
    assert!(list.body.contains("rotated-in-grace"));
    assert!(!list.body.contains(&second));

    // Edit, then revoke.
    let new_id = keys(&t, "acme").await.into_iter().find(|k| k["status"] == "active").unwrap()["id"].clone();
    let new_id = new_id.as_str().unwrap();
    let p = b
        .post(
            &format!("/console/t/acme/keys/{new_id}/update"),
            &[
                ("name", "ci2"),
                ("scopes", "a:b"),
                ("rate_requests", ""),
                ("rate_per_seconds", ""),
                ("service_account", ""),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let got = t.admin("GET", &format!("/v1/tenants/acme/api-keys/{new_id}"), None).await.body;
    assert_eq!(
        (got["name"].as_str(), got["rateLimit"].is_null(), got["serviceAccount"].is_null()),
        (Some("ci2"), true, true)
    );
    let p = b.post(&format!("/console/t/acme/keys/{new_id}/revoke"), &[]).await;
    assert_eq!(p.location.as_deref(), Some("/console/t/acme/keys?done=key-revoked"));
    let v = t.admin("POST", "/v1/api-keys/verify", Some(&json!({"key": second, "countUsage": false}))).await;
    assert_eq!(v.body["code"], "revoked");

    // Each change is in the audit trail under /v1's action names.
    cognate_server::audit::flush_audit(&t.state).await.unwrap();
    let trail = t.admin("GET", "/v1/tenants/acme/audit", None).await.body.to_string();
    for action in ["api_key.create", "api_key.rotate", "api_key.update", "api_key.revoke"] {
        assert!(trail.contains(action), "{action} missing from {trail}");
    }
}

#[tokio::test]
async fn refusals_use_v1_words_and_attacks_change_nothing() {
    let t = app().await;
    let mut b = Browser::platform_admin(&t).await;
    b.get("/console/t/acme/keys").await;

    // Invalid scopes, lifetime, rate limit, grace: 400 with /v1's message.
    let long = "s".repeat(129);
    for (fields, v1) in [
        (vec![("name", "x"), ("scopes", long.as_str())], json!({"name": "x", "scopes": [long]})),
        (vec![("name", "x"), ("expires_in_seconds", "0")], json!({"name": "x", "expiresInSeconds": 0})),
        (
            vec![("name", "x"), ("expires_in_seconds", "999999999999")],
            json!({"name": "x", "expiresInSeconds": 999_999_999_999_i64}),
        ),
        (
            vec![("name", "x"), ("rate_requests", "0"), ("rate_per_seconds", "60")],
            json!({"name": "x", "rateLimit": {"requests": 0, "perSeconds": 60}}),
        ),
        (vec![("name", "   ")], json!({"name": "   "})),
    ] {
        let p = b.post("/console/t/acme/keys", &fields).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{fields:?}: {}", p.body);
        let message = v1_refusal(&t, v1).await;
        assert!(unescape(&p.body).contains(&message), "{fields:?}: {message} not in the page");
        assert!(p.body.contains("role=\"alert\""));
    }
    // A NUL byte in the name: 400, nothing made.
    let p = b.post("/console/t/acme/keys", &[("name", "a\0b")]).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    // No CSRF token: 403, nothing made.
    let p = b.post_raw("/console/t/acme/keys", "name=sneaky").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b.post_raw("/console/t/acme/keys", "name=sneaky&_csrf=forged").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(keys(&t, "acme").await.is_empty());

    // Another tenant's key on this tenant's pages: not found, and it stays as it was.
    let theirs = t.admin("POST", "/v1/tenants/globex/api-keys", Some(&json!({"name": "theirs"}))).await.body;
    let id = theirs["id"].as_str().unwrap();
    for (action, fields) in [
        ("revoke", vec![]),
        ("rotate", vec![("grace_period_seconds", "0")]),
        ("update", vec![("name", "pwned"), ("scopes", "")]),
    ] {
        let p = b.post(&format!("/console/t/acme/keys/{id}/{action}"), &fields).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{action}: {}", p.body);
    }
    let after = t.admin("GET", &format!("/v1/tenants/globex/api-keys/{id}"), None).await.body;
    assert_eq!((after["status"].as_str(), after["name"].as_str()), (Some("active"), Some("theirs")));
    assert_eq!(keys(&t, "globex").await.len(), 1);

    // A grace period outside /v1's bounds.
    let ours = t.admin("POST", "/v1/tenants/acme/api-keys", Some(&json!({"name": "ours"}))).await.body;
    let p = b
        .post(
            &format!("/console/t/acme/keys/{}/rotate", ours["id"].as_str().unwrap()),
            &[("grace_period_seconds", "9999999")],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    let message = t
        .admin(
            "POST",
            &format!("/v1/tenants/acme/api-keys/{}/rotate", ours["id"].as_str().unwrap()),
            Some(&json!({"gracePeriodSeconds": 9_999_999})),
        )
        .await
        .body["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(unescape(&p.body).contains(&message));
    assert_eq!(keys(&t, "acme").await.len(), 1, "no rotation happened");

    // Not signed in: sent to sign in, nothing shown.
    let mut anonymous = Browser::new(&t);
    let p = anonymous.get("/console/t/acme/keys").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(p.location.unwrap().starts_with("/console?next="));
}
