//! SAML 2.0 service-provider processing for Cognate, the way Amazon Cognito federates a
//! user pool with a tenant's IdP (Okta, Entra ID, SimpleSAMLphp…).
//!
//! Pure: no network, no storage, no clock. The caller passes the IdP's metadata, the pool's
//! service-provider identity and key, and `now`; it keeps the outstanding request ids and
//! the replay cache (see [`Assertion::expires_at_secs`]).
//!
//! What it does:
//! - reads IdP metadata ([`parse_metadata`]) and writes the pool's SP metadata ([`sp_metadata`]);
//! - builds HTTP-Redirect AuthnRequests, signed with the pool's key ([`authn_request_url`]);
//! - verifies HTTP-POST Responses ([`verify_response`]): one signature from a metadata
//!   certificate over exactly the Response or the one Assertion it carries, then issuer,
//!   destination, recipient, audience, times and `InResponseTo`; encrypted assertions are
//!   decrypted with the pool's key;
//! - single logout over the HTTP-Redirect binding, both directions ([`logout_request_url`],
//!   [`parse_logout_request`], [`logout_response_url`], [`parse_logout_response`]).
//!
//! XML signatures are verified by this crate's own exclusive canonicalisation over roxmltree
//! and aws-lc-rs, restricted to the one profile SAML uses (enveloped signature, exclusive
//! C14N, RSA with SHA-2): a smaller surface than a general XMLDSig engine, and every
//! reference is tied to the element that is read afterwards, which is what stops signature
//! wrapping.

mod c14n;
mod cert;
mod dsig;
mod error;
mod metadata;
mod redirect;
mod response;
mod time_fmt;
mod xml;
mod xmlenc;

pub use error::SamlError;
pub use metadata::{IdpMetadata, ServiceProvider, parse_metadata, sp_metadata};
pub use redirect::{
    LogoutRequest, LogoutResponse, authn_request_url, logout_request_url, logout_response_url, parse_logout_request,
    parse_logout_response,
};
pub use response::{Assertion, Expected, response_in_response_to, verify_response};

/// The largest decoded SAML message accepted (512 KiB). Real Responses are a few KiB; the
/// limit bounds the work an anonymous POST to the ACS can cause.
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024;

/// Namespaces of the documents read and written here.
pub(crate) mod ns {
    pub const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
    pub const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
    pub const METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
    pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
    pub const XMLENC: &str = "http://www.w3.org/2001/04/xmlenc#";
}

/// SAML binding and status identifiers.
pub(crate) mod uris {
    pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
    pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
    pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
    pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
    pub const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
}

#[cfg(test)]
mod tests;
