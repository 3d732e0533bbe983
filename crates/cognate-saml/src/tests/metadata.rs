//! IdP metadata as Okta, Entra ID and SimpleSAMLphp publish it, and the pool's SP metadata.

use super::idp::{ACS, SLO, SP_ENTITY, b64, key_cert, sp};
use crate::{SamlError, parse_metadata, sp_metadata};

fn okta(cert: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor entityID="http://www.okta.com/exk1a2b3c4D5e6F7g8h9" xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>
{cert}
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://acme.okta.com/app/acme_cognate_1/exk1a2b3c4D5e6F7g8h9/sso/saml"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://acme.okta.com/app/acme_cognate_1/exk1a2b3c4D5e6F7g8h9/sso/saml"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

/// Entra ID: default namespace, a signature over the document, WS-Federation role
/// descriptors before the IDPSSODescriptor, an encryption-less signing key without `use`.
fn entra(cert: &str, other: &str) -> String {
    format!(
        r##"<?xml version="1.0" encoding="utf-8"?><EntityDescriptor ID="_5f1d" entityID="https://sts.windows.net/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9/" xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo><CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><Reference URI="#_5f1d"><DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue>AAAA</DigestValue></Reference></SignedInfo><SignatureValue>AAAA</SignatureValue><KeyInfo><X509Data><X509Certificate>{cert}</X509Certificate></X509Data></KeyInfo></Signature><RoleDescriptor xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706"><KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{other}</X509Certificate></X509Data></KeyInfo></KeyDescriptor></RoleDescriptor><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><KeyDescriptor><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{cert}</X509Certificate></X509Data></KeyInfo></KeyDescriptor><KeyDescriptor use="encryption"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{other}</X509Certificate></X509Data></KeyInfo></KeyDescriptor><SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://login.microsoftonline.com/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9/saml2"/><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://login.microsoftonline.com/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9/saml2"/><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://login.microsoftonline.com/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9/saml2"/></IDPSSODescriptor></EntityDescriptor>"##
    )
}

#[test]
fn okta_metadata() {
    let kc = key_cert("Okta");
    let md = parse_metadata(&okta(&b64(&kc.cert))).expect("okta metadata");
    assert_eq!(md.entity_id, "http://www.okta.com/exk1a2b3c4D5e6F7g8h9");
    assert_eq!(
        md.sso_redirect.as_deref(),
        Some("https://acme.okta.com/app/acme_cognate_1/exk1a2b3c4D5e6F7g8h9/sso/saml")
    );
    assert!(md.sso_post.is_some());
    assert_eq!(md.slo_redirect, None);
    assert_eq!(md.signing_certificates, vec![kc.cert]);
    assert!(!md.want_authn_requests_signed);
}

#[test]
fn entra_metadata_takes_only_the_idp_signing_keys() {
    let kc = key_cert("Entra");
    let other = key_cert("WS-Fed and encryption");
    let md = parse_metadata(&entra(&b64(&kc.cert), &b64(&other.cert))).expect("entra metadata");
    assert_eq!(md.entity_id, "https://sts.windows.net/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9/");
    assert_eq!(md.signing_certificates, vec![kc.cert], "no WS-Fed or encryption certificate");
    assert!(md.slo_redirect.as_deref().is_some_and(|u| u.starts_with("https://login.microsoftonline.com/")));
}

#[test]
fn simplesamlphp_metadata_inside_an_entities_descriptor() {
    let md = include_str!("../../fixtures/simplesamlphp-idp-metadata.xml");
    let body = md.trim_start_matches("<?xml version=\"1.0\"?>");
    let kc = key_cert("SP entity");
    let sp_entity = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:sp"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:SPSSODescriptor></md:EntityDescriptor>"#,
        b64(&kc.cert)
    );
    let aggregate = format!(
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">{sp_entity}{body}</md:EntitiesDescriptor>"#
    );
    let parsed = parse_metadata(&aggregate).expect("aggregate");
    assert_eq!(parsed, parse_metadata(md).expect("single"));
    assert_eq!(parsed.entity_id, "http://127.0.0.1:38607/simplesaml/saml2/idp/metadata.php");
    assert!(parsed.sso_redirect.is_some() && parsed.slo_redirect.is_some());
}

#[test]
fn unusable_metadata_is_refused_with_a_reason() {
    let kc = key_cert("x");
    let cases = [
        (
            "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"urn:x\"/>",
            "IDPSSODescriptor",
        ),
        (&okta("bm90IGEgY2VydA==")[..], "X.509"),
        (&okta(&b64(&kc.cert)).replace(" use=\"signing\"", " use=\"encryption\""), "signing certificate"),
        (&okta(&b64(&kc.cert)).replace("entityID=\"http://www.okta.com/exk1a2b3c4D5e6F7g8h9\"", ""), "entityID"),
        ("<html/>", "not SAML metadata"),
    ];
    for (doc, why) in cases {
        let err = parse_metadata(doc).unwrap_err();
        assert!(matches!(err, SamlError::Metadata(_)), "{err:?}");
        assert!(err.to_string().contains(why), "{err} should mention {why}");
    }
    let xxe = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}", okta(&b64(&kc.cert)));
    assert_eq!(parse_metadata(&xxe).unwrap_err(), SamlError::DtdRefused);
}

#[test]
fn sp_metadata_describes_the_pool() {
    let mut sp = sp();
    let xml = sp_metadata(&sp);
    let doc = roxmltree::Document::parse(&xml).expect("SP metadata is XML");
    let root = doc.root_element();
    assert_eq!(root.attribute("entityID"), Some(SP_ENTITY));
    let acs = doc.descendants().find(|n| n.tag_name().name() == "AssertionConsumerService").expect("ACS");
    assert_eq!(acs.attribute("Location"), Some(ACS));
    assert_eq!(acs.attribute("Binding"), Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"));
    let slo = doc.descendants().find(|n| n.tag_name().name() == "SingleLogoutService").expect("SLO");
    assert_eq!(slo.attribute("Location"), Some(SLO));
    let spsso = doc.descendants().find(|n| n.tag_name().name() == "SPSSODescriptor").expect("SPSSO");
    assert_eq!(spsso.attribute("AuthnRequestsSigned"), Some("true"));
    assert_eq!(spsso.attribute("WantAssertionsSigned"), Some("true"));
    let uses = |xml: &str| -> Vec<String> {
        let doc = roxmltree::Document::parse(xml).expect("xml");
        doc.descendants()
            .filter(|n| n.tag_name().name() == "KeyDescriptor")
            .filter_map(|n| n.attribute("use").map(str::to_owned))
            .collect()
    };
    assert_eq!(uses(&xml), vec!["signing"]);
    assert!(xml.contains(&b64(&sp.signing_certificate)));
    sp.encryption = true;
    assert_eq!(uses(&sp_metadata(&sp)), vec!["signing", "encryption"]);
}
