//! The shape of a Cognate API key, checked before anything else so a mistyped or made-up
//! key costs no network call: `cog_` + 40 base62 characters + 6 base62 characters of
//! checksum. The checksum is CRC-32/ISO-HDLC of the first 44 characters (`cog_` + body),
//! written as 6 base62 digits (`0-9A-Za-z`), most significant first, zero-padded.

use crc::{CRC_32_ISO_HDLC, Crc, Table};

/// What every key starts with.
const PREFIX: &[u8] = b"cog_";
/// Random characters after the prefix.
const BODY_LEN: usize = 40;
/// Checksum characters at the end.
const CHECK_LEN: usize = 6;
/// A key's full length.
const KEY_LEN: usize = PREFIX.len() + BODY_LEN + CHECK_LEN;

/// Slicing-by-16 tables: the checksum is on the hot path of every request.
const CRC32: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISO_HDLC);

/// SHA-256 of a key: the only form in which the guard remembers one.
pub(crate) type Digest = [u8; 32];

/// The value of a base62 digit (`0-9A-Za-z`).
fn base62_digit(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'A'..=b'Z' => Some(u64::from(b - b'A') + 10),
        b'a'..=b'z' => Some(u64::from(b - b'a') + 36),
        _ => None,
    }
}

/// Whether `key` has the shape and checksum of a Cognate API key.
pub(crate) fn well_formed(key: &str) -> bool {
    let bytes = key.as_bytes();
    if bytes.len() != KEY_LEN || !bytes.starts_with(PREFIX) {
        return false;
    }
    let (head, check) = bytes.split_at(KEY_LEN - CHECK_LEN);
    if !head[PREFIX.len()..].iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    // Decoding the six digits (62^6 > 2^32, so in a u64) compares without building a string;
    // zero-padding makes the encoding of a CRC unique, so equal numbers mean equal text.
    let mut written = 0u64;
    for &b in check {
        let Some(digit) = base62_digit(b) else { return false };
        written = written * 62 + digit;
    }
    written == u64::from(CRC32.checksum(head))
}

pub(crate) fn digest(key: &str) -> Digest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently (Python's `zlib.crc32` and the base62 rule of the contract).
    const GOOD: &str = "cog_0123456789abcdefghijABCDEFGHIJklmnopqrst0r8wC2";

    #[test]
    fn accepts_a_key_with_the_right_checksum() {
        assert!(well_formed(GOOD));
    }

    #[test]
    fn refuses_every_other_shape() {
        let mut flipped_body = GOOD.to_owned().into_bytes();
        flipped_body[10] = b'X';
        let mut flipped_check = GOOD.to_owned().into_bytes();
        flipped_check[49] = b'3';
        let bad = [
            String::new(),
            "cog_".to_owned(),
            GOOD.replacen("cog_", "cog-", 1),
            GOOD.replacen("cog_", "COG_", 1),
            format!("{GOOD}0"),
            GOOD[..49].to_owned(),
            String::from_utf8(flipped_body).unwrap_or_default(),
            String::from_utf8(flipped_check).unwrap_or_default(),
            GOOD.replacen('5', "-", 1),
            GOOD.replacen("C2", "c2", 1),
            // Same length, every checksum digit out of the alphabet.
            format!("{}!!!!!!", &GOOD[..44]),
        ];
        for key in bad {
            assert!(!well_formed(&key), "{key:?}");
        }
    }
}
