//! User pools and their settings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::attributes::SchemaAttribute;
use crate::ids::PoolId;
use crate::password::PasswordPolicy;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Policies {
    pub password_policy: PasswordPolicy,
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
        Ok(())
    }
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
