//! Why a token or API key was refused. HTTP rejections never reveal the variant (every one
//! becomes the same 401 `invalid_token`, except [`VerifyError::RateLimited`], a 429); it
//! exists for logs, metrics and tests.

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
    /// The API key was refused, locally (shape, checksum, `expiresAt`) or by Cognate.
    #[error("API key refused: {0}")]
    ApiKeyRefused(ApiKeyRefusal),
    /// The API key is over its rate limit in this process; the layer answers 429 with
    /// `Retry-After: retry_after_secs`.
    #[error("API key over its rate limit; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u32 },
    /// Cognate's verify endpoint could not be asked or did not answer sensibly (network,
    /// 401 for the verifier's own credentials, 5xx). Not cached: the next request asks again.
    #[error("the API-key verify endpoint did not answer")]
    ApiKeyVerifierUnavailable,
}

/// Why an API key is refused: the `code` of Cognate's `POST /v1/api-keys/verify` answer
/// (`{"valid": false, "code": …}`), or the same reason found locally. Kept as a small enum so
/// [`VerifyError`] stays `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiKeyRefusal {
    /// `malformed`: not `cog_` + 40 base62 characters + a valid 6-character checksum.
    Malformed,
    /// `unknown_key`: no such key.
    UnknownKey,
    /// `revoked`.
    Revoked,
    /// `expired`: past its `expiresAt` (the guard also checks this locally).
    Expired,
    /// `rotated`: replaced by rotation and past its grace period.
    Rotated,
    /// `tenant_suspended`: the key's tenant is suspended.
    TenantSuspended,
    /// A code this guard does not know (a newer Cognate); still a refusal.
    Unrecognized,
}

impl ApiKeyRefusal {
    /// The wire code (`unrecognized` for [`ApiKeyRefusal::Unrecognized`]).
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Rotated => "rotated",
            Self::TenantSuspended => "tenant_suspended",
            Self::Unrecognized => "unrecognized",
        }
    }

    /// The refusal a wire code names; unknown codes become [`ApiKeyRefusal::Unrecognized`].
    pub fn from_code(code: &str) -> Self {
        match code {
            "malformed" => Self::Malformed,
            "unknown_key" => Self::UnknownKey,
            "revoked" => Self::Revoked,
            "expired" => Self::Expired,
            "rotated" => Self::Rotated,
            "tenant_suspended" => Self::TenantSuspended,
            _ => Self::Unrecognized,
        }
    }
}

impl std::fmt::Display for ApiKeyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
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
