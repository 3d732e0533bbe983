//! User pools and their settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::attributes::SchemaAttribute;
use crate::ids::PoolId;
use crate::password::PasswordPolicy;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Policies {
    pub password_policy: PasswordPolicy,
    /// The first factors of choice-based sign-in (`USER_AUTH`); `["PASSWORD"]` by default.
    pub sign_in_policy: crate::passkey::SignInPolicy,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AdminCreateUserConfig {
    pub allow_admin_create_user_only: bool,
    /// Legacy name for the temporary password's validity; the password policy's
    /// `TemporaryPasswordValidityDays` wins when both are set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unused_account_validity_days: Option<u32>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for AdminCreateUserConfig {
    fn default() -> Self {
        Self { allow_admin_create_user_only: false, unused_account_validity_days: None, extra: Map::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsernameConfiguration {
    pub case_sensitive: bool,
}

/// Everything about a pool that its owner configures, in Cognito's shape. Settings
/// Cognate does not act on yet (Lambda triggers, SMS configuration, …) are kept verbatim in
/// `extra` and returned by DescribeUserPool, so clients that round-trip them see no loss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PoolSettings {
    pub policies: Policies,
    pub username_attributes: Vec<String>,
    pub alias_attributes: Vec<String>,
    pub auto_verified_attributes: Vec<String>,
    /// `OFF`, `ON` or `OPTIONAL`. Defaults to `OFF`.
    pub mfa_configuration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username_configuration: Option<UsernameConfiguration>,
    pub admin_create_user_config: AdminCreateUserConfig,
    /// `ACTIVE` or `INACTIVE`. Defaults to `INACTIVE`.
    pub deletion_protection: String,
    pub schema: Vec<SchemaAttribute>,
    /// Device tracking: absent means devices are not tracked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_configuration: Option<crate::device::DeviceConfiguration>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            policies: Policies::default(),
            username_attributes: Vec::new(),
            alias_attributes: Vec::new(),
            auto_verified_attributes: Vec::new(),
            mfa_configuration: "OFF".into(),
            username_configuration: None,
            admin_create_user_config: AdminCreateUserConfig::default(),
            deletion_protection: "INACTIVE".into(),
            schema: Vec::new(),
            device_configuration: None,
            extra: Map::new(),
        }
    }
}

impl PoolSettings {
    /// Usernames compare case-insensitively unless the pool opted into case sensitivity
    /// (Cognito's recommended setting, and the default for pools made by Cognate).
    pub fn case_sensitive_usernames(&self) -> bool {
        self.username_configuration.as_ref().is_some_and(|c| c.case_sensitive)
    }

    /// Users sign in with their email (or phone) instead of a username.
    pub fn email_is_username(&self) -> bool {
        self.username_attributes.iter().any(|a| a == "email")
    }

    pub fn phone_is_username(&self) -> bool {
        self.username_attributes.iter().any(|a| a == "phone_number")
    }

    /// Checks the combination of settings that CreateUserPool/UpdateUserPool accept.
    pub fn validate(&self) -> Result<(), String> {
        self.policies.password_policy.validate()?;
        self.policies.sign_in_policy.validate()?;
        for a in &self.username_attributes {
            if a != "email" && a != "phone_number" {
                return Err(format!("UsernameAttributes may only contain email and phone_number, not {a}"));
            }
        }
        for a in &self.alias_attributes {
            if !["email", "phone_number", "preferred_username"].contains(&a.as_str()) {
                return Err(format!(
                    "AliasAttributes may only contain email, phone_number and preferred_username, not {a}"
                ));
            }
        }
        if !self.username_attributes.is_empty() && !self.alias_attributes.is_empty() {
            return Err("Only one of AliasAttributes and UsernameAttributes can be set in a User Pool".into());
        }
        for a in &self.auto_verified_attributes {
            if a != "email" && a != "phone_number" {
                return Err(format!("AutoVerifiedAttributes may only contain email and phone_number, not {a}"));
            }
        }
        if !["OFF", "ON", "OPTIONAL"].contains(&self.mfa_configuration.as_str()) {
            return Err("MfaConfiguration must be one of OFF, ON, OPTIONAL".into());
        }
        if !["ACTIVE", "INACTIVE"].contains(&self.deletion_protection.as_str()) {
            return Err("DeletionProtection must be ACTIVE or INACTIVE".into());
        }
        if let Some(tags) = self.extra.get(TAGS) {
            check_tags(&tags_of(tags)?)?;
        }
        Ok(())
    }

    /// The pool's passkey settings (SetUserPoolMfaConfig's `WebAuthnConfiguration`).
    pub fn webauthn(&self) -> crate::passkey::WebAuthnConfiguration {
        crate::passkey::WebAuthnConfiguration::of(self.extra.get(crate::passkey::WEB_AUTHN_CONFIGURATION))
    }

    /// Whether the pool's AccountRecoverySetting names `admin_only`: users cannot recover
    /// their own passwords (ForgotPassword is refused), only an administrator resets them.
    pub fn admin_only_recovery(&self) -> bool {
        self.extra
            .get("AccountRecoverySetting")
            .and_then(|s| s.get("RecoveryMechanisms"))
            .and_then(Value::as_array)
            .is_some_and(|ms| ms.iter().any(|m| m.get("Name").and_then(Value::as_str) == Some("admin_only")))
    }

    /// The pool's tags (`UserPoolTags`), by key; none when it has none.
    pub fn tags(&self) -> BTreeMap<String, String> {
        self.extra.get(TAGS).and_then(|t| tags_of(t).ok()).unwrap_or_default()
    }

    /// Replaces the pool's tags with `tags` after [`check_tags`]; no tags left removes
    /// `UserPoolTags` (DescribeUserPool then leaves it out, as for a pool never tagged).
    pub fn set_tags(&mut self, tags: BTreeMap<String, String>) -> Result<(), String> {
        check_tags(&tags)?;
        if tags.is_empty() {
            self.extra.remove(TAGS);
        } else {
            let map: Map<String, Value> = tags.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            self.extra.insert(TAGS.to_owned(), Value::Object(map));
        }
        Ok(())
    }
}

/// The setting that holds a pool's tags, in [`PoolSettings::extra`]: the `UserPoolTags` of
/// CreateUserPool, UpdateUserPool and DescribeUserPool, and what TagResource,
/// UntagResource and ListTagsForResource change and read (one store for both).
pub const TAGS: &str = "UserPoolTags";
/// Tags one pool may carry (Cognito's limit).
pub const MAX_TAGS: usize = 50;
/// A tag key's length in characters: 1 to 128.
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// A tag value's length in characters: 0 to 256.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// Tags from their JSON form: an object of strings.
fn tags_of(value: &Value) -> Result<BTreeMap<String, String>, String> {
    let not_tags = || format!("{TAGS} must map tag keys to string values");
    value
        .as_object()
        .ok_or_else(not_tags)?
        .iter()
        .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())).ok_or_else(not_tags))
        .collect()
}

/// Refuses a tag key outside 1 to [`MAX_TAG_KEY_CHARS`] characters, in Cognito's words.
pub fn check_tag_key(key: &str) -> Result<(), String> {
    let n = key.chars().count();
    if n == 0 || n > MAX_TAG_KEY_CHARS {
        return Err(format!(
            "1 validation error detected: Value '{key}' at 'tags' failed to satisfy constraint: Map keys must \
             satisfy constraint: [Member must have length less than or equal to {MAX_TAG_KEY_CHARS}, Member must \
             have length greater than or equal to 1]"
        ));
    }
    Ok(())
}

/// Checks a pool's whole set of tags: at most [`MAX_TAGS`], keys of 1 to
/// [`MAX_TAG_KEY_CHARS`] characters, values of at most [`MAX_TAG_VALUE_CHARS`].
pub fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("A user pool can have at most {MAX_TAGS} tags; this request would leave {}.", tags.len()));
    }
    for (key, value) in tags {
        check_tag_key(key)?;
        if value.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(format!(
                "1 validation error detected: Value '{value}' at 'tags' failed to satisfy constraint: Map values \
                 must satisfy constraint: [Member must have length less than or equal to {MAX_TAG_VALUE_CHARS}]"
            ));
        }
    }
    Ok(())
}

/// A user pool. `version` increases with every update so concurrent read-modify-write
/// updates are detected instead of silently lost.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPool {
    pub id: PoolId,
    pub name: String,
    pub settings: PoolSettings,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// Pool names: 1 to 128 characters of `[\w\s+=,.@-]`.
pub fn valid_pool_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 128
        && name.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "_+=,.@-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_respect_cognitos_limits() {
        let mut s = PoolSettings::default();
        assert!(s.tags().is_empty());
        let tags: BTreeMap<String, String> =
            [("team".to_owned(), "it".to_owned()), ("empty".into(), String::new())].into();
        s.set_tags(tags.clone()).unwrap();
        assert_eq!(s.tags(), tags);
        assert!(s.validate().is_ok());
        s.set_tags(BTreeMap::new()).unwrap();
        assert!(!s.extra.contains_key(TAGS), "no tags left removes UserPoolTags");

        let many: BTreeMap<String, String> = (0..=MAX_TAGS).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_tags(&many).is_err());
        assert!(check_tags(&[("".to_owned(), "v".to_owned())].into()).is_err());
        assert!(check_tags(&[("k".repeat(129), "v".to_owned())].into()).is_err());
        assert!(check_tags(&[("é".repeat(128), "é".repeat(256))].into()).is_ok(), "limits count characters");
        assert!(check_tags(&[("k".to_owned(), "v".repeat(257))].into()).is_err());

        s.extra.insert(TAGS.into(), serde_json::json!({"k": 1}));
        assert!(s.validate().is_err(), "a tag value must be a string");
        s.extra.insert(TAGS.into(), serde_json::json!(["k"]));
        assert!(s.validate().is_err());
    }
}
