//! Password policy and argon2id hashing.
//!
//! Hashing is CPU-bound (~35 ms at OWASP settings); callers on an async runtime must run
//! these functions on a blocking pool with bounded concurrency.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

use crate::clock::Rng;

/// A pool's password policy, in Cognito's shape. A pool without one gets Cognito's
/// default ([`Default`]): at least eight characters with an upper-case letter, a
/// lower-case letter, a digit and a symbol; temporary passwords valid for 7 days. In a
/// policy that is given, omitted requirements are off (as in Cognito's API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PasswordPolicy {
    #[serde(default = "default_min_length")]
    pub minimum_length: u32,
    #[serde(default)]
    pub require_uppercase: bool,
    #[serde(default)]
    pub require_lowercase: bool,
    #[serde(default)]
    pub require_numbers: bool,
    #[serde(default)]
    pub require_symbols: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_history_size: Option<u32>,
    #[serde(default = "default_temp_validity")]
    pub temporary_password_validity_days: u32,
}

fn default_min_length() -> u32 {
    8
}

fn default_temp_validity() -> u32 {
    7
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            minimum_length: 8,
            require_uppercase: true,
            require_lowercase: true,
            require_numbers: true,
            require_symbols: true,
            password_history_size: None,
            temporary_password_validity_days: 7,
        }
    }
}

/// The symbols Cognito counts as "special characters".
const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ";

impl PasswordPolicy {
    /// Checks a candidate password; the error is Cognito's message.
    pub fn check(&self, password: &str) -> Result<(), String> {
        let fail = |why: &str| Err(format!("Password did not conform with policy: {why}"));
        if password.starts_with(char::is_whitespace) || password.ends_with(char::is_whitespace) {
            return fail("Password must not begin or end with whitespace");
        }
        if password.chars().count() < self.minimum_length as usize {
            return fail("Password not long enough");
        }
        if password.chars().count() > 256 {
            return fail("Password is too long");
        }
        if self.require_lowercase && !password.chars().any(|c| c.is_lowercase()) {
            return fail("Password must have lowercase characters");
        }
        if self.require_uppercase && !password.chars().any(|c| c.is_uppercase()) {
            return fail("Password must have uppercase characters");
        }
        if self.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
            return fail("Password must have numeric characters");
        }
        if self.require_symbols && !password.chars().any(|c| SYMBOLS.contains(c)) {
            return fail("Password must have symbol characters");
        }
        Ok(())
    }

    /// Checks the policy's own settings (the ranges Cognito accepts).
    pub fn validate(&self) -> Result<(), String> {
        if !(6..=99).contains(&self.minimum_length) {
            return Err("MinimumLength must be between 6 and 99".into());
        }
        if self.temporary_password_validity_days > 365 {
            return Err("TemporaryPasswordValidityDays must be between 0 and 365".into());
        }
        if self.password_history_size.is_some_and(|n| n > 24) {
            return Err("PasswordHistorySize must be between 0 and 24".into());
        }
        Ok(())
    }

    /// A random password that satisfies this policy (for invitations without one).
    pub fn generate(&self, rng: &dyn Rng) -> String {
        let len = self.minimum_length.max(12) as usize;
        let mut out: Vec<char> = Vec::with_capacity(len);
        out.extend(crate::clock::random_chars(rng, b"ABCDEFGHJKLMNPQRSTUVWXYZ", 1).chars());
        out.extend(crate::clock::random_chars(rng, b"abcdefghijkmnopqrstuvwxyz", 1).chars());
        out.extend(crate::clock::random_chars(rng, b"23456789", 1).chars());
        out.extend(crate::clock::random_chars(rng, b"!#%&*+-=?@^_", 1).chars());
        out.extend(
            crate::clock::random_chars(rng, b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", len - 4)
                .chars(),
        );
        // Shuffle so the classes do not sit at fixed positions.
        for i in (1..out.len()).rev() {
            let mut b = [0u8; 1];
            rng.fill(&mut b);
            out.swap(i, b[0] as usize % (i + 1));
        }
        out.into_iter().collect()
    }
}

/// argon2id parameters. Defaults are OWASP's: m = 19456 KiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Hashes and verifies passwords with argon2id.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHasher(argon2id)")
    }
}

impl PasswordHasher {
    pub fn new(settings: Argon2Settings) -> Result<Self, HashError> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(|e| HashError::Params(e.to_string()))?;
        Ok(Self { argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params) })
    }

    /// A PHC string (`$argon2id$v=19$m=…`) for `password` with a fresh salt.
    pub fn hash(&self, rng: &dyn Rng, password: &str) -> Result<String, HashError> {
        let salt = SaltString::encode_b64(&crate::clock::random_bytes::<16>(rng))
            .map_err(|e| HashError::Hash(e.to_string()))?;
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError::Hash(e.to_string()))
    }

    /// True when `password` matches the stored PHC string. Parameters are read from the
    /// string, so hashes made under older settings still verify.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        PasswordHash::new(phc)
            .map(|parsed| self.argon.verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn default_policy_is_cognitos() {
        let p = PasswordPolicy::default();
        assert!(p.check("Passw0rd!").is_ok());
        assert!(p.check("Pa0!").unwrap_err().contains("not long enough"));
        assert!(p.check("password0!").unwrap_err().contains("uppercase"));
        assert!(p.check("PASSWORD0!").unwrap_err().contains("lowercase"));
        assert!(p.check("Password!").unwrap_err().contains("numeric"));
        assert!(p.check("Password0").unwrap_err().contains("symbol"));
        assert!(p.check(" Passw0rd!").unwrap_err().contains("whitespace"));
        assert!(p.check("Passw0rd! ").unwrap_err().contains("whitespace"));
        assert!(p.check("Pass w0rd!").is_ok());
    }

    #[test]
    fn a_given_policy_turns_omitted_requirements_off() {
        let p: PasswordPolicy = serde_json::from_str(r#"{"MinimumLength": 10}"#).unwrap();
        assert_eq!((p.minimum_length, p.require_symbols, p.temporary_password_validity_days), (10, false, 7));
        assert!(p.check("abcdefghij").is_ok());
    }

    #[test]
    fn generated_passwords_satisfy_the_policy() {
        let p = PasswordPolicy { minimum_length: 20, ..Default::default() };
        for _ in 0..50 {
            let pw = p.generate(&SystemRng);
            assert!(p.check(&pw).is_ok(), "{pw}");
        }
    }

    #[test]
    fn hash_then_verify() {
        let h = PasswordHasher::new(Argon2Settings { memory_kib: 64, iterations: 1, parallelism: 1 }).unwrap();
        let phc = h.hash(&SystemRng, "Passw0rd!").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify("Passw0rd!", &phc));
        assert!(!h.verify("Passw0rd?", &phc));
        assert!(!h.verify("Passw0rd!", "not a hash"));
    }
}
