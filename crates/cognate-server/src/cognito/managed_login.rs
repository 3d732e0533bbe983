//! Managed login branding styles: CreateManagedLoginBranding, DescribeManagedLoginBranding,
//! DescribeManagedLoginBrandingByClient, UpdateManagedLoginBranding,
//! DeleteManagedLoginBranding ([`crate::services::managed_login`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cognate_core::managed_login::{self as ml, Asset, Category, ColorMode, Extension, ManagedLogin};
use cognate_core::pool::UserPool;
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{client_id, epoch, load_pool, parse, required, validation};
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::managed_login::{self as service, ManagedLoginError, StyleInput};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "CreateManagedLoginBranding" => create(state, input).await,
        "DescribeManagedLoginBranding" => describe(state, input).await,
        "DescribeManagedLoginBrandingByClient" => describe_by_client(state, input).await,
        "UpdateManagedLoginBranding" => update(state, input).await,
        "DeleteManagedLoginBranding" => delete(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

fn style_id(id: &str) -> Result<&str, CognitoError> {
    if ml::valid_id(id) {
        Ok(id)
    } else {
        Err(validation(
            id,
            "managedLoginBrandingId",
            "Member must satisfy regular expression pattern: \
             ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[4][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$",
        ))
    }
}

fn refused(e: ManagedLoginError, pool: &UserPool, what: &str) -> CognitoError {
    match e {
        ManagedLoginError::NotFound => {
            CognitoError::not_found(format!("Managed login branding {what} does not exist in user pool {}.", pool.id))
        }
        ManagedLoginError::ClientNotFound => {
            CognitoError::not_found(format!("User pool client {what} does not exist."))
        }
        ManagedLoginError::Exists => CognitoError::new(
            "ManagedLoginBrandingExistsException",
            format!("App client {what} already has a managed login branding style."),
        ),
        ManagedLoginError::Invalid(message) => CognitoError::invalid(message),
        ManagedLoginError::Store(e) => e.into(),
    }
}

/// Cognito's `ManagedLoginBrandingType`; `merged`: the settings over Cognito's defaults.
fn style_type(s: &ManagedLogin, merged: bool) -> Value {
    let mut out = json!({
        "ManagedLoginBrandingId": s.id,
        "UserPoolId": s.pool_id.as_str(),
        "UseCognitoProvidedValues": s.use_cognito_provided_values,
        "Assets": s.assets.iter().map(asset_type).collect::<Vec<_>>(),
        "CreationDate": epoch(s.created_at),
        "LastModifiedDate": epoch(s.updated_at),
    });
    let settings = if merged { Some(service::merged_settings(s)) } else { s.settings.clone() };
    if let (Some(settings), Some(map)) = (settings, out.as_object_mut()) {
        map.insert("Settings".into(), settings);
    }
    out
}

/// Cognito's `AssetType` (its bytes base64, as the JSON protocol carries blobs).
fn asset_type(a: &Asset) -> Value {
    let mut out = json!({
        "Category": a.category.as_str(),
        "ColorMode": a.color_mode.as_str(),
        "Extension": a.extension.as_str(),
        "Bytes": B64.encode(&a.bytes),
    });
    if let (Some(id), Some(map)) = (&a.resource_id, out.as_object_mut()) {
        map.insert("ResourceId".into(), json!(id));
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssetInput {
    category: Option<String>,
    color_mode: Option<String>,
    extension: Option<String>,
    bytes: Option<String>,
    resource_id: Option<String>,
}

fn enum_set(values: impl Iterator<Item = &'static str>) -> String {
    format!("Member must satisfy enum value set: [{}]", values.collect::<Vec<_>>().join(", "))
}

fn asset(n: usize, a: AssetInput) -> Result<Asset, CognitoError> {
    let member = |name: &str| format!("assets.{n}.member.{name}");
    let category = required(a.category, &member("category"))?;
    let category = Category::parse(&category).ok_or_else(|| {
        validation(&category, &member("category"), &enum_set(Category::ALL.iter().map(|c| c.as_str())))
    })?;
    let mode = required(a.color_mode, &member("colorMode"))?;
    let color_mode = ColorMode::parse(&mode)
        .ok_or_else(|| validation(&mode, &member("colorMode"), &enum_set(ColorMode::ALL.iter().map(|c| c.as_str()))))?;
    let ext = required(a.extension, &member("extension"))?;
    let extension = Extension::parse(&ext)
        .ok_or_else(|| validation(&ext, &member("extension"), &enum_set(Extension::ALL.iter().map(|e| e.as_str()))))?;
    let bytes = required(a.bytes, &member("bytes"))?;
    let bytes = B64
        .decode(bytes.as_bytes())
        .map_err(|_| CognitoError::invalid(format!("The {} asset's Bytes are not base64.", category.as_str())))?;
    Ok(Asset { category, color_mode, extension, bytes, resource_id: a.resource_id })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StyleRequest {
    user_pool_id: Option<String>,
    client_id: Option<String>,
    managed_login_branding_id: Option<String>,
    use_cognito_provided_values: Option<bool>,
    settings: Option<Value>,
    assets: Option<Vec<AssetInput>>,
    return_merged_resources: Option<bool>,
}

impl StyleRequest {
    async fn pool(&self, state: &AppState) -> Result<UserPool, CognitoError> {
        load_pool(state, required(self.user_pool_id.as_deref(), "userPoolId")?).await
    }

    fn style_id(&self) -> Result<&str, CognitoError> {
        style_id(required(self.managed_login_branding_id.as_deref(), "managedLoginBrandingId")?)
    }

    /// The style's values, checked for shape (the service checks their content).
    fn input(&mut self) -> Result<StyleInput, CognitoError> {
        let assets = match self.assets.take() {
            None => None,
            Some(list) => Some(list.into_iter().enumerate().map(|(i, a)| asset(i + 1, a)).collect::<Result<_, _>>()?),
        };
        Ok(StyleInput {
            use_cognito_provided_values: self.use_cognito_provided_values.unwrap_or(false),
            settings: self.settings.take(),
            assets,
        })
    }
}

async fn create(state: &AppState, input: Value) -> OpResult {
    let mut req: StyleRequest = parse(input)?;
    let client = required(req.client_id.clone(), "clientId")?;
    let style = req.input()?;
    let pool = req.pool(state).await?;
    let id = client_id(&client)?;
    let s = service::create(state, &pool.id, &id, style).await.map_err(|e| refused(e, &pool, &client))?;
    Ok(json!({"ManagedLoginBranding": style_type(&s, false)}))
}

async fn describe(state: &AppState, input: Value) -> OpResult {
    let req: StyleRequest = parse(input)?;
    let id = req.style_id()?;
    let pool = req.pool(state).await?;
    let s = service::get(state, &pool.id, id).await.map_err(|e| refused(e, &pool, id))?;
    Ok(json!({"ManagedLoginBranding": style_type(&s, req.return_merged_resources.unwrap_or(false))}))
}

async fn describe_by_client(state: &AppState, input: Value) -> OpResult {
    let req: StyleRequest = parse(input)?;
    let client = required(req.client_id.as_deref(), "clientId")?;
    let pool = req.pool(state).await?;
    let id = client_id(client)?;
    let s = service::by_client(state, &pool.id, &id).await.map_err(|e| match e {
        ManagedLoginError::NotFound => CognitoError::not_found(format!(
            "App client {client} has no managed login branding style in user pool {}.",
            pool.id
        )),
        other => refused(other, &pool, client),
    })?;
    Ok(json!({"ManagedLoginBranding": style_type(&s, req.return_merged_resources.unwrap_or(false))}))
}

async fn update(state: &AppState, input: Value) -> OpResult {
    let mut req: StyleRequest = parse(input)?;
    // Optional in Cognito's model, but nothing can be updated without them.
    let id = req.style_id()?.to_owned();
    let style = req.input()?;
    let pool = req.pool(state).await?;
    let s = service::update(state, &pool.id, &id, style).await.map_err(|e| refused(e, &pool, &id))?;
    Ok(json!({"ManagedLoginBranding": style_type(&s, false)}))
}

async fn delete(state: &AppState, input: Value) -> OpResult {
    let req: StyleRequest = parse(input)?;
    let id = req.style_id()?;
    let pool = req.pool(state).await?;
    service::delete(state, &pool.id, id).await.map_err(|e| refused(e, &pool, id))?;
    Ok(json!({}))
}
