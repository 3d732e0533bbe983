//! App client operations.

use cognate_core::client::{AppClient, ClientSettings, unit_seconds, valid_client_name};
use cognate_core::ids::ClientId;
use cognate_core::pool::UserPool;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::input::{
    epoch, finish_page, list_response, load_pool, page_request, parse, required_string, take, take_bool, take_string,
};
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::clients::{self, ClientError};
use crate::services::resource_servers;

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "CreateUserPoolClient" => create(state, input).await,
        "DescribeUserPoolClient" => describe(state, input).await,
        "ListUserPoolClients" => list(state, input).await,
        "UpdateUserPoolClient" => update(state, input).await,
        "DeleteUserPoolClient" => delete(state, input).await,
        "AddUserPoolClientSecret" => add_secret(state, input).await,
        "ListUserPoolClientSecrets" => list_secrets(state, input).await,
        "DeleteUserPoolClientSecret" => delete_secret(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

/// ListUserPoolClients' page size bound and default (Cognito's).
const MAX_PAGE: u32 = 60;

/// Auth flows a client gets when the request names none (Cognito's defaults).
const DEFAULT_AUTH_FLOWS: &[&str] = &["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH"];

/// Scopes every pool offers without a resource server.
const STANDARD_SCOPES: &[&str] = &["openid", "email", "phone", "profile", "aws.cognito.signin.user.admin"];

/// Members of `UserPoolClientType` that only the server sets; dropped from requests so they
/// cannot land in the settings' `extra` and be echoed back. `CognateTenantId` (a client's
/// owning tenant) is set only by the tenancy services.
const SERVER_MEMBERS: &[&str] = &["ClientSecret", "CreationDate", "LastModifiedDate", "CognateTenantId"];

/// Default access and ID token lifetime: one hour.
const DEFAULT_TOKEN_SECS: u64 = 3_600;
/// Default refresh token lifetime: 30 days.
const DEFAULT_REFRESH_SECS: u64 = 30 * 86_400;

fn check_name(name: &str) -> Result<(), CognitoError> {
    if valid_client_name(name) {
        Ok(())
    } else {
        Err(CognitoError::invalid("ClientName must be 1 to 128 characters of [\\w\\s+=,.@-]."))
    }
}

fn parse_client_id(id: &str) -> Result<ClientId, CognitoError> {
    ClientId::parse(id).ok_or_else(|| {
        CognitoError::invalid(format!(
            "1 validation error detected: Value '{id}' at 'clientId' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\w+]+"
        ))
    })
}

/// Cognito's exception for a refusal about client `id`.
fn refused(e: ClientError, id: &str) -> CognitoError {
    match e {
        ClientError::NotFound | ClientError::BadCredentials => {
            CognitoError::not_found(format!("User pool client {id} does not exist."))
        }
        ClientError::Invalid(message) => CognitoError::invalid(message),
        ClientError::SecretLimit => CognitoError::new(
            "LimitExceededException",
            format!("User pool client {id} already has the most secrets an app client may have (2)."),
        ),
        ClientError::SecretNotFound => {
            CognitoError::not_found(format!("The client secret does not exist for user pool client {id}."))
        }
        ClientError::Fault(cause) => CognitoError::internal(format!("client {id}: {cause}")),
        ClientError::Store(e) => e.into(),
    }
}

/// `secs` expressed in `unit`, at least 1; an unknown unit is left for `validate` to refuse.
fn in_unit(secs: u64, unit: &str) -> u32 {
    let n = unit_seconds(unit).map_or(1, |u| (secs / u).max(1));
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Settings from a request body (after the non-setting members were taken out), with
/// Cognito's defaults for what the request leaves out. Like Cognito, this is the whole
/// configuration: UpdateUserPoolClient resets omitted settings to these defaults too.
fn settings_from(mut input: Value) -> Result<ClientSettings, CognitoError> {
    if let Some(map) = input.as_object_mut() {
        map.retain(|k, v| !v.is_null() && !SERVER_MEMBERS.contains(&k.as_str()));
    }
    let given = |key: &str| input.get(key).is_some();
    let (access, id, refresh, flows) = (
        given("AccessTokenValidity"),
        given("IdTokenValidity"),
        given("RefreshTokenValidity"),
        given("ExplicitAuthFlows"),
    );
    let mut s: ClientSettings = parse(input)?;
    let units = &s.token_validity_units;
    if !access {
        s.access_token_validity = in_unit(DEFAULT_TOKEN_SECS, &units.access_token);
    }
    if !id {
        s.id_token_validity = in_unit(DEFAULT_TOKEN_SECS, &units.id_token);
    }
    if !refresh {
        s.refresh_token_validity = in_unit(DEFAULT_REFRESH_SECS, &units.refresh_token);
    }
    if !flows {
        s.explicit_auth_flows = DEFAULT_AUTH_FLOWS.iter().map(|f| (*f).to_owned()).collect();
    }
    Ok(s)
}

/// Everything about a client's settings that depends on the pool or on whether the client
/// has a secret, checked in the order that gives Cognito's exception for each mistake.
async fn check_settings(
    state: &AppState,
    pool: &UserPool,
    s: &ClientSettings,
    has_secret: bool,
    creating: bool,
) -> Result<(), CognitoError> {
    let oauth = |msg: &str| CognitoError::new("InvalidOAuthFlowException", msg);
    if s.allowed_oauth_flows_user_pool_client {
        if s.allowed_oauth_flows.is_empty() {
            return Err(oauth("AllowedOAuthFlows must be specified when AllowedOAuthFlowsUserPoolClient is true."));
        }
        if s.allowed_oauth_scopes.is_empty() {
            return Err(oauth("AllowedOAuthScopes must be specified when AllowedOAuthFlowsUserPoolClient is true."));
        }
    }
    if s.allowed_oauth_flows.iter().any(|f| f == "client_credentials") {
        if s.allowed_oauth_flows.len() > 1 {
            return Err(oauth("client_credentials flow can not be selected along with code flow or implicit flow."));
        }
        if !has_secret {
            return Err(oauth("client_credentials flow can not be selected if client does not have a client secret."));
        }
    }
    s.validate().map_err(CognitoError::invalid)?;

    let action = if creating { "creating" } else { "updating" };
    let schema = &pool.settings.schema;
    let known = |name: &str| schema.iter().find(|a| a.name == name);
    if s.read_attributes.iter().any(|a| known(a).is_none()) {
        return Err(CognitoError::invalid(format!("Invalid read attributes specified while {action} a client")));
    }
    if s.write_attributes.iter().any(|a| known(a).is_none_or(|attr| !attr.mutable)) {
        return Err(CognitoError::invalid(format!("Invalid write attributes specified while {action} a client")));
    }

    let mut defined = resource_servers::Scopes::of(state, &pool.id);
    for scope in &s.allowed_oauth_scopes {
        if STANDARD_SCOPES.contains(&scope.as_str()) || defined.defines(scope).await? {
            continue;
        }
        return Err(CognitoError::new("ScopeDoesNotExistException", format!("Invalid scope requested: {scope}")));
    }
    Ok(())
}

async fn create(state: &AppState, mut input: Value) -> OpResult {
    let pool_id = required_string(&mut input, "UserPoolId")?;
    let name = required_string(&mut input, "ClientName")?;
    check_name(&name)?;
    let generate_secret = take_bool(&mut input, "GenerateSecret")?.unwrap_or(false);
    let settings = settings_from(input)?;
    let pool = load_pool(state, &pool_id).await?;
    check_settings(state, &pool, &settings, generate_secret, true).await?;

    let client = clients::create(state, &pool.id, name, settings, generate_secret).await.map_err(|e| refused(e, ""))?;
    Ok(json!({"UserPoolClient": client_type(state, &client)?}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClientRef {
    user_pool_id: String,
    client_id: String,
}

async fn load_client(state: &AppState, pool: &UserPool, id: &str) -> Result<AppClient, CognitoError> {
    let client_id = parse_client_id(id)?;
    clients::get(state, &pool.id, &client_id).await.map_err(|e| refused(e, id))
}

async fn describe(state: &AppState, input: Value) -> OpResult {
    let req: ClientRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let client = load_client(state, &pool, &req.client_id).await?;
    Ok(json!({"UserPoolClient": client_type(state, &client)?}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    user_pool_id: String,
    max_results: Option<i64>,
    next_token: Option<String>,
}

async fn list(state: &AppState, input: Value) -> OpResult {
    let req: ListInput = parse(input)?;
    if let Some(n) = req.max_results.filter(|n| *n < 1) {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
        )));
    }
    let pool = load_pool(state, &req.user_pool_id).await?;
    let scope = format!("clients:{}", pool.id);
    let page = page_request(req.max_results, req.next_token.as_deref(), MAX_PAGE, MAX_PAGE, &scope)?;
    let rows = clients::list(state, &pool.id, &page).await.map_err(|e| refused(e, ""))?;
    let (rows, next) = finish_page(rows, &page, &scope, |c| c.id.to_string());
    let clients: Vec<Value> =
        rows.iter().map(|c| json!({"ClientId": c.id, "UserPoolId": c.pool_id, "ClientName": c.name})).collect();
    Ok(list_response("UserPoolClients", clients, "NextToken", next))
}

/// UpdateUserPoolClient follows Cognito: the request is the client's whole configuration,
/// so settings it leaves out return to their defaults. The name is kept when the request
/// has none, and the secret never changes.
async fn update(state: &AppState, mut input: Value) -> OpResult {
    let pool_id = required_string(&mut input, "UserPoolId")?;
    let client_id = required_string(&mut input, "ClientId")?;
    let name = take_string(&mut input, "ClientName")?;
    if let Some(name) = &name {
        check_name(name)?;
    }
    if take(&mut input, "GenerateSecret").is_some() {
        return Err(CognitoError::invalid("GenerateSecret cannot be changed after the client is created."));
    }
    let settings = settings_from(input)?;
    let pool = load_pool(state, &pool_id).await?;
    let mut client = load_client(state, &pool, &client_id).await?;
    check_settings(state, &pool, &settings, client.secret_sealed.is_some(), false).await?;
    if let Some(name) = name {
        client.name = name;
    }
    // A tenant's client stays that tenant's: the binding is not a Cognito setting.
    let owner = client.settings.tenant_id.take();
    client.settings = ClientSettings { tenant_id: owner, ..settings };
    client.updated_at = state.clock.now_millis();
    clients::update(state, &client).await.map_err(|e| refused(e, &client_id))?;
    Ok(json!({"UserPoolClient": client_type(state, &client)?}))
}

async fn delete(state: &AppState, input: Value) -> OpResult {
    let req: ClientRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let client_id = parse_client_id(&req.client_id)?;
    clients::delete(state, &pool.id, &client_id).await.map_err(|e| refused(e, &req.client_id))?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AddSecretInput {
    user_pool_id: String,
    client_id: String,
    client_secret: Option<String>,
}

/// AddUserPoolClientSecret: the new secret's value is shown this once.
async fn add_secret(state: &AppState, input: Value) -> OpResult {
    let req: AddSecretInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let client_id = parse_client_id(&req.client_id)?;
    let added = clients::add_secret(state, &pool.id, &client_id, req.client_secret.as_deref())
        .await
        .map_err(|e| refused(e, &req.client_id))?;
    Ok(json!({"ClientSecretDescriptor": {
        "ClientSecretId": added.id,
        "ClientSecretValue": added.value,
        "ClientSecretCreateDate": epoch(added.created_at),
    }}))
}

/// ListUserPoolClientSecrets: ids and dates, never the values (one page: at most two).
async fn list_secrets(state: &AppState, input: Value) -> OpResult {
    let req: ClientRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let client_id = parse_client_id(&req.client_id)?;
    let secrets = clients::list_secrets(state, &pool.id, &client_id).await.map_err(|e| refused(e, &req.client_id))?;
    let listed: Vec<Value> = secrets
        .iter()
        .map(|s| json!({"ClientSecretId": s.id, "ClientSecretCreateDate": epoch(s.created_at)}))
        .collect();
    Ok(json!({"ClientSecrets": listed}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteSecretInput {
    user_pool_id: String,
    client_id: String,
    client_secret_id: String,
}

async fn delete_secret(state: &AppState, input: Value) -> OpResult {
    let req: DeleteSecretInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let client_id = parse_client_id(&req.client_id)?;
    clients::delete_secret(state, &pool.id, &client_id, &req.client_secret_id)
        .await
        .map_err(|e| refused(e, &req.client_id))?;
    Ok(json!({}))
}

/// Cognito's `UserPoolClientType`: the settings plus identity, secret (when the client has
/// one) and timestamps.
fn client_type(state: &AppState, client: &AppClient) -> Result<Value, CognitoError> {
    let mut out = match serde_json::to_value(&client.settings) {
        Ok(Value::Object(m)) => m,
        Ok(_) => Map::new(),
        Err(e) => return Err(CognitoError::internal(format!("client {} settings: {e}", client.id))),
    };
    out.insert("UserPoolId".into(), json!(client.pool_id));
    out.insert("ClientName".into(), json!(client.name));
    out.insert("ClientId".into(), json!(client.id));
    if let Some(secret) = clients::secret(state, client).map_err(|e| refused(e, client.id.as_str()))? {
        out.insert("ClientSecret".into(), json!(secret));
    }
    out.insert("LastModifiedDate".into(), epoch(client.updated_at));
    out.insert("CreationDate".into(), epoch(client.created_at));
    Ok(Value::Object(out))
}
