//! Requests Cognate makes to URLs its tenants and operators give it (webhook endpoints,
//! identity providers' discovery, JWKS, token and userinfo endpoints, SAML metadata), and
//! the SSRF protection they all share.
//!
//! A URL must be `http` or `https`, carry no user name or password, and its host must
//! resolve only to public addresses: loopback, private (RFC 1918, IPv6 ULA), link-local
//! (169.254.169.254, the cloud metadata service, among them), CGNAT (100.64.0.0/10),
//! multicast, unspecified, broadcast, benchmarking, reserved and documentation ranges — in
//! IPv4, IPv6 and IPv4-mapped IPv6 form — are refused unless an operator allows them
//! (`COGNATE_OUTBOUND_ALLOW`, a CIDR list such as `127.0.0.0/8,::1/128`).
//!
//! The check runs where it cannot be bypassed: at connect time. The guarded client
//! resolves names through [`GuardedResolver`], which drops every refused address (and
//! fails when none is left), so a name that resolved to a public address when the URL was
//! checked and to 127.0.0.1 a second later (DNS rebinding) still cannot reach loopback.
//! URLs with an IP literal skip DNS in reqwest, so [`OutboundPolicy::check_url`] refuses
//! them before every request. Redirects are never followed (a 3xx is an answer), so a
//! public URL cannot bounce a request to a private one. Checking URLs at creation time as
//! well ([`OutboundPolicy::check_url`]) only gives a clear 400 early.
//!
//! Default: nothing private is allowed. `cognate serve` keeps that default even in
//! development; tests and local setups that run a receiver or identity provider on
//! 127.0.0.1 allow loopback explicitly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use crate::net::Network;

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("the URL is not valid: {0}")]
    InvalidUrl(String),
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("URLs with a user name or password are not allowed")]
    UserInfo,
    #[error("the URL has no host")]
    NoHost,
    /// The address is in a range refused by default (named).
    #[error("{addr} is a {range} address, which outbound requests may not reach")]
    Refused { addr: IpAddr, range: &'static str },
    #[error("{host} does not resolve: {reason}")]
    Unresolvable { host: String, reason: String },
}

/// The range a non-public address belongs to, or `None` for a public one. IPv4-mapped
/// IPv6 addresses are classified as the IPv4 address they carry.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "unspecified (0.0.0.0/8)",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private (RFC 1918)",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (CGNAT)",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved or broadcast",
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "unique local (ULA)"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link-local"
    } else if s[0] & 0xff00 == 0xff00 {
        "multicast"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0] == 0x0064 && s[1] == 0xff9b {
        // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits: judge that.
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return classify_v4(v4);
    } else if s[..6] == [0, 0, 0, 0, 0, 0] {
        "IPv4-compatible (deprecated)"
    } else {
        return None;
    })
}

/// What outbound requests may reach: public addresses, plus the allowed networks.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Networks allowed although not public (`COGNATE_OUTBOUND_ALLOW`). Empty by default.
    pub allow: Vec<Network>,
}

impl OutboundPolicy {
    /// A policy allowing `allow` besides public addresses.
    pub fn allowing(allow: Vec<Network>) -> Self {
        Self { allow }
    }

    /// Allows loopback (127.0.0.0/8 and ::1), for tests and local development.
    pub fn allowing_loopback() -> Self {
        Self::allowing(crate::net::parse_networks("127.0.0.0/8,::1/128").unwrap_or_default())
    }

    /// Whether `ip` may be reached.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), OutboundError> {
        match classify(ip) {
            None => Ok(()),
            Some(_) if self.allow.iter().any(|n| n.contains(ip)) => Ok(()),
            Some(range) => Err(OutboundError::Refused { addr: ip, range }),
        }
    }

    /// Checks a URL's form (http(s), no user info, a host) and, when its host is an IP
    /// literal, the address. Names are checked when they are resolved (at connect time),
    /// or up front with [`OutboundPolicy::check_url_resolving`].
    pub fn check_url(&self, url: &str) -> Result<url::Url, OutboundError> {
        let parsed = url::Url::parse(url).map_err(|e| OutboundError::InvalidUrl(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OutboundError::Scheme);
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(OutboundError::UserInfo);
        }
        match parsed.host() {
            None => return Err(OutboundError::NoHost),
            Some(url::Host::Ipv4(v4)) => self.check_ip(IpAddr::V4(v4))?,
            Some(url::Host::Ipv6(v6)) => self.check_ip(IpAddr::V6(v6))?,
            Some(url::Host::Domain(d)) => {
                // `localhost` never needs DNS to be loopback.
                if d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost") {
                    self.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
                }
            }
        }
        Ok(parsed)
    }

    /// [`OutboundPolicy::check_url`], and resolves a host name to check its addresses now
    /// (a clear 400 at creation; the connect-time check still applies to every request).
    /// A name that does not resolve (yet) passes: DNS may be down or the receiver not
    /// deployed, and delivery checks again on every connection anyway.
    pub async fn check_url_resolving(&self, url: &str, lookup: &dyn HostLookup) -> Result<url::Url, OutboundError> {
        let parsed = self.check_url(url)?;
        if let Some(url::Host::Domain(host)) = parsed.host()
            && let Ok(addrs) = lookup.lookup(host).await
        {
            for ip in addrs {
                self.check_ip(ip)?;
            }
        }
        Ok(parsed)
    }
}

/// Resolves host names; the system's resolver in production, a table in tests.
#[async_trait::async_trait]
pub trait HostLookup: Send + Sync {
    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String>;
}

/// The system resolver (getaddrinfo: `/etc/hosts`, then DNS).
#[derive(Debug, Default)]
pub struct SystemLookup;

#[async_trait::async_trait]
impl HostLookup for SystemLookup {
    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let addrs = tokio::net::lookup_host((host, 0)).await.map_err(|e| e.to_string())?;
        Ok(addrs.map(|a| a.ip()).collect())
    }
}

/// reqwest's resolver for guarded clients: resolves with `lookup` and keeps only the
/// addresses `policy` allows; a name left with none fails to connect.
pub struct GuardedResolver {
    pub policy: Arc<OutboundPolicy>,
    pub lookup: Arc<dyn HostLookup>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (policy, lookup) = (self.policy.clone(), self.lookup.clone());
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = lookup
                .lookup(&host)
                .await
                .map_err(|reason| OutboundError::Unresolvable { host: host.clone(), reason })?;
            let mut refused = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|ip| match policy.check_ip(*ip) {
                    Ok(()) => true,
                    Err(e) => {
                        refused = Some(e);
                        false
                    }
                })
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if allowed.is_empty() {
                let e = refused.unwrap_or(OutboundError::Unresolvable { host, reason: "no addresses".to_owned() });
                return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client builder whose every connection goes through [`GuardedResolver`], follows no
/// redirect and sends Cognate's user agent. Callers add their timeouts.
pub fn guarded_builder(policy: Arc<OutboundPolicy>, lookup: Arc<dyn HostLookup>) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy, lookup }))
        .redirect(reqwest::redirect::Policy::none())
        // The system proxy settings would resolve names elsewhere and bypass the check.
        .no_proxy()
        .user_agent(concat!("cognate/", env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn mapped_and_nat64_forms_are_judged_as_ipv4() {
        assert_eq!(classify("::ffff:127.0.0.1".parse().unwrap()), Some("loopback"));
        assert_eq!(classify("::ffff:169.254.169.254".parse().unwrap()), Some("link-local"));
        assert_eq!(classify("64:ff9b::a00:1".parse().unwrap()), Some("private (RFC 1918)"));
        assert_eq!(classify("8.8.8.8".parse().unwrap()), None);
        assert_eq!(classify("2606:4700::1111".parse().unwrap()), None);
    }
}
