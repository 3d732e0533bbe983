//! `notes-api`: a tenant-isolated SaaS API built on `cognate-guard` — projects and notes per
//! tenant, served on PostgreSQL (row-level security, FORCEd) or SQLite (tenant filter in
//! code). Callers present a Cognate (or Cognito) access token, or, when `NOTES_API_KEYS` is
//! set, a Cognate API key in `X-API-Key`. See README.md for running it against a real Cognate.

pub mod config;
pub mod db;
pub mod routes;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use cognate_guard::{CognateApiKeys, Guard, GuardConfig, GuardLayer};

pub use config::Config;

/// The service, built: the guarded router and, when API keys are configured, their
/// verifier, whose usage counts must be flushed to Cognate on shutdown.
#[derive(Debug)]
pub struct App {
    pub router: Router,
    pub api_keys: Option<CognateApiKeys>,
}

impl App {
    /// Sends the API-key usage counted since the last flush (the background flusher sends
    /// them every 10 s); a failure is logged, and those counts are lost with the process.
    pub async fn flush_usage(&self) {
        if let Some(keys) = &self.api_keys
            && let Err(e) = keys.flush().await
        {
            tracing::warn!(error = %e, "could not report API-key usage to Cognate");
        }
    }
}

/// Connects (migrating first), checks the serving role and builds the guarded router and the
/// API-key verifier. The backend is chosen here, once, from the URL scheme.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let guard = config.issuers.iter().cloned().fold(GuardConfig::new(), GuardConfig::issuer);
    let guard = Guard::new(guard).context("NOTES_ISSUERS")?;
    if let Err(e) = guard.hydrate().await {
        // Not fatal: keys are fetched again on the first token that needs them.
        tracing::warn!(error = %e, "could not fetch a JWKS at start-up");
    }
    // Ends by itself when the router (and with it the guard) is dropped.
    drop(guard.spawn_refresh());
    let api_keys = match &config.api_keys {
        Some(keys) => {
            let keys = CognateApiKeys::new(keys.clone()).context("NOTES_API_KEYS")?;
            // Ends by itself, like the JWKS refresh, once the verifier is dropped.
            drop(keys.spawn_flusher());
            Some(keys)
        }
        None => None,
    };
    let routes = if config.database_url.starts_with("sqlite:") {
        routes::routes(db::connect_sqlite(&config.database_url).await?)
    } else {
        routes::routes(db::connect_postgres(&config.database_url, config.service_database_url.as_deref()).await?)
    };
    let mut layer = GuardLayer::new(guard);
    if let Some(keys) = &api_keys {
        layer = layer.api_keys(Arc::new(keys.clone()));
    }
    let mut router = routes.layer(layer);
    if api_keys.is_none() {
        // Runs before the guard: a key sent to a server that takes none gets told so,
        // instead of a bare "no token".
        router = router.layer(axum::middleware::from_fn(keys_are_off));
    }
    Ok(App { router, api_keys })
}

/// `401 api_keys_disabled` for any request carrying `X-API-Key` when `NOTES_API_KEYS` is not set.
async fn keys_are_off(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if request.headers().contains_key("x-api-key") {
        let body = serde_json::json!({"error": {
            "code": "api_keys_disabled",
            "message": "This server does not accept API keys (NOTES_API_KEYS is not set); send a bearer token instead.",
        }});
        return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    next.run(request).await
}

/// [`build`], for callers that only want the router.
pub async fn build_router(config: &Config) -> anyhow::Result<Router> {
    Ok(build(config).await?.router)
}

/// Binds `config.listen`, prints `notes-api listening on http://ADDR` and serves until
/// Ctrl-C or SIGTERM, then reports the remaining API-key usage.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let app = build(&config).await?;
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    println!("notes-api listening on http://{}", listener.local_addr()?);
    run(app, listener, shutdown_signal()).await
}

/// Serves `app` on `listener` until `shutdown` completes, lets in-flight requests finish,
/// then flushes API-key usage (so a graceful stop loses no counts).
pub async fn run(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, app.router.clone()).with_graceful_shutdown(shutdown).await?;
    app.flush_usage().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what `docker stop`, systemd and Kubernetes send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
