//! The lane graph: nodes are lanes, edges join lanes of the same camera and lanes of neighbouring
//! cameras along a road segment. Weights follow the paper: `w_ij = exp(-d_ij² / σ²)` where that is
//! at least `ε`, else no edge. The Chebyshev convolution needs the scaled Laplacian
//! `L~ = 2 L / λ_max - I` of the normalised Laplacian `L = I - D^-1/2 W D^-1/2`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::{ForecastError, Result};

/// One lane. `id` is `camera_id/lane_id`, the name used in series and adjacency CSV files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub camera_id: String,
    pub lane_id: String,
}

impl Node {
    pub fn new(camera_id: &str, lane_id: &str) -> Self {
        Self {
            id: format!("{camera_id}/{lane_id}"),
            camera_id: camera_id.to_owned(),
            lane_id: lane_id.to_owned(),
        }
    }

    /// Parses a CSV node name: `camera/lane`, or a bare name that is then its own camera.
    pub fn from_name(name: &str) -> Self {
        match name.rsplit_once('/') {
            Some((camera, lane)) => Self {
                id: name.to_owned(),
                camera_id: camera.to_owned(),
                lane_id: lane.to_owned(),
            },
            None => Self {
                id: name.to_owned(),
                camera_id: name.to_owned(),
                lane_id: String::new(),
            },
        }
    }
}

/// A weighted, undirected edge between node indices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub weight: f64,
}

/// Nodes and weighted edges; what the bundle stores as its topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A camera as the `cameras` table describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSite {
    pub camera_id: String,
    pub road_segment: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The lane ids seen in the data for this camera.
    pub lanes: Vec<String>,
}

/// Kernel settings of the paper's weighting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KernelConfig {
    /// σ in metres; `None` takes the mean distance between neighbouring cameras, so a typical
    /// neighbour gets `exp(-1)` whatever the camera spacing of the network.
    pub sigma_m: Option<f64>,
    /// Edges lighter than this are dropped (the paper's ε).
    pub epsilon: f64,
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            sigma_m: None,
            epsilon: 0.1,
        }
    }
}

/// Great-circle distance in metres.
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const R: f64 = 6_371_000.0;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().asin()
}

impl Topology {
    /// Builds the lane graph from camera sites. Lanes of one camera are joined with weight 1
    /// (distance 0). Cameras on the same road segment are ordered along the segment's longer
    /// extent (latitude or longitude) and consecutive ones are joined, lane to lane, with the
    /// gaussian kernel of their distance. Cameras without a segment or position only get their
    /// own lanes' edges.
    pub fn from_cameras(sites: &[CameraSite], kernel: KernelConfig) -> Result<Self> {
        let mut sites: Vec<&CameraSite> = sites.iter().filter(|s| !s.lanes.is_empty()).collect();
        sites.sort_by(|a, b| a.camera_id.cmp(&b.camera_id));
        if sites.is_empty() {
            return Err(ForecastError::InvalidData("no camera has lane data".into()));
        }
        let mut nodes = Vec::new();
        let mut lanes_of: HashMap<&str, Vec<usize>> = HashMap::new();
        for site in &sites {
            let mut lanes = site.lanes.clone();
            lanes.sort();
            lanes.dedup();
            for lane in lanes {
                lanes_of
                    .entry(site.camera_id.as_str())
                    .or_default()
                    .push(nodes.len());
                nodes.push(Node::new(&site.camera_id, &lane));
            }
        }

        // Neighbouring camera pairs along each segment, with their distances.
        let mut by_segment: BTreeMap<&str, Vec<(&CameraSite, f64, f64)>> = BTreeMap::new();
        for site in &sites {
            if let (Some(seg), Some(lat), Some(lon)) =
                (&site.road_segment, site.latitude, site.longitude)
            {
                by_segment
                    .entry(seg.as_str())
                    .or_default()
                    .push((site, lat, lon));
            }
        }
        let mut pairs: Vec<(&str, &str, f64)> = Vec::new();
        for cams in by_segment.values_mut() {
            let extent = |f: fn(&(&CameraSite, f64, f64)) -> f64| {
                let (lo, hi) = cams
                    .iter()
                    .map(f)
                    .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
                hi - lo
            };
            let along_lat = extent(|c| c.1) >= extent(|c| c.2);
            cams.sort_by(|a, b| {
                let (ka, kb) = if along_lat { (a.1, b.1) } else { (a.2, b.2) };
                ka.total_cmp(&kb)
                    .then_with(|| a.0.camera_id.cmp(&b.0.camera_id))
            });
            for w in cams.windows(2) {
                let d = haversine_m(w[0].1, w[0].2, w[1].1, w[1].2);
                pairs.push((w[0].0.camera_id.as_str(), w[1].0.camera_id.as_str(), d));
            }
        }
        let sigma = match kernel.sigma_m {
            Some(s) if s > 0.0 => s,
            Some(s) => {
                return Err(ForecastError::Config(format!(
                    "sigma must be positive, got {s}"
                )))
            }
            None if pairs.is_empty() => 1.0,
            None => (pairs.iter().map(|p| p.2).sum::<f64>() / pairs.len() as f64).max(1.0),
        };

        let mut edges = Vec::new();
        for lanes in lanes_of.values() {
            for (i, &a) in lanes.iter().enumerate() {
                for &b in &lanes[i + 1..] {
                    edges.push(Edge {
                        from: a,
                        to: b,
                        weight: 1.0,
                    });
                }
            }
        }
        for (a, b, d) in pairs {
            let w = (-(d * d) / (sigma * sigma)).exp();
            if w < kernel.epsilon {
                continue;
            }
            for &la in &lanes_of[a] {
                for &lb in &lanes_of[b] {
                    edges.push(Edge {
                        from: la,
                        to: lb,
                        weight: w,
                    });
                }
            }
        }
        edges.sort_by_key(|x| (x.from, x.to));
        Ok(Self { nodes, edges })
    }

    /// Builds the graph from node names and an edge list naming them (`from,to,weight`).
    pub fn from_edge_list(names: &[String], edges: &[(String, String, f64)]) -> Result<Self> {
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        if index.len() != names.len() {
            return Err(ForecastError::InvalidData("duplicate node names".into()));
        }
        let mut out = Vec::with_capacity(edges.len());
        for (from, to, weight) in edges {
            let lookup = |name: &String| {
                index.get(name.as_str()).copied().ok_or_else(|| {
                    ForecastError::InvalidData(format!("edge names unknown node {name:?}"))
                })
            };
            if !weight.is_finite() || *weight < 0.0 {
                return Err(ForecastError::InvalidData(format!(
                    "edge {from} -> {to} has weight {weight}; weights must be finite and non-negative"
                )));
            }
            let (a, b) = (lookup(from)?, lookup(to)?);
            if a != b && *weight > 0.0 {
                out.push(Edge {
                    from: a,
                    to: b,
                    weight: *weight,
                });
            }
        }
        Ok(Self {
            nodes: names.iter().map(|n| Node::from_name(n)).collect(),
            edges: out,
        })
    }

    /// The symmetric weight matrix (row-major); an edge given in both directions keeps the larger weight.
    pub fn weight_matrix(&self) -> Vec<f64> {
        let n = self.nodes.len();
        let mut w = vec![0.0f64; n * n];
        for e in &self.edges {
            let v = w[e.from * n + e.to].max(e.weight);
            w[e.from * n + e.to] = v;
            w[e.to * n + e.from] = v;
        }
        w
    }

    /// The scaled Laplacian `2 L / λ_max - I` (row-major, f32 for the model).
    pub fn scaled_laplacian(&self) -> Vec<f32> {
        scaled_laplacian(&self.weight_matrix(), self.nodes.len())
    }

    /// Node indices of each camera, cameras in first-seen order.
    pub fn cameras(&self) -> Vec<(String, Vec<usize>)> {
        let mut out: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            match out.iter_mut().find(|(c, _)| *c == node.camera_id) {
                Some((_, v)) => v.push(i),
                None => out.push((node.camera_id.clone(), vec![i])),
            }
        }
        out
    }
}

/// `2 L / λ_max - I` for `L = I - D^-1/2 W D^-1/2`. An isolated node has `L_ii = 1` (its own
/// row of the identity), which keeps the matrix's spectrum in [0, 2].
pub fn scaled_laplacian(w: &[f64], n: usize) -> Vec<f32> {
    let degree: Vec<f64> = (0..n).map(|i| w[i * n..(i + 1) * n].iter().sum()).collect();
    let inv_sqrt: Vec<f64> = degree
        .iter()
        .map(|&d| if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 })
        .collect();
    let mut l = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            let norm = inv_sqrt[i] * w[i * n + j] * inv_sqrt[j];
            l[i * n + j] = if i == j { 1.0 - norm } else { -norm };
        }
    }
    let lambda_max = largest_eigenvalue(&l, n).max(1e-6);
    l.iter()
        .enumerate()
        .map(|(k, &v)| {
            let identity = if k / n == k % n { 1.0 } else { 0.0 };
            (2.0 * v / lambda_max - identity) as f32
        })
        .collect()
}

/// Power iteration for the largest eigenvalue of a symmetric positive semi-definite matrix.
fn largest_eigenvalue(m: &[f64], n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // A non-uniform start vector: a uniform one can be orthogonal to the top eigenvector.
    let mut v: Vec<f64> = (0..n)
        .map(|i| 1.0 + (i as f64 * 0.618_034).fract())
        .collect();
    let mut lambda = 0.0;
    for _ in 0..500 {
        let mut next = vec![0.0; n];
        for i in 0..n {
            next[i] = (0..n).map(|j| m[i * n + j] * v[j]).sum();
        }
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        let new_lambda = next.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>()
            / v.iter().map(|x| x * x).sum::<f64>();
        v = next.into_iter().map(|x| x / norm).collect();
        if (new_lambda - lambda).abs() < 1e-10 * new_lambda.abs().max(1.0) {
            return new_lambda;
        }
        lambda = new_lambda;
    }
    lambda
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(id: &str, seg: &str, lat: f64, lanes: &[&str]) -> CameraSite {
        CameraSite {
            camera_id: id.into(),
            road_segment: Some(seg.into()),
            latitude: Some(lat),
            longitude: Some(4.0),
            lanes: lanes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn same_camera_lanes_and_consecutive_cameras_are_joined() {
        // a - b - c along one segment (~1.1 km apart), d alone on another segment.
        let sites = vec![
            site("c", "s1", 52.02, &["1"]),
            site("a", "s1", 52.00, &["1", "2"]),
            site("b", "s1", 52.01, &["1"]),
            site("d", "s2", 52.00, &["1"]),
        ];
        let topo = Topology::from_cameras(&sites, KernelConfig::default()).expect("graph");
        let ids: Vec<&str> = topo.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["a/1", "a/2", "b/1", "c/1", "d/1"]);
        let w = topo.weight_matrix();
        let at = |i: usize, j: usize| w[i * 5 + j];
        assert_eq!(at(0, 1), 1.0, "lanes of one camera");
        // Equal spacing: every neighbour pair is at the mean distance, so exp(-1).
        assert!((at(0, 2) - (-1.0f64).exp()).abs() < 1e-9);
        assert!((at(1, 2) - (-1.0f64).exp()).abs() < 1e-9);
        assert!((at(2, 3) - (-1.0f64).exp()).abs() < 1e-9);
        assert_eq!(at(0, 3), 0.0, "a and c are not neighbours");
        assert_eq!(at(4, 0) + at(4, 2) + at(4, 3), 0.0, "other segment");
        for i in 0..5 {
            for j in 0..5 {
                assert_eq!(at(i, j), at(j, i));
            }
        }
    }

    #[test]
    fn threshold_drops_distant_neighbours() {
        let sites = vec![site("a", "s", 52.0, &["1"]), site("b", "s", 52.1, &["1"])];
        let kernel = KernelConfig {
            sigma_m: Some(1000.0),
            epsilon: 0.1,
        };
        let topo = Topology::from_cameras(&sites, kernel).expect("graph");
        assert!(
            topo.edges.is_empty(),
            "11 km with sigma 1 km is below epsilon"
        );
    }

    #[test]
    fn scaled_laplacian_has_spectrum_in_minus_one_one() {
        let names: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let edges = vec![
            ("a".into(), "b".into(), 1.0),
            ("b".into(), "c".into(), 0.5),
            ("c".into(), "d".into(), 0.25),
        ];
        let topo = Topology::from_edge_list(&names, &edges).expect("graph");
        let l = topo.scaled_laplacian();
        let l64: Vec<f64> = l.iter().map(|&x| x as f64).collect();
        // Shift by +I: eigenvalues of L~ + I are 2 L / λ_max in [0, 2]; its largest is 2.
        let shifted: Vec<f64> = l64
            .iter()
            .enumerate()
            .map(|(k, v)| if k / 4 == k % 4 { v + 1.0 } else { *v })
            .collect();
        let top = largest_eigenvalue(&shifted, 4);
        assert!(
            (top - 2.0).abs() < 1e-4,
            "largest eigenvalue of L~ is 1, got {}",
            top - 1.0
        );
        for i in 0..4 {
            for j in 0..4 {
                assert!((l[i * 4 + j] - l[j * 4 + i]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn edge_list_rejects_unknown_nodes() {
        let names = vec!["a".to_string()];
        let err = Topology::from_edge_list(&names, &[("a".into(), "zz".into(), 1.0)]);
        assert!(err.is_err());
    }

    #[test]
    fn node_names_split_camera_and_lane() {
        assert_eq!(Node::from_name("cam_1/2").camera_id, "cam_1");
        assert_eq!(Node::from_name("sensor7").camera_id, "sensor7");
    }
}
