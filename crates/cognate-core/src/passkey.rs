//! Choice-based sign-in (Cognito's `USER_AUTH`) and passkeys: the first factors a pool
//! offers (`Policies.SignInPolicy.AllowedFirstAuthFactors`), its WebAuthn settings
//! (`WebAuthnConfiguration` of SetUserPoolMfaConfig) and the passkeys users register.
//!
//! The WebAuthn ceremonies themselves (options, attestation and assertion checks) are the
//! server's, on `webauthn-rs`; this module only holds what is stored and configured.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::PoolId;

/// The first factors of `AllowedFirstAuthFactors` (`AuthFactorType` less `SOFTWARE_TOKEN`,
/// which Cognito refuses as a first factor).
pub const PASSWORD: &str = "PASSWORD";
pub const EMAIL_OTP: &str = "EMAIL_OTP";
pub const SMS_OTP: &str = "SMS_OTP";
pub const WEB_AUTHN: &str = "WEB_AUTHN";
const FIRST_FACTORS: [&str; 4] = [PASSWORD, EMAIL_OTP, SMS_OTP, WEB_AUTHN];

/// Passkeys one user may register (Cognito's limit).
pub const MAX_CREDENTIALS_PER_USER: usize = 20;

/// `Policies.SignInPolicy`: how users of the pool may begin a `USER_AUTH` sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignInPolicy {
    /// Defaults to `["PASSWORD"]`, as for a pool made without it.
    pub allowed_first_auth_factors: Vec<String>,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        Self { allowed_first_auth_factors: vec![PASSWORD.to_owned()] }
    }
}

impl SignInPolicy {
    pub fn allows(&self, factor: &str) -> bool {
        self.allowed_first_auth_factors.iter().any(|f| f == factor)
    }

    /// Cognito's rules: known factors only, and `PASSWORD` always among them (every
    /// pool keeps password sign-in; SMS codes are accepted and stored but never offered,
    /// since Cognate sends no SMS).
    pub fn validate(&self) -> Result<(), String> {
        for f in &self.allowed_first_auth_factors {
            if f == "SOFTWARE_TOKEN" {
                return Err("SOFTWARE_TOKEN is not supported as a first authentication factor.".into());
            }
            if !FIRST_FACTORS.contains(&f.as_str()) {
                return Err(format!(
                    "1 validation error detected: Value '{f}' at 'policies.signInPolicy.allowedFirstAuthFactors' \
                     failed to satisfy constraint: Member must satisfy enum value set: [PASSWORD, EMAIL_OTP, \
                     SMS_OTP, WEB_AUTHN]"
                ));
            }
        }
        if !self.allows(PASSWORD) {
            return Err("AllowedFirstAuthFactors must include PASSWORD.".into());
        }
        Ok(())
    }
}

/// The setting of [`crate::pool::PoolSettings::extra`] that holds `WebAuthnConfiguration`.
pub const WEB_AUTHN_CONFIGURATION: &str = "WebAuthnConfiguration";

/// A pool's `WebAuthnConfiguration` (SetUserPoolMfaConfig).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebAuthnConfiguration {
    /// The relying party passkeys are bound to. Defaults to the host of Cognate's public
    /// URL (Cognito: the pool's domain).
    pub relying_party_id: Option<String>,
    /// `required` or `preferred` (the default).
    pub user_verification_required: bool,
}

impl WebAuthnConfiguration {
    /// Reads the stored setting; absent members take their defaults.
    pub fn of(stored: Option<&Value>) -> Self {
        let member = |name: &str| stored.and_then(|c| c.get(name)).and_then(Value::as_str);
        Self {
            relying_party_id: member("RelyingPartyId").filter(|r| !r.is_empty()).map(str::to_owned),
            user_verification_required: member("UserVerification") == Some("required"),
        }
    }

    /// Checks a `WebAuthnConfiguration` as SetUserPoolMfaConfig receives it.
    pub fn validate(value: &Value) -> Result<(), String> {
        if let Some(rp) = value.get("RelyingPartyId") {
            let rp = rp.as_str().ok_or("WebAuthnConfiguration.RelyingPartyId must be a string.")?;
            if rp.is_empty() || rp.len() > 63 || !valid_host(rp) {
                return Err(format!(
                    "WebAuthnConfiguration.RelyingPartyId '{rp}' is not a domain name (1 to 63 characters of \
                     letters, digits, '-' and '.')."
                ));
            }
        }
        if let Some(uv) = value.get("UserVerification") {
            match uv.as_str() {
                Some("required" | "preferred") => {}
                _ => {
                    return Err("1 validation error detected: Value at 'webAuthnConfiguration.userVerification' \
                                failed to satisfy constraint: Member must satisfy enum value set: [required, \
                                preferred]"
                        .into());
                }
            }
        }
        if let Some(f) = value.get("FactorConfiguration")
            && !matches!(f.as_str(), Some("SINGLE_FACTOR" | "MULTI_FACTOR_WITH_USER_VERIFICATION"))
        {
            return Err("1 validation error detected: Value at 'webAuthnConfiguration.factorConfiguration' failed \
                        to satisfy constraint: Member must satisfy enum value set: [SINGLE_FACTOR, \
                        MULTI_FACTOR_WITH_USER_VERIFICATION]"
                .into());
        }
        Ok(())
    }
}

/// A host name as a relying party id may be: dot-separated labels of letters, digits and
/// `-` (no scheme, port or path; lower case is not enforced, browsers compare folded).
fn valid_host(host: &str) -> bool {
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// A registered passkey of one user. The public key and the signature counter live in
/// `credential` (webauthn-rs' record, as JSON): nothing in it is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCredential {
    pub pool_id: PoolId,
    pub sub: String,
    /// The credential id, Base64url without padding (as browsers write it).
    pub credential_id: String,
    pub credential: String,
    pub friendly_name: String,
    pub relying_party_id: String,
    /// `platform` or `cross-platform`, when the browser said.
    pub attachment: Option<String>,
    /// `usb`, `nfc`, `ble`, `internal`, `hybrid`…, as the browser reported them.
    pub transports: Vec<String>,
    /// The authenticator's signature counter at its last use (0: it keeps none).
    pub counter: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A registration begun by StartWebAuthnRegistration and not yet completed: the
/// ceremony's server-side state (webauthn-rs' registration state, as JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRegistration {
    pub pool_id: PoolId,
    pub sub: String,
    /// The app client of the access token that began it: only that client completes it.
    pub client_id: String,
    pub state: String,
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn password_must_stay_and_factors_are_known() {
        let policy =
            |f: &[&str]| SignInPolicy { allowed_first_auth_factors: f.iter().map(|s| (*s).to_owned()).collect() };
        assert!(policy(&["PASSWORD", "EMAIL_OTP", "WEB_AUTHN"]).validate().is_ok());
        assert!(policy(&["EMAIL_OTP"]).validate().is_err());
        assert!(policy(&["PASSWORD", "SOFTWARE_TOKEN"]).validate().is_err());
        assert!(policy(&["PASSWORD", "FACE"]).validate().is_err());
        assert!(SignInPolicy::default().allows(PASSWORD));
    }

    #[test]
    fn webauthn_configuration_defaults_and_checks() {
        let c = WebAuthnConfiguration::of(None);
        assert_eq!(c, WebAuthnConfiguration { relying_party_id: None, user_verification_required: false });
        let stored = json!({"RelyingPartyId": "auth.example.com", "UserVerification": "required"});
        let c = WebAuthnConfiguration::of(Some(&stored));
        assert_eq!(c.relying_party_id.as_deref(), Some("auth.example.com"));
        assert!(c.user_verification_required);
        assert!(WebAuthnConfiguration::validate(&stored).is_ok());
        assert!(WebAuthnConfiguration::validate(&json!({"RelyingPartyId": "https://x.io"})).is_err());
        assert!(WebAuthnConfiguration::validate(&json!({"RelyingPartyId": "x.io:443"})).is_err());
        assert!(WebAuthnConfiguration::validate(&json!({"UserVerification": "always"})).is_err());
    }
}
