//! Integration tests for cognate-server, compiled into one binary (see STYLE.md "Tests").

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: failing loudly is the point

mod analytics;
mod api_keys;
mod connections;
mod console_admin;
mod console_keys;
mod console_ops;
mod console_setup;
mod directory;
mod domain_dns;
mod federation_oidc;
mod layers;
mod managed_login;
mod metrics;
mod mfa;
mod openapi;
mod propagation;
mod services;
mod shared_limits;
mod support;
mod tenants_api;
mod user_imports;
mod webhooks;
