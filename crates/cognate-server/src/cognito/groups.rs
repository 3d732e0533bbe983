//! Group operations and group membership.

use cognate_core::group::{Group, valid_group_name};
use cognate_core::user::username_key;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::input::{epoch, finish_page, list_response, load_pool, page_request, parse, user_type};
use super::users::find_user;
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::groups;

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
    let details = groups::Details { description: req.description, role_arn: req.role_arn, precedence: req.precedence };
    let group = groups::create(state, &pool, req.group_name, details).await?;
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
    let group = groups::get(state, &pool, &req.group_name).await?;
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
    let rows = groups::list(state, &pool, &page).await?;
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
    let patch = groups::Details { description: req.description, role_arn: req.role_arn, precedence: req.precedence };
    let group = groups::update(state, &pool, &req.group_name, patch).await?;
    Ok(json!({"Group": group_type(&group)}))
}

async fn delete(state: &AppState, input: Value) -> OpResult {
    let req: GroupRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    groups::delete(state, &pool, &req.group_name).await?;
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
    groups::add_member(state, &pool, &req.group_name, &req.username).await?;
    Ok(json!({}))
}

async fn remove_user(state: &AppState, input: Value) -> OpResult {
    let req: MembershipInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    groups::remove_member(state, &pool, &req.group_name, &req.username).await?;
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
    let rows = groups::of_user(state, &user, &page).await?;
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
    let group = groups::get(state, &pool, &req.group_name).await?;
    let scope = format!("group-users:{}:{}", pool.id, group.name);
    let page = page_request(req.limit, req.next_token.as_deref(), MAX_PAGE, MAX_PAGE, &scope)?;
    let rows = groups::members(state, &group, &page).await?;
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
