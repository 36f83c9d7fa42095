//! Instants in payloads: written as RFC 3339 with milliseconds and `Z` (what the REST answers
//! use), read in any RFC 3339 form (the schema's triggers write PostgreSQL's own).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serializer};

pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Milliseconds since the epoch as an instant; out-of-range values clamp to the epoch.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            // PostgreSQL's JSON form of timestamptz: "2026-01-01T00:00:05.123456+00:00" is RFC
            // 3339 already; its text form uses a space and a short offset.
            DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(at))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 instant: {text:?}")))
}

/// The same for an optional instant.
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse(&text).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("not an RFC 3339 instant: {text:?}"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_with_millis_and_read_in_any_offset() {
        let at = from_millis(1_767_225_605_000);
        assert_eq!(format(&at), "2026-01-01T00:00:05.000Z");
        assert_eq!(parse("2026-01-01T01:00:05+01:00"), Some(at));
        assert_eq!(parse("2026-01-01 00:00:05+00"), Some(at));
        assert_eq!(parse("2026-01-01T00:00:05.000000+00:00"), Some(at));
        assert_eq!(parse("yesterday"), None);
    }
}
