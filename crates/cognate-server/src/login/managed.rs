//! What the hosted login takes from a client's managed login branding style
//! ([`crate::services::managed_login`]), and the URLs it serves them at, all on Cognate's
//! own origin so the pages' Content-Security-Policy (`img-src 'self' data:`,
//! `style-src 'self'`) allows nothing else:
//! - `GET /login/assets/managed/{pool}/{client}.css`: the style's stylesheet, linked after
//!   the pages' own: the applied colours
//!   ([`cognate_core::managed_login::APPLIED_COLORS`]) as the pages' CSS custom
//!   properties, and the page background image. It is written only from checked values
//!   (hex colours, ids of their fixed shapes), never from a raw string of the settings.
//! - `GET /login/assets/managed/{pool}/{style}.{CATEGORY}.{MODE}`: one image, with its
//!   extension's media type, `nosniff`, and a CSP of its own
//!   (`default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors
//!   'none'; sandbox`), so an SVG opened on its own runs nothing, posts no form and cannot be
//!   framed; the pages only ever show an SVG through `<img>` or a favicon link.
//!
//! The pages show light mode: an image of color mode `LIGHT`, else `DYNAMIC`.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cognate_core::managed_login::{self as ml, Category, ColorMode, ManagedLogin};

use crate::AppState;
use crate::services::managed_login as service;

/// The image of `category` the pages show (light mode), if the style has one.
fn shown(style: &ManagedLogin, category: Category) -> Option<ColorMode> {
    [ColorMode::Light, ColorMode::Dynamic]
        .into_iter()
        .find(|mode| style.assets.iter().any(|a| a.category == category && a.color_mode == *mode))
}

fn asset_url(style: &ManagedLogin, category: Category, mode: ColorMode) -> String {
    format!(
        "/login/assets/managed/{}/{}.{}.{}?v={}",
        style.pool_id,
        style.id,
        category.as_str(),
        mode.as_str(),
        style.updated_at
    )
}

/// The logo: the form's logo, else the page header's.
pub(super) fn logo(style: &ManagedLogin) -> Option<String> {
    [Category::FormLogo, Category::PageHeaderLogo]
        .into_iter()
        .find_map(|c| shown(style, c).map(|mode| asset_url(style, c, mode)))
}

/// The favicons, as (URL, media type): the ICO, then the SVG.
pub(super) fn favicons(style: &ManagedLogin) -> Vec<(String, &'static str)> {
    [(Category::FaviconIco, "image/x-icon"), (Category::FaviconSvg, "image/svg+xml")]
        .into_iter()
        .filter_map(|(c, kind)| shown(style, c).map(|mode| (asset_url(style, c, mode), kind)))
        .collect()
}

/// The style's stylesheet URL.
pub(super) fn stylesheet_url(style: &ManagedLogin) -> String {
    format!("/login/assets/managed/{}/{}.css?v={}", style.pool_id, style.client_id, style.updated_at)
}

/// The style's stylesheet.
fn stylesheet(style: &ManagedLogin) -> String {
    let mut css = String::from(":root {");
    if let Some(settings) = &style.settings {
        for (property, color) in ml::applied_colors(settings) {
            let _ = write!(css, " {property}: {};", color.css());
        }
    }
    css.push_str(" }\n");
    if ml::page_background_image_enabled(style.settings.as_ref())
        && let Some(mode) = shown(style, Category::PageBackground)
    {
        let url = asset_url(style, Category::PageBackground, mode);
        let _ = writeln!(
            css,
            "body {{ background-image: url(\"{url}\"); background-size: cover; background-position: center; }}"
        );
    }
    css
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

fn fault(e: &cognate_core::StoreError) -> Response {
    tracing::error!(error = %e, "loading a managed login branding asset");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// `GET /login/assets/managed/{pool}/{file}`: a style's stylesheet or one of its images.
pub(super) async fn asset(state: &AppState, pool: &str, file: &str) -> Response {
    if let Some(client) = file.strip_suffix(".css") {
        let style = match service::stylesheet_source(state, pool, client).await {
            Ok(Some(style)) => style,
            Ok(None) => return not_found(),
            Err(e) => return fault(&e),
        };
        return cached(([(header::CONTENT_TYPE, "text/css; charset=utf-8")], stylesheet(&style)).into_response());
    }
    let mut parts = file.split('.');
    let (Some(id), Some(category), Some(mode), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return not_found();
    };
    let (Some(category), Some(mode)) = (Category::parse(category), ColorMode::parse(mode)) else {
        return not_found();
    };
    let asset = match service::asset(state, pool, id, category, mode).await {
        Ok(Some(asset)) => asset,
        Ok(None) => return not_found(),
        Err(e) => return fault(&e),
    };
    let mut resp = ([(header::CONTENT_TYPE, asset.extension.content_type())], asset.bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; sandbox",
        ),
    );
    cached(resp)
}

fn cached(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}
