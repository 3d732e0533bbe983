//! Brute-force counters and rate windows shared by every node through one Redis
//! (`COGNATE_REDIS_URL`), so that N nodes allow the limits once rather than N times.
//!
//! Semantics are those of the in-process [`MemoryLimiter`] and [`WindowLimiter`], computed
//! in Redis by Lua scripts (`EVALSHA`, loaded again if Redis forgot them), one round trip
//! per check, admission, failure or success. Time is the server's [`Clock`], passed to the
//! scripts, never Redis' own: every node decides on the same timeline as the in-process
//! counters, and tests stay deterministic.
//!
//! Keys (`{prefix}` is `COGNATE_REDIS_PREFIX`, default `cognate`):
//! - `{prefix}:lock:{kind}:{hash}`: a hash `n` (failures), `until` (locked until, ms),
//!   `last` (last failure, ms); expires an hour after the last failure or when its lock
//!   ends, whichever is later (an idle hour resets the count anyway);
//! - `{prefix}:rate:{kind}:{hash}:{window start, s}`: the count of one fixed window;
//!   expires shortly after the window ends.
//!
//! `kind` is the caller's label (`user`, `ip`, `auth-ip`, `tenant`, `key`, …), kept in
//! clear so an operator can size and inspect by pattern. `hash` is an HMAC-SHA-256 (128
//! bits kept) of the whole key under a key derived from the master key: the keys would
//! otherwise carry usernames (often email addresses), client IP addresses, subs and API key
//! ids in clear into a store whose snapshots, `MONITOR` and `SCAN` are rarely guarded like
//! the database; every node holds the master key, so they all derive the same names, and
//! the names have a fixed length whatever the username.
//!
//! Failure: every call is bounded ([`RedisSettings::timeout`], 250 ms by default). A call
//! that errors or times out is answered by this node's own counters ([`MemoryLimiter`],
//! [`WindowLimiter`], which every answered call also updates, so they hold this node's
//! recent history when Redis goes), counted in `cognate_shared_limits_fallbacks_total`,
//! and logged as a warning at most every 30 s. For a second after a failure the node does
//! not try Redis at all (so a hung Redis costs one timeout a second, not one per request),
//! then tries again and goes back to it as soon as it answers. Limits therefore never open
//! up and never turn into a server error: without Redis they are per node, as without
//! `COGNATE_REDIS_URL`. The connection is made lazily and re-made in the background, so a
//! node starts and serves while Redis is down.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cognate_core::Clock;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::{IDLE_MS, Limiter, MAX_EXPONENT, MemoryLimiter, RateLimiter, WindowLimiter, retry_after, window_of};
use crate::metrics::{LimitsBackend, Metrics};

/// The key prefix unless `COGNATE_REDIS_PREFIX` says otherwise.
pub const DEFAULT_PREFIX: &str = "cognate";
/// How long one Redis call may take before the node answers on its own. 250 ms: far above
/// a healthy round trip (well under a millisecond on a LAN), short enough that a hung
/// Redis does not stall sign-ins.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failed call, Redis is left alone this long (calls are answered locally).
const REST: Duration = Duration::from_secs(1);
/// At most one warning about an unreachable Redis per this long.
const WARN_EVERY: Duration = Duration::from_secs(30);
/// Rate windows live this much past their end, so a node whose clock lags a little still
/// finds the count it shares.
const WINDOW_SLACK_MS: i64 = 10_000;
/// The label of the key that names Redis keys (see the module documentation).
const MAC_LABEL: &str = "shared-limits-keys";

/// How to reach Redis (`COGNATE_REDIS_URL`, `COGNATE_REDIS_PREFIX`,
/// `COGNATE_REDIS_TIMEOUT_MS`).
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://[user][:password@]host[:port][/db]` or `unix:///path`. May hold a password.
    pub url: SecretString,
    /// Namespace of every key. Defaults to [`DEFAULT_PREFIX`].
    pub prefix: String,
    /// Bound of each call. Defaults to [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
}

/// A setting that cannot work, found at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SharedLimitsError {
    #[error("TLS (rediss://) is not supported: reach Redis over a private network or a local TLS tunnel")]
    Tls,
    /// The Redis client's own words; they never repeat the URL (nor its password).
    #[error("{0}")]
    Url(String),
    #[error("the key prefix must be 1 to 64 letters, digits or '-', '_', '.', ':'")]
    Prefix,
    #[error("the timeout must be between 10 and 10000 ms")]
    Timeout,
}

impl RedisSettings {
    /// Checks the settings without connecting.
    pub fn check(&self) -> Result<(), SharedLimitsError> {
        self.client().map(drop)
    }

    fn client(&self) -> Result<redis::Client, SharedLimitsError> {
        let url = self.url.expose_secret();
        if url.starts_with("rediss:") || url.starts_with("valkeys:") {
            return Err(SharedLimitsError::Tls);
        }
        if self.prefix.is_empty()
            || self.prefix.len() > 64
            || !self.prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(SharedLimitsError::Prefix);
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(10)).contains(&self.timeout) {
            return Err(SharedLimitsError::Timeout);
        }
        redis::Client::open(url).map_err(|e| SharedLimitsError::Url(e.to_string()))
    }

    /// Where Redis is, for logs: host and port (or socket path), never the password.
    pub fn location(&self) -> String {
        match url::Url::parse(self.url.expose_secret()) {
            Ok(url) if url.scheme().ends_with("unix") => url.path().to_owned(),
            Ok(url) => format!("{}:{}", url.host_str().unwrap_or("?"), url.port().unwrap_or(6379)),
            Err(_) => "?".to_owned(),
        }
    }
}

/// Lua: the longest wait (ms) among the locks in KEYS at ARGV[1] (now, ms); 0 if none.
const CHECK: &str = r"
local now = tonumber(ARGV[1])
local wait = 0
for _, key in ipairs(KEYS) do
  local locked = tonumber(redis.call('HGET', key, 'until')) or 0
  if locked - now > wait then wait = locked - now end
end
return wait
";

/// Lua: one failure against each key of KEYS. ARGV: now (ms), the longest delay (s), the
/// idle time that resets a count (ms), then each key's free failures. The arithmetic is
/// [`MemoryLimiter::fail_now`]'s.
const FAIL: &str = r"
local now = tonumber(ARGV[1])
local max_delay = tonumber(ARGV[2])
local idle = tonumber(ARGV[3])
local max_exponent = tonumber(ARGV[4])
for i, key in ipairs(KEYS) do
  local free = tonumber(ARGV[4 + i])
  local entry = redis.call('HMGET', key, 'n', 'until', 'last')
  local n = tonumber(entry[1]) or 0
  local locked = tonumber(entry[2]) or 0
  local last = tonumber(entry[3]) or now
  if now - last > idle then n = 0 end
  n = n + 1
  if n >= free then
    local delay = math.min(2 ^ math.min(n - free, max_exponent), max_delay)
    locked = now + delay * 1000
  end
  redis.call('HSET', key, 'n', n, 'until', string.format('%d', locked), 'last', string.format('%d', now))
  redis.call('PEXPIRE', key, math.max(idle, locked - now))
end
return 0
";

/// Lua: admits (ARGV[3] = 1: counts) or checks one request in the window KEYS[1]: 1 if
/// under ARGV[1] requests, else 0 (nothing counted). ARGV[2]: the key's lifetime (ms).
const ADMIT: &str = r"
local used = tonumber(redis.call('GET', KEYS[1])) or 0
if used >= tonumber(ARGV[1]) then return 0 end
if ARGV[3] == '1' then
  if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
end
return 1
";

/// Whether Redis answers, and when this node last said it does not.
struct Health {
    /// Set after a failure: until then calls are answered locally without trying Redis.
    resting_until: Mutex<Option<Instant>>,
    last_warning: Mutex<Option<Instant>>,
    /// Whether the last call was answered by Redis.
    up: AtomicBool,
}

/// [`Limiter`] and [`RateLimiter`] in one Redis shared by every node (see the module
/// documentation). Cheap to share: hold it in an `Arc` as both.
pub struct RedisLimits {
    conn: ConnectionManager,
    location: String,
    prefix: String,
    mac_key: [u8; 32],
    clock: Arc<dyn Clock>,
    max_delay_secs: i64,
    timeout: Duration,
    local_failures: MemoryLimiter,
    local_windows: WindowLimiter,
    metrics: Arc<Metrics>,
    health: Health,
    check: Script,
    fail: Script,
    admit: Script,
}

impl RedisLimits {
    /// Limits in the Redis of `settings`; no I/O happens here (the connection is made on
    /// first use and re-made after failures), so it works with Redis down. Needs a Tokio
    /// runtime. `master_key` names the keys (all nodes must share it, as they do anyway).
    pub fn new(
        settings: &RedisSettings,
        master_key: &cognate_core::crypto::MasterKey,
        clock: Arc<dyn Clock>,
        max_delay_secs: i64,
        metrics: Arc<Metrics>,
    ) -> Result<Self, SharedLimitsError> {
        let client = settings.client()?;
        // Reconnection is the manager's (in the background, with a short backoff); every
        // call is also bounded by `timeout` here, whatever the manager does.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| SharedLimitsError::Url(e.to_string()))?;
        Ok(Self {
            conn,
            location: settings.location(),
            prefix: settings.prefix.clone(),
            mac_key: master_key.mac_key(MAC_LABEL),
            local_failures: MemoryLimiter::new(clock.clone(), max_delay_secs),
            clock,
            max_delay_secs,
            timeout: settings.timeout,
            local_windows: WindowLimiter::default(),
            metrics,
            health: Health {
                resting_until: Mutex::new(None),
                last_warning: Mutex::new(None),
                up: AtomicBool::new(false),
            },
            check: Script::new(CHECK),
            fail: Script::new(FAIL),
            admit: Script::new(ADMIT),
        })
    }

    /// Pings Redis once (within the timeout): `Ok` if it answers. Start-up calls it to say
    /// in the log whether limits are shared from the first request; it changes nothing
    /// else (a node serves either way).
    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
        let ping = async move { redis::cmd("PING").query_async::<String>(&mut conn).await };
        match tokio::time::timeout(self.timeout, ping).await {
            Ok(Ok(_)) => {
                self.answered();
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    /// Where Redis is (host:port), for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The Redis key of a caller's key: `{prefix}:{family}:{kind}:{mac}`.
    fn redis_key(&self, family: &str, key: &str) -> String {
        let kind = match key.split_once(':') {
            Some((kind, _))
                if !kind.is_empty()
                    && kind.len() <= 32
                    && kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                kind
            }
            _ => "other",
        };
        let mac = cognate_core::crypto::hmac_sha256(&self.mac_key, key.as_bytes());
        format!("{}:{family}:{kind}:{}", self.prefix, hex::encode(&mac[..16]))
    }

    /// Runs one Redis call under the timeout; `None` (and the fallback bookkeeping) when
    /// Redis is resting, errs or is too slow, so the caller answers locally.
    async fn run<T>(&self, call: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        if self.resting() {
            self.fell_back(None);
            return None;
        }
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                self.answered();
                Some(value)
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed(&format!("no answer within {} ms", self.timeout.as_millis()));
                None
            }
        }
    }

    fn resting(&self) -> bool {
        let Ok(until) = self.health.resting_until.lock() else { return false };
        until.is_some_and(|until| Instant::now() < until)
    }

    fn answered(&self) {
        if !self.health.up.swap(true, Ordering::AcqRel) {
            self.metrics.limits_backend(LimitsBackend::Redis);
            tracing::info!(redis = %self.location, "Redis answers: brute-force and rate limits are shared by every node");
            if let Ok(mut until) = self.health.resting_until.lock() {
                *until = None;
            }
        }
    }

    fn failed(&self, cause: &str) {
        if let Ok(mut until) = self.health.resting_until.lock() {
            *until = Some(Instant::now() + REST);
        }
        self.fell_back(Some(cause));
    }

    /// Bookkeeping of a call answered locally: the metric on every call, the warning at
    /// most every [`WARN_EVERY`] (with the cause when there is one).
    fn fell_back(&self, cause: Option<&str>) {
        self.metrics.limits_fallback();
        if self.health.up.swap(false, Ordering::AcqRel) {
            self.metrics.limits_backend(LimitsBackend::Local);
        }
        let Some(cause) = cause else { return };
        let now = Instant::now();
        let due = match self.health.last_warning.lock() {
            Ok(mut last) if last.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) => {
                *last = Some(now);
                true
            }
            _ => false,
        };
        if due {
            tracing::warn!(
                redis = %self.location,
                error = cause,
                "Redis does not answer: brute-force and rate limits are counted by this node alone until it does \
                 (said at most every 30 s; see cognate_shared_limits_fallbacks_total)"
            );
        }
    }

    async fn window(&self, key: &str, requests: u32, per_seconds: u32, now: i64, count: bool) -> Result<(), u64> {
        let (start, window_ms) = window_of(per_seconds, now);
        let name = format!("{}:{}", self.redis_key("rate", key), start.div_euclid(1000));
        let ttl_ms = start + window_ms - now + WINDOW_SLACK_MS;
        let mut call = self.admit.key(name);
        call.arg(requests).arg(ttl_ms).arg(u8::from(count));
        let mut conn = self.conn.clone();
        match self.run(call.invoke_async::<i64>(&mut conn)).await {
            Some(1) => {
                if count {
                    // This node's counters follow what it admitted, so they hold its share
                    // of the window if Redis goes (they never exceed the shared count).
                    let _ = self.local_windows.decide(key, requests, per_seconds, now, true);
                }
                Ok(())
            }
            Some(_) => Err(retry_after(start, window_ms, now)),
            None => self.local_windows.decide(key, requests, per_seconds, now, count),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisLimits {
    async fn admit(&self, key: &str, requests: u32, per_seconds: u32, now_ms: i64) -> Result<(), u64> {
        self.window(key, requests, per_seconds, now_ms, true).await
    }

    async fn check(&self, key: &str, requests: u32, per_seconds: u32, now_ms: i64) -> Result<(), u64> {
        self.window(key, requests, per_seconds, now_ms, false).await
    }
}

#[async_trait]
impl Limiter for RedisLimits {
    async fn check(&self, keys: &[&str]) -> Result<(), i64> {
        if keys.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_millis();
        let mut call = self.check.prepare_invoke();
        for key in keys {
            call.key(self.redis_key("lock", key));
        }
        call.arg(now);
        let mut conn = self.conn.clone();
        match self.run(call.invoke_async::<i64>(&mut conn)).await {
            Some(wait_ms) if wait_ms > 0 => Err((wait_ms + 999) / 1000),
            Some(_) => Ok(()),
            None => self.local_failures.check_now(keys),
        }
    }

    async fn fail(&self, keys: &[(&str, u32)]) {
        if keys.is_empty() {
            return;
        }
        // Counted here either way: these counters answer if Redis goes.
        self.local_failures.fail_now(keys);
        let now = self.clock.now_millis();
        let mut call = self.fail.prepare_invoke();
        for (key, _) in keys {
            call.key(self.redis_key("lock", key));
        }
        call.arg(now).arg(self.max_delay_secs).arg(IDLE_MS).arg(MAX_EXPONENT);
        for (_, free) in keys {
            call.arg(*free);
        }
        let mut conn = self.conn.clone();
        let _ = self.run(call.invoke_async::<i64>(&mut conn)).await;
    }

    async fn succeed(&self, keys: &[&str]) {
        if keys.is_empty() {
            return;
        }
        self.local_failures.succeed_now(keys);
        let mut del = redis::cmd("DEL");
        for key in keys {
            del.arg(self.redis_key("lock", key));
        }
        let mut conn = self.conn.clone();
        let _ = self.run(del.query_async::<i64>(&mut conn)).await;
    }
}
