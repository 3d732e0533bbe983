//! `/v1/tenants` through the whole router as a platform admin.

use axum::http::StatusCode;
use cognate_server::bootstrap::SHARED_POOL_KEY;
use serde_json::{Value, json};

use crate::support::{TestApp, assert_error};

#[tokio::test]
async fn tenant_lifecycle() {
    let t = TestApp::new().await;

    let created = t.admin("POST", "/v1/tenants", Some(&json!({"name": "Acme Corp.", "tier": "standard"}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let acme = created.body;
    let shared = t.state.store.get_meta(SHARED_POOL_KEY).await.unwrap().unwrap();
    assert_eq!(acme["id"], "acme-corp");
    assert_eq!(acme["name"], "Acme Corp.");
    assert_eq!(acme["tier"], "standard");
    assert_eq!(acme["status"], "active");
    assert_eq!(acme["mfa"], "off");
    assert_eq!(acme["poolId"], shared.as_str());
    let created_at = acme["createdAt"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - created_at).abs() < 60, "createdAt {created_at} is not epoch seconds");

    let got = t.admin("GET", "/v1/tenants/acme-corp", None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, acme);

    let renamed = t.admin("PATCH", "/v1/tenants/acme-corp", Some(&json!({"name": "Acme Inc"}))).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Acme Inc");
    assert_eq!(renamed.body["id"], "acme-corp");
    // A second update still passes the version check (the first bumped it).
    let again = t.admin("PATCH", "/v1/tenants/acme-corp", Some(&json!({"name": "Acme"}))).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(t.admin("GET", "/v1/tenants/acme-corp", None).await.body["name"], "Acme");

    let suspended = t.admin("POST", "/v1/tenants/acme-corp/suspend", None).await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    assert_eq!(suspended.body["status"], "suspended");
    assert_eq!(t.admin("GET", "/v1/tenants/acme-corp", None).await.body["status"], "suspended");

    let reactivated = t.admin("POST", "/v1/tenants/acme-corp/reactivate", None).await;
    assert_eq!(reactivated.status, StatusCode::OK, "{}", reactivated.body);
    assert_eq!(reactivated.body["status"], "active");

    let deleted = t.admin("DELETE", "/v1/tenants/acme-corp", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_error(&t.admin("GET", "/v1/tenants/acme-corp", None).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&t.admin("DELETE", "/v1/tenants/acme-corp", None).await, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn explicit_ids_and_basic_tier() {
    let t = TestApp::new().await;
    let created =
        t.admin("POST", "/v1/tenants", Some(&json!({"id": "globex-2", "name": "Globex", "tier": "basic"}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!((created.body["id"].as_str(), created.body["tier"].as_str()), (Some("globex-2"), Some("basic")));
}

#[tokio::test]
async fn list_pages_with_opaque_cursors() {
    let t = TestApp::new().await;
    for id in ["t-05", "t-01", "t-04", "t-02", "t-03"] {
        let r = t.admin("POST", "/v1/tenants", Some(&json!({"id": id, "name": id, "tier": "basic"}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let mut seen = Vec::new();
    let mut uri = "/v1/tenants?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = t.admin("GET", &uri, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match &page.body["nextCursor"] {
            Value::String(cursor) => {
                assert!(!cursor.contains("t-0"), "the cursor should be opaque: {cursor}");
                uri = format!("/v1/tenants?limit=2&cursor={cursor}");
            }
            Value::Null => break,
            other => panic!("nextCursor {other}"),
        }
    }
    assert_eq!(seen, ["t-01", "t-02", "t-03", "t-04", "t-05"]);
    assert_eq!(pages, 3);

    let all = t.admin("GET", "/v1/tenants", None).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 5);
    assert_eq!(all.body["nextCursor"], Value::Null);

    for bad in ["limit=0", "limit=101", "limit=abc", "cursor=not-a-cursor"] {
        assert_error(
            &t.admin("GET", &format!("/v1/tenants?{bad}"), None).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
    }
}

#[tokio::test]
async fn requests_without_valid_admin_credentials_are_401() {
    let t = TestApp::new().await;
    let none = t.send("GET", "/v1/tenants", None, None).await;
    assert_error(&none, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(none.challenge.as_deref(), Some("Bearer"));

    let wrong_secret = format!("Bearer {}:{}x", t.key_id, &t.secret[1..]);
    let unknown_id = format!("Bearer CGNAAAAAAAAAAAAAAAAA:{}", t.secret);
    let basic = format!("Basic {}:{}", t.key_id, t.secret);
    for auth in [wrong_secret.as_str(), unknown_id.as_str(), basic.as_str(), "Bearer nocolon", "Bearer "] {
        let r = t.send("GET", "/v1/tenants", Some(auth), None).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(r.challenge.as_deref(), Some(r#"Bearer error="invalid_token""#), "{auth}");
    }
    let body = json!({"name": "Acme", "tier": "basic"}).to_string();
    assert_error(
        &t.send("POST", "/v1/tenants", Some(&wrong_secret), Some(&body)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_eq!(t.admin("GET", "/v1/tenants", None).await.body["items"], json!([]));

    // A revoked credential stops working at once.
    t.state.store.revoke_admin_credential(&t.key_id, 1).await.unwrap();
    assert_error(&t.admin("GET", "/v1/tenants", None).await, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn bad_input_is_400() {
    let t = TestApp::new().await;
    let auth = t.admin_auth();
    for body in [
        "{not json",
        r#"{"name": "Acme", "tier": "basic", "extra": 1}"#,
        r#"{"name": "Acme", "tier": "gold"}"#,
        r#"{"tier": "basic"}"#,
        r#"{"id": "Bad_Slug", "name": "Acme", "tier": "basic"}"#,
        r#"{"id": "-acme", "name": "Acme", "tier": "basic"}"#,
        r#"{"name": "   ", "tier": "basic"}"#,
        r#"{"name": "!!", "tier": "basic"}"#,
    ] {
        let r = t.send("POST", "/v1/tenants", Some(&auth), Some(body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
    // Not JSON at all.
    let r = t.send("POST", "/v1/tenants", Some(&auth), None).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");

    t.admin("POST", "/v1/tenants", Some(&json!({"id": "acme", "name": "Acme", "tier": "basic"}))).await;
    let r = t.send("PATCH", "/v1/tenants/acme", Some(&auth), Some(r#"{"tier": "standard"}"#)).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(t.admin("GET", "/v1/tenants/acme", None).await.body["tier"], "basic");
}

#[tokio::test]
async fn unknown_tenants_are_404() {
    let t = TestApp::new().await;
    for (method, uri) in [
        ("GET", "/v1/tenants/nobody"),
        ("DELETE", "/v1/tenants/nobody"),
        ("POST", "/v1/tenants/nobody/suspend"),
        ("POST", "/v1/tenants/nobody/reactivate"),
        ("GET", "/v1/tenants/NOT_A_SLUG"),
    ] {
        assert_error(&t.admin(method, uri, None).await, StatusCode::NOT_FOUND, "not_found");
    }
    let r = t.admin("PATCH", "/v1/tenants/nobody", Some(&json!({"name": "x"}))).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn duplicate_ids_are_409() {
    let t = TestApp::new().await;
    let body = json!({"name": "Acme", "tier": "basic"});
    assert_eq!(t.admin("POST", "/v1/tenants", Some(&body)).await.status, StatusCode::CREATED);
    assert_error(&t.admin("POST", "/v1/tenants", Some(&body)).await, StatusCode::CONFLICT, "conflict");
    let explicit = json!({"id": "acme", "name": "Other", "tier": "standard"});
    assert_error(&t.admin("POST", "/v1/tenants", Some(&explicit)).await, StatusCode::CONFLICT, "conflict");
    assert_eq!(t.admin("GET", "/v1/tenants/acme", None).await.body["name"], "Acme");
}

#[tokio::test]
async fn platinum_tenants_get_a_dedicated_pool_with_its_own_client_and_keys() {
    let t = TestApp::new().await;
    let acme = t.admin("POST", "/v1/tenants", Some(&json!({"name": "Acme", "tier": "standard"}))).await.body;
    let r = t.admin("POST", "/v1/tenants", Some(&json!({"name": "Globex", "tier": "platinum"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let globex = r.body;
    assert_eq!(globex["placement"], "dedicated");
    assert_eq!(acme["placement"], "shared");
    assert_ne!(globex["poolId"], acme["poolId"]);
    assert_ne!(globex["clientId"], acme["clientId"]);
    assert!(globex["issuer"].as_str().unwrap().ends_with(globex["poolId"].as_str().unwrap()));
    let pool = cognate_core::ids::PoolId::parse(globex["poolId"].as_str().unwrap()).unwrap();
    let stored = t.state.store.get_pool(&pool).await.unwrap().expect("the dedicated pool exists");
    assert_eq!(stored.name, "cognate-globex");
    assert_eq!(t.state.store.get_tenant_by_pool(&pool).await.unwrap().unwrap().id.as_str(), "globex");
    // The client shown is stable and belongs to the pool.
    assert_eq!(t.admin("GET", "/v1/tenants/globex", None).await.body["clientId"], globex["clientId"]);
    let client = cognate_core::ids::ClientId::parse(globex["clientId"].as_str().unwrap()).unwrap();
    assert_eq!(t.state.store.find_client(&client).await.unwrap().unwrap().pool_id, pool);
}

#[tokio::test]
async fn creation_with_a_taken_or_consumer_domain_changes_nothing() {
    let t = TestApp::new().await;
    let r = t
        .admin(
            "POST",
            "/v1/tenants",
            Some(&json!({"id": "acme", "name": "Acme", "tier": "basic", "domains": ["acme.com"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = t
        .admin(
            "POST",
            "/v1/tenants",
            Some(&json!({"id": "evil", "name": "Evil", "tier": "platinum", "domains": ["acme.com"]})),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    let r = t
        .admin(
            "POST",
            "/v1/tenants",
            Some(&json!({"id": "evil", "name": "Evil", "tier": "basic", "domains": ["gmail.com"]})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "consumer_domain");
    assert_error(&t.admin("GET", "/v1/tenants/evil", None).await, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn unknown_v1_paths_answer_in_the_error_shape() {
    let app = TestApp::new().await;
    for path in ["/v1", "/v1/nope", "/v1/tenants/acme/unknown/deeper"] {
        let answer = app.admin("GET", path, None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn a_platinum_tenants_mfa_requirement_is_its_pools_mfa_setting() {
    let t = TestApp::new().await;
    let globex = t.admin("POST", "/v1/tenants", Some(&json!({"name": "Globex", "tier": "platinum"}))).await.body;
    let pool = cognate_core::ids::PoolId::parse(globex["poolId"].as_str().unwrap()).unwrap();
    let mfa_of = |p: cognate_core::pool::UserPool| p.settings.mfa_configuration;
    assert_eq!(mfa_of(t.state.store.get_pool(&pool).await.unwrap().unwrap()), "OPTIONAL");
    let r = t.admin("PATCH", "/v1/tenants/globex", Some(&json!({"mfa": "all"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(mfa_of(t.state.store.get_pool(&pool).await.unwrap().unwrap()), "ON");
    t.admin("PATCH", "/v1/tenants/globex", Some(&json!({"mfa": "admins"}))).await;
    assert_eq!(mfa_of(t.state.store.get_pool(&pool).await.unwrap().unwrap()), "OPTIONAL");
}
