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
use serde_json::{Map, Value};

/// Installs the JSON logger; the level comes from `RUST_LOG` (default
/// `info`). Calling it twice is harmless: the second call does nothing.
pub fn init() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env)
        .format(|buf, record| writeln!(buf, "{}", render(record)))
        .try_init();
}

/// The JSON line for one record.
pub fn render(record: &Record<'_>) -> String {
    let mut line = Map::new();
    line.insert(
        "time".into(),
        Utc::now()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into(),
    );
    line.insert("level".into(), record.level().as_str().into());
    line.insert("logger".into(), record.target().into());
    let text = record.args().to_string();
    match structured(&text) {
        Some(fields) => line.extend(fields),
        None => {
            line.insert("message".into(), text.into());
        }
    }
    Value::Object(line).to_string()
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
        let v = line(format_args!("{}", r#"{"sent":5}"#));
        assert_eq!(v["message"], r#"{"sent":5}"#);
    }
}
