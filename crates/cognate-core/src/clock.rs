//! Time and randomness, injected so tests can control them.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now_millis(&self) -> i64;

    /// Whole seconds since the Unix epoch.
    fn now_secs(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to: for tests and simulations of expiry (grace
/// periods, lifetimes) without sleeping.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock reading `millis`.
    pub fn new(millis: i64) -> Self {
        Self(std::sync::atomic::AtomicI64::new(millis))
    }

    /// Moves the clock forward by `millis`.
    pub fn advance(&self, millis: i64) {
        self.0.fetch_add(millis, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn set(&self, millis: i64) {
        self.0.store(millis, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A cryptographically secure source of random bytes.
pub trait Rng: Send + Sync + 'static {
    fn fill(&self, dest: &mut [u8]);
}

/// `N` random bytes.
pub fn random_bytes<const N: usize>(rng: &dyn Rng) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill(&mut out);
    out
}

/// The operating system's CSPRNG (through aws-lc).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRng;

impl Rng for SystemRng {
    fn fill(&self, dest: &mut [u8]) {
        // aws-lc's RNG only fails if the OS entropy source is gone, in which case no
        // secret we could make would be safe; aborting is the only sound answer.
        #[allow(clippy::expect_used)]
        aws_lc_rs::rand::fill(dest).expect("the system random number generator failed");
    }
}

/// Random characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
pub fn random_chars(rng: &dyn Rng, alphabet: &[u8], len: usize) -> String {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buf);
        for &b in &buf {
            if (b as usize) < limit {
                out.push(alphabet[b as usize % alphabet.len()] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_chars_uses_only_the_alphabet() {
        let s = random_chars(&SystemRng, b"abc", 500);
        assert_eq!(s.len(), 500);
        assert!(s.bytes().all(|b| b"abc".contains(&b)));
        assert!(s.contains('a') && s.contains('b') && s.contains('c'));
    }
}
