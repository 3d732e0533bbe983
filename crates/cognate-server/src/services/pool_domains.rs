//! User pool domains (Cognito's CreateUserPoolDomain and friends): the host names a pool's
//! hosted login answers at. A prefix domain `acme` is served at `acme.{auth domain}` when
//! Cognate is configured with one (`COGNATE_AUTH_DOMAIN`); a custom domain at its own host
//! name (TLS is terminated in front of Cognate, so the certificate ARN is only kept).
//! Without either, every pool's login is served at Cognate's own URL, the client id naming
//! the pool. On a pool's domain, only that pool's clients may sign in.

use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::login::{self, PoolDomain};

use crate::AppState;

/// Why a domain change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PoolDomainError {
    /// A malformed domain, certificate or version (the message says which).
    #[error("{0}")]
    Invalid(String),
    /// Another pool (or this one) has the domain.
    #[error("the domain is taken")]
    Taken,
    /// The pool already has a domain of this kind.
    #[error("the pool already has a domain of this kind")]
    PoolHasDomain,
    #[error("no such domain for the pool")]
    NotFound,
    #[error("no such user pool")]
    PoolNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A domain as asked for: a prefix, or (with a certificate) a custom domain.
pub struct DomainRequest<'a> {
    pub pool: &'a PoolId,
    pub domain: &'a str,
    pub certificate_arn: Option<&'a str>,
    pub managed_login_version: Option<i64>,
}

fn checked(state: &AppState, req: &DomainRequest<'_>) -> Result<PoolDomain, PoolDomainError> {
    let custom = req.certificate_arn.is_some();
    let domain = req.domain.to_owned();
    let valid = if custom { login::valid_custom_domain(&domain) } else { login::valid_prefix(&domain) };
    if !valid {
        return Err(PoolDomainError::Invalid(if custom {
            format!("Domain {domain} is not a valid host name.")
        } else {
            format!(
                "Domain {domain} is not a valid prefix: 1 to 63 lower-case letters, digits and hyphens, \
                 without aws, amazon or cognito."
            )
        }));
    }
    // A custom domain may not take Cognate's own host, nor a name under the prefix domain.
    let own_host = url::Url::parse(&state.settings.public_url).ok().and_then(|u| u.host_str().map(str::to_owned));
    let under_auth_domain = state
        .settings
        .auth_domain
        .as_deref()
        .is_some_and(|parent| domain == parent || domain.ends_with(&format!(".{parent}")));
    if custom && (own_host.as_deref() == Some(domain.as_str()) || under_auth_domain) {
        return Err(PoolDomainError::Invalid(format!("Domain {domain} is reserved for Cognate itself.")));
    }
    if let Some(arn) = req.certificate_arn
        && (arn.is_empty() || arn.len() > 2048)
    {
        return Err(PoolDomainError::Invalid("CertificateArn must be 1 to 2048 characters.".into()));
    }
    let version = req.managed_login_version.unwrap_or(1);
    if !(1..=2).contains(&version) {
        return Err(PoolDomainError::Invalid("ManagedLoginVersion must be 1 or 2.".into()));
    }
    Ok(PoolDomain {
        domain,
        pool_id: req.pool.clone(),
        custom,
        certificate_arn: req.certificate_arn.map(str::to_owned),
        managed_login_version: version,
        created_at: state.clock.now_millis(),
    })
}

async fn pool_exists(state: &AppState, pool: &PoolId) -> Result<(), PoolDomainError> {
    match super::pools::get(state, pool).await {
        Ok(_) => Ok(()),
        Err(super::pools::PoolError::Store(e)) => Err(e.into()),
        Err(_) => Err(PoolDomainError::PoolNotFound),
    }
}

pub async fn create(state: &AppState, req: DomainRequest<'_>) -> Result<PoolDomain, PoolDomainError> {
    let domain = checked(state, &req)?;
    pool_exists(state, req.pool).await?;
    crate::facts::pool(req.pool);
    state.store.create_pool_domain(&domain).await.map_err(|e| match e {
        StoreError::Conflict("pool_domain") => PoolDomainError::PoolHasDomain,
        StoreError::Conflict(_) => PoolDomainError::Taken,
        other => other.into(),
    })?;
    tracing::info!(pool = %domain.pool_id, domain = %domain.domain, custom = domain.custom, "user pool domain created");
    Ok(domain)
}

/// The domain, whichever pool has it (`None`: nobody).
pub async fn describe(state: &AppState, domain: &str) -> Result<Option<PoolDomain>, StoreError> {
    let found = state.store.get_pool_domain(domain).await?;
    if let Some(d) = &found {
        crate::facts::pool(&d.pool_id);
    }
    Ok(found)
}

/// The pool's domains (a prefix and a custom domain at most).
pub async fn of_pool(state: &AppState, pool: &PoolId) -> Result<Vec<PoolDomain>, StoreError> {
    state.store.list_pool_domains(pool).await
}

/// Changes a custom domain's certificate or a domain's managed login version.
pub async fn update(state: &AppState, req: DomainRequest<'_>) -> Result<PoolDomain, PoolDomainError> {
    let existing = match state.store.get_pool_domain(req.domain).await? {
        Some(d) if &d.pool_id == req.pool => d,
        _ => return Err(PoolDomainError::NotFound),
    };
    crate::facts::pool(req.pool);
    let certificate_arn = if existing.custom {
        req.certificate_arn.or(existing.certificate_arn.as_deref())
    } else if req.certificate_arn.is_some() {
        return Err(PoolDomainError::Invalid("A prefix domain has no certificate.".into()));
    } else {
        None
    };
    let asked = DomainRequest {
        pool: req.pool,
        domain: req.domain,
        certificate_arn,
        managed_login_version: req.managed_login_version.or(Some(existing.managed_login_version)),
    };
    let domain = PoolDomain { created_at: existing.created_at, ..checked(state, &asked)? };
    state.store.update_pool_domain(&domain).await.map_err(|e| match e {
        StoreError::NotFound(_) => PoolDomainError::NotFound,
        other => other.into(),
    })?;
    Ok(domain)
}

pub async fn delete(state: &AppState, pool: &PoolId, domain: &str) -> Result<(), PoolDomainError> {
    crate::facts::pool(pool);
    if !state.store.delete_pool_domain(pool, domain).await? {
        return Err(PoolDomainError::NotFound);
    }
    tracing::info!(pool = %pool, domain, "user pool domain deleted");
    Ok(())
}

/// The host name of a `Host` header: lower case, without the port and a trailing dot
/// (`[::1]:8080` -> `[::1]`).
fn host_name(host: &str) -> String {
    let name = if host.starts_with('[') {
        host.split_once(']').map_or(host.to_owned(), |(addr, _)| format!("{addr}]"))
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name).to_owned()
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Which pool a request's `Host` belongs to: a custom domain's pool, or a prefix's under
/// the configured auth domain. `Ok(None)`: any other host (Cognate's own URL, where the
/// client id names the pool). `Err(())`: a host under the auth domain that no pool has.
pub async fn pool_of_host(state: &AppState, host: Option<&str>) -> Result<Result<Option<PoolId>, ()>, StoreError> {
    let Some(host) = host.map(host_name) else {
        return Ok(Ok(None));
    };
    if let Some(parent) = &state.settings.auth_domain
        && let Some(prefix) = host.strip_suffix(parent.as_str()).and_then(|p| p.strip_suffix('.'))
    {
        return Ok(match state.store.get_pool_domain(prefix).await? {
            Some(d) if !d.custom => Ok(Some(d.pool_id)),
            _ => Err(()),
        });
    }
    Ok(match state.store.get_pool_domain(&host).await? {
        Some(d) if d.custom => Ok(Some(d.pool_id)),
        _ => Ok(None),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_names_lose_ports_and_trailing_dots() {
        assert_eq!(super::host_name("Login.Acme.com.:443"), "login.acme.com");
        assert_eq!(super::host_name("login.acme.com."), "login.acme.com");
        assert_eq!(super::host_name("[::1]:8080"), "[::1]");
        assert_eq!(super::host_name("[::1]"), "[::1]");
        assert_eq!(super::host_name("127.0.0.1"), "127.0.0.1");
    }
}
