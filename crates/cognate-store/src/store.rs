//! The store: one type, generic over the [`Backend`] that [`crate::connect`] chose, which
//! implements every repository trait (each in its aggregate's file) and [`Store`].

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::change::{Change, LocalHook};
use cognate_core::repo::{ChangeFeed, PoolUsage, Store, TenantWork};
use cognate_core::tenant::TenantId;
use sqlx::Pool;

use crate::backend::Backend;
use crate::backend_err;
use crate::db::Db;
use crate::tenant_work::TenantTx;

/// A database of backend `B`; `SqliteStore` and `PgStore` name its two forms.
pub(crate) struct SqlStore<B: Backend> {
    pub(crate) db: Db<B>,
    hooks: Hooks,
}

/// Told of a store's own changes as they commit ([`Store::on_local_change`]); shared with
/// the units of work it begins.
#[derive(Clone, Default)]
pub(crate) struct Hooks(Arc<RwLock<Vec<LocalHook>>>);

impl Hooks {
    /// Tells every hook of `change`, which has just committed.
    pub(crate) fn tell(&self, change: &Change) {
        for hook in self.0.read().unwrap_or_else(PoisonError::into_inner).iter() {
            hook(change);
        }
    }
}

impl<B: Backend> SqlStore<B> {
    pub(crate) fn new(pool: Pool<B>) -> Self {
        Self { db: Db::new(pool), hooks: Hooks::default() }
    }

    /// A change that was announced inside its transaction ([`crate::changes::announce_in`])
    /// and has now committed: this node's hooks hear it.
    pub(crate) fn told(&self, change: &Change) {
        self.hooks.tell(change);
    }

    /// A change that committed on its own: this node's hooks hear it at once, the other
    /// nodes through the database ([`crate::changes::announce`]).
    pub(crate) async fn committed(&self, change: Change) {
        self.hooks.tell(&change);
        crate::changes::announce(&self.db, &change).await;
    }
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    fn backend(&self) -> &'static str {
        <B as Backend>::NAME
    }

    async fn begin_tenant(&self, tenant: &TenantId) -> Result<Box<dyn TenantWork>, StoreError> {
        Ok(Box::new(TenantTx::<B>::begin(&self.db, tenant, self.hooks.clone()).await?))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        B::execute(sqlx::query::<B>("SELECT 1"), &self.db).await.map_err(backend_err)?;
        Ok(())
    }

    async fn listen(&self) -> Result<Option<Box<dyn ChangeFeed>>, StoreError> {
        B::listen(self.db.pool()).await
    }

    fn on_local_change(&self, hook: LocalHook) {
        self.hooks.0.write().unwrap_or_else(PoisonError::into_inner).push(hook);
    }

    fn pool_usage(&self) -> PoolUsage {
        PoolUsage {
            size: self.db.size(),
            idle: u32::try_from(self.db.idle()).unwrap_or(u32::MAX),
            max: self.db.max_connections(),
        }
    }
}
