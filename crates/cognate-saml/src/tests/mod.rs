//! Crate tests that need whole documents: real SimpleSAMLphp responses, and responses signed
//! here with a test IdP key to forge every attack `verify_response` must refuse.

mod encrypted;
mod forged;
mod idp;
mod logout;
mod metadata;
mod simplesamlphp;
