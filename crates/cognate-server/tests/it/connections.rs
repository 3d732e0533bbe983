//! SSO connections' JIT admission (services::connections::admit), called directly on both
//! backends: the role a new member gets from the mapping (highest privilege wins, else the
//! default), later sign-ins moving the role only when the mapping yields one and never
//! demoting the last admin, refusals for a disabled connection or a suspended tenant, and
//! the admissions in the tenant's audit chain.

use std::collections::BTreeMap;

use cognate_core::audit::AuditQuery;
use cognate_core::idp::ExternalIdentity;
use cognate_core::ids::generate_sub;
use cognate_core::tenant::{DomainName, Role, Tenant, Tier};
use cognate_core::user::{User, UserStatus};
use cognate_server::services::connections::{
    self, ConnectionChange, ConnectionError, NewConnection, ProviderSettings, SamlSettings,
};
use cognate_server::services::{domains, members, pools, tenants};
use cognate_server::tenancy;

use super::support::{TestApp, on_both};

/// 2026-12-01T00:00:00Z.
const START: i64 = 1_796_083_200_000;

const METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.test"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;

/// A federated user of the tenant's pool, not a member of anything yet.
async fn federated_user(t: &TestApp, tenant: &Tenant, name: &str) -> User {
    let now = START;
    let sub = generate_sub(t.state.rng.as_ref());
    let mut user = User {
        pool_id: tenant.pool_id.clone(),
        username: format!("conn-x_{name}"),
        sub,
        status: UserStatus::ExternalProvider,
        enabled: true,
        password_hash: None,
        temp_password_expires_at: None,
        attributes: [("email".to_owned(), format!("{name}@acme.example"))].into(),
        created_at: now,
        updated_at: now,
        srp_verifier: None,
        tokens_valid_after: 0,
    };
    let pool = pools::get(&t.state, &tenant.pool_id).await.unwrap();
    let keys = user.keys(&pool.settings);
    tenancy::create_user(&t.state, &mut user, &keys, None).await.unwrap();
    user
}

fn asserted(groups: &[&str]) -> ExternalIdentity {
    let mut attributes = BTreeMap::new();
    attributes.insert("groups".to_owned(), groups.iter().map(|g| (*g).to_owned()).collect());
    ExternalIdentity {
        subject: generate_sub(&cognate_core::SystemRng),
        attributes,
        session_index: None,
        name_id_format: None,
    }
}

async fn role_of(t: &TestApp, tenant: &Tenant, user: &User) -> Role {
    members::get_member(&t.state, &tenant.id, &user.sub).await.unwrap().role
}

#[tokio::test]
async fn admission_maps_roles_keeps_the_last_admin_and_refuses_when_off() {
    on_both(START, |t, _clock| async move {
        let state = &t.state;
        let new = tenants::NewTenant { id: Some("acme"), name: "Acme", tier: Tier::Standard, domains: Vec::new() };
        let tenant = tenants::create(state, new).await.unwrap();
        let domain = DomainName::parse("acme.example").unwrap();
        domains::claim(state, &tenant.id, domain.clone(), false).await.unwrap();
        domains::attest(state, &tenant.id, &domain, "it").await.unwrap();
        let made = connections::create(
            state,
            &tenant.id,
            NewConnection {
                name: "ADFS".into(),
                domains: vec![domain.clone()],
                provider: ProviderSettings::Saml(SamlSettings {
                    metadata_xml: Some(METADATA.into()),
                    ..SamlSettings::default()
                }),
                attribute_mapping: BTreeMap::new(),
                enabled: true,
                default_role: Role::ReadOnly,
                role_claim: Some("groups".into()),
                role_mapping: [
                    ("it-admins".to_owned(), Role::Admin),
                    ("staff".to_owned(), Role::Member),
                    ("auditors".to_owned(), Role::ReadOnly),
                ]
                .into(),
            },
        )
        .await
        .unwrap();
        let conn = connections::for_provider(state, &tenant.pool_id, &made.connection.provider_name)
            .await
            .unwrap()
            .expect("the connection behind its provider");
        assert_eq!(conn, made.connection);
        assert!(connections::for_provider(state, &tenant.pool_id, "conn-nothing").await.unwrap().is_none());

        // New members: the most privileged mapped role, else the default.
        let ann = federated_user(&t, &tenant, "ann").await;
        let entered = connections::admit(state, &conn, &ann, &asserted(&["auditors", "it-admins"])).await.unwrap();
        assert_eq!(entered, tenant.id);
        assert_eq!(role_of(&t, &tenant, &ann).await, Role::Admin);
        let bob = federated_user(&t, &tenant, "bob").await;
        connections::admit(state, &conn, &bob, &asserted(&["sales"])).await.unwrap();
        assert_eq!(role_of(&t, &tenant, &bob).await, Role::ReadOnly);

        // Later sign-ins: a mapped role replaces the member's; no mapped group keeps it.
        connections::admit(state, &conn, &bob, &asserted(&["staff"])).await.unwrap();
        assert_eq!(role_of(&t, &tenant, &bob).await, Role::Member);
        connections::admit(state, &conn, &bob, &asserted(&[])).await.unwrap();
        assert_eq!(role_of(&t, &tenant, &bob).await, Role::Member);

        // Ann is the only admin: a mapping that would demote her signs her in as admin.
        connections::admit(state, &conn, &ann, &asserted(&["staff"])).await.unwrap();
        assert_eq!(role_of(&t, &tenant, &ann).await, Role::Admin);
        // With another admin, the mapping applies.
        connections::admit(state, &conn, &bob, &asserted(&["it-admins"])).await.unwrap();
        connections::admit(state, &conn, &ann, &asserted(&["staff"])).await.unwrap();
        assert_eq!(role_of(&t, &tenant, &ann).await, Role::Member);

        // Without a role claim, a member's role is theirs to keep.
        let unmapped =
            ConnectionChange { role_claim: Some(None), role_mapping: Some(BTreeMap::new()), ..Default::default() };
        let changed = connections::update(state, &tenant.id, &conn.id, unmapped).await.unwrap().connection;
        connections::admit(state, &changed, &bob, &asserted(&["auditors"])).await.unwrap();
        assert_eq!(role_of(&t, &tenant, &bob).await, Role::Admin);

        // A disabled connection and a suspended tenant admit nobody (even with a stale row).
        let off = ConnectionChange { enabled: Some(false), ..Default::default() };
        connections::update(state, &tenant.id, &conn.id, off).await.unwrap();
        let carol = federated_user(&t, &tenant, "carol").await;
        let refused = connections::admit(state, &changed, &carol, &asserted(&[])).await;
        assert!(matches!(refused, Err(ConnectionError::Disabled)), "{refused:?}");
        let on = ConnectionChange { enabled: Some(true), ..Default::default() };
        connections::update(state, &tenant.id, &conn.id, on).await.unwrap();
        tenants::suspend(state, &tenant.id).await.unwrap();
        let refused = connections::admit(state, &changed, &carol, &asserted(&[])).await;
        assert!(matches!(refused, Err(ConnectionError::TenantSuspended)), "{refused:?}");
        assert!(members::get_member(state, &tenant.id, &carol.sub).await.is_err());

        // Each admission is in the tenant's chain, refusals too.
        let q = AuditQuery { limit: 100, ..AuditQuery::default() };
        let events = cognate_server::audit::events(state, tenant.id.as_str(), &q).await.unwrap();
        let count = |action: &str, outcome: &str| {
            events.iter().filter(|e| e.event.action == action && e.event.outcome == outcome).count()
        };
        assert_eq!(count("sso.join", "success"), 2, "{events:?}");
        assert_eq!(count("sso.role_change", "success"), 3, "{events:?}");
        assert_eq!(count("sso.sign_in", "failure"), 2, "{events:?}");
        assert!(events.iter().all(|e| e.event.reason.as_deref().is_none_or(|r| !r.contains("it-admins"))));
    })
    .await;
}
