//! Exclusive XML Canonicalization 1.0 without comments (the only canonicalisation SAML
//! signatures use), of one element's subtree, optionally leaving out one descendant (the
//! enveloped `Signature`).
//!
//! Namespace declarations are rendered where a prefix is visibly used (by the element's own
//! name or one of its attributes' names) or listed in `InclusiveNamespaces PrefixList`, and
//! not already rendered with the same URI by the nearest output ancestor. Prefixes are those
//! written in the source, read from the element's text range: roxmltree resolves names to
//! URIs but the canonical form keeps the prefixes.

use roxmltree::{Node, NodeId, NodeType};

/// Canonical bytes of `root`'s subtree, without `exclude` (and its descendants).
pub(crate) fn canonicalize(root: Node<'_, '_>, exclude: Option<NodeId>, inclusive: &[String]) -> Vec<u8> {
    let mut out = String::new();
    // Namespace declarations rendered by output ancestors: (prefix, uri); "" is the default.
    let mut rendered: Vec<Vec<(String, String)>> = vec![Vec::new()];
    write_node(root, exclude, inclusive, &mut rendered, &mut out);
    out.into_bytes()
}

fn write_node(
    node: Node<'_, '_>,
    exclude: Option<NodeId>,
    inclusive: &[String],
    rendered: &mut Vec<Vec<(String, String)>>,
    out: &mut String,
) {
    if Some(node.id()) == exclude {
        return;
    }
    match node.node_type() {
        NodeType::Element => {}
        NodeType::Text => {
            escape_text(node.text().unwrap_or_default(), out);
            return;
        }
        NodeType::PI => {
            if let Some(pi) = node.pi() {
                out.push_str("<?");
                out.push_str(pi.target);
                if let Some(value) = pi.value {
                    out.push(' ');
                    out.push_str(value);
                }
                out.push_str("?>");
            }
            return;
        }
        NodeType::Comment | NodeType::Root => return,
    }

    let qname = element_qname(node);
    let prefix = prefix_of(&qname);

    // Prefixes this element needs declared: its own, its attributes', the inclusive list.
    let mut needed: Vec<String> = vec![prefix.to_owned()];
    for attr in node.attributes() {
        if let Some(p) = attr_prefix(node, &attr)
            && !needed.iter().any(|n| n == p)
        {
            needed.push(p.to_owned());
        }
    }
    for p in inclusive {
        let p = if p == "#default" { "" } else { p.as_str() };
        let in_scope = if p.is_empty() {
            node.default_namespace().is_some()
        } else {
            node.lookup_namespace_uri(Some(p)).is_some()
        };
        if in_scope && !needed.iter().any(|n| n == p) {
            needed.push(p.to_owned());
        }
    }

    let mut decls: Vec<(String, String)> = Vec::new();
    for p in &needed {
        if p == "xml" {
            continue;
        }
        let uri = if p.is_empty() {
            node.default_namespace().unwrap_or_default().to_owned()
        } else {
            node.lookup_namespace_uri(Some(p)).unwrap_or_default().to_owned()
        };
        let current =
            rendered.iter().rev().flat_map(|level| level.iter()).find(|(rp, _)| rp == p).map(|(_, u)| u.as_str());
        let already = match current {
            Some(u) => u == uri,
            // An undeclared default namespace needs no `xmlns=""`.
            None => p.is_empty() && uri.is_empty(),
        };
        if !already {
            decls.push((p.clone(), uri));
        }
    }
    decls.sort_by(|a, b| a.0.cmp(&b.0));

    out.push('<');
    out.push_str(&qname);
    for (p, uri) in &decls {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        escape_attr(uri, out);
        out.push('"');
    }
    // Attributes sorted by (namespace URI, local name); unqualified ones first.
    let mut attrs: Vec<_> = node.attributes().collect();
    attrs.sort_by(|a, b| (a.namespace().unwrap_or(""), a.name()).cmp(&(b.namespace().unwrap_or(""), b.name())));
    for attr in attrs {
        out.push(' ');
        out.push_str(attr_qname(node, &attr));
        out.push_str("=\"");
        escape_attr(attr.value(), out);
        out.push('"');
    }
    out.push('>');

    rendered.push(decls);
    for child in node.children() {
        write_node(child, exclude, inclusive, rendered, out);
    }
    rendered.pop();

    out.push_str("</");
    out.push_str(&qname);
    out.push('>');
}

/// The element's name as written in the source (`saml:Assertion`).
fn element_qname(node: Node<'_, '_>) -> String {
    let input = node.document().input_text();
    let start = node.range().start + 1;
    let rest = input.get(start..).unwrap_or_default();
    let end = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(rest.len());
    rest[..end].to_owned()
}

fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map(|(p, _)| p).unwrap_or("")
}

/// An attribute's name as written in the source (`xsi:type`).
fn attr_qname<'i>(node: Node<'_, 'i>, attr: &roxmltree::Attribute<'_, 'i>) -> &'i str {
    node.document().input_text().get(attr.range_qname()).unwrap_or(attr.name())
}

/// The prefix of a namespaced attribute; unprefixed attributes use no namespace.
fn attr_prefix<'i>(node: Node<'_, 'i>, attr: &roxmltree::Attribute<'_, 'i>) -> Option<&'i str> {
    attr.namespace()?;
    attr_qname(node, attr).split_once(':').map(|(p, _)| p)
}

fn escape_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            other => out.push(other),
        }
    }
}

fn escape_attr(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, path_local: &str) -> String {
        let doc = roxmltree::Document::parse(xml).expect("xml");
        let node = doc.descendants().find(|n| n.tag_name().name() == path_local).expect("node");
        String::from_utf8(canonicalize(node, None, &[])).expect("utf8")
    }

    #[test]
    fn renders_only_visibly_used_namespaces_sorted() {
        let xml = r#"<r:Root xmlns:r="urn:r" xmlns:a="urn:a" xmlns:unused="urn:u" xmlns="urn:d"><a:X  b="2" a:z="1" c='3"'>t&amp;&lt;&gt;<!-- c --><Y/></a:X></r:Root>"#;
        assert_eq!(
            c14n(xml, "X"),
            r#"<a:X xmlns:a="urn:a" b="2" c="3&quot;" a:z="1">t&amp;&lt;&gt;<Y xmlns="urn:d"></Y></a:X>"#
        );
    }

    #[test]
    fn does_not_redeclare_and_resets_default() {
        let xml = r#"<p:A xmlns:p="urn:p" xmlns="urn:d"><p:B><C xmlns=""/><D/></p:B></p:A>"#;
        assert_eq!(c14n(xml, "A"), r#"<p:A xmlns:p="urn:p"><p:B><C></C><D xmlns="urn:d"></D></p:B></p:A>"#);
    }

    #[test]
    fn inclusive_prefixes_are_rendered_when_in_scope() {
        let xml = r#"<r xmlns:xs="urn:xs" xmlns:p="urn:p"><p:e/></r>"#;
        let doc = roxmltree::Document::parse(xml).expect("xml");
        let e = doc.descendants().find(|n| n.tag_name().name() == "e").expect("e");
        let out = canonicalize(e, None, &["xs".to_owned(), "absent".to_owned()]);
        assert_eq!(String::from_utf8(out).expect("utf8"), r#"<p:e xmlns:p="urn:p" xmlns:xs="urn:xs"></p:e>"#);
    }
}
