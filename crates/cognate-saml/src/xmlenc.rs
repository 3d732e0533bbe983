//! Decrypting an `EncryptedAssertion` (XML Encryption 1.0/1.1) with the pool's key.
//!
//! Key transport: RSA-OAEP only (`rsa-oaep-mgf1p`, or xmlenc 1.1 `rsa-oaep` with matching
//! SHA-2 digest and MGF1); RSA PKCS#1 v1.5 key transport is refused (Bleichenbacher). Data:
//! AES-GCM or AES-CBC. Every decryption failure gives the same error, so the endpoint is no
//! padding oracle; the decrypted assertion must still carry a signature, or its Response one.

use crate::xml::{self, child, required};
use crate::{SamlError, ServiceProvider, ns};
use aws_lc_rs::aead;
use aws_lc_rs::cipher::{AES_128, AES_192, AES_256, DecryptingKey, DecryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512, OaepAlgorithm,
    OaepPrivateDecryptingKey, PrivateDecryptingKey,
};
use roxmltree::Node;

const XMLENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";

fn failed() -> SamlError {
    SamlError::Decryption("cannot be decrypted with this user pool's key".into())
}

/// The plaintext (an `Assertion` element's XML) of an `EncryptedAssertion`.
pub(crate) fn decrypt_assertion(encrypted: Node<'_, '_>, sp: &ServiceProvider) -> Result<String, SamlError> {
    if !sp.encryption {
        return Err(SamlError::Decryption(
            "the IdP encrypted the assertion but encrypted responses are off for this provider".into(),
        ));
    }
    let data = required(encrypted, ns::XMLENC, "EncryptedData")?;
    let data_alg = required(data, ns::XMLENC, "EncryptionMethod")?.attribute("Algorithm").unwrap_or_default();
    // The EncryptedKey sits in the data's KeyInfo or beside the EncryptedData.
    let key_node = child(data, ns::DSIG, "KeyInfo")?
        .and_then(|ki| ki.children().find(|n| xml::is(*n, ns::XMLENC, "EncryptedKey")))
        .or_else(|| xml::children(encrypted, ns::XMLENC, "EncryptedKey").next())
        .ok_or_else(|| SamlError::Decryption("no EncryptedKey".into()))?;
    let key = decrypt_key(key_node, sp)?;
    let cipher = cipher_value(data)?;
    let plaintext = decrypt_data(data_alg, &key, cipher)?;
    String::from_utf8(plaintext).map_err(|_| failed())
}

fn cipher_value(node: Node<'_, '_>) -> Result<Vec<u8>, SamlError> {
    let cd = required(node, ns::XMLENC, "CipherData")?;
    xml::base64_content(required(cd, ns::XMLENC, "CipherValue")?, "CipherValue")
}

fn oaep_algorithm(method: Node<'_, '_>) -> Result<&'static OaepAlgorithm, SamlError> {
    let digest = child(method, ns::DSIG, "DigestMethod")?.and_then(|d| d.attribute("Algorithm"));
    let mgf = child(method, XMLENC11, "MGF")?.and_then(|d| d.attribute("Algorithm"));
    let sha1 = "http://www.w3.org/2000/09/xmldsig#sha1";
    match (method.attribute("Algorithm").unwrap_or_default(), digest, mgf) {
        (RSA_OAEP_MGF1P, None | Some("http://www.w3.org/2000/09/xmldsig#sha1"), None) => Ok(&OAEP_SHA1_MGF1SHA1),
        (RSA_OAEP, d, m) => match (d.unwrap_or(sha1), m.unwrap_or("http://www.w3.org/2009/xmlenc11#mgf1sha1")) {
            (d, "http://www.w3.org/2009/xmlenc11#mgf1sha1") if d == sha1 => Ok(&OAEP_SHA1_MGF1SHA1),
            ("http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2009/xmlenc11#mgf1sha256") => {
                Ok(&OAEP_SHA256_MGF1SHA256)
            }
            ("http://www.w3.org/2001/04/xmldsig-more#sha384", "http://www.w3.org/2009/xmlenc11#mgf1sha384") => {
                Ok(&OAEP_SHA384_MGF1SHA384)
            }
            ("http://www.w3.org/2001/04/xmlenc#sha512", "http://www.w3.org/2009/xmlenc11#mgf1sha512") => {
                Ok(&OAEP_SHA512_MGF1SHA512)
            }
            _ => Err(SamlError::UnsupportedAlgorithm("RSA-OAEP digest and MGF combination".into())),
        },
        (RSA_1_5, _, _) => Err(SamlError::WeakAlgorithm("RSA PKCS#1 v1.5 key transport".into())),
        (other, _, _) => Err(SamlError::UnsupportedAlgorithm(format!("key transport {other:?}"))),
    }
}

fn decrypt_key(key_node: Node<'_, '_>, sp: &ServiceProvider) -> Result<Vec<u8>, SamlError> {
    let method = required(key_node, ns::XMLENC, "EncryptionMethod")?;
    let alg = oaep_algorithm(method)?;
    let private = PrivateDecryptingKey::from_pkcs8(&sp.signing_key_pkcs8)
        .map_err(|_| SamlError::Key("the key is not an RSA PKCS#8 key".into()))?;
    let oaep = OaepPrivateDecryptingKey::new(private).map_err(|_| SamlError::Key("the key cannot decrypt".into()))?;
    let ciphertext = cipher_value(key_node)?;
    let mut out = vec![0u8; oaep.min_output_size()];
    let key = oaep.decrypt(alg, &ciphertext, &mut out, None).map_err(|_| failed())?;
    Ok(key.to_vec())
}

fn decrypt_data(alg: &str, key: &[u8], data: Vec<u8>) -> Result<Vec<u8>, SamlError> {
    let (cbc, gcm, len) = match alg {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Some(&AES_128), None, 16),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Some(&AES_192), None, 24),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Some(&AES_256), None, 32),
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (None, Some(&aead::AES_128_GCM), 16),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (None, Some(&aead::AES_256_GCM), 32),
        other => return Err(SamlError::UnsupportedAlgorithm(format!("data encryption {other:?}"))),
    };
    if key.len() != len {
        return Err(failed());
    }
    if let Some(gcm) = gcm {
        if data.len() < 12 + 16 {
            return Err(failed());
        }
        let (iv, rest) = data.split_at(12);
        let nonce = aead::Nonce::try_assume_unique_for_key(iv).map_err(|_| failed())?;
        let key = aead::LessSafeKey::new(aead::UnboundKey::new(gcm, key).map_err(|_| failed())?);
        let mut in_out = rest.to_vec();
        let plain = key.open_in_place(nonce, aead::Aad::empty(), &mut in_out).map_err(|_| failed())?;
        return Ok(plain.to_vec());
    }
    let cbc = cbc.ok_or_else(failed)?;
    if data.len() < 32 || !data.len().is_multiple_of(16) {
        return Err(failed());
    }
    let (iv, rest) = data.split_at(16);
    let iv: [u8; 16] = iv.try_into().map_err(|_| failed())?;
    let key = DecryptingKey::cbc(UnboundCipherKey::new(cbc, key).map_err(|_| failed())?).map_err(|_| failed())?;
    let mut in_out = rest.to_vec();
    let plain = key.decrypt(&mut in_out, DecryptionContext::Iv128(FixedLength::from(iv))).map_err(|_| failed())?;
    // XML Encryption's padding: the last byte counts the padding bytes (1..=16); the others
    // are arbitrary (ISO 10126), so only the count is checked.
    let pad = usize::from(*plain.last().ok_or_else(failed)?);
    if pad == 0 || pad > 16 || pad > plain.len() {
        return Err(failed());
    }
    let len = plain.len() - pad;
    Ok(plain[..len].to_vec())
}

/// The decrypted assertion wrapped in an element declaring the namespaces in scope at the
/// `EncryptedAssertion`, since the plaintext may use prefixes declared on the Response.
/// Exclusive canonicalisation ignores declarations an element does not use, so the wrapper
/// cannot change what the assertion's signature covers.
pub(crate) fn wrap_with_scope(encrypted: Node<'_, '_>, plaintext: &str) -> String {
    let mut out = String::from("<cognate-decrypted");
    for namespace in encrypted.namespaces() {
        match namespace.name() {
            Some("xml") => continue,
            Some(prefix) => out.push_str(&format!(" xmlns:{prefix}=\"{}\"", xml::escape(namespace.uri()))),
            None => out.push_str(&format!(" xmlns=\"{}\"", xml::escape(namespace.uri()))),
        }
    }
    out.push('>');
    // An XML declaration inside the plaintext would be out of place once wrapped.
    let body = plaintext.trim_start();
    let body =
        if body.starts_with("<?xml") { body.split_once("?>").map(|(_, rest)| rest).unwrap_or(body) } else { body };
    out.push_str(body);
    out.push_str("</cognate-decrypted>");
    out
}
