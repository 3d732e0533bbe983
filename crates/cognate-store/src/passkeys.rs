//! Users' passkeys and pending passkey registrations, written once as generic code over
//! [`Backend`]. Single use and counters are single statements: a registration is taken
//! with `DELETE … RETURNING`, a use recorded with an update conditional on the counter.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::passkey::{PasskeyCredential, PendingRegistration};
use cognate_core::repo::PasskeyRepo;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::{pool_id, write_err};
use crate::store::SqlStore;

type Result<T> = std::result::Result<T, StoreError>;

fn passkey_from<B: Backend>(row: &B::Row) -> Result<PasskeyCredential> {
    let transports = B::text_col(row, "transports")?;
    Ok(PasskeyCredential {
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        sub: B::text_col(row, "sub")?,
        credential_id: B::text_col(row, "credential_id")?,
        credential: B::text_col(row, "credential")?,
        friendly_name: B::text_col(row, "friendly_name")?,
        relying_party_id: B::text_col(row, "relying_party_id")?,
        attachment: B::opt_text_col(row, "attachment")?,
        transports: serde_json::from_str(&transports).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        counter: B::int_col(row, "counter")?,
        created_at: B::int_col(row, "created_at")?,
        last_used_at: B::opt_int_col(row, "last_used_at")?,
    })
}

#[async_trait]
impl<B: Backend> PasskeyRepo for SqlStore<B> {
    async fn put_registration(&self, p: &PendingRegistration) -> Result<()> {
        let q = sqlx::query::<B>(
            "INSERT INTO passkey_registrations (pool_id, sub, client_id, state, expires_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pool_id, sub) DO UPDATE SET \
             client_id = excluded.client_id, state = excluded.state, expires_at = excluded.expires_at",
        )
        .text(p.pool_id.as_str())
        .text(&p.sub)
        .text(&p.client_id)
        .text(&p.state)
        .int(p.expires_at);
        B::execute(q, &self.db).await.map_err(|e| write_err(e, "user"))?;
        Ok(())
    }

    async fn take_registration(&self, pool: &PoolId, sub: &str) -> Result<Option<PendingRegistration>> {
        let q = sqlx::query::<B>("DELETE FROM passkey_registrations WHERE pool_id = $1 AND sub = $2 RETURNING *")
            .text(pool.as_str())
            .text(sub);
        let Some(row) = B::fetch_optional(q, &self.db).await.map_err(backend_err)? else { return Ok(None) };
        Ok(Some(PendingRegistration {
            pool_id: pool_id(&B::text_col(&row, "pool_id")?)?,
            sub: B::text_col(&row, "sub")?,
            client_id: B::text_col(&row, "client_id")?,
            state: B::text_col(&row, "state")?,
            expires_at: B::int_col(&row, "expires_at")?,
        }))
    }

    async fn add_passkey(&self, c: &PasskeyCredential) -> Result<()> {
        let transports = serde_json::to_string(&c.transports).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let q = sqlx::query::<B>(
            "INSERT INTO passkeys (pool_id, credential_id, sub, credential, friendly_name, relying_party_id, \
             attachment, transports, counter, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .text(c.pool_id.as_str())
        .text(&c.credential_id)
        .text(&c.sub)
        .text(&c.credential)
        .text(&c.friendly_name)
        .text(&c.relying_party_id)
        .opt_text(c.attachment.as_deref())
        .text(&transports)
        .int(c.counter)
        .int(c.created_at)
        .opt_int(c.last_used_at);
        B::execute(q, &self.db).await.map_err(|e| match write_err(e, "passkey") {
            StoreError::NotFound(_) => StoreError::NotFound("user"),
            other => other,
        })?;
        Ok(())
    }

    async fn list_passkeys(&self, pool: &PoolId, sub: &str) -> Result<Vec<PasskeyCredential>> {
        let q = sqlx::query::<B>(
            "SELECT * FROM passkeys WHERE pool_id = $1 AND sub = $2 ORDER BY created_at, credential_id",
        )
        .text(pool.as_str())
        .text(sub);
        let rows = B::fetch_all(q, &self.db).await.map_err(backend_err)?;
        rows.iter().map(passkey_from::<B>).collect()
    }

    async fn delete_passkey(&self, pool: &PoolId, sub: &str, credential_id: &str) -> Result<bool> {
        let q = sqlx::query::<B>("DELETE FROM passkeys WHERE pool_id = $1 AND sub = $2 AND credential_id = $3")
            .text(pool.as_str())
            .text(sub)
            .text(credential_id);
        Ok(B::execute(q, &self.db).await.map_err(backend_err)? == 1)
    }

    async fn use_passkey(
        &self,
        pool: &PoolId,
        sub: &str,
        credential_id: &str,
        counter: i64,
        credential: &str,
        at: i64,
    ) -> Result<bool> {
        let q = sqlx::query::<B>(
            "UPDATE passkeys SET counter = $1, credential = $2, last_used_at = $3 \
             WHERE pool_id = $4 AND sub = $5 AND credential_id = $6 AND (counter < $1 OR ($1 = 0 AND counter = 0))",
        )
        .int(counter)
        .text(credential)
        .int(at)
        .text(pool.as_str())
        .text(sub)
        .text(credential_id);
        Ok(B::execute(q, &self.db).await.map_err(backend_err)? == 1)
    }
}
