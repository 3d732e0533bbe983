//! User pool operations, and the tags of user pools (TagResource, UntagResource,
//! ListTagsForResource: a pool's tags are its `UserPoolTags`).

use cognate_core::attributes::{self, RequestedAttribute};
use std::collections::BTreeMap;

use cognate_core::ids::PoolId;
use cognate_core::pool::{PoolSettings, TAGS, UserPool, valid_pool_name};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::input::{
    epoch, finish_page, list_response, load_pool, page_request, parse, pool_id, required_string, take, take_string,
};
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::branding::{self, BrandingError};
use crate::services::pool_domains::{self, DomainRequest, PoolDomainError};
use crate::services::pools;
use cognate_core::login::{ALL_CLIENTS, UiCustomization};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "CreateUserPool" => create(state, input).await,
        "DescribeUserPool" => describe(state, input).await,
        "ListUserPools" => list(state, input).await,
        "UpdateUserPool" => update(state, input).await,
        "DeleteUserPool" => delete(state, input).await,
        "AddCustomAttributes" => add_custom_attributes(state, input).await,
        "CreateUserPoolDomain" => create_domain(state, input).await,
        "DescribeUserPoolDomain" => describe_domain(state, input).await,
        "UpdateUserPoolDomain" => update_domain(state, input).await,
        "DeleteUserPoolDomain" => delete_domain(state, input).await,
        "SetUICustomization" => set_ui_customization(state, input).await,
        "GetUICustomization" => get_ui_customization(state, input).await,
        "TagResource" => tag_resource(state, input).await,
        "UntagResource" => untag_resource(state, input).await,
        "ListTagsForResource" => list_tags_for_resource(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

/// Settings from a request body (after the non-setting members were taken out).
fn settings_from(input: Value) -> Result<PoolSettings, CognitoError> {
    let settings: PoolSettings = parse(input)?;
    settings.validate().map_err(CognitoError::invalid)?;
    Ok(settings)
}

async fn create(state: &AppState, mut input: Value) -> OpResult {
    let name = required_string(&mut input, "PoolName")?;
    if !valid_pool_name(&name) {
        return Err(CognitoError::invalid("PoolName must be 1 to 128 characters of [\\w\\s+=,.@-]."));
    }
    let requested_schema: Vec<RequestedAttribute> = match take(&mut input, "Schema") {
        Some(v) => parse(v)?,
        None => Vec::new(),
    };
    let mut settings = settings_from(input)?;
    settings.schema = attributes::build_schema(&requested_schema).map_err(CognitoError::invalid)?;
    if settings.username_configuration.is_none() {
        // Cognate's default is Cognito's recommended one: case-insensitive usernames.
        settings.username_configuration = Some(cognate_core::pool::UsernameConfiguration { case_sensitive: false });
    }
    let pool = pools::create(state, name, settings).await?;
    Ok(json!({"UserPool": pool_type(state, &pool, 0)}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolRef {
    user_pool_id: String,
}

async fn describe(state: &AppState, input: Value) -> OpResult {
    let req: PoolRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let users = pools::user_count(state, &pool.id).await?;
    let mut out = pool_type(state, &pool, users);
    for d in pool_domains::of_pool(state, &pool.id).await? {
        out[if d.custom { "CustomDomain" } else { "Domain" }] = json!(d.domain);
    }
    Ok(json!({"UserPool": out}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    max_results: Option<i64>,
    next_token: Option<String>,
}

async fn list(state: &AppState, input: Value) -> OpResult {
    let req: ListInput = parse(input)?;
    if req.max_results.is_none() {
        return Err(CognitoError::invalid(
            "1 validation error detected: Value null at 'maxResults' failed to satisfy constraint: Member must not be null",
        ));
    }
    let page = page_request(req.max_results, req.next_token.as_deref(), 60, 60, "pools")?;
    let rows = pools::list(state, &page).await?;
    let (rows, next) = finish_page(rows, &page, "pools", |p| p.id.to_string());
    let pools: Vec<Value> = rows
        .iter()
        .map(|p| {
            json!({
                "Id": p.id,
                "Name": p.name,
                "LambdaConfig": p.settings.extra.get("LambdaConfig").cloned().unwrap_or_else(|| json!({})),
                "Status": "Enabled",
                "LastModifiedDate": epoch(p.updated_at),
                "CreationDate": epoch(p.created_at),
            })
        })
        .collect();
    Ok(list_response("UserPools", pools, "NextToken", next))
}

/// UpdateUserPool follows Cognito: settings the request leaves out return to their
/// defaults, except those UpdateUserPool cannot change (schema, username and alias
/// attributes, username case sensitivity).
async fn update(state: &AppState, mut input: Value) -> OpResult {
    let id = required_string(&mut input, "UserPoolId")?;
    let new_name = take_string(&mut input, "PoolName")?;
    for fixed in ["Schema", "UsernameAttributes", "AliasAttributes", "UsernameConfiguration"] {
        if take(&mut input, fixed).is_some() {
            return Err(CognitoError::invalid(format!("{fixed} cannot be changed after the user pool is created.")));
        }
    }
    // SetUserPoolMfaConfig's settings are not UpdateUserPool's to change: keep them.
    for key in super::mfa::POOL_MFA_KEYS {
        take(&mut input, key);
    }
    let explicit_protection = input.get("DeletionProtection").and_then(Value::as_str).map(str::to_owned);
    let incoming = settings_from(input)?;
    let id = pool_id(&id)?;
    pools::change(state, &id, |pool, placement| {
        // A managed pool keeps its deletion protection: left out, it stays ACTIVE (not
        // Cognito's INACTIVE default); turning it off is refused. What the control plane
        // manages (the MFA setting that mirrors tenant policies, email auto-verification)
        // keeps its value instead of returning to Cognito's defaults.
        let mut incoming = incoming.clone();
        if let Some(placement) = placement {
            if explicit_protection.as_deref().is_some_and(|p| p != "ACTIVE") {
                return Err(managed_pool(placement, "have its deletion protection turned off"));
            }
            incoming.deletion_protection = "ACTIVE".into();
            incoming.mfa_configuration = pool.settings.mfa_configuration.clone();
            incoming.auto_verified_attributes = pool.settings.auto_verified_attributes.clone();
        }
        if let Some(name) = &new_name {
            if !valid_pool_name(name) {
                return Err(CognitoError::invalid("PoolName must be 1 to 128 characters of [\\w\\s+=,.@-]."));
            }
            pool.name = name.clone();
        }
        let old = &pool.settings;
        incoming.schema = old.schema.clone();
        incoming.username_attributes = old.username_attributes.clone();
        incoming.alias_attributes = old.alias_attributes.clone();
        incoming.username_configuration = old.username_configuration.clone();
        // Tags are a resource's own: an update that leaves UserPoolTags out keeps them
        // (TagResource's tags survive an unrelated update), one that sends them sets them.
        if !incoming.extra.contains_key(TAGS)
            && let Some(tags) = old.extra.get(TAGS)
        {
            incoming.extra.insert(TAGS.to_owned(), tags.clone());
        }
        for key in super::mfa::POOL_MFA_KEYS {
            match old.extra.get(*key) {
                Some(v) => incoming.extra.insert((*key).to_owned(), v.clone()),
                None => incoming.extra.remove(*key),
            };
        }
        pool.settings = incoming;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

/// The refusal of a change the tenancy control plane reserves to itself.
pub(super) fn managed_pool(placement: &crate::tenancy::Placement, what: &str) -> CognitoError {
    let whose = match placement {
        crate::tenancy::Placement::Shared => "the shared pool of basic and standard tenants".to_owned(),
        crate::tenancy::Placement::Dedicated(t) => format!("tenant {}'s dedicated pool", t.id),
    };
    CognitoError::invalid(format!(
        "This user pool is {whose}, managed by Cognate's tenancy control plane: it cannot {what} through \
         the Cognito API (delete the tenant, or change its tier, through /v1)."
    ))
}

async fn delete(state: &AppState, input: Value) -> OpResult {
    let req: PoolRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    pools::delete(state, &pool).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AddCustomAttributesInput {
    user_pool_id: String,
    custom_attributes: Vec<RequestedAttribute>,
}

async fn add_custom_attributes(state: &AppState, input: Value) -> OpResult {
    let req: AddCustomAttributesInput = parse(input)?;
    if req.custom_attributes.is_empty() {
        return Err(CognitoError::invalid("CustomAttributes must contain at least one attribute."));
    }
    let id = pool_id(&req.user_pool_id)?;
    pools::change(state, &id, |pool, _| {
        attributes::add_custom(&mut pool.settings.schema, req.custom_attributes.clone()).map_err(CognitoError::invalid)
    })
    .await?;
    Ok(json!({}))
}

/// Cognito's `UserPoolType`.
fn pool_type(state: &AppState, pool: &UserPool, users: i64) -> Value {
    let s = &pool.settings;
    let mut out = match serde_json::to_value(s) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    out.remove("Schema");
    // GetUserPoolMfaConfig answers these, DescribeUserPool does not.
    for key in super::mfa::POOL_MFA_KEYS {
        out.remove(*key);
    }
    for key in ["UsernameAttributes", "AliasAttributes", "AutoVerifiedAttributes"] {
        if out.get(key).and_then(Value::as_array).is_some_and(Vec::is_empty) {
            out.remove(key);
        }
    }
    mirror_verification_messages(&mut out);
    out.insert("Id".into(), json!(pool.id));
    out.insert("Name".into(), json!(pool.name));
    out.insert("Arn".into(), json!(pool_arn(state, &pool.id)));
    // Developer-only attributes are shown as `dev:custom:NAME`, as Cognito names them.
    let schema: Vec<Value> = s
        .schema
        .iter()
        .map(|a| {
            let mut shown = json!(a);
            shown["Name"] = json!(a.display_name());
            shown
        })
        .collect();
    out.insert("SchemaAttributes".into(), Value::Array(schema));
    out.insert("LambdaConfig".into(), s.extra.get("LambdaConfig").cloned().unwrap_or_else(|| json!({})));
    out.insert("EstimatedNumberOfUsers".into(), json!(users));
    out.insert("CreationDate".into(), epoch(pool.created_at));
    out.insert("LastModifiedDate".into(), epoch(pool.updated_at));
    Value::Object(out)
}

/// The legacy verification settings and VerificationMessageTemplate's members that say the
/// same thing, each filled from the other when left out, as Cognito answers them: a pool
/// made with a template also shows `EmailVerificationMessage`, `EmailVerificationSubject`
/// and `SmsVerificationMessage`, and one made with those shows them in its template.
fn mirror_verification_messages(out: &mut Map<String, Value>) {
    const PAIRS: [(&str, &str); 3] = [
        ("EmailMessage", "EmailVerificationMessage"),
        ("EmailSubject", "EmailVerificationSubject"),
        ("SmsMessage", "SmsVerificationMessage"),
    ];
    let mut template = match out.get("VerificationMessageTemplate") {
        Some(Value::Object(t)) => t.clone(),
        _ => Map::new(),
    };
    for (nested, legacy) in PAIRS {
        match (template.get(nested).cloned(), out.get(legacy).cloned()) {
            (Some(v), None) => {
                out.insert(legacy.into(), v);
            }
            (None, Some(v)) => {
                template.insert(nested.into(), v);
            }
            _ => {}
        }
    }
    if !template.is_empty() {
        out.insert("VerificationMessageTemplate".into(), Value::Object(template));
    }
}

/// A pool's ARN, as DescribeUserPool's `Arn` gives it: the configured region and account
/// id (`COGNATE_REGION`, `COGNATE_ACCOUNT_ID`).
fn pool_arn(state: &AppState, id: &PoolId) -> String {
    format!("arn:aws:cognito-idp:{}:{}:userpool/{id}", state.settings.region, state.settings.account_id)
}

// ---------------------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------------------

/// The ARN pattern of Cognito's `ArnType`, checked without a regex: `arn:partition:service:
/// region:account:resource` with up to two more `:`-parts, each of `[\w+=/,.@-]`, only the
/// region empty, the account digits; 20 to 2048 characters.
fn arn_shaped(arn: &str) -> bool {
    let part_ok = |p: &str| p.chars().all(|c| c.is_alphanumeric() || "_+=/,.@-".contains(c));
    let parts: Vec<&str> = arn.split(':').collect();
    (20..=2048).contains(&arn.chars().count())
        && (6..=8).contains(&parts.len())
        && parts[0] == "arn"
        && parts.iter().all(|p| part_ok(p))
        && parts.iter().enumerate().all(|(i, p)| i == 3 || !p.is_empty())
        && parts[4].bytes().all(|b| b.is_ascii_digit())
}

/// The pool a `ResourceArn` names. A value that is not an ARN, or the ARN of something
/// other than a user pool, is InvalidParameterException; a user pool ARN that is not one of
/// this server's pools (another region or account, an unknown id) is
/// ResourceNotFoundException, as Cognito answers for a pool it does not have.
fn arn_pool(state: &AppState, arn: &str) -> Result<PoolId, CognitoError> {
    if !arn_shaped(arn) {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{arn}' at 'resourceArn' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: arn:[\\w+=/,.@-]+:[\\w+=/,.@-]+:([\\w+=/,.@-]*)?:[0-9]+:\
             [\\w+=/,.@-]+(:[\\w+=/,.@-]+)?(:[\\w+=/,.@-]+)?"
        )));
    }
    let parts: Vec<&str> = arn.split(':').collect();
    let id = match (parts[2], parts.get(5).and_then(|r| r.strip_prefix("userpool/")), parts.len()) {
        ("cognito-idp", Some(id), 6) => id,
        _ => return Err(CognitoError::invalid(format!("{arn} is not the ARN of a user pool."))),
    };
    let not_found = || CognitoError::not_found(format!("User pool {arn} does not exist."));
    let pool = PoolId::parse(id).ok_or_else(not_found)?;
    if pool_arn(state, &pool) != arn {
        return Err(not_found());
    }
    Ok(pool)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    resource_arn: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    tag_keys: Option<Vec<String>>,
}

fn required<T>(value: Option<T>, member: &str) -> Result<T, CognitoError> {
    value.ok_or_else(|| super::users::missing(member))
}

async fn tag_resource(state: &AppState, input: Value) -> OpResult {
    let req: TagInput = parse(input)?;
    let arn = required(req.resource_arn, "resourceArn")?;
    let tags = required(req.tags, "tags")?;
    let id = arn_pool(state, &arn)?;
    pools::tag(state, &id, &tags).await?;
    Ok(json!({}))
}

async fn untag_resource(state: &AppState, input: Value) -> OpResult {
    let req: TagInput = parse(input)?;
    let arn = required(req.resource_arn, "resourceArn")?;
    let keys = required(req.tag_keys, "tagKeys")?;
    let id = arn_pool(state, &arn)?;
    pools::untag(state, &id, &keys).await?;
    Ok(json!({}))
}

async fn list_tags_for_resource(state: &AppState, input: Value) -> OpResult {
    let req: TagInput = parse(input)?;
    let arn = required(req.resource_arn, "resourceArn")?;
    let pool = pools::get(state, &arn_pool(state, &arn)?).await?;
    Ok(json!({"Tags": pool.settings.tags()}))
}

// ---------------------------------------------------------------------------------------
// User pool domains
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CustomDomainConfig {
    certificate_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DomainInput {
    domain: String,
    user_pool_id: Option<String>,
    custom_domain_config: Option<CustomDomainConfig>,
    managed_login_version: Option<i64>,
}

impl From<PoolDomainError> for CognitoError {
    fn from(e: PoolDomainError) -> Self {
        match e {
            PoolDomainError::Invalid(m) => CognitoError::invalid(m),
            PoolDomainError::Taken => CognitoError::invalid("Domain already associated with another user pool."),
            PoolDomainError::PoolHasDomain => CognitoError::invalid("User pool already has a domain configured."),
            PoolDomainError::NotFound => CognitoError::invalid("No such domain or user pool exists."),
            PoolDomainError::PoolNotFound => CognitoError::not_found("User pool does not exist."),
            PoolDomainError::Store(e) => e.into(),
        }
    }
}

/// The host a custom domain's CNAME points at: Cognate's own public host.
fn cname_target(state: &AppState) -> String {
    url::Url::parse(&state.settings.public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| state.settings.public_url.clone())
}

/// The request's domain for `pool`, its certificate (a custom domain) and version.
fn domain_request<'a>(input: &'a DomainInput, pool: &'a cognate_core::ids::PoolId) -> DomainRequest<'a> {
    DomainRequest {
        pool,
        domain: &input.domain,
        certificate_arn: input.custom_domain_config.as_ref().and_then(|c| c.certificate_arn.as_deref()),
        managed_login_version: input.managed_login_version,
    }
}

fn domain_answer(state: &AppState, d: &cognate_core::login::PoolDomain) -> Value {
    let mut out = json!({"ManagedLoginVersion": d.managed_login_version});
    if d.custom {
        out["CloudFrontDomain"] = json!(cname_target(state));
    }
    out
}

async fn create_domain(state: &AppState, input: Value) -> OpResult {
    let req: DomainInput = parse(input)?;
    let pool = pool_id(req.user_pool_id.as_deref().unwrap_or_default())?;
    let created = pool_domains::create(state, domain_request(&req, &pool)).await?;
    Ok(domain_answer(state, &created))
}

async fn describe_domain(state: &AppState, input: Value) -> OpResult {
    let req: DomainInput = parse(input)?;
    let Some(d) = pool_domains::describe(state, &req.domain).await? else {
        // Cognito answers an unknown domain with an empty description.
        return Ok(json!({"DomainDescription": {}}));
    };
    let mut description = json!({
        "UserPoolId": d.pool_id,
        "AWSAccountId": state.settings.account_id,
        "Domain": d.domain,
        "CloudFrontDistribution": cname_target(state),
        "Version": "1",
        "Status": "ACTIVE",
        "ManagedLoginVersion": d.managed_login_version,
    });
    if let Some(arn) = &d.certificate_arn {
        description["CustomDomainConfig"] = json!({"CertificateArn": arn});
    }
    Ok(json!({"DomainDescription": description}))
}

async fn update_domain(state: &AppState, input: Value) -> OpResult {
    let req: DomainInput = parse(input)?;
    let pool = pool_id(req.user_pool_id.as_deref().unwrap_or_default())?;
    let updated = pool_domains::update(state, domain_request(&req, &pool)).await?;
    Ok(domain_answer(state, &updated))
}

async fn delete_domain(state: &AppState, input: Value) -> OpResult {
    let req: DomainInput = parse(input)?;
    let pool = pool_id(req.user_pool_id.as_deref().unwrap_or_default())?;
    pool_domains::delete(state, &pool, &req.domain).await?;
    Ok(json!({}))
}

// ---------------------------------------------------------------------------------------
// UI customization
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UiInput {
    user_pool_id: String,
    client_id: Option<String>,
    #[serde(rename = "CSS")]
    css: Option<String>,
    /// The logo, base64 (a blob in Cognito's JSON protocol).
    image_file: Option<String>,
}

impl From<BrandingError> for CognitoError {
    fn from(e: BrandingError) -> Self {
        match e {
            BrandingError::Invalid(m) => CognitoError::invalid(m),
            BrandingError::PoolNotFound => CognitoError::not_found("User pool does not exist."),
            BrandingError::ClientNotFound => CognitoError::not_found("User pool client does not exist."),
            BrandingError::Store(e) => e.into(),
        }
    }
}

/// Cognito's `UICustomizationType`.
fn ui_type(
    state: &AppState,
    pool: &cognate_core::ids::PoolId,
    client: Option<&str>,
    ui: Option<&UiCustomization>,
) -> Value {
    let client_id = ui.map_or_else(|| client.unwrap_or(ALL_CLIENTS).to_owned(), |u| u.client_id.clone());
    let mut out = json!({"UserPoolId": pool, "ClientId": client_id});
    if let Some(ui) = ui {
        out["CreationDate"] = json!(epoch(ui.created_at));
        out["LastModifiedDate"] = json!(epoch(ui.updated_at));
        out["CSSVersion"] = json!(ui.updated_at.to_string());
        if let Some(css) = &ui.css {
            out["CSS"] = json!(css);
        }
        if ui.image.is_some() {
            out["ImageUrl"] = json!(format!(
                "{}/login/assets/logo/{pool}/{}?v={}",
                state.settings.public_url, ui.client_id, ui.updated_at
            ));
        }
    }
    out
}

async fn set_ui_customization(state: &AppState, input: Value) -> OpResult {
    use base64::Engine as _;
    let req: UiInput = parse(input)?;
    let pool = pool_id(&req.user_pool_id)?;
    let image = match &req.image_file {
        Some(b64) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| CognitoError::invalid("ImageFile is not base64."))?,
        ),
        None => None,
    };
    let ui = branding::set(state, &pool, req.client_id.as_deref(), req.css.as_deref(), image.as_deref()).await?;
    Ok(json!({"UICustomization": ui_type(state, &pool, req.client_id.as_deref(), Some(&ui))}))
}

async fn get_ui_customization(state: &AppState, input: Value) -> OpResult {
    let req: UiInput = parse(input)?;
    let pool = pool_id(&req.user_pool_id)?;
    let ui = branding::get(state, &pool, req.client_id.as_deref()).await?;
    Ok(json!({"UICustomization": ui_type(state, &pool, req.client_id.as_deref(), ui.as_ref())}))
}

#[cfg(test)]
mod tests {
    use super::arn_shaped;

    #[test]
    fn arns_are_checked_against_cognitos_pattern() {
        assert!(arn_shaped("arn:aws:cognito-idp:local:000000000000:userpool/local_abc123"));
        assert!(arn_shaped("arn:aws:s3::000000000000:bucket/x"), "the region may be empty");
        assert!(arn_shaped("arn:aws:cognito-idp:local:000000000000:userpool/local_abc:a:b"));
        for bad in [
            "",
            "not-an-arn-at-all-but-long",
            "arn:aws:cognito-idp:local:0000000x:userpool/local_abc",
            "arn:aws:cognito-idp:local::userpool/local_abc123",
            "arn:aws:cognito-idp:local:000000000000:",
            "arn:aws:cognito-idp:local:000000000000:user pool/local_abc",
            "arn:aws:cognito-idp:local:000000000000:userpool/a:b:c:d",
            "arn:a:b:c:1:d",
        ] {
            assert!(!arn_shaped(bad), "{bad}");
        }
    }
}
