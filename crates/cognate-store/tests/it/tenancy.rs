use cognate_core::StoreError;
use cognate_core::SystemRng;
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;
use cognate_core::repo::Store;
use cognate_core::tenant::{
    DomainName, EmailDomain, Invitation, Membership, MembershipStatus, MfaRequirement, Role, Tenant, TenantId,
    TenantStatus, Tier,
};
use sqlx::Connection as _;
use sqlx::Executor as _;

use crate::harness::{PgDb, on_both};
use crate::pools::pool;
use crate::users::user;

fn tid(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn tenant(id: &str, p: &UserPool) -> Tenant {
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

fn page(after: Option<&str>, limit: u32) -> PageRequest {
    PageRequest { after: after.map(str::to_owned), limit }
}

/// A pool with the tenants `ids` placed in it.
async fn setup(store: &dyn Store, ids: &[&str]) -> UserPool {
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
        store.update_tenant(&changed).await.unwrap();
        let stored = store.get_tenant(&acme.id).await.unwrap().unwrap();
        assert_eq!(stored, Tenant { version: 2, ..changed.clone() });
        // `changed` still carries version 1: someone else's update won.
        assert!(matches!(store.update_tenant(&changed).await, Err(StoreError::Conflict("version"))));
        let ghost = tenant("ghost", &p);
        assert!(matches!(store.update_tenant(&ghost).await, Err(StoreError::NotFound("tenant"))));

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
        store.delete_user(&p.id, &bob).await.unwrap();
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
async fn tenants_seen(conn: &mut sqlx::PgConnection, sql: &str, scope: Option<(&str, &str)>) -> Vec<String> {
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
