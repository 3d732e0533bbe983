//! The claims of the tokens Cognate issues, as Cognito emits them (see docs/tokens.md).
//! Pure functions: the server supplies ids, times and the user.

use serde_json::{Map, Value, json};

use crate::user::User;

/// The tenant claims of the token contract: both tokens of a tenant user carry them
/// (Cognito users add them to access tokens with a pre-token-generation trigger).
pub const TENANT_CLAIMS: [&str; 4] = ["custom:tenantId", "custom:tenantName", "custom:tenantTier", "custom:tenantRole"];

/// The scope Cognito puts in access tokens from the SDK sign-in flows.
pub const SDK_SCOPE: &str = "aws.cognito.signin.user.admin";

/// The active tenant of a session, as both tokens carry it.
#[derive(Debug, Clone, Copy)]
pub struct TenantClaims<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub tier: &'a str,
    pub role: &'a str,
}

/// Where a token's tenant claims come from.
#[derive(Debug, Clone, Copy)]
pub enum TenantContext<'a> {
    /// A pool outside Cognate's tenancy: `custom:tenant*` are ordinary attributes, and the
    /// access token copies them as a pre-token-generation hook would.
    Unmanaged,
    /// A pool managed by the tenancy control plane (the shared pool or a dedicated one):
    /// tenant claims come only from the session's active tenant (none without one), never
    /// from the user's attributes.
    Managed(Option<TenantClaims<'a>>),
}

impl TenantClaims<'_> {
    fn insert(&self, claims: &mut Map<String, Value>) {
        let [id, name, tier, role] = TENANT_CLAIMS;
        claims.insert(id.into(), json!(self.id));
        claims.insert(name.into(), json!(self.name));
        claims.insert(tier.into(), json!(self.tier));
        claims.insert(role.into(), json!(self.role));
    }
}

/// Everything that goes into one issuance of an ID/access token pair.
pub struct UserTokenContext<'a> {
    pub tenant: TenantContext<'a>,
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub user: &'a User,
    /// The user's group names, in the order they should appear.
    pub groups: &'a [String],
    /// The family's origin_jti.
    pub origin_jti: &'a str,
    pub auth_time: i64,
    pub now_secs: i64,
    pub id_ttl_secs: i64,
    pub access_ttl_secs: i64,
    pub scope: &'a str,
    /// The client's ReadAttributes; empty means every attribute is readable.
    pub read_attributes: &'a [String],
    pub event_id: &'a str,
    pub id_jti: &'a str,
    pub access_jti: &'a str,
}

/// An attribute value as the ID token carries it: the `*_verified` flags as booleans,
/// `updated_at` as a number, everything else (custom attributes included) as a string.
fn claim_value(name: &str, value: &str) -> Value {
    match name {
        "email_verified" | "phone_number_verified" => Value::Bool(value == "true"),
        "updated_at" => value.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(value)),
        // Cognito's ID tokens carry a federated user's identities as a list, each entry's
        // `primary` and `dateCreated` as strings.
        "identities" => match serde_json::from_str::<Vec<Map<String, Value>>>(value) {
            Ok(list) => Value::Array(
                list.into_iter()
                    .map(|mut entry| {
                        for key in ["primary", "dateCreated"] {
                            if let Some(v) = entry.get_mut(key).filter(|v| !v.is_string() && !v.is_null()) {
                                *v = Value::from(v.to_string());
                            }
                        }
                        Value::Object(entry)
                    })
                    .collect(),
            ),
            Err(_) => Value::from(value),
        },
        _ => Value::from(value),
    }
}

pub fn id_token_claims(ctx: &UserTokenContext<'_>) -> Value {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(ctx.user.sub));
    for (name, value) in &ctx.user.attributes {
        let readable = ctx.read_attributes.is_empty() || ctx.read_attributes.iter().any(|a| a == name);
        let managed_tenant_attr = matches!(ctx.tenant, TenantContext::Managed(_)) && name.starts_with("custom:tenant");
        if readable && !name.starts_with("dev:") && !managed_tenant_attr {
            claims.insert(name.clone(), claim_value(name, value));
        }
    }
    if let TenantContext::Managed(Some(tenant)) = &ctx.tenant {
        tenant.insert(&mut claims);
    }
    if !ctx.groups.is_empty() {
        claims.insert("cognito:groups".into(), json!(ctx.groups));
    }
    claims.insert("iss".into(), json!(ctx.issuer));
    claims.insert("cognito:username".into(), json!(ctx.user.username));
    claims.insert("origin_jti".into(), json!(ctx.origin_jti));
    claims.insert("aud".into(), json!(ctx.client_id));
    claims.insert("event_id".into(), json!(ctx.event_id));
    claims.insert("token_use".into(), json!("id"));
    claims.insert("auth_time".into(), json!(ctx.auth_time));
    claims.insert("exp".into(), json!(ctx.now_secs + ctx.id_ttl_secs));
    claims.insert("iat".into(), json!(ctx.now_secs));
    claims.insert("jti".into(), json!(ctx.id_jti));
    Value::Object(claims)
}

pub fn access_token_claims(ctx: &UserTokenContext<'_>) -> Value {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(ctx.user.sub));
    if !ctx.groups.is_empty() {
        claims.insert("cognito:groups".into(), json!(ctx.groups));
    }
    claims.insert("iss".into(), json!(ctx.issuer));
    claims.insert("client_id".into(), json!(ctx.client_id));
    claims.insert("origin_jti".into(), json!(ctx.origin_jti));
    claims.insert("event_id".into(), json!(ctx.event_id));
    claims.insert("token_use".into(), json!("access"));
    claims.insert("scope".into(), json!(ctx.scope));
    claims.insert("auth_time".into(), json!(ctx.auth_time));
    claims.insert("exp".into(), json!(ctx.now_secs + ctx.access_ttl_secs));
    claims.insert("iat".into(), json!(ctx.now_secs));
    claims.insert("jti".into(), json!(ctx.access_jti));
    claims.insert("username".into(), json!(ctx.user.username));
    claims.insert("version".into(), json!(2));
    match &ctx.tenant {
        TenantContext::Unmanaged => {
            for name in TENANT_CLAIMS {
                if let Some(value) = ctx.user.attributes.get(name) {
                    claims.insert(name.into(), json!(value));
                }
            }
        }
        TenantContext::Managed(Some(tenant)) => tenant.insert(&mut claims),
        TenantContext::Managed(None) => {}
    }
    Value::Object(claims)
}

/// A machine-to-machine (client_credentials) access token: the client is the subject.
pub fn m2m_access_token_claims(
    issuer: &str,
    client_id: &str,
    scope: &str,
    now_secs: i64,
    ttl_secs: i64,
    jti: &str,
) -> Value {
    json!({
        "sub": client_id,
        "token_use": "access",
        "scope": scope,
        "auth_time": now_secs,
        "iss": issuer,
        "exp": now_secs + ttl_secs,
        "iat": now_secs,
        "version": 2,
        "jti": jti,
        "client_id": client_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PoolId;
    use crate::user::UserStatus;
    use std::collections::BTreeMap;

    #[test]
    fn claim_sets_follow_the_contract() {
        let mut attributes = BTreeMap::new();
        attributes.insert("email".to_owned(), "a@x.io".to_owned());
        attributes.insert("email_verified".to_owned(), "true".to_owned());
        attributes.insert("custom:tenantId".to_owned(), "acme".to_owned());
        let user = User {
            pool_id: PoolId::parse("local_abc").unwrap(),
            sub: "s".into(),
            username: "alice".into(),
            status: UserStatus::Confirmed,
            enabled: true,
            password_hash: None,
            temp_password_expires_at: None,
            attributes,
            created_at: 0,
            updated_at: 0,
            srp_verifier: None,
            tokens_valid_after: 0,
        };
        let ctx = UserTokenContext {
            tenant: TenantContext::Unmanaged,
            issuer: "http://x/local_abc",
            client_id: "c",
            user: &user,
            groups: &[],
            origin_jti: "o",
            auth_time: 10,
            now_secs: 20,
            id_ttl_secs: 3600,
            access_ttl_secs: 600,
            scope: SDK_SCOPE,
            read_attributes: &[],
            event_id: "e",
            id_jti: "j1",
            access_jti: "j2",
        };
        let id = id_token_claims(&ctx);
        let mut keys: Vec<&str> = id.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "aud",
                "auth_time",
                "cognito:username",
                "custom:tenantId",
                "email",
                "email_verified",
                "event_id",
                "exp",
                "iat",
                "iss",
                "jti",
                "origin_jti",
                "sub",
                "token_use"
            ]
        );
        assert_eq!(id["email_verified"], json!(true));
        assert_eq!(id["exp"], json!(3620));
        let access = access_token_claims(&ctx);
        assert!(access.get("aud").is_none());
        assert_eq!(access["custom:tenantId"], json!("acme"));
        assert!(access.get("custom:tenantName").is_none());
        assert_eq!(access["version"], json!(2));
        assert_eq!(access["exp"], json!(620));
        let restricted = UserTokenContext { read_attributes: &["email".to_owned()], ..ctx };
        assert!(id_token_claims(&restricted).get("custom:tenantId").is_none());

        // A managed pool: the attribute never leaks; only the active tenant is claimed.
        let managed = UserTokenContext { tenant: TenantContext::Managed(None), ..ctx };
        assert!(id_token_claims(&managed).get("custom:tenantId").is_none());
        assert!(access_token_claims(&managed).get("custom:tenantId").is_none());
        let globex = TenantClaims { id: "globex", name: "Globex", tier: "platinum", role: "admin" };
        let active = UserTokenContext { tenant: TenantContext::Managed(Some(globex)), ..ctx };
        for claims in [id_token_claims(&active), access_token_claims(&active)] {
            assert_eq!(claims["custom:tenantId"], json!("globex"));
            assert_eq!(claims["custom:tenantName"], json!("Globex"));
            assert_eq!(claims["custom:tenantTier"], json!("platinum"));
            assert_eq!(claims["custom:tenantRole"], json!("admin"));
        }
    }
}
