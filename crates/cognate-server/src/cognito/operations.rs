//! Every Cognito operation Cognate serves, in one table: the handler group that runs it,
//! whether AWS signs it (SigV4 with an admin credential) or authorises it by client id,
//! session or token, whether it authenticates someone (and so is rate-limited per client
//! address and per username), and whether it changes something (and so is recorded in the
//! audit trail). A new operation is one row here plus its arm in its group's `call`; the
//! tests below check that the two agree.

/// The module whose `call` runs an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Auth,
    Pools,
    Clients,
    Users,
    Groups,
    SelfService,
    Mfa,
    ResourceServers,
    Devices,
    Sessions,
    IdentityProviders,
    AuthEvents,
    Terms,
    SessionConfig,
    Passkeys,
    ManagedLogin,
    Imports,
}

/// How a caller proves it may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// A SigV4 signature made with a Cognate admin credential.
    Signed,
    /// As AWS: by client id (+ SECRET_HASH), challenge session or access token.
    Unsigned,
}

/// Whether a call is recorded in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Reads, and calls that only (re)send a message.
    Never,
    /// Every call, refused or not.
    Always,
}

/// One operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub name: &'static str,
    pub group: Group,
    pub proof: Proof,
    /// Authenticates someone: limited per client address and per username named.
    pub rate_limited: bool,
    pub recorded: Recorded,
}

const fn op(name: &'static str, group: Group, proof: Proof, rate_limited: bool, recorded: Recorded) -> Operation {
    Operation { name, group, proof, rate_limited, recorded }
}

use Group::*;
use Proof::{Signed, Unsigned};
use Recorded::{Always, Never};

/// The operations, by group.
pub const OPERATIONS: &[Operation] = &[
    op("InitiateAuth", Auth, Unsigned, true, Always),
    op("AdminInitiateAuth", Auth, Signed, true, Always),
    op("RespondToAuthChallenge", Auth, Unsigned, true, Always),
    op("AdminRespondToAuthChallenge", Auth, Signed, true, Always),
    op("GetTokensFromRefreshToken", Auth, Unsigned, false, Always),
    op("RevokeToken", Auth, Unsigned, false, Always),
    op("GlobalSignOut", Auth, Unsigned, false, Always),
    op("AdminUserGlobalSignOut", Auth, Signed, false, Always),
    // Rate-limited by its service (per address, as the client_credentials grant), not here.
    op("GetClientToken", Auth, Unsigned, false, Never),
    op("CreateUserPool", Pools, Signed, false, Always),
    op("DescribeUserPool", Pools, Signed, false, Never),
    op("ListUserPools", Pools, Signed, false, Never),
    op("UpdateUserPool", Pools, Signed, false, Always),
    op("DeleteUserPool", Pools, Signed, false, Always),
    op("AddCustomAttributes", Pools, Signed, false, Always),
    op("CreateUserPoolDomain", Pools, Signed, false, Always),
    op("DescribeUserPoolDomain", Pools, Signed, false, Never),
    op("UpdateUserPoolDomain", Pools, Signed, false, Always),
    op("DeleteUserPoolDomain", Pools, Signed, false, Always),
    op("SetUICustomization", Pools, Signed, false, Always),
    op("GetUICustomization", Pools, Signed, false, Never),
    op("CreateManagedLoginBranding", ManagedLogin, Signed, false, Always),
    op("DescribeManagedLoginBranding", ManagedLogin, Signed, false, Never),
    op("DescribeManagedLoginBrandingByClient", ManagedLogin, Signed, false, Never),
    op("UpdateManagedLoginBranding", ManagedLogin, Signed, false, Always),
    op("DeleteManagedLoginBranding", ManagedLogin, Signed, false, Always),
    op("TagResource", Pools, Signed, false, Always),
    op("UntagResource", Pools, Signed, false, Always),
    op("ListTagsForResource", Pools, Signed, false, Never),
    op("CreateUserPoolClient", Clients, Signed, false, Always),
    op("DescribeUserPoolClient", Clients, Signed, false, Never),
    op("ListUserPoolClients", Clients, Signed, false, Never),
    op("UpdateUserPoolClient", Clients, Signed, false, Always),
    op("DeleteUserPoolClient", Clients, Signed, false, Always),
    op("AddUserPoolClientSecret", Clients, Signed, false, Always),
    op("ListUserPoolClientSecrets", Clients, Signed, false, Never),
    op("DeleteUserPoolClientSecret", Clients, Signed, false, Always),
    op("AdminCreateUser", Users, Signed, false, Always),
    op("AdminGetUser", Users, Signed, false, Never),
    op("AdminUpdateUserAttributes", Users, Signed, false, Always),
    op("AdminDeleteUserAttributes", Users, Signed, false, Always),
    op("AdminDeleteUser", Users, Signed, false, Always),
    op("AdminDisableUser", Users, Signed, false, Always),
    op("AdminEnableUser", Users, Signed, false, Always),
    op("AdminSetUserPassword", Users, Signed, false, Always),
    op("AdminResetUserPassword", Users, Signed, false, Always),
    op("ListUsers", Users, Signed, false, Never),
    op("CreateGroup", Groups, Signed, false, Always),
    op("GetGroup", Groups, Signed, false, Never),
    op("ListGroups", Groups, Signed, false, Never),
    op("UpdateGroup", Groups, Signed, false, Always),
    op("DeleteGroup", Groups, Signed, false, Always),
    op("AdminAddUserToGroup", Groups, Signed, false, Always),
    op("AdminRemoveUserFromGroup", Groups, Signed, false, Always),
    op("AdminListGroupsForUser", Groups, Signed, false, Never),
    op("ListUsersInGroup", Groups, Signed, false, Never),
    op("SignUp", SelfService, Unsigned, true, Always),
    op("ConfirmSignUp", SelfService, Unsigned, true, Always),
    op("ResendConfirmationCode", SelfService, Unsigned, true, Never),
    op("ForgotPassword", SelfService, Unsigned, true, Always),
    op("ConfirmForgotPassword", SelfService, Unsigned, true, Always),
    op("ChangePassword", SelfService, Unsigned, true, Always),
    op("GetUser", SelfService, Unsigned, false, Never),
    op("UpdateUserAttributes", SelfService, Unsigned, false, Always),
    op("DeleteUser", SelfService, Unsigned, false, Always),
    op("DeleteUserAttributes", SelfService, Unsigned, false, Always),
    op("AdminConfirmSignUp", SelfService, Signed, false, Always),
    op("VerifyUserAttribute", SelfService, Unsigned, false, Always),
    op("GetUserAttributeVerificationCode", SelfService, Unsigned, false, Never),
    op("AssociateSoftwareToken", Mfa, Unsigned, false, Always),
    op("VerifySoftwareToken", Mfa, Unsigned, true, Always),
    op("SetUserMFAPreference", Mfa, Unsigned, false, Always),
    op("AdminSetUserMFAPreference", Mfa, Signed, false, Always),
    op("SetUserPoolMfaConfig", Mfa, Signed, false, Always),
    op("GetUserPoolMfaConfig", Mfa, Signed, false, Never),
    op("ConfirmDevice", Devices, Unsigned, false, Always),
    op("GetDevice", Devices, Unsigned, false, Never),
    op("ListDevices", Devices, Unsigned, false, Never),
    op("UpdateDeviceStatus", Devices, Unsigned, false, Always),
    op("ForgetDevice", Devices, Unsigned, false, Always),
    op("AdminGetDevice", Devices, Signed, false, Never),
    op("AdminListDevices", Devices, Signed, false, Never),
    op("AdminUpdateDeviceStatus", Devices, Signed, false, Always),
    op("AdminForgetDevice", Devices, Signed, false, Always),
    op("GetUserAuthFactors", Mfa, Unsigned, false, Never),
    op("AdminGetUserAuthFactors", Mfa, Signed, false, Never),
    op("AdminDeleteSoftwareToken", Mfa, Signed, false, Always),
    op("SetUserSettings", Mfa, Unsigned, false, Always),
    op("AdminSetUserSettings", Mfa, Signed, false, Always),
    op("ListUserSessions", Sessions, Unsigned, false, Never),
    op("AdminListUserSessions", Sessions, Signed, false, Never),
    op("RevokeUserSession", Sessions, Unsigned, false, Always),
    op("AdminRevokeUserSession", Sessions, Signed, false, Always),
    op("GetUserPoolSessionConfiguration", SessionConfig, Signed, false, Never),
    op("SetUserPoolSessionConfiguration", SessionConfig, Signed, false, Always),
    op("GetUserPoolClientSessionConfiguration", SessionConfig, Signed, false, Never),
    op("SetUserPoolClientSessionConfiguration", SessionConfig, Signed, false, Always),
    op("CreateTerms", Terms, Signed, false, Always),
    op("DescribeTerms", Terms, Signed, false, Never),
    op("DescribeTermsByClient", Terms, Signed, false, Never),
    op("ListTerms", Terms, Signed, false, Never),
    op("UpdateTerms", Terms, Signed, false, Always),
    op("DeleteTerms", Terms, Signed, false, Always),
    op("StartWebAuthnRegistration", Passkeys, Unsigned, false, Always),
    op("CompleteWebAuthnRegistration", Passkeys, Unsigned, false, Always),
    op("ListWebAuthnCredentials", Passkeys, Unsigned, false, Never),
    op("DeleteWebAuthnCredential", Passkeys, Unsigned, false, Always),
    op("CreateResourceServer", ResourceServers, Signed, false, Always),
    op("DescribeResourceServer", ResourceServers, Signed, false, Never),
    op("ListResourceServers", ResourceServers, Signed, false, Never),
    op("UpdateResourceServer", ResourceServers, Signed, false, Always),
    op("DeleteResourceServer", ResourceServers, Signed, false, Always),
    op("CreateIdentityProvider", IdentityProviders, Signed, false, Always),
    op("DescribeIdentityProvider", IdentityProviders, Signed, false, Never),
    op("GetIdentityProviderByIdentifier", IdentityProviders, Signed, false, Never),
    op("ListIdentityProviders", IdentityProviders, Signed, false, Never),
    op("UpdateIdentityProvider", IdentityProviders, Signed, false, Always),
    op("DeleteIdentityProvider", IdentityProviders, Signed, false, Always),
    op("AdminLinkProviderForUser", IdentityProviders, Signed, false, Always),
    op("AdminDisableProviderForUser", IdentityProviders, Signed, false, Always),
    op("GetSigningCertificate", IdentityProviders, Signed, false, Never),
    op("AdminListUserAuthEvents", AuthEvents, Signed, false, Never),
    op("AdminUpdateAuthEventFeedback", AuthEvents, Signed, false, Always),
    op("GetCSVHeader", Imports, Signed, false, Never),
    op("CreateUserImportJob", Imports, Signed, false, Always),
    op("StartUserImportJob", Imports, Signed, false, Always),
    op("StopUserImportJob", Imports, Signed, false, Always),
    op("DescribeUserImportJob", Imports, Signed, false, Never),
    op("ListUserImportJobs", Imports, Signed, false, Never),
];

/// The operation named `name`, if Cognate serves it.
pub fn find(name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_reads_are_never_recorded_and_writes_always() {
        let mut names: Vec<&str> = OPERATIONS.iter().map(|o| o.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "an operation is listed twice");
        for o in OPERATIONS {
            let bare = o.name.strip_prefix("Admin").unwrap_or(o.name);
            let read = ["Describe", "List", "Get"].iter().any(|p| bare.starts_with(p))
                && o.name != "GetTokensFromRefreshToken";
            if read {
                assert_eq!(o.recorded, Recorded::Never, "{} is a read", o.name);
            }
            let writes = [
                "Create",
                "Update",
                "Delete",
                "Set",
                "Add",
                "Remove",
                "Tag",
                "Untag",
                "Revoke",
                "Associate",
                "Verify",
                "Confirm",
                "Disable",
                "Enable",
                "Reset",
                "Change",
                "Start",
                "Complete",
            ];
            if writes.iter().any(|p| bare.starts_with(p)) {
                assert_eq!(o.recorded, Recorded::Always, "{} changes something: it is recorded", o.name);
            }
            if o.name.starts_with("Admin") {
                assert_eq!(o.proof, Proof::Signed, "{}: Admin operations are signed", o.name);
            }
        }
    }
}
