//! Managed login branding styles (Cognito's CreateManagedLoginBranding …
//! DeleteManagedLoginBranding): one style per app client, made of a settings document (a
//! JSON object in the managed-login settings schema) and image assets.
//!
//! What is checked here, before anything is stored or shown:
//! - an asset's category, color mode and extension are Cognito's values; its bytes are at
//!   most [`MAX_ASSET_BYTES`] and really are an image of the named extension (by their
//!   magic bytes; an SVG must be UTF-8 text with an `<svg` element); the favicon
//!   categories take only their own format (`FAVICON_ICO` an ICO, `FAVICON_SVG` an SVG),
//!   and ICO only those; a style has at most [`MAX_ASSETS`] assets, at most one per
//!   category and color mode;
//! - the settings are a JSON object of at most [`MAX_SETTINGS_BYTES`], and every colour at
//!   a path the hosted login applies ([`APPLIED_COLORS`]) is a hex `rrggbb` or `rrggbbaa`
//!   ([`Color`]), so nothing but a checked colour ever reaches a stylesheet.

use serde_json::{Map, Value};

use crate::ids::{ClientId, PoolId};

/// An asset's largest size, as Cognito's model (`Bytes` max 1,000,000).
pub const MAX_ASSET_BYTES: usize = 1_000_000;
/// Assets per style, as Cognito's model.
pub const MAX_ASSETS: usize = 40;
/// The settings document's largest size, serialized (Cognate's bound; Cognito's full
/// default document is about 12 KB).
pub const MAX_SETTINGS_BYTES: usize = 256 * 1024;

/// What an asset is for (Cognito's `AssetCategoryType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    FaviconIco,
    FaviconSvg,
    EmailGraphic,
    SmsGraphic,
    AuthAppGraphic,
    PasswordGraphic,
    PasskeyGraphic,
    PageHeaderLogo,
    PageHeaderBackground,
    PageFooterLogo,
    PageFooterBackground,
    PageBackground,
    FormBackground,
    FormLogo,
    IdpButtonIcon,
}

impl Category {
    pub const ALL: [Category; 15] = [
        Self::FaviconIco,
        Self::FaviconSvg,
        Self::EmailGraphic,
        Self::SmsGraphic,
        Self::AuthAppGraphic,
        Self::PasswordGraphic,
        Self::PasskeyGraphic,
        Self::PageHeaderLogo,
        Self::PageHeaderBackground,
        Self::PageFooterLogo,
        Self::PageFooterBackground,
        Self::PageBackground,
        Self::FormBackground,
        Self::FormLogo,
        Self::IdpButtonIcon,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FaviconIco => "FAVICON_ICO",
            Self::FaviconSvg => "FAVICON_SVG",
            Self::EmailGraphic => "EMAIL_GRAPHIC",
            Self::SmsGraphic => "SMS_GRAPHIC",
            Self::AuthAppGraphic => "AUTH_APP_GRAPHIC",
            Self::PasswordGraphic => "PASSWORD_GRAPHIC",
            Self::PasskeyGraphic => "PASSKEY_GRAPHIC",
            Self::PageHeaderLogo => "PAGE_HEADER_LOGO",
            Self::PageHeaderBackground => "PAGE_HEADER_BACKGROUND",
            Self::PageFooterLogo => "PAGE_FOOTER_LOGO",
            Self::PageFooterBackground => "PAGE_FOOTER_BACKGROUND",
            Self::PageBackground => "PAGE_BACKGROUND",
            Self::FormBackground => "FORM_BACKGROUND",
            Self::FormLogo => "FORM_LOGO",
            Self::IdpButtonIcon => "IDP_BUTTON_ICON",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The display mode an asset is for (Cognito's `ColorSchemeModeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColorMode {
    Light,
    Dark,
    /// Shown in every mode.
    Dynamic,
}

impl ColorMode {
    pub const ALL: [ColorMode; 3] = [Self::Light, Self::Dark, Self::Dynamic];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "LIGHT",
            Self::Dark => "DARK",
            Self::Dynamic => "DYNAMIC",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// An asset's file type (Cognito's `AssetExtensionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    Ico,
    Jpeg,
    Png,
    Svg,
    Webp,
}

impl Extension {
    pub const ALL: [Extension; 5] = [Self::Ico, Self::Jpeg, Self::Png, Self::Svg, Self::Webp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ico => "ICO",
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
            Self::Svg => "SVG",
            Self::Webp => "WEBP",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The media type an asset of this kind is served as.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Ico => "image/x-icon",
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Svg => "image/svg+xml",
            Self::Webp => "image/webp",
        }
    }

    /// Whether `bytes` are a file of this kind, by their leading bytes (an SVG: UTF-8 text,
    /// after any byte-order mark and white space starting with `<`, with an `<svg` element).
    pub fn matches(self, bytes: &[u8]) -> bool {
        match self {
            Self::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            Self::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            Self::Ico => bytes.len() > 6 && bytes.starts_with(&[0, 0, 1, 0]) && (bytes[4] != 0 || bytes[5] != 0),
            Self::Webp => bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP",
            Self::Svg => match std::str::from_utf8(bytes) {
                Ok(text) => {
                    let text = text.trim_start_matches('\u{feff}').trim_start();
                    text.starts_with('<') && text.contains("<svg")
                }
                Err(_) => false,
            },
        }
    }
}

/// One image of a style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub category: Category,
    pub color_mode: ColorMode,
    pub extension: Extension,
    /// The file. Empty when the asset was read without its bytes
    /// ([`crate::repo::ManagedLoginRepo::managed_login_for_client`]).
    pub bytes: Vec<u8>,
    pub resource_id: Option<String>,
}

/// A managed login branding style of one app client.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedLogin {
    /// A UUID v4, the style's `ManagedLoginBrandingId`.
    pub id: String,
    pub pool_id: PoolId,
    pub client_id: ClientId,
    /// Created or last reset with `UseCognitoProvidedValues`: Cognito's defaults only.
    pub use_cognito_provided_values: bool,
    /// The settings document the style was given (a JSON object), `None` when never given.
    pub settings: Option<Value>,
    /// Ordered by category and color mode names (as stored and listed).
    pub assets: Vec<Asset>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Whether `id` has the shape of a `ManagedLoginBrandingId` (Cognito's pattern: a UUID v4).
pub fn valid_id(id: &str) -> bool {
    crate::terms::valid_terms_id(id)
}

/// Checks one asset (see the module documentation); the error says why, in Cognito's
/// words where it has them.
pub fn check_asset(asset: &Asset) -> Result<(), String> {
    if let Some(id) = &asset.resource_id
        && (id.is_empty()
            || id.chars().count() > 40
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ' '))
    {
        return Err(format!(
            "1 validation error detected: Value '{id}' at 'assets.member.resourceId' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: ^[\\w\\- ]+$ and have length between 1 and 40"
        ));
    }
    let (category, extension) = (asset.category.as_str(), asset.extension.as_str());
    if asset.bytes.is_empty() {
        return Err(format!("The {category} asset has no Bytes."));
    }
    if asset.bytes.len() > MAX_ASSET_BYTES {
        return Err(format!("The {category} asset is larger than {MAX_ASSET_BYTES} bytes."));
    }
    let allowed = match asset.category {
        Category::FaviconIco => asset.extension == Extension::Ico,
        Category::FaviconSvg => asset.extension == Extension::Svg,
        _ => asset.extension != Extension::Ico,
    };
    if !allowed {
        return Err(format!("The {category} asset cannot be a {extension} file."));
    }
    if !asset.extension.matches(&asset.bytes) {
        return Err(format!("The {category} asset's Bytes are not a {extension} image."));
    }
    Ok(())
}

/// Checks a style's assets: each one, their count, one per category and color mode.
pub fn check_assets(assets: &[Asset]) -> Result<(), String> {
    if assets.len() > MAX_ASSETS {
        return Err(format!(
            "1 validation error detected: Value at 'assets' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_ASSETS}"
        ));
    }
    for (i, a) in assets.iter().enumerate() {
        check_asset(a)?;
        if assets[..i].iter().any(|b| b.category == a.category && b.color_mode == a.color_mode) {
            return Err(format!(
                "Only one asset of category {} and color mode {} is allowed.",
                a.category.as_str(),
                a.color_mode.as_str()
            ));
        }
    }
    Ok(())
}

/// A colour of the settings document: hex `rrggbb` or `rrggbbaa`, as Cognito writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color([u8; 4]);

impl Color {
    pub fn parse(s: &str) -> Option<Self> {
        if !(s.len() == 6 || s.len() == 8) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&s[i..i + 2], 16).ok();
        let alpha = if s.len() == 8 { byte(6)? } else { 0xff };
        Some(Self([byte(0)?, byte(2)?, byte(4)?, alpha]))
    }

    /// The CSS form, `#rrggbbaa`.
    pub fn css(self) -> String {
        let [r, g, b, a] = self.0;
        format!("#{r:02x}{g:02x}{b:02x}{a:02x}")
    }
}

/// The settings the hosted login applies, each a JSON path in the managed-login settings
/// schema and the CSS custom property of the pages' stylesheet it sets (light mode).
pub const APPLIED_COLORS: &[(&[&str], &str)] = &[
    (&["components", "pageBackground", "lightMode", "color"], "--page-bg"),
    (&["components", "primaryButton", "lightMode", "defaults", "backgroundColor"], "--button-bg"),
    (&["components", "primaryButton", "lightMode", "defaults", "textColor"], "--button-text"),
    (&["components", "primaryButton", "lightMode", "hover", "backgroundColor"], "--button-hover-bg"),
    (&["components", "form", "lightMode", "backgroundColor"], "--card-bg"),
    (&["components", "pageText", "lightMode", "bodyColor"], "--text"),
    (&["components", "pageText", "lightMode", "headingColor"], "--heading"),
    (&["componentClasses", "link", "lightMode", "defaults", "textColor"], "--link"),
];

/// The value at `path` in `doc`.
pub fn at<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, key| v.get(*key))
}

/// Checks a settings document: a JSON object, not too large, with a hex colour (or
/// nothing) at every path the hosted login applies.
pub fn check_settings(settings: &Value) -> Result<(), String> {
    if !settings.is_object() {
        return Err("Settings must be a JSON object.".into());
    }
    let size = serde_json::to_vec(settings).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_SETTINGS_BYTES {
        return Err(format!("Settings must be at most {MAX_SETTINGS_BYTES} bytes of JSON."));
    }
    for (path, _) in APPLIED_COLORS {
        match at(settings, path) {
            None => {}
            Some(Value::String(s)) if Color::parse(s).is_some() => {}
            Some(_) => {
                return Err(format!("Settings {} must be a hex colour (rrggbb or rrggbbaa).", path.join(".")));
            }
        }
    }
    Ok(())
}

/// `overlay` merged into `base`: objects key by key, recursively; any other value of
/// `overlay` replaces the base's.
pub fn merge(base: &Value, overlay: &Value) -> Value {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out: Map<String, Value> = b.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(existing) => merge(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        _ => overlay.clone(),
    }
}

/// The colours the pages apply, as (CSS custom property, colour), from a style's settings.
pub fn applied_colors(settings: &Value) -> Vec<(&'static str, Color)> {
    APPLIED_COLORS
        .iter()
        .filter_map(|(path, property)| {
            let color = at(settings, path)?.as_str().and_then(Color::parse)?;
            Some((*property, color))
        })
        .collect()
}

/// Whether the settings turn the page background image off
/// (`components.pageBackground.image.enabled` false; Cognito's default is on).
pub fn page_background_image_enabled(settings: Option<&Value>) -> bool {
    settings
        .and_then(|s| at(s, &["components", "pageBackground", "image", "enabled"]))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn asset(category: Category, extension: Extension, bytes: &[u8]) -> Asset {
        Asset { category, color_mode: ColorMode::Light, extension, bytes: bytes.to_vec(), resource_id: None }
    }

    #[test]
    fn images_are_checked_by_their_bytes() {
        let png = b"\x89PNG\r\n\x1a\n0000";
        assert!(check_asset(&asset(Category::FormLogo, Extension::Png, png)).is_ok());
        assert!(check_asset(&asset(Category::FormLogo, Extension::Jpeg, png)).is_err());
        assert!(check_asset(&asset(Category::FormLogo, Extension::Svg, b"<html><script>")).is_err());
        assert!(check_asset(&asset(Category::FormLogo, Extension::Svg, b"\n<?xml?><svg/>")).is_ok());
        assert!(check_asset(&asset(Category::FaviconIco, Extension::Png, png)).is_err());
        assert!(check_asset(&asset(Category::FaviconIco, Extension::Ico, &[0, 0, 1, 0, 1, 0, 16])).is_ok());
        assert!(check_asset(&asset(Category::FormLogo, Extension::Webp, b"RIFF\0\0\0\0WEBPVP8 ")).is_ok());
        assert!(check_asset(&asset(Category::FormLogo, Extension::Png, &vec![0x89; MAX_ASSET_BYTES + 1])).is_err());
        let two = [asset(Category::FormLogo, Extension::Png, png), asset(Category::FormLogo, Extension::Png, png)];
        assert!(check_assets(&two).is_err());
    }

    #[test]
    fn colours_are_hex_only_and_merging_keeps_what_is_not_overridden() {
        assert_eq!(Color::parse("0972d3ff").map(Color::css).as_deref(), Some("#0972d3ff"));
        assert_eq!(Color::parse("ABCDEF").map(Color::css).as_deref(), Some("#abcdefff"));
        for bad in ["red", "#0972d3", "0972d3f", "0972d3ff;}", ""] {
            assert!(Color::parse(bad).is_none(), "{bad}");
        }
        let bad = json!({"components": {"primaryButton": {"lightMode": {"defaults": {"backgroundColor": "red"}}}}});
        assert!(check_settings(&bad).is_err());
        assert!(check_settings(&json!([1])).is_err());
        let base = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        let merged = merge(&base, &json!({"a": {"b": 9}, "d": [2, 3]}));
        assert_eq!(merged, json!({"a": {"b": 9, "c": 2}, "d": [2, 3]}));
    }
}
