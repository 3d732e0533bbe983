//! Token bookkeeping: refresh token families (an `origin_jti` and everything issued from
//! one sign-in), refresh tokens (stored only as hashes), the revocation feed, and one-time
//! codes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::clock::{Rng, random_bytes, random_chars};
use crate::crypto::{hmac_sha256, sha256};
use crate::ids::PoolId;
use crate::user::User;

/// One sign-in and everything refreshed from it. `id` is the tokens' `origin_jti`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenFamily {
    pub id: String,
    pub pool_id: PoolId,
    pub client_id: String,
    pub sub: String,
    /// The tenant the family's tokens speak for (the active tenant at sign-in or switch),
    /// `None` for a user outside tenancy. Every refresh re-checks that the user is still an
    /// active member of this tenant and that the tenant is active.
    pub tenant_id: Option<crate::tenant::TenantId>,
    /// When the user authenticated (seconds), carried into every token of the family.
    pub auth_time: i64,
    /// Whether the sign-in that started the family passed an MFA challenge (a family made
    /// by switching tenants inherits it). Switching into a tenant whose policy requires
    /// MFA needs it. Not a token claim: Cognito's user pool tokens carry no `amr`.
    pub mfa: bool,
    /// The scopes a browser sign-in granted (space-separated), kept by every refresh;
    /// `None` for an API sign-in, whose tokens carry `aws.cognito.signin.user.admin`.
    pub scope: Option<String>,
    /// The device the sign-in proved or was handed (pools that track devices): the access
    /// tokens' `device_key` claim, which ConfirmDevice checks.
    pub device_key: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A family that still works, as the session operations list it (ListUserSessions): not
/// revoked, with a refresh token that has not expired.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFamily {
    pub family: TokenFamily,
    /// When the family was last used to sign in or refresh: its newest refresh token's
    /// creation (ms).
    pub last_active_at: i64,
}

/// How Cognito's session operations name a token family: `tkn` and 25 lowercase letters or
/// digits (Cognito's `SessionIdType`), derived from the family's id so that no second
/// identifier has to be stored. Knowing it reveals nothing of the id, which is the
/// `origin_jti` of the family's tokens.
pub fn session_id(family_id: &str) -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let digest = sha256(format!("cognate-session:{family_id}").as_bytes());
    let mut out = String::with_capacity(SESSION_ID_LEN);
    out.push_str("tkn");
    out.extend(digest.iter().take(SESSION_ID_LEN - 3).map(|b| char::from(ALPHABET[usize::from(*b) % 36])));
    out
}

/// The length of a session id (Cognito's `SessionIdType`): 28.
pub const SESSION_ID_LEN: usize = 28;

/// Whether `id` has the shape of Cognito's `SessionIdType`: `tkn` or `sso`, then 25
/// lowercase letters or digits.
pub fn valid_session_id(id: &str) -> bool {
    id.len() == SESSION_ID_LEN
        && (id.starts_with("tkn") || id.starts_with("sso"))
        && id.bytes().skip(3).all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A refresh token as stored: its SHA-256, never the token.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    pub hash: String,
    pub family_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set when rotation replaced this token.
    pub rotated_at: Option<i64>,
}

/// What every refresh starts from, read in one go: the presented token, its family, and
/// the family's user (`None` if the user is gone) with the names of the user's groups, in
/// name order (at most [`REFRESH_GROUPS_MAX`]).
#[derive(Debug, Clone)]
pub struct RefreshSession {
    pub token: RefreshToken,
    pub family: TokenFamily,
    pub user: Option<User>,
    pub groups: Vec<String>,
}

/// The most group names a token lists (Cognito's `cognito:groups` of a user in more is cut
/// at the same bound as the user's group listing).
pub const REFRESH_GROUPS_MAX: u32 = 500;

/// A new opaque refresh token (256 random bits, base64url) and its stored hash.
pub fn new_refresh_token(rng: &dyn Rng) -> (String, String) {
    let token = B64.encode(random_bytes::<32>(rng));
    let hash = refresh_token_hash(&token);
    (token, hash)
}

/// The stored form of a refresh token.
pub fn refresh_token_hash(token: &str) -> String {
    hex::encode(sha256(token.as_bytes()))
}

/// What a revocation event revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationKind {
    /// A token family (`subject` is its origin_jti).
    Token,
    /// Every token of a user issued before `at` (`subject` is the sub).
    User,
}

impl RevocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "token" => Some(Self::Token),
            "user" => Some(Self::User),
            _ => None,
        }
    }
}

/// An entry of a pool's revocation feed, in order of `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct RevocationEvent {
    pub seq: i64,
    pub pool_id: PoolId,
    pub kind: RevocationKind,
    pub subject: String,
    pub at: i64,
}

/// What a one-time code is for.
pub const PURPOSE_SIGN_UP: &str = "sign_up";
pub const PURPOSE_FORGOT_PASSWORD: &str = "forgot_password";
pub const PURPOSE_VERIFY_ATTRIBUTE: &str = "verify_attribute";
/// A sign-in code (`EMAIL_OTP` of choice-based sign-in), bound to its challenge session.
pub const PURPOSE_SIGN_IN: &str = "sign_in";

/// A one-time code as stored: an HMAC of the code keyed by the user's sub and purpose,
/// so a leaked table does not reveal codes and a code for one purpose is useless for
/// another.
#[derive(Debug, Clone, PartialEq)]
pub struct OneTimeCode {
    pub pool_id: PoolId,
    pub sub: String,
    pub purpose: String,
    pub code_hash: String,
    pub expires_at: i64,
    pub attempts: i64,
    pub created_at: i64,
}

/// Digits in a code. Six, as Cognito.
pub const CODE_DIGITS: usize = 6;
/// Wrong guesses allowed before a code is void.
pub const CODE_MAX_ATTEMPTS: i64 = 5;

/// A new random numeric code.
pub fn new_code(rng: &dyn Rng) -> String {
    random_chars(rng, b"0123456789", CODE_DIGITS)
}

pub fn code_hash(sub: &str, purpose: &str, code: &str) -> String {
    hex::encode(hmac_sha256(format!("{purpose}:{sub}").as_bytes(), code.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_have_cognitos_shape_and_are_stable() {
        let a = session_id("0b0e8a4e-5b0f-4b7e-9c55-6a3d1c1f2e11");
        assert!(valid_session_id(&a), "{a}");
        assert_eq!(a, session_id("0b0e8a4e-5b0f-4b7e-9c55-6a3d1c1f2e11"));
        assert_ne!(a, session_id("another family"));
        for bad in ["", "tkn", "abc0123456789012345678901234", "tknABCDEFGHIJKLMNOPQRSTUVWXY", &format!("{a}0")] {
            assert!(!valid_session_id(bad), "{bad}");
        }
        assert!(valid_session_id("sso0123456789abcdefghijklmno"));
    }
}
