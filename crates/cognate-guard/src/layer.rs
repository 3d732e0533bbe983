//! The tower [`GuardLayer`] and the axum extractors handlers use.
//!
//! The layer reads `Authorization: Bearer <jwt>` (or `X-API-Key`, when an
//! [`ApiKeyVerifier`] is installed), verifies it, and puts an `Arc<TenantContext>` into the
//! request extensions. Every refusal is the same 401 (`WWW-Authenticate: Bearer
//! error="invalid_token"`, body `{"error":"invalid_token"}`) so a caller learns nothing about
//! why; the reason is logged at debug level. The one exception is an API key over its rate
//! limit: 429 with `Retry-After`, so a well-behaved client knows to slow down rather than
//! discard its key.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::context::TenantContext;
use crate::error::VerifyError;
use crate::guard::Guard;

/// The header API keys arrive in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Verifies API keys presented in `X-API-Key`; [`crate::CognateApiKeys`] asks Cognate.
/// Install one with [`GuardLayer::api_keys`]. Without one, requests carrying an API key are
/// refused.
#[async_trait]
pub trait ApiKeyVerifier: Send + Sync + 'static {
    /// The context of the caller `key` belongs to (normally with
    /// [`crate::Principal::ApiKey`]), or why it is refused. Shared, so a cached context is
    /// handed out without copying. [`VerifyError::RateLimited`] becomes a 429; every other
    /// error a 401.
    async fn verify(&self, key: &str) -> Result<Arc<TenantContext>, VerifyError>;
}

/// Applies a [`Guard`] to every request of the wrapped service.
#[derive(Clone)]
pub struct GuardLayer {
    guard: Guard,
    api_keys: Option<Arc<dyn ApiKeyVerifier>>,
    optional: bool,
}

impl GuardLayer {
    /// Requires a valid bearer token on every request.
    pub fn new(guard: Guard) -> Self {
        Self { guard, api_keys: None, optional: false }
    }

    /// Also accepts `X-API-Key` through `verifier`.
    pub fn api_keys(mut self, verifier: Arc<dyn ApiKeyVerifier>) -> Self {
        self.api_keys = Some(verifier);
        self
    }

    /// Lets requests without any credentials through with no context (handlers that need
    /// one then refuse via the extractors). Invalid credentials are still refused.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GuardService { inner, layer: self.clone() }
    }
}

/// The service [`GuardLayer`] produces.
#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    layer: GuardLayer,
}

impl<S, B> Service<Request<B>> for GuardService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // Decided without waiting (a remembered token, no credentials, a malformed header):
        // the request goes straight to the service that was polled ready.
        let credentials = match self.layer.credentials(req.headers()) {
            Ok(credentials) => credentials,
            Err(e) => return GuardFuture::refused(e),
        };
        let verdict = match credentials {
            Credentials::None => Some(Ok(None)),
            Credentials::Bearer(value) => {
                bearer_bytes(value).and_then(|token| self.layer.guard.cached(token)).map(|v| v.map(Some))
            }
            Credentials::ApiKey(_) => None,
        };
        match verdict {
            Some(Ok(ctx)) => {
                if let Some(ctx) = ctx {
                    req.extensions_mut().insert(ctx);
                }
                return GuardFuture::Admitted { inner: self.inner.call(req) };
            }
            Some(Err(e)) => return GuardFuture::refused(e),
            None => {}
        }
        // Otherwise the verification waits (a key fetch, Cognate's API-key endpoint): the
        // clone that was polled ready serves this request; the fresh clone waits.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        GuardFuture::Verifying {
            verifying: Box::pin(async move {
                match layer.authenticate(req.headers()).await {
                    Ok(Some(ctx)) => {
                        req.extensions_mut().insert(ctx);
                    }
                    Ok(None) => {}
                    Err(e) => return Ok(rejection(e)),
                }
                inner.call(req).await
            }),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`GuardService`]: the inner service's own future for a
    /// request admitted at once (a remembered token), a ready refusal, or a boxed
    /// verification that has to wait.
    #[project = GuardFutureProj]
    pub enum GuardFuture<F, E> {
        Admitted { #[pin] inner: F },
        Refused { response: Response },
        Verifying { verifying: Pin<Box<dyn Future<Output = Result<Response, E>> + Send>> },
    }
}

impl<F, E> GuardFuture<F, E> {
    fn refused(e: VerifyError) -> Self {
        Self::Refused { response: rejection(e) }
    }
}

impl<F, E> Future for GuardFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardFutureProj::Admitted { inner } => inner.poll(cx),
            // Polled again after completion, it answers an empty response rather than panic.
            GuardFutureProj::Refused { response } => Poll::Ready(Ok(std::mem::take(response))),
            GuardFutureProj::Verifying { verifying } => verifying.as_mut().poll(cx),
        }
    }
}

/// The response to a refused request (the reason logged at debug level only).
fn rejection(e: VerifyError) -> Response {
    tracing::debug!(reason = %e, "request refused by the guard");
    match e {
        VerifyError::RateLimited { retry_after_secs } => AuthRejection::RateLimited { retry_after_secs },
        _ => AuthRejection::InvalidToken,
    }
    .into_response()
}

/// What a request presents, read from its headers.
enum Credentials<'a> {
    None,
    /// An `Authorization` value, not yet checked to be `Bearer <token>`.
    Bearer(&'a HeaderValue),
    ApiKey(&'a str),
}

impl GuardLayer {
    /// The one credential the request carries, or why its headers are refused.
    fn credentials<'a>(&self, headers: &'a HeaderMap) -> Result<Credentials<'a>, VerifyError> {
        let mut auth = headers.get_all(AUTHORIZATION).iter();
        let mut keys = headers.get_all(API_KEY_HEADER).iter();
        match (auth.next(), auth.next(), keys.next(), keys.next()) {
            (None, _, None, _) if self.optional => Ok(Credentials::None),
            (Some(value), None, None, _) => Ok(Credentials::Bearer(value)),
            (None, _, Some(value), None) => {
                if self.api_keys.is_none() {
                    return Err(VerifyError::ApiKeysDisabled);
                }
                value.to_str().map(Credentials::ApiKey).map_err(|_| VerifyError::Malformed)
            }
            // Nothing, repeated headers, or both kinds at once.
            (None, _, None, _) => Err(VerifyError::Missing),
            _ => Err(VerifyError::Malformed),
        }
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Arc<TenantContext>>, VerifyError> {
        match self.credentials(headers)? {
            Credentials::None => Ok(None),
            Credentials::Bearer(value) => {
                let token = bearer(value).ok_or(VerifyError::Malformed)?;
                self.guard.verify(token).await.map(Some)
            }
            Credentials::ApiKey(key) => {
                let verifier = self.api_keys.as_ref().ok_or(VerifyError::ApiKeysDisabled)?;
                verifier.verify(key).await.map(Some)
            }
        }
    }
}

/// What follows `Bearer ` (scheme case-insensitive, spaces skipped) in an `Authorization`
/// value, unchecked: enough to look up tokens verified before, which were checked in full.
fn bearer_bytes(value: &HeaderValue) -> Option<&[u8]> {
    let bytes = value.as_bytes();
    let space = bytes.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = bytes.split_at(space);
    let start = rest.iter().position(|&b| b != b' ')?;
    scheme.eq_ignore_ascii_case(b"bearer").then(|| &rest[start..])
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' ')).then_some(token)
}

/// Why a request is refused, rendered per RFC 6750.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRejection {
    /// 401, `WWW-Authenticate: Bearer error="invalid_token"`, `{"error":"invalid_token"}`.
    InvalidToken,
    /// 403, `WWW-Authenticate: Bearer error="insufficient_scope", scope="<scope>"`.
    InsufficientScope(String),
    /// 403 `insufficient_scope` without a scope: the tenant role is not the one required.
    InsufficientRole,
    /// 429, `Retry-After: <retry_after_secs>`, `{"error":"rate_limited"}`: an API key over
    /// its rate limit.
    RateLimited { retry_after_secs: u32 },
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let (status, challenge, error) = match self {
            Self::InvalidToken => {
                (StatusCode::UNAUTHORIZED, HeaderValue::from_static(r#"Bearer error="invalid_token""#), "invalid_token")
            }
            Self::InsufficientScope(scope) => {
                // Scope names come from code, but keep the quoted-string well-formed anyway.
                let scope: String = scope.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\').collect();
                let value = format!(r#"Bearer error="insufficient_scope", scope="{scope}""#);
                let value = HeaderValue::from_str(&value)
                    .unwrap_or_else(|_| HeaderValue::from_static(r#"Bearer error="insufficient_scope""#));
                (StatusCode::FORBIDDEN, value, "insufficient_scope")
            }
            Self::InsufficientRole => (
                StatusCode::FORBIDDEN,
                HeaderValue::from_static(r#"Bearer error="insufficient_scope""#),
                "insufficient_scope",
            ),
            Self::RateLimited { retry_after_secs } => {
                let mut response =
                    (StatusCode::TOO_MANY_REQUESTS, axum::Json(serde_json::json!({ "error": "rate_limited" })))
                        .into_response();
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
                return response;
            }
        };
        let mut response = (status, axum::Json(serde_json::json!({ "error": error }))).into_response();
        response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        response
    }
}

impl TenantContext {
    /// `Ok` if the caller holds `scope`, else the 403 `insufficient_scope` rejection.
    pub fn require_scope(&self, scope: &str) -> Result<(), AuthRejection> {
        if self.has_scope(scope) { Ok(()) } else { Err(AuthRejection::InsufficientScope(scope.to_owned())) }
    }

    /// `Ok` if the caller's tenant role is `role`, else a 403.
    pub fn require_role(&self, role: &str) -> Result<(), AuthRejection> {
        if self.has_role(role) { Ok(()) } else { Err(AuthRejection::InsufficientRole) }
    }
}

fn context_of(parts: &Parts) -> Result<Arc<TenantContext>, AuthRejection> {
    parts.extensions.get::<Arc<TenantContext>>().cloned().ok_or(AuthRejection::InvalidToken)
}

/// Extracts a copy of the caller's context; 401 if the request carries none. Use
/// [`Authenticated`] to share it without copying the claims.
impl<S: Send + Sync> FromRequestParts<S> for TenantContext {
    type Rejection = AuthRejection;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AuthRejection> {
        context_of(parts).map(|ctx| (*ctx).clone())
    }
}

/// The caller's context, shared with the layer (no copy); 401 if the request carries none.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<TenantContext>);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = AuthRejection;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AuthRejection> {
        context_of(parts).map(Self)
    }
}

/// A scope or role name known at compile time, for [`RequireScope`] and [`RequireRole`].
/// Declare one with [`crate::name!`].
pub trait Name: Send + Sync + 'static {
    const NAME: &'static str;
}

/// Declares a [`Name`] type: `cognate_guard::name!(NotesWrite = "notes:write");`.
#[macro_export]
macro_rules! name {
    ($vis:vis $ty:ident = $value:literal) => {
        $vis struct $ty;
        impl $crate::Name for $ty {
            const NAME: &'static str = $value;
        }
    };
}

/// Extractor that requires the scope `N::NAME`: 401 without a context, 403
/// `insufficient_scope` without the scope.
pub struct RequireScope<N: Name>(pub Arc<TenantContext>, PhantomData<N>);

impl<S: Send + Sync, N: Name> FromRequestParts<S> for RequireScope<N> {
    type Rejection = AuthRejection;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AuthRejection> {
        let ctx = context_of(parts)?;
        ctx.require_scope(N::NAME)?;
        Ok(Self(ctx, PhantomData))
    }
}

/// Extractor that requires the tenant role `N::NAME` (`custom:tenantRole`).
pub struct RequireRole<N: Name>(pub Arc<TenantContext>, PhantomData<N>);

impl<S: Send + Sync, N: Name> FromRequestParts<S> for RequireRole<N> {
    type Rejection = AuthRejection;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AuthRejection> {
        let ctx = context_of(parts)?;
        ctx.require_role(N::NAME)?;
        Ok(Self(ctx, PhantomData))
    }
}
