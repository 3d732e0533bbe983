//! Why a token was refused. HTTP rejections never reveal the variant (every one becomes the
//! same 401 `invalid_token`); it exists for logs, metrics and tests.

/// The reason a credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("token longer than the configured limit")]
    TooLarge,
    #[error("malformed token")]
    Malformed,
    #[error("duplicate member in token JSON")]
    DuplicateKey,
    #[error("algorithm not allowed")]
    Algorithm,
    #[error("forbidden JOSE header (jku, x5u, x5c, jwk, crit or zip)")]
    ForbiddenHeader,
    #[error("issuer not configured")]
    UnknownIssuer,
    #[error("no key with this kid for the issuer")]
    UnknownKey,
    #[error("signature does not verify")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token issued in the future")]
    IssuedInFuture,
    #[error("a required claim is missing or has the wrong type")]
    MissingClaim,
    #[error("token_use not accepted")]
    WrongTokenUse,
    #[error("client not accepted")]
    WrongClient,
    #[error("token revoked")]
    Revoked,
    #[error("no credentials")]
    Missing,
    #[error("API keys are not accepted")]
    ApiKeysDisabled,
}

/// A JWKS or revocation-feed fetch that failed. The guard keeps its previous state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("request to {url} failed: {reason}")]
    Http { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} answered more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url} answered a body that is not the expected JSON: {reason}")]
    Body { url: String, reason: String },
}
