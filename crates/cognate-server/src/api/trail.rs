//! Records every `/v1` mutation in the audit trail: one event per request, in the chain of
//! the tenant it concerns, with the actor, the action, its target and the outcome (the
//! error code when refused).
//!
//! Each recorded endpoint names its action next to its route, in its `#[utoipa::path]`:
//! `extensions(("x-audit-action" = json!("tenant.create")))`, published in the OpenAPI
//! document too. Who acted and what was created come from the facts the acting code noted
//! ([`crate::facts`]: the verified caller, a new tenant's id, an accepted invitation's
//! tenant), the rest from the request's path; the error code from the error itself
//! ([`ErrorCode`]). Neither request nor response bodies are read, and no token is decoded,
//! so nothing secret (passwords, invitation tokens, API keys) can reach the trail.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use utoipa::openapi::OpenApi;

use super::error::ErrorCode;
use crate::AppState;
use crate::audit::{Actor, Entry, Origin};

/// The OpenAPI extension that names an endpoint's audit action.
pub const AUDIT_ACTION: &str = "x-audit-action";

/// The audit action of each recorded endpoint, by method and route, as the endpoints
/// declare them.
#[derive(Debug, Clone, Default)]
pub struct Actions(HashMap<(Method, String), String>);

impl Actions {
    /// Collects the actions the document's operations declare.
    pub fn of(api: &OpenApi) -> Self {
        let mut out = HashMap::new();
        for (path, item) in &api.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, op) in operations {
                let action = op
                    .as_ref()
                    .and_then(|op| op.extensions.as_ref())
                    .and_then(|ext| ext.get(AUDIT_ACTION))
                    .and_then(serde_json::Value::as_str);
                if let Some(action) = action {
                    out.insert((method, path.clone()), action.to_owned());
                }
            }
        }
        Self(out)
    }

    fn get(&self, method: &Method, route: &str) -> Option<&str> {
        self.0.get(&(method.clone(), route.to_owned())).map(String::as_str)
    }
}

/// What the recording middleware needs.
#[derive(Clone)]
pub struct Trail {
    pub state: AppState,
    pub actions: Arc<Actions>,
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

/// Records the request if its endpoint declares an audit action.
pub async fn record_mutations(State(trail): State<Trail>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let Some((route, action)) =
        route.and_then(|r| trail.actions.get(request.method(), &r).map(|a| (r.clone(), a.to_owned())))
    else {
        return next.run(request).await;
    };
    let state = &trail.state;
    let path = request.uri().path().to_owned();
    let request_id = crate::metrics::RequestId::of(request.extensions(), state).0;
    let peer = request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let ip = crate::net::client_ip(&state.settings.trusted_proxies, peer, request.headers());
    let origin = Origin::from_request(ip, request.headers(), &request_id);

    let (mut response, facts) = crate::facts::collect(next.run(request)).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status();
    let success = status.is_success();

    let params = params(&route, &path);
    let tenant = params
        .iter()
        .find(|(n, _)| *n == "tenant_id")
        .map(|(_, v)| v.clone())
        .or_else(|| facts.tenant.clone().flatten());
    let target = facts.target.clone().or_else(|| {
        params.iter().rev().find(|(n, _)| *n != "tenant_id").map(|(_, v)| v.clone()).or_else(|| tenant.clone())
    });
    // A refused credential proves nothing about who sent it.
    let actor = match facts.actor {
        Some(actor) if status != StatusCode::UNAUTHORIZED => actor,
        _ => Actor::Anonymous,
    };
    let reason = (!success).then(|| match response.extensions().get::<ErrorCode>() {
        Some(ErrorCode(code)) => (*code).to_owned(),
        None => status.as_u16().to_string(),
    });
    state.audit.record(
        state,
        Entry {
            tenant: tenant.as_deref(),
            pool_id: None,
            actor: &actor,
            action: &action,
            target: target.as_deref(),
            success,
            reason: reason.as_deref(),
            origin: &origin,
        },
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_align_with_the_route() {
        let p = params("/v1/tenants/{tenant_id}/members/{sub}", "/v1/tenants/acme/members/abc");
        assert_eq!(p, [("tenant_id", "acme".to_owned()), ("sub", "abc".to_owned())]);
        assert_eq!(params("/v1/tenants/{tenant_id}", "/v1/tenants/%61cme")[0].1, "acme");
    }
}
