//! Cognate's domain: identifiers, user pools, app clients, users and their attributes,
//! groups, resource servers, admin credentials, tenants and their memberships, MFA (TOTP),
//! the rules that govern them, and the per-aggregate repository traits that
//! `cognate-store` implements.
//!
//! Nothing here knows about HTTP or SQL. Time and randomness come through [`Clock`] and
//! [`Rng`] so expiry and id generation are deterministic in tests.

pub mod admin;
pub mod analytics;
pub mod apikey;
pub mod attributes;
pub mod audit;
pub mod auth_event;
pub mod change;
pub mod claims;
pub mod client;
pub mod clock;
pub mod connection;
pub mod crypto;
pub mod device;
pub mod error;
pub mod group;
pub mod idp;
pub mod ids;
pub mod jwt;
pub mod login;
pub mod managed_login;
pub mod mfa;
pub mod page;
pub mod passkey;
pub mod password;
pub mod pool;
pub mod repo;
pub mod resource_server;
pub mod session_config;
pub mod srp;
pub mod tenant;
pub mod terms;
pub mod text;
pub mod token;
pub mod totp;
pub mod user;
pub mod user_import;
pub mod webhook;

pub use clock::{Clock, ManualClock, Rng, SystemClock, SystemRng};
pub use error::StoreError;
