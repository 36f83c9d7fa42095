use proptest::prelude::*;
use serde_json::json;

use super::*;

fn at(ms: i64) -> Option<DateTime<Utc>> {
    Some(timestamp::from_millis(ms))
}

fn window(lanes: Vec<String>) -> WindowNotice {
    WindowNotice {
        camera_id: "cam_1".into(),
        window_start: at(1_767_225_600_000),
        window_end: at(1_767_225_605_000),
        vehicle_count: Some(3),
        avg_speed_kmh: None,
        congestion_level: Some(CongestionLevel::Moderate),
        congestion_score: Some(0.4),
        lanes,
        lanes_total: None,
        truncated: false,
    }
}

fn opened(road_segment: Option<String>) -> AlertNotice {
    AlertNotice {
        camera_id: Some("cam_1".into()),
        alert_type: Some("congestion".into()),
        severity: Some(CongestionLevel::High),
        road_segment,
        score: Some(0.6),
        message: Some("HIGH congestion".into()),
        at: at(1_767_225_605_000),
        ..AlertNotice::bare(AlertEvent::Opened, 7)
    }
}

fn decoded(notice: &Notice) -> Notice {
    let encoded = notice.encode();
    Notice::decode(notice.channel().name(), &encoded.text).expect("an encoded notice decodes")
}

/// The exact payloads: listeners in other languages read these.
#[test]
fn payloads_are_pinned() {
    let cases = [
        (
            Notice::Window(window(vec!["1".into(), "2".into()])),
            r#"{"avg_speed_kmh":null,"camera_id":"cam_1","congestion_level":"MODERATE","congestion_score":0.4,"lanes":["1","2"],"vehicle_count":3,"window_end":"2026-01-01T00:00:05.000Z","window_start":"2026-01-01T00:00:00.000Z"}"#,
        ),
        (
            Notice::Alert(opened(None)),
            r#"{"alert_id":7,"alert_type":"congestion","at":"2026-01-01T00:00:05.000Z","camera_id":"cam_1","event":"opened","message":"HIGH congestion","score":0.6,"severity":"HIGH"}"#,
        ),
        (
            Notice::Alert(AlertNotice::bare(AlertEvent::Acknowledged, 9)),
            r#"{"alert_id":9,"event":"acknowledged"}"#,
        ),
        (
            Notice::Camera(CameraNotice {
                camera_id: "cam_1".into(),
            }),
            r#"{"camera_id":"cam_1"}"#,
        ),
        (
            Notice::Broadcast(BroadcastNotice {
                message: "road closed".into(),
                level: BroadcastLevel::Warning,
                title: None,
                ts: at(1_767_225_600_000),
            }),
            r#"{"level":"warning","message":"road closed","title":null,"ts":"2026-01-01T00:00:00.000Z"}"#,
        ),
    ];
    for (notice, text) in cases {
        let encoded = notice.encode();
        assert_eq!(encoded.text, text);
        assert!(!encoded.truncated);
        assert_eq!(decoded(&notice), notice);
    }
}

#[test]
fn what_the_schema_triggers_and_other_writers_send_decodes() -> Result<(), NoticeError> {
    let thresholds = Notice::decode(
        "b2_thresholds",
        r#"{"updated_at" : "2026-11-29T20:31:00.123456+00:00"}"#,
    )?;
    assert!(matches!(
        thresholds,
        Notice::Thresholds(ThresholdsNotice {
            updated_at: Some(_)
        })
    ));
    let camera = Notice::decode("b2_cameras", r#"{"camera_id" : "cam_9"}"#)?;
    assert_eq!(
        camera,
        Notice::Camera(CameraNotice {
            camera_id: "cam_9".into()
        })
    );
    // A writer that only names the camera: its latest window is read.
    let Notice::Window(bare) = Notice::decode("b2_metrics", r#"{"camera_id":"cam_live"}"#)? else {
        panic!("a metrics notice");
    };
    assert_eq!(bare.window_start, None);
    let broadcast = Notice::decode("b2_broadcast", r#"{"message":"hi","level":"critical"}"#)?;
    assert!(matches!(
        broadcast,
        Notice::Broadcast(BroadcastNotice {
            level: BroadcastLevel::Critical,
            ..
        })
    ));
    Ok(())
}

#[test]
fn unreadable_payloads_are_errors_naming_the_channel() {
    let error = Notice::decode("b2_alerts", r#"{"event":"exploded","alert_id":1}"#)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.starts_with("unreadable b2_alerts payload"), "{error}");
    assert!(Notice::decode("b2_metrics", "not json").is_err());
    assert!(Notice::decode("b2_metrics", r#"{"window_start":"2026-01-01T00:00:00Z"}"#).is_err());
    assert!(matches!(
        Notice::decode("b2_elsewhere", "{}"),
        Err(NoticeError::UnknownChannel(_))
    ));
}

#[test]
fn ten_thousand_long_lanes_stay_under_the_limit() {
    let lanes: Vec<String> = (0..10_000).map(|i| format!("{i:0>64}")).collect();
    let notice = Notice::Window(window(lanes));
    let encoded = notice.encode();
    assert!(encoded.truncated);
    assert!(
        encoded.text.len() <= MAX_NOTIFY_BYTES,
        "{} bytes",
        encoded.text.len()
    );
    let Notice::Window(back) = decoded(&notice) else {
        panic!("a window notice");
    };
    assert_eq!(back.camera_id, "cam_1");
    assert_eq!(back.window_start, at(1_767_225_600_000));
    assert_eq!(back.lanes_total, Some(10_000));
    assert!(back.truncated);
    assert!(!back.lanes.is_empty());
}

#[test]
fn long_multibyte_text_is_cut_on_a_char_boundary() {
    let notice = Notice::Alert(opened(Some("é".repeat(20_000))));
    let encoded = notice.encode();
    assert!(encoded.text.len() <= MAX_NOTIFY_BYTES);
    let Notice::Alert(back) = decoded(&notice) else {
        panic!("an alert notice");
    };
    assert_eq!(back.alert_id, 7);
    assert!(back.road_segment.unwrap_or_default().ends_with('…'));
}

#[test]
fn many_large_fields_fall_back_to_identity() {
    let mut fields = Map::new();
    fields.insert("camera_id".into(), json!("cam_1"));
    for i in 0..100 {
        fields.insert(format!("extra_{i}"), json!("x".repeat(1_000)));
    }
    let encoded = bounded(Value::Object(fields));
    assert_eq!(encoded.text, r#"{"camera_id":"cam_1","truncated":true}"#);
}

#[test]
fn exactly_at_the_limit_is_kept() {
    let filler = MAX_NOTIFY_BYTES - r#"{"camera_id":""}"#.len();
    let exact = bounded(json!({"camera_id": "c".repeat(filler)}));
    assert_eq!(exact.text.len(), MAX_NOTIFY_BYTES);
    assert!(!exact.truncated);
    let over = bounded(json!({"camera_id": "c".repeat(filler + 1)}));
    assert!(over.text.len() <= MAX_NOTIFY_BYTES);
    assert!(over.truncated);
}

proptest! {
    /// Whatever a window or alert holds, its payload fits, decodes, and still names its rows.
    #[test]
    fn every_notice_fits_and_keeps_its_identity(
        camera_id in "\\PC{1,128}",
        lanes in proptest::collection::vec("\\PC{0,80}", 0..300),
        message in "\\PC{0,3000}",
        road_segment in proptest::option::of("\\PC{0,3000}"),
        alert_id in any::<i64>(),
        start_ms in -10_000_000_000_000i64..10_000_000_000_000,
    ) {
        let window = Notice::Window(WindowNotice {
            camera_id: camera_id.clone(),
            window_start: at(start_ms),
            ..window(lanes)
        });
        let alert = Notice::Alert(AlertNotice {
            camera_id: Some(camera_id.clone()),
            message: Some(message),
            alert_id,
            ..opened(road_segment)
        });
        for notice in [window, alert] {
            let encoded = notice.encode();
            prop_assert!(encoded.text.len() <= MAX_NOTIFY_BYTES);
            let back = Notice::decode(notice.channel().name(), &encoded.text);
            prop_assert!(back.is_ok(), "{:?}", back);
            match (back.ok(), &notice) {
                (Some(Notice::Window(b)), Notice::Window(n)) => {
                    prop_assert_eq!(b.window_start, n.window_start);
                    prop_assert_eq!(b.camera_id, n.camera_id.clone());
                }
                (Some(Notice::Alert(b)), Notice::Alert(n)) => {
                    prop_assert_eq!(b.alert_id, n.alert_id);
                    prop_assert_eq!(b.event, n.event);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
