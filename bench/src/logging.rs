//! JSON-lines logging on stderr, so the bench tools' output can be
//! collected and queried like the rest of the stack's logs.
//!
//! Every line is an object with `time`, `level`, `logger` (the log target)
//! and `message`. A message that is itself a JSON object with a `message`
//! key is merged into the line instead of being quoted, which is how
//! periodic summaries become machine-readable fields.

use std::io::Write;

use chrono::{SecondsFormat, Utc};
use log::Record;
use serde::Serialize;
use serde_json::{Map, Value};

/// Installs the JSON logger; the level comes from `RUST_LOG` (default
/// `info`). Calling it twice is harmless: the second call does nothing.
pub fn init() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env)
        .format(|buf, record| writeln!(buf, "{}", render(record)))
        .try_init();
}

/// One log line; the fixed keys come first, merged fields after them.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    level: &'a str,
    logger: &'a str,
    message: Value,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// The JSON line for one record.
pub fn render(record: &Record<'_>) -> String {
    let text = record.args().to_string();
    let (message, fields) = match structured(&text) {
        Some(mut fields) => (fields.remove("message").unwrap_or_default(), fields),
        None => (Value::String(text), Map::new()),
    };
    let line = Line {
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        level: record.level().as_str(),
        logger: record.target(),
        message,
        fields,
    };
    serde_json::to_string(&line).unwrap_or_default()
}

fn structured(text: &str) -> Option<Map<String, Value>> {
    if !text.starts_with('{') {
        return None;
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(fields)) if fields.contains_key("message") => Some(fields),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: std::fmt::Arguments<'_>) -> Value {
        let record = Record::builder()
            .args(args)
            .level(log::Level::Warn)
            .target("mock_producer")
            .build();
        serde_json::from_str(&render(&record)).expect("JSON line")
    }

    #[test]
    fn plain_messages_are_quoted() {
        let v = line(format_args!("queue \"full\""));
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["logger"], "mock_producer");
        assert_eq!(v["message"], "queue \"full\"");
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn structured_messages_are_merged() {
        let v = line(format_args!("{}", r#"{"message":"progress","sent":5}"#));
        assert_eq!(v["message"], "progress");
        assert_eq!(v["sent"], 5);
        let text = render(
            &Record::builder()
                .args(format_args!("{}", r#"{"message":"progress","a":1}"#))
                .build(),
        );
        assert!(text.starts_with(r#"{"time":"#), "{text}");
        assert!(text.ends_with(r#""message":"progress","a":1}"#), "{text}");
        let v = line(format_args!("{}", r#"{"sent":5}"#));
        assert_eq!(v["message"], r#"{"sent":5}"#);
    }
}
