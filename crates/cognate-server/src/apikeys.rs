//! API keys on the server: verification for `POST /v1/api-keys/verify`, per-key rate
//! limits, and usage metering that never writes to the database per request.
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
use cognate_core::apikey::{self, ApiKey, KeyRefusal, UsageDelta};
use cognate_core::crypto::constant_time_eq;
use cognate_core::ids::PoolId;
use cognate_core::tenant::{TenantId, TenantStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;

/// How often counted usage is written to the database.
pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

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
