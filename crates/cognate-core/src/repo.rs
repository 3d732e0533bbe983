//! Repository traits, one per aggregate. `cognate-store` implements them for SQLite and
//! PostgreSQL; [`Store`] bundles them for the server.
//!
//! Conventions: reads return `Ok(None)` for "not there"; writes that need an existing row
//! return [`StoreError::NotFound`]; uniqueness violations return [`StoreError::Conflict`]
//! naming the rule. Every method is atomic.

use async_trait::async_trait;

use crate::admin::AdminCredential;
use crate::apikey::{ApiKey, UsageDelta, UsageRow};
use crate::audit::{Anchor, AuditEvent, AuditQuery, NewEvent};
use crate::auth_event::{AuthEvent, Feedback};
use crate::client::{AppClient, ClientSecret};
use crate::connection::Connection;
use crate::device::Device;
use crate::error::StoreError;
use crate::group::Group;
use crate::idp::{IdentityProvider, ProviderLink};
use crate::ids::{ClientId, PoolId};
use crate::jwt::SigningKeyRecord;
use crate::login::{AuthorizationCode, FederationRequest, LoginSession, PoolDomain, Redemption, UiCustomization};
use crate::managed_login::{Category, ColorMode, ManagedLogin};
use crate::mfa::UserMfa;
use crate::page::PageRequest;
use crate::passkey::{PasskeyCredential, PendingRegistration};
use crate::pool::UserPool;
use crate::resource_server::ResourceServer;
use crate::session_config::{ClientSessionConfig, PoolSessionConfig};
use crate::tenant::{DomainName, EmailDomain, Invitation, Membership, Role, Tenant, TenantId};
use crate::terms::{Terms, TermsName};
use crate::token::{LiveFamily, OneTimeCode, RefreshSession, RefreshToken, RevocationEvent, TokenFamily};
use crate::user::{User, UserFilter, UserKeys};
use crate::user_import::{ImportChunk, ImportJob, ImportStatus, RowError};
use crate::webhook::{AttemptOutcome, DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent};

type Result<T> = std::result::Result<T, StoreError>;

#[async_trait]
pub trait PoolRepo: Send + Sync {
    async fn create_pool(&self, pool: &UserPool) -> Result<()>;
    async fn get_pool(&self, id: &PoolId) -> Result<Option<UserPool>>;
    /// Pools ordered by id, after the page cursor (a pool id).
    async fn list_pools(&self, page: &PageRequest) -> Result<Vec<UserPool>>;
    /// How many pools there are (the platform portal's figures).
    async fn count_pools(&self) -> Result<i64>;
    /// Replaces name and settings if `pool.version` is still the stored version, and bumps
    /// it; `Conflict("version")` when someone else updated the pool first.
    async fn update_pool(&self, pool: &UserPool) -> Result<()>;
    /// Deletes the pool with its clients, users, groups and resource servers.
    async fn delete_pool(&self, id: &PoolId) -> Result<()>;
}

#[async_trait]
pub trait ClientRepo: Send + Sync {
    async fn create_client(&self, client: &AppClient) -> Result<()>;
    /// Replaces the client's secrets if `client.secrets_version` is still the stored one
    /// (bumping it); the first becomes the secret DescribeUserPoolClient shows. False when a
    /// concurrent change came first.
    async fn replace_client_secrets(&self, client: &AppClient, secrets: &[ClientSecret]) -> Result<bool>;
    async fn get_client(&self, pool: &PoolId, id: &ClientId) -> Result<Option<AppClient>>;
    /// A client by id alone (client ids are unique across pools).
    async fn find_client(&self, id: &ClientId) -> Result<Option<AppClient>>;
    /// Clients ordered by id, after the page cursor (a client id).
    async fn list_clients(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<AppClient>>;
    async fn update_client(&self, client: &AppClient) -> Result<()>;
    async fn delete_client(&self, pool: &PoolId, id: &ClientId) -> Result<()>;
}

#[async_trait]
pub trait UserRepo: Send + Sync {
    /// `Conflict("username")`, `Conflict("email")`, `Conflict("phone_number")` or
    /// `Conflict("preferred_username")` when a key is taken.
    async fn create_user(&self, user: &User, keys: &UserKeys) -> Result<()> {
        self.create_user_with(user, keys, &[]).await
    }
    /// [`UserRepo::create_user`], writing `events` in the same transaction.
    async fn create_user_with(&self, user: &User, keys: &UserKeys, events: &[WebhookEvent]) -> Result<()>;
    /// Creates many users in one transaction: all of them or, on any conflict, none.
    /// For bulk imports and seeding; each user is checked like [`UserRepo::create_user`].
    async fn import_users(&self, users: &[(User, UserKeys)]) -> Result<()>;
    async fn get_user(&self, pool: &PoolId, username_key: &str) -> Result<Option<User>>;
    async fn get_user_by_sub(&self, pool: &PoolId, sub: &str) -> Result<Option<User>>;
    /// Finds a user by a verified alias (`email`, `phone_number`, `preferred_username`).
    async fn get_user_by_alias(&self, pool: &PoolId, alias: &str, key: &str) -> Result<Option<User>>;
    /// Replaces the user's status, password and attributes (re-indexing them); never
    /// `enabled` (see [`UserRepo::set_user_enabled`]).
    async fn update_user(&self, user: &User, keys: &UserKeys) -> Result<()> {
        self.update_user_with(user, keys, &[]).await
    }
    /// [`UserRepo::update_user`], writing `events` in the same transaction.
    async fn update_user_with(&self, user: &User, keys: &UserKeys, events: &[WebhookEvent]) -> Result<()>;
    /// Stores the SRP verifier of a user who has none yet, if their password is still
    /// `password_hash` (a concurrent password change wins); false when nothing was written.
    async fn add_srp_verifier(&self, pool: &PoolId, sub: &str, password_hash: &str, sealed: &str) -> Result<bool>;
    /// Saves `user` (as [`UserRepo::update_user`]) and, in the same transaction, signs them
    /// out everywhere as of `at` (as [`TokenRepo::sign_out_user`]): a changed password ends
    /// every session.
    async fn update_user_signed_out(&self, user: &User, keys: &UserKeys, at: i64) -> Result<()>;
    /// Enables or disables a user — the only write of `enabled`, so no concurrent update of
    /// the user can undo it. Disabling signs the user out in the same transaction (as
    /// [`TokenRepo::sign_out_user`]); enabling restores no token. `NotFound("user")`.
    async fn set_user_enabled(&self, pool: &PoolId, sub: &str, enabled: bool, at: i64) -> Result<()> {
        self.set_user_enabled_with(pool, sub, enabled, at, &[]).await
    }
    /// [`UserRepo::set_user_enabled`], writing `events` in the same transaction.
    async fn set_user_enabled_with(
        &self,
        pool: &PoolId,
        sub: &str,
        enabled: bool,
        at: i64,
        events: &[WebhookEvent],
    ) -> Result<()>;
    /// Deletes the user and, in the same transaction, publishes a user revocation as of
    /// `at` so resource servers polling the feed refuse the user's tokens before `exp`.
    async fn delete_user(&self, pool: &PoolId, sub: &str, at: i64) -> Result<()> {
        self.delete_user_with(pool, sub, at, &[]).await
    }
    /// [`UserRepo::delete_user`], writing `events` in the same transaction.
    async fn delete_user_with(&self, pool: &PoolId, sub: &str, at: i64, events: &[WebhookEvent]) -> Result<()>;
    /// Users ordered by username key, after the page cursor (a username key).
    async fn list_users(&self, pool: &PoolId, filter: Option<&UserFilter>, page: &PageRequest) -> Result<Vec<User>>;
    /// Number of users in a pool (DescribeUserPool's EstimatedNumberOfUsers).
    async fn count_users(&self, pool: &PoolId) -> Result<i64>;
}

#[async_trait]
pub trait GroupRepo: Send + Sync {
    async fn create_group(&self, group: &Group) -> Result<()>;
    async fn get_group(&self, pool: &PoolId, name: &str) -> Result<Option<Group>>;
    /// Groups ordered by name, after the page cursor (a group name).
    async fn list_groups(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<Group>>;
    async fn update_group(&self, group: &Group) -> Result<()>;
    async fn delete_group(&self, pool: &PoolId, name: &str) -> Result<()>;
    /// Adds a membership; adding an existing member is not an error.
    async fn add_user_to_group(&self, pool: &PoolId, group: &str, sub: &str) -> Result<()>;
    async fn remove_user_from_group(&self, pool: &PoolId, group: &str, sub: &str) -> Result<()>;
    /// A user's groups ordered by name, after the page cursor (a group name).
    async fn list_groups_for_user(&self, pool: &PoolId, sub: &str, page: &PageRequest) -> Result<Vec<Group>>;
    /// A group's members ordered by username key, after the page cursor.
    async fn list_users_in_group(&self, pool: &PoolId, group: &str, page: &PageRequest) -> Result<Vec<User>>;
}

#[async_trait]
pub trait ResourceServerRepo: Send + Sync {
    async fn create_resource_server(&self, rs: &ResourceServer) -> Result<()>;
    async fn get_resource_server(&self, pool: &PoolId, identifier: &str) -> Result<Option<ResourceServer>>;
    /// Resource servers ordered by identifier, after the page cursor.
    async fn list_resource_servers(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<ResourceServer>>;
    async fn update_resource_server(&self, rs: &ResourceServer) -> Result<()>;
    async fn delete_resource_server(&self, pool: &PoolId, identifier: &str) -> Result<()>;
}

/// External identity providers of a pool and the identities linked to users. Secret
/// provider details arrive and leave sealed (the services seal and open them).
#[async_trait]
pub trait IdentityProviderRepo: Send + Sync {
    /// `Conflict("provider")` when the name is taken, `Conflict("identifier")` when one of
    /// its identifiers is another provider's (case-insensitively); nothing is written then.
    async fn create_identity_provider(&self, idp: &IdentityProvider) -> Result<()>;
    async fn get_identity_provider(&self, pool: &PoolId, name: &str) -> Result<Option<IdentityProvider>>;
    /// The provider with identifier `identifier` (any case).
    async fn find_identity_provider(&self, pool: &PoolId, identifier: &str) -> Result<Option<IdentityProvider>>;
    /// Providers ordered by name, after the page cursor (a name).
    async fn list_identity_providers(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<IdentityProvider>>;
    /// Replaces details, mappings and identifiers; `NotFound("provider")`,
    /// `Conflict("identifier")`.
    async fn update_identity_provider(&self, idp: &IdentityProvider) -> Result<()>;
    /// `NotFound("provider")`.
    async fn delete_identity_provider(&self, pool: &PoolId, name: &str) -> Result<()>;
    /// Links an external identity to a user and, in the same transaction, rewrites the
    /// user's `identities` attribute from all of their links ([`crate::idp::identities`]).
    /// Concurrent links to one user are serialised. `NotFound("user")`, `Conflict("link")`
    /// when the identity is linked already, `Conflict("link limit")` when the user has
    /// `max` links.
    async fn link_provider(&self, link: &ProviderLink, max: usize) -> Result<()>;
    /// Removes a link and rewrites the user's `identities` attribute (absent when no link
    /// is left); the sub of the user it belonged to, `None` when there was no such link.
    async fn unlink_provider(
        &self,
        pool: &PoolId,
        provider: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Option<String>>;
    /// The pool's SAML signing certificate (base64 DER) and its sealed key, if made yet.
    async fn signing_certificate(&self, pool: &PoolId) -> Result<Option<(String, String)>>;
    /// Stores the pool's SAML signing certificate and sealed key unless it has one already
    /// (the first of two concurrent callers wins; read it back).
    async fn add_signing_certificate(&self, pool: &PoolId, certificate: &str, key_sealed: &str, at: i64) -> Result<()>;
    /// The user an external identity is linked to.
    async fn linked_user(&self, pool: &PoolId, provider: &str, attribute: &str, value: &str) -> Result<Option<String>>;
}

/// Users' authentication histories.
#[async_trait]
pub trait AuthEventRepo: Send + Sync {
    /// `NotFound("user")` when the user is gone.
    async fn add_auth_event(&self, event: &AuthEvent) -> Result<()>;
    /// The user's events newest first, after the page cursor
    /// ([`crate::auth_event::cursor`]).
    async fn list_auth_events(&self, pool: &PoolId, sub: &str, page: &PageRequest) -> Result<Vec<AuthEvent>>;
    /// Replaces the feedback on one of the user's events; `NotFound("auth event")`.
    async fn set_auth_event_feedback(&self, pool: &PoolId, sub: &str, id: &str, feedback: &Feedback) -> Result<()>;
    /// Deletes every event older than `before` (ms); how many were deleted.
    async fn purge_auth_events(&self, before: i64) -> Result<u64>;
}

/// Terms documents of app clients (at most one of each [`TermsName`] per client).
#[async_trait]
pub trait TermsRepo: Send + Sync {
    /// `Conflict("terms")` when the client already has a document of this name;
    /// `NotFound("client")` when the client is not in the pool.
    async fn create_terms(&self, terms: &Terms) -> Result<()>;
    async fn get_terms(&self, pool: &PoolId, id: &str) -> Result<Option<Terms>>;
    async fn get_terms_by_client(&self, pool: &PoolId, client: &ClientId, name: TermsName) -> Result<Option<Terms>>;
    /// Every document of one client (at most one of each name).
    async fn list_client_terms(&self, pool: &PoolId, client: &ClientId) -> Result<Vec<Terms>>;
    /// The pool's documents ordered by id, after the page cursor (a terms id).
    async fn list_terms(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<Terms>>;
    /// Replaces name, links and modification time; `NotFound("terms")`, or
    /// `Conflict("terms")` when the new name is the client's other document's.
    async fn update_terms(&self, terms: &Terms) -> Result<()>;
    /// `NotFound("terms")`.
    async fn delete_terms(&self, pool: &PoolId, id: &str) -> Result<()>;
}

/// Managed login branding styles (at most one per app client) and their assets.
#[async_trait]
pub trait ManagedLoginRepo: Send + Sync {
    /// Writes the style and its assets at once; `Conflict("managed login branding")` when
    /// the client already has a style, `NotFound("client")` when the client is not in the
    /// pool.
    async fn create_managed_login(&self, style: &ManagedLogin) -> Result<()>;
    /// The style with its assets (and their bytes).
    async fn get_managed_login(&self, pool: &PoolId, id: &str) -> Result<Option<ManagedLogin>>;
    /// The client's style with its assets; their bytes only when `bytes` (the hosted login
    /// reads which assets exist on every page, and each asset's bytes only when fetched).
    async fn managed_login_for_client(
        &self,
        pool: &PoolId,
        client: &ClientId,
        bytes: bool,
    ) -> Result<Option<ManagedLogin>>;
    /// One asset of the style `id`, with its bytes.
    async fn get_managed_login_asset(
        &self,
        pool: &PoolId,
        id: &str,
        category: Category,
        mode: ColorMode,
    ) -> Result<Option<crate::managed_login::Asset>>;
    /// Replaces the style's flag, settings and modification time, and, when
    /// `replace_assets`, its whole asset list, at once; `NotFound("managed login branding")`.
    async fn update_managed_login(&self, style: &ManagedLogin, replace_assets: bool) -> Result<()>;
    /// Deletes the style and its assets; `NotFound("managed login branding")`.
    async fn delete_managed_login(&self, pool: &PoolId, id: &str) -> Result<()>;
}

/// Session tracking settings of pools and app clients; never configured reads as `None`.
#[async_trait]
pub trait SessionConfigRepo: Send + Sync {
    async fn get_pool_session_config(&self, pool: &PoolId) -> Result<Option<PoolSessionConfig>>;
    /// Replaces the pool's whole configuration; `NotFound("pool")`.
    async fn put_pool_session_config(&self, pool: &PoolId, config: &PoolSessionConfig, at: i64) -> Result<()>;
    async fn get_client_session_config(&self, pool: &PoolId, client: &ClientId) -> Result<Option<ClientSessionConfig>>;
    /// Replaces the client's whole configuration; `NotFound("client")`.
    async fn put_client_session_config(
        &self,
        pool: &PoolId,
        client: &ClientId,
        config: &ClientSessionConfig,
        at: i64,
    ) -> Result<()>;
}

#[async_trait]
pub trait AdminCredentialRepo: Send + Sync {
    async fn create_admin_credential(&self, cred: &AdminCredential) -> Result<()>;
    async fn get_admin_credential(&self, access_key_id: &str) -> Result<Option<AdminCredential>>;
    async fn list_admin_credentials(&self) -> Result<Vec<AdminCredential>>;
    /// Marks a credential revoked at `at` (ms); `NotFound` if it does not exist.
    async fn revoke_admin_credential(&self, access_key_id: &str, at: i64) -> Result<()>;
}

/// A message for a user (the default "sender" is this outbox, which operators and tests
/// read). When SMTP is configured, a delivery worker sends pending messages and records
/// the outcome in the delivery fields; otherwise they stay pending.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: String,
    pub pool_id: PoolId,
    pub username: String,
    /// `EMAIL` or `SMS`.
    pub medium: String,
    pub destination: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
    /// When a sender accepted the message (ms); `None` while pending or after giving up.
    pub delivered_at: Option<i64>,
    /// Failed delivery attempts so far.
    pub attempts: i64,
    /// Why the last attempt failed (never contains the body).
    pub last_error: Option<String>,
    /// Not claimed for delivery before this time (ms). [`OUTBOX_NEVER`] once a worker gave up.
    pub next_attempt_at: i64,
    /// When the secret in the body stops working (ms); the body is blanked then. `None`
    /// for a message without a secret.
    pub secret_expires_at: Option<i64>,
}

/// `next_attempt_at` of a message no worker will try again.
pub const OUTBOX_NEVER: i64 = i64::MAX;

/// Undelivered messages of one medium, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxBacklog {
    /// `EMAIL` or `SMS`.
    pub medium: String,
    /// Still to be tried (due now or later, or leased by a worker).
    pub pending: i64,
    /// Given up after failed attempts ([`OUTBOX_NEVER`]).
    pub given_up: i64,
}

/// A node's database connection pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolUsage {
    /// Connections open (idle or in use).
    pub size: u32,
    pub idle: u32,
    /// Most connections the pool opens.
    pub max: u32,
}

#[async_trait]
pub trait OutboxRepo: Send + Sync {
    /// Stores a pending message (its delivery fields are ignored).
    async fn enqueue_message(&self, msg: &OutboxMessage) -> Result<()>;
    /// Messages newest first, at most `limit`, delivered or not.
    async fn list_messages(&self, pool: Option<&PoolId>, limit: u32) -> Result<Vec<OutboxMessage>>;
    /// Claims up to `limit` undelivered `medium` messages due at `now` (ms), oldest first,
    /// by moving their `next_attempt_at` to `lease_until`: until then no other worker
    /// claims them, and after it (the claimer crashed) they are due again. A message that
    /// another worker claimed between the read and the update is left out, so two workers
    /// never both get it.
    async fn claim_pending(&self, medium: &str, now: i64, lease_until: i64, limit: u32) -> Result<Vec<OutboxMessage>>;
    /// Records that a sender accepted the message at `at` (ms) and blanks its body (the
    /// secret in it has reached its recipient); `NotFound` if it does not exist.
    async fn mark_delivered(&self, id: &str, at: i64) -> Result<()>;
    /// Counts a failed attempt, keeps `error`, and makes the message due again at
    /// `next_attempt_at` ([`OUTBOX_NEVER`] to give up, which blanks the body);
    /// `NotFound` if it does not exist.
    async fn mark_failed(&self, id: &str, error: &str, next_attempt_at: i64) -> Result<()>;
    /// Blanks the bodies of messages whose secret expired at or before `now`; how many.
    async fn redact_expired_messages(&self, now: i64) -> Result<u64>;
    /// Messages with a non-empty body not starting with `sealed_prefix`, at most `limit`.
    async fn unsealed_messages(&self, sealed_prefix: &str, limit: u32) -> Result<Vec<OutboxMessage>>;
    /// Replaces a message's body if it still is `old`; whether it did.
    async fn replace_message_body(&self, id: &str, old: &str, new: &str) -> Result<bool>;
    /// Undelivered messages counted per medium (media with none are left out).
    async fn outbox_backlog(&self) -> Result<Vec<OutboxBacklog>>;
}

/// Small installation-wide facts (e.g. which pool is the shared pool).
#[async_trait]
pub trait MetaRepo: Send + Sync {
    async fn get_meta(&self, key: &str) -> Result<Option<String>>;
    /// Sets `key` unless it is set; returns the value that is stored afterwards.
    async fn put_meta_if_absent(&self, key: &str, value: &str) -> Result<String>;
    /// Sets `key`, replacing any value.
    async fn set_meta(&self, key: &str, value: &str) -> Result<()>;
}

#[async_trait]
pub trait KeyRepo: Send + Sync {
    async fn create_signing_key(&self, key: &SigningKeyRecord) -> Result<()>;
    /// Every key of the pool, retired ones included, oldest first.
    async fn list_signing_keys(&self, pool: &PoolId) -> Result<Vec<SigningKeyRecord>>;
    async fn retire_signing_key(&self, pool: &PoolId, kid: &str, at: i64) -> Result<()>;
}

#[async_trait]
pub trait TokenRepo: Send + Sync {
    /// Starts a family with its first refresh token (or none, for flows without one).
    async fn create_family(&self, family: &TokenFamily, token: Option<&RefreshToken>) -> Result<()>;
    async fn get_family(&self, id: &str) -> Result<Option<TokenFamily>>;
    /// The refresh token with this hash and its family.
    async fn get_refresh_token(&self, hash: &str) -> Result<Option<(RefreshToken, TokenFamily)>>;
    /// [`Self::get_refresh_token`] with the family's user and their group names, read on
    /// one connection: what every refresh starts from.
    async fn get_refresh_session(&self, hash: &str) -> Result<Option<RefreshSession>>;
    /// Marks `old_hash` rotated at `at` and stores its successor, atomically; false (and
    /// nothing stored) if `old_hash` was already rotated.
    async fn rotate_refresh_token(&self, old_hash: &str, new: &RefreshToken, at: i64) -> Result<bool>;
    /// Adds a token to a family without rotating another (a grace-period retry).
    async fn add_refresh_token(&self, token: &RefreshToken) -> Result<()>;
    /// Revokes a family and publishes it on the feed; false if it was already revoked.
    async fn revoke_family(&self, pool: &PoolId, family_id: &str, at: i64) -> Result<bool>;
    /// [`TokenRepo::create_family`] for a user who may hold at most `max_live` live
    /// families (not revoked, a refresh token unexpired at `family.created_at`, not ended by
    /// a global sign-out): in the same transaction, serialised with the user's other
    /// issues, the user's least recently active live families beyond `max_live - 1` are
    /// revoked and published on the feed first. Returns the ids of the families revoked.
    async fn create_family_within(
        &self,
        family: &TokenFamily,
        token: &RefreshToken,
        max_live: u32,
    ) -> Result<Vec<String>>;
    /// The user's families that still work at `now` (not revoked, a refresh token not
    /// expired), newest first, at most `limit`.
    async fn live_families(&self, pool: &PoolId, sub: &str, now: i64, limit: u32) -> Result<Vec<LiveFamily>>;
    /// Global sign-out: every family of the user is revoked, tokens issued before `at`
    /// stop working, and the feed says so.
    async fn sign_out_user(&self, pool: &PoolId, sub: &str, at: i64) -> Result<()>;
    /// Revokes every unrevoked family bound to `tenant` (only `sub`'s when given) and
    /// publishes each on its pool's feed; returns how many were revoked. Suspending a
    /// tenant and removing a member use it.
    async fn revoke_tenant_families(&self, tenant: &TenantId, sub: Option<&str>, at: i64) -> Result<u64>;
    /// The pool's feed after `after_seq`, at most `limit` events.
    async fn revocations_after(&self, pool: &PoolId, after_seq: i64, limit: u32) -> Result<Vec<RevocationEvent>>;
}

#[async_trait]
pub trait CodeRepo: Send + Sync {
    /// Stores a code, replacing any earlier one for the same user and purpose.
    async fn put_code(&self, code: &OneTimeCode) -> Result<()>;
    async fn get_code(&self, pool: &PoolId, sub: &str, purpose: &str) -> Result<Option<OneTimeCode>>;
    /// Counts a wrong guess; returns the attempts so far.
    async fn count_code_attempt(&self, pool: &PoolId, sub: &str, purpose: &str) -> Result<i64>;
    async fn delete_code(&self, pool: &PoolId, sub: &str, purpose: &str) -> Result<()>;
}

/// Authorization codes, browser sessions and user pool domains of the hosted login.
#[async_trait]
pub trait LoginRepo: Send + Sync {
    async fn save_authorization_code(&self, code: &AuthorizationCode) -> Result<()>;
    /// Marks the code used at `at` in one statement, so two concurrent exchanges cannot
    /// both get [`Redemption::Fresh`].
    async fn redeem_authorization_code(&self, code_hash: &str, at: i64) -> Result<Redemption>;
    async fn create_login_session(&self, session: &LoginSession) -> Result<()>;
    async fn get_login_session(&self, id_hash: &str) -> Result<Option<LoginSession>>;
    /// Ends a session (sign-out); false when it was not live.
    async fn end_login_session(&self, id_hash: &str, at: i64) -> Result<bool>;
    /// Deletes codes, sessions and spent values expired before `before`, and devices handed
    /// out before it and never confirmed; how many.
    async fn purge_login(&self, before: i64) -> Result<u64>;
    /// Records a one-time value (by its hash) as used until `expires_at`; false when it
    /// already was — of two concurrent uses exactly one gets `true` (SRP answers).
    async fn spend(&self, value_hash: &str, expires_at: i64) -> Result<bool>;
    async fn save_federation_request(&self, request: &FederationRequest) -> Result<()>;
    /// Leaves a verified identity (sealed) on a pending request: false when the request is
    /// unknown, used, expired, or has one already.
    async fn attach_federation_result(&self, state_hash: &str, result: &str, now: i64) -> Result<bool>;
    /// Uses up a pending request in one statement (of two concurrent callers one gets it):
    /// `None` when it is unknown, used or expired.
    async fn take_federation_request(&self, state_hash: &str, now: i64) -> Result<Option<FederationRequest>>;
    /// The pending request whose SAML AuthnRequest had this ID.
    async fn federation_request_by_id(&self, request_id: &str) -> Result<Option<FederationRequest>>;
    /// `Conflict("domain")` when the domain is taken, `Conflict("pool_domain")` when the
    /// pool already has a domain of that kind.
    async fn create_pool_domain(&self, domain: &PoolDomain) -> Result<()>;
    async fn get_pool_domain(&self, domain: &str) -> Result<Option<PoolDomain>>;
    async fn list_pool_domains(&self, pool: &PoolId) -> Result<Vec<PoolDomain>>;
    /// Writes the certificate and version of an existing domain; `NotFound("domain")`.
    async fn update_pool_domain(&self, domain: &PoolDomain) -> Result<()>;
    /// False when the pool had no such domain.
    async fn delete_pool_domain(&self, pool: &PoolId, domain: &str) -> Result<bool>;
    /// Creates or replaces a customization (pool-wide or one client's).
    async fn put_ui_customization(&self, ui: &UiCustomization) -> Result<()>;
    async fn get_ui_customization(&self, pool: &PoolId, client_id: &str) -> Result<Option<UiCustomization>>;
}

/// Users' devices (see [`Device`]), deleted with the user.
#[async_trait]
pub trait DeviceRepo: Send + Sync {
    /// `NotFound("user")` when the user does not exist.
    async fn create_device(&self, device: &Device) -> Result<()>;
    async fn get_device(&self, pool: &PoolId, key: &str) -> Result<Option<Device>>;
    /// The user's confirmed devices, by key, after the page cursor (a device key).
    async fn list_devices(&self, pool: &PoolId, sub: &str, page: &PageRequest) -> Result<Vec<Device>>;
    /// Writes a device's name, verifier, remembered status and times; `NotFound("device")`.
    async fn update_device(&self, device: &Device) -> Result<()>;
    /// False when the user had no such device.
    async fn delete_device(&self, pool: &PoolId, sub: &str, key: &str) -> Result<bool>;
}

/// Users' passkeys and their pending registrations (see [`PasskeyCredential`]), deleted
/// with the user.
#[async_trait]
pub trait PasskeyRepo: Send + Sync {
    /// Begins (or restarts) the user's registration: one pending per user, the newest wins.
    /// `NotFound("user")` when the user does not exist.
    async fn put_registration(&self, pending: &PendingRegistration) -> Result<()>;
    /// Removes and returns the user's pending registration, in one statement: of two
    /// concurrent completions exactly one gets it (expired ones are returned too; the
    /// caller refuses them).
    async fn take_registration(&self, pool: &PoolId, sub: &str) -> Result<Option<PendingRegistration>>;
    /// `Conflict("passkey")` when the pool already has a credential with that id;
    /// `NotFound("user")` when the user does not exist.
    async fn add_passkey(&self, credential: &PasskeyCredential) -> Result<()>;
    /// The user's passkeys, oldest first.
    async fn list_passkeys(&self, pool: &PoolId, sub: &str) -> Result<Vec<PasskeyCredential>>;
    /// False when the user has no such passkey.
    async fn delete_passkey(&self, pool: &PoolId, sub: &str, credential_id: &str) -> Result<bool>;
    /// Records a verified assertion of the user's passkey: the new counter and record,
    /// only if the counter moved forward (or the authenticator keeps none: both 0). False
    /// when it did not — a replayed or cloned authenticator — or the passkey is gone; of
    /// two concurrent uses of one counter value exactly one gets true.
    async fn use_passkey(
        &self,
        pool: &PoolId,
        sub: &str,
        credential_id: &str,
        counter: i64,
        credential: &str,
        at: i64,
    ) -> Result<bool>;
}

/// The sign-in keys of a batch of would-be users that other users already hold
/// ([`UserImportRepo::taken_user_keys`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TakenKeys {
    pub usernames: std::collections::HashSet<String>,
    pub emails: std::collections::HashSet<String>,
    pub phones: std::collections::HashSet<String>,
    pub preferred_usernames: std::collections::HashSet<String>,
}

/// One processed batch of an import job's lines, written by
/// [`UserImportRepo::commit_import_batch`] in one transaction.
#[derive(Debug, Clone)]
pub struct ImportBatch<'a> {
    pub job_id: &'a str,
    /// The worker holding the job's lease.
    pub owner: &'a str,
    /// The job's `next_line` when the batch was read; the batch covers lines
    /// `from_line .. to_line`.
    pub from_line: i64,
    pub to_line: i64,
    pub users: &'a [(User, UserKeys)],
    pub errors: &'a [RowError],
    pub skipped: i64,
    pub lease_until: i64,
    /// The webhook events of the batch's users (`user.created`), written with them.
    pub events: &'a [WebhookEvent],
}

/// Bulk user import jobs (see [`crate::user_import`]), pool-owned: deleted with the pool.
/// The uploaded file is kept in line-aligned chunks until the job ends.
#[async_trait]
pub trait UserImportRepo: Send + Sync {
    async fn create_import_job(&self, job: &ImportJob) -> Result<()>;
    async fn get_import_job(&self, pool: &PoolId, job_id: &str) -> Result<Option<ImportJob>>;
    /// A job by id alone (job ids are unique across pools): the upload URL names no pool.
    async fn find_import_job(&self, job_id: &str) -> Result<Option<ImportJob>>;
    /// The pool's jobs, oldest first, after the page cursor (`{created_at:020}:{job_id}`).
    async fn list_import_jobs(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<ImportJob>>;
    /// Stores one chunk of upload attempt `attempt` (not yet part of the job).
    async fn put_import_chunk(&self, job_id: &str, attempt: &str, chunk: &ImportChunk) -> Result<()>;
    /// Makes `attempt` the job's file, if the job is still `Created`, has no file, its
    /// upload capability still hashes to `upload_hash` and has not expired at `now`: the
    /// capability is spent (`uploaded_at` set) and other attempts' chunks are deleted, in one
    /// transaction. False (nothing written) otherwise: of two racing uploads one wins.
    async fn finish_import_upload(
        &self,
        job_id: &str,
        attempt: &str,
        upload_hash: &str,
        now: i64,
        total_rows: i64,
        file_bytes: i64,
    ) -> Result<bool>;
    /// Deletes the chunks of an upload attempt that did not complete.
    async fn discard_import_upload(&self, job_id: &str, attempt: &str) -> Result<()>;
    /// `Created` with a file -> `Pending` at `now`; false when the job was not in that state.
    async fn start_import_job(&self, pool: &PoolId, job_id: &str, now: i64) -> Result<bool>;
    /// `Pending` or `InProgress` -> `Stopping`; false when the job was in neither.
    async fn stop_import_job(&self, pool: &PoolId, job_id: &str) -> Result<bool>;
    /// Takes one job that needs a worker (`Pending`, `InProgress` or `Stopping`, its lease
    /// expired at `now`) for `owner` until `lease_until`, moving `Pending` to `InProgress`;
    /// of two workers racing for a job one gets it.
    async fn claim_import_job(&self, now: i64, owner: &str, lease_until: i64) -> Result<Option<ImportJob>>;
    /// The chunk of the job's file holding `line`.
    async fn import_chunk(&self, job_id: &str, attempt: &str, line: i64) -> Result<Option<ImportChunk>>;
    /// Which of `keys` other users of `pool` already hold.
    async fn taken_user_keys(&self, pool: &PoolId, keys: &[&UserKeys]) -> Result<TakenKeys>;
    /// In one transaction: moves the job's `next_line` from `from_line` to `to_line`, adds
    /// the batch's counts, renews the lease, creates the users, records the errors and
    /// writes the batch's webhook events — if
    /// `owner` still holds the job, it is `InProgress` and still at `from_line`; false
    /// (nothing written) otherwise (stopped, or taken over). A user key conflict (a user
    /// created meanwhile) is `Conflict(…)` as [`UserRepo::create_user`], nothing written.
    async fn commit_import_batch(&self, batch: &ImportBatch<'_>) -> Result<bool>;
    /// Ends the job held by `owner` with `status` and `message` at `now`, adding `skipped`
    /// (lines never processed) and recording `error` (a refused header) when given, and
    /// deletes its file; false when `owner` no longer holds it.
    #[allow(clippy::too_many_arguments)]
    async fn finish_import_job(
        &self,
        job_id: &str,
        owner: &str,
        status: ImportStatus,
        message: &str,
        skipped: i64,
        error: Option<&RowError>,
        now: i64,
    ) -> Result<bool>;
    /// Lets a job's lease go (a worker shutting down), so another worker resumes it at once.
    async fn release_import_job(&self, job_id: &str, owner: &str) -> Result<()>;
    /// The job's per-line errors after line `after_line`, by line, at most `limit`.
    async fn import_errors(&self, job_id: &str, after_line: i64, limit: u32) -> Result<Vec<RowError>>;
}

/// Users' MFA records (see [`UserMfa`]), one per user, deleted with the user.
#[async_trait]
pub trait MfaRepo: Send + Sync {
    async fn get_mfa(&self, pool: &PoolId, sub: &str) -> Result<Option<UserMfa>>;
    /// Creates or replaces the record; `NotFound("user")` when the user does not exist.
    /// `last_step` never moves back: the stored value is kept when it is higher, so a
    /// read-modify-write racing a sign-in cannot re-open a used code.
    async fn put_mfa(&self, mfa: &UserMfa) -> Result<()> {
        self.put_mfa_with(mfa, &[]).await
    }
    /// [`MfaRepo::put_mfa`], writing `events` in the same transaction.
    async fn put_mfa_with(&self, mfa: &UserMfa, events: &[WebhookEvent]) -> Result<()>;
    /// Deletes the record (not an error when there is none).
    async fn delete_mfa(&self, pool: &PoolId, sub: &str) -> Result<()>;
    /// Records that a code of time step `step` was accepted, atomically and only if `step`
    /// is later than the last accepted one: true when this call recorded it. Of two
    /// concurrent sign-ins with the same code exactly one gets true. False when the user
    /// has no record.
    async fn use_totp_step(&self, pool: &PoolId, sub: &str, step: i64) -> Result<bool>;
}

/// How many tenants have one tier and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCount {
    pub tier: crate::tenant::Tier,
    pub status: crate::tenant::TenantStatus,
    pub count: i64,
}

/// Tenants themselves (platform-owned: no row-level security).
#[async_trait]
pub trait TenantRepo: Send + Sync {
    /// `Conflict("tenant")` when the id is taken.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        self.create_tenant_with(tenant, &[], &[]).await
    }
    /// [`TenantRepo::create_tenant`] claiming `domains` (the tenant's own) and writing
    /// `events` in the same transaction: all or nothing. `Conflict("domain")` when another
    /// tenant holds one of the domains.
    async fn create_tenant_with(&self, tenant: &Tenant, domains: &[EmailDomain], events: &[WebhookEvent])
    -> Result<()>;
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>>;
    /// Tenants ordered by id, after the page cursor (a tenant id).
    async fn list_tenants(&self, page: &PageRequest) -> Result<Vec<Tenant>>;
    /// How many tenants there are of each tier and status (combinations with none are
    /// left out), for the platform portal's figures.
    async fn count_tenants(&self) -> Result<Vec<TenantCount>>;
    /// The platinum tenant whose dedicated pool is `pool`, if any.
    async fn get_tenant_by_pool(&self, pool: &PoolId) -> Result<Option<Tenant>>;
    /// Deletes the tenant with its domains, memberships and invitations, and its webhook
    /// endpoints with their deliveries and delivery log, in one transaction.
    async fn delete_tenant(&self, id: &TenantId) -> Result<()>;
}

/// Email domains claimed by tenants (tenant-owned). Lookups by domain alone are
/// cross-tenant (home-realm discovery) and run in the store's platform read scope.
#[async_trait]
pub trait DomainRepo: Send + Sync {
    /// `Conflict("domain")` when any tenant already has the domain; `NotFound("tenant")`
    /// when the tenant does not exist.
    async fn add_domain(&self, domain: &EmailDomain) -> Result<()>;
    /// The tenant's domains ordered by domain.
    async fn list_domains(&self, tenant: &TenantId) -> Result<Vec<EmailDomain>>;
    /// The domain's claim, whichever tenant holds it (cross-tenant: discovery, auto-join).
    async fn get_domain(&self, domain: &DomainName) -> Result<Option<EmailDomain>>;
    /// Marks the tenant's domain verified (and clears its challenge); `NotFound("domain")`.
    async fn set_domain_verified(&self, tenant: &TenantId, domain: &DomainName, verified: bool) -> Result<()>;
    /// `NotFound("domain")` when the tenant has no such domain.
    async fn set_domain_auto_join(&self, tenant: &TenantId, domain: &DomainName, auto_join: bool) -> Result<()>;
    /// `NotFound("domain")` when the tenant has no such domain.
    async fn remove_domain(&self, tenant: &TenantId, domain: &DomainName) -> Result<()>;
}

/// Users' memberships in tenants (tenant-owned).
#[async_trait]
pub trait MembershipRepo: Send + Sync {
    /// Creates the membership, or replaces role, status and pool of an existing one
    /// (re-adding a removed member). `NotFound("tenant or user")` when either is missing.
    async fn upsert_membership(&self, membership: &Membership) -> Result<()>;
    async fn get_membership(&self, tenant: &TenantId, sub: &str) -> Result<Option<Membership>>;
    /// The tenant's memberships, removed ones included, ordered by sub, after the page
    /// cursor (a sub).
    async fn list_memberships(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<Membership>>;
    /// A user's **active** memberships in every tenant, ordered by tenant id
    /// (cross-tenant: sign-in, `/v1/me`, switching tenants). Callers must still check that
    /// the tenant itself is active.
    async fn list_memberships_for_user(&self, pool: &PoolId, sub: &str) -> Result<Vec<Membership>>;
    /// `NotFound("membership")` when the user is not a member (active or removed).
    async fn set_membership_role(&self, tenant: &TenantId, sub: &str, role: Role) -> Result<()>;
    /// Marks the membership removed (the row stays); `NotFound("membership")`.
    async fn remove_membership(&self, tenant: &TenantId, sub: &str) -> Result<()>;
    /// Records that the user made this tenant their active one at `at` (ms);
    /// `NotFound("membership")`.
    async fn touch_membership(&self, tenant: &TenantId, sub: &str, at: i64) -> Result<()>;
}

/// Invitations to tenants (tenant-owned). Only token hashes are stored.
#[async_trait]
pub trait InvitationRepo: Send + Sync {
    /// `NotFound("tenant")` when the tenant does not exist.
    async fn create_invitation(&self, invitation: &Invitation) -> Result<()> {
        self.create_invitation_with(invitation, &[]).await
    }
    /// [`InvitationRepo::create_invitation`], writing `events` in the same transaction.
    async fn create_invitation_with(&self, invitation: &Invitation, events: &[WebhookEvent]) -> Result<()>;
    async fn get_invitation(&self, tenant: &TenantId, id: &str) -> Result<Option<Invitation>>;
    /// The invitation whose token hashes to `token_hash`, in whichever tenant
    /// (cross-tenant: the invitee does not know the tenant yet).
    async fn get_invitation_by_token_hash(&self, token_hash: &str) -> Result<Option<Invitation>>;
    /// The tenant's invitations ordered by id, after the page cursor (an id).
    async fn list_invitations(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<Invitation>>;
    /// Marks the invitation accepted by `sub` at `now` (ms) if it is still pending then
    /// (not accepted, not revoked, `now < expires_at`), atomically: of two concurrent
    /// acceptances one wins. Returns whether this call accepted it.
    async fn accept_invitation(&self, tenant: &TenantId, id: &str, sub: &str, now: i64) -> Result<bool>;
    /// Revokes a pending invitation (not accepted, revoked or expired at `at`); false when
    /// it was no longer pending, `NotFound("invitation")` when it does not exist.
    async fn revoke_invitation(&self, tenant: &TenantId, id: &str, at: i64) -> Result<bool> {
        self.revoke_invitation_with(tenant, id, at, &[]).await
    }
    /// [`InvitationRepo::revoke_invitation`], writing `events` in the same transaction when
    /// this call revoked it.
    async fn revoke_invitation_with(
        &self,
        tenant: &TenantId,
        id: &str,
        at: i64,
        events: &[WebhookEvent],
    ) -> Result<bool>;
}

/// Tenant API keys (tenant-owned). Lookups by hash are cross-tenant (a verifier does not
/// know the tenant before the key is found) and run in the store's platform read scope.
#[async_trait]
pub trait ApiKeyRepo: Send + Sync {
    /// `NotFound("tenant")` when the tenant does not exist; `Conflict("api key")` when the
    /// id or hash is taken.
    async fn create_api_key(&self, key: &ApiKey) -> Result<()> {
        self.create_api_key_with(key, &[]).await
    }
    /// [`ApiKeyRepo::create_api_key`], writing `events` in the same transaction.
    async fn create_api_key_with(&self, key: &ApiKey, events: &[WebhookEvent]) -> Result<()>;
    async fn get_api_key(&self, tenant: &TenantId, id: &str) -> Result<Option<ApiKey>>;
    /// The key with this hash, whichever tenant owns it.
    async fn get_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    /// The tenant's keys ordered by id, after the page cursor (an id).
    async fn list_api_keys(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<ApiKey>>;
    /// Replaces name, scopes, service account and rate limit; `NotFound("api key")`.
    async fn update_api_key(&self, key: &ApiKey) -> Result<()>;
    /// Revokes the key unless it already is; returns whether this call revoked it.
    /// `NotFound("api key")` when it does not exist.
    async fn revoke_api_key(&self, tenant: &TenantId, id: &str, at: i64) -> Result<bool> {
        self.revoke_api_key_with(tenant, id, at, &[]).await
    }
    /// [`ApiKeyRepo::revoke_api_key`], writing `events` in the same transaction when this
    /// call revoked the key (none otherwise).
    async fn revoke_api_key_with(&self, tenant: &TenantId, id: &str, at: i64, events: &[WebhookEvent]) -> Result<bool>;
    /// Rotation, in one transaction: sets `grace_until` on the old key (if it is neither
    /// revoked nor already rotated — otherwise returns false and writes nothing) and
    /// creates `new` (whose `rotated_from` names the old key).
    async fn rotate_api_key(&self, tenant: &TenantId, old_id: &str, grace_until: i64, new: &ApiKey) -> Result<bool> {
        self.rotate_api_key_with(tenant, old_id, grace_until, new, &[]).await
    }
    /// [`ApiKeyRepo::rotate_api_key`], writing `events` in the same transaction when the
    /// rotation happened.
    async fn rotate_api_key_with(
        &self,
        tenant: &TenantId,
        old_id: &str,
        grace_until: i64,
        new: &ApiKey,
        events: &[WebhookEvent],
    ) -> Result<bool>;
    /// Adds aggregated usage in one transaction: `count` is added to the (tenant, key,
    /// day) total, and the key's `last_used_at` moves forward to `last_used_at` (never
    /// back). Deltas for keys that no longer exist are dropped.
    async fn add_api_key_usage(&self, deltas: &[UsageDelta]) -> Result<()>;
    /// The tenant's usage totals with `from_day <= day <= to_day`, ordered by day then key.
    async fn api_key_usage(&self, tenant: &TenantId, from_day: i64, to_day: i64) -> Result<Vec<UsageRow>>;
}

/// Analytics aggregates (migration 0023): figures per (tenant, day) and monthly active users
/// per (tenant, month, user). Tenant lines are tenant-owned (row-level security); the
/// platform line (`tenant: None`, "no tenant") lives in tables of its own. Cross-tenant
/// reads run in the store's platform read scope.
#[async_trait]
pub trait AnalyticsRepo: Send + Sync {
    /// Adds counts in one transaction: `count` is added to each (tenant, day, figure)
    /// total (`count = count + n`, so concurrent writers lose nothing). Deltas of tenants
    /// that no longer exist are dropped.
    async fn add_figures(&self, deltas: &[crate::analytics::FigureDelta]) -> Result<()>;
    /// Records users as active in their month, once each: a user already recorded for that
    /// (tenant, month) is left as it is. Users of tenants that no longer exist are dropped.
    /// Returns how many were new.
    async fn add_active_users(&self, users: &[crate::analytics::ActiveUser]) -> Result<u64>;
    /// The line's totals with `from_day <= day <= to_day`, by day then figure.
    async fn figures(
        &self,
        tenant: Option<&TenantId>,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<crate::analytics::FigureRow>>;
    /// Every line's totals (tenants and the platform line), by tenant, day, figure.
    async fn all_figures(&self, from_day: i64, to_day: i64) -> Result<Vec<crate::analytics::FigureRow>>;
    /// One line's monthly active users in `month` (`YYYYMM`).
    async fn monthly_active(&self, tenant: Option<&TenantId>, month: i32) -> Result<crate::analytics::MauCount>;
    /// Every line with active users in `month`, the platform line (`None`) included.
    async fn all_monthly_active(&self, month: i32) -> Result<Vec<(Option<TenantId>, crate::analytics::MauCount)>>;
    /// API calls per key per day of every tenant (`None`) or one, `from_day..=to_day`.
    async fn key_calls(
        &self,
        tenant: Option<&TenantId>,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<crate::analytics::KeyCalls>>;
    /// Active members and those with MFA enabled, of every tenant (`None`) or one.
    async fn mfa_adoption(&self, tenant: Option<&TenantId>) -> Result<Vec<crate::analytics::MfaAdoption>>;
}

/// Tenants' SSO connections (tenant-owned). The lookup by pool provider is cross-tenant
/// (a federated sign-in knows the provider, not yet the tenant) and runs in the store's
/// platform read scope.
#[async_trait]
pub trait ConnectionRepo: Send + Sync {
    /// `NotFound("tenant")` when the tenant does not exist; `Conflict("connection")` when
    /// the id, or the provider name in the pool, is taken.
    async fn create_connection(&self, connection: &Connection) -> Result<()>;
    async fn get_connection(&self, tenant: &TenantId, id: &str) -> Result<Option<Connection>>;
    /// The connection behind provider `provider` of `pool`, whichever tenant owns it.
    async fn connection_for_provider(&self, pool: &PoolId, provider: &str) -> Result<Option<Connection>>;
    /// The tenant's connections ordered by id, after the page cursor (an id).
    async fn list_connections(&self, tenant: &TenantId, page: &PageRequest) -> Result<Vec<Connection>>;
    /// Replaces name, enabled, default role, role claim, role mapping and `updated_at`;
    /// `NotFound("connection")`.
    async fn update_connection(&self, connection: &Connection) -> Result<()>;
    /// `NotFound("connection")`.
    async fn delete_connection(&self, tenant: &TenantId, id: &str) -> Result<()>;
}

/// The audit trail (see [`crate::audit`]). Chains are tenant-owned (a tenant id, or
/// [`crate::audit::PLATFORM_CHAIN`]); events are only ever appended, and removed only by a
/// retention purge that leaves an anchor so the rest still verifies.
#[async_trait]
pub trait AuditRepo: Send + Sync {
    /// Appends events, each to the end of its chain (`seq` and hashes are computed here,
    /// under a per-chain lock, so concurrent writers — several nodes — never fork a chain).
    /// One transaction: all events or none.
    async fn append_audit(&self, events: &[NewEvent]) -> Result<()>;
    /// A chain's events newest first, filtered; `q.limit` at most.
    async fn audit_events(&self, chain: &str, q: &AuditQuery) -> Result<Vec<AuditEvent>>;
    /// A chain's events in `seq` order after `after_seq`, at most `limit` (verification,
    /// export).
    async fn audit_chain_page(&self, chain: &str, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>>;
    /// Every chain that has events or an anchor (platform read).
    async fn audit_chains(&self) -> Result<Vec<String>>;
    /// Where the last purge cut the chain, if it was ever purged.
    async fn audit_anchor(&self, chain: &str) -> Result<Option<Anchor>>;
    /// Deletes the chain's events older than `before` (ms) — never the newest one, so the
    /// chain keeps its head — and records the anchor (the last deleted event's seq and
    /// hash), signed with `anchor_key` ([`crate::audit::Anchor::mac_for`]), in the same
    /// transaction. Returns how many were deleted.
    async fn purge_audit(&self, chain: &str, before: i64, now: i64, anchor_key: &[u8; 32]) -> Result<u64>;
    /// Signs the chain's current anchor with `anchor_key` (an operator vouching for an
    /// anchor left unsigned by an earlier version); `NotFound("anchor")` without one.
    async fn sign_audit_anchor(&self, chain: &str, anchor_key: &[u8; 32]) -> Result<()>;
}

/// How many deliveries wait, and how many failed for good (the backlog gauges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookBacklog {
    pub events_pending: i64,
    pub deliveries_pending: i64,
    pub deliveries_failed: i64,
}

/// Webhooks (see [`crate::webhook`]): endpoints, the event outbox, deliveries and their
/// attempts. Every row has an owner (a tenant id or the platform) and is tenant-owned on
/// PostgreSQL; the worker's cross-owner reads run in the platform read scope and each
/// write in its owner's scope.
#[async_trait]
pub trait WebhookRepo: Send + Sync {
    /// `Conflict("webhook")` when the id is taken.
    async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()>;
    async fn get_webhook_endpoint(&self, owner: &str, id: &str) -> Result<Option<WebhookEndpoint>>;
    /// The owner's endpoints ordered by id, after the page cursor (an id).
    async fn list_webhook_endpoints(&self, owner: &str, page: &PageRequest) -> Result<Vec<WebhookEndpoint>>;
    /// Replaces url, description, filter, enabled, disabled reason, secrets and
    /// `updated_at`; `NotFound("webhook")`.
    async fn update_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()>;
    /// Deletes the endpoint with its deliveries and attempts; `NotFound("webhook")`.
    async fn delete_webhook_endpoint(&self, owner: &str, id: &str) -> Result<()>;
    /// Writes events that report no other change (a failed sign-in), in their own
    /// transaction. Events of a change go through the change's own write instead.
    async fn emit_webhook_events(&self, events: &[WebhookEvent]) -> Result<()>;
    /// Fans out up to `limit` events not yet fanned out: one pending delivery per enabled
    /// endpoint that hears the event (its owner's, and the platform's) and existed when it
    /// happened, due at `now`; ids come from `new_id`. One transaction; each event claimed,
    /// so two nodes never fan out the same event. Returns how many deliveries were created.
    async fn fan_out_webhook_events(
        &self,
        now: i64,
        limit: u32,
        new_id: &(dyn Fn() -> String + Send + Sync),
    ) -> Result<u64>;
    /// Creates one delivery directly (the test event, sent to one endpoint only).
    async fn create_webhook_delivery(&self, delivery: &WebhookDelivery) -> Result<()>;
    /// Claims up to `limit` pending deliveries due at `now` until `lease_until` (a lease in
    /// the row: several nodes may run workers).
    async fn claim_webhook_deliveries(&self, now: i64, lease_until: i64, limit: u32) -> Result<Vec<WebhookDelivery>>;
    /// Records an attempt and its consequences in one transaction: the attempt row, the
    /// delivery's status, the endpoint's failure streak (cleared by a delivery, started by
    /// a failure) and, when asked, disables the endpoint (failing its pending deliveries).
    async fn record_webhook_attempt(&self, outcome: &AttemptOutcome) -> Result<()>;
    /// An endpoint's deliveries newest first (by id descending within a page cursor),
    /// optionally of one status.
    async fn list_webhook_deliveries(
        &self,
        owner: &str,
        endpoint_id: &str,
        status: Option<DeliveryStatus>,
        page: &PageRequest,
    ) -> Result<Vec<WebhookDelivery>>;
    async fn get_webhook_delivery(&self, owner: &str, endpoint_id: &str, id: &str) -> Result<Option<WebhookDelivery>>;
    /// A delivery's attempts, oldest first.
    async fn webhook_attempts(&self, owner: &str, delivery_id: &str) -> Result<Vec<DeliveryAttempt>>;
    /// Makes the delivery pending and due at `now` (same id, attempts kept);
    /// `NotFound("delivery")`.
    async fn replay_webhook_delivery(&self, owner: &str, endpoint_id: &str, id: &str, now: i64) -> Result<()>;
    /// Deletes deliveries (with attempts) and fanned-out events created before `before`;
    /// pending deliveries are kept. Returns how many rows went.
    async fn prune_webhooks(&self, before: i64) -> Result<u64>;
    async fn webhook_backlog(&self) -> Result<WebhookBacklog>;
}

/// A tier change that moves a tenant's users between pools (shared <-> dedicated), applied
/// by [`move_tenant`] in one unit of work:
/// 1. checks `tenant.version` is still stored and writes `tenant` (new tier and
///    `pool_id = to`), bumping the version;
/// 2. inserts every `users[i].user` (already carrying `pool_id = to`, the same sub,
///    password hash, status and attributes) into `to`, with its keys;
/// 3. ensures the role groups `{tenant}-{role}` exist in `to` and puts each moved user in
///    the group of its `role`;
/// 4. re-points the tenant's active memberships to `to` and deletes its removed ones;
/// 5. copies each moved user's MFA record (see [`MfaRepo`]) to `to`, so enrolled
///    authenticators keep working after the move;
/// 6. deletes the tenant's role groups in `from`, and deletes the old user row of every
///    user with `delete_old` (users still in other tenants of `from` keep theirs, and
///    their MFA record);
/// 7. revokes (and publishes) every family bound to the tenant.
#[derive(Debug, Clone)]
pub struct TenantMove {
    pub tenant: Tenant,
    pub from: PoolId,
    pub users: Vec<MovedUser>,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct MovedUser {
    pub user: User,
    pub keys: UserKeys,
    pub role: Role,
    pub delete_old: bool,
}

/// Applies a tenant move (see [`TenantMove`]) inside `work`, which must be the moved
/// tenant's; fails, for the caller to drop the work (nothing written), with
/// `Conflict("version")` if the tenant changed since it was read, `NotFound` when it is
/// gone or an active member was left out of the plan, or a user key conflict
/// (`Conflict("email")`, …) when a moved user collides with one already in the target
/// pool. The caller commits.
pub async fn move_tenant(work: &mut dyn TenantWork, plan: &TenantMove) -> Result<()> {
    let t = &plan.tenant;
    let (from, to) = (&plan.from, &t.pool_id);
    work.write_tenant(t).await?;
    // Order matters for the (pool_id, sub) foreign keys, checked per statement: the new
    // user rows exist before memberships point at them, and memberships point away before
    // the old rows go (their delete cascades).
    for moved in &plan.users {
        work.create_user(&moved.user, &moved.keys).await?;
        // Enrolled authenticators move with the user (before the old row's delete
        // cascades to its MFA record).
        work.copy_mfa(from, to, &moved.user.sub).await?;
    }
    work.ensure_role_groups(to, plan.at).await?;
    for moved in &plan.users {
        work.mirror_role(to, &moved.user.sub, Some(moved.role), plan.at).await?;
    }
    work.repoint_memberships(to).await?;
    work.drop_role_groups(from).await?;
    for moved in plan.users.iter().filter(|m| m.delete_old) {
        work.drop_user(from, &moved.user.sub).await?;
    }
    work.revoke_families(None, plan.at).await?;
    Ok(())
}

/// A unit of work confined to one tenant: one transaction through which a service reads
/// and writes several repositories, so a rule spanning them holds atomically. Everything
/// written commits together at [`TenantWork::commit`]; dropping the work without it rolls
/// everything back.
///
/// Begun by [`Store::begin_tenant`], it runs under the tenant's row-level security on
/// PostgreSQL and holds the tenant's membership lock to its end, so two units of work of
/// one tenant never interleave (the last-admin rule counts admins and writes under it).
#[async_trait]
pub trait TenantWork: Send {
    /// The scope's tenant as stored now.
    async fn tenant(&mut self) -> Result<Option<Tenant>>;
    /// Writes the tenant if `tenant.version` is still the stored one, bumping it;
    /// `Conflict("version")` when someone else wrote it first, `NotFound("tenant")`.
    async fn write_tenant(&mut self, tenant: &Tenant) -> Result<()>;
    /// The users of `pool` whose home tenant (`custom:tenantId`) is the scope's tenant.
    async fn home_users(&mut self, pool: &PoolId) -> Result<Vec<User>>;
    async fn get_user(&mut self, pool: &PoolId, sub: &str) -> Result<Option<User>>;
    /// Creates a user; key conflicts as [`UserRepo::create_user`].
    async fn create_user(&mut self, user: &User, keys: &UserKeys) -> Result<()>;
    /// Replaces a user's record (status, password, attributes, keys); `NotFound("user")`.
    async fn update_user(&mut self, user: &User, keys: &UserKeys) -> Result<()>;
    /// Replaces only a user's attributes and `updated_at` (re-indexed), for changes that
    /// touch no sign-in name (the tenant attributes); a concurrent change of their password
    /// or status is kept. `NotFound("user")`.
    async fn set_attributes(&mut self, user: &User) -> Result<()>;
    /// The user's membership of the scope's tenant (active or removed).
    async fn membership(&mut self, sub: &str) -> Result<Option<Membership>>;
    /// How many active admins the tenant has besides `sub`.
    async fn other_admins(&mut self, sub: &str) -> Result<i64>;
    /// Creates the membership or replaces its pool, role and status; `NotFound("tenant or
    /// user")` when either is missing. `m.tenant_id` must be the scope's tenant.
    async fn put_membership(&mut self, m: &Membership) -> Result<()>;
    /// Ensures the group mirroring `role` of the tenant exists in `pool` (created at
    /// `at`), and puts `sub` in it and in no other role group of the tenant; with `None`,
    /// in none of them.
    async fn mirror_role(&mut self, pool: &PoolId, sub: &str, role: Option<Role>, at: i64) -> Result<()>;
    /// Marks the invitation accepted by `sub` at `now` if it is still pending then;
    /// whether this call accepted it (of two concurrent acceptances one wins).
    async fn accept_invitation(&mut self, id: &str, sub: &str, now: i64) -> Result<bool>;
    /// Revokes, and publishes on the revocation feed, the token families bound to the
    /// tenant (only `sub`'s when given); returns how many.
    async fn revoke_families(&mut self, sub: Option<&str>, at: i64) -> Result<u64>;
    /// Copies the MFA record of `sub` from pool `from` to pool `to` (nothing when there is
    /// none); the user must exist in `to`.
    async fn copy_mfa(&mut self, from: &PoolId, to: &PoolId, sub: &str) -> Result<()>;
    /// Ensures the tenant's three role groups exist in `pool` (created at `at`).
    async fn ensure_role_groups(&mut self, pool: &PoolId, at: i64) -> Result<()>;
    /// Points the tenant's active memberships at `pool` and deletes its removed ones.
    async fn repoint_memberships(&mut self, pool: &PoolId) -> Result<()>;
    /// Deletes the tenant's role groups in `pool`.
    async fn drop_role_groups(&mut self, pool: &PoolId) -> Result<()>;
    /// Deletes a user's row (their MFA record, codes and group memberships go with it by
    /// cascade); no revocation is published: the caller revokes what it must.
    async fn drop_user(&mut self, pool: &PoolId, sub: &str) -> Result<()>;
    /// Writes webhook events reporting this unit of work's change, so they commit (or
    /// roll back) with it: the transactional outbox.
    async fn emit_events(&mut self, events: &[WebhookEvent]) -> Result<()>;
    /// Commits everything written.
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Discards everything written (as dropping the work does, but at once, so the
    /// tenant's lock is released before this returns).
    async fn rollback(self: Box<Self>) -> Result<()>;
}

/// Everything the server needs from storage.
#[async_trait]
pub trait Store:
    PoolRepo
    + ClientRepo
    + UserRepo
    + GroupRepo
    + ResourceServerRepo
    + IdentityProviderRepo
    + AuthEventRepo
    + TermsRepo
    + ManagedLoginRepo
    + SessionConfigRepo
    + AdminCredentialRepo
    + OutboxRepo
    + MetaRepo
    + KeyRepo
    + TokenRepo
    + CodeRepo
    + LoginRepo
    + MfaRepo
    + DeviceRepo
    + PasskeyRepo
    + TenantRepo
    + DomainRepo
    + MembershipRepo
    + InvitationRepo
    + ApiKeyRepo
    + AnalyticsRepo
    + ConnectionRepo
    + AuditRepo
    + UserImportRepo
    + WebhookRepo
{
    /// Which backend this is (`sqlite` or `postgres`), for logs and readiness.
    fn backend(&self) -> &'static str;
    /// Begins a unit of work confined to `tenant` (see [`TenantWork`]).
    async fn begin_tenant(&self, tenant: &TenantId) -> Result<Box<dyn TenantWork>>;
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<()>;
    /// This node's connection pool: open, idle and most connections (no database call).
    fn pool_usage(&self) -> PoolUsage;
    /// Starts hearing the [`Change`](crate::change::Change)s every node of this database
    /// announces, on a connection of its own; `Ok(None)` for a backend that serves one node
    /// (SQLite), which announces nothing.
    async fn listen(&self) -> Result<Option<Box<dyn ChangeFeed>>>;
    /// Calls `hook` with every app client and pool change this store makes from now on,
    /// synchronously, once it has committed (see [`crate::change::LocalHook`]).
    fn on_local_change(&self, hook: crate::change::LocalHook);
}

/// The changes announced by the nodes sharing a database, as one node hears them.
#[async_trait]
pub trait ChangeFeed: Send {
    /// The next change; `Ok(None)` for a payload this version does not know. An error means
    /// the connection was lost and changes may have been missed: drop the feed, and treat
    /// everything cached as stale.
    async fn next(&mut self) -> Result<Option<crate::change::Change>>;
}
