//! What the OAuth 2.0 endpoints share: the RFC 6749 error shape, a bounded
//! `application/x-www-form-urlencoded` body, and client authentication
//! (`client_secret_basic` and `client_secret_post`, RFC 6749 section 2.3.1).

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cognate_core::client::AppClient;
use percent_encoding::percent_decode_str;
use serde_json::json;

use crate::AppState;
use crate::services::clients::{self, ClientError};

/// An OAuth error response: `{"error": "…", "error_description": "…"}` (RFC 6749 5.2).
/// Server faults keep their cause for the log and show clients only `server_error`.
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// The `WWW-Authenticate` challenge to send, if any.
    pub challenge: Option<&'static str>,
    /// Internal detail, logged and never sent.
    pub cause: Option<String>,
}

impl OAuthError {
    /// A 400 with the given RFC 6749 error code.
    pub fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, error, description: description.into(), challenge: None, cause: None }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::bad("invalid_request", description)
    }

    /// 401 `invalid_client`; `basic` adds the `WWW-Authenticate: Basic` challenge that
    /// RFC 6749 requires when the client tried HTTP Basic (or sent nothing).
    pub fn invalid_client(basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "Client authentication failed.".into(),
            challenge: basic.then_some(r#"Basic realm="cognate""#),
            cause: None,
        }
    }

    /// 401 `invalid_token` with the RFC 6750 Bearer challenge.
    pub fn invalid_token() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_token",
            description: "The access token is invalid.".into(),
            challenge: Some(r#"Bearer error="invalid_token""#),
            cause: None,
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "An internal error occurred.".into(),
            challenge: None,
            cause: Some(cause.to_string()),
        }
    }
}

impl From<cognate_core::StoreError> for OAuthError {
    fn from(e: cognate_core::StoreError) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(error = self.error, cause = %cause, "oauth request failed");
        } else {
            tracing::debug!(error = self.error, status = %self.status, "oauth request refused");
        }
        let body = json!({"error": self.error, "error_description": self.description});
        let mut resp = (self.status, axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        resp
    }
}

/// A JSON success response that must not be cached (RFC 6749 5.1).
pub(super) fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, then
/// percent-decoding; `None` if the result is not UTF-8.
pub(super) fn form_decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8().ok().map(|c| c.into_owned())
}

/// Parses a form body or query string. Parameters sent twice are refused, as RFC 6749
/// section 3.1 requires ("Request and response parameters MUST NOT be included more than
/// once"); empty pairs (`a=1&&b=2`) are skipped.
pub(crate) fn parse_form(body: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = form_decode(name).ok_or("The request is not valid UTF-8.")?;
        let value = form_decode(value).ok_or("The request is not valid UTF-8.")?;
        if cognate_core::text::has_forbidden_control(&name) || cognate_core::text::has_forbidden_control(&value) {
            return Err("Parameters must not contain control characters.".to_owned());
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(format!("The parameter {name} is included more than once."));
        }
    }
    Ok(out)
}

/// A form-encoded request body, read up to `max_body_bytes`. Every failure (wrong
/// content type, oversized or malformed body) is a 400 `invalid_request`.
pub(crate) struct OAuthForm(pub HashMap<String, String>);

impl OAuthForm {
    /// A parameter, treating an empty value as absent (RFC 6749 section 3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

impl FromRequest<AppState> for OAuthForm {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let form_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !form_type {
            return Err(OAuthError::invalid_request("The body must be application/x-www-form-urlencoded."));
        }
        let limit = state.settings.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
            let mut e = OAuthError::invalid_request(format!("The request body exceeds the limit of {limit} bytes."));
            e.status = StatusCode::PAYLOAD_TOO_LARGE;
            e
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| OAuthError::invalid_request("The body is not UTF-8."))?;
        parse_form(text).map(Self).map_err(OAuthError::invalid_request)
    }
}

/// Credentials from an `Authorization: Basic` header: `client_id:client_secret`, each
/// form-urlencoded before base64 (RFC 6749 section 2.3.1). `Err(())` when the header
/// says Basic but is malformed; `Ok(None)` when there is no Basic header.
pub(super) fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ())?.trim();
    let Some((scheme, encoded)) = value.split_once(' ') else { return Ok(None) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = B64.decode(encoded.trim()).map_err(|_| ())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ())?;
    let (id, secret) = decoded.split_once(':').ok_or(())?;
    let (id, secret) = (form_decode(id).ok_or(())?, form_decode(secret).ok_or(())?);
    if cognate_core::text::has_forbidden_control(&id) || cognate_core::text::has_forbidden_control(&secret) {
        return Err(());
    }
    Ok(Some((id, secret)))
}

/// The token of an `Authorization: Bearer …` header (RFC 6750 section 2.1).
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An app client that proved who it is.
pub(crate) struct AuthenticatedClient {
    pub client: AppClient,
    /// True when the client has a secret and presented it (confidential client).
    pub confidential: bool,
}

/// Authenticates the calling client from HTTP Basic or `client_id`/`client_secret` in the
/// body (`form` is `None` for GET endpoints).
///
/// Rules: Basic together with a body `client_secret` is two authentication methods and
/// refused (`invalid_request`, RFC 6749 section 2.3); a body `client_id` next to Basic is
/// tolerated only when it names the same client, since common libraries send it. A client
/// with a secret must present it; a public client may present none (or an empty one).
/// Unknown clients and wrong secrets are the same 401 `invalid_client`.
/// `require_secret` refuses public clients (introspection, the revocation feed).
pub(crate) async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    form: Option<&OAuthForm>,
    require_secret: bool,
) -> Result<AuthenticatedClient, OAuthError> {
    let basic = basic_credentials(headers).map_err(|()| OAuthError::invalid_client(true))?;
    let body_id = form.and_then(|f| f.get("client_id"));
    let body_secret = form.and_then(|f| f.get("client_secret"));
    let (client_id, presented, via_basic) = match basic {
        Some((id, secret)) => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request("Use only one client authentication method."));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request("client_id does not match the Authorization header."));
            }
            (id, Some(secret), true)
        }
        None => match body_id {
            Some(id) => (id.to_owned(), body_secret.map(str::to_owned), false),
            // Nothing identifies the client: challenge for Basic.
            None => return Err(OAuthError::invalid_client(true)),
        },
    };
    let authenticated = clients::authenticate(state, &client_id, presented.as_deref()).await.map_err(|e| match e {
        ClientError::Store(e) => e.into(),
        ClientError::Fault(cause) => OAuthError::internal(cause),
        ClientError::NotFound | ClientError::BadCredentials => OAuthError::invalid_client(via_basic),
        // Not answers of authentication.
        e @ (ClientError::Invalid(_) | ClientError::SecretLimit | ClientError::SecretNotFound) => {
            OAuthError::internal(e.to_string())
        }
    })?;
    if require_secret && !authenticated.confidential {
        return Err(OAuthError::invalid_client(via_basic));
    }
    Ok(AuthenticatedClient { client: authenticated.client, confidential: authenticated.confidential })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = headers(&format!("Basic {}", B64.encode("my%20id:s%3Ac+r")));
        assert_eq!(basic_credentials(&h), Ok(Some(("my id".into(), "s:c r".into()))));
        let h = headers(&format!("basic {}", B64.encode("id:")));
        assert_eq!(basic_credentials(&h), Ok(Some(("id".into(), String::new()))));
        assert_eq!(basic_credentials(&headers("Basic !!!")), Err(()));
        assert_eq!(basic_credentials(&headers(&format!("Basic {}", B64.encode("no-colon")))), Err(()));
        assert_eq!(basic_credentials(&headers("Bearer abc")), Ok(None));
        assert_eq!(basic_credentials(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token(&headers("Bearer a.b.c")), Some("a.b.c"));
        assert_eq!(bearer_token(&headers("bearer  a.b.c ")), Some("a.b.c"));
        assert_eq!(bearer_token(&headers("Basic a.b.c")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
    }

    #[test]
    fn forms_decode_and_refuse_repeats() {
        let f = parse_form("grant_type=client_credentials&scope=a%2Fb+c&&flag").unwrap();
        assert_eq!(f["grant_type"], "client_credentials");
        assert_eq!(f["scope"], "a/b c");
        assert_eq!(f["flag"], "");
        assert!(parse_form("a=1&a=2").is_err());
        assert!(parse_form("a=%ff").is_err());
    }
}
