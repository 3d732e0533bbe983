//! App clients.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{ClientId, PoolId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TokenValidityUnits {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
}

/// Cognito's units when a request names none: hours for access and ID tokens, days for
/// refresh tokens.
impl Default for TokenValidityUnits {
    fn default() -> Self {
        Self { access_token: "hours".into(), id_token: "hours".into(), refresh_token: "days".into() }
    }
}

/// How an app client may authenticate and what its tokens contain, in Cognito's shape.
/// Settings Cognate keeps but does not act on yet live in `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ClientSettings {
    /// Defaults to 30 days.
    pub refresh_token_validity: u32,
    /// Defaults to 1 (hour).
    pub access_token_validity: u32,
    /// Defaults to 1 (hour).
    pub id_token_validity: u32,
    pub token_validity_units: TokenValidityUnits,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub read_attributes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub write_attributes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explicit_auth_flows: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supported_identity_providers: Vec<String>,
    #[serde(rename = "CallbackURLs", skip_serializing_if = "Vec::is_empty")]
    pub callback_urls: Vec<String>,
    #[serde(rename = "LogoutURLs", skip_serializing_if = "Vec::is_empty")]
    pub logout_urls: Vec<String>,
    #[serde(rename = "DefaultRedirectURI", skip_serializing_if = "Option::is_none")]
    pub default_redirect_uri: Option<String>,
    #[serde(rename = "AllowedOAuthFlows", skip_serializing_if = "Vec::is_empty")]
    pub allowed_oauth_flows: Vec<String>,
    #[serde(rename = "AllowedOAuthScopes", skip_serializing_if = "Vec::is_empty")]
    pub allowed_oauth_scopes: Vec<String>,
    #[serde(rename = "AllowedOAuthFlowsUserPoolClient")]
    pub allowed_oauth_flows_user_pool_client: bool,
    /// `ENABLED` (Cognito's default for new clients) or `LEGACY`.
    pub prevent_user_existence_errors: String,
    /// Defaults to true.
    pub enable_token_revocation: bool,
    pub enable_propagate_additional_user_context_data: bool,
    /// Defaults to 3 minutes.
    pub auth_session_validity: u32,
    /// Refresh token rotation; absent means disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_rotation: Option<RefreshTokenRotation>,
    /// The tenant that owns this client (Cognate's, not Cognito's): a tenant admin made it
    /// for their integration, and its machine tokens carry the tenant as `custom:tenantId`.
    /// Set only by the tenancy services; the Cognito surface neither accepts nor drops it.
    #[serde(rename = "CognateTenantId", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            refresh_token_validity: 30,
            access_token_validity: 1,
            id_token_validity: 1,
            token_validity_units: TokenValidityUnits::default(),
            read_attributes: Vec::new(),
            write_attributes: Vec::new(),
            explicit_auth_flows: Vec::new(),
            supported_identity_providers: Vec::new(),
            callback_urls: Vec::new(),
            logout_urls: Vec::new(),
            default_redirect_uri: None,
            allowed_oauth_flows: Vec::new(),
            allowed_oauth_scopes: Vec::new(),
            allowed_oauth_flows_user_pool_client: false,
            prevent_user_existence_errors: "ENABLED".into(),
            enable_token_revocation: true,
            enable_propagate_additional_user_context_data: false,
            auth_session_validity: 3,
            refresh_token_rotation: None,
            tenant_id: None,
            extra: Map::new(),
        }
    }
}

const AUTH_FLOWS: &[&str] = &[
    "ADMIN_NO_SRP_AUTH",
    "CUSTOM_AUTH_FLOW_ONLY",
    "USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_AUTH",
    CLIENT_TOKEN_AUTH,
];

/// The explicit auth flow of machine clients (GetClientToken): it excludes every user
/// authentication flow, so it must be a client's only one.
pub const CLIENT_TOKEN_AUTH: &str = "ALLOW_CLIENT_TOKEN_AUTH";

/// Seconds in one of Cognito's token validity units.
pub fn unit_seconds(unit: &str) -> Option<u64> {
    match unit {
        "seconds" => Some(1),
        "minutes" => Some(60),
        "hours" => Some(3600),
        "days" => Some(86_400),
        _ => None,
    }
}

impl ClientSettings {
    /// Checks values and ranges as Cognito does; the error names the parameter.
    pub fn validate(&self) -> Result<(), String> {
        for flow in &self.explicit_auth_flows {
            if !AUTH_FLOWS.contains(&flow.as_str()) {
                return Err(format!("Invalid ExplicitAuthFlows value: {flow}"));
            }
        }
        let legacy = self.explicit_auth_flows.iter().any(|f| !f.starts_with("ALLOW_"));
        let modern = self.explicit_auth_flows.iter().any(|f| f.starts_with("ALLOW_"));
        if legacy && modern {
            return Err("ExplicitAuthFlows cannot mix legacy and ALLOW_ prefixed values".into());
        }
        if self.explicit_auth_flows.iter().any(|f| f == CLIENT_TOKEN_AUTH) && self.explicit_auth_flows.len() > 1 {
            return Err(format!(
                "{CLIENT_TOKEN_AUTH} is mutually exclusive with user authentication flows: it must be the only \
                 ExplicitAuthFlows value"
            ));
        }
        for flow in &self.allowed_oauth_flows {
            if !["code", "implicit", "client_credentials"].contains(&flow.as_str()) {
                return Err(format!("Invalid AllowedOAuthFlows value: {flow}"));
            }
        }
        if self.allowed_oauth_flows.iter().any(|f| f == "client_credentials") && self.allowed_oauth_flows.len() > 1 {
            return Err("client_credentials flow can not be selected along with code flow or implicit flow.".into());
        }
        if !["ENABLED", "LEGACY"].contains(&self.prevent_user_existence_errors.as_str()) {
            return Err("PreventUserExistenceErrors must be ENABLED or LEGACY".into());
        }
        for url in self.callback_urls.iter().chain(&self.logout_urls) {
            if !valid_redirect_url(url) {
                return Err(format!("Invalid callback/logout URL (HTTPS required except for localhost): {url}"));
            }
        }
        if let Some(uri) = &self.default_redirect_uri
            && !self.callback_urls.contains(uri)
        {
            return Err("DefaultRedirectURI must be one of the CallbackURLs".into());
        }
        let u = &self.token_validity_units;
        let check = |name: &str, value: u32, unit: &str, min: u64, max: u64| -> Result<(), String> {
            let secs = unit_seconds(unit).ok_or_else(|| format!("Invalid TokenValidityUnits for {name}: {unit}"))?;
            let total = u64::from(value) * secs;
            if total < min || total > max {
                return Err(format!("{name} must be between {min} and {max} seconds (got {total})"));
            }
            Ok(())
        };
        check("AccessTokenValidity", self.access_token_validity, &u.access_token, 300, 86_400)?;
        check("IdTokenValidity", self.id_token_validity, &u.id_token, 300, 86_400)?;
        check("RefreshTokenValidity", self.refresh_token_validity, &u.refresh_token, 3_600, 315_360_000)?;
        if let Some(r) = &self.refresh_token_rotation {
            if r.feature != "ENABLED" && r.feature != "DISABLED" {
                return Err("RefreshTokenRotation.Feature must be ENABLED or DISABLED".into());
            }
            if r.retry_grace_period_seconds > 60 {
                return Err("RefreshTokenRotation.RetryGracePeriodSeconds must be between 0 and 60".into());
            }
        }
        if !(3..=15).contains(&self.auth_session_validity) {
            return Err("AuthSessionValidity must be between 3 and 15 minutes".into());
        }
        Ok(())
    }

    /// Access token lifetime in seconds.
    pub fn access_token_secs(&self) -> u64 {
        u64::from(self.access_token_validity) * unit_seconds(&self.token_validity_units.access_token).unwrap_or(60)
    }

    /// ID token lifetime in seconds.
    pub fn id_token_secs(&self) -> u64 {
        u64::from(self.id_token_validity) * unit_seconds(&self.token_validity_units.id_token).unwrap_or(60)
    }

    /// Refresh token lifetime in seconds.
    pub fn refresh_token_secs(&self) -> u64 {
        u64::from(self.refresh_token_validity)
            * unit_seconds(&self.token_validity_units.refresh_token).unwrap_or(86_400)
    }
}

/// Cognito's `RefreshTokenRotationType`: with `Feature` ENABLED every refresh returns a
/// new refresh token, and presenting a replaced one after `RetryGracePeriodSeconds`
/// revokes the whole family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RefreshTokenRotation {
    pub feature: String,
    #[serde(default)]
    pub retry_grace_period_seconds: u32,
}

impl ClientSettings {
    /// The grace period when rotation is on, `None` when it is off.
    pub fn rotation_grace_secs(&self) -> Option<u32> {
        self.refresh_token_rotation.as_ref().filter(|r| r.feature == "ENABLED").map(|r| r.retry_grace_period_seconds)
    }

    /// Whether the client may use an SDK auth flow, by its new (`ALLOW_…`) or legacy name.
    pub fn allows_flow(&self, modern: &str, legacy: Option<&str>) -> bool {
        self.explicit_auth_flows.iter().any(|f| f == modern || Some(f.as_str()) == legacy)
    }
}

/// An app client. Its secrets, when it has any, are kept sealed with the master key (the
/// server needs them to check `SECRET_HASH`); the first is opened only to answer
/// DescribeUserPoolClient.
#[derive(Debug, Clone, PartialEq)]
pub struct AppClient {
    pub pool_id: PoolId,
    pub id: ClientId,
    pub name: String,
    /// The secret DescribeUserPoolClient shows (the oldest of `secrets`); `None` for a
    /// public client.
    pub secret_sealed: Option<String>,
    /// Every secret the client accepts: one, or two while one is being rotated
    /// (AddUserPoolClientSecret, DeleteUserPoolClientSecret). Empty for a public client.
    pub secrets: Vec<ClientSecret>,
    /// Bumped by every change of `secrets`, so two concurrent changes cannot both apply.
    pub secrets_version: i64,
    pub settings: ClientSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

impl AppClient {
    /// The sealed secrets the client accepts (any of them proves it).
    pub fn accepted_secrets(&self) -> Vec<&str> {
        if self.secrets.is_empty() {
            self.secret_sealed.iter().map(String::as_str).collect()
        } else {
            self.secrets.iter().map(|s| s.sealed.as_str()).collect()
        }
    }
}

/// One secret of an app client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecret {
    pub id: String,
    /// The secret, sealed under [`SECRET_LABEL`].
    pub sealed: String,
    pub created_at: i64,
}

/// The most secrets an app client holds at once (Cognito's rotation limit).
pub const MAX_CLIENT_SECRETS: usize = 2;

impl ClientSecret {
    /// The id of the secret a client was created with before it had ids of its own (derived
    /// from the client, so it reads the same every time).
    pub fn initial_id(client: &ClientId) -> String {
        let digest = crate::crypto::sha256(format!("client-secret:{client}").as_bytes());
        hex::encode(&digest[..13])
    }
}

/// The master-key label client secrets are sealed under.
pub const SECRET_LABEL: &str = "client-secret";

/// Schemes a browser must never be sent to, whatever a client registers.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob", "about"];

/// Whether a callback or sign-out URL may be registered (the hosted login redirects browsers
/// to it): `https://` with a host, `http://` only to this machine (`localhost`,
/// `127.0.0.1`, `[::1]`, any port), or an app's own scheme (`myapp://cb`); no fragment,
/// no credentials in the authority, no spaces or control characters, at most 1024 bytes.
pub fn valid_redirect_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else { return false };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = if authority.starts_with('[') {
        authority.split_once(']').map_or(authority, |(h, _)| &authority[..=h.len()])
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control()) && !url.contains('#');
    let forbidden = FORBIDDEN_SCHEMES.iter().any(|f| scheme.eq_ignore_ascii_case(f));
    let place_ok = match scheme.to_ascii_lowercase().as_str() {
        "https" => !host.is_empty(),
        "http" => ["localhost", "127.0.0.1", "[::1]"].contains(&host.to_ascii_lowercase().as_str()),
        _ => true,
    };
    url.len() <= 1024 && scheme_ok && clean && !forbidden && place_ok && !authority.contains('@')
}

/// Client names: 1 to 128 characters of `[\w\s+=,.@-]`.
pub fn valid_client_name(name: &str) -> bool {
    crate::pool::valid_pool_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls() {
        for good in [
            "https://app.example.com/cb",
            "https://app.example.com",
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "myapp://callback",
            "com.example.app://auth?x=1",
        ] {
            assert!(valid_redirect_url(good), "{good}");
        }
        for bad in [
            "http://app.example.com/cb",
            "http://localhost.evil.com/cb",
            "http://localhost@evil.com/cb",
            "http://127.0.0.1.nip.io/cb",
            "https://user@app.example.com/cb",
            "javascript://alert(1)",
            "JavaScript://x",
            "data://text",
            "https://a b/",
            "https:///path",
            "https://app.example.com/cb#frag",
            "no-scheme",
            "1app://cb",
        ] {
            assert!(!valid_redirect_url(bad), "{bad}");
        }
    }

    #[test]
    fn defaults_are_valid_and_ranges_are_enforced() {
        assert!(ClientSettings::default().validate().is_ok());
        let s = ClientSettings { access_token_validity: 0, ..Default::default() };
        assert!(s.validate().is_err());
        let s = ClientSettings {
            explicit_auth_flows: vec!["ALLOW_USER_PASSWORD_AUTH".into(), "USER_PASSWORD_AUTH".into()],
            ..Default::default()
        };
        assert!(s.validate().is_err());
        let s = ClientSettings { callback_urls: vec!["http://evil.example".into()], ..Default::default() };
        assert!(s.validate().is_err());
        assert_eq!(ClientSettings::default().access_token_secs(), 3600);
        assert_eq!(ClientSettings::default().refresh_token_secs(), 30 * 86_400);
    }
}
