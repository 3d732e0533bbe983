//! The HTTP side of metrics: the layer that counts, times and logs every request, and the
//! `GET /metrics` endpoint.
//!
//! [`observe`] wraps the whole router. Each request gets a request id (a [`RequestId`] in
//! its extensions, which the Cognito surface and the `/v1` audit trail reuse, and an
//! `x-request-id` header on the answer), and once answered it is counted under its surface
//! and operation and logged in one line at info level (target `cognate::access`):
//! method, route template, surface, operation, status, latency, request id. Never the raw
//! path or its query string (an authorization code or a token may ride there), never a
//! header or a body.
//!
//! Operations are bounded: a Cognito call is labelled with its `X-Amz-Target` operation
//! only when it is one Cognate serves (the surface says which, [`Operation::Named`]);
//! everything else is the route template axum matched, or `unmatched`.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Which of Cognate's surfaces a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    /// The Cognito JSON 1.1 API (`POST /`).
    Cognito,
    /// OIDC discovery, JWKS, `/oauth2/token|revoke|userInfo|introspect`, revocation feeds.
    Oauth,
    /// The tenancy API.
    V1,
    /// Hosted login pages and federation callbacks.
    Login,
    /// The web consoles.
    Console,
    /// Health checks, uploads, `/metrics`, and paths no route takes.
    Other,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cognito => "cognito",
            Self::Oauth => "oauth",
            Self::V1 => "v1",
            Self::Login => "login",
            Self::Console => "console",
            Self::Other => "other",
        }
    }

    /// The surface of a route template (not of a raw path: templates are few and fixed).
    pub fn of_route(route: &str) -> Self {
        const LOGIN: [&str; 8] = [
            "/oauth2/authorize",
            "/oauth2/idpresponse",
            "/login",
            "/forgotPassword",
            "/confirmForgotPassword",
            "/signup",
            "/confirmUser",
            "/logout",
        ];
        let under = |prefix: &str| route == prefix || route.strip_prefix(prefix).is_some_and(|r| r.starts_with('/'));
        if route == "/" {
            Self::Cognito
        } else if under("/v1") {
            Self::V1
        } else if LOGIN.iter().any(|p| under(p)) || under("/saml2") {
            Self::Login
        } else if under("/oauth2") || route.starts_with("/{pool_id}/") {
            Self::Oauth
        } else if under("/console") {
            Self::Console
        } else {
            Self::Other
        }
    }
}

/// What a request did, as a label value from a closed set.
#[derive(Debug, Clone)]
pub enum Operation {
    /// A name fixed in the code: a Cognito operation Cognate serves, `unknown` (a Cognito
    /// call naming no operation Cognate serves), `unmatched` (no route).
    Named(&'static str),
    /// The route template axum matched (`/v1/tenants/{tenant_id}`); an `Arc` clone.
    Route(MatchedPath),
}

impl Operation {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Named(name) => name,
            Self::Route(route) => route.as_str(),
        }
    }
}

impl PartialEq for Operation {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Operation {}

impl Hash for Operation {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

/// The Cognito operation a request named, put in the response's extensions by the Cognito
/// surface once it knows the operation is one it serves.
#[derive(Debug, Clone, Copy)]
pub struct CognitoOperation(pub &'static str);

/// The id of a request: in the request's extensions (set by [`observe`]), in the access
/// log, the audit trail and the answer's `x-request-id` header.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

impl RequestId {
    /// The request's id, or a new one for a request that did not pass through [`observe`]
    /// (a surface driven on its own in a test).
    pub fn of(extensions: &axum::http::Extensions, state: &AppState) -> Self {
        extensions.get::<Self>().cloned().unwrap_or_else(|| Self::new(state))
    }

    fn new(state: &AppState) -> Self {
        Self(Arc::from(cognate_core::ids::generate_sub(state.rng.as_ref())))
    }
}

impl axum::extract::FromRequestParts<AppState> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions, state))
    }
}

/// Counts, times and logs one request (see the module documentation).
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = RequestId::new(&state);
    request.extensions_mut().insert(id.clone());
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    let surface = route.as_ref().map_or(Surface::Other, |r| Surface::of_route(r.as_str()));
    let operation = match (surface, route) {
        (Surface::Cognito, _) => {
            Operation::Named(response.extensions().get::<CognitoOperation>().map_or("unknown", |op| op.0))
        }
        (_, Some(route)) => Operation::Route(route),
        (_, None) => Operation::Named("unmatched"),
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    tracing::info!(
        target: "cognate::access",
        method = %method,
        route = operation_route(&operation, surface),
        surface = surface.as_str(),
        operation = operation.as_str(),
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        request_id = &*id.0,
        "request"
    );
    state.metrics.request(surface, operation, status, elapsed.as_secs_f64());
    if !response.headers().contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(&id.0)
    {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// The route template of the access log: `/` for Cognito calls (their operation is logged
/// beside it), `-` when no route matched.
fn operation_route(operation: &Operation, surface: Surface) -> &str {
    match (surface, operation) {
        (Surface::Cognito, _) => "/",
        (_, Operation::Route(route)) => route.as_str(),
        (_, Operation::Named(_)) => "-",
    }
}

/// `GET /metrics` on the main listener: platform admins only (the same
/// `Authorization: Bearer {accessKeyId}:{secretAccessKey}` as `/v1`), since the figures
/// tell who is busy. The separate metrics listener ([`listener_routes`]) needs none.
pub async fn guarded(_admin: crate::api::PlatformAdmin, State(state): State<AppState>) -> Response {
    scrape(&state).await
}

/// The router of the separate metrics listener (`COGNATE_METRICS_LISTEN`): `GET /metrics`
/// without credentials (the operator chose who can reach that address), nothing else.
pub fn listener_routes(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(|State(state): State<AppState>| async move { scrape(&state).await }))
        .with_state(state)
}

async fn scrape(state: &AppState) -> Response {
    let body = super::render(state).await;
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::Surface;

    #[test]
    fn routes_fall_into_their_surfaces() {
        for (route, surface) in [
            ("/", Surface::Cognito),
            ("/v1", Surface::V1),
            ("/v1/tenants/{tenant_id}", Surface::V1),
            ("/v1x", Surface::Other),
            ("/oauth2/token", Surface::Oauth),
            ("/{pool_id}/.well-known/jwks.json", Surface::Oauth),
            ("/oauth2/authorize", Surface::Login),
            ("/oauth2/idpresponse", Surface::Login),
            ("/login", Surface::Login),
            ("/login/assets/{kind}/{pool}/{file}", Surface::Login),
            ("/saml2/idpresponse", Surface::Login),
            ("/logout", Surface::Login),
            ("/console/tenants", Surface::Console),
            ("/healthz", Surface::Other),
            ("/metrics", Surface::Other),
        ] {
            assert_eq!(Surface::of_route(route), surface, "{route}");
        }
    }
}
