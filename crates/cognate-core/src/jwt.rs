//! RS256 JSON Web Tokens: Cognate's signing keys, compact-serialised JWS issuance, and
//! verification of Cognate's own tokens (for its endpoints that take an access token).
//!
//! Issuance is deliberately small: a JWS is `b64(header).b64(payload).b64(sig)`, and the
//! parsed RSA key stays in memory so each token costs one RSA signature and nothing else.
//! Verification accepts only RS256 and only keys of the pool the token claims to come
//! from; it never follows `jku`/`x5u`/`jwk` headers.

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::clock::{Rng, random_chars};
use crate::crypto::MasterKey;
use crate::ids::PoolId;

/// The master-key label private signing keys are sealed under.
pub const KEY_LABEL: &str = "signing-key";

/// A pool's signing key as stored: the private key sealed, the public half in the clear.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    pub pool_id: PoolId,
    pub kid: String,
    /// PKCS#8 DER of the private key, sealed with the master key.
    pub private_sealed: String,
    /// Public modulus and exponent, base64url (JWK `n` and `e`).
    pub n: String,
    pub e: String,
    pub created_at: i64,
    /// Set when the key leaves the JWKS; tokens it signed stop verifying.
    pub retired_at: Option<i64>,
}

impl SigningKeyRecord {
    /// The key's JWK as published in the pool's JWKS.
    pub fn jwk(&self) -> Value {
        json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": self.n, "e": self.e})
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("RSA key generation failed")]
    Generate,
    #[error("a stored signing key could not be opened: {0}")]
    Open(String),
    #[error("signing failed")]
    Sign,
}

/// A parsed private key ready to sign.
pub struct Signer {
    pub kid: String,
    pair: KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.kid)
    }
}

/// Makes a new RSA-2048 key for `pool`, returning the record to store and its signer.
pub fn generate_key(
    pool: &PoolId,
    rng: &dyn Rng,
    master: &MasterKey,
    now: i64,
) -> Result<(SigningKeyRecord, Signer), KeyError> {
    use aws_lc_rs::encoding::AsDer as _;
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
    let der = pair.as_der().map_err(|_| KeyError::Generate)?;
    let public = pair.public_key();
    let kid = random_chars(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 24);
    let record = SigningKeyRecord {
        pool_id: pool.clone(),
        kid: kid.clone(),
        private_sealed: master.seal(rng, KEY_LABEL, der.as_ref()),
        n: B64.encode(public.modulus().big_endian_without_leading_zero()),
        e: B64.encode(public.exponent().big_endian_without_leading_zero()),
        created_at: now,
        retired_at: None,
    };
    Ok((record, Signer { kid, pair }))
}

impl Signer {
    pub fn open(record: &SigningKeyRecord, master: &MasterKey) -> Result<Self, KeyError> {
        let der = master.open(KEY_LABEL, &record.private_sealed).map_err(|e| KeyError::Open(e.to_string()))?;
        let pair = KeyPair::from_pkcs8(&der).map_err(|e| KeyError::Open(e.to_string()))?;
        Ok(Self { kid: record.kid.clone(), pair })
    }

    /// A compact JWS of `claims` with header `{"alg":"RS256","kid":…}`.
    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"kid": self.kid, "alg": "RS256"});
        let mut out = B64.encode(header.to_string());
        out.push('.');
        out.push_str(&B64.encode(claims.to_string()));
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), out.as_bytes(), &mut sig)
            .map_err(|_| KeyError::Sign)?;
        out.push('.');
        out.push_str(&B64.encode(sig));
        Ok(out)
    }
}

/// Why a token was refused. Surfaces map every variant to one generic message; the
/// variant is for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported algorithm")]
    Algorithm,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("wrong token type")]
    WrongUse,
    #[error("wrong issuer")]
    Issuer,
}

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The unverified parts of a compact JWS. Only used to find the pool and key; nothing in
/// it is trusted until [`verify`] succeeds.
pub struct Unverified<'a> {
    pub header: Value,
    pub claims: Value,
    signing_input: &'a str,
    signature: Vec<u8>,
}

pub fn decode(token: &str) -> Result<Unverified<'_>, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header: Value = serde_json::from_slice(&B64.decode(h).map_err(|_| TokenError::Malformed)?)
        .map_err(|_| TokenError::Malformed)?;
    let claims: Value = serde_json::from_slice(&B64.decode(p).map_err(|_| TokenError::Malformed)?)
        .map_err(|_| TokenError::Malformed)?;
    if !header.is_object() || !claims.is_object() {
        return Err(TokenError::Malformed);
    }
    let signature = B64.decode(s).map_err(|_| TokenError::Malformed)?;
    Ok(Unverified { header, claims, signing_input: &token[..h.len() + 1 + p.len()], signature })
}

impl Unverified<'_> {
    /// Checks the RS256 signature against the pool's published keys and the time window;
    /// returns the claims.
    pub fn verify(self, keys: &[SigningKeyRecord], now_secs: i64) -> Result<Value, TokenError> {
        if self.header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(TokenError::Algorithm);
        }
        let kid = self.header.get("kid").and_then(Value::as_str).ok_or(TokenError::UnknownKey)?;
        let key = keys.iter().find(|k| k.kid == kid && k.retired_at.is_none()).ok_or(TokenError::UnknownKey)?;
        let n = B64.decode(&key.n).map_err(|_| TokenError::UnknownKey)?;
        let e = B64.decode(&key.e).map_err(|_| TokenError::UnknownKey)?;
        RsaPublicKeyComponents { n: &n, e: &e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| TokenError::Signature)?;
        let exp = self.claims.get("exp").and_then(Value::as_i64).ok_or(TokenError::Malformed)?;
        if now_secs >= exp {
            return Err(TokenError::Expired);
        }
        Ok(self.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn signs_and_verifies_and_refuses_tampering() {
        let master = MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap();
        let pool = PoolId::parse("local_abc").unwrap();
        let (record, signer) = generate_key(&pool, &SystemRng, &master, 1).unwrap();
        let reopened = Signer::open(&record, &master).unwrap();
        let token = reopened.sign(&json!({"sub": "x", "exp": 200})).unwrap();
        let claims = decode(&token).unwrap().verify(std::slice::from_ref(&record), 100).unwrap();
        assert_eq!(claims["sub"], "x");
        assert_eq!(decode(&token).unwrap().verify(std::slice::from_ref(&record), 200), Err(TokenError::Expired));

        let (h, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = format!("{h}.{}.{sig}", B64.encode(r#"{"sub":"y","exp":200}"#));
        assert_eq!(decode(&forged).unwrap().verify(std::slice::from_ref(&record), 100), Err(TokenError::Signature));
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), B64.encode(r#"{"exp":200}"#));
        assert_eq!(decode(&none).unwrap().verify(std::slice::from_ref(&record), 100), Err(TokenError::Algorithm));
        let mut retired = record.clone();
        retired.retired_at = Some(5);
        assert_eq!(decode(&token).unwrap().verify(&[retired], 100), Err(TokenError::UnknownKey));
        assert!(decode("a.b").is_err());
        let _ = signer;
    }
}
