//! Properties of the per-camera window logic, checked on random event streams without timely.

use std::collections::BTreeMap;

use operators::alerts::AlertTransition;
use operators::camera::{AlertConfig, CameraState, EventOutcome};
use operators::congestion::Thresholds;
use operators::event::{BBox, Detection, VehicleClass};
use operators::metrics::{CameraProfile, WindowResult};
use operators::speed::SpeedTrackerConfig;
use operators::window::WindowConfig;
use proptest::prelude::*;

const CLASSES: [&str; 6] = ["car", "truck", "bus", "motorcycle", "bicycle", "other"];
const IDLE_TIMEOUT_MS: i64 = 10_000;
/// Processing time between two arrivals: a whole stream stays well inside the idle timeout, so
/// only event time closes windows until the final flush.
const ARRIVAL_MS: i64 = 10;

/// One generated arrival.
#[derive(Debug, Clone)]
struct Ev {
    camera: u8,
    ts_ms: i64,
    vehicle: u8,
    /// Each vehicle keeps its lane for the whole stream.
    lane: Option<u8>,
    speed_kmh: Option<u16>,
    confidence_milli: u16,
    x: u16,
}

impl Ev {
    fn detection(&self) -> Detection {
        // A vehicle keeps one class, so lane class counts add up to the camera's.
        let class = CLASSES[usize::from(self.vehicle) % CLASSES.len()];
        Detection {
            camera_id: camera_id(self.camera),
            ts_ms: self.ts_ms,
            frame_id: self.ts_ms.max(0) / 40,
            vehicle_id: format!("v{}", self.vehicle),
            class: class.to_owned(),
            kind: VehicleClass::from_label(class),
            confidence: f64::from(self.confidence_milli) / 1_000.0,
            bbox: BBox {
                x: f64::from(self.x),
                y: 200.0,
                w: 40.0,
                h: 30.0,
            },
            lane_id: self.lane.map(|lane| format!("L{lane}")),
            speed_kmh: self.speed_kmh.map(f64::from),
        }
    }
}

fn camera_id(camera: u8) -> String {
    format!("cam_{camera}")
}

fn profile() -> CameraProfile {
    CameraProfile {
        metres_per_pixel: 0.05,
        free_flow_kmh: 50.0,
        lanes: None,
    }
}

/// The window start written out as the spec says it: floor(ts / size) * size.
fn floor_start(ts_ms: i64, size_ms: i64) -> i64 {
    let q = ts_ms / size_ms;
    let q = if ts_ms % size_ms < 0 { q - 1 } else { q };
    q * size_ms
}

/// Every camera's state, fed one arrival at a time as the operator would, closing after each.
struct Cameras {
    cfg: WindowConfig,
    states: BTreeMap<u8, CameraState>,
    /// Closed rows and alert transitions per camera, in the order they closed.
    windows: BTreeMap<u8, Vec<WindowResult>>,
    alerts: BTreeMap<u8, Vec<AlertTransition>>,
    clock_ms: i64,
}

impl Cameras {
    fn new(cfg: WindowConfig) -> Self {
        Cameras {
            cfg,
            states: BTreeMap::new(),
            windows: BTreeMap::new(),
            alerts: BTreeMap::new(),
            clock_ms: 1_000_000,
        }
    }

    /// Returns the outcome and the camera's closing bound just before the event arrived.
    fn push(&mut self, ev: &Ev) -> (EventOutcome, i64) {
        self.clock_ms += ARRIVAL_MS;
        let state = self.states.entry(ev.camera).or_insert_with(|| {
            CameraState::new(&camera_id(ev.camera), SpeedTrackerConfig::default())
        });
        let bound = state.watermark().closed_before_ms();
        let outcome = state.on_event(&ev.detection(), self.clock_ms, &profile(), &self.cfg);
        self.close(ev.camera);
        (outcome, bound)
    }

    fn close(&mut self, camera: u8) {
        let Some(state) = self.states.get_mut(&camera) else {
            return;
        };
        let closed = state.close_ready(
            self.clock_ms,
            &profile(),
            &Thresholds::default(),
            &self.cfg,
            &AlertConfig::default(),
        );
        for w in &closed.windows {
            assert!(
                state.watermark().is_closed(w.window_end_ms),
                "closed a window the watermark has not passed"
            );
        }
        self.windows
            .entry(camera)
            .or_default()
            .extend(closed.windows);
        self.alerts.entry(camera).or_default().extend(closed.alerts);
    }

    /// Lets every camera idle long enough for its last window to close.
    fn flush(&mut self) {
        self.clock_ms += IDLE_TIMEOUT_MS + self.cfg.size_ms + self.cfg.allowed_lateness_ms + 1;
        let cameras: Vec<u8> = self.states.keys().copied().collect();
        for camera in cameras {
            self.close(camera);
            assert_eq!(self.states[&camera].open_windows(), 0, "flush closes all");
        }
    }

    fn camera_rows(&self) -> impl Iterator<Item = &WindowResult> {
        self.windows
            .values()
            .flatten()
            .filter(|w| w.lane_id.is_none())
    }
}

fn arb_config(lateness: Vec<i64>) -> impl Strategy<Value = WindowConfig> {
    (
        prop::sample::select(vec![1_000i64, 2_000, 5_000]),
        prop::sample::select(lateness),
    )
        .prop_map(|(size_ms, allowed_lateness_ms)| WindowConfig {
            size_ms,
            allowed_lateness_ms,
            idle_timeout_ms: IDLE_TIMEOUT_MS,
        })
}

/// Raw material of one arrival; `back_ms` pulls its time behind the camera's clock.
type Step = (u8, i64, i64, u8, Option<u16>, u16, u16);

fn arb_steps(max_back_ms: i64, max_len: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0u8..3,
            0i64..800,
            0i64..=max_back_ms,
            0u8..16,
            prop::option::of(0u16..=120),
            300u16..=1_000,
            0u16..640,
        ),
        1..max_len,
    )
}

/// Arrivals in order: each camera's clock runs forward by `gap`, and an event's time is that
/// clock minus `back`, so arrivals are ordered only roughly.
fn arrivals(base_ms: i64, steps: &[Step], lanes: u8) -> Vec<Ev> {
    let mut clocks = [0i64; 3];
    steps
        .iter()
        .map(
            |&(camera, gap, back, vehicle, speed_kmh, confidence_milli, x)| {
                let clock = &mut clocks[usize::from(camera)];
                *clock += gap;
                Ev {
                    camera,
                    ts_ms: base_ms + *clock - back,
                    vehicle,
                    lane: (lanes > 0).then(|| vehicle % lanes),
                    speed_kmh,
                    confidence_milli,
                    x,
                }
            },
        )
        .collect()
}

/// Some events may be late (pulled back by up to lateness + a window + 1 s).
fn arb_stream() -> impl Strategy<Value = (WindowConfig, Vec<Ev>)> {
    arb_config(vec![0, 700, 2_000]).prop_flat_map(|cfg| {
        let max_back = cfg.allowed_lateness_ms + cfg.size_ms + 1_000;
        (
            Just(cfg),
            -20_000i64..20_000,
            arb_steps(max_back, 200),
            0u8..4,
        )
            .prop_map(|(cfg, base, steps, lanes)| (cfg, arrivals(base, &steps, lanes)))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every on-time event is counted in exactly one camera window, the one holding its time;
    /// late events (window already closed when they arrived) are counted nowhere.
    #[test]
    fn on_time_events_are_counted_once_in_their_window((cfg, events) in arb_stream()) {
        let mut cams = Cameras::new(cfg);
        let mut expected: BTreeMap<(String, i64), u64> = BTreeMap::new();
        let mut model_bound: BTreeMap<u8, i64> = BTreeMap::new();
        let mut model_max: BTreeMap<u8, i64> = BTreeMap::new();
        let mut on_time = 0u64;
        for ev in &events {
            let (outcome, bound) = cams.push(ev);
            // The closing bound follows max event time minus the allowed lateness, never back.
            let model = model_bound.get(&ev.camera).copied().unwrap_or(i64::MIN);
            prop_assert_eq!(bound, model);
            let start = floor_start(ev.ts_ms, cfg.size_ms);
            prop_assert_eq!(cfg.window_start(ev.ts_ms), start);
            let late = start + cfg.size_ms <= bound;
            prop_assert_eq!(outcome.late, late, "late iff its window ended at or before the bound");
            if !late {
                on_time += 1;
                *expected.entry((camera_id(ev.camera), start)).or_default() += 1;
            }
            let max = model_max.entry(ev.camera).or_insert(ev.ts_ms);
            *max = (*max).max(ev.ts_ms);
            let next = *max - cfg.allowed_lateness_ms;
            model_bound.insert(ev.camera, model.max(next));
        }
        cams.flush();

        let counted: u64 = cams.camera_rows().map(|w| w.event_count).sum();
        prop_assert_eq!(counted, on_time);
        let mut actual = BTreeMap::new();
        for w in cams.camera_rows() {
            prop_assert_eq!(w.window_end_ms - w.window_start_ms, cfg.size_ms);
            let previous = actual.insert((w.camera_id.clone(), w.window_start_ms), w.event_count);
            prop_assert!(previous.is_none(), "window closed twice: {:?}", w);
        }
        prop_assert_eq!(actual, expected);
    }

    /// No event is ever counted in a window whose end was at or before its camera's closing
    /// bound when the event arrived: such a window has already been emitted, and emitted windows
    /// never change.
    #[test]
    fn no_event_joins_a_window_the_watermark_passed((cfg, events) in arb_stream()) {
        let mut cams = Cameras::new(cfg);
        let mut late = Vec::with_capacity(events.len());
        for ev in &events {
            let emitted_before = cams.windows.get(&ev.camera).cloned().unwrap_or_default();
            let (outcome, bound) = cams.push(ev);
            late.push(outcome.late);
            let end = cfg.window_start(ev.ts_ms) + cfg.size_ms;
            if end <= bound {
                prop_assert!(outcome.late);
                // Whatever closed before this arrival is untouched, and nothing it could join
                // is open any more.
                let emitted_after = &cams.windows[&ev.camera];
                prop_assert_eq!(&emitted_after[..emitted_before.len()], &emitted_before[..]);
                let state = &cams.states[&ev.camera];
                prop_assert!(state.watermark().is_closed(end));
            } else {
                prop_assert!(!outcome.late);
            }
        }
        cams.flush();
        // Replaying only the on-time events gives the same windows: late ones added nothing.
        let mut replay = Cameras::new(cfg);
        for (ev, _) in events.iter().zip(&late).filter(|(_, late)| !**late) {
            let (outcome, _) = replay.push(ev);
            prop_assert!(!outcome.late);
        }
        replay.flush();
        let counts = |c: &Cameras| -> BTreeMap<(String, Option<String>, i64), (u64, u64)> {
            c.windows
                .values()
                .flatten()
                .map(|w| {
                    (
                        (w.camera_id.clone(), w.lane_id.clone(), w.window_start_ms),
                        (w.event_count, w.vehicle_count),
                    )
                })
                .collect()
        };
        prop_assert_eq!(counts(&cams), counts(&replay));
    }

    /// With every event in a lane and every vehicle staying in its lane, lane rows add up to the
    /// camera row: events, distinct vehicles and vehicles per class.
    #[test]
    fn lane_rows_add_up_to_the_camera_row(
        (cfg, base, steps, lanes) in arb_config(vec![0, 700, 2_000]).prop_flat_map(|cfg| {
            let max_back = cfg.allowed_lateness_ms + cfg.size_ms;
            (Just(cfg), -20_000i64..20_000, arb_steps(max_back, 200), 1u8..4)
        })
    ) {
        let events = arrivals(base, &steps, lanes);
        let mut cams = Cameras::new(cfg);
        for ev in &events {
            cams.push(ev);
        }
        cams.flush();
        let mut windows: BTreeMap<(String, i64), (Option<WindowResult>, Vec<WindowResult>)> =
            BTreeMap::new();
        for w in cams.windows.values().flatten() {
            let entry = windows
                .entry((w.camera_id.clone(), w.window_start_ms))
                .or_default();
            match w.lane_id {
                None => {
                    prop_assert!(entry.0.is_none(), "one camera row per window");
                    entry.0 = Some(w.clone());
                }
                Some(_) => entry.1.push(w.clone()),
            }
        }
        for ((camera, start), (camera_row, lane_rows)) in windows {
            let camera_row = camera_row.ok_or_else(|| {
                TestCaseError::fail(format!("lane rows without a camera row: {camera} {start}"))
            })?;
            prop_assert!(!lane_rows.is_empty());
            let events: u64 = lane_rows.iter().map(|w| w.event_count).sum();
            let vehicles: u64 = lane_rows.iter().map(|w| w.vehicle_count).sum();
            let mut classes = [0u64; 6];
            for w in &lane_rows {
                for (sum, n) in classes.iter_mut().zip(w.class_counts) {
                    *sum += n;
                }
            }
            prop_assert_eq!(events, camera_row.event_count);
            prop_assert_eq!(vehicles, camera_row.vehicle_count);
            prop_assert_eq!(classes, camera_row.class_counts);
        }
    }

    /// Arrival order within the allowed lateness does not change any window or alert.
    ///
    /// Speeds are all reported here: estimated speeds come from the tracker, which measures the
    /// displacement between consecutive sightings and so legitimately depends on frame order.
    #[test]
    fn results_do_not_depend_on_arrival_order_within_lateness(
        (cfg, base, steps, jitter) in arb_config(vec![500, 2_000]).prop_flat_map(|cfg| {
            (
                Just(cfg),
                -20_000i64..20_000,
                arb_steps(0, 200),
                prop::collection::vec(0i64..cfg.allowed_lateness_ms, 200),
            )
        })
    ) {
        let mut events = arrivals(base, &steps, 2);
        for ev in &mut events {
            ev.speed_kmh = Some(ev.speed_kmh.unwrap_or(35));
        }
        // In event-time order, and in the order of `ts + jitter` with jitter < lateness: an
        // event then arrives after events at most `lateness` ahead of it, so it is never late.
        let mut in_order: Vec<(i64, usize)> =
            events.iter().enumerate().map(|(i, ev)| (ev.ts_ms, i)).collect();
        in_order.sort();
        let mut shuffled: Vec<(i64, usize)> = events
            .iter()
            .enumerate()
            .map(|(i, ev)| (ev.ts_ms + jitter[i % jitter.len()], i))
            .collect();
        shuffled.sort();

        let run = |order: &[(i64, usize)]| -> Result<Cameras, TestCaseError> {
            let mut cams = Cameras::new(cfg);
            for &(_, i) in order {
                let (outcome, _) = cams.push(&events[i]);
                prop_assert!(!outcome.late, "no event is late within the lateness");
            }
            cams.flush();
            Ok(cams)
        };
        let a = run(&in_order)?;
        let b = run(&shuffled)?;
        prop_assert!(a.camera_rows().count() > 0);
        prop_assert_eq!(&a.windows, &b.windows);
        prop_assert_eq!(&a.alerts, &b.alerts);
    }
}
