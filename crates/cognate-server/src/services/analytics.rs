//! Analytics and cost allocation per tenant: counting what happens (sign-ins and their
//! failures, tokens issued by grant, monthly active users), reading it back per tenant and
//! platform-wide, and each tenant's cost share for a month under the platform's price model.
//!
//! Counting never writes to the database per request: the services that act call
//! [`count`] and [`active_user`], which only touch this node's [`Meter`]. The meter is
//! flushed ([`flush`]) every [`FLUSH_INTERVAL`] by a background task and once more at
//! graceful shutdown, with additive upserts (`count = count + n`) and, for monthly active
//! users, one row per (tenant, month, user) inserted with `ON CONFLICT DO NOTHING`: several
//! nodes writing at once never lose or double a count, and a user seen by two nodes counts
//! once. A crash (kill -9) loses at most the last interval's counts.
//!
//! Monthly active users follow Cognito's billing rule: a user counts once in a calendar
//! month (UTC) in which there is an identity operation for them — sign-in, token refresh,
//! tenant switch, authorization code exchange, confirmed sign-up, password reset — and
//! federated users (signed in through a
//! SAML or OIDC provider) are counted apart. Attribution: a session's tenant (a dedicated
//! pool's users are its tenant's; in the shared pool, the `custom:tenantId` of the tokens);
//! without a tenant, the platform line ("no tenant").
//!
//! API calls per key are the API key usage the key service meters already
//! ([`super::api_keys`]); MFA adoption (active members with a verified software token over
//! active members) is computed when read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use cognate_core::StoreError;
use cognate_core::analytics::{
    self, ActiveUser, CostLine, Figure, FigureDelta, MauCount, PriceModel, Usage, format_money, format_month,
};
use cognate_core::apikey;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::tenant::{Tenant, TenantId};
use cognate_core::user::{User, UserStatus};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;

/// How often counted figures are written to the database.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// Most (tenant, month, user) entries a node remembers as already written; beyond it the
/// memory is cleared, which only costs writes that change nothing.
pub const MAX_SEEN: usize = 200_000;
/// Longest range of a report, in days.
pub const MAX_DAYS: i64 = 366;
/// The meta key of the price model.
const PRICE_MODEL_KEY: &str = "analytics.price_model";

/// Why an analytics request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// A date, month or range that is not valid (the message says which).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Counted = (Option<TenantId>, i64, Figure);

/// Figures and active users counted on this node and not yet written.
#[derive(Debug, Default)]
pub struct Meter {
    figures: Mutex<HashMap<Counted, i64>>,
    users: Mutex<Vec<ActiveUser>>,
    /// Failed sign-in steps per (pool, day): the tenant is not known yet when a password
    /// fails, so the pool's is found when flushing (a dedicated pool's tenant, else the
    /// platform line).
    failures: Mutex<HashMap<(PoolId, i64), i64>>,
    /// Users active in an operation without a session (sign-up, password reset), whose
    /// line is their pool's, found when flushing as for failures.
    pool_users: Mutex<Vec<(PoolId, ActiveUser)>>,
    /// (tenant, month, user) already queued or written by this node.
    seen: Mutex<HashSet<(Option<TenantId>, i32, String)>>,
}

impl Meter {
    fn add(&self, key: Counted, n: i64) {
        if let Ok(mut figures) = self.figures.lock() {
            *figures.entry(key).or_insert(0) += n;
        }
    }

    /// Queues `user` to be written unless this node already did this month.
    fn queue_user(&self, user: ActiveUser) {
        let Ok(mut seen) = self.seen.lock() else { return };
        if seen.len() >= MAX_SEEN {
            seen.clear();
        }
        if !seen.insert((user.tenant.clone(), user.month, user.user.clone())) {
            return;
        }
        drop(seen);
        if let Ok(mut users) = self.users.lock() {
            users.push(user);
        }
    }

    fn take(&self) -> (Vec<FigureDelta>, Vec<ActiveUser>) {
        let figures = match self.figures.lock() {
            Ok(mut f) => f
                .drain()
                .map(|((tenant, day, figure), count)| FigureDelta { tenant, day, figure: figure.name(), count })
                .collect(),
            Err(_) => Vec::new(),
        };
        let users = match self.users.lock() {
            Ok(mut u) => std::mem::take(&mut *u),
            Err(_) => Vec::new(),
        };
        (figures, users)
    }
}

/// Counts one `figure` for `tenant` (`None`: the platform line) now.
pub fn count(state: &AppState, tenant: Option<&TenantId>, figure: Figure) {
    let day = apikey::day_of(state.clock.now_millis());
    state.analytics.add((tenant.cloned(), day, figure), 1);
}

/// Counts a failed sign-in step (wrong password or code) in `pool` now.
pub fn sign_in_failed(state: &AppState, pool: &PoolId) {
    let day = apikey::day_of(state.clock.now_millis());
    if let Ok(mut failures) = state.analytics.failures.lock() {
        *failures.entry((pool.clone(), day)).or_insert(0) += 1;
    }
}

/// Records an identity operation of `user` outside any session (a confirmed sign-up, a
/// password reset): active this month on their pool's line (a dedicated pool's tenant,
/// else the platform line), found when flushing.
pub fn active_in_pool(state: &AppState, user: &User) {
    let at = state.clock.now_millis();
    let entry = ActiveUser {
        tenant: None,
        month: analytics::month_of(at),
        user: format!("{}/{}", user.pool_id, user.sub),
        federated: user.status == UserStatus::ExternalProvider,
        at,
    };
    if let Ok(mut pending) = state.analytics.pool_users.lock() {
        pending.push((user.pool_id.clone(), entry));
    }
}

/// The line of each pool: its dedicated tenant, else `None` (the platform line).
async fn owners<'a>(
    state: &AppState,
    pools: impl Iterator<Item = &'a PoolId>,
) -> Result<HashMap<PoolId, Option<TenantId>>, StoreError> {
    let mut owners = HashMap::new();
    for pool in pools {
        if !owners.contains_key(pool) {
            let owner = state.store.get_tenant_by_pool(pool).await?.map(|t| t.id);
            owners.insert(pool.clone(), owner);
        }
    }
    Ok(owners)
}

/// Moves the users recorded per pool to their lines (see [`active_in_pool`]).
async fn attribute_pool_users(state: &AppState) -> Result<(), StoreError> {
    let pending: Vec<(PoolId, ActiveUser)> = match state.analytics.pool_users.lock() {
        Ok(mut p) => std::mem::take(&mut *p),
        Err(_) => return Ok(()),
    };
    if pending.is_empty() {
        return Ok(());
    }
    let owners = match owners(state, pending.iter().map(|(pool, _)| pool)).await {
        Ok(owners) => owners,
        Err(e) => {
            if let Ok(mut p) = state.analytics.pool_users.lock() {
                p.extend(pending);
            }
            return Err(e);
        }
    };
    for (pool, mut user) in pending {
        user.tenant = owners.get(&pool).cloned().flatten();
        state.analytics.queue_user(user);
    }
    Ok(())
}

/// Moves the failures counted per pool to their lines: a dedicated pool's tenant, else
/// the platform line. On a lookup failure they stay for the next flush.
async fn attribute_failures(state: &AppState) -> Result<(), StoreError> {
    let failures: Vec<((PoolId, i64), i64)> = match state.analytics.failures.lock() {
        Ok(mut f) => f.drain().collect(),
        Err(_) => return Ok(()),
    };
    if failures.is_empty() {
        return Ok(());
    }
    let owners = match owners(state, failures.iter().map(|((pool, _), _)| pool)).await {
        Ok(owners) => owners,
        Err(e) => {
            if let Ok(mut pending) = state.analytics.failures.lock() {
                for (key, n) in failures {
                    *pending.entry(key).or_insert(0) += n;
                }
            }
            return Err(e);
        }
    };
    for ((pool, day), n) in failures {
        state.analytics.add((owners.get(&pool).cloned().flatten(), day, Figure::SignInFailure), n);
    }
    Ok(())
}

/// Records an identity operation of `user` for `tenant` (`None`: the platform line): the
/// user is active this month. Only the first sighting per node and month costs a write.
pub fn active_user(state: &AppState, tenant: Option<&TenantId>, user: &User) {
    let at = state.clock.now_millis();
    state.analytics.queue_user(ActiveUser {
        tenant: tenant.cloned(),
        month: analytics::month_of(at),
        user: format!("{}/{}", user.pool_id, user.sub),
        federated: user.status == UserStatus::ExternalProvider,
        at,
    });
}

/// Records an identity operation of `user` made with an access token (ChangePassword,
/// UpdateUserAttributes): active this month for the token's tenant (`custom:tenantId`),
/// else the platform line.
pub fn active_with_token(state: &AppState, claims: &serde_json::Value, user: &User) {
    let tenant =
        claims.get(crate::tenancy::TENANT_ID_ATTR).and_then(serde_json::Value::as_str).and_then(TenantId::parse);
    active_user(state, tenant.as_ref(), user);
}

/// Tokens were issued to `user` by `grant` in a session of `tenant`: counts them and the
/// user as active.
pub fn tokens_issued(state: &AppState, tenant: Option<&TenantId>, user: &User, grant: analytics::Grant) {
    count(state, tenant, Figure::Tokens(grant));
    active_user(state, tenant, user);
}

/// Writes what was counted; on failure the counts stay for the next flush. Returns how
/// many totals and users were written.
pub async fn flush(state: &AppState) -> Result<usize, StoreError> {
    let attributed = attribute_failures(state).await.and(attribute_pool_users(state).await);
    let (figures, users) = state.analytics.take();
    let mut result = Ok(figures.len() + users.len());
    if !figures.is_empty()
        && let Err(e) = state.store.add_figures(&figures).await
    {
        for d in figures {
            if let Some(figure) = figure_named(&d.figure) {
                state.analytics.add((d.tenant, d.day, figure), d.count);
            }
        }
        result = Err(e);
    }
    if !users.is_empty()
        && let Err(e) = state.store.add_active_users(&users).await
    {
        if let Ok(mut pending) = state.analytics.users.lock() {
            pending.extend(users);
        }
        result = Err(e);
    }
    attributed?;
    result
}

fn figure_named(name: &str) -> Option<Figure> {
    match name {
        "sign_ins" => Some(Figure::SignIn),
        "sign_in_failures" => Some(Figure::SignInFailure),
        _ => analytics::Grant::ALL
            .into_iter()
            .find(|g| name.strip_prefix("tokens.") == Some(g.as_str()))
            .map(Figure::Tokens),
    }
}

/// Flushes every `interval` until `stop` turns true, then once more.
pub fn spawn_flusher(state: AppState, interval: Duration, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    crate::periodic::spawn(interval, stop, move || {
        let state = state.clone();
        async move {
            if let Err(e) = flush(&state).await {
                tracing::error!(error = %e, "could not write analytics; keeping them for the next flush");
            }
        }
    })
}

/// Writes this node's pending counts (analytics and API key usage), so a read includes them.
async fn flush_all(state: &AppState) -> Result<(), StoreError> {
    flush(state).await?;
    super::api_keys::flush_usage(state).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------

/// A day's figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `sign_ins`, `sign_in_failures`, `tokens.{grant}`, `api_calls`; figures at zero are left out.
    pub figures: BTreeMap<String, i64>,
}

/// Monthly active users of a month.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Month {
    /// `YYYY-MM`.
    pub month: String,
    pub mau: i64,
    pub federated_mau: i64,
}

/// Members and MFA.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mfa {
    /// Active members.
    pub members: i64,
    /// Those with MFA (a verified software token) enabled.
    pub with_mfa: i64,
    /// `withMfa / members`, 0 without members.
    pub adoption: f64,
}

/// Figures of a tenant (or of the whole platform) over a range of days.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The tenant; absent for the platform-wide report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    pub from: String,
    pub to: String,
    /// Days with any figure, in order.
    pub days: Vec<Day>,
    /// Each figure's total over the range.
    pub totals: BTreeMap<String, i64>,
    /// API calls per key over the range (platform-wide: `{tenantId}/{keyId}`).
    pub api_calls_per_key: BTreeMap<String, i64>,
    /// Monthly active users of each month the range touches (whole months).
    pub months: Vec<Month>,
    pub mfa: Mfa,
    /// Platform-wide only: each line's totals (`""`: the platform line, "no tenant").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<BTreeMap<String, BTreeMap<String, i64>>>,
}

/// The range `from..=to` (days since the epoch) of optional `YYYY-MM-DD` bounds: by default
/// the last 30 days to today.
pub fn range(state: &AppState, from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), AnalyticsError> {
    let parse = |raw: &str, what: &str| {
        time::Date::parse(raw, super::api_keys::DAY_FORMAT)
            .map(|d| {
                i64::from(d.to_julian_day())
                    - i64::from(
                        time::Date::from_calendar_date(1970, time::Month::January, 1)
                            .map_or(0, time::Date::to_julian_day),
                    )
            })
            .map_err(|_| AnalyticsError::Invalid(format!("{what} must be a date as YYYY-MM-DD.")))
    };
    let to = match to {
        Some(raw) => parse(raw, "to")?,
        None => apikey::day_of(state.clock.now_millis()),
    };
    let from = match from {
        Some(raw) => parse(raw, "from")?,
        None => to - 29,
    };
    if from > to || to - from >= MAX_DAYS || from < 0 {
        return Err(AnalyticsError::Invalid(format!(
            "from must not be after to, and the range is at most {MAX_DAYS} days."
        )));
    }
    Ok((from, to))
}

fn mfa_of(members: i64, with_mfa: i64) -> Mfa {
    #[allow(clippy::cast_precision_loss)]
    let adoption = if members > 0 { with_mfa as f64 / members as f64 } else { 0.0 };
    Mfa { members, with_mfa, adoption }
}

/// The figures of `tenant` over days `from..=to`, including what this node has not written yet.
pub async fn tenant_report(state: &AppState, tenant: &TenantId, from: i64, to: i64) -> Result<Report, AnalyticsError> {
    flush_all(state).await?;
    let rows = state.store.figures(Some(tenant), from, to).await?;
    let calls = state.store.key_calls(Some(tenant), from, to).await?;
    let mut days: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for r in rows {
        *days.entry(r.day).or_default().entry(r.figure).or_insert(0) += r.count;
    }
    let mut per_key = BTreeMap::new();
    for c in calls {
        *days.entry(c.day).or_default().entry("api_calls".into()).or_insert(0) += c.count;
        *per_key.entry(c.key_id).or_insert(0) += c.count;
    }
    let mut months = Vec::new();
    for month in analytics::months_between(from, to) {
        let mau = state.store.monthly_active(Some(tenant), month).await?;
        months.push(Month { month: format_month(month), mau: mau.users, federated_mau: mau.federated });
    }
    let adoption = state.store.mfa_adoption(Some(tenant)).await?;
    let (members, with_mfa) = adoption.first().map_or((0, 0), |a| (a.members, a.with_mfa));
    Ok(assemble(Some(tenant.to_string()), from, to, days, per_key, months, mfa_of(members, with_mfa), None))
}

/// The figures of every tenant and the platform line over days `from..=to`, summed, with
/// each line's totals.
pub async fn platform_report(state: &AppState, from: i64, to: i64) -> Result<Report, AnalyticsError> {
    flush_all(state).await?;
    let rows = state.store.all_figures(from, to).await?;
    let calls = state.store.key_calls(None, from, to).await?;
    let mut days: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    let mut lines: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for r in rows {
        let line = r.tenant.as_ref().map_or_else(String::new, ToString::to_string);
        *lines.entry(line).or_default().entry(r.figure.clone()).or_insert(0) += r.count;
        *days.entry(r.day).or_default().entry(r.figure).or_insert(0) += r.count;
    }
    let mut per_key = BTreeMap::new();
    for c in calls {
        *lines.entry(c.tenant.to_string()).or_default().entry("api_calls".into()).or_insert(0) += c.count;
        *days.entry(c.day).or_default().entry("api_calls".into()).or_insert(0) += c.count;
        *per_key.entry(format!("{}/{}", c.tenant, c.key_id)).or_insert(0) += c.count;
    }
    let mut months = Vec::new();
    for month in analytics::months_between(from, to) {
        let all = state.store.all_monthly_active(month).await?;
        let (users, federated) = all.iter().fold((0, 0), |(u, f), (_, m)| (u + m.users, f + m.federated));
        months.push(Month { month: format_month(month), mau: users, federated_mau: federated });
    }
    let adoption = state.store.mfa_adoption(None).await?;
    let (members, with_mfa) = adoption.iter().fold((0, 0), |(m, w), a| (m + a.members, w + a.with_mfa));
    Ok(assemble(None, from, to, days, per_key, months, mfa_of(members, with_mfa), Some(lines)))
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    tenant_id: Option<String>,
    from: i64,
    to: i64,
    days: BTreeMap<i64, BTreeMap<String, i64>>,
    api_calls_per_key: BTreeMap<String, i64>,
    months: Vec<Month>,
    mfa: Mfa,
    lines: Option<BTreeMap<String, BTreeMap<String, i64>>>,
) -> Report {
    let mut totals = BTreeMap::new();
    for figures in days.values() {
        for (name, n) in figures {
            *totals.entry(name.clone()).or_insert(0) += n;
        }
    }
    let days = days.into_iter().map(|(day, figures)| Day { date: super::api_keys::format_day(day), figures }).collect();
    Report {
        tenant_id,
        from: super::api_keys::format_day(from),
        to: super::api_keys::format_day(to),
        days,
        totals,
        api_calls_per_key,
        months,
        mfa,
        lines,
    }
}

// ---------------------------------------------------------------------------------------
// Price model and cost allocation
// ---------------------------------------------------------------------------------------

/// The platform's price model (all prices 0 in `USD` until one is set).
pub async fn price_model(state: &AppState) -> Result<PriceModel, StoreError> {
    match state.store.get_meta(PRICE_MODEL_KEY).await? {
        Some(json) => serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("price model: {e}"))),
        None => Ok(PriceModel::default()),
    }
}

/// Replaces the price model (checked: currency code).
pub async fn set_price_model(state: &AppState, model: &PriceModel) -> Result<(), AnalyticsError> {
    if !analytics::valid_currency(&model.currency) {
        return Err(AnalyticsError::Invalid("currency must be an ISO 4217 code such as USD.".into()));
    }
    let json = serde_json::to_string(model).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    state.store.set_meta(PRICE_MODEL_KEY, &json).await?;
    Ok(())
}

/// Parses a price model as `/v1` and the platform portal take it (amounts as decimal
/// strings) and makes it the platform's; answers the model as stored.
pub async fn replace_price_model(state: &AppState, body: &PriceModelBody) -> Result<PriceModel, AnalyticsError> {
    let model = body.parse()?;
    set_price_model(state, &model).await?;
    Ok(model)
}

/// The month `raw` names (`YYYY-MM`), or the current month (UTC) when absent; as `YYYYMM`.
pub fn month_or_current(state: &AppState, raw: Option<&str>) -> Result<i32, AnalyticsError> {
    match raw {
        None => Ok(analytics::month_of(state.clock.now_millis())),
        Some(raw) => analytics::parse_month(raw)
            .ok_or_else(|| AnalyticsError::Invalid("month must be a month as YYYY-MM.".into())),
    }
}

/// A month's first and last day (days since the epoch): the range whose report holds
/// exactly that month's figures (`/v1`'s `?from=YYYY-MM-01&to=` its last day).
pub fn month_range(month: i32) -> (i64, i64) {
    analytics::month_days(month)
}

/// A month's cost allocation.
#[derive(Debug, Clone)]
pub struct Statement {
    /// `YYYYMM`.
    pub month: i32,
    pub model: PriceModel,
    pub lines: Vec<CostLine>,
    /// The sum of the lines' totals.
    pub total: i64,
}

/// Every tenant's cost line for `month` (`YYYY-MM`) and the platform line; `only`: just
/// that tenant's line (its fixed-cost share still depends on every tenant's MAU).
pub async fn costs(state: &AppState, month: &str, only: Option<&TenantId>) -> Result<Statement, AnalyticsError> {
    let month = analytics::parse_month(month)
        .ok_or_else(|| AnalyticsError::Invalid("month must be a month as YYYY-MM.".into()))?;
    flush_all(state).await?;
    let model = price_model(state).await?;
    let tenants = all_tenants(state).await?;
    let mau: HashMap<Option<TenantId>, MauCount> = state.store.all_monthly_active(month).await?.into_iter().collect();
    let (first, last) = analytics::month_days(month);
    let mut calls: HashMap<TenantId, i64> = HashMap::new();
    for c in state.store.key_calls(None, first, last).await? {
        *calls.entry(c.tenant).or_insert(0) += c.count;
    }
    let mut usages: Vec<Usage> = tenants
        .iter()
        .map(|t| Usage {
            tenant: Some(t.id.clone()),
            mau: mau.get(&Some(t.id.clone())).copied().unwrap_or_default(),
            api_calls: calls.get(&t.id).copied().unwrap_or(0),
            dedicated_pools: i64::from(t.tier.is_dedicated()),
        })
        .collect();
    usages.push(Usage {
        tenant: None,
        mau: mau.get(&None).copied().unwrap_or_default(),
        api_calls: 0,
        dedicated_pools: 0,
    });
    let mut lines = analytics::allocate(&model, usages);
    if let Some(only) = only {
        lines.retain(|l| l.usage.tenant.as_ref() == Some(only));
    }
    let total = lines.iter().map(|l| l.total).sum();
    Ok(Statement { month, model, lines, total })
}

async fn all_tenants(state: &AppState) -> Result<Vec<Tenant>, StoreError> {
    let mut out: Vec<Tenant> = Vec::new();
    loop {
        let after = out.last().map(|t| t.id.to_string());
        let page = state.store.list_tenants(&PageRequest { after, limit: 500 }).await?;
        let done = page.len() < 500;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// The CSV columns of a statement, in order.
pub const CSV_HEADER: &str = "month,tenant_id,currency,mau,federated_mau,api_calls,dedicated_pools,\
mau_cost,api_cost,dedicated_pool_cost,platform_share,total";

/// A statement as CSV (RFC 4180, CRLF, formula-safe cells): the header, one row per line
/// (`tenant_id` empty for the platform line), amounts in units with six decimals.
pub fn statement_csv(s: &Statement) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for l in &s.lines {
        let tenant = l.usage.tenant.as_ref().map_or("", TenantId::as_str);
        let cells = [
            format_month(s.month),
            tenant.to_owned(),
            s.model.currency.clone(),
            l.usage.mau.users.to_string(),
            l.usage.mau.federated.to_string(),
            l.usage.api_calls.to_string(),
            l.usage.dedicated_pools.to_string(),
            format_money(l.mau_cost),
            format_money(l.api_cost),
            format_money(l.pool_cost),
            format_money(l.platform_share),
            format_money(l.total),
        ];
        let row: Vec<String> = cells.iter().map(|c| super::audit_trail::csv_cell(c)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One line of a statement; amounts in the statement's currency, six decimals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostLineView {
    /// The tenant; `null` for the platform line (identity operations with no tenant).
    tenant_id: Option<String>,
    mau: i64,
    federated_mau: i64,
    api_calls: i64,
    dedicated_pools: i64,
    #[schema(example = "5.500000")]
    mau_cost: String,
    api_cost: String,
    dedicated_pool_cost: String,
    /// This line's share of the fixed platform cost (by MAU share).
    platform_share: String,
    total: String,
}

/// A month's cost allocation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatementView {
    /// `YYYY-MM`.
    month: String,
    currency: String,
    price_model: PriceModelBody,
    lines: Vec<CostLineView>,
    /// The sum of the lines' totals, exactly.
    total: String,
}

impl StatementView {
    /// The statement as `/v1` answers it in JSON (and the platform portal downloads it).
    pub fn of(s: &Statement) -> Self {
        Self {
            month: format_month(s.month),
            currency: s.model.currency.clone(),
            price_model: PriceModelBody::of(&s.model),
            lines: s
                .lines
                .iter()
                .map(|l| CostLineView {
                    tenant_id: l.usage.tenant.as_ref().map(ToString::to_string),
                    mau: l.usage.mau.users,
                    federated_mau: l.usage.mau.federated,
                    api_calls: l.usage.api_calls,
                    dedicated_pools: l.usage.dedicated_pools,
                    mau_cost: format_money(l.mau_cost),
                    api_cost: format_money(l.api_cost),
                    dedicated_pool_cost: format_money(l.pool_cost),
                    platform_share: format_money(l.platform_share),
                    total: format_money(l.total),
                })
                .collect(),
            total: format_money(s.total),
        }
    }
}

/// A price model as `/v1` shows and takes it: amounts as decimal strings.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceModelBody {
    /// ISO 4217 code. Defaults to `USD`.
    #[serde(default = "usd")]
    #[schema(example = "USD")]
    pub currency: String,
    /// Per monthly active user (not federated), e.g. `"0.0055"`.
    #[serde(default = "zero")]
    #[schema(example = "0.0055")]
    pub per_mau: String,
    /// Per federated monthly active user.
    #[serde(default = "zero")]
    #[schema(example = "0.015")]
    pub per_federated_mau: String,
    /// Per 1,000 API calls (accepted API key verifications).
    #[serde(default = "zero")]
    #[schema(example = "0.01")]
    pub per_thousand_api_calls: String,
    /// Per dedicated pool (platinum tenant) per month.
    #[serde(default = "zero")]
    #[schema(example = "100")]
    pub per_dedicated_pool: String,
    /// A fixed platform cost per month, spread over the tenants by MAU share.
    #[serde(default = "zero")]
    #[schema(example = "250")]
    pub platform_fixed: String,
}

fn usd() -> String {
    "USD".into()
}

fn zero() -> String {
    "0".into()
}

impl PriceModelBody {
    /// The model, each amount parsed exactly (at most six decimals, non-negative).
    pub fn parse(&self) -> Result<PriceModel, AnalyticsError> {
        let money = |raw: &str, what: &str| {
            analytics::parse_money(raw).ok_or_else(|| {
                AnalyticsError::Invalid(format!(
                    "{what} must be a non-negative decimal string with at most 6 decimals, such as \"0.0055\"."
                ))
            })
        };
        Ok(PriceModel {
            currency: self.currency.clone(),
            per_mau: money(&self.per_mau, "perMau")?,
            per_federated_mau: money(&self.per_federated_mau, "perFederatedMau")?,
            per_thousand_api_calls: money(&self.per_thousand_api_calls, "perThousandApiCalls")?,
            per_dedicated_pool: money(&self.per_dedicated_pool, "perDedicatedPool")?,
            platform_fixed: money(&self.platform_fixed, "platformFixed")?,
        })
    }

    pub fn of(model: &PriceModel) -> Self {
        Self {
            currency: model.currency.clone(),
            per_mau: format_money(model.per_mau),
            per_federated_mau: format_money(model.per_federated_mau),
            per_thousand_api_calls: format_money(model.per_thousand_api_calls),
            per_dedicated_pool: format_money(model.per_dedicated_pool),
            platform_fixed: format_money(model.platform_fixed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_names_round_trip() {
        for f in [Figure::SignIn, Figure::SignInFailure, Figure::Tokens(analytics::Grant::ClientCredentials)] {
            assert_eq!(figure_named(&f.name()), Some(f));
        }
        assert_eq!(figure_named("tokens.nope"), None);
    }
}
