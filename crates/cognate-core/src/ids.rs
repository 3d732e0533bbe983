//! Identifiers shaped like Cognito's.

use crate::clock::{Rng, random_bytes, random_chars};
use std::fmt;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A user pool id: `{region}_{9 alphanumerics}`, e.g. `local_a1B2c3D4e`.
    PoolId
);
string_id!(
    /// An app client id: 26 lowercase alphanumerics.
    ClientId
);

impl PoolId {
    pub fn generate(region: &str, rng: &dyn Rng) -> Self {
        Self(format!("{region}_{}", random_chars(rng, ALNUM, 9)))
    }

    /// Accepts the shape Cognito accepts (`[\w-]+_[0-9a-zA-Z]+`, at most 55 chars).
    pub fn parse(s: &str) -> Option<Self> {
        let (region, suffix) = s.split_once('_')?;
        let region_ok = !region.is_empty() && region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let suffix_ok = !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_alphanumeric());
        (s.len() <= 55 && region_ok && suffix_ok).then(|| Self(s.to_owned()))
    }
}

impl ClientId {
    pub fn generate(rng: &dyn Rng) -> Self {
        Self(random_chars(rng, LOWER_ALNUM, 26))
    }

    /// Accepts `[\w+]+`, 1 to 128 characters, as Cognito does.
    pub fn parse(s: &str) -> Option<Self> {
        let ok =
            !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'+');
        ok.then(|| Self(s.to_owned()))
    }
}

/// A client secret: 51 lowercase alphanumerics, like Cognito's.
pub fn generate_client_secret(rng: &dyn Rng) -> String {
    random_chars(rng, LOWER_ALNUM, 51)
}

/// A user's immutable `sub`: a random (v4) UUID.
pub fn generate_sub(rng: &dyn Rng) -> String {
    uuid::Builder::from_random_bytes(random_bytes::<16>(rng)).into_uuid().hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn generated_ids_have_cognito_shapes() {
        let pool = PoolId::generate("local", &SystemRng);
        assert!(pool.as_str().starts_with("local_"));
        assert_eq!(pool.as_str().len(), "local_".len() + 9);
        assert!(PoolId::parse(pool.as_str()).is_some());
        let client = ClientId::generate(&SystemRng);
        assert_eq!(client.as_str().len(), 26);
        assert!(client.as_str().bytes().all(|b| LOWER_ALNUM.contains(&b)));
        let sub = generate_sub(&SystemRng);
        assert_eq!(uuid::Uuid::parse_str(&sub).map(|u| u.get_version_num()).ok(), Some(4));
    }

    #[test]
    fn pool_id_parse_rejects_bad_shapes() {
        for bad in ["", "local", "_abc", "local_", "local_ab$", "lo cal_abc"] {
            assert!(PoolId::parse(bad).is_none(), "{bad}");
        }
        assert!(PoolId::parse("us-east-1_AbC123").is_some());
    }
}
