//! Machine tokens: an app client's access token for its resource-server scopes, with no
//! user. Two surfaces ask for one and get the same token from the same code: the OAuth
//! `client_credentials` grant of `POST /oauth2/token` ([`grant`]), and Cognito's
//! GetClientToken ([`get_client_token`]). The rules:
//! - only a confidential client (one with a secret, presenting it) gets one;
//! - the OAuth grant needs the client's `AllowedOAuthFlows` to be `client_credentials` (with
//!   `AllowedOAuthFlowsUserPoolClient`); GetClientToken needs `ALLOW_CLIENT_TOKEN_AUTH` as
//!   the client's only explicit auth flow, as Cognito requires;
//! - the scopes are the requested ones, each allowed to the client and defined by a
//!   resource server of the pool; with none requested, every resource-server scope the
//!   client is allowed; a token with no scope is refused;
//! - a tenant's client ([`super::tenant_clients`]) gets tokens only while its tenant is
//!   active and placed in the client's pool, and they carry `custom:tenantId`, so a
//!   resource server (cognate-guard) confines the program to that tenant like its users;
//! - every request counts in the per-address window of authentication requests
//!   ([`crate::throttle::admit_auth`]), whichever surface it came through.
//!
//! Neither surface records machine tokens in the audit trail (they are machine sign-ins,
//! counted by neither the sign-in nor the token-use records).

use cognate_core::StoreError;
use cognate_core::claims::m2m_access_token_claims;
use cognate_core::client::{AppClient, CLIENT_TOKEN_AUTH};
use cognate_core::ids::generate_sub;

use super::clients::{self, ClientError};
use super::resource_servers;
use crate::AppState;

/// Most scopes one request may name; more is refused before any lookup.
pub const MAX_REQUESTED_SCOPES: usize = 100;

/// A machine token.
#[derive(Debug)]
pub struct ClientToken {
    pub access_token: String,
    /// Seconds.
    pub expires_in: i64,
    pub scopes: Vec<String>,
}

/// Why no machine token was issued.
#[derive(Debug, thiserror::Error)]
pub enum ClientTokenError {
    /// Unknown client, wrong secret, or a client without a secret.
    #[error("bad client credentials")]
    BadCredentials,
    /// The client is not configured for this way of asking.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// A requested scope the client may not have (named), or too many.
    #[error("{0}")]
    InvalidScope(String),
    /// Nothing to grant: the client is allowed no resource-server scope.
    #[error("the client has no resource-server scopes to grant")]
    NoScopes,
    /// Too many requests from the address; seconds to wait.
    #[error("too many requests; retry in {0} s")]
    Throttled(u64),
    #[error("internal error: {0}")]
    Fault(String),
}

impl From<StoreError> for ClientTokenError {
    fn from(e: StoreError) -> Self {
        Self::Fault(e.to_string())
    }
}

/// How the client asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    OAuthGrant,
    ClientTokenAuth,
}

/// The `client_credentials` grant for `client`, which the token endpoint authenticated
/// (`confidential`: it has a secret and presented it); `scope` is the grant's
/// space-separated `scope` parameter.
pub async fn grant(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    client: &AppClient,
    confidential: bool,
    scope: Option<&str>,
) -> Result<ClientToken, ClientTokenError> {
    admit(state, ip).await?;
    if !confidential {
        return Err(ClientTokenError::NotAllowed("Only a client with a secret may use this grant."));
    }
    issue(state, client, Via::OAuthGrant, scope.map(split_scopes)).await
}

/// GetClientToken: client `client_id` proves itself with `secret` and asks for `scopes`
/// (none: its default scopes).
pub async fn get_client_token(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    client_id: &str,
    secret: &str,
    scopes: Option<Vec<String>>,
) -> Result<ClientToken, ClientTokenError> {
    admit(state, ip).await?;
    let authenticated = clients::authenticate(state, client_id, Some(secret)).await.map_err(|e| match e {
        ClientError::Store(e) => e.into(),
        ClientError::Fault(cause) => ClientTokenError::Fault(cause),
        _ => ClientTokenError::BadCredentials,
    })?;
    if !authenticated.confidential {
        return Err(ClientTokenError::BadCredentials);
    }
    let scopes = scopes.filter(|s| !s.is_empty()).map(|s| dedup(s.into_iter()));
    issue(state, &authenticated.client, Via::ClientTokenAuth, scopes).await
}

async fn admit(state: &AppState, ip: Option<std::net::IpAddr>) -> Result<(), ClientTokenError> {
    crate::throttle::admit_auth(state, ip, None).await.map_err(|limited| match limited {
        crate::throttle::AuthRate::Address(wait) | crate::throttle::AuthRate::User(wait) => {
            ClientTokenError::Throttled(wait)
        }
    })
}

async fn issue(
    state: &AppState,
    client: &AppClient,
    via: Via,
    requested: Option<Vec<String>>,
) -> Result<ClientToken, ClientTokenError> {
    let settings = &client.settings;
    match via {
        Via::OAuthGrant => {
            if !settings.allowed_oauth_flows_user_pool_client
                || !settings.allowed_oauth_flows.iter().any(|f| f == "client_credentials")
            {
                return Err(ClientTokenError::NotAllowed("The client may not use the client_credentials grant."));
            }
        }
        Via::ClientTokenAuth => {
            if settings.explicit_auth_flows.iter().map(String::as_str).ne([CLIENT_TOKEN_AUTH]) {
                return Err(ClientTokenError::NotAllowed(
                    "The app client must have ALLOW_CLIENT_TOKEN_AUTH as its only authentication flow.",
                ));
            }
        }
    }
    let tenant = super::tenant_clients::owner(state, client).await.map_err(|e| match e {
        super::tenant_clients::OwnerError::Inactive => {
            ClientTokenError::NotAllowed("The client's tenant is suspended or no longer placed in its pool.")
        }
        super::tenant_clients::OwnerError::Store(e) => e.into(),
    })?;
    let scopes = granted_scopes(state, client, requested).await?;
    let now = state.clock.now_secs();
    let ttl = i64::try_from(settings.access_token_secs()).unwrap_or(3600);
    let issuer = super::tokens::issuer(state, &client.pool_id);
    let jti = generate_sub(state.rng.as_ref());
    let mut claims = m2m_access_token_claims(&issuer, client.id.as_str(), &scopes.join(" "), now, ttl, &jti);
    if let Some(tenant) = tenant {
        claims[crate::tenancy::TENANT_ID_ATTR] = serde_json::Value::String(tenant.to_string());
    }
    let keys = state.keys.get(state, &client.pool_id).await.map_err(|e| ClientTokenError::Fault(e.to_string()))?;
    let access_token = keys.signer.sign(&claims).map_err(|e| ClientTokenError::Fault(e.to_string()))?;
    tracing::info!(pool = %client.pool_id, client = %client.id, via = ?via, "machine token issued");
    Ok(ClientToken { access_token, expires_in: ttl, scopes })
}

/// The scopes a machine token gets: the requested ones, each allowed to the client and
/// defined by a resource server of the pool; by default every resource-server scope the
/// client is allowed. Order is kept, repeats dropped.
async fn granted_scopes(
    state: &AppState,
    client: &AppClient,
    requested: Option<Vec<String>>,
) -> Result<Vec<String>, ClientTokenError> {
    let allowed = &client.settings.allowed_oauth_scopes;
    let explicit = requested.is_some();
    let candidates: Vec<String> = match requested {
        Some(s) => s,
        None => allowed.iter().filter(|s| s.contains('/')).cloned().collect(),
    };
    if candidates.len() > MAX_REQUESTED_SCOPES {
        return Err(ClientTokenError::InvalidScope("Too many scopes requested.".into()));
    }
    let mut defined = resource_servers::Scopes::of(state, &client.pool_id);
    let mut granted = Vec::new();
    for scope in candidates {
        let ok = scope.contains('/') && allowed.contains(&scope) && defined.defines(&scope).await?;
        if ok {
            granted.push(scope);
        } else if explicit {
            return Err(ClientTokenError::InvalidScope(format!("Invalid scope: {scope}")));
        }
        // A default scope whose resource server is gone is left out quietly.
    }
    if granted.is_empty() {
        return Err(ClientTokenError::NoScopes);
    }
    Ok(granted)
}

/// Space-separated scopes (RFC 6749 section 3.3) without empties or repeats.
fn split_scopes(s: &str) -> Vec<String> {
    dedup(s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned))
}

fn dedup(scopes: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in scopes {
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_drop_empties_and_repeats() {
        assert_eq!(split_scopes(" a/b  c/d a/b "), ["a/b", "c/d"]);
        assert!(split_scopes("").is_empty());
    }
}
