//! The HTTP-POST binding's Response: signature first, then every condition SAML 2.0's Web
//! Browser SSO profile sets on a bearer assertion.
//!
//! Signature wrapping is refused by structure, before any signature is looked at: the
//! Response is the document's root, the document holds exactly one `Assertion` (or one
//! `EncryptedAssertion`) anywhere, as a direct child of the Response, no two elements share an
//! ID, and `ds:Signature` elements appear only directly in the Response or the Assertion.
//! The signatures verified are then those two, each required to reference its own parent; the
//! Assertion read afterwards is the very node that was (or whose Response was) verified.
//!
//! IdP-initiated sign-in: when the caller has no outstanding request (`in_response_to: None`)
//! a Response or SubjectConfirmationData carrying `InResponseTo` is refused. Such a response
//! answers a request made elsewhere (for example one captured from another browser), and
//! Cognito likewise accepts unsolicited responses only without it.

use crate::xml::{self, child, required};
use crate::{IdpMetadata, SamlError, ServiceProvider, dsig, ns, time_fmt, uris, xmlenc};
use roxmltree::{Document, Node};
use std::collections::{BTreeMap, HashSet};

/// What the caller expects of a Response.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// This pool as a service provider (entity id = audience, ACS URL = recipient).
    pub sp: &'a ServiceProvider,
    /// The IdP the Response must come from; only its certificates are trusted.
    pub idp: &'a IdpMetadata,
    /// Now, in seconds since the epoch.
    pub now_secs: i64,
    /// Clock skew tolerated on every time check, e.g. 120 s.
    pub skew_secs: i64,
    /// The ID of the AuthnRequest this Response answers, `None` for IdP-initiated sign-in.
    pub in_response_to: Option<&'a str>,
}

/// A verified assertion: who the IdP says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The assertion's ID: keep it in a replay cache until [`Self::expires_at_secs`].
    pub id: String,
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// The AuthnStatement's SessionIndex, needed to ask the IdP to log this session out.
    pub session_index: Option<String>,
    pub in_response_to: Option<String>,
    /// Attribute name -> values, in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The last instant (seconds since the epoch, skew included) at which this assertion
    /// would still be accepted: the earliest of its NotOnOrAfter times.
    pub expires_at_secs: i64,
}

/// The Response's `InResponseTo`, read without verifying anything, so the caller can find
/// the request (and with it the IdP) the Response claims to answer. Never trust it further.
pub fn response_in_response_to(saml_response_b64: &str) -> Result<Option<String>, SamlError> {
    let text = xml::decode_base64_text(saml_response_b64)?;
    let doc = xml::parse(&text)?;
    let root = doc.root_element();
    if !xml::is(root, ns::PROTOCOL, "Response") {
        return Err(SamlError::Malformed("the document is not a SAML Response".into()));
    }
    Ok(root.attribute("InResponseTo").map(str::to_owned))
}

/// Verifies a base64 `SAMLResponse` (HTTP-POST binding) and returns its assertion.
pub fn verify_response(saml_response_b64: &str, expected: &Expected<'_>) -> Result<Assertion, SamlError> {
    let text = xml::decode_base64_text(saml_response_b64)?;
    let doc = xml::parse(&text)?;
    let response = doc.root_element();
    if !xml::is(response, ns::PROTOCOL, "Response") {
        return Err(SamlError::Malformed("the document is not a SAML Response".into()));
    }
    check_structure(&doc, response)?;

    // Status before signatures: an IdP's error responses are often unsigned, and the status
    // is what the administrator needs to see.
    check_status(response)?;

    let response_signed = match dsig::enveloped_signature(response)? {
        Some(sig) => {
            dsig::verify_enveloped(response, sig, &expected.idp.signing_certificates)?;
            true
        }
        None => false,
    };
    check_response(response, expected)?;

    let encrypted = child(response, ns::ASSERTION, "EncryptedAssertion")?;
    match encrypted {
        Some(enc) => {
            let plaintext = xmlenc::decrypt_assertion(enc, expected.sp)?;
            let wrapped = xmlenc::wrap_with_scope(enc, &plaintext);
            let inner = xml::parse(&wrapped)?;
            let wrapper = inner.root_element();
            let mut elements = wrapper.children().filter(|n| n.is_element());
            let (Some(assertion), None) = (elements.next(), elements.next()) else {
                return Err(SamlError::Structure("the EncryptedAssertion must hold exactly one Assertion".into()));
            };
            if !xml::is(assertion, ns::ASSERTION, "Assertion") {
                return Err(SamlError::Structure("the EncryptedAssertion does not hold an Assertion".into()));
            }
            check_structure_inner(&inner)?;
            read_assertion(assertion, response_signed, expected)
        }
        // As Cognito's EncryptedResponses: once on, plaintext assertions are refused, so a
        // misconfigured IdP is noticed rather than silently sending attributes in the clear.
        None if expected.sp.encryption => Err(SamlError::Decryption(
            "encrypted responses are required for this provider but the IdP sent an unencrypted assertion".into(),
        )),
        None => {
            let assertion = required(response, ns::ASSERTION, "Assertion")?;
            read_assertion(assertion, response_signed, expected)
        }
    }
}

/// Refuses every document shape a signature-wrapping attack needs (see the module docs).
fn check_structure(doc: &Document<'_>, response: Node<'_, '_>) -> Result<(), SamlError> {
    let assertions: Vec<Node<'_, '_>> = doc
        .descendants()
        .filter(|n| xml::is(*n, ns::ASSERTION, "Assertion") || xml::is(*n, ns::ASSERTION, "EncryptedAssertion"))
        .collect();
    match assertions.as_slice() {
        [] => return Err(SamlError::Malformed("the Response carries no Assertion".into())),
        [one] if one.parent() == Some(response) => {}
        [_] => {
            return Err(SamlError::Structure("the Assertion is not a direct child of the Response".into()));
        }
        _ => {
            return Err(SamlError::Structure("the Response carries more than one Assertion".into()));
        }
    }
    check_unique_ids(doc)?;
    for sig in doc.descendants().filter(|n| xml::is(*n, ns::DSIG, "Signature")) {
        let parent = sig.parent();
        let allowed = parent == Some(response)
            || parent.is_some_and(|p| Some(p) == assertions.first().copied() && xml::is(p, ns::ASSERTION, "Assertion"));
        if !allowed {
            return Err(SamlError::Structure("a signature appears outside the Response and its Assertion".into()));
        }
    }
    Ok(())
}

/// The decrypted assertion's document: unique IDs, signatures only directly in the Assertion.
fn check_structure_inner(doc: &Document<'_>) -> Result<(), SamlError> {
    check_unique_ids(doc)?;
    let nested = doc
        .descendants()
        .filter(|n| xml::is(*n, ns::ASSERTION, "Assertion") || xml::is(*n, ns::ASSERTION, "EncryptedAssertion"))
        .count();
    if nested != 1 {
        return Err(SamlError::Structure("the EncryptedAssertion must hold exactly one Assertion".into()));
    }
    for sig in doc.descendants().filter(|n| xml::is(*n, ns::DSIG, "Signature")) {
        if !sig.parent().is_some_and(|p| xml::is(p, ns::ASSERTION, "Assertion")) {
            return Err(SamlError::Structure("a signature appears outside the Assertion".into()));
        }
    }
    Ok(())
}

/// Two elements with one ID make "the element with this ID" ambiguous: refused.
fn check_unique_ids(doc: &Document<'_>) -> Result<(), SamlError> {
    let mut seen = HashSet::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attr in node.attributes() {
            if attr.namespace().is_none()
                && matches!(attr.name(), "ID" | "Id" | "AssertionID")
                && !seen.insert(attr.value())
            {
                return Err(SamlError::Structure("two elements share one ID".into()));
            }
        }
    }
    Ok(())
}

fn check_status(response: Node<'_, '_>) -> Result<(), SamlError> {
    let status = required(response, ns::PROTOCOL, "Status")?;
    let code = required(status, ns::PROTOCOL, "StatusCode")?;
    let value = code.attribute("Value").unwrap_or_default();
    if value == uris::STATUS_SUCCESS {
        return Ok(());
    }
    // The second-level code says more (AuthnFailed, NoPassive…).
    let sub = child(code, ns::PROTOCOL, "StatusCode")?.and_then(|c| c.attribute("Value"));
    let code = match sub {
        Some(sub) => format!("{value} / {sub}"),
        None => value.to_owned(),
    };
    let message = child(status, ns::PROTOCOL, "StatusMessage")?.map(xml::text).filter(|m| !m.is_empty());
    Err(SamlError::Status { code, message: message.map(|m| m.chars().take(200).collect()) })
}

fn check_response(response: Node<'_, '_>, expected: &Expected<'_>) -> Result<(), SamlError> {
    if response.attribute("Version") != Some("2.0") {
        return Err(SamlError::Malformed("the Response is not SAML 2.0".into()));
    }
    if let Some(issuer) = child(response, ns::ASSERTION, "Issuer")? {
        check_issuer(issuer, expected.idp)?;
    }
    if let Some(destination) = response.attribute("Destination")
        && destination != expected.sp.acs_url
    {
        return Err(SamlError::WrongDestination {
            expected: expected.sp.acs_url.clone(),
            found: destination.to_owned(),
        });
    }
    check_in_response_to(response.attribute("InResponseTo"), expected.in_response_to, false)
}

fn check_issuer(issuer: Node<'_, '_>, idp: &IdpMetadata) -> Result<(), SamlError> {
    let found = xml::text(issuer);
    if found != idp.entity_id {
        return Err(SamlError::WrongIssuer { expected: idp.entity_id.clone(), found });
    }
    Ok(())
}

/// `required`: the attribute must be present when a request was sent (SubjectConfirmationData).
fn check_in_response_to(found: Option<&str>, expected: Option<&str>, required: bool) -> Result<(), SamlError> {
    match (found, expected) {
        (Some(f), Some(e)) if f == e => Ok(()),
        (Some(_), Some(_)) => Err(SamlError::InResponseTo("the response answers another request".into())),
        (None, Some(_)) if required => {
            Err(SamlError::InResponseTo("the response does not name the request it answers".into()))
        }
        (None, _) => Ok(()),
        (Some(_), None) => Err(SamlError::InResponseTo(
            "an IdP-initiated sign-in must not answer a request (InResponseTo present, none outstanding)".into(),
        )),
    }
}

fn read_assertion(
    assertion: Node<'_, '_>,
    response_signed: bool,
    expected: &Expected<'_>,
) -> Result<Assertion, SamlError> {
    match dsig::enveloped_signature(assertion)? {
        Some(sig) => dsig::verify_enveloped(assertion, sig, &expected.idp.signing_certificates)?,
        None if response_signed => {}
        None => return Err(SamlError::NotSigned),
    }
    if assertion.attribute("Version") != Some("2.0") {
        return Err(SamlError::Malformed("the Assertion is not SAML 2.0".into()));
    }
    let id = assertion.attribute("ID").unwrap_or_default();
    if id.is_empty() {
        return Err(SamlError::Malformed("the Assertion has no ID".into()));
    }
    let issuer = required(assertion, ns::ASSERTION, "Issuer")?;
    check_issuer(issuer, expected.idp)?;

    let now = expected.now_secs;
    let skew = expected.skew_secs;
    let mut expires = i64::MAX;

    // Subject and its bearer confirmation.
    let subject = required(assertion, ns::ASSERTION, "Subject")?;
    let name_id = child(subject, ns::ASSERTION, "NameID")?.ok_or_else(|| {
        SamlError::Malformed("the Subject has no NameID (encrypted NameIDs are not supported)".into())
    })?;
    let name_id_value = xml::text(name_id);
    if name_id_value.is_empty() {
        return Err(SamlError::Malformed("the NameID is empty".into()));
    }
    let mut first_error = None;
    let mut confirmed = None;
    for sc in xml::children(subject, ns::ASSERTION, "SubjectConfirmation") {
        if sc.attribute("Method") != Some(uris::CM_BEARER) {
            continue;
        }
        match check_confirmation(sc, expected) {
            Ok(until) => {
                confirmed = Some(until);
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let in_response_to = match confirmed {
        Some((until, irt)) => {
            expires = expires.min(until);
            irt
        }
        None => {
            return Err(first_error
                .unwrap_or_else(|| SamlError::Malformed("the Subject has no bearer SubjectConfirmation".into())));
        }
    };

    // Conditions: times and audience.
    let conditions = required(assertion, ns::ASSERTION, "Conditions")?;
    if let Some(nb) = conditions.attribute("NotBefore") {
        let at = time_fmt::parse(nb, "Conditions NotBefore")?;
        if now + skew < at {
            return Err(SamlError::NotYetValid { what: "assertion", at: nb.to_owned() });
        }
    }
    if let Some(noa) = conditions.attribute("NotOnOrAfter") {
        let at = time_fmt::parse(noa, "Conditions NotOnOrAfter")?;
        if now - skew >= at {
            return Err(SamlError::Expired { what: "assertion", at: noa.to_owned() });
        }
        expires = expires.min(at);
    }
    let mut restrictions = xml::children(conditions, ns::ASSERTION, "AudienceRestriction").peekable();
    if restrictions.peek().is_none() {
        return Err(SamlError::WrongAudience { expected: expected.sp.entity_id.clone() });
    }
    for restriction in restrictions {
        let ours = xml::children(restriction, ns::ASSERTION, "Audience").any(|a| xml::text(a) == expected.sp.entity_id);
        if !ours {
            return Err(SamlError::WrongAudience { expected: expected.sp.entity_id.clone() });
        }
    }

    let mut session_index = None;
    for statement in xml::children(assertion, ns::ASSERTION, "AuthnStatement") {
        if let Some(snoa) = statement.attribute("SessionNotOnOrAfter") {
            let at = time_fmt::parse(snoa, "SessionNotOnOrAfter")?;
            if now - skew >= at {
                return Err(SamlError::Expired { what: "IdP session", at: snoa.to_owned() });
            }
        }
        if session_index.is_none() {
            session_index = statement.attribute("SessionIndex").map(str::to_owned);
        }
    }

    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in xml::children(assertion, ns::ASSERTION, "AttributeStatement") {
        for attr in xml::children(statement, ns::ASSERTION, "Attribute") {
            let Some(name) = attr.attribute("Name") else {
                return Err(SamlError::Malformed("an Attribute has no Name".into()));
            };
            let values = attributes.entry(name.to_owned()).or_default();
            values.extend(xml::children(attr, ns::ASSERTION, "AttributeValue").map(xml::text));
        }
    }

    Ok(Assertion {
        id: id.to_owned(),
        issuer: expected.idp.entity_id.clone(),
        name_id: name_id_value,
        name_id_format: name_id.attribute("Format").map(str::to_owned),
        session_index,
        in_response_to,
        attributes,
        expires_at_secs: expires.saturating_add(skew),
    })
}

/// One bearer confirmation: recipient, times, InResponseTo. Returns its NotOnOrAfter.
fn check_confirmation(sc: Node<'_, '_>, expected: &Expected<'_>) -> Result<(i64, Option<String>), SamlError> {
    let data = required(sc, ns::ASSERTION, "SubjectConfirmationData")?;
    let recipient = data.attribute("Recipient").unwrap_or_default();
    if recipient != expected.sp.acs_url {
        return Err(SamlError::WrongRecipient { expected: expected.sp.acs_url.clone(), found: recipient.to_owned() });
    }
    let noa = data
        .attribute("NotOnOrAfter")
        .ok_or_else(|| SamlError::Malformed("the bearer SubjectConfirmationData has no NotOnOrAfter".into()))?;
    let until = time_fmt::parse(noa, "SubjectConfirmationData NotOnOrAfter")?;
    if expected.now_secs - expected.skew_secs >= until {
        return Err(SamlError::Expired { what: "subject confirmation", at: noa.to_owned() });
    }
    if let Some(nb) = data.attribute("NotBefore")
        && expected.now_secs + expected.skew_secs < time_fmt::parse(nb, "SubjectConfirmationData NotBefore")?
    {
        return Err(SamlError::NotYetValid { what: "subject confirmation", at: nb.to_owned() });
    }
    let irt = data.attribute("InResponseTo");
    check_in_response_to(irt, expected.in_response_to, true)?;
    Ok((until, irt.map(str::to_owned)))
}
