//! The HTTP-Redirect binding: AuthnRequests and single logout messages travel DEFLATEd,
//! base64'd and URL-encoded in a query string, signed over the query's own bytes
//! (`SAMLRequest=…&RelayState=…&SigAlg=…`) rather than inside the XML.
//!
//! IdP-initiated LogoutRequests must be signed: an unsigned one would let any page end a
//! user's sessions. LogoutResponses are verified when signed and accepted unsigned (they only
//! confirm a logout Cognate asked for; the caller matches `in_response_to` to its request).

use crate::xml::{self, child, escape, required};
use crate::{IdpMetadata, MAX_MESSAGE_BYTES, SamlError, ServiceProvider, dsig, ns, time_fmt, uris};
use aws_lc_rs::{rand, rsa, signature};
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use std::io::{Read as _, Write as _};

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The HTTP-Redirect URL sending an AuthnRequest to the IdP's SSO endpoint. The request asks
/// for a response over HTTP-POST to the pool's ACS URL. `request_id` must be an xs:ID (a
/// letter or `_` first) and is what the Response's InResponseTo will carry; `sign` adds the
/// binding's RSA-SHA256 signature (required when the IdP's metadata wants signed requests).
pub fn authn_request_url(
    sp: &ServiceProvider,
    idp_sso_url: &str,
    request_id: &str,
    relay_state: &str,
    now_secs: i64,
    sign: bool,
) -> Result<String, SamlError> {
    check_id(request_id)?;
    let xml = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"{}\" xmlns:saml=\"{}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\" AssertionConsumerServiceURL=\"{}\" ProtocolBinding=\"{}\"><saml:Issuer>{}</saml:Issuer><samlp:NameIDPolicy Format=\"{}\" AllowCreate=\"true\"/></samlp:AuthnRequest>",
        ns::PROTOCOL,
        ns::ASSERTION,
        escape(request_id),
        time_fmt::format(now_secs)?,
        escape(idp_sso_url),
        escape(&sp.acs_url),
        uris::BINDING_POST,
        escape(&sp.entity_id),
        uris::NAMEID_UNSPECIFIED,
    );
    redirect_url(sp, idp_sso_url, "SAMLRequest", &xml, relay_state, sign)
}

/// The HTTP-Redirect URL asking the IdP to end the user's session (SP-initiated logout),
/// always signed. `name_id` and `name_id_format` are those of the user's assertion,
/// `session_index` its SessionIndex.
#[allow(clippy::too_many_arguments)]
pub fn logout_request_url(
    sp: &ServiceProvider,
    idp_slo_url: &str,
    request_id: &str,
    name_id: &str,
    name_id_format: Option<&str>,
    session_index: Option<&str>,
    relay_state: &str,
    now_secs: i64,
) -> Result<String, SamlError> {
    check_id(request_id)?;
    let format_attr = name_id_format.map(|f| format!(" Format=\"{}\"", escape(f))).unwrap_or_default();
    let session =
        session_index.map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(s))).unwrap_or_default();
    let xml = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"{}\" xmlns:saml=\"{}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\"><saml:Issuer>{}</saml:Issuer><saml:NameID{format_attr}>{}</saml:NameID>{session}</samlp:LogoutRequest>",
        ns::PROTOCOL,
        ns::ASSERTION,
        escape(request_id),
        time_fmt::format(now_secs)?,
        escape(idp_slo_url),
        escape(&sp.entity_id),
        escape(name_id),
    );
    redirect_url(sp, idp_slo_url, "SAMLRequest", &xml, relay_state, true)
}

/// The HTTP-Redirect URL answering an IdP-initiated LogoutRequest with Success, signed.
pub fn logout_response_url(
    sp: &ServiceProvider,
    idp_slo_url: &str,
    response_id: &str,
    in_response_to: &str,
    relay_state: &str,
    now_secs: i64,
) -> Result<String, SamlError> {
    check_id(response_id)?;
    let xml = format!(
        "<samlp:LogoutResponse xmlns:samlp=\"{}\" xmlns:saml=\"{}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\" InResponseTo=\"{}\"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"{}\"/></samlp:Status></samlp:LogoutResponse>",
        ns::PROTOCOL,
        ns::ASSERTION,
        escape(response_id),
        time_fmt::format(now_secs)?,
        escape(idp_slo_url),
        escape(in_response_to),
        escape(&sp.entity_id),
        uris::STATUS_SUCCESS,
    );
    redirect_url(sp, idp_slo_url, "SAMLResponse", &xml, relay_state, true)
}

/// An IdP-initiated LogoutRequest, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    /// Answer with it as the LogoutResponse's InResponseTo.
    pub id: String,
    pub name_id: String,
    /// The sessions to end; empty means all of the user's sessions with this IdP.
    pub session_indexes: Vec<String>,
    pub relay_state: Option<String>,
}

/// The IdP's answer to a LogoutRequest Cognate sent, with Success status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    pub id: String,
    /// The ID of Cognate's LogoutRequest: the caller checks it is one it sent.
    pub in_response_to: Option<String>,
    pub relay_state: Option<String>,
}

/// Reads an IdP-initiated LogoutRequest from the SLO endpoint's raw query string. The
/// request must be signed with one of the metadata's certificates.
pub fn parse_logout_request(
    raw_query: &str,
    idp: &IdpMetadata,
    sp: &ServiceProvider,
    now_secs: i64,
    skew_secs: i64,
) -> Result<LogoutRequest, SamlError> {
    let query = RedirectQuery::parse(raw_query, "SAMLRequest")?;
    if !query.verify(idp)? {
        return Err(SamlError::NotSigned);
    }
    let text = query.inflate()?;
    let doc = xml::parse(&text)?;
    let root = doc.root_element();
    if !xml::is(root, ns::PROTOCOL, "LogoutRequest") {
        return Err(SamlError::Malformed("the SAMLRequest is not a LogoutRequest".into()));
    }
    check_common(root, idp, sp)?;
    if let Some(noa) = root.attribute("NotOnOrAfter") {
        let at = time_fmt::parse(noa, "LogoutRequest NotOnOrAfter")?;
        if now_secs - skew_secs >= at {
            return Err(SamlError::Expired { what: "logout request", at: noa.to_owned() });
        }
    }
    let name_id = child(root, ns::ASSERTION, "NameID")?.ok_or_else(|| {
        SamlError::Malformed("the LogoutRequest has no NameID (encrypted NameIDs are not supported)".into())
    })?;
    Ok(LogoutRequest {
        id: root.attribute("ID").unwrap_or_default().to_owned(),
        name_id: xml::text(name_id),
        session_indexes: xml::children(root, ns::PROTOCOL, "SessionIndex").map(xml::text).collect(),
        relay_state: query.relay_state_decoded()?,
    })
}

/// Reads the IdP's LogoutResponse from the SLO endpoint's raw query string; its signature is
/// verified when present; a status other than Success is an error.
pub fn parse_logout_response(
    raw_query: &str,
    idp: &IdpMetadata,
    sp: &ServiceProvider,
) -> Result<LogoutResponse, SamlError> {
    let query = RedirectQuery::parse(raw_query, "SAMLResponse")?;
    query.verify(idp)?;
    let text = query.inflate()?;
    let doc = xml::parse(&text)?;
    let root = doc.root_element();
    if !xml::is(root, ns::PROTOCOL, "LogoutResponse") {
        return Err(SamlError::Malformed("the SAMLResponse is not a LogoutResponse".into()));
    }
    check_common(root, idp, sp)?;
    let status = required(root, ns::PROTOCOL, "Status")?;
    let code = required(status, ns::PROTOCOL, "StatusCode")?.attribute("Value").unwrap_or_default();
    if code != uris::STATUS_SUCCESS {
        let message = child(status, ns::PROTOCOL, "StatusMessage")?.map(xml::text).filter(|m| !m.is_empty());
        return Err(SamlError::Status {
            code: code.to_owned(),
            message: message.map(|m| m.chars().take(200).collect()),
        });
    }
    Ok(LogoutResponse {
        id: root.attribute("ID").unwrap_or_default().to_owned(),
        in_response_to: root.attribute("InResponseTo").map(str::to_owned),
        relay_state: query.relay_state_decoded()?,
    })
}

/// Version, ID, Issuer and Destination of a logout message.
fn check_common(root: roxmltree::Node<'_, '_>, idp: &IdpMetadata, sp: &ServiceProvider) -> Result<(), SamlError> {
    if root.attribute("Version") != Some("2.0") || root.attribute("ID").unwrap_or_default().is_empty() {
        return Err(SamlError::Malformed("the logout message is not SAML 2.0 or has no ID".into()));
    }
    let issuer = xml::text(required(root, ns::ASSERTION, "Issuer")?);
    if issuer != idp.entity_id {
        return Err(SamlError::WrongIssuer { expected: idp.entity_id.clone(), found: issuer });
    }
    if let Some(destination) = root.attribute("Destination")
        && destination != sp.slo_url
    {
        return Err(SamlError::WrongDestination { expected: sp.slo_url.clone(), found: destination.to_owned() });
    }
    Ok(())
}

/// xs:ID: an NCName (letter or `_` first; letters, digits, `-`, `_`, `.` after).
fn check_id(id: &str) -> Result<(), SamlError> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) || id.len() > 256 {
        return Err(SamlError::InvalidInput(format!("message id {id:?} is not an xs:ID (start with a letter or '_')")));
    }
    Ok(())
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// DEFLATE + base64 + the query string, signed when `sign`.
fn redirect_url(
    sp: &ServiceProvider,
    endpoint: &str,
    param: &str,
    xml_text: &str,
    relay_state: &str,
    sign: bool,
) -> Result<String, SamlError> {
    if endpoint.is_empty() || endpoint.contains('#') {
        return Err(SamlError::InvalidInput("the IdP endpoint URL is empty or has a fragment".into()));
    }
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(xml_text.as_bytes())
        .and_then(|()| encoder.flush())
        .map_err(|e| SamlError::InvalidInput(format!("deflate: {e}")))?;
    let deflated = encoder.finish().map_err(|e| SamlError::InvalidInput(format!("deflate: {e}")))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(deflated);

    let mut query = format!("{param}={}", encode(&b64));
    if !relay_state.is_empty() {
        query.push_str("&RelayState=");
        query.push_str(&encode(relay_state));
    }
    if sign {
        query.push_str("&SigAlg=");
        query.push_str(&encode(dsig::RSA_SHA256));
        let key = rsa::KeyPair::from_pkcs8(&sp.signing_key_pkcs8)
            .map_err(|_| SamlError::Key("the signing key is not an RSA PKCS#8 key".into()))?;
        let mut sig = vec![0u8; key.public_modulus_len()];
        key.sign(&signature::RSA_PKCS1_SHA256, &rand::SystemRandom::new(), query.as_bytes(), &mut sig)
            .map_err(|_| SamlError::Key("signing failed".into()))?;
        query.push_str("&Signature=");
        query.push_str(&encode(&base64::engine::general_purpose::STANDARD.encode(sig)));
    }
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!("{endpoint}{sep}{query}"))
}

/// A redirect-binding query, values kept as received: the signature covers those bytes.
struct RedirectQuery<'q> {
    param: &'static str,
    message: &'q str,
    relay_state: Option<&'q str>,
    sig_alg: Option<&'q str>,
    signature: Option<&'q str>,
}

fn decode(raw: &str) -> Result<String, SamlError> {
    percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| SamlError::Malformed("a query parameter is not UTF-8".into()))
}

impl<'q> RedirectQuery<'q> {
    fn parse(raw: &'q str, param: &'static str) -> Result<Self, SamlError> {
        if raw.len() > MAX_MESSAGE_BYTES {
            return Err(SamlError::TooLarge { limit: MAX_MESSAGE_BYTES });
        }
        let mut q = RedirectQuery { param, message: "", relay_state: None, sig_alg: None, signature: None };
        let mut message = None;
        for pair in raw.trim_start_matches('?').split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                n if n == param => &mut message,
                "RelayState" => &mut q.relay_state,
                "SigAlg" => &mut q.sig_alg,
                "Signature" => &mut q.signature,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(SamlError::Malformed(format!("query parameter {name} appears twice")));
            }
        }
        q.message = message.ok_or_else(|| SamlError::Malformed(format!("the query has no {param}")))?;
        Ok(q)
    }

    /// Verifies the binding's signature when present; `Ok(false)` when unsigned.
    fn verify(&self, idp: &IdpMetadata) -> Result<bool, SamlError> {
        let (Some(sig_alg), Some(sig)) = (self.sig_alg, self.signature) else {
            if self.signature.is_some() {
                return Err(SamlError::Malformed("Signature without SigAlg".into()));
            }
            return Ok(false);
        };
        let alg = dsig::signature_algorithm(&decode(sig_alg)?)?;
        let mut signed = format!("{}={}", self.param, self.message);
        if let Some(rs) = self.relay_state {
            signed.push_str("&RelayState=");
            signed.push_str(rs);
        }
        signed.push_str("&SigAlg=");
        signed.push_str(sig_alg);
        let compact: String = decode(sig)?.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let sig = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| SamlError::Malformed("Signature is not valid base64".into()))?;
        if dsig::verify_with_certs(alg, &idp.signing_certificates, signed.as_bytes(), &sig)? {
            Ok(true)
        } else {
            Err(SamlError::BadSignature)
        }
    }

    fn inflate(&self) -> Result<String, SamlError> {
        inflate_b64(&decode(self.message)?)
    }

    fn relay_state_decoded(&self) -> Result<Option<String>, SamlError> {
        self.relay_state.map(decode).transpose()
    }
}

/// base64 then raw DEFLATE, bounded to [`MAX_MESSAGE_BYTES`] of output (a small compressed
/// input can expand enormously).
pub(crate) fn inflate_b64(b64: &str) -> Result<String, SamlError> {
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| SamlError::Malformed("the SAML message is not valid base64".into()))?;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| SamlError::Malformed("the SAML message is not DEFLATE-compressed".into()))?;
    if out.len() > MAX_MESSAGE_BYTES {
        return Err(SamlError::TooLarge { limit: MAX_MESSAGE_BYTES });
    }
    String::from_utf8(out).map_err(|_| SamlError::Malformed("the SAML message is not UTF-8".into()))
}
