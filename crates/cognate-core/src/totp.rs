//! Time-based one-time passwords (RFC 6238) for software-token MFA, as authenticator apps
//! (Google Authenticator, 1Password, pyotp, …) compute them by default: HMAC-SHA1, a 30 s
//! time step counted from the Unix epoch, 6 digits.
//!
//! A secret is 20 random bytes (160 bits, RFC 4226's recommended length), shown to the user
//! in base32 (RFC 4648, upper case, no padding) as Cognito's `SecretCode` is. The server
//! keeps it sealed with the master key under [`SEED_LABEL`]. A code is accepted for the
//! current step and one step either side (clock drift); [`verify`] returns the step it
//! matched so the caller can accept each step at most once (replay protection).

use aws_lc_rs::hmac;

use crate::clock::{Rng, random_bytes};
use crate::crypto::constant_time_eq;

/// Seconds per time step (RFC 6238's default `X`).
pub const STEP_SECS: i64 = 30;
/// Digits in a code (what Cognito and authenticator apps use).
pub const DIGITS: u32 = 6;
/// Bytes in a new secret.
pub const SECRET_LEN: usize = 20;
/// Steps tolerated either side of the server's current step.
pub const DRIFT_STEPS: i64 = 1;
/// The master-key label TOTP secrets are sealed under, so a sealed seed cannot be replayed
/// into another column (a client secret, an admin secret) or the other way round.
pub const SEED_LABEL: &str = "totp-seed";

/// A new random secret of [`SECRET_LEN`] bytes.
pub fn generate_secret(rng: &dyn Rng) -> Vec<u8> {
    random_bytes::<SECRET_LEN>(rng).to_vec()
}

/// The time step that `unix_secs` falls in.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// HOTP (RFC 4226): the `digits`-digit code of `secret` for `counter`, zero-padded.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // Dynamic truncation: the low nibble of the last byte picks four bytes; SHA-1's 20-byte
    // tag always has them (offset <= 15).
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let bin = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    let modulus = 10u64.pow(digits);
    format!("{:0width$}", u64::from(bin) % modulus, width = digits as usize)
}

/// The [`DIGITS`]-digit code of `secret` for time step `step`.
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    // Steps before the epoch do not occur; clamp rather than wrap.
    hotp(secret, u64::try_from(step).unwrap_or(0), DIGITS)
}

/// Checks `code` against the steps around `unix_secs` (±[`DRIFT_STEPS`]) and returns the
/// step it matched, or `None`. Every candidate is compared in constant time, and all of
/// them are computed whatever matches, so timing says nothing about which step (if any)
/// was right. Anything but exactly [`DIGITS`] ASCII digits never matches.
pub fn verify(secret: &[u8], code: &str, unix_secs: i64) -> Option<i64> {
    let well_formed = code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit());
    let now = step_at(unix_secs);
    let mut matched = None;
    for step in now - DRIFT_STEPS..=now + DRIFT_STEPS {
        let expected = code_at_step(secret, step);
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) && well_formed && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// The `otpauth://totp/` URI an authenticator app scans (Google Authenticator's key URI
/// format): `issuer:account`, the base32 secret, and the issuer again as a parameter.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let esc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period=30",
        esc(issuer),
        esc(account),
        base32_encode(secret),
        esc(issuer)
    )
}

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 (RFC 4648 section 6, upper case) without `=` padding: the form authenticator
/// apps and `otpauth://` URIs take a secret in.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32_ALPHABET[((buffer >> bits) & 0x1f) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32_ALPHABET[((buffer << (5 - bits)) & 0x1f) as usize]));
    }
    out
}

/// Decodes base32 as [`base32_encode`] writes it (case-insensitive, padding and spaces
/// ignored); `None` for any other character or leftover bits that are not zero.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let value = BASE32_ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    (buffer == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    /// RFC 6238 appendix B's SHA-1 key ("12345678901234567890").
    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_vectors() {
        // (time, 8-digit TOTP) from RFC 6238 appendix B, SHA-1 column.
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected) in vectors {
            let step = u64::try_from(step_at(time)).unwrap();
            assert_eq!(hotp(RFC_KEY, step, 8), expected, "T = {time}");
            // Six digits are the low six of the eight (the same value mod 10^6).
            assert_eq!(code_at_step(RFC_KEY, step_at(time)), expected[2..], "T = {time}");
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), *code, "counter {counter}");
        }
    }

    #[test]
    fn verify_tolerates_one_step_of_drift_and_names_the_step() {
        let now = 1_234_567_890;
        let step = step_at(now);
        assert_eq!(verify(RFC_KEY, &code_at_step(RFC_KEY, step), now), Some(step));
        assert_eq!(verify(RFC_KEY, &code_at_step(RFC_KEY, step - 1), now), Some(step - 1));
        assert_eq!(verify(RFC_KEY, &code_at_step(RFC_KEY, step + 1), now), Some(step + 1));
        assert_eq!(verify(RFC_KEY, &code_at_step(RFC_KEY, step - 2), now), None);
        assert_eq!(verify(RFC_KEY, &code_at_step(RFC_KEY, step + 2), now), None);
        // The step boundary: the last second of one step and the first of the next.
        let boundary = (step + 1) * STEP_SECS;
        assert_eq!(verify(RFC_KEY, &code_at_step(RFC_KEY, step - 1), boundary - 1), Some(step - 1));
        assert_eq!(verify(RFC_KEY, &code_at_step(RFC_KEY, step - 1), boundary), None);
    }

    #[test]
    fn verify_refuses_malformed_and_other_secrets_codes() {
        let now = 1_111_111_111;
        let code = code_at_step(RFC_KEY, step_at(now));
        for bad in ["", "12345", "1234567", " 050471", "05047a", &format!("{code} "), "٠١٢٣٤٥"] {
            assert_eq!(verify(RFC_KEY, bad, now), None, "{bad:?}");
        }
        let other = generate_secret(&SystemRng);
        assert_eq!(other.len(), SECRET_LEN);
        assert_ne!(other, generate_secret(&SystemRng));
        // One chance in ~333,000 that a random secret shares the code; a fixed one does not.
        assert_eq!(verify(b"another-secret-value", &code, now), None);
    }

    #[test]
    fn base32_matches_rfc4648_vectors_without_padding() {
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(base32_encode(RFC_KEY), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(base32_decode("MZXW1").is_none(), "1 is not in the alphabet");
        assert!(base32_decode("MZ").is_none() && base32_decode("MY").is_some(), "non-zero leftover bits");
        let secret = generate_secret(&SystemRng);
        let text = base32_encode(&secret);
        assert_eq!(text.len(), 32);
        assert_eq!(base32_decode(&text).unwrap(), secret);
    }
}
