//! EncryptedAssertion made here with AES-256-GCM and RSA-OAEP to the pool's key (the
//! SimpleSAMLphp fixture covers AES-CBC): decrypted, still held to the signature and
//! structure rules.

use super::idp::{self, NOW, REQUEST_ID, Sign, b64, key_cert, sign};
use crate::{Expected, SamlError, ServiceProvider, verify_response};
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PrivateDecryptingKey};
use aws_lc_rs::{aead, rand, rand::SecureRandom as _};

fn assertion_of(response: &str) -> String {
    let start = response.find("<saml:Assertion").expect("assertion");
    let end = response.find("</saml:Assertion>").expect("end") + "</saml:Assertion>".len();
    response[start..end].to_owned()
}

/// Encrypts `plaintext` to `sp`'s key; `key_transport` names the algorithm written.
fn encrypt(sp: &ServiceProvider, plaintext: &str, key_transport: &str) -> String {
    let rng = rand::SystemRandom::new();
    let mut key = [0u8; 32];
    let mut iv = [0u8; 12];
    rng.fill(&mut key).expect("rng");
    rng.fill(&mut iv).expect("rng");
    let sealing = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &key).expect("key"));
    let mut data = plaintext.as_bytes().to_vec();
    sealing
        .seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(iv), aead::Aad::empty(), &mut data)
        .expect("seal");
    let cipher_data = b64([iv.as_slice(), &data].concat());
    let public = PrivateDecryptingKey::from_pkcs8(&sp.signing_key_pkcs8).expect("SP key").public_key();
    let oaep = OaepPublicEncryptingKey::new(public).expect("oaep");
    let mut wrapped = vec![0u8; oaep.ciphertext_size()];
    let wrapped = oaep.encrypt(&OAEP_SHA1_MGF1SHA1, &key, &mut wrapped, None).expect("wrap");
    format!(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{key_transport}"/><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{cipher_data}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        b64(wrapped)
    )
}

const OAEP: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";

struct World {
    idp_key: idp::KeyCert,
    idp: crate::IdpMetadata,
    sp: ServiceProvider,
}

fn world() -> World {
    let idp_key = key_cert("Test IdP");
    let idp = idp::idp_metadata(&idp_key);
    World { idp_key, idp, sp: ServiceProvider { encryption: true, ..idp::sp() } }
}

impl World {
    fn verify(&self, xml: &str) -> Result<crate::Assertion, SamlError> {
        let expected =
            Expected { sp: &self.sp, idp: &self.idp, now_secs: NOW, skew_secs: 120, in_response_to: Some(REQUEST_ID) };
        verify_response(&b64(xml), &expected)
    }
    /// The template's assertion (signed or not) replaced by `encrypted`.
    fn response_with(&self, encrypted: &str) -> String {
        let template = idp::response_xml();
        template.replace(&assertion_of(&template), encrypted)
    }
}

#[test]
fn a_signed_encrypted_assertion_decrypts_and_verifies() {
    let w = world();
    let signed = assertion_of(&sign(&idp::response_xml(), "_assert1", &Sign::by(&w.idp_key)));
    let xml = w.response_with(&encrypt(&w.sp, &signed, OAEP));
    let a = w.verify(&xml).expect("encrypted, assertion signed");
    assert_eq!(a.name_id, "alice");
    assert_eq!(a.attributes["email"], vec!["alice@example.com".to_owned()]);

    // Unsigned inside, but the Response signed over the ciphertext.
    let unsigned = assertion_of(&idp::response_xml());
    let xml = sign(&w.response_with(&encrypt(&w.sp, &unsigned, OAEP)), "_resp1", &Sign::by(&w.idp_key));
    assert!(w.verify(&xml).is_ok());
}

#[test]
fn an_unsigned_encrypted_assertion_is_refused() {
    let w = world();
    let unsigned = assertion_of(&idp::response_xml());
    let xml = w.response_with(&encrypt(&w.sp, &unsigned, OAEP));
    assert_eq!(w.verify(&xml).unwrap_err(), SamlError::NotSigned);
}

#[test]
fn wrapping_inside_or_beside_the_encrypted_assertion_is_refused() {
    let w = world();
    let signed = assertion_of(&sign(&idp::response_xml(), "_assert1", &Sign::by(&w.idp_key)));
    let evil = assertion_of(&idp::response_xml()).replace("alice", "mallory").replace("_assert1", "_evil");
    // Two assertions inside the ciphertext.
    let xml = w.response_with(&encrypt(&w.sp, &format!("{evil}{signed}"), OAEP));
    assert!(matches!(w.verify(&xml), Err(SamlError::Structure(_))));
    // A plain assertion beside the encrypted one.
    let xml = w.response_with(&format!("{}{evil}", encrypt(&w.sp, &signed, OAEP)));
    assert!(matches!(w.verify(&xml), Err(SamlError::Structure(_))));
}

#[test]
fn wrong_key_and_weak_key_transport_are_refused() {
    let w = world();
    let signed = assertion_of(&sign(&idp::response_xml(), "_assert1", &Sign::by(&w.idp_key)));
    let other_sp = ServiceProvider { encryption: true, ..idp::sp() };
    let xml = w.response_with(&encrypt(&other_sp, &signed, OAEP));
    assert!(matches!(w.verify(&xml), Err(SamlError::Decryption(_))));
    let xml = w.response_with(&encrypt(&w.sp, &signed, "http://www.w3.org/2001/04/xmlenc#rsa-1_5"));
    assert!(matches!(w.verify(&xml), Err(SamlError::WeakAlgorithm(_))));
    // Ciphertext altered: GCM's tag fails, with the same error as any other failure.
    let good = w.response_with(&encrypt(&w.sp, &signed, OAEP));
    let at = good.rfind("</xenc:CipherValue>").expect("cipher") - 8;
    let flipped = if &good[at..at + 1] == "A" { "B" } else { "A" };
    let xml = format!("{}{flipped}{}", &good[..at], &good[at + 1..]);
    assert_eq!(
        w.verify(&xml).unwrap_err(),
        SamlError::Decryption("cannot be decrypted with this user pool's key".into())
    );
}

#[test]
fn with_encryption_on_a_plain_assertion_is_refused() {
    let w = world();
    let xml = sign(&idp::response_xml(), "_assert1", &Sign::by(&w.idp_key));
    assert!(matches!(w.verify(&xml), Err(SamlError::Decryption(m)) if m.contains("unencrypted")));
}
