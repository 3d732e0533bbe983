//! What a handler learns about the caller: tenant, principal, role, scopes and groups, read
//! from verified claims (see docs/tokens.md).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::TokenUse;
use crate::error::VerifyError;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in user (`sub` and `username` / `cognito:username`).
    User { sub: String, username: String },
    /// A machine client (client_credentials access token, `sub == client_id`).
    Client { client_id: String },
    /// An API key, by its public id.
    ApiKey { id: String },
}

/// The verified caller of one request, put into the request extensions by
/// [`crate::GuardLayer`].
#[derive(Debug, Clone, PartialEq)]
pub struct TenantContext {
    /// `custom:tenantId`, when the token belongs to a tenant.
    pub tenant_id: Option<String>,
    pub principal: Principal,
    /// `custom:tenantRole` of the active tenant.
    pub role: Option<String>,
    /// The access token's `scope`, split on spaces; empty for ID tokens.
    pub scopes: Vec<String>,
    /// `cognito:groups`.
    pub groups: Vec<String>,
    /// Every verified claim, for what the fields above do not cover. Shared, so copying a
    /// context (the [`TenantContext`] extractor does) stays cheap.
    pub claims: Arc<Map<String, Value>>,
}

impl TenantContext {
    /// Whether the caller was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the caller's tenant role is `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.role.as_deref() == Some(role)
    }

    /// Builds the context of a token whose signature, times, use and client checked out.
    pub(crate) fn from_claims(claims: Map<String, Value>, token_use: TokenUse) -> Result<Self, VerifyError> {
        let string = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let sub = string("sub").ok_or(VerifyError::MissingClaim)?;
        let principal = match token_use {
            TokenUse::Id => {
                let username = string("cognito:username").unwrap_or_else(|| sub.clone());
                Principal::User { sub, username }
            }
            _ => match (string("username"), string("client_id")) {
                (Some(username), _) => Principal::User { sub, username },
                (None, Some(client_id)) if client_id == sub => Principal::Client { client_id },
                _ => return Err(VerifyError::MissingClaim),
            },
        };
        let scopes = match claims.get("scope") {
            None => Vec::new(),
            Some(Value::String(s)) => s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            Some(_) => return Err(VerifyError::MissingClaim),
        };
        let groups = match claims.get("cognito:groups") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|g| g.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or(VerifyError::MissingClaim)?,
            Some(_) => return Err(VerifyError::MissingClaim),
        };
        Ok(Self {
            tenant_id: string("custom:tenantId"),
            principal,
            role: string("custom:tenantRole"),
            scopes,
            groups,
            claims: Arc::new(claims),
        })
    }
}
