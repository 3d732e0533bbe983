//! Tenant API keys: their lifecycle (create, update, revoke, rotate with a grace period),
//! verification for `POST /v1/api-keys/verify`, and usage metering that never writes to
//! the database per request.
//!
//! A key's plaintext exists only in the answer that creates it; the store keeps its SHA-256
//! and a display prefix. Rotation mints a successor with the same name, scopes and limits
//! and lets the old key work until the grace period ends; only an active key rotates.
//!
//! Usage is counted in memory ([`UsageMeter`]) and added to the database in one
//! transaction per flush ([`flush_usage`]): every [`USAGE_FLUSH_INTERVAL`] by a background
//! task, and once more at graceful shutdown, so totals are exact and survive a restart.
//! A crash (kill -9) loses at most the last interval's counts. `last_used_at` moves with
//! each flush, so it is updated at most once per interval per key. Rate limits are per
//! node ([`crate::throttle::RateLimiter`]); several nodes each allow the limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use cognate_core::StoreError;
use cognate_core::apikey::{self, ApiKey, KeyRefusal, KeyStatus, UsageDelta, UsageRow};
use cognate_core::crypto::constant_time_eq;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::tenant::{TenantId, TenantStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;

/// How often counted usage is written to the database.
pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// Why a key operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("no such API key")]
    NotFound,
    /// Revoked, expired or already rotated.
    #[error("the key is not active")]
    NotActive,
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// Creates a key for `template.tenant_id` with the template's name, scopes, limits, owner
/// and expiry; returns the record and the key's only plaintext.
pub async fn create(state: &AppState, template: &ApiKey) -> Result<(ApiKey, String), ApiKeyError> {
    let (record, key) = mint(state, &template.tenant_id, template);
    state.store.create_api_key(&record).await?;
    tracing::info!(tenant = %record.tenant_id, key = %record.id, by = %record.created_by, "API key created");
    Ok((record, key))
}

pub async fn get(state: &AppState, tenant: &TenantId, id: &str) -> Result<ApiKey, ApiKeyError> {
    state.store.get_api_key(tenant, id).await?.ok_or(ApiKeyError::NotFound)
}

/// A page of the tenant's keys, by id.
pub async fn list(state: &AppState, tenant: &TenantId, page: &PageRequest) -> Result<Vec<ApiKey>, ApiKeyError> {
    Ok(state.store.list_api_keys(tenant, page).await?)
}

/// Changes the key `id` with `edit` (name, scopes, rate limit, service account) and stores it.
pub async fn update<E: From<ApiKeyError>>(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    edit: impl FnOnce(&mut ApiKey) -> Result<(), E>,
) -> Result<ApiKey, E> {
    let mut key = get(state, tenant, id).await?;
    edit(&mut key)?;
    state.store.update_api_key(&key).await.map_err(not_found)?;
    Ok(key)
}

/// Revokes the key (already revoked: nothing changes).
pub async fn revoke(state: &AppState, tenant: &TenantId, id: &str, by: &str) -> Result<(), ApiKeyError> {
    if state.store.revoke_api_key(tenant, id, state.clock.now_millis()).await.map_err(not_found)? {
        tracing::info!(tenant = %tenant, key = %id, by = %by, "API key revoked");
    }
    Ok(())
}

/// Rotates the active key `id`: a successor with the same name, scopes and limits, made by
/// `by`; the old key keeps working for `grace_secs`. Returns the successor and its only
/// plaintext.
pub async fn rotate(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    grace_secs: i64,
    by: &str,
) -> Result<(ApiKey, String), ApiKeyError> {
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
    if !state.store.rotate_api_key(tenant, &old.id, now + grace_secs * 1000, &record).await.map_err(not_found)? {
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
    serves: impl Fn(&PoolId) -> bool,
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
                let served = tenant.is_some_and(|t| serves(&t.pool_id));
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
/// platform admins). A key of a tenant placed elsewhere is refused as unknown, so a client
/// of an unrelated pool learns nothing about it, not even its id.
pub async fn verify(state: &AppState, key: &str, serving: Option<&PoolId>) -> Result<ApiKey, VerifyFailure> {
    if !apikey::well_formed(key) {
        return Err(KeyRefusal::Malformed.into());
    }
    let hash = apikey::key_hash(key);
    let record = state.store.get_api_key_by_hash(&hash).await?.ok_or(KeyRefusal::Unknown)?;
    if !constant_time_eq(record.key_hash.as_bytes(), hash.as_bytes()) {
        return Err(KeyRefusal::Unknown.into());
    }
    let tenant = state.store.get_tenant(&record.tenant_id).await?.ok_or(KeyRefusal::Unknown)?;
    if serving.is_some_and(|pool| *pool != tenant.pool_id) {
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
