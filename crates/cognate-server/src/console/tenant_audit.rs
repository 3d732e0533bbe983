//! The tenant console's audit log, `/console/t/{tenant}/audit`: the tenant's events newest
//! first, filtered by action, actor, outcome and time range (what the trail's query
//! supports), paged by cursor, with downloads (`…/audit/export?format=csv|json`, the same
//! rows as `/v1`'s export, filtered alike). Tenant admins and platform admins, as `/v1`.
//!
//! The filter form works as a plain GET; with JavaScript, htmx swaps only the results
//! when a filter changes. Every read names the chain of the tenant the access decision
//! established, never one from the request.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{Chrome, Visit, explain, urlencoding, when};
use crate::AppState;
use crate::services::access::Need;
use crate::services::audit_trail::{self, Filter, Format};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/audit", get(audit_page))
        .route("/console/t/{tenant}/audit/export", get(export))
}

/// Events per page.
const PER_PAGE: u32 = 50;

/// The filters as the form sends them (times as `datetime-local` values, in UTC).
#[derive(Deserialize, Default)]
struct AuditForm {
    action: Option<String>,
    actor: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    format: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

impl AuditForm {
    /// The trail's filter, or why a value is refused.
    fn filter(&self) -> Result<Filter, String> {
        let outcome = given(&self.outcome);
        if outcome.as_deref().is_some_and(|o| o != "success" && o != "failure") {
            return Err("Choose success or failure as the outcome.".into());
        }
        Ok(Filter {
            action: given(&self.action),
            actor: given(&self.actor),
            outcome,
            from: given(&self.from).map(|t| epoch_ms(&t).ok_or_else(|| bad_time("From", &t))).transpose()?,
            to: given(&self.to).map(|t| epoch_ms(&t).ok_or_else(|| bad_time("To", &t))).transpose()?,
        })
    }

    /// The filters as a query string (for the next page and the downloads).
    fn query(&self) -> String {
        [
            ("action", &self.action),
            ("actor", &self.actor),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter_map(|(k, v)| given(v).map(|v| format!("{k}={}", urlencoding(&v))))
        .collect::<Vec<_>>()
        .join("&")
    }
}

fn bad_time(field: &str, value: &str) -> String {
    let shown: String = value.chars().take(40).collect();
    format!("{field} must be a date and time such as 2025-01-31T13:45 (UTC), not {shown:?}.")
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM[:SS]`), read as UTC, in epoch ms.
fn epoch_ms(value: &str) -> Option<i64> {
    let minutes = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(value, minutes)
        .or_else(|_| time::PrimitiveDateTime::parse(value, seconds))
        .ok()?;
    let ms = t.assume_utc().unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).ok()
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    chrome: Chrome,
    tenant: String,
    events: Vec<EventRow>,
    action: String,
    actor: String,
    outcome: String,
    from: String,
    to: String,
    /// The filters as a query string (`a=b&…`, may be empty).
    query: String,
    next: Option<String>,
    /// Whether this page follows a cursor (a link back to the newest is offered).
    paged: bool,
}

struct EventRow {
    at: String,
    actor: String,
    action: String,
    target: String,
    success: bool,
    reason: String,
    source_ip: String,
}

/// `GET /console/t/{tenant}/audit`.
async fn audit_page(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(form): Query<AuditForm>,
) -> Response {
    let access = match visit.tenant(&state, &tenant, Need::TenantAdmin).await {
        Ok(a) => a,
        Err(page) => return *page,
    };
    let chrome = visit.chrome(&state, "Audit log", Some(&access));
    let listed = match form.filter() {
        Ok(filter) => {
            audit_trail::list(&state, access.tenant.id.as_str(), filter, Some(PER_PAGE), given(&form.cursor).as_deref())
                .await
                .map_err(explain)
        }
        Err(text) => Err((StatusCode::BAD_REQUEST, text)),
    };
    let (status, chrome, items, next) = match listed {
        Ok(page) => (StatusCode::OK, chrome, page.items, page.next_cursor),
        Err((status, text)) => (status, chrome.with_error(Some(text)), Vec::new(), None),
    };
    let events = items
        .into_iter()
        .map(|e| EventRow {
            at: when(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target.unwrap_or_default(),
            success: e.outcome == "success",
            reason: e.reason.unwrap_or_default(),
            source_ip: e.source_ip.unwrap_or_default(),
        })
        .collect();
    let text = |v: &Option<String>| given(v).unwrap_or_default();
    let page = AuditPage {
        chrome,
        tenant: access.tenant.id.to_string(),
        events,
        action: text(&form.action),
        actor: text(&form.actor),
        outcome: text(&form.outcome),
        from: text(&form.from),
        to: text(&form.to),
        query: form.query(),
        next: next.map(|c| urlencoding(&c)),
        paged: given(&form.cursor).is_some(),
    };
    visit.page(&state, status, page.render())
}

/// `GET /console/t/{tenant}/audit/export?format=csv|json` (and the filters): a download
/// of the matching events, oldest first. `json` is `/v1`'s export format (NDJSON).
async fn export(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(form): Query<AuditForm>,
) -> Response {
    let access = match visit.tenant(&state, &tenant, Need::TenantAdmin).await {
        Ok(a) => a,
        Err(page) => return *page,
    };
    let format = match form.format.as_deref() {
        Some("csv") => Format::Csv,
        Some("json") | None => Format::Ndjson,
        Some(_) => return visit.refusal(&state, StatusCode::BAD_REQUEST, "Choose csv or json as the format."),
    };
    let filter = match form.filter() {
        Ok(f) => f,
        Err(text) => return visit.refusal(&state, StatusCode::BAD_REQUEST, &text),
    };
    let chain = access.tenant.id.as_str();
    let body = match audit_trail::export(&state, chain, &filter, format).await {
        Ok(body) => body,
        Err(e) => {
            let (status, text) = explain(e);
            return visit.refusal(&state, status, &text);
        }
    };
    download(&format!("audit-{chain}.{}", format.extension()), format.content_type(), body)
}

/// A file download: never cached, never sniffed, never shown inline.
pub(super) fn download(filename: &str, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let headers = resp.headers_mut();
    crate::web::security_headers(headers);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_utc() {
        assert_eq!(epoch_ms("1970-01-01T00:01"), Some(60_000));
        assert_eq!(epoch_ms("2025-01-31T13:45:10"), Some(1_738_331_110_000));
        for bad in ["", "yesterday", "2025-13-01T00:00", "2025-01-31 13:45", "2025-01-31T13:45\0"] {
            assert_eq!(epoch_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn filters_are_checked_and_carried() {
        let form = AuditForm {
            action: Some(" domain.add ".into()),
            outcome: Some("failure".into()),
            from: Some("2025-01-31T13:45".into()),
            ..AuditForm::default()
        };
        let f = form.filter().unwrap();
        assert_eq!(f.action.as_deref(), Some("domain.add"));
        assert_eq!(form.query(), "action=domain.add&outcome=failure&from=2025-01-31T13%3A45");
        assert!(AuditForm { outcome: Some("maybe".into()), ..AuditForm::default() }.filter().is_err());
        assert!(AuditForm { to: Some("soon".into()), ..AuditForm::default() }.filter().is_err());
    }
}
