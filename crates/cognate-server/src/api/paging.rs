//! Cursor pagination for `/v1` lists: `?limit=&cursor=` in, `{"items", "nextCursor"}` out.
//! Cursors are opaque and bound to the list they came from (a cursor of another list is
//! refused, not misread).

use cognate_core::page::{self, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size accepted.
pub const MAX_LIMIT: u32 = 100;

/// The query parameters of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1 to 100. Defaults to 20.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// The previous page's `nextCursor`; absent for the first page.
    pub cursor: Option<String>,
}

impl ListParams {
    /// The page asked for, with cursors checked against `scope` (which names the list).
    pub fn page(&self, scope: &str) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_request(format!("The limit must be 1 to {MAX_LIMIT}.")));
        }
        let after = match self.cursor.as_deref() {
            Some(token) => Some(
                page::decode_token(scope, token)
                    .ok_or_else(|| ApiError::invalid_request("The cursor is not valid."))?,
            ),
            None => None,
        };
        Ok(PageRequest { after, limit })
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Splits the store's over-fetched `rows` into this page and the next cursor.
    pub fn finish<R>(
        rows: Vec<R>,
        req: &PageRequest,
        scope: &str,
        key: impl Fn(&R) -> String,
    ) -> (Vec<R>, Option<String>) {
        let (rows, next) = page::finish(rows, req, key);
        (rows, next.map(|k| page::encode_token(scope, &k)))
    }

    /// A page without a continuation (complete lists).
    pub fn all(items: Vec<T>) -> Self {
        Self { items, next_cursor: None }
    }
}
