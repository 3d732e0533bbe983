//! `GET /{poolId}/revocations?after=<cursor>&limit=<n>`: a pool's revocation feed.
//!
//! Cognate's JWTs verify offline until `exp`, so a guard that only checks signatures keeps
//! accepting a revoked token for up to its lifetime. Guards poll this feed to learn
//! revocations before `exp`; how stale they may be is their poll interval. Two kinds of
//! item, oldest first:
//! - `{"kind": "token", "originJti", "at"}`: a sign-in's token family was revoked
//!   (`RevokeToken`, `/oauth2/revoke`, refresh token reuse); refuse every token whose
//!   `origin_jti` matches.
//! - `{"kind": "user", "sub", "notBefore"}`: global sign-out (or a password reset, user
//!   disablement…): refuse that user's tokens with `iat < notBefore`. Times are whole
//!   seconds (the moment rounded down), so a token with `iat == notBefore` may come from
//!   either side of the sign-out; a guard that must be exact introspects it.
//!
//! The caller authenticates with HTTP Basic as a confidential client of that pool.
//! Cursors are opaque strings; pass `nextCursor` back as `after`. Without `after` the
//! feed starts at the beginning. `limit` is 1 to 1000, default 100.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cognate_core::ids::PoolId;
use cognate_core::token::{RevocationEvent, RevocationKind};
use serde_json::{Value, json};

use super::common::{OAuthError, authenticate_client, no_store, parse_form};
use crate::AppState;
use crate::services::tokens;

/// Items per page when the caller names no `limit`.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u32 = 1000;

pub(super) async fn revocations(
    State(state): State<AppState>,
    Path(pool_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    match run(&state, &pool_id, query.as_deref(), &headers).await {
        Ok(body) => no_store(StatusCode::OK, body),
        Err(e) => e.into_response(),
    }
}

/// The parsed `after` and `limit` parameters.
#[derive(Debug, PartialEq)]
struct FeedQuery {
    after: Option<i64>,
    limit: u32,
}

fn parse_query(query: Option<&str>) -> Result<FeedQuery, String> {
    let params = parse_form(query.unwrap_or_default())?;
    let after = match params.get("after").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or("after is not a cursor of this feed.")?),
    };
    let limit = match params.get("limit").map(String::as_str) {
        None | Some("") => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| format!("limit must be between 1 and {MAX_LIMIT}."))?,
    };
    Ok(FeedQuery { after, limit })
}

async fn run(state: &AppState, pool_id: &str, query: Option<&str>, headers: &HeaderMap) -> Result<Value, OAuthError> {
    let caller = authenticate_client(state, headers, None, true).await?.client;
    // One answer for a malformed id, an unknown pool and someone else's pool.
    let pool = PoolId::parse(pool_id).filter(|p| *p == caller.pool_id).ok_or_else(|| {
        let mut e = OAuthError::bad("unauthorized_client", "The client may not read this pool's revocations.");
        e.status = StatusCode::FORBIDDEN;
        e
    })?;
    let q = parse_query(query).map_err(OAuthError::invalid_request)?;
    let events = tokens::revocations_after(state, &pool, q.after.unwrap_or(0), q.limit).await?;
    let next = match events.last() {
        Some(last) => last.seq.to_string(),
        None => q.after.unwrap_or(0).to_string(),
    };
    let items: Vec<Value> = events.iter().map(item).collect();
    Ok(json!({"items": items, "nextCursor": next}))
}

fn item(e: &RevocationEvent) -> Value {
    let at = e.at.div_euclid(1000);
    match e.kind {
        RevocationKind::Token => {
            json!({"cursor": e.seq.to_string(), "kind": "token", "originJti": e.subject, "at": at})
        }
        RevocationKind::User => json!({"cursor": e.seq.to_string(), "kind": "user", "sub": e.subject, "notBefore": at}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked() {
        assert_eq!(parse_query(None), Ok(FeedQuery { after: None, limit: DEFAULT_LIMIT }));
        assert_eq!(parse_query(Some("after=42&limit=2")), Ok(FeedQuery { after: Some(42), limit: 2 }));
        assert_eq!(parse_query(Some("limit=1000")).map(|q| q.limit), Ok(1000));
        for bad in ["after=x", "after=-1", "limit=0", "limit=1001", "limit=two", "after=1&after=2"] {
            assert!(parse_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
