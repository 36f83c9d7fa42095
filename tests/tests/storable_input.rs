//! Whatever the decoder accepts, the sink can write: hostile Kafka messages (control characters,
//! NUL, astral-plane and very long text; extreme numbers and times; single detections and frame
//! envelopes) go through the real decoder, and every detection it accepts goes through the real
//! camera state and the real sink statements (`write_batch`: binary COPY, window upserts, alerts,
//! jsonb checkpoints, NOTIFY) into a real PostgreSQL. The commit must succeed and the rows must
//! read back as decoded; what the decoder rejects never reaches the sink.

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use postgres::Client;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

use e2e_tests::db::TestDb;
use operators::camera::{AlertConfig, CameraState};
use operators::dataflow::{Located, StoredEvent};
use operators::event::{decode_message, BBox, DecodeError, Detection};
use operators::settings::Settings;
use operators::speed::SpeedTrackerConfig;
use operators::window::WindowConfig;
use pipeline::sink::postgres::write_batch;
use pipeline::sink::CommitBatch;

const GROUP: &str = "storable-input";
const TOPIC: &str = "detections";
const CASES: u32 = 200;
/// Processing time of every case; event times are whatever the message says.
const NOW_MS: i64 = 1_714_564_800_000;
/// 9999-12-31T23:59:59.999Z, the decoder's upper bound.
const MAX_TS_MS: i64 = 253_402_300_799_999;

/// What a run wrote, so a run that accepted (almost) nothing fails instead of passing vacuously.
#[derive(Debug, Default)]
struct Tally {
    messages: u64,
    written: u64,
    detections: u64,
    rejections: u64,
    windows: u64,
    alerts: u64,
    /// Rejections by the field their detail names first.
    rejected_fields: BTreeMap<String, u64>,
}

#[test]
fn every_accepted_message_commits_and_reads_back() {
    let db = TestDb::migrated("b2_storable");
    let client = RefCell::new(db.client());
    let tally = RefCell::new(Tally::default());
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&message(), |message| {
        let offset = tally.borrow().messages as i64;
        let outcome = store(&mut client.borrow_mut(), offset, &message)?;
        tally.borrow_mut().add(&outcome);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let tally = tally.into_inner();
    eprintln!("storable_input: {tally:?}");
    assert!(
        tally.written * 4 >= tally.messages,
        "too few generated messages were accepted to mean anything: {tally:?}"
    );
    assert!(tally.rejections > 0, "no message was rejected: {tally:?}");
    assert!(tally.windows > 0, "no window closed: {tally:?}");
}

/// Hand-picked extremes, so each one is exercised whatever the random cases draw.
#[test]
fn extreme_values_commit_and_read_back() {
    let db = TestDb::migrated("b2_storable_extremes");
    let mut client = db.client();
    let base = || {
        json!({
            "camera_id": "cam_01", "timestamp": "2024-05-01T12:00:00.250Z", "frame_id": 7,
            "vehicle_id": "v-1", "class": "car", "confidence": 0.91,
            "bbox": {"x": 10, "y": 20, "w": 30.5, "h": 40}, "lane_id": "L1", "speed_kmh": 48.5
        })
    };
    let with = |changes: Value| {
        let mut m = base();
        for (k, v) in changes.as_object().expect("object of changes") {
            m[k] = v.clone();
        }
        m
    };
    let controls: String = (1u32..0x20)
        .chain([0x7f])
        .filter_map(char::from_u32)
        .collect();
    let accepted = [
        with(
            json!({"vehicle_id": &controls, "class": format!("{controls}x"), "lane_id": &controls}),
        ),
        with(
            json!({"vehicle_id": "\u{10ffff}".repeat(128), "class": "\u{1f697}".repeat(64),
                    "lane_id": "日".repeat(64)}),
        ),
        with(
            json!({"vehicle_id": "\u{feff}\u{fffe}\u{ffff}\u{2028}\u{2029}\u{200b}e\u{301}",
                    "class": " \\N \\\\ \"\t", "lane_id": "'; DROP TABLE cameras; --"}),
        ),
        with(json!({"vehicle_id": u64::MAX, "lane_id": i64::MIN, "frame_id": i64::MAX})),
        with(json!({"timestamp": 0, "speed_kmh": -0.0, "confidence": 5e-324})),
        with(json!({"timestamp": MAX_TS_MS, "speed_kmh": 400, "confidence": 1})),
        with(json!({"timestamp": "9999-12-31T23:59:59.999999999Z"})),
        with(json!({"timestamp": "1970-01-01T05:30:00.5+05:30"})),
        with(json!({"timestamp": "2016-12-31T23:59:60.123-00:00"})),
        with(json!({"bbox": [1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 1e308]})),
        with(
            json!({"bbox": {"x": i64::MIN, "y": u64::MAX, "w": u64::MAX, "h": 2.2250738585072014e-308}}),
        ),
        with(json!({"bbox": [-0.0, -0.0, 1e-300, 1e-300], "speed_kmh": 5e-324})),
        json!({"camera_id": "c.0:-_Z", "ts": 1_714_564_800_000i64, "frame_id": 0, "detections": [
            {"vehicle_id": "a", "class": "bus", "confidence": 0.5, "bbox": [1, 2, 3, 4], "lane_id": "\u{1}"},
            {"vehicle_id": "a", "class": "bus", "confidence": 0.5, "bbox": [9, 2, 3, 4], "lane_id": "\u{1}"},
            {"vehicle_id": 1, "class": "\u{7f}", "confidence": 0, "bbox": [1, 2, 3, 4], "speed_kmh": 0},
            {"vehicle_id": "\u{0}", "class": "car", "confidence": 0.5, "bbox": [1, 2, 3, 4]},
        ]}),
    ];
    let rejected = [
        with(json!({"vehicle_id": "a\u{0}"})),
        with(json!({"class": "car\u{0}"})),
        with(json!({"lane_id": "\u{0}"})),
        with(json!({"class": "c".repeat(65)})),
        with(json!({"vehicle_id": "v".repeat(129)})),
        with(json!({"timestamp": MAX_TS_MS + 1})),
        with(json!({"timestamp": "1970-01-01T00:00:00+00:01"})),
        with(json!({"bbox": [0, 0, -0.0, 1]})),
    ];
    let mut offset = 0;
    for message in &accepted {
        let outcome =
            store(&mut client, offset, message).unwrap_or_else(|e| panic!("{message}: {e}"));
        assert!(outcome.detections > 0, "rejected: {message}");
        offset += 1;
    }
    for message in &rejected {
        let outcome =
            store(&mut client, offset, message).unwrap_or_else(|e| panic!("{message}: {e}"));
        assert_eq!(outcome.detections, 0, "accepted: {message}");
        assert_eq!(outcome.rejections, 1, "{message}");
        offset += 1;
    }
    let nul = client
        .query_one(
            "SELECT count(*) FROM traffic_events WHERE vehicle_id = 'a' OR vehicle_id = '1'",
            &[],
        )
        .expect("count the envelope's rows")
        .get::<_, i64>(0);
    assert_eq!(
        nul, 3,
        "the envelope's detection with a NUL costs only itself"
    );
}

impl Tally {
    fn add(&mut self, outcome: &Outcome) {
        self.messages += 1;
        self.written += u64::from(outcome.detections > 0);
        self.detections += outcome.detections as u64;
        self.rejections += outcome.rejections as u64;
        self.windows += outcome.windows as u64;
        self.alerts += outcome.alerts as u64;
        for error in &outcome.errors {
            let field = error
                .detail
                .split([' ', '[', '.'])
                .next()
                .unwrap_or_default();
            *self.rejected_fields.entry(field.to_owned()).or_default() += 1;
        }
    }
}

struct Outcome {
    detections: usize,
    rejections: usize,
    errors: Vec<DecodeError>,
    windows: usize,
    alerts: usize,
}

/// Decodes `message` and writes what was accepted as the pipeline would, as Kafka message
/// `offset` of partition 0, in one committed transaction; then reads it all back.
fn store(client: &mut Client, offset: i64, message: &Value) -> Result<Outcome, TestCaseError> {
    let payload = message.to_string();
    let mut decoded = Vec::new();
    let mut errors: Vec<DecodeError> = Vec::new();
    decode_message(payload.as_bytes(), &mut decoded, &mut errors);
    if decoded.is_empty() {
        // Nothing reaches the sink.
        return Ok(Outcome {
            detections: 0,
            rejections: errors.len(),
            errors,
            windows: 0,
            alerts: 0,
        });
    }
    let (batch, cameras) = commit_batch(offset, &decoded);
    let mut tx = client
        .transaction()
        .map_err(db_failure("BEGIN", &payload))?;
    write_batch(&mut tx, &batch, GROUP, TOPIC).map_err(db_failure("write_batch", &payload))?;
    tx.commit().map_err(db_failure("COMMIT", &payload))?;
    read_back(client, offset, &batch, &cameras, &payload)?;
    Ok(Outcome {
        detections: decoded.len(),
        rejections: errors.len(),
        errors,
        windows: batch.windows.len(),
        alerts: batch.alerts.len(),
    })
}

/// The batch the sink would get for this message: its events, the windows closed by this epoch
/// and by a later idle tick, alert changes, each camera's checkpoint and the Kafka position.
fn commit_batch(
    offset: i64,
    decoded: &[Detection],
) -> (CommitBatch, BTreeMap<String, CameraState>) {
    let settings = Settings::default();
    let window = WindowConfig::default();
    let alert_config = AlertConfig::default();
    let mut cameras: BTreeMap<String, CameraState> = BTreeMap::new();
    let mut batch = CommitBatch {
        through_epoch: offset as u64,
        ..CommitBatch::default()
    };
    for (index, detection) in decoded.iter().enumerate() {
        let state = cameras
            .entry(detection.camera_id.clone())
            .or_insert_with(|| {
                CameraState::new(&detection.camera_id, SpeedTrackerConfig::default())
            });
        let profile = settings.profile(&detection.camera_id);
        let outcome = state.on_event(detection, NOW_MS, &profile, &window);
        batch.events.push(StoredEvent {
            located: Located {
                detection: detection.clone(),
                partition: 0,
                offset,
                index: index as u32,
            },
            estimated_speed_kmh: outcome.estimated_speed_kmh,
            late: outcome.late,
        });
    }
    for processing_ms in [NOW_MS, NOW_MS + window.idle_timeout_ms] {
        for (camera_id, state) in &mut cameras {
            let profile = settings.profile(camera_id);
            let closed = state.close_ready(
                processing_ms,
                &profile,
                &settings.thresholds,
                &window,
                &alert_config,
            );
            batch
                .windows
                .extend(closed.windows.into_iter().map(|w| (w, processing_ms)));
            batch.alerts.extend(closed.alerts);
        }
    }
    for (camera_id, state) in &cameras {
        // As the camera shard encodes it.
        let state = state.to_checkpoint().expect("a camera state serializes");
        batch.checkpoints.insert(camera_id.clone(), state);
    }
    batch.offsets.insert(0, offset + 1);
    (batch, cameras)
}

fn read_back(
    client: &mut Client,
    offset: i64,
    batch: &CommitBatch,
    cameras: &BTreeMap<String, CameraState>,
    payload: &str,
) -> Result<(), TestCaseError> {
    let rows = client
        .query(
            "SELECT camera_id, ts, frame_id, vehicle_id, class, confidence, bbox_x, bbox_y, bbox_w,
                    bbox_h, lane_id, speed_kmh, estimated_speed_kmh
             FROM traffic_events WHERE kafka_partition = 0 AND kafka_offset = $1
             ORDER BY detection_index",
            &[&offset],
        )
        .map_err(db_failure("read traffic_events", payload))?;
    prop_assert_eq!(rows.len(), batch.events.len(), "payload: {}", payload);
    for (row, event) in rows.iter().zip(&batch.events) {
        let decoded = &event.located.detection;
        let stored = Detection {
            camera_id: row.get(0),
            ts_ms: row.get::<_, DateTime<Utc>>(1).timestamp_millis(),
            frame_id: row.get(2),
            vehicle_id: row.get(3),
            class: row.get(4),
            kind: decoded.kind,
            confidence: row.get(5),
            bbox: BBox {
                x: row.get(6),
                y: row.get(7),
                w: row.get(8),
                h: row.get(9),
            },
            lane_id: row.get(10),
            speed_kmh: row.get(11),
        };
        prop_assert_eq!(&stored, decoded, "payload: {}", payload);
        prop_assert_eq!(
            row.get::<_, Option<f64>>(12),
            event.estimated_speed_kmh,
            "payload: {}",
            payload
        );
    }
    for (w, _) in &batch.windows {
        let start = DateTime::<Utc>::from_timestamp_millis(w.window_start_ms);
        let row = client
            .query_opt(
                "SELECT lane_id, vehicle_count, event_count FROM traffic_metrics
                 WHERE camera_id = $1 AND lane_id IS NOT DISTINCT FROM $2 AND window_start = $3",
                &[&w.camera_id, &w.lane_id, &start],
            )
            .map_err(db_failure("read traffic_metrics", payload))?;
        prop_assert!(
            row.is_some(),
            "window {:?} missing; payload: {}",
            w,
            payload
        );
        if let Some(row) = row {
            prop_assert_eq!(row.get::<_, Option<String>>(0), w.lane_id.clone());
            prop_assert_eq!(row.get::<_, i32>(1) as u64, w.vehicle_count);
            prop_assert_eq!(row.get::<_, i32>(2) as u64, w.event_count);
        }
    }
    for (camera_id, state) in cameras {
        let stored: Value = client
            .query_one(
                "SELECT state FROM pipeline_checkpoints WHERE group_id = $1 AND camera_id = $2",
                &[&GROUP, camera_id],
            )
            .map_err(db_failure("read pipeline_checkpoints", payload))?
            .get(0);
        let restored = CameraState::from_checkpoint(&stored.to_string()).map_err(|e| {
            TestCaseError::fail(format!(
                "checkpoint does not restore ({e}); payload: {payload}"
            ))
        })?;
        prop_assert_eq!(&restored, state, "payload: {}", payload);
    }
    let next: i64 = client
        .query_one(
            "SELECT next_offset FROM pipeline_offsets
             WHERE group_id = $1 AND topic = $2 AND kafka_partition = 0",
            &[&GROUP, &TOPIC],
        )
        .map_err(db_failure("read pipeline_offsets", payload))?
        .get(0);
    prop_assert_eq!(next, offset + 1);
    Ok(())
}

fn db_failure<'a>(
    step: &'a str,
    payload: &'a str,
) -> impl Fn(postgres::Error) -> TestCaseError + 'a {
    move |e| {
        let detail = match e.as_db_error() {
            Some(db) => format!(
                "{} ({}): {}",
                db.message(),
                db.code().code(),
                db.detail().unwrap_or("")
            ),
            None => e.to_string(),
        };
        TestCaseError::fail(format!("{step} failed: {detail}; payload: {payload}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies: mostly values the decoder accepts, made as hostile as the contract allows, with
// a share of values it must reject.
// ---------------------------------------------------------------------------------------------

/// Pieces hostile text is made of.
const PIECES: &[&str] = &[
    "\0",
    "\u{1}",
    "\u{1f}",
    "\u{7f}",
    "\u{80}",
    "\u{9f}",
    "\u{a0}",
    "\u{ad}",
    "\u{2028}",
    "\u{200b}",
    "\u{feff}",
    "\u{fffd}",
    "\u{fffe}",
    "\u{ffff}",
    "\u{10000}",
    "\u{1f600}",
    "\u{10ffff}",
    "e\u{301}",
    "\r\n",
    "\t",
    " ",
    "\\",
    "\\N",
    "\"",
    "'",
    "\\u0000",
    "%s",
    "{}",
    "é",
    "ß",
    "日本",
    "car",
    "x",
    "7",
];

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        4 => prop::collection::vec(prop::sample::select(PIECES), 1..10).prop_map(|p| p.concat()),
        1 => (
            prop::sample::select(vec![1usize, 63, 64, 65, 127, 128, 129, 5_000, 70_000]),
            prop::sample::select(vec!['v', 'é', '日', '\u{1f600}', '\u{1}', '\u{10ffff}']),
        )
            .prop_map(|(n, c)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            0.0,
            -0.0,
            5e-324,
            -5e-324,
            f64::MIN_POSITIVE,
            1e-300,
            1e308,
            -1e308,
            f64::MAX,
            f64::MIN,
            i64::MAX as f64,
            u64::MAX as f64,
        ]),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()),
    ]
}

fn any_integer() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![i64::MIN, -1, 0, 1, i64::MAX]).prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
    ]
}

/// A value of any type, mostly wrong for the field it lands in.
fn other_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Bool(true)),
        Just(json!([])),
        Just(json!({"x": 1})),
        Just(json!([1, [2, {"a": null}]])),
        hostile_text().prop_map(Value::from),
        any_float().prop_map(Value::from),
        any_integer(),
    ]
}

fn float_in(low: f64, high: f64) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (low..=high).prop_map(Value::from),
        1 => prop::sample::select(vec![low, high, -0.0, 5e-324, f64::MIN_POSITIVE])
            .prop_filter("in range", move |f| (low..=high).contains(f))
            .prop_map(Value::from),
        1 => Just(Value::from(high as i64)),
    ]
}

fn rfc3339() -> impl Strategy<Value = String> {
    let date = (1969i32..=9999, 1u32..=12, 1u32..=28);
    let time = (0u32..=23, 0u32..=59, 0u32..=60, 0usize..=12, 0u64..u64::MAX);
    let offset = prop_oneof![
        Just("Z".to_owned()),
        Just("z".to_owned()),
        Just("+00:00".to_owned()),
        Just("-00:00".to_owned()),
        (prop::bool::ANY, 0u32..=23, 0u32..=59)
            .prop_map(|(east, h, m)| { format!("{}{h:02}:{m:02}", if east { '+' } else { '-' }) }),
    ];
    (date, time, offset, prop::bool::ANY).prop_map(
        |((y, mo, d), (h, mi, s, digits, frac), offset, lower_t)| {
            let fraction = match digits {
                0 => String::new(),
                n => format!(".{:0>20}", frac)[..=n].to_owned(),
            };
            let t = if lower_t { 't' } else { 'T' };
            format!("{y:04}-{mo:02}-{d:02}{t}{h:02}:{mi:02}:{s:02}{fraction}{offset}")
        },
    )
}

fn timestamp() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => rfc3339().prop_map(Value::from),
        3 => (0..=MAX_TS_MS).prop_map(Value::from),
        1 => prop::sample::select(vec![0, 1, NOW_MS, MAX_TS_MS - 1, MAX_TS_MS]).prop_map(Value::from),
        1 => prop_oneof![
            prop::sample::select(vec![
                json!(-1),
                json!(MAX_TS_MS + 1),
                json!(i64::MIN),
                json!(i64::MAX),
                json!(u64::MAX),
                json!(1.5e12),
                json!("yesterday"),
                json!("10000-01-01T00:00:00Z"),
                json!("2024-02-30T00:00:00Z"),
                json!("1969-12-31T23:59:59.999Z"),
            ]),
            other_value(),
        ],
    ]
}

fn camera_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        16 => "[A-Za-z0-9_.:-]{1,64}".prop_map(Value::from),
        1 => hostile_text().prop_map(Value::from),
        1 => other_value(),
    ]
}

fn frame_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => (0..=i64::MAX).prop_map(Value::from),
        3 => prop::sample::select(vec![0, i64::MAX]).prop_map(Value::from),
        1 => other_value(),
    ]
}

fn vehicle_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => hostile_text().prop_map(Value::from),
        3 => any_integer(),
        1 => other_value(),
    ]
}

fn class() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(vec!["car", "Truck", " BUS ", "motorcycle", "bicycle", "tractor"])
            .prop_map(Value::from),
        8 => hostile_text().prop_map(Value::from),
        1 => other_value(),
    ]
}

fn bbox() -> impl Strategy<Value = Value> {
    let coordinate = || prop_oneof![any_float().prop_map(Value::from), any_integer()];
    let extent = || {
        prop_oneof![
            12 => any_float().prop_filter("> 0", |f| *f > 0.0).prop_map(Value::from),
            1 => Just(Value::from(u64::MAX)),
            1 => Just(Value::from(i64::MAX)),
            1 => prop::sample::select(vec![json!(0), json!(-0.0), json!(-1), json!(null)]),
        ]
    };
    let four = || (coordinate(), coordinate(), extent(), extent());
    prop_oneof![
        8 => four().prop_map(|(x, y, w, h)| json!({"x": x, "y": y, "w": w, "h": h})),
        8 => four().prop_map(|(x, y, w, h)| json!([x, y, w, h])),
        1 => other_value(),
    ]
}

fn lane_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        10 => hostile_text().prop_map(Value::from),
        3 => any_integer(),
        3 => Just(Value::Null),
        1 => other_value(),
    ]
}

fn detection_fields() -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    let present = |p: f64, value: BoxedStrategy<Value>, key: &'static str| {
        proptest::option::weighted(p, value.prop_map(move |v| (key, v)))
    };
    (
        present(0.97, vehicle_id().boxed(), "vehicle_id"),
        present(0.97, class().boxed(), "class"),
        present(0.97, float_in(0.0, 1.0).boxed(), "confidence"),
        present(0.97, bbox().boxed(), "bbox"),
        present(0.7, lane_id().boxed(), "lane_id"),
        present(
            0.6,
            prop_oneof![16 => float_in(0.0, 400.0), 2 => Just(Value::Null), 1 => other_value()]
                .boxed(),
            "speed_kmh",
        ),
        // Unknown fields are ignored whatever they hold.
        present(0.2, hostile_text().prop_map(Value::from).boxed(), "note"),
    )
        .prop_map(|(a, b, c, d, e, f, g)| [a, b, c, d, e, f, g].into_iter().flatten().collect())
}

fn header_fields() -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    let present = |p: f64, value: BoxedStrategy<Value>, key: &'static str| {
        proptest::option::weighted(p, value.prop_map(move |v| (key, v)))
    };
    (
        present(0.98, camera_id().boxed(), "camera_id"),
        present(0.98, timestamp().boxed(), "timestamp"),
        prop::bool::weighted(0.2),
        present(0.98, frame_id().boxed(), "frame_id"),
    )
        .prop_map(|(camera, ts, ts_alias, frame)| {
            let ts = ts.map(|(k, v)| (if ts_alias { "ts" } else { k }, v));
            [camera, ts, frame].into_iter().flatten().collect()
        })
}

fn object(fields: Vec<(&'static str, Value)>) -> Map<String, Value> {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A single detection, or a frame envelope of up to 6 or of 16 to 80 items (not always
/// objects; many lanes in one window, too).
fn message() -> impl Strategy<Value = Value> {
    let envelope = |items: std::ops::RangeInclusive<usize>| {
        let item = prop_oneof![
            12 => detection_fields().prop_map(|f| Value::Object(object(f))),
            1 => other_value(),
        ];
        (header_fields(), prop::collection::vec(item, items)).prop_map(|(header, items)| {
            let mut m = object(header);
            m.insert("detections".into(), Value::Array(items));
            Value::Object(m)
        })
    };
    prop_oneof![
        3 => (header_fields(), detection_fields()).prop_map(|(header, fields)| {
            let mut m = object(header);
            m.extend(object(fields));
            Value::Object(m)
        }),
        2 => envelope(0..=6),
        1 => envelope(16..=80),
    ]
}
