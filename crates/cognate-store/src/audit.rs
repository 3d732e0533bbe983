//! The audit trail, written once as generic code over [`Backend`] (see [`crate::pools`]).
//!
//! Chains are tenant-owned: every statement runs in the scope of its chain (a tenant id, or
//! `~platform`, which is why it has its own `chain_scope` beside `tenant_scope`) and filters
//! by chain itself, except the list of chains, which runs in the platform (read) scope.
//! Appends of one chain queue up on the backend's `AUDIT_LOCK`; on PostgreSQL the serving
//! role cannot update or delete events at all, and the retention purge goes through the
//! `cognate_purge_audit` function (see `0008_audit.sql`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::audit::{Anchor, AnchorCheck, AuditEvent, AuditQuery, GENESIS, NewEvent, PLATFORM_CHAIN};
use cognate_core::repo::AuditRepo;
use cognate_core::tenant::TenantId;
use sqlx::Transaction;

use crate::backend::{Backend, Bind as _, Query};
use crate::backend_err;
use crate::sql::write_err;
use crate::store::SqlStore;
use crate::tenancy::refused;

type Result<T> = std::result::Result<T, StoreError>;

fn audit_event_from<B: Backend>(row: &B::Row) -> Result<AuditEvent> {
    Ok(AuditEvent {
        event: NewEvent {
            chain: B::text_col(row, "chain")?,
            id: B::text_col(row, "id")?,
            at: B::int_col(row, "at")?,
            pool_id: B::opt_text_col(row, "pool_id")?,
            actor: B::text_col(row, "actor")?,
            action: B::text_col(row, "action")?,
            target: B::opt_text_col(row, "target")?,
            outcome: B::text_col(row, "outcome")?,
            reason: B::opt_text_col(row, "reason")?,
            source_ip: B::opt_text_col(row, "source_ip")?,
            user_agent: B::opt_text_col(row, "user_agent")?,
            request_id: B::opt_text_col(row, "request_id")?,
        },
        seq: B::int_col(row, "seq")?,
        prev_hash: B::text_col(row, "prev_hash")?,
        hash: B::text_col(row, "hash")?,
    })
}

fn anchor_from<B: Backend>(row: &B::Row) -> Result<Anchor> {
    Ok(Anchor {
        chain: B::text_col(row, "chain")?,
        seq: B::int_col(row, "seq")?,
        hash: B::text_col(row, "hash")?,
        purged_at: B::int_col(row, "purged_at")?,
        mac: B::opt_text_col(row, "mac")?,
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

impl<B: Backend> SqlStore<B> {
    /// Begins a transaction confined to one audit chain, as `tenant_scope` does for a
    /// tenant: on PostgreSQL the policies then show and accept only that chain's rows. It
    /// takes a plain chain name because the platform chain is no tenant id.
    async fn chain_scope(&self, chain: &str) -> Result<Transaction<'static, B>> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        B::execute_on(sqlx::query::<B>(B::SET_TENANT).text(chain), &mut tx).await.map_err(backend_err)?;
        Ok(tx)
    }

    /// Begins a transaction that writes the audit trail (`WRITE_BEGIN`: on SQLite it takes
    /// the write lock up front, so the reads of a chain's head cannot pin a snapshot that a
    /// concurrent appender makes stale).
    async fn audit_write(&self) -> Result<Transaction<'static, B>> {
        self.db.begin_with(B::WRITE_BEGIN).await.map_err(backend_err)
    }

    /// The purge without `cognate_purge_audit` (SQLite), with the same semantics: cuts the
    /// longest prefix of the chain older than `before`, short of its newest event, and
    /// records the anchor; a purge that cuts nothing writes nothing.
    async fn purge_audit_inline(&self, chain: &str, before: i64, now: i64, key: &[u8; 32]) -> Result<u64> {
        let mut tx = self.audit_write().await?;
        enter_chain::<B>(&mut tx, chain).await?;
        let Some((seq, hash)) = verified_cut::<B>(&mut tx, chain, before, key).await? else {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(0);
        };
        let q = sqlx::query::<B>("DELETE FROM audit_events WHERE chain = $1 AND seq <= $2").text(chain).int(seq);
        let deleted = B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        let q = sqlx::query::<B>(
            "INSERT INTO audit_anchors (chain, seq, hash, purged_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
             purged_at = excluded.purged_at",
        )
        .text(chain)
        .int(seq)
        .text(&hash)
        .int(now);
        B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        sign_anchor::<B>(&mut tx, chain, key).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(deleted)
    }
}

/// Switches the transaction on `conn` to `chain` (its scope lasts until the end of the
/// transaction or the next switch) and takes the chain's append lock until its end.
async fn enter_chain<B: Backend>(conn: &mut B::Connection, chain: &str) -> Result<()> {
    B::execute_on(sqlx::query::<B>(B::SET_TENANT).text(chain), conn).await.map_err(backend_err)?;
    B::execute_on(sqlx::query::<B>(B::AUDIT_LOCK).text(chain), conn).await.map_err(backend_err)?;
    Ok(())
}

/// The `(seq, hash)` the chain's next event links to: its newest event's, else (a chain
/// purged down to nothing) its anchor's, else the genesis.
async fn audit_head<B: Backend>(conn: &mut B::Connection, chain: &str) -> Result<(i64, String)> {
    let q =
        sqlx::query::<B>("SELECT seq, hash FROM audit_events WHERE chain = $1 ORDER BY seq DESC LIMIT 1").text(chain);
    let head = match B::fetch_optional_on(q, conn).await.map_err(backend_err)? {
        Some(row) => Some(row),
        None => {
            let q = sqlx::query::<B>("SELECT seq, hash FROM audit_anchors WHERE chain = $1").text(chain);
            B::fetch_optional_on(q, conn).await.map_err(backend_err)?
        }
    };
    match head {
        Some(row) => Ok((B::int_col(&row, "seq")?, B::text_col(&row, "hash")?)),
        None => Ok((0, GENESIS.to_owned())),
    }
}

/// Rows per `INSERT` of audit events: a batch goes in as few statements as these sizes
/// allow (75 events: 64 + 8 + 1 + 1 + 1), each size one prepared statement — not one round
/// trip per event.
const INSERT_ROWS: [usize; 3] = [64, 8, 1];

/// The `INSERT` of `rows` audit events.
fn insert_events_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_events (chain, seq, id, at, pool_id, actor, action, target, outcome, reason, \
         source_ip, user_agent, request_id, prev_hash, hash) VALUES ",
    );
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 1..=15 {
            let sep = if col == 15 { ")" } else { ", " };
            sql.push_str(&format!("${}{sep}", row * 15 + col));
        }
    }
    sql
}

/// Inserts `events` on `conn`, in order.
async fn insert_audit_events<B: Backend>(conn: &mut B::Connection, mut events: &[AuditEvent]) -> Result<()> {
    while !events.is_empty() {
        let rows = INSERT_ROWS.into_iter().find(|&n| n <= events.len()).unwrap_or(1);
        let (chunk, rest) = events.split_at(rows);
        let sql = insert_events_sql(rows);
        let mut q = sqlx::query::<B>(&sql);
        for e in chunk {
            let n = &e.event;
            q = q
                .text(&n.chain)
                .int(e.seq)
                .text(&n.id)
                .int(n.at)
                .opt_text(n.pool_id.as_deref())
                .text(&n.actor)
                .text(&n.action)
                .opt_text(n.target.as_deref())
                .text(&n.outcome)
                .opt_text(n.reason.as_deref())
                .opt_text(n.source_ip.as_deref())
                .opt_text(n.user_agent.as_deref())
                .opt_text(n.request_id.as_deref())
                .text(&e.prev_hash)
                .text(&e.hash);
        }
        B::execute_on(q, conn).await.map_err(|e| write_err(e, "audit event"))?;
        events = rest;
    }
    Ok(())
}

/// Signs the chain's anchor on `conn` (after a purge wrote it, in the same transaction).
async fn sign_anchor<B: Backend>(conn: &mut B::Connection, chain: &str, key: &[u8; 32]) -> Result<()> {
    let q = sqlx::query::<B>("SELECT * FROM audit_anchors WHERE chain = $1").text(chain);
    let row = B::fetch_optional_on(q, conn).await.map_err(backend_err)?;
    let Some(anchor) = row.as_ref().map(anchor_from::<B>).transpose()? else {
        return Err(StoreError::Corrupt(format!("purge of {chain} left no anchor")));
    };
    let mac = anchor.mac_for(key);
    let q = sqlx::query::<B>("UPDATE audit_anchors SET mac = $1 WHERE chain = $2").text(&mac).text(chain);
    B::execute_on(q, conn).await.map_err(backend_err)?;
    Ok(())
}

/// What a purge of `chain` before `before` would cut, checked on `conn` (whose transaction
/// holds the chain's append lock): `None` when nothing is old enough, else the last seq to
/// delete with that event's hash. Refuses (`Corrupt`) unless the chain's current anchor is
/// signed with `key` and the events to delete still form an unbroken chain from it: a purge
/// must never sign away tampering (events deleted or edited by someone with database
/// access) by anchoring past it.
async fn verified_cut<B: Backend>(
    conn: &mut B::Connection,
    chain: &str,
    before: i64,
    key: &[u8; 32],
) -> Result<Option<(i64, String)>> {
    let q = sqlx::query::<B>("SELECT * FROM audit_anchors WHERE chain = $1").text(chain);
    let row = B::fetch_optional_on(q, conn).await.map_err(backend_err)?;
    let anchor = row.as_ref().map(anchor_from::<B>).transpose()?;
    if let Some(a) = &anchor
        && a.check(key) != AnchorCheck::Valid
    {
        return Err(StoreError::Corrupt(format!(
            "audit chain {chain}: its anchor is not signed with this master key; not purging \
             (check it with `cognate audit verify`)"
        )));
    }
    let q = sqlx::query::<B>("SELECT max(seq) FROM audit_events WHERE chain = $1").text(chain);
    let head = B::opt_int_col(&B::fetch_one_on(q, conn).await.map_err(backend_err)?, 0)?;
    let Some(head) = head else { return Ok(None) };
    let q = sqlx::query::<B>("SELECT min(seq) FROM audit_events WHERE chain = $1 AND at >= $2").text(chain).int(before);
    let first_kept = B::opt_int_col(&B::fetch_one_on(q, conn).await.map_err(backend_err)?, 0)?;
    let cut = first_kept.unwrap_or(head).min(head) - 1;
    let from = anchor.as_ref().map_or(0, |a| a.seq);
    if cut <= from {
        return Ok(None);
    }
    let q =
        sqlx::query::<B>("SELECT * FROM audit_events WHERE chain = $1 AND seq <= $2 ORDER BY seq").text(chain).int(cut);
    let rows = B::fetch_all_on(q, conn).await.map_err(backend_err)?;
    let events = rows.iter().map(audit_event_from::<B>).collect::<Result<Vec<_>>>()?;
    let unbroken = cognate_core::audit::verify_chain(&events, anchor.as_ref())
        .map_err(|e| StoreError::Corrupt(format!("audit chain {chain} does not verify; not purging: {e}")))?;
    let last = events.last().filter(|e| e.seq == cut && unbroken == (cut - from) as u64);
    let Some(last) = last else {
        return Err(StoreError::Corrupt(format!(
            "audit chain {chain}: events before seq {cut} are missing; not purging"
        )));
    };
    Ok(Some((last.seq, last.hash.clone())))
}

#[async_trait]
impl<B: Backend> AuditRepo for SqlStore<B> {
    async fn append_audit(&self, events: &[NewEvent]) -> Result<()> {
        // Grouped by chain, keeping the given order within each, and walked in chain order:
        // every append takes the chain locks in that one order, so concurrent appenders wait
        // for each other but never deadlock.
        let mut chains: BTreeMap<&str, Vec<&NewEvent>> = BTreeMap::new();
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
            enter_chain::<B>(&mut tx, chain).await?;
            // Read under the lock: no other appender of this chain is between this read and
            // the commit.
            let (mut seq, mut hash) = audit_head::<B>(&mut tx, chain).await?;
            let mut placed = Vec::with_capacity(events.len());
            for e in events {
                let event = cognate_core::audit::chain((*e).clone(), seq, &hash);
                (seq, hash) = (event.seq, event.hash.clone());
                placed.push(event);
            }
            insert_audit_events::<B>(&mut tx, &placed).await?;
        }
        tx.commit().await.map_err(backend_err)
    }

    async fn audit_events(&self, chain: &str, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        // Only the filters given make it into the statement, so each combination gets a
        // plan that can use its index.
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
        let mut query: Query<'_, B> = sqlx::query::<B>(&sql);
        for arg in args {
            query = match arg {
                AuditArg::Text(text) => query.text(text),
                AuditArg::Int(n) => query.int(n),
            };
        }
        let mut tx = self.chain_scope(chain).await?;
        let rows = B::fetch_all_on(query, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(audit_event_from::<B>).collect()
    }

    async fn audit_chain_page(&self, chain: &str, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        let mut tx = self.chain_scope(chain).await?;
        let q = sqlx::query::<B>("SELECT * FROM audit_events WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .text(chain)
            .int(after_seq)
            .int(i64::from(limit));
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(audit_event_from::<B>).collect()
    }

    async fn audit_chains(&self) -> Result<Vec<String>> {
        // Cross-chain (the retention job, a platform listing). The distinct chains of the
        // events are found by skipping through the primary key, one probe per chain rather
        // than a scan of every event; a purge never deletes a chain's newest event, but the
        // anchors are listed too.
        let mut tx = self.platform_scope().await?;
        let q = sqlx::query::<B>(
            "WITH RECURSIVE chains (chain) AS ( \
                 SELECT min(chain) FROM audit_events \
                 UNION ALL \
                 SELECT (SELECT min(e.chain) FROM audit_events e WHERE e.chain > c.chain) \
                 FROM chains c WHERE c.chain IS NOT NULL \
             ) \
             SELECT chain FROM chains WHERE chain IS NOT NULL \
             UNION SELECT chain FROM audit_anchors \
             ORDER BY chain",
        );
        let rows = B::fetch_all_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        rows.iter().map(|row| B::text_col(row, 0)).collect()
    }

    async fn audit_anchor(&self, chain: &str) -> Result<Option<Anchor>> {
        let mut tx = self.chain_scope(chain).await?;
        let q = sqlx::query::<B>("SELECT * FROM audit_anchors WHERE chain = $1").text(chain);
        let row = B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        row.as_ref().map(anchor_from::<B>).transpose()
    }

    async fn sign_audit_anchor(&self, chain: &str, anchor_key: &[u8; 32]) -> Result<()> {
        if !valid_chain(chain) {
            return Err(refused("an anchor of a chain that is neither a tenant nor the platform"));
        }
        let mut tx = self.chain_scope(chain).await?;
        B::execute_on(sqlx::query::<B>(B::AUDIT_LOCK).text(chain), &mut tx).await.map_err(backend_err)?;
        let q = sqlx::query::<B>("SELECT chain FROM audit_anchors WHERE chain = $1").text(chain);
        if B::fetch_optional_on(q, &mut tx).await.map_err(backend_err)?.is_none() {
            return Err(StoreError::NotFound("anchor"));
        }
        sign_anchor::<B>(&mut tx, chain, anchor_key).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn purge_audit(&self, chain: &str, before: i64, now: i64, anchor_key: &[u8; 32]) -> Result<u64> {
        if !valid_chain(chain) {
            return Err(refused("purge of a chain that is neither a tenant nor the platform"));
        }
        let Some(purge) = B::PURGE_AUDIT else {
            return self.purge_audit_inline(chain, before, now, anchor_key).await;
        };
        // PostgreSQL: the serving role may not delete events; the function may. The cut is
        // checked first under the chain's lock (the function takes it again).
        let mut tx = self.chain_scope(chain).await?;
        B::execute_on(sqlx::query::<B>(B::AUDIT_LOCK).text(chain), &mut tx).await.map_err(backend_err)?;
        if verified_cut::<B>(&mut tx, chain, before, anchor_key).await?.is_none() {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(0);
        }
        let q = sqlx::query::<B>(purge).text(chain).int(before).int(now);
        let deleted = B::int_col(&B::fetch_one_on(q, &mut tx).await.map_err(backend_err)?, 0)?;
        if deleted > 0 {
            sign_anchor::<B>(&mut tx, chain, anchor_key).await?;
        }
        tx.commit().await.map_err(backend_err)?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }
}
