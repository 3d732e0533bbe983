//! Webhooks: what happened, who wants to hear of it, and how each message is signed and
//! retried. Signing follows Standard Webhooks (<https://www.standardwebhooks.com>): three
//! headers, `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`
//! (`v1,{base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"}`, several space-separated during
//! a secret rotation), the key being the base64-decoded part of a `whsec_` secret.
//!
//! Every event belongs to one owner: a tenant id, or [`PLATFORM_OWNER`] for events outside
//! any tenant. A tenant's endpoints hear its own events; platform endpoints hear every
//! tenant's and the platform's.
//!
//! Event data carries ids and non-secret facts only: never a password, code, token or
//! secret. Email addresses and usernames appear (they are the tenant's own user data, and a
//! receiver needs them to act on a user event).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::clock::Rng;
use crate::crypto::hmac_sha256;

/// The owner of events and endpoints outside any tenant (the audit trail's platform chain:
/// `~` cannot start a tenant id).
pub const PLATFORM_OWNER: &str = crate::audit::PLATFORM_CHAIN;

/// The prefix of webhook secrets (Standard Webhooks).
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// Every event type, `{resource}.{past-tense verb}` in snake case. Endpoints filter on
/// these (an empty filter hears all); `webhook.test` is sent only by the test call.
pub const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deleted",
    "user.disabled",
    "membership.added",
    "membership.role_changed",
    "membership.removed",
    "invitation.created",
    "invitation.accepted",
    "invitation.revoked",
    "tenant.created",
    "tenant.suspended",
    "tenant.reactivated",
    "tenant.tier_changed",
    "api_key.created",
    "api_key.rotated",
    "api_key.revoked",
    "sign_in.failed",
    "sign_in.locked",
    "mfa.enrolled",
    "webhook.test",
];

/// Whether `name` is a known event type.
pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.contains(&name)
}

/// An event for the outbox, written in the transaction of the change it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `evt_` + 26 random characters.
    pub id: String,
    /// A tenant id or [`PLATFORM_OWNER`].
    pub owner: String,
    pub event_type: String,
    /// The JSON body sent: `{"type", "timestamp" (RFC 3339), "data"}`.
    pub body: String,
    /// When it happened (ms).
    pub created_at: i64,
}

impl WebhookEvent {
    /// An event of `owner` of type `event_type` at `at_ms` with `data` (ids and non-secret
    /// facts only).
    pub fn new(rng: &dyn Rng, owner: &str, event_type: &str, at_ms: i64, data: serde_json::Value) -> Self {
        let timestamp = rfc3339(at_ms);
        let body = serde_json::json!({"type": event_type, "timestamp": timestamp, "data": data}).to_string();
        Self {
            id: format!("evt_{}", random_id(rng)),
            owner: owner.to_owned(),
            event_type: event_type.to_owned(),
            body,
            created_at: at_ms,
        }
    }
}

/// 26 lowercase alphanumerics (about 134 bits).
pub fn random_id(rng: &dyn Rng) -> String {
    crate::clock::random_chars(rng, b"abcdefghijklmnopqrstuvwxyz0123456789", 26)
}

/// `at_ms` as RFC 3339 UTC with milliseconds.
pub fn rfc3339(at_ms: i64) -> String {
    let nanos = i128::from(at_ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_secret(rng: &dyn Rng) -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rng.fill(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_` secret; `None` when it is not one.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok().filter(|k| !k.is_empty())
}

/// One signature: `v1,{base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")}`.
pub fn sign(key: &[u8], msg_id: &str, timestamp_secs: i64, body: &str) -> String {
    let content = format!("{msg_id}.{timestamp_secs}.{body}");
    format!("v1,{}", STANDARD.encode(hmac_sha256(key, content.as_bytes())))
}

/// The `webhook-signature` header value: one signature per key, space-separated (the
/// current secret first, then the one being rotated out during its grace period).
pub fn signature_header(keys: &[Vec<u8>], msg_id: &str, timestamp_secs: i64, body: &str) -> String {
    keys.iter().map(|k| sign(k, msg_id, timestamp_secs, body)).collect::<Vec<_>>().join(" ")
}

/// Whether an endpoint with `filter` hears `event_type`: an empty filter hears everything
/// (but the test event goes only where it is sent).
pub fn filter_matches(filter: &[String], event_type: &str) -> bool {
    filter.is_empty() || filter.iter().any(|f| f == event_type)
}

/// The retry schedule after the first attempt, in units of the base (5 s by default):
/// 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h seven times — about 3.2 days in all, Standard
/// Webhooks' recommended schedule stretched to three days.
const SCHEDULE: &[i64] = &[1, 60, 360, 1_440, 3_600, 7_200, 7_200, 7_200, 7_200, 7_200, 7_200, 7_200];

/// Attempts a delivery gets before it fails for good (the first and every retry).
pub const MAX_ATTEMPTS: i64 = SCHEDULE.len() as i64 + 1;

/// The wait before the next attempt after `attempts` failed ones, without jitter; `None`
/// once the schedule is spent. `base_ms` is the first retry's wait (5000 in production).
pub fn retry_delay_ms(attempts: i64, base_ms: i64) -> Option<i64> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    SCHEDULE.get(index).map(|units| units.saturating_mul(base_ms.max(1)))
}

/// How long, in units of the base, an endpoint may fail every attempt before it is
/// disabled: 86,400 units, 5 days at the default base of 5 s.
const SUSTAINED_FAILURE_UNITS: i64 = 86_400;

/// How long an endpoint may fail every attempt before it is disabled: 5 days at the
/// default `base_ms` of 5000, scaled with the base as the retry schedule is (so a test
/// retrying in milliseconds sees the disabling too).
pub fn sustained_failure_ms(base_ms: i64) -> i64 {
    SUSTAINED_FAILURE_UNITS.saturating_mul(base_ms.max(1))
}

/// A span of milliseconds as people read it: whole days, hours, minutes or seconds (the
/// largest unit that divides it), else milliseconds.
pub fn span_text(ms: i64) -> String {
    for (unit, one, many) in [
        (86_400_000, "day", "days"),
        (3_600_000, "hour", "hours"),
        (60_000, "minute", "minutes"),
        (1_000, "second", "seconds"),
    ] {
        if ms >= unit && ms % unit == 0 {
            let n = ms / unit;
            return format!("{n} {}", if n == 1 { one } else { many });
        }
    }
    format!("{ms} ms")
}

/// `delay_ms` with up to ±10% random jitter, so endpoints that failed together (an outage)
/// are not retried in lockstep.
pub fn jittered(rng: &dyn Rng, delay_ms: i64) -> i64 {
    let mut b = [0u8; 2];
    rng.fill(&mut b);
    let r = i64::from(u16::from_le_bytes(b)); // 0 ..= 65535
    let spread = delay_ms / 10;
    delay_ms + (spread * (r - 32_768)) / 32_768
}

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// An attempt got a 2xx.
    Delivered,
    /// The schedule is spent, or the endpoint was disabled or deleted.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A receiving endpoint. Secrets are sealed with the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// `whep_` + 26 random characters.
    pub id: String,
    /// A tenant id or [`PLATFORM_OWNER`].
    pub owner: String,
    pub url: String,
    pub description: String,
    /// Event types heard; empty: all.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why it was disabled by Cognate (410 Gone, sustained failure), if it was.
    pub disabled_reason: Option<String>,
    pub secret_sealed: String,
    /// The secret rotated out, still signing until `previous_until` (ms).
    pub previous_secret_sealed: Option<String>,
    pub previous_until: Option<i64>,
    /// Since when every attempt failed (ms); cleared by a success.
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A message to one endpoint: one event (or test) and its attempts. Its id is the
/// `webhook-id` of every attempt, so receivers can de-duplicate retries and replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// `msg_` + 26 random characters.
    pub id: String,
    /// The endpoint's owner (a platform endpoint's deliveries are the platform's).
    pub owner: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// When the next attempt is due (ms); a lease while one is under way.
    pub next_attempt_at: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// One attempt, as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub delivery_id: String,
    pub owner: String,
    pub at: i64,
    pub status_code: Option<i64>,
    /// Transport error, cut short; never a response body.
    pub error: Option<String>,
    /// The first characters of the response body, for diagnosis.
    pub excerpt: Option<String>,
    pub latency_ms: i64,
}

/// What became of an attempt, for [`crate::repo::WebhookRepo::record_webhook_attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub attempt: DeliveryAttempt,
    pub endpoint_id: String,
    /// The delivery's state after this attempt.
    pub status: DeliveryStatus,
    /// When to try again (pending only).
    pub next_attempt_at: i64,
    /// Disable the endpoint now, with this reason (410 Gone, sustained failure).
    pub disable_endpoint: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn signs_the_standard_webhooks_example() {
        // The reference libraries' test vector.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, r#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(secret_key("whsec_").is_none());
    }

    #[test]
    fn the_sustained_failure_window_scales_with_the_base() {
        assert_eq!(sustained_failure_ms(5_000), 5 * 24 * 60 * 60 * 1000);
        assert_eq!(span_text(sustained_failure_ms(5_000)), "5 days");
        assert_eq!(sustained_failure_ms(10), 864_000);
        assert_eq!(span_text(sustained_failure_ms(10)), "864 seconds");
        assert_eq!(span_text(sustained_failure_ms(50)), "72 minutes");
        assert_eq!(span_text(1), "1 ms");
        assert_eq!(span_text(3_600_000), "1 hour");
    }

    #[test]
    fn schedule_spans_about_three_days() {
        let total: i64 = (1..MAX_ATTEMPTS).map(|a| retry_delay_ms(a, 5_000).unwrap()).sum();
        assert!((2 * 86_400_000..4 * 86_400_000).contains(&total), "{total}");
        assert_eq!(retry_delay_ms(1, 5_000), Some(5_000));
        assert_eq!(retry_delay_ms(2, 5_000), Some(300_000));
        assert_eq!(retry_delay_ms(MAX_ATTEMPTS, 5_000), None);
        assert_eq!(retry_delay_ms(0, 5_000), None);
    }
}
