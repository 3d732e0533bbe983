//! Domain verification by DNS (services::domains::check_dns) against a scripted resolver:
//! each typed refusal, the constant-time match among other records, another tenant's or an
//! earlier claim's value refused, idempotence without a lookup, and the per-claim rate
//! limit. The real resolver against a real DNS server is tests/interop/test_domain_dns.py.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cognate_core::tenant::{DomainName, Tier};
use cognate_server::AppState;
use cognate_server::dns::{TxtError, TxtResolver};
use cognate_server::services::domains::{self, DomainError};
use cognate_server::services::tenants;

use super::support::TestApp;

/// What the scripted resolver answers next.
#[derive(Clone)]
enum Answer {
    Records(Vec<String>),
    Missing,
    Timeout,
}

/// A resolver answering what the test says, counting lookups and the names asked.
#[derive(Default)]
struct Scripted {
    answer: Mutex<Option<Answer>>,
    asked: Mutex<Vec<String>>,
    lookups: AtomicUsize,
}

impl Scripted {
    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = Some(answer);
    }
}

#[async_trait]
impl TxtResolver for Scripted {
    async fn txt(&self, name: &str) -> Result<Vec<Vec<u8>>, TxtError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.asked.lock().unwrap().push(name.to_owned());
        match self.answer.lock().unwrap().clone().unwrap_or(Answer::Missing) {
            Answer::Records(values) => Ok(values.into_iter().map(String::into_bytes).collect()),
            Answer::Missing => Err(TxtError::NotFound),
            Answer::Timeout => Err(TxtError::Timeout),
        }
    }
}

fn with_resolver(t: &TestApp) -> (AppState, Arc<Scripted>) {
    let scripted = Arc::new(Scripted::default());
    let mut state = t.state.clone();
    state.dns = scripted.clone();
    (state, scripted)
}

async fn tenant(state: &AppState, id: &str) -> cognate_core::tenant::TenantId {
    let new = tenants::NewTenant { id: Some(id), name: id, tier: Tier::Standard, domains: Vec::new() };
    tenants::create(state, new).await.unwrap().id
}

#[tokio::test]
async fn the_claims_own_record_verifies_it_and_nothing_else_does() {
    let t = TestApp::new().await;
    let (state, dns) = with_resolver(&t);
    let acme = tenant(&state, "acme").await;
    let evil = tenant(&state, "evil").await;
    let domain = DomainName::parse("acme.example").unwrap();
    let other = DomainName::parse("evil.example").unwrap();
    let claim = domains::claim(&state, &acme, domain.clone(), false).await.unwrap();
    let evil_claim = domains::claim(&state, &evil, other, false).await.unwrap();
    let record = domains::challenge_record(&state, &claim);
    assert_eq!(record.name, "_cognate.acme.example");
    assert!(record.value.starts_with(domains::RECORD_PREFIX), "{record:?}");
    // The same on every derivation: it can be shown again at any time.
    assert_eq!(domains::challenge_record(&state, &claim), record);

    dns.set(Answer::Missing);
    let e = domains::check_dns(&state, &acme, &domain, "it").await.unwrap_err();
    assert!(matches!(&e, DomainError::RecordMissing { name } if name == "_cognate.acme.example"), "{e:?}");

    // Another tenant's value, a near miss, the bare token: none verifies this claim.
    let evil_value = domains::challenge_record(&state, &evil_claim).value;
    let bare = record.value.trim_start_matches(domains::RECORD_PREFIX).to_owned();
    let near = format!("{} ", record.value);
    dns.set(Answer::Records(vec![evil_value, bare, near]));
    let e = domains::check_dns(&state, &acme, &domain, "it").await.unwrap_err();
    assert!(matches!(e, DomainError::RecordMismatch { .. }), "{e:?}");

    dns.set(Answer::Timeout);
    let e = domains::check_dns(&state, &acme, &domain, "it").await.unwrap_err();
    assert!(matches!(e, DomainError::DnsUnavailable { .. }), "{e:?}");
    assert!(!domains::get(&state, &acme, &domain).await.unwrap().verified);

    // The right value among unrelated records (SPF and the like) verifies.
    dns.set(Answer::Records(vec!["v=spf1 -all".into(), record.value.clone()]));
    let verified = domains::check_dns(&state, &acme, &domain, "it").await.unwrap();
    assert!(verified.verified);
    let (routed, _) = domains::route(&state, &domain).await.unwrap();
    assert_eq!(routed.map(|t| t.id), Some(acme.clone()));

    // Already verified: answered as it is, without a lookup.
    let before = dns.lookups.load(Ordering::SeqCst);
    dns.set(Answer::Missing);
    assert!(domains::check_dns(&state, &acme, &domain, "it").await.unwrap().verified);
    assert_eq!(dns.lookups.load(Ordering::SeqCst), before);
    assert!(dns.asked.lock().unwrap().iter().all(|n| n == "_cognate.acme.example"));

    // The other tenant cannot check a claim it does not hold.
    let e = domains::check_dns(&state, &evil, &domain, "it").await.unwrap_err();
    assert!(matches!(e, DomainError::NotFound), "{e:?}");
}

#[tokio::test]
async fn a_claim_made_again_needs_its_new_record() {
    let clock = Arc::new(cognate_core::ManualClock::new(1_796_083_200_000));
    let t = TestApp::with_clock(clock.clone()).await;
    let (state, dns) = with_resolver(&t);
    let acme = tenant(&state, "acme").await;
    let domain = DomainName::parse("acme.example").unwrap();
    let first = domains::claim(&state, &acme, domain.clone(), false).await.unwrap();
    let old = domains::challenge_record(&state, &first).value;
    domains::release(&state, &acme, &domain).await.unwrap();
    clock.advance(1000);
    let again = domains::claim(&state, &acme, domain.clone(), false).await.unwrap();
    assert_ne!(domains::challenge_record(&state, &again).value, old);
    dns.set(Answer::Records(vec![old]));
    let e = domains::check_dns(&state, &acme, &domain, "it").await.unwrap_err();
    assert!(matches!(e, DomainError::RecordMismatch { .. }), "{e:?}");
}

#[tokio::test]
async fn checks_of_one_claim_are_rate_limited() {
    let t = TestApp::new().await;
    let (state, dns) = with_resolver(&t);
    let acme = tenant(&state, "acme").await;
    let domain = DomainName::parse("acme.example").unwrap();
    domains::claim(&state, &acme, domain.clone(), false).await.unwrap();
    dns.set(Answer::Missing);
    for _ in 0..domains::DNS_CHECKS_PER_MINUTE {
        let e = domains::check_dns(&state, &acme, &domain, "it").await.unwrap_err();
        assert!(matches!(e, DomainError::RecordMissing { .. }), "{e:?}");
    }
    let e = domains::check_dns(&state, &acme, &domain, "it").await.unwrap_err();
    assert!(matches!(e, DomainError::RateLimited(wait) if (1..=60).contains(&wait)), "{e:?}");
    assert_eq!(dns.lookups.load(Ordering::SeqCst), domains::DNS_CHECKS_PER_MINUTE as usize);
}
