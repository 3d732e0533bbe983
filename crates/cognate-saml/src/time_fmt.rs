//! xs:dateTime as SAML uses it: UTC instants such as `2026-12-07T04:25:16Z`, sometimes with
//! fractional seconds or an explicit offset.

use crate::SamlError;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the epoch of an xs:dateTime attribute value.
pub(crate) fn parse(value: &str, what: &str) -> Result<i64, SamlError> {
    OffsetDateTime::parse(value.trim(), &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| SamlError::Malformed(format!("{what} {value:?} is not an xs:dateTime in UTC")))
}

/// `2026-12-07T04:25:16Z`: the form every IdP accepts (no fraction, `Z`).
pub(crate) fn format(secs: i64) -> Result<String, SamlError> {
    let t = OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| SamlError::InvalidInput(format!("time {secs} is out of range")))?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_accepts_fractions() {
        let s = format(1_800_000_000).expect("format");
        assert_eq!(s, "2027-01-15T08:00:00Z");
        assert_eq!(parse(&s, "t").expect("parse"), 1_800_000_000);
        assert_eq!(parse("2027-01-15T08:00:00.123Z", "t").expect("fraction"), 1_800_000_000);
        assert!(parse("yesterday", "t").is_err());
    }
}
