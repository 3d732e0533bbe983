//! `GET /v1/openapi.json`: the OpenAPI document generated from the `/v1` handlers, and
//! its agreement with what the router serves.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::TestApp;

/// Every `/v1` endpoint of docs/tenancy.md. A route added to the router must be added here
/// (and to the contract), and its operation documented.
const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/v1/tenants"),
    ("GET", "/v1/tenants"),
    ("GET", "/v1/tenants/{tenant_id}"),
    ("PATCH", "/v1/tenants/{tenant_id}"),
    ("DELETE", "/v1/tenants/{tenant_id}"),
    ("POST", "/v1/tenants/{tenant_id}/suspend"),
    ("POST", "/v1/tenants/{tenant_id}/reactivate"),
    ("PUT", "/v1/tenants/{tenant_id}/tier"),
    ("POST", "/v1/tenants/{tenant_id}/domains"),
    ("GET", "/v1/tenants/{tenant_id}/domains"),
    ("GET", "/v1/tenants/{tenant_id}/domains/{domain}"),
    ("PATCH", "/v1/tenants/{tenant_id}/domains/{domain}"),
    ("DELETE", "/v1/tenants/{tenant_id}/domains/{domain}"),
    ("POST", "/v1/tenants/{tenant_id}/domains/{domain}/verify"),
    ("GET", "/v1/discovery"),
    ("POST", "/v1/tenants/{tenant_id}/connections"),
    ("GET", "/v1/tenants/{tenant_id}/connections"),
    ("GET", "/v1/tenants/{tenant_id}/connections/{connection_id}"),
    ("PATCH", "/v1/tenants/{tenant_id}/connections/{connection_id}"),
    ("DELETE", "/v1/tenants/{tenant_id}/connections/{connection_id}"),
    ("POST", "/v1/tenants/{tenant_id}/connections/{connection_id}/test"),
    ("GET", "/v1/tenants/{tenant_id}/members"),
    ("POST", "/v1/tenants/{tenant_id}/members"),
    ("GET", "/v1/tenants/{tenant_id}/members/{sub}"),
    ("PATCH", "/v1/tenants/{tenant_id}/members/{sub}"),
    ("DELETE", "/v1/tenants/{tenant_id}/members/{sub}"),
    ("POST", "/v1/tenants/{tenant_id}/invitations"),
    ("GET", "/v1/tenants/{tenant_id}/invitations"),
    ("GET", "/v1/tenants/{tenant_id}/invitations/{id}"),
    ("DELETE", "/v1/tenants/{tenant_id}/invitations/{id}"),
    ("POST", "/v1/invitations/accept"),
    ("GET", "/v1/me"),
    ("POST", "/v1/me/switch-tenant"),
    ("POST", "/v1/tenants/{tenant_id}/api-keys"),
    ("GET", "/v1/tenants/{tenant_id}/api-keys"),
    ("GET", "/v1/tenants/{tenant_id}/api-keys/{api_key_id}"),
    ("PATCH", "/v1/tenants/{tenant_id}/api-keys/{api_key_id}"),
    ("DELETE", "/v1/tenants/{tenant_id}/api-keys/{api_key_id}"),
    ("POST", "/v1/tenants/{tenant_id}/api-keys/{api_key_id}/rotate"),
    ("POST", "/v1/api-keys/verify"),
    ("POST", "/v1/api-keys/usage"),
    ("GET", "/v1/tenants/{tenant_id}/usage"),
    ("GET", "/v1/tenants/{tenant_id}/audit"),
    ("GET", "/v1/tenants/{tenant_id}/audit/export"),
    ("PUT", "/v1/tenants/{tenant_id}/audit/retention"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/audit/export"),
    ("GET", "/v1/tenants/{tenant_id}/analytics"),
    ("GET", "/v1/tenants/{tenant_id}/analytics/costs"),
    ("GET", "/v1/analytics"),
    ("GET", "/v1/analytics/costs"),
    ("GET", "/v1/analytics/price-model"),
    ("PUT", "/v1/analytics/price-model"),
    ("POST", "/v1/tenants/{tenant_id}/webhooks"),
    ("GET", "/v1/tenants/{tenant_id}/webhooks"),
    ("GET", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}"),
    ("PATCH", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}"),
    ("DELETE", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}"),
    ("POST", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/rotate-secret"),
    ("POST", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/test"),
    ("GET", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/deliveries"),
    ("POST", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{webhook_id}"),
    ("PATCH", "/v1/webhooks/{webhook_id}"),
    ("DELETE", "/v1/webhooks/{webhook_id}"),
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"),
    ("POST", "/v1/webhooks/{webhook_id}/test"),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"),
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"),
];

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Fetches the document without credentials, checking status and content type.
async fn document(t: &TestApp) -> Value {
    let req = Request::get("/v1/openapi.json").body(Body::empty()).unwrap();
    let resp = t.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// The (METHOD, path) of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                ops.insert((method.to_string(), path.clone()));
            }
        }
    }
    ops
}

/// A concrete URI for a path template.
fn concrete(path: &str) -> String {
    path.replace("{tenant_id}", "acme")
        .replace("{domain}", "acme.com")
        .replace("{sub}", "sub-1")
        .replace("{id}", "inv-1")
        .replace("{connection_id}", "conn_x")
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_needs_no_credentials() {
    let t = TestApp::new().await;
    let doc = document(&t).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "Cognate tenancy API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(description.contains("ErrorBody") && description.contains("nextCursor"), "{description}");

    let schemes = &doc["components"]["securitySchemes"];
    for name in ["platform_admin", "user"] {
        assert_eq!(schemes[name]["type"], "http", "{name}: {}", schemes[name]);
        assert_eq!(schemes[name]["scheme"], "bearer", "{name}: {}", schemes[name]);
    }
    // The error shape is a component that the error responses refer to.
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], json!(["error"]), "{error}");
}

#[tokio::test]
async fn every_operation_has_an_id_a_summary_a_tag_responses_and_known_security() {
    let t = TestApp::new().await;
    let doc = document(&t).await;
    let schemes: BTreeSet<&String> = doc["components"]["securitySchemes"].as_object().unwrap().keys().collect();
    let tags: BTreeSet<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    let paths = doc["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    let mut operation_ids = BTreeSet::new();
    for (path, item) in paths {
        let ops: Vec<(&str, &Value)> =
            METHODS.iter().filter_map(|m| item.get(m.to_lowercase()).map(|op| (*m, op))).collect();
        assert!(!ops.is_empty(), "{path} has no operation");
        for (method, op) in ops {
            let what = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{what}: no operationId"));
            assert!(operation_ids.insert(id), "{what}: operationId {id} is not unique");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty() && !s.contains('\n')), "{what}: summary");
            let op_tags = op["tags"].as_array().unwrap();
            assert!(op_tags.len() == 1 && tags.contains(op_tags[0].as_str().unwrap()), "{what}: tags {op_tags:?}");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{what}: no success response");
            for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('4')) {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{what} {status}");
            }
            // Each path parameter of the template is declared.
            for name in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(declared, "{what}: path parameter {name}");
            }
            // Security: discovery is open; everything else names declared schemes only.
            let security = op.get("security").and_then(Value::as_array);
            if path == "/v1/discovery" {
                assert!(security.is_none_or(|s| s.is_empty()), "{what}: {security:?}");
                continue;
            }
            let security = security.unwrap_or_else(|| panic!("{what}: no security"));
            assert!(!security.is_empty(), "{what}: no security");
            for requirement in security {
                for name in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains(name), "{what}: unknown security scheme {name}");
                }
            }
            assert!(responses.contains_key("401"), "{what}: no 401");
        }
    }
}

/// The document lists exactly the contract's endpoints, the router serves every
/// documented operation, and answers 405 for the methods the document leaves out.
#[tokio::test]
async fn the_document_and_the_router_agree() {
    let t = TestApp::new().await;
    let doc = document(&t).await;
    let documented = operations(&doc);
    let expected: BTreeSet<(String, String)> = ENDPOINTS.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, expected);

    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let uri = concrete(path);
        for method in METHODS {
            // No credentials and no body: a routed handler refuses (400/401), it never
            // answers as an unknown path (404) or an unknown method (405).
            let answer = t.send(method, &uri, None, None).await;
            if documented.contains(&(method.to_string(), path.clone())) {
                assert_ne!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
                assert!(
                    !(answer.status == StatusCode::NOT_FOUND
                        && answer.body["error"]["message"] == "No such /v1 resource."),
                    "{method} {uri} is documented but not routed"
                );
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {uri} is routed but not documented"
                );
            }
        }
    }
}

/// What the handlers send matches the schemas the document gives them.
#[tokio::test]
async fn answers_have_the_documented_properties() {
    let t = TestApp::new().await;
    let doc = document(&t).await;
    let properties = |schema: &str| -> BTreeSet<String> {
        doc["components"]["schemas"][schema]["properties"].as_object().unwrap().keys().cloned().collect()
    };
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };

    let created = t.admin("POST", "/v1/tenants", Some(&json!({"name": "Acme", "tier": "platinum"}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(keys(&created.body), properties("TenantView"));
    let tier = &doc["components"]["schemas"]["TenantView"]["properties"]["tier"];
    assert!(tier["enum"].as_array().unwrap().contains(&created.body["tier"]), "{tier}");
    let placement = &doc["components"]["schemas"]["TenantView"]["properties"]["placement"];
    assert!(placement["enum"].as_array().unwrap().contains(&created.body["placement"]), "{placement}");

    let listed = t.admin("GET", "/v1/tenants?limit=1", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(keys(&listed.body), properties("Page_TenantView"));

    let missing = t.admin("GET", "/v1/tenants/nope-nope", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(keys(&missing.body), properties("ErrorBody"));
    assert_eq!(keys(&missing.body["error"]), properties("ErrorDetail"));
}

/// The limits the server enforces are published, so generated clients and fuzzers can
/// respect them.
#[tokio::test]
async fn the_document_publishes_the_enforced_limits() {
    let t = TestApp::new().await;
    let doc = document(&t).await;
    let schemas = &doc["components"]["schemas"];
    let prop = |schema: &str, name: &str| schemas[schema]["properties"][name].clone();
    let id = prop("CreateTenant", "id");
    assert_eq!(id["pattern"], "^[a-z0-9-]{3,63}$", "{id}");
    assert_eq!((id["minLength"].as_u64(), id["maxLength"].as_u64()), (Some(3), Some(63)), "{id}");
    for (schema, name, max) in
        [("CreateTenant", "name", 256), ("UpdateTenant", "name", 256), ("CreateApiKey", "name", 128)]
    {
        let p = prop(schema, name);
        assert_eq!((p["minLength"].as_u64(), p["maxLength"].as_u64()), (Some(1), Some(max)), "{schema}.{name}: {p}");
    }
    assert_eq!(prop("CreateTenant", "domains")["maxItems"], 20);
    assert_eq!(prop("CreateApiKey", "scopes")["maxItems"], 20);
    let requests = prop("RateLimitBody", "requests");
    assert_eq!((requests["minimum"].as_u64(), requests["maximum"].as_u64()), (Some(1), Some(1_000_000)));
    assert_eq!(prop("Retention", "days")["maximum"], 3650);
    assert_eq!(prop("CreateInvitation", "expiresInSeconds")["maximum"], 2_592_000);
    assert_eq!(prop("UsageReport", "items")["maxItems"], 1000);
}

/// PATCH members may be left out but not set to `null`.
#[tokio::test]
async fn patch_refuses_explicit_nulls() {
    let t = TestApp::new().await;
    let created = t.admin("POST", "/v1/tenants", Some(&json!({"id": "nulls", "name": "Nulls", "tier": "basic"}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    for body in [json!({"mfa": null}), json!({"name": null}), json!({"mfa": null, "name": null})] {
        let r = t.admin("PATCH", "/v1/tenants/nulls", Some(&body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_request");
    }
    let r = t.admin("PATCH", "/v1/tenants/nulls", Some(&json!({"name": "Renamed"}))).await;
    assert_eq!((r.status, r.body["name"].as_str()), (StatusCode::OK, Some("Renamed")), "{}", r.body);
}

/// A Cognito operation called with `{}`, signed with the test app's admin credential.
async fn signed_cognito_call(t: &TestApp, operation: &str) -> axum::response::Response {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("host", "cognate.test".parse().unwrap());
    headers.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
    let target = format!("AWSCognitoIdentityProviderService.{operation}");
    headers.insert("x-amz-target", target.parse().unwrap());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    cognate_server::cognito::sigv4::sign(&t.key_id, &t.secret, "local", now as i64, "/", &mut headers, b"{}").unwrap();
    let mut req = Request::post("/");
    for (name, value) in &headers {
        req = req.header(name, value);
    }
    t.app.clone().oneshot(req.body(Body::from("{}")).unwrap()).await.unwrap()
}

/// Every operation of the Cognito operation table reaches its handler (none is answered
/// `UnknownOperationException`), and an empty input is a 4xx in Cognito's shape, never a
/// fault.
#[tokio::test]
async fn every_cognito_operation_in_the_table_is_served() {
    use cognate_server::cognito::operations;
    let t = TestApp::new().await;
    for op in operations::OPERATIONS {
        let resp = signed_cognito_call(&t, op.name).await;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(status.is_client_error() || status.is_success(), "{}: {status} {body}", op.name);
        assert_ne!(body["__type"], "UnknownOperationException", "{} is in the table but not served", op.name);
    }
}

/// Events in the tenant `acme`'s chain and the platform chain (after a flush).
async fn audit_counts(t: &TestApp) -> (usize, usize) {
    cognate_server::audit::flush_audit(&t.state).await.unwrap();
    let q = cognate_core::audit::AuditQuery { limit: 10_000, ..Default::default() };
    let acme = t.state.store.audit_events("acme", &q).await.unwrap().len();
    let platform = t.state.store.audit_events(cognate_core::audit::PLATFORM_CHAIN, &q).await.unwrap().len();
    (acme, platform)
}

/// The newest event of `chain`'s action (after a flush).
async fn last_action(t: &TestApp, chain: &str) -> Option<String> {
    cognate_server::audit::flush_audit(&t.state).await.unwrap();
    let q = cognate_core::audit::AuditQuery { limit: 1, ..Default::default() };
    t.state.store.audit_events(chain, &q).await.unwrap().pop().map(|e| e.event.action)
}

/// Every `/v1` mutation declares its audit action in the document (`x-audit-action`, as
/// `noun.verb`) and leaves exactly one event of that action — in the tenant's chain when
/// the path names a tenant — whether it succeeds or is refused; reads and the high-volume
/// service calls (API key verification and usage reports) declare none and leave none.
#[tokio::test]
async fn every_v1_mutation_is_recorded_exactly_once_and_reads_never() {
    let t = TestApp::new().await;
    let doc = document(&t).await;
    let made = t.admin("POST", "/v1/tenants", Some(&json!({"id": "acme", "name": "Acme", "tier": "basic"}))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let mut endpoints: Vec<&(&str, &str)> = ENDPOINTS.iter().collect();
    // Deleting the tenant goes last (the others need it).
    endpoints.sort_by_key(|(m, p)| *m == "DELETE" && *p == "/v1/tenants/{tenant_id}");
    for (method, path) in endpoints {
        let before = audit_counts(&t).await;
        let body = (*method != "GET" && *method != "DELETE").then(|| json!({}));
        let answer = t.admin(method, &concrete(path), body.as_ref()).await;
        let after = audit_counts(&t).await;
        let added = (after.0 - before.0, after.1 - before.1);
        let recorded = *method != "GET" && !path.starts_with("/v1/api-keys/");
        let declared = doc["paths"][*path][method.to_lowercase()][cognate_server::api::AUDIT_ACTION].as_str();
        assert_eq!(declared.is_some(), recorded, "{method} {path}: declared action {declared:?}");
        let expected = match (recorded, path.contains("{tenant_id}")) {
            (false, _) => (0, 0),
            (true, true) => (1, 0),
            (true, false) => (0, 1),
        };
        assert_eq!(added, expected, "{method} {path} ({}): events added (acme, platform)", answer.status);
        if let Some(action) = declared {
            let (noun, verb) = action.split_once('.').unwrap_or_default();
            assert!(!noun.is_empty() && !verb.is_empty(), "{method} {path}: action {action} is not noun.verb");
            let chain = if path.contains("{tenant_id}") { "acme" } else { cognate_core::audit::PLATFORM_CHAIN };
            assert_eq!(last_action(&t, chain).await.as_deref(), Some(action), "{method} {path}");
        }
    }
}

/// Every Cognito operation the table marks as recorded leaves exactly one audit event,
/// refused or not; the others leave none.
#[tokio::test]
async fn every_recorded_cognito_operation_leaves_exactly_one_event() {
    use cognate_server::cognito::operations;
    let t = TestApp::new().await;
    for op in operations::OPERATIONS {
        let before = audit_counts(&t).await;
        let resp = signed_cognito_call(&t, op.name).await;
        let status = resp.status();
        let after = audit_counts(&t).await;
        let added = (after.0 - before.0) + (after.1 - before.1);
        let expected = usize::from(op.recorded == operations::Recorded::Always);
        assert_eq!(added, expected, "{} ({status}): events added", op.name);
    }
}
