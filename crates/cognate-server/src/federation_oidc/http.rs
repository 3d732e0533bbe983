//! The HTTP under the OIDC relying party: reqwest (rustls) behind openidconnect's
//! [`AsyncHttpClient`] trait. Every call has a timeout, reads at most [`MAX_BODY`] bytes and
//! never follows a redirect: an identity provider's URLs come from a tenant, and a token
//! endpoint that redirects elsewhere is a misconfiguration or an attempt to make Cognate
//! carry a code (and a client secret) somewhere else. Every connection goes through
//! [`crate::outbound`]'s SSRF guard: private and loopback addresses are refused (at connect
//! time, after DNS) unless the operator allows them.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The most any identity provider answer may weigh (discovery, JWKS, token, userinfo).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// How long one request to an identity provider may take, connection included.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request to an identity provider got no answer. Names the URL (never a query
/// string: the callers' URLs carry none) and the transport's reason.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("could not reach {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("the answer from {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("refused to contact {url}: {reason}")]
    Refused { url: String, reason: crate::outbound::OutboundError },
}

/// The shared client: one connection pool for every provider.
#[derive(Clone)]
pub(crate) struct Http {
    /// The client, or why it could not be built (the TLS stack failed to start). A client
    /// without these limits is never substituted: every request then fails with the reason.
    client: Result<reqwest::Client, String>,
    /// What the client may reach (checked again here for URLs with an IP literal, which
    /// skip the resolver).
    policy: std::sync::Arc<crate::outbound::OutboundPolicy>,
}

impl Http {
    /// Builds the client: rustls, [`TIMEOUT`], no redirects, no idle connections, and the
    /// SSRF guard of `policy`.
    pub(crate) fn new(policy: std::sync::Arc<crate::outbound::OutboundPolicy>) -> Self {
        let lookup: std::sync::Arc<dyn crate::outbound::HostLookup> =
            std::sync::Arc::new(crate::outbound::SystemLookup);
        let client = crate::outbound::guarded_builder(policy.clone(), lookup)
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            // No idle connections kept: a provider (or its load balancer) that closed a
            // pooled connection makes the next request fail with "connection closed
            // before message completed", and the token request, a POST, cannot be
            // retried blindly. A sign-in makes two or three requests; a fresh connection
            // each is cheap beside a failed sign-in.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| format!("the HTTP client could not be set up: {e}"));
        Self { client, policy }
    }

    /// Sends `request` and returns the status, headers and at most [`MAX_BODY`] bytes.
    pub(crate) async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let url = without_query(&request.uri().to_string());
        self.policy
            .check_url(&request.uri().to_string())
            .map_err(|reason| HttpError::Refused { url: url.clone(), reason })?;
        let transport = |e: reqwest::Error| HttpError::Transport { url: url.clone(), reason: reason(e) };
        let client =
            self.client.as_ref().map_err(|reason| HttpError::Transport { url: url.clone(), reason: reason.clone() })?;
        let request = reqwest::Request::try_from(request).map_err(transport)?;
        let mut response = client.execute(request).await.map_err(transport)?;
        let too_large = || HttpError::TooLarge { url: url.clone(), limit: MAX_BODY };
        if response.content_length().is_some_and(|len| len > MAX_BODY as u64) {
            return Err(too_large());
        }
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer = HttpResponse::new(body);
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// The transport error's text with its whole source chain (reqwest's own message is only
/// "error sending request"), without the URL (named separately).
fn reason(e: reqwest::Error) -> String {
    let timed_out = e.is_timeout();
    let e = e.without_url();
    let mut text = String::new();
    let mut current: Option<&dyn std::error::Error> = Some(&e);
    while let Some(err) = current {
        let piece = err.to_string();
        if !text.contains(&piece) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&piece);
        }
        current = err.source();
    }
    if timed_out && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    text
}

/// `url` without its query and fragment, for messages.
pub(crate) fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_owned()
}
