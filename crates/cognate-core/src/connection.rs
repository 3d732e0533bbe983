//! Tenant SSO connections: a tenant's own OIDC or SAML identity provider, kept as an
//! identity provider of the tenant's pool under a name Cognate generates
//! ([`provider_name`]), so two tenants of the shared pool can both call theirs "Okta"
//! without their pool providers colliding.
//!
//! A connection also says which tenant role a federated sign-in gets: the role its
//! `role_mapping` gives the groups the provider asserted in `role_claim` (the highest
//! privilege wins), else `default_role` ([`Connection::role_for`]).

use std::collections::BTreeMap;

use crate::clock::{Rng, random_chars};
use crate::idp::ProviderType;
use crate::ids::PoolId;
use crate::tenant::{Role, TenantId};

/// The prefix of connection ids.
pub const ID_PREFIX: &str = "conn_";

/// Characters of a connection id after its prefix: lowercase base32 (RFC 4648 letters and
/// digits 2–7), valid in both ids and provider names.
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Length of the random part of an id (100 bits).
const ID_RANDOM_LEN: usize = 20;

/// The prefix of the pool provider names of connections.
const PROVIDER_PREFIX: &str = "conn-";

/// Longest display name (characters).
pub const MAX_NAME_CHARS: usize = 128;

/// Longest role claim name (characters).
pub const MAX_ROLE_CLAIM_CHARS: usize = 256;

/// Most entries of a role mapping.
pub const MAX_ROLE_MAPPINGS: usize = 100;

/// Longest group name in a role mapping (characters).
pub const MAX_GROUP_CHARS: usize = 256;

/// A new connection id: `conn_` and 20 lowercase base32 characters.
pub fn generate_id(rng: &dyn Rng) -> String {
    format!("{ID_PREFIX}{}", random_chars(rng, ID_ALPHABET, ID_RANDOM_LEN))
}

/// Whether `id` has the shape of a connection id (anything else names no connection).
pub fn is_id(id: &str) -> bool {
    id.strip_prefix(ID_PREFIX)
        .is_some_and(|rest| rest.len() == ID_RANDOM_LEN && rest.bytes().all(|b| ID_ALPHABET.contains(&b)))
}

/// The pool provider name of connection `id`: `conn-` and its random part (25
/// characters). Unique in the pool as the id is, and without `_`, which separates the
/// provider from the subject in federated usernames (`{provider}_{subject}`).
pub fn provider_name(id: &str) -> String {
    format!("{PROVIDER_PREFIX}{}", id.strip_prefix(ID_PREFIX).unwrap_or(id))
}

/// A tenant's SSO connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub tenant_id: TenantId,
    /// The tenant's pool when the connection was made; its provider lives there.
    pub pool_id: PoolId,
    /// The provider's name in the pool ([`provider_name`]).
    pub provider_name: String,
    /// OIDC or SAML (fixed at creation).
    pub kind: ProviderType,
    /// What the tenant calls it ("Okta"), shown on sign-in pages.
    pub name: String,
    /// A disabled connection admits nobody.
    pub enabled: bool,
    /// The role of a new member when no mapping applies.
    pub default_role: Role,
    /// The OIDC claim or SAML attribute holding the user's groups, if roles are mapped.
    pub role_claim: Option<String>,
    /// Group asserted by the provider → tenant role.
    pub role_mapping: BTreeMap<String, Role>,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// How much a role may do, for "the highest privilege wins".
fn rank(role: Role) -> u8 {
    match role {
        Role::Admin => 2,
        Role::Member => 1,
        Role::ReadOnly => 0,
    }
}

impl Connection {
    /// Whether a sign-in's groups are mapped at all (a claim named and a mapping given):
    /// only then do later sign-ins change an existing member's role.
    pub fn maps_roles(&self) -> bool {
        self.role_claim.is_some() && !self.role_mapping.is_empty()
    }

    /// The role the asserted groups map to (the most privileged of them), if any maps.
    pub fn mapped_role<'a>(&self, groups: impl IntoIterator<Item = &'a str>) -> Option<Role> {
        groups.into_iter().filter_map(|g| self.role_mapping.get(g).copied()).max_by_key(|r| rank(*r))
    }

    /// The role of a new member who asserted `attributes`: the mapped role of the values
    /// of `role_claim`, else `default_role`.
    pub fn role_for(&self, attributes: &BTreeMap<String, Vec<String>>) -> Role {
        self.mapped_role_of(attributes).unwrap_or(self.default_role)
    }

    /// The mapped role of the values of `role_claim` in `attributes`, if any maps.
    pub fn mapped_role_of(&self, attributes: &BTreeMap<String, Vec<String>>) -> Option<Role> {
        let claim = self.role_claim.as_deref()?;
        // Each value is one group: an OIDC array claim arrives one value per element.
        self.mapped_role(attributes.get(claim)?.iter().map(String::as_str))
    }
}

/// Checks a display name: 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn check_name(name: &str) -> Result<(), String> {
    let n = name.trim().chars().count();
    if n == 0 || n > MAX_NAME_CHARS {
        return Err(format!("The name must be 1 to {MAX_NAME_CHARS} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err("The name must not contain control characters.".into());
    }
    Ok(())
}

/// Checks a role claim name and a role mapping.
pub fn check_roles(claim: Option<&str>, mapping: &BTreeMap<String, Role>) -> Result<(), String> {
    if let Some(claim) = claim {
        let n = claim.chars().count();
        if n == 0 || n > MAX_ROLE_CLAIM_CHARS || claim.chars().any(char::is_control) {
            return Err(format!(
                "The roleClaim must be 1 to {MAX_ROLE_CLAIM_CHARS} characters without control characters."
            ));
        }
    }
    if mapping.len() > MAX_ROLE_MAPPINGS {
        return Err(format!("The roleMapping may have at most {MAX_ROLE_MAPPINGS} entries."));
    }
    for group in mapping.keys() {
        let n = group.chars().count();
        if n == 0 || n > MAX_GROUP_CHARS || group.chars().any(char::is_control) {
            return Err(format!(
                "Each roleMapping group must be 1 to {MAX_GROUP_CHARS} characters without control characters."
            ));
        }
    }
    if !mapping.is_empty() && claim.is_none() {
        return Err("A roleMapping needs the roleClaim that carries the groups.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemRng;

    fn conn(mapping: &[(&str, Role)]) -> Connection {
        Connection {
            id: "conn_aaaaaaaaaaaaaaaaaaaa".into(),
            tenant_id: TenantId::parse("acme").unwrap(),
            pool_id: PoolId::parse("local_abc").unwrap(),
            provider_name: provider_name("conn_aaaaaaaaaaaaaaaaaaaa"),
            kind: ProviderType::Oidc,
            name: "Okta".into(),
            enabled: true,
            default_role: Role::Member,
            role_claim: Some("groups".into()),
            role_mapping: mapping.iter().map(|(g, r)| ((*g).to_owned(), *r)).collect(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn attrs(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect())).collect()
    }

    #[test]
    fn ids_and_provider_names_are_valid_and_distinct() {
        let a = generate_id(&SystemRng);
        let b = generate_id(&SystemRng);
        assert_ne!(a, b);
        assert!(is_id(&a), "{a}");
        assert!(!is_id("conn_short") && !is_id("ak_aaaaaaaaaaaaaaaaaaaa") && !is_id("conn_AAAAAAAAAAAAAAAAAAAA"));
        let name = provider_name(&a);
        assert!(crate::idp::check_name(&name).is_ok(), "{name}");
        assert!(!name.contains('_') && name.len() <= 32);
    }

    #[test]
    fn the_highest_mapped_role_wins_else_the_default() {
        let c = conn(&[("eng", Role::ReadOnly), ("ops", Role::Member), ("it-admins", Role::Admin)]);
        assert_eq!(c.role_for(&attrs(&[("groups", &["eng", "it-admins", "ops"])])), Role::Admin);
        assert_eq!(c.role_for(&attrs(&[("groups", &["eng"])])), Role::ReadOnly);
        assert_eq!(c.role_for(&attrs(&[("groups", &["sales"])])), Role::Member);
        assert_eq!(c.role_for(&attrs(&[("other", &["it-admins"])])), Role::Member);
        assert_eq!(c.mapped_role_of(&attrs(&[("groups", &["sales"])])), None);
        let unmapped = Connection { role_claim: None, ..c };
        assert_eq!(unmapped.role_for(&attrs(&[("groups", &["it-admins"])])), Role::Member);
        assert!(!unmapped.maps_roles());
    }

    #[test]
    fn names_and_role_settings_are_checked() {
        assert!(check_name("Okta").is_ok());
        assert!(check_name(" ").is_err() && check_name("a\0b").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        let m: BTreeMap<String, Role> = [("eng".to_owned(), Role::Admin)].into();
        assert!(check_roles(Some("groups"), &m).is_ok());
        assert!(check_roles(None, &m).is_err());
        assert!(check_roles(Some(""), &BTreeMap::new()).is_err());
        let bad: BTreeMap<String, Role> = [(String::new(), Role::Admin)].into();
        assert!(check_roles(Some("groups"), &bad).is_err());
    }
}
