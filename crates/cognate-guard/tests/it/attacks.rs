//! The attack battery: every token here must be refused, for the stated reason.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cognate_guard::{GuardConfig, Issuer, TokenUse, VerifyError};
use serde_json::json;

use crate::support::*;

async fn refused(token: &str) -> VerifyError {
    let s = setup().await;
    s.guard.verify(token).await.expect_err("token must be refused")
}

fn hs256(key: &[u8], header: &str, payload: &str) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let tag = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key), input.as_bytes());
    format!("{input}.{}", B64.encode(tag.as_ref()))
}

#[tokio::test]
async fn alg_none_and_hmac_with_the_public_key_are_refused() {
    let claims = access_claims(ISS_A, "client-a").to_string();
    let none = format!("{}.{}.", B64.encode(r#"{"alg":"none","kid":"kid-a"}"#), B64.encode(&claims));
    assert_eq!(refused(&none).await, VerifyError::Algorithm);
    let header = r#"{"alg":"HS256","kid":"kid-a"}"#;
    for secret in [KEY_A.public_der(), serde_json::to_vec(&KEY_A.jwk()).unwrap()] {
        assert_eq!(refused(&hs256(&secret, header, &claims)).await, VerifyError::Algorithm);
    }
    for alg in ["rs256", "RS256 ", "none", "", "ES256", "PS256"] {
        let token = KEY_A.sign_raw(&json!({"alg": alg, "kid": "kid-a"}).to_string(), &claims);
        assert_eq!(refused(&token).await, VerifyError::Algorithm, "{alg:?}");
    }
    let no_alg = KEY_A.sign_raw(r#"{"kid":"kid-a"}"#, &claims);
    assert_eq!(refused(&no_alg).await, VerifyError::Algorithm);
}

#[tokio::test]
async fn even_with_more_rsa_algorithms_allowed_hmac_stays_out() {
    let config = two_pools().algorithms([cognate_guard::Algorithm::RS256, cognate_guard::Algorithm::RS512]);
    let s = setup_with(config, default_source());
    let claims = access_claims(ISS_A, "client-a").to_string();
    let token = hs256(&KEY_A.public_der(), r#"{"alg":"HS256","kid":"kid-a"}"#, &claims);
    assert_eq!(s.guard.verify(&token).await.unwrap_err(), VerifyError::Algorithm);
}

#[tokio::test]
async fn unknown_and_injected_kids_are_refused() {
    let claims = access_claims(ISS_A, "client-a");
    for kid in ["nope", "../../x", "kid-a/../kid-a", "kid-a\u{0}", "https://evil.test/jwks"] {
        let token = KEY_A.sign_with_header(&json!({"alg": "RS256", "kid": kid}), &claims);
        assert_eq!(refused(&token).await, VerifyError::UnknownKey, "{kid:?}");
    }
    for header in [json!({"alg": "RS256"}), json!({"alg": "RS256", "kid": 7}), json!({"alg": "RS256", "kid": ""})] {
        assert_eq!(refused(&KEY_A.sign_with_header(&header, &claims)).await, VerifyError::UnknownKey);
    }
}

#[tokio::test]
async fn key_and_url_bearing_headers_are_refused_without_any_fetch() {
    let s = setup().await;
    let before = s.source.fetches();
    let claims = access_claims(ISS_A, "client-a");
    for (name, value) in [
        ("jku", json!("https://evil.test/jwks.json")),
        ("x5u", json!("https://evil.test/cert.pem")),
        ("jwk", KEY_B.jwk()),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
        ("zip", json!("DEF")),
    ] {
        let mut header = json!({"alg": "RS256", "kid": "kid-a"});
        header[name] = value;
        let token = KEY_A.sign_with_header(&header, &claims);
        assert_eq!(s.guard.verify(&token).await.unwrap_err(), VerifyError::ForbiddenHeader, "{name}");
    }
    assert_eq!(s.source.fetches(), before, "nothing was fetched");
}

#[tokio::test]
async fn times_out_of_window_are_refused() {
    let mut expired = access_claims(ISS_A, "client-a");
    expired["exp"] = json!(NOW - 61);
    assert_eq!(refused(&KEY_A.sign(&expired)).await, VerifyError::Expired);
    let mut not_yet = access_claims(ISS_A, "client-a");
    not_yet["nbf"] = json!(NOW + 61);
    assert_eq!(refused(&KEY_A.sign(&not_yet)).await, VerifyError::NotYetValid);
    let mut future = access_claims(ISS_A, "client-a");
    future["iat"] = json!(NOW + 61);
    assert_eq!(refused(&KEY_A.sign(&future)).await, VerifyError::IssuedInFuture);
    let mut no_exp = access_claims(ISS_A, "client-a");
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(refused(&KEY_A.sign(&no_exp)).await, VerifyError::MissingClaim);
    let mut string_exp = access_claims(ISS_A, "client-a");
    string_exp["exp"] = json!((NOW + 100).to_string());
    assert_eq!(refused(&KEY_A.sign(&string_exp)).await, VerifyError::MissingClaim);
}

#[tokio::test]
async fn wrong_or_missing_issuer_is_refused_before_any_key_lookup() {
    let s = setup().await;
    let before = s.source.fetches();
    for iss in [json!("https://evil.test/pool_a"), json!(format!("{ISS_A}/")), json!("https://auth.test"), json!(1)] {
        let mut claims = access_claims(ISS_A, "client-a");
        claims["iss"] = iss;
        // Signed by a key nobody knows: the issuer check must answer first.
        let token = KEY_A2.sign(&claims);
        assert_eq!(s.guard.verify(&token).await.unwrap_err(), VerifyError::UnknownIssuer);
    }
    let mut claims = access_claims(ISS_A, "client-a");
    claims.as_object_mut().unwrap().remove("iss");
    assert_eq!(s.guard.verify(&KEY_A.sign(&claims)).await.unwrap_err(), VerifyError::UnknownIssuer);
    assert_eq!(s.source.fetches(), before);
}

#[tokio::test]
async fn keys_of_one_pool_never_vouch_for_another() {
    // Pool B's valid key, claiming pool A's issuer.
    assert_eq!(refused(&KEY_B.sign(&access_claims(ISS_A, "client-a"))).await, VerifyError::UnknownKey);
    // ... and with pool A's kid in the header, the signature cannot match A's key.
    let header = json!({"alg": "RS256", "kid": "kid-a"});
    assert_eq!(
        refused(&KEY_B.sign_with_header(&header, &access_claims(ISS_A, "client-a"))).await,
        VerifyError::Signature
    );
    // The reverse: pool B's issuer, pool A's key.
    assert_eq!(refused(&KEY_A.sign(&access_claims(ISS_B, "client-b"))).await, VerifyError::UnknownKey);
    let header = json!({"alg": "RS256", "kid": "kid-b"});
    assert_eq!(
        refused(&KEY_A.sign_with_header(&header, &access_claims(ISS_B, "client-b"))).await,
        VerifyError::Signature
    );
}

#[tokio::test]
async fn wrong_client_and_wrong_token_use_are_refused() {
    assert_eq!(refused(&KEY_A.sign(&access_claims(ISS_A, "client-b"))).await, VerifyError::WrongClient);
    let mut no_client = access_claims(ISS_A, "client-a");
    no_client.as_object_mut().unwrap().remove("client_id");
    assert_eq!(refused(&KEY_A.sign(&no_client)).await, VerifyError::WrongClient);
    // An access token's `aud` is not its client.
    let mut aud_only = no_client.clone();
    aud_only["aud"] = json!("client-a");
    assert_eq!(refused(&KEY_A.sign(&aud_only)).await, VerifyError::WrongClient);
    // ID token where access tokens are required (the default).
    assert_eq!(refused(&KEY_A.sign(&id_claims(ISS_A, "client-a"))).await, VerifyError::WrongTokenUse);
    let mut no_use = access_claims(ISS_A, "client-a");
    no_use.as_object_mut().unwrap().remove("token_use");
    assert_eq!(refused(&KEY_A.sign(&no_use)).await, VerifyError::WrongTokenUse);

    // The reverse: access token where ID tokens are required.
    let config =
        GuardConfig::new().issuer(Issuer::cognate(BASE, "pool_a").client_ids(["client-a"]).token_use(TokenUse::Id));
    let s = setup_with(config, default_source());
    let err = s.guard.verify(&KEY_A.sign(&access_claims(ISS_A, "client-a"))).await.unwrap_err();
    assert_eq!(err, VerifyError::WrongTokenUse);
    let err = s.guard.verify(&KEY_A.sign(&id_claims(ISS_A, "client-b"))).await.unwrap_err();
    assert_eq!(err, VerifyError::WrongClient);
}

#[tokio::test]
async fn tampering_and_stripping_are_refused() {
    let token = KEY_A.sign(&access_claims(ISS_A, "client-a"));
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = access_claims(ISS_A, "client-a");
    forged["custom:tenantRole"] = json!("owner");
    let tampered = format!("{}.{}.{}", parts[0], B64.encode(forged.to_string()), parts[2]);
    assert_eq!(refused(&tampered).await, VerifyError::Signature);
    assert_eq!(refused(&format!("{}.{}.", parts[0], parts[1])).await, VerifyError::Signature);
    assert_eq!(refused(&format!("{}.{}", parts[0], parts[1])).await, VerifyError::Malformed);
    assert_eq!(refused(&format!("{token}.")).await, VerifyError::Malformed);
    let mut sig = B64.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    assert_eq!(refused(&format!("{}.{}.{}", parts[0], parts[1], B64.encode(sig))).await, VerifyError::Signature);
}

#[tokio::test]
async fn oversized_and_malformed_tokens_are_refused() {
    let mut big = access_claims(ISS_A, "client-a");
    big["pad"] = json!("x".repeat(8 * 1024));
    assert_eq!(refused(&KEY_A.sign(&big)).await, VerifyError::TooLarge);
    let token = KEY_A.sign(&access_claims(ISS_A, "client-a"));
    let parts: Vec<&str> = token.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    for bad in [
        String::new(),
        "..".to_owned(),
        format!("{h}=.{p}.{s}"), // padding
        format!("{h}.{p}=.{s}"),
        format!("{}.{p}.{s}", h.replace('e', "+")), // standard alphabet
        format!("{h}.{p}.{s}.{s}"),                 // four parts
        format!(" {token}"),
        format!("{}.{p}.{s}", B64.encode("{\"alg\":\"RS256\",")), // truncated JSON
        format!("{}.{p}.{s}", B64.encode("[\"RS256\"]")),         // not an object
        format!("{h}.{}.{s}", B64.encode("not json")),
        format!("{h}.{}.{s}", B64.encode("null")),
    ] {
        let err = refused(&bad).await;
        assert!(matches!(err, VerifyError::Malformed | VerifyError::Signature), "{bad:?}: {err:?}");
    }
    // Trailing bits set in the last base64 character of the header.
    let mut odd = h.to_owned();
    if !odd.len().is_multiple_of(4) {
        let last = odd.pop().unwrap();
        let flipped = if last == 'A' { 'B' } else { 'A' };
        odd.push(flipped);
        let err = refused(&format!("{odd}.{p}.{s}")).await;
        assert!(matches!(err, VerifyError::Malformed | VerifyError::Algorithm), "{err:?}");
    }
}

#[tokio::test]
async fn duplicate_members_are_refused() {
    let header = r#"{"alg":"RS256","kid":"kid-a"}"#;
    let body = access_claims(ISS_A, "client-a").to_string();
    let inner = &body[1..body.len() - 1];
    for dup in [
        format!(r#"{{{inner},"sub":"admin"}}"#),
        format!(r#"{{"iss":"https://evil.test/x",{inner}}}"#),
        format!(r#"{{{inner},"iss":"{ISS_B}"}}"#),
        format!(r#"{{{inner},"custom:tenantId":"other"}}"#),
    ] {
        assert_eq!(refused(&KEY_A.sign_raw(header, &dup)).await, VerifyError::DuplicateKey);
    }
    let dup_header = r#"{"alg":"none","alg":"RS256","kid":"kid-a"}"#;
    assert_eq!(refused(&KEY_A.sign_raw(dup_header, &body)).await, VerifyError::DuplicateKey);
    let dup_kid = r#"{"alg":"RS256","kid":"kid-b","kid":"kid-a"}"#;
    assert_eq!(refused(&KEY_A.sign_raw(dup_kid, &body)).await, VerifyError::DuplicateKey);
}
