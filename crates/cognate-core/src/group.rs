//! Groups of users within a pool.

use crate::ids::PoolId;

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub pool_id: PoolId,
    pub name: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub precedence: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Group names: 1 to 128 characters of `[\p{L}\p{M}\p{S}\p{N}\p{P}]` (no whitespace).
pub fn valid_group_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 128 && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}
