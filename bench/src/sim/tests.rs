//! Behavioural checks of the simulator as the pipeline sees it: through
//! the bytes it emits and the ground truth it claims.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::*;

/// 2026-11-27T08:00:00Z
const START_MS: i64 = 1_795_766_400_000;
const MINUTE_MS: i64 = 60_000;

fn run(config: SimConfig, duration_ms: i64) -> Vec<SimMessage> {
    let mut sim = Simulator::new(config, START_MS);
    let mut out = Vec::new();
    while sim.now_ms() < START_MS + duration_ms {
        out.extend(sim.advance(1_000));
    }
    out
}

fn json(m: &SimMessage) -> Value {
    serde_json::from_slice(&m.payload).expect("valid JSON payload")
}

fn detections(config: SimConfig, duration_ms: i64) -> Vec<(SimMessage, Value)> {
    run(config, duration_ms)
        .into_iter()
        .map(|m| {
            let v = json(&m);
            (m, v)
        })
        .collect()
}

fn centroid_x(v: &Value) -> f64 {
    v["bbox"]["x"].as_f64().expect("x") + v["bbox"]["w"].as_f64().expect("w") / 2.0
}

#[test]
fn same_seed_same_messages_whatever_the_step() {
    let config = SimConfig {
        with_lanes: true,
        bad_ratio: 0.05,
        ..SimConfig::default()
    };
    let coarse = run(config.clone(), 2 * MINUTE_MS);
    let mut sim = Simulator::new(config.clone(), START_MS);
    let mut fine = Vec::new();
    for step in [7, 93, 250, 1, 1000].iter().cycle() {
        if sim.now_ms() >= START_MS + 2 * MINUTE_MS {
            break;
        }
        let step = (*step).min(START_MS + 2 * MINUTE_MS - sim.now_ms());
        fine.extend(sim.advance(step));
    }
    assert!(!coarse.is_empty());
    assert_eq!(coarse, fine);

    let other = run(SimConfig { seed: 2, ..config }, 2 * MINUTE_MS);
    assert_ne!(coarse, other);
}

#[test]
fn messages_are_ordered_and_on_the_frame_grid() {
    let messages = run(SimConfig::default(), MINUTE_MS);
    for pair in messages.windows(2) {
        assert!((pair[0].ts_ms, &pair[0].camera_id) <= (pair[1].ts_ms, &pair[1].camera_id));
    }
    for m in &messages {
        assert_eq!(m.ts_ms % 100, 0);
        assert_eq!(m.key, m.camera_id);
        let v = json(m);
        assert_eq!(v["camera_id"], Value::from(m.camera_id.as_str()));
        let ts = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().expect("timestamp"))
            .expect("RFC 3339");
        assert_eq!(ts.timestamp_millis(), m.ts_ms);
    }
    let cams: HashSet<_> = messages.iter().map(|m| m.camera_id.clone()).collect();
    let expected: HashSet<_> = (0..4).map(camera_id).collect();
    assert_eq!(cams, expected);
}

#[test]
fn bboxes_stay_inside_the_frame() {
    let config = SimConfig {
        rate: 100.0,
        lanes_per_camera: 5,
        ..SimConfig::default()
    };
    for (_, v) in detections(config, 3 * MINUTE_MS) {
        let b = &v["bbox"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| b[k].as_f64().expect("bbox field"));
        assert!(w > 0.0 && h > 0.0, "{v}");
        assert!(x >= 0.0 && x + w <= 1920.0 + 0.01, "{v}");
        assert!(y >= 0.0 && y + h <= 1080.0, "{v}");
        let c = v["confidence"].as_f64().expect("confidence");
        assert!((0.0..=1.0).contains(&c));
    }
}

#[test]
fn camera_ids_have_two_digits() {
    assert_eq!(camera_id(0), "cam_01");
    assert_eq!(camera_id(3), "cam_04");
    assert_eq!(camera_id(11), "cam_12");
}

#[test]
fn tracks_keep_their_id_and_bbox_motion_matches_true_speed() {
    let config = SimConfig {
        cameras: 2,
        rate: 30.0,
        ..SimConfig::default()
    };
    let mpp = config.metres_per_pixel;
    let mut tracks: HashMap<String, Vec<(i64, f64, f64, Value)>> = HashMap::new();
    for (m, v) in detections(config, 5 * MINUTE_MS) {
        let truth = &m.truths[0];
        assert_eq!(v["vehicle_id"], Value::from(truth.vehicle_id.as_str()));
        assert!(truth.vehicle_id.starts_with(&format!("{}-v", m.camera_id)));
        tracks.entry(truth.vehicle_id.clone()).or_default().push((
            m.ts_ms,
            centroid_x(&v),
            truth.true_speed_kmh,
            v,
        ));
    }
    let mut pairs = 0;
    let mut slow_pairs = 0;
    for (id, track) in &tracks {
        for w in track.windows(2) {
            let (t0, x0, _, v0) = &w[0];
            let (t1, x1, speed, v1) = &w[1];
            // Detected in every frame while in view.
            assert_eq!(t1 - t0, 100, "{id} skipped a frame");
            assert_eq!(v0["class"], v1["class"]);
            let implied = (x1 - x0) * mpp / ((t1 - t0) as f64 / 1000.0) * 3.6;
            assert!(
                (implied - speed).abs() / speed < 0.01,
                "{id}: implied {implied} vs true {speed}"
            );
            pairs += 1;
            if *speed < 15.0 {
                slow_pairs += 1;
            }
        }
    }
    assert!(pairs > 10_000, "only {pairs} consecutive pairs");
    assert!(slow_pairs > 1_000, "congested traffic not exercised");
    // Vehicles cross the frame: a typical track spans many frames.
    let long = tracks.values().filter(|t| t.len() >= 50).count();
    assert!(long * 2 > tracks.len());
}

#[test]
fn reported_speed_is_true_speed_with_small_noise() {
    for (m, v) in detections(SimConfig::default(), MINUTE_MS) {
        let reported = v["speed_kmh"].as_f64().expect("speed_kmh present");
        let truth = m.truths[0].true_speed_kmh;
        assert!((reported - truth).abs() <= truth * 0.02 + 0.05);
    }
}

#[test]
fn no_speed_omits_the_field_but_keeps_the_truth() {
    let config = SimConfig {
        no_speed: true,
        ..SimConfig::default()
    };
    let all = detections(config, MINUTE_MS);
    assert!(!all.is_empty());
    for (m, v) in all {
        assert!(v.get("speed_kmh").is_none());
        assert!(m.truths[0].true_speed_kmh > 0.0);
    }
}

#[test]
fn with_lanes_reports_about_eighty_percent_of_lanes() {
    let config = SimConfig {
        with_lanes: true,
        lanes_per_camera: 3,
        ..SimConfig::default()
    };
    let all = detections(config, 10 * MINUTE_MS);
    let mut known = 0;
    let mut lanes = BTreeMap::new();
    for (m, v) in &all {
        let lane = v.get("lane_id").expect("lane_id present, maybe null");
        match lane {
            Value::Null => assert_eq!(m.truths[0].lane_id, None),
            Value::String(s) => {
                known += 1;
                assert_eq!(m.truths[0].lane_id.as_deref(), Some(s.as_str()));
                assert_eq!(*s, m.truths[0].true_lane.to_string());
                *lanes.entry(s.clone()).or_insert(0) += 1;
            }
            other => panic!("unexpected lane_id {other}"),
        }
    }
    let share = f64::from(known) / all.len() as f64;
    assert!((0.72..=0.88).contains(&share), "lane share {share}");
    assert_eq!(lanes.keys().cloned().collect::<Vec<_>>(), ["1", "2", "3"]);

    for (m, v) in detections(SimConfig::default(), MINUTE_MS) {
        assert!(v.get("lane_id").is_none());
        assert_eq!(m.truths[0].lane_id, None);
    }
}

#[test]
fn frame_envelopes_carry_a_detections_array() {
    let config = SimConfig {
        frames: true,
        with_lanes: true,
        ..SimConfig::default()
    };
    let messages = run(config, 2 * MINUTE_MS);
    assert!(!messages.is_empty());
    let mut seen = HashSet::new();
    for m in &messages {
        assert_eq!(m.kind, MessageKind::Frame);
        let v = json(m);
        assert!(v["frame_id"].is_u64());
        assert!(v.get("vehicle_id").is_none());
        let dets = v["detections"].as_array().expect("detections array");
        assert!(!dets.is_empty());
        assert_eq!(dets.len(), m.truths.len());
        for (d, t) in dets.iter().zip(&m.truths) {
            assert_eq!(d["vehicle_id"], Value::from(t.vehicle_id.as_str()));
            for field in ["class", "confidence", "bbox", "lane_id", "speed_kmh"] {
                assert!(d.get(field).is_some(), "missing {field}");
            }
        }
        // One envelope per camera frame.
        assert!(seen.insert((m.camera_id.clone(), m.ts_ms)));
    }
}

#[test]
fn bad_ratio_sets_the_share_of_malformed_messages() {
    let config = SimConfig {
        bad_ratio: 0.1,
        ..SimConfig::default()
    };
    let messages = run(config, 5 * MINUTE_MS);
    let bad: Vec<_> = messages
        .iter()
        .filter(|m| m.kind == MessageKind::Malformed)
        .collect();
    let share = bad.len() as f64 / messages.len() as f64;
    assert!((0.085..=0.115).contains(&share), "malformed share {share}");
    let mut unparsable = 0;
    for m in &bad {
        assert!(m.truths.is_empty());
        assert_eq!(m.key, m.camera_id);
        if serde_json::from_slice::<Value>(&m.payload).is_err() {
            unparsable += 1;
        }
    }
    // A mix: some do not parse at all, the others parse but break the contract.
    assert!(unparsable > 0 && unparsable < bad.len());

    let clean = run(SimConfig::default(), MINUTE_MS);
    assert!(clean.iter().all(|m| m.kind == MessageKind::Detection));
}

#[test]
fn average_rate_holds_over_ten_minutes() {
    for rate in [10.0, 200.0] {
        let config = SimConfig {
            rate,
            ..SimConfig::default()
        };
        let cameras = config.cameras;
        let messages = run(config, 10 * MINUTE_MS);
        let per_second = messages.len() as f64 / (cameras as f64 * 600.0);
        assert!(
            (per_second - rate).abs() / rate < 0.2,
            "rate {rate}: got {per_second}"
        );
        let mut per_camera: HashMap<&str, usize> = HashMap::new();
        for m in &messages {
            *per_camera.entry(&m.camera_id).or_default() += 1;
        }
        for (cam, n) in per_camera {
            let r = n as f64 / 600.0;
            assert!((r - rate).abs() / rate < 0.35, "{cam} at rate {rate}: {r}");
        }
    }
}

#[test]
fn rate_holds_without_congestion_and_in_frame_mode() {
    let config = SimConfig {
        congestion: false,
        frames: true,
        ..SimConfig::default()
    };
    let messages = run(config, 10 * MINUTE_MS);
    let dets: usize = messages.iter().map(|m| m.truths.len()).sum();
    let per_second = dets as f64 / (4.0 * 600.0);
    assert!((per_second - 10.0).abs() < 2.0, "{per_second}");
    assert!(messages
        .iter()
        .flat_map(|m| &m.truths)
        .all(|t| t.true_speed_kmh >= 15.0));
}

/// What a 5-second window aggregate accumulates.
#[derive(Default)]
struct WindowAcc {
    speed_sum: f64,
    detections: usize,
    vehicles: HashSet<String>,
}

impl WindowAcc {
    fn add(&mut self, t: &Truth) {
        self.speed_sum += t.true_speed_kmh;
        self.detections += 1;
        self.vehicles.insert(t.vehicle_id.clone());
    }

    fn mean_speed(&self) -> f64 {
        self.speed_sum / self.detections as f64
    }
}

/// Per camera and 5-second window: (mean true speed, distinct vehicles).
fn windows(messages: &[SimMessage]) -> BTreeMap<(String, i64), (f64, usize)> {
    let mut acc: BTreeMap<(String, i64), WindowAcc> = BTreeMap::new();
    for m in messages {
        let key = (m.camera_id.clone(), m.ts_ms.div_euclid(5_000));
        let entry = acc.entry(key).or_default();
        m.truths.iter().for_each(|t| entry.add(t));
    }
    acc.into_iter()
        .filter(|(_, w)| w.detections > 0)
        .map(|(k, w)| (k, (w.mean_speed(), w.vehicles.len())))
        .collect()
}

#[test]
fn congestion_episodes_slow_and_fill_every_camera() {
    let messages = run(SimConfig::default(), 10 * MINUTE_MS);
    let windows = windows(&messages);
    for cam in (0..4).map(camera_id) {
        let mine: Vec<_> = windows
            .iter()
            .filter(|((c, _), _)| *c == cam)
            .map(|(_, w)| *w)
            .collect();
        let jammed: Vec<_> = mine.iter().filter(|(speed, _)| *speed < 15.0).collect();
        let free: Vec<_> = mine
            .iter()
            .filter(|(speed, _)| (40.0..=60.0).contains(speed))
            .collect();
        assert!(jammed.len() >= 5, "{cam}: {} jammed windows", jammed.len());
        assert!(free.len() >= 20, "{cam}: {} free windows", free.len());
        let mean_ids =
            |ws: &[&(f64, usize)]| ws.iter().map(|(_, n)| *n as f64).sum::<f64>() / ws.len() as f64;
        assert!(
            mean_ids(&jammed) > 1.5 * mean_ids(&free),
            "{cam}: density does not rise ({} vs {})",
            mean_ids(&jammed),
            mean_ids(&free)
        );
        assert!(
            mine.iter().any(|(speed, _)| *speed < 10.0),
            "{cam} never SEVERE"
        );
    }
}

#[test]
fn class_mix_is_realistic() {
    let messages = run(SimConfig::default(), 10 * MINUTE_MS);
    let mut classes: HashMap<String, String> = HashMap::new();
    for m in &messages {
        let v = json(m);
        classes.insert(
            m.truths[0].vehicle_id.clone(),
            v["class"].as_str().expect("class").to_owned(),
        );
    }
    let cars = classes.values().filter(|c| *c == "car").count();
    let share = cars as f64 / classes.len() as f64;
    assert!((0.6..=0.9).contains(&share), "car share {share}");
    let kinds: HashSet<_> = classes.values().collect();
    assert!(kinds.len() >= 4);
}

#[test]
fn validate_rejects_nonsense() {
    assert!(SimConfig::default().validate().is_ok());
    for bad in [
        SimConfig {
            cameras: 0,
            ..SimConfig::default()
        },
        SimConfig {
            rate: -1.0,
            ..SimConfig::default()
        },
        SimConfig {
            bad_ratio: 1.5,
            ..SimConfig::default()
        },
        SimConfig {
            fps: 0.0,
            ..SimConfig::default()
        },
    ] {
        assert!(bad.validate().is_err());
    }
}

#[test]
fn jsonl_has_one_payload_per_line() {
    let config = SimConfig {
        bad_ratio: 0.2,
        ..SimConfig::default()
    };
    let mut buf = Vec::new();
    let summary = jsonl::generate_into(config.clone(), START_MS, 1_234, &mut buf).expect("write");
    assert_eq!(summary.messages, 1_234);
    let lines: Vec<&[u8]> = buf.split(|b| *b == b'\n').collect();
    // Trailing newline leaves one empty slice at the end.
    assert_eq!(lines.len(), 1_235);
    assert!(lines[1_234].is_empty());
    let again = run(config, 10 * MINUTE_MS);
    for (line, m) in lines[..1_234].iter().zip(&again) {
        assert_eq!(*line, m.payload.as_slice());
    }

    let idle = SimConfig {
        rate: 0.0,
        ..SimConfig::default()
    };
    let mut sink = Vec::new();
    let summary = jsonl::generate_into(idle, START_MS, 10, &mut sink).expect("write");
    assert_eq!(summary.messages, 0);
}

/// The pipeline's default congestion model: 0.6 x speed term (1 - avg / 50
/// km/h) + 0.4 x density term (distinct vehicles / (lanes x 8)); HIGH from
/// 0.55, SEVERE from 0.75. Mirrored here because the episodes are tuned
/// against it.
fn default_model_score(vehicles: usize, avg_kmh: f64, lanes: usize) -> f64 {
    let density = (vehicles as f64 / (lanes as f64 * 8.0)).clamp(0.0, 1.0);
    let slowness = (1.0 - avg_kmh / 50.0).clamp(0.0, 1.0);
    0.6 * slowness + 0.4 * density
}

/// Best congestion score per camera over per-lane 5 s windows.
fn best_lane_scores(messages: &[SimMessage]) -> HashMap<String, f64> {
    let mut acc: BTreeMap<(String, String, i64), WindowAcc> = BTreeMap::new();
    for m in messages {
        for t in &m.truths {
            if let Some(lane) = &t.lane_id {
                let key = (m.camera_id.clone(), lane.clone(), m.ts_ms.div_euclid(5_000));
                acc.entry(key).or_default().add(t);
            }
        }
    }
    let mut best: HashMap<String, f64> = HashMap::new();
    for ((cam, _, _), w) in acc {
        let score = default_model_score(w.vehicles.len(), w.mean_speed(), 1);
        let slot = best.entry(cam).or_insert(0.0);
        *slot = slot.max(score);
    }
    best
}

#[test]
fn demo_rates_reach_high_and_faster_ones_severe() {
    // The local demo's settings: every camera goes HIGH within minutes.
    let demo = SimConfig {
        with_lanes: true,
        ..SimConfig::default()
    };
    let best = best_lane_scores(&run(demo, 6 * MINUTE_MS));
    assert_eq!(best.len(), 4);
    for (cam, score) in &best {
        assert!(*score >= 0.55, "{cam} never HIGH: {score}");
    }
    // Enough traffic to fill lanes: SEVERE too.
    let busy = SimConfig {
        with_lanes: true,
        rate: 60.0,
        cameras: 2,
        ..SimConfig::default()
    };
    let best = best_lane_scores(&run(busy, 6 * MINUTE_MS));
    for (cam, score) in &best {
        assert!(*score >= 0.75, "{cam} never SEVERE: {score}");
    }
    // Camera-wide rows without lane ids count as one lane.
    let no_lanes = SimConfig {
        rate: 20.0,
        cameras: 2,
        ..SimConfig::default()
    };
    let severe = windows(&run(no_lanes, 6 * MINUTE_MS))
        .values()
        .filter(|(avg, n)| default_model_score(*n, *avg, 1) >= 0.75)
        .count();
    assert!(severe > 10, "{severe} SEVERE camera windows");
}
