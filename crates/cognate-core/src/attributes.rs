//! The user attribute schema: Cognito's standard attributes plus a pool's custom ones,
//! and the validation of attribute values against it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most custom attributes a pool may define (Cognito's limit is 50; ours is documented
/// in the README).
pub const MAX_CUSTOM_ATTRIBUTES: usize = 100;
/// Longest value of a String attribute when the schema sets no limit.
pub const MAX_STRING_LENGTH: u32 = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributeDataType {
    String,
    Number,
    DateTime,
    Boolean,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NumberConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StringConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<String>,
}

fn yes() -> bool {
    true
}

/// One attribute of a pool's schema, in Cognito's `SchemaAttributeType` shape. Custom
/// attributes are stored with their `custom:` prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SchemaAttribute {
    pub name: String,
    #[serde(default = "default_type")]
    pub attribute_data_type: AttributeDataType,
    #[serde(default)]
    pub developer_only_attribute: bool,
    /// Defaults to true.
    #[serde(default = "yes")]
    pub mutable: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_attribute_constraints: Option<NumberConstraints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_attribute_constraints: Option<StringConstraints>,
}

fn default_type() -> AttributeDataType {
    AttributeDataType::String
}

impl SchemaAttribute {
    pub fn is_custom(&self) -> bool {
        self.name.starts_with("custom:")
    }
}

/// Cognito's standard attributes, with their types and mutability.
pub fn standard_schema() -> Vec<SchemaAttribute> {
    use AttributeDataType::{Boolean, Number, String as Str};
    let string = |name: &str, min: u32, max: u32| SchemaAttribute {
        name: name.to_owned(),
        attribute_data_type: Str,
        developer_only_attribute: false,
        mutable: true,
        required: false,
        number_attribute_constraints: None,
        string_attribute_constraints: Some(StringConstraints {
            min_length: Some(min.to_string()),
            max_length: Some(max.to_string()),
        }),
    };
    let boolean = |name: &str| SchemaAttribute {
        attribute_data_type: Boolean,
        string_attribute_constraints: None,
        ..string(name, 0, 0)
    };
    let mut sub = string("sub", 1, 2048);
    sub.mutable = false;
    sub.required = true;
    let mut updated_at = string("updated_at", 0, 0);
    updated_at.attribute_data_type = Number;
    updated_at.string_attribute_constraints = None;
    updated_at.number_attribute_constraints = Some(NumberConstraints { min_value: Some("0".into()), max_value: None });
    vec![
        sub,
        string("name", 0, 2048),
        string("given_name", 0, 2048),
        string("family_name", 0, 2048),
        string("middle_name", 0, 2048),
        string("nickname", 0, 2048),
        string("preferred_username", 0, 2048),
        string("profile", 0, 2048),
        string("picture", 0, 2048),
        string("website", 0, 2048),
        string("email", 0, 2048),
        boolean("email_verified"),
        string("gender", 0, 2048),
        string("birthdate", 10, 10),
        string("zoneinfo", 0, 2048),
        string("locale", 0, 2048),
        string("phone_number", 0, 2048),
        boolean("phone_number_verified"),
        string("address", 0, 2048),
        updated_at,
    ]
}

/// Builds a pool's full schema from the attributes given at creation: standard
/// attributes (whose `Required`/`Mutable` may be overridden) followed by custom ones.
pub fn build_schema(requested: &[SchemaAttribute]) -> Result<Vec<SchemaAttribute>, String> {
    let mut schema = standard_schema();
    let mut custom = Vec::new();
    for attr in requested {
        if let Some(std_attr) = schema.iter_mut().find(|s| s.name == attr.name) {
            if std_attr.name == "sub" {
                if !attr.required || attr.mutable {
                    return Err("sub must stay required and immutable".into());
                }
                continue;
            }
            if attr.attribute_data_type != std_attr.attribute_data_type {
                return Err(format!("Invalid AttributeDataType input for standard attribute {}", attr.name));
            }
            std_attr.required = attr.required;
            std_attr.mutable = attr.mutable;
            continue;
        }
        custom.push(validate_custom(attr)?);
    }
    add_custom(&mut schema, custom)?;
    Ok(schema)
}

/// Appends custom attributes to an existing schema (AddCustomAttributes).
pub fn add_custom(schema: &mut Vec<SchemaAttribute>, new: Vec<SchemaAttribute>) -> Result<(), String> {
    let existing = schema.iter().filter(|a| a.is_custom()).count();
    if existing + new.len() > MAX_CUSTOM_ATTRIBUTES {
        return Err(format!("A user pool may have at most {MAX_CUSTOM_ATTRIBUTES} custom attributes"));
    }
    for attr in new {
        let attr = validate_custom(&attr)?;
        if schema.iter().any(|a| a.name == attr.name) {
            return Err(format!("Existing attribute already has name {}.", attr.name));
        }
        schema.push(attr);
    }
    Ok(())
}

fn validate_custom(attr: &SchemaAttribute) -> Result<SchemaAttribute, String> {
    let bare = attr.name.strip_prefix("custom:").unwrap_or(&attr.name);
    let name_ok =
        !bare.is_empty() && bare.len() <= 20 && bare.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
    if !name_ok {
        return Err(format!(
            "Invalid custom attribute name {}: 1 to 20 characters of letters, digits, '_', '-', '.', ':'",
            attr.name
        ));
    }
    if attr.required {
        return Err(format!("Required custom attributes are not supported currently: {bare}"));
    }
    let mut out = attr.clone();
    out.name = format!("custom:{bare}");
    match attr.attribute_data_type {
        AttributeDataType::String => {
            out.number_attribute_constraints = None;
            let c = out.string_attribute_constraints.get_or_insert_with(Default::default);
            let min = parse_bound(c.min_length.as_deref(), "MinLength")?.unwrap_or(0.0);
            let max = parse_bound(c.max_length.as_deref(), "MaxLength")?.unwrap_or(f64::from(MAX_STRING_LENGTH));
            if min < 0.0 || max > f64::from(MAX_STRING_LENGTH) || min > max || min.fract() != 0.0 || max.fract() != 0.0
            {
                return Err(format!("Invalid string length constraints for {}", out.name));
            }
        }
        AttributeDataType::Number => {
            out.string_attribute_constraints = None;
            if let Some(c) = &out.number_attribute_constraints {
                let min = parse_bound(c.min_value.as_deref(), "MinValue")?;
                let max = parse_bound(c.max_value.as_deref(), "MaxValue")?;
                if let (Some(a), Some(b)) = (min, max)
                    && a > b
                {
                    return Err(format!("MinValue is greater than MaxValue for {}", out.name));
                }
            }
        }
        AttributeDataType::Boolean | AttributeDataType::DateTime => {
            out.string_attribute_constraints = None;
            out.number_attribute_constraints = None;
        }
    }
    Ok(out)
}

fn parse_bound(v: Option<&str>, what: &str) -> Result<Option<f64>, String> {
    v.map(|s| s.trim().parse::<f64>().map_err(|_| format!("{what} must be a number: {s}"))).transpose()
}

/// Why an attribute write was refused; each message is Cognito's wording where one exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    #[error("Attribute does not exist in the schema.")]
    Unknown(String),
    #[error("Cannot modify an immutable attribute: {0}")]
    Immutable(String),
    #[error("Invalid value for attribute {name}: {why}")]
    Invalid { name: String, why: String },
    #[error("Attributes did not conform to the schema: {0}: The attribute is required")]
    MissingRequired(String),
}

/// A pool's schema with lookups by name.
pub struct Schema<'a> {
    attrs: &'a [SchemaAttribute],
}

impl<'a> Schema<'a> {
    pub fn new(attrs: &'a [SchemaAttribute]) -> Self {
        Self { attrs }
    }

    pub fn get(&self, name: &str) -> Option<&'a SchemaAttribute> {
        // Developer-only attributes are addressed as `dev:custom:x`.
        let name = name.strip_prefix("dev:").unwrap_or(name);
        self.attrs.iter().find(|a| a.name == name)
    }

    /// Checks a set of attribute writes. `creating` allows immutable attributes to be set
    /// once; `sub` is never writable.
    pub fn check_writes(&self, writes: &[(String, String)], creating: bool) -> Result<(), AttributeError> {
        for (name, value) in writes {
            let attr = self.get(name).ok_or_else(|| AttributeError::Unknown(name.clone()))?;
            if attr.name == "sub" || (!attr.mutable && !creating) {
                return Err(AttributeError::Immutable(name.clone()));
            }
            check_value(attr, value)?;
        }
        Ok(())
    }

    /// Checks that every required attribute has a value after a write.
    pub fn check_required(&self, attrs: &BTreeMap<String, String>) -> Result<(), AttributeError> {
        for attr in self.attrs.iter().filter(|a| a.required && a.name != "sub") {
            if attrs.get(&attr.name).is_none_or(|v| v.is_empty()) {
                return Err(AttributeError::MissingRequired(attr.name.clone()));
            }
        }
        Ok(())
    }

    /// Checks attribute deletions: immutable and required attributes cannot be removed.
    pub fn check_deletes(&self, names: &[String]) -> Result<(), AttributeError> {
        for name in names {
            let attr = self.get(name).ok_or_else(|| AttributeError::Unknown(name.clone()))?;
            if attr.name == "sub" || !attr.mutable {
                return Err(AttributeError::Immutable(name.clone()));
            }
            if attr.required {
                return Err(AttributeError::MissingRequired(name.clone()));
            }
        }
        Ok(())
    }
}

fn check_value(attr: &SchemaAttribute, value: &str) -> Result<(), AttributeError> {
    let invalid = |why: String| Err(AttributeError::Invalid { name: attr.name.clone(), why });
    match attr.attribute_data_type {
        AttributeDataType::String => {
            let len = value.chars().count() as f64;
            let c = attr.string_attribute_constraints.clone().unwrap_or_default();
            let min = c.min_length.and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
            let max = c
                .max_length
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|m| *m > 0.0)
                .unwrap_or(f64::from(MAX_STRING_LENGTH));
            if len < min || len > max {
                return invalid(format!("length must be between {min} and {max}"));
            }
            match attr.name.as_str() {
                "email" if !looks_like_email(value) => return invalid("Invalid email address format.".into()),
                "phone_number" if !looks_like_phone(value) => return invalid("Invalid phone number format.".into()),
                _ => {}
            }
        }
        AttributeDataType::Number => {
            let Ok(n) = value.trim().parse::<f64>() else {
                return invalid("must be a number".into());
            };
            if !n.is_finite() {
                return invalid("must be a finite number".into());
            }
            if let Some(c) = &attr.number_attribute_constraints {
                let min = c.min_value.as_deref().and_then(|s| s.parse::<f64>().ok());
                let max = c.max_value.as_deref().and_then(|s| s.parse::<f64>().ok());
                if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                    return invalid(format!(
                        "must be between {} and {}",
                        c.min_value.as_deref().unwrap_or("-inf"),
                        c.max_value.as_deref().unwrap_or("inf")
                    ));
                }
            }
        }
        AttributeDataType::Boolean => {
            if value != "true" && value != "false" {
                return invalid("must be true or false".into());
            }
        }
        AttributeDataType::DateTime => {
            if value.chars().count() > MAX_STRING_LENGTH as usize {
                return invalid("is too long".into());
            }
        }
    }
    Ok(())
}

/// A deliberately loose check (one `@`, something on each side, a dot in the domain, no
/// spaces), as Cognito's own is.
pub fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// E.164: `+` and 2 to 15 digits.
pub fn looks_like_phone(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(name: &str, t: AttributeDataType) -> SchemaAttribute {
        SchemaAttribute {
            name: name.into(),
            attribute_data_type: t,
            developer_only_attribute: false,
            mutable: true,
            required: false,
            number_attribute_constraints: None,
            string_attribute_constraints: None,
        }
    }

    #[test]
    fn schema_validates_values_and_mutability() {
        let mut level = custom("level", AttributeDataType::Number);
        level.number_attribute_constraints =
            Some(NumberConstraints { min_value: Some("1".into()), max_value: Some("5".into()) });
        let mut badge = custom("badge", AttributeDataType::String);
        badge.mutable = false;
        let attrs = build_schema(&[level, badge]).unwrap();
        let schema = Schema::new(&attrs);
        let w = |n: &str, v: &str| vec![(n.to_owned(), v.to_owned())];
        assert!(schema.check_writes(&w("custom:level", "3"), false).is_ok());
        assert!(matches!(schema.check_writes(&w("custom:level", "9"), false), Err(AttributeError::Invalid { .. })));
        assert!(matches!(schema.check_writes(&w("custom:level", "x"), false), Err(AttributeError::Invalid { .. })));
        assert!(schema.check_writes(&w("custom:badge", "gold"), true).is_ok());
        assert!(matches!(schema.check_writes(&w("custom:badge", "gold"), false), Err(AttributeError::Immutable(_))));
        assert!(matches!(schema.check_writes(&w("custom:nope", "1"), true), Err(AttributeError::Unknown(_))));
        assert!(matches!(schema.check_writes(&w("sub", "x"), true), Err(AttributeError::Immutable(_))));
        assert!(matches!(schema.check_writes(&w("email", "nope"), true), Err(AttributeError::Invalid { .. })));
        assert!(matches!(schema.check_writes(&w("email_verified", "yes"), true), Err(AttributeError::Invalid { .. })));
    }

    #[test]
    fn custom_names_are_checked_and_unique() {
        assert!(build_schema(&[custom("this_name_is_far_too_long", AttributeDataType::String)]).is_err());
        let mut schema = build_schema(&[custom("dept", AttributeDataType::String)]).unwrap();
        assert!(add_custom(&mut schema, vec![custom("dept", AttributeDataType::String)]).is_err());
        assert!(add_custom(&mut schema, vec![custom("team", AttributeDataType::String)]).is_ok());
        assert!(schema.iter().any(|a| a.name == "custom:team"));
    }
}
