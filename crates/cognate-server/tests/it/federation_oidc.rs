//! The OIDC relying party's parts that need no provider: the authorization URL, input
//! checks, an unreachable issuer, and futures an axum handler can hold. The protocol
//! against a real provider is tests/interop/test_oidc_rp.py (node-oidc-provider).

use std::collections::BTreeMap;

use cognate_server::federation_oidc::{OidcClients, OidcError};

/// RFC 7636 appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn details(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn provider() -> BTreeMap<String, String> {
    details(&[
        ("client_id", "rp-client"),
        ("authorize_scopes", "email profile"),
        ("oidc_issuer", "https://idp.example.com"),
        ("authorize_url", "https://idp.example.com/oauth2/authorize?prompt=login"),
    ])
}

fn query(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

#[tokio::test]
async fn the_authorization_url_asks_for_a_code_with_s256_pkce() {
    let rp = OidcClients::new();
    let url = rp
        .authorization_url(&provider(), "https://cognate.example/oauth2/idpresponse", "st-1", "nonce-1", VERIFIER)
        .await
        .unwrap();
    assert!(url.starts_with("https://idp.example.com/oauth2/authorize?"), "{url}");
    let q = query(&url);
    assert_eq!(q["prompt"], "login", "the stored URL's own parameters are kept");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "rp-client");
    assert_eq!(q["redirect_uri"], "https://cognate.example/oauth2/idpresponse");
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["nonce"], "nonce-1");
    assert_eq!(q["code_challenge"], CHALLENGE);
    assert_eq!(q["code_challenge_method"], "S256");
}

#[tokio::test]
async fn bad_inputs_are_named() {
    let rp = OidcClients::new();
    let callback = "https://cognate.example/oauth2/idpresponse";
    let short = rp.authorization_url(&provider(), callback, "s", "n", "short").await;
    assert!(matches!(short, Err(OidcError::InvalidRequest(_))), "{short:?}");
    let bad_redirect = rp.authorization_url(&provider(), "not a url", "s", "n", VERIFIER).await;
    assert!(matches!(bad_redirect, Err(OidcError::InvalidRequest(_))), "{bad_redirect:?}");
    let mut no_client = provider();
    no_client.remove("client_id");
    let missing = rp.authorization_url(&no_client, callback, "s", "n", VERIFIER).await;
    assert!(matches!(missing, Err(OidcError::MissingDetail("client_id"))), "{missing:?}");
    let mut no_issuer = provider();
    no_issuer.remove("oidc_issuer");
    let missing = rp.discover(&no_issuer).await;
    assert!(matches!(missing, Err(OidcError::MissingDetail("oidc_issuer"))), "{missing:?}");
}

#[tokio::test]
async fn an_unreachable_issuer_is_reported_with_its_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.1:{port}");
    let mut d = provider();
    d.insert("oidc_issuer".into(), issuer.clone());
    // Loopback is refused by default (SSRF protection): this test's issuer needs it allowed.
    let loopback = std::sync::Arc::new(cognate_server::outbound::OutboundPolicy::allowing_loopback());
    let rp = OidcClients::with_policy(std::sync::Arc::new(cognate_core::SystemClock), loopback);
    let err = rp.discover(&d).await.unwrap_err();
    assert!(matches!(err, OidcError::Unreachable(_)), "{err:?}");
    assert!(err.to_string().contains(&format!("{issuer}/.well-known/openid-configuration")), "{err}");
}

#[test]
fn its_futures_can_live_in_an_axum_handler() {
    fn send<T: Send>(_: &T) {}
    let rp = OidcClients::new();
    let d = provider();
    send(&rp.discover(&d));
    send(&rp.probe(&d));
    send(&rp.authorization_url(&d, "https://c.example/cb", "s", "n", VERIFIER));
    send(&rp.complete(&d, Some("secret"), "https://c.example/cb", "code", VERIFIER, "n"));
    fn shared<T: Send + Sync>() {}
    shared::<OidcClients>();
}

#[test]
fn the_callback_iss_must_be_the_providers() {
    let d = provider();
    assert!(OidcClients::check_callback_issuer(&d, None).is_ok());
    assert!(OidcClients::check_callback_issuer(&d, Some("https://idp.example.com")).is_ok());
    let other = OidcClients::check_callback_issuer(&d, Some("https://evil.example.com"));
    assert!(matches!(other, Err(OidcError::IssuerMismatch { .. })), "{other:?}");
    let slash = OidcClients::check_callback_issuer(&d, Some("https://idp.example.com/"));
    assert!(slash.is_err(), "exact comparison");
}
