//! Surface-neutral application services: the rules every surface (the Cognito API, `/v1`,
//! OAuth, and next the hosted login pages, federation callbacks and consoles) shares. A
//! service takes plain request values, returns typed outcomes and typed errors, and knows
//! nothing of HTTP, JSON or any surface's error names; each surface parses its input, calls
//! one service and maps the answer to its own shape.
//!
//! - [`sign_in`]: the sign-in state machine (password, challenges, MFA, tenant pick,
//!   brute-force counters).
//! - [`accounts`]: one-time codes (where they go, stored, sent, checked) and password
//!   recovery.
//! - [`members`]: invitations and memberships (join, roles, the last admin, removal).
//! - [`tenants`]: tenants (create, rename, MFA policy, suspend, delete, tier moves).
//! - [`users`]: finding a user by any of their sign-in names.

pub mod accounts;
pub mod clients;
pub mod groups;
pub mod members;
pub mod pools;
pub mod resource_servers;
pub mod sign_in;
pub mod tenants;
pub mod tokens;
pub mod users;
