//! Configuration from the environment.
//!
//! | Variable | Meaning |
//! |---|---|
//! | `NOTES_DATABASE_URL` | `postgres://…` or `sqlite://…` (required). On PostgreSQL migrations run as this login. |
//! | `NOTES_SERVICE_DATABASE_URL` | Optional unprivileged PostgreSQL login to serve with; without it the migration login serves through `SET ROLE notes_service`. |
//! | `NOTES_LISTEN` | Address to listen on. Defaults to `127.0.0.1:8080`; port 0 picks a free port. |
//! | `NOTES_ISSUERS` | The trusted token issuers (required), see below. |
//! | `NOTES_API_KEYS` | Optional: `<Cognate base URL>\|<client id>\|<client secret>` of a confidential Cognate app client that verifies `X-API-Key` values. Without it API keys are refused. |
//! | `NOTES_API_KEY_CACHE_SECS` | How long a verified key is trusted without asking Cognate again — the bound on how long a revoked key still works. Defaults to 30. |
//!
//! `NOTES_ISSUERS` is a `;`-separated list of issuers, each `|`-separated fields:
//!
//! ```text
//! cognate|<base URL>|<pool id>|<client id>[,<client id>…]
//! aws|<region>|<user pool id>|<client id>[,<client id>…][|<JWKS URL>[|<token use>]]
//! ```
//!
//! The optional last field says which tokens are accepted: `access` (the default), `id` or
//! `both`; an empty JWKS URL keeps the derived one. (An access token from Amazon Cognito
//! carries custom attributes such as `custom:tenantId` only with a V2 pre-token-generation
//! trigger; the ID token always does.)
//!
//! e.g. `cognate|http://127.0.0.1:9229|local_abc|notes-web,notes-cli;aws|eu-west-1|eu-west-1_xyz|3b9f…`.
//! A Cognate issuer is `{base URL}/{pool id}`, an AWS one
//! `https://cognito-idp.{region}.amazonaws.com/{pool id}`; keys come from
//! `{issuer}/.well-known/jwks.json` unless a fifth field names another JWKS URL. Tokens are
//! accepted only from the listed clients.

use std::net::SocketAddr;

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use cognate_guard::{ApiKeyConfig, Issuer, TokenUse};
use secrecy::SecretString;

/// Longest accepted `NOTES_API_KEY_CACHE_SECS`: a day is already a long revocation delay.
const MAX_API_KEY_CACHE_SECS: u64 = 86_400;

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub service_database_url: Option<String>,
    pub listen: SocketAddr,
    pub issuers: Vec<Issuer>,
    /// API-key verification through Cognate (`NOTES_API_KEYS`); `None` refuses API keys.
    pub api_keys: Option<ApiKeyConfig>,
}

impl Config {
    /// Reads the `NOTES_*` variables.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the `NOTES_*` variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let database_url = get("NOTES_DATABASE_URL").context("NOTES_DATABASE_URL is required")?;
        if !(database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
            || database_url.starts_with("sqlite:"))
        {
            bail!("NOTES_DATABASE_URL must start with postgres://, postgresql:// or sqlite:");
        }
        let service_database_url = get("NOTES_SERVICE_DATABASE_URL").filter(|s| !s.is_empty());
        let listen = get("NOTES_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen.parse().with_context(|| format!("NOTES_LISTEN {listen:?} is not an address:port"))?;
        let issuers = parse_issuers(&get("NOTES_ISSUERS").context("NOTES_ISSUERS is required")?)?;
        let cache_secs = match get("NOTES_API_KEY_CACHE_SECS").filter(|s| !s.trim().is_empty()) {
            None => 30,
            Some(text) => text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|secs| *secs <= MAX_API_KEY_CACHE_SECS)
                .with_context(|| {
                    format!("NOTES_API_KEY_CACHE_SECS {text:?} is not a number of seconds from 0 to {MAX_API_KEY_CACHE_SECS}")
                })?,
        };
        let api_keys = get("NOTES_API_KEYS")
            .filter(|s| !s.trim().is_empty())
            .map(|text| parse_api_keys(&text, cache_secs))
            .transpose()?;
        Ok(Self { database_url, service_database_url, listen, issuers, api_keys })
    }
}

/// Parses the `NOTES_ISSUERS` format (module docs).
pub fn parse_issuers(text: &str) -> anyhow::Result<Vec<Issuer>> {
    let issuers = text
        .split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| parse_issuer(entry).with_context(|| format!("NOTES_ISSUERS entry {entry:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if issuers.is_empty() {
        bail!("NOTES_ISSUERS names no issuer");
    }
    Ok(issuers)
}

/// Parses `NOTES_API_KEYS`: `<Cognate base URL>|<client id>|<client secret>` (the secret is
/// everything after the second `|`). Error messages never repeat the value: it holds a secret.
pub fn parse_api_keys(text: &str, cache_secs: u64) -> anyhow::Result<ApiKeyConfig> {
    let mut fields = text.splitn(3, '|').map(str::trim);
    let (Some(base_url), Some(client_id), Some(secret)) = (fields.next(), fields.next(), fields.next()) else {
        bail!("NOTES_API_KEYS must be <Cognate base URL>|<client id>|<client secret>");
    };
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        bail!("NOTES_API_KEYS: the Cognate base URL (first field) must start with http:// or https://");
    }
    if client_id.is_empty() || secret.is_empty() {
        bail!("NOTES_API_KEYS: the client id and the client secret must not be empty");
    }
    Ok(ApiKeyConfig::new(base_url, client_id, SecretString::from(secret.to_owned()))
        .cache_ttl(Duration::from_secs(cache_secs)))
}

fn parse_issuer(entry: &str) -> anyhow::Result<Issuer> {
    let fields: Vec<&str> = entry.split('|').map(str::trim).collect();
    let (kind, location, pool, clients, jwks, token_use) = match fields.as_slice() {
        [kind, location, pool, clients] => (*kind, *location, *pool, *clients, None, None),
        [kind, location, pool, clients, jwks] => (*kind, *location, *pool, *clients, Some(*jwks), None),
        [kind, location, pool, clients, jwks, token_use] => {
            (*kind, *location, *pool, *clients, Some(*jwks), Some(*token_use))
        }
        _ => bail!("expected kind|location|pool|clients[|jwks_url[|token_use]]"),
    };
    if pool.is_empty() {
        bail!("the pool id is empty");
    }
    let issuer = match kind {
        "cognate" => Issuer::cognate(location, pool),
        "aws" => Issuer::aws_cognito(location, pool),
        other => return Err(anyhow!("unknown issuer kind {other:?} (cognate or aws)")),
    };
    let clients: Vec<&str> = clients.split(',').map(str::trim).filter(|c| !c.is_empty()).collect();
    if clients.is_empty() {
        bail!("no client ids");
    }
    let issuer = issuer.client_ids(clients);
    let issuer = match token_use {
        None | Some("" | "access") => issuer.token_use(TokenUse::Access),
        Some("id") => issuer.token_use(TokenUse::Id),
        Some("both") => issuer.token_use(TokenUse::Both),
        Some(other) => bail!("token_use must be access, id or both, not {other:?}"),
    };
    Ok(match jwks {
        Some(url) if !url.is_empty() => issuer.jwks_url(url),
        _ => issuer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        let issuers = parse_issuers(
            "cognate|http://127.0.0.1:9229/|local_abc|a,b ; aws|us-east-1|us-east-1_xyz|c|http://jwks.test/keys",
        )
        .unwrap();
        assert_eq!(issuers[0].issuer(), "http://127.0.0.1:9229/local_abc");
        assert_eq!(issuers[1].issuer(), "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_xyz");
    }

    #[test]
    fn rejects_incomplete_entries() {
        for bad in ["", "cognate|http://x|pool", "cognate|http://x|pool|", "ldap|x|p|c", "cognate|http://x||c"] {
            assert!(parse_issuers(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn api_keys_are_optional_and_parsed_without_echoing_the_secret() {
        let env = |keys: Option<&str>, cache: Option<&str>| {
            let (keys, cache) = (keys.map(str::to_owned), cache.map(str::to_owned));
            Config::from_lookup(move |name| match name {
                "NOTES_DATABASE_URL" => Some("sqlite://notes.db".to_owned()),
                "NOTES_ISSUERS" => Some("cognate|http://127.0.0.1:9229|local_abc|app".to_owned()),
                "NOTES_API_KEYS" => keys.clone(),
                "NOTES_API_KEY_CACHE_SECS" => cache.clone(),
                _ => None,
            })
        };
        assert!(env(None, None).unwrap().api_keys.is_none());
        assert!(env(Some(""), Some("5")).unwrap().api_keys.is_none());
        let keys = env(Some("http://127.0.0.1:9229/|verifier|se|cr|et"), None).unwrap().api_keys.unwrap();
        assert_eq!((keys.base_url(), keys.cache_ttl_secs()), ("http://127.0.0.1:9229", 30));
        let keys = env(Some("https://auth.test|verifier|s3cret"), Some("1")).unwrap().api_keys.unwrap();
        assert_eq!(keys.cache_ttl_secs(), 1);
        assert!(!format!("{keys:?}").contains("s3cret"));
        for (keys, cache) in [
            ("https://auth.test|verifier", None),
            ("auth.test|verifier|s3cret", None),
            ("https://auth.test||s3cret", None),
            ("https://auth.test|verifier|", None),
            ("https://auth.test|verifier|s3cret", Some("soon")),
            ("https://auth.test|verifier|s3cret", Some("-1")),
            ("https://auth.test|verifier|s3cret", Some("86401")),
        ] {
            let err = format!("{:#}", env(Some(keys), cache).unwrap_err());
            assert!(err.contains("NOTES_API_KEY"), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn listen_defaults_and_database_is_required() {
        let env = |name: &str| match name {
            "NOTES_DATABASE_URL" => Some("sqlite://notes.db".to_owned()),
            "NOTES_ISSUERS" => Some("cognate|http://127.0.0.1:9229|local_abc|app".to_owned()),
            _ => None,
        };
        assert_eq!(Config::from_lookup(env).unwrap().listen.to_string(), "127.0.0.1:8080");
        assert!(Config::from_lookup(|n| if n == "NOTES_DATABASE_URL" { None } else { env(n) }).is_err());
        assert!(
            Config::from_lookup(|n| if n == "NOTES_DATABASE_URL" { Some("mysql://x".into()) } else { env(n) }).is_err()
        );
    }
}
