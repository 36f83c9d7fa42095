//! The timely operators end to end, in memory: Kafka-like records go through
//! `build_dataflow` (the pipeline's graph: `decode_detections`, `camera_windows`) and
//! `gather_completed` on 1, 2 and 3 workers, each worker feeding the partitions it would own
//! in the real source.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use operators::alerts::AlertTransition;
use operators::camera::{AlertConfig, CameraState};
use operators::dataflow::{
    build_dataflow, CameraOutput, CameraWindows, CameraWindowsConfig, DataflowConfig,
    DataflowHooks, DecodeDetections, Epoch, GatherCompleted, KafkaRecord, StateNote, StoredEvent,
    Tick,
};
use operators::event::{encode_detection, BBox, DecodeError, Detection, DropReason, VehicleClass};
use operators::metrics::WindowResult;
use operators::settings::SharedSettings;
use operators::speed::SpeedTrackerConfig;
use operators::window::WindowConfig;
use timely::dataflow::InputHandleVec;

/// 2023-11-14T22:13:20Z, a multiple of the window size.
const T0: i64 = 1_700_000_000_000;
const EPOCH_MS: i64 = 1_000;
const CAMERAS: usize = 4;
/// Event time covered by the generated traffic.
const TRAFFIC_MS: i64 = 40_000;
/// Tick-only epochs after the traffic: enough for every camera to idle out.
const TAIL_EPOCHS: usize = 20;

fn config() -> CameraWindowsConfig {
    CameraWindowsConfig {
        window: WindowConfig {
            size_ms: 5_000,
            allowed_lateness_ms: 2_000,
            idle_timeout_ms: 10_000,
        },
        tracker: SpeedTrackerConfig::default(),
        alerts: AlertConfig { clear_after: 2 },
        epoch_ms: EPOCH_MS,
        evict_after_ms: None,
    }
}

/// Where a detection came from: partition, offset, index within the message.
type At = (i32, i64, u32);

/// Events counted per (camera, window start).
type WindowCounts = BTreeMap<(String, i64), u64>;

fn camera_id(camera: usize) -> String {
    format!("cam_{camera:02}")
}

/// What the input holds, epoch by epoch (`epochs[i]` is epoch `first_epoch + i`).
#[derive(Debug, Clone)]
struct Feed {
    first_epoch: Epoch,
    epochs: Vec<Vec<KafkaRecord>>,
}

impl Feed {
    fn last_epoch(&self) -> Epoch {
        self.first_epoch + self.epochs.len() as Epoch - 1
    }

    /// Epochs `first_epoch..=through` and the rest, as two feeds.
    fn split_after(&self, through: Epoch) -> (Feed, Feed) {
        let at = (through + 1 - self.first_epoch) as usize;
        let first = Feed {
            first_epoch: self.first_epoch,
            epochs: self.epochs[..at].to_vec(),
        };
        let second = Feed {
            first_epoch: through + 1,
            epochs: self.epochs[at..].to_vec(),
        };
        (first, second)
    }

    fn without(&self, skip: &BTreeSet<(i32, i64)>) -> Feed {
        Feed {
            first_epoch: self.first_epoch,
            epochs: self
                .epochs
                .iter()
                .map(|batch| {
                    batch
                        .iter()
                        .filter(|r| !skip.contains(&(r.partition, r.offset)))
                        .cloned()
                        .collect()
                })
                .collect(),
        }
    }
}

/// The generated traffic and what the test knows about it.
struct Scenario {
    feed: Feed,
    /// Every valid detection, in arrival order per camera, with where it was sent.
    valid: Vec<(Detection, At)>,
    /// Detections planted after their window closed.
    planted_late: BTreeSet<At>,
    /// Records that are garbage through and through.
    garbage: BTreeSet<(i32, i64)>,
    expected_drops: Vec<(DropReason, i32, i64)>,
}

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }
}

fn detection(camera: usize, ts_ms: i64, frame_id: i64, vehicle: &str, slot: usize) -> Detection {
    let class = ["car", "truck", "bus", "motorcycle"][slot % 4];
    Detection {
        camera_id: camera_id(camera),
        ts_ms,
        frame_id,
        vehicle_id: vehicle.to_owned(),
        class: class.to_owned(),
        kind: VehicleClass::from_label(class),
        confidence: 0.5 + 0.05 * (slot % 9) as f64,
        bbox: BBox {
            x: 10.0 + 40.0 * slot as f64 + 12.5 * (frame_id % 16) as f64,
            y: 100.0 + 3.0 * (frame_id % 16) as f64,
            w: 30.0,
            h: 20.0,
        },
        lane_id: (slot % 7 != 6).then(|| format!("L{}", slot % 2 + 1)),
        speed_kmh: ((frame_id as usize + slot) % 3 == 0).then_some(30.0 + 5.0 * (slot % 4) as f64),
    }
}

fn envelope(detections: &[Detection]) -> Vec<u8> {
    let first = &detections[0];
    let items: Vec<_> = detections
        .iter()
        .map(|d| {
            serde_json::json!({
                "vehicle_id": d.vehicle_id,
                "class": d.class,
                "confidence": d.confidence,
                "bbox": {"x": d.bbox.x, "y": d.bbox.y, "w": d.bbox.w, "h": d.bbox.h},
                "lane_id": d.lane_id,
                "speed_kmh": d.speed_kmh,
            })
        })
        .collect();
    serde_json::json!({
        "camera_id": first.camera_id,
        "timestamp": first.ts_ms,
        "frame_id": first.frame_id,
        "detections": items,
    })
    .to_string()
    .into_bytes()
}

/// Four cameras, 40 s of traffic with arrival jitter well inside the allowed lateness, a jam on
/// camera 0 (opens, updates and resolves an alert), two detections planted after their window
/// closed, frame envelopes, and garbage interleaved with valid records.
fn scenario() -> Scenario {
    let mut rng = Lcg(0x5eed);
    let mut epochs: Vec<Vec<KafkaRecord>> =
        vec![Vec::new(); (TRAFFIC_MS / EPOCH_MS) as usize + TAIL_EPOCHS];
    let mut offsets = [0i64; CAMERAS];
    let mut valid = Vec::new();
    let mut planted_late = BTreeSet::new();
    let mut garbage = BTreeSet::new();
    let mut expected_drops = Vec::new();
    // (camera, nominal time) of the planted late detections and their event time.
    let late_plan = [(1usize, 25_000i64, 12_000i64), (3, 33_000, 22_000)];
    let mut late_done = [false; 2];

    // Arrival order is nominal time; each camera is one partition, so its order is kept.
    let mut frames = Vec::new();
    for camera in 0..CAMERAS {
        let period = 250 + 50 * camera as i64;
        let mut nominal = 0;
        let mut frame = 0i64;
        while nominal < TRAFFIC_MS {
            frames.push((nominal, camera, frame));
            nominal += period;
            frame += 1;
        }
    }
    frames.sort();

    for (nominal, camera, frame) in frames {
        let partition = camera as i32;
        let epoch_slot = (nominal / EPOCH_MS) as usize;
        let mut send = |payload: Vec<u8>, offsets: &mut [i64; CAMERAS]| {
            let offset = offsets[camera];
            offsets[camera] += 1;
            epochs[epoch_slot].push(KafkaRecord {
                partition,
                offset,
                payload,
            });
            offset
        };
        // Jitter of at most 700 ms either way: never late with 2 s of allowed lateness.
        let ts = T0 + nominal + rng.between(-700, 700);
        let jam = camera == 0 && (15_000..30_000).contains(&nominal);
        let dets: Vec<Detection> = if jam {
            (0..20)
                .map(|slot| {
                    let mut d = detection(camera, ts, frame, &format!("jam-{slot}"), slot);
                    d.lane_id = Some("L1".into());
                    d.speed_kmh = Some(4.0);
                    d
                })
                .collect()
        } else {
            (0..1 + (frame % 3) as usize)
                .map(|slot| {
                    let vehicle = format!("c{camera}-v{}", frame / 8 + slot as i64);
                    detection(camera, ts, frame, &vehicle, slot)
                })
                .collect()
        };
        if frame % 4 == 0 {
            let offset = send(envelope(&dets), &mut offsets);
            for (index, d) in dets.into_iter().enumerate() {
                valid.push((d, (partition, offset, index as u32)));
            }
        } else {
            for d in dets {
                let offset = send(encode_detection(&d).into_bytes(), &mut offsets);
                valid.push((d, (partition, offset, 0)));
            }
        }

        for (i, &(late_camera, at, late_ts)) in late_plan.iter().enumerate() {
            if late_camera == camera && nominal >= at && !late_done[i] {
                late_done[i] = true;
                let d = detection(camera, T0 + late_ts, frame, "straggler", 1);
                let offset = send(encode_detection(&d).into_bytes(), &mut offsets);
                planted_late.insert((partition, offset, 0));
                valid.push((d, (partition, offset, 0)));
            }
        }

        // Garbage on every camera now and then.
        if frame % 25 == 7 {
            let kind = (frame / 25) % 4;
            let (payload, reason) = match kind {
                0 => (b"{\"camera_id\": \"cam_00\", ".to_vec(), DropReason::MalformedJson),
                1 => (vec![0xff, 0xfe, 0x7b], DropReason::MalformedJson),
                2 => (
                    format!(
                        r#"{{"timestamp":{ts},"frame_id":{frame},"vehicle_id":"x","class":"car","confidence":0.5,"bbox":[1,2,3,4]}}"#
                    )
                    .into_bytes(),
                    DropReason::MissingField,
                ),
                _ => {
                    let mut d = detection(camera, ts, frame, "ghost", 0);
                    d.confidence = 1.5;
                    (encode_detection(&d).into_bytes(), DropReason::InvalidValue)
                }
            };
            let offset = send(payload, &mut offsets);
            garbage.insert((partition, offset));
            expected_drops.push((reason, partition, offset));
        }
        // Once per camera: an envelope with one bad detection among good ones.
        if frame == 40 {
            let good = detection(camera, ts, frame, "sibling", 0);
            let mut bad = detection(camera, ts, frame, "broken", 1);
            bad.speed_kmh = Some(999.0);
            let offset = send(envelope(&[good.clone(), bad]), &mut offsets);
            valid.push((good, (partition, offset, 0)));
            expected_drops.push((DropReason::InvalidValue, partition, offset));
        }
    }
    assert!(
        late_done.iter().all(|done| *done),
        "late plan was carried out"
    );
    expected_drops.sort();
    Scenario {
        feed: Feed {
            first_epoch: 1,
            epochs,
        },
        valid,
        planted_late,
        garbage,
        expected_drops,
    }
}

/// Everything one run produced, normalised so runs can be compared.
#[derive(Debug, Default)]
struct Collected {
    windows: Vec<WindowResult>,
    events: Vec<StoredEvent>,
    alerts: Vec<AlertTransition>,
    /// In delivery order (epoch order), so the last one per camera is its newest state.
    checkpoints: Vec<(String, String)>,
    late: Vec<At>,
    drops: Vec<(DropReason, i32, i64)>,
}

impl Collected {
    /// The rows a sink would store are those of `other`: windows, raw events, alerts and late
    /// events (checkpoints and drops may differ between the runs compared).
    fn assert_same_rows(&self, other: &Collected) {
        assert_eq!(self.windows, other.windows);
        assert_eq!(self.events, other.events);
        assert_eq!(self.alerts, other.alerts);
        assert_eq!(self.late, other.late);
    }

    fn normalise(&mut self) {
        self.windows.sort_by(|a, b| {
            (&a.camera_id, a.window_start_ms, &a.lane_id).cmp(&(
                &b.camera_id,
                b.window_start_ms,
                &b.lane_id,
            ))
        });
        self.events.sort_by_key(|e| {
            (
                e.located.partition,
                e.located.offset,
                e.located.index,
                e.late,
            )
        });
        self.alerts.sort_by(|a, b| {
            let (a, b) = (a.record(), b.record());
            (&a.camera_id, a.updated_window_end_ms).cmp(&(&b.camera_id, b.updated_window_end_ms))
        });
        self.late.sort();
        self.drops.sort();
    }

    fn camera_rows(&self) -> impl Iterator<Item = &WindowResult> {
        self.windows.iter().filter(|w| w.lane_id.is_none())
    }

    /// The newest saved state of each camera.
    fn last_states(&self) -> HashMap<String, CameraState> {
        let mut states = HashMap::new();
        for (camera, state) in &self.checkpoints {
            let state = CameraState::from_checkpoint(state).expect("checkpoint restores");
            assert_eq!(&state.camera_id, camera);
            states.insert(camera.clone(), state);
        }
        states
    }
}

struct Run {
    workers: usize,
    config: CameraWindowsConfig,
    restored: HashMap<String, CameraState>,
}

impl Run {
    fn on(workers: usize) -> Self {
        Run {
            workers,
            config: config(),
            restored: HashMap::new(),
        }
    }

    fn restored(mut self, restored: HashMap<String, CameraState>) -> Self {
        self.restored = restored;
        self
    }

    /// Worker `w` feeds the partitions `p` with `p % workers == w`, like the Kafka source; only
    /// worker 0 sends ticks, which `camera_windows` must broadcast itself.
    fn feed(&self, feed: &Feed) -> Collected {
        let collected = Arc::new(Mutex::new(Collected::default()));
        let shared = Arc::clone(&collected);
        let feed = Arc::new(feed.clone());
        let config = self.config.clone();
        let restored = Arc::new(self.restored.clone());
        let guards = timely::execute(timely::Config::process(self.workers), move |worker| {
            let (index, peers) = (worker.index(), worker.peers());
            let mut records = InputHandleVec::<Epoch, KafkaRecord>::new();
            let mut ticks = InputHandleVec::<Epoch, ()>::new();
            let (drops, late, outputs) = (shared.clone(), shared.clone(), shared.clone());
            let (config, restored) = (config.clone(), restored.clone());
            worker.dataflow::<Epoch, _, _>(|scope| {
                let config = DataflowConfig {
                    time_bounds: operators::event_time::TimeBounds::OFF,
                    windows: config,
                    settings: SharedSettings::default(),
                    restored,
                };
                let hooks = DataflowHooks {
                    on_drop: move |error: &DecodeError, record: &KafkaRecord| {
                        drops.lock().expect("collector lock").drops.push((
                            error.reason,
                            record.partition,
                            record.offset,
                        ));
                    },
                    on_decoded: |_| {},
                    on_note: move |note: StateNote<'_>| {
                        let StateNote::Late(event) = note else {
                            return;
                        };
                        let l = &event.located;
                        late.lock().expect("collector lock").late.push((
                            l.partition,
                            l.offset,
                            l.index,
                        ));
                    },
                };
                build_dataflow(
                    records.to_stream(scope),
                    ticks.to_stream(scope),
                    config,
                    hooks,
                )
                .gather_completed("Collect", move |_epoch, items| {
                    let mut out = outputs.lock().expect("collector lock");
                    for item in items {
                        match item {
                            CameraOutput::Event(event) => out.events.push(event),
                            CameraOutput::Window { result, .. } => out.windows.push(result),
                            CameraOutput::Alert(alert) => out.alerts.push(alert),
                            CameraOutput::Checkpoint { camera_id, state } => {
                                out.checkpoints.push((camera_id, state))
                            }
                            CameraOutput::Evicted { camera_id } => {
                                panic!("{camera_id} evicted with eviction off")
                            }
                        }
                    }
                });
            });
            for (i, batch) in feed.epochs.iter().enumerate() {
                let epoch = feed.first_epoch + i as Epoch;
                records.advance_to(epoch);
                ticks.advance_to(epoch);
                for record in batch {
                    if record.partition as usize % peers == index {
                        records.send(record.clone());
                    }
                }
                if index == 0 {
                    ticks.send(());
                }
                worker.step();
            }
        })
        .expect("timely starts");
        for result in guards.join() {
            result.expect("worker finished");
        }
        let mut out = std::mem::take(&mut *collected.lock().expect("collector lock"));
        out.normalise();
        out
    }
}

/// Independent model of the lateness rule: per camera, in arrival order, an event is late when
/// its window ended at or before `max event time seen - allowed lateness` (no camera idles
/// while the traffic runs).
fn model_counts(valid: &[(Detection, At)], cfg: &WindowConfig) -> (WindowCounts, BTreeSet<At>) {
    let mut max: HashMap<&str, i64> = HashMap::new();
    let mut counts = BTreeMap::new();
    let mut late = BTreeSet::new();
    for (d, at) in valid {
        let start = d.ts_ms - d.ts_ms.rem_euclid(cfg.size_ms);
        let closed_before = max
            .get(d.camera_id.as_str())
            .map_or(i64::MIN, |m| m - cfg.allowed_lateness_ms);
        if start + cfg.size_ms <= closed_before {
            late.insert(*at);
        } else {
            *counts.entry((d.camera_id.clone(), start)).or_insert(0) += 1;
        }
        let m = max.entry(d.camera_id.as_str()).or_insert(d.ts_ms);
        *m = (*m).max(d.ts_ms);
    }
    (counts, late)
}

#[test]
fn one_two_and_three_workers_agree() {
    let s = scenario();
    let one = Run::on(1).feed(&s.feed);
    assert!(one.windows.len() > 30, "windows: {}", one.windows.len());
    let kinds: BTreeSet<&str> = one
        .alerts
        .iter()
        .map(|a| match a {
            AlertTransition::Opened(_) => "opened",
            AlertTransition::Updated(_) => "updated",
            AlertTransition::Resolved(_) => "resolved",
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["opened", "updated", "resolved"]),
        "the jam opens, updates and resolves an alert"
    );
    assert!(
        one.events
            .iter()
            .any(|e| e.located.detection.speed_kmh.is_none() && e.estimated_speed_kmh.is_some()),
        "some speeds are estimated"
    );
    for workers in [2, 3] {
        let many = Run::on(workers).feed(&s.feed);
        assert_eq!(many.windows, one.windows, "windows with {workers} workers");
        assert_eq!(many.events, one.events, "events with {workers} workers");
        assert_eq!(many.alerts, one.alerts, "alerts with {workers} workers");
        assert_eq!(many.late, one.late, "late with {workers} workers");
        assert_eq!(many.drops, one.drops, "drops with {workers} workers");
    }
}

#[test]
fn every_on_time_event_lands_in_exactly_one_camera_window() {
    let s = scenario();
    let cfg = config().window;
    let (expected, model_late) = model_counts(&s.valid, &cfg);
    assert_eq!(
        model_late, s.planted_late,
        "only the planted events are late"
    );
    let out = Run::on(2).feed(&s.feed);

    // Every valid detection is stored exactly once.
    let stored: Vec<_> = out
        .events
        .iter()
        .map(|e| (e.located.partition, e.located.offset, e.located.index))
        .collect();
    let mut sent: Vec<_> = s.valid.iter().map(|(_, at)| *at).collect();
    sent.sort();
    assert_eq!(stored, sent);

    let on_time = out.events.iter().filter(|e| !e.late).count() as u64;
    let counted: u64 = out.camera_rows().map(|w| w.event_count).sum();
    assert_eq!(counted, on_time);
    assert_eq!(on_time, (s.valid.len() - s.planted_late.len()) as u64);

    let actual: WindowCounts = out
        .camera_rows()
        .map(|w| ((w.camera_id.clone(), w.window_start_ms), w.event_count))
        .collect();
    assert_eq!(
        actual.len(),
        out.camera_rows().count(),
        "one camera row per window"
    );
    assert_eq!(actual, expected);
    for w in &out.windows {
        assert_eq!(w.window_end_ms - w.window_start_ms, cfg.size_ms);
        assert_eq!(w.window_start_ms.rem_euclid(cfg.size_ms), 0);
    }
}

#[test]
fn late_events_are_reported_and_stored_but_not_counted() {
    let s = scenario();
    let out = Run::on(3).feed(&s.feed);
    let reported: BTreeSet<_> = out.late.iter().copied().collect();
    assert_eq!(reported, s.planted_late);
    assert_eq!(out.late.len(), s.planted_late.len(), "reported once each");
    let stored_late: BTreeSet<_> = out
        .events
        .iter()
        .filter(|e| e.late)
        .map(|e| (e.located.partition, e.located.offset, e.located.index))
        .collect();
    assert_eq!(stored_late, s.planted_late);

    // Their windows hold only the camera's own traffic of that time.
    let cfg = config().window;
    let (expected, _) = model_counts(&s.valid, &cfg);
    for (d, at) in &s.valid {
        if !s.planted_late.contains(at) {
            continue;
        }
        let start = cfg.window_start(d.ts_ms);
        let row = out
            .camera_rows()
            .find(|w| w.camera_id == d.camera_id && w.window_start_ms == start)
            .expect("the late event's window was closed earlier");
        assert_eq!(
            Some(&row.event_count),
            expected.get(&(d.camera_id.clone(), start))
        );
    }
}

#[test]
fn malformed_payloads_are_dropped_with_their_reason_and_disturb_nothing() {
    let s = scenario();
    let dirty = Run::on(2).feed(&s.feed);
    assert_eq!(dirty.drops, s.expected_drops);
    for reason in [
        DropReason::MalformedJson,
        DropReason::MissingField,
        DropReason::InvalidValue,
    ] {
        assert!(
            s.expected_drops.iter().any(|(r, _, _)| *r == reason),
            "scenario covers {reason}"
        );
    }

    let clean = Run::on(2).feed(&s.feed.without(&s.garbage));
    assert_eq!(clean.drops.len(), s.expected_drops.len() - s.garbage.len());
    dirty.assert_same_rows(&clean);
}

#[test]
fn quiet_camera_closes_its_windows_once_idle_by_processing_time() {
    // Six detections at epochs 1..=3, all in the window [T0, T0 + 5 s), which event time alone
    // never closes. Last activity is epoch 3 (3 s of processing time), so the 10 s idle timeout
    // expires at epoch 13.
    let cfg = config();
    let feed_through = |last_epoch: Epoch| {
        let mut epochs = vec![Vec::new(); last_epoch as usize];
        for (offset, nominal) in (0..3_000).step_by(500).enumerate() {
            let d = detection(2, T0 + nominal, offset as i64, "solo", 0);
            epochs[(nominal / EPOCH_MS) as usize].push(KafkaRecord {
                partition: 2,
                offset: offset as i64,
                payload: encode_detection(&d).into_bytes(),
            });
        }
        Feed {
            first_epoch: 1,
            epochs,
        }
    };
    let idle_epoch = (3 * EPOCH_MS + cfg.window.idle_timeout_ms) / EPOCH_MS;
    for workers in [1, 2] {
        let before = Run::on(workers).feed(&feed_through(idle_epoch as Epoch - 1));
        assert_eq!(before.events.len(), 6);
        assert!(
            before.windows.is_empty(),
            "closed before the idle timeout: {:?}",
            before.windows
        );
        let states = before.last_states();
        assert_eq!(states[&camera_id(2)].open_windows(), 1);

        let after = Run::on(workers).feed(&feed_through(idle_epoch as Epoch));
        let rows: Vec<_> = after.camera_rows().collect();
        assert_eq!(rows.len(), 1, "{:?}", after.windows);
        assert_eq!(
            (
                rows[0].window_start_ms,
                rows[0].event_count,
                rows[0].vehicle_count
            ),
            (T0, 6, 1)
        );
        let states = after.last_states();
        assert_eq!(states[&camera_id(2)].open_windows(), 0);
    }
}

#[test]
fn restored_checkpoints_continue_like_an_uninterrupted_run() {
    let s = scenario();
    let whole = Run::on(1).feed(&s.feed);

    // Stop in the middle of the jam: open windows, speed tracks and an open alert are in flight.
    let split = 25;
    let (first, second) = s.feed.split_after(split);
    assert_eq!(second.last_epoch(), s.feed.last_epoch());
    let before = Run::on(2).feed(&first);
    let states = before.last_states();
    assert_eq!(states.len(), CAMERAS);
    assert!(states.values().any(|state| state.open_windows() > 0));
    assert!(
        before
            .alerts
            .iter()
            .any(|a| matches!(a, AlertTransition::Opened(_))),
        "the alert opened before the stop"
    );
    assert!(
        !before
            .alerts
            .iter()
            .any(|a| matches!(a, AlertTransition::Resolved(_))),
        "and is still open"
    );

    // Resume on a different number of workers: cameras move to other owners.
    let after = Run::on(3).restored(states).feed(&second);

    let mut resumed = Collected {
        windows: [before.windows, after.windows].concat(),
        events: [before.events, after.events].concat(),
        alerts: [before.alerts, after.alerts].concat(),
        checkpoints: Vec::new(),
        late: [before.late, after.late].concat(),
        drops: [before.drops, after.drops].concat(),
    };
    resumed.normalise();
    resumed.assert_same_rows(&whole);
    assert_eq!(resumed.drops, whole.drops);
}

#[test]
fn idle_close_is_checkpointed_and_happens_once() {
    let cfg = config();
    let feed_through = |last_epoch: Epoch| {
        let mut epochs = vec![Vec::new(); last_epoch as usize];
        let d = detection(1, T0 + 1_000, 0, "lonely", 0);
        epochs[0].push(KafkaRecord {
            partition: 1,
            offset: 0,
            payload: encode_detection(&d).into_bytes(),
        });
        Feed {
            first_epoch: 1,
            epochs,
        }
    };
    let idle_epoch = (EPOCH_MS + cfg.window.idle_timeout_ms) / EPOCH_MS;
    let at_close = Run::on(1).feed(&feed_through(idle_epoch as Epoch));
    assert_eq!(at_close.camera_rows().count(), 1);
    let saved = at_close.last_states()[&camera_id(1)].watermark().clone();
    assert_eq!(saved.closed_before_ms(), T0 + cfg.window.size_ms);

    // Many more quiet epochs: nothing moves, so nothing more is checkpointed.
    let later = Run::on(1).feed(&feed_through(idle_epoch as Epoch + 20));
    let checkpoints = later
        .checkpoints
        .iter()
        .filter(|(c, _)| *c == camera_id(1))
        .count();
    assert_eq!(checkpoints, at_close.checkpoints.len());
    assert_eq!(&saved, later.last_states()[&camera_id(1)].watermark());
}

/// A tick that says whether its source still had data waiting.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Behind(bool);

impl Tick for Behind {
    fn source_behind(&self) -> bool {
        self.0
    }
}

/// One detection at epoch 1, then ticks; `behind(epoch)` says which ticks report a backlog.
fn idle_windows_with(ticks_through: Epoch, behind: fn(Epoch) -> bool) -> usize {
    let windows = Arc::new(Mutex::new(0usize));
    let shared = windows.clone();
    let guards = timely::execute(timely::Config::thread(), move |worker| {
        let mut records = InputHandleVec::<Epoch, KafkaRecord>::new();
        let mut ticks = InputHandleVec::<Epoch, Behind>::new();
        let count = shared.clone();
        worker.dataflow::<Epoch, _, _>(|scope| {
            let ticks = ticks.to_stream(scope);
            records
                .to_stream(scope)
                .decode_detections(operators::event_time::TimeBounds::OFF, |_, _| {})
                .camera_windows(ticks, config(), SharedSettings::default(), Arc::new(HashMap::new()), |_| {})
                .gather_completed("Count", move |_, items| {
                    let closed = items
                        .iter()
                        .filter(|i| matches!(i, CameraOutput::Window { result, .. } if result.lane_id.is_none()))
                        .count();
                    *count.lock().expect("lock") += closed;
                });
        });
        for epoch in 1..=ticks_through {
            records.advance_to(epoch);
            ticks.advance_to(epoch);
            if epoch == 1 {
                let d = detection(0, T0 + 1_000, 0, "solo", 0);
                records.send(KafkaRecord {
                    partition: 0,
                    offset: 0,
                    payload: encode_detection(&d).into_bytes(),
                });
            }
            ticks.send(Behind(behind(epoch)));
            worker.step();
        }
    })
    .expect("timely starts");
    for result in guards.join() {
        result.expect("worker finished");
    }
    let closed = *windows.lock().expect("lock");
    closed
}

#[test]
fn time_spent_catching_up_is_not_idleness() {
    let idle_epoch = (EPOCH_MS + config().window.idle_timeout_ms) / EPOCH_MS;
    assert_eq!(
        idle_windows_with(idle_epoch as Epoch, |_| false),
        1,
        "idles out when caught up"
    );
    // The source reports a backlog for a while: the idle clock restarts when it catches up.
    assert_eq!(idle_windows_with(idle_epoch as Epoch, |e| e <= 5), 0);
    assert_eq!(idle_windows_with(idle_epoch as Epoch + 5, |e| e <= 5), 1);
}
