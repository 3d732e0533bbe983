//! Tenant API keys: their lifecycle (create, update, revoke, rotate with a grace period),
//! verification for `POST /v1/api-keys/verify`, and usage metering that never writes to
//! the database per request.
//!
//! A key's plaintext exists only in the answer that creates it; the store keeps its SHA-256
//! and a display prefix. Rotation mints a successor with the same name, scopes and limits
//! and lets the old key work until the grace period ends; only an active key rotates.
//!
//! The rules of a key's fields (name, scopes, lifetime, rate limit, service account label,
//! rotation grace) live here too, with the words `/v1` answers, so `/v1` and the console
//! refuse the same input the same way ([`NewKey`], [`KeyChanges`], [`KeyInputError`]).
//!
//! Usage is counted in memory ([`UsageMeter`]) and added to the database in one
//! transaction per flush ([`flush_usage`]): every [`USAGE_FLUSH_INTERVAL`] by a background
//! task, and once more at graceful shutdown, so totals are exact and survive a restart.
//! A crash (kill -9) loses at most the last interval's counts. `last_used_at` moves with
//! each flush, so it is updated at most once per interval per key. Rate limits go
//! through [`crate::throttle::RateLimiter`]: per node, or for all nodes together with
//! `COGNATE_REDIS_URL`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use cognate_core::StoreError;
use cognate_core::apikey::{self, ApiKey, KeyRefusal, KeyStatus, RateLimit, UsageDelta, UsageRow};
use cognate_core::crypto::constant_time_eq;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::tenant::{TenantId, TenantStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;

/// How often counted usage is written to the database.
pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// Longest key name (and service account label), in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Most scopes on one key.
pub const MAX_SCOPES: usize = 20;
/// Longest scope, in characters.
pub const MAX_SCOPE_CHARS: usize = 128;
/// Longest lifetime a key may be given: 10 years, in seconds.
pub const MAX_EXPIRES_IN_SECS: i64 = 10 * 366 * 24 * 3600;
/// Default grace period of a rotation: 24 hours, in seconds.
pub const DEFAULT_GRACE_SECS: i64 = 24 * 3600;
/// Longest grace period: 30 days, in seconds.
pub const MAX_GRACE_SECS: i64 = 30 * 24 * 3600;
/// Largest rate limit: requests per window.
pub const MAX_RATE_REQUESTS: u32 = 1_000_000;
/// Longest rate limit window, in seconds (a day).
pub const MAX_RATE_WINDOW_SECS: u32 = 86_400;

/// Why a key operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("no such API key")]
    NotFound,
    /// Revoked, expired or already rotated.
    #[error("the key is not active")]
    NotActive,
    /// A field breaks its rule (the message says which and how).
    #[error(transparent)]
    Invalid(#[from] KeyInputError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key field that breaks its rule. The messages are the ones `/v1` answers (they name
/// the JSON fields); the console shows them as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyInputError {
    /// A name or service account label: empty, too long, or with control characters.
    #[error("The name must be 1 to {MAX_NAME_CHARS} characters without control characters.")]
    Name,
    #[error("At most {MAX_SCOPES} scopes.")]
    TooManyScopes,
    #[error("Invalid scope {0:?}: 1 to {MAX_SCOPE_CHARS} printable ASCII characters without spaces.")]
    Scope(String),
    #[error("rateLimit.requests must be 1 to 1000000 and rateLimit.perSeconds 1 to 86400.")]
    RateLimit,
    #[error("expiresInSeconds must be 1 to {MAX_EXPIRES_IN_SECS}.")]
    Expiry,
    #[error("gracePeriodSeconds must be 0 to {MAX_GRACE_SECS}.")]
    Grace,
}

/// A key to create, as asked (unchecked): [`create`] checks each field.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    /// 1 to [`MAX_NAME_CHARS`] characters, trimmed, no control characters.
    pub name: String,
    /// Up to [`MAX_SCOPES`] scopes; repeats are dropped.
    pub scopes: Vec<String>,
    /// Lifetime in seconds, 1 to [`MAX_EXPIRES_IN_SECS`]; `None`: the key does not expire.
    pub expires_in_seconds: Option<i64>,
    pub rate_limit: Option<RateLimit>,
    /// A label for the program using the key.
    pub service_account: Option<String>,
}

/// Changes to a key (unchecked): `None` leaves a field as it is; for the rate limit and
/// service account, `Some(None)` removes it.
#[derive(Debug, Clone, Default)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub rate_limit: Option<Option<RateLimit>>,
    pub service_account: Option<Option<String>>,
}

/// A key name or label: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn valid_name(name: &str) -> Result<String, KeyInputError> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(KeyInputError::Name);
    }
    Ok(name.to_owned())
}

/// Scopes: at most [`MAX_SCOPES`], each 1 to [`MAX_SCOPE_CHARS`] printable ASCII characters
/// without spaces; repeats dropped, order kept.
pub fn valid_scopes(scopes: Vec<String>) -> Result<Vec<String>, KeyInputError> {
    if scopes.len() > MAX_SCOPES {
        return Err(KeyInputError::TooManyScopes);
    }
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        let ok = (1..=MAX_SCOPE_CHARS).contains(&scope.len()) && scope.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(KeyInputError::Scope(scope));
        }
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(out)
}

/// A rate limit: 1 to [`MAX_RATE_REQUESTS`] requests per 1 to [`MAX_RATE_WINDOW_SECS`] seconds.
pub fn valid_rate_limit(limit: RateLimit) -> Result<RateLimit, KeyInputError> {
    if !(1..=MAX_RATE_REQUESTS).contains(&limit.requests) || !(1..=MAX_RATE_WINDOW_SECS).contains(&limit.per_seconds) {
        return Err(KeyInputError::RateLimit);
    }
    Ok(limit)
}

fn valid_label(label: Option<String>) -> Result<Option<String>, KeyInputError> {
    label.map(|l| valid_name(&l)).transpose()
}

/// A rotation's grace period in seconds: 0 to [`MAX_GRACE_SECS`]; `None`: the default.
pub fn valid_grace(grace: Option<i64>) -> Result<i64, KeyInputError> {
    let grace = grace.unwrap_or(DEFAULT_GRACE_SECS);
    if !(0..=MAX_GRACE_SECS).contains(&grace) {
        return Err(KeyInputError::Grace);
    }
    Ok(grace)
}

fn not_found(e: StoreError) -> ApiKeyError {
    match e {
        StoreError::NotFound(_) => ApiKeyError::NotFound,
        other => other.into(),
    }
}

/// A fresh key record for `tenant` from `template` (the plaintext is returned beside it).
fn mint(state: &AppState, tenant: &TenantId, template: &ApiKey) -> (ApiKey, String) {
    let (key, key_hash) = apikey::generate_key(state.rng.as_ref());
    let record = ApiKey {
        id: apikey::generate_key_id(state.rng.as_ref()),
        tenant_id: tenant.clone(),
        key_hash,
        display_prefix: apikey::display_prefix(&key),
        ..template.clone()
    };
    (record, key)
}

/// Creates a key of `tenant` as `req` asks, made by `by` (a sub or `admin:` credential),
/// once each field is checked; returns the record and the key's only plaintext.
pub async fn create(
    state: &AppState,
    tenant: &TenantId,
    by: &str,
    req: NewKey,
) -> Result<(ApiKey, String), ApiKeyError> {
    let name = valid_name(&req.name)?;
    let scopes = valid_scopes(req.scopes)?;
    let rate_limit = req.rate_limit.map(valid_rate_limit).transpose()?;
    let service_account = valid_label(req.service_account)?;
    let now = state.clock.now_millis();
    let expires_at = match req.expires_in_seconds {
        None => None,
        Some(s) if (1..=MAX_EXPIRES_IN_SECS).contains(&s) => Some(now + s * 1000),
        Some(_) => return Err(KeyInputError::Expiry.into()),
    };
    let template = ApiKey {
        id: String::new(),
        tenant_id: tenant.clone(),
        key_hash: String::new(),
        display_prefix: String::new(),
        name,
        scopes,
        service_account,
        created_by: by.to_owned(),
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
        rotated_from: None,
        grace_until: None,
        rate_limit,
    };
    let (record, key) = mint(state, tenant, &template);
    let event = key_event(state, "api_key.created", &record);
    state.store.create_api_key_with(&record, &[event]).await?;
    tracing::info!(tenant = %record.tenant_id, key = %record.id, by = %record.created_by, "API key created");
    Ok((record, key))
}

/// An `api_key.*` event: ids, name, scopes and prefix (never the key or its hash).
fn key_event(state: &AppState, kind: &str, k: &ApiKey) -> cognate_core::webhook::WebhookEvent {
    crate::services::webhooks::event(
        state,
        k.tenant_id.as_str(),
        kind,
        serde_json::json!({
            "tenantId": k.tenant_id.as_str(),
            "apiKeyId": k.id,
            "name": k.name,
            "prefix": k.display_prefix,
            "scopes": k.scopes,
            "rotatedFrom": k.rotated_from,
            "createdBy": k.created_by,
        }),
    )
}

pub async fn get(state: &AppState, tenant: &TenantId, id: &str) -> Result<ApiKey, ApiKeyError> {
    state.store.get_api_key(tenant, id).await?.ok_or(ApiKeyError::NotFound)
}

/// A page of the tenant's keys, by id.
pub async fn list(state: &AppState, tenant: &TenantId, page: &PageRequest) -> Result<Vec<ApiKey>, ApiKeyError> {
    Ok(state.store.list_api_keys(tenant, page).await?)
}

/// Applies `changes` (name, scopes, rate limit, service account) to the key `id` of
/// `tenant`, each checked, and stores it. An unknown key is `NotFound` before any check.
pub async fn update(state: &AppState, tenant: &TenantId, id: &str, changes: KeyChanges) -> Result<ApiKey, ApiKeyError> {
    let mut key = get(state, tenant, id).await?;
    if let Some(name) = changes.name {
        key.name = valid_name(&name)?;
    }
    if let Some(scopes) = changes.scopes {
        key.scopes = valid_scopes(scopes)?;
    }
    if let Some(limit) = changes.rate_limit {
        key.rate_limit = limit.map(valid_rate_limit).transpose()?;
    }
    if let Some(label) = changes.service_account {
        key.service_account = valid_label(label)?;
    }
    state.store.update_api_key(&key).await.map_err(not_found)?;
    Ok(key)
}

/// Revokes the key (already revoked: nothing changes).
pub async fn revoke(state: &AppState, tenant: &TenantId, id: &str, by: &str) -> Result<(), ApiKeyError> {
    let event = crate::services::webhooks::event(
        state,
        tenant.as_str(),
        "api_key.revoked",
        serde_json::json!({"tenantId": tenant.as_str(), "apiKeyId": id}),
    );
    if state.store.revoke_api_key_with(tenant, id, state.clock.now_millis(), &[event]).await.map_err(not_found)? {
        tracing::info!(tenant = %tenant, key = %id, by = %by, "API key revoked");
    }
    Ok(())
}

/// Rotates the active key `id`: a successor with the same name, scopes and limits, made by
/// `by`; the old key keeps working for `grace_secs` (checked by [`valid_grace`]; `None`:
/// 24 hours). Returns the successor and its only plaintext.
pub async fn rotate(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    grace_secs: Option<i64>,
    by: &str,
) -> Result<(ApiKey, String), ApiKeyError> {
    let grace_secs = valid_grace(grace_secs)?;
    let old = get(state, tenant, id).await?;
    let now = state.clock.now_millis();
    if old.status(now) != KeyStatus::Active {
        return Err(ApiKeyError::NotActive);
    }
    let template = ApiKey {
        created_by: by.to_owned(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
        rotated_from: Some(old.id.clone()),
        grace_until: None,
        ..old.clone()
    };
    let (record, key) = mint(state, tenant, &template);
    let event = key_event(state, "api_key.rotated", &record);
    let rotated = state.store.rotate_api_key_with(tenant, &old.id, now + grace_secs * 1000, &record, &[event]).await;
    if !rotated.map_err(not_found)? {
        return Err(ApiKeyError::NotActive);
    }
    tracing::info!(tenant = %tenant, old = %old.id, new = %record.id, grace_secs, by = %by, "API key rotated");
    Ok((record, key))
}

/// Records usage a verifier counted. Items of tenants `serves` refuses (another pool's, or
/// deleted or moved since the counts were taken) are dropped and the rest recorded, so one
/// stale count never blocks a verifier's reports. Returns how many items were dropped.
pub async fn report_usage(
    state: &AppState,
    deltas: Vec<UsageDelta>,
    serves: impl Fn(&TenantId, &PoolId) -> bool,
) -> Result<usize, StoreError> {
    // Each tenant's placement is read once per report.
    let mut placements: HashMap<TenantId, bool> = HashMap::new();
    let mut kept = Vec::with_capacity(deltas.len());
    let mut dropped = 0;
    for delta in deltas {
        let served = match placements.get(&delta.tenant_id) {
            Some(served) => *served,
            None => {
                let tenant = state.store.get_tenant(&delta.tenant_id).await?;
                let served = tenant.is_some_and(|t| serves(&t.id, &t.pool_id));
                placements.insert(delta.tenant_id.clone(), served);
                served
            }
        };
        if served {
            kept.push(delta);
        } else {
            dropped += 1;
        }
    }
    state.store.add_api_key_usage(&kept).await?;
    Ok(dropped)
}

/// Accepted requests per key per day of `tenant` over days `from..=to` (days since the
/// epoch, UTC), including usage counted on this node and not yet written.
pub async fn usage(state: &AppState, tenant: &TenantId, from: i64, to: i64) -> Result<Vec<UsageRow>, StoreError> {
    flush_usage(state).await?;
    state.store.api_key_usage(tenant, from, to).await
}

/// A day (days since the epoch, UTC) as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    (time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(day)).date().format(DAY_FORMAT).unwrap_or_default()
}

/// `YYYY-MM-DD`.
pub const DAY_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Why a verification did not accept a key.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    #[error(transparent)]
    Refused(#[from] KeyRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a presented key: shape and checksum first (no storage touched), then the stored
/// record by hash, its own state (revoked, expired, rotated past grace) and its tenant's.
///
/// `serving` is the pool whose tenants the verifier answers for (`None`: any tenant, for
/// platform admins), `only` the one tenant it serves (a tenant-owned client). A key of a
/// tenant placed elsewhere (or of another tenant than `only`) is refused as unknown, so a
/// client of an unrelated pool or tenant learns nothing about it, not even its id.
pub async fn verify(
    state: &AppState,
    key: &str,
    serving: Option<&PoolId>,
    only: Option<&TenantId>,
) -> Result<ApiKey, VerifyFailure> {
    if !apikey::well_formed(key) {
        return Err(KeyRefusal::Malformed.into());
    }
    let hash = apikey::key_hash(key);
    let record = state.store.get_api_key_by_hash(&hash).await?.ok_or(KeyRefusal::Unknown)?;
    if !constant_time_eq(record.key_hash.as_bytes(), hash.as_bytes()) {
        return Err(KeyRefusal::Unknown.into());
    }
    let tenant = state.store.get_tenant(&record.tenant_id).await?.ok_or(KeyRefusal::Unknown)?;
    if serving.is_some_and(|pool| *pool != tenant.pool_id) || only.is_some_and(|t| *t != tenant.id) {
        return Err(KeyRefusal::Unknown.into());
    }
    record.check(state.clock.now_millis())?;
    if tenant.status != TenantStatus::Active {
        return Err(KeyRefusal::TenantSuspended.into());
    }
    Ok(record)
}

/// (tenant, key id, day) of a usage total.
type UsageKey = (TenantId, String, i64);

/// Accepted requests per (tenant, key, day) with the latest use (ms), waiting to be written.
#[derive(Debug, Default)]
pub struct UsageMeter {
    pending: Mutex<HashMap<UsageKey, (i64, i64)>>,
}

impl UsageMeter {
    /// Counts `count` accepted requests of a key at `at` (ms).
    pub fn record(&self, tenant: &TenantId, key_id: &str, at: i64, count: i64) {
        let Ok(mut pending) = self.pending.lock() else { return };
        let entry = pending.entry((tenant.clone(), key_id.to_owned(), apikey::day_of(at))).or_insert((0, at));
        entry.0 += count;
        entry.1 = entry.1.max(at);
    }

    /// Everything counted so far, leaving the meter empty.
    pub fn take(&self) -> Vec<UsageDelta> {
        let Ok(mut pending) = self.pending.lock() else { return Vec::new() };
        pending
            .drain()
            .map(|((tenant_id, key_id, day), (count, last_used_at))| UsageDelta {
                tenant_id,
                key_id,
                day,
                count,
                last_used_at,
            })
            .collect()
    }

    /// Puts back deltas a failed flush could not write.
    pub fn restore(&self, deltas: Vec<UsageDelta>) {
        for d in deltas {
            let Ok(mut pending) = self.pending.lock() else { return };
            let entry = pending.entry((d.tenant_id, d.key_id, d.day)).or_insert((0, d.last_used_at));
            entry.0 += d.count;
            entry.1 = entry.1.max(d.last_used_at);
        }
    }
}

/// Writes the counted usage; on failure the counts stay for the next flush. Returns how
/// many (tenant, key, day) totals were written.
pub async fn flush_usage(state: &AppState) -> Result<usize, StoreError> {
    let deltas = state.usage.take();
    if deltas.is_empty() {
        return Ok(0);
    }
    match state.store.add_api_key_usage(&deltas).await {
        Ok(()) => Ok(deltas.len()),
        Err(e) => {
            state.usage.restore(deltas);
            Err(e)
        }
    }
}

/// Flushes usage every `interval` until `stop` turns true, then once more.
pub fn spawn_usage_flusher(state: AppState, interval: Duration, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    crate::periodic::spawn(interval, stop, move || {
        let state = state.clone();
        async move {
            if let Err(e) = flush_usage(&state).await {
                tracing::error!(error = %e, "could not write API key usage; keeping it for the next flush");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked_and_deduplicated() {
        assert_eq!(valid_scopes(vec!["a:read".into(), "a:read".into(), "b".into()]).unwrap(), ["a:read", "b"]);
        assert!(valid_scopes(vec!["has space".into()]).is_err());
        assert!(valid_scopes(vec![String::new()]).is_err());
        assert!(valid_scopes((0..21).map(|i| format!("s{i}")).collect()).is_err());
    }

    #[test]
    fn fields_keep_their_bounds() {
        assert_eq!(valid_name("  ci  ").unwrap(), "ci");
        assert_eq!(valid_name("a\0b"), Err(KeyInputError::Name));
        assert_eq!(valid_name(&"x".repeat(129)), Err(KeyInputError::Name));
        assert!(valid_rate_limit(RateLimit { requests: 0, per_seconds: 1 }).is_err());
        assert!(valid_rate_limit(RateLimit { requests: 1, per_seconds: 86_401 }).is_err());
        assert_eq!(valid_grace(None).unwrap(), DEFAULT_GRACE_SECS);
        assert_eq!(valid_grace(Some(MAX_GRACE_SECS + 1)), Err(KeyInputError::Grace));
        assert_eq!(format_day(0), "1970-01-01");
    }

    #[test]
    fn the_meter_aggregates_and_restores_exactly() {
        let meter = UsageMeter::default();
        let acme = TenantId::parse("acme").unwrap();
        meter.record(&acme, "ak_1", 1_000, 1);
        meter.record(&acme, "ak_1", 5_000, 2);
        meter.record(&acme, "ak_2", 2_000, 1);
        meter.record(&acme, "ak_1", 86_400_000, 1);
        let mut taken = meter.take();
        taken.sort_by_key(|d| (d.key_id.clone(), d.day));
        assert_eq!(taken.len(), 3);
        assert_eq!((taken[0].count, taken[0].last_used_at), (3, 5_000));
        assert!(meter.take().is_empty());
        meter.restore(taken);
        meter.record(&acme, "ak_1", 6_000, 1);
        let total: i64 = meter.take().iter().map(|d| d.count).sum();
        assert_eq!(total, 6);
    }
}
