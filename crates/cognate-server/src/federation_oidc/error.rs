//! [`OidcError`]: what can go wrong talking to a provider, in words for the tenant admin
//! who configured it, and the mapping from openidconnect's errors.

use openidconnect::core::CoreErrorResponseType;
use openidconnect::{ClaimsVerificationError, RequestTokenError, SignatureVerificationError, StandardErrorResponse};

use super::http::HttpError;

/// Why talking to an OIDC identity provider failed. Messages are written for the tenant
/// admin who configured the provider and never carry a secret, a code or a token.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// A provider detail the operation needs is absent (details are checked at creation,
    /// so this means a provider stored before the rule).
    #[error("The identity provider has no {0}")]
    MissingDetail(&'static str),
    /// A detail or a discovered endpoint is not a usable URL.
    #[error("The identity provider's {key} is not usable: {reason}")]
    InvalidUrl { key: String, reason: String },
    /// The callback's `iss` names another issuer than the provider's.
    #[error("The authorization response comes from {got}, not from the identity provider {expected}")]
    IssuerMismatch { expected: String, got: String },
    /// The caller's own input is malformed (redirect URI, PKCE verifier).
    #[error("{0}")]
    InvalidRequest(String),
    /// No answer from the provider (connection refused, DNS, timeout, oversized answer).
    #[error("The identity provider could not be reached: {0}")]
    Unreachable(#[from] HttpError),
    /// The discovery document is missing, malformed, or names another issuer.
    #[error("The OpenID configuration of {issuer} is not usable: {reason}")]
    Discovery { issuer: String, reason: String },
    /// The JWKS is missing or malformed.
    #[error("The signing keys at {url} are not usable: {reason}")]
    Keys { url: String, reason: String },
    /// The token endpoint takes neither `client_secret_basic` nor `client_secret_post`.
    #[error(
        "The identity provider's token endpoint accepts neither client_secret_basic nor \
         client_secret_post (it lists: {0})"
    )]
    UnsupportedClientAuth(String),
    /// The provider's token endpoint refused the code (expired, replayed, wrong client
    /// credentials, PKCE mismatch…).
    #[error("The identity provider refused the authorization code: {error}{}", describe(.description))]
    TokenRejected { error: String, description: Option<String> },
    /// The token endpoint answered something that is not a token response.
    #[error("The identity provider's token response is not usable: {0}")]
    BadTokenResponse(String),
    /// The token response has no ID token.
    #[error("The identity provider returned no ID token (is openid among the authorize_scopes?)")]
    NoIdToken,
    /// The ID token's `kid` is in neither the cached nor a freshly fetched JWKS.
    #[error("The ID token is signed with a key the identity provider does not publish")]
    UnknownSigningKey,
    /// The ID token failed verification (signature, issuer, audience, expiry, nonce, alg).
    #[error("The ID token is not valid: {0}")]
    InvalidIdToken(String),
    /// The userinfo endpoint failed or answered for another subject.
    #[error("The identity provider's userinfo endpoint failed: {0}")]
    UserInfo(String),
}

fn describe(description: &Option<String>) -> String {
    description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
}

pub(super) fn token_error(e: RequestTokenError<HttpError, StandardErrorResponse<CoreErrorResponseType>>) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(e) => OidcError::TokenRejected {
            error: e.error().as_ref().to_owned(),
            description: e.error_description().cloned(),
        },
        RequestTokenError::Request(e) => OidcError::Unreachable(e),
        RequestTokenError::Parse(e, _) => OidcError::BadTokenResponse(e.to_string()),
        RequestTokenError::Other(reason) => OidcError::BadTokenResponse(reason),
    }
}

pub(super) fn id_token_error(e: ClaimsVerificationError) -> OidcError {
    match e {
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey) => {
            OidcError::UnknownSigningKey
        }
        ClaimsVerificationError::SignatureVerification(inner) => {
            OidcError::InvalidIdToken(format!("signature verification failed: {inner}"))
        }
        other => OidcError::InvalidIdToken(other.to_string()),
    }
}
