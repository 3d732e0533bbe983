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
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => {}
            }
            work().await;
            if *stop.borrow() {
                return;
            }
        }
    })
}
