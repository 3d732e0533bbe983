//! Secure Remote Password (SRP-6a) exactly as Amazon Cognito speaks it, so Amplify,
//! amazon-cognito-identity-js, pycognito and every other Cognito SRP client sign in
//! unchanged (`USER_SRP_AUTH` then `PASSWORD_VERIFIER`).
//!
//! Cognito's dialect, as its clients implement it:
//! - the 3072-bit group of RFC 5054 (appendix A), g = 2, SHA-256;
//! - every number is hashed as its *padded* big-endian bytes ([`pad`]): the shortest
//!   encoding, with a zero byte in front when the top bit is set (the clients' `padHex`);
//! - k = H(pad(N) ‖ pad(g)) = H(00 ‖ N ‖ 02);
//! - x = H(pad(salt) ‖ H(pool name ‖ user id ‖ ":" ‖ password)), where the pool name is the
//!   part of the pool id after `_` and the user id is `USER_ID_FOR_SRP`;
//! - u = H(pad(A) ‖ pad(B)); the shared secret S = (A·v^u)^b mod N on the server;
//! - the key is 16 bytes of HKDF-SHA256 with ikm = pad(S), salt = pad(u) and info
//!   "Caldera Derived Key";
//! - the client proves it holds the key with HMAC-SHA256(key, pool name ‖ user id ‖
//!   secret block ‖ timestamp), the timestamp written `EEE MMM d HH:mm:ss UTC yyyy`.
//!
//! The server keeps a verifier v = g^x per user (sealed at rest by the caller), never the
//! password. Numbers travel as lowercase hexadecimal without leading zeros (the clients
//! parse them as big integers and pad them themselves).
//!
//! Big-number arithmetic is `num-bigint` (rust-num): its exponentiation is not constant
//! time. The exponents here are the server's ephemeral `b` (fresh per attempt) and the
//! public `u`; the secret base is the verifier, which an observer never sees.

use std::sync::OnceLock;

pub use num_bigint::BigUint;
use serde::{Deserialize, Serialize};

use crate::clock::{Rng, random_bytes};
use crate::crypto::{constant_time_eq, hmac_sha256, sha256};

/// RFC 5054's 3072-bit prime.
const N_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1\
    29024E088A67CC74020BBEA63B139B22514A08798E3404DD\
    EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245\
    E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
    EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D\
    C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F\
    83655D23DCA3AD961C62F356208552BB9ED529077096966D\
    670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
    E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9\
    DE2BCBF6955817183995497CEA956AE515D2261898FA0510\
    15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64\
    ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7\
    ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6B\
    F12FFA06D98A0864D87602733EC86A64521F2B18177B200C\
    BBE117577A615D6C770988C0BAD946E208E24FA074E5AB31\
    43DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

/// The HKDF info string of Cognito's key derivation.
const INFO: &[u8] = b"Caldera Derived Key";

/// The longest hexadecimal number accepted from a client (a 3072-bit value is 768 digits;
/// leading zeros allowed up to twice that).
const MAX_HEX: usize = 1536;

/// How far a client's TIMESTAMP may be from the server's clock, either way (seconds).
pub const TIMESTAMP_SKEW_SECS: i64 = 300;

struct Group {
    n: BigUint,
    g: BigUint,
    k: BigUint,
}

fn group() -> &'static Group {
    static GROUP: OnceLock<Group> = OnceLock::new();
    GROUP.get_or_init(|| {
        let n = BigUint::parse_bytes(N_HEX.as_bytes(), 16).unwrap_or_default();
        let g = BigUint::from(2u8);
        let k = BigUint::from_bytes_be(&hash(&[&pad(&n), &pad(&g)]));
        Group { n, g, k }
    })
}

/// A number as the clients hash it: big-endian, shortest, with a zero byte in front when
/// the top bit is set.
pub fn pad(n: &BigUint) -> Vec<u8> {
    let bytes = n.to_bytes_be();
    if bytes[0] & 0x80 != 0 {
        let mut padded = Vec::with_capacity(bytes.len() + 1);
        padded.push(0);
        padded.extend_from_slice(&bytes);
        padded
    } else {
        bytes
    }
}

fn hash(parts: &[&[u8]]) -> [u8; 32] {
    sha256(&parts.concat())
}

/// A number as SRP messages carry it: lowercase hexadecimal, no leading zeros.
pub fn to_hex(n: &BigUint) -> String {
    n.to_str_radix(16)
}

/// Parses a hexadecimal number from a client; `None` when it is empty, too long or not hex.
pub fn from_hex(text: &str) -> Option<BigUint> {
    if text.is_empty() || text.len() > MAX_HEX || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    BigUint::parse_bytes(text.as_bytes(), 16)
}

/// x = H(pad(salt) ‖ H(pool name ‖ user id ‖ ":" ‖ password)).
fn private_key(pool_name: &str, user_id: &str, password: &str, salt: &BigUint) -> BigUint {
    let inner = hash(&[pool_name.as_bytes(), user_id.as_bytes(), b":", password.as_bytes()]);
    BigUint::from_bytes_be(&hash(&[&pad(salt), &inner]))
}

/// The part of a pool id (`region_name`) that Cognito's SRP hashes.
pub fn pool_name(pool_id: &str) -> &str {
    pool_id.split_once('_').map_or(pool_id, |(_, name)| name)
}

/// A user's SRP verifier: the salt and v = g^x, both as hexadecimal. Whoever holds it can
/// test password guesses quickly (one hash and one exponentiation each), so callers seal it
/// with the master key before storing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifier {
    pub salt: String,
    pub v: String,
}

impl Verifier {
    /// The verifier of `password` for `user_id` (`USER_ID_FOR_SRP`) in pool `pool_id`,
    /// with a fresh 16-byte salt.
    pub fn new(rng: &dyn Rng, pool_id: &str, user_id: &str, password: &str) -> Self {
        // A salt with a zero top byte would travel shorter than 16 bytes; any value works,
        // but keep it at full length so every verifier looks alike.
        let mut salt_bytes: [u8; 16] = random_bytes(rng);
        salt_bytes[0] |= 0x01;
        let salt = BigUint::from_bytes_be(&salt_bytes);
        Self::with_salt(&salt, pool_id, user_id, password)
    }

    /// The stand-in for a user that does not exist (PreventUserExistenceErrors), derived
    /// from two secret seeds so a name always shows the same salt and its B is distributed
    /// as a real user's (v = g^x for an x nobody knows: no answer can match it, and callers
    /// refuse every answer to a decoy anyway).
    pub fn decoy(salt_seed: &[u8; 32], x_seed: &[u8; 32]) -> Self {
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&salt_seed[..16]);
        salt[0] |= 0x01;
        let grp = group();
        let x = BigUint::from_bytes_be(x_seed);
        Self { salt: to_hex(&BigUint::from_bytes_be(&salt)), v: to_hex(&grp.g.modpow(&x, &grp.n)) }
    }

    /// A device's verifier as ConfirmDevice's `DeviceSecretVerifierConfig` gives it: the
    /// salt and v as big-endian bytes. `None` when either is empty or v is unusable.
    pub fn from_bytes(salt: &[u8], v: &[u8]) -> Option<Self> {
        if salt.is_empty() || salt.len() > 64 || v.is_empty() || v.len() > 385 {
            return None;
        }
        let (salt, v) = (BigUint::from_bytes_be(salt), BigUint::from_bytes_be(v));
        // 1 < v < N − 1: a value outside the group, or one whose powers are ±1, is no
        // verifier of any password.
        let n = &group().n;
        if salt == BigUint::ZERO || v <= BigUint::from(1u8) || v >= n - 1u8 {
            return None;
        }
        Some(Self { salt: to_hex(&salt), v: to_hex(&v) })
    }

    fn with_salt(salt: &BigUint, pool_id: &str, user_id: &str, password: &str) -> Self {
        let grp = group();
        let x = private_key(pool_name(pool_id), user_id, password, salt);
        Self { salt: to_hex(salt), v: to_hex(&grp.g.modpow(&x, &grp.n)) }
    }

    /// v, when it is a usable verifier: v mod N of 0 or 1 would make the shared secret
    /// predictable, so such a verifier is refused wherever it is used.
    fn v(&self) -> Option<BigUint> {
        let v = from_hex(&self.v)? % &group().n;
        (v > BigUint::from(1u8)).then_some(v)
    }
}

/// The server's half of one SRP exchange: its secret `b` and public `B`, kept (sealed)
/// between the challenge and the answer.
#[derive(Clone)]
pub struct ServerHello {
    pub b: BigUint,
    pub big_b: BigUint,
}

impl std::fmt::Debug for ServerHello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHello").field("b", &"[secret]").field("big_b", &to_hex(&self.big_b)).finish()
    }
}

/// Why an SRP exchange cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrpError {
    /// SRP_A is not a hexadecimal number, or A mod N = 0 (a client that would make the
    /// shared secret predictable), or A ≥ N (no client sends that).
    #[error("SRP_A is not a valid SRP value")]
    BadA,
    /// The stored verifier cannot be read.
    #[error("the SRP verifier is unreadable")]
    BadVerifier,
    /// The client's signature does not match: a wrong password.
    #[error("the password claim does not match")]
    Mismatch,
}

/// Checks a client's public value A (hexadecimal).
pub fn client_public(text: &str) -> Result<BigUint, SrpError> {
    let a = from_hex(text).ok_or(SrpError::BadA)?;
    if a == BigUint::ZERO || a >= group().n {
        return Err(SrpError::BadA);
    }
    Ok(a)
}

/// The server's reply to A: a fresh secret b (32 random bytes) and B = (k·v + g^b) mod N.
pub fn server_hello(rng: &dyn Rng, verifier: &Verifier) -> Result<ServerHello, SrpError> {
    let b = BigUint::from_bytes_be(&random_bytes::<32>(rng));
    server_hello_with(b, verifier)
}

fn server_hello_with(b: BigUint, verifier: &Verifier) -> Result<ServerHello, SrpError> {
    let grp = group();
    let v = verifier.v().ok_or(SrpError::BadVerifier)?;
    let big_b = (&grp.k * &v + grp.g.modpow(&b, &grp.n)) % &grp.n;
    Ok(ServerHello { b, big_b })
}

/// u = H(pad(A) ‖ pad(B)).
fn scrambler(a: &BigUint, b: &BigUint) -> BigUint {
    BigUint::from_bytes_be(&hash(&[&pad(a), &pad(b)]))
}

/// Cognito's key derivation: 16 bytes of HKDF-SHA256(ikm = pad(S), salt = pad(u)).
fn derive_key(s: &BigUint, u: &BigUint) -> [u8; 16] {
    let prk = hmac_sha256(&pad(u), &pad(s));
    let okm = hmac_sha256(&prk, &[INFO, &[1u8]].concat());
    let mut key = [0u8; 16];
    key.copy_from_slice(&okm[..16]);
    key
}

/// The session key on the server: S = (A·v^u)^b mod N, then [`derive_key`].
pub fn server_key(a: &BigUint, hello: &ServerHello, verifier: &Verifier) -> Result<[u8; 16], SrpError> {
    let grp = group();
    let v = verifier.v().ok_or(SrpError::BadVerifier)?;
    if (a % &grp.n) == BigUint::ZERO {
        return Err(SrpError::BadA);
    }
    let u = scrambler(a, &hello.big_b);
    let s = ((a * v.modpow(&u, &grp.n)) % &grp.n).modpow(&hello.b, &grp.n);
    Ok(derive_key(&s, &u))
}

/// The signature a client sends as PASSWORD_CLAIM_SIGNATURE (before Base64):
/// HMAC-SHA256(key, pool name ‖ user id ‖ secret block ‖ timestamp).
pub fn claim(key: &[u8; 16], pool_id: &str, user_id: &str, secret_block: &[u8], timestamp: &str) -> [u8; 32] {
    let message = [pool_name(pool_id).as_bytes(), user_id.as_bytes(), secret_block, timestamp.as_bytes()].concat();
    hmac_sha256(key, &message)
}

/// The signature of a device's claim (DEVICE_PASSWORD_VERIFIER): as [`claim`], with the
/// device's group key and key in place of the pool name and user id.
pub fn device_claim(
    key: &[u8; 16],
    group_key: &str,
    device_key: &str,
    secret_block: &[u8],
    timestamp: &str,
) -> [u8; 32] {
    let message = [group_key.as_bytes(), device_key.as_bytes(), secret_block, timestamp.as_bytes()].concat();
    hmac_sha256(key, &message)
}

/// Checks a client's claim signature in constant time.
pub fn check_claim(expected: &[u8; 32], presented: &[u8]) -> Result<(), SrpError> {
    if constant_time_eq(expected, presented) { Ok(()) } else { Err(SrpError::Mismatch) }
}

/// Reads a claim TIMESTAMP (`Tue Jan 5 07:08:09 UTC 2027`; the day may also be written
/// with a leading zero) as seconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let parts: Vec<&str> = text.split(' ').collect();
    let [weekday, month, day, clock, "UTC", year] = parts[..] else { return None };
    let weekday = WEEKDAYS.iter().position(|w| *w == weekday)?;
    let month = u8::try_from(MONTHS.iter().position(|m| *m == month)? + 1).ok()?;
    let number = |s: &str, max_len: usize| -> Option<u32> {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let day = u8::try_from(number(day, 2)?).ok()?;
    let year = i32::try_from(number(year, 4)?).ok()?;
    let [h, m, s] = clock.split(':').collect::<Vec<_>>()[..] else { return None };
    // Hours, minutes and seconds always have two digits.
    if [h, m, s].iter().any(|f| f.len() != 2) {
        return None;
    }
    let (h, m, s) = (number(h, 2)?, number(m, 2)?, number(s, 2)?);
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    if date.weekday().number_days_from_monday() as usize != weekday {
        return None;
    }
    let at = date.with_hms(u8::try_from(h).ok()?, u8::try_from(m).ok()?, u8::try_from(s).ok()?).ok()?;
    Some(at.assume_utc().unix_timestamp())
}

/// Writes `at` (seconds since the epoch) as a claim TIMESTAMP, as the clients do.
pub fn format_timestamp(at: i64) -> Option<String> {
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = time::OffsetDateTime::from_unix_timestamp(at).ok()?;
    Some(format!(
        "{} {} {} {:02}:{:02}:{:02} UTC {}",
        WEEKDAYS[t.weekday().number_days_from_monday() as usize],
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    ))
}

/// The client's side of the exchange, as Cognito's clients compute it. Used by Cognate's
/// own tests and benchmarks to sign in over SRP; no server path calls it.
pub mod client {
    use super::*;

    /// A client's ephemeral secret `a` and public `A`.
    pub struct ClientHello {
        a: BigUint,
        pub big_a: BigUint,
    }

    /// A fresh client secret (32 random bytes) and A = g^a mod N.
    pub fn hello(rng: &dyn Rng) -> ClientHello {
        let grp = group();
        let a = BigUint::from_bytes_be(&random_bytes::<32>(rng));
        ClientHello { big_a: grp.g.modpow(&a, &grp.n), a }
    }

    /// The session key from the server's SALT and SRP_B (hexadecimal) and the password:
    /// S = (B − k·g^x)^(a + u·x) mod N. `None` when the server's values are unusable.
    pub fn key(
        hello: &ClientHello,
        pool_id: &str,
        user_id: &str,
        password: &str,
        salt: &str,
        big_b: &str,
    ) -> Option<[u8; 16]> {
        let grp = group();
        let (salt, big_b) = (from_hex(salt)?, from_hex(big_b)?);
        if (&big_b % &grp.n) == BigUint::ZERO {
            return None;
        }
        let u = scrambler(&hello.big_a, &big_b);
        if u == BigUint::ZERO {
            return None;
        }
        let x = private_key(pool_name(pool_id), user_id, password, &salt);
        let kgx = (&grp.k * grp.g.modpow(&x, &grp.n)) % &grp.n;
        // B − k·g^x, kept positive modulo N.
        let base = (&big_b % &grp.n + &grp.n - kgx) % &grp.n;
        let s = base.modpow(&(&hello.a + &u * &x), &grp.n);
        Some(derive_key(&s, &u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u8);
    impl Rng for Fixed {
        fn fill(&self, dest: &mut [u8]) {
            for (i, b) in dest.iter_mut().enumerate() {
                *b = self.0.wrapping_add(i as u8).wrapping_mul(31);
            }
        }
    }

    #[test]
    fn k_is_the_hash_of_padded_n_and_g() {
        // Every Cognito client computes k as H("00" ‖ N ‖ "02") from hex text.
        let text = format!("00{N_HEX}02");
        let bytes = hex::decode(text).unwrap();
        assert_eq!(group().k, BigUint::from_bytes_be(&sha256(&bytes)));
    }

    #[test]
    fn padding_matches_the_clients_pad_hex() {
        assert_eq!(pad(&BigUint::from(0x7fu8)), vec![0x7f]);
        assert_eq!(pad(&BigUint::from(0x80u8)), vec![0x00, 0x80]);
        assert_eq!(pad(&BigUint::from(0x0abcu16)), vec![0x0a, 0xbc]);
        assert_eq!(pad(&BigUint::ZERO), vec![0x00]);
    }

    #[test]
    fn a_client_with_the_password_derives_the_servers_key() {
        let pool = "us-east-1_AbCdEf123";
        let verifier = Verifier::new(&Fixed(1), pool, "alice", "Corr3ct horse!");
        let client = client::hello(&Fixed(2));
        let hello = server_hello(&Fixed(3), &verifier).unwrap();
        let server = server_key(&client.big_a, &hello, &verifier).unwrap();
        let ok = client::key(&client, pool, "alice", "Corr3ct horse!", &verifier.salt, &to_hex(&hello.big_b)).unwrap();
        assert_eq!(ok, server);
        let wrong = client::key(&client, pool, "alice", "wrong", &verifier.salt, &to_hex(&hello.big_b)).unwrap();
        assert_ne!(wrong, server);
        // The user id and the pool name are part of x.
        let other_user = client::key(&client, pool, "bob", "Corr3ct horse!", &verifier.salt, &to_hex(&hello.big_b));
        assert_ne!(other_user.unwrap(), server);
        let other_pool =
            client::key(&client, "us-east-1_Other", "alice", "Corr3ct horse!", &verifier.salt, &to_hex(&hello.big_b));
        assert_ne!(other_pool.unwrap(), server);
    }

    #[test]
    fn degenerate_verifiers_are_refused_and_decoys_look_real() {
        let zero = Verifier { salt: "1".into(), v: "0".into() };
        let one = Verifier { salt: "1".into(), v: to_hex(&(&group().n + 1u8)) };
        for v in [&zero, &one] {
            assert_eq!(server_hello(&Fixed(1), v).unwrap_err(), SrpError::BadVerifier);
            let hello = ServerHello { b: BigUint::from(7u8), big_b: BigUint::from(9u8) };
            assert_eq!(server_key(&BigUint::from(3u8), &hello, v).unwrap_err(), SrpError::BadVerifier);
        }
        // A decoy is stable for its seeds, and its B is a quadratic residue about half the
        // time, as a real user's is (g^b alone always is one: N = 7 mod 8 makes 2 a residue).
        let decoy = Verifier::decoy(&[7; 32], &[9; 32]);
        assert_eq!(decoy, Verifier::decoy(&[7; 32], &[9; 32]));
        let exponent = (&group().n - 1u8) / 2u8;
        let residues = (0..40u8)
            .filter(|i| {
                server_hello(&Fixed(*i), &decoy).unwrap().big_b.modpow(&exponent, &group().n) == BigUint::from(1u8)
            })
            .count();
        assert!((8..=32).contains(&residues), "{residues} of 40 decoy B values are residues");
    }

    #[test]
    fn a_degenerate_client_value_is_refused() {
        assert_eq!(client_public("0").unwrap_err(), SrpError::BadA);
        assert_eq!(client_public(&to_hex(&group().n)).unwrap_err(), SrpError::BadA);
        assert_eq!(client_public(&to_hex(&(&group().n * 2u8))).unwrap_err(), SrpError::BadA);
        assert_eq!(client_public(&to_hex(&(&group().n + 5u8))).unwrap_err(), SrpError::BadA);
        assert_eq!(client_public("xyz").unwrap_err(), SrpError::BadA);
        assert_eq!(client_public("").unwrap_err(), SrpError::BadA);
        assert_eq!(client_public(&"f".repeat(MAX_HEX + 1)).unwrap_err(), SrpError::BadA);
        assert!(client_public("1f").is_ok());
    }

    #[test]
    fn timestamps_read_as_the_clients_write_them() {
        // Sunday 6 December 2026, 22:38:52 UTC.
        let at = 1_796_596_732;
        assert_eq!(format_timestamp(at).unwrap(), "Sun Dec 6 22:38:52 UTC 2026");
        assert_eq!(parse_timestamp("Sun Dec 6 22:38:52 UTC 2026"), Some(at));
        assert_eq!(parse_timestamp("Sun Dec 06 22:38:52 UTC 2026"), Some(at));
        for bad in [
            "Mon Dec 6 22:38:52 UTC 2026", // wrong weekday
            "Sun Dec 6 22:38:52 GMT 2026",
            "Sun Dec 6 22:38 UTC 2026",
            "Sun Dec 6 2:38:52 UTC 2026",
            "Sun Dec 32 22:38:52 UTC 2026",
            "Sun Dec 6 24:38:52 UTC 2026",
            "Sun Dec  6 22:38:52 UTC 2026",
            "",
            "Sun Dec 6 22:38:52 UTC 2026 ",
            "Sun Dec +6 22:38:52 UTC 2026",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_pool_name_is_the_part_after_the_region() {
        assert_eq!(pool_name("eu-west-1_Abc"), "Abc");
        assert_eq!(pool_name("plain"), "plain");
    }
}
