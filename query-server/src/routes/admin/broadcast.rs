//! `POST /api/admin/notifications/broadcast`: an operator's message to everyone listening, as
//! a NOTIFY on `b2_broadcast`. Every query-server replica LISTENs and passes it on to its
//! WebSocket clients, so the message reaches them whichever replica took the request.

use chrono::Utc;
use contract::notice::{BroadcastLevel, BroadcastNotice, Notice, MAX_NOTIFY_BYTES};
use contract::Channel;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::fields::{field_error, optional_text, MAX_LONG_TEXT};
use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::{json_status, ApiResult};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Broadcast {
    message: String,
    level: Option<String>,
    title: Option<String>,
}

/// The level names, as the API accepts and the OpenAPI document lists them.
pub(crate) fn level_names() -> Vec<&'static str> {
    BroadcastLevel::ALL.iter().map(|l| l.as_str()).collect()
}

fn level(given: Option<&str>) -> Result<BroadcastLevel, ApiError> {
    match given.map(str::trim) {
        None | Some("") => Ok(BroadcastLevel::default()),
        Some(given) => BroadcastLevel::parse(given).ok_or_else(|| {
            field_error(
                "level",
                format!("must be one of {}", level_names().join(", ")),
            )
        }),
    }
}

/// `POST /api/admin/notifications/broadcast` -> 202. Whoever LISTENs on the channel receives
/// `{"message","level","title","ts"}`; one that would not fit in a NOTIFY is refused (422)
/// rather than cut.
pub(crate) async fn post(ctx: &Ctx, req: &Req) -> ApiResult {
    let body: Broadcast = req.json()?;
    let message = body.message.trim().to_owned();
    let chars = message.chars().count();
    if chars == 0 || chars > MAX_LONG_TEXT {
        return Err(field_error(
            "message",
            format!("must be 1 to {MAX_LONG_TEXT} characters"),
        ));
    }
    let level = level(body.level.as_deref())?;
    let title = optional_text("title", body.title.as_deref())?;
    let notice = BroadcastNotice {
        message,
        level,
        title,
        ts: Some(Utc::now()),
    };
    let encoded = Notice::Broadcast(notice.clone()).encode();
    if encoded.truncated {
        let whole = serde_json::to_string(&notice).map_or(0, |text| text.len());
        return Err(field_error(
            "message",
            format!("the notification would be {whole} bytes; at most {MAX_NOTIFY_BYTES} fit"),
        ));
    }
    let payload = encoded.text;
    let bytes = payload.len();
    ctx.db
        .run(move |client| {
            client.execute(
                "SELECT pg_notify($1, $2)",
                &[&Channel::Broadcast.name(), &payload],
            )?;
            Ok(())
        })
        .await?;
    log::info!("broadcast_queued level={} bytes={bytes}", level.as_str());
    json_status(
        StatusCode::ACCEPTED,
        &json!({
            "status": "queued",
            "channel": Channel::Broadcast.name(),
            "notification": notice,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_default_to_info_and_are_named_when_unknown() {
        assert_eq!(level(None), Ok(BroadcastLevel::Info));
        assert_eq!(level(Some(" ")), Ok(BroadcastLevel::Info));
        assert_eq!(level(Some("Warning")), Ok(BroadcastLevel::Warning));
        let error = level(Some("loud")).expect_err("unknown");
        assert!(
            error.message.contains("info, warning, critical"),
            "{}",
            error.message
        );
    }

    #[test]
    fn the_notification_is_what_the_listeners_decode() {
        let notice = BroadcastNotice {
            message: "Lane 2 closed".into(),
            level: BroadcastLevel::Warning,
            title: None,
            ts: Some(Utc::now()),
        };
        let text = Notice::Broadcast(notice.clone()).encode().text;
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["level"], "warning");
        assert_eq!(value["title"], serde_json::Value::Null);
        assert!(value["ts"].as_str().is_some_and(|ts| ts.ends_with('Z')));
        assert_eq!(
            Notice::decode(Channel::Broadcast.name(), &text).ok(),
            Some(Notice::Broadcast(BroadcastNotice {
                ts: contract::timestamp::parse(value["ts"].as_str().unwrap_or_default()),
                ..notice
            }))
        );
    }
}
