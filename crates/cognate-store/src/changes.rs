//! Announcing changes to the other nodes of a database, and hearing theirs (see
//! `cognate_core::change`). Writers call [`announce_in`] inside the transaction that makes
//! a change, so the payload is sent only if it commits, or [`announce`] right after a
//! single-statement write. Both are no-ops on SQLite ([`Backend::NOTIFY`] is `None`).

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::change::{CHANNEL, Change};
use cognate_core::repo::ChangeFeed;
use sqlx::postgres::PgListener;
use sqlx::{Pool, Postgres};

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;

/// Announces `change` from inside the caller's transaction: heard on commit, never on a
/// rollback. A failure fails the transaction (PostgreSQL refuses a notification only when
/// its queue is full, and then the change should not pass unannounced).
pub(crate) async fn announce_in<B: Backend>(conn: &mut B::Connection, change: &Change) -> Result<(), StoreError> {
    let Some(sql) = B::NOTIFY else {
        return Ok(());
    };
    let payload = change.to_string();
    B::execute_on(sqlx::query::<B>(sql).text(&payload), conn).await.map_err(backend_err)?;
    Ok(())
}

/// Announces `change` after a write that committed on its own. The write stands whatever
/// happens here, so a failure is only logged: other nodes then see the change at their next
/// poll, as they would without notifications.
pub(crate) async fn announce<B: Backend>(db: &Db<B>, change: &Change) {
    let Some(sql) = B::NOTIFY else {
        return;
    };
    let payload = change.to_string();
    if let Err(e) = B::execute(sqlx::query::<B>(sql).text(&payload), db).await {
        tracing::warn!(error = %e, kind = change.kind(), "could not announce a change; other nodes will poll");
    }
}

/// A LISTEN on the `cognate` channel, over a connection taken from the pool and kept (the
/// pool has one fewer for requests while it lives).
struct PgFeed {
    listener: PgListener,
}

pub(crate) async fn listen(pool: &Pool<Postgres>) -> Result<Option<Box<dyn ChangeFeed>>, StoreError> {
    let mut listener = PgListener::connect_with(pool).await.map_err(backend_err)?;
    // A lost connection must surface as an error (changes may have been missed while it was
    // down, and the caller refreshes everything); sqlx would otherwise reconnect quietly.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await.map_err(backend_err)?;
    Ok(Some(Box::new(PgFeed { listener })))
}

#[async_trait]
impl ChangeFeed for PgFeed {
    async fn next(&mut self) -> Result<Option<Change>, StoreError> {
        match self.listener.try_recv().await.map_err(backend_err)? {
            Some(n) => Ok(Change::parse(n.payload())),
            None => Err(StoreError::Backend("the change listener lost its connection".into())),
        }
    }
}
