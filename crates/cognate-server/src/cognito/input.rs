//! Helpers shared by the operation modules: request parsing, common lookups, pagination
//! parameters and Cognito's response shapes.

use cognate_core::ids::{ClientId, PoolId};
use cognate_core::page::{self, PageRequest};
use cognate_core::pool::UserPool;
use cognate_core::user::User;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::CognitoError;
use crate::AppState;

/// Deserialises an operation's input; a missing or mistyped member is an
/// InvalidParameterException that names it.
pub(super) fn parse<T: DeserializeOwned>(input: Value) -> Result<T, CognitoError> {
    serde_json::from_value(input).map_err(|e| CognitoError::invalid(format!("1 validation error detected: {e}")))
}

/// Removes one member from a request object (a JSON null counts as absent), so the rest
/// can be parsed as settings.
pub(super) fn take(input: &mut Value, key: &str) -> Option<Value> {
    input.as_object_mut().and_then(|m| m.remove(key)).filter(|v| !v.is_null())
}

pub(super) fn take_string(input: &mut Value, key: &str) -> Result<Option<String>, CognitoError> {
    match take(input, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(CognitoError::invalid(format!("{key} must be a string"))),
    }
}

pub(super) fn required_string(input: &mut Value, key: &str) -> Result<String, CognitoError> {
    take_string(input, key)?.ok_or_else(|| {
        CognitoError::invalid(format!(
            "1 validation error detected: Value null at '{key}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

pub(super) fn take_bool(input: &mut Value, key: &str) -> Result<Option<bool>, CognitoError> {
    match take(input, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(CognitoError::invalid(format!("{key} must be a boolean"))),
    }
}

/// A list response: `{list_key: items}` plus the continuation token under `token_key`
/// when there is another page.
pub(super) fn list_response(list_key: &str, items: Vec<Value>, token_key: &str, next: Option<String>) -> Value {
    let mut out = serde_json::Map::new();
    out.insert(list_key.to_owned(), Value::Array(items));
    if let Some(next) = next {
        out.insert(token_key.to_owned(), json!(next));
    }
    Value::Object(out)
}

/// Cognito timestamps: seconds since the epoch, with a fractional part.
pub(super) fn epoch(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// Parses the pool id a client sent.
pub(super) fn pool_id(id: &str) -> Result<PoolId, CognitoError> {
    PoolId::parse(id).ok_or_else(|| {
        CognitoError::invalid(format!(
            "1 validation error detected: Value '{id}' at 'userPoolId' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\w-]+_[0-9a-zA-Z]+"
        ))
    })
}

/// Looks up a pool by the id a client sent.
pub(super) async fn load_pool(state: &AppState, id: &str) -> Result<UserPool, CognitoError> {
    Ok(crate::services::pools::get(state, &pool_id(id)?).await?)
}

/// Builds a page request from a client's page size and token. `scope` binds tokens to one
/// list so a token from another list is refused.
pub(super) fn page_request(
    limit: Option<i64>,
    token: Option<&str>,
    max: u32,
    default: u32,
    scope: &str,
) -> Result<PageRequest, CognitoError> {
    let limit = match limit {
        None => default,
        Some(n) if n >= 0 && n <= i64::from(max) => {
            if n == 0 {
                default
            } else {
                n as u32
            }
        }
        Some(n) => {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: \
                 Member must have value less than or equal to {max}"
            )));
        }
    };
    let after = match token {
        None => None,
        Some(t) => {
            Some(page::decode_token(scope, t).ok_or_else(|| CognitoError::invalid("Invalid pagination token."))?)
        }
    };
    Ok(PageRequest { after, limit })
}

/// Splits an over-fetched page and encodes the next token.
pub(super) fn finish_page<T>(
    rows: Vec<T>,
    req: &PageRequest,
    scope: &str,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let (rows, next) = page::finish(rows, req, key);
    (rows, next.map(|k| page::encode_token(scope, &k)))
}

/// A user's attributes as Cognito lists them: `sub` first, then the rest by name.
pub(super) fn attribute_list(user: &User, only: Option<&[String]>) -> Vec<Value> {
    let wanted = |name: &str| only.is_none_or(|names| names.iter().any(|n| n == name));
    let mut out = Vec::with_capacity(user.attributes.len() + 1);
    if wanted("sub") {
        out.push(json!({"Name": "sub", "Value": user.sub}));
    }
    out.extend(
        user.attributes
            .iter()
            .filter(|(name, _)| wanted(name))
            .map(|(name, value)| json!({"Name": name, "Value": value})),
    );
    out
}

/// Cognito's `UserType` (ListUsers, AdminCreateUser, ListUsersInGroup).
pub(super) fn user_type(user: &User, only: Option<&[String]>) -> Value {
    json!({
        "Username": user.username,
        "Attributes": attribute_list(user, only),
        "UserCreateDate": epoch(user.created_at),
        "UserLastModifiedDate": epoch(user.updated_at),
        "Enabled": user.enabled,
        "UserStatus": user.status.as_str(),
    })
}

/// `{"Name": …, "Value": …}` pairs from a request.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AttributeInput {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

pub(super) fn attribute_pairs(list: Vec<AttributeInput>) -> Vec<(String, String)> {
    list.into_iter().map(|a| (a.name, a.value.unwrap_or_default())).collect()
}

/// Cognito's validation error for `member` holding `value`.
pub(super) fn validation(value: &str, member: &str, constraint: &str) -> CognitoError {
    CognitoError::invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

/// A member the operation needs, or Cognito's "must not be null".
pub(super) fn required<T>(value: Option<T>, member: &str) -> Result<T, CognitoError> {
    value.ok_or_else(|| {
        CognitoError::invalid(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// A client id of Cognito's shape that is not one of ours names no client of the pool.
pub(super) fn client_id(id: &str) -> Result<ClientId, CognitoError> {
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '+') {
        return Err(validation(id, "clientId", "Member must satisfy regular expression pattern: [\\w+]+"));
    }
    ClientId::parse(id).ok_or_else(|| CognitoError::not_found(format!("User pool client {id} does not exist.")))
}
