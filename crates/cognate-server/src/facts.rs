//! What the call being served did, noted by the code that did it, for the audit trail.
//!
//! Each surface serves a call inside [`collect`]. The code that acts notes what the trail
//! needs at the moment it learns it: the pool and the user a call concerns (when it finds,
//! creates or signs in the user), the tenant of the session it acted in (when it opens a
//! session, checks a token family or issues tokens), the caller that proved who it is
//! (when its credentials are verified), and the ids it created. The surface's recorder
//! turns the sheet into one event. Nothing is re-derived afterwards: no token is decoded
//! and no response body is read for the record, and a refused credential notes nothing.
//!
//! Noting outside [`collect`] (a test calling a service, a background task) does nothing.

use std::future::Future;
use std::sync::{Arc, Mutex};

use cognate_core::ids::PoolId;
use cognate_core::token::TokenFamily;
use cognate_core::user::User;

use crate::audit::Actor;
use crate::tenancy::TENANT_ID_ATTR;

/// The facts of one call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The pool the call concerned.
    pub pool: Option<String>,
    /// The user the call concerned (their sub).
    pub user: Option<String>,
    /// That user's home tenant, when they have one.
    pub home_tenant: Option<String>,
    /// Whether `home_tenant` was read from the user's record (not just unknown).
    pub home_known: bool,
    /// The tenant the call acted in, once decided: `Some(None)` is a decision too (tokens
    /// issued for no tenant).
    pub tenant: Option<Option<String>>,
    /// The caller whose credentials were verified.
    pub actor: Option<Actor>,
    /// What the call created or acted on, when the request does not name it.
    pub target: Option<String>,
}

tokio::task_local! {
    static SHEET: Arc<Mutex<Facts>>;
}

/// Runs `call` with a fresh sheet and returns its output with the facts noted.
pub async fn collect<F: Future>(call: F) -> (F::Output, Facts) {
    let sheet = Arc::new(Mutex::new(Facts::default()));
    let out = SHEET.scope(sheet.clone(), call).await;
    let facts = sheet.lock().map(|f| f.clone()).unwrap_or_default();
    (out, facts)
}

fn note(f: impl FnOnce(&mut Facts)) {
    let _ = SHEET.try_with(|sheet| {
        if let Ok(mut facts) = sheet.lock() {
            f(&mut facts);
        }
    });
}

/// The call concerns this pool.
pub fn pool(id: &PoolId) {
    note(|f| f.pool = Some(id.to_string()));
}

/// The call concerns this user (found by name, created, or signed in).
pub fn user(u: &User) {
    note(|f| {
        f.pool = Some(u.pool_id.to_string());
        f.user = Some(u.sub.clone());
        f.home_tenant = u.attributes.get(TENANT_ID_ATTR).cloned();
        f.home_known = true;
    });
}

/// The call concerns the user `sub` of `pool` (known from a sealed session or a verified
/// token before the user is loaded).
pub fn user_id(pool: &str, sub: &str) {
    note(|f| {
        if f.user.as_deref() != Some(sub) {
            f.home_tenant = None;
            f.home_known = false;
        }
        f.pool = Some(pool.to_owned());
        f.user = Some(sub.to_owned());
    });
}

/// The call acted in this tenant (or, with `None`, decidedly in none).
pub fn tenant(id: Option<&str>) {
    note(|f| f.tenant = Some(id.map(str::to_owned)));
}

/// The call used this token family: its user, pool and tenant.
pub fn family(family: &TokenFamily) {
    user_id(family.pool_id.as_str(), &family.sub);
    tenant(family.tenant_id.as_ref().map(|t| t.as_str()));
}

/// The caller proved to be `actor`.
pub fn actor(actor: Actor) {
    note(|f| f.actor = Some(actor));
}

/// The call created or acted on `target`.
pub fn target(target: &str) {
    note(|f| f.target = Some(target.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn facts_are_collected_per_call_and_ignored_outside_one() {
        target("nowhere");
        let ((), facts) = collect(async {
            tenant(Some("acme"));
            target("t1");
            actor(Actor::Admin("AKID".into()));
        })
        .await;
        assert_eq!(facts.tenant, Some(Some("acme".into())));
        assert_eq!(facts.target.as_deref(), Some("t1"));
        assert_eq!(facts.actor, Some(Actor::Admin("AKID".into())));
        let ((), empty) = collect(async {}).await;
        assert_eq!(empty, Facts::default());
    }
}
