//! The stored checkpoint format, pinned by the golden files in `tests/golden/`.
//!
//! `checkpoint_v<N>.json` holds the same camera state as format `N` stored it. Every such file
//! must restore to that state, and re-encoding it must give exactly the file of the current
//! format: renaming or retyping a field of the state fails here, not in a pipeline that can no
//! longer read the checkpoints it committed. A format newer than this build must be refused by
//! name.
//!
//! After a deliberate change of the state's layout, raise `contract::checkpoint::FORMAT`, teach
//! `contract::checkpoint::decode` to read the previous format, and write the new golden file:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -p operators --test checkpoint_golden
//! ```
//!
//! That rewrites only the current format's file. The older files record what deployed
//! pipelines stored and are never regenerated.

use std::path::{Path, PathBuf};
use std::sync::Once;

use contract::checkpoint::{format_of, FORMAT};
use operators::alerts::AlertTransition;
use operators::camera::{AlertConfig, CameraState};
use operators::congestion::Thresholds;
use operators::event::{BBox, Detection, VehicleClass};
use operators::metrics::CameraProfile;
use operators::speed::SpeedTrackerConfig;
use operators::window::WindowConfig;

/// 2026-11-27T08:00:00Z, a multiple of the window size.
const T0: i64 = 1_795_766_400_000;

fn detection(ts_ms: i64, vehicle: &str, lane: &str, x: f64, speed_kmh: Option<f64>) -> Detection {
    Detection {
        camera_id: "cam_golden".into(),
        ts_ms,
        frame_id: (ts_ms - T0) / 100,
        vehicle_id: vehicle.into(),
        class: "car".into(),
        kind: VehicleClass::Car,
        confidence: 0.875,
        bbox: BBox {
            x,
            y: 120.0,
            w: 40.0,
            h: 24.0,
        },
        lane_id: Some(lane.into()),
        speed_kmh,
    }
}

/// A camera with something in every part of its state: a congested window closed (so an
/// alert is open), two windows still open with lanes, speed tracks with and without an
/// estimate, and a watermark past the first window.
fn golden_state() -> CameraState {
    let window = WindowConfig::default();
    let profile = CameraProfile {
        metres_per_pixel: 0.05,
        free_flow_kmh: 50.0,
        lanes: Some(2),
    };
    let processing_ms = T0 + 10_000;
    let mut state = CameraState::new("cam_golden", SpeedTrackerConfig::default());
    for v in 0..20 {
        let lane = if v % 2 == 0 { "1" } else { "2" };
        let det = detection(T0 + 100 * v, &format!("slow-{v}"), lane, 10.0, Some(3.0));
        state.on_event(&det, processing_ms, &profile, &window);
    }
    for step in 0..4 {
        for v in 0..3 {
            let x = 10.0 + 15.0 * step as f64 + 2.0 * v as f64;
            let det = detection(
                T0 + 6_000 + 250 * step,
                &format!("moving-{v}"),
                "1",
                x,
                None,
            );
            state.on_event(&det, processing_ms, &profile, &window);
        }
    }
    let det = detection(T0 + 10_500, "next-window", "2", 300.0, None);
    state.on_event(&det, processing_ms, &profile, &window);
    let closed = state.close_ready(
        processing_ms,
        &profile,
        &Thresholds::default(),
        &window,
        &AlertConfig::default(),
    );
    assert!(
        matches!(closed.alerts.as_slice(), [AlertTransition::Opened(_)]),
        "the golden state holds an open alert: {closed:?}"
    );
    assert_eq!(state.open_windows(), 2);
    state
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn golden_path(format: u32) -> PathBuf {
    golden_dir().join(format!("checkpoint_v{format}.json"))
}

/// The text of a golden file, without the newline that ends the file.
fn read_golden(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.strip_suffix('\n').unwrap_or(&text).to_owned()
}

/// The current format's golden text, written first when `UPDATE_GOLDEN` is set.
fn current_golden() -> String {
    static UPDATE: Once = Once::new();
    UPDATE.call_once(|| {
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            let text = golden_state()
                .to_checkpoint()
                .expect("the state serializes");
            std::fs::write(golden_path(FORMAT), format!("{text}\n")).expect("golden file written");
        }
    });
    read_golden(&golden_path(FORMAT))
}

/// Every `checkpoint_v<N>.json`, with its `N`, in format order.
fn golden_files() -> Vec<(u32, PathBuf)> {
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let format = name.strip_prefix("checkpoint_v")?.strip_suffix(".json")?;
            Some((format.parse().ok()?, path))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_golden_state_encodes_to_the_current_golden_file() {
    let expected = current_golden();
    let encoded = golden_state()
        .to_checkpoint()
        .expect("the state serializes");
    assert_eq!(
        encoded, expected,
        "the stored form of a camera state changed; if on purpose, see this file's doc comment"
    );
}

#[test]
fn every_golden_file_restores_and_re_encodes_in_the_current_format() {
    let current = current_golden();
    let files = golden_files();
    let formats: Vec<u32> = files.iter().map(|(format, _)| *format).collect();
    assert!(
        formats.contains(&0) && formats.contains(&FORMAT),
        "golden files of formats 0 and {FORMAT} expected, found {formats:?}"
    );
    for (format, path) in files {
        let text = read_golden(&path);
        assert_eq!(format_of(&text), Some(format), "{}", path.display());
        let restored = CameraState::from_checkpoint(&text)
            .unwrap_or_else(|e| panic!("{} does not restore: {e}", path.display()));
        assert_eq!(restored, golden_state(), "{}", path.display());
        let encoded = restored.to_checkpoint().expect("the state serializes");
        assert_eq!(encoded, current, "{} re-encoded", path.display());
    }
}

#[test]
fn a_newer_format_is_refused_by_name() {
    let current = current_golden();
    let newer = FORMAT + 1;
    let text = current.replacen(
        &format!(r#"{{"format":{FORMAT},"#),
        &format!(r#"{{"format":{newer},"#),
        1,
    );
    assert_ne!(text, current);
    let error = CameraState::from_checkpoint(&text).expect_err("a newer format is refused");
    let message = error.to_string();
    assert!(
        message.contains(&format!("format {newer}")),
        "the error names the format: {message}"
    );
}
