//! The pure parts of the relying party: a verified JWT's claims as an
//! [`ExternalIdentity`]'s attributes, the audience rule openidconnect leaves to its callers
//! (`azp`), the PKCE verifier's shape, and the scopes sent to the provider.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// A JWT's payload as a JSON object. Only called on a token whose signature has already
/// been verified: the flattening below wants every claim, and openidconnect's typed claims
/// keep only the standard ones.
pub(crate) fn jwt_payload(jwt: &str) -> Result<Map<String, Value>, String> {
    let mut parts = jwt.split('.');
    let payload = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(payload), Some(_), None) => payload,
        _ => return Err("the ID token is not a signed JWT (three dot-separated parts)".into()),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "the ID token's payload is not base64url".to_owned())?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the ID token's payload is not a JSON object".into()),
        Err(e) => Err(format!("the ID token's payload is not JSON: {e}")),
    }
}

/// Claim name → values, as [`cognate_core::idp::ExternalIdentity::attributes`] holds them:
/// a string is one value, an array one value per element (strings as themselves, anything
/// else as its JSON text), a number, boolean or object its JSON text. A `null` claim asserts
/// nothing and is left out.
pub(crate) fn flatten(claims: &Map<String, Value>) -> BTreeMap<String, Vec<String>> {
    let one = |value: &Value| match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    claims
        .iter()
        .filter_map(|(name, value)| {
            let values = match value {
                Value::Null => return None,
                Value::Array(items) => items.iter().filter(|v| !v.is_null()).map(one).collect(),
                other => vec![one(other)],
            };
            Some((name.clone(), values))
        })
        .collect()
}

/// Claims only the ID token may speak for: who issued it, to whom, when, for which request.
/// Userinfo answers about the user; these keep the verified ID token's values.
const PROTOCOL_CLAIMS: [&str; 10] =
    ["iss", "aud", "azp", "exp", "iat", "nbf", "nonce", "auth_time", "at_hash", "c_hash"];

/// Adds userinfo's claims to the ID token's: userinfo wins on user claims (it is the
/// provider's fuller answer), the ID token on [`PROTOCOL_CLAIMS`]. The caller has checked
/// that both name the same `sub`.
pub(crate) fn merge_userinfo(claims: &mut Map<String, Value>, userinfo: Map<String, Value>) {
    for (name, value) in userinfo {
        if !PROTOCOL_CLAIMS.contains(&name.as_str()) {
            claims.insert(name, value);
        }
    }
}

/// The `azp` rule of OIDC Core 3.1.3.7 (steps 4–5), which openidconnect leaves to its
/// callers: when the ID token names several audiences, `azp` must be present and be this
/// client; when `azp` is present at all, it must be this client. (That `aud` contains the
/// client is checked by the verifier.)
pub(crate) fn check_authorized_party(claims: &Map<String, Value>, client_id: &str) -> Result<(), String> {
    let several = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(Value::String(azp)) => Err(format!("the ID token was issued to another client (azp {azp})")),
        Some(_) => Err("the ID token's azp claim is not a string".into()),
        None if several => Err("the ID token names several audiences but no azp (authorized party)".into()),
        None => Ok(()),
    }
}

/// Checks a PKCE code verifier as RFC 7636 defines it: 43 to 128 characters of
/// `[A-Za-z0-9-._~]`. (openidconnect asserts the length and would panic otherwise.)
pub(crate) fn check_pkce_verifier(verifier: &str) -> Result<(), String> {
    let ok = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if ok { Ok(()) } else { Err("the PKCE code verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~".into()) }
}

/// The scopes to ask the provider for: `authorize_scopes` split on spaces (Cognito's
/// separator; commas are accepted too), duplicates dropped, `openid` first and always there
/// (without it an OIDC provider issues no ID token).
pub(crate) fn scopes(authorize_scopes: &str) -> Vec<String> {
    let mut out = vec!["openid".to_owned()];
    for scope in authorize_scopes.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn claims_flatten_by_kind() {
        let claims = object(json!({
            "sub": "u1", "email_verified": true, "groups": ["admins", "dev", 7, null],
            "address": {"country": "NZ"}, "n": 1.5, "gone": null
        }));
        let flat = flatten(&claims);
        assert_eq!(flat["sub"], vec!["u1"]);
        assert_eq!(flat["email_verified"], vec!["true"]);
        assert_eq!(flat["groups"], vec!["admins", "dev", "7"]);
        assert_eq!(flat["address"], vec![r#"{"country":"NZ"}"#]);
        assert_eq!(flat["n"], vec!["1.5"]);
        assert!(!flat.contains_key("gone"));
    }

    #[test]
    fn userinfo_adds_user_claims_but_not_protocol_ones() {
        let mut claims = object(json!({"sub": "u", "iss": "https://idp", "aud": "c", "email": "old@x"}));
        merge_userinfo(
            &mut claims,
            object(json!({"sub": "u", "iss": "https://other", "aud": "x", "email": "new@x", "groups": ["a"]})),
        );
        assert_eq!(claims["iss"], "https://idp");
        assert_eq!(claims["aud"], "c");
        assert_eq!(claims["email"], "new@x");
        assert_eq!(claims["groups"], json!(["a"]));
    }

    #[test]
    fn payload_is_read_from_the_middle_part() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"x","aud":"c"}"#);
        let claims = jwt_payload(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims["sub"], "x");
        assert!(jwt_payload("a.b").is_err());
        assert!(jwt_payload("a.b.c.d.e").is_err());
        assert!(jwt_payload(&format!("e30.{}.s", URL_SAFE_NO_PAD.encode(b"[1]"))).is_err());
        assert!(jwt_payload("e30.!!!.s").is_err());
    }

    #[test]
    fn several_audiences_need_this_client_as_azp() {
        let c = "client";
        assert!(check_authorized_party(&object(json!({"aud": "client"})), c).is_ok());
        assert!(check_authorized_party(&object(json!({"aud": ["client"]})), c).is_ok());
        assert!(check_authorized_party(&object(json!({"aud": ["client", "other"]})), c).is_err());
        assert!(check_authorized_party(&object(json!({"aud": ["client", "other"], "azp": "client"})), c).is_ok());
        assert!(check_authorized_party(&object(json!({"aud": "client", "azp": "other"})), c).is_err());
        assert!(check_authorized_party(&object(json!({"aud": "client", "azp": 1})), c).is_err());
    }

    #[test]
    fn pkce_verifiers_follow_rfc_7636() {
        assert!(check_pkce_verifier(&"a".repeat(43)).is_ok());
        assert!(check_pkce_verifier(&"a-._~Z9".repeat(10)).is_ok());
        assert!(check_pkce_verifier(&"a".repeat(42)).is_err());
        assert!(check_pkce_verifier(&"a".repeat(129)).is_err());
        assert!(check_pkce_verifier(&format!("{}+", "a".repeat(43))).is_err());
    }

    #[test]
    fn openid_is_always_asked_for_once() {
        assert_eq!(scopes("email profile"), vec!["openid", "email", "profile"]);
        assert_eq!(scopes("openid email openid"), vec!["openid", "email"]);
        assert_eq!(scopes("email,profile "), vec!["openid", "email", "profile"]);
        assert_eq!(scopes(""), vec!["openid"]);
    }
}
