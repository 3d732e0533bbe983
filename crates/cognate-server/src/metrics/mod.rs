//! Prometheus metrics (docs/operations.md lists every family).
//!
//! Each [`AppState`] owns one [`Metrics`]: a registry and the metric handles registered in
//! it. Nothing is process-global, so tests that start many servers in one process each
//! read their own figures, and two nodes' figures never mix.
//!
//! Counters are moved where things happen: the HTTP layer ([`http::observe`]) counts every
//! request, the sign-in and token services count sign-ins, refreshes and token families,
//! the throttles count refusals. Figures that belong to the database or to other parts of
//! the process (outbox backlog, audit buffer, connection pool) are gauges read when
//! Prometheus scrapes ([`render`]), so keeping them current costs nothing between scrapes.
//!
//! Every label takes its value from a closed set (an enum, a known Cognito operation, a
//! route template of the router), never from the request, so no caller can grow the number
//! of series.

pub mod http;

use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::AppState;
pub use http::{Operation, RequestId, Surface};

/// Upper bounds of the request latency buckets, in seconds: from a cached lookup (~1 ms)
/// to an argon2 sign-in (~50 ms) to a slow database (seconds).
const LATENCY_BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Labels made only of fixed names and values.
type Fixed<const N: usize> = [(&'static str, &'static str); N];

/// The labels of one request: where it went and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestLabels {
    pub surface: Surface,
    pub operation: Operation,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub status: &'static str,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> std::fmt::Result {
        [("surface", self.surface.as_str()), ("operation", self.operation.as_str()), ("status", self.status)]
            .as_slice()
            .encode(encoder)
    }
}

/// The labels of a latency observation (the status is left out: it would multiply the
/// histogram's series by four for little use).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteLabels {
    pub surface: Surface,
    pub operation: Operation,
}

impl EncodeLabelSet for RouteLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> std::fmt::Result {
        [("surface", self.surface.as_str()), ("operation", self.operation.as_str())].as_slice().encode(encoder)
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// How a sign-in attempt ended, as counted by `cognate_sign_ins_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    /// Tokens were issued or a browser session began.
    Success,
    /// A wrong password or code, or a username that matched no user.
    Failure,
    /// Refused before checking anything: the user or the address is locked out.
    Throttled,
}

impl SignInOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Throttled => "throttled",
        }
    }
}

/// Which brute-force lock refused a request (`cognate_throttled_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// The user, from this address or from everywhere.
    User,
    /// The client address, for every user.
    Address,
}

/// Which request-rate window refused a request (`cognate_rate_limited_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateWindow {
    AuthAddress,
    AuthUser,
    Tenant,
    ApiKey,
}

/// Which store answered a brute-force or rate-limit question
/// (`cognate_shared_limits_backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitsBackend {
    /// This process's own counters: no Redis configured, or Redis not answering.
    Local,
    /// The Redis every node shares.
    Redis,
}

/// Why token families ended (`cognate_token_families_revoked_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyEnd {
    /// The client or user revoked it (RevokeToken, `/oauth2/revoke`, a session revoked).
    Revoked,
    /// A rotated refresh token or an authorization code was presented again.
    Reuse,
    /// The tenant was suspended or the member removed.
    Tenant,
    /// The user's cap on live sessions evicted it.
    Cap,
}

/// The outcome of a refresh (`cognate_refreshes_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    Success,
    Failure,
    /// A rotated-out refresh token came back; its family was revoked.
    Reuse,
}

/// Every metric of one Cognate node. Cheap to update: a counter is an atomic add behind a
/// read lock on its family.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    sign_ins: Family<Fixed<1>, Counter>,
    refreshes: Family<Fixed<1>, Counter>,
    throttled: Family<Fixed<1>, Counter>,
    rate_limited: Family<Fixed<1>, Counter>,
    families_started: Counter,
    families_revoked: Family<Fixed<1>, Counter>,
    delivery_failures: Counter,
    outbox: Family<Fixed<2>, Gauge>,
    audit_pending: Gauge,
    audit_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
    pool_connections: Family<Fixed<1>, Gauge>,
    pool_max: Gauge,
    webhook_attempts: Family<Fixed<1>, Counter>,
    webhook_backlog: Family<Fixed<1>, Gauge>,
    limits_fallbacks: Counter,
    limits_backend: Family<Fixed<1>, Gauge>,
    notifications: Family<Fixed<1>, Counter>,
    listener_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every Cognate metric registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cognate");
        let m = Self {
            registry: Registry::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            sign_ins: Family::default(),
            refreshes: Family::default(),
            throttled: Family::default(),
            rate_limited: Family::default(),
            families_started: Counter::default(),
            families_revoked: Family::default(),
            delivery_failures: Counter::default(),
            outbox: Family::default(),
            audit_pending: Gauge::default(),
            audit_lag: Gauge::default(),
            pool_connections: Family::default(),
            pool_max: Gauge::default(),
            webhook_attempts: Family::default(),
            webhook_backlog: Family::default(),
            limits_fallbacks: Counter::default(),
            limits_backend: Family::default(),
            notifications: Family::default(),
            listener_up: Gauge::default(),
        };
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by surface, operation and status class",
            m.requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its response, by surface and operation",
            Unit::Seconds,
            m.latency.clone(),
        );
        r.register("sign_ins", "Sign-in attempts by outcome (success, failure, throttled)", m.sign_ins.clone());
        r.register("refreshes", "Refresh-token grants by outcome (success, failure, reuse)", m.refreshes.clone());
        r.register(
            "throttled",
            "Requests refused by a brute-force lock, by scope (user, address)",
            m.throttled.clone(),
        );
        r.register(
            "rate_limited",
            "Requests refused by a request-rate window (auth_address, auth_user, tenant, api_key)",
            m.rate_limited.clone(),
        );
        r.register("token_families_started", "Token families (sign-in sessions) started", m.families_started.clone());
        r.register("token_families_revoked", "Token families ended early, by reason", m.families_revoked.clone());
        r.register(
            "outbox_delivery_failures",
            "Failed delivery attempts of outbox messages",
            m.delivery_failures.clone(),
        );
        r.register(
            "outbox_messages",
            "Undelivered outbox messages by medium and state (pending, given_up), read at scrape",
            m.outbox.clone(),
        );
        r.register(
            "audit_pending_events",
            "Audit events recorded on this node and not yet written",
            m.audit_pending.clone(),
        );
        r.register_with_unit(
            "audit_lag",
            "Age of the oldest audit event not yet written (0 when none)",
            Unit::Seconds,
            m.audit_lag.clone(),
        );
        r.register(
            "db_pool_connections",
            "Database connections of this node by state (idle, in_use)",
            m.pool_connections.clone(),
        );
        r.register("db_pool_max_connections", "Most database connections this node opens", m.pool_max.clone());
        r.register(
            "webhook_delivery_attempts",
            "Webhook delivery attempts by outcome (delivered, retry, failed, gone)",
            m.webhook_attempts.clone(),
        );
        r.register(
            "webhook_backlog",
            "Webhook work waiting, by kind (events not fanned out, deliveries pending, deliveries failed), read at scrape",
            m.webhook_backlog.clone(),
        );
        for outcome in WebhookOutcome::ALL {
            drop(m.webhook_attempts.get_or_create(&[("outcome", outcome.as_str())]));
        }
        r.register(
            "shared_limits_fallbacks",
            "Brute-force and rate-limit checks answered by this node's own counters because Redis did not",
            m.limits_fallbacks.clone(),
        );
        r.register(
            "shared_limits_backend",
            "1 for the store that answered the last limit check (local or redis), 0 for the other",
            m.limits_backend.clone(),
        );
        r.register(
            "change_notifications",
            "Changes announced by nodes sharing the database and heard by this one, by kind",
            m.notifications.clone(),
        );
        r.register(
            "change_listener_up",
            "1 while this node hears other nodes' changes (PostgreSQL LISTEN), else 0",
            m.listener_up.clone(),
        );
        // Every series of a closed label set starts at zero, so a rate over it is defined
        // from the first scrape and dashboards show 0, not "no data".
        for outcome in ["success", "failure", "throttled"] {
            drop(m.sign_ins.get_or_create(&[("outcome", outcome)]));
        }
        for outcome in ["success", "failure", "reuse"] {
            drop(m.refreshes.get_or_create(&[("outcome", outcome)]));
        }
        for scope in ["user", "address"] {
            drop(m.throttled.get_or_create(&[("scope", scope)]));
        }
        for window in ["auth_address", "auth_user", "tenant", "api_key"] {
            drop(m.rate_limited.get_or_create(&[("window", window)]));
        }
        for reason in ["revoked", "reuse", "tenant", "cap"] {
            drop(m.families_revoked.get_or_create(&[("reason", reason)]));
        }
        m.limits_backend.get_or_create(&[("backend", "local")]).set(1);
        drop(m.limits_backend.get_or_create(&[("backend", "redis")]));
        for kind in cognate_core::change::Change::KINDS.into_iter().chain(["unknown"]) {
            drop(m.notifications.get_or_create(&[("kind", kind)]));
        }
        Self { registry, ..m }
    }

    /// Counts one answered request and its latency.
    pub fn request(&self, surface: Surface, operation: Operation, status: u16, seconds: f64) {
        let status = match status {
            0..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let route = RouteLabels { surface, operation };
        self.latency.get_or_create(&route).observe(seconds);
        let RouteLabels { surface, operation } = route;
        self.requests.get_or_create(&RequestLabels { surface, operation, status }).inc();
    }

    pub fn sign_in(&self, outcome: SignInOutcome) {
        self.sign_ins.get_or_create(&[("outcome", outcome.as_str())]).inc();
    }

    pub fn refresh(&self, outcome: RefreshOutcome) {
        let outcome = match outcome {
            RefreshOutcome::Success => "success",
            RefreshOutcome::Failure => "failure",
            RefreshOutcome::Reuse => "reuse",
        };
        self.refreshes.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn throttled(&self, scope: ThrottleScope) {
        let scope = match scope {
            ThrottleScope::User => "user",
            ThrottleScope::Address => "address",
        };
        self.throttled.get_or_create(&[("scope", scope)]).inc();
    }

    pub fn rate_limited(&self, window: RateWindow) {
        let window = match window {
            RateWindow::AuthAddress => "auth_address",
            RateWindow::AuthUser => "auth_user",
            RateWindow::Tenant => "tenant",
            RateWindow::ApiKey => "api_key",
        };
        self.rate_limited.get_or_create(&[("window", window)]).inc();
    }

    pub fn family_started(&self) {
        self.families_started.inc();
    }

    /// Counts `count` families ended for `why`.
    pub fn families_revoked(&self, why: FamilyEnd, count: u64) {
        if count == 0 {
            return;
        }
        let reason = match why {
            FamilyEnd::Revoked => "revoked",
            FamilyEnd::Reuse => "reuse",
            FamilyEnd::Tenant => "tenant",
            FamilyEnd::Cap => "cap",
        };
        self.families_revoked.get_or_create(&[("reason", reason)]).inc_by(count);
    }

    pub fn delivery_failed(&self) {
        self.delivery_failures.inc();
    }

    pub fn webhook_attempt(&self, outcome: WebhookOutcome) {
        self.webhook_attempts.get_or_create(&[("outcome", outcome.as_str())]).inc();
    }

    /// Counts one limit check that Redis should have answered and this node's counters did.
    pub fn limits_fallback(&self) {
        self.limits_fallbacks.inc();
    }

    /// Limit checks answered locally so far (tests read it; Prometheus reads the registry).
    pub fn limits_fallbacks(&self) -> u64 {
        self.limits_fallbacks.get()
    }

    /// Records which store answers limit checks now.
    pub fn limits_backend(&self, backend: LimitsBackend) {
        let redis = i64::from(backend == LimitsBackend::Redis);
        self.limits_backend.get_or_create(&[("backend", "redis")]).set(redis);
        self.limits_backend.get_or_create(&[("backend", "local")]).set(1 - redis);
    }

    /// Counts a change heard from the database, by its kind (`unknown` for a payload this
    /// version cannot read).
    pub fn notification(&self, kind: &'static str) {
        self.notifications.get_or_create(&[("kind", kind)]).inc();
    }

    /// Whether this node's change listener is connected.
    pub fn listener_up(&self, up: bool) {
        self.listener_up.set(i64::from(up));
    }
}

/// What became of a webhook delivery attempt (`cognate_webhook_delivery_attempts_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// A 2xx answer.
    Delivered,
    /// A failure with retries left.
    Retry,
    /// A failure that ended the delivery (schedule spent, endpoint disabled).
    Failed,
    /// 410 Gone: the endpoint was disabled.
    Gone,
}

impl WebhookOutcome {
    const ALL: [Self; 4] = [Self::Delivered, Self::Retry, Self::Failed, Self::Gone];

    fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Gone => "gone",
        }
    }
}

/// The text a scrape answers (Prometheus text format 0.0.4), after reading the gauges that
/// live elsewhere. A gauge whose source cannot be read (the database is down) is left out
/// rather than reported stale.
pub async fn render(state: &AppState) -> String {
    let m = &state.metrics;
    m.outbox.clear();
    match state.store.outbox_backlog().await {
        Ok(rows) => {
            for row in rows {
                let medium = match row.medium.as_str() {
                    "EMAIL" => "email",
                    "SMS" => "sms",
                    _ => "other",
                };
                m.outbox.get_or_create(&[("medium", medium), ("state", "pending")]).inc_by(row.pending);
                m.outbox.get_or_create(&[("medium", medium), ("state", "given_up")]).inc_by(row.given_up);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the outbox backlog"),
    }
    m.webhook_backlog.clear();
    match state.store.webhook_backlog().await {
        Ok(b) => {
            m.webhook_backlog.get_or_create(&[("kind", "events")]).set(b.events_pending);
            m.webhook_backlog.get_or_create(&[("kind", "pending")]).set(b.deliveries_pending);
            m.webhook_backlog.get_or_create(&[("kind", "failed")]).set(b.deliveries_failed);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the webhook backlog"),
    }
    let (pending, oldest) = state.audit.backlog();
    m.audit_pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
    let lag_ms = oldest.map_or(0, |at| (state.clock.now_millis() - at).max(0));
    #[allow(clippy::cast_precision_loss)] // milliseconds of lag fit an f64 exactly
    m.audit_lag.set(lag_ms as f64 / 1000.0);
    let pool = state.store.pool_usage();
    m.pool_connections.get_or_create(&[("state", "idle")]).set(i64::from(pool.idle));
    m.pool_connections.get_or_create(&[("state", "in_use")]).set(i64::from(pool.size.saturating_sub(pool.idle)));
    m.pool_max.set(i64::from(pool.max));
    let mut out = String::with_capacity(8 * 1024);
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &m.registry) {
        tracing::error!(error = %e, "metrics: encoding failed");
    }
    out
}
