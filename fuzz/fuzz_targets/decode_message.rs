//! Arbitrary bytes as a Kafka message value: the decoder must not panic, every detection it
//! accepts must be storable by the PostgreSQL sink as is, and the canonical encoding of an
//! accepted detection must decode back to the very same detection.
//!
//! The limits are spelled out here rather than imported, so the target checks the decoder's
//! contract instead of restating its code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use operators::event::{decode_message, encode_detection, Detection};

/// 1970-01-01T00:00:00.000Z ..= 9999-12-31T23:59:59.999Z, in epoch milliseconds.
const TS_RANGE_MS: std::ops::RangeInclusive<i64> = 0..=253_402_300_799_999;

fuzz_target!(|data: &[u8]| {
    let mut detections = Vec::new();
    let mut errors = Vec::new();
    decode_message(data, &mut detections, &mut errors);
    for error in &errors {
        assert!(
            !error.detail.is_empty(),
            "an error without a detail: {error:?}"
        );
    }
    for d in &detections {
        check_storable(d);
        let json = encode_detection(d);
        let mut again = Vec::new();
        let mut again_errors = Vec::new();
        decode_message(json.as_bytes(), &mut again, &mut again_errors);
        assert!(
            again_errors.is_empty(),
            "{json} was refused: {again_errors:?}"
        );
        assert_eq!(again.as_slice(), std::slice::from_ref(d), "{json}");
    }
});

fn check_storable(d: &Detection) {
    // PostgreSQL `text` cannot hold U+0000, and `jsonb` (camera checkpoints) refuses `\u0000`.
    let texts = [
        Some(&d.camera_id),
        Some(&d.vehicle_id),
        Some(&d.class),
        d.lane_id.as_ref(),
    ];
    for text in texts.into_iter().flatten() {
        assert!(!text.contains('\0'), "NUL accepted: {d:?}");
    }
    assert!(
        (1..=64).contains(&d.camera_id.len())
            && d.camera_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b)),
        "camera_id: {d:?}"
    );
    assert!(
        (1..=128).contains(&d.vehicle_id.chars().count()),
        "vehicle_id: {d:?}"
    );
    assert!(
        (1..=64).contains(&d.class.chars().count()) && d.class.trim() == d.class,
        "class: {d:?}"
    );
    if let Some(lane) = &d.lane_id {
        assert!((1..=64).contains(&lane.chars().count()), "lane_id: {d:?}");
    }
    assert!(TS_RANGE_MS.contains(&d.ts_ms), "ts_ms: {d:?}");
    assert!(d.frame_id >= 0, "frame_id: {d:?}");
    assert!((0.0..=1.0).contains(&d.confidence), "confidence: {d:?}");
    let b = d.bbox;
    assert!(
        [b.x, b.y, b.w, b.h].iter().all(|v| v.is_finite()) && b.w > 0.0 && b.h > 0.0,
        "bbox: {d:?}"
    );
    if let Some(speed) = d.speed_kmh {
        assert!((0.0..=400.0).contains(&speed), "speed_kmh: {d:?}");
    }
}
