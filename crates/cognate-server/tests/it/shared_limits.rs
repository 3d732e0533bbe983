//! Brute-force counters and rate windows in Redis (`throttle::shared`), against the real
//! Redis at `COGNATE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`): the same answers
//! as the in-process limiters step by step, counts shared by two instances, atomic under
//! concurrency, keys namespaced, hashed and expiring, and a Redis that does not answer
//! degrading to this process's counters, which still refuse over the limits.
//!
//! Each test uses a key prefix of its own and deletes only its keys.

use std::sync::Arc;
use std::time::Duration;

use cognate_core::crypto::MasterKey;
use cognate_core::{Clock, ManualClock, SystemRng};
use cognate_server::metrics::Metrics;
use cognate_server::throttle::shared::{RedisLimits, RedisSettings};
use cognate_server::throttle::{Limiter, MemoryLimiter, RateLimiter, WindowLimiter};
use secrecy::SecretString;

use crate::support::TestApp;

fn redis_url() -> String {
    std::env::var("COGNATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test (or run) uses.
fn prefix() -> String {
    format!("cognate-it-{}", uuid::Uuid::new_v4().simple())
}

fn settings(url: &str, prefix: &str) -> RedisSettings {
    RedisSettings {
        url: SecretString::from(url.to_owned()),
        prefix: prefix.to_owned(),
        timeout: Duration::from_secs(2),
    }
}

/// A limiter on the test Redis, checked to answer, and its metrics: a test that silently
/// fell back to the local counters would prove nothing, so each ends with [`all_shared`].
async fn shared(
    prefix: &str,
    master: &MasterKey,
    clock: Arc<dyn Clock>,
    max_delay: i64,
) -> (RedisLimits, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let limits = RedisLimits::new(&settings(&redis_url(), prefix), master, clock, max_delay, metrics.clone()).unwrap();
    limits.ping().await.unwrap_or_else(|e| panic!("Redis at {} does not answer: {e}", redis_url()));
    (limits, metrics)
}

/// Every answer came from Redis.
#[track_caller]
fn all_shared(metrics: &[&Metrics]) {
    for m in metrics {
        assert_eq!(m.limits_fallbacks(), 0, "some answers came from the local counters");
    }
}

async fn connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// The test's keys, with their time to live (ms).
async fn keys_of(prefix: &str) -> Vec<(String, i64)> {
    let mut conn = connection().await;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.unwrap();
    let mut out = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
        out.push((key, ttl));
    }
    out
}

async fn flush(prefix: &str) {
    let mut conn = connection().await;
    for (key, _) in keys_of(prefix).await {
        let _: i64 = redis::cmd("DEL").arg(key).query_async(&mut conn).await.unwrap();
    }
}

fn master() -> MasterKey {
    MasterKey::from_base64(&MasterKey::generate_base64(&SystemRng)).unwrap()
}

/// One step of a brute-force scenario, played on both limiters.
enum Step {
    Fail(&'static str, u32),
    Check(&'static str),
    Succeed(&'static str),
    Advance(i64),
}

#[tokio::test]
async fn failures_lock_double_cap_reset_and_clear_as_in_memory() {
    use Step::{Advance, Check, Fail, Succeed};
    let prefix = prefix();
    let clock = Arc::new(ManualClock::new(1_765_000_000_000));
    let (redis, metrics) = shared(&prefix, &master(), clock.clone(), 8).await;
    let memory = MemoryLimiter::new(clock.clone(), 8);
    let mut script = Vec::new();
    // Four free failures, then a lock of 1 s, 2 s, 4 s, 8 s and no more (the cap).
    script.extend([Fail("u", 5), Check("u"), Fail("u", 5), Fail("u", 5), Fail("u", 5), Check("u")]);
    script.extend([Fail("u", 5), Check("u"), Advance(999), Check("u"), Advance(1), Check("u")]);
    for _ in 0..5 {
        script.extend([Fail("u", 5), Check("u"), Advance(500), Check("u")]);
    }
    // Another key is not affected; several keys answer the longest wait.
    script.extend([Check("other"), Fail("other", 1), Check("other")]);
    // Success clears.
    script.extend([Succeed("u"), Check("u"), Fail("u", 5), Check("u")]);
    // An hour without failures resets the count: one more failure is free again.
    script.extend([
        Fail("idle", 2),
        Fail("idle", 2),
        Check("idle"),
        Advance(3_600_001),
        Fail("idle", 2),
        Check("idle"),
    ]);
    let mut answers = Vec::new();
    for step in &script {
        match *step {
            Fail(key, free) => {
                redis.fail(&[(key, free)]).await;
                memory.fail(&[(key, free)]).await;
            }
            Check(key) => {
                let (shared, local) = (Limiter::check(&redis, &[key]).await, Limiter::check(&memory, &[key]).await);
                assert_eq!(shared, local, "after {} steps", answers.len());
                answers.push(shared);
            }
            Succeed(key) => {
                redis.succeed(&[key]).await;
                memory.succeed(&[key]).await;
            }
            Advance(ms) => clock.advance(ms),
        }
    }
    let expected = [
        [Ok(()), Ok(()), Err(1), Err(1), Ok(())].as_slice(),
        &[Err(2), Err(2), Err(4), Err(4), Err(8), Err(8), Err(8), Err(8), Err(8), Err(8)],
        &[Ok(()), Err(1), Ok(()), Ok(()), Err(1), Ok(())],
    ]
    .concat();
    assert_eq!(answers, expected);
    let both = Limiter::check(&redis, &["u", "other", "nobody"]).await;
    assert_eq!(both, Limiter::check(&memory, &["u", "other", "nobody"]).await);
    all_shared(&[&metrics]);
    flush(&prefix).await;
}

#[tokio::test]
async fn windows_admit_the_limit_then_say_when_to_retry_as_in_memory() {
    let prefix = prefix();
    let (redis, metrics) = shared(&prefix, &master(), Arc::new(ManualClock::new(0)), 900).await;
    let memory = WindowLimiter::default();
    // (key, limit, window s, now ms, count?) — the in-process unit test's scenario, at a
    // time of today rather than 1970.
    let base = 1_765_000_020_000; // a multiple of 10 s and of 60 s
    let steps: Vec<(&str, u32, u32, i64, bool)> = vec![
        ("k", 3, 10, base + 1_000, true),
        ("k", 3, 10, base + 1_000, true),
        ("k", 3, 10, base + 1_000, true),
        ("k", 3, 10, base + 1_500, true),
        ("other", 3, 10, base + 1_500, true),
        ("k", 3, 10, base + 10_000, true),
        ("b", 3, 60, base, true),
        ("b", 3, 60, base, true),
        ("b", 3, 60, base, true),
        ("b", 3, 60, base, true),
        ("c", 1, 60, base, false),
        ("c", 1, 60, base, false),
        ("c", 1, 60, base, true),
        ("c", 1, 60, base, false),
        ("c", 1, 60, base + 59_999, true),
        ("c", 1, 60, base + 60_000, true),
    ];
    let mut answers = Vec::new();
    for (key, limit, per, now, count) in steps {
        let (shared, local) = if count {
            (
                RateLimiter::admit(&redis, key, limit, per, now).await,
                RateLimiter::admit(&memory, key, limit, per, now).await,
            )
        } else {
            (
                RateLimiter::check(&redis, key, limit, per, now).await,
                RateLimiter::check(&memory, key, limit, per, now).await,
            )
        };
        assert_eq!(shared, local, "{key} at {now}");
        answers.push(shared);
    }
    let expected = vec![
        Ok(()),
        Ok(()),
        Ok(()),
        Err(9),
        Ok(()),
        Ok(()),
        Ok(()),
        Ok(()),
        Ok(()),
        Err(60),
        Ok(()),
        Ok(()),
        Ok(()),
        Err(60),
        Err(1),
        Ok(()),
    ];
    assert_eq!(answers, expected);
    all_shared(&[&metrics]);
    flush(&prefix).await;
}

#[tokio::test]
async fn two_instances_share_failures_and_windows() {
    let prefix = prefix();
    let master = master();
    let clock = Arc::new(ManualClock::new(1_765_000_000_000));
    let (node_a, metrics_a) = shared(&prefix, &master, clock.clone(), 900).await;
    let (node_b, metrics_b) = shared(&prefix, &master, clock.clone(), 900).await;
    // Five failures spread over the two nodes lock the user on both.
    for i in 0..5 {
        let node = if i % 2 == 0 { &node_a } else { &node_b };
        assert_eq!(Limiter::check(node, &["user:p:alice"]).await, Ok(()));
        node.fail(&[("user:p:alice", 5)]).await;
    }
    assert_eq!(Limiter::check(&node_a, &["user:p:alice"]).await, Err(1));
    assert_eq!(Limiter::check(&node_b, &["user:p:alice"]).await, Err(1));
    // A success on one node clears the user on the other.
    node_b.succeed(&["user:p:alice"]).await;
    assert_eq!(Limiter::check(&node_a, &["user:p:alice"]).await, Ok(()));
    // One window of 4 a minute for both nodes together.
    let now = clock.now_millis();
    let mut admitted = 0;
    for i in 0..10 {
        let node = if i % 2 == 0 { &node_a } else { &node_b };
        if RateLimiter::admit(node, "tenant:acme", 4, 60, now).await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 4);
    // A node with another master key names keys differently: it shares nothing (and so a
    // node configured wrongly cannot read or reset the others' counters).
    let (stranger, _) = shared(&prefix, &self::master(), clock.clone(), 900).await;
    assert_eq!(RateLimiter::admit(&stranger, "tenant:acme", 4, 60, now).await, Ok(()));
    all_shared(&[&metrics_a, &metrics_b]);
    flush(&prefix).await;
}

#[tokio::test]
async fn admissions_are_atomic_under_concurrency() {
    let prefix = prefix();
    let master = master();
    let clock = Arc::new(ManualClock::new(1_765_000_000_000));
    let mut nodes: Vec<Arc<RedisLimits>> = Vec::new();
    let mut metrics = Vec::new();
    for _ in 0..3 {
        let (node, m) = shared(&prefix, &master, clock.clone(), 900).await;
        nodes.push(Arc::new(node));
        metrics.push(m);
    }
    let now = clock.now_millis();
    let mut tasks = Vec::new();
    for i in 0..150 {
        let node = nodes[i % 3].clone();
        tasks.push(tokio::spawn(
            async move { RateLimiter::admit(node.as_ref(), "auth-ip:192.0.2.1", 50, 60, now).await },
        ));
    }
    let mut admitted = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 50);
    all_shared(&metrics.iter().map(AsRef::as_ref).collect::<Vec<_>>());
    flush(&prefix).await;
}

#[tokio::test]
async fn keys_are_namespaced_hashed_and_expire() {
    let prefix = prefix();
    let clock = Arc::new(ManualClock::new(1_765_000_000_000));
    let (redis, _) = shared(&prefix, &master(), clock.clone(), 900).await;
    redis.fail(&[("user:pool:alice@example.com@192.0.2.7", 5), ("ip:192.0.2.7", 20)]).await;
    RateLimiter::admit(&redis, "auth-user:pool:alice@example.com", 60, 60, clock.now_millis()).await.unwrap();
    let keys = keys_of(&prefix).await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    for (key, ttl) in &keys {
        assert!(!key.contains("alice") && !key.contains("192.0.2"), "{key} names the user or address");
        assert!(*ttl > 0, "{key} never expires");
    }
    let mut names: Vec<_> = keys.iter().map(|(k, _)| k.rsplit_once(':').map_or(k.as_str(), |(head, _)| head)).collect();
    names.sort_unstable();
    assert!(names[0].starts_with(&format!("{prefix}:lock:ip")), "{names:?}");
    assert!(names[1].starts_with(&format!("{prefix}:lock:user")), "{names:?}");
    assert!(names[2].starts_with(&format!("{prefix}:rate:auth-user:")), "{names:?}");
    // Failures are kept an hour; a window until shortly after it ends.
    let ttl = |part: &str| keys.iter().find(|(k, _)| k.contains(part)).map(|(_, t)| *t).unwrap();
    assert!((3_500_000..=3_600_000).contains(&ttl(":lock:ip:")), "{keys:?}");
    assert!(ttl(":rate:") <= 70_000, "{keys:?}");
    redis.succeed(&["user:pool:alice@example.com@192.0.2.7"]).await;
    assert_eq!(keys_of(&prefix).await.len(), 2);
    flush(&prefix).await;
}

#[tokio::test]
async fn a_redis_that_does_not_answer_degrades_to_this_node_and_still_refuses() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let t = TestApp::new().await;
    let dead = RedisSettings {
        url: SecretString::from(format!("redis://127.0.0.1:{port}")),
        prefix: prefix(),
        timeout: Duration::from_millis(250),
    };
    let (state, limits) = t.state.clone().with_shared_limits(&dead).unwrap();
    assert!(limits.ping().await.is_err());
    let started = std::time::Instant::now();
    // Brute force: locked after the free failures, as in memory.
    for _ in 0..5 {
        assert_eq!(state.limiter.check(&["user:p:bob"]).await, Ok(()));
        state.limiter.fail(&[("user:p:bob", 5)]).await;
    }
    assert_eq!(state.limiter.check(&["user:p:bob"]).await, Err(1));
    // Rates: refused over the limit.
    let now = state.clock.now_millis();
    assert_eq!(state.rates.admit("tenant:acme", 2, 60, now).await, Ok(()));
    assert_eq!(state.rates.admit("tenant:acme", 2, 60, now).await, Ok(()));
    assert!(state.rates.admit("tenant:acme", 2, 60, now).await.is_err());
    // Quickly: a refused connection is not waited for, and a failed call rests Redis.
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let text = cognate_server::metrics::render(&state).await;
    let fallbacks = text
        .lines()
        .find_map(|l| l.strip_prefix("cognate_shared_limits_fallbacks_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap();
    assert!(fallbacks >= 10.0, "{fallbacks}");
    assert!(text.contains("cognate_shared_limits_backend{backend=\"local\"} 1"), "{text}");
    assert!(text.contains("cognate_shared_limits_backend{backend=\"redis\"} 0"), "{text}");
}

/// A TCP relay to the test Redis that can be cut (connections reset, new ones refused)
/// and restored: Redis going away and coming back, without touching the shared Redis.
struct Relay {
    port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start() -> Self {
        use std::sync::atomic::Ordering;
        let target = redis_url().trim_start_matches("redis://").trim_end_matches('/').to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().unwrap().push(link);
            }
        });
        Self { port, up, links }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn gauge(text: &str, backend: &str) -> String {
    let series = format!("cognate_shared_limits_backend{{backend=\"{backend}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(series.as_str())).unwrap_or("?").trim().to_owned()
}

#[tokio::test]
async fn a_node_falls_back_while_redis_is_away_and_goes_back_when_it_answers() {
    let prefix = prefix();
    let relay = Relay::start().await;
    // A clock that stands still: the hour's window cannot end mid-test.
    let t = TestApp::with_clock(Arc::new(ManualClock::new(1_765_000_000_000))).await;
    let via_relay = settings(&format!("redis://127.0.0.1:{}", relay.port), &prefix);
    let (state, limits) = t.state.clone().with_shared_limits(&via_relay).unwrap();
    limits.ping().await.unwrap();
    let now = || state.clock.now_millis();
    assert_eq!(state.rates.admit("tenant:t1", 3, 3600, now()).await, Ok(()));
    let text = cognate_server::metrics::render(&state).await;
    assert_eq!((gauge(&text, "redis").as_str(), gauge(&text, "local").as_str()), ("1", "0"), "{text}");
    assert_eq!(keys_of(&prefix).await.len(), 1);

    // Away: answered here, from the count this node kept of what it admitted (1 of 3).
    relay.cut();
    assert_eq!(state.rates.admit("tenant:t1", 3, 3600, now()).await, Ok(()));
    assert_eq!(state.rates.admit("tenant:t1", 3, 3600, now()).await, Ok(()));
    assert!(state.rates.admit("tenant:t1", 3, 3600, now()).await.is_err());
    let text = cognate_server::metrics::render(&state).await;
    assert_eq!((gauge(&text, "redis").as_str(), gauge(&text, "local").as_str()), ("0", "1"), "{text}");
    assert!(!text.contains("cognate_shared_limits_fallbacks_total 0\n"), "{text}");

    // Back: within a few seconds the node counts in Redis again (where the window still
    // holds 1 request: the fallback's counts stay on the node).
    relay.restore();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let _ = state.limiter.check(&["ip:198.51.100.9"]).await;
        let text = cognate_server::metrics::render(&state).await;
        if gauge(&text, "redis") == "1" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never went back to Redis: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state.rates.admit("tenant:t1", 3, 3600, now()).await, Ok(()));
    assert_eq!(state.rates.admit("tenant:t1", 3, 3600, now()).await, Ok(()));
    assert!(state.rates.admit("tenant:t1", 3, 3600, now()).await.is_err());
    flush(&prefix).await;
}
