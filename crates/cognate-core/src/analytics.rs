//! Analytics and cost allocation: the figures counted per tenant and day, monthly active
//! users as Cognito bills them, and the price model that turns a month's figures into each
//! tenant's cost share.
//!
//! Money is integer micro-units of the model's currency (1 USD = 1,000,000) end to end:
//! prices are given as decimal strings ("0.0055") and parsed exactly, each line item is
//! computed in 128-bit integers and rounded once (half up) to a micro-unit, and a fixed
//! platform cost is spread with the largest-remainder method, so the lines always add up to
//! the total to the micro-unit.
//!
//! Tenant attribution (see docs/operations.md): a figure belongs to the tenant of the
//! session it was counted in — a dedicated pool's sessions are its tenant's, a shared pool
//! session's tenant is its `custom:tenantId` — and to the platform line (`None`, "no
//! tenant") when the session has no tenant.

use serde::{Deserialize, Serialize};

use crate::tenant::TenantId;

/// How tokens were obtained, for the token issuance figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// A sign-in that proved the password in the clear (USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH, the hosted login).
    Password,
    /// A sign-in that proved the password over SRP (USER_SRP_AUTH).
    Srp,
    /// Any other sign-in: email one-time code, passkey.
    OtherSignIn,
    /// A refresh token.
    Refresh,
    /// An authorization code exchange.
    Code,
    /// An app client's own credentials (M2M).
    ClientCredentials,
    /// A switch to another of the user's tenants.
    Switch,
}

impl Grant {
    pub const ALL: [Grant; 7] = [
        Grant::Password,
        Grant::Srp,
        Grant::OtherSignIn,
        Grant::Refresh,
        Grant::Code,
        Grant::ClientCredentials,
        Grant::Switch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Srp => "srp",
            Self::OtherSignIn => "other_sign_in",
            Self::Refresh => "refresh",
            Self::Code => "code",
            Self::ClientCredentials => "client_credentials",
            Self::Switch => "switch",
        }
    }
}

/// A figure counted per tenant and day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Figure {
    /// A completed sign-in.
    SignIn,
    /// A wrong password or code in a sign-in step.
    SignInFailure,
    /// A set of tokens issued, by grant.
    Tokens(Grant),
}

impl Figure {
    /// The name the figure is stored and reported under: `sign_ins`, `sign_in_failures`,
    /// `tokens.{grant}`.
    pub fn name(self) -> String {
        match self {
            Self::SignIn => "sign_ins".to_owned(),
            Self::SignInFailure => "sign_in_failures".to_owned(),
            Self::Tokens(grant) => format!("tokens.{}", grant.as_str()),
        }
    }
}

/// A count to add to a (tenant, day, figure) total; `tenant: None` is the platform line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureDelta {
    pub tenant: Option<TenantId>,
    /// Days since the epoch (UTC).
    pub day: i64,
    /// [`Figure::name`].
    pub figure: String,
    pub count: i64,
}

/// A stored (tenant, day, figure) total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureRow {
    pub tenant: Option<TenantId>,
    pub day: i64,
    pub figure: String,
    pub count: i64,
}

/// A user seen in an identity operation in a month, for monthly active users.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActiveUser {
    pub tenant: Option<TenantId>,
    /// [`month_of`]: `YYYYMM`.
    pub month: i32,
    /// `{poolId}/{sub}`: a sub is unique within its pool.
    pub user: String,
    /// A federated user (signed in through a SAML or OIDC provider), billed apart.
    pub federated: bool,
    /// When first seen (ms).
    pub at: i64,
}

/// Monthly active users of one line in one month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MauCount {
    /// Every active user, federated ones included.
    pub users: i64,
    /// Those of them who are federated.
    pub federated: i64,
}

/// API calls (accepted API key verifications) of one key of a tenant on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCalls {
    pub tenant: TenantId,
    pub key_id: String,
    pub day: i64,
    pub count: i64,
}

/// Members of a tenant and how many of them have MFA enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaAdoption {
    pub tenant: TenantId,
    pub members: i64,
    pub with_mfa: i64,
}

/// The month (`YYYYMM`, UTC) of a time in ms.
pub fn month_of(ms: i64) -> i32 {
    let date = (time::OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms)).date();
    date.year() * 100 + i32::from(u8::from(date.month()))
}

/// `YYYY-MM` as `YYYYMM`; `None` unless a month of years 1970 to 9999.
pub fn parse_month(raw: &str) -> Option<i32> {
    let (y, m) = raw.split_once('-')?;
    if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m): (i32, i32) = (y.parse().ok()?, m.parse().ok()?);
    ((1970..=9999).contains(&y) && (1..=12).contains(&m)).then_some(y * 100 + m)
}

/// `YYYYMM` as `YYYY-MM`.
pub fn format_month(month: i32) -> String {
    format!("{:04}-{:02}", month / 100, month % 100)
}

/// The first and last day (days since the epoch) of a month `YYYYMM`.
pub fn month_days(month: i32) -> (i64, i64) {
    let epoch =
        i64::from(time::Date::from_calendar_date(1970, time::Month::January, 1).map_or(0, time::Date::to_julian_day));
    let first = |y: i32, m: i32| {
        let month = u8::try_from(m).ok().and_then(|m| time::Month::try_from(m).ok()).unwrap_or(time::Month::January);
        time::Date::from_calendar_date(y, month, 1).map_or(0, |d| i64::from(d.to_julian_day()) - epoch)
    };
    let (y, m) = (month / 100, month % 100);
    let next = if m == 12 { first(y + 1, 1) } else { first(y, m + 1) };
    (first(y, m), next - 1)
}

/// The months (`YYYYMM`) that days `from..=to` touch, in order.
pub fn months_between(from_day: i64, to_day: i64) -> Vec<i32> {
    let (mut month, last) = (month_of(from_day * 86_400_000), month_of(to_day * 86_400_000));
    let mut out = Vec::new();
    while month <= last {
        out.push(month);
        month = if month % 100 == 12 { month + 89 } else { month + 1 };
    }
    out
}

// ---------------------------------------------------------------------------------------
// Money and the price model
// ---------------------------------------------------------------------------------------

/// Micro-units in one unit of currency.
pub const MICROS: i64 = 1_000_000;
/// The largest price accepted, in units (a guard against typos and overflow).
pub const MAX_PRICE_UNITS: i64 = 1_000_000_000;

/// A decimal amount such as `12.5` or `0.000125` as micro-units; `None` for anything but
/// a non-negative decimal with at most six fractional digits up to [`MAX_PRICE_UNITS`].
pub fn parse_money(raw: &str) -> Option<i64> {
    let (int, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 10 || frac.len() > 6 || !digits(int) || !digits(frac) {
        return None;
    }
    if raw.ends_with('.') {
        return None;
    }
    let units: i64 = int.parse().ok()?;
    if units > MAX_PRICE_UNITS {
        return None;
    }
    let frac_micros: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().ok()? };
    Some(units * MICROS + frac_micros)
}

/// Micro-units as a decimal with six fractional digits (`1.500000`).
pub fn format_money(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let m = MICROS.unsigned_abs();
    format!("{sign}{}.{:06}", abs / m, abs % m)
}

/// Unit prices of the platform, in micro-units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceModel {
    /// ISO 4217 code, three capital letters. Defaults to `USD`.
    pub currency: String,
    /// Per monthly active user (not federated).
    pub per_mau: i64,
    /// Per federated monthly active user.
    pub per_federated_mau: i64,
    /// Per 1,000 API calls (accepted API key verifications).
    pub per_thousand_api_calls: i64,
    /// Per dedicated pool per month.
    pub per_dedicated_pool: i64,
    /// A fixed platform cost per month, spread over the tenants by their share of MAU.
    pub platform_fixed: i64,
}

impl Default for PriceModel {
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            per_mau: 0,
            per_federated_mau: 0,
            per_thousand_api_calls: 0,
            per_dedicated_pool: 0,
            platform_fixed: 0,
        }
    }
}

/// Whether `code` looks like an ISO 4217 currency code.
pub fn valid_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// What one line (a tenant, or the platform's "no tenant" line) used in a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub tenant: Option<TenantId>,
    pub mau: MauCount,
    pub api_calls: i64,
    /// 1 when the tenant has a dedicated pool, else 0.
    pub dedicated_pools: i64,
}

/// One line of a month's cost allocation, in micro-units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostLine {
    pub usage: Usage,
    pub mau_cost: i64,
    pub api_cost: i64,
    pub pool_cost: i64,
    /// This line's share of the fixed platform cost.
    pub platform_share: i64,
    pub total: i64,
}

/// `n * price / per`, rounded half up, in 128 bits (saturating to `i64`).
fn priced(n: i64, price: i64, per: i64) -> i64 {
    let num = i128::from(n) * i128::from(price);
    let per = i128::from(per.max(1));
    i64::try_from((num + per / 2) / per).unwrap_or(i64::MAX)
}

/// Each line's cost under `model`, in the order given. The fixed platform cost is spread
/// over the tenant lines in proportion to their MAU (largest remainder, ties to the earlier
/// line), so the shares add up to it exactly; with no tenant MAU it stays on the platform
/// line (the line with `tenant: None`; one is added when missing and the cost is not 0).
pub fn allocate(model: &PriceModel, mut usages: Vec<Usage>) -> Vec<CostLine> {
    let tenant_mau: i64 = usages.iter().filter(|u| u.tenant.is_some()).map(|u| u.mau.users).sum();
    if model.platform_fixed != 0 && tenant_mau == 0 && !usages.iter().any(|u| u.tenant.is_none()) {
        usages.push(Usage { tenant: None, mau: MauCount::default(), api_calls: 0, dedicated_pools: 0 });
    }
    let mut shares = vec![0i64; usages.len()];
    if tenant_mau > 0 {
        let fixed = i128::from(model.platform_fixed);
        let total = i128::from(tenant_mau);
        let mut remainders = Vec::new();
        let mut given: i128 = 0;
        for (i, u) in usages.iter().enumerate() {
            if u.tenant.is_some() {
                let exact = fixed * i128::from(u.mau.users);
                let share = exact / total;
                shares[i] = i64::try_from(share).unwrap_or(i64::MAX);
                given += share;
                remainders.push((exact % total, i));
            }
        }
        // Largest remainders first; equal remainders go to the earlier line.
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let left = usize::try_from(fixed - given).unwrap_or(0);
        for (_, i) in remainders.into_iter().take(left) {
            shares[i] += 1;
        }
    } else if let Some(i) = usages.iter().position(|u| u.tenant.is_none()) {
        shares[i] = model.platform_fixed;
    }
    usages
        .into_iter()
        .zip(shares)
        .map(|(usage, platform_share)| {
            let plain = usage.mau.users - usage.mau.federated;
            let mau_cost =
                priced(plain, model.per_mau, 1).saturating_add(priced(usage.mau.federated, model.per_federated_mau, 1));
            let api_cost = priced(usage.api_calls, model.per_thousand_api_calls, 1000);
            let pool_cost = priced(usage.dedicated_pools, model.per_dedicated_pool, 1);
            let total = mau_cost.saturating_add(api_cost).saturating_add(pool_cost).saturating_add(platform_share);
            CostLine { usage, mau_cost, api_cost, pool_cost, platform_share, total }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> Option<TenantId> {
        TenantId::parse(id)
    }

    #[test]
    fn months_and_days() {
        assert_eq!(month_of(0), 197001);
        assert_eq!(parse_month("2026-12"), Some(202612));
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(parse_month("2026-1"), None);
        assert_eq!(parse_month("2026-01\0"), None);
        assert_eq!(format_month(202601), "2026-01");
        assert_eq!(month_days(197001), (0, 30));
        assert_eq!(month_days(197002), (31, 58));
        assert_eq!(months_between(30, 31), vec![197001, 197002]);
        let (first, last) = month_days(202612);
        assert_eq!(months_between(first, last + 1), vec![202612, 202701]);
    }

    #[test]
    fn money_is_exact() {
        assert_eq!(parse_money("0.0055"), Some(5_500));
        assert_eq!(parse_money("12"), Some(12_000_000));
        assert_eq!(parse_money("1.000001"), Some(1_000_001));
        assert_eq!(parse_money("1.0000001"), None);
        assert_eq!(parse_money("-1"), None);
        assert_eq!(parse_money("1."), None);
        assert_eq!(parse_money(".5"), None);
        assert_eq!(parse_money("1e3"), None);
        assert_eq!(format_money(5_500), "0.005500");
        assert_eq!(format_money(12_000_001), "12.000001");
    }

    #[test]
    fn costs_add_up_to_the_micro_unit() {
        let model = PriceModel {
            currency: "EUR".into(),
            per_mau: 5_500,
            per_federated_mau: 15_000,
            per_thousand_api_calls: 1_234,
            per_dedicated_pool: 100 * MICROS,
            platform_fixed: 1_000_000,
        };
        let usage = |tenant, users, federated, api_calls, dedicated_pools| Usage {
            tenant,
            mau: MauCount { users, federated },
            api_calls,
            dedicated_pools,
        };
        let lines = allocate(
            &model,
            vec![
                usage(t("acme"), 1, 0, 1, 1),
                usage(t("beta"), 1, 1, 1_500, 0),
                usage(t("corp"), 1, 0, 0, 0),
                usage(None, 7, 0, 0, 0),
            ],
        );
        // 1 call at 0.001234 per 1000 calls is 1.234 micro-units: 1 once rounded.
        assert_eq!(lines[0].api_cost, 1);
        assert_eq!(lines[1].api_cost, 1_851); // 1.5 * 1234 = 1851
        assert_eq!(lines[1].mau_cost, 15_000);
        assert_eq!(lines[0].pool_cost, 100 * MICROS);
        // 1,000,000 over three equal shares: 333,334 + 333,333 + 333,333.
        let shares: Vec<i64> = lines.iter().map(|l| l.platform_share).collect();
        assert_eq!(shares, vec![333_334, 333_333, 333_333, 0]);
        assert_eq!(lines[3].mau_cost, 7 * 5_500);
        for l in &lines {
            assert_eq!(l.total, l.mau_cost + l.api_cost + l.pool_cost + l.platform_share);
        }
        // Nobody active: the fixed cost stays with the platform line, which is added.
        let lines = allocate(&model, vec![usage(t("acme"), 0, 0, 0, 0)]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].platform_share, 1_000_000);
    }
}
