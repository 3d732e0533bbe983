//! Groups of a pool and their members, written once as generic code over [`Backend`] (see
//! [`crate::pools`]).

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::group::Group;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::repo::GroupRepo;
use cognate_core::user::User;

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::db::Db;
use crate::sql::write_err;
use crate::store::SqlStore;
use crate::users::{USER_COLS, user_from};

type Result<T> = std::result::Result<T, StoreError>;

fn group_from<B: Backend>(row: &B::Row) -> Result<Group> {
    let pool = B::text_col(row, "pool_id")?;
    Ok(Group {
        pool_id: PoolId::parse(&pool).ok_or_else(|| StoreError::Corrupt(format!("pool id {pool}")))?,
        name: B::text_col(row, "name")?,
        description: B::opt_text_col(row, "description")?,
        role_arn: B::opt_text_col(row, "role_arn")?,
        precedence: B::opt_int_col(row, "precedence")?,
        created_at: B::int_col(row, "created_at")?,
        updated_at: B::int_col(row, "updated_at")?,
    })
}

fn changed(rows: u64) -> Result<()> {
    if rows == 0 { Err(StoreError::NotFound("group")) } else { Ok(()) }
}

pub(crate) async fn create<B: Backend>(db: &Db<B>, g: &Group) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO groups (pool_id, name, description, role_arn, precedence, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .text(g.pool_id.as_str())
    .text(&g.name)
    .opt_text(g.description.as_deref())
    .opt_text(g.role_arn.as_deref())
    .opt_int(g.precedence)
    .int(g.created_at)
    .int(g.updated_at);
    B::execute(q, db).await.map_err(|e| write_err(e, "group"))?;
    Ok(())
}

pub(crate) async fn get<B: Backend>(db: &Db<B>, pool: &PoolId, name: &str) -> Result<Option<Group>> {
    let q = sqlx::query::<B>("SELECT * FROM groups WHERE pool_id = $1 AND name = $2").text(pool.as_str()).text(name);
    let row = B::fetch_optional(q, db).await.map_err(backend_err)?;
    row.as_ref().map(group_from::<B>).transpose()
}

pub(crate) async fn list<B: Backend>(db: &Db<B>, pool: &PoolId, page: &PageRequest) -> Result<Vec<Group>> {
    let q = sqlx::query::<B>("SELECT * FROM groups WHERE pool_id = $1 AND name > $2 ORDER BY name LIMIT $3")
        .text(pool.as_str())
        .text(page.after.as_deref().unwrap_or(""))
        .int(page.fetch_limit());
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(group_from::<B>).collect()
}

pub(crate) async fn update<B: Backend>(db: &Db<B>, g: &Group) -> Result<()> {
    let q = sqlx::query::<B>(
        "UPDATE groups SET description = $1, role_arn = $2, precedence = $3, updated_at = $4 \
         WHERE pool_id = $5 AND name = $6",
    )
    .opt_text(g.description.as_deref())
    .opt_text(g.role_arn.as_deref())
    .opt_int(g.precedence)
    .int(g.updated_at)
    .text(g.pool_id.as_str())
    .text(&g.name);
    changed(B::execute(q, db).await.map_err(backend_err)?)
}

pub(crate) async fn delete<B: Backend>(db: &Db<B>, pool: &PoolId, name: &str) -> Result<()> {
    let q = sqlx::query::<B>("DELETE FROM groups WHERE pool_id = $1 AND name = $2").text(pool.as_str()).text(name);
    changed(B::execute(q, db).await.map_err(backend_err)?)
}

/// Adds the user to the group (already a member: nothing changes).
pub(crate) async fn add_member<B: Backend>(db: &Db<B>, pool: &PoolId, group: &str, sub: &str) -> Result<()> {
    let q = sqlx::query::<B>(
        "INSERT INTO group_members (pool_id, group_name, sub) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .text(pool.as_str())
    .text(group)
    .text(sub);
    B::execute(q, db).await.map_err(|e| write_err(e, "group"))?;
    Ok(())
}

pub(crate) async fn remove_member<B: Backend>(db: &Db<B>, pool: &PoolId, group: &str, sub: &str) -> Result<()> {
    let q = sqlx::query::<B>("DELETE FROM group_members WHERE pool_id = $1 AND group_name = $2 AND sub = $3")
        .text(pool.as_str())
        .text(group)
        .text(sub);
    B::execute(q, db).await.map_err(backend_err)?;
    Ok(())
}

pub(crate) async fn of_user<B: Backend>(
    db: &Db<B>,
    pool: &PoolId,
    sub: &str,
    page: &PageRequest,
) -> Result<Vec<Group>> {
    let q = sqlx::query::<B>(
        "SELECT g.* FROM group_members m JOIN groups g ON g.pool_id = m.pool_id AND g.name = m.group_name \
         WHERE m.pool_id = $1 AND m.sub = $2 AND m.group_name > $3 ORDER BY m.group_name LIMIT $4",
    )
    .text(pool.as_str())
    .text(sub)
    .text(page.after.as_deref().unwrap_or(""))
    .int(page.fetch_limit());
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(group_from::<B>).collect()
}

pub(crate) async fn members<B: Backend>(
    db: &Db<B>,
    pool: &PoolId,
    group: &str,
    page: &PageRequest,
) -> Result<Vec<User>> {
    let sql = format!(
        "SELECT {USER_COLS} FROM group_members m JOIN users u ON u.pool_id = m.pool_id AND u.sub = m.sub \
         WHERE m.pool_id = $1 AND m.group_name = $2 AND u.username_key > $3 ORDER BY u.username_key LIMIT $4"
    );
    let q = sqlx::query::<B>(&sql)
        .text(pool.as_str())
        .text(group)
        .text(page.after.as_deref().unwrap_or(""))
        .int(page.fetch_limit());
    let rows = B::fetch_all(q, db).await.map_err(backend_err)?;
    rows.iter().map(user_from::<B>).collect()
}

#[async_trait]
impl<B: Backend> GroupRepo for SqlStore<B> {
    async fn create_group(&self, g: &Group) -> Result<()> {
        create(&self.db, g).await
    }

    async fn get_group(&self, pool: &PoolId, name: &str) -> Result<Option<Group>> {
        get(&self.db, pool, name).await
    }

    async fn list_groups(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<Group>> {
        list(&self.db, pool, page).await
    }

    async fn update_group(&self, g: &Group) -> Result<()> {
        update(&self.db, g).await
    }

    async fn delete_group(&self, pool: &PoolId, name: &str) -> Result<()> {
        delete(&self.db, pool, name).await
    }

    async fn add_user_to_group(&self, pool: &PoolId, group: &str, sub: &str) -> Result<()> {
        add_member(&self.db, pool, group, sub).await
    }

    async fn remove_user_from_group(&self, pool: &PoolId, group: &str, sub: &str) -> Result<()> {
        remove_member(&self.db, pool, group, sub).await
    }

    async fn list_groups_for_user(&self, pool: &PoolId, sub: &str, page: &PageRequest) -> Result<Vec<Group>> {
        of_user(&self.db, pool, sub, page).await
    }

    async fn list_users_in_group(&self, pool: &PoolId, group: &str, page: &PageRequest) -> Result<Vec<User>> {
        members(&self.db, pool, group, page).await
    }
}
