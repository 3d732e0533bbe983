//! The audit trail repository, written once for both backends like the rest of
//! [`crate::repos`]. `audit_repos!` is expanded inside `repos!` after `tenancy_repos!`, in
//! the same module, so it uses their helpers (`col`, `refused`, …).
//!
//! Chains are tenant-owned: every statement runs in the scope of its chain (a tenant id,
//! or `~platform`, which is why it has its own `chain_scope` beside `tenant_scope`) and
//! filters by chain itself, except the list of chains, which runs in the platform (read)
//! scope. Appends of one chain queue up on the backend's `AUDIT_LOCK`; on PostgreSQL the
//! serving role cannot update or delete events at all, and the retention purge goes through
//! the `cognate_purge_audit` function (see `0008_audit.sql`).

macro_rules! audit_repos {
    ($store:ident, $row:ty) => {
        use cognate_core::audit::{Anchor, AuditEvent, AuditQuery, GENESIS, NewEvent, PLATFORM_CHAIN};

        fn audit_event_from(row: &$row) -> Result<AuditEvent> {
            Ok(AuditEvent {
                event: NewEvent {
                    chain: col(row, "chain")?,
                    id: col(row, "id")?,
                    at: col(row, "at")?,
                    pool_id: col(row, "pool_id")?,
                    actor: col(row, "actor")?,
                    action: col(row, "action")?,
                    target: col(row, "target")?,
                    outcome: col(row, "outcome")?,
                    reason: col(row, "reason")?,
                    source_ip: col(row, "source_ip")?,
                    user_agent: col(row, "user_agent")?,
                    request_id: col(row, "request_id")?,
                },
                seq: col(row, "seq")?,
                prev_hash: col(row, "prev_hash")?,
                hash: col(row, "hash")?,
            })
        }

        fn anchor_from(row: &$row) -> Result<Anchor> {
            Ok(Anchor {
                chain: col(row, "chain")?,
                seq: col(row, "seq")?,
                hash: col(row, "hash")?,
                purged_at: col(row, "purged_at")?,
                mac: col(row, "mac")?,
            })
        }

        /// A chain is a tenant id or the platform chain; nothing else is ever written.
        fn valid_chain(chain: &str) -> bool {
            chain == PLATFORM_CHAIN || TenantId::parse(chain).is_some()
        }

        /// A parameter of the filtered event query.
        enum AuditArg<'a> {
            Text(&'a str),
            Int(i64),
        }

        /// Adds `AND {condition} $n` to `sql`, `$n` being `arg`'s place in `args`.
        fn audit_filter<'a>(sql: &mut String, args: &mut Vec<AuditArg<'a>>, condition: &str, arg: AuditArg<'a>) {
            args.push(arg);
            sql.push_str(&format!(" AND {condition} ${}", args.len()));
        }

        impl $store {
            /// Begins a transaction confined to one audit chain, as `tenant_scope` does for
            /// a tenant: on PostgreSQL the policies then show and accept only that chain's
            /// rows. It takes a plain chain name because the platform chain is no tenant id.
            async fn chain_scope(&self, chain: &str) -> Result<sqlx::Transaction<'static, Db>> {
                let mut tx = self.pool.begin().await.map_err(backend_err)?;
                sqlx::query(<Db as $crate::backend::Backend>::SET_TENANT)
                    .bind(chain)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                Ok(tx)
            }

            /// Begins a transaction that writes the audit trail (`WRITE_BEGIN`: on SQLite it
            /// takes the write lock up front, so the reads of a chain's head cannot pin a
            /// snapshot that a concurrent appender makes stale).
            async fn audit_write(&self) -> Result<sqlx::Transaction<'static, Db>> {
                self.pool.begin_with(<Db as $crate::backend::Backend>::WRITE_BEGIN).await.map_err(backend_err)
            }

            /// Switches `tx` to `chain` (its scope lasts until the end of the transaction or
            /// the next switch) and takes the chain's append lock until the end of `tx`.
            async fn enter_chain(tx: &mut sqlx::Transaction<'_, Db>, chain: &str) -> Result<()> {
                sqlx::query(<Db as $crate::backend::Backend>::SET_TENANT)
                    .bind(chain)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                sqlx::query(<Db as $crate::backend::Backend>::AUDIT_LOCK)
                    .bind(chain)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }

            /// The `(seq, hash)` the chain's next event links to: its newest event's, else
            /// (a chain purged down to nothing) its anchor's, else the genesis.
            async fn audit_head(tx: &mut sqlx::Transaction<'_, Db>, chain: &str) -> Result<(i64, String)> {
                let newest =
                    sqlx::query("SELECT seq, hash FROM audit_events WHERE chain = $1 ORDER BY seq DESC LIMIT 1")
                        .bind(chain)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(backend_err)?;
                let head = match newest {
                    Some(row) => Some(row),
                    None => sqlx::query("SELECT seq, hash FROM audit_anchors WHERE chain = $1")
                        .bind(chain)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(backend_err)?,
                };
                match head {
                    Some(row) => Ok((col(&row, "seq")?, col(&row, "hash")?)),
                    None => Ok((0, GENESIS.to_owned())),
                }
            }

            async fn insert_audit_event(tx: &mut sqlx::Transaction<'_, Db>, e: &AuditEvent) -> Result<()> {
                let n = &e.event;
                sqlx::query(
                    "INSERT INTO audit_events (chain, seq, id, at, pool_id, actor, action, target, outcome, reason, \
                     source_ip, user_agent, request_id, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(&n.chain)
                .bind(e.seq)
                .bind(&n.id)
                .bind(n.at)
                .bind(&n.pool_id)
                .bind(&n.actor)
                .bind(&n.action)
                .bind(&n.target)
                .bind(&n.outcome)
                .bind(&n.reason)
                .bind(&n.source_ip)
                .bind(&n.user_agent)
                .bind(&n.request_id)
                .bind(&e.prev_hash)
                .bind(&e.hash)
                .execute(&mut **tx)
                .await
                .map_err(|e| write_err(e, "audit event"))?;
                Ok(())
            }

            /// The purge without `cognate_purge_audit` (SQLite), with the same semantics:
            /// cuts the longest prefix of the chain older than `before`, short of its newest
            /// event, and records the anchor; a purge that cuts nothing writes nothing.
            /// Signs the chain's anchor inside `tx` (after a purge wrote it).
            async fn sign_anchor(tx: &mut sqlx::Transaction<'_, Db>, chain: &str, key: &[u8; 32]) -> Result<()> {
                let row = sqlx::query("SELECT * FROM audit_anchors WHERE chain = $1")
                    .bind(chain)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                let Some(anchor) = row.as_ref().map(anchor_from).transpose()? else {
                    return Err(StoreError::Corrupt(format!("purge of {chain} left no anchor")));
                };
                sqlx::query("UPDATE audit_anchors SET mac = $1 WHERE chain = $2")
                    .bind(anchor.mac_for(key))
                    .bind(chain)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }

            /// What a purge of `chain` before `before` would cut, checked inside `tx` (which
            /// holds the chain's append lock): `None` when nothing is old enough, else the last
            /// seq to delete with that event's hash. Refuses (`Corrupt`) unless the chain's
            /// current anchor is signed with `key` and the events to delete still form an
            /// unbroken chain from it: a purge must never sign away tampering (events deleted
            /// or edited by someone with database access) by anchoring past it.
            async fn verified_cut(
                tx: &mut sqlx::Transaction<'_, Db>,
                chain: &str,
                before: i64,
                key: &[u8; 32],
            ) -> Result<Option<(i64, String)>> {
                let anchor = sqlx::query("SELECT * FROM audit_anchors WHERE chain = $1")
                    .bind(chain)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(backend_err)?
                    .as_ref()
                    .map(anchor_from)
                    .transpose()?;
                if let Some(a) = &anchor
                    && a.check(key) != cognate_core::audit::AnchorCheck::Valid
                {
                    return Err(StoreError::Corrupt(format!(
                        "audit chain {chain}: its anchor is not signed with this master key; not purging \
                         (check it with `cognate audit verify`)"
                    )));
                }
                let head: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM audit_events WHERE chain = $1")
                    .bind(chain)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                let Some(head) = head else { return Ok(None) };
                let first_kept: Option<i64> =
                    sqlx::query_scalar("SELECT min(seq) FROM audit_events WHERE chain = $1 AND at >= $2")
                        .bind(chain)
                        .bind(before)
                        .fetch_one(&mut **tx)
                        .await
                        .map_err(backend_err)?;
                let cut = first_kept.unwrap_or(head).min(head) - 1;
                let from = anchor.as_ref().map_or(0, |a| a.seq);
                if cut <= from {
                    return Ok(None);
                }
                let rows = sqlx::query("SELECT * FROM audit_events WHERE chain = $1 AND seq <= $2 ORDER BY seq")
                    .bind(chain)
                    .bind(cut)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(backend_err)?;
                let events = rows.iter().map(audit_event_from).collect::<Result<Vec<_>>>()?;
                let unbroken = cognate_core::audit::verify_chain(&events, anchor.as_ref()).map_err(|e| {
                    StoreError::Corrupt(format!("audit chain {chain} does not verify; not purging: {e}"))
                })?;
                let last = events.last().filter(|e| e.seq == cut && unbroken == (cut - from) as u64);
                let Some(last) = last else {
                    return Err(StoreError::Corrupt(format!(
                        "audit chain {chain}: events before seq {cut} are missing; not purging"
                    )));
                };
                Ok(Some((last.seq, last.hash.clone())))
            }

            /// The purge without `cognate_purge_audit` (SQLite), with the same semantics:
            /// cuts the longest prefix of the chain older than `before`, short of its newest
            /// event, and records the anchor; a purge that cuts nothing writes nothing.
            async fn purge_audit_inline(&self, chain: &str, before: i64, now: i64, key: &[u8; 32]) -> Result<u64> {
                let mut tx = self.audit_write().await?;
                Self::enter_chain(&mut tx, chain).await?;
                let Some((seq, hash)) = Self::verified_cut(&mut tx, chain, before, key).await? else {
                    tx.rollback().await.map_err(backend_err)?;
                    return Ok(0);
                };
                let deleted = sqlx::query("DELETE FROM audit_events WHERE chain = $1 AND seq <= $2")
                    .bind(chain)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?
                    .rows_affected();
                sqlx::query(
                    "INSERT INTO audit_anchors (chain, seq, hash, purged_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
                     purged_at = excluded.purged_at",
                )
                .bind(chain)
                .bind(seq)
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
                Self::sign_anchor(&mut tx, chain, key).await?;
                tx.commit().await.map_err(backend_err)?;
                Ok(deleted)
            }
        }

        #[async_trait]
        impl AuditRepo for $store {
            async fn append_audit(&self, events: &[NewEvent]) -> Result<()> {
                // Grouped by chain, keeping the given order within each, and walked in chain
                // order: every append takes the chain locks in that one order, so concurrent
                // appenders wait for each other but never deadlock.
                let mut chains: std::collections::BTreeMap<&str, Vec<&NewEvent>> = Default::default();
                for e in events {
                    if !valid_chain(&e.chain) {
                        return Err(refused("audit event of a chain that is neither a tenant nor the platform"));
                    }
                    chains.entry(e.chain.as_str()).or_default().push(e);
                }
                if chains.is_empty() {
                    return Ok(());
                }
                let mut tx = self.audit_write().await?;
                for (chain, events) in &chains {
                    Self::enter_chain(&mut tx, chain).await?;
                    // Read under the lock: no other appender of this chain is between this
                    // read and the commit.
                    let (mut seq, mut hash) = Self::audit_head(&mut tx, chain).await?;
                    for e in events {
                        let placed = cognate_core::audit::chain((*e).clone(), seq, &hash);
                        Self::insert_audit_event(&mut tx, &placed).await?;
                        (seq, hash) = (placed.seq, placed.hash);
                    }
                }
                tx.commit().await.map_err(backend_err)
            }

            async fn audit_events(&self, chain: &str, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
                // Only the filters given make it into the statement, so each combination
                // gets a plan that can use its index.
                let mut sql = String::from("SELECT * FROM audit_events WHERE chain = $1");
                let mut args = vec![AuditArg::Text(chain)];
                if let Some(action) = &q.action {
                    audit_filter(&mut sql, &mut args, "action =", AuditArg::Text(action));
                }
                if let Some(actor) = &q.actor {
                    audit_filter(&mut sql, &mut args, "actor =", AuditArg::Text(actor));
                }
                if let Some(outcome) = &q.outcome {
                    audit_filter(&mut sql, &mut args, "outcome =", AuditArg::Text(outcome));
                }
                if let Some(from) = q.from {
                    audit_filter(&mut sql, &mut args, "at >=", AuditArg::Int(from));
                }
                if let Some(to) = q.to {
                    audit_filter(&mut sql, &mut args, "at <", AuditArg::Int(to));
                }
                if let Some(before_seq) = q.before_seq {
                    audit_filter(&mut sql, &mut args, "seq <", AuditArg::Int(before_seq));
                }
                args.push(AuditArg::Int(i64::from(q.limit)));
                sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", args.len()));
                let mut query = sqlx::query(&sql);
                for arg in args {
                    query = match arg {
                        AuditArg::Text(text) => query.bind(text),
                        AuditArg::Int(n) => query.bind(n),
                    };
                }
                let mut tx = self.chain_scope(chain).await?;
                let rows = query.fetch_all(&mut *tx).await.map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                rows.iter().map(audit_event_from).collect()
            }

            async fn audit_chain_page(&self, chain: &str, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>> {
                let mut tx = self.chain_scope(chain).await?;
                let rows =
                    sqlx::query("SELECT * FROM audit_events WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                        .bind(chain)
                        .bind(after_seq)
                        .bind(i64::from(limit))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                rows.iter().map(audit_event_from).collect()
            }

            async fn audit_chains(&self) -> Result<Vec<String>> {
                // Cross-chain (the retention job, a platform listing). The distinct chains of
                // the events are found by skipping through the primary key, one probe per
                // chain rather than a scan of every event; a purge never deletes a chain's
                // newest event, but the anchors are listed too.
                let mut tx = self.platform_scope().await?;
                let chains: Vec<String> = sqlx::query_scalar(
                    "WITH RECURSIVE chains (chain) AS ( \
                         SELECT min(chain) FROM audit_events \
                         UNION ALL \
                         SELECT (SELECT min(e.chain) FROM audit_events e WHERE e.chain > c.chain) \
                         FROM chains c WHERE c.chain IS NOT NULL \
                     ) \
                     SELECT chain FROM chains WHERE chain IS NOT NULL \
                     UNION SELECT chain FROM audit_anchors \
                     ORDER BY chain",
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                Ok(chains)
            }

            async fn audit_anchor(&self, chain: &str) -> Result<Option<Anchor>> {
                let mut tx = self.chain_scope(chain).await?;
                let row = sqlx::query("SELECT * FROM audit_anchors WHERE chain = $1")
                    .bind(chain)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                tx.commit().await.map_err(backend_err)?;
                row.as_ref().map(anchor_from).transpose()
            }

            async fn sign_audit_anchor(&self, chain: &str, anchor_key: &[u8; 32]) -> Result<()> {
                if !valid_chain(chain) {
                    return Err(refused("an anchor of a chain that is neither a tenant nor the platform"));
                }
                let mut tx = self.chain_scope(chain).await?;
                sqlx::query(<Db as $crate::backend::Backend>::AUDIT_LOCK)
                    .bind(chain)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                let exists: Option<String> = sqlx::query_scalar("SELECT chain FROM audit_anchors WHERE chain = $1")
                    .bind(chain)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                if exists.is_none() {
                    return Err(StoreError::NotFound("anchor"));
                }
                Self::sign_anchor(&mut tx, chain, anchor_key).await?;
                tx.commit().await.map_err(backend_err)
            }

            async fn purge_audit(&self, chain: &str, before: i64, now: i64, anchor_key: &[u8; 32]) -> Result<u64> {
                if !valid_chain(chain) {
                    return Err(refused("purge of a chain that is neither a tenant nor the platform"));
                }
                let Some(purge) = <Db as $crate::backend::Backend>::PURGE_AUDIT else {
                    return self.purge_audit_inline(chain, before, now, anchor_key).await;
                };
                // PostgreSQL: the serving role may not delete events; the function may. The
                // cut is checked first under the chain's lock (the function takes it again).
                let mut tx = self.chain_scope(chain).await?;
                sqlx::query(<Db as $crate::backend::Backend>::AUDIT_LOCK)
                    .bind(chain)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                if Self::verified_cut(&mut tx, chain, before, anchor_key).await?.is_none() {
                    tx.rollback().await.map_err(backend_err)?;
                    return Ok(0);
                }
                let deleted: i64 = sqlx::query_scalar(purge)
                    .bind(chain)
                    .bind(before)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                if deleted > 0 {
                    Self::sign_anchor(&mut tx, chain, anchor_key).await?;
                }
                tx.commit().await.map_err(backend_err)?;
                Ok(u64::try_from(deleted).unwrap_or(0))
            }
        }
    };
}
pub(crate) use audit_repos;
