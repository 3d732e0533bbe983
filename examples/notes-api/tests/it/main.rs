//! notes-api integration tests, one binary (STYLE.md, "Tests"): tenant isolation on every
//! endpoint, on PostgreSQL (fresh database per test from `COGNATE_TEST_DATABASE_URL`) and on
//! SQLite (fresh file per test). Tokens are signed with a local RSA key whose JWKS a fake
//! server on port 0 publishes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_keys;
mod support;

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use serde_json::{Value, json};

use support::{Db, Harness};

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

/// One tenant's rows as created by its admin.
#[derive(Default)]
struct Rows {
    projects: BTreeMap<String, Value>,
    notes: BTreeMap<String, Value>,
}

async fn seed(h: &Harness) -> BTreeMap<&'static str, Rows> {
    let mut all = BTreeMap::new();
    for tenant in TENANTS {
        let admin = h.token(tenant, "admin");
        let member = h.token(tenant, "member");
        let mut rows = Rows::default();
        for p in 0..2 {
            let (status, project) =
                h.call(&admin, "POST", "/api/projects", Some(json!({"name": format!("{tenant} project {p}")}))).await;
            assert_eq!(status, StatusCode::CREATED, "{project}");
            assert_eq!(project["tenantId"], tenant);
            let id = project["id"].as_str().unwrap().to_owned();
            for (n, who) in [(0, &admin), (1, &member)] {
                let body = json!({"title": format!("{tenant} note {p}.{n}"), "body": format!("secret of {tenant}")});
                let (status, note) = h.call(who, "POST", &format!("/api/projects/{id}/notes"), Some(body)).await;
                assert_eq!(status, StatusCode::CREATED, "{note}");
                assert_eq!(note["tenantId"], tenant);
                rows.notes.insert(note["id"].as_str().unwrap().to_owned(), note);
            }
            rows.projects.insert(id, project);
        }
        all.insert(tenant, rows);
    }
    all
}

fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

/// Every endpoint, every role, every other tenant's ids: nothing crosses.
async fn isolation(db: Db) {
    let h = Harness::start(db).await;
    let data = seed(&h).await;

    for tenant in TENANTS {
        let own = &data[tenant];
        let own_projects: BTreeSet<String> = own.projects.keys().cloned().collect();
        let own_notes: BTreeSet<String> = own.notes.keys().cloned().collect();
        for role in ["admin", "member", "read_only"] {
            let token = h.token(tenant, role);
            let writer = role != "read_only";
            let refused_write = if writer { StatusCode::NOT_FOUND } else { StatusCode::FORBIDDEN };

            // Lists hold only the caller's rows.
            let (status, list) = h.call(&token, "GET", "/api/projects", None).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(ids(&list), own_projects, "{tenant}/{role} project list");
            for project in own.projects.keys() {
                let (status, notes) = h.call(&token, "GET", &format!("/api/projects/{project}/notes"), None).await;
                assert_eq!(status, StatusCode::OK);
                assert!(ids(&notes).is_subset(&own_notes) && ids(&notes).len() == 2, "{tenant}/{role} notes");
                assert_eq!(h.call(&token, "GET", &format!("/api/projects/{project}"), None).await.0, StatusCode::OK);
            }

            // The deliberately unfiltered query: RLS confines it on PostgreSQL.
            let (status, all) = h.call(&token, "GET", "/api/debug/all-notes-unfiltered", None).await;
            if h.db.is_postgres() {
                assert_eq!(status, StatusCode::OK, "{all}");
                assert_eq!(ids(&all), own_notes, "{tenant}/{role} unfiltered query crossed tenants");
                assert!(all.as_array().unwrap().iter().all(|n| n["tenantId"] == tenant));
            } else {
                assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
            }

            // Another tenant's ids: 404 for reads, 404 (or 403 for read_only) for writes.
            for other in TENANTS.iter().filter(|t| **t != tenant) {
                for project in data[other].projects.keys() {
                    let path = format!("/api/projects/{project}");
                    assert_eq!(h.call(&token, "GET", &path, None).await.0, StatusCode::NOT_FOUND);
                    let rename = Some(json!({"name": "pwned"}));
                    assert_eq!(h.call(&token, "PATCH", &path, rename).await.0, refused_write);
                    assert_eq!(h.call(&token, "DELETE", &path, None).await.0, refused_write);
                    let notes = format!("{path}/notes");
                    assert_eq!(h.call(&token, "GET", &notes, None).await.0, StatusCode::NOT_FOUND);
                    let note = Some(json!({"title": "planted", "body": "x"}));
                    assert_eq!(h.call(&token, "POST", &notes, note).await.0, refused_write);
                }
                for note in data[other].notes.keys() {
                    let path = format!("/api/notes/{note}");
                    assert_eq!(h.call(&token, "GET", &path, None).await.0, StatusCode::NOT_FOUND);
                    let patch = Some(json!({"title": "pwned", "body": "pwned"}));
                    assert_eq!(h.call(&token, "PATCH", &path, patch).await.0, refused_write);
                    assert_eq!(h.call(&token, "DELETE", &path, None).await.0, refused_write);
                }
            }

            // read_only reads its own tenant but cannot write anything, even there.
            if !writer {
                let project = own.projects.keys().next().unwrap();
                let note = own.notes.keys().next().unwrap();
                let forbidden = [
                    ("POST", "/api/projects".to_owned(), Some(json!({"name": "x"}))),
                    ("PATCH", format!("/api/projects/{project}"), Some(json!({"name": "x"}))),
                    ("DELETE", format!("/api/projects/{project}"), None),
                    ("POST", format!("/api/projects/{project}/notes"), Some(json!({"title": "x"}))),
                    ("PATCH", format!("/api/notes/{note}"), Some(json!({"title": "x"}))),
                    ("DELETE", format!("/api/notes/{note}"), None),
                ];
                for (method, path, body) in forbidden {
                    assert_eq!(h.call(&token, method, &path, body).await.0, StatusCode::FORBIDDEN, "{method} {path}");
                }
                assert_eq!(h.call(&token, "GET", &format!("/api/notes/{note}"), None).await.0, StatusCode::OK);
            }
        }
    }

    // After every attack, each tenant's rows are exactly as created.
    for tenant in TENANTS {
        let admin = h.token(tenant, "admin");
        let (_, list) = h.call(&admin, "GET", "/api/projects", None).await;
        assert_eq!(list.as_array().unwrap().len(), 2);
        for (id, project) in &data[tenant].projects {
            assert_eq!(&h.call(&admin, "GET", &format!("/api/projects/{id}"), None).await.1, project);
        }
        for (id, note) in &data[tenant].notes {
            assert_eq!(&h.call(&admin, "GET", &format!("/api/notes/{id}"), None).await.1, note);
        }
    }

    // Own-tenant writes do work (so the refusals above are not just broken endpoints).
    let member = h.token("acme", "member");
    let (project, _) = data["acme"].projects.iter().next().unwrap();
    let note = data["acme"].notes.iter().find(|(_, n)| n["projectId"] == project.as_str()).unwrap().0;
    let (status, renamed) =
        h.call(&member, "PATCH", &format!("/api/projects/{project}"), Some(json!({"name": "r"}))).await;
    assert_eq!((status, renamed["name"].clone()), (StatusCode::OK, json!("r")));
    let (status, edited) = h.call(&member, "PATCH", &format!("/api/notes/{note}"), Some(json!({"body": "b2"}))).await;
    assert_eq!((status, edited["body"].clone()), (StatusCode::OK, json!("b2")));
    assert_eq!(edited["title"], data["acme"].notes[note]["title"]);
    assert_eq!(h.call(&member, "DELETE", &format!("/api/notes/{note}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(h.call(&member, "GET", &format!("/api/notes/{note}"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.call(&member, "DELETE", &format!("/api/projects/{project}"), None).await.0, StatusCode::NO_CONTENT);
    let (_, list) = h.call(&member, "GET", "/api/projects", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // The project's remaining note went with it; the other tenants still have everything.
    for (id, _) in data["acme"].notes.iter().filter(|(_, n)| n["projectId"] == project.as_str()) {
        assert_eq!(h.call(&member, "GET", &format!("/api/notes/{id}"), None).await.0, StatusCode::NOT_FOUND);
    }
    for tenant in ["globex", "initech"] {
        let (_, list) = h.call(&h.token(tenant, "read_only"), "GET", "/api/projects", None).await;
        assert_eq!(ids(&list), data[tenant].projects.keys().cloned().collect());
    }

    h.finish().await;
}

/// No credentials: 401; a token without a tenant: 403; bad input: 400.
async fn refusals(db: Db) {
    let h = Harness::start(db).await;
    let (status, body) = h.call("", "GET", "/api/projects", None).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"})));
    let no_tenant = h.token_without_tenant();
    let (status, body) = h.call(&no_tenant, "GET", "/api/projects", None).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"error": "tenant_required"})));
    let admin = h.token("acme", "admin");
    for bad in [json!({"name": ""}), json!({"name": "x", "tenant_id": "globex"}), json!({})] {
        let (status, body) = h.call(&admin, "POST", "/api/projects", Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid_request");
    }
    h.finish().await;
}

#[tokio::test]
async fn isolation_on_postgres() {
    isolation(Db::postgres().await).await;
}

#[tokio::test]
async fn isolation_on_sqlite() {
    isolation(Db::sqlite()).await;
}

#[tokio::test]
async fn refusals_on_postgres() {
    refusals(Db::postgres().await).await;
}

#[tokio::test]
async fn refusals_on_sqlite() {
    refusals(Db::sqlite()).await;
}

/// Serving as the (superuser) migration login would bypass RLS: start-up refuses.
#[tokio::test]
async fn a_privileged_serving_role_is_refused() {
    let db = Db::postgres().await;
    let Db::Postgres { url, .. } = &db else { unreachable!() };
    let err = support::build_with(&db, Some(url.clone())).await.unwrap_err();
    assert!(format!("{err:#}").contains("superuser"), "{err:#}");
    db.drop().await;
}
