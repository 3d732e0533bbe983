//! Browser sign-in bookkeeping: authorization codes (RFC 6749 section 4.1 with PKCE,
//! RFC 7636) and the hosted login's browser sessions. Both are stored only as hashes of the
//! values handed out, so a leaked table signs nobody in.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::clock::{Rng, random_bytes};
use crate::crypto::{constant_time_eq, sha256};
use crate::ids::PoolId;
use crate::tenant::TenantId;

/// How long an authorization code can be exchanged: five minutes, as Cognito.
pub const CODE_TTL_MS: i64 = 5 * 60 * 1000;

/// An authorization code as stored, with everything it is bound to. `family_id` is the
/// token family its exchange starts, chosen when the code is issued, so a replayed code
/// revokes exactly what the first exchange issued.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub pool_id: PoolId,
    pub client_id: String,
    pub sub: String,
    pub tenant_id: Option<TenantId>,
    pub redirect_uri: String,
    /// The granted scopes, space-separated.
    pub scope: String,
    pub nonce: Option<String>,
    /// The PKCE S256 challenge (`BASE64URL(SHA256(verifier))`); `None` for a confidential
    /// client that sent none.
    pub code_challenge: Option<String>,
    pub family_id: String,
    /// When the user authenticated (seconds), carried into the tokens.
    pub auth_time: i64,
    /// Whether the browser sign-in passed MFA.
    pub mfa: bool,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq)]
pub enum Redemption {
    /// The code was unused and is now used: exchange it.
    Fresh(AuthorizationCode),
    /// The code was used before (a replay): revoke what it issued.
    Replayed(AuthorizationCode),
    Unknown,
}

/// A signed-in browser session of the hosted login, per pool. The cookie carries the
/// session id; the store keeps its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginSession {
    pub id_hash: String,
    pub pool_id: PoolId,
    pub sub: String,
    /// The tenant the user chose (or was given) at sign-in.
    pub tenant_id: Option<TenantId>,
    pub auth_time: i64,
    pub mfa: bool,
    pub created_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    /// A session begun at a SAML provider: who it signed in (JSON, see the federation
    /// service), for single logout.
    pub federation: Option<String>,
}

/// How long a browser sent to an external identity provider has to come back: ten minutes.
pub const FEDERATION_TTL_MS: i64 = 10 * 60 * 1000;

/// A browser sign-in sent to an external identity provider (OIDC or SAML), until it comes
/// back. The store keeps hashes of the `state`/`RelayState` value and of the starting
/// browser's cookie, never the values.
#[derive(Debug, Clone, PartialEq)]
pub struct FederationRequest {
    pub state_hash: String,
    pub pool_id: PoolId,
    pub provider: String,
    pub binding_hash: String,
    /// The SAML AuthnRequest's ID (what the response's InResponseTo must be).
    pub request_id: Option<String>,
    /// Sealed: the client's authorization request, the OIDC nonce and PKCE verifier.
    pub payload: String,
    /// Sealed: the identity a SAML response proved, left by the ACS for the browser.
    pub result: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// A user pool domain: a prefix (`{prefix}.{auth domain}`) or a custom domain (its own
/// host name) serving the pool's hosted login. A pool has at most one of each kind.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolDomain {
    /// The prefix, or the custom domain's host name, lower case.
    pub domain: String,
    pub pool_id: PoolId,
    pub custom: bool,
    /// A custom domain's `CustomDomainConfig.CertificateArn` (kept and echoed; TLS is
    /// terminated in front of Cognate).
    pub certificate_arn: Option<String>,
    /// Cognito's `ManagedLoginVersion` (1 classic hosted UI, 2 managed login), echoed.
    pub managed_login_version: i64,
    pub created_at: i64,
}

/// The hosted login's branding for a pool (`client_id` = [`ALL_CLIENTS`]) or one client:
/// CSS over Cognito's customizable classes and a logo.
#[derive(Debug, Clone, PartialEq)]
pub struct UiCustomization {
    pub pool_id: PoolId,
    pub client_id: String,
    pub css: Option<String>,
    /// The logo, base64 (standard alphabet), and its content type.
    pub image: Option<String>,
    pub image_type: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The `ClientId` of a pool-wide customization, as Cognito names it.
pub const ALL_CLIENTS: &str = "ALL";

/// The CSS classes a customization may style: Cognito's, which the pages carry.
pub const CUSTOMIZABLE_CLASSES: &[&str] = &[
    "background-customizable",
    "banner-customizable",
    "errorMessage-customizable",
    "idpButton-customizable",
    "inputField-customizable",
    "label-customizable",
    "legalText-customizable",
    "logo-customizable",
    "redirect-customizable",
    "submitButton-customizable",
    "textDescription-customizable",
];

/// Checks customization CSS: rules whose selectors are only the customizable classes
/// (with `:hover` / `:focus`), declarations without `url(`, `@` rules, `expression`,
/// `\` escapes or markup. Returns why not.
pub fn check_css(css: &str) -> Result<(), String> {
    if css.len() > 131_072 {
        return Err("CSS must be at most 128 KiB.".into());
    }
    let lower = css.to_ascii_lowercase();
    // No way to name a resource: no url(), image-set(), src(), image(), cross-fade(),
    // element(), and no strings at all (image-set and src take them).
    for banned in [
        "url(",
        "image-set",
        "image(",
        "src(",
        "cross-fade",
        "element(",
        "\"",
        "'",
        "@",
        "expression",
        "\\",
        "<",
        "javascript:",
        "behavior",
        "/*",
    ] {
        if lower.contains(banned) {
            return Err(format!("CSS may not contain {banned}"));
        }
    }
    let mut rest = css;
    while let Some(open) = rest.find('{') {
        let selectors = &rest[..open];
        let close = rest[open..].find('}').ok_or("CSS has an unclosed block.")? + open;
        if rest[open + 1..close].contains('{') {
            return Err("CSS blocks may not nest.".into());
        }
        for selector in selectors.split(',').map(str::trim) {
            let class = selector.strip_prefix('.').unwrap_or_default();
            let class = class.split(':').next().unwrap_or_default();
            let pseudo_ok = selector.split(':').skip(1).all(|p| p == "hover" || p == "focus");
            if !CUSTOMIZABLE_CLASSES.contains(&class) || !pseudo_ok {
                return Err(format!("CSS selector {selector} is not one of the customizable classes."));
            }
        }
        rest = &rest[close + 1..];
    }
    if !rest.trim().is_empty() {
        return Err("CSS has text outside a rule.".into());
    }
    Ok(())
}

/// Words Cognito refuses in a domain prefix.
const RESERVED_PREFIX_WORDS: &[&str] = &["aws", "amazon", "cognito"];

/// Whether `prefix` is a valid domain prefix: 1 to 63 lower-case letters, digits and
/// hyphens, not starting or ending with a hyphen, without the reserved words.
pub fn valid_prefix(prefix: &str) -> bool {
    (1..=63).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !prefix.starts_with('-')
        && !prefix.ends_with('-')
        && !RESERVED_PREFIX_WORDS.iter().any(|w| prefix.contains(w))
}

/// Whether `host` is a valid custom domain: a lower-case host name of at least two labels.
pub fn valid_custom_domain(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').count() >= 2
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A new secret to hand out (256 random bits, base64url) and its stored hash: codes and
/// session ids.
pub fn new_secret(rng: &dyn Rng) -> (String, String) {
    let value = B64.encode(random_bytes::<32>(rng));
    let hash = secret_hash(&value);
    (value, hash)
}

/// The stored form of a code or session id.
pub fn secret_hash(value: &str) -> String {
    hex::encode(sha256(value.as_bytes()))
}

/// The S256 challenge of a PKCE verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    B64.encode(sha256(verifier.as_bytes()))
}

/// Whether a PKCE verifier is well-formed (RFC 7636 section 4.1: 43 to 128 characters of
/// `[A-Za-z0-9-._~]`) and matches the challenge.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    valid_pkce_value(verifier) && constant_time_eq(pkce_challenge(verifier).as_bytes(), challenge.as_bytes())
}

/// RFC 7636's shape of a verifier; a S256 challenge is 43 characters of the same set.
pub fn valid_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The OIDC `at_hash` of an access token signed with RS256: the left half of its SHA-256,
/// base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = sha256(access_token.as_bytes());
    B64.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customization_css_keeps_to_the_customizable_classes() {
        assert!(
            check_css(
                ".banner-customizable { background-color: #123456; }\n.submitButton-customizable:hover {color: red}"
            )
            .is_ok()
        );
        assert!(check_css("").is_ok());
        for bad in [
            "body { color: red }",
            "input[value^=a] { color: red }",
            ".banner-customizable { background: url(https://evil.example/x) }",
            "@import 'https://evil.example/x.css';",
            ".background-customizable { background-image: image-set(\"https://evil.example/x\" 1x) }",
            ".background-customizable { background-image: -webkit-image-set(\"/logout\" 1x) }",
            ".banner-customizable { font-family: 'x' }",
            ".banner-customizable { color: red /* } */ }",
            ".banner-customizable { color: red",
            ".label-customizable { color: red } stray",
            ".label-customizable::after { content: 'x' }",
            ".label-customizable { x: \\75rl(x) }",
        ] {
            assert!(check_css(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domain_prefixes_and_custom_domains() {
        for good in ["acme", "acme-login", "a", "x1"] {
            assert!(valid_prefix(good), "{good}");
        }
        for bad in ["", "-acme", "acme-", "Acme", "acme.login", "my-cognito", "awsome", &"a".repeat(64)] {
            assert!(!valid_prefix(bad), "{bad}");
        }
        for good in ["auth.acme.com", "login.example.co.uk"] {
            assert!(valid_custom_domain(good), "{good}");
        }
        for bad in ["acme", "Auth.acme.com", "auth..acme.com", "-a.acme.com", "auth.acme.com:443", "a_b.acme.com"] {
            assert!(!valid_custom_domain(bad), "{bad}");
        }
    }

    #[test]
    fn pkce_s256_matches_an_independent_implementation() {
        // Computed with Python's hashlib and base64.urlsafe_b64encode (padding stripped).
        let verifier = "dBjftJeZ4CVP-mJ92K9uc7xCcGNE4F7GZkj87NZ3gh8";
        let challenge = "_lsbgsvoXU4B7G9WMG9n1h2OkMK0YhpoXdj1svZOsAI";
        assert_eq!(pkce_challenge(verifier), challenge);
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("short", &pkce_challenge("short")));
        assert!(!pkce_matches(&format!("{verifier}x"), challenge));
        assert!(!pkce_matches(&format!("{verifier} "), &pkce_challenge(&format!("{verifier} "))));
    }
}
