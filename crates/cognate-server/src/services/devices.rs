//! Remembered devices (see [`cognate_core::device`]): handing a new device key to a
//! sign-in, ConfirmDevice with the device password's SRP verifier, the remembered status,
//! listing and forgetting. Proving a device at sign-in is a step of the sign-in state
//! machine ([`super::sign_in`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cognate_core::StoreError;
use cognate_core::device::{self, Device};
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;
use cognate_core::srp;
use cognate_core::user::User;

use crate::AppState;

/// The master-key label of sealed device verifiers.
const VERIFIER_LABEL: &str = "device-verifier";

/// The most devices a page lists (Cognito's `Limit` maximum).
pub const MAX_PAGE: u32 = 60;

/// Why a device call refused.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No such device of this user.
    #[error("device does not exist")]
    NotFound,
    /// Input the operation refuses (its message).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Fault(String),
}

/// A device key handed to a sign-in (`NewDeviceMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    pub key: String,
    pub group_key: String,
}

/// Whether the pool tracks devices.
pub fn tracked(pool: &UserPool) -> bool {
    pool.settings.device_configuration.is_some()
}

/// A new, unconfirmed device for a sign-in of `user` that came from no known device.
pub async fn issue(state: &AppState, user: &User) -> Result<NewDevice, StoreError> {
    let device = Device::issue(state.rng.as_ref(), &user.pool_id, &user.sub, state.clock.now_millis());
    state.store.create_device(&device).await?;
    Ok(NewDevice { key: device.key, group_key: device.group_key })
}

/// The user's device `key`, confirmed or not.
async fn own(state: &AppState, user: &User, key: &str) -> Result<Device, DeviceError> {
    if key.is_empty() || key.len() > device::MAX_KEY_LEN {
        return Err(DeviceError::NotFound);
    }
    match state.store.get_device(&user.pool_id, key).await? {
        Some(d) if d.sub == user.sub => Ok(d),
        _ => Err(DeviceError::NotFound),
    }
}

/// The user's confirmed device `key`.
pub async fn confirmed(state: &AppState, user: &User, key: &str) -> Result<Device, DeviceError> {
    own(state, user, key).await.and_then(|d| if d.confirmed() { Ok(d) } else { Err(DeviceError::NotFound) })
}

/// A ConfirmDevice request.
pub struct Confirmation<'a> {
    pub key: &'a str,
    /// The device the caller's access token was handed (its `device_key` claim).
    pub handed: Option<&'a str>,
    pub name: Option<&'a str>,
    /// The device password's verifier, Base64 as `DeviceSecretVerifierConfig` carries it.
    pub salt: &'a str,
    pub verifier: &'a str,
}

/// ConfirmDevice: stores the device password's verifier and the device's name, for the
/// device the caller's token was handed only, and only once (as Cognito does: a stolen
/// token cannot re-key a device). Returns whether the user still has to say the device is
/// remembered (`UserConfirmationNecessary`): when the pool remembers devices only on the
/// user's word; otherwise the device is remembered now.
pub async fn confirm(
    state: &AppState,
    pool: &UserPool,
    user: &User,
    req: Confirmation<'_>,
) -> Result<bool, DeviceError> {
    let Some(config) = pool.settings.device_configuration else {
        return Err(DeviceError::Invalid("Device tracking is not enabled for this user pool.".into()));
    };
    let (key, name) = (req.key, req.name);
    if req.handed != Some(key) {
        return Err(DeviceError::Invalid("Invalid device key given.".into()));
    }
    let mut device = own(state, user, key).await?;
    if device.confirmed() {
        // A confirmed device keeps its verifier: replacing it would let whoever holds a
        // token of this device's sign-in take the device over.
        return Err(DeviceError::Invalid("Invalid device key given: the device is already confirmed.".into()));
    }
    let bytes = |text: &str, what: &str| {
        B64.decode(text).map_err(|_| DeviceError::Invalid(format!("DeviceSecretVerifierConfig.{what} is not Base64.")))
    };
    let verifier = srp::Verifier::from_bytes(&bytes(req.salt, "Salt")?, &bytes(req.verifier, "PasswordVerifier")?)
        .ok_or_else(|| DeviceError::Invalid("DeviceSecretVerifierConfig is not a usable SRP verifier.".into()))?;
    if name.is_some_and(|n| n.chars().count() > 1024) {
        return Err(DeviceError::Invalid("DeviceName is longer than 1024 characters.".into()));
    }
    let json = serde_json::to_string(&verifier).map_err(|e| DeviceError::Fault(e.to_string()))?;
    let now = state.clock.now_millis();
    device.verifier_sealed = Some(state.master_key.seal(state.rng.as_ref(), VERIFIER_LABEL, json.as_bytes()));
    device.name = name.map(str::to_owned);
    device.remembered = !config.device_only_remembered_on_user_prompt;
    device.updated_at = now;
    device.last_authenticated_at = now;
    state.store.update_device(&device).await?;
    Ok(config.device_only_remembered_on_user_prompt)
}

/// A confirmed device's verifier in the clear.
pub fn verifier(state: &AppState, device: &Device) -> Option<srp::Verifier> {
    let raw = state.master_key.open(VERIFIER_LABEL, device.verifier_sealed.as_deref()?).ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Notes a sign-in that proved the device.
pub async fn authenticated(state: &AppState, device: &Device, ip: Option<String>) -> Result<(), StoreError> {
    let mut device = device.clone();
    device.last_authenticated_at = state.clock.now_millis();
    device.last_ip = ip.or(device.last_ip);
    state.store.update_device(&device).await
}

/// GetDevice / AdminGetDevice.
pub async fn get(state: &AppState, user: &User, key: &str) -> Result<Device, DeviceError> {
    confirmed(state, user, key).await
}

/// ListDevices / AdminListDevices: the user's confirmed devices after the page cursor (one
/// more than the page, to tell whether another follows).
pub async fn list(state: &AppState, user: &User, page: &PageRequest) -> Result<Vec<Device>, DeviceError> {
    Ok(state.store.list_devices(&user.pool_id, &user.sub, page).await?)
}

/// UpdateDeviceStatus / AdminUpdateDeviceStatus: `remembered` or `not_remembered`.
pub async fn set_status(state: &AppState, user: &User, key: &str, status: &str) -> Result<(), DeviceError> {
    let remembered = match status {
        device::REMEMBERED => true,
        device::NOT_REMEMBERED => false,
        other => {
            return Err(DeviceError::Invalid(format!(
                "DeviceRememberedStatus must be remembered or not_remembered, not {other}."
            )));
        }
    };
    let mut device = confirmed(state, user, key).await?;
    device.remembered = remembered;
    device.updated_at = state.clock.now_millis();
    Ok(state.store.update_device(&device).await?)
}

/// ForgetDevice / AdminForgetDevice.
pub async fn forget(state: &AppState, user: &User, key: &str) -> Result<(), DeviceError> {
    own(state, user, key).await?;
    if state.store.delete_device(&user.pool_id, &user.sub, key).await? { Ok(()) } else { Err(DeviceError::NotFound) }
}
