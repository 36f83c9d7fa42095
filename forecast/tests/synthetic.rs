//! A tiny model learns a small synthetic network where congestion at a bottleneck reaches the
//! upstream cameras a few minutes later: it must beat persistence, its bundle must round-trip to
//! identical predictions, and the Forecaster must answer (and refuse) requests correctly.

use chrono::{DateTime, Duration, Utc};
use forecast::bundle::{self, Bundle};
use forecast::data::Series;
use forecast::graph::{CameraSite, KernelConfig, Topology};
use forecast::serve::{
    ForecastRequest, Forecaster, ForecasterConfig, Method, Observation, ServeError,
};
use forecast::train::{train, TrainConfig};
use tch::{Device, Kind, Tensor};

const CAMERAS: usize = 4;
const LANES: usize = 2;
/// Minutes for congestion to travel from one camera to the next one upstream.
const DELAY: usize = 3;

/// A deterministic pseudo-random sequence (no dependency on a generator crate's stream).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / ((1u64 << 24) as f32)
    }
}

fn sites() -> Vec<CameraSite> {
    (0..CAMERAS)
        .map(|c| CameraSite {
            camera_id: format!("cam{c}"),
            road_segment: Some("ring".into()),
            latitude: Some(52.0 + 0.005 * c as f64),
            longitude: Some(4.0),
            lanes: (1..=LANES).map(|l| l.to_string()).collect(),
        })
        .collect()
}

/// Congestion at the bottleneck (cam0): a daily profile plus random episodes; camera k sees
/// the bottleneck's score `k * DELAY` minutes later, lanes with small noise.
fn series(days: usize, seed: u64) -> Series {
    let steps = days * 1440;
    let mut rng = Lcg(seed);
    let mut bottleneck = vec![0.0f32; steps];
    let mut episode = 0.0f32;
    for (t, b) in bottleneck.iter_mut().enumerate() {
        let minute = (t % 1440) as f32;
        let rush = (-((minute - 480.0) / 60.0).powi(2)).exp()
            + (-((minute - 1050.0) / 70.0).powi(2)).exp();
        if rng.next() < 0.01 {
            episode = 0.3 + 0.4 * rng.next();
        }
        episode *= 0.93;
        *b = (0.1 + 0.5 * rush + episode).min(1.0);
    }
    let nodes: Vec<String> = (0..CAMERAS)
        .flat_map(|c| (1..=LANES).map(move |l| format!("cam{c}/{l}")))
        .collect();
    let mut s = Series::new_missing(
        DateTime::<Utc>::UNIX_EPOCH,
        60,
        nodes,
        vec!["congestion_score".into()],
        steps,
    );
    for t in 0..steps {
        for c in 0..CAMERAS {
            let lagged = bottleneck[t.saturating_sub(c * DELAY)];
            for l in 0..LANES {
                let i = s.index(t, c * LANES + l, 0);
                // A few missing minutes, as from a camera dropping out.
                s.values[i] = if rng.next() < 0.02 {
                    f32::NAN
                } else {
                    (lagged + 0.02 * (rng.next() - 0.5)).clamp(0.0, 1.0)
                };
            }
        }
    }
    s
}

fn tiny_config() -> TrainConfig {
    TrainConfig {
        lookback: 12,
        horizon: 10,
        blocks: vec![[16, 8, 16], [16, 8, 16]],
        output_channels: 16,
        dropout: 0.0,
        max_epochs: 10,
        patience: 3,
        batch_size: 32,
        learning_rate: 3e-3,
        max_batches_per_epoch: Some(60),
        clamp: Some([0.0, 1.0]),
        threads: 1,
        progress: false,
        ..TrainConfig::default()
    }
}

#[test]
fn tiny_model_beats_persistence_and_its_bundle_round_trips() {
    let started = std::time::Instant::now();
    let series = series(4, 7);
    let topology = Topology::from_cameras(&sites(), KernelConfig::default()).expect("graph");
    let trained = train(&series, topology, &tiny_config()).expect("training");
    let report = &trained.report;
    eprintln!("{}", report.table());
    eprintln!("trained in {:.1} s", started.elapsed().as_secs_f64());
    assert!(started.elapsed().as_secs() < 120, "training took too long");
    for step in [5, 10] {
        let model = report.mae("stgcn", step).expect("model MAE");
        let persistence = report.mae("persistence", step).expect("persistence MAE");
        assert!(
            model < persistence,
            "step {step}: model MAE {model} vs persistence {persistence}"
        );
    }

    // Save, load, and compare predictions on the same input.
    let dir = std::env::temp_dir().join(format!("forecast-bundle-{}", std::process::id()));
    let version = bundle::save(&trained, &dir).expect("save");
    let loaded = Bundle::load(&dir).expect("load");
    assert_eq!(
        loaded.meta.model_version, version,
        "the version is a hash of the files"
    );
    assert_eq!(loaded.topology, trained.topology);
    assert_eq!(loaded.report.as_ref(), Some(&trained.report));
    let x = Tensor::randn(
        [3, 1, 12, (CAMERAS * LANES) as i64],
        (Kind::Float, Device::Cpu),
    );
    let before = tch::no_grad(|| trained.model.forward_t(&x, false));
    let after = tch::no_grad(|| loaded.model.forward_t(&x, false));
    assert!(before.equal(&after), "loaded bundle predicts differently");

    serving(loaded, &series);
    std::fs::remove_dir_all(&dir).ok();
}

fn observations(
    series: &Series,
    end_step: usize,
    minutes: usize,
    now: DateTime<Utc>,
    skip_camera: Option<&str>,
) -> Vec<Observation> {
    let mut out = Vec::new();
    for m in 1..=minutes {
        let t = end_step - m;
        for (n, name) in series.nodes.iter().enumerate() {
            let (camera, lane) = name.split_once('/').expect("camera/lane");
            if Some(camera) == skip_camera {
                continue;
            }
            out.push(Observation {
                camera_id: camera.into(),
                lane_id: lane.into(),
                minute: now - Duration::minutes(m as i64),
                values: vec![series.get(t, n, 0)],
            });
        }
    }
    out
}

fn serving(bundle: Bundle, series: &Series) {
    let version = bundle.meta.model_version.clone();
    let forecaster = Forecaster::start(bundle, ForecasterConfig::default()).expect("forecaster");
    assert_eq!(forecaster.info().horizon_minutes, 10);
    assert_eq!(forecaster.info().lookback_minutes, 12);
    let now: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().expect("time");
    let end_step = series.steps - 100;
    let request = ForecastRequest {
        camera_id: "cam3".into(),
        horizon_minutes: 5,
        lookback_minutes: 15,
        now,
        observations: observations(series, end_step, 15, now, None),
    };
    let resp = forecaster.predict(&request).expect("forecast");
    assert_eq!(resp.method, Method::Stgcn);
    assert_eq!(resp.model_version, version);
    assert_eq!(resp.lanes.len(), LANES);
    assert_eq!(resp.camera.len(), 5);
    assert_eq!(resp.camera[0].minute, now);
    assert_eq!(resp.data_age_seconds, Some(0));
    assert!(resp.lookback_completeness > 0.9 && resp.graph_completeness > 0.9);
    for lane in &resp.lanes {
        for p in &lane.predictions {
            assert!(p.lower <= p.value && p.value <= p.upper && (0.0..=1.0).contains(&p.value));
        }
    }
    let mean0 = resp
        .lanes
        .iter()
        .map(|l| l.predictions[0].value)
        .sum::<f32>()
        / LANES as f32;
    assert!((resp.camera[0].value - mean0).abs() < 1e-6);

    // Errors: horizon, lookback, camera outside the topology, camera without recent data.
    let with = |f: &dyn Fn(&mut ForecastRequest)| {
        let mut r = request.clone();
        f(&mut r);
        forecaster.predict(&r)
    };
    assert!(matches!(
        with(&|r| r.horizon_minutes = 11),
        Err(ServeError::Horizon {
            requested: 11,
            max: 10
        })
    ));
    assert!(matches!(
        with(&|r| r.horizon_minutes = 0),
        Err(ServeError::Horizon { .. })
    ));
    assert!(matches!(
        with(&|r| r.lookback_minutes = 11),
        Err(ServeError::Lookback {
            requested: 11,
            min: 12
        })
    ));
    assert!(matches!(
        with(&|r| r.camera_id = "elsewhere".into()),
        Err(ServeError::NotInTopology(_))
    ));
    let quiet = with(&|r| r.observations = observations(series, end_step, 15, now, Some("cam3")));
    assert!(
        matches!(quiet, Err(ServeError::NoRecentData { .. })),
        "{quiet:?}"
    );

    // Only the camera itself reporting: too little input for the model, the baseline answers.
    let sparse: Vec<Observation> = request
        .observations
        .iter()
        .filter(|o| o.camera_id == "cam3")
        .cloned()
        .collect();
    let fallback = with(&|r| r.observations = sparse.clone()).expect("fallback");
    assert_eq!(fallback.method, Method::HistoricalAverage);
    assert!(fallback.graph_completeness < 0.5);
}
