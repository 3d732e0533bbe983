//! Brute-force protection for password checks.
//!
//! Failed attempts (wrong passwords, MFA codes and password-reset codes) are counted per
//! (user, client IP), per user and per client IP:
//! - after [`Limits::user_free_failures`] failures from one address, the user is locked
//!   *for that address* for a delay that doubles with each further failure (1 s, 2 s, 4 s …
//!   capped at [`Limits::max_delay_secs`]), so one attacker guessing cannot lock the victim
//!   out of their own sign-ins from elsewhere;
//! - after [`Limits::user_wide_failures`] failures from all addresses together (a guessing
//!   attack spread over many addresses), the user is locked everywhere the same way;
//! - after [`Limits::ip_free_failures`] failures an address is slowed for every user, so one
//!   attacker spraying many users is slowed without locking each victim.
//!
//! A completed sign-in clears the user's counts for its address and user-wide. Usernames
//! that do not exist are counted exactly like users (keyed by the name), so with
//! PreventUserExistenceErrors a lockout message cannot tell real users from unknown ones.
//!
//! Request *rates* are limited too ([`RateLimiter`], fixed windows): authentication
//! operations per client IP and per username, `/v1` requests per tenant, and API key
//! verifications per key. Over a limit the surfaces answer `TooManyRequestsException` /
//! `429` with `Retry-After`.
//!
//! The counters sit behind [`Limiter`] and [`RateLimiter`]. By default they live in this
//! process ([`MemoryLimiter`], [`WindowLimiter`]), so each node allows the limits on its
//! own; with `COGNATE_REDIS_URL` every node counts in one Redis ([`shared::RedisLimits`]),
//! so N nodes allow the limits once, not N times, and fall back to these in-process
//! counters when Redis does not answer. The traits are async for that I/O; the in-process
//! implementations never await.

pub mod shared;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cognate_core::Clock;

/// Throttling thresholds. Defaults: 5 free failures per user and address, 20 per user
/// from all addresses, 20 per address, delays up to 15 minutes; per minute at most 300
/// authentication requests per client IP, 60 per username, and 1,200 `/v1` requests per
/// tenant.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures one address may make against one user before that pair is delayed.
    pub user_free_failures: u32,
    /// Failures against one user from all addresses together before the user is delayed
    /// everywhere.
    pub user_wide_failures: u32,
    pub ip_free_failures: u32,
    pub max_delay_secs: i64,
    /// Authentication operations per client IP per minute.
    pub auth_per_ip_per_minute: u32,
    /// Authentication operations naming one username per minute.
    pub auth_per_user_per_minute: u32,
    /// `/v1` requests concerning one tenant per minute.
    pub admin_per_tenant_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            user_free_failures: 5,
            user_wide_failures: 20,
            ip_free_failures: 20,
            max_delay_secs: 900,
            auth_per_ip_per_minute: 300,
            auth_per_user_per_minute: 60,
            admin_per_tenant_per_minute: 1200,
        }
    }
}

/// Admits requests under a rate: at most `requests` per window of `per_seconds`, keyed
/// (e.g. `ip:…`, `user:…`, `tenant:…`, `key:…`: the part before the first `:` names the
/// kind of window). Windows are fixed and aligned on the epoch of `now_ms` (the server's
/// [`Clock`]). The answer when refused is the seconds until the window resets.
///
/// Implementations never fail: one that cannot reach its store answers from a local one
/// (a limit must neither open up nor turn into a server error).
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request and admits it, or refuses it without counting.
    async fn admit(&self, key: &str, requests: u32, per_seconds: u32, now_ms: i64) -> Result<(), u64>;
    /// Whether a request would be refused now, without counting one.
    async fn check(&self, key: &str, requests: u32, per_seconds: u32, now_ms: i64) -> Result<(), u64>;
}

/// The start of the fixed window of `per_seconds` holding `now` (ms), and its length (ms).
pub(crate) fn window_of(per_seconds: u32, now: i64) -> (i64, i64) {
    let window_ms = i64::from(per_seconds.max(1)) * 1000;
    (now - now.rem_euclid(window_ms), window_ms)
}

/// Whole seconds from `now` to the end of the window (at least 1): a client told to retry
/// sooner would be refused again.
pub(crate) fn retry_after(start: i64, window_ms: i64, now: i64) -> u64 {
    let wait_ms = start + window_ms - now;
    u64::try_from((wait_ms + 999).div_euclid(1000)).unwrap_or(1).max(1)
}

/// The in-process [`RateLimiter`]: fixed windows aligned on the epoch.
#[derive(Debug, Default)]
pub struct WindowLimiter {
    /// key -> (window start, count, window length), all ms.
    windows: Mutex<HashMap<String, (i64, u32, i64)>>,
}

/// Window entries kept before ended ones are pruned; if a spray of distinct keys leaves
/// more than this in open windows, those used once are forgotten (and, if that is not
/// enough, all: failing open beats a slow scan on every request).
const WINDOWS_PRUNE_AT: usize = 100_000;

impl WindowLimiter {
    /// [`RateLimiter::admit`] (`count`) or [`RateLimiter::check`], without awaiting: the
    /// shared limiter answers from here when its store does not.
    pub fn decide(&self, key: &str, requests: u32, per_seconds: u32, now: i64, count: bool) -> Result<(), u64> {
        let (start, window_ms) = window_of(per_seconds, now);
        let Ok(mut windows) = self.windows.lock() else { return Ok(()) };
        if count && windows.len() >= WINDOWS_PRUNE_AT {
            windows.retain(|_, (started, _, len)| now < *started + *len);
            if windows.len() >= WINDOWS_PRUNE_AT {
                // A spray of distinct keys: forget the windows it made (one request each),
                // keep the ones in real use (a user's reset codes, a busy key or tenant).
                tracing::warn!(
                    keys = windows.len(),
                    "rate-limit windows flooded with distinct keys; dropping single-use ones"
                );
                windows.retain(|_, (_, used, _)| *used > 1);
            }
            if windows.len() >= WINDOWS_PRUNE_AT {
                tracing::warn!(keys = windows.len(), "rate-limit windows still flooded; resetting");
                windows.clear();
            }
        }
        let used = match windows.get(key) {
            Some((s, n, _)) if *s == start => *n,
            _ => 0,
        };
        if used >= requests {
            return Err(retry_after(start, window_ms, now));
        }
        if count {
            windows.insert(key.to_owned(), (start, used + 1, window_ms));
        }
        Ok(())
    }
}

#[async_trait]
impl RateLimiter for WindowLimiter {
    async fn admit(&self, key: &str, requests: u32, per_seconds: u32, now: i64) -> Result<(), u64> {
        self.decide(key, requests, per_seconds, now, true)
    }

    async fn check(&self, key: &str, requests: u32, per_seconds: u32, now: i64) -> Result<(), u64> {
        self.decide(key, requests, per_seconds, now, false)
    }
}

/// Counts failures and answers whether keys may try now (else: seconds to wait). Each call
/// takes every key one step concerns (a sign-in checks the (user, address) pair and the
/// user; a failure counts against both and the address), so a shared implementation
/// answers a step in one round trip.
///
/// Implementations never fail: one that cannot reach its store answers from a local one.
#[async_trait]
pub trait Limiter: Send + Sync {
    /// `Ok` when none of `keys` is locked; else the longest wait, in seconds.
    async fn check(&self, keys: &[&str]) -> Result<(), i64>;
    /// Counts one failure against each key, delayed after its number of free failures.
    async fn fail(&self, keys: &[(&str, u32)]);
    /// Forgets the keys' failures (a completed sign-in).
    async fn succeed(&self, keys: &[&str]);
}

struct Entry {
    failures: u32,
    locked_until_ms: i64,
    last_ms: i64,
}

/// The in-process [`Limiter`].
pub struct MemoryLimiter {
    clock: Arc<dyn Clock>,
    max_delay_secs: i64,
    entries: Mutex<HashMap<String, Entry>>,
}

/// Entries kept before old ones are swept, bounding memory under a spray of keys.
const MAX_ENTRIES: usize = 100_000;
/// An entry idle this long is forgotten (1 hour).
pub(crate) const IDLE_MS: i64 = 3_600_000;
/// The doubling stops at 2^20 s (before `max_delay_secs` caps it), so the shift cannot
/// overflow however many failures pile up.
pub(crate) const MAX_EXPONENT: u32 = 20;

impl MemoryLimiter {
    pub fn new(clock: Arc<dyn Clock>, max_delay_secs: i64) -> Self {
        Self { clock, max_delay_secs, entries: Mutex::new(HashMap::new()) }
    }

    /// [`Limiter::check`] without awaiting (the shared limiter's fallback).
    pub fn check_now(&self, keys: &[&str]) -> Result<(), i64> {
        let now = self.clock.now_millis();
        let Ok(entries) = self.entries.lock() else { return Ok(()) };
        let wait = keys.iter().filter_map(|key| entries.get(*key)).map(|e| e.locked_until_ms - now).max().unwrap_or(0);
        if wait > 0 { Err((wait + 999) / 1000) } else { Ok(()) }
    }

    /// [`Limiter::fail`] without awaiting.
    pub fn fail_now(&self, keys: &[(&str, u32)]) {
        let now = self.clock.now_millis();
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| now - e.last_ms < IDLE_MS && e.locked_until_ms > now - IDLE_MS);
        }
        for &(key, free_failures) in keys {
            let e = entries.entry(key.to_owned()).or_insert(Entry { failures: 0, locked_until_ms: 0, last_ms: now });
            if now - e.last_ms > IDLE_MS {
                e.failures = 0;
            }
            e.failures += 1;
            e.last_ms = now;
            if e.failures >= free_failures {
                let exponent = (e.failures - free_failures).min(MAX_EXPONENT);
                let delay = (1i64 << exponent).min(self.max_delay_secs);
                e.locked_until_ms = now + delay * 1000;
            }
        }
    }

    /// [`Limiter::succeed`] without awaiting.
    pub fn succeed_now(&self, keys: &[&str]) {
        if let Ok(mut entries) = self.entries.lock() {
            for key in keys {
                entries.remove(*key);
            }
        }
    }
}

#[async_trait]
impl Limiter for MemoryLimiter {
    async fn check(&self, keys: &[&str]) -> Result<(), i64> {
        self.check_now(keys)
    }

    async fn fail(&self, keys: &[(&str, u32)]) {
        self.fail_now(keys);
    }

    async fn succeed(&self, keys: &[&str]) {
        self.succeed_now(keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    struct FakeClock(AtomicI64);
    impl Clock for FakeClock {
        fn now_millis(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn windows_admit_the_limit_then_say_when_to_retry() {
        let limiter = WindowLimiter::default();
        let admit = |key, n, per, now| limiter.decide(key, n, per, now, true);
        for _ in 0..3 {
            assert_eq!(admit("k", 3, 10, 1_000), Ok(()));
        }
        assert_eq!(admit("k", 3, 10, 1_500), Err(9));
        assert_eq!(admit("other", 3, 10, 1_500), Ok(()));
        assert_eq!(admit("k", 3, 10, 10_000), Ok(()));
        // At a window boundary the wait is the whole window, not one more second.
        for _ in 0..3 {
            admit("b", 3, 60, 60_000).unwrap();
        }
        assert_eq!(admit("b", 3, 60, 60_000), Err(60));
        // `check` looks without counting.
        assert_eq!(limiter.decide("c", 1, 60, 0, false), Ok(()));
        assert_eq!(limiter.decide("c", 1, 60, 0, false), Ok(()));
        admit("c", 1, 60, 0).unwrap();
        assert_eq!(limiter.decide("c", 1, 60, 0, false), Err(60));
    }

    #[test]
    fn delays_grow_after_free_failures_and_success_clears() {
        let clock = Arc::new(FakeClock(AtomicI64::new(0)));
        let limiter = MemoryLimiter::new(clock.clone(), 900);
        for _ in 0..4 {
            limiter.fail_now(&[("u", 5)]);
            assert!(limiter.check_now(&["u"]).is_ok());
        }
        limiter.fail_now(&[("u", 5)]);
        assert_eq!(limiter.check_now(&["u"]), Err(1));
        clock.0.store(1_000, Ordering::SeqCst);
        assert!(limiter.check_now(&["u"]).is_ok());
        limiter.fail_now(&[("u", 5)]);
        assert_eq!(limiter.check_now(&["u"]), Err(2));
        assert!(limiter.check_now(&["other"]).is_ok());
        // Several keys: the longest wait answers.
        assert_eq!(limiter.check_now(&["other", "u"]), Err(2));
        limiter.succeed_now(&["u"]);
        assert!(limiter.check_now(&["u"]).is_ok());
    }
}

/// Which request-rate window refused an authentication request, and the seconds to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRate {
    Address(u64),
    User(u64),
}

/// Counts one authentication request (a sign-in step, sign-up, a code, password recovery)
/// in the per-address window and, when it names a user (`(pool or client, username)`), the
/// per-username window: every surface that authenticates someone calls this, so the API
/// and the hosted login share one allowance.
pub async fn admit_auth(
    state: &crate::AppState,
    ip: Option<std::net::IpAddr>,
    user: Option<(&str, &str)>,
) -> Result<(), AuthRate> {
    let now = state.clock.now_millis();
    let limits = &state.limits;
    if let Some(ip) = ip.map(crate::net::counted_as) {
        state.rates.admit(&format!("auth-ip:{ip}"), limits.auth_per_ip_per_minute, 60, now).await.map_err(|wait| {
            state.metrics.rate_limited(crate::metrics::RateWindow::AuthAddress);
            AuthRate::Address(wait)
        })?;
    }
    if let Some((pool, name)) = user {
        let key = format!("auth-user:{pool}:{}", name.to_lowercase());
        state.rates.admit(&key, limits.auth_per_user_per_minute, 60, now).await.map_err(|wait| {
            state.metrics.rate_limited(crate::metrics::RateWindow::AuthUser);
            AuthRate::User(wait)
        })?;
    }
    Ok(())
}
