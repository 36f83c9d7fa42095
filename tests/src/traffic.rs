//! Simulated B1 traffic for a test: produced to its own topic, with what it must yield.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bench::sim::{SimConfig, SimMessage, Simulator};
use operators::event::{decode_message, Detection};

pub fn sim_config(cameras: usize, rate: f64, seed: u64) -> SimConfig {
    SimConfig {
        cameras,
        rate,
        with_lanes: true,
        lanes_per_camera: 3,
        no_speed: false,
        frames: false,
        bad_ratio: 0.0,
        seed,
        fps: 10.0,
        metres_per_pixel: 0.05,
        congestion: true,
    }
}

/// `duration_ms` of simulated traffic starting at `start_ms`.
pub fn simulate(config: SimConfig, start_ms: i64, duration_ms: i64) -> Vec<SimMessage> {
    let mut sim = Simulator::new(config, start_ms);
    let mut out = Vec::new();
    let step = 1_000;
    let mut done = 0;
    while done < duration_ms {
        out.extend(sim.advance(step.min(duration_ms - done)));
        done += step;
    }
    out
}

/// A start time a few minutes ago, aligned to a window, so retention never touches test data.
pub fn recent_start_ms(minutes_ago: i64) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    (now - minutes_ago * 60_000).div_euclid(5_000) * 5_000
}

pub fn produce(brokers: &str, topic: &str, partitions: i32, messages: &[SimMessage]) {
    bench::kafka::ensure_topic(brokers, topic, partitions).expect("create topic");
    let producer = bench::kafka::producer(brokers, &[]).expect("producer");
    let report = bench::kafka::send_all(&producer, topic, messages, Duration::from_secs(60))
        .expect("produce");
    assert_eq!(report.rejected, 0, "broker rejected messages");
}

/// The valid detections in `messages`, decoded by the same validator the pipeline uses.
pub fn valid_detections(messages: &[SimMessage]) -> Vec<Detection> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for m in messages {
        decode_message(&m.payload, &mut out, &mut errors);
    }
    out
}

/// Distinct (camera, window start) pairs the detections fall in: one camera-wide row each.
pub fn expected_camera_windows(
    detections: &[Detection],
    window_ms: i64,
) -> BTreeSet<(String, i64)> {
    detections
        .iter()
        .map(|d| {
            (
                d.camera_id.clone(),
                d.ts_ms.div_euclid(window_ms) * window_ms,
            )
        })
        .collect()
}

/// Mean true speed per (camera, window start), from the simulator's ground truth.
pub fn true_window_speeds(messages: &[SimMessage], window_ms: i64) -> BTreeMap<(String, i64), f64> {
    let mut sums: BTreeMap<(String, i64), (f64, u32)> = BTreeMap::new();
    for m in messages {
        for t in &m.truths {
            let e = sums
                .entry((
                    m.camera_id.clone(),
                    m.ts_ms.div_euclid(window_ms) * window_ms,
                ))
                .or_default();
            e.0 += t.true_speed_kmh;
            e.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

/// Appends, per camera, one detection a minute after its last one: it moves every camera's
/// watermark past all earlier windows, so a run's result does not depend on idle timeouts.
/// The sentinels' own windows stay open.
pub fn with_closing_sentinels(mut messages: Vec<SimMessage>) -> Vec<SimMessage> {
    let detections = valid_detections(&messages);
    let mut last: BTreeMap<String, Detection> = BTreeMap::new();
    for d in detections {
        let entry = last.entry(d.camera_id.clone()).or_insert_with(|| d.clone());
        if d.ts_ms >= entry.ts_ms {
            *entry = d;
        }
    }
    let Some(template) = messages.first().cloned() else {
        return messages;
    };
    for (camera, mut d) in last {
        d.ts_ms += 60_000;
        d.frame_id += 600;
        d.vehicle_id = format!("{camera}-sentinel");
        let mut m = template.clone();
        m.payload = operators::event::encode_detection(&d).into_bytes();
        m.key = camera.clone();
        m.camera_id = camera;
        m.ts_ms = d.ts_ms;
        m.truths.clear();
        messages.push(m);
    }
    messages
}

/// Traffic ending in closing sentinels ([`with_closing_sentinels`]), and what a complete run of
/// it stores: the expectation every row-for-row comparison starts from.
pub struct ClosingTraffic {
    pub messages: Vec<SimMessage>,
    /// Raw rows a complete run stores.
    pub events: usize,
    /// Camera-wide windows a complete run closes (5 s windows).
    pub windows: usize,
}

impl ClosingTraffic {
    /// The messages in `parts` nearly equal consecutive parts (the last one shorter), to produce
    /// one at a time around a fault.
    pub fn parts(&self, parts: usize) -> Vec<&[SimMessage]> {
        self.messages
            .chunks(self.messages.len() / parts + 1)
            .collect()
    }
}

/// `duration_ms` of traffic from `start_ms`, then the closing sentinels.
pub fn closing_traffic(config: SimConfig, start_ms: i64, duration_ms: i64) -> ClosingTraffic {
    let messages = with_closing_sentinels(simulate(config, start_ms, duration_ms));
    let detections = valid_detections(&messages);
    let windows = closable_camera_windows(&detections, 5_000);
    ClosingTraffic {
        messages,
        events: detections.len(),
        windows,
    }
}

/// Camera windows that must close: all but each camera's last (the sentinel's).
pub fn closable_camera_windows(detections: &[Detection], window_ms: i64) -> usize {
    let all = expected_camera_windows(detections, window_ms);
    let cameras: BTreeSet<&String> = all.iter().map(|(c, _)| c).collect();
    all.len() - cameras.len()
}

/// Key, payload and headers of a message read back from a topic.
pub type TopicMessage = (String, Vec<u8>, Vec<(String, String)>);

/// Reads every message of `topic` (all partitions, from the beginning) until `expected` arrived
/// or `timeout` passed; returns (key, payload, headers) triples.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<TopicMessage> {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", crate::unique_name("reader"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    while out.len() < expected && started.elapsed() < timeout {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_owned(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push((
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                m.payload().unwrap_or_default().to_vec(),
                headers,
            ));
        }
    }
    out
}
