//! SMTP delivery of outbox messages, as a transactional-outbox worker.
//!
//! Handlers only ever write messages to the `outbox` table, in the same database as the
//! change they belong to. When SMTP is configured, [`spawn_delivery_worker`] claims due
//! EMAIL messages every second and sends them. Claims are leases in the database, so
//! several nodes may run workers and a message goes out once in normal operation; if a
//! node dies between sending and recording it, the lease runs out and another node sends
//! it again (at-least-once, as any outbox).
//!
//! Failed sends are retried after 1 s, 2 s, 4 s … at most 5 min apart, and given up after
//! [`MAX_ATTEMPTS`]; the row keeps the last error. SMS messages are not claimed: they stay
//! pending in the outbox (where operators and tests read them) until an SMS sender exists.
//!
//! Message bodies hold codes and temporary passwords: they are never logged, and error
//! texts stored or logged come from the SMTP client, never from the body.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::repo::{OUTBOX_NEVER, OutboxMessage};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;

/// Failed attempts after which a message is given up (`next_attempt_at` = never).
pub const MAX_ATTEMPTS: i64 = 10;
/// How long a claim lasts; longer than one SMTP exchange may take ([`SMTP_TIMEOUT`]).
const LEASE_MS: i64 = 2 * 60 * 1000;
/// Time limit of each SMTP command.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages claimed per pass.
const BATCH: u32 = 20;
/// A message still unsent this long after it was written is given up rather than sent:
/// its code has long expired, and a stale invitation or code arriving out of the blue (say
/// when SMTP is first configured on a server that queued messages for weeks) confuses.
const MAX_AGE_MS: i64 = 24 * 60 * 60 * 1000;
/// Longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;
/// Stored and logged error texts are cut to this many characters.
const MAX_ERROR_CHARS: usize = 500;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (local relays and tests only).
    None,
    /// Plain connection upgraded with STARTTLS, which the server must offer.
    StartTls,
    /// TLS from the first byte (`smtps`, usually port 465).
    Tls,
}

/// Where and how to send email.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// Credentials for SMTP AUTH; none when the relay needs none.
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The From header, e.g. `Cognate <no-reply@example.com>`.
    pub from: Mailbox,
    pub tls: SmtpTls,
}

/// The From address used when none is configured.
pub const DEFAULT_FROM: &str = "Cognate <no-reply@localhost>";

impl SmtpSettings {
    /// Parses `smtp://[user[:password]@]host[:port][?tls=none|starttls]` or
    /// `smtps://[user[:password]@]host[:port]`. `smtp` defaults to STARTTLS on port 587
    /// (port 25 with `tls=none`); `smtps` is TLS on port 465. User and password are
    /// percent-decoded. The error text never contains the password.
    pub fn from_url(url: &str, from: Mailbox) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let implicit_tls = match parsed.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => return Err(format!("the scheme must be smtp or smtps, not {other}")),
        };
        let mut tls = if implicit_tls { SmtpTls::Tls } else { SmtpTls::StartTls };
        for (key, value) in parsed.query_pairs() {
            match (key.as_ref(), value.as_ref(), implicit_tls) {
                ("tls", "none", false) => tls = SmtpTls::None,
                ("tls", "starttls", false) => tls = SmtpTls::StartTls,
                ("tls", "tls", _) => tls = SmtpTls::Tls,
                ("tls", other, true) => return Err(format!("smtps:// is always TLS; tls={other} contradicts it")),
                ("tls", other, false) => return Err(format!("tls must be none, starttls or tls, not {other}")),
                (other, _, _) => return Err(format!("unknown parameter {other} (only tls is known)")),
            }
        }
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_owned(),
            _ => return Err("the URL has no host".into()),
        };
        let port = parsed.port().unwrap_or(match tls {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| "user name and password must be UTF-8 once percent-decoded".to_owned())
        };
        let username = match parsed.username() {
            "" => None,
            u => Some(decode(u)?),
        };
        let password = match parsed.password() {
            Some(_) if username.is_none() => return Err("a password needs a user name".into()),
            Some(p) => Some(SecretString::from(decode(p)?)),
            None => None,
        };
        if parsed.path() != "" && parsed.path() != "/" {
            return Err("the URL must not have a path".into());
        }
        Ok(Self { host, port, username, password, from, tls })
    }
}

/// Parses a From header value such as `Cognate <no-reply@example.com>`.
pub fn parse_from(text: &str) -> Result<Mailbox, String> {
    text.parse::<Mailbox>().map_err(|e| format!("{text:?} is not an email address with an optional name: {e}"))
}

/// Why one message could not be sent.
#[derive(Debug)]
pub struct SendError {
    /// Retrying cannot help (e.g. the destination is not an email address).
    pub permanent: bool,
    pub message: String,
}

/// Something that delivers an email; the worker's only view of SMTP, so tests can use
/// a fake.
#[async_trait]
pub trait EmailSender: Send + Sync {
    async fn send_email(&self, to: &str, subject: &str, body: &str) -> Result<(), SendError>;
}

/// Sends through an SMTP relay, one connection per message.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpSender {
    /// Fails when the host is not usable as a TLS server name.
    pub fn new(settings: &SmtpSettings) -> Result<Self, String> {
        type Transport = AsyncSmtpTransport<Tokio1Executor>;
        let builder = match settings.tls {
            SmtpTls::None => Transport::builder_dangerous(settings.host.as_str()),
            SmtpTls::StartTls => Transport::starttls_relay(&settings.host).map_err(|e| e.to_string())?,
            SmtpTls::Tls => Transport::relay(&settings.host).map_err(|e| e.to_string())?,
        };
        let mut builder = builder.port(settings.port).timeout(Some(SMTP_TIMEOUT));
        if let Some(user) = &settings.username {
            let password = settings.password.as_ref().map(|p| p.expose_secret().to_owned()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self { transport: builder.build(), from: settings.from.clone() })
    }
}

#[async_trait]
impl EmailSender for SmtpSender {
    async fn send_email(&self, to: &str, subject: &str, body: &str) -> Result<(), SendError> {
        let permanent = |message: String| SendError { permanent: true, message };
        let to =
            to.parse::<Mailbox>().map_err(|e| permanent(format!("the destination is not an email address: {e}")))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| permanent(format!("cannot build the message: {e}")))?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| SendError { permanent: false, message: e.to_string() })
    }
}

/// The wait before the next attempt after `attempts` failures: 1 s, 2 s, 4 s …, at most
/// 5 min.
pub fn backoff_ms(attempts: i64) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    (1000_i64 << doublings).min(MAX_BACKOFF_MS)
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// One pass: claims the due EMAIL messages and sends each, recording the outcome.
/// Returns how many were delivered.
pub async fn deliver_due(state: &AppState, sender: &dyn EmailSender) -> Result<usize, StoreError> {
    let now = state.clock.now_millis();
    let batch = state.store.claim_pending("EMAIL", now, now.saturating_add(LEASE_MS), BATCH).await?;
    let mut delivered = 0;
    for m in batch {
        if now.saturating_sub(m.created_at) > MAX_AGE_MS {
            give_up(state, &m, "not sent: older than a day when first tried").await?;
            continue;
        }
        let body = match crate::outbox::open(&state.master_key, &m) {
            Ok(Some(body)) => body,
            Ok(None) => {
                give_up(state, &m, "not sent: its secret expired before it could be delivered").await?;
                continue;
            }
            Err(e) => {
                give_up(state, &m, &format!("not sent: the body cannot be opened with this master key ({e})")).await?;
                continue;
            }
        };
        match sender.send_email(&m.destination, &m.subject, &body).await {
            Ok(()) => {
                state.store.mark_delivered(&m.id, state.clock.now_millis()).await?;
                tracing::info!(message = %m.id, pool = %m.pool_id, attempts = m.attempts + 1, "email delivered");
                delivered += 1;
            }
            Err(e) if e.permanent || m.attempts + 1 >= MAX_ATTEMPTS => give_up(state, &m, &e.message).await?,
            Err(e) => {
                let attempts = m.attempts + 1;
                let next = state.clock.now_millis().saturating_add(backoff_ms(attempts));
                let error = cut(&e.message);
                state.store.mark_failed(&m.id, &error, next).await?;
                state.metrics.delivery_failed();
                tracing::warn!(message = %m.id, pool = %m.pool_id, attempts, error, "email not sent; will retry");
            }
        }
    }
    Ok(delivered)
}

async fn give_up(state: &AppState, m: &OutboxMessage, error: &str) -> Result<(), StoreError> {
    let error = cut(error);
    state.store.mark_failed(&m.id, &error, OUTBOX_NEVER).await?;
    state.metrics.delivery_failed();
    tracing::error!(message = %m.id, pool = %m.pool_id, attempts = m.attempts + 1, error, "email given up");
    Ok(())
}

/// Starts the worker: a pass every second until `shutdown` turns true (or its sender is
/// dropped). A send cut short by shutdown is retried when its lease runs out.
pub fn spawn_delivery_worker(
    state: AppState,
    sender: Arc<dyn EmailSender>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                result = deliver_due(&state, sender.as_ref()) => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "outbox delivery pass failed");
                    }
                }
            }
        }
        tracing::debug!("outbox delivery worker stopped");
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn parse(url: &str) -> Result<SmtpSettings, String> {
        SmtpSettings::from_url(url, parse_from(DEFAULT_FROM).unwrap())
    }

    #[test]
    fn plain_url_with_credentials() {
        let s = parse("smtp://us%40er:p%3Ass@mail.example.com:2525?tls=none").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("mail.example.com", 2525, SmtpTls::None));
        assert_eq!(s.username.as_deref(), Some("us@er"));
        assert_eq!(s.password.as_ref().map(|p| p.expose_secret().to_owned()).as_deref(), Some("p:ss"));
        assert_eq!(s.from.email.to_string(), "no-reply@localhost");
        assert_eq!(s.from.name.as_deref(), Some("Cognate"));
        assert!(!format!("{s:?}").contains("p:ss"), "Debug must not show the password");
    }

    #[test]
    fn defaults_are_secure_and_ports_follow_tls() {
        let s = parse("smtp://relay").unwrap();
        assert_eq!((s.tls, s.port, s.username.is_none(), s.password.is_none()), (SmtpTls::StartTls, 587, true, true));
        assert_eq!(parse("smtp://relay?tls=starttls").unwrap().tls, SmtpTls::StartTls);
        assert_eq!(parse("smtp://relay?tls=none").unwrap().port, 25);
        let s = parse("smtps://u:p@relay").unwrap();
        assert_eq!((s.tls, s.port), (SmtpTls::Tls, 465));
        assert_eq!(parse("smtp://relay?tls=tls").unwrap().tls, SmtpTls::Tls);
        assert_eq!(parse("smtp://127.0.0.1:1025?tls=none").unwrap().host, "127.0.0.1");
        assert_eq!(parse("smtp://[::1]:1025?tls=none").unwrap().host, "::1");
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_the_password() {
        for (url, needle) in [
            ("http://relay", "scheme"),
            ("smtp://relay?tls=maybe", "tls must be"),
            ("smtps://relay?tls=none", "always TLS"),
            ("smtp://relay?mode=x", "unknown parameter"),
            ("smtp://:secret@relay", "needs a user name"),
            ("smtp://relay/path", "path"),
            ("not a url", "not a URL"),
        ] {
            let err = parse(url).unwrap_err();
            assert!(err.contains(needle), "{url}: {err}");
            assert!(!err.contains("secret"), "{url}: {err}");
        }
        assert!(parse_from("not an address").unwrap_err().contains("not an email address"));
        assert_eq!(parse_from("a@b.example").unwrap().email.to_string(), "a@b.example");
        assert_eq!(parse_from("\"Acme, Inc.\" <a@b.example>").unwrap().name.as_deref(), Some("Acme, Inc."));
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let waits: Vec<i64> = (1..=MAX_ATTEMPTS).map(backoff_ms).collect();
        assert_eq!(waits[..5], [1_000, 2_000, 4_000, 8_000, 16_000]);
        assert_eq!(backoff_ms(9), 256_000);
        assert_eq!(backoff_ms(10), 300_000);
        assert_eq!(backoff_ms(1_000), 300_000);
        assert_eq!(backoff_ms(0), 1_000);
    }
}
