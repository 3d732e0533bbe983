//! External identity providers of a user pool (OIDC, SAML, social) and the external
//! identities linked to existing users. Secret provider details are sealed with the master
//! key before they reach the store and opened only here. A provider an app client lists
//! in SupportedIdentityProviders cannot be deleted; a client can list only providers that
//! exist (or `COGNITO`).

use std::collections::BTreeMap;

use cognate_core::StoreError;
use cognate_core::idp::{
    COGNITO, IdentityProvider, MAX_LINKS_PER_USER, NATIVE_PROVIDER, ProviderLink, ProviderType, SECRET_DETAILS,
    SUBJECT_ATTRIBUTE,
};
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;

use crate::AppState;

/// The master-key label provider secrets are sealed under.
const SECRET_LABEL: &str = "idp-secret";

/// The master-key label of pools' SAML signing keys.
const SIGNING_KEY_LABEL: &str = "saml-signing-key";

/// Why an identity provider operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    #[error("no identity provider {0}")]
    NotFound(String),
    #[error("identity provider {0} exists")]
    Exists(String),
    #[error("identifier {0} belongs to another identity provider")]
    IdentifierTaken(String),
    #[error("{0}")]
    Invalid(String),
    #[error("identity provider {name} is used by app clients {clients:?}")]
    InUse { name: String, clients: Vec<String> },
    #[error("user not found")]
    UserNotFound,
    #[error("this external identity is linked already")]
    Linked,
    #[error("the user has {MAX_LINKS_PER_USER} linked identities already")]
    LinkLimit,
    #[error("{0}")]
    Fault(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a request gives for a new provider.
pub struct NewProvider {
    pub name: String,
    pub kind: ProviderType,
    pub details: BTreeMap<String, String>,
    pub attribute_mapping: BTreeMap<String, String>,
    pub identifiers: Vec<String>,
    pub acr_mapping: BTreeMap<String, String>,
}

/// What an update changes: each member given replaces the stored one.
#[derive(Default)]
pub struct ProviderChange {
    pub details: Option<BTreeMap<String, String>>,
    pub attribute_mapping: Option<BTreeMap<String, String>>,
    pub identifiers: Option<Vec<String>>,
    pub acr_mapping: Option<BTreeMap<String, String>>,
}

fn sealed(state: &AppState, idp: &IdentityProvider) -> IdentityProvider {
    let mut out = idp.clone();
    for key in SECRET_DETAILS {
        if let Some(value) = out.details.get_mut(*key) {
            *value = state.master_key.seal(state.rng.as_ref(), SECRET_LABEL, value.as_bytes());
        }
    }
    out
}

fn opened(state: &AppState, mut idp: IdentityProvider) -> Result<IdentityProvider, IdpError> {
    for key in SECRET_DETAILS {
        if let Some(value) = idp.details.get_mut(*key) {
            let raw = state.master_key.open(SECRET_LABEL, value).map_err(|e| IdpError::Fault(e.to_string()))?;
            *value = String::from_utf8(raw).map_err(|e| IdpError::Fault(e.to_string()))?;
        }
    }
    Ok(idp)
}

fn refused(e: StoreError, idp: &IdentityProvider) -> IdpError {
    match e {
        StoreError::Conflict("identifier") => {
            IdpError::IdentifierTaken(idp.identifiers.first().cloned().unwrap_or_default())
        }
        StoreError::Conflict(_) => IdpError::Exists(idp.name.clone()),
        StoreError::NotFound("provider") => IdpError::NotFound(idp.name.clone()),
        // The pool went away meanwhile.
        StoreError::NotFound(_) => IdpError::NotFound(idp.name.clone()),
        e => e.into(),
    }
}

pub async fn create(state: &AppState, pool: &UserPool, new: NewProvider) -> Result<IdentityProvider, IdpError> {
    let now = state.clock.now_millis();
    let mut idp = IdentityProvider {
        pool_id: pool.id.clone(),
        name: new.name,
        kind: new.kind,
        details: new.details,
        attribute_mapping: new.attribute_mapping,
        identifiers: new.identifiers,
        acr_mapping: new.acr_mapping,
        created: now,
        modified: now,
    };
    idp.normalise().map_err(IdpError::Invalid)?;
    derive_details(state, &mut idp).await;
    check_mapping(pool, &idp)?;
    state.store.create_identity_provider(&sealed(state, &idp)).await.map_err(|e| refused(e, &idp))?;
    tracing::info!(pool = %pool.id, provider = %idp.name, kind = idp.kind.as_str(), "identity provider created");
    Ok(idp)
}

/// Fills the details Cognito describes from the provider's own documents: a SAML
/// MetadataFile's endpoints; an OIDC issuer's discovery (`authorize_url`, `token_url`,
/// `attributes_url`, `jwks_uri`; explicit values win). Best effort: a provider that cannot
/// be reached now is still created (Cognito would refuse it) and is read again at its
/// first sign-in, which then says what is wrong.
async fn derive_details(state: &AppState, idp: &mut IdentityProvider) {
    match idp.kind {
        ProviderType::Saml => super::federation_saml::derive_details(&mut idp.details),
        ProviderType::Oidc => match state.oidc.discover(&idp.details).await {
            Ok(details) => idp.details = details,
            Err(e) => {
                tracing::info!(pool = %idp.pool_id, provider = %idp.name, error = %e, "OIDC discovery at creation failed; read again at first sign-in");
            }
        },
        _ => {}
    }
}

/// Mapped attributes must be the pool's (standard, custom or developer-only), or
/// `username`.
fn check_mapping(pool: &UserPool, idp: &IdentityProvider) -> Result<(), IdpError> {
    let schema = cognate_core::attributes::Schema::new(&pool.settings.schema);
    for attribute in idp.attribute_mapping.keys() {
        if attribute != "username" && schema.get(attribute).is_none() {
            return Err(IdpError::Invalid(format!(
                "The attribute {attribute} in AttributeMapping is not an attribute of user pool {}",
                pool.id
            )));
        }
        if attribute == "sub" {
            return Err(IdpError::Invalid("sub cannot be mapped: it is Cognate's own id of the user".into()));
        }
    }
    Ok(())
}

pub async fn get(state: &AppState, pool: &PoolId, name: &str) -> Result<IdentityProvider, IdpError> {
    let idp = state.store.get_identity_provider(pool, name).await?;
    opened(state, idp.ok_or_else(|| IdpError::NotFound(name.to_owned()))?)
}

/// The provider that has `identifier` among its IdpIdentifiers (any case).
pub async fn by_identifier(state: &AppState, pool: &PoolId, identifier: &str) -> Result<IdentityProvider, IdpError> {
    let idp = state.store.find_identity_provider(pool, identifier).await?;
    opened(state, idp.ok_or_else(|| IdpError::NotFound(identifier.to_owned()))?)
}

/// A page of the pool's providers by name (their secrets stay sealed: a listing shows none).
pub async fn list(state: &AppState, pool: &PoolId, page: &PageRequest) -> Result<Vec<IdentityProvider>, IdpError> {
    Ok(state.store.list_identity_providers(pool, page).await?)
}

pub async fn update(
    state: &AppState,
    pool: &UserPool,
    name: &str,
    change: ProviderChange,
) -> Result<IdentityProvider, IdpError> {
    let mut idp = get(state, &pool.id, name).await?;
    if let Some(details) = change.details {
        idp.details = details;
    }
    if let Some(mapping) = change.attribute_mapping {
        idp.attribute_mapping = mapping;
    }
    if let Some(identifiers) = change.identifiers {
        idp.identifiers = identifiers;
    }
    if let Some(acr) = change.acr_mapping {
        idp.acr_mapping = acr;
    }
    idp.modified = state.clock.now_millis().max(idp.created);
    idp.normalise().map_err(IdpError::Invalid)?;
    derive_details(state, &mut idp).await;
    check_mapping(pool, &idp)?;
    state.store.update_identity_provider(&sealed(state, &idp)).await.map_err(|e| refused(e, &idp))?;
    tracing::info!(pool = %pool.id, provider = %idp.name, "identity provider updated");
    Ok(idp)
}

/// Deletes a provider no app client lists.
pub async fn delete(state: &AppState, pool: &PoolId, name: &str) -> Result<(), IdpError> {
    let users = clients_listing(state, pool, name).await?;
    if !users.is_empty() {
        return Err(IdpError::InUse { name: name.to_owned(), clients: users });
    }
    match state.store.delete_identity_provider(pool, name).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(IdpError::NotFound(name.to_owned())),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool, provider = %name, "identity provider deleted");
    Ok(())
}

/// The names of every provider of `pool`.
pub async fn names(state: &AppState, pool: &PoolId) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    let mut page = PageRequest { after: None, limit: 60 };
    loop {
        let rows = state.store.list_identity_providers(pool, &page).await?;
        let (providers, next) = cognate_core::page::finish(rows, &page, |p| p.name.clone());
        out.extend(providers.into_iter().map(|p| p.name));
        match next {
            Some(after) => page.after = Some(after),
            None => return Ok(out),
        }
    }
}

/// The ids of the pool's app clients whose SupportedIdentityProviders name `name`. The
/// console's client does not count: it lists every provider of its pool and follows
/// their deletion by itself ([`super::console::client_for`]).
async fn clients_listing(state: &AppState, pool: &PoolId, name: &str) -> Result<Vec<String>, IdpError> {
    let console = super::console::client_id(state, pool);
    let mut out = Vec::new();
    let mut page = PageRequest { after: None, limit: 60 };
    loop {
        let rows = state.store.list_clients(pool, &page).await?;
        let (clients, next) = cognate_core::page::finish(rows, &page, |c| c.id.to_string());
        out.extend(
            clients
                .iter()
                .filter(|c| c.id != console && c.settings.supported_identity_providers.iter().any(|p| p == name))
                .map(|c| c.id.to_string()),
        );
        match next {
            Some(after) => page.after = Some(after),
            None => return Ok(out),
        }
    }
}

/// Checks an app client's SupportedIdentityProviders: `COGNITO` or providers of the pool.
pub async fn check_supported(state: &AppState, pool: &PoolId, names: &[String]) -> Result<(), IdpError> {
    for name in names {
        if name != COGNITO && state.store.get_identity_provider(pool, name).await?.is_none() {
            return Err(IdpError::Invalid(format!("The provider {name} does not exist for User Pool {pool}")));
        }
    }
    Ok(())
}

/// A user as AdminLinkProviderForUser and AdminDisableProviderForUser name one.
#[derive(Debug, Clone)]
pub struct ProviderUser {
    pub provider: String,
    pub attribute: Option<String>,
    pub value: String,
}

/// Links the external identity `source` to the existing user `destination`: a later
/// sign-in through `source`'s provider with that attribute value signs in as them.
pub async fn link(
    state: &AppState,
    pool: &UserPool,
    destination: &ProviderUser,
    source: &ProviderUser,
) -> Result<ProviderLink, IdpError> {
    if source.provider == NATIVE_PROVIDER || source.provider == COGNITO {
        return Err(IdpError::Invalid("The SourceUser must be a user of an external identity provider".into()));
    }
    let provider = get(state, &pool.id, &source.provider).await?;
    let attribute = source.attribute.clone().unwrap_or_default();
    if attribute.is_empty() {
        return Err(IdpError::Invalid("SourceUser.ProviderAttributeName is required".into()));
    }
    if provider.kind.is_social() && attribute != SUBJECT_ATTRIBUTE {
        return Err(IdpError::Invalid(format!(
            "ProviderAttributeName must be {SUBJECT_ATTRIBUTE} for {} users",
            provider.kind.as_str()
        )));
    }
    if attribute != SUBJECT_ATTRIBUTE && !provider.attribute_mapping.contains_key(&attribute) {
        return Err(IdpError::Invalid(format!(
            "{attribute} is not mapped from identity provider {}: map it, or link by {SUBJECT_ATTRIBUTE}",
            provider.name
        )));
    }
    if source.value.is_empty() || destination.value.is_empty() {
        return Err(IdpError::Invalid("ProviderAttributeValue is required".into()));
    }
    // A federated user already signed up through the source is a separate account:
    // Cognito does not merge accounts.
    let federated_name = format!("{}_{}", provider.name, source.value);
    if crate::services::users::find(state, pool, &federated_name).await?.is_some() {
        return Err(IdpError::Invalid(
            "Merging is not currently supported, provide a SourceUser that has not been signed up in the user pool."
                .into(),
        ));
    }
    let target_name = if destination.provider == NATIVE_PROVIDER {
        destination.value.clone()
    } else {
        get(state, &pool.id, &destination.provider).await?;
        format!("{}_{}", destination.provider, destination.value)
    };
    let user = crate::services::users::find(state, pool, &target_name).await?.ok_or(IdpError::UserNotFound)?;
    let link = ProviderLink {
        pool_id: pool.id.clone(),
        provider: provider.name.clone(),
        provider_type: provider.kind.as_str().to_owned(),
        attribute,
        value: source.value.clone(),
        user_sub: user.sub.clone(),
        created: state.clock.now_millis() / 1000,
    };
    match state.store.link_provider(&link, MAX_LINKS_PER_USER).await {
        Ok(()) => {}
        Err(StoreError::Conflict("link limit")) => return Err(IdpError::LinkLimit),
        Err(StoreError::Conflict(_)) => return Err(IdpError::Linked),
        Err(StoreError::NotFound("user")) => return Err(IdpError::UserNotFound),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool.id, provider = %link.provider, user = %user.sub, "external identity linked");
    Ok(link)
}

/// Removes the link of an external identity (AdminDisableProviderForUser): its next
/// sign-in no longer reaches the user it was linked to. Disabling the pool's own sign-in
/// of a user (`ProviderName` `Cognito`) is AdminDisableUser's job in Cognate.
pub async fn unlink(state: &AppState, pool: &UserPool, user: &ProviderUser) -> Result<(), IdpError> {
    if user.provider == NATIVE_PROVIDER || user.provider == COGNITO {
        return Err(IdpError::Invalid(
            "To stop a user of the pool signing in, use AdminDisableUser; AdminDisableProviderForUser removes \
             links of external identities"
                .into(),
        ));
    }
    let provider = get(state, &pool.id, &user.provider).await?;
    let attribute = user.attribute.clone().unwrap_or_else(|| SUBJECT_ATTRIBUTE.to_owned());
    let sub = state.store.unlink_provider(&pool.id, &provider.name, &attribute, &user.value).await?;
    match sub {
        Some(sub) => {
            tracing::info!(pool = %pool.id, provider = %provider.name, user = %sub, "external identity unlinked");
            Ok(())
        }
        None => Err(IdpError::UserNotFound),
    }
}

/// The pool's SAML signing certificate (base64 DER, as GetSigningCertificate returns it),
/// made with its key at first use: one per pool, whichever node asks first.
pub async fn signing_certificate(state: &AppState, pool: &PoolId) -> Result<String, IdpError> {
    if let Some((certificate, _)) = state.store.signing_certificate(pool).await? {
        return Ok(certificate);
    }
    let now = state.clock.now_millis();
    let for_pool = pool.clone();
    // RSA key generation takes tens of milliseconds: off the request threads.
    let (der, key) = tokio::task::spawn_blocking(move || cognate_core::idp::signing_certificate(&for_pool, now / 1000))
        .await
        .map_err(|e| IdpError::Fault(e.to_string()))?
        .map_err(IdpError::Fault)?;
    use base64::Engine as _;
    let certificate = base64::engine::general_purpose::STANDARD.encode(der);
    let sealed = state.master_key.seal(state.rng.as_ref(), SIGNING_KEY_LABEL, &key);
    match state.store.add_signing_certificate(pool, &certificate, &sealed, now).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(IdpError::NotFound(pool.to_string())),
        Err(e) => return Err(e.into()),
    }
    let (stored, _) =
        state.store.signing_certificate(pool).await?.ok_or_else(|| IdpError::NotFound(pool.to_string()))?;
    if stored == certificate {
        tracing::info!(pool = %pool, "SAML signing certificate made");
    }
    Ok(stored)
}

/// Opens a pool's sealed SAML signing key (PKCS#8 DER).
pub fn open_signing_key(state: &AppState, sealed: &str) -> Result<Vec<u8>, IdpError> {
    state.master_key.open(SIGNING_KEY_LABEL, sealed).map_err(|e| IdpError::Fault(e.to_string()))
}
