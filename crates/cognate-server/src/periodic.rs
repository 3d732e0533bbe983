//! Background work that runs every so often and once more when the server stops (usage
//! and audit flushes).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Runs `work` every `interval` until `stop` turns true, then once more (so what was
/// gathered until the end is not lost).
pub fn spawn<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, mut work: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // The last run starts only after the stop was seen here: a stop that arrives
            // while a run is under way (that run may have taken its batch before the last
            // records came in) is seen by the next `changed()`, which answers at once, so
            // one more run follows it. (A dropped sender counts as a stop.)
            let stopping = tokio::select! {
                _ = ticker.tick() => false,
                _ = stop.changed() => true,
            } || *stop.borrow();
            work().await;
            if stopping {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_stop_during_a_run_is_followed_by_one_more_run() {
        let (stop, stop_rx) = watch::channel(false);
        let (started, finished) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let (s, f) = (started.clone(), finished.clone());
        let handle = spawn(Duration::from_millis(5), stop_rx, move || {
            let (s, f) = (s.clone(), f.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                f.fetch_add(1, Ordering::SeqCst);
            }
        });
        // Wait until a run is under way, then stop in the middle of it.
        while started.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let during = started.load(Ordering::SeqCst);
        stop.send(true).unwrap();
        handle.await.unwrap();
        assert!(started.load(Ordering::SeqCst) > during, "a run began after the stop");
        assert_eq!(started.load(Ordering::SeqCst), finished.load(Ordering::SeqCst));
    }
}
