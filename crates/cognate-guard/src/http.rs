//! The one HTTP GET the guard makes (JWKS and revocation feed): no redirects, a timeout,
//! and a cap on the body read.

use std::time::Duration;

use crate::config::ConfigError;
use crate::error::FetchError;

/// Builds the client every default fetcher shares: rustls (aws-lc-rs), no redirects (a
/// JWKS that moves is a misconfiguration, not something to follow), `timeout` per request.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cognate-guard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::Http(e.to_string()))
}

/// GETs `url`, optionally with HTTP Basic credentials, and returns at most `limit` bytes of
/// a 200 answer.
pub(crate) async fn get_limited(
    client: &reqwest::Client,
    url: &str,
    basic: Option<(&str, &str)>,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let http_err = |e: reqwest::Error| FetchError::Http { url: url.to_owned(), reason: e.without_url().to_string() };
    let mut request = client.get(url).header(reqwest::header::ACCEPT, "application/json");
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password));
    }
    let mut response = request.send().await.map_err(http_err)?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status { url: url.to_owned(), status: response.status().as_u16() });
    }
    let too_large = || FetchError::TooLarge { url: url.to_owned(), limit };
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http_err)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
