//! Typed query-string parameters. Every failure is a 400 that names the parameter; unknown
//! parameters are ignored (clients add cache-busters and the like).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use contract::CongestionLevel;

use crate::error::ApiError;

#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    values: HashMap<String, String>,
}

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let values = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Self { values }
    }

    /// Refuses values PostgreSQL could not store or compare (U+0000), naming the parameter.
    pub(crate) fn checked(self) -> Result<Self, ApiError> {
        match self.values.iter().find(|(_, v)| v.contains('\0')) {
            Some((name, _)) => Err(ApiError::bad_param(name, "must not contain NUL characters")),
            None => Ok(self),
        }
    }

    /// A present, non-empty value (an empty `?a=` counts as absent).
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.text(name)
            .ok_or_else(|| ApiError::bad_param(name, "is required"))
    }

    /// An ISO 8601 instant: RFC 3339 (`2026-05-01T00:00:00Z`, with any offset), or a date-time
    /// without offset or a bare date, both read as UTC.
    pub(crate) fn datetime(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.text(name)
            .map(|v| {
                parse_instant(v).ok_or_else(|| {
                    ApiError::bad_param(
                        name,
                        format!("{v:?} is not an ISO 8601 date-time (e.g. 2026-05-01T00:00:00Z)"),
                    )
                })
            })
            .transpose()
    }

    pub(crate) fn required_datetime(&self, name: &str) -> Result<DateTime<Utc>, ApiError> {
        self.datetime(name)?
            .ok_or_else(|| ApiError::bad_param(name, "is required (ISO 8601 date-time)"))
    }

    /// An integer within `min..=max`, or `default` when absent.
    pub(crate) fn int(
        &self,
        name: &str,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, ApiError> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                Ok(_) => Err(ApiError::bad_param(
                    name,
                    format!("must be between {min} and {max}"),
                )),
                Err(_) => Err(ApiError::bad_param(
                    name,
                    format!("{v:?} is not an integer"),
                )),
            },
        }
    }

    /// One of `allowed` (case-insensitive), returned in its canonical spelling.
    pub(crate) fn choice(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, ApiError> {
        match self.text(name) {
            None => Ok(None),
            Some(v) => allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(v))
                .copied()
                .map(Some)
                .ok_or_else(|| {
                    ApiError::bad_param(name, format!("must be one of {}", allowed.join(", ")))
                }),
        }
    }

    /// One of `allowed` congestion levels (case-insensitive).
    pub(crate) fn level(
        &self,
        name: &str,
        allowed: &[CongestionLevel],
    ) -> Result<Option<CongestionLevel>, ApiError> {
        let names: Vec<&'static str> = allowed.iter().map(|level| level.as_str()).collect();
        Ok(self
            .choice(name, &names)?
            .and_then(|level| level.parse().ok()))
    }
}

/// `from`/`to` style ranges: both optional, `from` must not be after `to`.
pub(crate) fn range(
    params: &Params,
    from_name: &str,
    to_name: &str,
    default_from: DateTime<Utc>,
    default_to: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let from = params.datetime(from_name)?.unwrap_or(default_from);
    let to = params.datetime(to_name)?.unwrap_or(default_to);
    if from > to {
        return Err(ApiError::bad_param(
            from_name,
            format!("must not be after '{to_name}'"),
        ));
    }
    Ok((from, to))
}

pub(crate) fn parse_instant(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// UTC RFC 3339 with milliseconds, the format of every timestamp the API returns.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    let mut buf = [0u8; 24];
    match format_rfc3339(t, &mut buf) {
        Some(text) => text.to_owned(),
        None => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` into `buf` without allocating (years 0..=9999; `None` otherwise).
/// History pages format two timestamps per row, tens of thousands per response.
pub(crate) fn format_rfc3339(t: DateTime<Utc>, buf: &mut [u8; 24]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let fields = [
        (0, year, 4),
        (5, t.month(), 2),
        (8, t.day(), 2),
        (11, t.hour(), 2),
        (14, t.minute(), 2),
        (17, t.second().min(59), 2),
        (20, t.timestamp_subsec_millis().min(999), 3),
    ];
    buf.copy_from_slice(b"0000-00-00T00:00:00.000Z");
    for (at, mut value, width) in fields {
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    std::str::from_utf8(&buf[..]).ok()
}

/// A timestamp that serializes as [`rfc3339`] without an intermediate `String`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rfc3339(pub(crate) DateTime<Utc>);

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 24];
        match format_rfc3339(self.0, &mut buf) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_str(&rfc3339(self.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_variants_as_utc() {
        let z = parse_instant("2026-05-01T00:00:00Z").expect("rfc3339");
        assert_eq!(parse_instant("2026-05-01T02:00:00+02:00"), Some(z));
        assert_eq!(parse_instant("2026-05-01T00:00:00"), Some(z));
        assert_eq!(parse_instant("2026-05-01"), Some(z));
        assert_eq!(parse_instant("yesterday"), None);
    }

    #[test]
    fn fast_formatting_matches_chrono() {
        for text in [
            "2026-05-01T00:00:00Z",
            "1999-12-31T23:59:59.999Z",
            "2026-11-27T09:05:07.042Z",
        ] {
            let t = parse_instant(text).expect("valid");
            assert_eq!(
                rfc3339(t),
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
            assert_eq!(
                serde_json::to_string(&Rfc3339(t)).expect("json"),
                format!("\"{}\"", rfc3339(t))
            );
        }
    }

    #[test]
    fn errors_name_the_parameter() {
        let p = Params::parse(Some("limit=abc&from=nope&severity=x&to=2026-01-01"));
        assert!(p
            .int("limit", 10, 1, 100)
            .expect_err("abc")
            .message
            .contains("'limit'"));
        assert!(p
            .datetime("from")
            .expect_err("nope")
            .message
            .contains("'from'"));
        assert!(p
            .choice("severity", &["HIGH"])
            .expect_err("x")
            .message
            .contains("'severity'"));
        let level = p.level("severity", &CongestionLevel::ALERTING);
        assert!(level.expect_err("x").message.contains("HIGH, SEVERE"));
        let given = Params::parse(Some("severity=severe"));
        assert_eq!(
            given.level("severity", &CongestionLevel::ALERTING),
            Ok(Some(CongestionLevel::Severe))
        );
        let inverted = Params::parse(Some("from=2026-02-01&to=2026-01-01"));
        let err = range(&inverted, "from", "to", Utc::now(), Utc::now()).expect_err("inverted");
        assert_eq!(err.status, hyper::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn nul_characters_are_refused_by_name() {
        let err = Params::parse(Some("camera_id=cam%00x"))
            .checked()
            .expect_err("NUL");
        assert!(err.message.contains("'camera_id'"));
        assert!(Params::parse(Some("camera_id=cam_01")).checked().is_ok());
    }

    #[test]
    fn decodes_percent_encoding_and_ignores_empty() {
        let p = Params::parse(Some("from=2026-05-01T00%3A00%3A00Z&camera_id="));
        assert!(p.datetime("from").expect("valid").is_some());
        assert_eq!(p.text("camera_id"), None);
    }
}
