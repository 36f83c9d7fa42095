//! The model bundle: a directory with everything needed to serve a trained model.
//!
//! ```text
//! bundle.json        model shape, features, scaling, profile, interval widths, version
//! topology.json      nodes (lanes) and weighted edges
//! model.safetensors  the weights (PyTorch-compatible names)
//! report.json        the training report (absent for weights trained elsewhere)
//! ```
//!
//! The version is a hash of the weights, the topology and the metadata, so two bundles with the
//! same version serve the same answers, and a response can name the model that produced it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{nn, Device};

use crate::error::{ForecastError, Result};
use crate::graph::Topology;
use crate::model::{ModelConfig, Stgcn};
use crate::train::{Intervals, Profile, Report, Scaler, Trained};

pub const META_FILE: &str = "bundle.json";
pub const TOPOLOGY_FILE: &str = "topology.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const REPORT_FILE: &str = "report.json";
/// Bumped when the bundle layout changes incompatibly.
pub const FORMAT: u32 = 1;

/// `bundle.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleMeta {
    pub format: u32,
    /// Filled in on save; ignored when hashing.
    #[serde(default)]
    pub model_version: String,
    pub created_at: DateTime<Utc>,
    pub model: ModelConfig,
    pub features: Vec<String>,
    pub target_feature: usize,
    pub step_seconds: i64,
    pub scaler: Scaler,
    pub intervals: Intervals,
    pub clamp: Option<[f32; 2]>,
    pub profile: Profile,
}

/// A loaded bundle: metadata, graph and the network with its weights.
pub struct Bundle {
    pub meta: BundleMeta,
    pub topology: Topology,
    pub report: Option<Report>,
    pub vs: nn::VarStore,
    pub model: Stgcn,
}

fn bundle_err(path: &Path, reason: impl Into<String>) -> ForecastError {
    ForecastError::Bundle {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| ForecastError::io(path, e))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| ForecastError::io(path, e))
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| ForecastError::json(what, e))
}

fn from_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    serde_json::from_slice(&read(path)?)
        .map_err(|e| ForecastError::json(path.display().to_string(), e))
}

/// `stgcn-` and the first 16 hex digits of SHA-256 over weights, topology and metadata.
fn version_of(weights: &[u8], topology: &[u8], meta: &BundleMeta) -> Result<String> {
    let mut unversioned = meta.clone();
    unversioned.model_version = String::new();
    let mut hasher = Sha256::new();
    hasher.update(weights);
    hasher.update(topology);
    hasher.update(to_json("bundle metadata", &unversioned)?);
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok(format!("stgcn-{hex}"))
}

/// Writes a trained model as a bundle into `dir` (created if needed); returns its version.
pub fn save(trained: &Trained, dir: &Path) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(|e| ForecastError::io(dir, e))?;
    let weights_path = dir.join(WEIGHTS_FILE);
    trained.vs.save(&weights_path)?;
    let weights = read(&weights_path)?;
    let topology = to_json("topology", &trained.topology)?;
    let mut meta = BundleMeta {
        format: FORMAT,
        model_version: String::new(),
        created_at: Utc::now(),
        model: trained.model.config().clone(),
        features: trained.features.clone(),
        target_feature: trained.target_feature,
        step_seconds: trained.step_seconds,
        scaler: trained.scaler.clone(),
        intervals: trained.intervals.clone(),
        clamp: trained.clamp,
        profile: trained.profile.clone(),
    };
    meta.model_version = version_of(&weights, &topology, &meta)?;
    write(&dir.join(TOPOLOGY_FILE), &topology)?;
    write(&dir.join(REPORT_FILE), &to_json("report", &trained.report)?)?;
    write(&dir.join(META_FILE), &to_json("bundle metadata", &meta)?)?;
    Ok(meta.model_version)
}

impl Bundle {
    /// Loads a bundle directory.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_files(&dir.join(META_FILE), &dir.join(WEIGHTS_FILE))
    }

    /// Loads from a metadata file and a weights file given separately (a checkpoint trained
    /// elsewhere, e.g. by `reference/stgcn.py`); `topology.json` and the optional `report.json`
    /// are read from the metadata file's directory. The version is recomputed from the files,
    /// so a replaced checkpoint gets a new version.
    pub fn load_files(meta_path: &Path, weights_path: &Path) -> Result<Self> {
        let dir: PathBuf = meta_path.parent().map(Path::to_owned).unwrap_or_default();
        let mut meta: BundleMeta = from_json(meta_path)?;
        if meta.format != FORMAT {
            return Err(bundle_err(
                meta_path,
                format!("format {} is not the supported {FORMAT}", meta.format),
            ));
        }
        let topology_path = dir.join(TOPOLOGY_FILE);
        let topology_bytes = read(&topology_path)?;
        let topology: Topology = serde_json::from_slice(&topology_bytes)
            .map_err(|e| ForecastError::json(topology_path.display().to_string(), e))?;
        if topology.nodes.len() as i64 != meta.model.nodes {
            return Err(bundle_err(
                &topology_path,
                format!(
                    "{} nodes, the model has {}",
                    topology.nodes.len(),
                    meta.model.nodes
                ),
            ));
        }
        let nf = meta.features.len();
        if meta.model.in_channels as usize != nf
            || meta.scaler.mean.len() != nf
            || meta.scaler.std.len() != nf
            || meta.target_feature >= nf
        {
            return Err(bundle_err(
                meta_path,
                "features, scaler and model input channels disagree",
            ));
        }
        let horizon = meta.model.horizon as usize;
        if meta.intervals.model.len() != horizon
            || meta.intervals.historical_average.len() != horizon
        {
            return Err(bundle_err(
                meta_path,
                "interval widths do not cover the horizon",
            ));
        }
        if meta.profile.values.len() != topology.nodes.len()
            || meta.profile.values.iter().any(Vec::is_empty)
        {
            return Err(bundle_err(
                meta_path,
                "the time-of-day profile does not match the nodes",
            ));
        }
        let mut vs = nn::VarStore::new(Device::Cpu);
        let model = Stgcn::new(&vs.root(), meta.model.clone(), &topology.scaled_laplacian())?;
        vs.load(weights_path)
            .map_err(|e| bundle_err(weights_path, format!("weights do not fit the model: {e}")))?;
        vs.freeze();
        let stored = std::mem::take(&mut meta.model_version);
        meta.model_version = version_of(&read(weights_path)?, &topology_bytes, &meta)?;
        if !stored.is_empty() && stored != meta.model_version {
            log::info!(
                "bundle {}: stored version {stored} differs from the files' hash {}; serving as {}",
                meta_path.display(),
                meta.model_version,
                meta.model_version
            );
        }
        let report_path = dir.join(REPORT_FILE);
        let report = if report_path.exists() {
            Some(from_json(&report_path)?)
        } else {
            None
        };
        Ok(Self {
            meta,
            topology,
            report,
            vs,
            model,
        })
    }
}
