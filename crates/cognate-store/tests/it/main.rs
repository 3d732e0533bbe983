//! Repository tests. Every test runs on SQLite and on PostgreSQL (a fresh database per
//! test, dropped afterwards). PostgreSQL comes from `COGNATE_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); if it is unreachable the tests
//! fail rather than skip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic loudly

mod api_keys;
mod audit;
mod changes;
mod connections;
mod files;
mod harness;
mod idps;
mod kept_connections;
mod managed_login;
mod mfa;
mod outbox;
mod passkeys;
mod pools;
mod roles;
mod tenancy;
mod terms;
mod tokens;
mod users;
