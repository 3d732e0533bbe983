//! Identity provider operations: a pool's external OIDC, SAML and social providers, and
//! external identities linked to existing users.

use std::collections::BTreeMap;

use cognate_core::idp::{IdentityProvider, ProviderType};
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{epoch, finish_page, list_response, load_pool, page_request, parse};
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::identity_providers::{self, IdpError, NewProvider, ProviderChange, ProviderUser};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "CreateIdentityProvider" => create(state, input).await,
        "DescribeIdentityProvider" => describe(state, input).await,
        "GetIdentityProviderByIdentifier" => by_identifier(state, input).await,
        "ListIdentityProviders" => list(state, input).await,
        "UpdateIdentityProvider" => update(state, input).await,
        "DeleteIdentityProvider" => delete(state, input).await,
        "AdminLinkProviderForUser" => link(state, input).await,
        "AdminDisableProviderForUser" => unlink(state, input).await,
        "GetSigningCertificate" => signing_certificate(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

/// Cognito's ListIdentityProviders page size bound.
const MAX_PAGE: u32 = 60;

/// Cognito's exception for a refusal.
fn refused(e: IdpError) -> CognitoError {
    match e {
        IdpError::NotFound(name) => CognitoError::not_found(format!("Identity provider {name} does not exist.")),
        IdpError::Exists(name) => CognitoError::new(
            "DuplicateProviderException",
            format!("A provider with the name {name} already exists in this user pool."),
        ),
        IdpError::IdentifierTaken(_) => CognitoError::new(
            "DuplicateProviderException",
            "An identifier in IdpIdentifiers is already used by another identity provider of this user pool.",
        ),
        IdpError::Invalid(message) => CognitoError::invalid(message),
        IdpError::InUse { name, clients } => CognitoError::invalid(format!(
            "Identity provider {name} is in the SupportedIdentityProviders of app clients {}; remove it there first.",
            clients.join(", ")
        )),
        IdpError::UserNotFound => CognitoError::new("UserNotFoundException", "User does not exist."),
        IdpError::Linked => {
            CognitoError::new("AliasExistsException", "This external identity is already linked to a user of the pool.")
        }
        IdpError::LinkLimit => {
            CognitoError::new("LimitExceededException", "A user can have at most 5 linked external identities.")
        }
        IdpError::Fault(cause) => CognitoError::internal(format!("identity provider: {cause}")),
        IdpError::Store(e) => e.into(),
    }
}

fn provider_type(text: &str) -> Result<ProviderType, CognitoError> {
    ProviderType::parse(text).ok_or_else(|| {
        CognitoError::invalid(format!(
            "1 validation error detected: Value '{text}' at 'providerType' failed to satisfy constraint: \
             Member must satisfy enum value set: [SAML, Facebook, Google, LoginWithAmazon, SignInWithApple, OIDC]"
        ))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    user_pool_id: String,
    provider_name: String,
    provider_type: String,
    provider_details: BTreeMap<String, String>,
    #[serde(default)]
    attribute_mapping: BTreeMap<String, String>,
    #[serde(default)]
    idp_identifiers: Vec<String>,
    #[serde(default)]
    acr_mapping: BTreeMap<String, String>,
}

async fn create(state: &AppState, input: Value) -> OpResult {
    let req: CreateInput = parse(input)?;
    let kind = provider_type(&req.provider_type)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let new = NewProvider {
        name: req.provider_name,
        kind,
        details: req.provider_details,
        attribute_mapping: req.attribute_mapping,
        identifiers: req.idp_identifiers,
        acr_mapping: req.acr_mapping,
    };
    let idp = identity_providers::create(state, &pool, new).await.map_err(refused)?;
    Ok(json!({"IdentityProvider": provider_type_value(&idp)}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProviderRef {
    user_pool_id: String,
    provider_name: String,
}

async fn describe(state: &AppState, input: Value) -> OpResult {
    let req: ProviderRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let idp = identity_providers::get(state, &pool.id, &req.provider_name).await.map_err(refused)?;
    Ok(json!({"IdentityProvider": provider_type_value(&idp)}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdentifierRef {
    user_pool_id: String,
    idp_identifier: String,
}

async fn by_identifier(state: &AppState, input: Value) -> OpResult {
    let req: IdentifierRef = parse(input)?;
    cognate_core::idp::check_identifier(&req.idp_identifier).map_err(CognitoError::invalid)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let idp = identity_providers::by_identifier(state, &pool.id, &req.idp_identifier).await.map_err(refused)?;
    Ok(json!({"IdentityProvider": provider_type_value(&idp)}))
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
    if let Some(n) = req.max_results.filter(|n| !(1..=60).contains(n)) {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: \
             Member must have value between 1 and 60"
        )));
    }
    let pool = load_pool(state, &req.user_pool_id).await?;
    let scope = format!("identity-providers:{}", pool.id);
    let page = page_request(req.max_results, req.next_token.as_deref(), MAX_PAGE, MAX_PAGE, &scope)?;
    let rows = identity_providers::list(state, &pool.id, &page).await.map_err(refused)?;
    let (rows, next) = finish_page(rows, &page, &scope, |p| p.name.clone());
    let providers = rows
        .iter()
        .map(|p| {
            json!({
                "ProviderName": p.name,
                "ProviderType": p.kind.as_str(),
                "CreationDate": epoch(p.created),
                "LastModifiedDate": epoch(p.modified),
            })
        })
        .collect();
    Ok(list_response("Providers", providers, "NextToken", next))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateInput {
    user_pool_id: String,
    provider_name: String,
    provider_details: Option<BTreeMap<String, String>>,
    attribute_mapping: Option<BTreeMap<String, String>>,
    idp_identifiers: Option<Vec<String>>,
    acr_mapping: Option<BTreeMap<String, String>>,
}

async fn update(state: &AppState, input: Value) -> OpResult {
    let req: UpdateInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let change = ProviderChange {
        details: req.provider_details,
        attribute_mapping: req.attribute_mapping,
        identifiers: req.idp_identifiers,
        acr_mapping: req.acr_mapping,
    };
    let idp = identity_providers::update(state, &pool, &req.provider_name, change).await.map_err(refused)?;
    Ok(json!({"IdentityProvider": provider_type_value(&idp)}))
}

async fn delete(state: &AppState, input: Value) -> OpResult {
    let req: ProviderRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    identity_providers::delete(state, &pool.id, &req.provider_name).await.map_err(refused)?;
    Ok(json!({}))
}

/// Cognito's `ProviderUserIdentifierType`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProviderUserInput {
    provider_name: Option<String>,
    provider_attribute_name: Option<String>,
    provider_attribute_value: Option<String>,
}

impl ProviderUserInput {
    fn into_user(self, member: &str) -> Result<ProviderUser, CognitoError> {
        let required = |v: Option<String>, what: &str| {
            v.filter(|s| !s.is_empty()).ok_or_else(|| CognitoError::invalid(format!("{member}.{what} is required")))
        };
        Ok(ProviderUser {
            provider: required(self.provider_name, "ProviderName")?,
            attribute: self.provider_attribute_name.filter(|s| !s.is_empty()),
            value: required(self.provider_attribute_value, "ProviderAttributeValue")?,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LinkInput {
    user_pool_id: String,
    destination_user: ProviderUserInput,
    source_user: ProviderUserInput,
}

async fn link(state: &AppState, input: Value) -> OpResult {
    let req: LinkInput = parse(input)?;
    let destination = req.destination_user.into_user("DestinationUser")?;
    let source = req.source_user.into_user("SourceUser")?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    identity_providers::link(state, &pool, &destination, &source).await.map_err(refused)?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UnlinkInput {
    user_pool_id: String,
    user: ProviderUserInput,
}

async fn unlink(state: &AppState, input: Value) -> OpResult {
    let req: UnlinkInput = parse(input)?;
    let user = req.user.into_user("User")?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    identity_providers::unlink(state, &pool, &user).await.map_err(refused)?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolRef {
    user_pool_id: String,
}

async fn signing_certificate(state: &AppState, input: Value) -> OpResult {
    let req: PoolRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let certificate = identity_providers::signing_certificate(state, &pool.id).await.map_err(refused)?;
    Ok(json!({"Certificate": certificate}))
}

/// Cognito's `IdentityProviderType`.
fn provider_type_value(idp: &IdentityProvider) -> Value {
    let mut out = json!({
        "UserPoolId": idp.pool_id,
        "ProviderName": idp.name,
        "ProviderType": idp.kind.as_str(),
        "ProviderDetails": idp.details,
        "AttributeMapping": idp.attribute_mapping,
        "IdpIdentifiers": idp.identifiers,
        "CreationDate": epoch(idp.created),
        "LastModifiedDate": epoch(idp.modified),
    });
    if !idp.acr_mapping.is_empty() {
        out["AcrMapping"] = json!(idp.acr_mapping);
    }
    out
}
