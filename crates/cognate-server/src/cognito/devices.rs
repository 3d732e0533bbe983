//! Remembered devices: ConfirmDevice, GetDevice, ListDevices, UpdateDeviceStatus,
//! ForgetDevice (with the user's access token) and their Admin forms (signed). Proving a
//! device at sign-in is a challenge of the sign-in service ([`crate::services::sign_in`]).

use cognate_core::device::{self, Device};
use cognate_core::pool::UserPool;
use cognate_core::user::User;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::token_user;
use super::input::{epoch, finish_page, list_response, load_pool, page_request, parse};
use super::users::find_user;
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::devices::{self as service, DeviceError, MAX_PAGE};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "ConfirmDevice" => confirm(state, input).await,
        "GetDevice" | "AdminGetDevice" => get(state, op, input).await,
        "ListDevices" | "AdminListDevices" => list(state, op, input).await,
        "UpdateDeviceStatus" | "AdminUpdateDeviceStatus" => update_status(state, op, input).await,
        "ForgetDevice" | "AdminForgetDevice" => forget(state, op, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

impl From<DeviceError> for CognitoError {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::NotFound => CognitoError::new("ResourceNotFoundException", "Device does not exist."),
            DeviceError::Invalid(message) => CognitoError::invalid(message),
            DeviceError::Store(e) => e.into(),
            DeviceError::Fault(cause) => CognitoError::internal(cause),
        }
    }
}

/// Whose devices a call is about: the access token's user, or (Admin forms, signed) the
/// named user of the named pool.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Whose {
    access_token: Option<String>,
    user_pool_id: Option<String>,
    username: Option<String>,
}

async fn owner(state: &AppState, op: &str, whose: Whose) -> Result<(UserPool, User), CognitoError> {
    if op.starts_with("Admin") {
        let pool = load_pool(state, whose.user_pool_id.as_deref().ok_or_else(|| missing("UserPoolId"))?).await?;
        let user = find_user(state, &pool, whose.username.as_deref().ok_or_else(|| missing("Username"))?).await?;
        Ok((pool, user))
    } else {
        let token = whose.access_token.ok_or_else(|| missing("AccessToken"))?;
        let (pool, user, _) = token_user(state, &token).await?;
        Ok((pool, user))
    }
}

fn missing(name: &str) -> CognitoError {
    CognitoError::invalid(format!("Missing required parameter {name}"))
}

/// Cognito's `DeviceType`.
fn device_type(pool: &UserPool, user: &User, d: &Device) -> Value {
    let owner = format!("{}.{}", user.username, pool.id);
    let mut attributes = vec![json!({"Name": "device_status", "Value": "valid"})];
    if let Some(name) = &d.name {
        attributes.push(json!({"Name": "device_name", "Value": name}));
    }
    attributes.push(json!({"Name": "dev:device_owner", "Value": owner}));
    if let Some(ip) = &d.last_ip {
        attributes.push(json!({"Name": "last_ip_used", "Value": ip}));
    }
    let status = if d.remembered { device::REMEMBERED } else { device::NOT_REMEMBERED };
    attributes.push(json!({"Name": "dev:device_remembered_status", "Value": status}));
    json!({
        "DeviceKey": d.key,
        "DeviceAttributes": attributes,
        "DeviceCreateDate": epoch(d.created_at),
        "DeviceLastModifiedDate": epoch(d.updated_at),
        "DeviceLastAuthenticatedDate": epoch(d.last_authenticated_at),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VerifierConfig {
    password_verifier: Option<String>,
    salt: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfirmInput {
    access_token: String,
    device_key: String,
    device_secret_verifier_config: Option<VerifierConfig>,
    device_name: Option<String>,
}

async fn confirm(state: &AppState, input: Value) -> OpResult {
    let req: ConfirmInput = parse(input)?;
    let (pool, user, claims) = token_user(state, &req.access_token).await?;
    let handed = claims.get("device_key").and_then(Value::as_str);
    let config = req.device_secret_verifier_config.ok_or_else(|| missing("DeviceSecretVerifierConfig"))?;
    let salt = config.salt.ok_or_else(|| missing("DeviceSecretVerifierConfig.Salt"))?;
    let verifier = config.password_verifier.ok_or_else(|| missing("DeviceSecretVerifierConfig.PasswordVerifier"))?;
    let device = service::Confirmation {
        key: &req.device_key,
        handed,
        name: req.device_name.as_deref(),
        salt: &salt,
        verifier: &verifier,
    };
    let necessary = service::confirm(state, &pool, &user, device).await?;
    Ok(json!({"UserConfirmationNecessary": necessary}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeviceInput {
    device_key: String,
    #[serde(flatten)]
    whose: Whose,
}

async fn get(state: &AppState, op: &str, input: Value) -> OpResult {
    let req: DeviceInput = parse(input)?;
    let (pool, user) = owner(state, op, req.whose).await?;
    let device = service::get(state, &user, &req.device_key).await?;
    Ok(json!({"Device": device_type(&pool, &user, &device)}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    limit: Option<i64>,
    pagination_token: Option<String>,
    #[serde(flatten)]
    whose: Whose,
}

async fn list(state: &AppState, op: &str, input: Value) -> OpResult {
    let req: ListInput = parse(input)?;
    let (pool, user) = owner(state, op, req.whose).await?;
    let scope = format!("devices:{}:{}", pool.id, user.sub);
    let page = page_request(req.limit, req.pagination_token.as_deref(), MAX_PAGE, MAX_PAGE, &scope)?;
    let rows = service::list(state, &user, &page).await?;
    let (rows, next) = finish_page(rows, &page, &scope, |d| d.key.clone());
    let devices = rows.iter().map(|d| device_type(&pool, &user, d)).collect();
    Ok(list_response("Devices", devices, "PaginationToken", next))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatusInput {
    device_key: String,
    device_remembered_status: Option<String>,
    #[serde(flatten)]
    whose: Whose,
}

async fn update_status(state: &AppState, op: &str, input: Value) -> OpResult {
    let req: StatusInput = parse(input)?;
    let (_, user) = owner(state, op, req.whose).await?;
    let status = req.device_remembered_status.ok_or_else(|| missing("DeviceRememberedStatus"))?;
    service::set_status(state, &user, &req.device_key, &status).await?;
    Ok(json!({}))
}

async fn forget(state: &AppState, op: &str, input: Value) -> OpResult {
    let req: DeviceInput = parse(input)?;
    let (_, user) = owner(state, op, req.whose).await?;
    service::forget(state, &user, &req.device_key).await?;
    Ok(json!({}))
}
