//! Configuration: defaults < optional TOML file < `COGNATE_*` environment < command-line
//! flags. Every setting is validated at start-up; errors name the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use cognate_core::password::Argon2Settings;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Settings as they may appear in the TOML file (`--config` / `COGNATE_CONFIG`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub public_url: Option<String>,
    pub auth_domain: Option<String>,
    pub login_session_secs: Option<u32>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_service_url: Option<String>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub master_key: Option<SecretString>,
    pub log_format: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub max_import_bytes: Option<u64>,
    pub dns_nameserver: Option<String>,
    /// Networks outbound requests may reach although not public (CIDR list).
    pub outbound_allow: Option<Vec<String>>,
    pub webhook_retry_base_ms: Option<i64>,
    pub webhook_retention_days: Option<i64>,
    pub shutdown_drain_secs: Option<u32>,
    pub shutdown_timeout_secs: Option<u32>,
    pub notify: Option<String>,
    pub cache_refresh_secs: Option<u32>,
    pub password_hash_concurrency: Option<usize>,
    pub argon2: Option<Argon2Settings>,
    pub throttle: Option<ThrottleFile>,
    pub smtp: Option<SmtpFile>,
    pub redis: Option<RedisFile>,
}

/// `[redis]` in the config file: brute-force counters and rate windows shared by every
/// node (docs/operations.md, "Scaling out: shared limits on Redis").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisFile {
    /// `redis://[user][:password@]host[:port][/db]` or `unix:///path`.
    pub url: Option<SecretString>,
    /// Key namespace. Default `cognate`.
    pub prefix: Option<String>,
    /// Bound of each Redis call, in ms (10 to 10000). Default 250.
    pub timeout_ms: Option<u64>,
}

/// `[smtp]` in the config file: send emails through an SMTP relay instead of only
/// keeping them in the outbox.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    /// `smtp://user:password@host:port?tls=none|starttls` or `smtps://…`.
    pub url: Option<SecretString>,
    /// The From header. Default `Cognate <no-reply@localhost>`.
    pub from: Option<String>,
}

/// `[throttle]` in the config file: brute-force protection of password checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleFile {
    pub user_failures: Option<u32>,
    pub user_wide_failures: Option<u32>,
    pub ip_failures: Option<u32>,
    pub max_delay_secs: Option<i64>,
    pub auth_per_ip_per_minute: Option<u32>,
    pub auth_per_user_per_minute: Option<u32>,
    pub admin_per_tenant_per_minute: Option<u32>,
    /// Reverse proxies trusted to set `X-Forwarded-For` (IPs or CIDR ranges).
    pub trusted_proxies: Option<Vec<String>>,
}

/// Flags shared by every command; each mirrors a `COGNATE_*` variable.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, env = "COGNATE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database, dev master key, admin credentials). Default ./cognate-data.
    #[arg(long, env = "COGNATE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite:… (default: SQLite in the data dir) or postgres://….
    #[arg(long, env = "COGNATE_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Unprivileged PostgreSQL login for serving requests (production).
    #[arg(long, env = "COGNATE_DATABASE_SERVICE_URL", global = true, hide_env_values = true)]
    pub database_service_url: Option<String>,
    /// Base64 of 32 random bytes. Without it, a key file in the data dir is used (dev mode).
    #[arg(long, env = "COGNATE_MASTER_KEY", global = true, hide_env_values = true)]
    pub master_key: Option<SecretString>,
    /// Region in pool ids and ARNs. Default local.
    #[arg(long, env = "COGNATE_REGION", global = true)]
    pub region: Option<String>,
    /// The 12-digit AWS account id in ARNs (DescribeUserPool's Arn, tagging). Default
    /// 000000000000.
    #[arg(long, env = "COGNATE_ACCOUNT_ID", global = true)]
    pub account_id: Option<String>,
    /// Log format: text or json. Default text.
    #[arg(long, env = "COGNATE_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
}

/// Brute-force and rate-limit flags of `cognate serve` (see the README's "Brute-force
/// protection" and "Rate limits").
#[derive(Debug, Default, Args)]
pub struct ThrottleArgs {
    /// Failed passwords (or codes) from one address against one user before delays start
    /// for that address. Default 5.
    #[arg(long, env = "COGNATE_THROTTLE_USER_FAILURES")]
    pub throttle_user_failures: Option<u32>,
    /// Failed passwords against one user from all addresses before delays start
    /// everywhere. Default 20.
    #[arg(long, env = "COGNATE_THROTTLE_USER_WIDE_FAILURES")]
    pub throttle_user_wide_failures: Option<u32>,
    /// Failed passwords a client IP may make before delays start. Default 20.
    #[arg(long, env = "COGNATE_THROTTLE_IP_FAILURES")]
    pub throttle_ip_failures: Option<u32>,
    /// Authentication requests per client IP per minute. Default 300.
    #[arg(long, env = "COGNATE_RATE_AUTH_PER_IP")]
    pub rate_auth_per_ip: Option<u32>,
    /// Authentication requests naming one username per minute. Default 60.
    #[arg(long, env = "COGNATE_RATE_AUTH_PER_USER")]
    pub rate_auth_per_user: Option<u32>,
    /// `/v1` requests concerning one tenant per minute. Default 1200.
    #[arg(long, env = "COGNATE_RATE_ADMIN_PER_TENANT")]
    pub rate_admin_per_tenant: Option<u32>,
    /// Reverse proxies trusted to set X-Forwarded-For: comma-separated IPs or CIDR ranges.
    #[arg(long, env = "COGNATE_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
}

/// Flags of `cognate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Default 127.0.0.1:9229; port 0 picks a free port.
    #[arg(long, env = "COGNATE_LISTEN")]
    pub listen: Option<String>,
    /// A second address serving only `GET /metrics`, without credentials (keep it private:
    /// scrapers only). Optional; the main listener serves `/metrics` to platform admins.
    #[arg(long, env = "COGNATE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Externally visible base URL. Default http://{listen}.
    #[arg(long, env = "COGNATE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The host under which user pool domain prefixes are served: with `auth.example.com`,
    /// the pool whose domain is `acme` answers at `acme.auth.example.com`. Optional.
    #[arg(long, env = "COGNATE_AUTH_DOMAIN")]
    pub auth_domain: Option<String>,
    /// How long a hosted-login browser session lasts, in seconds (60 to 86400). Default 3600.
    #[arg(long, env = "COGNATE_LOGIN_SESSION_SECS")]
    pub login_session_secs: Option<u32>,
    /// Send emails through this SMTP relay: `smtp://user:password@host:port?tls=none|starttls`
    /// (STARTTLS by default) or `smtps://…`. Without it, messages stay in the outbox.
    #[arg(long, env = "COGNATE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,
    /// The From header of emails. Default `Cognate <no-reply@localhost>`.
    #[arg(long, env = "COGNATE_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Largest user import CSV file accepted at a job's upload URL, in bytes. Default
    /// 104857600 (100 MiB, Cognito's limit).
    #[arg(long, env = "COGNATE_MAX_IMPORT_BYTES")]
    pub max_import_bytes: Option<u64>,
    /// The nameserver domain verification asks for TXT records, as ip:port (such as
    /// 127.0.0.1:53 or [::1]:5353). Default: the system's (/etc/resolv.conf).
    #[arg(long, env = "COGNATE_DNS_NAMESERVER")]
    pub dns_nameserver: Option<String>,
    /// Networks that webhooks and identity provider requests may reach although they are
    /// not public (loopback, private, link-local…): comma-separated CIDR ranges such as
    /// `127.0.0.0/8,::1/128`. Default none: only public addresses.
    #[arg(long, env = "COGNATE_OUTBOUND_ALLOW")]
    pub outbound_allow: Option<String>,
    /// The first webhook retry's wait in milliseconds; it scales the whole schedule (5 s,
    /// 5 min, 30 min, 2 h, 5 h, then 10 h …, about 3 days). Default 5000.
    #[arg(long, env = "COGNATE_WEBHOOK_RETRY_BASE_MS")]
    pub webhook_retry_base_ms: Option<i64>,
    /// Days webhook deliveries are kept in the delivery log. Default 30.
    #[arg(long, env = "COGNATE_WEBHOOK_RETENTION_DAYS")]
    pub webhook_retention_days: Option<i64>,
    /// Seconds to go on serving after SIGTERM or SIGINT while `/readyz` answers 503
    /// `draining`, so a load balancer stops sending requests before the listener closes.
    /// Default 0 (close at once); 0 to 300.
    #[arg(long, env = "COGNATE_SHUTDOWN_DRAIN_SECS")]
    pub shutdown_drain_secs: Option<u32>,
    /// Longest wait, once the listener closed, for requests under way to finish; those still
    /// running then are cut off (the workers flush either way). Default 30; 1 to 3600.
    #[arg(long, env = "COGNATE_SHUTDOWN_TIMEOUT_SECS")]
    pub shutdown_timeout_secs: Option<u32>,
    /// Whether this node hears other nodes' changes through PostgreSQL LISTEN/NOTIFY and
    /// drops its cached keys, app clients, pools and resource servers at once: on or off.
    /// Default on (nothing to hear on SQLite).
    #[arg(long, env = "COGNATE_NOTIFY")]
    pub notify: Option<String>,
    /// How long a node uses cached keys, app clients, pools and resource servers while it
    /// hears no changes from other nodes (notify off, SQLite, or its listener down), in
    /// seconds, 1 to 3600. Default 5.
    #[arg(long, env = "COGNATE_CACHE_REFRESH_SECS")]
    pub cache_refresh_secs: Option<u32>,
    #[command(flatten)]
    pub throttle: ThrottleArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
}

/// Shared limits: without a URL each node counts on its own.
#[derive(Debug, Default, Args)]
pub struct RedisArgs {
    /// Count brute-force failures and request rates in this Redis, shared by every node:
    /// `redis://[user][:password@]host[:port][/db]` or `unix:///path`. Without it, each
    /// node counts on its own. An unreachable Redis never stops a node: it counts alone
    /// until Redis answers.
    #[arg(long, env = "COGNATE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key (letters, digits, - _ . :). Default cognate.
    #[arg(long, env = "COGNATE_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,
    /// How long one Redis call may take before the node answers on its own, in ms (10 to
    /// 10000). Default 250.
    #[arg(long, env = "COGNATE_REDIS_TIMEOUT_MS")]
    pub redis_timeout_ms: Option<u64>,
}

/// The resolved configuration.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// The separate metrics listener, if any.
    pub metrics_listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    /// The parent host of prefix domains (`{prefix}.{auth_domain}`).
    pub auth_domain: Option<String>,
    /// How long a hosted-login browser session lasts, in seconds.
    pub login_session_secs: u32,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub database_service_url: Option<String>,
    pub region: String,
    /// The account id in ARNs: 12 digits.
    pub account_id: String,
    pub master_key: Option<SecretString>,
    pub log_json: bool,
    pub max_body_bytes: usize,
    /// Largest user import file, in bytes.
    pub max_import_bytes: u64,
    /// The nameserver of domain verification; `None` for the system's.
    pub dns_nameserver: Option<SocketAddr>,
    /// After a stop signal: how long to go on serving while readiness says `draining`.
    pub shutdown_drain: std::time::Duration,
    /// After the drain: how long requests under way may take to finish.
    pub shutdown_timeout: std::time::Duration,
    /// Whether the change listener runs (`COGNATE_NOTIFY`).
    pub notify: bool,
    /// How long cached keys live without change notifications, in seconds.
    pub cache_refresh_secs: u32,
    pub password_hash_concurrency: usize,
    pub argon2: Argon2Settings,
    pub throttle: cognate_server::throttle::Limits,
    /// Reverse proxies trusted to name the client in `X-Forwarded-For`.
    pub trusted_proxies: Vec<cognate_server::net::Network>,
    /// Email delivery; `None` keeps messages in the outbox only.
    pub smtp: Option<cognate_server::delivery::SmtpSettings>,
    /// Non-public networks outbound requests may reach.
    pub outbound_allow: Vec<cognate_server::net::Network>,
    /// The webhook retry schedule's base, in ms.
    pub webhook_retry_base_ms: i64,
    /// Days of webhook delivery log kept.
    pub webhook_retention_days: i64,
    /// Shared limits; `None` counts in this process.
    pub redis: Option<cognate_server::throttle::shared::RedisSettings>,
}

impl Config {
    pub fn load(common: &CommonArgs, serve: Option<&ServeArgs>) -> Result<Self> {
        let file = match &common.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing the config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let listen_text =
            serve.and_then(|s| s.listen.clone()).or(file.listen).unwrap_or_else(|| "127.0.0.1:9229".into());
        let listen: SocketAddr =
            listen_text.parse().with_context(|| format!("listen (COGNATE_LISTEN) is not an address: {listen_text}"))?;
        let metrics_listen = serve
            .and_then(|s| s.metrics_listen.clone())
            .or(file.metrics_listen)
            .map(|text| {
                text.parse::<SocketAddr>()
                    .with_context(|| format!("metrics_listen (COGNATE_METRICS_LISTEN) is not an address: {text}"))
            })
            .transpose()?;
        let public_url = serve.and_then(|s| s.public_url.clone()).or(file.public_url);
        if let Some(url) = &public_url
            && (!(url.starts_with("http://") || url.starts_with("https://")) || url.ends_with('/'))
        {
            bail!("public_url (COGNATE_PUBLIC_URL) must be an http(s) URL without a trailing slash: {url}");
        }
        let auth_domain =
            serve.and_then(|s| s.auth_domain.clone()).or(file.auth_domain).map(|d| d.to_ascii_lowercase());
        if let Some(domain) = &auth_domain
            && !cognate_core::login::valid_custom_domain(domain)
        {
            bail!("auth_domain (COGNATE_AUTH_DOMAIN) must be a host name such as auth.example.com: {domain}");
        }
        let login_session_secs = serve
            .and_then(|s| s.login_session_secs)
            .or(file.login_session_secs)
            .unwrap_or(cognate_server::services::authorize::SESSION_TTL_SECS);
        if !(60..=86_400).contains(&login_session_secs) {
            bail!("login_session_secs (COGNATE_LOGIN_SESSION_SECS) must be between 60 and 86400: {login_session_secs}");
        }
        let max_import_bytes =
            serve.and_then(|s| s.max_import_bytes).or(file.max_import_bytes).unwrap_or(100 * 1024 * 1024);
        if max_import_bytes < 1024 {
            bail!("max_import_bytes (COGNATE_MAX_IMPORT_BYTES) must be at least 1024: {max_import_bytes}");
        }
        let dns_nameserver = match serve.and_then(|s| s.dns_nameserver.clone()).or(file.dns_nameserver) {
            Some(text) => Some(text.parse::<SocketAddr>().with_context(|| {
                format!("dns_nameserver (COGNATE_DNS_NAMESERVER) must be ip:port, such as 127.0.0.1:53: {text}")
            })?),
            None => None,
        };
        let shutdown_drain_secs = serve.and_then(|s| s.shutdown_drain_secs).or(file.shutdown_drain_secs).unwrap_or(0);
        if shutdown_drain_secs > 300 {
            bail!("shutdown_drain_secs (COGNATE_SHUTDOWN_DRAIN_SECS) must be between 0 and 300: {shutdown_drain_secs}");
        }
        let shutdown_timeout_secs =
            serve.and_then(|s| s.shutdown_timeout_secs).or(file.shutdown_timeout_secs).unwrap_or(30);
        if !(1..=3600).contains(&shutdown_timeout_secs) {
            bail!(
                "shutdown_timeout_secs (COGNATE_SHUTDOWN_TIMEOUT_SECS) must be between 1 and 3600: {shutdown_timeout_secs}"
            );
        }
        let notify = match serve.and_then(|s| s.notify.clone()).or(file.notify).as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => bail!("notify (COGNATE_NOTIFY) must be on or off, not {other}"),
        };
        let cache_refresh_secs = serve.and_then(|s| s.cache_refresh_secs).or(file.cache_refresh_secs).unwrap_or(5);
        if !(1..=3600).contains(&cache_refresh_secs) {
            bail!("cache_refresh_secs (COGNATE_CACHE_REFRESH_SECS) must be between 1 and 3600: {cache_refresh_secs}");
        }
        let data_dir = common.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("./cognate-data"));
        let database_url = common
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| sqlite_url(&data_dir.join("cognate.db")));
        let region = common.region.clone().or(file.region).unwrap_or_else(|| "local".into());
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') || region.len() > 32 {
            bail!("region (COGNATE_REGION) must be 1 to 32 letters, digits or '-': {region}");
        }
        let account_id = common
            .account_id
            .clone()
            .or(file.account_id)
            .unwrap_or_else(|| cognate_server::state::DEFAULT_ACCOUNT_ID.into());
        if !valid_account_id(&account_id) {
            bail!("account_id (COGNATE_ACCOUNT_ID) must be an AWS account id of 12 digits: {account_id}");
        }
        let log_format = common.log_format.clone().or(file.log_format).unwrap_or_else(|| "text".into());
        let log_json = match log_format.as_str() {
            "text" => false,
            "json" => true,
            other => bail!("log_format (COGNATE_LOG_FORMAT) must be text or json, not {other}"),
        };
        let max_body_bytes = file.max_body_bytes.unwrap_or(1024 * 1024);
        if max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024");
        }
        let defaults = cognate_server::throttle::Limits::default();
        let file_throttle = file.throttle.unwrap_or_default();
        let no_flags = ThrottleArgs::default();
        let flags = serve.map_or(&no_flags, |s| &s.throttle);
        let throttle = cognate_server::throttle::Limits {
            user_free_failures: flags
                .throttle_user_failures
                .or(file_throttle.user_failures)
                .unwrap_or(defaults.user_free_failures),
            user_wide_failures: flags
                .throttle_user_wide_failures
                .or(file_throttle.user_wide_failures)
                .unwrap_or(defaults.user_wide_failures),
            ip_free_failures: flags
                .throttle_ip_failures
                .or(file_throttle.ip_failures)
                .unwrap_or(defaults.ip_free_failures),
            max_delay_secs: file_throttle.max_delay_secs.unwrap_or(defaults.max_delay_secs),
            auth_per_ip_per_minute: flags
                .rate_auth_per_ip
                .or(file_throttle.auth_per_ip_per_minute)
                .unwrap_or(defaults.auth_per_ip_per_minute),
            auth_per_user_per_minute: flags
                .rate_auth_per_user
                .or(file_throttle.auth_per_user_per_minute)
                .unwrap_or(defaults.auth_per_user_per_minute),
            admin_per_tenant_per_minute: flags
                .rate_admin_per_tenant
                .or(file_throttle.admin_per_tenant_per_minute)
                .unwrap_or(defaults.admin_per_tenant_per_minute),
        };
        if throttle.user_free_failures == 0
            || throttle.user_wide_failures == 0
            || throttle.ip_free_failures == 0
            || throttle.max_delay_secs < 1
        {
            bail!(
                "throttle: user_failures, user_wide_failures and ip_failures must be at least 1, max_delay_secs at least 1"
            );
        }
        if throttle.auth_per_ip_per_minute == 0
            || throttle.auth_per_user_per_minute == 0
            || throttle.admin_per_tenant_per_minute == 0
        {
            bail!("throttle: the per-minute rates must be at least 1");
        }
        let trusted_proxies = match (&flags.trusted_proxies, file_throttle.trusted_proxies) {
            (Some(list), _) => cognate_server::net::parse_networks(list),
            (None, Some(list)) => cognate_server::net::parse_networks(&list.join(",")),
            (None, None) => Ok(Vec::new()),
        }
        .map_err(|e| anyhow::anyhow!("trusted_proxies (COGNATE_TRUSTED_PROXIES): {e}"))?;
        let smtp = smtp_settings(serve, file.smtp.unwrap_or_default())?;
        let outbound_allow = match (serve.and_then(|s| s.outbound_allow.clone()), file.outbound_allow) {
            (Some(list), _) => cognate_server::net::parse_networks(&list),
            (None, Some(list)) => cognate_server::net::parse_networks(&list.join(",")),
            (None, None) => Ok(Vec::new()),
        }
        .map_err(|e| anyhow::anyhow!("outbound_allow (COGNATE_OUTBOUND_ALLOW): {e}"))?;
        let webhook_retry_base_ms =
            serve.and_then(|s| s.webhook_retry_base_ms).or(file.webhook_retry_base_ms).unwrap_or(5_000);
        if !(10..=3_600_000).contains(&webhook_retry_base_ms) {
            bail!(
                "webhook_retry_base_ms (COGNATE_WEBHOOK_RETRY_BASE_MS) must be 10 to 3600000: {webhook_retry_base_ms}"
            );
        }
        let webhook_retention_days =
            serve.and_then(|s| s.webhook_retention_days).or(file.webhook_retention_days).unwrap_or(30);
        if !(1..=3650).contains(&webhook_retention_days) {
            bail!(
                "webhook_retention_days (COGNATE_WEBHOOK_RETENTION_DAYS) must be 1 to 3650: {webhook_retention_days}"
            );
        }
        let redis = redis_settings(serve, file.redis.unwrap_or_default())?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Self {
            listen,
            metrics_listen,
            public_url,
            auth_domain,
            login_session_secs,
            data_dir,
            database_url,
            database_service_url: common.database_service_url.clone().or(file.database_service_url),
            region,
            account_id,
            master_key: common.master_key.clone().or(file.master_key),
            log_json,
            max_body_bytes,
            max_import_bytes,
            dns_nameserver,
            shutdown_drain: std::time::Duration::from_secs(shutdown_drain_secs.into()),
            shutdown_timeout: std::time::Duration::from_secs(shutdown_timeout_secs.into()),
            notify,
            cache_refresh_secs,
            password_hash_concurrency: file.password_hash_concurrency.unwrap_or(cores),
            argon2: file.argon2.unwrap_or_default(),
            throttle,
            trusted_proxies,
            smtp,
            outbound_allow,
            webhook_retry_base_ms,
            webhook_retention_days,
            redis,
        })
    }

    /// The master key: from the setting, else (dev mode) from `master.key` in the data
    /// dir, created with mode 0600 on first use.
    pub fn master_key(&self) -> Result<cognate_core::crypto::MasterKey> {
        self.load_master_key(true)
    }

    /// [`Config::master_key`] for commands that read what a server wrote (audit verify,
    /// outbox, key rotation): never creates a key file, since a new key would open nothing
    /// and a stray one could later be picked up by `serve`.
    pub fn existing_master_key(&self) -> Result<cognate_core::crypto::MasterKey> {
        self.load_master_key(false)
    }

    fn load_master_key(&self, create: bool) -> Result<cognate_core::crypto::MasterKey> {
        use cognate_core::crypto::MasterKey;
        if let Some(key) = &self.master_key {
            return MasterKey::from_base64(key.expose_secret()).context("master_key (COGNATE_MASTER_KEY)");
        }
        let path = self.data_dir.join("master.key");
        if !path.exists() && !create {
            bail!(
                "no master key: set COGNATE_MASTER_KEY, or point COGNATE_DATA_DIR at the server's data directory \
                 (no {} there)",
                path.display()
            );
        }
        if !path.exists() {
            let text = MasterKey::generate_base64(&cognate_core::SystemRng);
            write_private(&path, text.as_bytes())?;
            tracing::warn!(
                path = %path.display(),
                "no COGNATE_MASTER_KEY set: generated a development master key file; set COGNATE_MASTER_KEY in production"
            );
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        MasterKey::from_base64(&text).with_context(|| format!("the master key in {}", path.display()))
    }
}

/// SMTP from the flags or environment, else the file; checked here so a bad URL stops
/// start-up instead of failing every email later.
fn smtp_settings(serve: Option<&ServeArgs>, file: SmtpFile) -> Result<Option<cognate_server::delivery::SmtpSettings>> {
    use cognate_server::delivery::{DEFAULT_FROM, SmtpSender, SmtpSettings, parse_from};
    let from = serve.and_then(|s| s.smtp_from.clone()).or(file.from);
    let Some(url) = serve.and_then(|s| s.smtp_url.clone()).or(file.url) else {
        if let Some(from) = from {
            bail!("smtp from (COGNATE_SMTP_FROM) is set to {from:?} but no smtp url (COGNATE_SMTP_URL) is");
        }
        return Ok(None);
    };
    let from = parse_from(from.as_deref().unwrap_or(DEFAULT_FROM))
        .map_err(|e| anyhow::anyhow!("smtp from (COGNATE_SMTP_FROM): {e}"))?;
    // The error texts never contain the password, so they can be shown as they are.
    let settings = SmtpSettings::from_url(url.expose_secret(), from)
        .map_err(|e| anyhow::anyhow!("smtp url (COGNATE_SMTP_URL): {e}"))?;
    SmtpSender::new(&settings).map_err(|e| anyhow::anyhow!("smtp url (COGNATE_SMTP_URL): {e}"))?;
    Ok(Some(settings))
}

/// Shared limits from the flags or environment, else the file; checked here (without
/// connecting) so a malformed URL stops start-up, while an unreachable Redis does not.
fn redis_settings(
    serve: Option<&ServeArgs>,
    file: RedisFile,
) -> Result<Option<cognate_server::throttle::shared::RedisSettings>> {
    use cognate_server::throttle::shared::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisSettings, SharedLimitsError};
    let flags = serve.map(|s| &s.redis);
    let prefix = flags.and_then(|f| f.redis_prefix.clone()).or(file.prefix);
    let timeout_ms = flags.and_then(|f| f.redis_timeout_ms).or(file.timeout_ms);
    let Some(url) = flags.and_then(|f| f.redis_url.clone()).or(file.url) else {
        if prefix.is_some() || timeout_ms.is_some() {
            bail!(
                "redis prefix or timeout (COGNATE_REDIS_PREFIX, COGNATE_REDIS_TIMEOUT_MS) is set but no redis url (COGNATE_REDIS_URL) is"
            );
        }
        return Ok(None);
    };
    let settings = RedisSettings {
        url,
        prefix: prefix.unwrap_or_else(|| DEFAULT_PREFIX.into()),
        timeout: timeout_ms.map_or(DEFAULT_TIMEOUT, std::time::Duration::from_millis),
    };
    settings.check().map_err(|e| match e {
        SharedLimitsError::Prefix => anyhow::anyhow!("redis prefix (COGNATE_REDIS_PREFIX): {e}"),
        SharedLimitsError::Timeout => anyhow::anyhow!("redis timeout_ms (COGNATE_REDIS_TIMEOUT_MS): {e}"),
        SharedLimitsError::Tls | SharedLimitsError::Url(_) => anyhow::anyhow!("redis url (COGNATE_REDIS_URL): {e}"),
    })?;
    Ok(Some(settings))
}

/// An AWS account id as ARNs carry it: exactly 12 ASCII digits.
fn valid_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Writes a file readable only by its owner (mode 0600), replacing any previous one.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

/// Writes a new file readable only by its owner (mode 0600); `false`, writing nothing,
/// when the file exists already.
pub fn write_private_new(path: &Path, contents: &[u8]) -> Result<bool> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    };
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(true)
}

/// Creates the data directory readable by its owner only (0700). Cognate's files in an
/// existing directory (database, development master key, admin credentials) that others may
/// read — left by an older version, a copy, a restore — are tightened to 0600 with a
/// warning, and so is the directory itself (0700) when it holds nothing else (a directory
/// shared with other files only gets a warning).
pub fn ensure_data_dir(dir: &Path) -> Result<()> {
    let context = || format!("creating the data directory {}", dir.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        if !dir.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).with_context(context)?;
        }
        let tighten = |path: &Path, wanted: u32| -> Result<()> {
            let mode = std::fs::metadata(path).with_context(context)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{mode:o}"),
                    "readable by others; restricting it to its owner ({wanted:o})"
                );
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))
                    .with_context(|| format!("restricting {}", path.display()))?;
            }
            Ok(())
        };
        // Only Cognate's own files: a data directory pointed at a shared place (`.`, a home
        // directory) must not have everything else in it changed.
        let ours = |name: &str| {
            name.starts_with("cognate.db") || name == "master.key" || name.starts_with("admin-credentials")
        };
        let mut has_ours = false;
        let mut has_others = false;
        for entry in std::fs::read_dir(dir).with_context(context)? {
            let entry = entry.with_context(context)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if ours(&name) && entry.file_type().with_context(context)?.is_file() {
                has_ours = true;
                tighten(&entry.path(), 0o600)?;
            } else {
                has_others = true;
            }
        }
        if !has_others {
            tighten(dir, 0o700)?;
        } else if has_ours {
            // A shared directory (other people's files, a sticky /tmp-like place): its mode
            // is not Cognate's to change.
            let mode = std::fs::metadata(dir).with_context(context)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %dir.display(),
                    mode = format!("{mode:o}"),
                    "the data directory holds other files and is readable by others; give Cognate a directory of its own"
                );
            }
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).with_context(context)?;
    Ok(())
}
