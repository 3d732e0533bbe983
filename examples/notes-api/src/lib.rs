//! `notes-api`: a tenant-isolated SaaS API built on `cognate-guard` — projects and notes per
//! tenant, served on PostgreSQL (row-level security, FORCEd) or SQLite (tenant filter in
//! code). See README.md for running it against a real Cognate.

pub mod config;
pub mod db;
pub mod routes;

use anyhow::Context as _;
use axum::Router;
use cognate_guard::{Guard, GuardConfig, GuardLayer};

pub use config::Config;

/// Connects (migrating first), checks the serving role and builds the guarded router. The
/// backend is chosen here, once, from the URL scheme.
pub async fn build_router(config: &Config) -> anyhow::Result<Router> {
    let guard = config.issuers.iter().cloned().fold(GuardConfig::new(), GuardConfig::issuer);
    let guard = Guard::new(guard).context("NOTES_ISSUERS")?;
    if let Err(e) = guard.hydrate().await {
        // Not fatal: keys are fetched again on the first token that needs them.
        tracing::warn!(error = %e, "could not fetch a JWKS at start-up");
    }
    // Ends by itself when the router (and with it the guard) is dropped.
    drop(guard.spawn_refresh());
    let routes = if config.database_url.starts_with("sqlite:") {
        routes::routes(db::connect_sqlite(&config.database_url).await?)
    } else {
        routes::routes(db::connect_postgres(&config.database_url, config.service_database_url.as_deref()).await?)
    };
    Ok(routes.layer(GuardLayer::new(guard)))
}

/// Binds `config.listen`, prints `notes-api listening on http://ADDR` and serves until
/// Ctrl-C.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let app = build_router(&config).await?;
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    println!("notes-api listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
