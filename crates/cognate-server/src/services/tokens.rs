//! Issuing and checking tokens: the services behind every sign-in flow, refresh, the
//! OAuth endpoints and every Cognate endpoint that takes an access token.

use cognate_core::StoreError;
use cognate_core::analytics::Grant;
use cognate_core::claims::{self, UserTokenContext};
use cognate_core::client::AppClient;
use cognate_core::ids::{ClientId, PoolId, generate_sub};
use cognate_core::jwt::{self, TokenError};
use cognate_core::login::{self, AuthorizationCode};
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;
use cognate_core::tenant::TenantId;
use cognate_core::token::{self, REFRESH_GROUPS_MAX, RefreshSession, RefreshToken, TokenFamily};
use cognate_core::user::User;
use serde_json::{Value, json};

use crate::AppState;
use crate::facts;
use crate::metrics::{FamilyEnd, RefreshOutcome};
use crate::tenancy::{self, ActiveTenant, Refusal, Selection};

/// Refresh tokens are 43 characters; anything much longer is not one of ours.
const MAX_REFRESH_TOKEN_LEN: usize = 2048;

/// Why a token was not accepted. Surfaces render all of these without detail beyond
/// Cognito's messages.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("invalid token")]
    Invalid,
    #[error("token expired")]
    Expired,
    #[error("token revoked")]
    Revoked,
    #[error("user is disabled")]
    Disabled,
    #[error("rotated refresh token reused")]
    Reused,
    #[error("the user is not an active member of the tenant")]
    NotMember,
    #[error("the tenant is suspended")]
    Suspended,
    /// Switching into a tenant whose MFA policy covers the user, from a session that did
    /// not pass MFA.
    #[error("the tenant requires MFA and the session did not pass it")]
    MfaRequired,
    #[error("internal error: {0}")]
    Fault(String),
}

fn fault(e: impl std::fmt::Display) -> Rejection {
    Rejection::Fault(e.to_string())
}

impl From<Refusal> for Rejection {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotMember => Self::NotMember,
            Refusal::Suspended => Self::Suspended,
            Refusal::Store(e) => fault(e),
        }
    }
}

/// The issuer of a pool's tokens.
pub fn issuer(state: &AppState, pool: &PoolId) -> String {
    format!("{}/{}", state.settings.public_url, pool)
}

/// Tokens from one issuance.
#[derive(Debug)]
pub struct Issued {
    pub id_token: Option<String>,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    /// A device key handed to this sign-in (pools that track devices).
    pub new_device: Option<super::devices::NewDevice>,
}

impl Issued {
    /// Cognito's `AuthenticationResultType`.
    pub fn authentication_result(&self) -> Value {
        let mut out = json!({
            "AccessToken": self.access_token,
            "ExpiresIn": self.expires_in,
            "TokenType": "Bearer",
        });
        if let Some(id) = &self.id_token {
            out["IdToken"] = json!(id);
        }
        if let Some(r) = &self.refresh_token {
            out["RefreshToken"] = json!(r);
        }
        if let Some(d) = &self.new_device {
            out["NewDeviceMetadata"] = json!({"DeviceKey": d.key, "DeviceGroupKey": d.group_key});
        }
        out
    }
}

/// Starts a token family for a fresh sign-in (or a tenant switch), bound to the
/// session's tenant, with its first refresh token. The family did not pass MFA (see
/// [`start_family_with`]).
pub async fn start_family(
    state: &AppState,
    client: &AppClient,
    user: &User,
    tenant: Option<&TenantId>,
) -> Result<(TokenFamily, String), Rejection> {
    start_family_with(state, client, user, tenant, false, None).await
}

/// [`start_family`], recording whether the sign-in passed MFA (`mfa`).
pub async fn start_family_with(
    state: &AppState,
    client: &AppClient,
    user: &User,
    tenant: Option<&TenantId>,
    mfa: bool,
    device_key: Option<&str>,
) -> Result<(TokenFamily, String), Rejection> {
    let family = TokenFamily {
        id: generate_sub(state.rng.as_ref()),
        pool_id: user.pool_id.clone(),
        client_id: client.id.to_string(),
        sub: user.sub.clone(),
        tenant_id: tenant.cloned(),
        auth_time: state.clock.now_millis().div_euclid(1000),
        mfa,
        scope: None,
        device_key: device_key.map(str::to_owned),
        created_at: state.clock.now_millis(),
        revoked_at: None,
    };
    open_family(state, client, family).await
}

/// Stores a new family with its first refresh token (valid for the client's refresh
/// token validity from now). Where the pool tracks sessions, the user's least recently
/// active sessions beyond its `MaxPerUser` end in the same transaction
/// ([`super::session_config`]).
async fn open_family(
    state: &AppState,
    client: &AppClient,
    family: TokenFamily,
) -> Result<(TokenFamily, String), Rejection> {
    let now = state.clock.now_millis();
    let (plain, hash) = token::new_refresh_token(state.rng.as_ref());
    let refresh = RefreshToken {
        hash,
        family_id: family.id.clone(),
        created_at: now,
        expires_at: now + secs_to_ms(client.settings.refresh_token_secs()),
        rotated_at: None,
    };
    let stored = match super::session_config::token_cap(state, &family.pool_id).await.map_err(fault)? {
        None => state.store.create_family(&family, Some(&refresh)).await,
        Some(cap) => state.store.create_family_within(&family, &refresh, cap).await.map(|evicted| {
            if !evicted.is_empty() {
                state.metrics.families_revoked(FamilyEnd::Cap, evicted.len() as u64);
                tracing::info!(pool = %family.pool_id, sub = %family.sub, ended = evicted.len(), max_per_user = cap,
                    "least recently active sessions ended for a new sign-in");
            }
        }),
    };
    stored.map_err(|e| match e {
        // An authorization code's family id taken by a replay's revocation (see
        // `authorize::exchange`).
        StoreError::Conflict(_) => Rejection::Revoked,
        other => fault(other),
    })?;
    state.metrics.family_started();
    Ok((family, plain))
}

/// The tokens of an authorization code's exchange: a family with the id, sign-in time,
/// MFA and scopes the code was issued with, and an ID token carrying the code's `nonce`
/// and the access token's `at_hash`.
pub async fn from_code(
    state: &AppState,
    client: &AppClient,
    user: &User,
    selection: &Selection,
    code: &AuthorizationCode,
) -> Result<Issued, Rejection> {
    let family = TokenFamily {
        id: code.family_id.clone(),
        pool_id: user.pool_id.clone(),
        client_id: client.id.to_string(),
        sub: user.sub.clone(),
        tenant_id: selection.tenant_id().cloned(),
        auth_time: code.auth_time,
        mfa: code.mfa,
        scope: Some(code.scope.clone()),
        device_key: None,
        created_at: state.clock.now_millis(),
        revoked_at: None,
    };
    let (family, refresh) = open_family(state, client, family).await?;
    let extras = IdExtras { nonce: code.nonce.as_deref(), at_hash: true };
    issue(
        state,
        client,
        &Holder { user, groups: None },
        &family,
        Some(refresh),
        &code.scope,
        selection,
        &extras,
        Grant::Code,
    )
    .await
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
}

/// Starts a family for `selection` and issues its first tokens: a completed sign-in or a
/// tenant switch, without MFA (see [`sign_in_with`]).
pub async fn sign_in(
    state: &AppState,
    client: &AppClient,
    user: &User,
    selection: &Selection,
    scope: &str,
) -> Result<Issued, Rejection> {
    sign_in_from_device(state, client, user, selection, scope, false, None, Grant::Password).await
}

/// The tokens of a tenant switch, for a session that passed MFA (`mfa`) or not.
pub async fn sign_in_with(
    state: &AppState,
    client: &AppClient,
    user: &User,
    selection: &Selection,
    scope: &str,
    mfa: bool,
) -> Result<Issued, Rejection> {
    sign_in_from_device(state, client, user, selection, scope, mfa, None, Grant::Switch).await
}

/// [`sign_in_with`] for a sign-in from a device (pools that track devices): the family and
/// its access tokens carry the device's key (`device_key`). Counted under `grant`.
#[allow(clippy::too_many_arguments)]
pub async fn sign_in_from_device(
    state: &AppState,
    client: &AppClient,
    user: &User,
    selection: &Selection,
    scope: &str,
    mfa: bool,
    device_key: Option<&str>,
    grant: Grant,
) -> Result<Issued, Rejection> {
    let (family, refresh) = start_family_with(state, client, user, selection.tenant_id(), mfa, device_key).await?;
    issue_user_tokens(state, client, user, &family, Some(refresh), scope, selection, grant).await
}

/// Signs an ID and access token pair for `user` in `family`, for the session's tenant,
/// counted under `grant` (see [`super::analytics`]).
#[allow(clippy::too_many_arguments)]
pub async fn issue_user_tokens(
    state: &AppState,
    client: &AppClient,
    user: &User,
    family: &TokenFamily,
    refresh_token: Option<String>,
    scope: &str,
    selection: &Selection,
    grant: Grant,
) -> Result<Issued, Rejection> {
    let holder = Holder { user, groups: None };
    issue(state, client, &holder, family, refresh_token, scope, selection, &IdExtras::default(), grant).await
}

/// The user tokens are for, with the names of their groups when already read (a refresh
/// reads them with the user); `None` reads them.
struct Holder<'a> {
    user: &'a User,
    groups: Option<Vec<String>>,
}

/// What an OAuth authorization-code exchange adds to the ID token (OIDC Core 3.1.3.6).
#[derive(Debug, Default)]
struct IdExtras<'a> {
    nonce: Option<&'a str>,
    at_hash: bool,
}

#[allow(clippy::too_many_arguments)]
async fn issue(
    state: &AppState,
    client: &AppClient,
    holder: &Holder<'_>,
    family: &TokenFamily,
    refresh_token: Option<String>,
    scope: &str,
    selection: &Selection,
    extras: &IdExtras<'_>,
    grant: Grant,
) -> Result<Issued, Rejection> {
    let user = holder.user;
    let mut groups: Vec<String> = match &holder.groups {
        Some(names) => names.clone(),
        None => state
            .store
            .list_groups_for_user(&user.pool_id, &user.sub, &PageRequest { after: None, limit: REFRESH_GROUPS_MAX })
            .await
            .map_err(fault)?
            .into_iter()
            // A page may hold one more (the next page's marker): the same bound as a refresh.
            .take(REFRESH_GROUPS_MAX as usize)
            .map(|g| g.name)
            .collect(),
    };
    if let Selection::Managed(active) = selection {
        // Tokens list only the active tenant's role group: never another tenant's, and
        // never a role-shaped group without the membership behind it.
        let role_group = active.as_ref().map(tenancy::ActiveTenant::role_group);
        groups.retain(|g| !tenancy::is_role_group(g) || Some(g) == role_group.as_ref());
        if let Some(role_group) = role_group
            && !groups.contains(&role_group)
        {
            groups.push(role_group);
        }
    }
    let keys = state.keys.get(state, &user.pool_id).await.map_err(fault)?;
    let issuer = issuer(state, &user.pool_id);
    let client_id = client.id.to_string();
    let rng = state.rng.as_ref();
    let (event_id, id_jti, access_jti) = (generate_sub(rng), generate_sub(rng), generate_sub(rng));
    let access_ttl = i64::try_from(client.settings.access_token_secs()).unwrap_or(3600);
    let ctx = UserTokenContext {
        tenant: selection.context(),
        issuer: &issuer,
        client_id: &client_id,
        user,
        groups: &groups,
        origin_jti: &family.id,
        auth_time: family.auth_time,
        now_secs: state.clock.now_secs(),
        id_ttl_secs: i64::try_from(client.settings.id_token_secs()).unwrap_or(3600),
        access_ttl_secs: access_ttl,
        scope,
        read_attributes: &client.settings.read_attributes,
        event_id: &event_id,
        id_jti: &id_jti,
        access_jti: &access_jti,
    };
    let mut access_claims = claims::access_token_claims(&ctx);
    if let Some(device) = &family.device_key {
        // Cognito's claim for a sign-in from a tracked device.
        access_claims["device_key"] = json!(device);
    }
    let access_token = keys.signer.sign(&access_claims).map_err(fault)?;
    let mut id_claims = claims::id_token_claims(&ctx);
    if extras.at_hash {
        id_claims["at_hash"] = json!(login::at_hash(&access_token));
    }
    if let Some(nonce) = extras.nonce {
        id_claims["nonce"] = json!(nonce);
    }
    let id_token = keys.signer.sign(&id_claims).map_err(fault)?;
    facts::user(user);
    facts::tenant(selection.tenant_id().map(TenantId::as_str));
    // The one place user tokens are signed: every grant counts here, with the session's
    // tenant (the platform line without one), and makes the user active this month.
    super::analytics::tokens_issued(state, selection.tenant_id(), user, grant);
    Ok(Issued { id_token: Some(id_token), access_token, refresh_token, expires_in: access_ttl, new_device: None })
}

/// A refresh: checks the token, its family and the user, applies the client's rotation
/// policy, and issues new tokens in the same family — after checking again that the user
/// is an active member of the family's tenant and the tenant active. With `switch_to`
/// naming another of the user's tenants, the tokens are for that tenant instead, in a new
/// family bound to it (with its own refresh token); the presented token stays as it was.
/// Switching into a tenant whose MFA policy covers the user needs a family that passed
/// MFA ([`Rejection::MfaRequired`]); the new family inherits the presented one's MFA.
pub async fn refresh(
    state: &AppState,
    client: &AppClient,
    presented: &str,
    scope: &str,
    switch_to: Option<&str>,
) -> Result<(User, Issued), Rejection> {
    let result = refresh_once(state, client, presented, scope, switch_to).await;
    state.metrics.refresh(match &result {
        Ok(_) => RefreshOutcome::Success,
        Err(Rejection::Reused) => RefreshOutcome::Reuse,
        Err(_) => RefreshOutcome::Failure,
    });
    result
}

/// Revokes the family of a rotated-out refresh token presented again.
async fn revoke_reused(state: &AppState, family: &TokenFamily, now: i64) -> Result<(), Rejection> {
    if state.store.revoke_family(&family.pool_id, &family.id, now).await.map_err(fault)? {
        state.metrics.families_revoked(FamilyEnd::Reuse, 1);
    }
    Ok(())
}

async fn refresh_once(
    state: &AppState,
    client: &AppClient,
    presented: &str,
    scope: &str,
    switch_to: Option<&str>,
) -> Result<(User, Issued), Rejection> {
    if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_LEN {
        return Err(Rejection::Invalid);
    }
    let now = state.clock.now_millis();
    let hash = token::refresh_token_hash(presented);
    let RefreshSession { token: stored, family, user, groups } =
        state.store.get_refresh_session(&hash).await.map_err(fault)?.ok_or(Rejection::Invalid)?;
    facts::family(&family);
    if family.client_id != client.id.as_str() || family.pool_id != client.pool_id {
        return Err(Rejection::Invalid);
    }
    if family.revoked_at.is_some() {
        return Err(Rejection::Revoked);
    }
    if stored.expires_at <= now {
        return Err(Rejection::Expired);
    }
    let user = user.ok_or(Rejection::Invalid)?;
    if family.created_at < user.tokens_valid_after {
        return Err(Rejection::Revoked);
    }
    if !user.enabled {
        return Err(Rejection::Disabled);
    }
    if let Some(target) = switch_to
        && family.tenant_id.as_ref().map(TenantId::as_str) != Some(target)
    {
        // A rotated-out token past its grace is a reuse here too: it must not buy a family
        // for another tenant.
        if let (Some(at), Some(grace)) = (stored.rotated_at, client.settings.rotation_grace_secs())
            && now > at + i64::from(grace) * 1000
        {
            revoke_reused(state, &family, now).await?;
            tracing::warn!(pool = %family.pool_id, family = %family.id, "rotated refresh token reused to switch; family revoked");
            return Err(Rejection::Reused);
        }
        let (_, issued) = switch(state, client, &user, target, family.mfa, scope).await?;
        return Ok((user, issued));
    }
    let selection = match &family.tenant_id {
        Some(tenant) => {
            let active = tenancy::for_tenant(state, &user, tenant).await?;
            // The tenant may have started requiring MFA (or the member became an admin
            // under `admins`) since this session signed in without it.
            if active.requires_mfa() && !family.mfa {
                return Err(Rejection::MfaRequired);
            }
            Selection::Managed(Some(active))
        }
        None => tenancy::unbound(state, &user.pool_id).await.map_err(fault)?,
    };
    let next = match client.settings.rotation_grace_secs() {
        None => None,
        Some(grace) => {
            let (plain, new_hash) = token::new_refresh_token(state.rng.as_ref());
            let successor = RefreshToken {
                hash: new_hash,
                family_id: family.id.clone(),
                created_at: now,
                expires_at: stored.expires_at,
                rotated_at: None,
            };
            let rotated_at = match stored.rotated_at {
                Some(at) => Some(at),
                None if state.store.rotate_refresh_token(&hash, &successor, now).await.map_err(fault)? => None,
                // Someone rotated it between our read and write: treat as a reuse at `now`.
                None => Some(now),
            };
            if let Some(at) = rotated_at {
                if now > at + i64::from(grace) * 1000 {
                    revoke_reused(state, &family, now).await?;
                    tracing::warn!(pool = %family.pool_id, family = %family.id, "rotated refresh token reused; family revoked");
                    return Err(Rejection::Reused);
                }
                state.store.add_refresh_token(&successor).await.map_err(fault)?;
            }
            Some(plain)
        }
    };
    // A browser sign-in's family keeps the scopes it was granted.
    let scope = family.scope.as_deref().unwrap_or(scope);
    let holder = Holder { user: &user, groups: Some(groups) };
    let issued =
        issue(state, client, &holder, &family, next, scope, &selection, &IdExtras::default(), Grant::Refresh).await?;
    Ok((user, issued))
}

/// Tokens for another of `user`'s tenants, `target`, for `client`, in a new family bound
/// to it: the user must be an active member of an active tenant, and a tenant whose MFA
/// policy covers them needs a session that passed MFA (`mfa`), which the new family
/// inherits.
pub async fn switch(
    state: &AppState,
    client: &AppClient,
    user: &User,
    target: &str,
    mfa: bool,
    scope: &str,
) -> Result<(ActiveTenant, Issued), Rejection> {
    let target = TenantId::parse(target).ok_or(Rejection::NotMember)?;
    let active = tenancy::for_tenant(state, user, &target).await?;
    enter(state, client, user, active, mfa, scope).await
}

/// [`switch`] into a tenant whose membership was just checked (`active`).
async fn enter(
    state: &AppState,
    client: &AppClient,
    user: &User,
    active: ActiveTenant,
    mfa: bool,
    scope: &str,
) -> Result<(ActiveTenant, Issued), Rejection> {
    if active.requires_mfa() && !mfa {
        return Err(Rejection::MfaRequired);
    }
    state.store.touch_membership(&active.tenant.id, &user.sub, state.clock.now_millis()).await.map_err(fault)?;
    let selection = Selection::Managed(Some(active.clone()));
    let issued = sign_in_with(state, client, user, &selection, scope, mfa).await?;
    Ok((active, issued))
}

/// [`switch`] for the session of a verified access token (`claims`): the same app client
/// and scopes, and the session's MFA.
pub async fn switch_session(
    state: &AppState,
    user: &User,
    claims: &Value,
    target: &str,
) -> Result<(ActiveTenant, Issued), Rejection> {
    // Membership first: someone who may not enter the tenant learns nothing more.
    let target_id = TenantId::parse(target).ok_or(Rejection::NotMember)?;
    let active = tenancy::for_tenant(state, user, &target_id).await?;
    let client_id = claims.get("client_id").and_then(Value::as_str).and_then(ClientId::parse);
    let client = match client_id {
        Some(id) => state.store.find_client(&id).await.map_err(fault)?.ok_or(Rejection::Invalid)?,
        None => return Err(Rejection::Invalid),
    };
    let mfa = passed_mfa(state, claims).await.map_err(fault)?;
    let scope = claims.get("scope").and_then(Value::as_str).unwrap_or(claims::SDK_SCOPE);
    enter(state, &client, user, active, mfa, scope).await
}

/// A verified token of this server, with its pool.
#[derive(Debug)]
pub struct Verified {
    pub pool_id: PoolId,
    pub claims: Value,
}

/// Verifies a token Cognate issued: issuer (one of our pools), RS256 signature with a
/// published key, expiry, and — for user tokens — that neither its family nor the user's
/// sessions were revoked. `token_use` must match when given.
pub async fn verify(state: &AppState, token: &str, token_use: Option<&str>) -> Result<Verified, Rejection> {
    let unverified = jwt::decode(token).map_err(|_| Rejection::Invalid)?;
    let iss = unverified.claims.get("iss").and_then(Value::as_str).ok_or(Rejection::Invalid)?;
    let pool_id = iss
        .strip_prefix(state.settings.public_url.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(PoolId::parse)
        .ok_or(Rejection::Invalid)?;
    // The published keys, as fresh as this node hears of changes (see `crate::keys`): a key
    // retired a moment ago must not verify.
    let kid = unverified.header.get("kid").and_then(Value::as_str).ok_or(Rejection::Invalid)?;
    let records = state.keys.verification_keys(state, &pool_id, kid).await.map_err(fault)?;
    let claims = unverified.verify(&records, state.clock.now_secs()).map_err(|e| match e {
        TokenError::Expired => Rejection::Expired,
        _ => Rejection::Invalid,
    })?;
    if let Some(expected) = token_use
        && claims.get("token_use").and_then(Value::as_str) != Some(expected)
    {
        return Err(Rejection::Invalid);
    }
    if let Some(origin) = claims.get("origin_jti").and_then(Value::as_str) {
        let family = state.store.get_family(origin).await.map_err(fault)?.ok_or(Rejection::Revoked)?;
        if family.revoked_at.is_some() {
            return Err(Rejection::Revoked);
        }
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        let user = state.store.get_user_by_sub(&pool_id, sub).await.map_err(fault)?.ok_or(Rejection::Revoked)?;
        if family.created_at < user.tokens_valid_after {
            return Err(Rejection::Revoked);
        }
    }
    Ok(Verified { pool_id, claims })
}

/// Verifies a user's access token and loads the pool and user.
pub async fn verify_user_access(state: &AppState, token: &str) -> Result<(UserPool, User, Value), Rejection> {
    let verified = verify(state, token, Some("access")).await?;
    if verified.claims.get("origin_jti").is_none() {
        return Err(Rejection::Invalid); // a client_credentials token has no user
    }
    let sub = verified.claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    let pool = state.store.get_pool(&verified.pool_id).await.map_err(fault)?.ok_or(Rejection::Invalid)?;
    let user = state.store.get_user_by_sub(&pool.id, sub).await.map_err(fault)?.ok_or(Rejection::Invalid)?;
    if !user.enabled {
        return Err(Rejection::Disabled);
    }
    facts::user(&user);
    Ok((pool, user, verified.claims))
}

/// Whether the sign-in behind verified user token `claims` passed an MFA challenge.
pub async fn passed_mfa(state: &AppState, claims: &Value) -> Result<bool, StoreError> {
    Ok(match claims.get("origin_jti").and_then(Value::as_str) {
        Some(id) => state.store.get_family(id).await?.is_some_and(|f| f.mfa),
        None => false,
    })
}

/// The claims of `token` when it is a live token of `pool` (introspection): verified, and
/// for a user token, its user still exists and is enabled. `Ok(None)` for anything else.
pub async fn live_jwt(state: &AppState, pool: &PoolId, token: &str) -> Result<Option<Value>, Rejection> {
    let verified = match verify(state, token, None).await {
        Ok(v) => v,
        Err(Rejection::Fault(cause)) => return Err(Rejection::Fault(cause)),
        Err(_) => return Ok(None),
    };
    if verified.pool_id != *pool {
        return Ok(None);
    }
    if verified.claims.get("origin_jti").is_some() {
        let sub = verified.claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        match state.store.get_user_by_sub(pool, sub).await.map_err(fault)? {
            Some(user) if user.enabled => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(verified.claims))
}

/// The refresh token `presented` and its family when it is live for `pool`
/// (introspection): its family stands, it has not expired or been rotated out, and its
/// user still may sign in. `Ok(None)` for anything else.
pub async fn live_refresh_token(
    state: &AppState,
    pool: &PoolId,
    presented: &str,
) -> Result<Option<(RefreshToken, TokenFamily)>, StoreError> {
    if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_LEN {
        return Ok(None);
    }
    let Some((stored, family)) = state.store.get_refresh_token(&token::refresh_token_hash(presented)).await? else {
        return Ok(None);
    };
    let now = state.clock.now_millis();
    if family.pool_id != *pool || family.revoked_at.is_some() || stored.rotated_at.is_some() || stored.expires_at <= now
    {
        return Ok(None);
    }
    match state.store.get_user_by_sub(&family.pool_id, &family.sub).await? {
        Some(user) if user.enabled && family.created_at >= user.tokens_valid_after => Ok(Some((stored, family))),
        _ => Ok(None),
    }
}

/// The pool's revocations after sequence number `after`, oldest first (the feed guards
/// poll to refuse revoked tokens without asking per request).
pub async fn revocations_after(
    state: &AppState,
    pool: &PoolId,
    after: i64,
    limit: u32,
) -> Result<Vec<cognate_core::token::RevocationEvent>, StoreError> {
    state.store.revocations_after(pool, after, limit).await
}

/// Why a refresh token was not revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The client does not allow revocation.
    #[error("token revocation is not enabled for this client")]
    NotEnabled,
    /// A JWT: only refresh tokens (and with them their whole family) are revocable.
    #[error("only refresh tokens can be revoked")]
    NotRefreshToken,
    /// The token was issued to another client; it stays valid.
    #[error("the token was issued to another client")]
    OtherClient,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Revokes the family of the refresh token `presented` on behalf of `client` (RevokeToken,
/// `/oauth2/revoke`): its refresh token and every access and ID token refreshed from the
/// same sign-in stop working. An unknown, expired or already revoked token is not an
/// error (RFC 7009: the caller's goal is met, and the answer reveals nothing).
pub async fn revoke_refresh_token(state: &AppState, client: &AppClient, presented: &str) -> Result<(), RevokeError> {
    if !client.settings.enable_token_revocation {
        return Err(RevokeError::NotEnabled);
    }
    if presented.contains('.') {
        return Err(RevokeError::NotRefreshToken);
    }
    if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_LEN {
        return Ok(());
    }
    let Some((_, family)) = state.store.get_refresh_token(&token::refresh_token_hash(presented)).await? else {
        return Ok(());
    };
    facts::family(&family);
    if family.client_id != client.id.as_str() || family.pool_id != client.pool_id {
        return Err(RevokeError::OtherClient);
    }
    if state.store.revoke_family(&family.pool_id, &family.id, state.clock.now_millis()).await? {
        state.metrics.families_revoked(FamilyEnd::Revoked, 1);
        tracing::info!(pool = %family.pool_id, family = %family.id, "refresh token revoked");
    }
    Ok(())
}

/// The names a client's `SECRET_HASH` over a refresh may be computed with: the sub of the
/// token's user and their username (Cognito's SDKs use either). `None` for a token that is
/// not a live one of ours.
pub async fn refresh_token_names(state: &AppState, presented: &str) -> Result<Option<Vec<String>>, StoreError> {
    if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_LEN {
        return Ok(None);
    }
    let Some((_, family)) = state.store.get_refresh_token(&token::refresh_token_hash(presented)).await? else {
        return Ok(None);
    };
    let mut names = vec![family.sub.clone()];
    if let Some(user) = state.store.get_user_by_sub(&family.pool_id, &family.sub).await? {
        names.push(user.username);
    }
    Ok(Some(names))
}

/// Ends every session of `user`: all their refresh tokens, and every access and ID token
/// issued before now (GlobalSignOut, AdminUserGlobalSignOut).
pub async fn sign_out_everywhere(state: &AppState, user: &User) -> Result<(), StoreError> {
    state.store.sign_out_user(&user.pool_id, &user.sub, state.clock.now_millis()).await
}
