//! One error type for the crate. Messages are written for a tenant administrator setting up
//! an IdP: they name the SAML element or setting at fault and the value Cognate expected,
//! never key material or whole documents.

/// Why a SAML document or request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    /// Not base64, not UTF-8, not well-formed XML, or a required element is missing.
    #[error("malformed SAML message: {0}")]
    Malformed(String),
    /// A DTD or entity declaration: refused before parsing (XXE, entity expansion).
    #[error("SAML message refused: XML document type declarations (DTD) and entities are not accepted")]
    DtdRefused,
    /// The message is larger than [`crate::MAX_MESSAGE_BYTES`].
    #[error("SAML message refused: larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The IdP metadata cannot be used.
    #[error("IdP metadata: {0}")]
    Metadata(String),
    /// The IdP answered with a status other than Success.
    #[error("the IdP did not sign the user in: status {code}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Status { code: String, message: Option<String> },
    /// Neither the Response nor its Assertion carries a signature.
    #[error("SAML response refused: neither the Response nor the Assertion is signed")]
    NotSigned,
    /// SHA-1 or another algorithm too weak to trust.
    #[error("SAML signature refused: {0} is too weak; use RSA-SHA256 or stronger")]
    WeakAlgorithm(String),
    /// An algorithm or transform outside the SAML profile Cognate accepts.
    #[error("SAML signature refused: unsupported {0}")]
    UnsupportedAlgorithm(String),
    /// The signature value does not verify with any certificate of the IdP's metadata.
    #[error("SAML signature does not verify with the IdP's signing certificate(s) from its metadata")]
    BadSignature,
    /// The signed content was changed after signing.
    #[error("SAML signature refused: the signed content does not match its digest (altered after signing)")]
    DigestMismatch,
    /// KeyInfo names a certificate that is not in the IdP's metadata.
    #[error("SAML signature refused: signed with a certificate that is not in the IdP's metadata")]
    UntrustedCertificate,
    /// The document's structure is not the one a signature can safely cover (signature
    /// wrapping: extra or moved assertions, duplicate IDs, references to other elements).
    #[error("SAML response refused: {0}")]
    Structure(String),
    /// Issuer differs from the metadata's entityID.
    #[error("SAML issuer {found:?} is not the IdP's entityID {expected:?}")]
    WrongIssuer { expected: String, found: String },
    /// Destination is not this pool's ACS URL.
    #[error("SAML Destination {found:?} is not this user pool's ACS URL {expected:?}")]
    WrongDestination { expected: String, found: String },
    /// No bearer SubjectConfirmation names this pool's ACS URL as Recipient.
    #[error("SAML SubjectConfirmationData Recipient {found:?} is not this user pool's ACS URL {expected:?}")]
    WrongRecipient { expected: String, found: String },
    /// The AudienceRestriction does not name this pool's SP entity id.
    #[error("SAML AudienceRestriction does not include this user pool ({expected:?})")]
    WrongAudience { expected: String },
    /// A NotOnOrAfter has passed (with the allowed clock skew).
    #[error("SAML {what} expired at {at} (NotOnOrAfter)")]
    Expired { what: &'static str, at: String },
    /// A NotBefore is still in the future (with the allowed clock skew).
    #[error("SAML {what} is not valid before {at} (NotBefore); check the IdP's clock")]
    NotYetValid { what: &'static str, at: String },
    /// InResponseTo is not the request Cognate sent, or is present on an IdP-initiated
    /// sign-in, or missing when Cognate sent a request.
    #[error("SAML InResponseTo does not match: {0}")]
    InResponseTo(String),
    /// An EncryptedAssertion could not be decrypted with this pool's key.
    #[error("SAML encrypted assertion: {0}")]
    Decryption(String),
    /// This pool's signing key or certificate cannot be used.
    #[error("service provider key: {0}")]
    Key(String),
    /// An argument given by Cognate itself (URL, id) is unusable.
    #[error("invalid SAML request parameter: {0}")]
    InvalidInput(String),
}
