//! The HTTP-Redirect binding: AuthnRequest and logout URLs inflated back and their query
//! signatures checked with the SP certificate; IdP logout messages verified.

use super::idp::{ACS, IDP_ENTITY, NOW, REQUEST_ID, SLO, SP_ENTITY, b64, idp_metadata, key_cert, sp};
use crate::redirect::inflate_b64;
use crate::{
    IdpMetadata, SamlError, ServiceProvider, authn_request_url, logout_request_url, logout_response_url,
    parse_logout_request, parse_logout_response,
};
use aws_lc_rs::{rand, rsa, signature};
use base64::Engine as _;
use percent_encoding::percent_decode_str;
use std::collections::BTreeMap;
use std::io::Write as _;

fn params(url: &str) -> (String, BTreeMap<String, String>, String) {
    let (base, query) = url.split_once('?').expect("query");
    let map = query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').expect("pair");
            (k.to_owned(), percent_decode_str(v).decode_utf8().expect("utf8").into_owned())
        })
        .collect();
    (base.to_owned(), map, query.to_owned())
}

/// Checks the binding signature with the SP certificate, the way an IdP does.
fn sp_signature_verifies(sp: &ServiceProvider, query: &str) -> bool {
    let (signed, sig) = query.rsplit_once("&Signature=").expect("signed");
    let sig = base64::engine::general_purpose::STANDARD
        .decode(percent_decode_str(sig).decode_utf8().expect("utf8").as_bytes())
        .expect("b64");
    let key = crate::cert::rsa_public_key(&sp.signing_certificate).expect("SP key");
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, key)
        .verify(signed.as_bytes(), &sig)
        .is_ok()
}

#[test]
fn authn_request_url_inflates_and_its_signature_verifies() {
    let sp = sp();
    let url = authn_request_url(&sp, "https://idp.example.com/sso", REQUEST_ID, "state/with+odd&chars", NOW, true)
        .expect("url");
    let (base, p, query) = params(&url);
    assert_eq!(base, "https://idp.example.com/sso");
    assert_eq!(p["RelayState"], "state/with+odd&chars");
    assert_eq!(p["SigAlg"], "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
    let xml = inflate_b64(&p["SAMLRequest"]).expect("inflate");
    let doc = roxmltree::Document::parse(&xml).expect("AuthnRequest XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "AuthnRequest");
    assert_eq!(root.attribute("ID"), Some(REQUEST_ID));
    assert_eq!(root.attribute("AssertionConsumerServiceURL"), Some(ACS));
    assert_eq!(root.attribute("Destination"), Some("https://idp.example.com/sso"));
    assert_eq!(root.attribute("IssueInstant"), Some("2027-01-15T08:00:00Z"));
    let issuer = root.children().find(|n| n.tag_name().name() == "Issuer").expect("issuer");
    assert_eq!(issuer.text(), Some(SP_ENTITY));
    assert!(sp_signature_verifies(&sp, &query));
    // Another certificate does not verify it.
    let other = ServiceProvider { signing_certificate: key_cert("other").cert, ..sp.clone() };
    assert!(!sp_signature_verifies(&other, &query));

    // Unsigned, and an endpoint that already has a query.
    let url =
        authn_request_url(&sp, "https://idp.example.com/sso?tenant=acme", REQUEST_ID, "", NOW, false).expect("url");
    assert!(url.starts_with("https://idp.example.com/sso?tenant=acme&SAMLRequest="));
    assert!(!url.contains("Signature=") && !url.contains("RelayState"));

    assert!(matches!(
        authn_request_url(&sp, "https://idp/sso", "1abc", "", NOW, true),
        Err(SamlError::InvalidInput(_))
    ));
}

#[test]
fn logout_request_and_response_urls_are_signed() {
    let sp = sp();
    let url = logout_request_url(
        &sp,
        "https://idp.example.com/slo",
        "_lo1",
        "alice",
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"),
        Some("_sess1"),
        "rs",
        NOW,
    )
    .expect("url");
    let (_, p, query) = params(&url);
    let xml = inflate_b64(&p["SAMLRequest"]).expect("inflate");
    assert!(
        xml.contains(
            "<saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\">alice</saml:NameID>"
        )
    );
    assert!(xml.contains("<samlp:SessionIndex>_sess1</samlp:SessionIndex>"));
    assert!(sp_signature_verifies(&sp, &query));

    let url = logout_response_url(&sp, "https://idp.example.com/slo", "_lr1", "_idp-lo", "rs", NOW).expect("url");
    let (_, p, query) = params(&url);
    let xml = inflate_b64(&p["SAMLResponse"]).expect("inflate");
    assert!(xml.contains("InResponseTo=\"_idp-lo\"") && xml.contains("status:Success"));
    assert!(sp_signature_verifies(&sp, &query));
}

/// What an IdP sends to the SLO endpoint: DEFLATE, base64, URL-encoding, signed by `by`.
fn idp_query(
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    by: Option<&super::idp::KeyCert>,
    sig_alg: &str,
) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).expect("deflate");
    let b64 = b64(enc.finish().expect("deflate"));
    let e = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    let mut q = format!("{param}={}", e(&b64));
    if let Some(rs) = relay_state {
        q.push_str(&format!("&RelayState={}", e(rs)));
    }
    if let Some(by) = by {
        q.push_str(&format!("&SigAlg={}", e(sig_alg)));
        let key = rsa::KeyPair::from_pkcs8(&by.key).expect("key");
        let mut sig = vec![0u8; key.public_modulus_len()];
        key.sign(&signature::RSA_PKCS1_SHA256, &rand::SystemRandom::new(), q.as_bytes(), &mut sig).expect("sign");
        q.push_str(&format!("&Signature={}", e(&super::idp::b64(sig))));
    }
    q
}

fn logout_request_xml(issuer: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_idp-lo" Version="2.0" IssueInstant="2027-01-15T08:00:00Z" Destination="{SLO}" NotOnOrAfter="2027-01-15T08:05:00Z"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID>alice</saml:NameID><samlp:SessionIndex>_sess1</samlp:SessionIndex></samlp:LogoutRequest>"#
    )
}

fn setup() -> (super::idp::KeyCert, IdpMetadata, ServiceProvider) {
    let kc = key_cert("IdP");
    let md = idp_metadata(&kc);
    (kc, md, sp())
}

#[test]
fn idp_logout_request_must_be_signed_by_the_idp() {
    let (kc, md, sp) = setup();
    let rsa256 = crate::dsig::RSA_SHA256;
    let q = idp_query("SAMLRequest", &logout_request_xml(IDP_ENTITY), Some("r s"), Some(&kc), rsa256);
    let req = parse_logout_request(&q, &md, &sp, NOW, 120).expect("signed logout request");
    assert_eq!(req.id, "_idp-lo");
    assert_eq!(req.name_id, "alice");
    assert_eq!(req.session_indexes, vec!["_sess1".to_owned()]);
    assert_eq!(req.relay_state.as_deref(), Some("r s"));

    let unsigned = idp_query("SAMLRequest", &logout_request_xml(IDP_ENTITY), None, None, rsa256);
    assert_eq!(parse_logout_request(&unsigned, &md, &sp, NOW, 120).unwrap_err(), SamlError::NotSigned);
    let other = key_cert("attacker");
    let forged = idp_query("SAMLRequest", &logout_request_xml(IDP_ENTITY), None, Some(&other), rsa256);
    assert_eq!(parse_logout_request(&forged, &md, &sp, NOW, 120).unwrap_err(), SamlError::BadSignature);
    // Changing the relay state after signing breaks the signature.
    let tampered = q.replace("RelayState=r%20s", "RelayState=evil");
    assert_eq!(parse_logout_request(&tampered, &md, &sp, NOW, 120).unwrap_err(), SamlError::BadSignature);
    let sha1 = idp_query("SAMLRequest", &logout_request_xml(IDP_ENTITY), None, Some(&kc), crate::dsig::RSA_SHA1);
    assert!(matches!(parse_logout_request(&sha1, &md, &sp, NOW, 120), Err(SamlError::WeakAlgorithm(_))));
    let wrong_issuer = idp_query("SAMLRequest", &logout_request_xml("https://evil"), None, Some(&kc), rsa256);
    assert!(matches!(parse_logout_request(&wrong_issuer, &md, &sp, NOW, 120), Err(SamlError::WrongIssuer { .. })));
    assert!(matches!(parse_logout_request(&q, &md, &sp, NOW + 600, 120), Err(SamlError::Expired { .. })));
}

#[test]
fn idp_logout_response_is_checked() {
    let (kc, md, sp) = setup();
    let xml = |status: &str| {
        format!(
            r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2027-01-15T08:00:00Z" Destination="{SLO}" InResponseTo="_lo1"><saml:Issuer>{IDP_ENTITY}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:{status}"/></samlp:Status></samlp:LogoutResponse>"#
        )
    };
    let rsa256 = crate::dsig::RSA_SHA256;
    let signed = idp_query("SAMLResponse", &xml("Success"), Some("rs"), Some(&kc), rsa256);
    let r = parse_logout_response(&signed, &md, &sp).expect("signed");
    assert_eq!(r.in_response_to.as_deref(), Some("_lo1"));
    assert_eq!(r.relay_state.as_deref(), Some("rs"));
    let unsigned = idp_query("SAMLResponse", &xml("Success"), None, None, rsa256);
    assert!(parse_logout_response(&unsigned, &md, &sp).is_ok());
    let forged = idp_query("SAMLResponse", &xml("Success"), None, Some(&key_cert("x")), rsa256);
    assert_eq!(parse_logout_response(&forged, &md, &sp).unwrap_err(), SamlError::BadSignature);
    let failed = idp_query("SAMLResponse", &xml("Responder"), None, Some(&kc), rsa256);
    assert!(matches!(parse_logout_response(&failed, &md, &sp), Err(SamlError::Status { .. })));
    let elsewhere =
        idp_query("SAMLResponse", &xml("Success").replace(SLO, "https://other/slo"), None, Some(&kc), rsa256);
    assert!(matches!(parse_logout_response(&elsewhere, &md, &sp), Err(SamlError::WrongDestination { .. })));
}
