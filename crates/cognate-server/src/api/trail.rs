//! Records every `/v1` mutation in the audit trail: one event per request, in the chain of
//! the tenant it concerns, with the actor, the action, its target and the outcome (the
//! error code when refused). Request bodies are never read, so nothing secret (passwords,
//! invitation tokens, API keys) can reach the trail; response bodies are read only to
//! learn ids the path does not carry (a created tenant or key, an accepted invitation's
//! tenant) and error codes.

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::AppState;
use crate::audit::{Actor, Entry, Origin, bearer_actor};

/// Response bodies read for the record are at most this long (they are small JSON).
const MAX_READ: usize = 256 * 1024;

/// The audit action of a `/v1` mutation, by method and route; `None` for requests that
/// are not recorded (reads, and the high-volume service calls verify and usage).
fn action(method: &Method, route: &str) -> Option<&'static str> {
    let m = method.as_str();
    Some(match (m, route) {
        ("POST", "/v1/tenants") => "tenant.create",
        ("PATCH", "/v1/tenants/{tenant_id}") => "tenant.update",
        ("DELETE", "/v1/tenants/{tenant_id}") => "tenant.delete",
        ("POST", "/v1/tenants/{tenant_id}/suspend") => "tenant.suspend",
        ("POST", "/v1/tenants/{tenant_id}/reactivate") => "tenant.reactivate",
        ("PUT", "/v1/tenants/{tenant_id}/tier") => "tenant.tier",
        ("POST", "/v1/tenants/{tenant_id}/domains") => "domain.add",
        ("PATCH", "/v1/tenants/{tenant_id}/domains/{domain}") => "domain.update",
        ("DELETE", "/v1/tenants/{tenant_id}/domains/{domain}") => "domain.remove",
        ("POST", "/v1/tenants/{tenant_id}/domains/{domain}/verify") => "domain.verify",
        ("POST", "/v1/tenants/{tenant_id}/members") => "member.add",
        ("PATCH", "/v1/tenants/{tenant_id}/members/{sub}") => "member.role",
        ("DELETE", "/v1/tenants/{tenant_id}/members/{sub}") => "member.remove",
        ("POST", "/v1/tenants/{tenant_id}/invitations") => "invitation.create",
        ("DELETE", "/v1/tenants/{tenant_id}/invitations/{id}") => "invitation.revoke",
        ("POST", "/v1/invitations/accept") => "invitation.accept",
        ("POST", "/v1/me/switch-tenant") => "session.switch_tenant",
        ("POST", "/v1/tenants/{tenant_id}/api-keys") => "api_key.create",
        ("PATCH", "/v1/tenants/{tenant_id}/api-keys/{api_key_id}") => "api_key.update",
        ("DELETE", "/v1/tenants/{tenant_id}/api-keys/{api_key_id}") => "api_key.revoke",
        ("POST", "/v1/tenants/{tenant_id}/api-keys/{api_key_id}/rotate") => "api_key.rotate",
        ("PUT", "/v1/tenants/{tenant_id}/audit/retention") => "audit.retention",
        _ => return None,
    })
}

/// The path's parameters by name, read by aligning the path with its route.
fn params<'a>(route: &'a str, path: &'a str) -> Vec<(&'a str, String)> {
    route
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(r, p)| {
            let name = r.strip_prefix('{').and_then(|r| r.strip_suffix('}'))?;
            // Decoded as the handlers see it (`%61cme` is `acme`).
            let value = percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned();
            Some((name, value))
        })
        .collect()
}

/// Records the request if it is a `/v1` mutation.
pub async fn record_mutations(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let Some((route, action)) = route.and_then(|r| action(request.method(), &r).map(|a| (r, a))) else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    let request_id = cognate_core::ids::generate_sub(state.rng.as_ref());
    let peer = request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let ip = crate::net::client_ip(&state.settings.trusted_proxies, peer, request.headers());
    let origin = Origin::from_request(ip, request.headers(), &request_id);
    let claimed = bearer_actor(request.headers());

    let mut response = next.run(request).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status();
    let success = status.is_success();
    let needs_body = !success || matches!(action, "tenant.create" | "invitation.accept" | "session.switch_tenant");
    let (response, body) = if needs_body { read_json(response).await } else { (response, Value::Null) };

    let params = params(&route, &path);
    let param = |name: &str| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let tenant = param("tenant_id").or_else(|| match action {
        "tenant.create" => text(&body["id"]),
        "invitation.accept" => text(&body["tenantId"]),
        "session.switch_tenant" => text(&body["tenant"]["tenantId"]),
        _ => None,
    });
    let target = match action {
        "tenant.create" => text(&body["id"]),
        "invitation.accept" => text(&body["sub"]),
        _ => params
            .iter()
            .rev()
            .find(|(n, _)| *n != "tenant_id")
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| tenant.clone()),
    };
    // A refused credential proves nothing about who sent it.
    let actor = if status == axum::http::StatusCode::UNAUTHORIZED { Actor::Anonymous } else { claimed };
    let reason = (!success).then(|| text(&body["error"]["code"]).unwrap_or_else(|| status.as_u16().to_string()));
    state.audit.record(
        &state,
        Entry {
            tenant: tenant.as_deref(),
            pool_id: None,
            actor: &actor,
            action,
            target: target.as_deref(),
            success,
            reason: reason.as_deref(),
            origin: &origin,
        },
    );
    response
}

/// Reads a (small, JSON) response body and rebuilds the response around it.
async fn read_json(response: Response) -> (Response, Value) {
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, MAX_READ).await {
        Ok(bytes) => {
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (Response::from_parts(parts, Body::from(bytes)), value)
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read a /v1 response for the audit trail");
            (super::error::ApiError::internal(e).into_response(), Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_align_with_the_route() {
        let p = params("/v1/tenants/{tenant_id}/members/{sub}", "/v1/tenants/acme/members/abc");
        assert_eq!(p, [("tenant_id", "acme".to_owned()), ("sub", "abc".to_owned())]);
        assert_eq!(params("/v1/tenants/{tenant_id}", "/v1/tenants/%61cme")[0].1, "acme");
        assert_eq!(action(&Method::GET, "/v1/tenants/{tenant_id}"), None);
        assert_eq!(action(&Method::POST, "/v1/api-keys/verify"), None);
        assert_eq!(action(&Method::DELETE, "/v1/tenants/{tenant_id}/members/{sub}"), Some("member.remove"));
    }
}
