//! Parsing untrusted XML and small tree helpers.
//!
//! Any document type declaration is refused before the parser sees the text: SAML never
//! needs one, and refusing it rules out external entities (XXE) and entity expansion
//! ("billion laughs") whatever the parser would do with them.

use crate::{MAX_MESSAGE_BYTES, SamlError};
use base64::Engine as _;
use roxmltree::{Document, Node, ParsingOptions};

/// Upper bound on nodes in one message: far above any real Response, far below what would
/// make canonicalisation costly.
const MAX_NODES: u32 = 20_000;

/// Deepest element nesting accepted. SAML documents are about ten deep; the bound keeps the
/// recursive canonicalisation's stack small whatever an attacker sends.
const MAX_DEPTH: usize = 64;

/// Most namespace declarations in one message. The parser copies an element's inherited
/// namespaces into each element that declares one and scans them as it goes, so thousands
/// of declarations cost it quadratic time; SAML messages carry a handful (a SimpleSAMLphp
/// encrypted Response about twenty).
const MAX_NAMESPACE_DECLARATIONS: usize = 128;

/// Parses a SAML document with DTDs refused and size bounded.
pub(crate) fn parse(text: &str) -> Result<Document<'_>, SamlError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(SamlError::TooLarge { limit: MAX_MESSAGE_BYTES });
    }
    if text.matches("xmlns").count() > MAX_NAMESPACE_DECLARATIONS {
        return Err(SamlError::Malformed(format!("more than {MAX_NAMESPACE_DECLARATIONS} namespace declarations")));
    }
    if text.contains("<!DOCTYPE") || text.contains("<!ENTITY") || text.contains("<!doctype") {
        return Err(SamlError::DtdRefused);
    }
    let options = ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..ParsingOptions::default() };
    let doc = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => SamlError::DtdRefused,
        other => SamlError::Malformed(format!("not well-formed XML: {other}")),
    })?;
    // Node ids follow document order, so a parent's depth is known before its children's.
    let mut depth = vec![0usize; doc.descendants().count() + 1];
    for node in doc.descendants() {
        let d = node.parent().and_then(|p| depth.get(p.id().get_usize()).copied()).map_or(0, |d| d + 1);
        if d > MAX_DEPTH {
            return Err(SamlError::Malformed(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        if let Some(slot) = depth.get_mut(node.id().get_usize()) {
            *slot = d;
        }
    }
    Ok(doc)
}

/// Decodes a base64 message (the HTTP-POST binding's `SAMLResponse`), tolerating the line
/// breaks some IdPs insert, into UTF-8 text.
pub(crate) fn decode_base64_text(b64: &str) -> Result<String, SamlError> {
    // 4/3 of the decoded limit plus line breaks.
    if b64.len() > MAX_MESSAGE_BYTES / 3 * 4 + MAX_MESSAGE_BYTES / 32 {
        return Err(SamlError::TooLarge { limit: MAX_MESSAGE_BYTES });
    }
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| SamlError::Malformed("the SAML message is not valid base64".into()))?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(SamlError::TooLarge { limit: MAX_MESSAGE_BYTES });
    }
    String::from_utf8(bytes).map_err(|_| SamlError::Malformed("the SAML message is not UTF-8".into()))
}

/// Base64 content of an element (certificates, digests, signature values), whitespace ignored.
pub(crate) fn base64_content(node: Node<'_, '_>, what: &str) -> Result<Vec<u8>, SamlError> {
    let compact: String = text(node).chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| SamlError::Malformed(format!("{what} is not valid base64")))
}

/// Whether `node` is the element `ns:local`.
pub(crate) fn is(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

/// Element children named `ns:local`.
pub(crate) fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'a str,
    local: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children().filter(move |c| is(*c, ns, local))
}

/// The only child `ns:local`, `None` when absent, an error when repeated.
pub(crate) fn child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'a str,
    local: &'a str,
) -> Result<Option<Node<'a, 'i>>, SamlError> {
    let mut it = children(node, ns, local);
    let first = it.next();
    if it.next().is_some() {
        return Err(SamlError::Structure(format!("more than one {local} in {}", node.tag_name().name())));
    }
    Ok(first)
}

/// Like [`child`] but required.
pub(crate) fn required<'a, 'i>(node: Node<'a, 'i>, ns: &'a str, local: &'a str) -> Result<Node<'a, 'i>, SamlError> {
    child(node, ns, local)?.ok_or_else(|| SamlError::Malformed(format!("{} has no {local}", node.tag_name().name())))
}

/// Concatenated text content (entities already resolved by the parser), trimmed.
pub(crate) fn text(node: Node<'_, '_>) -> String {
    let mut out = String::new();
    for d in node.descendants().filter(|d| d.is_text()) {
        out.push_str(d.text().unwrap_or_default());
    }
    out.trim().to_owned()
}

/// XML-escapes text for an attribute value or element content written by Cognate.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctype_and_entities_are_refused_before_parsing() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert_eq!(parse(xxe).unwrap_err(), SamlError::DtdRefused);
        let internal = "<!DOCTYPE r><r/>";
        assert_eq!(parse(internal).unwrap_err(), SamlError::DtdRefused);
        assert!(parse("<r a='1'>ok</r>").is_ok());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 2), "</a>".repeat(MAX_DEPTH + 2));
        assert!(matches!(parse(&deep), Err(SamlError::Malformed(m)) if m.contains("nested")));
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH - 2), "</a>".repeat(MAX_DEPTH - 2));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn size_is_bounded() {
        let big = format!("<r>{}</r>", "a".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(parse(&big).unwrap_err(), SamlError::TooLarge { limit: MAX_MESSAGE_BYTES });
    }

    #[test]
    fn namespace_declarations_are_bounded() {
        // Thousands of inherited declarations would cost the parser quadratic time.
        let decls: String = (0..MAX_NAMESPACE_DECLARATIONS).map(|i| format!(" xmlns:a{i}=\"u\"")).collect();
        let children = "<c xmlns:z=\"u\"/>".repeat(10);
        let flood = format!("<r{decls}>{children}</r>");
        assert!(matches!(parse(&flood), Err(SamlError::Malformed(m)) if m.contains("namespace declarations")));
        let fine = format!("<r xmlns:a=\"u\">{}</r>", "<c xmlns:z=\"u\"/>".repeat(20));
        assert!(parse(&fine).is_ok());
    }
}
