//! Platform admin credentials: an AWS-style access key id and secret that sign Cognito API
//! calls (SigV4) and authenticate the `/v1` API.

use crate::clock::{Rng, random_chars};

#[derive(Debug, Clone, PartialEq)]
pub struct AdminCredential {
    pub access_key_id: String,
    /// The secret access key, sealed with the master key (SigV4 verification needs it).
    pub secret_sealed: String,
    pub description: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The master-key label admin secrets are sealed under.
pub const SECRET_LABEL: &str = "admin-credential";

/// A new access key id (`CGN` + 17 upper-case alphanumerics, 20 in all, like AWS's) and a
/// 40-character secret.
pub fn generate_pair(rng: &dyn Rng) -> (String, String) {
    let id = format!("CGN{}", random_chars(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17));
    let secret = random_chars(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40);
    (id, secret)
}
