//! A user's multi-factor authentication settings: their software token (TOTP) and whether
//! they turned it on. Kept apart from the user row so that reading a user for sign-in does
//! not carry a sealed seed around, and so the seed never reaches the attribute index.

use crate::ids::PoolId;

/// Cognito's name for TOTP MFA, in `UserMFASettingList`, `PreferredMfaSetting`,
/// `MFAS_CAN_SETUP` and challenge names.
pub const SOFTWARE_TOKEN_MFA: &str = "SOFTWARE_TOKEN_MFA";

/// How long an association begun by AssociateSoftwareToken may be verified: 15 minutes,
/// in ms. After that the user associates again.
pub const PENDING_TTL_MS: i64 = 15 * 60 * 1000;

/// One user's MFA record. Secrets are sealed with the master key under
/// [`crate::totp::SEED_LABEL`]; the plaintext never leaves the server except once, as the
/// `SecretCode` of AssociateSoftwareToken.
#[derive(Debug, Clone, PartialEq)]
pub struct UserMfa {
    pub pool_id: PoolId,
    pub sub: String,
    /// The verified software token's secret (sealed). `None` until a code verified it.
    pub totp_secret_sealed: Option<String>,
    /// Whether a code from `totp_secret_sealed` was verified (VerifySoftwareToken).
    pub totp_verified: bool,
    /// Whether the user (or an administrator) turned TOTP MFA on (SetUserMFAPreference).
    pub totp_enabled: bool,
    /// Whether TOTP is the user's preferred MFA method.
    pub preferred: bool,
    /// The last time step whose code was accepted; a code of this step or an earlier one is
    /// refused (each code works once). 0 when none was accepted yet.
    pub last_step: i64,
    /// A secret handed out by AssociateSoftwareToken and not verified yet (sealed). It
    /// replaces the verified one only when a code from it verifies.
    pub pending_secret_sealed: Option<String>,
    /// When the pending secret was handed out (ms); it expires [`PENDING_TTL_MS`] later.
    pub pending_at: Option<i64>,
    /// The name the user gave the authenticator (VerifySoftwareToken's FriendlyDeviceName).
    pub friendly_device_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserMfa {
    /// An empty record for a user who has not set anything up.
    pub fn new(pool_id: PoolId, sub: &str, now: i64) -> Self {
        Self {
            pool_id,
            sub: sub.to_owned(),
            totp_secret_sealed: None,
            totp_verified: false,
            totp_enabled: false,
            preferred: false,
            last_step: 0,
            pending_secret_sealed: None,
            pending_at: None,
            friendly_device_name: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether the user has a verified software token to answer a challenge with.
    pub fn has_totp(&self) -> bool {
        self.totp_verified && self.totp_secret_sealed.is_some()
    }

    /// Whether TOTP is turned on (and usable): what `UserMFASettingList` reports.
    pub fn totp_active(&self) -> bool {
        self.has_totp() && self.totp_enabled
    }

    /// The pending secret, if it was handed out less than [`PENDING_TTL_MS`] before `now`.
    pub fn live_pending(&self, now: i64) -> Option<&str> {
        match (&self.pending_secret_sealed, self.pending_at) {
            (Some(sealed), Some(at)) if now < at.saturating_add(PENDING_TTL_MS) => Some(sealed),
            _ => None,
        }
    }

    /// Cognito's `UserMFASettingList`: the MFA methods turned on.
    pub fn setting_list(&self) -> Vec<&'static str> {
        if self.totp_active() { vec![SOFTWARE_TOKEN_MFA] } else { Vec::new() }
    }

    /// Cognito's `PreferredMfaSetting`, if any.
    pub fn preferred_setting(&self) -> Option<&'static str> {
        (self.totp_active() && self.preferred).then_some(SOFTWARE_TOKEN_MFA)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolId {
        PoolId::parse("local_abcdefghi").unwrap()
    }

    #[test]
    fn settings_need_a_verified_enabled_token() {
        let mut m = UserMfa::new(pool(), "sub", 1);
        assert!(!m.has_totp() && m.setting_list().is_empty() && m.preferred_setting().is_none());
        m.totp_enabled = true;
        m.preferred = true;
        assert!(m.setting_list().is_empty(), "enabled without a verified token is not active");
        m.totp_secret_sealed = Some("sealed".into());
        m.totp_verified = true;
        assert_eq!(m.setting_list(), vec![SOFTWARE_TOKEN_MFA]);
        assert_eq!(m.preferred_setting(), Some(SOFTWARE_TOKEN_MFA));
        m.totp_enabled = false;
        assert!(m.has_totp() && m.setting_list().is_empty() && m.preferred_setting().is_none());
    }

    #[test]
    fn pending_secrets_expire() {
        let mut m = UserMfa::new(pool(), "sub", 1);
        assert!(m.live_pending(1).is_none());
        m.pending_secret_sealed = Some("p".into());
        m.pending_at = Some(1_000);
        assert_eq!(m.live_pending(1_000 + PENDING_TTL_MS - 1), Some("p"));
        assert!(m.live_pending(1_000 + PENDING_TTL_MS).is_none());
    }
}
