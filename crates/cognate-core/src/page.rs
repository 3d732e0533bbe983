//! Keyset pagination: stores fetch `limit + 1` rows after a cursor key, and the surface
//! turns the extra row into an opaque "next" token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A request for one page: rows strictly after `after` (in key order), at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

impl PageRequest {
    /// The number of rows a store should fetch: one more than the page, to learn whether
    /// another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// Splits an over-fetched list into the page and the key to continue after.
pub fn finish<T>(mut rows: Vec<T>, req: &PageRequest, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let limit = req.limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(&key);
        (rows, next)
    } else {
        (rows, None)
    }
}

/// Encodes a cursor key as an opaque token bound to a list `scope` (e.g. `users:{pool}`),
/// so a token from one list is refused by another.
pub fn encode_token(scope: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{scope}\n{key}"))
}

/// Decodes a token made by [`encode_token`] for the same scope. Tokens are not secret
/// (clients can make their own), so a key holding a control character — which no stored
/// key has, and PostgreSQL cannot even compare — is refused like any other bad token.
pub fn decode_token(scope: &str, token: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (s, key) = text.split_once('\n')?;
    (s == scope && !crate::text::has_forbidden_control(key)).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_scoped() {
        let t = encode_token("users:p1", "bob");
        assert_eq!(decode_token("users:p1", &t).as_deref(), Some("bob"));
        assert_eq!(decode_token("users:p1", &encode_token("users:p1", "a\u{0}b")), None);
        assert_eq!(decode_token("users:p2", &t), None);
        assert_eq!(decode_token("users:p1", "%%%"), None);
    }

    #[test]
    fn finish_reports_next_only_when_more_rows_exist() {
        let req = PageRequest { after: None, limit: 2 };
        let (rows, next) = finish(vec![1, 2, 3], &req, |n| n.to_string());
        assert_eq!((rows, next.as_deref()), (vec![1, 2], Some("2")));
        let (rows, next) = finish(vec![1, 2], &req, |n| n.to_string());
        assert_eq!((rows, next), (vec![1, 2], None));
    }
}
