//! Terms documents of app clients: CreateTerms, DescribeTerms, DescribeTermsByClient,
//! ListTerms, UpdateTerms, DeleteTerms ([`crate::services::terms`]).

use std::collections::BTreeMap;

use cognate_core::pool::UserPool;
use cognate_core::terms::{self, ENFORCEMENT_NONE, SOURCE_LINK, Terms, TermsName};
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{client_id, epoch, finish_page, list_response, load_pool, parse, required, validation};
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::terms::{self as service, TermsChange, TermsError};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "CreateTerms" => create(state, input).await,
        "DescribeTerms" => describe(state, input).await,
        "DescribeTermsByClient" => describe_by_client(state, input).await,
        "ListTerms" => list(state, input).await,
        "UpdateTerms" => update(state, input).await,
        "DeleteTerms" => delete(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

/// ListTerms's page size bound (Cognito's).
const MAX_PAGE: u32 = 60;

fn terms_name(name: &str) -> Result<TermsName, CognitoError> {
    TermsName::parse(name).ok_or_else(|| {
        validation(name, "termsName", "Member must satisfy regular expression pattern: ^(terms-of-use|privacy-policy)$")
    })
}

/// TermsSource and Enforcement accept one value each, as in Cognito.
fn reserved(value: Option<&str>, member: &str, only: &str) -> Result<(), CognitoError> {
    match value {
        Some(v) if v != only => Err(validation(v, member, &format!("Member must satisfy enum value set: [{only}]"))),
        _ => Ok(()),
    }
}

fn terms_id(id: &str) -> Result<&str, CognitoError> {
    if terms::valid_terms_id(id) {
        Ok(id)
    } else {
        Err(validation(
            id,
            "termsId",
            "Member must satisfy regular expression pattern: \
             ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[4][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$",
        ))
    }
}

fn refused(e: TermsError, pool: &UserPool, what: &str) -> CognitoError {
    match e {
        TermsError::NotFound => CognitoError::not_found(format!("Terms {what} do not exist in user pool {}.", pool.id)),
        TermsError::ClientNotFound => CognitoError::not_found(format!("User pool client {what} does not exist.")),
        TermsError::Exists(name) => {
            CognitoError::new("TermsExistsException", format!("The app client already has {name} terms."))
        }
        TermsError::Invalid(message) => CognitoError::invalid(message),
        TermsError::Store(e) => e.into(),
    }
}

/// Cognito's `TermsType`.
fn terms_type(t: &Terms) -> Value {
    json!({
        "TermsId": t.id,
        "UserPoolId": t.pool_id.as_str(),
        "ClientId": t.client_id.as_str(),
        "TermsName": t.name.as_str(),
        "TermsSource": SOURCE_LINK,
        "Enforcement": ENFORCEMENT_NONE,
        "Links": t.links,
        "CreationDate": epoch(t.created_at),
        "LastModifiedDate": epoch(t.updated_at),
    })
}

/// Cognito's `TermsDescriptionType` (ListTerms).
fn terms_description(t: &Terms) -> Value {
    json!({
        "TermsId": t.id,
        "TermsName": t.name.as_str(),
        "Enforcement": ENFORCEMENT_NONE,
        "CreationDate": epoch(t.created_at),
        "LastModifiedDate": epoch(t.updated_at),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TermsInput {
    user_pool_id: Option<String>,
    client_id: Option<String>,
    terms_id: Option<String>,
    terms_name: Option<String>,
    terms_source: Option<String>,
    enforcement: Option<String>,
    links: Option<BTreeMap<String, String>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

impl TermsInput {
    async fn pool(&self, state: &AppState) -> Result<UserPool, CognitoError> {
        load_pool(state, required(self.user_pool_id.as_deref(), "userPoolId")?).await
    }

    fn terms_id(&self) -> Result<&str, CognitoError> {
        terms_id(required(self.terms_id.as_deref(), "termsId")?)
    }
}

async fn create(state: &AppState, input: Value) -> OpResult {
    let req: TermsInput = parse(input)?;
    let client = required(req.client_id.as_deref(), "clientId")?;
    let name = terms_name(required(req.terms_name.as_deref(), "termsName")?)?;
    reserved(Some(required(req.terms_source.as_deref(), "termsSource")?), "termsSource", SOURCE_LINK)?;
    reserved(Some(required(req.enforcement.as_deref(), "enforcement")?), "enforcement", ENFORCEMENT_NONE)?;
    let links = required(req.links.clone(), "links")?;
    let pool = req.pool(state).await?;
    let id = client_id(client)?;
    let t = service::create(state, &pool.id, &id, name, links).await.map_err(|e| refused(e, &pool, client))?;
    Ok(json!({"Terms": terms_type(&t)}))
}

async fn describe(state: &AppState, input: Value) -> OpResult {
    let req: TermsInput = parse(input)?;
    let id = req.terms_id()?;
    let pool = req.pool(state).await?;
    let t = service::get(state, &pool.id, id).await.map_err(|e| refused(e, &pool, id))?;
    Ok(json!({"Terms": terms_type(&t)}))
}

async fn describe_by_client(state: &AppState, input: Value) -> OpResult {
    let req: TermsInput = parse(input)?;
    let client = required(req.client_id.as_deref(), "clientId")?;
    let name = terms_name(required(req.terms_name.as_deref(), "termsName")?)?;
    let pool = req.pool(state).await?;
    let id = client_id(client)?;
    let t = service::by_client(state, &pool.id, &id, name).await.map_err(|e| match e {
        TermsError::NotFound => CognitoError::not_found(format!(
            "App client {client} has no {} terms in user pool {}.",
            name.as_str(),
            pool.id
        )),
        other => refused(other, &pool, client),
    })?;
    Ok(json!({"Terms": terms_type(&t)}))
}

async fn list(state: &AppState, input: Value) -> OpResult {
    let req: TermsInput = parse(input)?;
    let limit = match req.max_results {
        None => MAX_PAGE,
        Some(n) if (1..=i64::from(MAX_PAGE)).contains(&n) => n as u32,
        Some(n) => {
            return Err(validation(
                &n.to_string(),
                "maxResults",
                &format!("Member must have value between 1 and {MAX_PAGE}"),
            ));
        }
    };
    let pool = req.pool(state).await?;
    let scope = format!("terms:{}", pool.id);
    let page =
        super::input::page_request(Some(i64::from(limit)), req.next_token.as_deref(), MAX_PAGE, MAX_PAGE, &scope)?;
    let rows = service::list(state, &pool.id, &page).await.map_err(|e| refused(e, &pool, ""))?;
    let (rows, next) = finish_page(rows, &page, &scope, |t| t.id.clone());
    Ok(list_response("Terms", rows.iter().map(terms_description).collect(), "NextToken", next))
}

async fn update(state: &AppState, input: Value) -> OpResult {
    let req: TermsInput = parse(input)?;
    let id = req.terms_id()?;
    let name = req.terms_name.as_deref().map(terms_name).transpose()?;
    reserved(req.terms_source.as_deref(), "termsSource", SOURCE_LINK)?;
    reserved(req.enforcement.as_deref(), "enforcement", ENFORCEMENT_NONE)?;
    let pool = req.pool(state).await?;
    let change = TermsChange { name, links: req.links.clone() };
    let t = service::update(state, &pool.id, id, change).await.map_err(|e| refused(e, &pool, id))?;
    Ok(json!({"Terms": terms_type(&t)}))
}

async fn delete(state: &AppState, input: Value) -> OpResult {
    let req: TermsInput = parse(input)?;
    let id = req.terms_id()?;
    let pool = req.pool(state).await?;
    service::delete(state, &pool.id, id).await.map_err(|e| refused(e, &pool, id))?;
    Ok(json!({}))
}
