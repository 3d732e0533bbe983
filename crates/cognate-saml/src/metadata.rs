//! SAML metadata: reading the IdP's (what the tenant administrator uploads or links) and
//! writing the pool's own SP metadata (what the administrator gives the IdP).

use crate::xml::{self, escape};
use crate::{SamlError, cert, ns, uris};
use base64::Engine as _;

/// What Cognate needs from an IdP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    /// The IdP's entityID: every Issuer must equal it.
    pub entity_id: String,
    /// SingleSignOnService for the HTTP-Redirect binding (where AuthnRequests go).
    pub sso_redirect: Option<String>,
    /// SingleSignOnService for the HTTP-POST binding.
    pub sso_post: Option<String>,
    /// SingleLogoutService for the HTTP-Redirect binding.
    pub slo_redirect: Option<String>,
    /// DER certificates whose keys may sign Responses and logout messages (KeyDescriptor
    /// `use="signing"` or without `use`). Only these are ever trusted.
    pub signing_certificates: Vec<Vec<u8>>,
    /// `WantAuthnRequestsSigned`: the IdP refuses unsigned AuthnRequests.
    pub want_authn_requests_signed: bool,
}

/// This user pool as a SAML service provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProvider {
    /// `urn:amazon:cognito:sp:{poolId}`, as Cognito names its pools.
    pub entity_id: String,
    /// Assertion Consumer Service (HTTP-POST), e.g. `https://{domain}/saml2/idpresponse`.
    pub acs_url: String,
    /// Single logout endpoint (HTTP-Redirect), e.g. `https://{domain}/saml2/logout`.
    pub slo_url: String,
    /// The pool's signing certificate (DER), published in the SP metadata.
    pub signing_certificate: Vec<u8>,
    /// Its RSA private key (PKCS#8 DER): signs AuthnRequests and logout messages.
    pub signing_key_pkcs8: Vec<u8>,
    /// Encrypted responses (Cognito's `EncryptedResponses`): the certificate is also published
    /// for encryption, the same key decrypts `EncryptedAssertion`s, and unencrypted
    /// assertions are refused. Defaults to off.
    pub encryption: bool,
}

/// Reads IdP metadata: an `EntityDescriptor`, or the first entity with an
/// `IDPSSODescriptor` inside an `EntitiesDescriptor`. The document's own signature, if any,
/// is not checked: metadata is trusted as the administrator supplied it (uploaded or fetched
/// over HTTPS by the caller). At most [`crate::MAX_MESSAGE_BYTES`]: a single IdP's metadata,
/// not a federation's aggregate.
pub fn parse_metadata(xml_text: &str) -> Result<IdpMetadata, SamlError> {
    let doc = xml::parse(xml_text).map_err(|e| match e {
        SamlError::Malformed(m) => SamlError::Metadata(m),
        other => other,
    })?;
    let root = doc.root_element();
    let entity = if xml::is(root, ns::METADATA, "EntityDescriptor") {
        root
    } else if xml::is(root, ns::METADATA, "EntitiesDescriptor") {
        root.descendants()
            .find(|n| {
                xml::is(*n, ns::METADATA, "EntityDescriptor")
                    && xml::children(*n, ns::METADATA, "IDPSSODescriptor").next().is_some()
            })
            .ok_or_else(|| SamlError::Metadata("no EntityDescriptor with an IDPSSODescriptor".into()))?
    } else {
        return Err(SamlError::Metadata("the document is not SAML metadata (EntityDescriptor)".into()));
    };
    let entity_id = entity.attribute("entityID").unwrap_or_default().trim().to_owned();
    if entity_id.is_empty() {
        return Err(SamlError::Metadata("the EntityDescriptor has no entityID".into()));
    }
    let idp = xml::children(entity, ns::METADATA, "IDPSSODescriptor")
        .next()
        .ok_or_else(|| SamlError::Metadata("the entity has no IDPSSODescriptor (is this an IdP's metadata?)".into()))?;
    if !idp.attribute("protocolSupportEnumeration").unwrap_or_default().split_whitespace().any(|p| p == ns::PROTOCOL) {
        return Err(SamlError::Metadata("the IDPSSODescriptor does not support SAML 2.0".into()));
    }

    let mut signing_certificates = Vec::new();
    for kd in xml::children(idp, ns::METADATA, "KeyDescriptor") {
        if !matches!(kd.attribute("use"), None | Some("signing")) {
            continue;
        }
        for c in kd.descendants().filter(|n| xml::is(*n, ns::DSIG, "X509Certificate")) {
            let der = xml::base64_content(c, "X509Certificate")
                .map_err(|_| SamlError::Metadata("a signing certificate is not valid base64".into()))?;
            cert::rsa_public_key(&der)?;
            if !signing_certificates.contains(&der) {
                signing_certificates.push(der);
            }
        }
    }
    if signing_certificates.is_empty() {
        return Err(SamlError::Metadata("no signing certificate (KeyDescriptor use=\"signing\")".into()));
    }

    let endpoint = |local: &str, binding: &str| -> Option<String> {
        xml::children(idp, ns::METADATA, local)
            .find(|n| n.attribute("Binding") == Some(binding))
            .and_then(|n| n.attribute("Location"))
            .map(|l| l.trim().to_owned())
    };
    let metadata = IdpMetadata {
        entity_id,
        sso_redirect: endpoint("SingleSignOnService", uris::BINDING_REDIRECT),
        sso_post: endpoint("SingleSignOnService", uris::BINDING_POST),
        slo_redirect: endpoint("SingleLogoutService", uris::BINDING_REDIRECT),
        signing_certificates,
        want_authn_requests_signed: matches!(idp.attribute("WantAuthnRequestsSigned"), Some("true" | "1")),
    };
    if metadata.sso_redirect.is_none() && metadata.sso_post.is_none() {
        return Err(SamlError::Metadata("no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding".into()));
    }
    Ok(metadata)
}

/// The pool's SP metadata: signed AuthnRequests, signed assertions wanted, ACS over
/// HTTP-POST, single logout over HTTP-Redirect, the signing certificate (and the same one for
/// encryption when encrypted responses are on).
pub fn sp_metadata(sp: &ServiceProvider) -> String {
    let cert = base64::engine::general_purpose::STANDARD.encode(&sp.signing_certificate);
    let key_descriptor = |usage: &str| {
        format!(
            "<md:KeyDescriptor use=\"{usage}\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        )
    };
    let mut out = String::new();
    out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<md:EntityDescriptor xmlns:md=\"{}\" xmlns:ds=\"{}\" entityID=\"{}\">",
        ns::METADATA,
        ns::DSIG,
        escape(&sp.entity_id)
    ));
    out.push_str(&format!(
        "<md:SPSSODescriptor AuthnRequestsSigned=\"true\" WantAssertionsSigned=\"true\" protocolSupportEnumeration=\"{}\">",
        ns::PROTOCOL
    ));
    out.push_str(&key_descriptor("signing"));
    if sp.encryption {
        out.push_str(&key_descriptor("encryption"));
    }
    out.push_str(&format!(
        "<md:SingleLogoutService Binding=\"{}\" Location=\"{}\"/>",
        uris::BINDING_REDIRECT,
        escape(&sp.slo_url)
    ));
    out.push_str(&format!("<md:NameIDFormat>{}</md:NameIDFormat>", uris::NAMEID_UNSPECIFIED));
    out.push_str(&format!(
        "<md:AssertionConsumerService Binding=\"{}\" Location=\"{}\" index=\"1\" isDefault=\"true\"/>",
        uris::BINDING_POST,
        escape(&sp.acs_url)
    ));
    out.push_str("</md:SPSSODescriptor></md:EntityDescriptor>\n");
    out
}
