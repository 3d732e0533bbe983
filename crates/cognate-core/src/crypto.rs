//! Hashing, MACs, constant-time comparison and the master key that encrypts secrets at rest.

use aws_lc_rs::{aead, digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::clock::Rng;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be 32 bytes, base64-encoded (got {0} bytes)")]
    BadLength(usize),
    #[error("the master key is not valid base64")]
    BadEncoding,
    #[error("a secret could not be decrypted with this master key")]
    Decrypt,
}

/// The AES-256-GCM key that encrypts secrets the server must use again (admin SigV4
/// secrets, client secrets, later signing keys and TOTP seeds). Sealed values are
/// `base64(nonce || ciphertext || tag)` and are bound to an "associated data" label so a
/// value sealed for one column cannot be replayed into another.
pub struct MasterKey {
    key: aead::LessSafeKey,
    /// The root of keys derived for MACs ([`MasterKey::mac_key`]): never the AES key itself.
    mac_root: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        let unbound =
            aead::UnboundKey::new(&aead::AES_256_GCM, bytes).map_err(|_| MasterKeyError::BadLength(bytes.len()))?;
        Ok(Self { key: aead::LessSafeKey::new(unbound), mac_root: hmac_sha256(bytes, b"cognate master key: mac keys") })
    }

    /// A 32-byte key for HMACs, derived from the master key for one purpose (`label`):
    /// whoever holds the master key can compute and check such MACs, nobody else can.
    pub fn mac_key(&self, label: &str) -> [u8; 32] {
        hmac_sha256(&self.mac_root, label.as_bytes())
    }

    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| MasterKeyError::BadEncoding)?;
        Self::from_bytes(&bytes)
    }

    /// A fresh random key, base64-encoded (for the dev-mode key file).
    pub fn generate_base64(rng: &dyn Rng) -> String {
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes);
        STANDARD.encode(bytes)
    }

    pub fn seal(&self, rng: &dyn Rng, label: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; aead::NONCE_LEN];
        rng.fill(&mut nonce);
        let mut buf = plaintext.to_vec();
        // Sealing only fails for inputs larger than GCM allows (64 GiB); ours are tiny.
        #[allow(clippy::expect_used)]
        self.key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(label.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing of a small secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        STANDARD.encode(out)
    }

    pub fn open(&self, label: &str, sealed: &str) -> Result<Vec<u8>, MasterKeyError> {
        let raw = STANDARD.decode(sealed).map_err(|_| MasterKeyError::Decrypt)?;
        if raw.len() < aead::NONCE_LEN {
            return Err(MasterKeyError::Decrypt);
        }
        let (nonce, rest) = raw.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::Decrypt)?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, aead::Aad::from(label.as_bytes()), &mut buf)
            .map_err(|_| MasterKeyError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn seal_open_round_trip_and_label_binding() {
        let key = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
        let sealed = key.seal(&SystemRng, "admin", b"secret");
        assert_eq!(key.open("admin", &sealed).unwrap(), b"secret");
        assert!(key.open("client", &sealed).is_err());
        let other = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
        assert!(other.open("admin", &sealed).is_err());
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
