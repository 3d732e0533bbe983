//! Terms documents of an app client (Cognito's CreateTerms … DeleteTerms): the terms of use
//! and the privacy policy the hosted login's sign-up page links to, one URL per language.
//!
//! Cognito's rules, kept exactly: a client has at most one document of each kind (the
//! `TermsName` is the kind); `TermsSource` is `LINK` and `Enforcement` is `NONE` (the only
//! values Cognito accepts, so they are not stored); links are keyed by a managed-login
//! language (`cognito:english`, `cognito:french`, …, or `cognito:default` for every language
//! without its own), 1 to [`MAX_LINKS`] of them, each a URL of at most [`MAX_LINK_CHARS`]
//! characters. Cognate adds one rule Cognito leaves to the console: a link must be an
//! absolute `https` URL with a host, because the page puts it in an `href`.

use std::collections::BTreeMap;

use crate::ids::{ClientId, PoolId};

/// The only `TermsSource` Cognito accepts.
pub const SOURCE_LINK: &str = "LINK";
/// The only `Enforcement` Cognito accepts.
pub const ENFORCEMENT_NONE: &str = "NONE";
/// The language whose link serves every language without one of its own.
pub const DEFAULT_LANGUAGE: &str = "cognito:default";
/// Links one document may have (one per language of [`LANGUAGES`]).
pub const MAX_LINKS: usize = 13;
/// A link's length in characters.
pub const MAX_LINK_CHARS: usize = 1024;

/// Cognito's `LanguageIdType` values.
pub const LANGUAGES: &[&str] = &[
    "cognito:default",
    "cognito:dutch",
    "cognito:english",
    "cognito:french",
    "cognito:spanish",
    "cognito:german",
    "cognito:bahasa-indonesia",
    "cognito:italian",
    "cognito:japanese",
    "cognito:korean",
    "cognito:portuguese-brazil",
    "cognito:chinese-simplified",
    "cognito:chinese-traditional",
];

/// What a terms document is, by its `TermsName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TermsName {
    TermsOfUse,
    PrivacyPolicy,
}

impl TermsName {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "terms-of-use" => Some(Self::TermsOfUse),
            "privacy-policy" => Some(Self::PrivacyPolicy),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TermsOfUse => "terms-of-use",
            Self::PrivacyPolicy => "privacy-policy",
        }
    }
}

/// One terms document of an app client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// A version-4 UUID (Cognito's `TermsIdType`).
    pub id: String,
    pub pool_id: PoolId,
    pub client_id: ClientId,
    pub name: TermsName,
    /// Link by language id (`cognito:…`).
    pub links: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Terms {
    /// The link for `language` (a `cognito:…` id), else the `cognito:default` one.
    pub fn link_for(&self, language: &str) -> Option<&str> {
        self.links.get(language).or_else(|| self.links.get(DEFAULT_LANGUAGE)).map(String::as_str)
    }
}

/// Whether `id` has the shape of Cognito's `TermsIdType` (a version-4 UUID).
pub fn valid_terms_id(id: &str) -> bool {
    let b = id.as_bytes();
    let hex = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_hexdigit);
    b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && hex(0..8)
        && hex(9..13)
        && b[14] == b'4'
        && hex(15..18)
        && matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
        && hex(20..23)
        && hex(24..36)
}

/// Checks a document's links as Cognito does (language ids, count, length), and that each
/// is an absolute `https` URL with a host and nothing but printable characters. The error
/// says which rule failed in Cognito's words.
pub fn check_links(links: &BTreeMap<String, String>) -> Result<(), String> {
    if links.is_empty() || links.len() > MAX_LINKS {
        return Err(format!(
            "1 validation error detected: Value at 'links' failed to satisfy constraint: Member must have length \
             less than or equal to {MAX_LINKS}, Member must have length greater than or equal to 1"
        ));
    }
    for (language, link) in links {
        if !LANGUAGES.contains(&language.as_str()) {
            return Err(format!(
                "1 validation error detected: Value '{language}' at 'links' failed to satisfy constraint: Map keys \
                 must satisfy constraint: [Member must satisfy regular expression pattern: ^cognito:(default|dutch|\
                 english|french|spanish|german|bahasa-indonesia|italian|japanese|korean|portuguese-brazil|chinese-\
                 (simplified|traditional))$]"
            ));
        }
        let chars = link.chars().count();
        if chars == 0 || chars > MAX_LINK_CHARS {
            return Err(format!(
                "1 validation error detected: Value at 'links' failed to satisfy constraint: Map value for \
                 {language} must have length between 1 and {MAX_LINK_CHARS}"
            ));
        }
        if link.chars().any(|c| c.is_whitespace() || c.is_control()) || !https_url(link) {
            return Err(format!("The link for {language} must be an absolute https URL without spaces."));
        }
    }
    Ok(())
}

fn https_url(link: &str) -> bool {
    match url::Url::parse(link) {
        Ok(u) => u.scheme() == "https" && u.host_str().is_some_and(|h| !h.is_empty()) && u.username().is_empty(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn names_and_ids() {
        assert_eq!(TermsName::parse("terms-of-use"), Some(TermsName::TermsOfUse));
        assert_eq!(TermsName::parse("privacy-policy").map(TermsName::as_str), Some("privacy-policy"));
        assert_eq!(TermsName::parse("terms"), None);
        assert!(valid_terms_id("0b0e8a4e-5b0f-4b7e-9c55-6a3d1c1f2e11"));
        assert!(!valid_terms_id("0b0e8a4e-5b0f-3b7e-9c55-6a3d1c1f2e11"), "version 3");
        assert!(!valid_terms_id("0b0e8a4e-5b0f-4b7e-7c55-6a3d1c1f2e11"), "variant");
        assert!(!valid_terms_id("0b0e8a4e5b0f4b7e9c556a3d1c1f2e11"));
        assert!(!valid_terms_id(""));
    }

    #[test]
    fn links_are_https_urls_by_known_language() {
        assert!(check_links(&links(&[("cognito:default", "https://example.com/terms")])).is_ok());
        assert!(check_links(&links(&[("cognito:french", "https://example.com/fr?x=<b>")])).is_ok());
        assert!(check_links(&links(&[])).is_err());
        assert!(check_links(&links(&[("cognito:klingon", "https://example.com")])).is_err());
        assert!(check_links(&links(&[("cognito:english", "http://example.com")])).is_err());
        assert!(check_links(&links(&[("cognito:english", "javascript:alert(1)")])).is_err());
        assert!(check_links(&links(&[("cognito:english", "https://example.com/a b")])).is_err());
        assert!(check_links(&links(&[("cognito:english", "https://u:p@example.com/")])).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_LINK_CHARS));
        assert!(check_links(&links(&[("cognito:english", &long)])).is_err());
    }

    #[test]
    fn a_language_without_a_link_falls_back_to_default() {
        let t = Terms {
            id: String::new(),
            pool_id: PoolId::parse("local_abc123DEF").unwrap(),
            client_id: ClientId::parse("abcdefghijklmnopqrstuvwxyz").unwrap(),
            name: TermsName::TermsOfUse,
            links: links(&[("cognito:default", "https://d"), ("cognito:french", "https://f")]),
            created_at: 0,
            updated_at: 0,
        };
        assert_eq!(t.link_for("cognito:french"), Some("https://f"));
        assert_eq!(t.link_for("cognito:english"), Some("https://d"));
    }
}
