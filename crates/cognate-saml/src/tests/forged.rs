//! `verify_response` against a valid Response and a battery of forged ones; each forgery is
//! refused with the error naming its defect, so removing any one check fails a test here.

use super::idp::{self, ACS, IDP_ENTITY, NOW, REQUEST_ID, SP_ENTITY, Sign, b64, key_cert, sign};
use crate::{Expected, SamlError, response_in_response_to, verify_response};

struct World {
    idp_key: idp::KeyCert,
    idp: crate::IdpMetadata,
    sp: crate::ServiceProvider,
}

fn world() -> World {
    let idp_key = key_cert("Test IdP");
    let idp = idp::idp_metadata(&idp_key);
    World { idp_key, idp, sp: idp::sp() }
}

impl World {
    fn expected(&self) -> Expected<'_> {
        Expected { sp: &self.sp, idp: &self.idp, now_secs: NOW, skew_secs: 120, in_response_to: Some(REQUEST_ID) }
    }
    /// The assertion signed correctly.
    fn signed(&self, xml: &str) -> String {
        sign(xml, "_assert1", &Sign::by(&self.idp_key))
    }
    fn verify(&self, xml: &str) -> Result<crate::Assertion, SamlError> {
        verify_response(&b64(xml), &self.expected())
    }
}

#[test]
fn valid_responses_pass_with_the_assertion_the_response_or_both_signed() {
    let w = world();
    let assertion_signed = w.signed(&idp::response_xml());
    let a = w.verify(&assertion_signed).expect("assertion signed");
    assert_eq!(a.id, "_assert1");
    assert_eq!(a.issuer, IDP_ENTITY);
    assert_eq!(a.name_id, "alice");
    assert_eq!(a.name_id_format.as_deref(), Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"));
    assert_eq!(a.session_index.as_deref(), Some("_sess1"));
    assert_eq!(a.in_response_to.as_deref(), Some(REQUEST_ID));
    assert_eq!(a.attributes["groups"], vec!["staff".to_owned(), "admins".to_owned()]);
    assert_eq!(a.expires_at_secs, NOW + 300 + 120);

    let response_signed = sign(&idp::response_xml(), "_resp1", &Sign::by(&w.idp_key));
    assert_eq!(w.verify(&response_signed).expect("response signed").name_id, "alice");

    let both = sign(&assertion_signed, "_resp1", &Sign::by(&w.idp_key));
    assert_eq!(w.verify(&both).expect("both signed").id, "_assert1");
    assert_eq!(response_in_response_to(&b64(&both)).expect("peek").as_deref(), Some(REQUEST_ID));
}

#[test]
fn unsigned_is_refused() {
    let w = world();
    assert_eq!(w.verify(&idp::response_xml()).unwrap_err(), SamlError::NotSigned);
}

#[test]
fn signature_by_another_key_is_refused() {
    let w = world();
    let other = key_cert("Other IdP");
    let xml = sign(&idp::response_xml(), "_assert1", &Sign { key_info: None, ..Sign::by(&other) });
    assert_eq!(w.verify(&xml).unwrap_err(), SamlError::BadSignature);
}

#[test]
fn key_info_carrying_an_attacker_certificate_is_refused() {
    let w = world();
    let attacker = key_cert("Attacker");
    let xml = sign(&idp::response_xml(), "_assert1", &Sign::by(&attacker));
    assert_eq!(w.verify(&xml).unwrap_err(), SamlError::UntrustedCertificate);
}

#[test]
fn response_signed_by_another_key_fails_even_with_a_good_assertion_signature() {
    let w = world();
    let other = key_cert("Other IdP");
    let xml = sign(&w.signed(&idp::response_xml()), "_resp1", &Sign { key_info: None, ..Sign::by(&other) });
    assert_eq!(w.verify(&xml).unwrap_err(), SamlError::BadSignature);
}

/// The attacker's assertion: alice's signed one with another subject.
fn evil_assertion(signed_response: &str) -> String {
    let start = signed_response.find("<saml:Assertion").expect("assertion");
    let end = signed_response.find("</saml:Assertion>").expect("end") + "</saml:Assertion>".len();
    let evil = &signed_response[start..end];
    let evil = evil.replace("alice", "mallory").replace("_assert1", "_evil1");
    // Strip its signature: the attacker cannot make one.
    match (evil.find("<ds:Signature"), evil.find("</ds:Signature>")) {
        (Some(s), Some(e)) => format!("{}{}", &evil[..s], &evil[e + "</ds:Signature>".len()..]),
        _ => evil,
    }
}

fn signed_assertion(signed_response: &str) -> &str {
    let start = signed_response.find("<saml:Assertion").expect("assertion");
    let end = signed_response.find("</saml:Assertion>").expect("end") + "</saml:Assertion>".len();
    &signed_response[start..end]
}

#[test]
fn wrapping_an_unsigned_assertion_beside_the_signed_one_is_refused() {
    let w = world();
    let good = w.signed(&idp::response_xml());
    let evil = evil_assertion(&good);
    for xml in [
        good.replace("<saml:Assertion ", &format!("{evil}<saml:Assertion ")),
        good.replace("</samlp:Response>", &format!("{evil}</samlp:Response>")),
    ] {
        assert!(matches!(w.verify(&xml), Err(SamlError::Structure(_))), "{:?}", w.verify(&xml));
    }
}

#[test]
fn wrapping_the_signed_assertion_under_extensions_is_refused() {
    let w = world();
    let good = w.signed(&idp::response_xml());
    let signed = signed_assertion(&good).to_owned();
    let evil = evil_assertion(&good);
    let xml = good
        .replace(&signed, &evil)
        .replace("<samlp:Status>", &format!("<samlp:Extensions>{signed}</samlp:Extensions><samlp:Status>"));
    assert!(matches!(w.verify(&xml), Err(SamlError::Structure(_))));
}

#[test]
fn wrapping_the_signed_assertion_inside_a_signature_object_is_refused() {
    let w = world();
    let good = w.signed(&idp::response_xml());
    let signed = signed_assertion(&good).to_owned();
    let evil = evil_assertion(&good);
    // The signed assertion hidden in a ds:Object of the evil assertion's (copied) signature.
    let sig_start = signed.find("<ds:Signature").expect("sig");
    let sig_end = signed.find("</ds:Signature>").expect("sig end");
    let hidden_sig = format!("{}<ds:Object>{signed}</ds:Object></ds:Signature>", &signed[sig_start..sig_end]);
    let evil = evil.replacen("</saml:Issuer>", &format!("</saml:Issuer>{hidden_sig}"), 1);
    let xml = good.replace(&signed, &evil);
    assert!(matches!(w.verify(&xml), Err(SamlError::Structure(_))));
}

#[test]
fn duplicate_ids_are_refused() {
    let w = world();
    // Extensions carrying an element with the assertion's ID: "#_assert1" becomes ambiguous.
    let good = w.signed(&idp::response_xml());
    let xml = good.replace(
        "<samlp:Status>",
        r#"<samlp:Extensions><x:Decoy xmlns:x="urn:x" ID="_assert1"/></samlp:Extensions><samlp:Status>"#,
    );
    assert_eq!(w.verify(&xml).unwrap_err(), SamlError::Structure("two elements share one ID".into()));
}

#[test]
fn a_reference_to_another_element_is_refused() {
    let w = world();
    // The assertion carries a signature, valid and from the IdP, over the Response element.
    let xml = sign(&idp::response_xml(), "_assert1", &Sign { reference: Some("#_resp1"), ..Sign::by(&w.idp_key) });
    assert!(matches!(w.verify(&xml), Err(SamlError::Structure(m)) if m.contains("Reference")));
}

#[test]
fn a_signature_elsewhere_in_the_document_is_refused() {
    let w = world();
    let good = w.signed(&idp::response_xml());
    let signed = signed_assertion(&good);
    let sig_start = signed.find("<ds:Signature").expect("sig");
    let sig_end = signed.find("</ds:Signature>").expect("sig end") + "</ds:Signature>".len();
    let sig = &signed[sig_start..sig_end];
    let xml = good.replace("<saml:NameID ", &format!("{sig}<saml:NameID "));
    assert!(matches!(w.verify(&xml), Err(SamlError::Structure(_))));
}

#[test]
fn two_signed_assertions_are_refused() {
    let w = world();
    let good = w.signed(&idp::response_xml());
    let second = sign(&idp::response_xml().replace("_assert1", "_assert2"), "_assert2", &Sign::by(&w.idp_key));
    let xml = good.replace("</samlp:Response>", &format!("{}</samlp:Response>", signed_assertion(&second)));
    assert_eq!(
        w.verify(&xml).unwrap_err(),
        SamlError::Structure("the Response carries more than one Assertion".into())
    );
}

#[test]
fn tampering_after_signing_is_refused() {
    let w = world();
    let good = w.signed(&idp::response_xml());
    let xml = good.replace("alice@example.com", "mallory@example.com");
    assert_eq!(w.verify(&xml).unwrap_err(), SamlError::DigestMismatch);
    // The signed Response covers its unsigned assertion too.
    let good = sign(&idp::response_xml(), "_resp1", &Sign::by(&w.idp_key));
    let xml = good.replace(">alice<", ">mallory<");
    assert_eq!(w.verify(&xml).unwrap_err(), SamlError::DigestMismatch);
}

#[test]
fn sha1_signatures_and_digests_are_refused() {
    let w = world();
    let xml = sign(&idp::response_xml(), "_assert1", &Sign { sig_alg: crate::dsig::RSA_SHA1, ..Sign::by(&w.idp_key) });
    assert!(matches!(w.verify(&xml), Err(SamlError::WeakAlgorithm(_))));
    let xml = sign(&idp::response_xml(), "_assert1", &Sign { digest_alg: crate::dsig::SHA1, ..Sign::by(&w.idp_key) });
    assert!(matches!(w.verify(&xml), Err(SamlError::WeakAlgorithm(_))));
}

/// Changes the template, then signs: the signature is valid, the content is wrong.
fn signed_with(w: &World, from: &str, to: &str) -> String {
    let xml = idp::response_xml();
    assert!(xml.contains(from), "{from}");
    w.signed(&xml.replace(from, to))
}

#[test]
fn wrong_audience_is_refused() {
    let w = world();
    let xml = signed_with(&w, &format!("<saml:Audience>{SP_ENTITY}"), "<saml:Audience>urn:amazon:cognito:sp:other");
    assert_eq!(w.verify(&xml).unwrap_err(), SamlError::WrongAudience { expected: SP_ENTITY.into() });
    let xml = signed_with(
        &w,
        "<saml:AudienceRestriction>",
        "<saml:AudienceRestriction><saml:Audience>urn:other</saml:Audience></saml:AudienceRestriction><saml:AudienceRestriction>",
    );
    assert!(matches!(w.verify(&xml), Err(SamlError::WrongAudience { .. })), "every restriction must include us");
}

#[test]
fn wrong_recipient_is_refused() {
    let w = world();
    let xml = signed_with(&w, &format!("Recipient=\"{ACS}\""), "Recipient=\"https://evil.example.com/acs\"");
    assert!(matches!(w.verify(&xml), Err(SamlError::WrongRecipient { .. })));
}

#[test]
fn wrong_destination_is_refused() {
    let w = world();
    let xml = sign(
        &idp::response_xml().replace(&format!("Destination=\"{ACS}\""), "Destination=\"https://evil.example.com/acs\""),
        "_resp1",
        &Sign::by(&w.idp_key),
    );
    assert!(matches!(w.verify(&xml), Err(SamlError::WrongDestination { .. })));
}

#[test]
fn expired_and_not_yet_valid_are_refused() {
    let w = world();
    let xml = w.signed(&idp::response_xml());
    let late = Expected { now_secs: NOW + 300 + 121, ..w.expected() };
    assert!(matches!(verify_response(&b64(&xml), &late), Err(SamlError::Expired { .. })));
    let within_skew = Expected { now_secs: NOW + 300 + 119, ..w.expected() };
    assert!(verify_response(&b64(&xml), &within_skew).is_ok());

    // Conditions expired while the confirmation is still good.
    let xml = signed_with(
        &w,
        r#"NotBefore="2027-01-15T07:59:30Z" NotOnOrAfter="2027-01-15T08:05:00Z""#,
        r#"NotBefore="2027-01-15T07:59:30Z" NotOnOrAfter="2027-01-15T07:55:00Z""#,
    );
    assert_eq!(
        w.verify(&xml).unwrap_err(),
        SamlError::Expired { what: "assertion", at: "2027-01-15T07:55:00Z".into() }
    );

    let xml = signed_with(&w, r#"NotBefore="2027-01-15T07:59:30Z""#, r#"NotBefore="2027-01-15T08:03:00Z""#);
    assert!(matches!(w.verify(&xml), Err(SamlError::NotYetValid { .. })));
}

#[test]
fn in_response_to_must_match_the_request() {
    let w = world();
    let xml = w.signed(&idp::response_xml().replace(REQUEST_ID, "_another-request"));
    assert!(matches!(w.verify(&xml), Err(SamlError::InResponseTo(_))));

    // IdP-initiated (nothing outstanding) refuses a response answering a request.
    let good = w.signed(&idp::response_xml());
    let unsolicited = Expected { in_response_to: None, ..w.expected() };
    assert!(matches!(verify_response(&b64(&good), &unsolicited), Err(SamlError::InResponseTo(_))));

    // …and accepts a true unsolicited one.
    let idp_init = w.signed(&idp::response_xml().replace(&format!(" InResponseTo=\"{REQUEST_ID}\""), ""));
    assert!(verify_response(&b64(&idp_init), &unsolicited).is_ok());
    // A request was sent but the confirmation does not name it.
    assert!(matches!(w.verify(&idp_init), Err(SamlError::InResponseTo(_))));
}

#[test]
fn wrong_issuer_is_refused() {
    let w = world();
    let xml = w.signed(&idp::response_xml().replace(IDP_ENTITY, "https://evil.example.com/idp"));
    assert!(matches!(w.verify(&xml), Err(SamlError::WrongIssuer { .. })));
}

#[test]
fn doctype_xxe_and_entity_expansion_are_refused() {
    let w = world();
    let good = w.signed(&idp::response_xml());
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>{}"#,
        good.replace(">alice<", ">&x;<")
    );
    assert_eq!(w.verify(&xxe).unwrap_err(), SamlError::DtdRefused);
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>{}"#,
        good.replace(">alice<", ">&lol3;<")
    );
    assert_eq!(w.verify(&laughs).unwrap_err(), SamlError::DtdRefused);
}

#[test]
fn a_status_other_than_success_is_reported() {
    let w = world();
    let xml = idp::response_xml().replace(
        r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>"#,
        r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>User is locked</samlp:StatusMessage>"#,
    );
    let err = w.verify(&w.signed(&xml)).unwrap_err();
    assert_eq!(
        err,
        SamlError::Status {
            code: "urn:oasis:names:tc:SAML:2.0:status:Responder / urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
                .into(),
            message: Some("User is locked".into())
        }
    );
    assert!(err.to_string().contains("Responder"));
}

#[test]
fn oversized_and_garbage_input_is_refused() {
    let w = world();
    let big = b64("x".repeat(crate::MAX_MESSAGE_BYTES + 1));
    assert!(matches!(verify_response(&big, &w.expected()), Err(SamlError::TooLarge { .. })));
    assert!(matches!(verify_response("%%%not base64", &w.expected()), Err(SamlError::Malformed(_))));
    assert!(matches!(
        verify_response(
            &b64("<samlp:LogoutResponse xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>"),
            &w.expected()
        ),
        Err(SamlError::Malformed(_))
    ));
}

#[test]
fn signatures_in_the_default_namespace_verify() {
    // Entra ID and AD FS write `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">`.
    let w = world();
    let how = Sign { default_namespace: true, ..Sign::by(&w.idp_key) };
    let xml = sign(&sign(&idp::response_xml(), "_assert1", &how), "_resp1", &how);
    assert!(xml.contains("<Signature xmlns="));
    assert_eq!(w.verify(&xml).expect("default-namespace signatures").name_id, "alice");
}

#[test]
fn a_comment_cannot_truncate_the_name_id() {
    // Comments are outside the signed canonical form; the NameID is all of its text, not the
    // text before the comment.
    let w = world();
    let xml = w.signed(&idp::response_xml().replace(">alice<", ">alice@example.com.evil.test<"));
    let xml = xml.replace(">alice@example.com.evil.test<", ">alice@example.com<!---->.evil.test<");
    assert_eq!(w.verify(&xml).expect("comment is not signed content").name_id, "alice@example.com.evil.test");
}

#[test]
fn the_unverified_peek_reads_in_response_to_and_refuses_dtds() {
    let with = idp::response_xml();
    assert_eq!(response_in_response_to(&b64(&with)).expect("peek").as_deref(), Some(REQUEST_ID));
    let without = with.replacen(&format!(" InResponseTo=\"{REQUEST_ID}\""), "", 1);
    assert_eq!(response_in_response_to(&b64(&without)).expect("peek"), None);
    let dtd = format!("<!DOCTYPE r [<!ENTITY x \"y\">]>{with}");
    assert_eq!(response_in_response_to(&b64(&dtd)).unwrap_err(), SamlError::DtdRefused);
}

#[test]
fn a_long_inclusive_prefix_list_is_refused_before_any_canonicalisation() {
    let w = world();
    let good = w.signed(&idp::response_xml());
    let plain = format!(r#"<ds:Transform Algorithm="{}"/>"#, crate::dsig::EXC_C14N);
    assert!(good.contains(&plain), "the signer's exclusive C14N transform");
    let prefixes: Vec<String> = (0..17).map(|i| format!("p{i}")).collect();
    let listed = format!(
        r#"<ds:Transform Algorithm="{c}"><ec:InclusiveNamespaces xmlns:ec="{c}" PrefixList="{}"/></ds:Transform>"#,
        prefixes.join(" "),
        c = crate::dsig::EXC_C14N
    );
    let xml = good.replacen(&plain, &listed, 1);
    assert!(matches!(w.verify(&xml), Err(SamlError::Malformed(m)) if m.contains("PrefixList")));
}
