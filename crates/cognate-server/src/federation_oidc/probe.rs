//! The "test connection" report: what a provider publishes, and what in it would make
//! sign-ins fail.

use serde::Serialize;
use serde_json::Value;

use super::auth_type;

/// What "test connection" found at a provider: the endpoints Cognate would use, the keys
/// it can verify with, and warnings for anything that will make sign-ins fail.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProbeReport {
    pub issuer: String,
    pub authorize_url: String,
    pub token_url: Option<String>,
    pub attributes_url: Option<String>,
    pub jwks_uri: String,
    /// The JWKS' keys, with whether an ID token signed by each could be verified.
    pub keys: Vec<ProbeKey>,
    /// `token_endpoint_auth_methods_supported`; empty when the document omits it (which
    /// means `client_secret_basic`).
    pub token_auth_methods: Vec<String>,
    pub id_token_signing_algs: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub warnings: Vec<String>,
}

/// One key of a provider's JWKS as the probe reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProbeKey {
    pub kid: Option<String>,
    pub kty: String,
    pub alg: Option<String>,
    /// An RSA or P-256 signing key: ID tokens signed with it (RS256/ES256) verify.
    pub usable: bool,
}

/// The probe's view of one JWK, read from its JSON form (the typed key hides `kty`).
pub(super) fn probe_key(key: &openidconnect::core::CoreJsonWebKey) -> ProbeKey {
    let json = serde_json::to_value(key).unwrap_or_default();
    let text = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_owned);
    let kty = text("kty").unwrap_or_default();
    let alg = text("alg");
    let for_signing = text("use").is_none_or(|u| u == "sig");
    let usable = for_signing
        && match kty.as_str() {
            "RSA" => alg.as_deref().is_none_or(|a| a == "RS256"),
            "EC" => text("crv").as_deref() == Some("P-256") && alg.as_deref().is_none_or(|a| a == "ES256"),
            _ => false,
        };
    ProbeKey { kid: text("kid"), kty, alg, usable }
}

/// What in a probe report will make sign-ins fail or surprise.
pub(super) fn warnings(report: &ProbeReport, has_secret: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !report.keys.iter().any(|k| k.usable) {
        out.push("The JWKS has no RS256 or ES256 signing key: ID tokens cannot be verified".to_owned());
    }
    if !report.id_token_signing_algs.iter().any(|a| a == "RS256" || a == "ES256") {
        out.push(format!(
            "ID tokens are signed with {}; Cognate accepts RS256 and ES256",
            report.id_token_signing_algs.join(", ")
        ));
    }
    if report.token_url.is_none() {
        out.push("There is no token endpoint: the authorization code flow cannot complete".to_owned());
    }
    if has_secret && auth_type(&report.token_auth_methods, true).is_err() {
        out.push(format!(
            "The token endpoint accepts neither client_secret_basic nor client_secret_post ({})",
            report.token_auth_methods.join(", ")
        ));
    }
    if report.attributes_url.is_none() {
        out.push("There is no userinfo endpoint: attributes come from the ID token only".to_owned());
    }
    out
}
