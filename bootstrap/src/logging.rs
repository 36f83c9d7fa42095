//! JSON log lines on stderr, one object per line, for our code and for the libraries that log
//! through `log` (rdkafka, postgres) alike. The level comes from `RUST_LOG`, else the binary's
//! default.
//!
//! Operators and tests parse these lines, so each layout is pinned byte for byte by the tests
//! below: changing a key's place changes the interface.

use std::io::Write;

use chrono::{SecondsFormat, Utc};
use log::{LevelFilter, Record};
use serde::Serialize;
use serde_json::{Map, Value};

/// How a binary's lines are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{"level","logger","message","time"}`: the services' (pipeline, query server, forecast)
    /// lines, whose message is always a string.
    Service,
    /// `{"time","level","logger","message",...}`: the bench tools' lines, where a message that is
    /// itself a JSON object with a `message` key is merged into the line instead of being quoted,
    /// so periodic summaries become fields a query can select.
    Tool,
}

/// Installs the JSON logger. A second call does nothing (tests start several components in one
/// process).
pub fn init(layout: Layout, default_level: LevelFilter) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(default_level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    builder.format(move |buf, record| writeln!(buf, "{}", render(layout, record)));
    let _ = builder.try_init();
}

/// The JSON line for one record, at the current time.
pub fn render(layout: Layout, record: &Record<'_>) -> String {
    let time = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let level = record.level().as_str();
    let logger = record.target();
    let text = record.args().to_string();
    let line = match layout {
        Layout::Service => serde_json::to_string(&ServiceLine {
            level,
            logger,
            message: &text,
            time,
        }),
        Layout::Tool => {
            let (message, fields) = match structured(&text) {
                Some(mut fields) => (fields.remove("message").unwrap_or_default(), fields),
                None => (Value::String(text), Map::new()),
            };
            serde_json::to_string(&ToolLine {
                time,
                level,
                logger,
                message,
                fields,
            })
        }
    };
    line.unwrap_or_default()
}

/// Field order is the serialized key order.
#[derive(Serialize)]
struct ServiceLine<'a> {
    level: &'a str,
    logger: &'a str,
    message: &'a str,
    time: String,
}

/// Field order is the serialized key order; merged fields follow, sorted by name.
#[derive(Serialize)]
struct ToolLine<'a> {
    time: String,
    level: &'a str,
    logger: &'a str,
    message: Value,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// The fields of a message that is a JSON object with a `message` key.
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

    fn render_with(layout: Layout, args: std::fmt::Arguments<'_>) -> String {
        let record = Record::builder()
            .args(args)
            .level(log::Level::Warn)
            .target("mock_producer")
            .build();
        render(layout, &record)
    }

    /// The line without its timestamp, which is checked for shape separately.
    fn without_time(line: &str) -> (String, String) {
        let at = line.find(r#""time":""#).expect("a time key") + r#""time":""#.len();
        let end = at + line[at..].find('"').expect("end of the time");
        (
            format!("{}{}", &line[..at], &line[end..]),
            line[at..end].to_owned(),
        )
    }

    #[test]
    fn service_lines_keep_their_byte_layout() {
        let line = render_with(Layout::Service, format_args!("sink_commit rows={}", 3));
        let (rest, time) = without_time(&line);
        assert_eq!(
            rest,
            r#"{"level":"WARN","logger":"mock_producer","message":"sink_commit rows=3","time":""}"#
        );
        assert!(
            chrono::DateTime::parse_from_rfc3339(&time).is_ok(),
            "{time}"
        );
        assert!(time.ends_with('Z') && time.len() == "2026-01-01T00:00:00.000Z".len());
        // A service message is a string even when it looks like an object.
        let line = render_with(Layout::Service, format_args!(r#"{{"message":"x"}}"#));
        assert!(
            line.contains(r#""message":"{\"message\":\"x\"}""#),
            "{line}"
        );
    }

    #[test]
    fn tool_lines_quote_plain_messages() {
        let line = render_with(Layout::Tool, format_args!("queue \"full\""));
        let (rest, _) = without_time(&line);
        assert_eq!(
            rest,
            r#"{"time":"","level":"WARN","logger":"mock_producer","message":"queue \"full\""}"#
        );
    }

    #[test]
    fn tool_lines_merge_structured_messages() {
        let line = render_with(
            Layout::Tool,
            format_args!(r#"{{"sent":5,"message":"progress","a":1}}"#),
        );
        let (rest, _) = without_time(&line);
        assert_eq!(
            rest,
            r#"{"time":"","level":"WARN","logger":"mock_producer","message":"progress","a":1,"sent":5}"#
        );
        let line = render_with(Layout::Tool, format_args!(r#"{{"sent":5}}"#));
        assert!(line.ends_with(r#""message":"{\"sent\":5}"}"#), "{line}");
    }
}
