//! `TenantTx` (feature `sqlx`): the start-up role check, the scoped transaction on
//! PostgreSQL (fresh database from `COGNATE_TEST_DATABASE_URL`) and the SQLite fallback.

use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use cognate_guard::{GuardLayer, RlsCheckError, TenantPool, TenantScope, TenantTx};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection as _, Executor as _, PgPool, Postgres, Sqlite};
use tower::ServiceExt as _;

use crate::support::*;

fn admin_url() -> String {
    std::env::var("COGNATE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database with table `items` (RLS forced, owned by the admin login) and a fresh
/// NOLOGIN role; dropped by `drop`.
struct PgDb {
    url: String,
    name: String,
    role: String,
}

impl PgDb {
    async fn create() -> Self {
        let admin = admin_url();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let (name, role) = (format!("guard_it_{suffix}"), format!("guard_role_{suffix}"));
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is unreachable (set COGNATE_TEST_DATABASE_URL): {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        conn.execute(format!("CREATE ROLE {role} NOLOGIN NOBYPASSRLS").as_str()).await.unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let db = Self { url: format!("{base}/{name}"), name, role };
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(&format!(
            "CREATE TABLE items (tenant_id TEXT NOT NULL, name TEXT NOT NULL);
             ALTER TABLE items ENABLE ROW LEVEL SECURITY;
             ALTER TABLE items FORCE ROW LEVEL SECURITY;
             CREATE POLICY tenant ON items
                 USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))
                 WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''));
             INSERT INTO items VALUES ('acme', 'a1'), ('globex', 'g1');
             GRANT SELECT, INSERT ON items TO {};",
            db.role
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        db
    }

    /// A pool of the admin login, switched to `role` when given.
    async fn pool(&self, role: Option<&str>) -> PgPool {
        let set_role = role.map(|r| format!("SET ROLE {r}"));
        PgPoolOptions::new()
            .max_connections(2)
            .after_connect(move |conn, _| {
                let set_role = set_role.clone();
                Box::pin(async move {
                    if let Some(sql) = set_role {
                        conn.execute(sql.as_str()).await?;
                    }
                    Ok(())
                })
            })
            .connect(&self.url)
            .await
            .unwrap()
    }

    async fn drop(self) {
        let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
        conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await.unwrap();
        conn.execute(format!("DROP ROLE IF EXISTS {}", self.role).as_str()).await.unwrap();
    }
}

#[tokio::test]
async fn the_start_up_check_refuses_roles_that_could_bypass_rls() {
    let db = PgDb::create().await;
    let err = TenantPool::new(db.pool(None).await).await.unwrap_err();
    assert!(matches!(err, RlsCheckError::Superuser(_)), "{err}");

    let admin = db.pool(None).await;
    admin.execute(format!("ALTER ROLE {} BYPASSRLS", db.role).as_str()).await.unwrap();
    let err = TenantPool::new(db.pool(Some(&db.role)).await).await.unwrap_err();
    assert!(matches!(err, RlsCheckError::BypassRls(_)), "{err}");
    admin.execute(format!("ALTER ROLE {} NOBYPASSRLS", db.role).as_str()).await.unwrap();

    TenantPool::new(db.pool(Some(&db.role)).await).await.unwrap();

    // A readable tenant table without forced RLS.
    admin.execute("ALTER TABLE items NO FORCE ROW LEVEL SECURITY").await.unwrap();
    let err = TenantPool::new(db.pool(Some(&db.role)).await).await.unwrap_err();
    assert!(matches!(&err, RlsCheckError::RlsNotForced { tables, .. } if tables == &["public.items"]), "{err}");
    admin.execute("ALTER TABLE items FORCE ROW LEVEL SECURITY").await.unwrap();

    // Owning any table.
    admin
        .execute(format!("CREATE TABLE owned (x INT); ALTER TABLE owned OWNER TO {}", db.role).as_str())
        .await
        .unwrap();
    let err = TenantPool::new(db.pool(Some(&db.role)).await).await.unwrap_err();
    assert!(matches!(&err, RlsCheckError::OwnsTables { tables, .. } if tables == &["public.owned"]), "{err}");
    admin.close().await;
    db.drop().await;
}

#[derive(Clone)]
struct PgState(TenantPool<Postgres>);

impl FromRef<PgState> for TenantPool<Postgres> {
    fn from_ref(state: &PgState) -> Self {
        state.0.clone()
    }
}

async fn call(app: &Router, method: &str, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let res = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn token(tenant: Option<&str>) -> String {
    let mut claims = access_claims(ISS_A, "client-a");
    match tenant {
        Some(t) => claims["custom:tenantId"] = json!(t),
        None => drop(claims.as_object_mut().unwrap().remove("custom:tenantId")),
    }
    KEY_A.sign(&claims)
}

#[tokio::test]
async fn postgres_transactions_are_scoped_before_the_handler_runs() {
    let db = PgDb::create().await;
    let pool = TenantPool::new(db.pool(Some(&db.role)).await).await.unwrap();
    let s = setup().await;
    let app = Router::new()
        .route(
            "/setting",
            get(|mut tx: TenantTx| async move {
                let setting: String =
                    sqlx::query_scalar("SELECT current_setting('app.tenant_id')").fetch_one(tx.conn()).await.unwrap();
                // No tenant filter: row-level security confines it.
                let names: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM items ORDER BY name").fetch_all(tx.conn()).await.unwrap();
                axum::Json(json!({"setting": setting, "tenant": tx.tenant_id(), "names": names}))
            }),
        )
        .route(
            "/insert/{commit}",
            post(|mut tx: TenantTx, axum::extract::Path(commit): axum::extract::Path<bool>| async move {
                tx.tenant_query("INSERT INTO items VALUES ($1, 'new')").execute(tx.conn()).await.unwrap();
                if commit {
                    tx.commit().await.unwrap();
                }
                axum::Json(json!({}))
            }),
        )
        .with_state(PgState(pool))
        .layer(GuardLayer::new(s.guard.clone()));

    let acme = token(Some("acme"));
    let (status, body) = call(&app, "GET", "/setting", Some(&acme)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"setting": "acme", "tenant": "acme", "names": ["a1"]}));
    let (_, body) = call(&app, "GET", "/setting", Some(&token(Some("globex")))).await;
    assert_eq!(body["names"], json!(["g1"]));

    // Dropped without commit: rolled back. Committed: kept.
    assert_eq!(call(&app, "POST", "/insert/false", Some(&acme)).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/setting", Some(&acme)).await.1["names"], json!(["a1"]));
    assert_eq!(call(&app, "POST", "/insert/true", Some(&acme)).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/setting", Some(&acme)).await.1["names"], json!(["a1", "new"]));

    // The setting is transaction-local: a plain pooled connection carries no tenant.
    let raw = db.pool(Some(&db.role)).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM items").fetch_one(&raw).await.unwrap();
    assert_eq!(n, 0);
    raw.close().await;

    assert_eq!(
        call(&app, "GET", "/setting", Some(&token(Some("")))).await,
        (StatusCode::FORBIDDEN, json!({"error": "tenant_required"}))
    );
    assert_eq!(
        call(&app, "GET", "/setting", Some(&token(None))).await,
        (StatusCode::FORBIDDEN, json!({"error": "tenant_required"}))
    );
    assert_eq!(call(&app, "GET", "/setting", None).await.0, StatusCode::UNAUTHORIZED);
    drop(app);
    db.drop().await;
}

#[derive(Clone)]
struct LiteState(TenantPool<Sqlite>);

impl FromRef<LiteState> for TenantPool<Sqlite> {
    fn from_ref(state: &LiteState) -> Self {
        state.0.clone()
    }
}

#[tokio::test]
async fn sqlite_scopes_bind_the_tenant_in_code() {
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE items (tenant_id TEXT NOT NULL, name TEXT NOT NULL);
                   INSERT INTO items VALUES ('acme', 'a1'), ('globex', 'g1');",
    )
    .execute(&pool)
    .await
    .unwrap();
    let pool = TenantPool::new(pool).await.unwrap();
    let s = setup().await;
    let app = Router::new()
        .route(
            "/items",
            get(|mut tx: TenantScope| async move {
                let names: Vec<String> = tx
                    .tenant_query_scalar("SELECT name FROM items WHERE tenant_id = $1 ORDER BY name")
                    .fetch_all(tx.conn())
                    .await
                    .unwrap();
                axum::Json(json!({"tenant": tx.tenant_id(), "names": names}))
            }),
        )
        .with_state(LiteState(pool))
        .layer(GuardLayer::new(s.guard.clone()));
    let (status, body) = call(&app, "GET", "/items", Some(&token(Some("globex")))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"tenant": "globex", "names": ["g1"]})));
    assert_eq!(call(&app, "GET", "/items", Some(&token(None))).await.0, StatusCode::FORBIDDEN);
}
