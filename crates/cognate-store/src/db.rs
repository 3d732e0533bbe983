//! The database as repository code sees it: sqlx's pool, plus a few of its connections kept
//! aside between single statements.
//!
//! sqlx checks every connection it gets back (a `ping`: on PostgreSQL a round trip to the
//! server, on SQLite a hand-off to the connection's thread), so each statement run on the
//! pool costs two exchanges with the database. Most requests run one statement outside a
//! transaction (a refresh reads its session, a token request its client), so half of what
//! the database did for them was answering checks. A statement run through [`Db`] borrows a
//! connection from a small stack of kept ones instead, and a connection that ran its
//! statement to the end goes back on the stack unchecked: finishing is itself the proof
//! that the connection works and has nothing left to read.
//!
//! What sqlx's check was for still holds:
//! - a statement that failed, or whose future was dropped part-way (a client that went
//!   away), gives its connection back to sqlx, which checks it (and flushes whatever the
//!   server still had to say) or closes it;
//! - a kept connection unused for [`CHECK_IDLE_AFTER`] is not used unchecked: it goes back
//!   to sqlx (at its next turn or by a sweeping task, whichever comes first), which checks
//!   it before its next use (a database restart leaves no dead connection to fail a
//!   request, except one that died within that second);
//! - a connection goes back to sqlx at least every [`KEEP_AT_MOST`], so sqlx's lifetime
//!   limits and reconnection apply to kept ones too;
//! - at most a quarter of the pool is kept; a transaction that would find sqlx's pool
//!   empty and at its size limit has a kept connection given back first (and one that
//!   raced that waits for the sweep, a second at most); kept connections count as idle in
//!   [`Db::idle`], so the pool's figures stay true.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Pool, Transaction};

use crate::backend::Backend;

/// How long a connection may sit unused and still be used without a check first.
pub(crate) const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// How long a connection stays out of sqlx's pool, kept or in use, before it goes back.
pub(crate) const KEEP_AT_MOST: Duration = Duration::from_secs(30);

/// sqlx's pool of backend `B` and the connections kept aside from it.
pub(crate) struct Db<B: Backend> {
    pool: Pool<B>,
    kept: Arc<Mutex<Vec<Kept<B>>>>,
    keep_max: usize,
}

/// A connection kept aside: when it left sqlx's pool, and when it last finished a statement.
struct Kept<B: Backend> {
    conn: PoolConnection<B>,
    out_since: Instant,
    used_at: Instant,
}

impl<B: Backend> Db<B> {
    /// Keeps connections of `pool`; call within the Tokio runtime, where a task gives
    /// those unused for [`CHECK_IDLE_AFTER`] back to sqlx (so a quiet node holds none, and a
    /// transaction waiting on a pool drained by the stack waits a second at most).
    pub(crate) fn new(pool: Pool<B>) -> Self {
        let keep_max = (pool.options().get_max_connections() / 4).max(1) as usize;
        let kept = Arc::new(Mutex::new(Vec::with_capacity(keep_max)));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&kept)));
        }
        Self { pool, kept, keep_max }
    }

    /// sqlx's pool itself (to listen for changes, or to close).
    pub(crate) fn pool(&self) -> &Pool<B> {
        &self.pool
    }

    pub(crate) async fn begin(&self) -> Result<Transaction<'static, B>, sqlx::Error> {
        self.release_if_dry();
        self.pool.begin().await
    }

    pub(crate) async fn begin_with(&self, statement: &'static str) -> Result<Transaction<'static, B>, sqlx::Error> {
        self.release_if_dry();
        self.pool.begin_with(statement).await
    }

    pub(crate) async fn acquire(&self) -> Result<PoolConnection<B>, sqlx::Error> {
        self.release_if_dry();
        self.pool.acquire().await
    }

    /// Gives a kept connection back to sqlx when its pool has none idle and may open no
    /// more, so a caller about to wait there gets it instead of waiting on the stack.
    fn release_if_dry(&self) {
        if self.pool.num_idle() == 0 && self.pool.size() >= self.max_connections() {
            let released = self.lock().pop();
            drop(released);
        }
    }

    /// Connections open, in use or not.
    pub(crate) fn size(&self) -> u32 {
        self.pool.size()
    }

    /// Connections open and not in use: idle in sqlx's pool or kept here.
    pub(crate) fn idle(&self) -> usize {
        self.pool.num_idle() + self.lock().len()
    }

    pub(crate) fn max_connections(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    /// A connection for one statement: the most recently used kept one if it was used
    /// within [`CHECK_IDLE_AFTER`], otherwise one from sqlx's pool (which checks it if it
    /// sat idle). Call [`Loan::finished`] once the statement has run to the end.
    pub(crate) async fn lend(&self) -> Result<Loan<'_, B>, sqlx::Error> {
        let now = Instant::now();
        let recent = {
            let mut kept = self.lock();
            let recent = kept.pop();
            // The rest of the stack was used before `recent`: if `recent` is stale, so are
            // they, and all go back to sqlx (outside the lock: dropping one starts sqlx's check).
            match recent {
                Some(k) if now.duration_since(k.used_at) < CHECK_IDLE_AFTER => Ok(k),
                stale => Err((stale, std::mem::take(&mut *kept))),
            }
        };
        let (conn, out_since) = match recent {
            Ok(k) => (k.conn, k.out_since),
            Err(stale) => {
                drop(stale);
                (self.pool.acquire().await?, now)
            }
        };
        Ok(Loan { db: self, conn: Some(conn), out_since, finished: false })
    }

    /// Keeps `conn`, which just finished a statement, unless the stack is full or the
    /// connection has been out of sqlx's pool long enough; otherwise it goes back to sqlx.
    fn keep(&self, conn: PoolConnection<B>, out_since: Instant) {
        let now = Instant::now();
        if now.duration_since(out_since) >= KEEP_AT_MOST {
            return;
        }
        let mut kept = self.lock();
        if kept.len() < self.keep_max {
            kept.push(Kept { conn, out_since, used_at: now });
            return;
        }
        drop(kept);
        drop(conn);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept<B>>> {
        lock(&self.kept)
    }
}

fn lock<B: Backend>(kept: &Mutex<Vec<Kept<B>>>) -> std::sync::MutexGuard<'_, Vec<Kept<B>>> {
    kept.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every [`CHECK_IDLE_AFTER`], gives the kept connections unused that long back to sqlx,
/// until the store is dropped.
async fn sweep<B: Backend>(kept: Weak<Mutex<Vec<Kept<B>>>>) {
    let mut tick = tokio::time::interval(CHECK_IDLE_AFTER);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(kept) = kept.upgrade() else { return };
        let now = Instant::now();
        let stale: Vec<Kept<B>> = {
            let mut kept = lock(&kept);
            let (stale, fresh) =
                std::mem::take(&mut *kept).into_iter().partition(|k| now.duration_since(k.used_at) >= CHECK_IDLE_AFTER);
            *kept = fresh;
            stale
        };
        // Back to sqlx outside the lock.
        drop(stale);
    }
}

/// A connection lent for one statement; see [`Db::lend`].
pub(crate) struct Loan<'a, B: Backend> {
    db: &'a Db<B>,
    conn: Option<PoolConnection<B>>,
    out_since: Instant,
    finished: bool,
}

impl<B: Backend> Loan<'_, B> {
    /// The statement ran to the end: the connection may be kept unchecked.
    pub(crate) fn finished(&mut self) {
        self.finished = true;
    }
}

impl<B: Backend> Deref for Loan<'_, B> {
    type Target = B::Connection;

    fn deref(&self) -> &B::Connection {
        // `conn` is `Some` from `lend` until `drop`.
        self.conn.as_deref().unwrap_or_else(|| unreachable!("a loan holds its connection until dropped"))
    }
}

impl<B: Backend> DerefMut for Loan<'_, B> {
    fn deref_mut(&mut self) -> &mut B::Connection {
        self.conn.as_deref_mut().unwrap_or_else(|| unreachable!("a loan holds its connection until dropped"))
    }
}

impl<B: Backend> Drop for Loan<'_, B> {
    fn drop(&mut self) {
        // Unless finished, the connection is dropped here: back to sqlx, which checks it or
        // closes it.
        if let Some(conn) = self.conn.take()
            && self.finished
        {
            self.db.keep(conn, self.out_since);
        }
    }
}
