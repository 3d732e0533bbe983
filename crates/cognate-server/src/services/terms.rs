//! Terms documents of app clients: the terms of use and privacy policy the hosted login's
//! sign-up page links to (Cognito's CreateTerms … DeleteTerms). The rules:
//! - a document belongs to one app client of the pool, which has at most one document of
//!   each name (`terms-of-use`, `privacy-policy`); a second one is [`TermsError::Exists`],
//!   also when an update renames a document to its sibling's name;
//! - links are checked when written ([`cognate_core::terms::check_links`]): known language
//!   ids, 1 to 13 of them, absolute https URLs; an update replaces only what it names;
//! - the sign-up page shows the links only when the client has both documents with a link
//!   for the page's language or a `cognito:default` one ([`for_sign_up`]), as Cognito
//!   shows them only once both kinds exist.

use std::collections::BTreeMap;

use cognate_core::StoreError;
use cognate_core::client::AppClient;
use cognate_core::ids::{ClientId, PoolId, generate_sub};
use cognate_core::page::PageRequest;
use cognate_core::terms::{self, Terms, TermsName};

use crate::AppState;

/// Why a terms operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TermsError {
    #[error("no such terms document")]
    NotFound,
    #[error("no such app client")]
    ClientNotFound,
    /// The client already has a document of this name.
    #[error("the app client already has {0} terms")]
    Exists(&'static str),
    /// Input the operation refuses (its message).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new document of `name` for `client` (of `pool`) with `links`.
pub async fn create(
    state: &AppState,
    pool: &PoolId,
    client: &ClientId,
    name: TermsName,
    links: BTreeMap<String, String>,
) -> Result<Terms, TermsError> {
    terms::check_links(&links).map_err(TermsError::Invalid)?;
    state.store.get_client(pool, client).await?.ok_or(TermsError::ClientNotFound)?;
    let now = state.clock.now_millis();
    let t = Terms {
        id: generate_sub(state.rng.as_ref()),
        pool_id: pool.clone(),
        client_id: client.clone(),
        name,
        links,
        created_at: now,
        updated_at: now,
    };
    match state.store.create_terms(&t).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(TermsError::Exists(name.as_str())),
        Err(StoreError::NotFound(_)) => return Err(TermsError::ClientNotFound),
        Err(e) => return Err(e.into()),
    }
    crate::facts::target(&t.id);
    tracing::info!(pool = %pool, client = %client, terms = %t.id, name = name.as_str(), "terms created");
    Ok(t)
}

/// The document `id` of `pool`.
pub async fn get(state: &AppState, pool: &PoolId, id: &str) -> Result<Terms, TermsError> {
    if !terms::valid_terms_id(id) {
        return Err(TermsError::NotFound);
    }
    state.store.get_terms(pool, id).await?.ok_or(TermsError::NotFound)
}

/// The client's document of `name`.
pub async fn by_client(
    state: &AppState,
    pool: &PoolId,
    client: &ClientId,
    name: TermsName,
) -> Result<Terms, TermsError> {
    state.store.get_client(pool, client).await?.ok_or(TermsError::ClientNotFound)?;
    state.store.get_terms_by_client(pool, client, name).await?.ok_or(TermsError::NotFound)
}

/// A page of the pool's documents, by id.
pub async fn list(state: &AppState, pool: &PoolId, page: &PageRequest) -> Result<Vec<Terms>, TermsError> {
    Ok(state.store.list_terms(pool, page).await?)
}

/// What an update changes; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct TermsChange {
    pub name: Option<TermsName>,
    pub links: Option<BTreeMap<String, String>>,
}

/// Changes the document `id`: its name, its links, or both.
pub async fn update(state: &AppState, pool: &PoolId, id: &str, change: TermsChange) -> Result<Terms, TermsError> {
    if let Some(links) = &change.links {
        terms::check_links(links).map_err(TermsError::Invalid)?;
    }
    let mut t = get(state, pool, id).await?;
    if let Some(name) = change.name {
        t.name = name;
    }
    if let Some(links) = change.links {
        t.links = links;
    }
    t.updated_at = state.clock.now_millis();
    match state.store.update_terms(&t).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(TermsError::Exists(t.name.as_str())),
        Err(StoreError::NotFound(_)) => return Err(TermsError::NotFound),
        Err(e) => return Err(e.into()),
    }
    crate::facts::target(&t.id);
    tracing::info!(pool = %pool, terms = %t.id, "terms updated");
    Ok(t)
}

pub async fn delete(state: &AppState, pool: &PoolId, id: &str) -> Result<(), TermsError> {
    if !terms::valid_terms_id(id) {
        return Err(TermsError::NotFound);
    }
    match state.store.delete_terms(pool, id).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(TermsError::NotFound),
        Err(e) => return Err(e.into()),
    }
    crate::facts::target(id);
    tracing::info!(pool = %pool, terms = %id, "terms deleted");
    Ok(())
}

/// The links a sign-up page shows: the terms of use and the privacy policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignUpLinks {
    pub terms_of_use: String,
    pub privacy_policy: String,
}

/// The client's links for a sign-up page in `language` (a `cognito:…` id), each falling
/// back to its `cognito:default` link; `None` unless both documents have one.
pub async fn for_sign_up(
    state: &AppState,
    client: &AppClient,
    language: &str,
) -> Result<Option<SignUpLinks>, StoreError> {
    let docs = state.store.list_client_terms(&client.pool_id, &client.id).await?;
    let link =
        |name: TermsName| docs.iter().find(|t| t.name == name).and_then(|t| t.link_for(language)).map(str::to_owned);
    Ok(match (link(TermsName::TermsOfUse), link(TermsName::PrivacyPolicy)) {
        (Some(terms_of_use), Some(privacy_policy)) => Some(SignUpLinks { terms_of_use, privacy_policy }),
        _ => None,
    })
}
