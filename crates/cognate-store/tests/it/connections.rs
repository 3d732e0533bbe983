use cognate_core::StoreError;
use cognate_core::connection::{Connection, provider_name};
use cognate_core::idp::ProviderType;
use cognate_core::pool::UserPool;
use cognate_core::tenant::Role;
use sqlx::Connection as _;
use sqlx::Executor as _;

use crate::harness::{PgDb, on_both};
use crate::tenancy::{page, setup, tenants_seen, tid};

/// A connection of `tenant` in `p` with a role mapping.
fn connection(tenant: &str, id: &str, p: &UserPool) -> Connection {
    Connection {
        id: id.into(),
        tenant_id: tid(tenant),
        pool_id: p.id.clone(),
        provider_name: provider_name(id),
        kind: ProviderType::Oidc,
        name: format!("{tenant} Okta"),
        enabled: true,
        default_role: Role::Member,
        role_claim: Some("groups".into()),
        role_mapping: [("it-admins".to_owned(), Role::Admin), ("auditors".to_owned(), Role::ReadOnly)].into(),
        created_at: 10,
        updated_at: 10,
    }
}

#[tokio::test]
async fn connections_round_trip_page_and_stay_in_their_tenant() {
    on_both(|store| async move {
        let p = setup(&*store, &["acme", "globex"]).await;
        let saml = Connection {
            kind: ProviderType::Saml,
            enabled: false,
            role_claim: None,
            role_mapping: Default::default(),
            default_role: Role::ReadOnly,
            ..connection("acme", "conn_b", &p)
        };
        let all = [
            connection("acme", "conn_a", &p),
            saml.clone(),
            connection("acme", "conn_c", &p),
            connection("globex", "conn_g", &p),
        ];
        for c in &all {
            store.create_connection(c).await.unwrap();
        }
        let acme = tid("acme");
        assert_eq!(store.get_connection(&acme, "conn_a").await.unwrap().as_ref(), Some(&all[0]));
        assert_eq!(store.get_connection(&acme, "conn_b").await.unwrap().as_ref(), Some(&saml));
        assert!(store.get_connection(&acme, "conn_missing").await.unwrap().is_none());
        // Another tenant's connection is not found by id…
        assert!(store.get_connection(&acme, "conn_g").await.unwrap().is_none());
        assert!(store.get_connection(&tid("globex"), "conn_a").await.unwrap().is_none());
        // …but the lookup by pool provider finds any tenant's.
        let found = store.connection_for_provider(&p.id, &provider_name("conn_g")).await.unwrap();
        assert_eq!(found.as_ref(), Some(&all[3]));
        assert!(store.connection_for_provider(&p.id, "conn-nothing").await.unwrap().is_none());

        // Ids, and provider names within a pool, are unique across tenants.
        let same_id = Connection { provider_name: "conn-other".into(), ..all[0].clone() };
        assert!(matches!(store.create_connection(&same_id).await, Err(StoreError::Conflict("connection"))));
        let same_provider = Connection { id: "conn_z".into(), tenant_id: tid("globex"), ..all[0].clone() };
        assert!(matches!(store.create_connection(&same_provider).await, Err(StoreError::Conflict("connection"))));
        let nobody = connection("nobody", "conn_n", &p);
        assert!(matches!(store.create_connection(&nobody).await, Err(StoreError::NotFound("tenant"))));

        // Pages by id, the tenant's only.
        let first = store.list_connections(&acme, &page(None, 2)).await.unwrap();
        assert_eq!(first.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["conn_a", "conn_b", "conn_c"]);
        let rest = store.list_connections(&acme, &page(Some("conn_b"), 2)).await.unwrap();
        assert_eq!(rest.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["conn_c"]);

        // Updates replace the tenant's settings, never another tenant's row.
        let changed = Connection {
            name: "Renamed".into(),
            enabled: false,
            default_role: Role::ReadOnly,
            role_claim: None,
            role_mapping: Default::default(),
            updated_at: 20,
            ..all[0].clone()
        };
        store.update_connection(&changed).await.unwrap();
        assert_eq!(store.get_connection(&acme, "conn_a").await.unwrap(), Some(changed.clone()));
        let foreign = Connection { tenant_id: tid("globex"), ..changed.clone() };
        assert!(matches!(store.update_connection(&foreign).await, Err(StoreError::NotFound("connection"))));

        // Deletes likewise.
        assert!(matches!(
            store.delete_connection(&tid("globex"), "conn_a").await,
            Err(StoreError::NotFound("connection"))
        ));
        store.delete_connection(&acme, "conn_a").await.unwrap();
        assert!(store.get_connection(&acme, "conn_a").await.unwrap().is_none());
        assert!(matches!(store.delete_connection(&acme, "conn_a").await, Err(StoreError::NotFound("connection"))));

        // A deleted tenant takes its connections with it.
        store.delete_tenant(&tid("globex")).await.unwrap();
        assert!(store.connection_for_provider(&p.id, &provider_name("conn_g")).await.unwrap().is_none());
    })
    .await;
}

/// Row-level security on its own, below the store: a raw connection acting as the service
/// role sees and writes only the connections of the tenant its transaction names.
#[tokio::test]
async fn postgres_policies_confine_connections_to_their_tenant() {
    let db = PgDb::create().await;
    {
        let store = cognate_store::connect(&db.url, &cognate_store::PgOptions::default()).await.unwrap();
        let p = setup(&*store, &["acme", "globex"]).await;
        for (t, id) in [("acme", "conn_a1"), ("acme", "conn_a2"), ("globex", "conn_g")] {
            store.create_connection(&connection(t, id, &p)).await.unwrap();
        }
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        conn.execute("SET ROLE cognate_service").await.unwrap();
        let rows = "SELECT tenant_id FROM tenant_connections ORDER BY tenant_id";
        assert_eq!(tenants_seen(&mut conn, rows, Some(("app.tenant_id", "acme"))).await, ["acme", "acme"]);
        assert_eq!(tenants_seen(&mut conn, rows, Some(("app.tenant_id", "globex"))).await, ["globex"]);
        assert!(tenants_seen(&mut conn, rows, None).await.is_empty());
        assert_eq!(tenants_seen(&mut conn, rows, Some(("app.platform", "on"))).await, ["acme", "acme", "globex"]);

        // Acme's scope cannot change Globex's rows nor write one for Globex.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.tenant_id', 'acme', true)").execute(&mut *tx).await.unwrap();
        let disabled = sqlx::query("UPDATE tenant_connections SET enabled = false").execute(&mut *tx).await.unwrap();
        assert_eq!(disabled.rows_affected(), 2);
        let err = sqlx::query(
            "INSERT INTO tenant_connections (id, tenant_id, pool_id, provider_name, provider_type, name, enabled, \
             default_role, role_mapping, created_at, updated_at) \
             VALUES ('conn_x', 'globex', 'p', 'conn-x', 'OIDC', 'x', true, 'member', '{}', 1, 1)",
        )
        .execute(&mut *tx)
        .await
        .unwrap_err();
        assert!(err.to_string().contains("row-level security"), "{err}");
        tx.rollback().await.unwrap();

        // The platform scope is read-only.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.platform', 'on', true)").execute(&mut *tx).await.unwrap();
        let deleted = sqlx::query("DELETE FROM tenant_connections").execute(&mut *tx).await.unwrap();
        assert_eq!(deleted.rows_affected(), 0);
        tx.rollback().await.unwrap();
        conn.close().await.unwrap();
    }
    db.drop_db().await;
}
