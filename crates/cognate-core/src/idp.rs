//! External identity providers of a user pool (Cognito's `IdentityProviderType`): OIDC and
//! SAML 2.0 providers and the social ones (Google, Facebook, Login with Amazon, Sign in
//! with Apple), with their provider details, attribute mapping and identifiers, and the
//! links from an external identity to an existing user (`AdminLinkProviderForUser`).
//!
//! Provider details that are secrets (`client_secret`, Apple's `private_key`) are kept
//! sealed with the master key; [`IdentityProvider::details`] holds them in the clear only
//! in memory.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::PoolId;

/// The kinds of provider Cognito knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderType {
    #[serde(rename = "OIDC")]
    Oidc,
    #[serde(rename = "SAML")]
    Saml,
    Google,
    Facebook,
    LoginWithAmazon,
    SignInWithApple,
}

impl ProviderType {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "OIDC" => Self::Oidc,
            "SAML" => Self::Saml,
            "Google" => Self::Google,
            "Facebook" => Self::Facebook,
            "LoginWithAmazon" => Self::LoginWithAmazon,
            "SignInWithApple" => Self::SignInWithApple,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "OIDC",
            Self::Saml => "SAML",
            Self::Google => "Google",
            Self::Facebook => "Facebook",
            Self::LoginWithAmazon => "LoginWithAmazon",
            Self::SignInWithApple => "SignInWithApple",
        }
    }

    /// A social provider's name is its type, as in Cognito.
    pub fn is_social(self) -> bool {
        !matches!(self, Self::Oidc | Self::Saml)
    }

    /// The provider's claim that becomes the federated user's name, mapped to `username`
    /// when the request maps nothing to it (as Cognito does).
    fn subject_claim(self) -> Option<&'static str> {
        match self {
            Self::Oidc | Self::Google | Self::SignInWithApple => Some("sub"),
            Self::Facebook => Some("id"),
            Self::LoginWithAmazon => Some("user_id"),
            Self::Saml => None,
        }
    }

    /// Provider details a request must give.
    fn required_details(self) -> &'static [&'static str] {
        match self {
            Self::Oidc => &["client_id", "authorize_scopes", "oidc_issuer", "attributes_request_method"],
            Self::Saml => &[],
            Self::Google | Self::Facebook | Self::LoginWithAmazon => {
                &["client_id", "client_secret", "authorize_scopes"]
            }
            Self::SignInWithApple => &["client_id", "team_id", "key_id", "private_key", "authorize_scopes"],
        }
    }

    /// Every provider detail a request may give.
    fn known_details(self) -> &'static [&'static str] {
        match self {
            Self::Oidc => &[
                "client_id",
                "client_secret",
                "authorize_scopes",
                "oidc_issuer",
                "attributes_request_method",
                "authorize_url",
                "token_url",
                "attributes_url",
                "jwks_uri",
                "attributes_url_add_attributes",
            ],
            Self::Saml => &[
                "MetadataURL",
                "MetadataFile",
                "IDPSignout",
                "IDPInit",
                "EncryptedResponses",
                "RequestSigningAlgorithm",
                "SSORedirectBindingURI",
                "SLORedirectBindingURI",
                "ActiveEncryptionCertificate",
            ],
            Self::Google => &[
                "client_id",
                "client_secret",
                "authorize_scopes",
                "attributes_url",
                "attributes_url_add_attributes",
                "authorize_url",
                "oidc_issuer",
                "token_request_method",
                "token_url",
            ],
            Self::Facebook => &[
                "client_id",
                "client_secret",
                "authorize_scopes",
                "api_version",
                "attributes_url",
                "attributes_url_add_attributes",
                "authorize_url",
                "token_request_method",
                "token_url",
            ],
            Self::LoginWithAmazon => &[
                "client_id",
                "client_secret",
                "authorize_scopes",
                "attributes_url",
                "attributes_url_add_attributes",
                "authorize_url",
                "token_request_method",
                "token_url",
            ],
            Self::SignInWithApple => &[
                "client_id",
                "team_id",
                "key_id",
                "private_key",
                "authorize_scopes",
                "authorize_url",
                "oidc_issuer",
                "token_request_method",
                "token_url",
            ],
        }
    }
}

/// Provider details that are secrets: sealed at rest.
pub const SECRET_DETAILS: &[&str] = &["client_secret", "private_key"];

/// The name of the pool's own directory in SupportedIdentityProviders.
pub const COGNITO: &str = "COGNITO";

/// The provider name of the pool's own users in AdminLinkProviderForUser.
pub const NATIVE_PROVIDER: &str = "Cognito";

/// The attribute name meaning "the provider's subject" in provider user identifiers.
pub const SUBJECT_ATTRIBUTE: &str = "Cognito_Subject";

/// Most identifiers one provider may have.
pub const MAX_IDENTIFIERS: usize = 50;

/// Most external identities linked to one user (Cognito's limit).
pub const MAX_LINKS_PER_USER: usize = 5;

/// One identity provider of a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityProvider {
    pub pool_id: PoolId,
    pub name: String,
    pub kind: ProviderType,
    /// Every detail, secrets included (in memory only; the store seals them).
    pub details: BTreeMap<String, String>,
    /// Pool attribute → provider claim or SAML attribute.
    pub attribute_mapping: BTreeMap<String, String>,
    pub identifiers: Vec<String>,
    /// `Level1`..`Level4` → the provider's ACR value (OIDC only).
    pub acr_mapping: BTreeMap<String, String>,
    pub created: i64,
    pub modified: i64,
}

/// Checks a provider name as Cognito's pattern does: 1 to 32 characters, no separators
/// anywhere, no `_` at either end, letters, marks, symbols, numbers and punctuation
/// only; `COGNITO` is the pool's own directory and `Cognito` names native users.
pub fn check_name(name: &str) -> Result<(), String> {
    let chars: Vec<char> = name.chars().collect();
    let printable = |c: &char| !c.is_whitespace() && !c.is_control();
    if chars.len() < 3 || chars.len() > 32 || !chars.iter().all(printable) {
        return Err(format!(
            "1 validation error detected: Value '{name}' at 'providerName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [^_\\p{{Z}}][\\p{{L}}\\p{{M}}\\p{{S}}\\p{{N}}\\p{{P}}][^_\\p{{Z}}]+"
        ));
    }
    if chars[0] == '_' || chars[chars.len() - 1] == '_' {
        return Err(format!("Provider name {name} may not start or end with '_'"));
    }
    if name.eq_ignore_ascii_case(COGNITO) {
        return Err(format!("{name} is a reserved provider name"));
    }
    Ok(())
}

/// Checks an IdP identifier: 1 to 40 characters of `[\w\s+=.@-]`.
pub fn check_identifier(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.chars().count() <= 40
        && id.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ' ' || "+=.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "1 validation error detected: Value '{id}' at 'idpIdentifier' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\w\\s+=.@-]+"
        ))
    }
}

/// An `https` URL with a host, or `http` on the loopback interface (a test IdP), without
/// credentials or a fragment — the registration rule of callback URLs, web schemes only.
fn is_web_url(text: &str) -> bool {
    let scheme = text.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    matches!(scheme.as_deref(), Some("https" | "http")) && crate::client::valid_redirect_url(text)
}

impl IdentityProvider {
    /// Fills Cognito's defaults (the `username` mapping from the provider's subject, the
    /// describe-only details) and checks everything as Cognito does; the error names what
    /// is wrong.
    pub fn normalise(&mut self) -> Result<(), String> {
        check_name(&self.name)?;
        if self.kind.is_social() && self.name != self.kind.as_str() {
            return Err(format!(
                "The provider name of a {} identity provider must be {}",
                self.kind.as_str(),
                self.kind.as_str()
            ));
        }
        for key in self.kind.required_details() {
            if self.details.get(*key).is_none_or(|v| v.trim().is_empty()) {
                return Err(format!("{key} is required for {} identity providers", self.kind.as_str()));
            }
        }
        for (key, value) in &self.details {
            if !self.kind.known_details().contains(&key.as_str()) {
                return Err(format!(
                    "{key} is not a valid provider detail for {} identity providers",
                    self.kind.as_str()
                ));
            }
            if value.contains('\0') {
                return Err(format!("{key} contains a NUL character"));
            }
            let is_url = key.ends_with("_url") || key == "oidc_issuer" || key == "jwks_uri" || key == "MetadataURL";
            if is_url && !is_web_url(value) {
                return Err(format!("{key} must be an https URL (http only on the loopback interface): {value}"));
            }
        }
        match self.kind {
            ProviderType::Oidc => self.normalise_oidc()?,
            ProviderType::Saml => self.normalise_saml()?,
            _ => {
                let scopes = &self.details["authorize_scopes"];
                if scopes.len() > 2048 {
                    return Err("authorize_scopes is too long".into());
                }
            }
        }
        if let Some(claim) = self.kind.subject_claim() {
            self.attribute_mapping.entry("username".into()).or_insert_with(|| claim.into());
        }
        for (attribute, claim) in &self.attribute_mapping {
            if attribute.is_empty() || attribute.len() > 32 || claim.is_empty() || claim.len() > 131_072 {
                return Err(format!("Invalid attribute mapping {attribute} -> {claim}"));
            }
            if attribute.contains('\0') || claim.contains('\0') {
                return Err("Attribute mapping contains a NUL character".into());
            }
        }
        if self.identifiers.len() > MAX_IDENTIFIERS {
            return Err(format!("An identity provider may have at most {MAX_IDENTIFIERS} identifiers"));
        }
        let mut seen = std::collections::HashSet::new();
        for id in &self.identifiers {
            check_identifier(id)?;
            if !seen.insert(id.to_lowercase()) {
                return Err(format!("Duplicate identifier {id}"));
            }
        }
        if !self.acr_mapping.is_empty() {
            if self.kind != ProviderType::Oidc {
                return Err("AcrMapping is only supported for OIDC identity providers".into());
            }
            for level in self.acr_mapping.keys() {
                if !["Level1", "Level2", "Level3", "Level4"].contains(&level.as_str()) {
                    return Err(format!("Invalid AcrMapping level {level}: use Level1 to Level4"));
                }
            }
        }
        Ok(())
    }

    fn normalise_oidc(&mut self) -> Result<(), String> {
        let method = &self.details["attributes_request_method"];
        if method != "GET" && method != "POST" {
            return Err(format!("attributes_request_method must be GET or POST, not {method}"));
        }
        if !self.details["authorize_scopes"].split(' ').any(|s| s == "openid") {
            return Err("authorize_scopes of an OIDC identity provider must include openid".into());
        }
        self.details.entry("attributes_url_add_attributes".into()).or_insert_with(|| "false".into());
        Ok(())
    }

    fn normalise_saml(&mut self) -> Result<(), String> {
        match (self.details.get("MetadataURL"), self.details.get("MetadataFile")) {
            (Some(_), Some(_)) => return Err("Give either MetadataURL or MetadataFile, not both".into()),
            (None, None) => return Err("MetadataURL or MetadataFile is required for SAML identity providers".into()),
            (None, Some(file)) if !file.trim_start().starts_with('<') || file.len() > 131_072 => {
                return Err("MetadataFile must be the SAML metadata document (XML, at most 128 KiB)".into());
            }
            _ => {}
        }
        for flag in ["IDPSignout", "IDPInit", "EncryptedResponses"] {
            match self.details.get(flag).map(String::as_str) {
                None => {}
                Some(v) if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") => {
                    let v = v.to_ascii_lowercase();
                    self.details.insert(flag.into(), v);
                }
                Some(v) => return Err(format!("{flag} must be true or false, not {v}")),
            }
        }
        match self.details.get("RequestSigningAlgorithm").map(String::as_str) {
            None | Some("rsa-sha256") => {}
            Some(v) => return Err(format!("RequestSigningAlgorithm must be rsa-sha256, not {v}")),
        }
        for derived in ["SSORedirectBindingURI", "SLORedirectBindingURI", "ActiveEncryptionCertificate"] {
            self.details.remove(derived);
        }
        Ok(())
    }
}

/// An external identity linked to an existing user: when someone signs in through
/// `provider` with `attribute` = `value`, they sign in as `user_sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderLink {
    pub pool_id: PoolId,
    pub provider: String,
    /// The provider's type when the link was made (`OIDC`, `SAML`, `Google`, …).
    pub provider_type: String,
    /// `Cognito_Subject` or a mapped pool attribute (`email`, …).
    pub attribute: String,
    pub value: String,
    pub user_sub: String,
    pub created: i64,
}

/// One entry of the `identities` attribute, as Cognito writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub user_id: String,
    pub provider_name: String,
    pub provider_type: String,
    pub issuer: Option<String>,
    pub primary: bool,
    pub date_created: i64,
}

/// The `identities` attribute of the user `username` with `links`: one entry per link,
/// oldest first. The identity a federated user was made from (`{Provider}_{subject}`) is
/// the primary one, as Cognito marks it; identities linked to an account are not.
pub fn identities(links: &[ProviderLink], username: &str) -> Vec<Identity> {
    links
        .iter()
        .map(|l| Identity {
            user_id: l.value.clone(),
            provider_name: l.provider.clone(),
            provider_type: l.provider_type.clone(),
            issuer: None,
            primary: l.attribute == SUBJECT_ATTRIBUTE
                && username.strip_prefix(l.provider.as_str()).and_then(|r| r.strip_prefix('_'))
                    == Some(l.value.as_str()),
            date_created: l.created * 1000,
        })
        .collect()
}

/// How long a pool's SAML signing certificate is valid (Cognito: ten years).
pub const SIGNING_CERTIFICATE_YEARS: i64 = 10;

/// A new SAML signing key pair for a pool and its self-signed certificate, valid for
/// [`SIGNING_CERTIFICATE_YEARS`] from `now_secs`: `(certificate DER, PKCS#8 key DER)`.
/// The key signs the pool's SAML authentication requests (RSA-SHA256).
pub fn signing_certificate(pool: &PoolId, now_secs: i64) -> Result<(Vec<u8>, Vec<u8>), String> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("Cognate user pool {pool}"));
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Cognate");
    let start = time::OffsetDateTime::from_unix_timestamp(now_secs).map_err(|e| e.to_string())?;
    params.not_before = start;
    params.not_after = start + time::Duration::days(365 * SIGNING_CERTIFICATE_YEARS + 2);
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok((cert.der().to_vec(), key.serialize_der()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(kind: ProviderType, name: &str, details: &[(&str, &str)]) -> IdentityProvider {
        IdentityProvider {
            pool_id: PoolId::parse("us-east-1_abcDEF123").expect("pool id"),
            name: name.into(),
            kind,
            details: details.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            attribute_mapping: BTreeMap::new(),
            identifiers: Vec::new(),
            acr_mapping: BTreeMap::new(),
            created: 0,
            modified: 0,
        }
    }

    #[test]
    fn signing_certificates_are_rsa_and_ten_years() {
        let pool = PoolId::parse("us-east-1_abcDEF123").expect("pool id");
        let (cert, key) = signing_certificate(&pool, 1_800_000_000).expect("certificate");
        assert!(cert.len() > 500 && key.len() > 1000, "an RSA certificate and PKCS#8 key");
        let signer = aws_lc_rs::rsa::KeyPair::from_pkcs8(&key).expect("RSA PKCS#8");
        assert!(signer.public_modulus_len() >= 256);
    }

    #[test]
    fn names_follow_cognitos_pattern() {
        assert!(check_name("Acme").is_ok());
        assert!(check_name("acme-okta.prod").is_ok());
        for bad in ["", "ab", "_acme", "acme_", "ac me", "COGNITO", "cognito", &"x".repeat(33), "a\0b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn oidc_needs_its_details_and_gets_defaults() {
        let mut p = provider(ProviderType::Oidc, "Acme", &[("client_id", "c")]);
        assert!(p.normalise().unwrap_err().contains("authorize_scopes"));
        let mut p = provider(
            ProviderType::Oidc,
            "Acme",
            &[
                ("client_id", "c"),
                ("authorize_scopes", "openid email"),
                ("oidc_issuer", "https://idp.example.com"),
                ("attributes_request_method", "GET"),
            ],
        );
        p.normalise().expect("valid");
        assert_eq!(p.attribute_mapping["username"], "sub");
        assert_eq!(p.details["attributes_url_add_attributes"], "false");
        p.details.insert("oidc_issuer".into(), "http://idp.example.com".into());
        assert!(p.normalise().is_err(), "plain http off loopback");
        p.details.insert("oidc_issuer".into(), "http://127.0.0.1:9000".into());
        assert!(p.normalise().is_ok());
    }

    #[test]
    fn saml_takes_one_metadata_source_and_boolean_flags() {
        let mut p = provider(ProviderType::Saml, "Okta", &[]);
        assert!(p.normalise().is_err());
        let mut p = provider(ProviderType::Saml, "Okta", &[("MetadataFile", "<md/>"), ("IDPInit", "TRUE")]);
        p.normalise().expect("valid");
        assert_eq!(p.details["IDPInit"], "true");
        assert!(!p.attribute_mapping.contains_key("username"));
        let mut p = provider(ProviderType::Saml, "Okta", &[("MetadataFile", "<md/>"), ("IDPInit", "yes")]);
        assert!(p.normalise().is_err());
    }

    #[test]
    fn social_providers_are_named_after_their_type() {
        let details = [("client_id", "c"), ("client_secret", "s"), ("authorize_scopes", "openid")];
        assert!(provider(ProviderType::Google, "MyGoogle", &details).normalise().is_err());
        let mut p = provider(ProviderType::Facebook, "Facebook", &details);
        p.normalise().expect("valid");
        assert_eq!(p.attribute_mapping["username"], "id");
    }

    #[test]
    fn identifiers_are_checked_and_unique() {
        let mut p = provider(ProviderType::Saml, "Okta", &[("MetadataFile", "<md/>")]);
        p.identifiers = vec!["example.com".into(), "EXAMPLE.com".into()];
        assert!(p.normalise().is_err());
        p.identifiers = vec!["bad/char".into()];
        assert!(p.normalise().is_err());
        p.identifiers = vec!["example.com".into(), "acme".into()];
        assert!(p.normalise().is_ok());
    }
}

/// What an identity provider asserted about a user at one sign-in: an OIDC ID token's (and
/// userinfo's) claims, or a SAML assertion's NameID and attributes. Federation turns it into
/// a pool user (`{Provider}_{subject}`, or the user the identity is linked to).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The provider's stable id for the user: the OIDC `sub`, the SAML NameID.
    pub subject: String,
    /// Claim or attribute name → its values, in the provider's order. A SAML attribute may
    /// have several values; an OIDC string claim has one, an array claim one per element,
    /// a number or boolean its JSON text, an object its JSON text.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// SAML: the assertion's `SessionIndex`, kept for single logout.
    pub session_index: Option<String>,
    /// SAML: the NameID's Format, which a LogoutRequest repeats.
    pub name_id_format: Option<String>,
}

impl ExternalIdentity {
    /// The first value of `name`, if any.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(|v| v.first()).map(String::as_str)
    }
}
