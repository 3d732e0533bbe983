//! Session tracking settings (Cognito's Get/SetUserPoolSessionConfiguration and
//! Get/SetUserPoolClientSessionConfiguration), with Cognito's defaults for a pool or client
//! never configured.

/// `TokenSession.MaxPerUser` when a pool was never configured.
pub const DEFAULT_MAX_PER_USER: u32 = 20;
/// `TokenSession.MaxPerUser`'s range.
pub const MAX_PER_USER_RANGE: std::ops::RangeInclusive<u32> = 1..=100;
/// `SSOSession.MaxValidityMinutes` when a client was never configured.
pub const DEFAULT_MAX_VALIDITY_MINUTES: u32 = 60;
/// `SSOSession.MaxValidityMinutes`'s range: 0 (never reuse) to 90 days.
pub const MAX_VALIDITY_MINUTES_RANGE: std::ops::RangeInclusive<u32> = 0..=129_600;

/// A pool's session tracking: whether it is on, and how many live token sessions (token
/// families) one user may hold across the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSessionConfig {
    /// `UserSessionTracking` ENABLED. Defaults to off.
    pub tracking: bool,
    /// `TokenSession.MaxPerUser`. Defaults to 20.
    pub max_per_user: u32,
}

impl Default for PoolSessionConfig {
    fn default() -> Self {
        Self { tracking: false, max_per_user: DEFAULT_MAX_PER_USER }
    }
}

impl PoolSessionConfig {
    /// The live token sessions a user may hold, when tracking is on.
    pub fn token_cap(&self) -> Option<u32> {
        self.tracking.then_some(self.max_per_user)
    }
}

/// An app client's SSO session setting: how long after the user's last fresh
/// authentication the client may silently reuse the hosted login's browser session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSessionConfig {
    /// `SSOSession.MaxValidityMinutes`. Defaults to 60; 0 never reuses the session.
    pub max_validity_minutes: u32,
}

impl Default for ClientSessionConfig {
    fn default() -> Self {
        Self { max_validity_minutes: DEFAULT_MAX_VALIDITY_MINUTES }
    }
}
