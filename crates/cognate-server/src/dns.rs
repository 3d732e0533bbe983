//! TXT lookups for domain verification ([`crate::services::domains::check_dns`]).
//!
//! Behind a small trait so the service can be tested without a DNS server; the real one is
//! [`HickoryTxt`], which asks the nameserver of `COGNATE_DNS_NAMESERVER` or, without it, the
//! system's (`/etc/resolv.conf`). Every lookup is bounded: a short timeout per attempt, few
//! attempts, an overall deadline, and at most [`MAX_TXT_RECORDS`] records of at most
//! [`MAX_TXT_BYTES`] each are looked at, so a hostile zone cannot make a check slow or big.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

/// Records of one answer looked at; the rest are ignored.
pub const MAX_TXT_RECORDS: usize = 16;
/// A record longer than this (its strings joined) cannot be a challenge and is skipped.
pub const MAX_TXT_BYTES: usize = 1024;
/// The wait for one answer from one nameserver.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Tries per nameserver.
const ATTEMPTS: usize = 2;
/// The most a whole lookup may take, whatever the system's nameserver list holds.
pub const LOOKUP_DEADLINE: Duration = Duration::from_secs(5);

/// Why a TXT lookup gave no records.
#[derive(Debug, thiserror::Error)]
pub enum TxtError {
    /// The name does not exist (NXDOMAIN) or has no TXT record (NODATA).
    #[error("no TXT record at this name")]
    NotFound,
    /// No answer in time.
    #[error("the DNS resolver did not answer in time")]
    Timeout,
    /// The resolver answered with an error (SERVFAIL, REFUSED…) or could not be reached.
    #[error("the DNS resolver failed: {0}")]
    Failed(String),
}

/// Looks up the TXT records at a name.
#[async_trait]
pub trait TxtResolver: Send + Sync {
    /// The TXT records at `name` (a fully qualified name, no trailing dot needed), each
    /// record's strings joined, at most [`MAX_TXT_RECORDS`] records of at most
    /// [`MAX_TXT_BYTES`].
    async fn txt(&self, name: &str) -> Result<Vec<Vec<u8>>, TxtError>;
}

/// The DNS resolver: hickory over UDP (TCP when an answer is truncated), no cache kept
/// between lookups, so a record published a moment ago is seen on the next check rather than
/// after a cached NXDOMAIN's TTL.
#[derive(Debug, Clone, Default)]
pub struct HickoryTxt {
    /// The nameserver to ask; `None` for the system's.
    nameserver: Option<SocketAddr>,
}

impl HickoryTxt {
    /// A resolver asking `nameserver`, or the system's nameservers when `None`.
    pub fn new(nameserver: Option<SocketAddr>) -> Self {
        Self { nameserver }
    }

    fn resolver(&self) -> Result<TokioResolver, TxtError> {
        let failed = |e: hickory_resolver::net::NetError| TxtError::Failed(e.to_string());
        let mut builder = match self.nameserver {
            Some(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                let config = ResolverConfig::from_name_servers(vec![server]);
                Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            }
            None => TokioResolver::builder_tokio().map_err(failed)?,
        };
        bound(builder.options_mut());
        builder.build().map_err(failed)
    }
}

/// Short timeouts, few attempts, no hosts file, no search list, no cache.
fn bound(opts: &mut ResolverOpts) {
    opts.timeout = ATTEMPT_TIMEOUT;
    opts.attempts = ATTEMPTS;
    opts.ndots = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.cache_size = 0;
}

#[async_trait]
impl TxtResolver for HickoryTxt {
    async fn txt(&self, name: &str) -> Result<Vec<Vec<u8>>, TxtError> {
        let resolver = self.resolver()?;
        // Fully qualified: the system's search domains never apply.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let lookup = match tokio::time::timeout(LOOKUP_DEADLINE, resolver.txt_lookup(fqdn)).await {
            Err(_) => return Err(TxtError::Timeout),
            Ok(Err(e)) if e.is_no_records_found() => return Err(TxtError::NotFound),
            Ok(Err(hickory_resolver::net::NetError::Timeout)) => return Err(TxtError::Timeout),
            Ok(Err(e)) => return Err(TxtError::Failed(e.to_string())),
            Ok(Ok(lookup)) => lookup,
        };
        let records: Vec<Vec<u8>> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(joined(txt.txt_data.iter().map(|s| &s[..]))),
                _ => None,
            })
            .flatten()
            .take(MAX_TXT_RECORDS)
            .collect();
        if records.is_empty() {
            return Err(TxtError::NotFound);
        }
        Ok(records)
    }
}

/// A TXT record's character-strings joined into one value (RFC 7208 §3.3), or `None` when
/// it is longer than [`MAX_TXT_BYTES`].
fn joined<'a>(strings: impl Iterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut value = Vec::new();
    for s in strings {
        if value.len() + s.len() > MAX_TXT_BYTES {
            return None;
        }
        value.extend_from_slice(s);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_joined_and_long_records_skipped() {
        assert_eq!(joined([&b"cognate-"[..], b"verification=x"].into_iter()).unwrap(), b"cognate-verification=x");
        let long = vec![b'a'; MAX_TXT_BYTES];
        assert!(joined([&long[..]].into_iter()).is_some());
        assert!(joined([&long[..], b"b"].into_iter()).is_none());
    }

    #[tokio::test]
    async fn a_dead_nameserver_fails_within_the_deadline() {
        // A UDP port nobody answers on: bind one, keep it open, never read it.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let started = std::time::Instant::now();
        let e = HickoryTxt::new(Some(silent.local_addr().unwrap())).txt("_cognate.example.test").await.unwrap_err();
        assert!(matches!(e, TxtError::Timeout | TxtError::Failed(_)), "{e:?}");
        assert!(started.elapsed() <= LOOKUP_DEADLINE + Duration::from_secs(1), "{:?}", started.elapsed());
    }
}
