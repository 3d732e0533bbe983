//! Just enough DER to take the public key out of an X.509 certificate.
//!
//! Certificates in SAML metadata are trust anchors pinned by the tenant administrator, not
//! chains to validate: Cognate, like Cognito, ignores their validity dates and issuer and only
//! needs the key. aws-lc-rs verifies with an `RSAPublicKey`, which is the content of the
//! SubjectPublicKeyInfo's bit string.

use crate::SamlError;

/// rsaEncryption, 1.2.840.113549.1.1.1.
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// One DER element: tag, content, and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The RSA public key (`RSAPublicKey` DER) of a DER certificate.
pub(crate) fn rsa_public_key(cert_der: &[u8]) -> Result<Vec<u8>, SamlError> {
    let bad = || SamlError::Metadata("a signing certificate is not a valid X.509 certificate".into());
    let (tag, cert, _) = tlv(cert_der).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, tbs, _) = tlv(cert).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let mut rest = tbs;
    // [0] version is optional; then serial, signature, issuer, validity, subject, SPKI.
    let (tag, _, after) = tlv(rest).ok_or_else(bad)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..5 {
        let (_, _, after) = tlv(rest).ok_or_else(bad)?;
        rest = after;
    }
    let (tag, spki, _) = tlv(rest).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, alg, after) = tlv(spki).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, oid, _) = tlv(alg).ok_or_else(bad)?;
    if tag != 0x06 || oid != OID_RSA {
        return Err(SamlError::UnsupportedAlgorithm(
            "certificate key type (only RSA signing certificates are accepted)".into(),
        ));
    }
    let (tag, bits, _) = tlv(after).ok_or_else(bad)?;
    match (tag, bits.split_first()) {
        (0x03, Some((0, key))) => Ok(key.to_vec()),
        _ => Err(bad()),
    }
}
