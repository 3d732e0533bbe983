//! The `cognate` binary: `serve`, `migrate`, and operator commands.

mod config;

use std::future::IntoFuture as _;
use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use cognate_core::password::PasswordHasher;
use cognate_core::repo::Store;
use cognate_core::{Clock, SystemClock, SystemRng};
use cognate_server::state::Passwords;
use cognate_server::{AppState, ServerSettings, bootstrap};
use config::{CommonArgs, Config, ServeArgs};

#[derive(Parser)]
#[command(
    name = "cognate",
    version,
    about = "Cognate: multi-tenant identity for B2B SaaS, speaking Amazon Cognito's API"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up and matched at once: the size of `Serve`'s flags costs nothing,
// and boxing them would only make every flag access go through a pointer.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server (bootstraps the database, shared pool and first admin credential).
    // Boxed: its many flags would make every command as large as it.
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage platform admin credentials (SigV4 keys for the Cognito API and /v1).
    #[command(subcommand)]
    AdminKey(AdminKeyCommand),
    /// Manage a pool's token signing keys (rotation, retirement).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check or trim the hash-chained audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Show outbox messages (invitations, codes), newest first, as JSON lines with their
    /// delivery state: `status` is pending, delivered or failed (given up). Bodies are
    /// stored sealed and opened here with the master key; `body` is null once the message
    /// was delivered or given up, or its secret expired.
    /// User import jobs (CreateUserImportJob): read why lines were not imported.
    #[command(subcommand)]
    UserImport(UserImportCommand),
    Outbox {
        /// Only messages of this user pool.
        #[arg(long)]
        pool: Option<String>,
        /// At most this many messages. Default 20.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum UserImportCommand {
    /// Print a job's per-line errors (what Cognito writes to CloudWatch Logs) as JSON lines,
    /// by line number: `{"line": 7, "username": "ann", "message": "…"}`. Line 1 is the
    /// header; an error there means the header was refused.
    Errors {
        /// The user pool id.
        #[arg(long)]
        pool: String,
        /// The job id (`import-…`).
        #[arg(long)]
        job: String,
        /// Only errors after this line.
        #[arg(long, default_value_t = 0)]
        after_line: i64,
        /// At most this many errors. Default 1000.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum AdminKeyCommand {
    /// Create a credential and print it (the secret is shown only here).
    Create {
        #[arg(long, default_value = "created with cognate admin-key create")]
        description: String,
    },
    /// List credentials, one per line: access key id, status, created (RFC 3339, UTC),
    /// description. Never their secrets.
    List,
    /// Revoke a credential by access key id.
    Revoke { access_key_id: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Re-compute every chain (or one tenant's) and check each event links to the one
    /// before it, from a signed anchor (after a purge) or the start. Names the first edited,
    /// deleted or reordered event, or a forged anchor, and exits 1. Needs the master key.
    Verify {
        /// Only this tenant's chain (`~platform` for the platform chain).
        #[arg(long)]
        tenant: Option<String>,
        /// Chain heads saved earlier with `cognate audit heads`: each must still be in its
        /// chain (or purged behind a signed anchor), so cutting the newest events is caught.
        #[arg(long, value_name = "FILE")]
        heads: Option<std::path::PathBuf>,
        /// Accept anchors without a signature (written by versions before anchors were
        /// signed). An unsigned anchor is otherwise a failure: it may be forged.
        #[arg(long)]
        trust_unsigned_anchors: bool,
    },
    /// Vouch for a chain's unsigned anchor (left by a version before anchors were signed):
    /// checks that the chain verifies from it, then signs it with the master key so purges
    /// go on. Only for an anchor you trust; a forged one is signed just the same.
    SignAnchor {
        /// The tenant's chain (`~platform` for the platform chain).
        #[arg(long)]
        tenant: String,
    },
    /// Print each chain's head (newest event's seq and hash) as JSON lines, to keep
    /// somewhere the database's writers cannot reach and check later with
    /// `cognate audit verify --heads FILE`.
    Heads {
        /// Only this tenant's chain.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Delete events older than each chain's retention (default 365 days; per tenant with
    /// `PUT /v1/tenants/{id}/audit/retention`), keeping what remains verifiable.
    Purge,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key; it signs from now on (running servers switch within
    /// 5 s) while older keys stay published until retired. Prints the new kid.
    Rotate {
        /// The user pool id, e.g. local_AbCdEf123.
        #[arg(long)]
        pool: String,
    },
    /// Retire a key: it leaves the JWKS at once and tokens it signed stop verifying on
    /// Cognate's endpoints at once (resource servers when they next refresh their JWKS).
    /// Rotate first; the last active key cannot be retired.
    Retire {
        /// The user pool id.
        #[arg(long)]
        pool: String,
        /// The key id (`cognate keys list --pool …`).
        #[arg(long)]
        kid: String,
    },
    /// List a pool's keys, oldest first: kid, created at (RFC 3339, UTC), status.
    List {
        /// The user pool id.
        #[arg(long)]
        pool: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let serve_args = match &cli.command {
        Command::Serve(args) => Some(args.as_ref()),
        _ => None,
    };
    let config = match Config::load(&cli.common, serve_args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cognate: configuration error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    init_tracing(config.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cognate: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cognate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("COGNATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(command: Command, config: Config) -> Result<()> {
    match command {
        Command::Serve(_) => serve(config).await,
        Command::Migrate => {
            config::ensure_data_dir(&config.data_dir)?;
            let applied = cognate_store::migrate(&config.database_url).await?;
            println!("applied migrations: {applied:?}");
            Ok(())
        }
        Command::AdminKey(cmd) => admin_key(cmd, config).await,
        Command::Keys(cmd) => keys(cmd, config).await,
        Command::Audit(cmd) => audit(cmd, config).await,
        Command::UserImport(UserImportCommand::Errors { pool, job, after_line, limit }) => {
            let store = open_store(&config).await?;
            let pool = cognate_core::ids::PoolId::parse(&pool).context("--pool is not a pool id")?;
            store.get_import_job(&pool, &job).await?.with_context(|| format!("no import job {job} in pool {pool}"))?;
            let mut out = std::io::stdout().lock();
            for e in store.import_errors(&job, after_line, limit).await? {
                let line = serde_json::json!({"line": e.line, "username": e.username, "message": e.message});
                match writeln!(out, "{line}") {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }
        Command::Outbox { pool, limit } => {
            let store = open_store(&config).await?;
            let master = config.existing_master_key()?;
            let pool = match pool {
                Some(p) => Some(cognate_core::ids::PoolId::parse(&p).context("--pool is not a pool id")?),
                None => None,
            };
            let mut out = std::io::stdout().lock();
            for m in store.list_messages(pool.as_ref(), limit).await? {
                // Bodies are sealed at rest; `null` once blanked (delivered, given up, or
                // its secret expired).
                let body = cognate_server::outbox::open(&master, &m)
                    .with_context(|| format!("message {}: the master key does not open its body", m.id))?;
                let status = match (m.delivered_at, m.next_attempt_at) {
                    (Some(_), _) => "delivered",
                    (None, cognate_core::repo::OUTBOX_NEVER) => "failed",
                    (None, _) => "pending",
                };
                let line = serde_json::json!({
                    "id": m.id, "poolId": m.pool_id, "username": m.username, "medium": m.medium,
                    "destination": m.destination, "subject": m.subject, "body": body, "createdAt": m.created_at,
                    "secretExpiresAt": m.secret_expires_at,
                    "status": status, "deliveredAt": m.delivered_at, "attempts": m.attempts, "lastError": m.last_error,
                });
                match writeln!(out, "{line}") {
                    Ok(()) => {}
                    // The reader stopped reading (`cognate outbox | head -1`): it has what it wanted.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }
    }
}

async fn audit(cmd: AuditCommand, config: Config) -> Result<()> {
    match cmd {
        AuditCommand::Verify { tenant, heads, trust_unsigned_anchors } => {
            let store = open_store(&config).await?;
            let key = config.existing_master_key()?.mac_key(cognate_core::audit::ANCHOR_KEY_LABEL);
            let chains = chains_to_check(store.as_ref(), tenant).await?;
            let expected = match &heads {
                Some(path) => read_heads(path)?,
                None => Vec::new(),
            };
            let mut broken = 0;
            for chain in &chains {
                let anchor = store.audit_anchor(chain).await?;
                let trusted = match &anchor {
                    None => Ok("from the start".to_owned()),
                    Some(a) => {
                        let at = rfc3339(a.purged_at);
                        match a.check(&key) {
                            cognate_core::audit::AnchorCheck::Valid => {
                                Ok(format!("from the signed anchor at seq {} (purged {at}, hash {})", a.seq, a.hash))
                            }
                            cognate_core::audit::AnchorCheck::Unsigned if trust_unsigned_anchors => Ok(format!(
                                "from an UNSIGNED anchor at seq {} (purged {at}, hash {}), trusted on request",
                                a.seq, a.hash
                            )),
                            cognate_core::audit::AnchorCheck::Unsigned => Err(format!(
                                "the anchor at seq {} (hash {}) is not signed: forged, or left by a version before anchors were signed \
                                 (check it with --trust-unsigned-anchors, then run `cognate audit sign-anchor`)",
                                a.seq, a.hash
                            )),
                            cognate_core::audit::AnchorCheck::Invalid => Err(format!(
                                "the anchor at seq {} (hash {}) has a wrong signature: forged or edited",
                                a.seq, a.hash
                            )),
                        }
                    }
                };
                let outcome = match trusted {
                    Err(e) => Err(e),
                    Ok(from) => match verify_chain(store.as_ref(), chain, anchor.as_ref()).await? {
                        Err(e) => Err(e.to_string()),
                        Ok((n, head)) => {
                            check_saved_heads(chain, &expected, anchor.as_ref(), store.as_ref()).await?.map(|()| {
                                let head =
                                    head.map_or_else(|| "no events".to_owned(), |(s, h)| format!("head seq {s} {h}"));
                                format!("{n} events verified {from}; {head}")
                            })
                        }
                    },
                };
                match outcome {
                    Ok(line) => println!("{chain}: {line}"),
                    Err(e) => {
                        broken += 1;
                        println!("{chain}: BROKEN: {e}");
                    }
                }
            }
            if let Some((chain, _, _)) = expected.iter().find(|(c, _, _)| !chains.contains(c)) {
                broken += 1;
                println!("{chain}: BROKEN: a saved head names this chain, which no longer exists");
            }
            if broken > 0 {
                anyhow::bail!("{broken} of {} audit chains do not verify", chains.len());
            }
            Ok(())
        }
        AuditCommand::SignAnchor { tenant } => {
            let store = open_store(&config).await?;
            let key = config.existing_master_key()?.mac_key(cognate_core::audit::ANCHOR_KEY_LABEL);
            let [chain] = &chains_to_check(store.as_ref(), Some(tenant)).await?[..] else {
                bail!("one chain expected");
            };
            let Some(anchor) = store.audit_anchor(chain).await? else {
                bail!("{chain} has no anchor (it was never purged): nothing to sign");
            };
            if anchor.check(&key) == cognate_core::audit::AnchorCheck::Valid {
                println!("{chain}: the anchor at seq {} is already signed", anchor.seq);
                return Ok(());
            }
            if let Err(e) = verify_chain(store.as_ref(), chain, Some(&anchor)).await? {
                bail!("{chain} does not verify from its anchor ({e}); not signing");
            }
            store.sign_audit_anchor(chain, &key).await?;
            println!("{chain}: signed the anchor at seq {} (hash {})", anchor.seq, anchor.hash);
            Ok(())
        }
        AuditCommand::Heads { tenant } => {
            let store = open_store(&config).await?;
            for chain in chains_to_check(store.as_ref(), tenant).await? {
                let anchor = store.audit_anchor(&chain).await?;
                if let Some((seq, hash)) = chain_head(store.as_ref(), &chain, anchor.as_ref()).await? {
                    println!("{}", serde_json::json!({"chain": chain, "seq": seq, "hash": hash}));
                }
            }
            Ok(())
        }
        AuditCommand::Purge => {
            // Purges sign anchors: with the server's master key, never a new one.
            let state = build_state(&config, String::new(), false).await?;
            for (chain, deleted) in cognate_server::audit::purge_expired(&state).await? {
                println!("{chain}: {deleted} events purged");
            }
            Ok(())
        }
    }
}

/// Every chain, or the one named; an unknown tenant is an error, not "0 events verified".
async fn chains_to_check(store: &dyn Store, tenant: Option<String>) -> Result<Vec<String>> {
    let all = store.audit_chains().await?;
    match tenant {
        None => Ok(all),
        Some(t) if all.contains(&t) => Ok(vec![t]),
        Some(t) if t == cognate_core::audit::PLATFORM_CHAIN => Ok(vec![t]),
        Some(t) => {
            let id = cognate_core::tenant::TenantId::parse(&t)
                .with_context(|| format!("--tenant {t} is not a tenant id (or ~platform)"))?;
            if store.get_tenant(&id).await?.is_none() {
                bail!("no tenant {t}");
            }
            Ok(vec![t])
        }
    }
}

/// `(chain, seq, hash)` lines written by `cognate audit heads`.
fn read_heads(path: &std::path::Path) -> Result<Vec<(String, i64, String)>> {
    #[derive(serde::Deserialize)]
    struct Head {
        chain: String,
        seq: i64,
        hash: String,
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, line)| {
            let h: Head = serde_json::from_str(line).with_context(|| {
                format!("{} line {}: not a head written by `cognate audit heads`", path.display(), n + 1)
            })?;
            Ok((h.chain, h.seq, h.hash))
        })
        .collect()
}

/// Each saved head of `chain` must still be there with the same hash, or lie behind the
/// (signed) anchor: cutting the newest events off a chain leaves one that verifies, but
/// not one that still holds a head saved before the cut.
async fn check_saved_heads(
    chain: &str,
    expected: &[(String, i64, String)],
    anchor: Option<&cognate_core::audit::Anchor>,
    store: &dyn Store,
) -> Result<std::result::Result<(), String>> {
    for (_, seq, hash) in expected.iter().filter(|(c, _, _)| c == chain) {
        if let Some(a) = anchor
            && *seq <= a.seq
        {
            if *seq == a.seq && a.hash != *hash {
                return Ok(Err(format!("the saved head at seq {seq} does not match the anchor's hash")));
            }
            continue;
        }
        let page = store.audit_chain_page(chain, seq - 1, 1).await?;
        match page.first() {
            Some(e) if e.seq == *seq && e.hash == *hash => {}
            Some(e) if e.seq == *seq => {
                return Ok(Err(format!("the saved head at seq {seq} was replaced (hash {} now)", e.hash)));
            }
            _ => return Ok(Err(format!("the saved head at seq {seq} is gone: events were cut from the chain's end"))),
        }
    }
    Ok(Ok(()))
}

/// The newest event's (seq, hash), else the anchor's.
async fn chain_head(
    store: &dyn Store,
    chain: &str,
    anchor: Option<&cognate_core::audit::Anchor>,
) -> Result<Option<(i64, String)>> {
    let newest = store.audit_events(chain, &cognate_core::audit::AuditQuery { limit: 1, ..Default::default() }).await?;
    Ok(newest.first().map(|e| (e.seq, e.hash.clone())).or_else(|| anchor.map(|a| (a.seq, a.hash.clone()))))
}

/// Verifies one chain page by page from `anchor`; the outer error is a storage fault,
/// the inner one a broken chain. Returns the count and the head reached.
async fn verify_chain(
    store: &dyn Store,
    chain: &str,
    anchor: Option<&cognate_core::audit::Anchor>,
) -> Result<std::result::Result<(u64, Option<(i64, String)>), cognate_core::audit::ChainBreak>> {
    const PAGE: u32 = 1000;
    let mut anchor = anchor.cloned();
    let mut head = anchor.as_ref().map(|a| (a.seq, a.hash.clone()));
    let mut after = anchor.as_ref().map_or(0, |a| a.seq);
    let mut total = 0;
    loop {
        let events = store.audit_chain_page(chain, after, PAGE).await?;
        match cognate_core::audit::verify_chain(&events, anchor.as_ref()) {
            Ok(n) => total += n,
            Err(e) => return Ok(Err(e)),
        }
        let Some(last) = events.last() else { return Ok(Ok((total, head))) };
        after = last.seq;
        head = Some((last.seq, last.hash.clone()));
        anchor = Some(cognate_core::audit::Anchor {
            chain: chain.to_owned(),
            seq: last.seq,
            hash: last.hash.clone(),
            purged_at: 0,
            mac: None,
        });
        if events.len() < PAGE as usize {
            return Ok(Ok((total, head)));
        }
    }
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    config::ensure_data_dir(&config.data_dir)?;
    let pg = cognate_store::PgOptions { service_url: config.database_service_url.clone(), max_connections: None };
    cognate_store::connect(&config.database_url, &pg)
        .await
        .with_context(|| format!("opening the database {}", cognate_store::redact(&config.database_url)))
}

/// The application state; `create_key`: whether a missing development master key may be
/// generated (only `serve`, which owns the data directory).
async fn build_state(config: &Config, public_url: String, create_key: bool) -> Result<AppState> {
    let store = open_store(config).await?;
    let rng: Arc<dyn cognate_core::Rng> = Arc::new(SystemRng);
    let hasher = PasswordHasher::new(config.argon2).context("argon2 settings")?;
    let master_key = if create_key { config.master_key()? } else { config.existing_master_key()? };
    Ok(AppState::new(
        store,
        master_key,
        Arc::new(SystemClock),
        rng.clone(),
        Passwords::new(hasher, rng, config.password_hash_concurrency),
        ServerSettings {
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            public_url,
            auth_domain: config.auth_domain.clone(),
            login_session_secs: config.login_session_secs,
            max_body_bytes: config.max_body_bytes,
            max_import_bytes: config.max_import_bytes,
            trusted_proxies: config.trusted_proxies.clone(),
            dns_nameserver: config.dns_nameserver,
            outbound_allow: config.outbound_allow.clone(),
            webhook_retry_base_ms: config.webhook_retry_base_ms,
            webhook_retention_days: config.webhook_retention_days,
            cache_refresh_ms: i64::from(config.cache_refresh_secs) * 1000,
            ..ServerSettings::default()
        },
    )
    .with_limits(config.throttle))
}

/// Moves the brute-force counters and rate windows to Redis. An unreachable Redis is a
/// warning, not a refusal: the node counts on its own until Redis answers (and limits then
/// become shared without a restart).
async fn share_limits(state: AppState, redis: &cognate_server::throttle::shared::RedisSettings) -> Result<AppState> {
    let (state, shared) = state.with_shared_limits(redis).context("redis url (COGNATE_REDIS_URL)")?;
    match shared.ping().await {
        Ok(()) => tracing::info!(redis = shared.location(), prefix = %redis.prefix, "limits shared through Redis"),
        Err(error) => tracing::warn!(
            redis = shared.location(),
            %error,
            "Redis does not answer at start-up: this node counts brute-force failures and request rates on its own \
             until it does"
        ),
    }
    Ok(state)
}

/// Serves `GET /metrics` (no credentials) on its own address until `stop` turns true;
/// says where on stdout, before the main listening line.
async fn serve_metrics(
    at: std::net::SocketAddr,
    state: cognate_server::AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(at).await.with_context(|| format!("binding {at} (metrics)"))?;
    let addr = listener.local_addr()?;
    println!("Cognate metrics are served on http://{addr}/metrics");
    tracing::info!(%addr, "metrics listening");
    let app = cognate_server::metrics::http::listener_routes(state);
    Ok(tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    }))
}

async fn serve(config: Config) -> Result<()> {
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let mut state = build_state(&config, public_url, true).await?;
    if let Some(redis) = &config.redis {
        state = share_limits(state, redis).await?;
    }
    let shared = bootstrap::ensure_shared_pool(&state).await?;
    tracing::info!(backend = state.store.backend(), shared_pool = %shared, "storage ready");
    bootstrap_admin(&state, &config).await?;

    // Email delivery runs beside the server and stops after it; without SMTP the outbox
    // is the only sender.
    let (stop_workers, stop_rx) = tokio::sync::watch::channel(false);
    let delivery = match &config.smtp {
        Some(smtp) => {
            let sender = cognate_server::delivery::SmtpSender::new(smtp).map_err(anyhow::Error::msg)?;
            tracing::info!(host = %smtp.host, port = smtp.port, tls = ?smtp.tls, "sending email through SMTP");
            Some(cognate_server::delivery::spawn_delivery_worker(state.clone(), Arc::new(sender), stop_rx))
        }
        None => None,
    };

    // API key usage is counted in memory and written every few seconds, and once more
    // after the last request at shutdown.
    let audit = cognate_server::audit::spawn_audit_writer(
        state.clone(),
        cognate_server::audit::AUDIT_FLUSH_INTERVAL,
        stop_workers.subscribe(),
    );
    // Outbox bodies: seal what an earlier version left in plaintext, and blank expired
    // secrets every minute.
    cognate_server::outbox::seal_legacy(&state).await?;
    let redactor = cognate_server::outbox::spawn_redactor(state.clone(), stop_workers.subscribe());
    let purger = cognate_server::services::authorize::spawn_purger(state.clone(), stop_workers.subscribe());
    let history = cognate_server::services::auth_events::spawn_purger(state.clone(), stop_workers.subscribe());
    // User import jobs: every node runs a worker; a job is held by one at a time.
    let importer = cognate_server::services::user_imports::spawn_worker(state.clone(), stop_workers.subscribe());
    // Webhooks: every node fans out and delivers; claims in the database keep them apart.
    let webhooks = cognate_server::webhook_delivery::spawn_worker(state.clone(), stop_workers.subscribe());
    let usage = cognate_server::services::api_keys::spawn_usage_flusher(
        state.clone(),
        cognate_server::services::api_keys::USAGE_FLUSH_INTERVAL,
        stop_workers.subscribe(),
    );
    // Analytics figures likewise: counted in memory, added to the database every few
    // seconds and once more at shutdown, so a graceful restart loses nothing.
    let analytics = cognate_server::services::analytics::spawn_flusher(
        state.clone(),
        cognate_server::services::analytics::FLUSH_INTERVAL,
        stop_workers.subscribe(),
    );

    // Other nodes' changes (PostgreSQL): heard at once instead of at the next poll.
    let changes =
        config.notify.then(|| cognate_server::propagation::spawn_listener(state.clone(), stop_workers.subscribe()));

    let metrics = match config.metrics_listen {
        Some(at) => Some(serve_metrics(at, state.clone(), stop_workers.subscribe()).await?),
        None => None,
    };
    let draining = state.draining.clone();
    let app = cognate_server::build_router(state);
    // A stop signal first drains (readiness 503, `Connection: close`) for the drain period,
    // then closes the listener; requests under way get the shutdown timeout to finish.
    let (closing, mut closed) = tokio::sync::watch::channel(false);
    let signal = shutdown_signal();
    let drain = config.shutdown_drain;
    let shutdown = async move {
        signal.await;
        draining.store(true, std::sync::atomic::Ordering::Relaxed);
        if !drain.is_zero() {
            tracing::info!(seconds = drain.as_secs(), "draining: /readyz answers 503 until the listener closes");
            tokio::time::sleep(drain).await;
        }
        tracing::info!("closing the listener; finishing requests under way");
        let _ = closing.send(true);
    };
    println!("Cognate is listening on http://{addr}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, "listening");
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .into_future();
    let timeout = config.shutdown_timeout;
    let cut_off = async move {
        let _ = closed.wait_for(|closed| *closed).await;
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        served = server => served?,
        () = cut_off => {
            tracing::warn!(seconds = timeout.as_secs(), "requests still under way after the shutdown timeout; cutting them off");
        }
    }
    let _ = stop_workers.send(true);
    if let Some(metrics) = metrics
        && let Err(e) = metrics.await
    {
        tracing::error!(error = %e, "the metrics listener failed");
    }
    if let Some(changes) = changes
        && let Err(e) = changes.await
    {
        tracing::error!(error = %e, "the change listener failed");
    }
    if let Err(e) = usage.await {
        tracing::error!(error = %e, "the API key usage flusher failed");
    }
    if let Err(e) = analytics.await {
        tracing::error!(error = %e, "the analytics flusher failed");
    }
    if let Err(e) = audit.await {
        tracing::error!(error = %e, "the audit writer failed");
    }
    if let Err(e) = redactor.await {
        tracing::error!(error = %e, "the outbox redactor failed");
    }
    if let Err(e) = purger.await {
        tracing::error!(error = %e, "the authorization code purger failed");
    }
    if let Err(e) = history.await {
        tracing::error!(error = %e, "the auth event purger failed");
    }
    if let Err(e) = importer.await {
        tracing::error!(error = %e, "the user import worker failed");
    }
    if let Err(e) = webhooks.await {
        tracing::error!(error = %e, "the webhook delivery worker failed");
    }
    if let Some(worker) = delivery
        && let Err(e) = worker.await
    {
        tracing::error!(error = %e, "the email delivery worker failed");
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

/// On the very first start, creates one admin credential, writes it to
/// `admin-credentials.json` (mode 0600) and prints it once.
async fn bootstrap_admin(state: &AppState, config: &Config) -> Result<()> {
    const KEY: &str = "bootstrap_admin_credential";
    if state.store.get_meta(KEY).await?.is_some() {
        return Ok(());
    }
    let claim = cognate_core::ids::generate_sub(state.rng.as_ref());
    if state.store.put_meta_if_absent(KEY, &claim).await? != claim {
        return Ok(()); // another node bootstrapped at the same moment
    }
    let cred = bootstrap::create_admin_credential(state, "bootstrap credential").await?;
    let body = serde_json::json!({"accessKeyId": cred.access_key_id, "secretAccessKey": cred.secret_access_key});
    let saved = credentials_file(config, format!("{body:#}\n").as_bytes())?;
    let place = match &saved {
        Some(path) => format!("also saved to {}", path.display()),
        None => "not saved: every file name for it already exists in the data directory".to_owned(),
    };
    println!(
        "Created the first admin credential (shown once; {place}):\n  accessKeyId:     {}\n  secretAccessKey: {}",
        cred.access_key_id, cred.secret_access_key
    );
    Ok(())
}

/// Saves a new database's first credential without ever replacing another database's:
/// `admin-credentials.json`, or — when that file exists already (the same data directory
/// used with a second database) — `admin-credentials-{database}.json`, the database's name
/// (PostgreSQL) or file stem (SQLite). `None` when both exist.
fn credentials_file(config: &Config, contents: &[u8]) -> Result<Option<std::path::PathBuf>> {
    let database = config
        .database_url
        .rsplit(['/', '\\'])
        .next()
        .and_then(|last| last.split(['?', '.']).next())
        .filter(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        .unwrap_or("database");
    for name in ["admin-credentials.json".to_owned(), format!("admin-credentials-{database}.json")] {
        let path = config.data_dir.join(name);
        if config::write_private_new(&path, contents)? {
            return Ok(Some(path));
        }
        tracing::warn!(path = %path.display(), "not replacing an existing credentials file");
    }
    Ok(None)
}

/// RFC 3339 (UTC, seconds) of a time in milliseconds since the epoch.
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Resolves on SIGINT or SIGTERM. Both handlers are installed when this is called (before
/// the server says it is listening), so a signal sent right after that line is a graceful
/// stop, never the default kill.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
        async move {
            match streams {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {},
                        _ = term.recv() => {},
                    }
                }
                (int, term) => {
                    let e = int.err().or(term.err()).map(|e| e.to_string()).unwrap_or_default();
                    tracing::error!(error = %e, "cannot listen for SIGINT/SIGTERM; stop with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
            tracing::info!("shutdown signal received");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    }
}

async fn admin_key(cmd: AdminKeyCommand, config: Config) -> Result<()> {
    use cognate_server::services::admins::{self, AdminCredentialError, Revoked};
    let store = open_store(&config).await?;
    let now = SystemClock.now_millis();
    match cmd {
        AdminKeyCommand::Create { description } => {
            let key = config.master_key()?;
            let cred =
                admins::create(store.as_ref(), &key, &SystemRng, now, &description).await.map_err(|e| match e {
                    AdminCredentialError::InvalidDescription => anyhow::anyhow!(
                        "--description must be at most {} characters without control characters",
                        admins::MAX_DESCRIPTION_CHARS
                    ),
                    other => other.into(),
                })?;
            let body =
                serde_json::json!({"accessKeyId": cred.access_key_id, "secretAccessKey": cred.secret_access_key});
            println!("{body:#}");
        }
        AdminKeyCommand::List => {
            for c in admins::list(store.as_ref()).await? {
                let status = if c.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}\t{}\t{}\t{}", c.access_key_id, status, rfc3339(c.created_at), c.description);
            }
        }
        AdminKeyCommand::Revoke { access_key_id } => {
            match admins::revoke(store.as_ref(), &access_key_id, now, None).await {
                Ok(Revoked::Now | Revoked::Already) => println!("revoked {access_key_id}"),
                Err(AdminCredentialError::NotFound(_)) => bail!("no admin credential {access_key_id}"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// A pool id from the command line (its existence is the service's to check).
fn pool_arg(pool: &str) -> Result<cognate_core::ids::PoolId> {
    cognate_core::ids::PoolId::parse(pool).with_context(|| format!("--pool {pool} is not a pool id"))
}

async fn keys(cmd: KeysCommand, config: Config) -> Result<()> {
    use cognate_server::services::signing_keys::{self, Retired, SigningKeyError};
    let store = open_store(&config).await?;
    match cmd {
        KeysCommand::Rotate { pool } => {
            let pool = pool_arg(&pool)?;
            let master = config.existing_master_key()?;
            let kid =
                signing_keys::rotate(store.as_ref(), &master, &SystemRng, &SystemClock, &pool).await.map_err(|e| {
                    match e {
                        SigningKeyError::WrongMasterKey => anyhow::anyhow!(
                            "the master key does not open this pool's signing keys (is COGNATE_MASTER_KEY set?)"
                        ),
                        other => other.into(),
                    }
                })?;
            println!("{kid}");
        }
        KeysCommand::Retire { pool, kid } => {
            let pool = pool_arg(&pool)?;
            match signing_keys::retire(store.as_ref(), &pool, &kid, SystemClock.now_millis()).await {
                Ok(Retired::Now) => println!("retired {kid}"),
                Ok(Retired::Already) => println!("{kid} was already retired"),
                Err(SigningKeyError::LastActive { .. }) => {
                    bail!("{kid} is the only active key of {pool}; run `cognate keys rotate --pool {pool}` first")
                }
                Err(e) => return Err(e.into()),
            }
        }
        KeysCommand::List { pool } => {
            let pool = pool_arg(&pool)?;
            for k in signing_keys::list(store.as_ref(), &pool).await? {
                // The CLI's columns predate the retiring state: a key still published is active.
                let status = if k.retired_at.is_some() { "retired" } else { "active" };
                println!("{}\t{}\t{}", k.kid, rfc3339(k.created_at), status);
            }
        }
    }
    Ok(())
}
