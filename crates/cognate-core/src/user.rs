//! Users, their status, the keys they are found by, and ListUsers filters.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::ids::PoolId;
use crate::pool::PoolSettings;

/// Cognito's user statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Unconfirmed,
    Confirmed,
    ResetRequired,
    ForceChangePassword,
    ExternalProvider,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unconfirmed => "UNCONFIRMED",
            Self::Confirmed => "CONFIRMED",
            Self::ResetRequired => "RESET_REQUIRED",
            Self::ForceChangePassword => "FORCE_CHANGE_PASSWORD",
            Self::ExternalProvider => "EXTERNAL_PROVIDER",
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "UNCONFIRMED" => Self::Unconfirmed,
            "CONFIRMED" => Self::Confirmed,
            "RESET_REQUIRED" => Self::ResetRequired,
            "FORCE_CHANGE_PASSWORD" => Self::ForceChangePassword,
            "EXTERNAL_PROVIDER" => Self::ExternalProvider,
            other => return Err(format!("unknown user status {other}")),
        })
    }
}

/// A user of one pool. `attributes` holds every attribute except `sub`, which is the
/// user's immutable id.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub pool_id: PoolId,
    pub sub: String,
    pub username: String,
    pub status: UserStatus,
    pub enabled: bool,
    pub password_hash: Option<String>,
    /// The SRP verifier of the password (`srp::Verifier` as JSON, sealed with the master
    /// key), written with every password so Cognito's SRP clients can sign in. `None` for
    /// users whose password was set before SRP existed, until their next password sign-in.
    pub srp_verifier: Option<String>,
    /// When a temporary password stops working (ms since epoch).
    pub temp_password_expires_at: Option<i64>,
    pub attributes: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Tokens from sign-ins before this moment (ms) are void: global sign-out.
    pub tokens_valid_after: i64,
}

/// The normalised keys a user is found by; unique per pool where set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKeys {
    pub username: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub preferred_username: Option<String>,
}

impl User {
    /// Computes the lookup keys under the pool's settings: usernames fold case unless the
    /// pool is case-sensitive; an email or phone number is a key when it is the username
    /// attribute, or an alias and verified (as in Cognito).
    pub fn keys(&self, settings: &PoolSettings) -> UserKeys {
        UserKeys {
            username: username_key(settings, &self.username),
            email: alias_key(self, settings, "email", Some("email_verified")).map(|e| e.to_lowercase()),
            phone: alias_key(self, settings, "phone_number", Some("phone_number_verified")),
            preferred_username: alias_key(self, settings, "preferred_username", None)
                .map(|p| username_key(settings, &p)),
        }
    }
}

/// The key under which `username` is stored and looked up in a pool.
pub fn username_key(settings: &PoolSettings, username: &str) -> String {
    if settings.case_sensitive_usernames() { username.to_owned() } else { username.to_lowercase() }
}

fn alias_key(user: &User, settings: &PoolSettings, attr: &str, verified: Option<&str>) -> Option<String> {
    let value = user.attributes.get(attr)?;
    let is_username_attr = settings.username_attributes.iter().any(|a| a == attr);
    let is_alias = settings.alias_attributes.iter().any(|a| a == attr);
    let verified_ok = verified.is_none_or(|v| user.attributes.get(v).is_some_and(|x| x == "true"));
    (is_username_attr || (is_alias && verified_ok)).then(|| value.clone())
}

/// Valid usernames: 1 to 128 characters without whitespace or control characters.
pub fn valid_username(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 128 && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// What a ListUsers filter compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterField {
    Username,
    Sub,
    /// `status`: "Enabled" or "Disabled".
    Enabled,
    /// `cognito:user_status`.
    UserStatus,
    /// A standard or custom attribute, stored in the attribute index.
    Attribute(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Equals,
    StartsWith,
}

/// A parsed ListUsers filter: `name = "value"` or `name ^= "value"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFilter {
    pub field: FilterField,
    pub op: FilterOp,
    pub value: String,
}

/// The standard attributes Cognito can filter on. Cognate additionally allows every
/// `custom:*` attribute.
const FILTERABLE: &[&str] = &[
    "username",
    "email",
    "phone_number",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "cognito:user_status",
    "status",
    "sub",
];

impl UserFilter {
    /// Parses Cognito's filter syntax; the error is the message for
    /// InvalidParameterException.
    pub fn parse(input: &str, settings: &PoolSettings) -> Result<Self, String> {
        let s = input.trim();
        // Cognito's wording, which does not repeat the filter.
        let bad = || "Error while parsing filter".to_owned();
        let (name, op, rest) = if let Some(i) = s.find("^=") {
            (&s[..i], FilterOp::StartsWith, &s[i + 2..])
        } else if let Some(i) = s.find('=') {
            (&s[..i], FilterOp::Equals, &s[i + 1..])
        } else {
            return Err(bad());
        };
        let name = name.trim();
        let rest = rest.trim();
        let quoted = rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')).ok_or_else(bad)?;
        // Inside the quotes only escaped quotes may appear: `a = "x" and b = "y"` is not one
        // filter (Cognito supports a single condition).
        let mut value = String::with_capacity(quoted.len());
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.push(chars.next().ok_or_else(bad)?),
                '"' => return Err(bad()),
                c => value.push(c),
            }
        }
        if name.is_empty() || name.contains(' ') {
            return Err(bad());
        }
        let field = match name {
            "username" => FilterField::Username,
            "sub" => FilterField::Sub,
            "status" => FilterField::Enabled,
            "cognito:user_status" => FilterField::UserStatus,
            n if FILTERABLE.contains(&n) => FilterField::Attribute(n.to_owned()),
            n if n.starts_with("custom:") => {
                if !settings.schema.iter().any(|a| a.name == n) {
                    return Err(format!("Invalid search attribute: {n}"));
                }
                FilterField::Attribute(n.to_owned())
            }
            n => return Err(format!("Invalid search attribute: {n}")),
        };
        let value = match (&field, op) {
            (FilterField::Username, _) => username_key(settings, &value),
            (FilterField::Attribute(a), _) if a == "email" => value.to_lowercase(),
            (FilterField::Enabled, FilterOp::Equals) => match value.as_str() {
                "Enabled" | "Disabled" => value,
                _ => return Err("status filter value must be Enabled or Disabled".into()),
            },
            (FilterField::Enabled, FilterOp::StartsWith) => {
                return Err("status supports only the = operator".into());
            }
            _ => value,
        };
        Ok(Self { field, op, value })
    }
}

/// The value an attribute is indexed under for filtering (emails fold case, as lookups by
/// email do).
pub fn index_value(name: &str, value: &str) -> String {
    if name == "email" { value.to_lowercase() } else { value.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cognito_filters() {
        let s = PoolSettings::default();
        let f = UserFilter::parse("email = \"A@x.io\"", &s).unwrap();
        assert_eq!(f.field, FilterField::Attribute("email".into()));
        assert_eq!((f.op, f.value.as_str()), (FilterOp::Equals, "a@x.io"));
        let f = UserFilter::parse("given_name ^= \"Jo\"", &s).unwrap();
        assert_eq!((f.op, f.value.as_str()), (FilterOp::StartsWith, "Jo"));
        assert_eq!(UserFilter::parse("status=\"Disabled\"", &s).unwrap().field, FilterField::Enabled);
        for bad in [
            "email",
            "email = x",
            r#"email = "a" and username = "b""#,
            "nope = \"x\"",
            "email ~ \"x\"",
            "custom:undefined = \"x\"",
            "status = \"x\"",
        ] {
            assert!(UserFilter::parse(bad, &s).is_err(), "{bad}");
        }
    }
}
