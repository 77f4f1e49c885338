//! RFC 3339 times: parsed from what a file holds, and written in UTC to the second.
//!
//! It trusts nothing in the text it parses; it imports nothing of keyrite's other modules.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a time was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A timestamp is malformed or out of range.
    #[error("{field} in the parameters file is not a valid time: {value}")]
    BadTime {
        /// The field name.
        field: &'static str,
        /// The value, as found.
        value: String,
    },
}

/// Parses an RFC 3339 time, but never a leap second (`:60`), which keyrite never writes and
/// which the independent verifiers refuse as well.
pub fn rfc3339(field: &'static str, text: &str) -> Result<OffsetDateTime, Error> {
    let bad = || Error::BadTime {
        field,
        value: text.to_owned(),
    };
    // A parsed RFC 3339 time is ASCII, its seconds at bytes 17 and 18.
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| bad())?;
    if text.get(17..19) == Some("60") {
        return Err(bad());
    }
    Ok(t)
}

/// Formats a time as RFC 3339 in UTC, to the second.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leap_second_is_no_time_keyrite_takes() {
        assert!(rfc3339("time", "2016-12-31T23:59:59Z").is_ok());
        assert!(rfc3339("time", "2016-12-31T23:59:60Z").is_err());
        assert!(rfc3339("time", "2026-12-03T10:38:60Z").is_err());
    }
}
