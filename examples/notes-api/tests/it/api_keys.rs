//! API keys beside JWTs: scopes decide reads and writes, the key's tenant is the tenant
//! context (so RLS / the tenant filter isolate exactly as for tokens), refusals are 401s,
//! and usage reaches Cognate on flush and on graceful shutdown.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, Db, Harness};

fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

async fn api_keys(db: Db) {
    let h = Harness::start(db).await;
    let (rw, _) = h.api_key("acme", &["notes:read", "notes:write"]);
    let (reader, reader_id) = h.api_key("acme", &["notes:read"]);
    let (writer, _) = h.api_key("acme", &["notes:write"]);
    let (nothing, _) = h.api_key("acme", &[]);
    let (foreign, _) = h.api_key("globex", &["notes:read", "notes:write"]);

    // Writes land in the key's tenant, whatever the body says.
    let (status, project) = h.call_key(&rw, "POST", "/api/projects", Some(json!({"name": "via key"}))).await;
    assert_eq!((status, &project["tenantId"]), (StatusCode::CREATED, &json!("acme")), "{project}");
    let pid = project["id"].as_str().unwrap().to_owned();
    let body = json!({"title": "by key", "body": "secret of acme"});
    let (status, note) = h.call_key(&writer, "POST", &format!("/api/projects/{pid}/notes"), Some(body)).await;
    assert_eq!((status, &note["tenantId"]), (StatusCode::CREATED, &json!("acme")), "{note}");
    let nid = note["id"].as_str().unwrap().to_owned();
    let (_, globex_project) =
        h.call(&h.token("globex", "admin"), "POST", "/api/projects", Some(json!({"name": "globex"}))).await;
    let gpid = globex_project["id"].as_str().unwrap().to_owned();
    // Users of the tenant see what keys wrote, and the other way round.
    let (status, seen) = h.call(&h.token("acme", "read_only"), "GET", &format!("/api/projects/{pid}"), None).await;
    assert_eq!((status, seen), (StatusCode::OK, project.clone()));

    let reads = [
        "/api/projects".to_owned(),
        format!("/api/projects/{pid}"),
        format!("/api/projects/{pid}/notes"),
        format!("/api/notes/{nid}"),
    ];
    let writes = [
        ("POST", "/api/projects".to_owned(), Some(json!({"name": "x"}))),
        ("PATCH", format!("/api/projects/{pid}"), Some(json!({"name": "x"}))),
        ("DELETE", format!("/api/projects/{pid}"), None),
        ("POST", format!("/api/projects/{pid}/notes"), Some(json!({"title": "x"}))),
        ("PATCH", format!("/api/notes/{nid}"), Some(json!({"title": "x"}))),
        ("DELETE", format!("/api/notes/{nid}"), None),
    ];
    let mut reader_requests = 0;
    for path in &reads {
        for key in [&rw, &reader] {
            assert_eq!(h.call_key(key, "GET", path, None).await.0, StatusCode::OK, "GET {path}");
        }
        reader_requests += 1;
        for key in [&writer, &nothing] {
            let (status, body) = h.call_key(key, "GET", path, None).await;
            assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"error": "insufficient_scope"})), "GET {path}");
        }
    }
    let (status, _) = h.call_key(&writer, "GET", "/api/debug/all-notes-unfiltered", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (method, path, body) in &writes {
        for key in [&reader, &nothing] {
            let (status, answer) = h.call_key(key, method, path, body.clone()).await;
            assert_eq!(
                (status, answer),
                (StatusCode::FORBIDDEN, json!({"error": "insufficient_scope"})),
                "{method} {path}"
            );
        }
        reader_requests += 1;
    }

    // Another tenant's key: acme's ids do not exist for it, its lists hold only globex.
    let (_, list) = h.call_key(&foreign, "GET", "/api/projects", None).await;
    assert_eq!(ids(&list), BTreeSet::from([gpid.clone()]));
    for (method, path, body) in &writes[1..] {
        assert_eq!(h.call_key(&foreign, method, path, body.clone()).await.0, StatusCode::NOT_FOUND, "{method} {path}");
    }
    for path in &reads[1..] {
        assert_eq!(h.call_key(&foreign, "GET", path, None).await.0, StatusCode::NOT_FOUND, "GET {path}");
    }
    let (status, all) = h.call_key(&foreign, "GET", "/api/debug/all-notes-unfiltered", None).await;
    if h.db.is_postgres() {
        assert_eq!((status, all), (StatusCode::OK, json!([])), "RLS confines a key like a token");
    } else {
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    }

    // The read-write key edits and deletes in its own tenant.
    let (status, edited) = h.call_key(&rw, "PATCH", &format!("/api/notes/{nid}"), Some(json!({"body": "b2"}))).await;
    assert_eq!((status, &edited["body"]), (StatusCode::OK, &json!("b2")));
    assert_eq!(h.call_key(&rw, "DELETE", &format!("/api/notes/{nid}"), None).await.0, StatusCode::NO_CONTENT);

    // Refused keys are uniform 401s: unknown, malformed, or beside a token.
    let calls = h.cognate.verify_calls.load(std::sync::atomic::Ordering::SeqCst);
    let unknown = support::new_api_key();
    let bearer = format!("Bearer {}", h.token("acme", "admin"));
    let refused: [Vec<(&str, String)>; 4] = [
        vec![("x-api-key", unknown)],
        vec![("x-api-key", format!("cog_{}", "A".repeat(46)))],
        vec![("x-api-key", "not-a-key".to_owned())],
        vec![("x-api-key", rw.clone()), ("authorization", bearer)],
    ];
    for headers in refused {
        let (status, body) = h.send(&headers, "GET", "/api/projects", None).await;
        assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"})), "{headers:?}");
    }
    let asked = h.cognate.verify_calls.load(std::sync::atomic::Ordering::SeqCst) - calls;
    assert_eq!(asked, 1, "only the well-formed unknown key reached Cognate");

    // Every request the reader key made counted once, refused by scope or not.
    h.app.flush_usage().await;
    assert_eq!(h.cognate.usage_of(&reader_id), reader_requests);
    h.app.flush_usage().await;
    assert_eq!(h.cognate.usage_of(&reader_id), reader_requests, "sent once");
    h.finish().await;
}

#[tokio::test]
async fn api_keys_on_postgres() {
    api_keys(Db::postgres().await).await;
}

#[tokio::test]
async fn api_keys_on_sqlite() {
    api_keys(Db::sqlite()).await;
}

/// Served for real on port 0: a graceful stop reports the usage counted since the last flush.
#[tokio::test]
async fn graceful_shutdown_reports_api_key_usage() {
    let db = Db::sqlite();
    let (app, _, cognate) = support::build_with(&db, None).await.unwrap();
    let (key, id) = cognate.add_key("acme", &["notes:read"]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/projects", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(notes_api::run(app, listener, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let res = client.get(&url).header("x-api-key", &key).send().await.unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
    }
    drop(client);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert_eq!(cognate.usage_of(&id), 3);
    db.drop().await;
}

/// Without `NOTES_API_KEYS` a key is refused with a message that says keys are off.
#[tokio::test]
async fn without_a_verifier_keys_are_refused_with_a_reason() {
    use tower::ServiceExt as _;
    let db = Db::sqlite();
    let url = db.url();
    let env = |name: &str| match name {
        "NOTES_DATABASE_URL" => Some(url.clone()),
        "NOTES_ISSUERS" => Some("cognate|http://127.0.0.1:9|local_pool|client".to_owned()),
        _ => None,
    };
    let config = notes_api::Config::from_lookup(env).unwrap();
    let app = notes_api::build(&config).await.unwrap();
    let req = axum::http::Request::get("/api/projects")
        .header("x-api-key", support::new_api_key())
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let bytes = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "api_keys_disabled", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("NOTES_API_KEYS"));
    drop(app);
    db.drop().await;
}
