//! Real Responses made by SimpleSAMLphp 1.19 (fixtures/README.txt): interop with an
//! independent XMLDSig/XMLEnc implementation (xmlseclibs), not only with our own signer.

use crate::{Expected, SamlError, ServiceProvider, parse_metadata, verify_response};
use base64::Engine as _;

const MADE_AT: i64 = 1_796_617_724;
const RESPONSE: &str = include_str!("../../fixtures/simplesamlphp-response.xml");
const ENCRYPTED: &str = include_str!("../../fixtures/simplesamlphp-response-encrypted.xml");
const METADATA: &str = include_str!("../../fixtures/simplesamlphp-idp-metadata.xml");
const SP_CERT: &str = include_str!("../../fixtures/simplesamlphp-sp-encryption-cert.pem");
const SP_KEY: &str = include_str!("../../fixtures/simplesamlphp-sp-encryption-key.pem");

fn pem(text: &str) -> Vec<u8> {
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("PEM")
}

fn sp(encryption: bool) -> ServiceProvider {
    ServiceProvider {
        entity_id: "urn:amazon:cognito:sp:local_StandIn1".into(),
        acs_url: "http://127.0.0.1:35399/saml2/idpresponse".into(),
        slo_url: "http://127.0.0.1:35399/saml2/logout".into(),
        signing_certificate: pem(SP_CERT),
        signing_key_pkcs8: pem(SP_KEY),
        encryption,
    }
}

fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

#[test]
fn simplesamlphp_signed_response_verifies() {
    let idp = parse_metadata(METADATA).expect("metadata");
    assert_eq!(idp.entity_id, "http://127.0.0.1:38607/simplesaml/saml2/idp/metadata.php");
    let sp = sp(false);
    let expected = Expected { sp: &sp, idp: &idp, now_secs: MADE_AT + 5, skew_secs: 120, in_response_to: None };
    let a = verify_response(&b64(RESPONSE), &expected).expect("SimpleSAMLphp response verifies");
    assert_eq!(a.name_id, "alice");
    assert_eq!(a.issuer, idp.entity_id);
    assert_eq!(a.attributes["email"], vec!["alice@idp.example.com".to_owned()]);
    assert_eq!(a.attributes["groups"], vec!["staff".to_owned(), "admins".to_owned()]);
    assert!(a.session_index.is_some());
    assert!(a.expires_at_secs > MADE_AT && a.expires_at_secs == MADE_AT + 300 + 120);

    // Ten minutes later the same response has expired.
    let late = Expected { now_secs: MADE_AT + 600, ..expected };
    assert!(matches!(verify_response(&b64(RESPONSE), &late), Err(SamlError::Expired { .. })));
}

#[test]
fn simplesamlphp_response_altered_by_one_byte_is_refused() {
    let idp = parse_metadata(METADATA).expect("metadata");
    let sp = sp(false);
    let expected = Expected { sp: &sp, idp: &idp, now_secs: MADE_AT + 5, skew_secs: 120, in_response_to: None };
    let altered = RESPONSE.replace("alice@idp.example.com", "alice@evil.example.com");
    assert_ne!(altered, RESPONSE);
    assert_eq!(verify_response(&b64(&altered), &expected).unwrap_err(), SamlError::DigestMismatch);
}

#[test]
fn simplesamlphp_encrypted_assertion_decrypts_and_verifies() {
    let idp = parse_metadata(METADATA).expect("metadata");
    let sp = sp(true);
    let expected = Expected { sp: &sp, idp: &idp, now_secs: MADE_AT + 5, skew_secs: 120, in_response_to: None };
    let a = verify_response(&b64(ENCRYPTED), &expected).expect("encrypted response verifies");
    assert_eq!(a.name_id, "alice");
    assert_eq!(a.attributes["sn"], vec!["Liddell".to_owned()]);

    // Encrypted responses off: refused with a message saying so.
    let off = sp_off();
    let expected = Expected { sp: &off, ..expected };
    assert!(matches!(verify_response(&b64(ENCRYPTED), &expected), Err(SamlError::Decryption(_))));
}

fn sp_off() -> ServiceProvider {
    sp(false)
}
