//! Drives [`OidcClients`] from outside, one JSON request per stdin line and one JSON answer
//! per stdout line, so the interop suite can prove the relying party against a real OpenID
//! provider (tests/interop/test_oidc_rp.py) before federation's routes exist, with one
//! process (one cache) across sign-ins, as the server has.
//!
//! Requests: `{"op": "discover" | "probe", "details": {…}}`,
//! `{"op": "authorization_url", "details", "redirect_uri", "state", "nonce", "pkce_verifier"}`,
//! `{"op": "check_callback_issuer", "details", "iss"?}`, `{"op": "complete", "details", "client_secret"?, "redirect_uri", "code", "pkce_verifier",
//! "nonce"}`. Answers: `{"ok": …}` or `{"error": "Variant", "message": "…"}`.

use std::collections::BTreeMap;

use cognate_server::federation_oidc::{OidcClients, OidcError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::{BufRead, Write};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Request {
    Discover {
        details: BTreeMap<String, String>,
    },
    Probe {
        details: BTreeMap<String, String>,
    },
    AuthorizationUrl {
        details: BTreeMap<String, String>,
        redirect_uri: String,
        state: String,
        nonce: String,
        pkce_verifier: String,
    },
    CheckCallbackIssuer {
        details: BTreeMap<String, String>,
        iss: Option<String>,
    },
    Complete {
        details: BTreeMap<String, String>,
        client_secret: Option<String>,
        redirect_uri: String,
        code: String,
        pkce_verifier: String,
        nonce: String,
    },
}

fn answer(result: Result<Value, OidcError>) -> Value {
    match result {
        Ok(value) => json!({ "ok": value }),
        Err(e) => {
            // The variant's name, for tests to match on; the message as an admin reads it.
            let debug = format!("{e:?}");
            let variant = debug.split(['(', ' ', '{']).next().unwrap_or_default().to_owned();
            json!({ "error": variant, "message": e.to_string() })
        }
    }
}

async fn handle(clients: &OidcClients, request: Request) -> Value {
    answer(match request {
        Request::Discover { details } => clients.discover(&details).await.map(|d| json!(d)),
        Request::Probe { details } => {
            clients.probe(&details).await.map(|report| serde_json::to_value(report).unwrap_or_default())
        }
        Request::AuthorizationUrl { details, redirect_uri, state, nonce, pkce_verifier } => {
            clients.authorization_url(&details, &redirect_uri, &state, &nonce, &pkce_verifier).await.map(Value::String)
        }
        Request::CheckCallbackIssuer { details, iss } => {
            OidcClients::check_callback_issuer(&details, iss.as_deref()).map(|()| Value::Null)
        }
        Request::Complete { details, client_secret, redirect_uri, code, pkce_verifier, nonce } => clients
            .complete(&details, client_secret.as_deref(), &redirect_uri, &code, &pkce_verifier, &nonce)
            .await
            .map(|identity| json!({ "subject": identity.subject, "attributes": identity.attributes })),
    })
}

fn main() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The outbound policy as `cognate serve` reads it (COGNATE_OUTBOUND_ALLOW, a CIDR list);
    // the tests' identity provider listens on 127.0.0.1, which the default refuses.
    let allow = std::env::var("COGNATE_OUTBOUND_ALLOW").unwrap_or_default();
    let allow = cognate_server::net::parse_networks(&allow).map_err(std::io::Error::other)?;
    let policy = std::sync::Arc::new(cognate_server::outbound::OutboundPolicy::allowing(allow));
    let clients = OidcClients::with_policy(std::sync::Arc::new(cognate_core::SystemClock), policy);
    let mut stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let reply = match serde_json::from_str::<Request>(&line?) {
            Ok(request) => runtime.block_on(handle(&clients, request)),
            Err(e) => json!({ "error": "BadRequest", "message": e.to_string() }),
        };
        writeln!(stdout, "{reply}")?;
        stdout.flush()?;
    }
    Ok(())
}
