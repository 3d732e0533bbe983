//! The HTTP calls the guard makes (JWKS, revocation feed, API-key verify and usage): no
//! redirects, a timeout, and a cap on the body read.

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

fn http_err(url: &str) -> impl Fn(reqwest::Error) -> FetchError + '_ {
    move |e| FetchError::Http { url: url.to_owned(), reason: e.without_url().to_string() }
}

/// GETs `url`, optionally with HTTP Basic credentials, and returns at most `limit` bytes of
/// a 200 answer.
pub(crate) async fn get_limited(
    client: &reqwest::Client,
    url: &str,
    basic: Option<(&str, &str)>,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let mut request = client.get(url).header(reqwest::header::ACCEPT, "application/json");
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.map_err(http_err(url))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status { url: url.to_owned(), status: response.status().as_u16() });
    }
    read_limited(response, url, limit).await
}

/// POSTs the JSON `body` to `url` with HTTP Basic credentials and returns at most `limit`
/// bytes of a 2xx answer (empty for 204). The body may carry a secret (an API key being
/// verified): it is never logged, and errors name only the URL.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    basic: (&str, &str),
    body: Vec<u8>,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let response = client
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .basic_auth(basic.0, Some(basic.1))
        .body(body)
        .send()
        .await
        .map_err(http_err(url))?;
    if !response.status().is_success() {
        return Err(FetchError::Status { url: url.to_owned(), status: response.status().as_u16() });
    }
    read_limited(response, url, limit).await
}

async fn read_limited(mut response: reqwest::Response, url: &str, limit: usize) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::TooLarge { url: url.to_owned(), limit };
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http_err(url))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
