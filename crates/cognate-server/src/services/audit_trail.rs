//! Reading a tenant's (or the platform's) audit trail, for every surface: `/v1`'s
//! `…/audit` and `…/audit/export`, and the tenant console's audit log and its downloads.
//! The rules live here once: which filters and limits are accepted, what a cursor is,
//! what an exported row holds (the same fields in NDJSON and CSV, with the chain hashes
//! so anyone can re-verify the chain), and the retention bounds.
//!
//! A caller reads only the chain it names; surfaces name the chain of the tenant the
//! access decision ([`crate::services::access`]) established, never one from the request.

use cognate_core::StoreError;
use cognate_core::audit::{AuditEvent, AuditQuery, NewEvent, PLATFORM_CHAIN};
use cognate_core::page;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::audit::flush_audit;

/// Events per page when none is asked for.
pub const DEFAULT_LIMIT: u32 = 20;
/// The most events per page.
pub const MAX_LIMIT: u32 = 100;
/// The shortest and longest retention, in days.
pub const RETENTION_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;
/// Events per page read for an export.
const EXPORT_PAGE: u32 = 1000;

/// Why reading or configuring the trail was refused.
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    #[error("the limit must be 1 to {MAX_LIMIT}")]
    InvalidLimit,
    #[error("outcome must be success or failure")]
    InvalidOutcome,
    /// Not a cursor this listing handed out (another chain's, or made up).
    #[error("the cursor is not valid")]
    InvalidCursor,
    #[error("days must be 1 to 3650")]
    InvalidRetention,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which events to read: each filter given must match exactly.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// E.g. `auth.sign_in`, `member.remove`.
    pub action: Option<String>,
    /// E.g. `user:{sub}`, `admin:{accessKeyId}`.
    pub actor: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// At or after (epoch ms).
    pub from: Option<i64>,
    /// Before (epoch ms).
    pub to: Option<i64>,
}

impl Filter {
    fn check(&self) -> Result<(), TrailError> {
        if self.outcome.as_deref().is_some_and(|o| o != "success" && o != "failure") {
            return Err(TrailError::InvalidOutcome);
        }
        Ok(())
    }

    /// Whether no filter is given (an export is then the whole chain).
    pub fn is_empty(&self) -> bool {
        self.action.is_none()
            && self.actor.is_none()
            && self.outcome.is_none()
            && self.from.is_none()
            && self.to.is_none()
    }

    /// The store's filter semantics (`audit_events`), for an export read in chain order.
    fn matches(&self, e: &NewEvent) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        is(&self.action, &e.action)
            && is(&self.actor, &e.actor)
            && is(&self.outcome, &e.outcome)
            && self.from.is_none_or(|from| e.at >= from)
            && self.to.is_none_or(|to| e.at < to)
    }
}

/// An audit event as every surface shows it (and exports it). `at` is in milliseconds
/// (the hashed value).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub seq: i64,
    pub id: String,
    /// The tenant; `null` for the platform chain.
    pub tenant_id: Option<String>,
    /// Epoch milliseconds.
    pub at: i64,
    pub pool_id: Option<String>,
    /// `user:{sub}`, `admin:{accessKeyId}`, `apikey:{id}`, `client:{id}` or `anonymous`.
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    pub reason: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditEvent> for EventView {
    fn from(e: AuditEvent) -> Self {
        let n = e.event;
        Self {
            seq: e.seq,
            id: n.id,
            tenant_id: (n.chain != PLATFORM_CHAIN).then_some(n.chain),
            at: n.at,
            pool_id: n.pool_id,
            actor: n.actor,
            action: n.action,
            target: n.target,
            outcome: n.outcome,
            reason: n.reason,
            source_ip: n.source_ip,
            user_agent: n.user_agent,
            request_id: n.request_id,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    pub items: Vec<EventView>,
    pub next_cursor: Option<String>,
}

/// A page of `chain`'s events matching `filter`, newest first: `limit` (1 to
/// [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) events before the previous page's cursor.
pub async fn list(
    state: &AppState,
    chain: &str,
    filter: Filter,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<EventPage, TrailError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(TrailError::InvalidLimit);
    }
    filter.check()?;
    let scope = format!("audit:{chain}");
    let before_seq = match cursor {
        Some(c) => {
            Some(page::decode_token(&scope, c).and_then(|s| s.parse::<i64>().ok()).ok_or(TrailError::InvalidCursor)?)
        }
        None => None,
    };
    let q = AuditQuery {
        action: filter.action,
        actor: filter.actor,
        outcome: filter.outcome,
        from: filter.from,
        to: filter.to,
        before_seq,
        limit: limit + 1,
    };
    let mut rows = crate::audit::events(state, chain, &q).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|e| page::encode_token(&scope, &e.seq.to_string()))
    } else {
        None
    };
    Ok(EventPage { items: rows.into_iter().map(EventView::from).collect(), next_cursor })
}

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object ([`EventView`]) per line: `application/x-ndjson`.
    Ndjson,
    /// A header line and one row per event, the same fields: `text/csv`.
    Csv,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file name extension of a download.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
        }
    }
}

/// `chain`'s events matching `filter`, oldest first (chain order), written as `format`.
/// Without filters it is the whole chain, which re-verifies from its first `prevHash`.
pub async fn export(state: &AppState, chain: &str, filter: &Filter, format: Format) -> Result<Vec<u8>, TrailError> {
    filter.check()?;
    flush_audit(state).await?;
    let mut out = Vec::new();
    if format == Format::Csv {
        out.extend_from_slice(CSV_HEADER.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut after = 0;
    loop {
        let rows = crate::audit::chain_page(state, chain, after, EXPORT_PAGE).await?;
        let done = rows.len() < EXPORT_PAGE as usize;
        for e in rows {
            after = e.seq;
            if !filter.matches(&e.event) {
                continue;
            }
            let view = EventView::from(e);
            match format {
                Format::Ndjson => {
                    // An EventView is strings and numbers: writing it cannot fail.
                    if serde_json::to_writer(&mut out, &view).is_ok() {
                        out.push(b'\n');
                    }
                }
                Format::Csv => csv_row(&mut out, &view),
            }
        }
        if done {
            return Ok(out);
        }
    }
}

const CSV_HEADER: &str =
    "seq,id,tenantId,at,poolId,actor,action,target,outcome,reason,sourceIp,userAgent,requestId,prevHash,hash";

fn csv_row(out: &mut Vec<u8>, v: &EventView) {
    let seq = v.seq.to_string();
    let at = v.at.to_string();
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let cells = [
        seq,
        v.id.clone(),
        opt(&v.tenant_id),
        at,
        opt(&v.pool_id),
        v.actor.clone(),
        v.action.clone(),
        opt(&v.target),
        v.outcome.clone(),
        opt(&v.reason),
        opt(&v.source_ip),
        opt(&v.user_agent),
        opt(&v.request_id),
        v.prev_hash.clone(),
        v.hash.clone(),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(csv_cell(cell).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// A CSV cell (RFC 4180 quoting). A value a spreadsheet would run as a formula (`=`,
/// `+`, `-`, `@`, tab or CR first: a user agent is the sender's to choose) is prefixed
/// with `'` so that it is shown, not evaluated.
pub(crate) fn csv_cell(value: &str) -> String {
    let guarded =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

/// How long `chain`'s events are kept, in days.
pub async fn retention(state: &AppState, chain: &str) -> Result<u32, TrailError> {
    Ok(crate::audit::retention_days(state, chain).await?)
}

/// Sets how long `chain`'s events are kept: [`RETENTION_DAYS`].
pub async fn set_retention(state: &AppState, chain: &str, days: u32) -> Result<(), TrailError> {
    if !RETENTION_DAYS.contains(&days) {
        return Err(TrailError::InvalidRetention);
    }
    Ok(crate::audit::set_retention_days(state, chain, days).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("auth.sign_in"), "auth.sign_in");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn filters_match_as_the_store_does() {
        let e = NewEvent {
            chain: "acme".into(),
            id: "e1".into(),
            at: 1000,
            pool_id: None,
            actor: "user:s".into(),
            action: "domain.add".into(),
            target: None,
            outcome: "success".into(),
            reason: None,
            source_ip: None,
            user_agent: None,
            request_id: None,
        };
        assert!(Filter::default().matches(&e));
        assert!(
            Filter { action: Some("domain.add".into()), from: Some(1000), to: Some(1001), ..Filter::default() }
                .matches(&e)
        );
        assert!(!Filter { to: Some(1000), ..Filter::default() }.matches(&e));
        assert!(!Filter { actor: Some("user:t".into()), ..Filter::default() }.matches(&e));
        assert!(Filter { outcome: Some("maybe".into()), ..Filter::default() }.check().is_err());
    }
}
