//! Resource servers and their custom scopes (`{identifier}/{scope}`).

use serde::{Deserialize, Serialize};

use crate::ids::PoolId;

/// Most scopes a resource server may define.
pub const MAX_SCOPES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceServerScope {
    pub scope_name: String,
    pub scope_description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceServer {
    pub pool_id: PoolId,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<ResourceServerScope>,
}

impl ResourceServer {
    /// Checks identifier, name and scopes as Cognito does.
    pub fn validate(&self) -> Result<(), String> {
        let id = &self.identifier;
        if id.is_empty() || id.len() > 256 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("Identifier must be 1 to 256 characters without whitespace".into());
        }
        if self.name.is_empty() || self.name.len() > 256 {
            return Err("Name must be 1 to 256 characters".into());
        }
        if self.scopes.len() > MAX_SCOPES {
            return Err(format!("A resource server may define at most {MAX_SCOPES} scopes"));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.scopes {
            let ok = !s.scope_name.is_empty()
                && s.scope_name.len() <= 256
                && s.scope_name.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
            if !ok {
                return Err(format!("Invalid scope name: {}", s.scope_name));
            }
            if s.scope_description.is_empty() || s.scope_description.len() > 256 {
                return Err(format!("Invalid description for scope {}", s.scope_name));
            }
            if !seen.insert(&s.scope_name) {
                return Err(format!("Duplicate scope name: {}", s.scope_name));
            }
        }
        Ok(())
    }

    /// The full scope strings clients request (`{identifier}/{scope}`).
    pub fn full_scopes(&self) -> impl Iterator<Item = String> + '_ {
        self.scopes.iter().map(|s| format!("{}/{}", self.identifier, s.scope_name))
    }
}
