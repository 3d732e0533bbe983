//! Liveness, readiness and draining.
//!
//! When the node receives a stop signal it drains first (`cognate serve` sets
//! [`AppState::draining`] and keeps serving for `COGNATE_SHUTDOWN_DRAIN_SECS`): `/readyz`
//! answers 503 `draining`, so load balancers and orchestrators take the node out of rotation,
//! and every response carries `Connection: close`, so keep-alive clients open their next
//! connection elsewhere. Then the listener closes and the requests under way finish.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

use crate::AppState;

/// Liveness: the process answers.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers too.
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.draining.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "draining"})));
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready", "backend": state.store.backend()}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable"})))
        }
    }
}

/// While draining, asks the client to close the connection after this response.
pub(crate) async fn close_when_draining(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if state.draining.load(Ordering::Relaxed) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
