//! Users' authentication histories, written once as generic code over [`Backend`] (see
//! [`crate::pools`]).

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::auth_event::{AuthEvent, Feedback, parse_cursor};
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::repo::AuthEventRepo;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::{affected, json, pool_id, to_json, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn event_from<B: Backend>(row: &B::Row) -> Result<AuthEvent> {
    let feedback = match (B::opt_text_col(row, "feedback_value")?, B::opt_text_col(row, "feedback_provider")?) {
        (Some(value), Some(provider)) => {
            Some(Feedback { value, provider, at: B::opt_int_col(row, "feedback_at")?.unwrap_or_default() })
        }
        _ => None,
    };
    Ok(AuthEvent {
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        sub: B::text_col(row, "sub")?,
        id: B::text_col(row, "id")?,
        at: B::int_col(row, "at")?,
        kind: B::text_col(row, "event_type")?,
        response: B::text_col(row, "response")?,
        challenges: json(&B::text_col(row, "challenges")?, "auth event challenges")?,
        ip: B::opt_text_col(row, "ip")?,
        device: B::opt_text_col(row, "device")?,
        feedback,
    })
}

#[async_trait]
impl<B: Backend> AuthEventRepo for SqlStore<B> {
    async fn add_auth_event(&self, e: &AuthEvent) -> Result<()> {
        let challenges = to_json(&e.challenges)?;
        let q = sqlx::query::<B>(
            "INSERT INTO auth_events (pool_id, sub, id, at, event_type, response, challenges, ip, device) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .text(e.pool_id.as_str())
        .text(&e.sub)
        .text(&e.id)
        .int(e.at)
        .text(&e.kind)
        .text(&e.response)
        .text(&challenges)
        .opt_text(e.ip.as_deref())
        .opt_text(e.device.as_deref());
        B::execute(q, &self.db).await.map_err(|e| write_err(e, "user"))?;
        Ok(())
    }

    async fn list_auth_events(&self, pool: &PoolId, sub: &str, page: &PageRequest) -> Result<Vec<AuthEvent>> {
        let (at, id) = page.after.as_deref().and_then(parse_cursor).unwrap_or((i64::MAX, String::new()));
        let q = sqlx::query::<B>(
            "SELECT * FROM auth_events WHERE pool_id = $1 AND sub = $2 AND (at < $3 OR (at = $3 AND id < $4)) \
             ORDER BY at DESC, id DESC LIMIT $5",
        )
        .text(pool.as_str())
        .text(sub)
        .int(at)
        .text(if page.after.is_some() { &id } else { "\u{10FFFF}" })
        .int(page.fetch_limit());
        B::fetch_all(q, &self.db).await.map_err(backend_err)?.iter().map(event_from::<B>).collect()
    }

    async fn purge_auth_events(&self, before: i64) -> Result<u64> {
        let q = sqlx::query::<B>("DELETE FROM auth_events WHERE at < $1").int(before);
        B::execute(q, &self.db).await.map_err(backend_err)
    }

    async fn set_auth_event_feedback(&self, pool: &PoolId, sub: &str, id: &str, feedback: &Feedback) -> Result<()> {
        let q = sqlx::query::<B>(
            "UPDATE auth_events SET feedback_value = $1, feedback_provider = $2, feedback_at = $3 \
             WHERE pool_id = $4 AND sub = $5 AND id = $6",
        )
        .text(&feedback.value)
        .text(&feedback.provider)
        .int(feedback.at)
        .text(pool.as_str())
        .text(sub)
        .text(id);
        affected(B::execute(q, &self.db).await.map_err(backend_err)?, "auth event")
    }
}
