//! Remembered devices, as Cognito tracks them: a pool with a `DeviceConfiguration` hands a
//! new device key to every sign-in that does not come from a known device; the client
//! confirms it with an SRP verifier of a device password it keeps (ConfirmDevice), and may
//! mark it remembered. A later sign-in that names the device proves it holds that password
//! (DEVICE_SRP_AUTH, DEVICE_PASSWORD_VERIFIER); a remembered device is not asked for MFA.

use serde::{Deserialize, Serialize};

use crate::clock::{Rng, random_bytes};
use crate::ids::{PoolId, generate_sub};

/// `dev:device_remembered_status` values.
pub const REMEMBERED: &str = "remembered";
pub const NOT_REMEMBERED: &str = "not_remembered";

/// The longest device key or group key accepted (Cognito: 55).
pub const MAX_KEY_LEN: usize = 55;

/// A pool's device tracking (`DeviceConfiguration`): present means tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceConfiguration {
    /// Sign-ins from a device that is not remembered pass MFA even where MFA is optional
    /// and the user turned it on (Cognito's meaning; Cognate asks what MFA would ask anyway).
    pub challenge_required_on_new_device: bool,
    /// Devices are remembered only when the user says so (UpdateDeviceStatus); otherwise
    /// every confirmed device is remembered.
    pub device_only_remembered_on_user_prompt: bool,
}

/// One device of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub pool_id: PoolId,
    pub sub: String,
    /// `{region}_{uuid}`, as Cognito writes it.
    pub key: String,
    pub group_key: String,
    pub name: Option<String>,
    /// The device's SRP verifier (`srp::Verifier` as JSON), sealed with the master key;
    /// `None` until ConfirmDevice.
    pub verifier_sealed: Option<String>,
    pub remembered: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The last sign-in that proved the device (ms), or its confirmation.
    pub last_authenticated_at: i64,
    pub last_ip: Option<String>,
}

impl Device {
    /// A device handed to a sign-in, not confirmed yet.
    pub fn issue(rng: &dyn Rng, pool_id: &PoolId, sub: &str, at: i64) -> Self {
        let region = pool_id.as_str().split_once('_').map_or("local", |(r, _)| r);
        let group = random_bytes::<8>(rng);
        Self {
            pool_id: pool_id.clone(),
            sub: sub.to_owned(),
            key: format!("{region}_{}", generate_sub(rng)),
            group_key: format!("-{}", hex::encode(group)),
            name: None,
            verifier_sealed: None,
            remembered: false,
            created_at: at,
            updated_at: at,
            last_authenticated_at: at,
            last_ip: None,
        }
    }

    pub fn confirmed(&self) -> bool {
        self.verifier_sealed.is_some()
    }
}
