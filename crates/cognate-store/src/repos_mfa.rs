//! The MFA repository, written once for both backends like the rest of [`crate::repos`].
//! `mfa_repos!` is expanded inside `repos!`, in the same module, so it uses that macro's
//! imports and helpers (`col`, `Result`, `Db`, `write_err`, …).

macro_rules! mfa_repos {
    ($store:ident, $row:ty) => {
        use cognate_core::mfa::UserMfa;

        fn mfa_from(row: &$row) -> Result<UserMfa> {
            Ok(UserMfa {
                pool_id: pool_id(&col::<String>(row, "pool_id")?)?,
                sub: col(row, "sub")?,
                totp_secret_sealed: col(row, "totp_secret_sealed")?,
                totp_verified: col(row, "totp_verified")?,
                totp_enabled: col(row, "totp_enabled")?,
                preferred: col(row, "preferred")?,
                last_step: col(row, "last_step")?,
                pending_secret_sealed: col(row, "pending_secret_sealed")?,
                pending_at: col(row, "pending_at")?,
                friendly_device_name: col(row, "friendly_device_name")?,
                created_at: col(row, "created_at")?,
                updated_at: col(row, "updated_at")?,
            })
        }

        const MFA_COLS: &str = "totp_secret_sealed, totp_verified, totp_enabled, preferred, last_step, \
             pending_secret_sealed, pending_at, friendly_device_name, created_at, updated_at";

        impl $store {
            /// Copies the MFA record of `sub` from pool `from` to pool `to` inside `tx` (a
            /// tenant move); nothing when there is none. The user must exist in `to`.
            async fn copy_mfa(
                tx: &mut sqlx::Transaction<'_, Db>,
                from: &PoolId,
                to: &PoolId,
                sub: &str,
            ) -> Result<()> {
                let sql = format!(
                    "INSERT INTO user_mfa (pool_id, sub, {MFA_COLS}) SELECT $1, sub, {MFA_COLS} FROM user_mfa \
                     WHERE pool_id = $2 AND sub = $3"
                );
                sqlx::query(&sql)
                    .bind(to.as_str())
                    .bind(from.as_str())
                    .bind(sub)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| write_err(e, "user"))?;
                Ok(())
            }
        }

        #[async_trait]
        impl MfaRepo for $store {
            async fn get_mfa(&self, pool: &PoolId, sub: &str) -> Result<Option<UserMfa>> {
                let row = sqlx::query("SELECT * FROM user_mfa WHERE pool_id = $1 AND sub = $2")
                    .bind(pool.as_str())
                    .bind(sub)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend_err)?;
                row.as_ref().map(mfa_from).transpose()
            }

            async fn put_mfa(&self, m: &UserMfa) -> Result<()> {
                let sql = format!(
                    "INSERT INTO user_mfa (pool_id, sub, {MFA_COLS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (pool_id, sub) DO UPDATE SET totp_secret_sealed = excluded.totp_secret_sealed, \
                     totp_verified = excluded.totp_verified, totp_enabled = excluded.totp_enabled, \
                     preferred = excluded.preferred, \
                     last_step = CASE WHEN user_mfa.last_step > excluded.last_step THEN user_mfa.last_step \
                     ELSE excluded.last_step END, \
                     pending_secret_sealed = excluded.pending_secret_sealed, pending_at = excluded.pending_at, \
                     friendly_device_name = excluded.friendly_device_name, updated_at = excluded.updated_at"
                );
                sqlx::query(&sql)
                    .bind(m.pool_id.as_str())
                    .bind(&m.sub)
                    .bind(&m.totp_secret_sealed)
                    .bind(m.totp_verified)
                    .bind(m.totp_enabled)
                    .bind(m.preferred)
                    .bind(m.last_step)
                    .bind(&m.pending_secret_sealed)
                    .bind(m.pending_at)
                    .bind(&m.friendly_device_name)
                    .bind(m.created_at)
                    .bind(m.updated_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_err(e, "user"))?;
                Ok(())
            }

            async fn delete_mfa(&self, pool: &PoolId, sub: &str) -> Result<()> {
                sqlx::query("DELETE FROM user_mfa WHERE pool_id = $1 AND sub = $2")
                    .bind(pool.as_str())
                    .bind(sub)
                    .execute(&self.pool)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }

            async fn use_totp_step(&self, pool: &PoolId, sub: &str, step: i64) -> Result<bool> {
                // One conditional UPDATE: concurrent callers serialise on the row, and only the
                // first still finds last_step below `step` (PostgreSQL re-checks the condition
                // on the updated row; SQLite runs one writer at a time).
                let done = sqlx::query(
                    "UPDATE user_mfa SET last_step = $1 WHERE pool_id = $2 AND sub = $3 AND last_step < $1",
                )
                .bind(step)
                .bind(pool.as_str())
                .bind(sub)
                .execute(&self.pool)
                .await
                .map_err(backend_err)?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use mfa_repos;
