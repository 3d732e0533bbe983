use cognate_core::StoreError;
use cognate_core::SystemRng;
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;
use cognate_core::repo::{MovedUser, Store, TenantMove};
use cognate_core::tenant::{
    DomainName, EmailDomain, Invitation, Membership, MembershipStatus, MfaRequirement, Role, Tenant, TenantId,
    TenantStatus, Tier,
};
use cognate_core::token::{RevocationKind, TokenFamily};
use cognate_core::user::{FilterField, FilterOp, User, UserFilter, UserKeys};
use sqlx::Connection as _;
use sqlx::Executor as _;

use crate::harness::{PgDb, on_both};
use crate::pools::pool;
use crate::tokens::family;
use crate::users::user;

pub fn tid(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

pub fn tenant(id: &str, p: &UserPool) -> Tenant {
    Tenant {
        id: tid(id),
        name: format!("{id} Inc."),
        tier: Tier::Standard,
        status: TenantStatus::Active,
        pool_id: p.id.clone(),
        mfa: MfaRequirement::Off,
        created_at: 1,
        updated_at: 1,
        version: 1,
    }
}

fn domain(tenant: &str, name: &str) -> EmailDomain {
    EmailDomain {
        tenant_id: tid(tenant),
        domain: DomainName::parse(name).unwrap(),
        verified: false,
        auto_join: false,
        verification_token_hash: Some("challenge-hash".into()),
        created_at: 5,
    }
}

fn member(tenant: &str, p: &UserPool, sub: &str, role: Role) -> Membership {
    Membership {
        tenant_id: tid(tenant),
        pool_id: p.id.clone(),
        sub: sub.into(),
        role,
        status: MembershipStatus::Active,
        created_at: 7,
        last_used_at: None,
    }
}

pub fn page(after: Option<&str>, limit: u32) -> PageRequest {
    PageRequest { after: after.map(str::to_owned), limit }
}

/// A pool with the tenants `ids` placed in it.
pub async fn setup(store: &dyn Store, ids: &[&str]) -> UserPool {
    let p = pool("shared");
    store.create_pool(&p).await.unwrap();
    for id in ids {
        store.create_tenant(&tenant(id, &p)).await.unwrap();
    }
    p
}

/// A user of `p`, stored; returns its sub.
async fn new_user(store: &dyn Store, p: &UserPool, name: &str) -> String {
    let u = user(p, name, &[]);
    store.create_user(&u, &u.keys(&p.settings)).await.unwrap();
    u.sub
}

#[tokio::test]
async fn tenants_and_pools_are_counted() {
    on_both(|store| async move {
        assert!(store.count_tenants().await.unwrap().is_empty());
        let pools_before = store.count_pools().await.unwrap();
        let p = setup(&*store, &["acme", "globex", "initech"]).await;
        assert_eq!(store.count_pools().await.unwrap(), pools_before + 1);
        let mut globex = store.get_tenant(&tid("globex")).await.unwrap().unwrap();
        globex.status = TenantStatus::Suspended;
        globex.updated_at = 2;
        update_tenant(&*store, &globex).await.unwrap();
        let mut initech = tenant("initech-2", &p);
        initech.tier = Tier::Basic;
        store.create_tenant(&initech).await.unwrap();
        let counts: Vec<_> =
            store.count_tenants().await.unwrap().into_iter().map(|c| (c.tier, c.status, c.count)).collect();
        assert_eq!(counts.len(), 3, "{counts:?}");
        assert!(counts.contains(&(Tier::Standard, TenantStatus::Active, 2)), "{counts:?}");
        assert!(counts.contains(&(Tier::Standard, TenantStatus::Suspended, 1)), "{counts:?}");
        assert!(counts.contains(&(Tier::Basic, TenantStatus::Active, 1)), "{counts:?}");
    })
    .await;
}

#[tokio::test]
async fn tenants_round_trip_page_update_with_version_and_delete() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme", "globex", "initech"]).await;
        let acme = store.get_tenant(&tid("acme")).await.unwrap().unwrap();
        assert_eq!(acme, tenant("acme", &p));
        assert!(store.get_tenant(&tid("nobody")).await.unwrap().is_none());
        assert!(matches!(store.create_tenant(&acme).await, Err(StoreError::Conflict("tenant"))));

        let first = store.list_tenants(&page(None, 2)).await.unwrap();
        let ids: Vec<_> = first.iter().map(|t| t.id.as_str()).collect();
        // limit + 1 rows: the store over-fetches one to show that another page follows.
        assert_eq!(ids, ["acme", "globex", "initech"]);
        let rest = store.list_tenants(&page(Some("globex"), 2)).await.unwrap();
        assert_eq!(rest.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["initech"]);

        let mut changed = acme.clone();
        changed.name = "Acme Corp".into();
        changed.tier = Tier::Platinum;
        changed.status = TenantStatus::Suspended;
        changed.mfa = MfaRequirement::Admins;
        changed.updated_at = 9;
        update_tenant(&*store, &changed).await.unwrap();
        let stored = store.get_tenant(&acme.id).await.unwrap().unwrap();
        assert_eq!(stored, Tenant { version: 2, ..changed.clone() });
        // `changed` still carries version 1: someone else's update won.
        assert!(matches!(update_tenant(&*store, &changed).await, Err(StoreError::Conflict("version"))));
        let ghost = tenant("ghost", &p);
        assert!(matches!(update_tenant(&*store, &ghost).await, Err(StoreError::NotFound("tenant"))));

        store.delete_tenant(&acme.id).await.unwrap();
        assert!(store.get_tenant(&acme.id).await.unwrap().is_none());
        assert!(matches!(store.delete_tenant(&acme.id).await, Err(StoreError::NotFound("tenant"))));
    })
    .await;
}

#[tokio::test]
async fn a_domain_belongs_to_one_tenant() {
    on_both(|store| async move {
        setup(&*store, &["acme", "globex"]).await;
        store.add_domain(&domain("acme", "acme.com")).await.unwrap();
        store.add_domain(&domain("acme", "acme.io")).await.unwrap();
        store.add_domain(&domain("globex", "globex.com")).await.unwrap();
        // Taken by another tenant, or by the same one: either way a conflict.
        assert!(matches!(store.add_domain(&domain("globex", "acme.com")).await, Err(StoreError::Conflict("domain"))));
        assert!(matches!(store.add_domain(&domain("acme", "acme.com")).await, Err(StoreError::Conflict("domain"))));
        assert!(matches!(store.add_domain(&domain("nobody", "x.com")).await, Err(StoreError::NotFound("tenant"))));

        let acme: Vec<_> = store.list_domains(&tid("acme")).await.unwrap().into_iter().map(|d| d.domain).collect();
        assert_eq!(acme, [DomainName::parse("acme.com").unwrap(), DomainName::parse("acme.io").unwrap()]);
        let found = store.get_domain(&DomainName::parse("ACME.com").unwrap()).await.unwrap().unwrap();
        assert_eq!(found, domain("acme", "acme.com"));
        assert!(store.get_domain(&DomainName::parse("else.com").unwrap()).await.unwrap().is_none());

        let d = DomainName::parse("acme.com").unwrap();
        // Globex cannot touch Acme's domain.
        assert!(matches!(
            store.set_domain_verified(&tid("globex"), &d, true).await,
            Err(StoreError::NotFound("domain"))
        ));
        assert!(matches!(store.remove_domain(&tid("globex"), &d).await, Err(StoreError::NotFound("domain"))));
        store.set_domain_verified(&tid("acme"), &d, true).await.unwrap();
        store.set_domain_auto_join(&tid("acme"), &d, true).await.unwrap();
        let found = store.get_domain(&d).await.unwrap().unwrap();
        assert!(found.verified && found.auto_join);
        assert_eq!(found.verification_token_hash, None);

        store.remove_domain(&tid("acme"), &d).await.unwrap();
        assert!(store.get_domain(&d).await.unwrap().is_none());
        // Freed, the domain can be claimed by another tenant.
        store.add_domain(&domain("globex", "acme.com")).await.unwrap();
        // Deleting a tenant frees its domains.
        store.delete_tenant(&tid("globex")).await.unwrap();
        assert!(store.get_domain(&d).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn memberships_list_per_tenant_and_per_user() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme", "globex", "initech"]).await;
        let consultant = new_user(&*store, &p, "consultant").await;
        let ann = new_user(&*store, &p, "ann").await;
        let bob = new_user(&*store, &p, "bob").await;

        store.upsert_membership(&member("acme", &p, &consultant, Role::Member)).await.unwrap();
        store.upsert_membership(&member("initech", &p, &consultant, Role::Admin)).await.unwrap();
        store.upsert_membership(&member("acme", &p, &ann, Role::Admin)).await.unwrap();
        store.upsert_membership(&member("acme", &p, &bob, Role::ReadOnly)).await.unwrap();
        store.upsert_membership(&member("globex", &p, &bob, Role::Member)).await.unwrap();
        assert!(matches!(
            store.upsert_membership(&member("nobody", &p, &ann, Role::Member)).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.upsert_membership(&member("acme", &p, "no-such-sub", Role::Member)).await,
            Err(StoreError::NotFound(_))
        ));

        let tenants =
            |ms: Vec<Membership>| ms.into_iter().map(|m| (m.tenant_id.to_string(), m.role)).collect::<Vec<_>>();
        assert_eq!(
            tenants(store.list_memberships_for_user(&p.id, &consultant).await.unwrap()),
            [("acme".to_owned(), Role::Member), ("initech".to_owned(), Role::Admin)]
        );

        let mut acme_subs = vec![consultant.clone(), ann.clone(), bob.clone()];
        acme_subs.sort();
        let first = store.list_memberships(&tid("acme"), &page(None, 2)).await.unwrap();
        // limit + 1 rows: the store over-fetches one to show that another page follows.
        assert_eq!(first.iter().map(|m| m.sub.clone()).collect::<Vec<_>>(), acme_subs);
        let rest = store.list_memberships(&tid("acme"), &page(Some(&acme_subs[1]), 2)).await.unwrap();
        assert_eq!(rest.iter().map(|m| m.sub.clone()).collect::<Vec<_>>(), [acme_subs[2].clone()]);
        assert!(store.list_memberships(&tid("globex"), &page(None, 10)).await.unwrap().iter().all(|m| m.sub == bob));

        store.set_membership_role(&tid("acme"), &consultant, Role::Admin).await.unwrap();
        store.touch_membership(&tid("acme"), &consultant, 42).await.unwrap();
        let m = store.get_membership(&tid("acme"), &consultant).await.unwrap().unwrap();
        assert_eq!((m.role, m.last_used_at, m.created_at), (Role::Admin, Some(42), 7));
        // A tenant cannot reach another tenant's member.
        assert!(store.get_membership(&tid("globex"), &consultant).await.unwrap().is_none());
        for res in [
            store.set_membership_role(&tid("globex"), &consultant, Role::Admin).await,
            store.remove_membership(&tid("globex"), &consultant).await,
            store.touch_membership(&tid("globex"), &consultant, 1).await,
        ] {
            assert!(matches!(res, Err(StoreError::NotFound("membership"))), "{res:?}");
        }

        // Removal keeps the row but drops the tenant from the user's active memberships.
        store.remove_membership(&tid("acme"), &consultant).await.unwrap();
        let m = store.get_membership(&tid("acme"), &consultant).await.unwrap().unwrap();
        assert_eq!(m.status, MembershipStatus::Removed);
        assert_eq!(
            tenants(store.list_memberships_for_user(&p.id, &consultant).await.unwrap()),
            [("initech".to_owned(), Role::Admin)]
        );
        // Re-adding reactivates with the new role and keeps the history.
        store.upsert_membership(&member("acme", &p, &consultant, Role::ReadOnly)).await.unwrap();
        let m = store.get_membership(&tid("acme"), &consultant).await.unwrap().unwrap();
        assert_eq!((m.status, m.role, m.last_used_at), (MembershipStatus::Active, Role::ReadOnly, Some(42)));

        // Deleting the user or the tenant removes memberships.
        store.delete_user(&p.id, &bob, 1).await.unwrap();
        assert!(store.list_memberships(&tid("globex"), &page(None, 10)).await.unwrap().is_empty());
        store.delete_tenant(&tid("initech")).await.unwrap();
        assert_eq!(
            tenants(store.list_memberships_for_user(&p.id, &consultant).await.unwrap()),
            [("acme".to_owned(), Role::ReadOnly)]
        );
    })
    .await;
}

#[tokio::test]
async fn invitations_are_accepted_once_and_not_after_expiry_or_revocation() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme", "globex"]).await;
        let sub = new_user(&*store, &p, "invitee").await;
        let acme = tid("acme");
        let invite =
            |email: &str, now: i64| Invitation::new(acme.clone(), email, Role::Member, "admin", now, &SystemRng);

        let (inv, _token) = invite("Bob@Acme.com", 1_000);
        store.create_invitation(&inv).await.unwrap();
        assert_eq!(store.get_invitation(&acme, &inv.id).await.unwrap().as_ref(), Some(&inv));
        assert_eq!(store.get_invitation_by_token_hash(&inv.token_hash).await.unwrap().as_ref(), Some(&inv));
        assert!(store.get_invitation_by_token_hash("nope").await.unwrap().is_none());
        assert!(store.get_invitation(&tid("globex"), &inv.id).await.unwrap().is_none());
        let (mut orphan, _) = invite("x@acme.com", 1);
        orphan.tenant_id = tid("nobody");
        assert!(matches!(store.create_invitation(&orphan).await, Err(StoreError::NotFound("tenant"))));

        // Another tenant cannot accept or revoke it.
        assert!(!store.accept_invitation(&tid("globex"), &inv.id, &sub, 2_000).await.unwrap());
        assert!(matches!(
            store.revoke_invitation(&tid("globex"), &inv.id, 2_000).await,
            Err(StoreError::NotFound("invitation"))
        ));
        assert!(store.accept_invitation(&acme, &inv.id, &sub, 2_000).await.unwrap());
        assert!(!store.accept_invitation(&acme, &inv.id, &sub, 2_001).await.unwrap());
        let stored = store.get_invitation(&acme, &inv.id).await.unwrap().unwrap();
        assert_eq!((stored.accepted_at, stored.accepted_sub.as_deref()), (Some(2_000), Some(sub.as_str())));
        assert!(!store.revoke_invitation(&acme, &inv.id, 2_002).await.unwrap());

        let (expiring, _) = invite("carol@acme.com", 1_000);
        store.create_invitation(&expiring).await.unwrap();
        assert!(!store.accept_invitation(&acme, &expiring.id, &sub, expiring.expires_at).await.unwrap());
        assert!(store.accept_invitation(&acme, &expiring.id, &sub, expiring.expires_at - 1).await.unwrap());

        let (revoked, _) = invite("dan@acme.com", 1_000);
        store.create_invitation(&revoked).await.unwrap();
        assert!(store.revoke_invitation(&acme, &revoked.id, 1_500).await.unwrap());
        assert!(!store.revoke_invitation(&acme, &revoked.id, 1_600).await.unwrap());
        assert!(!store.accept_invitation(&acme, &revoked.id, &sub, 1_700).await.unwrap());
        assert_eq!(store.get_invitation(&acme, &revoked.id).await.unwrap().unwrap().revoked_at, Some(1_500));
        assert!(matches!(store.revoke_invitation(&acme, "missing", 1).await, Err(StoreError::NotFound("invitation"))));

        let mut ids = vec![inv.id.clone(), expiring.id.clone(), revoked.id.clone()];
        ids.sort();
        let listed = store.list_invitations(&acme, &page(None, 10)).await.unwrap();
        assert_eq!(listed.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), ids);
        let after_first = store.list_invitations(&acme, &page(Some(&ids[0]), 10)).await.unwrap();
        assert_eq!(after_first.len(), 2);
        assert!(store.list_invitations(&tid("globex"), &page(None, 10)).await.unwrap().is_empty());
    })
    .await;
}

/// The `tenant_id`s that `sql` returns in a transaction with `scope` (a setting and its
/// value) set, or none.
pub async fn tenants_seen(conn: &mut sqlx::PgConnection, sql: &str, scope: Option<(&str, &str)>) -> Vec<String> {
    let mut tx = conn.begin().await.unwrap();
    if let Some((setting, value)) = scope {
        sqlx::query("SELECT set_config($1, $2, true)").bind(setting).bind(value).execute(&mut *tx).await.unwrap();
    }
    let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    rows
}

/// Row-level security on its own, below the store: a raw connection acting as the service
/// role sees and writes only the tenant its transaction names.
#[tokio::test]
async fn postgres_policies_confine_the_service_role_to_its_tenant() {
    let db = PgDb::create().await;
    {
        let store = cognate_store::connect(&db.url, &cognate_store::PgOptions::default()).await.unwrap();
        let p = setup(&*store, &["acme", "globex"]).await;
        for (t, name) in [("acme", "a1"), ("acme", "a2"), ("globex", "g1")] {
            let sub = new_user(&*store, &p, name).await;
            store.upsert_membership(&member(t, &p, &sub, Role::Member)).await.unwrap();
        }
        store.add_domain(&domain("globex", "globex.com")).await.unwrap();

        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        conn.execute("SET ROLE cognate_service").await.unwrap();
        let role: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&mut conn).await.unwrap();
        assert_eq!(role, "cognate_service");

        let q = "SELECT tenant_id FROM memberships ORDER BY tenant_id";
        assert_eq!(tenants_seen(&mut conn, q, Some(("app.tenant_id", "acme"))).await, ["acme", "acme"]);
        assert_eq!(tenants_seen(&mut conn, q, Some(("app.tenant_id", "globex"))).await, ["globex"]);
        assert!(tenants_seen(&mut conn, q, None).await.is_empty());
        assert!(tenants_seen(&mut conn, q, Some(("app.tenant_id", ""))).await.is_empty());
        // No wildcard tenant.
        assert!(tenants_seen(&mut conn, q, Some(("app.tenant_id", "*"))).await.is_empty());
        assert!(
            tenants_seen(&mut conn, "SELECT tenant_id FROM tenant_domains", Some(("app.tenant_id", "acme")))
                .await
                .is_empty()
        );
        // The platform scope reads across tenants.
        assert_eq!(tenants_seen(&mut conn, q, Some(("app.platform", "on"))).await, ["acme", "acme", "globex"]);
        assert!(tenants_seen(&mut conn, q, Some(("app.platform", "yes"))).await.is_empty());

        // Writes: acme's scope cannot insert a globex row, nor update or delete one.
        let sub = new_user(&*store, &p, "intruder").await;
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.tenant_id', 'acme', true)").execute(&mut *tx).await.unwrap();
        let refused = sqlx::query(
            "INSERT INTO memberships (tenant_id, pool_id, sub, role, status, created_at) \
             VALUES ('globex', $1, $2, 'admin', 'active', 1)",
        )
        .bind(p.id.as_str())
        .bind(&sub)
        .execute(&mut *tx)
        .await
        .unwrap_err();
        assert!(refused.to_string().contains("row-level security"), "{refused}");
        tx.rollback().await.unwrap();

        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.tenant_id', 'acme', true)").execute(&mut *tx).await.unwrap();
        let moved = sqlx::query("UPDATE memberships SET role = 'admin' WHERE tenant_id = 'globex'")
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(moved.rows_affected(), 0);
        let deleted = sqlx::query("DELETE FROM tenant_domains").execute(&mut *tx).await.unwrap();
        assert_eq!(deleted.rows_affected(), 0);
        // Moving an own row to another tenant is refused too.
        let err = sqlx::query("UPDATE memberships SET tenant_id = 'globex'").execute(&mut *tx).await.unwrap_err();
        assert!(err.to_string().contains("row-level security"), "{err}");
        tx.rollback().await.unwrap();

        // The platform scope is read-only.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.platform', 'on', true)").execute(&mut *tx).await.unwrap();
        let err = sqlx::query(
            "INSERT INTO memberships (tenant_id, pool_id, sub, role, status, created_at) \
             VALUES ('globex', $1, $2, 'admin', 'active', 1)",
        )
        .bind(p.id.as_str())
        .bind(&sub)
        .execute(&mut *tx)
        .await
        .unwrap_err();
        assert!(err.to_string().contains("row-level security"), "{err}");
        tx.rollback().await.unwrap();
        let changed = sqlx::query("UPDATE memberships SET role = 'admin'").execute(&mut conn).await;
        assert_eq!(changed.unwrap().rows_affected(), 0);

        // Settings are transaction-local: nothing leaks past the transaction.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.platform', 'on', true)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships").fetch_one(&mut conn).await.unwrap();
        assert_eq!(count, 0);
        conn.close().await.unwrap();
    }
    db.drop_db().await;
}

/// The names of the user's groups in `pool`.
async fn groups_of(store: &dyn Store, pool: &UserPool, sub: &str) -> Vec<String> {
    store.list_groups_for_user(&pool.id, sub, &page(None, 100)).await.unwrap().into_iter().map(|g| g.name).collect()
}

/// The usernames of `pool`'s users whose attribute `name` is `value` (through the index).
async fn with_attribute(store: &dyn Store, pool: &UserPool, name: &str, value: &str) -> Vec<String> {
    let filter = UserFilter { field: FilterField::Attribute(name.into()), op: FilterOp::Equals, value: value.into() };
    store.list_users(&pool.id, Some(&filter), &page(None, 100)).await.unwrap().into_iter().map(|u| u.username).collect()
}

/// A user of `p` carrying the tenant attributes of `t`.
fn tenant_user(p: &UserPool, name: &str, t: &Tenant) -> User {
    user(
        p,
        name,
        &[
            ("email", &format!("{name}@example.com")),
            ("email_verified", "true"),
            ("custom:tenantId", t.id.as_str()),
            ("custom:tenantName", &t.name),
            ("custom:tenantTier", t.tier.as_str()),
        ],
    )
}

fn tenant_family(p: &UserPool, id: &str, sub: &str, tenant: Option<&str>) -> TokenFamily {
    TokenFamily { tenant_id: tenant.map(tid), ..family(p, id, sub, 1_000) }
}

#[tokio::test]
async fn save_membership_mirrors_the_role_in_groups() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme", "globex"]).await;
        let ann = new_user(&*store, &p, "ann").await;
        // A group that is not a role group is left alone.
        store
            .create_group(&cognate_core::group::Group {
                pool_id: p.id.clone(),
                name: "staff".into(),
                description: None,
                role_arn: None,
                precedence: None,
                created_at: 1,
                updated_at: 1,
            })
            .await
            .unwrap();
        store.add_user_to_group(&p.id, "staff", &ann).await.unwrap();

        save_membership(&*store, &member("acme", &p, &ann, Role::Member), None, false).await.unwrap();
        assert_eq!(groups_of(&*store, &p, &ann).await, ["acme-member", "staff"]);
        let group = store.get_group(&p.id, "acme-member").await.unwrap().unwrap();
        assert_eq!((group.description.as_deref(), group.created_at), (Some("Role member of tenant acme"), 7));
        assert_eq!(store.get_membership(&tid("acme"), &ann).await.unwrap().unwrap().role, Role::Member);

        // A new role moves the user between the tenant's role groups; other tenants' stay.
        save_membership(&*store, &member("globex", &p, &ann, Role::ReadOnly), None, false).await.unwrap();
        save_membership(&*store, &member("acme", &p, &ann, Role::Admin), None, false).await.unwrap();
        assert_eq!(groups_of(&*store, &p, &ann).await, ["acme-admin", "globex-read_only", "staff"]);
        assert!(store.get_group(&p.id, "acme-member").await.unwrap().is_some());

        // Removed: in none of the tenant's role groups.
        let removed = Membership { status: MembershipStatus::Removed, ..member("acme", &p, &ann, Role::Admin) };
        save_membership(&*store, &removed, None, false).await.unwrap();
        assert_eq!(groups_of(&*store, &p, &ann).await, ["globex-read_only", "staff"]);
        assert_eq!(store.get_membership(&tid("acme"), &ann).await.unwrap().unwrap().status, MembershipStatus::Removed);

        // With a user record, the record is replaced in the same transaction (and re-indexed).
        let acme = store.get_tenant(&tid("acme")).await.unwrap().unwrap();
        let mut record = store.get_user_by_sub(&p.id, &ann).await.unwrap().unwrap();
        record.attributes.insert("custom:tenantId".into(), "acme".into());
        record.updated_at = 8;
        save_membership(
            &*store,
            &member("acme", &p, &ann, Role::Member),
            Some((&record, &record.keys(&p.settings))),
            false,
        )
        .await
        .unwrap();
        assert_eq!(store.get_user_by_sub(&p.id, &ann).await.unwrap().unwrap(), record);
        assert_eq!(with_attribute(&*store, &p, "custom:tenantId", "acme").await, ["ann"]);
        assert_eq!(groups_of(&*store, &p, &ann).await, ["acme-member", "globex-read_only", "staff"]);

        // create_user: the user is created with the membership.
        let bob = tenant_user(&p, "bob", &acme);
        save_membership(
            &*store,
            &member("acme", &p, &bob.sub, Role::Admin),
            Some((&bob, &bob.keys(&p.settings))),
            true,
        )
        .await
        .unwrap();
        assert_eq!(store.get_user_by_sub(&p.id, &bob.sub).await.unwrap().as_ref(), Some(&bob));
        assert_eq!(groups_of(&*store, &p, &bob.sub).await, ["acme-admin"]);

        // A key conflict or a failing membership writes nothing, the user included.
        let twin = tenant_user(&p, "bob", &acme);
        let res = save_membership(
            &*store,
            &member("acme", &p, &twin.sub, Role::Admin),
            Some((&twin, &twin.keys(&p.settings))),
            true,
        )
        .await;
        assert!(matches!(res, Err(StoreError::Conflict("username"))), "{res:?}");
        let carol = tenant_user(&p, "carol", &acme);
        let res = save_membership(
            &*store,
            &member("nobody", &p, &carol.sub, Role::Admin),
            Some((&carol, &carol.keys(&p.settings))),
            true,
        )
        .await;
        assert!(matches!(res, Err(StoreError::NotFound("tenant or user"))), "{res:?}");
        assert!(store.get_user_by_sub(&p.id, &carol.sub).await.unwrap().is_none());
        assert!(store.get_group(&p.id, "nobody-admin").await.unwrap().is_none());
        // Without create_user, a missing user fails the same way.
        let res = save_membership(&*store, &member("acme", &p, &carol.sub, Role::Admin), None, false).await;
        assert!(matches!(res, Err(StoreError::NotFound("tenant or user"))), "{res:?}");
        assert_eq!(store.get_membership(&tid("acme"), &ann).await.unwrap().unwrap().role, Role::Member);
    })
    .await;
}

#[tokio::test]
async fn accept_invitation_with_accepts_once_and_creates_the_user_atomically() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme", "globex"]).await;
        let acme = store.get_tenant(&tid("acme")).await.unwrap().unwrap();
        let invite = |email: &str| Invitation::new(acme.id.clone(), email, Role::Member, "admin", 1_000, &SystemRng).0;

        let inv = invite("dan@example.com");
        store.create_invitation(&inv).await.unwrap();
        let dan = tenant_user(&p, "dan", &acme);
        let keys = dan.keys(&p.settings);
        let m = member("acme", &p, &dan.sub, Role::Member);
        assert!(accept_with(&*store, &inv, 2_000, &m, Some((&dan, &keys)), true).await.unwrap());
        assert_eq!(store.get_user_by_sub(&p.id, &dan.sub).await.unwrap().as_ref(), Some(&dan));
        assert_eq!(store.get_membership(&acme.id, &dan.sub).await.unwrap().as_ref(), Some(&m));
        assert_eq!(groups_of(&*store, &p, &dan.sub).await, ["acme-member"]);
        let stored = store.get_invitation(&acme.id, &inv.id).await.unwrap().unwrap();
        assert_eq!((stored.accepted_at, stored.accepted_sub.as_deref()), (Some(2_000), Some(dan.sub.as_str())));

        // The second acceptance loses and changes nothing.
        let again = member("acme", &p, &dan.sub, Role::Admin);
        assert!(!accept_with(&*store, &inv, 2_001, &again, None, false).await.unwrap());
        assert_eq!(store.get_membership(&acme.id, &dan.sub).await.unwrap().unwrap().role, Role::Member);
        assert_eq!(groups_of(&*store, &p, &dan.sub).await, ["acme-member"]);
        assert_eq!(store.get_invitation(&acme.id, &inv.id).await.unwrap().unwrap().accepted_at, Some(2_000));

        // A failing user creation leaves the invitation pending and writes nothing.
        let inv2 = invite("dan2@example.com");
        store.create_invitation(&inv2).await.unwrap();
        let twin = tenant_user(&p, "dan", &acme);
        let m2 = member("acme", &p, &twin.sub, Role::Member);
        let res = accept_with(&*store, &inv2, 2_000, &m2, Some((&twin, &twin.keys(&p.settings))), true).await;
        assert!(matches!(res, Err(StoreError::Conflict("username"))), "{res:?}");
        assert_eq!(store.get_invitation(&acme.id, &inv2.id).await.unwrap().unwrap().accepted_at, None);
        assert!(store.get_membership(&acme.id, &twin.sub).await.unwrap().is_none());
        // An expired invitation creates no user.
        let erin = tenant_user(&p, "erin", &acme);
        let m3 = member("acme", &p, &erin.sub, Role::Member);
        let late = inv2.expires_at;
        let erin_keys = erin.keys(&p.settings);
        assert!(!accept_with(&*store, &inv2, late, &m3, Some((&erin, &erin_keys)), true).await.unwrap());
        assert!(store.get_user_by_sub(&p.id, &erin.sub).await.unwrap().is_none());
        // A membership of another tenant than the invitation's is refused.
        let elsewhere = member("globex", &p, &erin.sub, Role::Admin);
        let res = accept_with(&*store, &inv2, 2_000, &elsewhere, Some((&erin, &erin_keys)), true).await;
        assert!(matches!(res, Err(StoreError::Corrupt(_))), "{res:?}");
        assert!(accept_with(&*store, &inv2, 2_000, &m3, Some((&erin, &erin_keys)), true).await.unwrap());
        assert_eq!(groups_of(&*store, &p, &erin.sub).await, ["acme-member"]);
    })
    .await;
}

#[tokio::test]
async fn of_two_concurrent_acceptances_with_user_creation_one_wins() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme"]).await;
        let acme = store.get_tenant(&tid("acme")).await.unwrap().unwrap();
        let (inv, _) = Invitation::new(acme.id.clone(), "x@example.com", Role::Member, "admin", 1_000, &SystemRng);
        store.create_invitation(&inv).await.unwrap();
        let (a, b) = (tenant_user(&p, "first", &acme), tenant_user(&p, "second", &acme));
        let accept = |u: User| {
            let (store, inv, p) = (store.clone(), inv.clone(), p.clone());
            async move {
                let m = member("acme", &p, &u.sub, Role::Member);
                accept_with(&*store, &inv, 2_000, &m, Some((&u, &u.keys(&p.settings))), true).await.unwrap()
            }
        };
        let (won_a, won_b) = tokio::join!(accept(a.clone()), accept(b.clone()));
        assert!(won_a != won_b, "exactly one acceptance wins: {won_a} {won_b}");
        let (winner, loser) = if won_a { (&a, &b) } else { (&b, &a) };
        assert!(store.get_user_by_sub(&p.id, &winner.sub).await.unwrap().is_some());
        assert!(store.get_user_by_sub(&p.id, &loser.sub).await.unwrap().is_none());
        let ms = store.list_memberships(&acme.id, &page(None, 10)).await.unwrap();
        assert_eq!(ms.iter().map(|m| m.sub.as_str()).collect::<Vec<_>>(), [winner.sub.as_str()]);
    })
    .await;
}

#[tokio::test]
async fn revoke_tenant_families_revokes_only_that_tenants_and_publishes_them() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme", "globex"]).await;
        let dedicated = pool("dedicated");
        store.create_pool(&dedicated).await.unwrap();
        for f in [
            tenant_family(&p, "f-acme-ann", "ann", Some("acme")),
            tenant_family(&p, "f-acme-bob", "bob", Some("acme")),
            tenant_family(&dedicated, "f-acme-ann-2", "ann", Some("acme")),
            tenant_family(&p, "f-globex-ann", "ann", Some("globex")),
            tenant_family(&p, "f-none-ann", "ann", None),
        ] {
            store.create_family(&f, None).await.unwrap();
        }
        let old = TokenFamily { revoked_at: Some(5), ..tenant_family(&p, "f-acme-old", "ann", Some("acme")) };
        store.create_family(&old, None).await.unwrap();
        assert_eq!(store.get_family("f-acme-ann").await.unwrap().unwrap().tenant_id, Some(tid("acme")));
        assert_eq!(store.get_family("f-none-ann").await.unwrap().unwrap().tenant_id, None);

        let revoked_at = |id: &'static str| {
            let store = store.clone();
            async move { store.get_family(id).await.unwrap().unwrap().revoked_at }
        };
        let feed = |pool: &UserPool| {
            let (store, id) = (store.clone(), pool.id.clone());
            async move {
                let events = store.revocations_after(&id, 0, 100).await.unwrap();
                assert!(events.iter().all(|e| e.kind == RevocationKind::Token));
                events.into_iter().map(|e| (e.subject, e.at)).collect::<Vec<_>>()
            }
        };

        assert_eq!(store.revoke_tenant_families(&tid("acme"), Some("ann"), 100).await.unwrap(), 2);
        assert_eq!(revoked_at("f-acme-ann").await, Some(100));
        assert_eq!(revoked_at("f-acme-ann-2").await, Some(100));
        assert_eq!(revoked_at("f-acme-bob").await, None);
        assert_eq!(revoked_at("f-acme-old").await, Some(5));
        assert_eq!(feed(&p).await, [("f-acme-ann".to_owned(), 100)]);
        assert_eq!(feed(&dedicated).await, [("f-acme-ann-2".to_owned(), 100)]);

        assert_eq!(store.revoke_tenant_families(&tid("acme"), None, 200).await.unwrap(), 1);
        assert_eq!(revoked_at("f-acme-bob").await, Some(200));
        assert_eq!(revoked_at("f-acme-ann").await, Some(100));
        assert_eq!(revoked_at("f-globex-ann").await, None);
        assert_eq!(revoked_at("f-none-ann").await, None);
        assert_eq!(feed(&p).await, [("f-acme-ann".to_owned(), 100), ("f-acme-bob".to_owned(), 200)]);
        assert_eq!(store.revoke_tenant_families(&tid("acme"), None, 300).await.unwrap(), 0);
        assert_eq!(feed(&p).await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_unit_of_work_finds_the_tenants_home_users_and_rewrites_them() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme", "globex"]).await;
        let other = pool("other");
        store.create_pool(&other).await.unwrap();
        let acme = store.get_tenant(&tid("acme")).await.unwrap().unwrap();
        let globex = store.get_tenant(&tid("globex")).await.unwrap().unwrap();
        let ann = tenant_user(&p, "ann", &acme);
        let bob = tenant_user(&p, "bob", &globex);
        let cy = user(&p, "cy", &[("given_name", "Cy")]);
        // Same tenant id, but outside the tenant's pool: not the tenant's user.
        let dee = tenant_user(&other, "dee", &acme);
        for (u, pool) in [(&ann, &p), (&bob, &p), (&cy, &p), (&dee, &other)] {
            store.create_user(u, &u.keys(&pool.settings)).await.unwrap();
        }

        // The tenant's users are the users of its pool whose home tenant it is.
        let mut work = store.begin_tenant(&acme.id).await.unwrap();
        let home: Vec<String> = work.home_users(&p.id).await.unwrap().into_iter().map(|u| u.sub).collect();
        assert_eq!(home, std::slice::from_ref(&ann.sub));
        assert_eq!(
            work.home_users(&other.id).await.unwrap().into_iter().map(|u| u.sub).collect::<Vec<_>>(),
            std::slice::from_ref(&dee.sub)
        );
        // Replacing one re-indexes its attributes, in the unit of work.
        let mut renamed = work.get_user(&p.id, &ann.sub).await.unwrap().unwrap();
        renamed.attributes.insert("custom:tenantName".into(), "Acme Corp".into());
        renamed.updated_at = 50;
        work.update_user(&renamed, &renamed.keys(&p.settings)).await.unwrap();
        work.commit().await.unwrap();
        assert_eq!(store.get_user_by_sub(&p.id, &ann.sub).await.unwrap().unwrap(), renamed);
        assert_eq!(with_attribute(&*store, &p, "custom:tenantName", "Acme Corp").await, ["ann"]);
        assert_eq!(store.get_user_by_sub(&p.id, &bob.sub).await.unwrap().as_ref(), Some(&bob));
        assert_eq!(store.get_user_by_sub(&p.id, &cy.sub).await.unwrap().as_ref(), Some(&cy));

        // A stale tenant write fails, and the unit of work is then dropped: nothing lands.
        let mut work = store.begin_tenant(&acme.id).await.unwrap();
        let mut other_write = work.get_user(&p.id, &ann.sub).await.unwrap().unwrap();
        other_write.attributes.insert("custom:tenantName".into(), "Stale".into());
        work.update_user(&other_write, &other_write.keys(&p.settings)).await.unwrap();
        let stale = Tenant { name: "Stale".into(), version: acme.version + 5, ..acme.clone() };
        assert!(matches!(work.write_tenant(&stale).await, Err(StoreError::Conflict("version"))));
        drop(work);
        assert!(with_attribute(&*store, &p, "custom:tenantName", "Stale").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn get_tenant_by_pool_finds_the_platinum_tenant_of_a_dedicated_pool() {
    on_both(|store| async move {
        let shared = setup(&*store, &["acme"]).await;
        let dedicated = pool("dedicated");
        store.create_pool(&dedicated).await.unwrap();
        let globex = Tenant { tier: Tier::Platinum, ..tenant("globex", &dedicated) };
        store.create_tenant(&globex).await.unwrap();
        // A standard tenant in the same pool (a move half-way planned) does not count.
        store.create_tenant(&tenant("initech", &dedicated)).await.unwrap();
        assert_eq!(store.get_tenant_by_pool(&dedicated.id).await.unwrap().as_ref(), Some(&globex));
        assert!(store.get_tenant_by_pool(&shared.id).await.unwrap().is_none());
        assert!(store.get_tenant_by_pool(&pool("nowhere").id).await.unwrap().is_none());
    })
    .await;
}

/// The shared pool with acme (ann: admin, acme only; bob: member, also in globex; cat: a
/// removed member) and globex; a dedicated pool; a family per tenant. Returns the pools,
/// the users and the plan moving acme to the dedicated pool.
pub async fn move_setup(store: &dyn Store) -> (UserPool, UserPool, [User; 3], TenantMove) {
    let shared = setup(store, &["acme", "globex"]).await;
    let mut dedicated = pool("dedicated");
    dedicated.settings.alias_attributes = vec!["email".into()];
    store.create_pool(&dedicated).await.unwrap();
    let acme = store.get_tenant(&tid("acme")).await.unwrap().unwrap();
    let users = [tenant_user(&shared, "ann", &acme), tenant_user(&shared, "bob", &acme), user(&shared, "cat", &[])];
    for (u, role) in users.iter().zip([Role::Admin, Role::Member, Role::Member]) {
        let m = member("acme", &shared, &u.sub, role);
        save_membership(store, &m, Some((u, &u.keys(&shared.settings))), true).await.unwrap();
    }
    let cat = &users[2].sub;
    save_membership(store, &member("globex", &shared, &users[1].sub, Role::Member), None, false).await.unwrap();
    let removed = Membership { status: MembershipStatus::Removed, ..member("acme", &shared, cat, Role::Member) };
    save_membership(store, &removed, None, false).await.unwrap();
    store.create_family(&tenant_family(&shared, "f-acme", &users[0].sub, Some("acme")), None).await.unwrap();
    store.create_family(&tenant_family(&shared, "f-globex", &users[1].sub, Some("globex")), None).await.unwrap();

    let tenant = Tenant { tier: Tier::Platinum, pool_id: dedicated.id.clone(), updated_at: 60, ..acme.clone() };
    let moved = |u: &User, role: Role, delete_old: bool| {
        let mut user = User { pool_id: dedicated.id.clone(), ..u.clone() };
        user.attributes.insert("custom:tenantTier".into(), "platinum".into());
        let keys = user.keys(&dedicated.settings);
        MovedUser { user, keys, role, delete_old }
    };
    let plan = TenantMove {
        tenant,
        from: shared.id.clone(),
        users: vec![moved(&users[0], Role::Admin, true), moved(&users[1], Role::Member, false)],
        at: 500,
    };
    (shared, dedicated, users, plan)
}

#[tokio::test]
async fn move_tenant_moves_users_groups_memberships_and_families() {
    on_both(|store| async move {
        let (shared, dedicated, [ann, bob, cat], plan) = move_setup(&*store).await;
        crate::tenancy::move_tenant(&*store, &plan).await.unwrap();

        let acme = store.get_tenant(&tid("acme")).await.unwrap().unwrap();
        assert_eq!(acme, Tenant { version: 2, ..plan.tenant.clone() });
        assert_eq!(store.get_tenant_by_pool(&dedicated.id).await.unwrap().as_ref(), Some(&acme));

        // Users: in the new pool with the same sub, password hash and attributes.
        for moved in &plan.users {
            let stored = store.get_user_by_sub(&dedicated.id, &moved.user.sub).await.unwrap().unwrap();
            assert_eq!(stored, moved.user);
        }
        assert_eq!(
            store.get_user_by_alias(&dedicated.id, "email", "ann@example.com").await.unwrap().unwrap().sub,
            ann.sub
        );
        assert_eq!(with_attribute(&*store, &dedicated, "custom:tenantTier", "platinum").await, ["ann", "bob"]);
        // The old rows: deleted when asked, kept for bob (still in globex) and for cat.
        assert!(store.get_user_by_sub(&shared.id, &ann.sub).await.unwrap().is_none());
        assert_eq!(store.get_user_by_sub(&shared.id, &bob.sub).await.unwrap().as_ref(), Some(&bob));
        assert!(store.get_user_by_sub(&shared.id, &cat.sub).await.unwrap().is_some());

        // Groups: mirrored in the new pool, gone from the old one (globex's stay).
        assert_eq!(groups_of(&*store, &dedicated, &ann.sub).await, ["acme-admin"]);
        assert_eq!(groups_of(&*store, &dedicated, &bob.sub).await, ["acme-member"]);
        assert!(store.get_group(&dedicated.id, "acme-read_only").await.unwrap().is_some());
        for role in ["admin", "member", "read_only"] {
            assert!(store.get_group(&shared.id, &format!("acme-{role}")).await.unwrap().is_none());
        }
        assert_eq!(groups_of(&*store, &shared, &bob.sub).await, ["globex-member"]);

        // Memberships: active ones re-pointed, removed ones gone, other tenants untouched.
        let ms = store.list_memberships(&tid("acme"), &page(None, 10)).await.unwrap();
        let mut expected = vec![(ann.sub.clone(), Role::Admin), (bob.sub.clone(), Role::Member)];
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(ms.iter().map(|m| (m.sub.clone(), m.role)).collect::<Vec<_>>(), expected);
        assert!(ms.iter().all(|m| m.pool_id == dedicated.id && m.status == MembershipStatus::Active));
        assert!(store.get_membership(&tid("acme"), &cat.sub).await.unwrap().is_none());
        assert_eq!(store.get_membership(&tid("globex"), &bob.sub).await.unwrap().unwrap().pool_id, shared.id);
        let bobs = store.list_memberships_for_user(&dedicated.id, &bob.sub).await.unwrap();
        assert_eq!(bobs.iter().map(|m| m.tenant_id.as_str()).collect::<Vec<_>>(), ["acme"]);

        // Families: the tenant's revoked and published, the others' untouched.
        assert_eq!(store.get_family("f-acme").await.unwrap().unwrap().revoked_at, Some(500));
        assert_eq!(store.get_family("f-globex").await.unwrap().unwrap().revoked_at, None);
        let feed = store.revocations_after(&shared.id, 0, 10).await.unwrap();
        assert_eq!(
            feed.iter().map(|e| (e.kind, e.subject.as_str())).collect::<Vec<_>>(),
            [(RevocationKind::Token, "f-acme")]
        );

        // The same plan again: the version moved on.
        assert!(matches!(crate::tenancy::move_tenant(&*store, &plan).await, Err(StoreError::Conflict("version"))));
    })
    .await;
}

#[tokio::test]
async fn a_move_that_fails_changes_nothing() {
    on_both(|store| async move {
        let (shared, dedicated, [ann, bob, cat], plan) = move_setup(&*store).await;
        // Someone in the target pool already has bob's (verified, aliased) email; ann would
        // be inserted first.
        let squatter = user(&dedicated, "zed", &[("email", "bob@example.com"), ("email_verified", "true")]);
        store.create_user(&squatter, &squatter.keys(&dedicated.settings)).await.unwrap();
        let res = crate::tenancy::move_tenant(&*store, &plan).await;
        assert!(matches!(res, Err(StoreError::Conflict("email"))), "{res:?}");

        // A user with an active membership missing from the plan fails it as well.
        let partial = TenantMove { users: plan.users[..1].to_vec(), ..plan.clone() };
        let res = crate::tenancy::move_tenant(&*store, &partial).await;
        assert!(matches!(res, Err(StoreError::NotFound(_))), "{res:?}");

        let stale = TenantMove { tenant: Tenant { version: 7, ..plan.tenant.clone() }, ..plan.clone() };
        assert!(matches!(crate::tenancy::move_tenant(&*store, &stale).await, Err(StoreError::Conflict("version"))));
        let ghost = TenantMove { tenant: tenant("ghost", &dedicated), ..plan.clone() };
        assert!(matches!(crate::tenancy::move_tenant(&*store, &ghost).await, Err(StoreError::NotFound("tenant"))));

        let acme = store.get_tenant(&tid("acme")).await.unwrap().unwrap();
        assert_eq!((acme.version, &acme.pool_id, acme.tier), (1, &shared.id, Tier::Standard));
        assert_eq!(store.count_users(&dedicated.id).await.unwrap(), 1);
        assert!(store.list_groups(&dedicated.id, &page(None, 10)).await.unwrap().is_empty());
        for u in [&ann, &bob, &cat] {
            assert_eq!(store.get_user_by_sub(&shared.id, &u.sub).await.unwrap().as_ref(), Some(u));
        }
        assert_eq!(groups_of(&*store, &shared, &ann.sub).await, ["acme-admin"]);
        assert_eq!(groups_of(&*store, &shared, &bob.sub).await, ["acme-member", "globex-member"]);
        let ms = store.list_memberships(&tid("acme"), &page(None, 10)).await.unwrap();
        assert_eq!(ms.len(), 3);
        assert!(ms.iter().all(|m| m.pool_id == shared.id));
        assert_eq!(store.get_family("f-acme").await.unwrap().unwrap().revoked_at, None);
        assert!(store.revocations_after(&shared.id, 0, 10).await.unwrap().is_empty());
    })
    .await;
}

async fn active_admins(store: &dyn Store, t: &str) -> Vec<String> {
    let rows = store.list_memberships(&tid(t), &page(None, 100)).await.unwrap();
    rows.into_iter().filter(|m| m.status == MembershipStatus::Active && m.role == Role::Admin).map(|m| m.sub).collect()
}

#[tokio::test]
async fn units_of_work_of_one_tenant_serialise_and_see_its_admins() {
    on_both(|store| async move {
        let p = setup(store.as_ref(), &["solo", "other"]).await;
        let ann = new_user(store.as_ref(), &p, "ann").await;
        let bob = new_user(store.as_ref(), &p, "bob").await;
        save_membership(&*store, &member("solo", &p, &ann, Role::Admin), None, false).await.unwrap();
        save_membership(&*store, &member("solo", &p, &bob, Role::Member), None, false).await.unwrap();
        let mut work = store.begin_tenant(&tid("solo")).await.unwrap();
        assert_eq!(work.other_admins(&ann).await.unwrap(), 0);
        assert_eq!(work.other_admins(&bob).await.unwrap(), 1);
        assert_eq!(work.membership(&bob).await.unwrap().unwrap().role, Role::Member);
        assert!(work.membership("no-such-sub").await.unwrap().is_none());
        // Writes outside the scope's tenant are refused.
        let res = work.put_membership(&member("other", &p, &bob, Role::Admin)).await;
        assert!(matches!(res, Err(StoreError::Corrupt(_))), "{res:?}");

        // A second unit of work of the same tenant waits for the first to end.
        let second = {
            let store = store.clone();
            let bob = bob.clone();
            tokio::spawn(async move {
                let mut work = store.begin_tenant(&tid("solo")).await.unwrap();
                let admins = work.other_admins(&bob).await.unwrap();
                work.commit().await.unwrap();
                admins
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "the second unit of work began while the first held the tenant");
        work.put_membership(&member("solo", &p, &bob, Role::Admin)).await.unwrap();
        work.commit().await.unwrap();
        // It then sees what the first committed: ann and bob are both admins.
        assert_eq!(second.await.unwrap(), 1);
        assert_eq!(active_admins(store.as_ref(), "solo").await.len(), 2);

        // Dropped without a commit, a unit of work writes nothing.
        let mut work = store.begin_tenant(&tid("solo")).await.unwrap();
        work.put_membership(&member("solo", &p, &ann, Role::ReadOnly)).await.unwrap();
        drop(work);
        assert_eq!(active_admins(store.as_ref(), "solo").await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn suspending_revokes_the_tenants_families_in_the_same_write() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme", "globex"]).await;
        for f in
            [tenant_family(&p, "s-acme", "ann", Some("acme")), tenant_family(&p, "s-globex", "ann", Some("globex"))]
        {
            store.create_family(&f, None).await.unwrap();
        }
        let mut acme = store.get_tenant(&tid("acme")).await.unwrap().unwrap();
        acme.status = TenantStatus::Suspended;
        assert_eq!(update_tenant_revoking(&*store, &acme, 500).await.unwrap(), 1);
        assert_eq!(store.get_tenant(&tid("acme")).await.unwrap().unwrap().status, TenantStatus::Suspended);
        assert_eq!(store.get_family("s-acme").await.unwrap().unwrap().revoked_at, Some(500));
        assert_eq!(store.get_family("s-globex").await.unwrap().unwrap().revoked_at, None);
        // A stale version changes nothing, not even the families.
        store.create_family(&tenant_family(&p, "s-acme-2", "bob", Some("acme")), None).await.unwrap();
        let stale = update_tenant_revoking(&*store, &acme, 600).await;
        assert!(matches!(stale, Err(StoreError::Conflict("version"))), "{stale:?}");
        assert_eq!(store.get_family("s-acme-2").await.unwrap().unwrap().revoked_at, None);
    })
    .await;
}

/// A membership's writes through a unit of work, as the membership engine makes them: the
/// user (created, or replaced) when given, the membership, the role group mirroring it.
async fn save_membership(
    store: &dyn Store,
    m: &Membership,
    user: Option<(&User, &UserKeys)>,
    create: bool,
) -> Result<(), StoreError> {
    let mut work = store.begin_tenant(&m.tenant_id).await?;
    if let Some((u, k)) = user {
        if create { work.create_user(u, k).await? } else { work.update_user(u, k).await? }
    }
    work.put_membership(m).await?;
    let active = m.status == MembershipStatus::Active;
    work.mirror_role(&m.pool_id, &m.sub, active.then_some(m.role), m.created_at).await?;
    work.commit().await
}

/// An acceptance through a unit of work: the invitation first, then (only if this call
/// accepted it) the membership's writes.
async fn accept_with(
    store: &dyn Store,
    inv: &Invitation,
    now: i64,
    m: &Membership,
    user: Option<(&User, &UserKeys)>,
    create: bool,
) -> Result<bool, StoreError> {
    let mut work = store.begin_tenant(&inv.tenant_id).await?;
    if !work.accept_invitation(&inv.id, &m.sub, now).await? {
        return Ok(false);
    }
    if let Some((u, k)) = user {
        if create { work.create_user(u, k).await? } else { work.update_user(u, k).await? }
    }
    work.put_membership(m).await?;
    work.mirror_role(&m.pool_id, &m.sub, Some(m.role), m.created_at).await?;
    work.commit().await?;
    Ok(true)
}

/// A version-checked tenant write through a unit of work.
async fn update_tenant(store: &dyn Store, t: &Tenant) -> Result<(), StoreError> {
    let mut work = store.begin_tenant(&t.id).await?;
    work.write_tenant(t).await?;
    work.commit().await
}

/// A tenant write and the revocation of its families in one unit of work (suspension).
async fn update_tenant_revoking(store: &dyn Store, t: &Tenant, at: i64) -> Result<u64, StoreError> {
    let mut work = store.begin_tenant(&t.id).await?;
    work.write_tenant(t).await?;
    let revoked = work.revoke_families(None, at).await?;
    work.commit().await?;
    Ok(revoked)
}

/// A tenant move in one unit of work of the moved tenant, committed only when it applies.
pub async fn move_tenant(store: &dyn Store, plan: &TenantMove) -> Result<(), StoreError> {
    let mut work = store.begin_tenant(&plan.tenant.id).await?;
    cognate_core::repo::move_tenant(work.as_mut(), plan).await?;
    work.commit().await
}

#[tokio::test]
async fn set_attributes_keeps_a_concurrent_password_change() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme"]).await;
        let acme = store.get_tenant(&tid("acme")).await.unwrap().unwrap();
        let ann = tenant_user(&p, "ann", &acme);
        store.create_user(&ann, &ann.keys(&p.settings)).await.unwrap();
        // Read before a password change lands elsewhere ...
        let mut stale = store.get_user_by_sub(&p.id, &ann.sub).await.unwrap().unwrap();
        let mut changed = stale.clone();
        changed.password_hash = Some("new-hash".into());
        store.update_user(&changed, &changed.keys(&p.settings)).await.unwrap();
        // ... an attributes-only write of the stale copy keeps the new password.
        stale.attributes.insert("custom:tenantName".into(), "Acme Corp".into());
        stale.updated_at = 77;
        let mut work = store.begin_tenant(&acme.id).await.unwrap();
        work.set_attributes(&stale).await.unwrap();
        work.commit().await.unwrap();
        let stored = store.get_user_by_sub(&p.id, &ann.sub).await.unwrap().unwrap();
        assert_eq!(stored.password_hash.as_deref(), Some("new-hash"));
        assert_eq!(stored.attributes["custom:tenantName"], "Acme Corp");
        assert_eq!(with_attribute(&*store, &p, "custom:tenantName", "Acme Corp").await, ["ann"]);
        let mut work = store.begin_tenant(&acme.id).await.unwrap();
        let ghost = User { sub: "ghost".into(), ..stale.clone() };
        assert!(matches!(work.set_attributes(&ghost).await, Err(StoreError::NotFound("user"))));
        work.rollback().await.unwrap();
    })
    .await;
}
