//! Revocation awareness from Cognate's feed, `GET {issuer}/revocations?after=<cursor>`.
//!
//! JWTs verify offline until `exp`; this lets a guard refuse revoked ones earlier. The
//! guard polls every `revocation_poll_interval` (default 30 s), so a revoked token may be
//! accepted for at most that long after the revocation (plus one feed round trip). Two
//! kinds of item are remembered per issuer:
//! - `{"kind":"token","originJti","at"}`: refuse every token whose `origin_jti` matches;
//! - `{"kind":"user","sub","notBefore"}`: refuse that user's tokens with
//!   `iat <= notBefore` (`iat == notBefore` is ambiguous at whole seconds, so refused).
//!
//! An entry is forgotten once every token it can cover has expired (`max_token_lifetime`
//! after it); past `max_revocations` entries the oldest are dropped with a warning.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::ExposeSecret as _;
use serde_json::Value;

use crate::config::RevocationFeedConfig;
use crate::error::FetchError;

/// Items asked for per page.
const PAGE_LIMIT: usize = 1000;
/// Pages read per poll at most; the rest waits for the next poll.
const MAX_PAGES_PER_POLL: usize = 100;
/// Largest feed page read, in bytes.
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Lists {
    /// origin_jti -> when it was revoked.
    tokens: HashMap<String, i64>,
    /// sub -> notBefore.
    users: HashMap<String, i64>,
}

/// One issuer's revocations and where its feed left off.
pub(crate) struct Revocations {
    feed: RevocationFeedConfig,
    lists: RwLock<Lists>,
    /// Only the poller touches the cursor; the mutex keeps two polls from interleaving.
    cursor: tokio::sync::Mutex<Option<String>>,
}

/// A token's fields that revocation looks at.
pub(crate) struct RevocationKey<'a> {
    pub sub: Option<&'a str>,
    pub origin_jti: Option<&'a str>,
    pub iat: Option<i64>,
}

impl Revocations {
    pub(crate) fn new(feed: RevocationFeedConfig) -> Self {
        Self { feed, lists: RwLock::new(Lists::default()), cursor: tokio::sync::Mutex::new(None) }
    }

    /// Whether the token is revoked by what the feed has said so far.
    pub(crate) fn is_revoked(&self, key: &RevocationKey<'_>) -> bool {
        let lists = self.lists.read().unwrap_or_else(PoisonError::into_inner);
        if key.origin_jti.is_some_and(|jti| lists.tokens.contains_key(jti)) {
            return true;
        }
        match key.sub.and_then(|sub| lists.users.get(sub)) {
            // No iat: we cannot tell the token predates the sign-out, so refuse it.
            Some(not_before) => key.iat.is_none_or(|iat| iat <= *not_before),
            None => false,
        }
    }

    /// Records feed items and forgets entries that can no longer matter.
    pub(crate) fn apply(&self, items: &[Value], now: i64, max_lifetime: i64, max_entries: usize) {
        let mut lists = self.lists.write().unwrap_or_else(PoisonError::into_inner);
        for item in items {
            let field = |name: &str| item.get(name);
            match field("kind").and_then(Value::as_str) {
                Some("token") => {
                    if let (Some(jti), Some(at)) =
                        (field("originJti").and_then(Value::as_str), field("at").and_then(Value::as_i64))
                    {
                        lists.tokens.insert(jti.to_owned(), at);
                    }
                }
                Some("user") => {
                    if let (Some(sub), Some(nb)) =
                        (field("sub").and_then(Value::as_str), field("notBefore").and_then(Value::as_i64))
                    {
                        let entry = lists.users.entry(sub.to_owned()).or_insert(nb);
                        *entry = (*entry).max(nb);
                    }
                }
                // Kinds this guard does not know are skipped, so the feed can grow.
                _ => {}
            }
        }
        let horizon = now.saturating_sub(max_lifetime);
        lists.tokens.retain(|_, at| *at >= horizon);
        lists.users.retain(|_, nb| *nb >= horizon);
        trim_oldest(&mut lists.tokens, max_entries);
        trim_oldest(&mut lists.users, max_entries);
    }

    /// Reads every new page of the feed (up to a bound) and applies it.
    pub(crate) async fn poll(
        &self,
        client: &reqwest::Client,
        now: i64,
        max_lifetime: i64,
        max_entries: usize,
    ) -> Result<(), FetchError> {
        let mut cursor = self.cursor.lock().await;
        for _ in 0..MAX_PAGES_PER_POLL {
            let mut url = format!("{}?limit={PAGE_LIMIT}", self.feed.url);
            if let Some(after) = cursor.as_deref() {
                url.push_str("&after=");
                url.extend(utf8_percent_encode(after, NON_ALPHANUMERIC));
            }
            let auth = Some((self.feed.client_id.as_str(), self.feed.client_secret.expose_secret()));
            let body = crate::http::get_limited(client, &url, auth, MAX_PAGE_BYTES).await?;
            let bad = |reason: &str| FetchError::Body { url: self.feed.url.clone(), reason: reason.to_owned() };
            let page: Value = serde_json::from_slice(&body).map_err(|_| bad("not JSON"))?;
            let items = page.get("items").and_then(Value::as_array).ok_or_else(|| bad("no items array"))?;
            let next = page.get("nextCursor").and_then(Value::as_str).ok_or_else(|| bad("no nextCursor"))?;
            self.apply(items, now, max_lifetime, max_entries);
            *cursor = Some(next.to_owned());
            if items.len() < PAGE_LIMIT {
                break;
            }
        }
        Ok(())
    }
}

/// Drops the entries with the oldest times until at most `max` remain.
fn trim_oldest(map: &mut HashMap<String, i64>, max: usize) {
    if map.len() <= max {
        return;
    }
    let mut times: Vec<i64> = map.values().copied().collect();
    let excess = map.len() - max;
    let (_, cut, _) = times.select_nth_unstable(excess - 1);
    let cut = *cut;
    let mut to_drop = excess;
    map.retain(|_, t| {
        if to_drop > 0 && *t <= cut {
            to_drop -= 1;
            false
        } else {
            true
        }
    });
    tracing::warn!(dropped = excess, "revocation list over its bound; the oldest entries were forgotten");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn feed() -> Revocations {
        Revocations::new(RevocationFeedConfig {
            url: "http://x/p/revocations".into(),
            client_id: "c".into(),
            client_secret: "s".to_owned().into(),
        })
    }

    #[test]
    fn entries_expire_and_stay_bounded() {
        let r = feed();
        let items: Vec<Value> =
            (0..10).map(|i| json!({"kind": "token", "originJti": format!("j{i}"), "at": 1000 + i})).collect();
        r.apply(&items, 1000, 100, 5);
        let key = |jti| RevocationKey { sub: None, origin_jti: Some(jti), iat: Some(0) };
        assert!(!r.is_revoked(&key("j0")), "oldest dropped past the bound");
        assert!(r.is_revoked(&key("j9")));
        r.apply(&[], 1200, 100, 5);
        assert!(!r.is_revoked(&key("j9")), "forgotten once every covered token expired");
        r.apply(&[json!({"kind": "user", "sub": "u", "notBefore": 1200})], 1200, 100, 5);
        assert!(r.is_revoked(&RevocationKey { sub: Some("u"), origin_jti: None, iat: Some(1200) }));
        assert!(!r.is_revoked(&RevocationKey { sub: Some("u"), origin_jti: None, iat: Some(1201) }));
        assert!(r.is_revoked(&RevocationKey { sub: Some("u"), origin_jti: None, iat: None }));
    }
}
