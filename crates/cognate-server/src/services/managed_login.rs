//! Managed login branding styles (Cognito's CreateManagedLoginBranding …
//! DeleteManagedLoginBranding) and what the hosted login takes from them. The rules:
//! - a style belongs to one app client of the pool, which has at most one
//!   ([`ManagedLoginError::Exists`] for a second);
//! - `UseCognitoProvidedValues` means Cognito's defaults and nothing else: it excludes
//!   `Settings` and `Assets` in the same request, and an update with it drops the style's
//!   settings and assets;
//! - an update replaces what it is given: `Settings` the whole document, `Assets` the whole
//!   asset list; what it omits is kept;
//! - settings and assets are checked ([`cognate_core::managed_login`]) before anything is
//!   written; a style and its assets are written in one transaction;
//! - `ReturnMergedResources` answers the settings merged over Cognito's default document
//!   ([`merged_settings`]).

use std::sync::LazyLock;

use cognate_core::StoreError;
use cognate_core::client::AppClient;
use cognate_core::ids::{ClientId, PoolId, generate_sub};
use cognate_core::managed_login::{self as ml, Asset, Category, ColorMode, ManagedLogin};
use serde_json::{Map, Value};

use crate::AppState;

/// Cognito's default settings document (the one its branding editor starts from, as AWS
/// documents it for UpdateManagedLoginBranding).
static DEFAULTS: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../assets/managed-login-defaults.json"))
        .unwrap_or_else(|_| Value::Object(Map::new()))
});

/// Why a managed login branding operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManagedLoginError {
    #[error("no such managed login branding style")]
    NotFound,
    #[error("no such app client")]
    ClientNotFound,
    /// The client already has a style.
    #[error("the app client already has a managed login branding style")]
    Exists,
    /// Input the operation refuses (its message).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a create or an update says.
#[derive(Debug, Default)]
pub struct StyleInput {
    pub use_cognito_provided_values: bool,
    pub settings: Option<Value>,
    pub assets: Option<Vec<Asset>>,
}

fn check(input: &StyleInput) -> Result<(), ManagedLoginError> {
    if input.use_cognito_provided_values && (input.settings.is_some() || input.assets.is_some()) {
        return Err(ManagedLoginError::Invalid(
            "When UseCognitoProvidedValues is true, Settings and Assets must be omitted.".into(),
        ));
    }
    if let Some(settings) = &input.settings {
        ml::check_settings(settings).map_err(ManagedLoginError::Invalid)?;
    }
    if let Some(assets) = &input.assets {
        ml::check_assets(assets).map_err(ManagedLoginError::Invalid)?;
    }
    Ok(())
}

/// A new style for `client` (of `pool`).
pub async fn create(
    state: &AppState,
    pool: &PoolId,
    client: &ClientId,
    input: StyleInput,
) -> Result<ManagedLogin, ManagedLoginError> {
    check(&input)?;
    state.store.get_client(pool, client).await?.ok_or(ManagedLoginError::ClientNotFound)?;
    let now = state.clock.now_millis();
    let mut assets = input.assets.unwrap_or_default();
    assets.sort_by_key(|a| (a.category.as_str(), a.color_mode.as_str()));
    let style = ManagedLogin {
        id: generate_sub(state.rng.as_ref()),
        pool_id: pool.clone(),
        client_id: client.clone(),
        use_cognito_provided_values: input.use_cognito_provided_values,
        settings: input.settings,
        assets,
        created_at: now,
        updated_at: now,
    };
    match state.store.create_managed_login(&style).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(ManagedLoginError::Exists),
        Err(StoreError::NotFound(_)) => return Err(ManagedLoginError::ClientNotFound),
        Err(e) => return Err(e.into()),
    }
    crate::facts::target(&style.id);
    tracing::info!(pool = %pool, client = %client, style = %style.id, "managed login branding created");
    Ok(style)
}

/// The style `id` of `pool`, with its assets.
pub async fn get(state: &AppState, pool: &PoolId, id: &str) -> Result<ManagedLogin, ManagedLoginError> {
    if !ml::valid_id(id) {
        return Err(ManagedLoginError::NotFound);
    }
    state.store.get_managed_login(pool, id).await?.ok_or(ManagedLoginError::NotFound)
}

/// The client's style, with its assets.
pub async fn by_client(state: &AppState, pool: &PoolId, client: &ClientId) -> Result<ManagedLogin, ManagedLoginError> {
    state.store.get_client(pool, client).await?.ok_or(ManagedLoginError::ClientNotFound)?;
    state.store.managed_login_for_client(pool, client, true).await?.ok_or(ManagedLoginError::NotFound)
}

/// Changes the style `id`: back to Cognito's defaults, or its settings, its assets, or both.
pub async fn update(
    state: &AppState,
    pool: &PoolId,
    id: &str,
    input: StyleInput,
) -> Result<ManagedLogin, ManagedLoginError> {
    check(&input)?;
    let mut style = get(state, pool, id).await?;
    let replace_assets = input.use_cognito_provided_values || input.assets.is_some();
    if input.use_cognito_provided_values {
        style.use_cognito_provided_values = true;
        style.settings = None;
        style.assets = Vec::new();
    }
    if let Some(settings) = input.settings {
        style.use_cognito_provided_values = false;
        style.settings = Some(settings);
    }
    if let Some(mut assets) = input.assets {
        style.use_cognito_provided_values = false;
        assets.sort_by_key(|a| (a.category.as_str(), a.color_mode.as_str()));
        style.assets = assets;
    }
    style.updated_at = state.clock.now_millis();
    match state.store.update_managed_login(&style, replace_assets).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(ManagedLoginError::NotFound),
        Err(e) => return Err(e.into()),
    }
    crate::facts::target(&style.id);
    tracing::info!(pool = %pool, style = %style.id, "managed login branding updated");
    Ok(style)
}

pub async fn delete(state: &AppState, pool: &PoolId, id: &str) -> Result<(), ManagedLoginError> {
    if !ml::valid_id(id) {
        return Err(ManagedLoginError::NotFound);
    }
    match state.store.delete_managed_login(pool, id).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(ManagedLoginError::NotFound),
        Err(e) => return Err(e.into()),
    }
    crate::facts::target(id);
    tracing::info!(pool = %pool, style = %id, "managed login branding deleted");
    Ok(())
}

/// The style's settings merged over Cognito's default document (`ReturnMergedResources`).
pub fn merged_settings(style: &ManagedLogin) -> Value {
    match &style.settings {
        Some(settings) => ml::merge(&DEFAULTS, settings),
        None => DEFAULTS.clone(),
    }
}

/// What the hosted login pages of `client` take from its style: the style's colours and
/// which of its images exist (not their bytes). `None`: the client has no style.
pub async fn for_client(state: &AppState, client: &AppClient) -> Result<Option<ManagedLogin>, StoreError> {
    state.store.managed_login_for_client(&client.pool_id, &client.id, false).await
}

/// One image of a style, as the hosted login serves it (`pool` and `id` come from a URL).
pub async fn asset(
    state: &AppState,
    pool: &str,
    id: &str,
    category: Category,
    mode: ColorMode,
) -> Result<Option<Asset>, StoreError> {
    match PoolId::parse(pool) {
        Some(pool) if ml::valid_id(id) => state.store.get_managed_login_asset(&pool, id, category, mode).await,
        _ => Ok(None),
    }
}

/// The style of the client `client` of `pool` without its assets' bytes, for its
/// stylesheet (both come from a URL; `None`: no such style).
pub async fn stylesheet_source(state: &AppState, pool: &str, client: &str) -> Result<Option<ManagedLogin>, StoreError> {
    match (PoolId::parse(pool), ClientId::parse(client)) {
        (Some(pool), Some(client)) => state.store.managed_login_for_client(&pool, &client, false).await,
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_document_parses_and_carries_the_applied_colours() {
        assert!(DEFAULTS.is_object());
        assert!(ml::check_settings(&DEFAULTS).is_ok());
        assert_eq!(ml::applied_colors(&DEFAULTS).len(), ml::APPLIED_COLORS.len());
    }
}
