//! Tenants (the B2B customers' organizations) and what hangs off them: email domains,
//! memberships with roles, and invitations.
//!
//! A tenant is platform-owned; domains, memberships and invitations are tenant-owned and
//! on PostgreSQL row-level security confines them to the tenant a transaction names (see
//! `cognate-store`'s `0004_tenancy.sql` for the policy design).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::clock::{Rng, random_bytes};
use crate::crypto::sha256;
use crate::ids::PoolId;

/// A tenant id: an immutable slug of 3 to 63 characters from `[a-z0-9-]`, neither starting
/// nor ending with `-` (e.g. `acme`). It names the tenant in URLs, in `custom:tenantId` and
/// in role group names, so it is safe in all three without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (3..=63).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("invalid tenant id {s:?} (3-63 of a-z, 0-9, '-')"))
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

/// A closed set of values stored and sent as lowercase words.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($word => Ok(Self::$variant),)+
                    other => Err(format!(concat!("unknown ", stringify!($name), " {:?}"), other)),
                }
            }
        }
    };
}

word_enum!(
    /// A tenant's tier. Basic and standard tenants live in the shared pool; platinum
    /// tenants get a dedicated pool.
    Tier {
        Basic => "basic",
        Standard => "standard",
        Platinum => "platinum",
    }
);

impl Tier {
    /// Whether this tier gets its own user pool (silo) rather than the shared one.
    pub fn is_dedicated(self) -> bool {
        self == Self::Platinum
    }
}

word_enum!(
    /// Whether a tenant's users may sign in to it.
    TenantStatus {
        Active => "active",
        Suspended => "suspended",
    }
);

word_enum!(
    /// Which of a tenant's users must use MFA.
    MfaRequirement {
        Off => "off",
        /// Only members with the `admin` role.
        Admins => "admins",
        All => "all",
    }
);

impl MfaRequirement {
    /// Whether a member with `role` must use MFA in a tenant with this requirement.
    pub fn requires(self, role: Role) -> bool {
        match self {
            Self::Off => false,
            Self::Admins => role == Role::Admin,
            Self::All => true,
        }
    }
}

word_enum!(
    /// A member's role in a tenant, mirrored as the group `{tenantId}-{role}`.
    Role {
        Admin => "admin",
        Member => "member",
        ReadOnly => "read_only",
    }
);

impl Role {
    /// The pool group that mirrors this role in `tenant`, e.g. `acme-admin`.
    pub fn group_name(self, tenant: &TenantId) -> String {
        format!("{tenant}-{self}")
    }
}

word_enum!(
    /// A membership's state. Removal keeps the row (and its history) but ends access.
    MembershipStatus {
        Active => "active",
        Removed => "removed",
    }
);

/// An organization. `version` guards concurrent updates as pools' versions do.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub tier: Tier,
    pub status: TenantStatus,
    /// Placement: the pool the tenant's users live in (the shared pool, or its dedicated
    /// pool when platinum).
    pub pool_id: PoolId,
    pub mfa: MfaRequirement,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// The longest email address accepted (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// An email address, lowercased, with its domain: exactly one `@`, a non-empty local part
/// without whitespace or control characters, a valid domain name, at most
/// [`MAX_EMAIL_LEN`] bytes. `None` for anything else.
pub fn email_address(raw: &str) -> Option<(String, DomainName)> {
    let email = raw.to_lowercase();
    let (local, _) = email.split_once('@')?;
    let local_ok = !local.is_empty() && !local.chars().any(|c| c.is_whitespace() || c.is_control());
    if !local_ok || email.len() > MAX_EMAIL_LEN || email.matches('@').count() != 1 {
        return None;
    }
    let domain = DomainName::of_email(&email)?;
    Some((email, domain))
}

/// A DNS domain name as used after the `@` of an email address: lowercased, without a
/// trailing dot, at least two labels of `[a-z0-9-]` (1 to 63 characters, no leading or
/// trailing `-`), at most 253 characters, and a top-level label that is not all digits
/// (so IP addresses are refused). Internationalized names must be given in punycode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(s: &str) -> Option<Self> {
        let lower = s.trim_end_matches('.').to_ascii_lowercase();
        if lower.is_empty() || lower.len() > 253 {
            return None;
        }
        let labels: Vec<&str> = lower.split('.').collect();
        let label_ok = |l: &&str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let tld_ok = labels.last().is_some_and(|t| !t.bytes().all(|b| b.is_ascii_digit()));
        (labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok).then_some(Self(lower))
    }

    /// The domain of an email address (`ann@Acme.com` -> `acme.com`), for discovery.
    pub fn of_email(email: &str) -> Option<Self> {
        let (local, domain) = email.rsplit_once('@')?;
        if local.is_empty() {
            return None;
        }
        Self::parse(domain)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DomainName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("invalid domain name {s:?}"))
    }
}

impl From<DomainName> for String {
    fn from(d: DomainName) -> String {
        d.0
    }
}

/// Mail providers anyone can get an address at. A tenant may not claim them: auto-joining
/// everyone with a gmail.com address to one tenant would be a data leak.
const CONSUMER_DOMAINS: &[&str] = &[
    "163.com",
    "aol.com",
    "fastmail.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hey.com",
    "hotmail.co.uk",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "outlook.com",
    "pm.me",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "tutanota.com",
    "web.de",
    "yahoo.co.uk",
    "yahoo.com",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
];

/// Whether `domain` (any case) is a consumer mail provider, or a subdomain of one.
pub fn is_consumer_domain(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    CONSUMER_DOMAINS.iter().any(|c| d == *c || d.strip_suffix(c).is_some_and(|rest| rest.ends_with('.')))
}

/// An email domain claimed by a tenant. A domain belongs to at most one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailDomain {
    pub tenant_id: TenantId,
    pub domain: DomainName,
    /// Set once the tenant proved control of the domain (e.g. a DNS TXT record).
    pub verified: bool,
    /// New sign-ups with an address at this (verified) domain join the tenant. Never moves
    /// existing members.
    pub auto_join: bool,
    /// SHA-256 (hex) of the pending verification challenge, if one was issued.
    pub verification_token_hash: Option<String>,
    pub created_at: i64,
}

/// A user's membership in a tenant. `(tenant_id, sub)` is unique; `pool_id` is where the
/// user lives (the tenant's placement).
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub tenant_id: TenantId,
    pub pool_id: PoolId,
    pub sub: String,
    pub role: Role,
    pub status: MembershipStatus,
    pub created_at: i64,
    /// When the user last made this tenant their active one (ms); picks the default tenant
    /// at sign-in.
    pub last_used_at: Option<i64>,
}

/// How long an invitation stays acceptable unless the caller says otherwise: 7 days, in ms.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// An invitation to join a tenant with a role. Only the token's hash is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub id: String,
    pub tenant_id: TenantId,
    /// The invited address, lowercased; only a user with this email may accept.
    pub email: String,
    pub role: Role,
    /// SHA-256 (hex) of the token sent to the invitee.
    pub token_hash: String,
    /// The sub (or admin credential id) of whoever invited.
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The user who accepted.
    pub accepted_sub: Option<String>,
}

impl Invitation {
    /// A new pending invitation expiring after [`INVITATION_TTL_MS`], with a fresh random
    /// id, and the plaintext token to send (never stored). The email is lowercased.
    pub fn new(
        tenant_id: TenantId,
        email: &str,
        role: Role,
        invited_by: &str,
        now: i64,
        rng: &dyn Rng,
    ) -> (Self, String) {
        let (token, token_hash) = new_invitation_token(rng);
        let id = crate::ids::generate_sub(rng);
        let invitation = Self {
            id,
            tenant_id,
            email: email.to_lowercase(),
            role,
            token_hash,
            invited_by: invited_by.to_owned(),
            created_at: now,
            expires_at: now.saturating_add(INVITATION_TTL_MS),
            accepted_at: None,
            revoked_at: None,
            accepted_sub: None,
        };
        (invitation, token)
    }

    /// Whether the invitation can still be accepted at `now` (ms).
    pub fn is_pending(&self, now: i64) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A new invitation token (256 random bits, base64url) and its stored hash (SHA-256 hex).
pub fn new_invitation_token(rng: &dyn Rng) -> (String, String) {
    let token = B64.encode(random_bytes::<32>(rng));
    let hash = invitation_token_hash(&token);
    (token, hash)
}

/// The stored form of an invitation token, to look one up by the token presented.
pub fn invitation_token_hash(token: &str) -> String {
    hex::encode(sha256(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn tenant_ids_are_slugs() {
        for good in ["acme", "a-b", "123", "x".repeat(63).as_str(), "globex-corp-2"] {
            assert!(TenantId::parse(good).is_some(), "{good}");
        }
        for bad in ["", "ab", "-acme", "acme-", "Acme", "ac_me", "ac me", "acmé", "x".repeat(64).as_str(), "*"] {
            assert!(TenantId::parse(bad).is_none(), "{bad}");
        }
        let id: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"acme\"");
        assert!(serde_json::from_str::<TenantId>("\"-bad\"").is_err());
    }

    #[test]
    fn enums_round_trip_through_their_words() {
        for t in [Tier::Basic, Tier::Standard, Tier::Platinum] {
            assert_eq!(t.as_str().parse::<Tier>(), Ok(t));
        }
        assert!(Tier::Platinum.is_dedicated() && !Tier::Standard.is_dedicated());
        assert_eq!("read_only".parse::<Role>(), Ok(Role::ReadOnly));
        assert!("readonly".parse::<Role>().is_err());
        assert!("Active".parse::<TenantStatus>().is_err());
        assert_eq!("admins".parse::<MfaRequirement>(), Ok(MfaRequirement::Admins));
        assert_eq!(serde_json::to_string(&Role::ReadOnly).unwrap(), "\"read_only\"");
        assert_eq!(serde_json::from_str::<MembershipStatus>("\"removed\"").unwrap(), MembershipStatus::Removed);
    }

    #[test]
    fn mfa_requirements_apply_to_roles() {
        let roles = [Role::Admin, Role::Member, Role::ReadOnly];
        assert!(roles.iter().all(|r| !MfaRequirement::Off.requires(*r)));
        assert!(roles.iter().all(|r| MfaRequirement::All.requires(*r)));
        assert!(MfaRequirement::Admins.requires(Role::Admin));
        assert!(!MfaRequirement::Admins.requires(Role::Member) && !MfaRequirement::Admins.requires(Role::ReadOnly));
    }

    #[test]
    fn role_groups_are_named_after_the_tenant() {
        let acme = TenantId::parse("acme").unwrap();
        assert_eq!(Role::Admin.group_name(&acme), "acme-admin");
        assert_eq!(Role::ReadOnly.group_name(&acme), "acme-read_only");
    }

    #[test]
    fn domains_are_lowercased_and_validated() {
        assert_eq!(DomainName::parse("Acme.COM.").unwrap().as_str(), "acme.com");
        assert_eq!(DomainName::parse("xn--bcher-kva.example").unwrap().as_str(), "xn--bcher-kva.example");
        for bad in ["", "acme", ".acme.com", "acme..com", "-acme.com", "acme-.com", "ac me.com", "10.0.0.1", "a_b.com"]
        {
            assert!(DomainName::parse(bad).is_none(), "{bad}");
        }
        assert!(DomainName::parse(&format!("{}.com", "a".repeat(64))).is_none());
        assert_eq!(DomainName::of_email("Ann@Acme.com").unwrap().as_str(), "acme.com");
        assert!(DomainName::of_email("@acme.com").is_none());
        assert!(DomainName::of_email("acme.com").is_none());
    }

    #[test]
    fn consumer_domains_are_recognised() {
        for d in ["gmail.com", "GMAIL.com", "proton.me", "yahoo.com", "eu.mail.yahoo.com"] {
            assert!(is_consumer_domain(d), "{d}");
        }
        for d in ["acme.com", "notgmail.com", "gmail.com.evil.io"] {
            assert!(!is_consumer_domain(d), "{d}");
        }
    }

    #[test]
    fn invitations_carry_hashed_strong_tokens_and_expire() {
        let acme = TenantId::parse("acme").unwrap();
        let (inv, token) = Invitation::new(acme, "Bob@Acme.com", Role::Member, "admin-sub", 1_000, &SystemRng);
        assert_eq!(inv.email, "bob@acme.com");
        assert_eq!(inv.expires_at, 1_000 + INVITATION_TTL_MS);
        // 32 random bytes: 43 base64url characters, well over 128 bits.
        assert_eq!(B64.decode(&token).unwrap().len(), 32);
        assert_eq!(inv.token_hash, invitation_token_hash(&token));
        assert_eq!(inv.token_hash.len(), 64);
        assert_ne!(inv.token_hash, token);
        assert!(inv.is_pending(1_000));
        assert!(!inv.is_pending(inv.expires_at));
        let (_, other) = new_invitation_token(&SystemRng);
        assert_ne!(token, other);
    }
}
