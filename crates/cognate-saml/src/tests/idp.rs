//! A test IdP: an RSA key and certificate made with rcgen, Responses written from a template,
//! and an enveloped-signature signer built on this crate's canonicalisation (which the
//! SimpleSAMLphp fixtures check against an independent implementation).

use crate::{IdpMetadata, ServiceProvider, c14n, dsig, ns};
use aws_lc_rs::{digest, rand, rsa, signature};
use base64::Engine as _;

pub(crate) const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z
pub(crate) const IDP_ENTITY: &str = "https://idp.example.com/saml/metadata";
pub(crate) const SP_ENTITY: &str = "urn:amazon:cognito:sp:us-east-1_abcDEF123";
pub(crate) const ACS: &str = "https://auth.example.com/saml2/idpresponse";
pub(crate) const SLO: &str = "https://auth.example.com/saml2/logout";
pub(crate) const REQUEST_ID: &str = "_req-7c1f";

pub(crate) struct KeyCert {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

pub(crate) fn key_cert(name: &str) -> KeyCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("certificate");
    KeyCert { cert: cert.der().to_vec(), key: key.serialize_der() }
}

pub(crate) fn idp_metadata(signer: &KeyCert) -> IdpMetadata {
    IdpMetadata {
        entity_id: IDP_ENTITY.into(),
        sso_redirect: Some("https://idp.example.com/sso".into()),
        sso_post: None,
        slo_redirect: Some("https://idp.example.com/slo".into()),
        signing_certificates: vec![signer.cert.clone()],
        want_authn_requests_signed: true,
    }
}

pub(crate) fn sp() -> ServiceProvider {
    let kc = key_cert("Cognate user pool");
    ServiceProvider {
        entity_id: SP_ENTITY.into(),
        acs_url: ACS.into(),
        slo_url: SLO.into(),
        signing_certificate: kc.cert,
        signing_key_pkcs8: kc.key,
        encryption: false,
    }
}

/// A Response answering REQUEST_ID at NOW, assertion valid five minutes; not signed.
pub(crate) fn response_xml() -> String {
    format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_resp1" Version="2.0" IssueInstant="2027-01-15T08:00:00Z" Destination="{ACS}" InResponseTo="{REQUEST_ID}"><saml:Issuer>{IDP_ENTITY}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_assert1" Version="2.0" IssueInstant="2027-01-15T08:00:00Z"><saml:Issuer>{IDP_ENTITY}</saml:Issuer><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">alice</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="2027-01-15T08:05:00Z" Recipient="{ACS}" InResponseTo="{REQUEST_ID}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="2027-01-15T07:59:30Z" NotOnOrAfter="2027-01-15T08:05:00Z"><saml:AudienceRestriction><saml:Audience>{SP_ENTITY}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="2027-01-15T08:00:00Z" SessionIndex="_sess1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue xsi:type="xs:string">alice@example.com</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups"><saml:AttributeValue xsi:type="xs:string">staff</saml:AttributeValue><saml:AttributeValue xsi:type="xs:string">admins</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#
    )
}

/// How a test signature is made; the defaults are a correct signature.
pub(crate) struct Sign<'a> {
    pub by: &'a KeyCert,
    pub sig_alg: &'a str,
    pub digest_alg: &'a str,
    /// Certificate put in KeyInfo (None: no KeyInfo).
    pub key_info: Option<&'a [u8]>,
    /// Reference URI; defaults to `#` + the signed element's ID.
    pub reference: Option<&'a str>,
    /// Write the signature in the default namespace (`<Signature xmlns=…>`, as Entra ID and
    /// AD FS do) instead of with the `ds:` prefix.
    pub default_namespace: bool,
}

impl<'a> Sign<'a> {
    pub(crate) fn by(by: &'a KeyCert) -> Self {
        Sign {
            by,
            sig_alg: dsig::RSA_SHA256,
            digest_alg: dsig::SHA256,
            key_info: Some(&by.cert),
            reference: None,
            default_namespace: false,
        }
    }
}

/// Inserts an enveloped signature into the element whose ID is `id`, after its Issuer.
pub(crate) fn sign(xml: &str, id: &str, how: &Sign<'_>) -> String {
    let doc = roxmltree::Document::parse(xml).expect("xml to sign");
    let element = doc.descendants().find(|n| n.attribute("ID") == Some(id)).expect("element to sign");
    let referenced = how.reference.map(str::to_owned).unwrap_or_else(|| format!("#{id}"));
    let target = doc
        .descendants()
        .find(|n| Some(format!("#{}", n.attribute("ID").unwrap_or_default())) == Some(referenced.clone()))
        .unwrap_or(element);
    let digest_alg = match how.digest_alg {
        dsig::SHA256 => &digest::SHA256,
        dsig::SHA512 => &digest::SHA512,
        _ => &digest::SHA256,
    };
    let digest_value = b64(digest::digest(digest_alg, &c14n::canonicalize(target, None, &[])).as_ref());
    let (p, decl) = if how.default_namespace { ("", "xmlns") } else { ("ds:", "xmlns:ds") };
    let signed_info = format!(
        r#"<{p}SignedInfo><{p}CanonicalizationMethod Algorithm="{c}"/><{p}SignatureMethod Algorithm="{s}"/><{p}Reference URI="{referenced}"><{p}Transforms><{p}Transform Algorithm="{e}"/><{p}Transform Algorithm="{c}"/></{p}Transforms><{p}DigestMethod Algorithm="{d}"/><{p}DigestValue>{digest_value}</{p}DigestValue></{p}Reference></{p}SignedInfo>"#,
        c = dsig::EXC_C14N,
        s = how.sig_alg,
        e = dsig::ENVELOPED,
        d = how.digest_alg,
    );
    // Canonical SignedInfo: parse it in its place (ds declared on Signature) and canonicalise.
    let probe = format!(r#"<{p}Signature {decl}="{}">{signed_info}</{p}Signature>"#, ns::DSIG);
    let probe_doc = roxmltree::Document::parse(&probe).expect("signed info");
    let si = probe_doc.root_element().first_element_child().expect("SignedInfo");
    let canonical = c14n::canonicalize(si, None, &[]);
    let key = rsa::KeyPair::from_pkcs8(&how.by.key).expect("key");
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&signature::RSA_PKCS1_SHA256, &rand::SystemRandom::new(), &canonical, &mut sig).expect("sign");
    let key_info = how
        .key_info
        .map(|c| {
            format!(
                "<{p}KeyInfo><{p}X509Data><{p}X509Certificate>{}</{p}X509Certificate></{p}X509Data></{p}KeyInfo>",
                b64(c)
            )
        })
        .unwrap_or_default();
    let signature = format!(
        r#"<{p}Signature {decl}="{}">{signed_info}<{p}SignatureValue>{}</{p}SignatureValue>{key_info}</{p}Signature>"#,
        ns::DSIG,
        b64(&sig)
    );
    let issuer = element.children().find(|n| n.tag_name().name() == "Issuer").expect("Issuer to sign after");
    let at = issuer.range().end;
    format!("{}{signature}{}", &xml[..at], &xml[at..])
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
