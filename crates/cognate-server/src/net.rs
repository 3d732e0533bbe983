//! The client's address behind reverse proxies.
//!
//! By default the client is the TCP peer: `X-Forwarded-For` is ignored, because anyone can
//! send it. When Cognate runs behind proxies, list them (`COGNATE_TRUSTED_PROXIES`, IPs or
//! CIDR ranges): a request from a trusted peer is attributed to the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy. Throttling, rate limits and the
//! audit trail all use this address.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// An IP network, `addr/prefix` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, u8) {
            match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let ((net, width), (candidate, other)) = (bits(self.addr), bits(ip));
        if width != other {
            return false;
        }
        let shift = u32::from(width - self.prefix);
        if shift >= 128 {
            return true;
        }
        (net >> shift) == (candidate >> shift)
    }
}

/// Parses a comma-separated list of networks; names the first invalid entry.
pub fn parse_networks(list: &str) -> Result<Vec<Network>, String> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| Network::parse(s).ok_or_else(|| format!("{s:?} is not an IP address or CIDR range")))
        .collect()
}

/// The address a client is counted under by rate limits and brute-force counters: an IPv6
/// client by its /64 (one host's usual allocation, which it can rotate through at will),
/// an IPv4 client (also IPv4-mapped IPv6) by its address.
pub fn counted_as(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                for s in &mut segments[4..] {
                    *s = 0;
                }
                IpAddr::V6(std::net::Ipv6Addr::from(segments))
            }
        },
        v4 => v4,
    }
}

/// The client's address: the peer, or behind trusted proxies the right-most untrusted
/// `X-Forwarded-For` entry.
pub fn client_ip(trusted: &[Network], peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    Some(forwarded.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer))
}

/// The client's address as an extractor (see [`client_ip`]); `None` when the server was
/// not given the peer address (in-process tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<crate::AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        Ok(Self(client_ip(&state.settings.trusted_proxies, peer, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        assert_eq!(counted_as(a), counted_as(b));
        assert_ne!(counted_as(a), counted_as("2001:db8:1:3::1".parse().unwrap()));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(counted_as(v4), v4);
        assert_eq!(counted_as("::ffff:192.0.2.7".parse().unwrap()), v4);
    }
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_match_by_prefix() {
        let n = Network::parse("10.0.0.0/8").unwrap();
        assert!(n.contains(ip("10.1.2.3")) && !n.contains(ip("11.0.0.1")));
        assert!(Network::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Network::parse("127.0.0.1").unwrap().contains(ip("::ffff:127.0.0.1")));
        assert!(Network::parse("10.0.0.0/33").is_none() && Network::parse("nope").is_none());
        assert!(parse_networks("127.0.0.1, 10.0.0.0/8").unwrap().len() == 2);
        assert!(parse_networks("127.0.0.1,bad").unwrap_err().contains("bad"));
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 10.0.0.2"));
        let proxies = parse_networks("127.0.0.1,10.0.0.0/8").unwrap();
        assert_eq!(client_ip(&proxies, Some(ip("127.0.0.1")), &h), Some(ip("203.0.113.9")));
        // An untrusted peer's header is ignored.
        assert_eq!(client_ip(&proxies, Some(ip("198.51.100.1")), &h), Some(ip("198.51.100.1")));
        assert_eq!(client_ip(&[], Some(ip("127.0.0.1")), &h), Some(ip("127.0.0.1")));
        assert_eq!(client_ip(&proxies, Some(ip("127.0.0.1")), &HeaderMap::new()), Some(ip("127.0.0.1")));
    }
}
