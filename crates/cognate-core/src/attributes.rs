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

    /// The name as Cognito shows it in a pool's schema: a developer-only attribute is
    /// `dev:custom:NAME` (stored, and kept in users' attributes, as `custom:NAME`).
    pub fn display_name(&self) -> String {
        if self.developer_only_attribute { format!("dev:{}", self.name) } else { self.name.clone() }
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

/// One attribute as CreateUserPool's `Schema` or AddCustomAttributes' `CustomAttributes`
/// give it: every member but the name optional, so that what the caller left out can be
/// told from a default (a custom attribute needs its AttributeDataType; a standard
/// attribute keeps its own type, mutability and constraints unless told otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestedAttribute {
    pub name: String,
    /// Kept as text so that an unknown type gets Cognito's enum message, not a parse error.
    #[serde(default)]
    pub attribute_data_type: Option<String>,
    #[serde(default)]
    pub developer_only_attribute: Option<bool>,
    #[serde(default)]
    pub mutable: Option<bool>,
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub number_attribute_constraints: Option<NumberConstraints>,
    #[serde(default)]
    pub string_attribute_constraints: Option<StringConstraints>,
}

impl RequestedAttribute {
    /// A custom String attribute of `name`, mutable, with `constraints`.
    pub fn string(name: &str, constraints: Option<StringConstraints>) -> Self {
        Self {
            name: name.to_owned(),
            attribute_data_type: Some("String".into()),
            mutable: Some(true),
            string_attribute_constraints: constraints,
            ..Self::default()
        }
    }

    /// The data type asked for, if any; an unknown one is Cognito's enum refusal.
    fn data_type(&self) -> Result<Option<AttributeDataType>, String> {
        let Some(t) = self.attribute_data_type.as_deref() else {
            return Ok(None);
        };
        match t {
            "String" => Ok(Some(AttributeDataType::String)),
            "Number" => Ok(Some(AttributeDataType::Number)),
            "DateTime" => Ok(Some(AttributeDataType::DateTime)),
            "Boolean" => Ok(Some(AttributeDataType::Boolean)),
            other => Err(format!(
                "Validation error detected: Value '{other}' failed to satisfy constraint: Member must satisfy enum \
                 value set: [Boolean, Number, String, DateTime]"
            )),
        }
    }
}

/// Builds a pool's full schema from the attributes given at creation, as Cognito does:
/// standard attributes keep their type (changing it, or making one developer-only, is
/// refused) and may have their `Required`, `Mutable` and constraints set; the others
/// become custom attributes (`custom:NAME`, or `dev:custom:NAME` when developer-only),
/// which need an AttributeDataType.
pub fn build_schema(requested: &[RequestedAttribute]) -> Result<Vec<SchemaAttribute>, String> {
    let mut schema = standard_schema();
    let mut custom = Vec::new();
    for attr in requested {
        let Some(std_attr) = schema.iter_mut().find(|s| s.name == attr.name) else {
            custom.push(attr.clone());
            continue;
        };
        let data_type = attr.data_type()?;
        if data_type.is_some_and(|t| t != std_attr.attribute_data_type) || attr.developer_only_attribute == Some(true) {
            return Err(format!(
                "You can not change AttributeDataType or set developerOnlyAttribute for standard schema attribute {}",
                attr.name
            ));
        }
        if std_attr.name == "sub" {
            if attr.required == Some(false) || attr.mutable == Some(true) {
                return Err("sub must stay required and immutable".into());
            }
            continue;
        }
        std_attr.required = attr.required.unwrap_or(std_attr.required);
        std_attr.mutable = attr.mutable.unwrap_or(std_attr.mutable);
        match std_attr.attribute_data_type {
            AttributeDataType::String => {
                if let Some(c) = &attr.string_attribute_constraints {
                    check_string_constraints(&std_attr.name, c)?;
                    std_attr.string_attribute_constraints = Some(c.clone());
                }
            }
            AttributeDataType::Number => {
                if let Some(c) = &attr.number_attribute_constraints {
                    check_number_constraints(&std_attr.name, c)?;
                    std_attr.number_attribute_constraints = Some(c.clone());
                }
            }
            AttributeDataType::Boolean | AttributeDataType::DateTime => {}
        }
    }
    add_custom(&mut schema, custom)?;
    Ok(schema)
}

/// Appends custom attributes to an existing schema (AddCustomAttributes).
pub fn add_custom(schema: &mut Vec<SchemaAttribute>, new: Vec<RequestedAttribute>) -> Result<(), String> {
    let existing = schema.iter().filter(|a| a.is_custom()).count();
    if existing + new.len() > MAX_CUSTOM_ATTRIBUTES {
        return Err(format!("A user pool may have at most {MAX_CUSTOM_ATTRIBUTES} custom attributes"));
    }
    for attr in new {
        let attr = validate_custom(&attr)?;
        if let Some(taken) = schema.iter().find(|a| a.name == attr.name) {
            return Err(format!("{}: Existing attribute already has name {}.", attr.name, taken.display_name()));
        }
        schema.push(attr);
    }
    Ok(())
}

fn validate_custom(attr: &RequestedAttribute) -> Result<SchemaAttribute, String> {
    let bare = attr.name.strip_prefix("custom:").unwrap_or(&attr.name);
    let name_ok =
        !bare.is_empty() && bare.len() <= 20 && bare.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
    if !name_ok {
        return Err(format!(
            "Invalid custom attribute name {}: 1 to 20 characters of letters, digits, '_', '-', '.', ':'",
            attr.name
        ));
    }
    let Some(data_type) = attr.data_type()? else {
        return Err("Invalid AttributeDataType input, consider using the provided AttributeDataType enum.".into());
    };
    if attr.required == Some(true) {
        return Err("Required custom attributes are not supported currently.".into());
    }
    let mut out = SchemaAttribute {
        name: format!("custom:{bare}"),
        attribute_data_type: data_type,
        developer_only_attribute: attr.developer_only_attribute.unwrap_or(false),
        mutable: attr.mutable.unwrap_or(true),
        required: false,
        number_attribute_constraints: None,
        string_attribute_constraints: None,
    };
    let shown = out.display_name();
    match data_type {
        AttributeDataType::String => {
            let c = attr.string_attribute_constraints.clone().unwrap_or_default();
            check_string_constraints(&shown, &c)?;
            out.string_attribute_constraints = Some(c);
        }
        AttributeDataType::Number => {
            if let Some(c) = &attr.number_attribute_constraints {
                check_number_constraints(&shown, c)?;
                out.number_attribute_constraints = Some(c.clone());
            }
        }
        AttributeDataType::Boolean | AttributeDataType::DateTime => {}
    }
    Ok(out)
}

/// Cognito's checks of StringAttributeConstraints: whole, non-negative lengths of at most
/// [`MAX_STRING_LENGTH`], the minimum no greater than the maximum. `name` as the pool
/// shows it.
fn check_string_constraints(name: &str, c: &StringConstraints) -> Result<(), String> {
    let bound = |v: Option<&str>| -> Result<Option<u64>, String> {
        v.map(|s| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("Invalid StringAttributeConstraints for schema attribute {name}"))
        })
        .transpose()
    };
    let (min, max) = (bound(c.min_length.as_deref())?, bound(c.max_length.as_deref())?);
    if min.into_iter().chain(max).any(|n| n > u64::from(MAX_STRING_LENGTH)) {
        return Err(format!("user.{name}: String attributes cannot have a length of more than {MAX_STRING_LENGTH}"));
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Err(format!("user.{name}: Max length cannot be less than min length."));
    }
    Ok(())
}

/// Cognito's checks of NumberAttributeConstraints: whole numbers, the minimum no greater
/// than the maximum.
fn check_number_constraints(name: &str, c: &NumberConstraints) -> Result<(), String> {
    let bound = |v: Option<&str>| -> Result<Option<i64>, String> {
        v.map(|s| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| format!("Invalid NumberAttributeConstraints for schema attribute {name}"))
        })
        .transpose()
    };
    if let (Some(min), Some(max)) = (bound(c.min_value.as_deref())?, bound(c.max_value.as_deref())?)
        && min > max
    {
        return Err(format!("user.{name}: Max value cannot be less than min value."));
    }
    Ok(())
}

/// Why an attribute write was refused; each message is Cognito's wording where one exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    /// Cognito's wording, which names every attribute not in the schema, one line each
    /// (each line ends with a newline, as Cognito's list of invalid attributes does).
    #[error("Invalid user attributes: {}", unknown_lines(.0))]
    Unknown(Vec<String>),
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

    /// Checks a set of attribute writes, and puts Boolean values in their stored form:
    /// Cognito takes `true`/`false` in any case (`"True"`) and keeps them lowercase.
    /// `creating` allows immutable attributes to be set once; `sub` is never writable.
    pub fn check_writes(&self, writes: &mut [(String, String)], creating: bool) -> Result<(), AttributeError> {
        self.check_known(writes.iter().map(|(name, _)| name))?;
        for (name, value) in writes.iter_mut() {
            let attr = self.get(name).ok_or_else(|| AttributeError::Unknown(vec![name.clone()]))?;
            if attr.name == "sub" || (!attr.mutable && !creating) {
                return Err(AttributeError::Immutable(name.clone()));
            }
            if attr.attribute_data_type == AttributeDataType::Boolean
                && (value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"))
            {
                value.make_ascii_lowercase();
            }
            check_value(attr, value)?;
        }
        Ok(())
    }

    /// Refuses names outside the schema, all of them in one message as Cognito lists them.
    fn check_known<'n>(&self, names: impl IntoIterator<Item = &'n String>) -> Result<(), AttributeError> {
        let unknown: Vec<String> = names.into_iter().filter(|n| self.get(n).is_none()).cloned().collect();
        if unknown.is_empty() { Ok(()) } else { Err(AttributeError::Unknown(unknown)) }
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
        self.check_known(names)?;
        for name in names {
            let attr = self.get(name).ok_or_else(|| AttributeError::Unknown(vec![name.clone()]))?;
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

/// `user.NAME: Attribute does not exist in the schema.\n` for each name.
fn unknown_lines(names: &[String]) -> String {
    names.iter().map(|n| format!("user.{n}: Attribute does not exist in the schema.\n")).collect()
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

    fn custom(name: &str, t: &str) -> RequestedAttribute {
        RequestedAttribute { name: name.into(), attribute_data_type: Some(t.into()), ..RequestedAttribute::default() }
    }

    #[test]
    fn schema_validates_values_and_mutability() {
        let mut level = custom("level", "Number");
        level.number_attribute_constraints =
            Some(NumberConstraints { min_value: Some("1".into()), max_value: Some("5".into()) });
        let mut badge = custom("badge", "String");
        badge.mutable = Some(false);
        let attrs = build_schema(&[level, badge]).unwrap();
        let schema = Schema::new(&attrs);
        let check =
            |n: &str, v: &str, creating: bool| schema.check_writes(&mut [(n.to_owned(), v.to_owned())], creating);
        assert!(check("custom:level", "3", false).is_ok());
        assert!(matches!(check("custom:level", "9", false), Err(AttributeError::Invalid { .. })));
        assert!(matches!(check("custom:level", "x", false), Err(AttributeError::Invalid { .. })));
        assert!(check("custom:badge", "gold", true).is_ok());
        assert!(matches!(check("custom:badge", "gold", false), Err(AttributeError::Immutable(_))));
        assert!(matches!(check("custom:nope", "1", true), Err(AttributeError::Unknown(_))));
        assert!(matches!(check("sub", "x", true), Err(AttributeError::Immutable(_))));
        assert!(matches!(check("email", "nope", true), Err(AttributeError::Invalid { .. })));
        assert!(matches!(check("email_verified", "yes", true), Err(AttributeError::Invalid { .. })));
    }

    #[test]
    fn booleans_are_taken_in_any_case_and_kept_lowercase() {
        let attrs = build_schema(&[]).unwrap();
        let mut writes =
            [("email_verified".to_owned(), "True".to_owned()), ("phone_number_verified".into(), "FALSE".into())];
        Schema::new(&attrs).check_writes(&mut writes, true).unwrap();
        assert_eq!(writes[0].1, "true");
        assert_eq!(writes[1].1, "false");
    }

    #[test]
    fn unknown_attributes_are_named_in_cognitos_words() {
        let attrs = build_schema(&[]).unwrap();
        let e = Schema::new(&attrs).check_writes(&mut [("custom:foo".into(), "1".into())], true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid user attributes: user.custom:foo: Attribute does not exist in the schema.\n"
        );
        let names = ["nickname".to_owned(), "custom:foo".to_owned(), "custom:bar".to_owned()];
        assert_eq!(
            Schema::new(&attrs).check_deletes(&names).unwrap_err().to_string(),
            "Invalid user attributes: user.custom:foo: Attribute does not exist in the schema.\n\
             user.custom:bar: Attribute does not exist in the schema.\n"
        );
    }

    #[test]
    fn custom_names_are_checked_and_unique() {
        assert!(build_schema(&[custom("this_name_is_far_too_long", "String")]).is_err());
        let mut schema = build_schema(&[custom("dept", "String")]).unwrap();
        assert!(add_custom(&mut schema, vec![custom("dept", "String")]).is_err());
        assert!(add_custom(&mut schema, vec![custom("team", "String")]).is_ok());
        assert!(schema.iter().any(|a| a.name == "custom:team"));
    }

    #[test]
    fn custom_attributes_need_a_known_type_and_cannot_be_required() {
        let untyped = RequestedAttribute { name: "x".into(), ..RequestedAttribute::default() };
        assert_eq!(
            build_schema(&[untyped]).unwrap_err(),
            "Invalid AttributeDataType input, consider using the provided AttributeDataType enum."
        );
        assert!(build_schema(&[custom("x", "Banana")]).unwrap_err().contains("[Boolean, Number, String, DateTime]"));
        let required = RequestedAttribute { required: Some(true), ..custom("x", "String") };
        assert_eq!(build_schema(&[required]).unwrap_err(), "Required custom attributes are not supported currently.");
    }

    #[test]
    fn developer_only_attributes_are_shown_as_dev_custom() {
        let dev = RequestedAttribute { developer_only_attribute: Some(true), ..custom("banana", "String") };
        let mut schema = build_schema(std::slice::from_ref(&dev)).unwrap();
        let banana = schema.iter().find(|a| a.name == "custom:banana").unwrap();
        assert_eq!(banana.display_name(), "dev:custom:banana");
        assert_eq!(
            add_custom(&mut schema, vec![dev]).unwrap_err(),
            "custom:banana: Existing attribute already has name dev:custom:banana."
        );
        let standard = RequestedAttribute {
            developer_only_attribute: Some(true),
            ..RequestedAttribute { name: "email".into(), ..Default::default() }
        };
        assert_eq!(
            build_schema(&[standard]).unwrap_err(),
            "You can not change AttributeDataType or set developerOnlyAttribute for standard schema attribute email"
        );
        assert!(
            build_schema(&[custom("email", "Number")]).unwrap_err().starts_with("You can not change AttributeDataType")
        );
    }

    #[test]
    fn standard_attribute_constraints_are_checked_and_kept() {
        let with = |name: &str, min: &str, max: &str| RequestedAttribute {
            string_attribute_constraints: Some(StringConstraints {
                min_length: Some(min.into()),
                max_length: Some(max.into()),
            }),
            ..custom(name, "String")
        };
        let schema = build_schema(&[with("name", "2", "40")]).unwrap();
        let name = schema.iter().find(|a| a.name == "name").unwrap();
        assert_eq!(name.string_attribute_constraints.as_ref().and_then(|c| c.max_length.as_deref()), Some("40"));
        assert_eq!(
            build_schema(&[with("email", "2", "1")]).unwrap_err(),
            "user.email: Max length cannot be less than min length."
        );
        assert_eq!(
            build_schema(&[with("email", "0", "2049")]).unwrap_err(),
            "user.email: String attributes cannot have a length of more than 2048"
        );
        assert_eq!(
            build_schema(&[with("email", "x", "10")]).unwrap_err(),
            "Invalid StringAttributeConstraints for schema attribute email"
        );
        let updated_at = RequestedAttribute {
            number_attribute_constraints: Some(NumberConstraints {
                min_value: Some("2".into()),
                max_value: Some("1".into()),
            }),
            ..custom("updated_at", "Number")
        };
        assert_eq!(
            build_schema(&[updated_at]).unwrap_err(),
            "user.updated_at: Max value cannot be less than min value."
        );
    }
}
