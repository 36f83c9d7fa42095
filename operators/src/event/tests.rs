use super::decode::{
    has_nul, MAX_CAMERA_ID_LEN, MAX_CLASS_CHARS, MAX_LANE_ID_CHARS, MAX_TS_MS,
    MAX_VEHICLE_ID_CHARS, MIN_TS_MS,
};
use super::*;
use proptest::prelude::*;

const SINGLE: &str = r#"{"camera_id":"cam_01","timestamp":"2024-05-01T12:00:00.250Z","frame_id":7,
    "vehicle_id":"v-1","class":"car","confidence":0.91,"bbox":{"x":10,"y":20,"w":30.5,"h":40},
    "lane_id":"L1","speed_kmh":48.5}"#;

const TS_MS: i64 = 1_714_564_800_250;

fn decode(payload: &str) -> (Vec<Detection>, Vec<DecodeError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    decode_message(payload.as_bytes(), &mut out, &mut errors);
    (out, errors)
}

fn decode_one(payload: &str) -> Detection {
    let (mut out, errors) = decode(payload);
    assert_eq!(errors, vec![], "payload: {payload}");
    assert_eq!(out.len(), 1, "payload: {payload}");
    out.remove(0)
}

fn decode_err(payload: &str) -> DecodeError {
    let (out, mut errors) = decode(payload);
    assert_eq!(out, vec![], "payload: {payload}");
    assert_eq!(errors.len(), 1, "payload: {payload}");
    errors.remove(0)
}

/// The single-detection fixture with one field replaced (or removed with `None`).
fn with_field(field: &str, value: Option<&str>) -> String {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(SINGLE).expect("fixture is valid JSON");
    match value {
        Some(v) => {
            object.insert(field.into(), serde_json::from_str(v).expect("valid JSON"));
        }
        None => {
            object.remove(field);
        }
    }
    serde_json::Value::Object(object).to_string()
}

fn sample() -> Detection {
    Detection {
        camera_id: "cam_01".into(),
        ts_ms: TS_MS,
        frame_id: 7,
        vehicle_id: "v-1".into(),
        class: "car".into(),
        kind: VehicleClass::Car,
        confidence: 0.91,
        bbox: BBox {
            x: 10.0,
            y: 20.0,
            w: 30.5,
            h: 40.0,
        },
        lane_id: Some("L1".into()),
        speed_kmh: Some(48.5),
    }
}

#[test]
fn single_detection() {
    assert_eq!(decode_one(SINGLE), sample());
}

#[test]
fn frame_envelope() {
    let payload = r#"{"camera_id":"cam_01","timestamp":1714564800250,"frame_id":7,"detections":[
        {"vehicle_id":"v-1","class":"car","confidence":0.91,"bbox":[10,20,30.5,40],"lane_id":"L1","speed_kmh":48.5},
        {"vehicle_id":42,"class":"Truck","confidence":1,"bbox":{"x":0,"y":0,"w":1,"h":1}}]}"#;
    let (out, errors) = decode(payload);
    assert_eq!(errors, vec![]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], sample());
    assert_eq!(out[1].vehicle_id, "42");
    assert_eq!(out[1].class, "Truck");
    assert_eq!(out[1].kind, VehicleClass::Truck);
    assert_eq!(out[1].camera_id, "cam_01");
    assert_eq!(out[1].ts_ms, TS_MS);
    assert_eq!((out[1].lane_id.clone(), out[1].speed_kmh), (None, None));
}

#[test]
fn empty_frame_is_valid() {
    let (out, errors) = decode(
        r#"{"camera_id":"cam_01","timestamp":"2024-05-01T12:00:00Z","frame_id":1,"detections":[]}"#,
    );
    assert_eq!((out, errors), (vec![], vec![]));
}

#[test]
fn envelope_header_wins_over_inner_fields() {
    let payload = r#"{"detections":[{"camera_id":"other","timestamp":5,"frame_id":99,
        "vehicle_id":"v","class":"bus","confidence":0.5,"bbox":[1,2,3,4]}],
        "camera_id":"cam_01","ts":"2024-05-01T12:00:00.250Z","frame_id":7}"#;
    let d = decode_one(payload);
    assert_eq!(
        (d.camera_id.as_str(), d.ts_ms, d.frame_id),
        ("cam_01", TS_MS, 7)
    );
}

#[test]
fn envelope_keeps_valid_siblings_of_bad_detections() {
    let payload = r#"{"camera_id":"cam_01","timestamp":1714564800250,"frame_id":7,"detections":[
        {"vehicle_id":"a","class":"car","confidence":0.5,"bbox":[1,2,3,4]},
        {"vehicle_id":"b","class":"car","confidence":1.5,"bbox":[1,2,3,4]},
        {"vehicle_id":"c","class":"car","confidence":0.5,"bbox":[1,2,3,4]},
        "not an object",
        {"class":"car","confidence":0.5,"bbox":[1,2,3,4]}]}"#;
    let (out, errors) = decode(payload);
    let ids: Vec<_> = out.iter().map(|d| d.vehicle_id.as_str()).collect();
    assert_eq!(ids, ["a", "c"]);
    let reasons: Vec<_> = errors.iter().map(|e| e.reason).collect();
    assert_eq!(
        reasons,
        [
            DropReason::InvalidValue,
            DropReason::InvalidValue,
            DropReason::MissingField
        ]
    );
    assert_eq!(errors[0].detail, "confidence must be within 0..=1");
    assert_eq!(errors[1].detail, "detections[3] must be an object");
}

#[test]
fn bad_envelope_header_counts_once() {
    let payload = r#"{"camera_id":"bad id!","timestamp":1714564800250,"frame_id":7,"detections":[
        {"vehicle_id":"a","class":"car","confidence":0.5,"bbox":[1,2,3,4]},
        {"vehicle_id":"b","class":"car","confidence":0.5,"bbox":[1,2,3,4]}]}"#;
    let err = decode_err(payload);
    assert_eq!(err.reason, DropReason::InvalidValue);
    assert!(err.detail.starts_with("camera_id"), "{err}");
    let err = decode_err(r#"{"camera_id":"cam","frame_id":1,"detections":[{}, {}]}"#);
    assert_eq!(err.reason, DropReason::MissingField);
    assert_eq!(err.to_string(), "missing_field: timestamp is required");
}

#[test]
fn detections_must_be_an_array() {
    let err = decode_err(
        r#"{"camera_id":"cam","timestamp":0,"frame_id":1,"detections":{"vehicle_id":"a"}}"#,
    );
    assert_eq!(err.reason, DropReason::InvalidValue);
    assert_eq!(err.detail, "detections must be an array");
}

#[test]
fn ts_alias_and_timestamp_forms() {
    let at = |ts: &str| decode_one(&with_field("timestamp", Some(ts))).ts_ms;
    assert_eq!(at("1714564800250"), TS_MS);
    assert_eq!(at(r#""2024-05-01T14:00:00.250+02:00""#), TS_MS);
    assert_eq!(at(r#""2024-05-01T12:00:00.250123Z""#), TS_MS);
    assert_eq!(at(r#""2024-05-01t12:00:00.25z""#), TS_MS);
    let mut object: serde_json::Value = serde_json::from_str(SINGLE).expect("fixture");
    if let Some(map) = object.as_object_mut() {
        let ts = map.remove("timestamp").expect("fixture has timestamp");
        map.insert("ts".into(), ts);
    }
    assert_eq!(decode_one(&object.to_string()).ts_ms, TS_MS);
}

#[test]
fn bbox_object_and_array() {
    let from_array = decode_one(&with_field("bbox", Some("[10, 20, 30.5, 40]")));
    assert_eq!(from_array, sample());
    let with_extra = decode_one(&with_field(
        "bbox",
        Some(r#"{"h":40,"w":30.5,"y":20,"x":10,"unit":"px"}"#),
    ));
    assert_eq!(with_extra.bbox, sample().bbox);
    assert_eq!(sample().bbox.centroid(), (25.25, 40.0));
}

#[test]
fn integer_and_string_ids() {
    let d = decode_one(&with_field("vehicle_id", Some("42")));
    assert_eq!(d.vehicle_id, "42");
    let d = decode_one(&with_field("lane_id", Some("2")));
    assert_eq!(d.lane_id.as_deref(), Some("2"));
    let d = decode_one(&with_field("vehicle_id", Some("18446744073709551615")));
    assert_eq!(d.vehicle_id, "18446744073709551615");
    let d = decode_one(&with_field("vehicle_id", Some(r#""veh\u00e9""#)));
    assert_eq!(d.vehicle_id, "vehé");
}

#[test]
fn null_or_absent_optionals() {
    for value in [Some("null"), None] {
        let d = decode_one(&with_field("lane_id", value));
        assert_eq!(d.lane_id, None);
        let d = decode_one(&with_field("speed_kmh", value));
        assert_eq!(d.speed_kmh, None);
    }
}

#[test]
fn class_labels() {
    let d = decode_one(&with_field("class", Some(r#"" tractor ""#)));
    assert_eq!((d.class.as_str(), d.kind), ("tractor", VehicleClass::Other));
    let d = decode_one(&with_field("class", Some(r#""MotorCycle""#)));
    assert_eq!(
        (d.class.as_str(), d.kind),
        ("MotorCycle", VehicleClass::Motorcycle)
    );
    for class in VehicleClass::ALL {
        assert_eq!(VehicleClass::from_label(class.as_str()), class);
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let payload = with_field(
        "model",
        Some(r#"{"name":"yolo","layers":[1,[2,{"x":null}]]}"#),
    );
    assert_eq!(decode_one(&payload), sample());
}

#[test]
fn malformed_json() {
    for payload in [
        "",
        "{",
        "not json",
        r#"{"camera_id":"cam_01",}"#,
        "[1,2,3]",
        "\"a string\"",
        "42",
        "null",
        r#"{"camera_id":"a"} trailing"#,
    ] {
        let err = decode_err(payload);
        assert_eq!(err.reason, DropReason::MalformedJson, "payload: {payload}");
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    decode_message(b"{\"camera_id\":\"\xff\"}", &mut out, &mut errors);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].reason, DropReason::MalformedJson);
}

#[test]
fn missing_fields() {
    for field in [
        "camera_id",
        "timestamp",
        "frame_id",
        "vehicle_id",
        "class",
        "confidence",
        "bbox",
    ] {
        for value in [None, Some("null")] {
            let err = decode_err(&with_field(field, value));
            assert_eq!(err.reason, DropReason::MissingField, "{field}: {err}");
            assert_eq!(err.detail, format!("{field} is required"));
        }
    }
    let err = decode_err(&with_field("bbox", Some(r#"{"x":1,"y":2,"w":3}"#)));
    assert_eq!(err.reason, DropReason::MissingField);
    assert_eq!(err.detail, "bbox.h is required");
}

#[test]
fn invalid_values() {
    let long_id = format!("\"{}\"", "v".repeat(129));
    let long_lane = format!("\"{}\"", "é".repeat(65));
    let long_class = format!("\"{}\"", "c".repeat(65));
    let cases: &[(&str, &str, &str)] = &[
        ("camera_id", "\"\"", "camera_id"),
        ("camera_id", "\"cam 01\"", "camera_id"),
        ("camera_id", &format!("\"{}\"", "c".repeat(65)), "camera_id"),
        ("camera_id", "7", "camera_id"),
        ("timestamp", "\"yesterday\"", "timestamp"),
        ("timestamp", "\"2024-05-01 12:00:00\"", "timestamp"),
        ("timestamp", "1.5e12", "timestamp"),
        ("timestamp", "-1", "timestamp"),
        ("timestamp", "\"10000-01-01T00:00:00Z\"", "timestamp"),
        ("timestamp", "true", "timestamp"),
        ("frame_id", "-1", "frame_id"),
        ("frame_id", "1.5", "frame_id"),
        ("frame_id", "\"7\"", "frame_id"),
        ("vehicle_id", "\"\"", "vehicle_id"),
        ("vehicle_id", &long_id, "vehicle_id"),
        ("vehicle_id", "1.5", "vehicle_id"),
        ("vehicle_id", "[1]", "vehicle_id"),
        ("class", "\"  \"", "class"),
        ("class", "3", "class"),
        ("class", &long_class, "class"),
        ("confidence", "1.0001", "confidence"),
        ("confidence", "-0.1", "confidence"),
        ("confidence", "\"0.5\"", "confidence"),
        ("bbox", "[1,2,3]", "bbox"),
        ("bbox", "[1,2,3,4,5]", "bbox"),
        ("bbox", "[1,2,0,4]", "bbox.w"),
        ("bbox", r#"{"x":1,"y":2,"w":3,"h":-4}"#, "bbox.h"),
        ("bbox", r#"{"x":"1","y":2,"w":3,"h":4}"#, "bbox.x"),
        ("bbox", "\"1,2,3,4\"", "bbox"),
        ("lane_id", "\"\"", "lane_id"),
        ("lane_id", &long_lane, "lane_id"),
        ("lane_id", "1.5", "lane_id"),
        ("speed_kmh", "-1", "speed_kmh"),
        ("speed_kmh", "400.5", "speed_kmh"),
        ("speed_kmh", "\"fast\"", "speed_kmh"),
    ];
    for (field, value, detail_prefix) in cases {
        let err = decode_err(&with_field(field, Some(value)));
        assert_eq!(
            err.reason,
            DropReason::InvalidValue,
            "{field}={value}: {err}"
        );
        assert!(
            err.detail.starts_with(detail_prefix),
            "{field}={value}: {err}"
        );
    }
    // Limits are inclusive.
    decode_one(&with_field("confidence", Some("0")));
    decode_one(&with_field("confidence", Some("1")));
    decode_one(&with_field("speed_kmh", Some("400")));
    decode_one(&with_field("speed_kmh", Some("0")));
    decode_one(&with_field(
        "vehicle_id",
        Some(&format!("\"{}\"", "é".repeat(128))),
    ));
    decode_one(&with_field(
        "camera_id",
        Some(&format!("\"{}\"", "c".repeat(64))),
    ));
    let d = decode_one(&with_field(
        "class",
        Some(&format!("\"  {}  \"", "é".repeat(64))),
    ));
    assert_eq!(d.class, "é".repeat(64), "surrounding blanks do not count");
}

#[test]
fn nul_characters_are_refused_by_field_name() {
    for field in ["vehicle_id", "class", "lane_id"] {
        for value in [r#""\u0000""#, r#""a\u0000b""#, r#""car\u0000 ""#] {
            let err = decode_err(&with_field(field, Some(value)));
            assert_eq!(err.reason, DropReason::InvalidValue, "{field}={value}");
            assert_eq!(
                err.detail,
                format!("{field} must not contain NUL characters"),
                "{field}={value}"
            );
        }
    }
    // camera_id was already limited to [A-Za-z0-9_.:-].
    let err = decode_err(&with_field("camera_id", Some(r#""cam\u0000""#)));
    assert_eq!(err.reason, DropReason::InvalidValue);
    assert!(err.detail.starts_with("camera_id"), "{err}");
    // An unescaped NUL byte is not JSON at all.
    let raw = with_field("vehicle_id", Some(r#""a_b""#)).replace("a_b", "a\0b");
    assert_eq!(decode_err(&raw).reason, DropReason::MalformedJson);
    // Other control characters are storable and kept verbatim.
    let d = decode_one(&with_field("vehicle_id", Some(r#""\u0001\t\u001f\u007f""#)));
    assert_eq!(d.vehicle_id, "\u{1}\t\u{1f}\u{7f}");
    // Unknown fields are never stored, so a NUL there costs nothing.
    decode_one(&with_field("note", Some(r#""\u0000""#)));
}

#[test]
fn nul_in_one_detection_spares_its_siblings() {
    let payload = r#"{"camera_id":"cam_01","timestamp":1714564800250,"frame_id":7,"detections":[
        {"vehicle_id":"a","class":"car","confidence":0.5,"bbox":[1,2,3,4]},
        {"vehicle_id":"b","class":"car","confidence":0.5,"bbox":[1,2,3,4],"lane_id":"L\u0000"},
        {"vehicle_id":"c","class":"c\u0000r","confidence":0.5,"bbox":[1,2,3,4]},
        {"vehicle_id":"d","class":"car","confidence":0.5,"bbox":[1,2,3,4]}]}"#;
    let (out, errors) = decode(payload);
    let ids: Vec<_> = out.iter().map(|d| d.vehicle_id.as_str()).collect();
    assert_eq!(ids, ["a", "d"]);
    let details: Vec<_> = errors.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(
        details,
        [
            "lane_id must not contain NUL characters",
            "class must not contain NUL characters"
        ]
    );
}

#[test]
fn decode_error_display_names_the_field() {
    let err = decode_err(&with_field("confidence", Some("2")));
    assert_eq!(
        err.to_string(),
        "invalid_value: confidence must be within 0..=1"
    );
}

#[test]
fn drop_reason_names() {
    let names: Vec<_> = DropReason::ALL.iter().map(DropReason::as_str).collect();
    assert_eq!(
        names,
        [
            "malformed_json",
            "missing_field",
            "invalid_value",
            "late",
            "time_out_of_range",
            "quarantined"
        ]
    );
}

#[test]
fn encode_is_canonical_and_roundtrips() {
    let json = encode_detection(&sample());
    assert_eq!(
        json,
        r#"{"camera_id":"cam_01","timestamp":"2024-05-01T12:00:00.250Z","frame_id":7,"vehicle_id":"v-1","class":"car","confidence":0.91,"bbox":{"x":10.0,"y":20.0,"w":30.5,"h":40.0},"lane_id":"L1","speed_kmh":48.5}"#
    );
    assert_eq!(decode_one(&json), sample());
    let bare = Detection {
        lane_id: None,
        speed_kmh: None,
        ..sample()
    };
    assert_eq!(decode_one(&encode_detection(&bare)), bare);
}

// -- properties ----------------------------------------------------------

/// What the sink needs of every accepted detection.
fn is_storable(d: &Detection) -> bool {
    let texts = [
        Some(d.camera_id.as_str()),
        Some(d.vehicle_id.as_str()),
        Some(d.class.as_str()),
        d.lane_id.as_deref(),
    ];
    texts.into_iter().flatten().all(|s| !has_nul(s))
        && (1..=MAX_CAMERA_ID_LEN).contains(&d.camera_id.len())
        && (1..=MAX_VEHICLE_ID_CHARS).contains(&d.vehicle_id.chars().count())
        && (1..=MAX_CLASS_CHARS).contains(&d.class.chars().count())
        && d.lane_id
            .as_ref()
            .is_none_or(|l| (1..=MAX_LANE_ID_CHARS).contains(&l.chars().count()))
        && (MIN_TS_MS..=MAX_TS_MS).contains(&d.ts_ms)
        && d.frame_id >= 0
        && d.confidence.is_finite()
        && [d.bbox.x, d.bbox.y, d.bbox.w, d.bbox.h]
            .iter()
            .all(|v| v.is_finite())
        && d.speed_kmh.is_none_or(f64::is_finite)
}

/// Decimal values with few significant digits, like detectors emit;
/// these survive serde_json's default (fast, not correctly rounded) float parser.
fn decimal(units: std::ops::RangeInclusive<i64>, scale: f64) -> impl Strategy<Value = f64> {
    units.prop_map(move |units| units as f64 / scale)
}

fn id_string(max_len: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(r#"[a-zA-Z0-9_\-"\\/é ☃]{{1,{max_len}}}"#))
        .expect("valid regex")
}

fn valid_detection() -> impl Strategy<Value = Detection> {
    let class = prop_oneof![
        prop::sample::select(vec!["car", "Truck", "BUS", "motorcycle", "bicycle"])
            .prop_map(str::to_owned),
        "[a-z][a-z ]{0,10}[a-z]",
    ];
    (
        "[A-Za-z0-9_.:-]{1,64}",
        0i64..=MAX_TS_MS,
        0i64..=i64::MAX,
        id_string(128),
        class,
        decimal(0..=1000, 1000.0),
        (
            decimal(-100_000..=400_000, 100.0),
            decimal(-100_000..=400_000, 100.0),
            decimal(1..=100_000, 100.0),
            decimal(1..=100_000, 100.0),
        ),
        proptest::option::of(id_string(64)),
        proptest::option::of(decimal(0..=4000, 10.0)),
    )
        .prop_map(
            |(camera_id, ts_ms, frame_id, vehicle_id, class, confidence, bbox, lane, speed)| {
                Detection {
                    camera_id,
                    ts_ms,
                    frame_id,
                    vehicle_id,
                    kind: VehicleClass::from_label(&class),
                    class,
                    confidence,
                    bbox: BBox {
                        x: bbox.0,
                        y: bbox.1,
                        w: bbox.2,
                        h: bbox.3,
                    },
                    lane_id: lane,
                    speed_kmh: speed,
                }
            },
        )
}

/// Any chars (control and astral ones included), NUL and blanks more often than chance
/// would pick them, and lengths around the limits.
fn hostile_text() -> impl Strategy<Value = String> {
    let char = prop_oneof![
        30 => any::<char>(),
        1 => Just('\0'),
        3 => Just(' '),
        2 => Just('\u{10ffff}'),
    ];
    prop_oneof![
        3 => prop::collection::vec(char, 0..24).prop_map(String::from_iter),
        1 => (60usize..=140, any::<char>())
            .prop_map(|(n, c)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn json_ish() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "camera_id",
        "timestamp",
        "ts",
        "frame_id",
        "vehicle_id",
        "class",
        "confidence",
        "bbox",
        "lane_id",
        "speed_kmh",
        "detections",
        "x",
        "y",
        "w",
        "h",
        "other",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        (-1e6f64..1e6).prop_map(serde_json::Value::from),
        "[ -~é]{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("2024-05-01T12:00:00+02:00")),
    ];
    let value = leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec((key.clone(), inner), 0..10).prop_map(|entries| {
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    });
    value.prop_map(|v| v.to_string())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        decode_message(&bytes, &mut out, &mut errors);
    }

    #[test]
    fn json_ish_text_never_panics(text in r#"[{}\[\]":,0-9a-z_ .eE+-]{0,200}"#) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        decode_message(text.as_bytes(), &mut out, &mut errors);
    }

    #[test]
    fn json_ish_values_never_panic(text in json_ish()) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        decode_message(text.as_bytes(), &mut out, &mut errors);
        for d in &out {
            prop_assert!((0.0..=1.0).contains(&d.confidence));
            prop_assert!(d.bbox.w > 0.0 && d.bbox.h > 0.0);
        }
    }

    #[test]
    fn accepted_text_is_storable(
        vehicle_id in hostile_text(),
        class in hostile_text(),
        lane_id in hostile_text(),
    ) {
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(SINGLE).expect("fixture is valid JSON");
        object.insert("vehicle_id".into(), vehicle_id.clone().into());
        object.insert("class".into(), class.clone().into());
        object.insert("lane_id".into(), lane_id.clone().into());
        let (out, errors) = decode(&serde_json::Value::Object(object).to_string());
        prop_assert_eq!(out.len() + errors.len(), 1);
        for d in &out {
            prop_assert!(is_storable(d), "{:?}", d);
            prop_assert_eq!(&d.vehicle_id, &vehicle_id);
            prop_assert_eq!(d.class.as_str(), class.trim());
            prop_assert_eq!(d.lane_id.as_deref(), Some(lane_id.as_str()));
            prop_assert_eq!(decode(&encode_detection(d)), (vec![d.clone()], vec![]));
        }
        for e in &errors {
            prop_assert_eq!(e.reason, DropReason::InvalidValue);
            let field = ["vehicle_id", "class", "lane_id"]
                .into_iter()
                .find(|f| e.detail.starts_with(f));
            prop_assert!(field.is_some(), "{}", e);
        }
        let any_nul = [&vehicle_id, &class, &lane_id].iter().any(|s| s.contains('\0'));
        prop_assert!(!any_nul || out.is_empty());
    }

    #[test]
    fn encode_then_decode_roundtrips(d in valid_detection()) {
        let json = encode_detection(&d);
        let (out, errors) = decode(&json);
        prop_assert_eq!(errors, vec![]);
        prop_assert_eq!(out, vec![d]);
    }
}
