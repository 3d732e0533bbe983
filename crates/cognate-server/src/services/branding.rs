//! The hosted login's branding (Cognito's SetUICustomization / GetUICustomization): CSS
//! over the pages' customizable classes and a logo, per pool or per app client (a client's
//! own customization wins over the pool's). The CSS is checked
//! ([`cognate_core::login::check_css`]) and served from Cognate's own origin, so the pages'
//! Content-Security-Policy still allows no other source.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cognate_core::StoreError;
use cognate_core::client::AppClient;
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::login::{self, ALL_CLIENTS, UiCustomization};

use crate::AppState;

/// Largest logo accepted, as Cognito: 100 KB.
pub const MAX_IMAGE_BYTES: usize = 100 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BrandingError {
    /// CSS or an image that is refused (why).
    #[error("{0}")]
    Invalid(String),
    #[error("no such user pool")]
    PoolNotFound,
    #[error("no such app client in the pool")]
    ClientNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The content type of a PNG or JPEG logo; `None` for anything else.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

async fn client_key(state: &AppState, pool: &PoolId, client: Option<&str>) -> Result<String, BrandingError> {
    match super::pools::get(state, pool).await {
        Ok(_) => {}
        Err(super::pools::PoolError::Store(e)) => return Err(e.into()),
        Err(_) => return Err(BrandingError::PoolNotFound),
    }
    crate::facts::pool(pool);
    match client.filter(|c| *c != ALL_CLIENTS) {
        None => Ok(ALL_CLIENTS.to_owned()),
        Some(id) => {
            let found = match ClientId::parse(id) {
                Some(id) => super::clients::lookup(state, &id).await?,
                None => None,
            };
            match found {
                Some(c) if &c.pool_id == pool => Ok(c.id.to_string()),
                _ => Err(BrandingError::ClientNotFound),
            }
        }
    }
}

/// SetUICustomization: replaces the CSS and logo of the pool (`client` `None` or `ALL`) or
/// of one of its clients.
pub async fn set(
    state: &AppState,
    pool: &PoolId,
    client: Option<&str>,
    css: Option<&str>,
    image: Option<&[u8]>,
) -> Result<UiCustomization, BrandingError> {
    let client_id = client_key(state, pool, client).await?;
    if let Some(css) = css {
        login::check_css(css).map_err(BrandingError::Invalid)?;
    }
    let (image, image_type) = match image {
        None => (None, None),
        Some(bytes) if bytes.len() > MAX_IMAGE_BYTES => {
            return Err(BrandingError::Invalid("ImageFile must be at most 100 KB.".into()));
        }
        Some(bytes) => match image_type(bytes) {
            Some(kind) => (Some(B64.encode(bytes)), Some(kind.to_owned())),
            None => return Err(BrandingError::Invalid("ImageFile must be a PNG or JPEG image.".into())),
        },
    };
    let now = state.clock.now_millis();
    let created_at = state.store.get_ui_customization(pool, &client_id).await?.map_or(now, |u| u.created_at);
    let ui = UiCustomization {
        pool_id: pool.clone(),
        client_id,
        css: css.map(str::to_owned),
        image,
        image_type,
        created_at,
        updated_at: now,
    };
    state.store.put_ui_customization(&ui).await?;
    Ok(ui)
}

/// GetUICustomization: the client's own customization, else the pool's (`None`: neither).
pub async fn get(
    state: &AppState,
    pool: &PoolId,
    client: Option<&str>,
) -> Result<Option<UiCustomization>, BrandingError> {
    let client_id = client_key(state, pool, client).await?;
    if client_id != ALL_CLIENTS
        && let Some(own) = state.store.get_ui_customization(pool, &client_id).await?
    {
        return Ok(Some(own));
    }
    Ok(state.store.get_ui_customization(pool, ALL_CLIENTS).await?)
}

/// What the pages of `client` show: its customization or its pool's.
pub async fn for_client(state: &AppState, client: &AppClient) -> Result<Option<UiCustomization>, StoreError> {
    if let Some(own) = state.store.get_ui_customization(&client.pool_id, client.id.as_str()).await? {
        return Ok(Some(own));
    }
    state.store.get_ui_customization(&client.pool_id, ALL_CLIENTS).await
}

/// The stored customization named by the asset URLs (`client` is a client id or `ALL`).
pub async fn asset(state: &AppState, pool: &str, client: &str) -> Result<Option<UiCustomization>, StoreError> {
    match PoolId::parse(pool) {
        Some(pool) if client.len() <= 64 => state.store.get_ui_customization(&pool, client).await,
        _ => Ok(None),
    }
}

/// The logo's bytes.
pub fn image_bytes(ui: &UiCustomization) -> Option<Vec<u8>> {
    ui.image.as_deref().and_then(|b| B64.decode(b).ok())
}
