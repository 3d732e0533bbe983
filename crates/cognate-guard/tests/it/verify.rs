//! Accepted tokens, the context they produce, configuration rules and the verified-token
//! cache.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cognate_guard::{Algorithm, ConfigError, Guard, GuardConfig, Issuer, Principal, TokenUse, VerifyError, dangerous};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn an_access_token_yields_the_tenant_context() {
    let s = setup().await;
    let ctx = s.guard.verify(&KEY_A.sign(&access_claims(ISS_A, "client-a"))).await.unwrap();
    assert_eq!(ctx.tenant_id.as_deref(), Some("acme"));
    assert_eq!(ctx.principal, Principal::User { sub: "user-1".into(), username: "alice".into() });
    assert_eq!(ctx.role.as_deref(), Some("admin"));
    assert_eq!(ctx.scopes, ["aws.cognito.signin.user.admin", "notes:read"]);
    assert_eq!(ctx.groups, ["acme-admin"]);
    assert_eq!(ctx.claims["jti"], "jti-1");
    // Pool B's token against pool B's key and client.
    let ctx = s.guard.verify(&KEY_B.sign(&access_claims(ISS_B, "client-b"))).await.unwrap();
    assert_eq!(ctx.claims["iss"], ISS_B);
}

#[tokio::test]
async fn machine_tokens_are_client_principals() {
    let s = setup().await;
    let claims = json!({
        "sub": "client-a", "client_id": "client-a", "token_use": "access", "scope": "notes/read",
        "iss": ISS_A, "iat": NOW, "exp": NOW + 3600, "jti": "j", "version": 2, "custom:tenantId": "acme",
    });
    let ctx = s.guard.verify(&KEY_A.sign(&claims)).await.unwrap();
    assert_eq!(ctx.principal, Principal::Client { client_id: "client-a".into() });
    assert_eq!(ctx.tenant_id.as_deref(), Some("acme"));
    assert_eq!(ctx.role, None);
}

#[tokio::test]
async fn id_tokens_when_configured_with_aud_string_or_array() {
    let config =
        GuardConfig::new().issuer(Issuer::cognate(BASE, "pool_a").client_ids(["client-a"]).token_use(TokenUse::Both));
    let s = setup_with(config, default_source());
    let ctx = s.guard.verify(&KEY_A.sign(&id_claims(ISS_A, "client-a"))).await.unwrap();
    assert_eq!(ctx.principal, Principal::User { sub: "user-1".into(), username: "alice".into() });
    assert!(ctx.scopes.is_empty());
    let mut claims = id_claims(ISS_A, "client-a");
    claims["aud"] = json!(["other", "client-a"]);
    assert!(s.guard.verify(&KEY_A.sign(&claims)).await.is_ok());
    claims["aud"] = json!(["other"]);
    assert_eq!(s.guard.verify(&KEY_A.sign(&claims)).await.unwrap_err(), VerifyError::WrongClient);
    assert!(s.guard.verify(&KEY_A.sign(&access_claims(ISS_A, "client-a"))).await.is_ok());
}

#[tokio::test]
async fn leeway_is_applied_and_configurable() {
    let s = setup().await;
    let mut claims = access_claims(ISS_A, "client-a");
    claims["exp"] = json!(NOW - 30);
    claims["nbf"] = json!(NOW + 30);
    claims["iat"] = json!(NOW + 30);
    assert!(s.guard.verify(&KEY_A.sign(&claims)).await.is_ok());
    let s = setup_with(two_pools().leeway(Duration::ZERO), default_source());
    claims["nbf"] = json!(NOW);
    claims["iat"] = json!(NOW);
    assert_eq!(s.guard.verify(&KEY_A.sign(&claims)).await.unwrap_err(), VerifyError::Expired);
}

#[test]
fn configuration_is_secure_by_default() {
    let source = || Arc::new(default_source());
    let err = Guard::with_source(GuardConfig::new().issuer(Issuer::cognate(BASE, "pool_a")), source()).unwrap_err();
    assert_eq!(err, ConfigError::NoClientIds(ISS_A.into()));
    assert_eq!(Guard::with_source(GuardConfig::new(), source()).unwrap_err(), ConfigError::NoIssuers);
    let twice = two_pools().issuer(Issuer::cognate(BASE, "pool_a").client_ids(["x"]));
    assert_eq!(Guard::with_source(twice, source()).unwrap_err(), ConfigError::DuplicateIssuer(ISS_A.into()));
    let no_algs = two_pools().algorithms([]);
    assert_eq!(Guard::with_source(no_algs, source()).unwrap_err(), ConfigError::NoAlgorithms);
    let open = GuardConfig::new().issuer(dangerous::accept_any_client(Issuer::cognate(BASE, "pool_a")));
    assert!(Guard::with_source(open, source()).is_ok());

    assert_eq!(Issuer::cognate("https://auth.test/", "pool_a").issuer(), ISS_A);
    assert_eq!(
        Issuer::aws_cognito("eu-west-1", "eu-west-1_AbC").issuer(),
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
    );
}

#[tokio::test]
async fn accepting_any_client_is_explicit() {
    let config = GuardConfig::new().issuer(dangerous::accept_any_client(Issuer::cognate(BASE, "pool_a")));
    let s = setup_with(config, default_source());
    assert!(s.guard.verify(&KEY_A.sign(&access_claims(ISS_A, "whoever"))).await.is_ok());
}

#[tokio::test]
async fn jwks_url_override_is_used() {
    let config = GuardConfig::new()
        .issuer(Issuer::cognate(BASE, "pool_a").client_ids(["client-a"]).jwks_url("https://keys.test/a.json"));
    let s = setup_with(config, FakeSource::new(&[("https://keys.test/a.json", jwks(&[&KEY_A]))]));
    s.guard.hydrate().await.unwrap();
    assert!(s.guard.verify(&KEY_A.sign(&access_claims(ISS_A, "client-a"))).await.is_ok());
}

fn sign_rs512(claims: &serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(json!({"alg": "RS512", "kid": "kid-a"}).to_string()),
        B64.encode(claims.to_string())
    );
    let mut sig = vec![0u8; KEY_A.pair.public_modulus_len()];
    KEY_A
        .pair
        .sign(&signature::RSA_PKCS1_SHA512, &aws_lc_rs::rand::SystemRandom::new(), input.as_bytes(), &mut sig)
        .unwrap();
    format!("{input}.{}", B64.encode(sig))
}

#[tokio::test]
async fn extra_rsa_algorithms_are_opt_in_and_bound_to_the_jwk_alg() {
    let token = sign_rs512(&access_claims(ISS_A, "client-a"));
    let s = setup().await;
    assert_eq!(s.guard.verify(&token).await.unwrap_err(), VerifyError::Algorithm, "RS256 only by default");
    let config = two_pools().algorithms([Algorithm::RS256, Algorithm::RS512]);
    let s = setup_with(config.clone(), default_source());
    s.guard.hydrate().await.unwrap();
    assert_eq!(s.guard.verify(&token).await.unwrap_err(), VerifyError::Algorithm, "the JWK says RS256");
    let mut jwk = KEY_A.jwk();
    jwk.as_object_mut().unwrap().remove("alg");
    let doc = json!({"keys": [jwk]}).to_string().into_bytes();
    let s = setup_with(config, FakeSource::new(&[(JWKS_A, doc), (JWKS_B, jwks(&[&KEY_B]))]));
    s.guard.hydrate().await.unwrap();
    assert!(s.guard.verify(&token).await.is_ok());
}

#[tokio::test]
async fn repeated_tokens_hit_the_cache() {
    let s = setup().await;
    let token = KEY_A.sign(&access_claims(ISS_A, "client-a"));
    let first = s.guard.verify(&token).await.unwrap();
    let second = s.guard.verify(&token).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second), "the second answer comes from the cache");
    assert_eq!(s.guard.cached_tokens(), 1);
    let other = KEY_A.sign(&access_claims(ISS_A, "client-a").tap_jti("other"));
    let third = s.guard.verify(&other).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &third));
    assert_eq!(s.guard.cached_tokens(), 2);
}

trait TapJti {
    fn tap_jti(self, jti: &str) -> Self;
}

impl TapJti for serde_json::Value {
    fn tap_jti(mut self, jti: &str) -> Self {
        self["jti"] = json!(jti);
        self
    }
}

#[tokio::test]
async fn cached_tokens_still_expire() {
    let s = setup_with(two_pools().leeway(Duration::ZERO), default_source());
    let mut claims = access_claims(ISS_A, "client-a");
    claims["exp"] = json!(NOW + 100);
    let token = KEY_A.sign(&claims);
    assert!(s.guard.verify(&token).await.is_ok());
    s.clock.set(NOW + 99);
    assert!(s.guard.verify(&token).await.is_ok());
    s.clock.set(NOW + 100);
    assert_eq!(s.guard.verify(&token).await.unwrap_err(), VerifyError::Expired);
    assert_eq!(s.guard.cached_tokens(), 0, "the expired entry is gone");
}

#[tokio::test]
async fn a_key_leaving_the_jwks_invalidates_cached_verdicts() {
    let s = setup().await;
    let token = KEY_A.sign(&access_claims(ISS_A, "client-a"));
    assert!(s.guard.verify(&token).await.is_ok());
    s.source.set(JWKS_A, jwks(&[&KEY_A2]));
    s.guard.hydrate().await.unwrap();
    assert_eq!(s.guard.verify(&token).await.unwrap_err(), VerifyError::UnknownKey);
}

#[tokio::test]
async fn the_cache_stays_bounded() {
    let s = setup_with(two_pools().cache_capacity(32), default_source());
    for i in 0..100 {
        let token = KEY_A.sign(&access_claims(ISS_A, "client-a").tap_jti(&format!("j{i}")));
        assert!(s.guard.verify(&token).await.is_ok());
    }
    assert!(s.guard.cached_tokens() <= 32, "{}", s.guard.cached_tokens());
}
