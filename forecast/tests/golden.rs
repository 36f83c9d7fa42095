//! The Rust model loads a `state_dict` saved by the PyTorch reference (`reference/stgcn.py`) and
//! gives the reference's output for the same input. Regenerate with `scripts/golden.sh`.

use std::path::PathBuf;

use forecast::graph::Topology;
use forecast::model::{ModelConfig, Stgcn};
use serde::Deserialize;
use tch::{nn, Device, Tensor};

#[derive(Deserialize)]
struct Golden {
    model: ModelConfig,
    nodes: Vec<String>,
    edges: Vec<(String, String, f64)>,
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

#[test]
fn pytorch_weights_give_the_reference_output() {
    let dir = golden_dir();
    let golden: Golden =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("config.json"))
            .expect("config");
    let topology = Topology::from_edge_list(&golden.nodes, &golden.edges).expect("topology");
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = Stgcn::new(&vs.root(), golden.model, &topology.scaled_laplacian()).expect("model");
    vs.load(dir.join("weights.safetensors"))
        .expect("PyTorch weights load by name");

    let io: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.join("io.safetensors"))
            .expect("io.safetensors")
            .into_iter()
            .collect();
    let y = tch::no_grad(|| model.forward_t(&io["x"], false));
    let expected = &io["y"];
    assert_eq!(y.size(), expected.size());
    let max_diff = (&y - expected).abs().max().double_value(&[]);
    eprintln!("max difference from the PyTorch reference: {max_diff:e}");
    assert!(
        max_diff < 1e-4,
        "max difference {max_diff} from the PyTorch reference"
    );
}

#[test]
fn every_reference_parameter_has_a_rust_counterpart() {
    let dir = golden_dir();
    let golden: Golden =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("config.json"))
            .expect("config");
    let vs = nn::VarStore::new(Device::Cpu);
    let n = golden.model.nodes as usize;
    let _model = Stgcn::new(&vs.root(), golden.model, &vec![0.0; n * n]).expect("model");
    let ours = vs.variables();
    let theirs = Tensor::read_safetensors(dir.join("weights.safetensors")).expect("weights");
    assert_eq!(ours.len(), theirs.len(), "same number of parameters");
    for (name, t) in theirs {
        let mine = ours
            .get(&name)
            .unwrap_or_else(|| panic!("{name} has no Rust counterpart"));
        assert_eq!(mine.size(), t.size(), "{name}");
    }
}
