//! Checks the admin bodies share; each failure is a 422 whose message names the field.

use crate::error::ApiError;

/// Longest accepted name, location, road segment, title or camera id.
pub(super) const MAX_TEXT: usize = 200;
/// Longest accepted description or broadcast message.
pub(super) const MAX_LONG_TEXT: usize = 2000;

/// A 422 whose message names the body field.
pub(super) fn field_error(name: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(format!("field '{name}': {problem}"))
}

/// Optional short text: trimmed, empty counts as absent, at most [`MAX_TEXT`] characters.
pub(super) fn optional_text(name: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    bounded_text(name, value, MAX_TEXT)
}

/// Optional long text: as [`optional_text`], at most [`MAX_LONG_TEXT`] characters.
pub(super) fn optional_long_text(
    name: &str,
    value: Option<&str>,
) -> Result<Option<String>, ApiError> {
    bounded_text(name, value, MAX_LONG_TEXT)
}

fn bounded_text(name: &str, value: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if v.chars().count() > max => Err(field_error(
            name,
            format!("must be at most {max} characters"),
        )),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_bounded_and_named() {
        assert_eq!(optional_text("name", Some("  a ")), Ok(Some("a".into())));
        assert_eq!(optional_text("name", Some("   ")), Ok(None));
        let long = "x".repeat(MAX_TEXT + 1);
        let error = optional_text("name", Some(&long)).expect_err("too long");
        assert_eq!(error.status.as_u16(), 422);
        assert!(
            error.message.starts_with("field 'name': "),
            "{}",
            error.message
        );
        assert!(optional_long_text("description", Some(&long)).is_ok());
    }
}
