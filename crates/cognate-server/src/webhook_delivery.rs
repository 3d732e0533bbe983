//! The webhook delivery worker: fans events out of the outbox and sends each delivery,
//! signed the Standard Webhooks way, at least once.
//!
//! Every node runs it. Fan-out claims each event in the database (two nodes never fan out
//! one event twice) and claims on deliveries are leases, as for email
//! ([`crate::delivery`]): a node that dies mid-send leaves a lease that runs out, and
//! another node sends again with the same `webhook-id`, which receivers de-duplicate on.
//!
//! Each attempt is a POST with a [`TIMEOUT`] through the SSRF-guarded client
//! ([`crate::outbound`]); redirects are not followed. A 2xx delivers. 410 Gone disables the
//! endpoint at once (its pending deliveries fail). Anything else is retried on the schedule
//! of [`cognate_core::webhook::retry_delay_ms`] with ±10% jitter (≈ 3 days; the base is
//! `COGNATE_WEBHOOK_RETRY_BASE_MS`), after which the delivery fails; an endpoint whose every
//! attempt failed for [`webhook::sustained_failure_ms`] (5 days at the default base,
//! scaled with it like the schedule) is disabled. The log keeps each attempt's
//! status, a short error, a short excerpt of the answer and the latency — never more of
//! the response body. Deliveries older than the retention (30 days by default) are pruned.

use std::time::{Duration, Instant};

use cognate_core::StoreError;
use cognate_core::webhook::{self, AttemptOutcome, DeliveryAttempt, DeliveryStatus, WebhookDelivery};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;
use crate::metrics::WebhookOutcome;

/// Time limit of one attempt, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim lasts: longer than an attempt can take.
const LEASE_MS: i64 = 60 * 1000;
/// Deliveries claimed per pass (sent concurrently).
const BATCH: u32 = 20;
/// Events fanned out per pass.
const FAN_OUT_BATCH: u32 = 100;
/// Stored error texts are cut to this many characters.
const MAX_ERROR_CHARS: usize = 300;
/// The response body excerpt kept per attempt.
const EXCERPT_BYTES: usize = 256;
/// How often old deliveries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// The HTTP client of webhook deliveries: guarded, no redirects, [`TIMEOUT`].
pub fn client(state: &AppState) -> Result<reqwest::Client, String> {
    crate::outbound::guarded_builder(state.outbound.clone(), state.outbound_lookup.clone())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("the webhook HTTP client could not be set up: {e}"))
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// One attempt's result before its consequences are decided.
struct Sent {
    status: Option<u16>,
    error: Option<String>,
    excerpt: Option<String>,
    latency_ms: i64,
}

async fn post(state: &AppState, client: &reqwest::Client, url: &str, headers: [(&str, String); 3], body: &str) -> Sent {
    let started = Instant::now();
    let elapsed = |s: Instant| i64::try_from(s.elapsed().as_millis()).unwrap_or(i64::MAX);
    // URLs with an IP literal skip the resolver's check: refuse them here.
    if let Err(e) = state.outbound.check_url(url) {
        return Sent { status: None, error: Some(cut(&e.to_string())), excerpt: None, latency_ms: 0 };
    }
    let mut req = client.post(url).header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(name, value);
    }
    match req.body(body.to_owned()).send().await {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let mut excerpt = Vec::new();
            // Only the first bytes are read: the rest of a large answer is never stored.
            while excerpt.len() < EXCERPT_BYTES {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        excerpt.extend_from_slice(&chunk[..chunk.len().min(EXCERPT_BYTES - excerpt.len())])
                    }
                    _ => break,
                }
            }
            let excerpt = String::from_utf8_lossy(&excerpt).chars().filter(|c| !c.is_control()).collect::<String>();
            Sent {
                status: Some(status),
                error: None,
                excerpt: (!excerpt.is_empty()).then_some(excerpt),
                latency_ms: elapsed(started),
            }
        }
        Err(e) => {
            let timed_out = e.is_timeout();
            let mut text = String::new();
            let e = e.without_url();
            let mut current: Option<&dyn std::error::Error> = Some(&e);
            while let Some(err) = current {
                if !text.is_empty() {
                    text.push_str(": ");
                }
                text.push_str(&err.to_string());
                current = err.source();
            }
            if timed_out {
                text = format!("timed out: {text}");
            }
            Sent { status: None, error: Some(cut(&text)), excerpt: None, latency_ms: elapsed(started) }
        }
    }
}

/// Sends one claimed delivery and records the outcome.
async fn attempt(state: &AppState, client: &reqwest::Client, d: WebhookDelivery) -> Result<(), StoreError> {
    let now = state.clock.now_millis();
    let endpoint = match state.store.get_webhook_endpoint(&d.owner, &d.endpoint_id).await? {
        Some(e) => e,
        // Deleted meanwhile: its deliveries went with it.
        None => return Ok(()),
    };
    let record = |sent: Sent, status: DeliveryStatus, next: i64, disable: Option<String>| AttemptOutcome {
        attempt: DeliveryAttempt {
            delivery_id: d.id.clone(),
            owner: d.owner.clone(),
            at: now,
            status_code: sent.status.map(i64::from),
            error: sent.error,
            excerpt: sent.excerpt,
            latency_ms: sent.latency_ms,
        },
        endpoint_id: d.endpoint_id.clone(),
        status,
        next_attempt_at: next,
        disable_endpoint: disable,
    };
    if !endpoint.enabled {
        let sent = Sent { status: None, error: Some("the endpoint is disabled".into()), excerpt: None, latency_ms: 0 };
        state.metrics.webhook_attempt(WebhookOutcome::Failed);
        return state.store.record_webhook_attempt(&record(sent, DeliveryStatus::Failed, now, None)).await;
    }
    let keys = match crate::services::webhooks::signing_keys(state, &endpoint, now) {
        Ok(keys) => keys,
        Err(e) => {
            let sent = Sent { status: None, error: Some(cut(&e.to_string())), excerpt: None, latency_ms: 0 };
            state.metrics.webhook_attempt(WebhookOutcome::Failed);
            return state.store.record_webhook_attempt(&record(sent, DeliveryStatus::Failed, now, None)).await;
        }
    };
    let timestamp = now.div_euclid(1000);
    let signature = webhook::signature_header(&keys, &d.id, timestamp, &d.body);
    let headers =
        [("webhook-id", d.id.clone()), ("webhook-timestamp", timestamp.to_string()), ("webhook-signature", signature)];
    let sent = post(state, client, &endpoint.url, headers, &d.body).await;
    let outcome = match sent.status {
        Some(200..=299) => {
            state.metrics.webhook_attempt(WebhookOutcome::Delivered);
            tracing::info!(delivery = %d.id, webhook = %d.endpoint_id, attempts = d.attempts + 1, "webhook delivered");
            record(sent, DeliveryStatus::Delivered, now, None)
        }
        Some(410) => {
            state.metrics.webhook_attempt(WebhookOutcome::Gone);
            tracing::warn!(webhook = %d.endpoint_id, "webhook endpoint answered 410 Gone; disabled");
            record(sent, DeliveryStatus::Failed, now, Some("the endpoint answered 410 Gone".into()))
        }
        _ => {
            let base = state.settings.webhook_retry_base_ms;
            let window = webhook::sustained_failure_ms(base);
            let sustained = endpoint.failing_since.is_some_and(|since| now - since >= window);
            match webhook::retry_delay_ms(d.attempts + 1, base) {
                Some(delay) if !sustained => {
                    state.metrics.webhook_attempt(WebhookOutcome::Retry);
                    let next = now + webhook::jittered(state.rng.as_ref(), delay);
                    tracing::info!(delivery = %d.id, webhook = %d.endpoint_id, status = ?sent.status, error = ?sent.error, "webhook not delivered; will retry");
                    record(sent, DeliveryStatus::Pending, next, None)
                }
                _ => {
                    state.metrics.webhook_attempt(WebhookOutcome::Failed);
                    let disable = sustained.then(|| format!("every attempt failed for {}", webhook::span_text(window)));
                    tracing::warn!(delivery = %d.id, webhook = %d.endpoint_id, sustained, "webhook delivery failed for good");
                    record(sent, DeliveryStatus::Failed, now, disable)
                }
            }
        }
    };
    state.store.record_webhook_attempt(&outcome).await
}

/// One pass: fans out new events, then sends the due deliveries concurrently. Returns how
/// many were attempted.
pub async fn deliver_due(state: &AppState, client: &reqwest::Client) -> Result<usize, StoreError> {
    let now = state.clock.now_millis();
    let id_state = state.clone();
    let new_id = move || crate::services::webhooks::delivery_id(&id_state);
    state.store.fan_out_webhook_events(now, FAN_OUT_BATCH, &new_id).await?;
    let batch = state.store.claim_webhook_deliveries(now, now.saturating_add(LEASE_MS), BATCH).await?;
    let n = batch.len();
    let mut tasks = tokio::task::JoinSet::new();
    for d in batch {
        let (state, client) = (state.clone(), client.clone());
        tasks.spawn(async move {
            if let Err(e) = attempt(&state, &client, d).await {
                tracing::warn!(error = %e, "could not record a webhook attempt; its lease will run out");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(n)
}

/// Deletes deliveries older than the retention.
pub async fn prune(state: &AppState) -> Result<u64, StoreError> {
    let keep_ms = state.settings.webhook_retention_days.saturating_mul(24 * 60 * 60 * 1000);
    state.store.prune_webhooks(state.clock.now_millis().saturating_sub(keep_ms)).await
}

/// Starts the worker: a pass every second (sooner with a small retry base, as tests use),
/// or when woken (a test event, a replay), until `shutdown`.
pub fn spawn_worker(state: AppState, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let client = match client(&state) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook delivery is off");
                return;
            }
        };
        let base = u64::try_from(state.settings.webhook_retry_base_ms).unwrap_or(1000);
        let period = Duration::from_millis(base.clamp(50, 1000));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let wake = state.webhook_wake.clone();
        let mut last_prune: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                _ = tick.tick() => {}
                () = wake.notified() => {}
            }
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                result = deliver_due(&state, &client) => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "webhook delivery pass failed");
                    }
                }
            }
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                match prune(&state).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "old webhook deliveries pruned"),
                    Err(e) => tracing::warn!(error = %e, "webhook pruning failed"),
                }
            }
        }
        tracing::debug!("webhook delivery worker stopped");
    })
}

/// A worker that runs for the life of `state`'s tests: convenience for in-process tests.
pub fn spawn_detached(state: AppState) -> (JoinHandle<()>, watch::Sender<bool>) {
    let (stop, rx) = watch::channel(false);
    (spawn_worker(state, rx), stop)
}
