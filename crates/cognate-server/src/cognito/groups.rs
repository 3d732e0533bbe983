//! (operations to be written)

use serde_json::Value;

use super::{CognitoError, OpResult};
use crate::AppState;

pub(super) const OPS: &[&str] = &[];

pub(super) async fn call(_state: &AppState, op: &str, _input: Value) -> OpResult {
    Err(CognitoError::new("UnknownOperationException", op.to_owned()))
}
