//! Group operations and group membership.

use cognate_core::StoreError;
use cognate_core::group::{Group, valid_group_name};
use cognate_core::pool::UserPool;
use cognate_core::user::username_key;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::input::{epoch, finish_page, list_response, load_pool, page_request, parse, user_type};
use super::users::find_user;
use super::{CognitoError, OpResult};
use crate::{AppState, tenancy};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "CreateGroup" => create(state, input).await,
        "GetGroup" => get(state, input).await,
        "ListGroups" => list(state, input).await,
        "UpdateGroup" => update(state, input).await,
        "DeleteGroup" => delete(state, input).await,
        "AdminAddUserToGroup" => add_user(state, input).await,
        "AdminRemoveUserFromGroup" => remove_user(state, input).await,
        "AdminListGroupsForUser" => list_for_user(state, input).await,
        "ListUsersInGroup" => list_users(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

/// Page size bound and default of every group list (Cognito's).
const MAX_PAGE: u32 = 60;
/// Longest group description Cognito accepts, in characters.
const MAX_DESCRIPTION: usize = 2048;

fn group_not_found() -> CognitoError {
    CognitoError::not_found("Group not found.")
}

/// In a pool managed by the tenancy control plane, the role groups `{tenantId}-{role}`
/// mirror memberships and only `/v1` changes them.
async fn refuse_role_group(state: &AppState, pool: &UserPool, name: &str) -> Result<(), CognitoError> {
    if tenancy::is_role_group(name) && tenancy::placement(state, &pool.id).await?.is_some() {
        return Err(CognitoError::invalid(format!(
            "{name} mirrors a tenant role and is managed by Cognate's tenancy API (/v1); it cannot be changed here."
        )));
    }
    Ok(())
}

async fn load_group(state: &AppState, pool: &UserPool, name: &str) -> Result<Group, CognitoError> {
    state.store.get_group(&pool.id, name).await?.ok_or_else(group_not_found)
}

/// Checks the members CreateGroup and UpdateGroup share.
fn check_details(
    description: Option<&str>,
    role_arn: Option<&str>,
    precedence: Option<i64>,
) -> Result<(), CognitoError> {
    if let Some(d) = description
        && d.chars().count() > MAX_DESCRIPTION
    {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_DESCRIPTION}"
        )));
    }
    if let Some(arn) = role_arn
        && (!arn.starts_with("arn:") || arn.len() < 20 || arn.len() > 2048)
    {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{arn}' at 'roleArn' failed to satisfy constraint: \
             Member must be an IAM role ARN"
        )));
    }
    if let Some(p) = precedence
        && p < 0
    {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{p}' at 'precedence' failed to satisfy constraint: \
             Member must have value greater than or equal to 0"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    user_pool_id: String,
    group_name: String,
    description: Option<String>,
    role_arn: Option<String>,
    precedence: Option<i64>,
}

async fn create(state: &AppState, input: Value) -> OpResult {
    let req: CreateInput = parse(input)?;
    if !valid_group_name(&req.group_name) {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{}' at 'groupName' failed to satisfy constraint: \
             Member must have length between 1 and 128 and contain no whitespace",
            req.group_name
        )));
    }
    check_details(req.description.as_deref(), req.role_arn.as_deref(), req.precedence)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    refuse_role_group(state, &pool, &req.group_name).await?;
    let now = state.clock.now_millis();
    let group = Group {
        pool_id: pool.id.clone(),
        name: req.group_name,
        description: req.description,
        role_arn: req.role_arn,
        precedence: req.precedence,
        created_at: now,
        updated_at: now,
    };
    match state.store.create_group(&group).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(CognitoError::new(
                "GroupExistsException",
                format!("A group with the name {} already exists.", group.name),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool.id, group = %group.name, "group created");
    Ok(json!({"Group": group_type(&group)}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupRef {
    user_pool_id: String,
    group_name: String,
}

async fn get(state: &AppState, input: Value) -> OpResult {
    let req: GroupRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let group = load_group(state, &pool, &req.group_name).await?;
    Ok(json!({"Group": group_type(&group)}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    user_pool_id: String,
    limit: Option<i64>,
    next_token: Option<String>,
}

async fn list(state: &AppState, input: Value) -> OpResult {
    let req: ListInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let scope = format!("groups:{}", pool.id);
    let page = page_request(req.limit, req.next_token.as_deref(), MAX_PAGE, MAX_PAGE, &scope)?;
    let rows = state.store.list_groups(&pool.id, &page).await?;
    let (rows, next) = finish_page(rows, &page, &scope, |g| g.name.clone());
    Ok(groups_page(&rows, next))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateInput {
    user_pool_id: String,
    group_name: String,
    description: Option<String>,
    role_arn: Option<String>,
    precedence: Option<i64>,
}

/// Changes only the members the request names; the others keep their values.
async fn update(state: &AppState, input: Value) -> OpResult {
    let req: UpdateInput = parse(input)?;
    check_details(req.description.as_deref(), req.role_arn.as_deref(), req.precedence)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    refuse_role_group(state, &pool, &req.group_name).await?;
    let mut group = load_group(state, &pool, &req.group_name).await?;
    if req.description.is_some() {
        group.description = req.description;
    }
    if req.role_arn.is_some() {
        group.role_arn = req.role_arn;
    }
    if req.precedence.is_some() {
        group.precedence = req.precedence;
    }
    group.updated_at = state.clock.now_millis();
    match state.store.update_group(&group).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(group_not_found()),
        Err(e) => return Err(e.into()),
    }
    Ok(json!({"Group": group_type(&group)}))
}

async fn delete(state: &AppState, input: Value) -> OpResult {
    let req: GroupRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    refuse_role_group(state, &pool, &req.group_name).await?;
    match state.store.delete_group(&pool.id, &req.group_name).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(group_not_found()),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool.id, group = %req.group_name, "group deleted");
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MembershipInput {
    user_pool_id: String,
    username: String,
    group_name: String,
}

async fn add_user(state: &AppState, input: Value) -> OpResult {
    let req: MembershipInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    refuse_role_group(state, &pool, &req.group_name).await?;
    let user = find_user(state, &pool, &req.username).await?;
    let group = load_group(state, &pool, &req.group_name).await?;
    match state.store.add_user_to_group(&pool.id, &group.name, &user.sub).await {
        Ok(()) => Ok(json!({})),
        // The group (or the user) went away between the lookups and the insert.
        Err(StoreError::NotFound(_)) => Err(group_not_found()),
        Err(e) => Err(e.into()),
    }
}

async fn remove_user(state: &AppState, input: Value) -> OpResult {
    let req: MembershipInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    refuse_role_group(state, &pool, &req.group_name).await?;
    let user = find_user(state, &pool, &req.username).await?;
    let group = load_group(state, &pool, &req.group_name).await?;
    state.store.remove_user_from_group(&pool.id, &group.name, &user.sub).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListForUserInput {
    user_pool_id: String,
    username: String,
    limit: Option<i64>,
    next_token: Option<String>,
}

async fn list_for_user(state: &AppState, input: Value) -> OpResult {
    let req: ListForUserInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let user = find_user(state, &pool, &req.username).await?;
    let scope = format!("user-groups:{}:{}", pool.id, user.sub);
    let page = page_request(req.limit, req.next_token.as_deref(), MAX_PAGE, MAX_PAGE, &scope)?;
    let rows = state.store.list_groups_for_user(&pool.id, &user.sub, &page).await?;
    let (rows, next) = finish_page(rows, &page, &scope, |g| g.name.clone());
    Ok(groups_page(&rows, next))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUsersInput {
    user_pool_id: String,
    group_name: String,
    limit: Option<i64>,
    next_token: Option<String>,
}

async fn list_users(state: &AppState, input: Value) -> OpResult {
    let req: ListUsersInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let group = load_group(state, &pool, &req.group_name).await?;
    let scope = format!("group-users:{}:{}", pool.id, group.name);
    let page = page_request(req.limit, req.next_token.as_deref(), MAX_PAGE, MAX_PAGE, &scope)?;
    let rows = state.store.list_users_in_group(&pool.id, &group.name, &page).await?;
    let (rows, next) = finish_page(rows, &page, &scope, |u| username_key(&pool.settings, &u.username));
    Ok(list_response("Users", rows.iter().map(|u| user_type(u, None)).collect(), "NextToken", next))
}

fn groups_page(groups: &[Group], next: Option<String>) -> Value {
    list_response("Groups", groups.iter().map(group_type).collect(), "NextToken", next)
}

/// Cognito's `GroupType`; unset optional members are left out, as Cognito does.
fn group_type(group: &Group) -> Value {
    let mut out = Map::new();
    out.insert("GroupName".into(), json!(group.name));
    out.insert("UserPoolId".into(), json!(group.pool_id));
    if let Some(d) = &group.description {
        out.insert("Description".into(), json!(d));
    }
    if let Some(arn) = &group.role_arn {
        out.insert("RoleArn".into(), json!(arn));
    }
    if let Some(p) = group.precedence {
        out.insert("Precedence".into(), json!(p));
    }
    out.insert("LastModifiedDate".into(), epoch(group.updated_at));
    out.insert("CreationDate".into(), epoch(group.created_at));
    Value::Object(out)
}
