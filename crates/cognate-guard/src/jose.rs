//! Strict parsing of a compact JWS: exactly three unpadded base64url parts, JSON objects
//! without duplicate members, an allowlisted `alg`, and none of the headers that would make
//! a verifier fetch or trust key material named by the token.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::config::Algorithm;
use crate::error::VerifyError;

/// Headers refused outright: they name keys or URLs (`jku`, `x5u`, `x5c`, `jwk`), demand
/// extensions we do not implement (`crit`), or compress the payload (`zip`).
const FORBIDDEN_HEADERS: [&str; 6] = ["jku", "x5u", "x5c", "jwk", "crit", "zip"];

/// Longest `kid` looked up; real ones are well under 100 characters.
const MAX_KID_LEN: usize = 256;

/// A compact JWS whose structure checked out; nothing in it is trusted until its signature
/// verifies.
#[derive(Debug)]
pub(crate) struct Parsed<'a> {
    pub alg: Algorithm,
    pub kid: String,
    pub claims: Map<String, Value>,
    pub signing_input: &'a [u8],
    pub signature: Vec<u8>,
}

/// Parses `token` in the order that costs an attacker the most and us the least: length,
/// shape, header, algorithm and header policy, then payload and signature bytes.
pub(crate) fn parse<'a>(token: &'a str, max_len: usize, allowed: &[Algorithm]) -> Result<Parsed<'a>, VerifyError> {
    if token.len() > max_len {
        return Err(VerifyError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(VerifyError::Malformed);
    };
    let header = json_object(h)?;
    let alg = header.get("alg").and_then(Value::as_str).and_then(Algorithm::from_name);
    let alg = alg.filter(|a| allowed.contains(a)).ok_or(VerifyError::Algorithm)?;
    if FORBIDDEN_HEADERS.iter().any(|name| header.contains_key(*name)) {
        return Err(VerifyError::ForbiddenHeader);
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => kid.clone(),
        _ => return Err(VerifyError::UnknownKey),
    };
    let claims = json_object(p)?;
    let signature = B64.decode(s).map_err(|_| VerifyError::Malformed)?;
    if signature.is_empty() {
        return Err(VerifyError::Signature);
    }
    Ok(Parsed { alg, kid, claims, signing_input: &token.as_bytes()[..h.len() + 1 + p.len()], signature })
}

/// Decodes one base64url part (no padding, no stray bits) holding a JSON object.
fn json_object(part: &str) -> Result<Map<String, Value>, VerifyError> {
    let bytes = B64.decode(part).map_err(|_| VerifyError::Malformed)?;
    parse_strict_object(&bytes)
}

/// Parses a JSON object, refusing duplicate members at any depth: two `iss` or two `sub`
/// could be read differently by two parsers, so no reading is safe.
pub(crate) fn parse_strict_object(bytes: &[u8]) -> Result<Map<String, Value>, VerifyError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de.deserialize_any(StrictVisitor).map_err(|e| {
        if e.to_string().starts_with(DUPLICATE) { VerifyError::DuplicateKey } else { VerifyError::Malformed }
    })?;
    de.end().map_err(|_| VerifyError::Malformed)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(VerifyError::Malformed),
    }
}

const DUPLICATE: &str = "duplicate member";

struct StrictVisitor;

struct StrictSeed;

impl<'de> de::DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictSeed)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let value = map.next_value_seed(StrictSeed)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert!(parse_strict_object(br#"{"a":1,"b":{"c":[1,{"d":2}]}}"#).is_ok());
        assert_eq!(parse_strict_object(br#"{"a":1,"a":1}"#), Err(VerifyError::DuplicateKey));
        assert_eq!(parse_strict_object(br#"{"a":{"b":1,"b":2}}"#), Err(VerifyError::DuplicateKey));
        assert_eq!(parse_strict_object(br#"{"a":1} x"#), Err(VerifyError::Malformed));
        assert_eq!(parse_strict_object(br#"[1]"#), Err(VerifyError::Malformed));
        // An escaped key is the same member as the plain one.
        assert_eq!(parse_strict_object(br#"{"sub":1,"s\u0075b":2}"#), Err(VerifyError::DuplicateKey));
    }
}
