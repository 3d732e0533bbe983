//! The Cognito-compatible identity API: AWS JSON 1.1 over `POST /`, the operation named by
//! `X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>`.
//!
//! Operations AWS signs require a SigV4 signature made with a Cognate admin credential;
//! each operation module lists its operations and whether they are signed.

mod auth;
mod auth_events;
mod clients;
mod devices;
pub mod error;
mod groups;
mod identity_providers;
mod input;
mod managed_login;
mod mfa;
pub mod operations;
mod passkeys;
mod pools;
mod resource_servers;
mod self_service;
mod session_config;
mod sessions;
pub mod sigv4;
mod terms;
mod trail;
mod user_imports;
mod users;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::AppState;
pub use error::CognitoError;

const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

type OpResult = Result<Value, CognitoError>;

/// Facts about the HTTP request that some operations need.
pub(crate) struct RequestContext {
    /// The client's address (the TCP peer; proxies are not trusted by default).
    pub ip: Option<std::net::IpAddr>,
}

impl RequestContext {
    /// The request as the sign-in service sees an attempt.
    pub fn attempt(&self) -> crate::services::sign_in::Attempt {
        crate::services::sign_in::Attempt { ip: self.ip.map(crate::net::counted_as) }
    }
}

/// The single entry point of the Cognito surface.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = crate::metrics::RequestId::of(&parts.extensions, &state).0;
    let mut operation = None;
    let mut response = match serve(&state, &parts, body, &request_id, &mut operation).await {
        Ok(value) => {
            let mut r = (StatusCode::OK, value.to_string()).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
            r
        }
        Err(e) => {
            tracing::debug!(kind = e.kind, status = %e.status, "cognito request refused");
            e.into_response()
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    if let Some(op) = operation {
        response.extensions_mut().insert(crate::metrics::http::CognitoOperation(op));
    }
    response
}

/// Serves one call; `seen` is set to the operation once it is known to be one Cognate
/// serves (for metrics, which must not take a name from the request).
async fn serve(
    state: &AppState,
    parts: &Parts,
    body: axum::body::Body,
    request_id: &str,
    seen: &mut Option<&'static str>,
) -> OpResult {
    let body: Bytes = axum::body::to_bytes(body, state.settings.max_body_bytes).await.map_err(|_| {
        CognitoError::invalid(format!("The request body exceeds the limit of {} bytes.", state.settings.max_body_bytes))
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    })?;
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| CognitoError::new("UnknownOperationException", "Missing X-Amz-Target header."))?;
    let operation = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(operations::find)
        .ok_or_else(|| CognitoError::new("UnknownOperationException", format!("Unknown operation {target}")))?;
    let op = operation.name;
    *seen = Some(op);
    let admin_key = match operation.proof {
        operations::Proof::Signed => Some(authenticate(state, parts, &body).await?),
        operations::Proof::Unsigned => None,
    };
    let input: Value = serde_json::from_slice(&body)
        .map_err(|e| CognitoError::new("SerializationException", format!("The request body is not valid JSON: {e}")))?;
    if !input.is_object() {
        return Err(CognitoError::new("SerializationException", "The request body must be a JSON object."));
    }
    if let Some(path) = cognate_core::text::find_control_in_json(&input) {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: \
             Member must not contain control characters"
        )));
    }
    tracing::debug!(op, "cognito operation");
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let ctx = RequestContext { ip: crate::net::client_ip(&state.settings.trusted_proxies, peer, &parts.headers) };
    let recorded = input.clone();
    let limited = if operation.rate_limited { limit_auth_rate(state, &ctx, &input).await } else { Ok(()) };
    let (result, facts) = crate::facts::collect(async {
        limited?;
        dispatch(state, &ctx, operation, input).await
    })
    .await;
    if operation.recorded == operations::Recorded::Always {
        let origin = crate::audit::Origin::from_request(ctx.ip, &parts.headers, request_id);
        trail::record(state, &origin, admin_key.as_deref(), op, &recorded, &result, facts).await;
    }
    result
}

async fn dispatch(state: &AppState, ctx: &RequestContext, operation: &operations::Operation, input: Value) -> OpResult {
    use operations::Group;
    let op = operation.name;
    match operation.group {
        Group::Auth => auth::call(state, ctx, op, input).await,
        Group::Pools => pools::call(state, op, input).await,
        Group::Clients => clients::call(state, op, input).await,
        Group::Users => users::call(state, op, input).await,
        Group::Groups => groups::call(state, op, input).await,
        Group::SelfService => self_service::call(state, ctx, op, input).await,
        Group::Mfa => mfa::call(state, ctx, op, input).await,
        Group::ResourceServers => resource_servers::call(state, op, input).await,
        Group::Devices => devices::call(state, op, input).await,
        Group::Sessions => sessions::call(state, op, input).await,
        Group::IdentityProviders => identity_providers::call(state, op, input).await,
        Group::AuthEvents => auth_events::call(state, op, input).await,
        Group::Terms => terms::call(state, op, input).await,
        Group::ManagedLogin => managed_login::call(state, op, input).await,
        Group::SessionConfig => session_config::call(state, op, input).await,
        Group::Passkeys => passkeys::call(state, op, input).await,
        Group::Imports => user_imports::call(state, op, input).await,
    }
}

/// Applies the per-IP and per-username request rates of authentication operations.
async fn limit_auth_rate(state: &AppState, ctx: &RequestContext, input: &Value) -> Result<(), CognitoError> {
    let username = ["AuthParameters", "ChallengeResponses"]
        .iter()
        .find_map(|m| input.get(m).and_then(|p| p.get("USERNAME")).and_then(Value::as_str))
        .or_else(|| input.get("Username").and_then(Value::as_str));
    let pool = input.get("UserPoolId").or_else(|| input.get("ClientId")).and_then(Value::as_str).unwrap_or("");
    crate::throttle::admit_auth(state, ctx.ip, username.map(|name| (pool, name))).await.map_err(|limited| match limited
    {
        crate::throttle::AuthRate::Address(wait) => CognitoError::too_many_requests(
            format!("Too many authentication requests from this address; retry in {wait} s."),
            wait,
        ),
        crate::throttle::AuthRate::User(wait) => CognitoError::too_many_requests(
            format!("Too many authentication requests for this user; retry in {wait} s."),
            wait,
        ),
    })
}

/// Verifies the SigV4 signature against an active admin credential; returns its access
/// key id.
async fn authenticate(state: &AppState, parts: &Parts, body: &[u8]) -> Result<String, CognitoError> {
    let auth = sigv4::parse(&parts.headers)?
        .ok_or_else(|| CognitoError::new("MissingAuthenticationTokenException", "Missing Authentication Token"))?;
    sigv4::check_scope(&auth, state.clock.now_secs(), state.settings.signature_window_secs)?;
    let unrecognized =
        || CognitoError::new("UnrecognizedClientException", "The security token included in the request is invalid.");
    let secret = crate::services::admins::active_secret(state, &auth.access_key_id).await?.ok_or_else(unrecognized)?;
    let secret = String::from_utf8(secret).map_err(CognitoError::internal)?;
    sigv4::verify(&auth, &secret, parts.method.as_str(), parts.uri.path(), parts.uri.query(), &parts.headers, body)?;
    Ok(auth.access_key_id)
}
