//! cognate-guard integration tests, one binary (STYLE.md, "Tests").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apikeys;
mod attacks;
mod jwks;
mod layer;
mod revocation;
mod support;
#[cfg(feature = "sqlx")]
mod tenant_tx;
mod verify;
