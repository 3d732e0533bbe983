//! XML signature verification for the one profile SAML uses: an enveloped `ds:Signature`,
//! a direct child of the element it signs, with a single `Reference` to that element's ID,
//! the enveloped-signature and exclusive C14N transforms, SHA-2 digests and RSA PKCS#1 v1.5
//! with SHA-2. Anything else is refused rather than interpreted.
//!
//! The caller decides which element must be signed and passes it in; the reference is
//! checked to point at exactly that element, so what was verified is what is read.

use crate::xml::{self, child, required};
use crate::{SamlError, c14n, cert, ns};
use aws_lc_rs::{digest, signature};
use roxmltree::Node;

pub(crate) const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub(crate) const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub(crate) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub(crate) const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
pub(crate) const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
pub(crate) const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub(crate) const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub(crate) const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
pub(crate) const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";
pub(crate) const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// The RSA verification algorithm for a `SignatureMethod` (also the redirect binding's
/// `SigAlg`); SHA-1 is refused.
pub(crate) fn signature_algorithm(uri: &str) -> Result<&'static signature::RsaParameters, SamlError> {
    match uri {
        RSA_SHA256 => Ok(&signature::RSA_PKCS1_2048_8192_SHA256),
        RSA_SHA384 => Ok(&signature::RSA_PKCS1_2048_8192_SHA384),
        RSA_SHA512 => Ok(&signature::RSA_PKCS1_2048_8192_SHA512),
        RSA_SHA1 => Err(SamlError::WeakAlgorithm("RSA-SHA1".into())),
        other => Err(SamlError::UnsupportedAlgorithm(format!("signature algorithm {other:?}"))),
    }
}

fn digest_algorithm(uri: &str) -> Result<&'static digest::Algorithm, SamlError> {
    match uri {
        SHA256 => Ok(&digest::SHA256),
        SHA384 => Ok(&digest::SHA384),
        SHA512 => Ok(&digest::SHA512),
        SHA1 => Err(SamlError::WeakAlgorithm("SHA-1 digest".into())),
        other => Err(SamlError::UnsupportedAlgorithm(format!("digest algorithm {other:?}"))),
    }
}

/// The `ds:Signature` enveloped in `element` (a direct child), if any.
pub(crate) fn enveloped_signature<'a, 'i>(element: Node<'a, 'i>) -> Result<Option<Node<'a, 'i>>, SamlError> {
    child(element, ns::DSIG, "Signature")
}

/// Verifies one signature against data with any of `certs` (DER); true when one verifies.
pub(crate) fn verify_with_certs(
    alg: &'static signature::RsaParameters,
    certs: &[Vec<u8>],
    data: &[u8],
    sig: &[u8],
) -> Result<bool, SamlError> {
    if certs.is_empty() {
        return Err(SamlError::Metadata("the IdP metadata has no signing certificate".into()));
    }
    for der in certs {
        let key = cert::rsa_public_key(der)?;
        if signature::UnparsedPublicKey::new(alg, &key).verify(data, sig).is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Verifies that `sig_node`, a `ds:Signature` child of `element`, signs exactly `element`
/// with one of `certs`.
pub(crate) fn verify_enveloped(
    element: Node<'_, '_>,
    sig_node: Node<'_, '_>,
    certs: &[Vec<u8>],
) -> Result<(), SamlError> {
    if sig_node.parent() != Some(element) {
        return Err(SamlError::Structure("the signature is not enveloped in the element it signs".into()));
    }
    let signed_info = required(sig_node, ns::DSIG, "SignedInfo")?;
    let c14n_method = required(signed_info, ns::DSIG, "CanonicalizationMethod")?;
    if c14n_method.attribute("Algorithm") != Some(EXC_C14N) {
        return Err(SamlError::UnsupportedAlgorithm(format!(
            "canonicalization {:?} (exclusive C14N without comments is required)",
            c14n_method.attribute("Algorithm").unwrap_or_default()
        )));
    }
    let method = required(signed_info, ns::DSIG, "SignatureMethod")?;
    let alg = signature_algorithm(method.attribute("Algorithm").unwrap_or_default())?;

    let mut references = xml::children(signed_info, ns::DSIG, "Reference");
    let reference = references.next().ok_or_else(|| SamlError::Malformed("the signature has no Reference".into()))?;
    if references.next().is_some() {
        return Err(SamlError::Structure("the signature has more than one Reference".into()));
    }
    let digest_method = required(reference, ns::DSIG, "DigestMethod")?;
    let digest_alg = digest_algorithm(digest_method.attribute("Algorithm").unwrap_or_default())?;

    let id = element.attribute("ID").unwrap_or_default();
    if id.is_empty() || reference.attribute("URI") != Some(&format!("#{id}")) {
        return Err(SamlError::Structure(format!(
            "the signature's Reference does not point at the signed {}",
            element.tag_name().name()
        )));
    }

    let transforms = required(reference, ns::DSIG, "Transforms")?;
    let mut enveloped = false;
    let mut inclusive: Vec<String> = Vec::new();
    let mut exclusive = false;
    for t in transforms.children().filter(|n| n.is_element()) {
        if !xml::is(t, ns::DSIG, "Transform") {
            return Err(SamlError::Malformed("unexpected element in Transforms".into()));
        }
        match t.attribute("Algorithm").unwrap_or_default() {
            ENVELOPED if !enveloped && !exclusive => enveloped = true,
            EXC_C14N if !exclusive => {
                exclusive = true;
                inclusive = inclusive_prefixes(t)?;
            }
            other => {
                return Err(SamlError::UnsupportedAlgorithm(format!("transform {other:?}")));
            }
        }
    }
    if !enveloped || !exclusive {
        return Err(SamlError::UnsupportedAlgorithm(
            "transforms (enveloped-signature then exclusive C14N are required)".into(),
        ));
    }

    // KeyInfo is only a hint: when it carries a certificate, that certificate must be one of
    // the metadata's; verification always uses the metadata's certificates.
    if let Some(key_info) = child(sig_node, ns::DSIG, "KeyInfo")? {
        for c in key_info.descendants().filter(|n| xml::is(*n, ns::DSIG, "X509Certificate")) {
            let der = xml::base64_content(c, "X509Certificate")?;
            if !certs.contains(&der) {
                return Err(SamlError::UntrustedCertificate);
            }
        }
    }

    // The signature over SignedInfo first: only a document the IdP really signed makes
    // Cognate canonicalise the (attacker-sized) signed element.
    let signed_info_c14n = c14n::canonicalize(signed_info, None, &inclusive_prefixes(c14n_method)?);
    let value = xml::base64_content(required(sig_node, ns::DSIG, "SignatureValue")?, "SignatureValue")?;
    if !verify_with_certs(alg, certs, &signed_info_c14n, &value)? {
        return Err(SamlError::BadSignature);
    }

    let expected = xml::base64_content(required(reference, ns::DSIG, "DigestValue")?, "DigestValue")?;
    let canonical = c14n::canonicalize(element, Some(sig_node.id()), &inclusive);
    let actual = digest::digest(digest_alg, &canonical);
    if actual.as_ref() != expected.as_slice() {
        return Err(SamlError::DigestMismatch);
    }
    Ok(())
}

/// Most prefixes an `InclusiveNamespaces PrefixList` may name: real ones name a few
/// (`xs`, `xsi`, `saml`); each costs a scope lookup per element canonicalised.
const MAX_INCLUSIVE_PREFIXES: usize = 16;

/// `InclusiveNamespaces PrefixList` of an exclusive C14N method or transform.
fn inclusive_prefixes(method: Node<'_, '_>) -> Result<Vec<String>, SamlError> {
    let prefixes: Vec<String> = method
        .children()
        .find(|n| xml::is(*n, EXC_C14N, "InclusiveNamespaces"))
        .and_then(|n| n.attribute("PrefixList"))
        .map(|list| list.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    if prefixes.len() > MAX_INCLUSIVE_PREFIXES {
        return Err(SamlError::Malformed(format!(
            "an InclusiveNamespaces PrefixList names more than {MAX_INCLUSIVE_PREFIXES} prefixes"
        )));
    }
    Ok(prefixes)
}
