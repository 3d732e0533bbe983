//! The developer portal, `/console/dev/{tenant}` (seed 4.3): what a developer of a tenant
//! needs to integrate with Cognate.
//!
//! Any member sees it (`Need::Member`, as `/v1/me`): the tenant's issuer, JWKS, token and
//! discovery URLs, and ready-to-run snippets (curl, Python, JavaScript) filled with the
//! tenant's pool, its default app client (the one `/v1/discovery` hands out) and this
//! server's public URL. Tenant admins also manage the tenant's machine app clients
//! ([`crate::services::tenant_clients`]; the secret is shown once) and see the API keys'
//! rate limits and usage (their `/v1` twins need `TenantAdmin`, and so do these parts); a
//! member is told an admin makes keys and clients.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::client::AppClient;

use super::tenant::Notice;
use super::tenant_keys::{self, KeyUsage};
use super::{Chrome, Visit, after_post, explain, when};
use crate::AppState;
use crate::api::error::ApiError;
use crate::services::access::{Need, TenantAccess};
use crate::services::tenant_clients::{self, NewTenantClient, TenantClientError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/dev/{tenant}", get(portal))
        .route("/console/dev/{tenant}/clients", post(create_client))
        .route("/console/dev/{tenant}/clients/{id}/delete", post(delete_client))
}

/// Where the tenant's users and programs get and check tokens.
struct Endpoints {
    url: String,
    region: String,
    pool: String,
    client: String,
    issuer: String,
    jwks: String,
    discovery: String,
    token: String,
}

async fn endpoints(state: &AppState, access: &TenantAccess) -> Result<Endpoints, (StatusCode, String)> {
    let pool = &access.tenant.pool_id;
    let client = crate::tenancy::default_client(state, pool).await.map_err(explain)?;
    let issuer = crate::services::tokens::issuer(state, pool);
    let url = state.settings.public_url.clone();
    Ok(Endpoints {
        region: pool.as_str().split('_').next().unwrap_or("local").to_owned(),
        pool: pool.to_string(),
        client: client.to_string(),
        jwks: format!("{issuer}/.well-known/jwks.json"),
        discovery: format!("{issuer}/.well-known/openid-configuration"),
        token: format!("{url}/oauth2/token"),
        issuer,
        url,
    })
}

/// A copy-ready snippet: its element id, what it does, its language and its text.
pub(super) struct Snippet {
    pub id: &'static str,
    pub title: &'static str,
    pub lang: &'static str,
    pub code: String,
}

// The snippets, with @NAME@ placeholders filled by [`snippets`]. Secrets come from the
// environment (COGNATE_USERNAME, COGNATE_PASSWORD, REFRESH_TOKEN, ACCESS_TOKEN, CLIENT_ID,
// CLIENT_SECRET, API_KEY), never from the page.

const PY_COGNITO: &str = r#"import os

import boto3
from botocore import UNSIGNED
from botocore.config import Config

# InitiateAuth needs no AWS credentials: the app client id identifies the pool.
cognito = boto3.client(
    "cognito-idp",
    endpoint_url="@URL@",
    region_name="@REGION@",
    config=Config(signature_version=UNSIGNED),
)
"#;

const SIGN_IN_SH: &str = r#"curl -sS "@URL@/" \
  -H "Content-Type: application/x-amz-json-1.1" \
  -H "X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth" \
  --data "{\"AuthFlow\": \"USER_PASSWORD_AUTH\", \"ClientId\": \"@CLIENT@\", \"AuthParameters\": {\"USERNAME\": \"$COGNATE_USERNAME\", \"PASSWORD\": \"$COGNATE_PASSWORD\"}, \"ClientMetadata\": {\"tenantId\": \"@TENANT@\"}}""#;

const SIGN_IN_PY: &str = r#"answer = cognito.initiate_auth(
    ClientId="@CLIENT@",
    AuthFlow="USER_PASSWORD_AUTH",
    AuthParameters={"USERNAME": os.environ["COGNATE_USERNAME"], "PASSWORD": os.environ["COGNATE_PASSWORD"]},
    ClientMetadata={"tenantId": "@TENANT@"},
)
tokens = answer["AuthenticationResult"]
print(tokens["AccessToken"])
print(tokens["RefreshToken"])"#;

const REFRESH_SH: &str = r#"curl -sS "@URL@/" \
  -H "Content-Type: application/x-amz-json-1.1" \
  -H "X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth" \
  --data "{\"AuthFlow\": \"REFRESH_TOKEN_AUTH\", \"ClientId\": \"@CLIENT@\", \"AuthParameters\": {\"REFRESH_TOKEN\": \"$REFRESH_TOKEN\"}}""#;

const REFRESH_PY: &str = r#"answer = cognito.initiate_auth(
    ClientId="@CLIENT@",
    AuthFlow="REFRESH_TOKEN_AUTH",
    AuthParameters={"REFRESH_TOKEN": os.environ["REFRESH_TOKEN"]},
)
print(answer["AuthenticationResult"]["AccessToken"])"#;

const CALL_SH: &str = r#"# Your API in place of /v1/me (Cognate's own, which any signed-in user may call).
curl -sS "@URL@/v1/me" -H "Authorization: Bearer $ACCESS_TOKEN""#;

const CALL_PY: &str = r#"import json
import os
import urllib.request

# Your API in place of /v1/me (Cognate's own, which any signed-in user may call).
request = urllib.request.Request("@URL@/v1/me", headers={"Authorization": "Bearer " + os.environ["ACCESS_TOKEN"]})
with urllib.request.urlopen(request) as answer:
    print(json.load(answer))"#;

const CALL_JS: &str = r#"// Your API in place of /v1/me (Cognate's own, which any signed-in user may call).
const answer = await fetch("@URL@/v1/me", {
  headers: { Authorization: `Bearer ${process.env.ACCESS_TOKEN}` },
});
console.log(await answer.json());"#;

const VERIFY_PY: &str = r#"import os

import jwt  # PyJWT[crypto]

token = os.environ["ACCESS_TOKEN"]
signing_key = jwt.PyJWKClient("@JWKS@").get_signing_key_from_jwt(token)
claims = jwt.decode(
    token,
    signing_key.key,
    algorithms=["RS256"],
    issuer="@ISSUER@",
    options={"require": ["exp", "iss", "token_use"]},
)
# Access tokens carry no audience: check the token use and the app client instead.
if claims["token_use"] != "access" or claims["client_id"] != "@CLIENT@":
    raise SystemExit("not an access token of this app client")
if claims.get("custom:tenantId") != "@TENANT@":
    raise SystemExit("not a token of this tenant")
print(claims["sub"], claims["custom:tenantId"])"#;

const VERIFY_JS: &str = r#"// npm install aws-jwt-verify
import { JwtRsaVerifier } from "aws-jwt-verify";

const verifier = JwtRsaVerifier.create({
  issuer: "@ISSUER@",
  jwksUri: "@JWKS@",
  audience: null, // access tokens carry client_id instead
  customJwtCheck: ({ payload }) => {
    if (payload.token_use !== "access" || payload.client_id !== "@CLIENT@") {
      throw new Error("not an access token of this app client");
    }
    if (payload["custom:tenantId"] !== "@TENANT@") throw new Error("not a token of this tenant");
  },
});
// aws-jwt-verify fetches keys over https only: a development Cognate on plain http hands
// them over itself.
if ("@JWKS@".startsWith("http:")) verifier.cacheJwks(await (await fetch("@JWKS@")).json());
const payload = await verifier.verify(process.env.ACCESS_TOKEN);
console.log(payload.sub, payload["custom:tenantId"]);"#;

const M2M_SH: &str = r#"curl -sS "@TOKEN@" -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials"#;

const M2M_PY: &str = r#"import base64
import json
import os
import urllib.request

basic = base64.b64encode((os.environ["CLIENT_ID"] + ":" + os.environ["CLIENT_SECRET"]).encode()).decode()
request = urllib.request.Request(
    "@TOKEN@",
    data=b"grant_type=client_credentials",
    headers={"Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"},
)
with urllib.request.urlopen(request) as answer:
    print(json.load(answer)["access_token"])"#;

const M2M_JS: &str = r#"const basic = Buffer.from(`${process.env.CLIENT_ID}:${process.env.CLIENT_SECRET}`).toString("base64");
const answer = await fetch("@TOKEN@", {
  method: "POST",
  headers: { Authorization: `Basic ${basic}`, "Content-Type": "application/x-www-form-urlencoded" },
  body: "grant_type=client_credentials",
});
console.log((await answer.json()).access_token);"#;

const KEY_SH: &str = r#"curl -sS "@URL@/v1/api-keys/verify" -u "$CLIENT_ID:$CLIENT_SECRET" \
  -H "Content-Type: application/json" --data "{\"key\": \"$API_KEY\"}""#;

const KEY_PY: &str = r#"import base64
import json
import os
import urllib.request

basic = base64.b64encode((os.environ["CLIENT_ID"] + ":" + os.environ["CLIENT_SECRET"]).encode()).decode()
request = urllib.request.Request(
    "@URL@/v1/api-keys/verify",
    data=json.dumps({"key": os.environ["API_KEY"]}).encode(),
    headers={"Authorization": "Basic " + basic, "Content-Type": "application/json"},
)
with urllib.request.urlopen(request) as answer:
    verdict = json.load(answer)
# {"valid": true, "tenantId": ..., "scopes": [...]} or {"valid": false, "code": "revoked"}
print(verdict)"#;

const KEY_JS: &str = r#"const basic = Buffer.from(`${process.env.CLIENT_ID}:${process.env.CLIENT_SECRET}`).toString("base64");
const answer = await fetch("@URL@/v1/api-keys/verify", {
  method: "POST",
  headers: { Authorization: `Basic ${basic}`, "Content-Type": "application/json" },
  body: JSON.stringify({ key: process.env.API_KEY }),
});
console.log(await answer.json());"#;

/// The snippets, filled with the tenant's endpoints.
fn snippets(e: &Endpoints, tenant: &str) -> Vec<Snippet> {
    let fill = |s: &str| {
        s.replace("@URL@", &e.url)
            .replace("@REGION@", &e.region)
            .replace("@CLIENT@", &e.client)
            .replace("@ISSUER@", &e.issuer)
            .replace("@JWKS@", &e.jwks)
            .replace("@TOKEN@", &e.token)
            .replace("@TENANT@", tenant)
    };
    let py = |s: &str| fill(&format!("{PY_COGNITO}\n{s}"));
    let one = |id, title, lang, code: String| Snippet { id, title, lang, code };
    vec![
        one("sign-in-sh", "Sign in (InitiateAuth, USER_PASSWORD_AUTH) with curl", "sh", fill(SIGN_IN_SH)),
        one("sign-in-py", "Sign in with boto3", "python", py(SIGN_IN_PY)),
        one("refresh-sh", "Refresh the tokens with curl", "sh", fill(REFRESH_SH)),
        one("refresh-py", "Refresh the tokens with boto3", "python", py(REFRESH_PY)),
        one("call-sh", "Call an API with the access token (curl)", "sh", fill(CALL_SH)),
        one("call-py", "Call an API with the access token (Python)", "python", fill(CALL_PY)),
        one("call-js", "Call an API with the access token (JavaScript)", "javascript", fill(CALL_JS)),
        one("verify-py", "Verify an access token (PyJWT and the JWKS)", "python", fill(VERIFY_PY)),
        one("verify-js", "Verify an access token (aws-jwt-verify)", "javascript", fill(VERIFY_JS)),
        one("m2m-sh", "A machine token (client_credentials) with curl", "sh", fill(M2M_SH)),
        one("m2m-py", "A machine token (client_credentials) with Python", "python", fill(M2M_PY)),
        one("m2m-js", "A machine token (client_credentials) with JavaScript", "javascript", fill(M2M_JS)),
        one("key-sh", "Verify an API key (POST /v1/api-keys/verify) with curl", "sh", fill(KEY_SH)),
        one("key-py", "Verify an API key with Python", "python", fill(KEY_PY)),
        one("key-js", "Verify an API key with JavaScript", "javascript", fill(KEY_JS)),
    ]
}

// ---------------------------------------------------------------------------------------
// The portal
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/developer.html")]
struct PortalPage {
    chrome: Chrome,
    tenant: String,
    admin: bool,
    url: String,
    pool: String,
    client: String,
    issuer: String,
    jwks: String,
    discovery: String,
    token: String,
    snippets: Vec<Snippet>,
    clients: Vec<ClientRow>,
    scopes: Vec<String>,
    keys: Vec<KeyUsage>,
}

struct ClientRow {
    id: String,
    name: String,
    scopes: String,
    created: String,
}

impl ClientRow {
    fn new(c: &AppClient) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name.clone(),
            scopes: c.settings.allowed_oauth_scopes.join(" "),
            created: when(c.created_at),
        }
    }
}

/// `GET /console/dev/{tenant}`: any member.
async fn portal(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let access = match visit.tenant(&state, &tenant, Need::Member).await {
        Ok(a) => a,
        Err(page) => return *page,
    };
    render(&state, &visit, &access, notice.text(), None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    match page(state, visit, access, notice, error).await {
        Ok(page) => visit.page(state, status, page.render()),
        Err((status, text)) => visit.refusal(state, status, &text),
    }
}

async fn page(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    notice: Option<String>,
    error: Option<String>,
) -> Result<PortalPage, (StatusCode, String)> {
    let e = endpoints(state, access).await?;
    let tenant = access.tenant.id.to_string();
    let admin = access.is_admin();
    // The admin parts: their /v1 twins need TenantAdmin.
    let (clients, scopes, keys) = if admin {
        let clients = tenant_clients::list(state, &access.tenant).await.map_err(refusal)?;
        let scopes = tenant_clients::scopes_on_offer(state, &access.tenant).await.map_err(refusal)?;
        let usage = tenant_keys::usage_of(state, access).await?;
        (clients.iter().map(ClientRow::new).collect(), scopes, usage.keys)
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    Ok(PortalPage {
        chrome: visit.chrome(state, "Developer portal", Some(access)).with_notice(notice).with_error(error),
        snippets: snippets(&e, &tenant),
        tenant,
        admin,
        url: e.url,
        pool: e.pool,
        client: e.client,
        issuer: e.issuer,
        jwks: e.jwks,
        discovery: e.discovery,
        token: e.token,
        clients,
        scopes,
        keys,
    })
}

/// A tenant client refusal in words (the status `/v1` would give).
fn refusal(e: TenantClientError) -> (StatusCode, String) {
    explain(ApiError::from(e))
}

impl From<TenantClientError> for ApiError {
    fn from(e: TenantClientError) -> Self {
        match e {
            TenantClientError::NotFound => ApiError::not_found("The app client does not exist."),
            TenantClientError::Invalid(m) => ApiError::invalid_request(m),
            TenantClientError::TooMany => ApiError::conflict(format!(
                "A tenant may own at most {} app clients; delete one first.",
                tenant_clients::MAX_PER_TENANT
            )),
            TenantClientError::Fault(cause) => ApiError::internal(cause),
            TenantClientError::Store(e) => e.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// App clients
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/client_created.html")]
struct ClientCreatedPage {
    chrome: Chrome,
    tenant: String,
    client: ClientRow,
    secret: String,
    token: String,
}

/// `POST /console/dev/{tenant}/clients`: a machine client, its secret shown once.
async fn create_client(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, access) = match visit.act(&state, &tenant, Need::TenantAdmin, &headers, &body).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let req = NewTenantClient {
        name: form.raw("name").unwrap_or_default().to_owned(),
        scopes: form.flagged("scope:").into_iter().map(str::to_owned).collect(),
    };
    match tenant_clients::create(&state, &access.tenant, req).await {
        Ok((client, secret)) => {
            let id = client.id.to_string();
            visit.record(&state, "app_client.create", Some(access.tenant.id.as_str()), Some(&id), Ok(()));
            let page = ClientCreatedPage {
                chrome: visit.chrome(&state, "App client created", Some(&access)),
                tenant: access.tenant.id.to_string(),
                client: ClientRow::new(&client),
                secret,
                token: format!("{}/oauth2/token", state.settings.public_url),
            };
            visit.page(&state, StatusCode::OK, page.render())
        }
        Err(e) => client_refused(&state, &visit, &access, "app_client.create", None, e).await,
    }
}

/// `POST /console/dev/{tenant}/clients/{id}/delete`: only a client this tenant owns.
async fn delete_client(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let access = match visit.act(&state, &tenant, Need::TenantAdmin, &headers, &body).await {
        Ok((_, access)) => access,
        Err(page) => return *page,
    };
    match tenant_clients::delete(&state, &access.tenant, &id).await {
        Ok(()) => {
            visit.record(&state, "app_client.delete", Some(access.tenant.id.as_str()), Some(&id), Ok(()));
            after_post(&format!("/console/dev/{}?done=client-deleted", access.tenant.id))
        }
        Err(e) => client_refused(&state, &visit, &access, "app_client.delete", Some(&id), e).await,
    }
}

async fn client_refused(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    action: &str,
    target: Option<&str>,
    e: TenantClientError,
) -> Response {
    let api = ApiError::from(e);
    visit.record(state, action, Some(access.tenant.id.as_str()), target, Err(api.code));
    let (status, text) = explain(api);
    render(state, visit, access, None, Some(text), status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_filled_everywhere() {
        let e = Endpoints {
            url: "https://id.example".into(),
            region: "local".into(),
            pool: "local_abc".into(),
            client: "c123".into(),
            issuer: "https://id.example/local_abc".into(),
            jwks: "https://id.example/local_abc/.well-known/jwks.json".into(),
            discovery: "https://id.example/local_abc/.well-known/openid-configuration".into(),
            token: "https://id.example/oauth2/token".into(),
        };
        for s in snippets(&e, "acme") {
            assert!(!s.code.contains('@'), "{}: {}", s.id, s.code);
        }
    }
}
