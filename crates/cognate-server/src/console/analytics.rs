//! Analytics and cost allocation in the consoles: a tenant's figures for a month at
//! `/console/t/{tenant}/analytics` (its admins and platform admins, as
//! `GET /v1/tenants/{t}/analytics`), and at `/console/admin/analytics` every tenant's
//! figures and cost share for a month, the price model (`GET|PUT
//! /v1/analytics/price-model`) and the month's statement as CSV or JSON (the bytes
//! `GET /v1/analytics/costs` answers).
//!
//! The figures are [`crate::services::analytics`]' reports over the month's days, the
//! range `/v1` reads with `?from=YYYY-MM-01&to=` the month's last day, so the pages show
//! what `/v1` answers. Money is kept in integer micro-units and shown exactly, as decimals
//! in the price model's currency. A price model change is recorded as
//! `analytics.price_model`, the action of its `/v1` twin.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::analytics::{PriceModel, format_money, format_month};
use cognate_core::page::PageRequest;
use serde::Deserialize;

use super::chart::{self, Bar};
use super::{Chrome, Visit, after_post, explain};
use crate::AppState;
use crate::api::error::ApiError;
use crate::services::access::Need;
use crate::services::analytics::{self, PriceModelBody, Report, Statement, StatementView};
use crate::services::api_keys;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/analytics", get(tenant_page))
        .route("/console/admin/analytics", get(platform_page))
        .route("/console/admin/analytics/price-model", post(set_price_model))
        .route("/console/admin/analytics/costs", get(costs_download))
}

/// API keys whose names the tenant page looks up.
const KEYS_NAMED: u32 = 200;

/// The query of the pages: a month (`YYYY-MM`, default the current one), a notice.
#[derive(Deserialize, Default)]
struct MonthQuery {
    month: Option<String>,
    done: Option<String>,
    /// Downloads: `csv` or `json`.
    format: Option<String>,
}

impl MonthQuery {
    fn month(&self) -> Option<&str> {
        self.month.as_deref().filter(|m| !m.is_empty())
    }
}

/// Micro-units as a decimal for people: exact, trailing zeros dropped down to two
/// decimals (`5.500000` → `5.50`, `0.005500` → `0.0055`).
fn money(micros: i64) -> String {
    let full = format_money(micros);
    let (int, frac) = full.split_once('.').unwrap_or((&full, ""));
    let kept = frac.trim_end_matches('0');
    let kept = if kept.len() < 2 { &frac[..2.min(frac.len())] } else { kept };
    format!("{int}.{kept}")
}

/// `0.4` → `40%`, one decimal when needed.
fn percent(share: f64) -> String {
    let p = (share * 1000.0).round() / 10.0;
    if p.fract() == 0.0 { format!("{p:.0}%") } else { format!("{p:.1}%") }
}

/// The figure `name` in `figures`, 0 when absent.
fn figure(figures: &BTreeMap<String, i64>, name: &str) -> i64 {
    figures.get(name).copied().unwrap_or(0)
}

/// Tokens issued: the `tokens.*` figures summed.
fn tokens(figures: &BTreeMap<String, i64>) -> i64 {
    figures.iter().filter(|(k, _)| k.starts_with("tokens.")).map(|(_, n)| n).sum()
}

/// One bar per day of the report's range, `name`'s value (0 on days without it).
fn daily(report: &Report, from: i64, to: i64, name: &str) -> Vec<Bar> {
    (from..=to)
        .map(|day| {
            let label = api_keys::format_day(day);
            let value = report
                .days
                .iter()
                .find(|d| d.date == label)
                .map_or(0, |d| if name == "tokens" { tokens(&d.figures) } else { figure(&d.figures, name) });
            Bar { label, value }
        })
        .collect()
}

/// What both pages show of a report: the month's headline figures.
struct Headline {
    mau: i64,
    federated_mau: i64,
    sign_ins: i64,
    failures: i64,
    tokens: i64,
    api_calls: i64,
    members: i64,
    with_mfa: i64,
    adoption: String,
    /// Tokens per grant with any.
    grants: Vec<(String, i64)>,
}

impl Headline {
    fn of(report: &Report) -> Self {
        let month = report.months.first();
        Self {
            mau: month.map_or(0, |m| m.mau),
            federated_mau: month.map_or(0, |m| m.federated_mau),
            sign_ins: figure(&report.totals, "sign_ins"),
            failures: figure(&report.totals, "sign_in_failures"),
            tokens: tokens(&report.totals),
            api_calls: figure(&report.totals, "api_calls"),
            members: report.mfa.members,
            with_mfa: report.mfa.with_mfa,
            adoption: percent(report.mfa.adoption),
            grants: report
                .totals
                .iter()
                .filter_map(|(k, n)| k.strip_prefix("tokens.").map(|g| (g.to_owned(), *n)))
                .collect(),
        }
    }
}

/// The month a page asks for, as `YYYYMM`; `Err` is the page to answer.
fn month_of(state: &AppState, visit: &Visit, q: &MonthQuery) -> Result<i32, Box<Response>> {
    analytics::month_or_current(state, q.month()).map_err(|e| {
        let (status, text) = explain(e);
        Box::new(visit.refusal(state, status, &text))
    })
}

// ---------------------------------------------------------------------------------------
// A tenant's month
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/analytics.html")]
struct TenantPage {
    chrome: Chrome,
    tenant: String,
    month: String,
    from: String,
    to: String,
    figures: Headline,
    /// API calls per key: (name, id, calls), the busiest first.
    keys: Vec<(String, String, i64)>,
    sign_in_chart: String,
    token_chart: String,
    /// Days with any figure: (date, sign-ins, failures, tokens, API calls).
    days: Vec<(String, i64, i64, i64, i64)>,
}

/// `GET /console/t/{tenant}/analytics?month=YYYY-MM`.
async fn tenant_page(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(q): Query<MonthQuery>,
) -> Response {
    let access = match visit.tenant(&state, &tenant, Need::TenantAdmin).await {
        Ok(a) => a,
        Err(page) => return *page,
    };
    let month = match month_of(&state, &visit, &q) {
        Ok(m) => m,
        Err(page) => return *page,
    };
    let (from, to) = analytics::month_range(month);
    let report = match analytics::tenant_report(&state, &access.tenant.id, from, to).await {
        Ok(r) => r,
        Err(e) => {
            let (status, text) = explain(e);
            return visit.refusal(&state, status, &text);
        }
    };
    // Key names, for people; a key the list does not hold is shown by its id.
    let req = PageRequest { after: None, limit: KEYS_NAMED };
    let named = match api_keys::list(&state, &access.tenant.id, &req).await {
        Ok(keys) => keys,
        Err(e) => {
            let (status, text) = explain(e);
            return visit.refusal(&state, status, &text);
        }
    };
    let mut keys: Vec<(String, String, i64)> = report
        .api_calls_per_key
        .iter()
        .map(|(id, n)| {
            let name = named.iter().find(|k| &k.id == id).map_or_else(|| id.clone(), |k| k.name.clone());
            (name, id.clone(), *n)
        })
        .collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.2));
    let days = report
        .days
        .iter()
        .map(|d| {
            let f = &d.figures;
            (d.date.clone(), figure(f, "sign_ins"), figure(f, "sign_in_failures"), tokens(f), figure(f, "api_calls"))
        })
        .collect();
    let page = TenantPage {
        chrome: visit.chrome(&state, "Analytics", Some(&access)),
        tenant: access.tenant.id.to_string(),
        month: format_month(month),
        sign_in_chart: chart::bars("Sign-ins per day", &daily(&report, from, to, "sign_ins")),
        token_chart: chart::bars("Tokens issued per day", &daily(&report, from, to, "tokens")),
        figures: Headline::of(&report),
        from: report.from.clone(),
        to: report.to.clone(),
        keys,
        days,
    };
    visit.page(&state, StatusCode::OK, page.render())
}

// ---------------------------------------------------------------------------------------
// The platform's month: figures and cost shares
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/admin_analytics.html")]
struct PlatformPage {
    chrome: Chrome,
    month: String,
    from: String,
    to: String,
    currency: String,
    figures: Headline,
    sign_in_chart: String,
    lines: Vec<LineRow>,
    total: String,
    prices: Prices,
}

/// One tenant's (or the platform line's) figures and cost share.
struct LineRow {
    /// The tenant id; empty for the platform line.
    tenant: String,
    mau: i64,
    federated_mau: i64,
    sign_ins: i64,
    failures: i64,
    tokens: i64,
    api_calls: i64,
    dedicated_pools: i64,
    mau_cost: String,
    api_cost: String,
    pool_cost: String,
    platform_share: String,
    total: String,
}

/// The price model form's fields, as decimals.
struct Prices {
    currency: String,
    per_mau: String,
    per_federated_mau: String,
    per_thousand_api_calls: String,
    per_dedicated_pool: String,
    platform_fixed: String,
}

impl Prices {
    fn of(model: &PriceModel) -> Self {
        Self {
            currency: model.currency.clone(),
            per_mau: money(model.per_mau),
            per_federated_mau: money(model.per_federated_mau),
            per_thousand_api_calls: money(model.per_thousand_api_calls),
            per_dedicated_pool: money(model.per_dedicated_pool),
            platform_fixed: money(model.platform_fixed),
        }
    }

    fn body(&self) -> PriceModelBody {
        PriceModelBody {
            currency: self.currency.clone(),
            per_mau: self.per_mau.clone(),
            per_federated_mau: self.per_federated_mau.clone(),
            per_thousand_api_calls: self.per_thousand_api_calls.clone(),
            per_dedicated_pool: self.per_dedicated_pool.clone(),
            platform_fixed: self.platform_fixed.clone(),
        }
    }
}

fn line_rows(statement: &Statement, report: &Report) -> Vec<LineRow> {
    let empty = BTreeMap::new();
    statement
        .lines
        .iter()
        .map(|l| {
            let tenant = l.usage.tenant.as_ref().map_or_else(String::new, ToString::to_string);
            let figures = report.lines.as_ref().and_then(|lines| lines.get(&tenant)).unwrap_or(&empty);
            LineRow {
                mau: l.usage.mau.users,
                federated_mau: l.usage.mau.federated,
                sign_ins: figure(figures, "sign_ins"),
                failures: figure(figures, "sign_in_failures"),
                tokens: tokens(figures),
                api_calls: l.usage.api_calls,
                dedicated_pools: l.usage.dedicated_pools,
                mau_cost: money(l.mau_cost),
                api_cost: money(l.api_cost),
                pool_cost: money(l.pool_cost),
                platform_share: money(l.platform_share),
                total: money(l.total),
                tenant,
            }
        })
        .collect()
}

/// `GET /console/admin/analytics?month=YYYY-MM`.
async fn platform_page(State(state): State<AppState>, visit: Visit, Query(q): Query<MonthQuery>) -> Response {
    let notice = match q.done.as_deref() {
        Some("price-model") => Some("Price model saved; the statements below use it.".to_owned()),
        _ => None,
    };
    render_platform(&state, &visit, &q, notice, None, None, StatusCode::OK).await
}

async fn render_platform(
    state: &AppState,
    visit: &Visit,
    q: &MonthQuery,
    notice: Option<String>,
    error: Option<String>,
    entered: Option<Prices>,
    status: StatusCode,
) -> Response {
    if let Err(page) = super::admin::platform(state, visit) {
        return *page;
    }
    let month = match month_of(state, visit, q) {
        Ok(m) => m,
        Err(page) => return *page,
    };
    let (from, to) = analytics::month_range(month);
    let refuse = |e: analytics::AnalyticsError| {
        let (status, text) = explain(e);
        visit.refusal(state, status, &text)
    };
    let report = match analytics::platform_report(state, from, to).await {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    let statement = match analytics::costs(state, &format_month(month), None).await {
        Ok(s) => s,
        Err(e) => return refuse(e),
    };
    let page = PlatformPage {
        chrome: visit.chrome(state, "Analytics and costs", None).with_notice(notice).with_error(error),
        month: format_month(month),
        from: report.from.clone(),
        to: report.to.clone(),
        currency: statement.model.currency.clone(),
        figures: Headline::of(&report),
        sign_in_chart: chart::bars("Sign-ins per day, all tenants", &daily(&report, from, to, "sign_ins")),
        lines: line_rows(&statement, &report),
        total: money(statement.total),
        prices: entered.unwrap_or_else(|| Prices::of(&statement.model)),
    };
    visit.page(state, status, page.render())
}

/// `POST /console/admin/analytics/price-model`: the price model, replaced as
/// `PUT /v1/analytics/price-model` replaces it.
async fn set_price_model(State(state): State<AppState>, visit: Visit, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(page) = super::admin::platform(&state, &visit) {
        return *page;
    }
    let form = match visit.form(&state, &headers, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let field = |name: &str| form.get(name).unwrap_or("0").to_owned();
    let entered = Prices {
        currency: form.get("currency").unwrap_or("USD").to_owned(),
        per_mau: field("per_mau"),
        per_federated_mau: field("per_federated_mau"),
        per_thousand_api_calls: field("per_thousand_api_calls"),
        per_dedicated_pool: field("per_dedicated_pool"),
        platform_fixed: field("platform_fixed"),
    };
    // Back to the month the form was sent from (a valid one only).
    let q = MonthQuery {
        month: form.get("month").and_then(cognate_core::analytics::parse_month).map(format_month),
        ..MonthQuery::default()
    };
    match analytics::replace_price_model(&state, &entered.body()).await {
        Ok(_) => {
            visit.record(&state, "analytics.price_model", None, None, Ok(()));
            let month = q.month.map(|m| format!("month={m}&")).unwrap_or_default();
            after_post(&format!("/console/admin/analytics?{month}done=price-model"))
        }
        Err(e) => {
            let api = ApiError::from(e);
            visit.record(&state, "analytics.price_model", None, None, Err(api.code));
            let (status, text) = explain(api);
            render_platform(&state, &visit, &q, None, Some(text), Some(entered), status).await
        }
    }
}

/// `GET /console/admin/analytics/costs?month=YYYY-MM&format=csv|json`: the month's
/// statement, the body `GET /v1/analytics/costs` answers in that format.
async fn costs_download(State(state): State<AppState>, visit: Visit, Query(q): Query<MonthQuery>) -> Response {
    if let Err(page) = super::admin::platform(&state, &visit) {
        return *page;
    }
    let csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") | None => false,
        Some(_) => return visit.refusal(&state, StatusCode::BAD_REQUEST, "Choose csv or json as the format."),
    };
    let month = match month_of(&state, &visit, &q) {
        Ok(m) => m,
        Err(page) => return *page,
    };
    let statement = match analytics::costs(&state, &format_month(month), None).await {
        Ok(s) => s,
        Err(e) => {
            let (status, text) = explain(e);
            return visit.refusal(&state, status, &text);
        }
    };
    let name = format!("costs-{}", format_month(month));
    if csv {
        let body = analytics::statement_csv(&statement).into_bytes();
        return super::tenant_audit::download(&format!("{name}.csv"), "text/csv; charset=utf-8", body);
    }
    match serde_json::to_vec(&StatementView::of(&statement)) {
        Ok(body) => super::tenant_audit::download(&format!("{name}.json"), "application/json", body),
        Err(e) => {
            let (status, text) = explain(ApiError::internal(e));
            visit.refusal(&state, status, &text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_and_readable() {
        assert_eq!(money(5_500_000), "5.50");
        assert_eq!(money(5_500), "0.0055");
        assert_eq!(money(0), "0.00");
        assert_eq!(money(1), "0.000001");
        assert_eq!(money(250_000_000), "250.00");
        // What the form shows, the service takes back unchanged.
        for micros in [0, 1, 5_500, 5_500_000, 123_456_789] {
            assert_eq!(cognate_core::analytics::parse_money(&money(micros)), Some(micros));
        }
    }

    #[test]
    fn shares_read_as_percentages() {
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.5), "50%");
        assert_eq!(percent(1.0 / 3.0), "33.3%");
    }
}
